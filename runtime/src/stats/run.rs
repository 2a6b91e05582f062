//! The statistics of a whole run: [`RunStats`], built once when the run ends by
//! adding every worker's [`WorkerStats`] together. Histograms add exactly, so the
//! merged percentiles are those of every request, not an average of workers'.

use std::time::Duration;

use hdrhistogram::Histogram;

use kaioken_vm::Status;

use super::{
    Counts, Engine, HTTP_STATUSES, Merge, Messages, Phases, ScenarioStats, Second, StepStats,
    WorkerStats, copy_histogram, copy_list, copy_option, new_histogram, sum_histograms,
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
    /// [`MAX_STEPS`](super::MAX_STEPS)): latency, counts, statuses by class. In a
    /// live snapshot before the last, counts and statuses only
    /// ([`StepStats::keeps_latency`]).
    pub steps: Vec<StepStats>,
    /// Request anatomy: time per phase, connections opened, reused, closed.
    pub phases: Phases,
    /// What the message protocols counted beside their exchanges, by protocol
    /// (`messages_index`: WebSocket, then gRPC); `None` for one no step spoke.
    pub messages: [Option<Box<Messages>>; 2],
    /// Length of the measured window: from the end of the warm-up to the last
    /// request's end.
    pub elapsed: Duration,
    /// Whose statistics these were merged from.
    pub merged_from: MergedFrom,
    /// Worker threads that had not stopped a while after the hard stop (a script
    /// stuck in a library call nothing can interrupt): not waited for, their
    /// statistics are their last published ones.
    pub abandoned_workers: usize,
}

/// The workers' statistics a [`RunStats`] was last merged from (their lineages,
/// in order), so that merging the same ones again adds up only the histograms
/// that changed: the controller merges every worker's latest copy four times a
/// second, and a run keeps a dozen histograms of 184 KiB per worker, a few
/// hundred with many steps. Empty in statistics no merge made; opaque.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergedFrom(Vec<u64>);

impl MergedFrom {
    fn is(&self, workers: &[WorkerStats]) -> bool {
        self.0.len() == workers.len()
            && self
                .0
                .iter()
                .zip(workers)
                .all(|(&id, w)| id == w.lineage().id())
    }

    fn set(&mut self, workers: &[WorkerStats]) {
        self.0.clear();
        self.0.extend(workers.iter().map(|w| w.lineage().id()));
    }
}

/// Make `totals` (per scenario, or per step) the sums of the workers' `list`s, as
/// many as the first worker that keeps any has, each made `like` its own
/// (`again`: see [`sum_histograms`]).
fn merge_lists<T: Merge>(
    totals: &mut Vec<T>,
    workers: &[WorkerStats],
    list: impl Fn(&WorkerStats) -> &[T],
    like: impl Fn(&T) -> T,
    again: bool,
) {
    let mut fresh = false;
    if totals.is_empty()
        && let Some(w) = workers.iter().find(|w| !list(w).is_empty())
    {
        *totals = list(w).iter().map(like).collect();
        fresh = true;
    }
    for (i, total) in totals.iter_mut().enumerate() {
        total.merge_from(
            workers.iter().filter_map(|w| list(w).get(i)),
            again && !fresh,
        );
    }
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
            merged_from: MergedFrom::default(),
            abandoned_workers: 0,
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
    /// zeroes a dozen histograms each time. Merged again from the same workers'
    /// statistics ([`MergedFrom`]), it adds up only the histograms that changed.
    pub(crate) fn merge_from(&mut self, workers: &[WorkerStats], elapsed: Duration) {
        let again = self.merged_from.is(workers);
        self.merged_from.set(workers);
        self.clear();
        self.engine = workers
            .iter()
            .map(|w| w.engine)
            .reduce(Engine::and)
            .unwrap_or_default();
        self.elapsed = elapsed;
        sum_histograms(&mut self.latency, workers.iter().map(|w| &w.latency), again);
        sum_histograms(
            &mut self.schedule_lag,
            workers.iter().filter_map(|w| w.schedule_lag.as_ref()),
            again,
        );
        if workers.iter().any(|w| w.latency_uncorrected.is_some()) {
            sum_histograms(
                &mut self.latency_uncorrected,
                workers
                    .iter()
                    .filter_map(|w| w.latency_uncorrected.as_ref()),
                again,
            );
        } else {
            copy_histogram(&mut self.latency_uncorrected, &self.latency, again);
        }
        merge_lists(
            &mut self.scenarios,
            workers,
            |w| &w.scenarios,
            |_| ScenarioStats::new(),
            again,
        );
        merge_lists(
            &mut self.steps,
            workers,
            |w| &w.steps,
            StepStats::like,
            again,
        );
        self.phases
            .merge_from(workers.iter().map(|w| &w.phases), again);
        // A protocol no worker spoke has no section, as in a fresh merge.
        for (p, mine) in self.messages.iter_mut().enumerate() {
            let parts = workers.iter().filter_map(|w| w.messages[p].as_ref());
            if parts.clone().next().is_none() {
                *mine = None;
                continue;
            }
            let fresh = mine.is_none();
            mine.get_or_insert_with(Box::default)
                .merge_from(parts, again && !fresh);
        }
        let mut status = [0u64; HTTP_STATUSES];
        for w in workers {
            add_pairs(&mut self.checks, &w.checks);
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

    /// Become a copy of `other`, reusing these statistics' room. When both are
    /// merges of the same workers' statistics ([`MergedFrom`]), as successive
    /// live snapshots' totals are, the histograms whose count did not move are
    /// not copied again (see [`copy_histogram`]): how the live view gets a
    /// snapshot four times a second without allocating. Neither's histograms
    /// may have been changed since its merge.
    pub(crate) fn copy_from(&mut self, other: &RunStats) {
        let again = self.merged_from == other.merged_from && !other.merged_from.0.is_empty();
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
            merged_from,
            abandoned_workers,
        } = other;
        copy_histogram(&mut self.latency, latency, again);
        copy_histogram(&mut self.latency_uncorrected, latency_uncorrected, again);
        copy_histogram(&mut self.schedule_lag, schedule_lag, again);
        self.status.clone_from(status);
        self.counts.clone_from(counts);
        self.timeline.clone_from(timeline);
        self.timeline_status.clone_from(timeline_status);
        self.error_details.clone_from(error_details);
        (self.max_vus, self.active_vus, self.engine) = (*max_vus, *active_vus, *engine);
        self.checks.clone_from(checks);
        self.extractions.clone_from(extractions);
        copy_list(&mut self.scenarios, scenarios, again);
        copy_list(&mut self.steps, steps, again);
        self.phases.copy_from(phases, again);
        for (mine, theirs) in self.messages.iter_mut().zip(messages) {
            copy_option(mine, theirs, again);
        }
        self.elapsed = *elapsed;
        self.merged_from.clone_from(merged_from);
        self.abandoned_workers = *abandoned_workers;
    }

    /// Empty every count and list `merge_from` adds to, keeping their room; the
    /// rest it sets itself. Each field is named, so that a new one cannot be left
    /// out.
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
            merged_from,
            abandoned_workers,
        } = self;
        status.clear();
        *abandoned_workers = 0;
        *counts = Counts::default();
        timeline.clear();
        timeline_status.clear();
        (*max_vus, *active_vus) = (0, 0);
        checks.clear();
        extractions.clear();
        // Set by the merge: the engine and length, each error kind's first
        // message, and every histogram with what holds them (each becomes the
        // sum of the workers', or stays it).
        let _ = (engine, elapsed, error_details, merged_from);
        let _ = (latency, latency_uncorrected, schedule_lag);
        let _ = (scenarios, steps, phases, messages);
    }

    /// Put each finished second's own percentiles and statuses into the timeline.
    /// A percentile is its histogram bucket's highest value, which may be above the
    /// second's largest latency (kept exactly): no percentile is above it.
    pub(crate) fn apply_seconds(&mut self, seconds: &[super::SecondDetail]) {
        for (second, detail) in self.timeline.iter_mut().zip(seconds) {
            let max = second.latency_max_us;
            second.latency_p50_us = detail.p50_us.min(max);
            second.latency_p90_us = detail.p90_us.min(max);
            second.latency_p99_us = detail.p99_us.min(max);
        }
        self.timeline_status = seconds.iter().map(|d| d.status.clone()).collect();
        self.timeline_status
            .resize(self.timeline.len().max(seconds.len()), Vec::new());
    }

    /// Fit the timeline to the measured window, `window` seconds long (the
    /// planned duration, rounded up, when the run ended on it; else none): one
    /// entry per second of it, those with nothing counted included, then the
    /// seconds after it in which requests in flight at its end finished. A second
    /// past the window in which nothing but VUs was counted (VUs stuck on a stalled
    /// server until the grace ran out, then let go) is no second of the run: the
    /// engines would otherwise disagree on how many of those they count. A second
    /// added carries the VUs of the one before it, which were still at work.
    pub(crate) fn fit_timeline(&mut self, window: usize) {
        while self.timeline.len() > window.max(1)
            && self.timeline.last().is_some_and(Second::is_idle)
        {
            self.timeline.pop();
        }
        if self.timeline.len() < window {
            let vus = self.timeline.last().map_or(0, |s| s.vus);
            self.timeline.resize(
                window,
                Second {
                    vus,
                    ..Second::default()
                },
            );
        }
        self.timeline_status.resize(self.timeline.len(), Vec::new());
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

    /// The timeline is the measured window's seconds, padded where nothing made
    /// them (with the VUs still at work), then the seconds after it in which
    /// something ended, without those after it in which only VUs were counted.
    #[test]
    fn the_timeline_fits_the_window() {
        let second = |requests, dropped, vus| Second {
            requests,
            dropped,
            vus,
            ..Second::default()
        };
        let fit = |timeline: &[Second], window| {
            let mut run = RunStats {
                timeline: timeline.to_vec(),
                ..RunStats::default()
            };
            run.fit_timeline(window);
            assert_eq!(run.timeline_status.len(), run.timeline.len());
            run.timeline
        };
        // A stalled run on one engine: a second made by VUs let go in the grace.
        assert_eq!(
            fit(&[second(0, 0, 2), second(0, 0, 2), second(0, 0, 0)], 2),
            [second(0, 0, 2), second(0, 0, 2)]
        );
        // The same on the other: nothing made its second second.
        assert_eq!(
            fit(&[second(0, 0, 2)], 2),
            [second(0, 0, 2), second(0, 0, 2)]
        );
        // Responses that ended after the window, and iterations the stop dropped
        // at its end, count in seconds of their own; idle ones after them do not.
        let after = [second(5, 0, 2), second(1, 0, 2), second(0, 0, 1)];
        assert_eq!(fit(&after, 1), after[..2]);
        let dropped = [second(5, 0, 2), second(0, 3, 2)];
        assert_eq!(fit(&dropped, 1), dropped);
        // Without a planned window (`-n`, an interruption): what has something.
        assert_eq!(fit(&after, 0), after[..2]);
        assert_eq!(fit(&[second(0, 0, 1)], 0), [second(0, 0, 1)]);
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
            w.check(kaioken_vm::CheckId((i % 2) as u32), end, i % 3 != 0);
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

    /// Statistics copied and merged again and again, as the live snapshots copy
    /// and merge them four times a second, skip the histograms that did not
    /// change since: at every tick of a run where each kind of record comes and
    /// goes at random, each publication and take (as the workers publish into
    /// their slots and the controller takes from them: by swapping, and some
    /// ticks not at all, as a controller that falls behind), each merge (into two
    /// buffers in turn, as the controller's), each copy of a merge (into three in
    /// turn, as the live view's) and each interval is what a fresh one would be.
    #[test]
    fn copies_and_merges_made_again_are_fresh_ones() {
        use crate::live::Interval;
        use crate::stats::{Opened, Tally, Timing};

        let t0 = Instant::now();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let new = || {
            let mut w = WorkerStats::new(t0, 8)
                .with_scenarios(2)
                .with_steps(3)
                .open_model(true);
            w.messages[1] = Some(Box::default());
            w
        };
        let mut workers = [new(), new()];
        let mut slots = [new(), new()];
        let mut latest = [new(), new()];
        let mut buffers = [RunStats::default(), RunStats::default()];
        // The live view's copies of the totals, handed back and copied into again.
        let mut views = [
            RunStats::default(),
            RunStats::default(),
            RunStats::default(),
        ];
        let mut interval = Interval::empty();
        let mut at = t0;
        let mut skipped = 0;
        for tick in 0..120 {
            for _ in 0..next(4) {
                let w = &mut workers[next(2) as usize];
                at += Duration::from_micros(next(20_000));
                let took = Duration::from_micros(1 + next(5_000));
                match next(6) {
                    0 => {
                        let outcome = if next(5) == 0 {
                            Outcome::Error(ErrorKind::Timeout)
                        } else {
                            Outcome::Response {
                                status: Status::Http(200 + next(3) as u16),
                                bytes_in: 10,
                            }
                        };
                        w.record(at - took, at, Some(at - 2 * took), 10, outcome);
                    }
                    1 => {
                        let timing = Timing {
                            opened: (next(3) == 0).then_some(Opened {
                                dns: None,
                                connect: took,
                                tls: (next(2) == 0).then_some(took / 2),
                            }),
                            written: Some(at - took),
                            first_byte: Some(at - took / 3),
                            ..Timing::default()
                        };
                        let outcome = Outcome::Response {
                            status: Status::Http(200),
                            bytes_in: 1,
                        };
                        w.phases(&timing, at, outcome);
                    }
                    2 => w.scenario(next(2) as usize, at, took, next(4) == 0),
                    3 => w.step(
                        next(3) as usize,
                        at,
                        took,
                        Outcome::Response {
                            status: Status::Http(201),
                            bytes_in: 1,
                        },
                    ),
                    4 => w.iteration_started(at, Some(took)),
                    _ => {
                        let tally = Tally {
                            opened: Some(took),
                            stream: Some((next(3), Some(took))),
                            ..Tally::default()
                        };
                        w.tally(kaioken_vm::Protocol::Grpc, at, &tally);
                    }
                }
            }
            // Taken every 8th tick and the last, and at random between.
            let take = tick % 8 == 0 || tick == 119 || next(4) != 0;
            for i in 0..2 {
                workers[i].roll_second(at);
                slots[i].copy_from(&workers[i]);
                if take {
                    latest[i].take_from(&mut slots[i]);
                }
                if tick % 8 == 0 {
                    // Everything (slowly: a histogram's `Debug` is its 23,552 counts).
                    let mut fresh = new();
                    fresh.copy_from(&workers[i]);
                    assert_eq!(
                        format!("{:?}", latest[i]),
                        format!("{fresh:?}"),
                        "tick {tick}"
                    );
                }
            }
            let before = buffers[(tick + 1) % 2].clone();
            let merged = &mut buffers[tick % 2];
            let count = merged.latency.len();
            merged.merge_from(&latest, Duration::from_secs(1));
            skipped += usize::from(tick > 1 && merged.latency.len() == count);
            let fresh = RunStats::merge(&latest, Duration::from_secs(1));
            assert_eq!(histograms(merged), histograms(&fresh), "tick {tick}");
            let view = &mut views[tick % 3];
            view.copy_from(merged);
            assert_eq!(histograms(view), histograms(merged), "tick {tick}");
            if tick % 8 == 0 {
                assert_eq!(format!("{merged:?}"), format!("{fresh:?}"), "tick {tick}");
                assert_eq!(format!("{view:?}"), format!("{fresh:?}"), "tick {tick}");
            }
            interval.measure(&before, merged, Duration::from_millis(250));
            let mut expected = merged.latency.clone();
            expected.subtract(&before.latency).unwrap();
            assert_eq!(interval.latency, expected, "tick {tick}");
        }
        // Both ways were taken: some merges had nothing new, most had something.
        assert!((10..100).contains(&skipped), "{skipped}");
        // The copies count steps without their latency; the merge of the workers'
        // own statistics, as at the end of the run, keeps it, and so does a
        // view's copy of it (as of the last snapshot).
        let counts_only = |run: &RunStats| run.steps.iter().all(|s| !s.keeps_latency());
        assert!(
            latest
                .iter()
                .all(|w| w.steps.iter().all(|s| !s.keeps_latency()))
        );
        assert!(buffers.iter().chain(&views).all(counts_only));
        let run = RunStats::merge(&workers, Duration::from_secs(1));
        let live = RunStats::merge(&latest, Duration::from_secs(1));
        assert!(counts_only(&live));
        for (i, step) in run.steps.iter().enumerate() {
            let mut sum = crate::stats::new_histogram();
            for w in &workers {
                sum.add(&w.steps[i].totals.latency).unwrap();
            }
            assert!(!sum.is_empty());
            assert_eq!(step.totals.latency, sum, "step {i}");
            assert_eq!(step.totals.requests, live.steps[i].totals.requests);
            assert_eq!(step.status_classes, live.steps[i].status_classes);
        }
        views[0].copy_from(&run);
        assert_eq!(histograms(&views[0]), histograms(&run));
        assert_eq!(format!("{:?}", views[0]), format!("{run:?}"));
    }

    /// Every histogram of `run`.
    fn histograms(run: &RunStats) -> Vec<&Histogram<u64>> {
        let mut all = vec![&run.latency, &run.latency_uncorrected, &run.schedule_lag];
        all.extend(run.phases.histograms());
        all.extend(run.scenarios.iter().map(|s| &s.latency));
        all.extend(run.steps.iter().map(|s| &s.totals.latency));
        for m in run.messages.iter().flatten() {
            all.extend([&m.open_time, &m.stream_messages, &m.first_message]);
        }
        all
    }
}
