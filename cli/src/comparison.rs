//! Two JSON reports compared: the computation behind `kaioken compare`, without its
//! files or its printing.
//!
//! Part of the cli crate's library (`kaioken_cli`), so that it can be tested and
//! fuzzed on report text alone: `compare` in the binary reads the two files, hands
//! their text to [`RunReport::parse`], and prints what [`compare`] found.
//!
//! Latency percentiles come from the reports' serialized HDR histograms when both have
//! one (exact, not the rounded summary fields). A regression is a change for the worse
//! beyond a relative tolerance and, for latency, beyond an absolute floor too, so that
//! a 3 µs wobble on a 30 µs p50 is not a regression. Runs with different load models
//! are not comparable: the binary makes that exit code 5 unless `--force`.
//!
//! The current report's `[thresholds]` are judged again from its data, by the same
//! function `run` uses, with the whole run's percentiles exact from its histogram.

use std::fmt::Write;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::SCHEMA;
use kaioken_compiler::{Measured, PERCENTILES, ThresholdScope, Verdict};

/// One JSON report, read.
pub struct RunReport {
    json: Value,
    histogram: Option<Histogram<u64>>,
}

impl RunReport {
    /// Read a report from its text.
    ///
    /// # Errors
    ///
    /// Text that is not JSON, or JSON that is not a report of [`SCHEMA`]; the message
    /// says which.
    pub fn parse(text: &str) -> Result<RunReport, String> {
        let json: Value =
            serde_json::from_str(text).map_err(|e| format!("not a JSON report: {e}"))?;
        match json.get("schema").and_then(Value::as_str) {
            Some(SCHEMA) => {}
            Some(other) => return Err(format!("report schema `{other}` is not `{SCHEMA}`")),
            None => {
                return Err(format!(
                    "not a kaioken report (no `schema`; expected `{SCHEMA}`)"
                ));
            }
        }
        let histogram = json
            .pointer("/histogram/data")
            .and_then(Value::as_str)
            .and_then(crate::hdr::decode);
        Ok(RunReport { json, histogram })
    }
}

impl RunReport {
    fn f64(&self, pointer: &str) -> Option<f64> {
        self.json.pointer(pointer).and_then(Value::as_f64)
    }

    fn str(&self, pointer: &str) -> String {
        match self.json.pointer(pointer) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => "-".to_owned(),
            Some(other) => other.to_string(),
        }
    }

    /// Latency quantile in ms: exact from the histogram, else the summary field.
    fn latency(&self, quantile: f64, field: &str) -> Option<f64> {
        match &self.histogram {
            Some(h) if !h.is_empty() => Some(h.value_at_quantile(quantile) as f64 / 1000.0),
            _ => self.f64(&format!("/latency_ms/{field}")),
        }
    }
}

impl RunReport {
    /// What `scope` of this run measured, from the report: the whole run with exact
    /// percentiles, a scenario or tag from its group's summary. `None` for a scope
    /// the report has no group for.
    fn measured(&self, scope: &ThresholdScope) -> Option<Measured> {
        let (group, latency) = match scope {
            ThresholdScope::All => (&self.json["requests"], &self.json["latency_ms"]),
            ThresholdScope::Scenario(name) | ThresholdScope::Tag(name) => {
                let list = match scope {
                    ThresholdScope::Scenario(_) => "scenarios",
                    _ => "tags",
                };
                let g = self.json[list]
                    .as_array()?
                    .iter()
                    .find(|g| g["name"].as_str() == Some(name))?;
                (g, &g["latency_ms"])
            }
        };
        let requests = match scope {
            ThresholdScope::All => group["total"].as_u64(),
            _ => group["requests"].as_u64(),
        }?;
        let field = |f: &str| latency[f].as_f64().unwrap_or(0.0);
        let mut percentiles_ms = ["p50", "p75", "p90", "p95", "p99", "p99_9"].map(field);
        if let (ThresholdScope::All, Some(h)) = (scope, &self.histogram) {
            if !h.is_empty() {
                for (ms, p) in percentiles_ms.iter_mut().zip(PERCENTILES) {
                    *ms = h.value_at_quantile(f64::from(p) / 1000.0) as f64 / 1000.0;
                }
            }
        }
        let errors = group["errors"].as_u64().unwrap_or(0);
        let count = |pointer: &str| self.json.pointer(pointer).and_then(Value::as_u64);
        Some(Measured {
            requests,
            responses: requests.saturating_sub(errors),
            errors,
            // Reports from before expected statuses counted errors alone.
            failed: group["failed"].as_u64().unwrap_or(errors),
            elapsed_s: self.f64("/elapsed_s").unwrap_or(0.0),
            percentiles_ms,
            mean_ms: field("mean"),
            max_ms: field("max"),
            check_pass_rate: self.f64("/requests/check_pass_rate"),
            iterations: kaioken_compiler::Iterations {
                started: count("/iterations/started").unwrap_or(0),
                dropped: count("/iterations/dropped").unwrap_or(0),
                achieved_rate: self.f64("/iterations/achieved_rate").unwrap_or(0.0),
                target_rate: self.f64("/iterations/target_rate"),
            },
        })
    }

    /// The report's thresholds, judged again from its data.
    pub fn thresholds(&self) -> Vec<Verdict> {
        let thresholds: Vec<_> = self.json["thresholds"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|t| {
                kaioken_compiler::threshold_from_report(
                    t["scope"].as_str()?,
                    t["metric"].as_str()?,
                    t["threshold"].as_str()?,
                )
            })
            .collect();
        kaioken_compiler::judge_thresholds(&thresholds, |scope| self.measured(scope))
    }
}

/// Load-model fields that must match for the runs to be comparable.
const MODEL_FIELDS: [&str; 5] = [
    "/load/model",
    "/load/vus",
    "/load/arrival_rate",
    "/load/rate",
    "/target/http_version",
];
/// Fields that may differ, with a warning.
const WARN_FIELDS: [&str; 4] = [
    "/target/url",
    "/target/method",
    "/load/duration_s",
    "/load/max_requests",
];

/// How much worse a metric may get before it is a regression.
#[derive(Debug, Clone, Copy)]
pub struct Tolerances {
    /// A drop in requests/s larger than this fraction.
    pub max_rps_drop: f64,
    /// A rise in a latency larger than this fraction...
    pub max_latency_increase: f64,
    /// ...and larger than this many milliseconds.
    pub latency_floor_ms: f64,
    /// A rise in the error rate larger than this (absolute).
    pub max_error_rate_increase: f64,
}

/// A field whose value differs between the two reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The field, as a path (`load/vus`).
    pub field: &'static str,
    /// Its value in the baseline.
    pub base: String,
    /// Its value in the current report.
    pub current: String,
}

impl Difference {
    /// `load/vus differs: 10 vs 20`, each value passed through `show` (a printer
    /// hides secrets there: the values are URLs).
    pub fn describe(&self, show: impl Fn(&str) -> String) -> String {
        format!(
            "{} differs: {} vs {}",
            self.field,
            show(&self.base),
            show(&self.current)
        )
    }
}

/// What comparing two reports found.
#[derive(Debug)]
pub struct Comparison {
    /// Load-model fields that differ (`load/vus differs: 10 vs 20`): the runs are not
    /// comparable unless forced.
    pub mismatched: Vec<Difference>,
    /// Fields that differ without making the runs incomparable.
    pub warnings: Vec<Difference>,
    /// The table, its verdict line and the current report's thresholds, as printed.
    pub text: String,
    /// The metrics that got worse beyond their tolerance.
    pub regressions: Vec<String>,
    /// The current report's thresholds, judged again from its data.
    pub verdicts: Vec<Verdict>,
}

/// Compare `cur` (named `cur_name` in the text) with `base`.
pub fn compare(
    base: &RunReport,
    cur: &RunReport,
    tolerances: &Tolerances,
    cur_name: &str,
) -> Comparison {
    let mut out = String::new();
    let mut mismatched = Vec::new();
    let mut warnings = Vec::new();
    for field in MODEL_FIELDS {
        let (a, b) = (base.str(field), cur.str(field));
        if a != b {
            mismatched.push(Difference {
                field: &field[1..],
                base: a,
                current: b,
            });
        }
    }
    for field in WARN_FIELDS {
        let (a, b) = (base.str(field), cur.str(field));
        if a != b {
            warnings.push(Difference {
                field: &field[1..],
                base: a,
                current: b,
            });
        }
    }

    let _ = writeln!(
        out,
        "{:<14} {:>14} {:>14} {:>10}  verdict",
        "metric", "baseline", "current", "change"
    );
    let mut regressions = Vec::new();
    let floor = tolerances.latency_floor_ms;
    let mut row =
        |name: &str, a: Option<f64>, b: Option<f64>, unit: &str, worse: Worse, tolerance: f64| {
            let (Some(a), Some(b)) = (a, b) else {
                let _ = writeln!(
                    out,
                    "{name:<14} {:>14} {:>14} {:>10}  -",
                    fmt(a, unit),
                    fmt(b, unit),
                    "-"
                );
                return;
            };
            let change = if a == 0.0 {
                if b == 0.0 { 0.0 } else { f64::INFINITY }
            } else {
                (b - a) / a
            };
            let regressed = match worse {
                Worse::Lower => change < -tolerance,
                Worse::Higher { floor } => change > tolerance && (b - a) > floor,
                Worse::HigherAbsolute => b - a > tolerance,
            };
            let improved = match worse {
                Worse::Lower => change > tolerance,
                Worse::Higher { floor } => change < -tolerance && (a - b) > floor,
                Worse::HigherAbsolute => a - b > tolerance,
            };
            let verdict = if regressed {
                regressions.push(name.to_owned());
                "REGRESSION"
            } else if improved {
                "better"
            } else {
                "ok"
            };
            let change = if change.is_finite() {
                format!("{:+.1}%", change * 100.0)
            } else {
                "new".to_owned()
            };
            let _ = writeln!(
                out,
                "{name:<14} {:>14} {:>14} {change:>10}  {verdict}",
                fmt(Some(a), unit),
                fmt(Some(b), unit)
            );
        };
    let rps = tolerances.max_rps_drop;
    let lat = tolerances.max_latency_increase;
    row(
        "rps",
        base.f64("/requests/rps"),
        cur.f64("/requests/rps"),
        "/s",
        Worse::Lower,
        rps,
    );
    for (name, q, field) in [
        ("p50", 0.5, "p50"),
        ("p90", 0.9, "p90"),
        ("p95", 0.95, "p95"),
        ("p99", 0.99, "p99"),
        ("p99.9", 0.999, "p99_9"),
    ] {
        row(
            &format!("latency {name}"),
            base.latency(q, field),
            cur.latency(q, field),
            "ms",
            Worse::Higher { floor },
            lat,
        );
    }
    row(
        "latency mean",
        base.f64("/latency_ms/mean"),
        cur.f64("/latency_ms/mean"),
        "ms",
        Worse::Higher { floor },
        lat,
    );
    // Failed requests: errors and unexpected statuses (a report from before
    // expected statuses has only its error rate).
    let failure_rate = |run: &RunReport| {
        run.f64("/requests/failure_rate")
            .or_else(|| run.f64("/requests/error_rate"))
    };
    row(
        "failure rate",
        failure_rate(base),
        failure_rate(cur),
        "ratio",
        Worse::HigherAbsolute,
        tolerances.max_error_rate_increase,
    );
    if regressions.is_empty() {
        let _ = writeln!(
            out,
            "\nno regression (tolerances: rps -{:.0}%, latency +{:.0}% and +{floor}ms, failure rate +{})",
            rps * 100.0,
            lat * 100.0,
            tolerances.max_error_rate_increase
        );
    } else {
        let _ = writeln!(
            out,
            "\nregression in {}: exit code 3",
            regressions.join(", ")
        );
    }
    let verdicts = cur.thresholds();
    if !verdicts.is_empty() {
        let _ = writeln!(out, "\nthresholds of {cur_name}:");
        for v in &verdicts {
            let observed = v
                .observed
                .map_or_else(|| "no data".to_owned(), |o| fmt(Some(o), &v.unit));
            let scope = if v.scope == "all" {
                String::new()
            } else {
                format!("[{}] ", v.scope)
            };
            let _ = writeln!(
                out,
                "  {} {scope}{} {}  (observed {observed})",
                if v.passed { "✓" } else { "✗" },
                v.metric,
                v.threshold
            );
        }
    }
    Comparison {
        mismatched,
        warnings,
        text: out,
        regressions,
        verdicts,
    }
}

#[derive(Clone, Copy)]
enum Worse {
    /// Lower is worse (throughput): relative drop.
    Lower,
    /// Higher is worse (latency): relative rise beyond an absolute floor in ms.
    Higher { floor: f64 },
    /// Higher is worse by an absolute amount (error rate).
    HigherAbsolute,
}

fn fmt(v: Option<f64>, unit: &str) -> String {
    match (v, unit) {
        (None, _) => "-".to_owned(),
        (Some(v), "ms") => format!("{v:.3}ms"),
        (Some(v), "ratio") => format!("{:.2}%", v * 100.0),
        (Some(v), _) => format!("{v:.1}{unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCES: Tolerances = Tolerances {
        max_rps_drop: 0.1,
        max_latency_increase: 0.1,
        latency_floor_ms: 0.1,
        max_error_rate_increase: 0.01,
    };

    fn report(rps: f64, p99: f64, vus: u64) -> RunReport {
        RunReport::parse(&format!(
            r#"{{"schema": "{SCHEMA}", "load": {{"model": "closed", "vus": {vus}}},
                "requests": {{"rps": {rps}, "error_rate": 0.0, "total": 10, "errors": 0}},
                "latency_ms": {{"p50": 1.0, "p90": 2.0, "p95": 3.0, "p99": {p99}, "p99_9": 5.0, "mean": 1.5}},
                "thresholds": [{{"scope": "all", "metric": "p99", "threshold": "< 4ms"}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn what_is_not_a_report_says_why() {
        let err = |text: &str| RunReport::parse(text).err().unwrap();
        assert!(err("{").starts_with("not a JSON report: "));
        assert_eq!(
            err(r#"{"schema": "other/v9"}"#),
            "report schema `other/v9` is not `kaioken.run/v1`"
        );
        assert_eq!(
            err("[]"),
            "not a kaioken report (no `schema`; expected `kaioken.run/v1`)"
        );
    }

    #[test]
    fn regressions_mismatches_and_thresholds() {
        let found = compare(
            &report(100.0, 3.0, 10),
            &report(80.0, 4.5, 20),
            &TOLERANCES,
            "cur.json",
        );
        let described: Vec<_> = found
            .mismatched
            .iter()
            .map(|d| d.describe(str::to_owned))
            .collect();
        assert_eq!(described, ["load/vus differs: 10 vs 20"]);
        assert_eq!(found.regressions, ["rps", "latency p99"]);
        assert_eq!(found.verdicts.len(), 1);
        assert!(!found.verdicts[0].passed);
        assert!(
            found.text.contains("thresholds of cur.json:"),
            "{}",
            found.text
        );
        assert!(
            found
                .text
                .contains("\nregression in rps, latency p99: exit code 3")
        );
    }
}
