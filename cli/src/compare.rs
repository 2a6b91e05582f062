//! `kaioken compare BASELINE CURRENT`: two JSON reports side by side, and a verdict.
//!
//! Latency percentiles come from the reports' serialized HDR histograms when both have
//! one (exact, not the rounded summary fields). A regression is a change for the worse
//! beyond a relative tolerance and, for latency, beyond an absolute floor too, so that
//! a 3 µs wobble on a 30 µs p50 is not a regression. Runs with different load models
//! are not comparable: that is exit code 5 unless `--force`.
//!
//! The current report's `[thresholds]` are judged again from its data, by the same
//! function `run` uses, with the whole run's percentiles exact from its histogram: a
//! run that failed its thresholds does not pass `compare` (exit code 4, unless there
//! is a regression, which is exit code 3).

use std::fmt::Write;
use std::path::Path;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde_json::Value;

use crate::args::CompareArgs;
use crate::error::{Error, Outcome};
use crate::report::SCHEMA;
use kaioken_compiler::{Measured, PERCENTILES, ThresholdScope, Verdict};

/// One loaded report.
struct Run {
    json: Value,
    histogram: Option<Histogram<u64>>,
}

fn load(path: &Path) -> Result<Run, Error> {
    let io = |message: String| Error::Io {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| io(format!("not a JSON report: {e}")))?;
    match json.get("schema").and_then(Value::as_str) {
        Some(SCHEMA) => {}
        Some(other) => return Err(io(format!("report schema `{other}` is not `{SCHEMA}`"))),
        None => {
            return Err(io(format!(
                "not a kaioken report (no `schema`; expected `{SCHEMA}`)"
            )));
        }
    }
    let histogram = json
        .pointer("/histogram/data")
        .and_then(Value::as_str)
        .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
        .and_then(|bytes| Deserializer::new().deserialize(&mut bytes.as_slice()).ok());
    Ok(Run { json, histogram })
}

impl Run {
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

impl Run {
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
        Some(Measured {
            requests,
            responses: requests.saturating_sub(errors),
            errors,
            elapsed_s: self.f64("/elapsed_s").unwrap_or(0.0),
            percentiles_ms,
            mean_ms: field("mean"),
            max_ms: field("max"),
            check_pass_rate: self.f64("/requests/check_pass_rate"),
        })
    }

    /// The report's thresholds, judged again from its data.
    fn thresholds(&self) -> Vec<Verdict> {
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

pub fn compare(args: &CompareArgs) -> Result<Outcome, Error> {
    let base = load(&args.baseline)?;
    let cur = load(&args.current)?;
    // Reports hide the secrets of the rule their run had; one written before that,
    // or under another rule, is shown with this one.
    let rule = kaioken_compiler::Redact::new(&args.redact);
    let mut out = String::new();
    let mut mismatched = Vec::new();
    for field in MODEL_FIELDS {
        let (a, b) = (base.str(field), cur.str(field));
        if a != b {
            mismatched.push(format!("{} differs: {a} vs {b}", &field[1..]));
        }
    }
    for field in WARN_FIELDS {
        let (a, b) = (base.str(field), cur.str(field));
        if a != b {
            let (a, b) = (rule.text(&a), rule.text(&b));
            eprintln!("warning: {} differs: {a} vs {b}", &field[1..]);
        }
    }
    if !mismatched.is_empty() {
        for m in &mismatched {
            eprintln!(
                "{}: load model {m}",
                if args.force { "warning" } else { "error" }
            );
        }
        if !args.force {
            eprintln!(
                "the runs used different load models, so their numbers are not comparable; pass --force to compare anyway"
            );
            return Ok(Outcome::LoadModelMismatch);
        }
    }

    let _ = writeln!(
        out,
        "{:<14} {:>14} {:>14} {:>10}  verdict",
        "metric", "baseline", "current", "change"
    );
    let mut regressions = Vec::new();
    let floor = args.latency_floor_ms;
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
    let rps = args.max_rps_drop;
    let lat = args.max_latency_increase;
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
    row(
        "error rate",
        base.f64("/requests/error_rate"),
        cur.f64("/requests/error_rate"),
        "ratio",
        Worse::HigherAbsolute,
        args.max_error_rate_increase,
    );
    if regressions.is_empty() {
        let _ = writeln!(
            out,
            "\nno regression (tolerances: rps -{:.0}%, latency +{:.0}% and +{floor}ms, error rate +{})",
            rps * 100.0,
            lat * 100.0,
            args.max_error_rate_increase
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
        let _ = writeln!(out, "\nthresholds of {}:", args.current.display());
        for v in &verdicts {
            let observed = v
                .observed
                .map_or_else(|| "no data".to_owned(), |o| fmt(Some(o), v.unit));
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
    crate::print_stdout(&out)?;
    Ok(if !regressions.is_empty() {
        Outcome::Regression
    } else if verdicts.iter().any(|v| !v.passed) {
        Outcome::ThresholdsFailed
    } else {
        Outcome::Success
    })
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
