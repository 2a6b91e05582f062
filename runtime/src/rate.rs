//! `--rate`: pacing requests with a token bucket (GCRA) of a small tolerance.
//!
//! Each worker thread paces its own share of the rate, so VUs never contend for a
//! shared bucket across threads. The share is the worker's VUs among those active
//! when it reserves (`worker::rate_share`): while a ramp-up or stages have started
//! only some VUs, a worker whose VUs have not started leaves its part of the cap to
//! the others. A VU reserves the next free slot and sleeps until it: reservations
//! are spaced exactly one interval apart even though tokio's timer wakes at
//! millisecond granularity, so high rates are met on average. Slots missed
//! in the last [`SLACK`] are still used — a VU woken a timer tick late must not
//! lose its slot, or the rate a few VUs can meet would be capped at one request per
//! VU per tick — but older ones (the server was slow) are not made up with a burst.
//! The workers' schedules interleave: each starts its first slot that part of its
//! interval that the workers before it have of the rate, so that together they
//! start one request at a time, not one per worker at once.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How far behind the schedule may be caught up: two timer ticks.
pub(crate) const SLACK: Duration = Duration::from_millis(2);

/// The longest wait between two requests: a century, longer than any run (every
/// duration is at most 100 days). A lower rate than this allows waits as long: it
/// would send nothing more during the run either way.
const LONGEST_INTERVAL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

pub(crate) struct Pacer {
    per_second: f64,
    next: Cell<Option<Instant>>,
    /// The share of the first interval to wait before the first slot (0 to 1).
    phase: f64,
}

impl Pacer {
    /// A pacer for `per_second` requests per second (must be positive).
    pub fn new(per_second: f64) -> Pacer {
        Pacer {
            per_second,
            next: Cell::new(None),
            phase: 0.0,
        }
    }

    /// The same pacer, its first slot `phase` (0 to 1) of an interval after the
    /// first reservation.
    pub fn with_phase(mut self, phase: f64) -> Pacer {
        self.phase = phase.clamp(0.0, 1.0);
        self
    }

    /// Reserve the next slot at the whole rate; the caller sends at the returned
    /// instant.
    #[cfg(test)]
    pub fn reserve(&self, now: Instant) -> Instant {
        self.reserve_share(now, 1.0)
    }

    /// Reserve the next slot at `share` of the rate (a positive fraction): the slot
    /// after it is that much further away.
    pub fn reserve_share(&self, now: Instant, share: f64) -> Instant {
        let interval = Duration::try_from_secs_f64(1.0 / (self.per_second * share))
            .map_or(LONGEST_INTERVAL, |d| d.min(LONGEST_INTERVAL));
        let floor = now.checked_sub(SLACK).unwrap_or(now);
        let at = self.next.get().map_or_else(
            || now + interval.mul_f64(self.phase),
            |next| next.max(floor),
        );
        self.next.set(Some(at + interval));
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_and_not_made_up() {
        let p = Pacer::new(1000.0);
        let t0 = Instant::now();
        assert_eq!(p.reserve(t0), t0);
        assert_eq!(p.reserve(t0), t0 + Duration::from_millis(1));
        assert_eq!(p.reserve(t0), t0 + Duration::from_millis(2));
        // Far behind schedule: the slots of the last two ticks are caught up, not the
        // thousand missed before them.
        let late = t0 + Duration::from_secs(1);
        assert_eq!(p.reserve(late), late - SLACK);
        assert_eq!(p.reserve(late), late - Duration::from_millis(1));
        assert_eq!(p.reserve(late), late);
        assert_eq!(p.reserve(late), late + Duration::from_millis(1));
    }

    /// A VU woken a tick late keeps its slot: the schedule does not slide.
    #[test]
    fn a_late_wake_keeps_the_schedule() {
        let p = Pacer::new(10_000.0);
        let t0 = Instant::now();
        assert_eq!(p.reserve(t0), t0);
        // The next slot was t0 + 100µs; the VU got there 1ms late.
        let woke = t0 + Duration::from_micros(1_100);
        assert_eq!(p.reserve(woke), t0 + Duration::from_micros(100));
    }

    /// `--rate 1e-300` is a positive rate: one request, then none for longer than the
    /// run, and no overflow computing when.
    #[test]
    fn a_vanishing_rate_waits_a_century() {
        let p = Pacer::new(1e-300);
        let t0 = Instant::now();
        assert_eq!(p.reserve(t0), t0);
        assert_eq!(p.reserve(t0), t0 + LONGEST_INTERVAL);
        let p = Pacer::new(1e-12);
        assert_eq!(p.reserve(t0), t0);
        assert_eq!(p.reserve(t0), t0 + LONGEST_INTERVAL);
        let p = Pacer::new(0.5);
        assert_eq!(p.reserve(t0), t0);
        assert_eq!(p.reserve(t0), t0 + Duration::from_secs(2));
    }

    /// Worker 2 of 4 at a quarter of the rate each starts half an interval in: the
    /// four together start one request every 1/rate.
    #[test]
    fn a_phase_delays_the_first_slot_only() {
        let p = Pacer::new(10.0).with_phase(0.5);
        let t0 = Instant::now();
        assert_eq!(p.reserve_share(t0, 0.25), t0 + Duration::from_millis(200));
        assert_eq!(p.reserve_share(t0, 0.25), t0 + Duration::from_millis(600));
    }

    /// At a share of the rate, the next slot is that much further away.
    #[test]
    fn a_share_spaces_the_next_slot() {
        let p = Pacer::new(1000.0);
        let t0 = Instant::now();
        assert_eq!(p.reserve_share(t0, 0.5), t0);
        assert_eq!(p.reserve_share(t0, 0.25), t0 + Duration::from_millis(2));
        assert_eq!(p.reserve_share(t0, 1.0), t0 + Duration::from_millis(6));
        assert_eq!(p.reserve(t0), t0 + Duration::from_millis(7));
    }
}
