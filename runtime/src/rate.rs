//! `--rate`: pacing requests with a token bucket of burst one (GCRA).
//!
//! Each worker thread paces its own share of the rate, so VUs never contend for a
//! shared bucket across threads. A VU reserves the next free slot and sleeps until
//! it: reservations are spaced exactly `interval` apart even though tokio's timer
//! wakes at millisecond granularity, so high rates are met on average. A slot that
//! has already passed (the server was slow) is not made up with a burst.

use std::cell::Cell;
use std::time::{Duration, Instant};

pub(crate) struct Pacer {
    interval: Duration,
    next: Cell<Option<Instant>>,
}

impl Pacer {
    /// A pacer for `per_second` requests per second (must be positive).
    pub fn new(per_second: f64) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Cell::new(None),
        }
    }

    /// Reserve the next slot; the caller sends at the returned instant.
    pub fn reserve(&self, now: Instant) -> Instant {
        let at = self.next.get().map_or(now, |next| next.max(now));
        self.next.set(Some(at + self.interval));
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
        // Far behind schedule: the next slot is now, not three missed ones at once.
        let late = t0 + Duration::from_secs(1);
        assert_eq!(p.reserve(late), late);
        assert_eq!(p.reserve(late), late + Duration::from_millis(1));
    }
}
