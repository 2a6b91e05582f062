//! Run-to-run noise: the statistics behind `kaioken compare` with several baselines.
//!
//! Part of the cli crate's library, used by [`crate::comparison`]. Each metric of
//! the baselines (requests/s, a latency percentile, …) is one sample per run; the
//! question is whether the current run's value could be one more draw from the same
//! runs. The answer is the 95% **prediction interval** for a new observation:
//!
//! ```text
//! mean ± t(0.975, n−1) · s · √(1 + 1/n)
//! ```
//!
//! with `n` baselines, their mean and sample standard deviation `s`, and Student's t
//! quantile with `n − 1` degrees of freedom. It is exact for normally distributed run
//! values and honest with few runs: with two baselines `t` is 12.7 and the interval
//! is wide, as two runs say little about the noise; with five it is 2.78. A value
//! outside it, on the worse side, is beyond the noise at 95% confidence (two-sided,
//! so 2.5% of unchanged runs land beyond it on each side).

/// Two-sided 95% confidence.
pub const CONFIDENCE: f64 = 0.95;

/// Student's t quantile t(0.975, df) for df = 1..=30 (standard tables, 4 decimals).
const T_975: [f64; 30] = [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
    2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687,
    2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];

/// The standard normal quantile z(0.975).
const Z_975: f64 = 1.959_963_985;

/// Student's t quantile t(0.975, df): the table up to 30 degrees of freedom, then
/// the Cornish–Fisher expansion around the normal quantile (error below 1e-4 there).
/// `None` for df = 0.
pub fn t_975(df: usize) -> Option<f64> {
    match df {
        0 => None,
        1..=30 => Some(T_975[df - 1]),
        _ => {
            let z = Z_975;
            let v = df as f64;
            let g1 = (z.powi(3) + z) / 4.0;
            let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
            let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
            Some(z + g1 / v + g2 / v.powi(2) + g3 / v.powi(3))
        }
    }
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
    /// Half the width of the 95% prediction interval; `None` with one run (no
    /// estimate of the noise).
    pub half_width: Option<f64>,
    /// How many runs.
    pub n: usize,
}

impl Interval {
    /// The 95% prediction interval for one more run of `values`; `None` for none.
    pub fn predict(values: &[f64]) -> Option<Interval> {
        let (mean, sd) = mean_sd(values)?;
        let n = values.len();
        let half_width = sd.and_then(|sd| {
            let t = t_975(n - 1)?;
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
        assert_eq!(t_975(0), None);
        for (df, t) in [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)] {
            assert!(close(t_975(df).unwrap(), t, 0.0005), "t(0.975, {df})");
        }
        // Beyond the table, the expansion: t(0.975, 40) = 2.0211, 60: 2.0003,
        // 120: 1.9799, and towards z = 1.96.
        for (df, t) in [(31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799)] {
            assert!(
                close(t_975(df).unwrap(), t, 0.0002),
                "t(0.975, {df}) = {:?}",
                t_975(df)
            );
        }
        assert!(close(t_975(1_000_000).unwrap(), 1.96, 0.0001));
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
        let i = Interval::predict(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!((i.mean, i.n), (3.0, 5));
        assert!(close(i.half_width.unwrap(), 4.809, 0.001), "{i:?}");
        assert!(i.value_above(7.9) && !i.value_above(7.7));
        assert!(i.value_below(-1.9) && !i.value_below(-1.7));
        // Two runs: t(0.975, 1) = 12.706, s = 0.7071, √1.5: 10.5 ± 11.0.
        let i = Interval::predict(&[10.0, 11.0]).unwrap();
        assert!(close(i.half_width.unwrap(), 11.003, 0.001), "{i:?}");
        // One run: no noise estimate, the mean alone.
        let i = Interval::predict(&[10.0]).unwrap();
        assert_eq!(i.half_width, None);
        assert!(i.value_above(10.1) && i.value_below(9.9));
        assert_eq!(Interval::predict(&[]), None);
    }
}
