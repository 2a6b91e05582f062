//! One step's share of the requests: its own latency histogram, counts and statuses
//! by class, kept only when the program has two steps or more (with one, the run's
//! totals are the step's). A HAR replay of forty URLs then reports forty
//! distributions, not one.
//!
//! Each step costs a histogram (about 200 KiB) per worker, so only the first
//! [`MAX_STEPS`] steps are kept; requests of later steps count in the run's totals
//! only. The live snapshots carry the steps' counts without their latency
//! ([`StepStats::keeps_latency`]): nothing live reads a step's latency, and with
//! a histogram per step in each of their copies, a recording of a few hundred
//! requests replayed on a few threads held GiBs of them.

use std::time::Duration;

use kaioken_vm::Status;

use hdrhistogram::Histogram;

use super::{HIGHEST_US, Merge, Outcome, ScenarioStats, new_histogram, sum_histograms};

/// The most steps whose results are kept apart (about 50 MiB per worker at most).
pub const MAX_STEPS: usize = 256;

/// Responses by status class: `1xx` to `5xx`, then any other status (other
/// protocols' codes, HTTP codes outside 100–599).
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// One step's share of a worker's requests, redirects it followed included.
#[derive(Debug, Clone)]
pub struct StepStats {
    /// Its latency (from the actual send, of responses only) and its requests,
    /// errors and unexpected statuses, counted as a scenario's are.
    pub totals: ScenarioStats,
    /// Its responses by status class, in the order of [`STATUS_CLASSES`].
    pub status_classes: [u64; STATUS_CLASSES.len()],
}

impl StepStats {
    pub(super) fn new() -> StepStats {
        StepStats::with_latency(new_histogram())
    }

    fn with_latency(latency: Histogram<u64>) -> StepStats {
        StepStats {
            totals: ScenarioStats::with_latency(latency),
            status_classes: [0; STATUS_CLASSES.len()],
        }
    }

    /// A step that counts but keeps no latency: a histogram of two values stands
    /// in for its 184 KiB one, and stays empty. What the live snapshots' copies
    /// of a worker's statistics hold of each step.
    pub(super) fn counts_only() -> StepStats {
        StepStats::with_latency(
            Histogram::new_with_bounds(1, 2, 1).expect("static histogram bounds are valid"),
        )
    }

    /// A step of the kind `other` is, with nothing counted.
    pub(super) fn like(other: &StepStats) -> StepStats {
        if other.keeps_latency() {
            StepStats::new()
        } else {
            StepStats::counts_only()
        }
    }

    /// Whether it keeps its latency: true in a worker's statistics and in the
    /// run's final ones; false in the live snapshots (their latency histogram
    /// then stays empty, whatever the step's requests).
    pub fn keeps_latency(&self) -> bool {
        self.totals.latency.high() >= HIGHEST_US
    }

    /// Make the counts (not the latency) the sums of `parts`'.
    pub(super) fn sum_counts<'a>(&mut self, parts: impl Iterator<Item = &'a StepStats> + Clone) {
        self.totals.sum_counts(parts.clone().map(|p| &p.totals));
        self.status_classes = [0; STATUS_CLASSES.len()];
        for part in parts {
            for (mine, theirs) in self.status_classes.iter_mut().zip(&part.status_classes) {
                *mine += theirs;
            }
        }
    }

    /// Count one exchange that took `took` and came to `outcome`.
    #[inline]
    pub(super) fn record(&mut self, took: Duration, outcome: Outcome) {
        let error = match outcome {
            Outcome::Response { status, .. } => {
                self.status_classes[class(status)] += 1;
                false
            }
            Outcome::Error(_) => true,
        };
        self.totals.record(took, error);
    }
}

impl Merge for StepStats {
    fn merge_from<'a, I>(&mut self, parts: I, again: bool)
    where
        I: Iterator<Item = &'a StepStats> + Clone,
    {
        // The sum keeps the latency if every part does, and becomes of that kind.
        let keeps = parts.clone().all(StepStats::keeps_latency);
        let mut again = again;
        if keeps != self.keeps_latency() {
            *self = if keeps {
                StepStats::new()
            } else {
                StepStats::counts_only()
            };
            again = false;
        }
        if keeps {
            sum_histograms(
                &mut self.totals.latency,
                parts.clone().map(|p| &p.totals.latency),
                again,
            );
            self.totals.latency_max_us = parts
                .clone()
                .map(|p| p.totals.latency_max_us)
                .max()
                .unwrap_or(0);
        }
        self.sum_counts(parts);
    }
}

/// The index in [`STATUS_CLASSES`] of `status`'s class.
pub fn class(status: Status) -> usize {
    match status {
        Status::Http(code @ 100..=599) => usize::from(code / 100 - 1),
        _ => STATUS_CLASSES.len() - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class() {
        let names: Vec<&str> = [
            Status::Http(101),
            Status::Http(204),
            Status::Http(302),
            Status::Http(404),
            Status::Http(503),
            Status::Http(99),
            Status::Http(600),
            Status::Grpc(0),
        ]
        .into_iter()
        .map(|s| STATUS_CLASSES[class(s)])
        .collect();
        assert_eq!(
            names,
            ["1xx", "2xx", "3xx", "4xx", "5xx", "other", "other", "other"]
        );
    }

    #[test]
    fn counts_responses_and_errors_apart() {
        let mut s = StepStats::new();
        let ok = |code| Outcome::Response {
            status: Status::Http(code),
            bytes_in: 1,
        };
        s.record(Duration::from_millis(2), ok(200));
        s.record(Duration::from_millis(4), ok(500));
        s.record(
            Duration::from_millis(1),
            Outcome::Error(crate::ErrorKind::Timeout),
        );
        assert_eq!(s.totals.requests, 3);
        assert_eq!(s.totals.errors, 1);
        assert_eq!(s.totals.latency.len(), 2, "an error has no latency");
        assert_eq!(s.status_classes, [0, 1, 0, 0, 1, 0]);
    }
}
