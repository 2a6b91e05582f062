//! Each second's own latency percentiles and statuses, for the timeline.
//!
//! A second's percentiles need that second's histogram, merged over the workers; a
//! histogram per second per worker kept for the whole run would make memory grow
//! with its length. Instead each worker remembers where its current second began
//! ([`SecondStart`]: its cumulative latency histogram and status counts just before
//! that second's first request was recorded). A worker records requests in the order
//! they end, so the difference between two consecutive starts is exactly the
//! requests of one second. The controller ([`Seconds`]) takes those differences from
//! the statistics workers publish every tick, adds them up over the workers, and
//! keeps only each second's percentiles and statuses once every worker is past it.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use kaioken_vm::Status;

use super::{HTTP_STATUSES, WorkerStats, copy_histogram, new_histogram};

/// What a worker had recorded when its current second began.
#[derive(Debug, Clone)]
pub(crate) struct SecondStart {
    /// The second (from the end of the warm-up) that began there.
    pub index: u32,
    /// The worker's latency histogram then.
    pub latency: Histogram<u64>,
    /// Its HTTP status table then.
    pub status: Box<[u64; HTTP_STATUSES]>,
    /// Its other statuses then.
    pub other_status: Vec<(Status, u64)>,
}

impl SecondStart {
    pub(crate) fn new() -> SecondStart {
        SecondStart {
            index: 0,
            latency: new_histogram(),
            status: Box::new([0; HTTP_STATUSES]),
            other_status: Vec::new(),
        }
    }

    /// Become a copy of `other`, reusing this one's buffers, with `other`'s room:
    /// a copy made before `other` takes a second's statuses (published before
    /// the turn of a second) takes them without allocating. `again`: this is a
    /// copy of an earlier state of `other` (see [`copy_histogram`]).
    pub(crate) fn copy_from(&mut self, other: &SecondStart, again: bool) {
        self.index = other.index;
        copy_histogram(&mut self.latency, &other.latency, again);
        *self.status = *other.status;
        self.room_for(other.other_status.capacity());
        self.other_status.clone_from(&other.other_status);
    }

    /// Make room for `statuses` other statuses, so that the next second's start,
    /// which copies the worker's table, allocates nothing. Called when a status is
    /// first seen (when the table itself may grow), not at the turn of a second,
    /// which may fall among requests that must not allocate.
    pub(crate) fn room_for(&mut self, statuses: usize) {
        self.other_status
            .reserve(statuses.saturating_sub(self.other_status.len()));
    }

    /// Mark the start of second `index` in `stats`, whose histogram and statuses are
    /// those recorded before it.
    pub(crate) fn begin(
        &mut self,
        index: u32,
        latency: &Histogram<u64>,
        status: &[u64; HTTP_STATUSES],
        other: &[(Status, u64)],
    ) {
        self.index = index;
        // An earlier state of the same histogram: a second without responses
        // copies nothing.
        copy_histogram(&mut self.latency, latency, true);
        *self.status = *status;
        self.other_status.clear();
        self.other_status.extend_from_slice(other);
    }
}

/// One second of the timeline, as the merged workers measured it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecondDetail {
    /// Latency percentiles of the requests that ended in the second (µs; 0 without
    /// requests): p50, p90, p99.
    pub p50_us: u64,
    /// See `p50_us`.
    pub p90_us: u64,
    /// See `p50_us`.
    pub p99_us: u64,
    /// Responses by status.
    pub status: Vec<(Status, u64)>,
}

/// A second some workers are past and others not yet: their parts, added up.
struct Partial {
    latency: Histogram<u64>,
    status: Box<[u64; HTTP_STATUSES]>,
    other_status: Vec<(Status, u64)>,
}

impl Partial {
    fn new() -> Partial {
        Partial {
            latency: new_histogram(),
            status: Box::new([0; HTTP_STATUSES]),
            other_status: Vec::new(),
        }
    }

    /// Add what a worker recorded between `from` and `to` (its start of the next
    /// second, or its final statistics), working out the latencies in `part`.
    fn add(
        &mut self,
        from: &SecondStart,
        to_latency: &Histogram<u64>,
        to_status: &[u64; HTTP_STATUSES],
        to_other: &[(Status, u64)],
        part: &mut Histogram<u64>,
    ) {
        copy_histogram(part, to_latency, false);
        // `from` is an earlier state of the same histogram: contained in it.
        let _ = part.subtract(&from.latency);
        self.latency.add(&*part).expect("histograms share bounds");
        for (i, n) in to_status.iter().enumerate() {
            self.status[i] += n.saturating_sub(from.status[i]);
        }
        for &(status, n) in to_other {
            let before = from
                .other_status
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |&(_, b)| b);
            if n > before {
                match self.other_status.iter_mut().find(|(s, _)| *s == status) {
                    Some((_, total)) => *total += n - before,
                    None => self.other_status.push((status, n - before)),
                }
            }
        }
    }

    /// The second's percentiles and statuses.
    fn detail(&mut self) -> SecondDetail {
        let h = &self.latency;
        let pct = |q: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        self.other_status.sort_unstable();
        let status = self
            .status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (Status::Http(code as u16), *n))
            .chain(self.other_status.iter().copied())
            .collect();
        SecondDetail {
            p50_us: pct(0.5),
            p90_us: pct(0.9),
            p99_us: pct(0.99),
            status,
        }
    }

    /// Count nothing, keeping the room (for a later second).
    fn clear(&mut self) {
        if !self.latency.is_empty() {
            self.latency.reset();
        }
        self.status.fill(0);
        self.other_status.clear();
    }
}

/// The controller's side: each worker's last seen start, the seconds in progress,
/// and the finished ones.
pub(crate) struct Seconds {
    starts: Vec<SecondStart>,
    partial: BTreeMap<u32, Partial>,
    /// Finished seconds, by index.
    pub done: Vec<SecondDetail>,
    /// Every finished second's histogram, added up: the run's own, exactly.
    pub merged: Histogram<u64>,
    /// Room reused second after second (each histogram is 184 KiB): where a
    /// worker's part of a second is worked out, and finished seconds.
    part: Histogram<u64>,
    spare: Vec<Partial>,
}

impl Seconds {
    pub(crate) fn new(workers: usize) -> Seconds {
        Seconds {
            starts: (0..workers).map(|_| SecondStart::new()).collect(),
            partial: BTreeMap::new(),
            done: Vec::new(),
            merged: new_histogram(),
            part: new_histogram(),
            spare: Vec::new(),
        }
    }

    /// Add to the second worker `w`'s last seen start began what it recorded
    /// from there to `to_latency` and `to_status`.
    fn add(
        &mut self,
        w: usize,
        to_latency: &Histogram<u64>,
        to_status: &[u64; HTTP_STATUSES],
        to_other: &[(Status, u64)],
    ) {
        let Seconds {
            starts,
            partial,
            part,
            spare,
            ..
        } = self;
        let from = &starts[w];
        partial
            .entry(from.index)
            .or_insert_with(|| spare.pop().unwrap_or_else(Partial::new))
            .add(from, to_latency, to_status, to_other, part);
    }

    /// Take in worker `w`'s latest published statistics: if its current second began
    /// since it was last seen, the second it left is complete for it.
    pub(crate) fn observe(&mut self, w: usize, stats: &WorkerStats) {
        let start = &stats.second_start;
        if start.index == self.starts[w].index {
            return;
        }
        self.add(w, &start.latency, &start.status, &start.other_status);
        self.starts[w].copy_from(start, false);
    }

    /// Worker `w` is done: what it recorded since its last second began belongs to
    /// that second.
    pub(crate) fn finish(&mut self, w: usize, stats: &WorkerStats) {
        self.observe(w, stats);
        self.add(w, &stats.latency, &stats.status, &stats.other_status);
        // Past every second: it holds none of them back.
        self.starts[w].index = u32::MAX;
    }

    /// Finish every second all workers are past.
    pub(crate) fn settle(&mut self) {
        let past = self.starts.iter().map(|s| s.index).min().unwrap_or(0);
        while let Some(entry) = self.partial.first_entry() {
            if *entry.key() >= past {
                break;
            }
            let index = *entry.key() as usize;
            let mut second = entry.remove();
            self.merged
                .add(&second.latency)
                .expect("histograms share bounds");
            if self.done.len() <= index {
                self.done.resize(index + 1, SecondDetail::default());
            }
            self.done[index] = second.detail();
            second.clear();
            self.spare.push(second);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::stats::{Outcome, RunStats};

    /// Two workers record over four seconds, publishing at odd moments (one skips a
    /// second entirely): every second's own histogram holds exactly the requests that
    /// ended in it (its count is the timeline's), statuses likewise, and the seconds
    /// merged are the run's histogram.
    #[test]
    fn each_second_is_its_own_and_they_add_up_to_the_run() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut workers = [WorkerStats::new(t0, 4), WorkerStats::new(t0, 4)];
        let mut seconds = Seconds::new(2);
        let mut published = [WorkerStats::new(t0, 4), WorkerStats::new(t0, 4)];
        let response = |code| Outcome::Response {
            status: Status::Http(code),
            bytes_in: 1,
        };
        // (worker, end in ms, latency in µs, status)
        let requests: &[(usize, u64, u64, u16)] = &[
            (0, 100, 500, 200),
            (1, 200, 700, 200),
            (0, 900, 900, 404),
            (1, 1100, 1_000, 200),
            (0, 1500, 2_000, 200),
            (1, 2600, 30_000, 500),
            (0, 3100, 40_000, 200),
            (1, 3200, 50_000, 200),
        ];
        let mut publish_at = [300u64, 1200, 2000, 2700, 3300].into_iter().peekable();
        for &(w, end, latency_us, code) in requests {
            while publish_at.peek().is_some_and(|&p| p <= end) {
                let p = publish_at.next().unwrap();
                for i in 0..2 {
                    workers[i].roll_second(at(p));
                    published[i].copy_from(&workers[i]);
                    seconds.observe(i, &published[i]);
                }
                seconds.settle();
            }
            let start = at(end) - Duration::from_micros(latency_us);
            workers[w].record(start, at(end), None, 1, response(code));
        }
        for (i, w) in workers.iter().enumerate() {
            seconds.finish(i, w);
        }
        seconds.settle();
        let mut run = RunStats::merge(&workers, Duration::from_secs(4));
        run.apply_seconds(&seconds.done);
        assert_eq!(seconds.done.len(), 4);
        assert_eq!(seconds.merged, run.latency);
        for (i, second) in run.timeline.iter().enumerate() {
            let by_status: u64 = run.timeline_status[i].iter().map(|&(_, n)| n).sum();
            assert_eq!(by_status, second.responses, "second {i}");
        }
        assert_eq!(
            run.timeline_status[0],
            [(Status::Http(200), 2), (Status::Http(404), 1)]
        );
        assert_eq!(run.timeline_status[2], [(Status::Http(500), 1)]);
        // Second 3 holds 40 ms and 50 ms: its p50 is the lower, its p99 the upper.
        let third = run.timeline[3];
        assert!(
            (39_900..=40_100).contains(&third.latency_p50_us),
            "{third:?}"
        );
        assert!(
            (49_900..=50_100).contains(&third.latency_p99_us),
            "{third:?}"
        );
        assert!(run.timeline[1].latency_p99_us < 2_100);
    }
}
