//! Per-worker statistics and their merge.
//!
//! Each worker thread owns one [`WorkerStats`]; its VUs record into it without locks.
//! Nothing keeps a list of samples: latencies go into an HDR histogram (1 µs to 1 h, 3
//! significant digits, about 200 KiB) and per-second aggregates, so memory is flat
//! whatever the run's length. `RunStats::merge` adds histograms exactly.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use kaioken_vm::Status;

use crate::ErrorKind;

/// Lowest and highest latency recorded, in microseconds (values are clamped).
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 3_600_000_000;
const SIGFIG: u8 = 3;

/// A new latency histogram with kaioken's bounds.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG)
        .expect("static histogram bounds are valid")
}

/// One second of the measured window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Second {
    /// Requests that finished in this second.
    pub requests: u64,
    /// Of those, the ones with a complete response.
    pub responses: u64,
    /// Of those, the ones that failed.
    pub errors: u64,
    /// Sum of their latencies, µs.
    pub latency_sum_us: u64,
    /// The largest latency, µs.
    pub latency_max_us: u64,
    /// Iterations started in this second (open model: the scheduled ones that ran).
    pub started: u64,
    /// Iterations dropped in this second (open model).
    pub dropped: u64,
    /// The most VUs active during this second.
    pub vus: u64,
}

impl Second {
    fn add(&mut self, other: &Second) {
        self.started += other.started;
        self.dropped += other.dropped;
        self.vus += other.vus;
        self.requests += other.requests;
        self.responses += other.responses;
        self.errors += other.errors;
        self.latency_sum_us += other.latency_sum_us;
        self.latency_max_us = self.latency_max_us.max(other.latency_max_us);
    }
}

/// One scenario's share of a worker's requests (kept only with several scenarios).
#[derive(Debug, Clone)]
pub struct ScenarioStats {
    /// Latency from the actual send (µs).
    pub latency: Histogram<u64>,
    /// Finished requests.
    pub requests: u64,
    /// Of those, the ones without a response.
    pub errors: u64,
}

impl ScenarioStats {
    fn new() -> ScenarioStats {
        ScenarioStats {
            latency: new_histogram(),
            requests: 0,
            errors: 0,
        }
    }

    fn add(&mut self, other: &ScenarioStats) {
        self.latency
            .add(&other.latency)
            .expect("histograms share bounds");
        self.requests += other.requests;
        self.errors += other.errors;
    }
}

/// What one request came to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// A complete response.
    Response { status: Status, bytes_in: u64 },
    /// No complete response.
    Error(ErrorKind),
}

impl Outcome {
    /// The outcome of a driver's exchange (status and bytes read, or why there is no
    /// response) run under the request's timeout.
    pub(crate) fn of_exchange(
        result: Result<Result<(u16, u64), ErrorKind>, tokio::time::error::Elapsed>,
    ) -> Outcome {
        match result {
            Ok(Ok((status, bytes_in))) => Outcome::Response {
                status: Status::Http(status),
                bytes_in,
            },
            Ok(Err(kind)) => Outcome::Error(kind),
            Err(_) => Outcome::Error(ErrorKind::Timeout),
        }
    }
}

/// What a run counts: requests by outcome, bytes, iterations. Each worker keeps its
/// own, and [`RunStats`] adds them up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests with a complete response.
    pub responses: u64,
    /// Failed requests by kind, in [`ErrorKind::ALL`] order.
    pub errors: [u64; ErrorKind::COUNT],
    /// Response bytes read (head and body).
    pub bytes_in: u64,
    /// Request bytes written.
    pub bytes_out: u64,
    /// Requests that finished during the warm-up (in no other count).
    pub warmup_requests: u64,
    /// Requests cut off by a hard stop (in no other count).
    pub unfinished: u64,
    /// Iterations started in the measured window.
    pub started: u64,
    /// Iterations dropped in the measured window (open model: no VU free in time,
    /// or the queue was full).
    pub dropped: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.responses += other.responses;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.warmup_requests += other.warmup_requests;
        self.unfinished += other.unfinished;
        self.started += other.started;
        self.dropped += other.dropped;
    }
}

/// Statistics of one worker thread; recorded into by its VUs, merged at the end.
#[derive(Debug)]
pub(crate) struct WorkerStats {
    measure_from: Instant,
    pub latency: Histogram<u64>,
    /// HTTP responses by status code (a flat table: the hot path).
    pub status: Box<[u64; 1000]>,
    /// Responses of other protocols by status (gRPC codes, WebSocket close codes).
    pub other_status: Vec<(Status, u64)>,
    pub counts: Counts,
    pub timeline: Vec<Second>,
    /// The first message seen for each error kind.
    pub error_details: [Option<String>; ErrorKind::COUNT],
    /// Open model: latency from the actual send, whatever the correction.
    /// Open model only (each histogram is a few hundred KiB, so the closed model
    /// does not carry them).
    pub latency_uncorrected: Option<Histogram<u64>>,
    /// Open model: from an iteration's scheduled start to its first send (µs).
    pub schedule_lag: Option<Histogram<u64>>,
    /// The most VUs active at once in this worker.
    pub max_vus: u64,
    /// VUs active now.
    active_vus: u64,
    /// Which engine ran this worker's VUs: `io_uring` or `tokio`.
    pub engine: &'static str,
    /// Per check (by [`kaioken_vm::CheckId`]): passes and failures.
    pub checks: Vec<[u64; 2]>,
    /// Per extractor (by [`kaioken_vm::ExtractorId`]): successes and failures.
    pub extractions: Vec<[u64; 2]>,
    /// Per scenario, when there are several.
    pub scenarios: Vec<ScenarioStats>,
}

fn clamp_us(d: Duration) -> u64 {
    d.as_micros()
        .clamp(u128::from(LOWEST_US), u128::from(HIGHEST_US)) as u64
}

impl WorkerStats {
    pub fn new(measure_from: Instant, expected_seconds: usize) -> WorkerStats {
        WorkerStats {
            measure_from,
            latency: new_histogram(),
            status: Box::new([0; 1000]),
            other_status: Vec::new(),
            counts: Counts::default(),
            timeline: Vec::with_capacity(expected_seconds + 2),
            error_details: Default::default(),
            latency_uncorrected: None,
            schedule_lag: None,
            max_vus: 0,
            active_vus: 0,
            engine: "tokio",
            checks: Vec::new(),
            extractions: Vec::new(),
            scenarios: Vec::new(),
        }
    }

    /// The open model's histograms: the schedule lag, and the uncorrected latency
    /// when `latency_correction` makes it differ from the recorded one (without
    /// correction they are the same, and the merge copies it).
    pub fn open_model(mut self, latency_correction: bool) -> WorkerStats {
        if latency_correction {
            self.latency_uncorrected = Some(new_histogram());
        }
        self.schedule_lag = Some(new_histogram());
        self
    }

    /// The timeline entry for instant `at`, or `None` during the warm-up.
    #[inline]
    fn second(&mut self, at: Instant) -> Option<&mut Second> {
        let second = at.checked_duration_since(self.measure_from)?.as_secs() as usize;
        if second >= self.timeline.len() {
            let vus = self.active_vus;
            self.timeline.resize(
                second + 1,
                Second {
                    vus,
                    ..Second::default()
                },
            );
        }
        Some(&mut self.timeline[second])
    }

    /// Keep `detail()` as the example message of error kind `kind`, unless one is
    /// kept already (only then is `detail` called: it may allocate).
    pub fn note_error_detail(&mut self, kind: ErrorKind, detail: impl FnOnce() -> String) {
        let slot = &mut self.error_details[kind as usize];
        if slot.is_none() {
            *slot = Some(detail());
        }
    }

    /// Make room for `n` checks' counts (once, before the run).
    pub fn with_checks(mut self, n: usize) -> WorkerStats {
        self.checks = vec![[0; 2]; n];
        self
    }

    /// Make room for `n` extractors' counts (once, before the run).
    pub fn with_extractors(mut self, n: usize) -> WorkerStats {
        self.extractions = vec![[0; 2]; n];
        self
    }

    /// Keep per-scenario results for `n` scenarios (only worth it for two or more).
    pub fn with_scenarios(mut self, n: usize) -> WorkerStats {
        if n > 1 {
            self.scenarios = (0..n).map(|_| ScenarioStats::new()).collect();
        }
        self
    }

    /// Count a request that finished at `end` after `took` in scenario `index`.
    #[inline]
    pub fn scenario(&mut self, index: usize, end: Instant, took: Duration, error: bool) {
        if end < self.measure_from {
            return;
        }
        if let Some(s) = self.scenarios.get_mut(index) {
            s.latency.saturating_record(clamp_us(took));
            s.requests += 1;
            s.errors += u64::from(error);
        }
    }

    /// Count one run of extractor `id`.
    #[inline]
    pub fn extraction(&mut self, id: kaioken_vm::ExtractorId, ok: bool) {
        if let Some(counts) = self.extractions.get_mut(id.index()) {
            counts[usize::from(!ok)] += 1;
        }
    }

    /// Count one evaluation of check `id`.
    #[inline]
    pub fn check(&mut self, id: kaioken_vm::CheckId, passed: bool) {
        if let Some(counts) = self.checks.get_mut(id.index()) {
            counts[usize::from(!passed)] += 1;
        }
    }

    /// An iteration started at `at`; `lag` is how late it was (open model).
    pub fn iteration_started(&mut self, at: Instant, lag: Option<Duration>) {
        if let Some(sec) = self.second(at) {
            sec.started += 1;
            self.counts.started += 1;
            if let Some(lag) = lag {
                if let Some(h) = &mut self.schedule_lag {
                    h.saturating_record(clamp_us(lag));
                }
            }
        }
    }

    /// An iteration due at `at` was dropped.
    pub fn iteration_dropped(&mut self, at: Instant) {
        if let Some(sec) = self.second(at) {
            sec.dropped += 1;
            self.counts.dropped += 1;
        }
    }

    /// The number of active VUs changed by `delta` at `at`.
    pub fn vus_changed(&mut self, at: Instant, delta: i64) {
        self.active_vus = self.active_vus.saturating_add_signed(delta);
        let active = self.active_vus;
        self.max_vus = self.max_vus.max(active);
        if let Some(sec) = self.second(at) {
            sec.vus = sec.vus.max(active);
        }
    }

    /// Record a request that was sent at `start` and finished at `end`. With latency
    /// correction, `intended` is when it should have been sent (its iteration's
    /// scheduled start) and its latency counts from there.
    #[inline]
    pub fn record(
        &mut self,
        start: Instant,
        end: Instant,
        intended: Option<Instant>,
        bytes_out: u64,
        outcome: Outcome,
    ) {
        if end < self.measure_from {
            self.counts.warmup_requests += 1;
            return;
        }
        // Corrected latency counts from the scheduled start, or from the actual send
        // if that came first (an iteration released up to a timer tick early).
        let from = intended.map_or(start, |i| i.min(start));
        let us = clamp_us(end.saturating_duration_since(from));
        self.latency.saturating_record(us);
        if let Some(h) = &mut self.latency_uncorrected {
            h.saturating_record(clamp_us(end.saturating_duration_since(start)));
        }
        self.counts.bytes_out += bytes_out;
        let Some(sec) = self.second(end) else { return };
        sec.requests += 1;
        sec.latency_sum_us += us;
        sec.latency_max_us = sec.latency_max_us.max(us);
        match outcome {
            Outcome::Response { status, bytes_in } => {
                sec.responses += 1;
                self.counts.responses += 1;
                self.counts.bytes_in += bytes_in;
                match status {
                    Status::Http(code) => self.status[usize::from(code.min(999))] += 1,
                    other => match self.other_status.iter_mut().find(|(s, _)| *s == other) {
                        Some((_, n)) => *n += 1,
                        None => self.other_status.push((other, 1)),
                    },
                }
            }
            Outcome::Error(kind) => {
                sec.errors += 1;
                self.counts.errors[kind as usize] += 1;
            }
        }
    }
}

/// The merged statistics of a whole run.
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Latency of every finished request (µs).
    pub latency: Histogram<u64>,
    /// Responses by status, ascending: HTTP codes, then other protocols'.
    pub status: Vec<(Status, u64)>,
    /// Requests, bytes and iterations, added up over the workers.
    pub counts: Counts,
    /// Per-second aggregates of the measured window.
    pub timeline: Vec<Second>,
    /// The first message seen for each error kind, where one was recorded.
    pub error_details: [Option<String>; ErrorKind::COUNT],
    /// Latency from the actual send (µs). In the closed model, equal to `latency`.
    pub latency_uncorrected: Histogram<u64>,
    /// From each iteration's scheduled start to its first send (µs); open model.
    pub schedule_lag: Histogram<u64>,
    /// The most VUs active at once (summed over workers' peaks: an upper bound).
    pub max_vus: u64,
    /// The engine that ran the VUs: `io_uring` (closed model, plain HTTP/1.1) or
    /// `tokio`.
    pub engine: &'static str,
    /// Per check (by id): passes and failures.
    pub checks: Vec<[u64; 2]>,
    /// Per extractor (by id): successes and failures.
    pub extractions: Vec<[u64; 2]>,
    /// Per scenario (when there are several): latency and counts.
    pub scenarios: Vec<ScenarioStats>,
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

impl RunStats {
    pub(crate) fn merge(workers: Vec<WorkerStats>, elapsed: Duration) -> RunStats {
        let engine = merge_engines(workers.iter().map(|w| w.engine));
        let mut out = RunStats {
            latency: new_histogram(),
            status: Vec::new(),
            counts: Counts::default(),
            timeline: Vec::new(),
            error_details: Default::default(),
            latency_uncorrected: new_histogram(),
            schedule_lag: new_histogram(),
            max_vus: 0,
            engine,
            checks: Vec::new(),
            extractions: Vec::new(),
            scenarios: Vec::new(),
            elapsed,
        };
        let mut any_uncorrected = false;
        let mut status = [0u64; 1000];
        let mut other_status: Vec<(Status, u64)> = Vec::new();
        for w in workers {
            out.latency
                .add(&w.latency)
                .expect("histograms share bounds");
            if let Some(h) = &w.schedule_lag {
                out.schedule_lag.add(h).expect("histograms share bounds");
            }
            if let Some(h) = &w.latency_uncorrected {
                any_uncorrected = true;
                out.latency_uncorrected
                    .add(h)
                    .expect("histograms share bounds");
            }
            add_pairs(&mut out.checks, &w.checks);
            if out.scenarios.is_empty() {
                out.scenarios = w.scenarios.iter().map(|_| ScenarioStats::new()).collect();
            }
            for (total, s) in out.scenarios.iter_mut().zip(&w.scenarios) {
                total.add(s);
            }
            add_pairs(&mut out.extractions, &w.extractions);
            out.counts.add(&w.counts);
            out.max_vus += w.max_vus;
            for (i, n) in w.status.iter().enumerate() {
                status[i] += n;
            }
            for &(st, n) in &w.other_status {
                match other_status.iter_mut().find(|(s, _)| *s == st) {
                    Some((_, total)) => *total += n,
                    None => other_status.push((st, n)),
                }
            }
            for (mine, theirs) in out.error_details.iter_mut().zip(w.error_details) {
                if mine.is_none() {
                    *mine = theirs;
                }
            }
            if w.timeline.len() > out.timeline.len() {
                out.timeline.resize(w.timeline.len(), Second::default());
            }
            for (i, s) in w.timeline.iter().enumerate() {
                out.timeline[i].add(s);
            }
        }
        if !any_uncorrected {
            out.latency_uncorrected = out.latency.clone();
        }
        other_status.sort_unstable();
        out.status = status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (Status::Http(code as u16), *n))
            .chain(other_status)
            .collect();
        out
    }

    /// Failed requests.
    pub fn error_count(&self) -> u64 {
        self.counts.errors.iter().sum()
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

/// The engine of a run: each worker's, or the engines they used together when they
/// differ (one worker on io_uring while another fell back to tokio, or handed its
/// VUs over) — not whichever worker finished last.
fn merge_engines<'a>(engines: impl Iterator<Item = &'a str>) -> &'static str {
    let (mut uring, mut tokio) = (false, false);
    for engine in engines {
        for part in engine.split('+') {
            uring |= part == "io_uring";
            tokio |= part == "tokio";
        }
    }
    match (uring, tokio) {
        (true, true) => "io_uring+tokio",
        (true, false) => "io_uring",
        _ => "tokio",
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_run_names_every_engine_its_workers_used() {
        assert_eq!(
            merge_engines(["io_uring", "io_uring"].into_iter()),
            "io_uring"
        );
        assert_eq!(merge_engines(["tokio"].into_iter()), "tokio");
        assert_eq!(
            merge_engines(["io_uring", "tokio"].into_iter()),
            "io_uring+tokio"
        );
        assert_eq!(
            merge_engines(["io_uring+tokio", "io_uring"].into_iter()),
            "io_uring+tokio"
        );
        assert_eq!(
            merge_engines(["tokio", "io_uring"].into_iter()),
            "io_uring+tokio",
            "not whichever finished last"
        );
    }
    use super::*;

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
        b.record(t0, end, None, 1, response(Status::WsClose(1000)));
        b.record(t0, end, None, 1, response(Status::Grpc(0)));
        let run = RunStats::merge(vec![a, b], Duration::from_secs(1));
        assert_eq!(
            run.status,
            [
                (Status::Http(200), 1),
                (Status::Grpc(0), 1),
                (Status::Grpc(14), 2),
                (Status::WsClose(1000), 1)
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
        let run = RunStats::merge(vec![a, b], Duration::from_secs(2));
        assert_eq!(run.total(), 4);
        assert_eq!(run.counts.responses, 3);
        assert_eq!(
            run.status,
            vec![(Status::Http(200), 2), (Status::Http(404), 1)]
        );
        assert_eq!(run.counts.errors[ErrorKind::Timeout as usize], 1);
        assert_eq!(run.latency.len(), 4);
        assert_eq!(run.timeline.len(), 2);
        assert_eq!(run.timeline[0].requests, 3);
        assert_eq!(run.timeline[1].errors, 1);
        assert_eq!(run.counts.bytes_in, 200);
        assert_eq!(run.counts.bytes_out, 40);
    }

    #[test]
    fn warmup_is_not_measured() {
        let t0 = Instant::now();
        let mut w = WorkerStats::new(t0 + Duration::from_secs(1), 1);
        w.record(
            t0,
            t0 + Duration::from_millis(10),
            None,
            5,
            Outcome::Response {
                status: Status::Http(200),
                bytes_in: 1,
            },
        );
        w.record(
            t0,
            t0 + Duration::from_millis(1010),
            None,
            5,
            Outcome::Response {
                status: Status::Http(200),
                bytes_in: 1,
            },
        );
        assert_eq!(w.counts.warmup_requests, 1);
        assert_eq!(w.counts.responses, 1);
        assert_eq!(w.latency.len(), 1);
    }
}
