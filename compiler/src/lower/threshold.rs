//! Thresholds: pass/fail bounds on the run's metrics, for the run, a scenario or a tag.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): each
//! `[thresholds]` value is parsed and checked against its metric (a latency needs a
//! time unit, a rate does not), and a scope must name a scenario or tag the run has.

use super::Lowerer;
use crate::draft::Draft;
use crate::located::Located;
use crate::{IrThreshold, Metric, ThresholdScope};

impl Lowerer<'_> {
    /// Parse a threshold and check that its bound fits the metric.
    pub(super) fn threshold(
        &mut self,
        scope: &ThresholdScope,
        key: &str,
        value: &Located<String>,
        d: &Draft,
    ) -> Option<IrThreshold> {
        let metric = Metric::from_key(key)?;
        // A scope must name a scenario or tag the run has.
        let names: Vec<String> = match scope {
            ThresholdScope::All => Vec::new(),
            ThresholdScope::Scenario(_) => d
                .scenarios
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.name
                        .as_ref()
                        .map_or(format!("scenario{i}"), |n| n.value.clone())
                })
                .collect(),
            ThresholdScope::Tag(_) => d
                .scenarios
                .iter()
                .flat_map(|s| s.tags.iter().cloned())
                .collect(),
        };
        if let ThresholdScope::Scenario(name) | ThresholdScope::Tag(name) = scope {
            if !names.iter().any(|n| n == name) {
                let what = if matches!(scope, ThresholdScope::Scenario(_)) {
                    "scenario"
                } else {
                    "tag"
                };
                let mut message = format!("thresholds for {what} `{name}`, which no scenario has");
                if let Some(s) = crate::suggest::closest(name, names.iter().map(String::as_str)) {
                    message.push_str(&format!("; did you mean `{s}`?"));
                }
                self.conflict(&value.loc, &message);
                return None;
            }
            if metric.whole_run_only() {
                self.conflict(
                    &value.loc,
                    &format!(
                        "`{key}` is measured for the whole run only; put it in `[thresholds]`"
                    ),
                );
                return None;
            }
        }
        let threshold = match kaioken_grammar::parse_threshold(&value.value) {
            Ok(t) => t,
            Err(e) => {
                self.parse_error(&e, &value.loc);
                return None;
            }
        };
        let is_time = matches!(threshold.bound, kaioken_grammar::Value::Time(_));
        let problem = if metric.is_time() && !is_time {
            Some(format!(
                "`{key}` is a latency: give the bound a unit, e.g. `< 200ms`"
            ))
        } else if !metric.is_time() && is_time {
            let hint = match metric {
                Metric::Rps => "",
                Metric::DroppedIterations => {
                    " (a count: 10) or a percentage of the iterations due (1%)"
                }
                Metric::AchievedRate => {
                    " (iterations/s: 500) or a percentage of the planned rate (95%)"
                }
                _ => " (0.95) or a percentage (95%)",
            };
            Some(format!("`{key}` is not a time: write a number{hint}"))
        } else if metric == Metric::Rps
            && matches!(threshold.bound, kaioken_grammar::Value::Percent(_))
        {
            Some("`rps` is responses per second: write a number, e.g. `> 1000`".to_owned())
        } else {
            beyond_range(key, metric, &threshold.bound)
        };
        if let Some(message) = problem {
            self.grammar_error(
                format!("invalid threshold: {message}"),
                None,
                &value.loc,
                None,
            );
            return None;
        }
        Some(IrThreshold {
            scope: scope.clone(),
            metric,
            threshold,
            loc: value.loc.ir_loc(),
        })
    }
}

/// Why `bound` is outside what `metric` can measure, when it is: a threshold
/// there could never fail, or never pass (`error_rate = "< 150%"`, `rps = "> -5"`).
fn beyond_range(key: &str, metric: Metric, bound: &kaioken_grammar::Value) -> Option<String> {
    use kaioken_grammar::Value;
    let (value, percent) = match *bound {
        Value::Number(n) => (n, false),
        Value::Percent(n) => (n, true),
        Value::Time(_) | Value::Text(_) | Value::Code(_) => return None,
    };
    // The rates of requests and checks are shares, as a fraction or a percentage;
    // dropped iterations are with a percentage (a count without).
    let share = matches!(
        metric,
        Metric::ErrorRate | Metric::FailureRate | Metric::CheckPassRate
    ) || (metric == Metric::DroppedIterations && percent);
    if value < 0.0 {
        Some(format!(
            "`{key}` is never below 0: a bound below it always passes or always fails"
        ))
    } else if share && value > 1.0 {
        Some(format!(
            "`{key}` is a share, at most 100% (1.0): a bound above it always passes or always fails"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::lower::tests::{errors, ok};
    use crate::{Metric, ThresholdScope};

    const SCENARIOS: &str = r#"[target]
url = "http://h"

[[scenarios]]
name = "checkout"
tags = ["api"]

[[scenarios.steps]]
url = "/"
"#;

    #[test]
    fn metrics_and_scopes() {
        let ir = ok(&format!(
            r#"{SCENARIOS}
[thresholds]
p99_9 = "< 1s"
error_rate = "< 1%"
rps = ">= 100"
check_pass_rate = "> 0.99"

[thresholds.scenarios.checkout]
mean = "< 150ms"

[thresholds.tags.api]
max = "<= 2s"
"#
        ));
        let got: Vec<_> = ir
            .thresholds
            .iter()
            .map(|t| (t.scope.clone(), t.metric, t.threshold.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    ThresholdScope::All,
                    Metric::LatencyPercentile(999),
                    "< 1s".into()
                ),
                (ThresholdScope::All, Metric::ErrorRate, "< 1%".into()),
                (ThresholdScope::All, Metric::Rps, ">= 100".into()),
                (ThresholdScope::All, Metric::CheckPassRate, "> 0.99".into()),
                (
                    ThresholdScope::Scenario("checkout".into()),
                    Metric::LatencyMean,
                    "< 150ms".into()
                ),
                (
                    ThresholdScope::Tag("api".into()),
                    Metric::LatencyMax,
                    "<= 2s".into()
                ),
            ]
        );
        let loc = ir.thresholds[0].loc.as_ref().unwrap();
        assert_eq!((loc.line, loc.column), (12, 9));
    }

    #[test]
    fn bounds_must_fit_the_metric() {
        assert_eq!(
            errors(&format!(
                "{SCENARIOS}[thresholds]\np95 = \"< 200\"\nerror_rate = \"< 5ms\"\nrps = \"> 50%\"\nmean = \"<< 1s\"\n"
            )),
            [
                "11:8 [< 200] invalid threshold: `p95` is a latency: give the bound a unit, e.g. `< 200ms`",
                // In report order: latencies first.
                "14:10 [<] invalid threshold",
                "12:15 [< 5ms] invalid threshold: `error_rate` is not a time: write a number (0.95) or a percentage (95%)",
                "13:8 [> 50%] invalid threshold: `rps` is responses per second: write a number, e.g. `> 1000`",
            ]
        );
    }

    /// A bound outside what the metric can be (a negative one, a share above 100%)
    /// is an error: the threshold could never fail, or never pass. 100% itself, and
    /// a count of dropped iterations above 1, are bounds like any other.
    #[test]
    fn bounds_beyond_the_metric_are_errors() {
        let errors = errors(&format!(
            "{SCENARIOS}[thresholds]\nerror_rate = \"< 150%\"\nrps = \"> -5\"\ncheck_pass_rate = \"> 1.5\"\n"
        ));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains("`error_rate` is a share, at most 100% (1.0)"),
            "{errors:?}"
        );
        assert!(errors[1].contains("`rps` is never below 0"), "{errors:?}");
        assert!(
            errors[2].contains("`check_pass_rate` is a share"),
            "{errors:?}"
        );
        ok(&format!(
            "{SCENARIOS}[thresholds]\nfailure_rate = \"<= 100%\"\ndropped_iterations = \"< 10\"\nachieved_rate = \"> 101%\"\n"
        ));
    }

    #[test]
    fn failures_drops_and_rates() {
        let ir = ok(&format!(
            "{SCENARIOS}[thresholds]\nfailure_rate = \"< 1%\"\ndropped_iterations = \"< 10\"\nachieved_rate = \"> 95%\"\n"
        ));
        let got: Vec<_> = ir
            .thresholds
            .iter()
            .map(|t| (t.metric, t.threshold.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (Metric::FailureRate, "< 1%".into()),
                (Metric::DroppedIterations, "< 10".into()),
                (Metric::AchievedRate, "> 95%".into()),
            ]
        );
        assert_eq!(
            errors(&format!(
                "{SCENARIOS}[thresholds]\nachieved_rate = \"> 1s\"\n[thresholds.scenarios.checkout]\ndropped_iterations = \"< 1\"\n"
            )),
            [
                "11:18 [> 1s] invalid threshold: `achieved_rate` is not a time: write a number (iterations/s: 500) or a percentage of the planned rate (95%)",
                "13:23 [< 1] `dropped_iterations` is measured for the whole run only; put it in `[thresholds]`",
            ]
        );
    }

    #[test]
    fn scopes_must_exist() {
        assert_eq!(
            errors(&format!(
                "{SCENARIOS}[thresholds.scenarios.chekout]\np95 = \"< 1s\"\n[thresholds.tags.web]\np95 = \"< 1s\"\n[thresholds.tags.api]\ncheck_pass_rate = \"> 0.9\"\n"
            )),
            [
                "11:8 [< 1s] thresholds for scenario `chekout`, which no scenario has; did you mean `checkout`?",
                // Tags in name order.
                "15:20 [> 0.9] `check_pass_rate` is measured for the whole run only; put it in `[thresholds]`",
                "13:8 [< 1s] thresholds for tag `web`, which no scenario has",
            ]
        );
    }
}
