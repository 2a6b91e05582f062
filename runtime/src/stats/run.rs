//! The statistics of a whole run: [`RunStats`], built once when the run ends by
//! adding every worker's [`WorkerStats`] together. Histograms add exactly, so the
//! merged percentiles are those of every request, not an average of workers'.

use std::time::Duration;

use hdrhistogram::Histogram;

use kaioken_vm::Status;

use super::{
    Counts, Engine, HTTP_STATUSES, Messages, Phases, ScenarioStats, Second, StepStats, WorkerStats,
    new_histogram,
};
use crate::ErrorKind;

/// The merged statistics of a whole run.
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Latency of every response (µs); failed requests have none.
    pub latency: Histogram<u64>,
    /// Responses by status, ascending: HTTP codes, then other protocols'.
    pub status: Vec<(Status, u64)>,
    /// Requests, bytes and iterations, added up over the workers.
    pub counts: Counts,
    /// Per-second aggregates of the measured window.
    pub timeline: Vec<Second>,
    /// Per second of `timeline`: responses by status (filled, with the seconds'
    /// percentiles, by the controller from each second's own counts).
    pub timeline_status: Vec<Vec<(Status, u64)>>,
    /// The first message seen for each error kind, where one was recorded.
    pub error_details: [Option<String>; ErrorKind::COUNT],
    /// Latency from the actual send (µs). In the closed model, equal to `latency`.
    pub latency_uncorrected: Histogram<u64>,
    /// From each iteration's scheduled start to its first send (µs); open model.
    pub schedule_lag: Histogram<u64>,
    /// The most VUs active at once (summed over workers' peaks: an upper bound).
    pub max_vus: u64,
    /// VUs active when the statistics were taken (0 once the run is over).
    pub active_vus: u64,
    /// The engine that ran the VUs: `io_uring` (closed model, plain HTTP/1.1) or
    /// `tokio`.
    pub engine: Engine,
    /// Per check (by id): passes and failures.
    pub checks: Vec<[u64; 2]>,
    /// Per extractor (by id): successes and failures.
    pub extractions: Vec<[u64; 2]>,
    /// Per scenario (when there are several): latency and counts.
    pub scenarios: Vec<ScenarioStats>,
    /// Per step (by id; when there are several, the first
    /// [`MAX_STEPS`](super::MAX_STEPS)): latency, counts, statuses by class.
    pub steps: Vec<StepStats>,
    /// Request anatomy: time per phase, connections opened, reused, closed.
    pub phases: Phases,
    /// What the message protocols counted beside their exchanges, by protocol
    /// (`messages_index`: WebSocket, then gRPC); `None` for one no step spoke.
    pub messages: [Option<Box<Messages>>; 2],
    /// Length of the measured window: from the end of the warm-up to the last
    /// request's end.
    pub elapsed: Duration,
}

/// Add per-check (or per-extractor) pass/fail pairs into `totals`.
fn add_pairs(totals: &mut Vec<[u64; 2]>, pairs: &[[u64; 2]]) {
    if totals.len() < pairs.len() {
        totals.resize(pairs.len(), [0; 2]);
    }
    for (total, pair) in totals.iter_mut().zip(pairs) {
        total[0] += pair[0];
        total[1] += pair[1];
    }
}

/// A run that measured nothing: empty histograms of kaioken's bounds, no counts.
impl Default for RunStats {
    fn default() -> RunStats {
        RunStats {
            latency: new_histogram(),
            status: Vec::new(),
            counts: Counts::default(),
            timeline: Vec::new(),
            timeline_status: Vec::new(),
            error_details: Default::default(),
            latency_uncorrected: new_histogram(),
            schedule_lag: new_histogram(),
            max_vus: 0,
            active_vus: 0,
            engine: Engine::default(),
            checks: Vec::new(),
            extractions: Vec::new(),
            scenarios: Vec::new(),
            steps: Vec::new(),
            phases: Phases::new(),
            messages: [None, None],
            elapsed: Duration::ZERO,
        }
    }
}

impl RunStats {
    pub(crate) fn merge(workers: &[WorkerStats], elapsed: Duration) -> RunStats {
        let mut out = RunStats::default();
        out.merge_from(workers, elapsed);
        out
    }

    /// Become the merge of `workers`, as [`merge`](Self::merge) makes it, in these
    /// statistics' own histograms and lists: the controller merges the workers'
    /// latest copies for every live snapshot, and a fresh merge allocates and
    /// zeroes a dozen histograms each time.
    pub(crate) fn merge_from(&mut self, workers: &[WorkerStats], elapsed: Duration) {
        self.clear();
        self.engine = workers
            .iter()
            .map(|w| w.engine)
            .reduce(Engine::and)
            .unwrap_or_default();
        self.elapsed = elapsed;
        let mut any_uncorrected = false;
        let mut spoken = [false; 2];
        let mut status = [0u64; HTTP_STATUSES];
        for w in workers {
            self.latency
                .add(&w.latency)
                .expect("histograms share bounds");
            if let Some(h) = &w.schedule_lag {
                self.schedule_lag.add(h).expect("histograms share bounds");
            }
            if let Some(h) = &w.latency_uncorrected {
                any_uncorrected = true;
                self.latency_uncorrected
                    .add(h)
                    .expect("histograms share bounds");
            }
            add_pairs(&mut self.checks, &w.checks);
            if self.scenarios.is_empty() {
                self.scenarios = w.scenarios.iter().map(|_| ScenarioStats::new()).collect();
            }
            for (total, s) in self.scenarios.iter_mut().zip(&w.scenarios) {
                total.add(s);
            }
            if self.steps.is_empty() {
                self.steps = w.steps.iter().map(|_| StepStats::new()).collect();
            }
            for (total, s) in self.steps.iter_mut().zip(&w.steps) {
                total.add(s);
            }
            self.phases.add(&w.phases);
            for ((mine, theirs), spoken) in
                self.messages.iter_mut().zip(&w.messages).zip(&mut spoken)
            {
                match (mine.as_mut(), theirs) {
                    (Some(m), Some(t)) if *spoken => m.add(t),
                    (Some(m), Some(t)) => m.copy_from(t),
                    (None, Some(t)) => *mine = Some(t.clone()),
                    _ => {}
                }
                *spoken |= theirs.is_some();
            }
            add_pairs(&mut self.extractions, &w.extractions);
            self.counts.add(&w.counts);
            self.max_vus += w.max_vus;
            self.active_vus += w.active_vus();
            for (i, n) in w.status.iter().enumerate() {
                status[i] += n;
            }
            if w.timeline.len() > self.timeline.len() {
                self.timeline.resize(w.timeline.len(), Second::default());
            }
            for (i, s) in w.timeline.iter().enumerate() {
                self.timeline[i].add(s);
            }
        }
        // Each kind's first message, from the first worker that has one.
        for (k, mine) in self.error_details.iter_mut().enumerate() {
            let first = workers.iter().find_map(|w| w.error_details[k].as_ref());
            match (mine.as_mut(), first) {
                (Some(text), Some(first)) => text.clone_from(first),
                (_, first) => *mine = first.cloned(),
            }
        }
        // A protocol no worker spoke has no section, as in a fresh merge.
        for (mine, spoken) in self.messages.iter_mut().zip(spoken) {
            if !spoken {
                *mine = None;
            }
        }
        if !any_uncorrected {
            super::copy_histogram(&mut self.latency_uncorrected, &self.latency);
        }
        // HTTP codes ascending, then other protocols' statuses, sorted.
        self.status.extend(
            status
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(code, n)| (Status::Http(code as u16), *n)),
        );
        let http = self.status.len();
        for w in workers {
            for &(st, n) in &w.other_status {
                match self.status[http..].iter_mut().find(|(s, _)| *s == st) {
                    Some((_, total)) => *total += n,
                    None => self.status.push((st, n)),
                }
            }
        }
        self.status[http..].sort_unstable();
    }

    /// Empty every count, list and histogram `merge_from` adds to, keeping their
    /// room; the rest it sets itself. Each field is named, so that a new one
    /// cannot be left out.
    fn clear(&mut self) {
        let RunStats {
            latency,
            status,
            counts,
            timeline,
            timeline_status,
            error_details,
            latency_uncorrected,
            schedule_lag,
            max_vus,
            active_vus,
            engine,
            checks,
            extractions,
            scenarios,
            steps,
            phases,
            messages,
            elapsed,
        } = self;
        for h in [latency, latency_uncorrected, schedule_lag] {
            h.reset();
        }
        status.clear();
        *counts = Counts::default();
        timeline.clear();
        timeline_status.clear();
        (*max_vus, *active_vus) = (0, 0);
        checks.clear();
        extractions.clear();
        scenarios.iter_mut().for_each(ScenarioStats::clear);
        steps.iter_mut().for_each(StepStats::clear);
        phases.clear();
        // Set by the merge: the engine and length, each error kind's first
        // message, and each protocol's counts (copied from the first worker that
        // has them).
        let _ = (engine, elapsed, error_details, messages);
    }

    /// Put each finished second's own percentiles and statuses into the timeline.
    pub(crate) fn apply_seconds(&mut self, seconds: &[super::SecondDetail]) {
        for (second, detail) in self.timeline.iter_mut().zip(seconds) {
            second.latency_p50_us = detail.p50_us;
            second.latency_p90_us = detail.p90_us;
            second.latency_p99_us = detail.p99_us;
        }
        self.timeline_status = seconds.iter().map(|d| d.status.clone()).collect();
        self.timeline_status
            .resize(self.timeline.len().max(seconds.len()), Vec::new());
    }

    /// Requests without a response (transport errors).
    pub fn error_count(&self) -> u64 {
        self.counts.errors.iter().sum()
    }

    /// Failed requests: transport errors and responses with an unexpected status.
    pub fn failed(&self) -> u64 {
        self.error_count() + self.counts.unexpected
    }

    /// Finished requests: responses plus errors.
    pub fn total(&self) -> u64 {
        self.counts.responses + self.error_count()
    }

    /// Failed requests by kind, with names.
    pub fn errors_by_kind(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL
            .into_iter()
            .zip(self.counts.errors.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::stats::Outcome;

    #[test]
    fn the_run_names_every_engine_its_workers_used() {
        use Engine::*;
        let run = |engines: &[Engine]| engines.iter().copied().reduce(Engine::and);
        assert_eq!(run(&[IoUring, IoUring]), Some(IoUring));
        assert_eq!(run(&[Tokio]), Some(Tokio));
        assert_eq!(run(&[IoUring, Tokio]), Some(IoUringAndTokio));
        assert_eq!(run(&[IoUringAndTokio, IoUring]), Some(IoUringAndTokio));
        // Not whichever finished last.
        assert_eq!(run(&[Tokio, IoUring]), Some(IoUringAndTokio));
    }

    /// Statuses of every protocol are counted and merged: HTTP codes in the flat
    /// table, the others beside them, all in one sorted list.
    #[test]
    fn statuses_of_other_protocols_are_counted_beside_http() {
        let t0 = Instant::now();
        let response = |status| Outcome::Response {
            status,
            bytes_in: 1,
        };
        let (mut a, mut b) = (WorkerStats::new(t0, 1), WorkerStats::new(t0, 1));
        let end = t0 + Duration::from_millis(1);
        a.record(t0, end, None, 1, response(Status::Grpc(14)));
        a.record(t0, end, None, 1, response(Status::Http(200)));
        b.record(t0, end, None, 1, response(Status::Grpc(14)));
        b.record(t0, end, None, 1, response(Status::Ws(1000)));
        b.record(t0, end, None, 1, response(Status::Grpc(0)));
        let run = RunStats::merge(&[a, b], Duration::from_secs(1));
        assert_eq!(
            run.status,
            [
                (Status::Http(200), 1),
                (Status::Grpc(0), 1),
                (Status::Grpc(14), 2),
                (Status::Ws(1000), 1)
            ]
        );
        assert_eq!(run.counts.responses, 5);
    }

    #[test]
    fn records_and_merges() {
        let t0 = Instant::now();
        let mut a = WorkerStats::new(t0, 2);
        let mut b = WorkerStats::new(t0, 2);
        a.record(
            t0,
            t0 + Duration::from_micros(500),
            None,
            10,
            Outcome::Response {
                status: Status::Http(200),
                bytes_in: 100,
            },
        );
        a.record(
            t0,
            t0 + Duration::from_millis(1500),
            None,
            10,
            Outcome::Error(ErrorKind::Timeout),
        );
        b.record(
            t0,
            t0 + Duration::from_micros(700),
            None,
            10,
            Outcome::Response {
                status: Status::Http(404),
                bytes_in: 50,
            },
        );
        b.record(
            t0,
            t0 + Duration::from_micros(900),
            None,
            10,
            Outcome::Response {
                status: Status::Http(200),
                bytes_in: 50,
            },
        );
        let run = RunStats::merge(&[a, b], Duration::from_secs(2));
        assert_eq!(run.total(), 4);
        assert_eq!(run.counts.responses, 3);
        assert_eq!(
            run.status,
            vec![(Status::Http(200), 2), (Status::Http(404), 1)]
        );
        assert_eq!(run.counts.errors[ErrorKind::Timeout as usize], 1);
        assert_eq!(run.latency.len(), 3, "the timeout has no latency");
        assert_eq!(run.timeline.len(), 2);
        assert_eq!(run.timeline[0].requests, 3);
        assert_eq!(run.timeline[1].errors, 1);
        assert_eq!(run.counts.bytes_in, 200);
        assert_eq!(run.counts.bytes_out, 40);
    }

    /// A worker's statistics with a bit of everything: statuses of two protocols,
    /// an error with its message, checks, steps, scenarios, schedule lag, and
    /// WebSocket counts when `ws`.
    fn busy_worker(t0: Instant, seed: u64, ws: bool) -> WorkerStats {
        let mut w = WorkerStats::new(t0, 3)
            .with_checks(2)
            .with_extractors(1)
            .with_scenarios(2)
            .with_steps(2)
            .open_model(true);
        for i in 0..20 + seed {
            let end = t0 + Duration::from_micros(100 + 37 * i * seed);
            let outcome = match i % 4 {
                0 => Outcome::Error(ErrorKind::Timeout),
                1 => Outcome::Response {
                    status: Status::Grpc((seed % 3) as u8),
                    bytes_in: 5,
                },
                _ => Outcome::Response {
                    status: Status::Http(200 + (i % 3) as u16),
                    bytes_in: 10,
                },
            };
            w.iteration_started(t0, Some(Duration::from_micros(i * seed)));
            w.record(t0, end, Some(t0), 10, outcome);
            w.check(kaioken_vm::CheckId((i % 2) as u32), i % 3 != 0);
            w.scenario((i % 2) as usize, end, Duration::from_micros(i), false);
            w.step((i % 2) as usize, end, Duration::from_micros(i), outcome);
        }
        w.note_error_detail(ErrorKind::Timeout, || format!("worker {seed} timed out"));
        if ws {
            let mut m = Messages::new();
            m.sent = seed;
            let _ = m.open_time.record(100 * seed);
            w.messages[0] = Some(Box::new(m));
        }
        w
    }

    /// Merging into statistics that held another merge gives what a fresh merge
    /// gives: nothing of the earlier one is left (counts, statuses, error messages,
    /// a protocol's section).
    #[test]
    fn a_merge_into_used_statistics_leaves_nothing_of_them() {
        let t0 = Instant::now();
        let before = [busy_worker(t0, 7, true), busy_worker(t0, 11, true)];
        let now = [busy_worker(t0, 2, false), busy_worker(t0, 3, false)];
        let mut reused = RunStats::merge(&before, Duration::from_secs(3));
        assert!(reused.messages[0].is_some());
        reused.merge_from(&now, Duration::from_secs(1));
        let fresh = RunStats::merge(&now, Duration::from_secs(1));
        assert_eq!(format!("{reused:?}"), format!("{fresh:?}"));
        assert!(reused.messages[0].is_none());
        assert_eq!(
            reused.error_details[ErrorKind::Timeout as usize].as_deref(),
            Some("worker 2 timed out")
        );
        // And back: a protocol's section and other statuses come again.
        reused.merge_from(&before, Duration::from_secs(3));
        let fresh = RunStats::merge(&before, Duration::from_secs(3));
        assert_eq!(format!("{reused:?}"), format!("{fresh:?}"));
        assert_eq!(reused.messages[0].as_ref().map(|m| m.sent), Some(18));
    }
}
