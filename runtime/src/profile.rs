//! Load levels over time: VUs (closed model with stages) or iterations per second
//! (open model), as linear ramps.
//!
//! The open model asks the inverse question too: when is iteration `n` due? With
//! `N(t)` the number of iterations due by `t` (the integral of the rate), iteration
//! `n` starts at `N⁻¹(n)`. Each worker thread walks its own stripe of `n` (every
//! `threads`-th), so the workers share the schedule without talking to each other and
//! together start exactly the planned iterations.

use std::time::Duration;

/// A level that starts at `start` and follows linear `stages`, then holds the last
/// level.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The level at time zero.
    pub start: f64,
    /// `(duration, target)`: over `duration`, move linearly to `target`.
    pub stages: Vec<(Duration, f64)>,
}

impl Profile {
    /// The level `load` follows over its measured time: VUs along its stages (closed
    /// model), or iterations per second (open model, with or without stages). `None`
    /// for the closed model without stages: all VUs, always.
    pub fn of(load: &kaioken_vm::LoadPlan) -> Option<Profile> {
        if !load.stages.is_empty() {
            return Some(Profile {
                start: load.start,
                stages: load.stages.iter().map(|s| (s.duration, s.target)).collect(),
            });
        }
        load.arrival.as_ref().map(|a| Profile::constant(a.rate))
    }

    /// A level that never changes.
    pub fn constant(level: f64) -> Profile {
        Profile {
            start: level,
            stages: Vec::new(),
        }
    }

    /// The same profile with `lead` of its start level in front (the warm-up).
    pub(crate) fn with_lead(&self, lead: Duration) -> Profile {
        let mut stages = Vec::with_capacity(self.stages.len() + 1);
        if !lead.is_zero() {
            stages.push((lead, self.start));
        }
        stages.extend_from_slice(&self.stages);
        Profile {
            start: self.start,
            stages,
        }
    }

    /// The level at `t`.
    pub fn level_at(&self, t: Duration) -> f64 {
        let mut from = self.start;
        let mut elapsed = Duration::ZERO;
        for &(d, to) in &self.stages {
            if t < elapsed + d {
                let x = (t - elapsed).as_secs_f64() / d.as_secs_f64();
                return from + (to - from) * x;
            }
            elapsed += d;
            from = to;
        }
        from
    }

    /// Iterations due by `t`: the integral of the level from 0 to `t`.
    pub fn count_until(&self, t: Duration) -> f64 {
        let mut from = self.start;
        let mut elapsed = Duration::ZERO;
        let mut count = 0.0;
        for &(d, to) in &self.stages {
            if t < elapsed + d {
                let x = (t - elapsed).as_secs_f64();
                let slope = (to - from) / d.as_secs_f64();
                return count + from * x + slope * x * x / 2.0;
            }
            count += (from + to) / 2.0 * d.as_secs_f64();
            elapsed += d;
            from = to;
        }
        count + from * (t - elapsed).as_secs_f64()
    }

    /// When iteration `n` (from 0) is due, or `None` if it never is (the level has
    /// fallen to zero for good before it, or is so low that it would be due past any
    /// time a `Duration` holds).
    pub fn time_of(&self, n: f64) -> Option<Duration> {
        let mut from = self.start;
        let mut elapsed = Duration::ZERO;
        let mut count = 0.0;
        for &(d, to) in &self.stages {
            let secs = d.as_secs_f64();
            let in_stage = (from + to) / 2.0 * secs;
            if n < count + in_stage {
                // Solve from·x + (to−from)/(2·secs)·x² = m for x in [0, secs], in the
                // form that stays exact when the slope is zero or `from` is zero.
                let m = n - count;
                let a = (to - from) / (2.0 * secs);
                let denominator = from + (from * from + 4.0 * a * m).max(0.0).sqrt();
                let x = if denominator > 0.0 {
                    2.0 * m / denominator
                } else {
                    0.0
                };
                return Some(elapsed + Duration::from_secs_f64(x.clamp(0.0, secs)));
            }
            count += in_stage;
            elapsed += d;
            from = to;
        }
        // A level so low that the iteration is due past what a `Duration` holds is
        // never due.
        if from <= 0.0 {
            return None;
        }
        let after = Duration::try_from_secs_f64((n - count) / from).ok()?;
        elapsed.checked_add(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn constant_rate() {
        let p = Profile::constant(100.0);
        assert_eq!(p.time_of(0.0), Some(Duration::ZERO));
        assert_eq!(p.time_of(100.0), Some(secs(1.0)));
        assert!((p.count_until(secs(2.5)) - 250.0).abs() < 1e-9);
        assert_eq!(p.level_at(secs(7.0)), 100.0);
    }

    #[test]
    fn ramps_are_linear_and_invertible() {
        // 0 → 100/s over 2 s (100 iterations), then 100 → 300/s over 2 s (400).
        let p = Profile {
            start: 0.0,
            stages: vec![(secs(2.0), 100.0), (secs(2.0), 300.0)],
        };
        assert!((p.level_at(secs(1.0)) - 50.0).abs() < 1e-9);
        assert!((p.level_at(secs(3.0)) - 200.0).abs() < 1e-9);
        assert!((p.count_until(secs(2.0)) - 100.0).abs() < 1e-9);
        assert!((p.count_until(secs(4.0)) - 500.0).abs() < 1e-9);
        for n in [1.0, 25.0, 99.0, 100.0, 250.0, 499.0] {
            let t = p.time_of(n).unwrap();
            assert!((p.count_until(t) - n).abs() < 1e-6, "n={n} t={t:?}");
        }
        // After the last stage the level holds at 300/s.
        let t = p.time_of(800.0).unwrap();
        assert!((t.as_secs_f64() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_from_zero_starts_at_zero() {
        let p = Profile {
            start: 0.0,
            stages: vec![(secs(2.0), 100.0)],
        };
        assert_eq!(p.time_of(0.0), Some(Duration::ZERO));
        // 0 → 100/s over 2 s: N(t) = 25·t², so the 25th iteration is due at 1 s.
        assert!((p.time_of(25.0).unwrap().as_secs_f64() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_level_that_falls_to_zero_ends_the_schedule() {
        let p = Profile {
            start: 10.0,
            stages: vec![(secs(1.0), 0.0)],
        };
        assert!((p.count_until(secs(1.0)) - 5.0).abs() < 1e-9);
        assert!(p.time_of(4.0).is_some());
        assert_eq!(p.time_of(5.0), None);
    }

    /// `arrival_rate = 1e-300` is positive: the first iteration is due at once, the
    /// next one past any time a `Duration` holds, so never, rather than a panic.
    #[test]
    fn a_vanishing_level_ends_the_schedule() {
        let p = Profile::constant(1e-300);
        assert_eq!(p.time_of(0.0), Some(Duration::ZERO));
        assert_eq!(p.time_of(1.0), None);
        let p = Profile {
            start: 1.0,
            stages: vec![(secs(1.0), 1e-300)],
        };
        assert_eq!(p.time_of(0.0), Some(Duration::ZERO));
        assert_eq!(p.time_of(1.0), None);
    }

    #[test]
    fn lead_holds_the_start_level() {
        let p = Profile {
            start: 10.0,
            stages: vec![(secs(1.0), 20.0)],
        }
        .with_lead(secs(2.0));
        assert_eq!(p.level_at(secs(1.0)), 10.0);
        assert!((p.level_at(secs(2.5)) - 15.0).abs() < 1e-9);
    }
}
