//! One scenario's share of the requests: its own latency histogram and counts, kept
//! only when a run has several scenarios (each histogram is about 200 KiB).

use std::time::Duration;

use hdrhistogram::Histogram;

use super::{clamp_us, copy_histogram, new_histogram};

/// One scenario's share of a worker's requests (kept only with several scenarios).
#[derive(Debug, Clone)]
pub struct ScenarioStats {
    /// Latency of its responses, from the actual send (µs).
    pub latency: Histogram<u64>,
    /// Finished requests.
    pub requests: u64,
    /// Of those, the ones without a response.
    pub errors: u64,
    /// Of those, the responses with a status the step did not expect.
    pub unexpected: u64,
}

impl ScenarioStats {
    pub(super) fn new() -> ScenarioStats {
        ScenarioStats {
            latency: new_histogram(),
            requests: 0,
            errors: 0,
            unexpected: 0,
        }
    }

    /// Count one request that took `took`; `error`: it got no response (and so no
    /// latency).
    #[inline]
    pub(super) fn record(&mut self, took: Duration, error: bool) {
        if !error {
            self.latency.saturating_record(clamp_us(took));
        }
        self.requests += 1;
        self.errors += u64::from(error);
    }

    /// Count nothing again, keeping the histogram's room.
    pub(super) fn clear(&mut self) {
        self.latency.reset();
        self.requests = 0;
        self.errors = 0;
        self.unexpected = 0;
    }

    /// Become a copy of `other` without allocating.
    pub(super) fn copy_from(&mut self, other: &ScenarioStats) {
        copy_histogram(&mut self.latency, &other.latency);
        self.requests = other.requests;
        self.errors = other.errors;
        self.unexpected = other.unexpected;
    }

    pub(super) fn add(&mut self, other: &ScenarioStats) {
        self.latency
            .add(&other.latency)
            .expect("histograms share bounds");
        self.requests += other.requests;
        self.errors += other.errors;
        self.unexpected += other.unexpected;
    }
}
