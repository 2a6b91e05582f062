//! One scenario's share of the requests: its own latency histogram and counts, kept
//! only when a run has several scenarios (each histogram is about 200 KiB).

use std::time::Duration;

use hdrhistogram::Histogram;

use super::{Merge, clamp_us, new_histogram, sum_histograms};

/// One scenario's share of a worker's requests (kept only with several scenarios).
#[derive(Debug, Clone)]
pub struct ScenarioStats {
    /// Latency of its responses, from the actual send (µs).
    pub latency: Histogram<u64>,
    /// The largest of them (µs), exact: the histogram's max is its bucket's highest
    /// value. 0 before the first response.
    pub latency_max_us: u64,
    /// Finished requests.
    pub requests: u64,
    /// Of those, the ones without a response.
    pub errors: u64,
    /// Of those, the responses with a status the step did not expect.
    pub unexpected: u64,
}

impl ScenarioStats {
    pub(super) fn new() -> ScenarioStats {
        ScenarioStats::with_latency(new_histogram())
    }

    /// Nothing counted, its latency kept in `latency`.
    pub(super) fn with_latency(latency: Histogram<u64>) -> ScenarioStats {
        ScenarioStats {
            latency,
            latency_max_us: 0,
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
            let us = clamp_us(took);
            self.latency.saturating_record(us);
            self.latency_max_us = self.latency_max_us.max(us);
        }
        self.requests += 1;
        self.errors += u64::from(error);
    }
}

impl Merge for ScenarioStats {
    fn merge_from<'a, I>(&mut self, parts: I, again: bool)
    where
        I: Iterator<Item = &'a ScenarioStats> + Clone,
    {
        sum_histograms(&mut self.latency, parts.clone().map(|p| &p.latency), again);
        self.latency_max_us = parts.clone().map(|p| p.latency_max_us).max().unwrap_or(0);
        self.sum_counts(parts);
    }
}

impl ScenarioStats {
    /// Make the counts (not the latency) the sums of `parts`'.
    pub(super) fn sum_counts<'a>(
        &mut self,
        parts: impl Iterator<Item = &'a ScenarioStats> + Clone,
    ) {
        self.requests = parts.clone().map(|p| p.requests).sum();
        self.errors = parts.clone().map(|p| p.errors).sum();
        self.unexpected = parts.map(|p| p.unexpected).sum();
    }
}
