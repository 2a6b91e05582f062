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
            if metric == Metric::CheckPassRate {
                self.conflict(&value.loc, "`check_pass_rate` is measured for the whole run only; put it in `[thresholds]`");
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
            Some(format!(
                "`{key}` is not a time: write a number{}",
                if metric == Metric::Rps {
                    ""
                } else {
                    " (0.95) or a percentage (95%)"
                }
            ))
        } else if metric == Metric::Rps
            && matches!(threshold.bound, kaioken_grammar::Value::Percent(_))
        {
            Some("`rps` is requests per second: write a number, e.g. `> 1000`".to_owned())
        } else {
            None
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
