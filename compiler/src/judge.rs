//! Judging thresholds: one function for every command that has results to judge —
//! `run` (the results it just measured) and `compare` (a saved report's, with exact
//! percentiles from its histogram), so a threshold means the same everywhere.

use kaioken_grammar::parse_threshold;

use crate::{IrThreshold, Metric, ThresholdScope};

/// What one scope of a run (every request, a scenario's, a tag's) measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    /// Requests finished in the measured window.
    pub requests: u64,
    /// Of those, the ones with a complete response.
    pub responses: u64,
    /// Of those, the ones without a response (transport errors).
    pub errors: u64,
    /// Of those, the failed ones: the errors and the responses with a status their
    /// step did not expect.
    pub failed: u64,
    /// The measured window's length, in seconds.
    pub elapsed_s: f64,
    /// Latency percentiles of the responses in ms (failed requests have no latency):
    /// p50, p75, p90, p95, p99, p99.9.
    pub percentiles_ms: [f64; 6],
    /// Mean latency, ms.
    pub mean_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
    /// Passed check evaluations over all; `None` without checks.
    pub check_pass_rate: Option<f64>,
    /// The run's iterations: started, and due but dropped (whole run only).
    pub iterations: Iterations,
}

/// What the load model achieved over the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Iterations {
    /// Iterations started in the measured window.
    pub started: u64,
    /// Iterations due but dropped (no VU free in time, or the queue full).
    pub dropped: u64,
    /// Iterations started per second of the measured window.
    pub achieved_rate: f64,
    /// The planned average rate, if the load model plans one.
    pub target_rate: Option<f64>,
}

/// The per-mille percentiles of [`Measured::percentiles_ms`], in order.
pub const PERCENTILES: [u16; 6] = [500, 750, 900, 950, 990, 999];

/// A threshold's outcome, as the JSON report writes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// `all`, `scenario:NAME` or `tag:NAME`.
    pub scope: String,
    /// The metric's key (`p95`, `error_rate`, …).
    pub metric: std::borrow::Cow<'static, str>,
    /// The bound, as the grammar prints it.
    pub threshold: String,
    /// The observed value in `unit`; `None` when there was nothing to measure (which
    /// fails: a bound no request was measured against did not hold).
    pub observed: Option<f64>,
    /// `ms`, `ratio`, `req/s`, `iterations` or `iter/s`.
    pub unit: std::borrow::Cow<'static, str>,
    /// Whether the bound held.
    pub passed: bool,
}

/// Judge `thresholds` against what each scope measured. `measured` returns a scope's
/// results, or `None` when the run kept none for it (a run of one scenario has no
/// per-scenario results: its totals are the scenario's, so the run's are used).
pub fn judge_thresholds(
    thresholds: &[IrThreshold],
    measured: impl Fn(&ThresholdScope) -> Option<Measured>,
) -> Vec<Verdict> {
    let all = measured(&ThresholdScope::All).unwrap_or_default();
    thresholds
        .iter()
        .map(|t| {
            let m = measured(&t.scope).unwrap_or(all);
            let percent = matches!(t.threshold.bound, kaioken_grammar::Value::Percent(_));
            // Latency is the responses': without one, there is nothing to bound.
            let any = m.responses > 0;
            let (observed, unit) = match t.metric {
                Metric::LatencyPercentile(p) => {
                    let i = PERCENTILES.iter().position(|&q| q == p).unwrap_or(5);
                    (any.then_some(m.percentiles_ms[i]), "ms")
                }
                Metric::LatencyMean => (any.then_some(m.mean_ms), "ms"),
                Metric::LatencyMax => (any.then_some(m.max_ms), "ms"),
                Metric::ErrorRate => (
                    (m.requests > 0).then(|| m.errors as f64 / m.requests as f64),
                    "ratio",
                ),
                Metric::FailureRate => (
                    (m.requests > 0).then(|| m.failed as f64 / m.requests as f64),
                    "ratio",
                ),
                // Throughput is responses: refused connections are no throughput.
                Metric::Rps => (
                    (m.requests > 0)
                        .then(|| m.responses as f64 / m.elapsed_s.max(f64::MIN_POSITIVE)),
                    "req/s",
                ),
                Metric::CheckPassRate => (m.check_pass_rate, "ratio"),
                Metric::DroppedIterations => {
                    let it = m.iterations;
                    let due = it.started + it.dropped;
                    if percent {
                        ((due > 0).then(|| it.dropped as f64 / due as f64), "ratio")
                    } else {
                        (Some(it.dropped as f64), "iterations")
                    }
                }
                Metric::AchievedRate => {
                    let it = m.iterations;
                    if percent {
                        // A share of the plan: without one, nothing to compare.
                        let share = it
                            .target_rate
                            .filter(|&t| t > 0.0)
                            .map(|t| it.achieved_rate / t);
                        (share, "ratio")
                    } else {
                        (Some(it.achieved_rate), "iter/s")
                    }
                }
            };
            // Times compare in seconds, like the parsed bound.
            let comparable = observed.map(|v| if unit == "ms" { v / 1000.0 } else { v });
            Verdict {
                scope: t.scope.to_string(),
                metric: t.metric.key().into(),
                threshold: t.threshold.to_string(),
                observed,
                unit: unit.into(),
                passed: comparable.is_some_and(|v| t.threshold.passes(v)),
            }
        })
        .collect()
}

/// A threshold as a report writes it (scope, metric key, bound), read back: how a
/// saved report's thresholds are judged again. `None` if any part does not parse.
pub fn threshold_from_report(scope: &str, metric: &str, bound: &str) -> Option<IrThreshold> {
    let scope = match scope.split_once(':') {
        None if scope == "all" => ThresholdScope::All,
        Some(("scenario", name)) => ThresholdScope::Scenario(name.to_owned()),
        Some(("tag", name)) => ThresholdScope::Tag(name.to_owned()),
        _ => return None,
    };
    Some(IrThreshold {
        scope,
        metric: Metric::from_key(metric)?,
        threshold: parse_threshold(bound).ok()?,
        loc: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(scope: &str, metric: &str, bound: &str) -> IrThreshold {
        threshold_from_report(scope, metric, bound).unwrap()
    }

    fn measured(requests: u64, errors: u64, p95_ms: f64) -> Measured {
        Measured {
            requests,
            responses: requests - errors,
            errors,
            failed: errors,
            elapsed_s: 10.0,
            percentiles_ms: [1.0, 2.0, 3.0, p95_ms, 5.0, 6.0],
            mean_ms: 2.0,
            max_ms: 9.0,
            check_pass_rate: Some(0.99),
            iterations: Iterations::default(),
        }
    }

    /// Unexpected statuses fail `failure_rate` but not `error_rate`; dropped
    /// iterations and the achieved rate are judged as counts and rates, or as shares
    /// when the bound is a percentage.
    #[test]
    fn failures_drops_and_achieved_rates() {
        let thresholds = [
            threshold("all", "error_rate", "< 1%"),
            threshold("all", "failure_rate", "< 1%"),
            threshold("all", "dropped_iterations", "< 10"),
            threshold("all", "dropped_iterations", "< 5%"),
            threshold("all", "achieved_rate", "> 95%"),
            threshold("all", "achieved_rate", ">= 80"),
        ];
        let m = Measured {
            failed: 100,
            iterations: Iterations {
                started: 800,
                dropped: 200,
                achieved_rate: 80.0,
                target_rate: Some(100.0),
            },
            ..measured(1000, 0, 1.0)
        };
        let verdicts = judge_thresholds(&thresholds, |_| Some(m));
        let got: Vec<_> = verdicts
            .iter()
            .map(|v| (&*v.metric, v.observed, &*v.unit, v.passed))
            .collect();
        assert_eq!(
            got,
            [
                ("error_rate", Some(0.0), "ratio", true),
                ("failure_rate", Some(0.1), "ratio", false),
                ("dropped_iterations", Some(200.0), "iterations", false),
                ("dropped_iterations", Some(0.2), "ratio", false),
                ("achieved_rate", Some(0.8), "ratio", false),
                ("achieved_rate", Some(80.0), "iter/s", true),
            ]
        );
        // No planned rate: a share of it cannot be judged, and fails.
        let unplanned = Measured {
            iterations: Iterations {
                target_rate: None,
                ..m.iterations
            },
            ..m
        };
        let v = judge_thresholds(&thresholds[4..5], |_| Some(unplanned));
        assert_eq!((v[0].observed, v[0].passed), (None, false));
    }

    #[test]
    fn judges_each_metric_in_its_unit() {
        let thresholds = [
            threshold("all", "p95", "< 200ms"),
            threshold("all", "rps", "> 50"),
            threshold("all", "error_rate", "< 0.01"),
            threshold("all", "check_pass_rate", "> 0.999"),
            threshold("scenario:login", "p95", "< 200ms"),
        ];
        let verdicts = judge_thresholds(&thresholds, |scope| match scope {
            ThresholdScope::All => Some(measured(1000, 5, 150.0)),
            ThresholdScope::Scenario(name) if name == "login" => Some(measured(10, 0, 250.0)),
            _ => None,
        });
        let got: Vec<_> = verdicts
            .iter()
            .map(|v| (v.scope.as_str(), &*v.metric, v.observed, &*v.unit, v.passed))
            .collect();
        assert_eq!(
            got,
            [
                ("all", "p95", Some(150.0), "ms", true),
                ("all", "rps", Some(99.5), "req/s", true),
                ("all", "error_rate", Some(0.005), "ratio", true),
                ("all", "check_pass_rate", Some(0.99), "ratio", false),
                ("scenario:login", "p95", Some(250.0), "ms", false),
            ]
        );
    }

    #[test]
    fn nothing_measured_fails_and_a_missing_scope_uses_the_totals() {
        let t = [
            threshold("all", "p99", "< 1s"),
            threshold("tag:x", "max", "< 1s"),
        ];
        let none = judge_thresholds(&t, |_| Some(measured(0, 0, 0.0)));
        assert!(none.iter().all(|v| v.observed.is_none() && !v.passed));
        let totals = judge_thresholds(&t, |scope| {
            (*scope == ThresholdScope::All).then(|| measured(10, 0, 1.0))
        });
        assert_eq!(totals[1].observed, Some(9.0));
        assert!(totals[1].passed);
    }

    #[test]
    fn a_report_s_thresholds_read_back() {
        let t = threshold("scenario:a:b", "p99_9", "< 1000ms");
        assert_eq!(t.scope, ThresholdScope::Scenario("a:b".into()));
        assert_eq!(t.metric, Metric::LatencyPercentile(999));
        assert!(threshold_from_report("everything", "p99", "< 1s").is_none());
        assert!(threshold_from_report("all", "p42", "< 1s").is_none());
        assert!(threshold_from_report("all", "p99", "soon").is_none());
    }
}
