//! Run-to-run noise: the statistics behind `kaioken compare` with several baselines.
//!
//! Used by [`crate::comparison`]. Each metric of
//! the baselines (requests/s, a latency percentile, …) is one sample per run; the
//! question is whether the current run's value could be one more draw from the same
//! runs. The answer is a **prediction interval** for a new observation:
//!
//! ```text
//! mean ± t(p, n−1) · s · √(1 + 1/n)
//! ```
//!
//! with `n` baselines, their mean and sample standard deviation `s`, and Student's t
//! quantile with `n − 1` degrees of freedom, computed here from its exact
//! distribution function. It is exact for normally distributed run values and
//! honest with few runs: with two baselines the interval is very wide, as two runs
//! say little about the noise; it narrows quickly with three to five.
//!
//! A comparison judges several metrics at once; were each interval 95%, an
//! unchanged server would show some "regression" in about a third of comparisons.
//! So the 95% confidence is shared among the metrics (Bonferroni, [`per_metric`]):
//! all intervals hold together with probability at least 95%.

/// The confidence of a comparison's verdicts, over all its metrics together.
pub const CONFIDENCE: f64 = 0.95;

/// The coverage each of `metrics` intervals needs for all of them to hold together
/// with probability `confidence` (Bonferroni): `1 − (1 − confidence) / metrics`.
pub fn per_metric(confidence: f64, metrics: usize) -> f64 {
    1.0 - (1.0 - confidence) / metrics.max(1) as f64
}

/// P(|T| < t) for Student's t with `df` degrees of freedom: the closed forms for
/// whole degrees of freedom (Abramowitz & Stegun 26.7.3 and 26.7.4), with
/// θ = atan(t / √df).
fn two_sided_cdf(t: f64, df: usize) -> f64 {
    let theta = (t / (df as f64).sqrt()).atan();
    let (sin, cos) = theta.sin_cos();
    let cos2 = cos * cos;
    if df % 2 == 1 {
        // (2/π)(θ + sin θ (cos θ + 2/3 cos³θ + … + 2·4⋯(df−3) / 1·3⋯(df−2) cos^(df−2) θ))
        let mut term = cos;
        let mut sum = if df == 1 { 0.0 } else { cos };
        for k in 1..=(df.saturating_sub(3) / 2) {
            term *= cos2 * (2 * k) as f64 / (2 * k + 1) as f64;
            sum += term;
        }
        2.0 / std::f64::consts::PI * (theta + sin * sum)
    } else {
        // sin θ (1 + 1/2 cos²θ + 1·3/2·4 cos⁴θ + … + 1·3⋯(df−3) / 2·4⋯(df−2) cos^(df−2) θ)
        let mut term = 1.0;
        let mut sum = 1.0;
        for k in 1..=((df - 2) / 2) {
            term *= cos2 * (2 * k - 1) as f64 / (2 * k) as f64;
            sum += term;
        }
        sin * sum
    }
}

/// Student's t quantile t(p, df) for p in (0.5, 1): the t with P(T < t) = p, found
/// by bisection on the exact distribution function. `None` for df = 0 or p outside
/// (0.5, 1).
pub fn t_quantile(p: f64, df: usize) -> Option<f64> {
    if df == 0 || !(p > 0.5 && p < 1.0) {
        return None;
    }
    let target = 2.0 * p - 1.0;
    let mut high = 1.0;
    while two_sided_cdf(high, df) < target {
        high *= 2.0;
        if high > 1e15 {
            return None;
        }
    }
    let mut low = 0.0;
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if two_sided_cdf(mid, df) < target {
            low = mid;
        } else {
            high = mid;
        }
    }
    Some((low + high) / 2.0)
}

/// The mean and sample standard deviation (n − 1 in the denominator) of `values`;
/// the deviation is `None` for fewer than two values, both for none.
pub fn mean_sd(values: &[f64]) -> Option<(f64, Option<f64>)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.len() >= 2).then(|| {
        let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        (ss / (n - 1.0)).sqrt()
    });
    Some((mean, sd))
}

/// Where a new run's value is expected to fall, from earlier runs' values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The earlier runs' mean.
    pub mean: f64,
    /// Half the width of the prediction interval; `None` with one run (no estimate
    /// of the noise).
    pub half_width: Option<f64>,
    /// How many runs.
    pub n: usize,
}

impl Interval {
    /// The prediction interval, of two-sided `coverage` (0.95 for 95%), for one
    /// more run of `values`; `None` for none.
    pub fn predict(values: &[f64], coverage: f64) -> Option<Interval> {
        let (mean, sd) = mean_sd(values)?;
        let n = values.len();
        let half_width = sd.and_then(|sd| {
            let t = t_quantile(0.5 + coverage / 2.0, n - 1)?;
            Some(t * sd * (1.0 + 1.0 / n as f64).sqrt())
        });
        Some(Interval {
            mean,
            half_width,
            n,
        })
    }

    /// Whether `value` is above the interval (above the mean when there is no
    /// estimate of the noise).
    pub fn value_above(&self, value: f64) -> bool {
        value > self.mean + self.half_width.unwrap_or(0.0)
    }

    /// Whether `value` is below the interval (below the mean when there is no
    /// estimate of the noise).
    pub fn value_below(&self, value: f64) -> bool {
        value < self.mean - self.half_width.unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        let t = |p, df| t_quantile(p, df).unwrap();
        assert_eq!(t_quantile(0.975, 0), None);
        assert_eq!(t_quantile(0.5, 3), None);
        assert_eq!(t_quantile(1.0, 3), None);
        // Student's t tables, 3 decimals.
        for (p, df, value) in [
            (0.975, 1, 12.706),
            (0.975, 2, 4.303),
            (0.975, 4, 2.776),
            (0.975, 9, 2.262),
            (0.975, 30, 2.042),
            (0.975, 120, 1.980),
            (0.995, 4, 4.604),
            (0.995, 9, 3.250),
            (0.999, 10, 4.144),
            (0.95, 5, 2.015),
        ] {
            assert!(
                close(t(p, df), value, 0.0005),
                "t({p}, {df}) = {}",
                t(p, df)
            );
        }
        // df = 1 is Cauchy: t = tan(π(p − ½)).
        let cauchy = (std::f64::consts::PI * (0.999 - 0.5)).tan();
        assert!(close(t(0.999, 1), cauchy, 1e-6));
        // Towards the normal: z(0.975) = 1.95996.
        assert!(close(t(0.975, 100_000), 1.95996, 0.0001));
    }

    #[test]
    fn bonferroni() {
        assert!(close(per_metric(0.95, 1), 0.95, 1e-12));
        assert!(close(per_metric(0.95, 8), 0.99375, 1e-12));
    }

    #[test]
    fn mean_and_sample_deviation() {
        assert_eq!(mean_sd(&[]), None);
        assert_eq!(mean_sd(&[4.0]), Some((4.0, None)));
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population sd 2, sample sd √(32/7).
        let (mean, sd) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert!(close(mean, 5.0, 1e-12));
        assert!(close(sd.unwrap(), (32.0f64 / 7.0).sqrt(), 1e-12));
    }

    #[test]
    fn prediction_interval_for_a_new_run() {
        // 1..5: mean 3, s = √2.5 = 1.5811; t(0.975, 4) = 2.7764; √(1 + 1/5) = 1.0954:
        // 3 ± 4.809.
        let i = Interval::predict(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95).unwrap();
        assert_eq!((i.mean, i.n), (3.0, 5));
        assert!(close(i.half_width.unwrap(), 4.809, 0.001), "{i:?}");
        assert!(i.value_above(7.9) && !i.value_above(7.7));
        assert!(i.value_below(-1.9) && !i.value_below(-1.7));
        // Two runs: t(0.975, 1) = 12.706, s = 0.7071, √1.5: 10.5 ± 11.0.
        let i = Interval::predict(&[10.0, 11.0], 0.95).unwrap();
        assert!(close(i.half_width.unwrap(), 11.003, 0.001), "{i:?}");
        // One run: no noise estimate, the mean alone.
        let i = Interval::predict(&[10.0], 0.95).unwrap();
        assert_eq!(i.half_width, None);
        assert!(i.value_above(10.1) && i.value_below(9.9));
        assert_eq!(Interval::predict(&[], 0.95), None);
    }
}
