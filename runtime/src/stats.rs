//! Per-worker statistics and their merge.
//!
//! Each worker thread owns one [`WorkerStats`]; its VUs record into it without locks.
//! Nothing keeps a list of samples: latencies go into an HDR histogram (1 µs to 1 h, 3
//! significant digits, about 200 KiB) and per-second aggregates, so memory is flat
//! whatever the run's length. `RunStats::merge` adds histograms exactly.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

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
}

impl Second {
    fn add(&mut self, other: &Second) {
        self.requests += other.requests;
        self.responses += other.responses;
        self.errors += other.errors;
        self.latency_sum_us += other.latency_sum_us;
        self.latency_max_us = self.latency_max_us.max(other.latency_max_us);
    }
}

/// What one request came to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// A complete response.
    Response { status: u16, bytes_in: u64 },
    /// No complete response.
    Error(ErrorKind),
}

/// Statistics of one worker thread; recorded into by its VUs, merged at the end.
#[derive(Debug)]
pub(crate) struct WorkerStats {
    measure_from: Instant,
    pub latency: Histogram<u64>,
    pub status: Box<[u64; 1000]>,
    pub errors: [u64; ErrorKind::COUNT],
    pub responses: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub warmup_requests: u64,
    pub unfinished: u64,
    pub timeline: Vec<Second>,
    /// The first message seen for each error kind.
    pub error_details: [Option<String>; ErrorKind::COUNT],
}

impl WorkerStats {
    pub fn new(measure_from: Instant, expected_seconds: usize) -> WorkerStats {
        WorkerStats {
            measure_from,
            latency: new_histogram(),
            status: Box::new([0; 1000]),
            errors: [0; ErrorKind::COUNT],
            responses: 0,
            bytes_in: 0,
            bytes_out: 0,
            warmup_requests: 0,
            unfinished: 0,
            timeline: Vec::with_capacity(expected_seconds + 2),
            error_details: Default::default(),
        }
    }

    /// Record a request that started at `start` and finished at `end`.
    #[inline]
    pub fn record(&mut self, start: Instant, end: Instant, bytes_out: u64, outcome: Outcome) {
        let Some(since) = end.checked_duration_since(self.measure_from) else {
            self.warmup_requests += 1;
            return;
        };
        let us = end
            .saturating_duration_since(start)
            .as_micros()
            .clamp(u128::from(LOWEST_US), u128::from(HIGHEST_US)) as u64;
        self.latency.saturating_record(us);
        self.bytes_out += bytes_out;
        let second = since.as_secs() as usize;
        if second >= self.timeline.len() {
            self.timeline.resize(second + 1, Second::default());
        }
        let sec = &mut self.timeline[second];
        sec.requests += 1;
        sec.latency_sum_us += us;
        sec.latency_max_us = sec.latency_max_us.max(us);
        match outcome {
            Outcome::Response { status, bytes_in } => {
                self.responses += 1;
                self.bytes_in += bytes_in;
                self.status[usize::from(status.min(999))] += 1;
                sec.responses += 1;
            }
            Outcome::Error(kind) => {
                self.errors[kind as usize] += 1;
                sec.errors += 1;
            }
        }
    }
}

/// The merged statistics of a whole run.
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Latency of every finished request (µs).
    pub latency: Histogram<u64>,
    /// Responses by status code, ascending.
    pub status: Vec<(u16, u64)>,
    /// Failed requests by kind, in [`ErrorKind::ALL`] order.
    pub errors: [u64; ErrorKind::COUNT],
    /// Requests with a complete response.
    pub responses: u64,
    /// Response bytes read (head and body).
    pub bytes_in: u64,
    /// Request bytes written.
    pub bytes_out: u64,
    /// Requests that finished during the warm-up (in no other count).
    pub warmup_requests: u64,
    /// Requests cut off by a hard stop (in no other count).
    pub unfinished: u64,
    /// Per-second aggregates of the measured window.
    pub timeline: Vec<Second>,
    /// The first message seen for each error kind, where one was recorded.
    pub error_details: [Option<String>; ErrorKind::COUNT],
    /// Length of the measured window: from the end of the warm-up to the last
    /// request's end.
    pub elapsed: Duration,
}

impl RunStats {
    pub(crate) fn merge(workers: Vec<WorkerStats>, elapsed: Duration) -> RunStats {
        let mut out = RunStats {
            latency: new_histogram(),
            status: Vec::new(),
            errors: [0; ErrorKind::COUNT],
            responses: 0,
            bytes_in: 0,
            bytes_out: 0,
            warmup_requests: 0,
            unfinished: 0,
            timeline: Vec::new(),
            error_details: Default::default(),
            elapsed,
        };
        let mut status = [0u64; 1000];
        for w in workers {
            out.latency
                .add(&w.latency)
                .expect("histograms share bounds");
            for (i, n) in w.status.iter().enumerate() {
                status[i] += n;
            }
            for (i, n) in w.errors.iter().enumerate() {
                out.errors[i] += n;
            }
            for (mine, theirs) in out.error_details.iter_mut().zip(w.error_details) {
                if mine.is_none() {
                    *mine = theirs;
                }
            }
            out.responses += w.responses;
            out.bytes_in += w.bytes_in;
            out.bytes_out += w.bytes_out;
            out.warmup_requests += w.warmup_requests;
            out.unfinished += w.unfinished;
            if w.timeline.len() > out.timeline.len() {
                out.timeline.resize(w.timeline.len(), Second::default());
            }
            for (i, s) in w.timeline.iter().enumerate() {
                out.timeline[i].add(s);
            }
        }
        out.status = status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code as u16, *n))
            .collect();
        out
    }

    /// Failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Finished requests: responses plus errors.
    pub fn total(&self) -> u64 {
        self.responses + self.error_count()
    }

    /// Failed requests by kind, with names.
    pub fn errors_by_kind(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL.into_iter().zip(self.errors.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let t0 = Instant::now();
        let mut a = WorkerStats::new(t0, 2);
        let mut b = WorkerStats::new(t0, 2);
        a.record(
            t0,
            t0 + Duration::from_micros(500),
            10,
            Outcome::Response {
                status: 200,
                bytes_in: 100,
            },
        );
        a.record(
            t0,
            t0 + Duration::from_millis(1500),
            10,
            Outcome::Error(ErrorKind::Timeout),
        );
        b.record(
            t0,
            t0 + Duration::from_micros(700),
            10,
            Outcome::Response {
                status: 404,
                bytes_in: 50,
            },
        );
        b.record(
            t0,
            t0 + Duration::from_micros(900),
            10,
            Outcome::Response {
                status: 200,
                bytes_in: 50,
            },
        );
        let run = RunStats::merge(vec![a, b], Duration::from_secs(2));
        assert_eq!(run.total(), 4);
        assert_eq!(run.responses, 3);
        assert_eq!(run.status, vec![(200, 2), (404, 1)]);
        assert_eq!(run.errors[ErrorKind::Timeout as usize], 1);
        assert_eq!(run.latency.len(), 4);
        assert_eq!(run.timeline.len(), 2);
        assert_eq!(run.timeline[0].requests, 3);
        assert_eq!(run.timeline[1].errors, 1);
        assert_eq!(run.bytes_in, 200);
        assert_eq!(run.bytes_out, 40);
    }

    #[test]
    fn warmup_is_not_measured() {
        let t0 = Instant::now();
        let mut w = WorkerStats::new(t0 + Duration::from_secs(1), 1);
        w.record(
            t0,
            t0 + Duration::from_millis(10),
            5,
            Outcome::Response {
                status: 200,
                bytes_in: 1,
            },
        );
        w.record(
            t0,
            t0 + Duration::from_millis(1010),
            5,
            Outcome::Response {
                status: 200,
                bytes_in: 1,
            },
        );
        assert_eq!(w.warmup_requests, 1);
        assert_eq!(w.responses, 1);
        assert_eq!(w.latency.len(), 1);
    }
}
