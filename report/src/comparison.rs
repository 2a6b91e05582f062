//! JSON reports compared: the computation behind `kaioken compare`, without its
//! files or its printing.
//!
//! Apart from the binary, so that it can be tested and fuzzed on report text alone:
//! `compare` in the binary reads the files, hands their text to
//! [`RunReport::parse`], and prints (text, Markdown or JSON) what [`compare_many`]
//! found.
//!
//! Latency percentiles come from the reports' serialized HDR histograms when they
//! have one (exact, not the rounded summary fields). A regression is a change for the
//! worse beyond a relative tolerance and, for latency, beyond an absolute floor too,
//! so that a 3 µs wobble on a 30 µs p50 is not a regression. With several baselines
//! it must also lie outside their prediction interval for one more run, at 95% for
//! all the metrics together ([`crate::noise`]): a
//! change the baselines' own run-to-run noise could explain is "within noise". Runs
//! with different load models are not comparable: the binary makes that exit code 5
//! unless `--force`.
//!
//! The current report's `[thresholds]` are judged again from its data, by the same
//! function `run` uses, with the whole run's percentiles exact from its histogram.

use std::fmt::Write;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::SCHEMA;
use crate::noise::{self, Interval};
use kaioken_compiler::{Measured, PERCENTILES, ThresholdScope, Verdict};

/// One JSON report, read.
pub struct RunReport {
    json: Value,
    histogram: Option<Histogram<u64>>,
    /// Latency from the actual send (`histograms.latency_uncorrected_ms`), when
    /// the report has it: what runs with and without the open model's latency
    /// correction have in common.
    uncorrected: Option<Histogram<u64>>,
}

impl RunReport {
    /// Read a report from its text.
    ///
    /// # Errors
    ///
    /// Text that is not JSON, JSON that is not a report of [`SCHEMA`], or a report
    /// without what a comparison reads ([`check_shape`]): a histogram that does not
    /// decode, a threshold that cannot be read; the message says which.
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
        check_shape(&json)?;
        // Empty when the run could not serialize it ([`crate::hdr::encode`]).
        let histogram = match json.pointer("/histogram/data") {
            None | Some(Value::Null) => None,
            Some(Value::String(data)) if data.is_empty() => None,
            Some(data) => Some(data.as_str().and_then(crate::hdr::decode).ok_or_else(|| {
                format!("{INCOMPLETE}: `histogram.data` is not a histogram kaioken wrote")
            })?),
        };
        for t in json["thresholds"].as_array().map_or(&[][..], Vec::as_slice) {
            let read = || {
                kaioken_compiler::threshold_from_report(
                    t["scope"].as_str()?,
                    t["metric"].as_str()?,
                    t["threshold"].as_str()?,
                )
            };
            if read().is_none() {
                return Err(format!("{INCOMPLETE}: the threshold {t} cannot be read"));
            }
        }
        // Read only when the runs' latency corrections differ: one that does not
        // decode is as absent (the summary fields then serve).
        let uncorrected = json
            .pointer("/histograms/latency_uncorrected_ms")
            .and_then(Value::as_str)
            .and_then(crate::hdr::decode);
        Ok(RunReport {
            json,
            histogram,
            uncorrected,
        })
    }
}

/// How a report that lacks what a comparison reads is called.
const INCOMPLETE: &str = "not a complete kaioken.run/v1 report";

/// Whether `json` has what a comparison reads, each of its type: a report cut
/// short or edited by hand would otherwise compare as "no data" on every row, and
/// pass the gate. Fields later versions of the schema added (`failure_rate`,
/// the histogram) may be missing; a latency is `null` in a run without responses.
fn check_shape(json: &Value) -> Result<(), String> {
    let is = |pointer: &str, test: fn(&Value) -> bool| json.pointer(pointer).is_some_and(test);
    let wrong = |field: &str, what: &str| Err(format!("{INCOMPLETE}: `{field}` {what}"));
    if !is("/requests/total", Value::is_u64) {
        return wrong("requests.total", "is missing or not a count");
    }
    if !is("/requests/rps", Value::is_number) {
        return wrong("requests.rps", "is missing or not a number");
    }
    if !is("/requests/failure_rate", Value::is_number)
        && !is("/requests/error_rate", Value::is_number)
    {
        return wrong("requests.failure_rate", "is missing or not a number");
    }
    for field in ["p50", "p90", "p95", "p99", "p99_9", "mean"] {
        if !is(&format!("/latency_ms/{field}"), |v| {
            v.is_number() || v.is_null()
        }) {
            return wrong(&format!("latency_ms.{field}"), "is missing or not a number");
        }
    }
    if !is("/load/model", Value::is_string) {
        return wrong("load.model", "is missing or not a name");
    }
    if json.get("thresholds").is_some_and(|t| !t.is_array()) {
        return wrong("thresholds", "is not a list");
    }
    Ok(())
}

impl RunReport {
    fn f64(&self, pointer: &str) -> Option<f64> {
        self.json.pointer(pointer).and_then(Value::as_f64)
    }

    /// The field at `pointer`; absent, what a report of an older kaioken meant
    /// by leaving it out (no ramp-up, warm-up or stages), else `null`.
    fn field(&self, pointer: &str) -> Value {
        match (self.json.pointer(pointer), pointer) {
            (Some(v), _) => v.clone(),
            (None, "/load/ramp_up_s" | "/load/warmup_s") => Value::from(0.0),
            (None, "/load/stages") => Value::Array(Vec::new()),
            (None, _) => Value::Null,
        }
    }

    /// Whether the field at `pointer` is the same in both reports: numbers by
    /// value (`400` and `400.0`, as a tool that rewrites the JSON may spell it),
    /// in lists (stages) too, anything else as written.
    fn same_as(&self, other: &RunReport, pointer: &str) -> bool {
        fn same(a: &Value, b: &Value) -> bool {
            match (a, b) {
                (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (Value::Array(a), Value::Array(b)) => {
                    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
                }
                (Value::Object(a), Value::Object(b)) => {
                    a.len() == b.len()
                        && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
                }
                _ => a == b,
            }
        }
        same(&self.field(pointer), &other.field(pointer))
    }

    fn str(&self, pointer: &str) -> String {
        match self.field(pointer) {
            Value::String(s) => s,
            Value::Null => "-".to_owned(),
            other => other.to_string(),
        }
    }

    /// Whether `latency_ms` counts from each iteration's scheduled start (the
    /// open model's correction for coordinated omission).
    fn latency_corrected(&self) -> bool {
        self.json
            .pointer("/load/latency_correction")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Whether the report has its latency from the actual send: with the
    /// correction on, `latency_uncorrected_ms`; with it off, that is `latency_ms`.
    fn has_uncorrected(&self) -> bool {
        !self.latency_corrected()
            || self.uncorrected.is_some()
            || self.f64("/latency_uncorrected_ms/p50").is_some()
    }

    /// Latency quantile in ms: exact from the histogram, else the summary field;
    /// with `uncorrected`, from the actual send.
    fn latency(&self, quantile: f64, field: &str, uncorrected: bool) -> Option<f64> {
        let (histogram, section) = if uncorrected && self.latency_corrected() {
            (&self.uncorrected, "latency_uncorrected_ms")
        } else {
            (&self.histogram, "latency_ms")
        };
        match histogram {
            Some(h) if !h.is_empty() => Some(h.value_at_quantile(quantile) as f64 / 1000.0),
            _ => self.f64(&format!("/{section}/{field}")),
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
        if let (ThresholdScope::All, Some(h)) = (scope, &self.histogram)
            && !h.is_empty()
        {
            for (ms, p) in percentiles_ms.iter_mut().zip(PERCENTILES) {
                *ms = h.value_at_quantile(f64::from(p) / 1000.0) as f64 / 1000.0;
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

    /// The part of a distributed run this report measured, when it is not the
    /// whole: `1/4:1/2` for one segment, `0:1/3 and 2/3:1` for a partial merge of
    /// segments that are not next to each other (its `missing` pieces left out).
    pub fn segment(&self) -> Option<String> {
        let s = self.json.get("segment")?;
        let (from, to) = (s["from"].as_str()?, s["to"].as_str()?);
        let missing: Vec<&str> = s["missing"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if from == "0" && to == "1" && missing.is_empty() {
            return None;
        }
        let mut pieces = Vec::new();
        let mut at = from;
        for gap in missing {
            let (a, b) = gap.split_once(':').unwrap_or((gap, gap));
            pieces.push(format!("{at}:{a}"));
            at = b;
        }
        pieces.push(format!("{at}:{to}"));
        Some(pieces.join(" and "))
    }

    /// The report's thresholds, judged again from its data.
    pub fn thresholds(&self) -> Vec<Verdict> {
        // Each one reads: `parse` refused a report with one that does not.
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

/// Load-model fields that must match for the runs to be comparable: each changes
/// the load the target was given while it was measured. Stages and a ramp-up
/// change how many VUs (or iterations a second) were at work during the measured
/// window, `max_vus` how many iterations of the open model could run at once.
/// (`load/latency_correction` is judged apart: see [`compare_many`].)
const MODEL_FIELDS: [&str; 8] = [
    "/load/model",
    "/load/vus",
    "/load/arrival_rate",
    "/load/max_vus",
    "/load/rate",
    "/load/stages",
    "/load/ramp_up_s",
    "/target/http_version",
];
/// Fields that may differ, with a warning. A warm-up is not measured: the load in
/// the window is the same, only what the target had seen before differs. The
/// engines time responses differently (io_uring by the kernel's receive
/// timestamps, tokio when it wakes to read, tens of microseconds later), which is
/// within the default latency floor, and which engine runs is often the host's
/// choice (io_uring unavailable in a container), not the test's.
const WARN_FIELDS: [&str; 6] = [
    "/target/url",
    "/target/method",
    "/load/duration_s",
    "/load/max_requests",
    "/load/warmup_s",
    "/settings/engine",
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

/// A field whose value differs between a baseline and the current report.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The field, as a path (`load/vus`).
    pub field: &'static str,
    /// Its value in the baseline.
    pub base: String,
    /// Its value in the current report.
    pub current: String,
    /// Which baseline (0 for the first), when there are several.
    pub baseline: usize,
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

/// One metric's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Worse beyond the tolerance and beyond the baselines' noise.
    Regression,
    /// Better beyond the tolerance and beyond the baselines' noise.
    Improvement,
    /// Changed beyond the tolerance, but inside the baselines' noise: another run of
    /// the baseline could have given this value.
    WithinNoise,
    /// Inside the tolerance.
    Ok,
    /// A report lacks the metric.
    NoData,
}

impl Change {
    /// As the text table shows it.
    pub fn label(self) -> &'static str {
        match self {
            Change::Regression => "REGRESSION",
            Change::Improvement => "improvement",
            Change::WithinNoise => "within noise",
            Change::Ok => "ok",
            Change::NoData => "-",
        }
    }

    /// As the JSON comparison names it.
    pub fn key(self) -> &'static str {
        match self {
            Change::Regression => "regression",
            Change::Improvement => "improvement",
            Change::WithinNoise => "within_noise",
            Change::Ok => "ok",
            Change::NoData => "no_data",
        }
    }
}

/// One metric compared.
#[derive(Debug, Clone)]
pub struct Row {
    /// `rps`, `latency p99`, `failure rate`, …
    pub metric: String,
    /// `/s`, `ms` or `ratio`.
    pub unit: &'static str,
    /// Its value in each baseline that has it.
    pub baselines: Vec<f64>,
    /// The baselines' mean and, with two or more, the prediction interval (95% for
    /// all metrics together) for
    /// one more run; `None` when no baseline has the metric.
    pub interval: Option<Interval>,
    /// Its value in the current report.
    pub current: Option<f64>,
    /// The relative change of the current value from the baselines' mean; infinite
    /// for a value that was zero; `None` without data.
    pub change: Option<f64>,
    /// The verdict.
    pub verdict: Change,
}

/// What comparing reports found.
#[derive(Debug)]
pub struct Comparison {
    /// Load-model fields that differ (`load/vus differs: 10 vs 20`): the runs are not
    /// comparable unless forced.
    pub mismatched: Vec<Difference>,
    /// Fields that differ without making the runs incomparable.
    pub warnings: Vec<Difference>,
    /// The table, its verdict line and the current report's thresholds, as printed.
    pub text: String,
    /// The metrics that got worse beyond their tolerance (and, with several
    /// baselines, beyond the noise).
    pub regressions: Vec<String>,
    /// The current report's thresholds, judged again from its data.
    pub verdicts: Vec<Verdict>,
    /// The metrics, one row each.
    pub rows: Vec<Row>,
    /// How many baselines.
    pub baselines: usize,
    /// The tolerances applied.
    pub tolerances: Tolerances,
    /// The current report's name.
    pub current: String,
    /// Whether the latency rows compare latency from the actual send
    /// (`latency_uncorrected_ms`) in every report, because the runs' latency
    /// corrections differ.
    pub latency_uncorrected: bool,
}

/// Compare `cur` (named `cur_name` in the text) with `base`.
pub fn compare(
    base: &RunReport,
    cur: &RunReport,
    tolerances: &Tolerances,
    cur_name: &str,
) -> Comparison {
    compare_many(std::slice::from_ref(base), cur, tolerances, cur_name)
}

/// Compare `cur` (named `cur_name` in the text) with one or more baselines.
///
/// With one baseline a metric regresses when it is worse beyond its tolerance. With
/// several, their run-to-run noise is estimated per metric (see [`crate::noise`]):
/// a metric regresses only when it is worse beyond its tolerance from the
/// baselines' mean **and** outside the prediction interval for one more
/// baseline run, on the worse side. A change beyond the tolerance but inside the
/// interval is "within noise". The intervals hold together for all the metrics
/// with 95% confidence (each at 1 − 5%/8, Bonferroni), so an unchanged server
/// shows a false regression in at most one comparison in twenty, not one metric in
/// twenty. With no baselines every row has no data.
pub fn compare_many(
    bases: &[RunReport],
    cur: &RunReport,
    tolerances: &Tolerances,
    cur_name: &str,
) -> Comparison {
    let mut mismatched = Vec::new();
    let mut warnings = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        for (fields, into) in [
            (&MODEL_FIELDS[..], &mut mismatched),
            (&WARN_FIELDS[..], &mut warnings),
        ] {
            for field in fields {
                if base.same_as(cur, field) {
                    continue;
                }
                into.push(Difference {
                    field: &field[1..],
                    base: base.str(field),
                    current: cur.str(field),
                    baseline: i,
                });
            }
        }
    }

    // Latency corrected for coordinated omission (from each iteration's scheduled
    // start) and latency from the actual send are two measures: a run with the
    // correction off looked 90% faster than the same run with it on. When the
    // corrections differ, every report's latency from the actual send is compared,
    // which each has (with the correction off it is `latency_ms`); without it in
    // some report the runs are not comparable.
    let differ = |r: &RunReport| r.latency_corrected() != cur.latency_corrected();
    let uncorrected = bases.iter().any(differ)
        && bases
            .iter()
            .chain(std::iter::once(cur))
            .all(RunReport::has_uncorrected);
    for (i, base) in bases.iter().enumerate().filter(|(_, b)| differ(b)) {
        let into = if uncorrected {
            &mut warnings
        } else {
            &mut mismatched
        };
        into.push(Difference {
            field: "load/latency_correction",
            base: base.latency_corrected().to_string(),
            current: cur.latency_corrected().to_string(),
            baseline: i,
        });
    }

    let floor = tolerances.latency_floor_ms;
    let rps = tolerances.max_rps_drop;
    let lat = tolerances.max_latency_increase;
    let mut rows = Vec::new();
    let mut row = |metric: &str,
                   value: &dyn Fn(&RunReport) -> Option<f64>,
                   unit: &'static str,
                   worse: Worse,
                   tolerance: f64| {
        let baselines: Vec<f64> = bases.iter().filter_map(value).collect();
        let coverage = noise::per_metric(noise::CONFIDENCE, METRICS);
        rows.push(judge(
            metric,
            baselines,
            coverage,
            value(cur),
            unit,
            worse,
            tolerance,
        ));
    };
    row("rps", &|r| r.f64("/requests/rps"), "/s", Worse::Lower, rps);
    for (name, q, field) in [
        ("p50", 0.5, "p50"),
        ("p90", 0.9, "p90"),
        ("p95", 0.95, "p95"),
        ("p99", 0.99, "p99"),
        ("p99.9", 0.999, "p99_9"),
    ] {
        row(
            &format!("latency {name}"),
            &|r| r.latency(q, field, uncorrected),
            "ms",
            Worse::Higher { floor },
            lat,
        );
    }
    row(
        "latency mean",
        &|r| {
            if uncorrected && r.latency_corrected() {
                r.f64("/latency_uncorrected_ms/mean")
            } else {
                r.f64("/latency_ms/mean")
            }
        },
        "ms",
        Worse::Higher { floor },
        lat,
    );
    // Failed requests: errors and unexpected statuses (a report from before
    // expected statuses has only its error rate).
    row(
        "failure rate",
        &|r| {
            r.f64("/requests/failure_rate")
                .or_else(|| r.f64("/requests/error_rate"))
        },
        "ratio",
        Worse::HigherAbsolute,
        tolerances.max_error_rate_increase,
    );
    debug_assert_eq!(rows.len(), METRICS);
    let regressions: Vec<String> = rows
        .iter()
        .filter(|r| r.verdict == Change::Regression)
        .map(|r| r.metric.clone())
        .collect();
    let mut found = Comparison {
        mismatched,
        warnings,
        text: String::new(),
        regressions,
        verdicts: cur.thresholds(),
        rows,
        baselines: bases.len(),
        tolerances: *tolerances,
        current: cur_name.to_owned(),
        latency_uncorrected: uncorrected,
    };
    found.text = found.render_text();
    found
}

/// How many metrics a comparison judges (rows of its table): the confidence is
/// shared among them.
const METRICS: usize = 8;

/// One metric's row: its baselines' interval, the change and the verdict.
fn judge(
    metric: &str,
    baselines: Vec<f64>,
    coverage: f64,
    current: Option<f64>,
    unit: &'static str,
    worse: Worse,
    tolerance: f64,
) -> Row {
    let interval = Interval::predict(&baselines, coverage);
    let (Some(i), Some(b)) = (interval, current) else {
        return Row {
            metric: metric.to_owned(),
            unit,
            baselines,
            interval,
            current,
            change: None,
            verdict: Change::NoData,
        };
    };
    let a = i.mean;
    let change = if a == 0.0 {
        if b == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        (b - a) / a
    };
    // Beyond the tolerance, from the baselines' mean...
    let (worse_beyond, better_beyond) = match worse {
        Worse::Lower => (change < -tolerance, change > tolerance),
        Worse::Higher { floor } => (
            change > tolerance && (b - a) > floor,
            change < -tolerance && (a - b) > floor,
        ),
        Worse::HigherAbsolute => (b - a > tolerance, a - b > tolerance),
    };
    // ...and beyond the noise, on the same side.
    let (worse_noise, better_noise) = match worse {
        Worse::Lower => (i.value_below(b), i.value_above(b)),
        Worse::Higher { .. } | Worse::HigherAbsolute => (i.value_above(b), i.value_below(b)),
    };
    let verdict = if worse_beyond && worse_noise {
        Change::Regression
    } else if better_beyond && better_noise {
        Change::Improvement
    } else if worse_beyond || better_beyond {
        Change::WithinNoise
    } else {
        Change::Ok
    };
    Row {
        metric: metric.to_owned(),
        unit,
        baselines,
        interval,
        current,
        change: Some(change),
        verdict,
    }
}

impl Row {
    /// The baseline column: the value, or with several baselines their mean ± the
    /// half-width of the prediction interval.
    fn baseline_text(&self) -> String {
        match self.interval {
            None => "-".to_owned(),
            Some(Interval {
                mean,
                half_width: Some(h),
                ..
            }) => format!(
                "{} ± {}",
                fmt(Some(mean), self.unit),
                fmt(Some(h), self.unit)
            ),
            Some(i) => fmt(Some(i.mean), self.unit),
        }
    }

    fn change_text(&self) -> String {
        match self.change {
            None => "-".to_owned(),
            Some(c) if c.is_finite() => format!("{:+.1}%", c * 100.0),
            Some(_) => "new".to_owned(),
        }
    }
}

impl Comparison {
    fn tolerances_text(&self) -> String {
        let t = &self.tolerances;
        format!(
            "tolerances: rps -{:.0}%, latency +{:.0}% and +{}ms, failure rate +{}",
            t.max_rps_drop * 100.0,
            t.max_latency_increase * 100.0,
            t.latency_floor_ms,
            t.max_error_rate_increase
        )
    }

    fn noise_text(&self) -> Option<String> {
        (self.baselines >= 2).then(|| {
            format!(
                "noise: {} baselines, mean ± prediction interval for one more run, \
                 95% for all {METRICS} metrics together; a regression is beyond both \
                 the tolerance and the interval",
                self.baselines
            )
        })
    }

    fn render_text(&self) -> String {
        let mut out = String::new();
        let width = if self.baselines >= 2 { 26 } else { 14 };
        let baseline_header = if self.baselines >= 2 {
            "baseline (95%)"
        } else {
            "baseline"
        };
        let _ = writeln!(
            out,
            "{:<14} {baseline_header:>width$} {:>14} {:>10}  verdict",
            "metric", "current", "change"
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "{:<14} {:>width$} {:>14} {:>10}  {}",
                row.metric,
                row.baseline_text(),
                fmt(row.current, row.unit),
                row.change_text(),
                row.verdict.label()
            );
        }
        if self.regressions.is_empty() {
            let _ = writeln!(out, "\nno regression ({})", self.tolerances_text());
        } else {
            let _ = writeln!(
                out,
                "\nregression in {}: exit code 3",
                self.regressions.join(", ")
            );
        }
        if let Some(noise) = self.noise_text() {
            let _ = writeln!(out, "{noise}");
        }
        if self.latency_uncorrected {
            let _ = writeln!(out, "{UNCORRECTED_NOTE}");
        }
        if !self.verdicts.is_empty() {
            let _ = writeln!(out, "\nthresholds of {}:", self.current);
            for v in &self.verdicts {
                let scope = if v.scope == "all" {
                    String::new()
                } else {
                    format!("[{}] ", v.scope)
                };
                let _ = writeln!(
                    out,
                    "  {} {scope}{} {}  (observed {})",
                    if v.passed { "✓" } else { "✗" },
                    v.metric,
                    v.threshold,
                    observed(v)
                );
            }
        }
        out
    }

    /// The comparison as GitHub-flavoured Markdown, for a pull request comment:
    /// the table, the verdict, the differences between the runs (values passed
    /// through `show`, which hides secrets) and the current report's thresholds.
    /// `names` are the baselines' names, in order.
    pub fn markdown(&self, names: &[String], show: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### kaioken compare: `{}` against {}\n",
            md_code(&self.current),
            match names {
                [one] => format!("`{}`", md_code(one)),
                _ => format!("{} baselines", names.len()),
            }
        );
        let baseline_header = if self.baselines >= 2 {
            "baseline (mean ± 95%)"
        } else {
            "baseline"
        };
        let _ = writeln!(
            out,
            "| metric | {baseline_header} | current | change | verdict |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|");
        for row in &self.rows {
            let verdict = match row.verdict {
                Change::Regression => "**regression**",
                other => other.label(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {verdict} |",
                row.metric,
                row.baseline_text(),
                fmt(row.current, row.unit),
                row.change_text(),
            );
        }
        out.push('\n');
        if self.regressions.is_empty() {
            let _ = writeln!(out, "**No regression** ({}).", self.tolerances_text());
        } else {
            let _ = writeln!(
                out,
                "**Regression** in {} ({}).",
                self.regressions.join(", "),
                self.tolerances_text()
            );
        }
        if let Some(noise) = self.noise_text() {
            let _ = writeln!(out, "\n{}.", capitalize(&noise));
        }
        if self.latency_uncorrected {
            let _ = writeln!(out, "\n{}.", capitalize(UNCORRECTED_NOTE));
        }
        let differences: Vec<String> = self
            .mismatched
            .iter()
            .map(|d| ("load model", d))
            .chain(self.warnings.iter().map(|d| ("warning", d)))
            .map(|(kind, d)| {
                format!(
                    "- {kind}: `{}` {}",
                    md_code(names.get(d.baseline).map_or("baseline", String::as_str)),
                    md_text(&d.describe(&show))
                )
            })
            .collect();
        if !differences.is_empty() {
            let _ = writeln!(out, "\nThe runs differ:\n\n{}", differences.join("\n"));
        }
        if !self.verdicts.is_empty() {
            let _ = writeln!(
                out,
                "\n#### Thresholds of `{}`\n\n| | scope | metric | threshold | observed |\n|---|---|---|---|---:|",
                md_code(&self.current)
            );
            for v in &self.verdicts {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    if v.passed { "✓" } else { "✗" },
                    md_text(&v.scope),
                    v.metric,
                    md_text(&v.threshold),
                    observed(v)
                );
            }
        }
        out
    }

    /// The comparison as JSON (shape in docs/compare.md). `names` are the
    /// baselines' names, in order; difference values pass through `show`.
    pub fn json(&self, names: &[String], show: impl Fn(&str) -> String) -> Value {
        let number = |v: Option<f64>| v.filter(|v| v.is_finite()).map_or(Value::Null, Value::from);
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "metric": r.metric,
                    "unit": r.unit,
                    "baselines": r.baselines,
                    "baseline_mean": number(r.interval.map(|i| i.mean)),
                    "interval_95": number(r.interval.and_then(|i| i.half_width)),
                    "current": number(r.current),
                    "change": number(r.change),
                    "verdict": r.verdict.key(),
                })
            })
            .collect();
        let differences = |list: &[Difference]| -> Vec<Value> {
            list.iter()
                .map(|d| {
                    serde_json::json!({
                        "baseline": names.get(d.baseline),
                        "field": d.field,
                        "baseline_value": show(&d.base),
                        "current_value": show(&d.current),
                    })
                })
                .collect()
        };
        let t = &self.tolerances;
        serde_json::json!({
            "schema": COMPARE_SCHEMA,
            "baselines": names,
            "current": self.current,
            "confidence": noise::CONFIDENCE,
            "per_metric_coverage": noise::per_metric(noise::CONFIDENCE, METRICS),
            "tolerances": {
                "max_rps_drop": t.max_rps_drop,
                "max_latency_increase": t.max_latency_increase,
                "latency_floor_ms": t.latency_floor_ms,
                "max_error_rate_increase": t.max_error_rate_increase,
            },
            "metrics": rows,
            "regressions": self.regressions,
            "latency_uncorrected": self.latency_uncorrected,
            "load_model_differences": differences(&self.mismatched),
            "warnings": differences(&self.warnings),
            "thresholds": self.verdicts.iter().map(|v| serde_json::json!({
                "scope": v.scope,
                "metric": v.metric,
                "threshold": v.threshold,
                "observed": number(v.observed),
                "unit": v.unit,
                "passed": v.passed,
            })).collect::<Vec<_>>(),
        })
    }
}

/// What the table says when its latency is from the actual send in every report.
const UNCORRECTED_NOTE: &str = "latency: from the actual send (latency_uncorrected_ms) in every report, since their load/latency_correction differs";

/// The JSON comparison's schema id.
pub const COMPARE_SCHEMA: &str = "kaioken.compare/v1";

fn observed(v: &Verdict) -> String {
    v.observed
        .map_or_else(|| "no data".to_owned(), |o| fmt(Some(o), &v.unit))
}

/// Text for a Markdown table cell: pipes escaped, newlines as spaces.
fn md_text(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Text inside a Markdown code span in a table cell.
fn md_code(s: &str) -> String {
    md_text(s).replace('`', "'")
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
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

    /// What of its run a report measured: nothing said for the whole (a merge of
    /// every segment), the segment, or a partial merge's pieces without its gap.
    #[test]
    fn the_part_of_the_run_a_report_measured() {
        let with = |segment: Value| {
            let mut json = report(100.0, 3.0, 10).json;
            json["segment"] = segment;
            RunReport::parse(&json.to_string()).unwrap().segment()
        };
        let sequence = ["0", "1/3", "2/3", "1"];
        assert_eq!(report(100.0, 3.0, 10).segment(), None);
        let whole = serde_json::json!({"from": "0", "to": "1", "sequence": sequence});
        assert_eq!(with(whole), None);
        let one = serde_json::json!({"from": "1/3", "to": "2/3", "sequence": sequence});
        assert_eq!(with(one).as_deref(), Some("1/3:2/3"));
        let partial = serde_json::json!(
            {"from": "0", "to": "1", "sequence": sequence, "missing": ["1/3:2/3"]});
        assert_eq!(with(partial).as_deref(), Some("0:1/3 and 2/3:1"));
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

    /// A report without what a comparison reads is refused, whichever part is
    /// missing or of another type: compared, it would be "no data" on every row
    /// and pass. A histogram that does not decode, and a threshold that cannot be
    /// read (which would be dropped, and pass), are refused too.
    #[test]
    fn an_incomplete_report_is_refused() {
        let good: Value = serde_json::from_str(&report(100.0, 3.0, 10).json.to_string()).unwrap();
        let with = |pointer: &str, value: Option<Value>| {
            let mut json = good.clone();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let object = json.pointer_mut(parent).unwrap().as_object_mut().unwrap();
            match value {
                Some(v) => object.insert(key.to_owned(), v),
                None => object.remove(key),
            };
            RunReport::parse(&json.to_string()).err()
        };
        let incomplete = |pointer: &str, value: Option<Value>, field: &str| {
            let e = with(pointer, value).expect(pointer);
            assert!(
                e.starts_with(INCOMPLETE) && e.contains(&format!("`{field}`")),
                "{e}"
            );
        };
        incomplete("/requests", None, "requests.total");
        incomplete("/requests/total", Some((-5).into()), "requests.total");
        incomplete("/requests/rps", Some("fast".into()), "requests.rps");
        incomplete("/requests/error_rate", None, "requests.failure_rate");
        incomplete("/latency_ms/p99", None, "latency_ms.p99");
        incomplete("/latency_ms/mean", Some("1ms".into()), "latency_ms.mean");
        incomplete("/load/model", None, "load.model");
        incomplete("/thresholds", Some("p99 < 4ms".into()), "thresholds");
        incomplete(
            "/histogram",
            Some(serde_json::json!({"data": "AAAA"})),
            "histogram.data",
        );
        let threshold = |bound: &str, metric: &str| serde_json::json!([{"scope": "all", "metric": metric, "threshold": bound}]);
        for (bound, metric) in [("<< garbage", "p99"), ("< 4ms", "p96")] {
            let e = with("/thresholds", Some(threshold(bound, metric))).unwrap();
            assert!(e.contains("the threshold") && e.contains(bound), "{e}");
        }
        // What older reports lack, and a run without responses, are no error.
        assert_eq!(with("/latency_ms/p99", Some(Value::Null)), None);
        assert_eq!(with("/thresholds", None), None);
        assert_eq!(with("/histogram", Some(Value::Null)), None);
        assert_eq!(
            with("/histogram", Some(serde_json::json!({"data": ""}))),
            None
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
        // The same number spelled otherwise (`jq` writes `10.0` as `10`) is the same.
        let mut respelled = report(80.0, 4.5, 10);
        respelled.json["load"]["vus"] = serde_json::json!(10.0);
        let found = compare(&report(100.0, 3.0, 10), &respelled, &TOLERANCES, "cur.json");
        assert!(found.mismatched.is_empty(), "{:?}", found.mismatched.len());
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

    /// Stages, a ramp-up and `max_vus` change the load measured: not comparable.
    /// A warm-up and the engine are warnings. A field an older report leaves out
    /// is its default (no ramp-up), not a difference.
    #[test]
    fn the_load_shape_and_the_engine_are_compared() {
        let with = |pointer: &str, value: Value| {
            let mut r = report(100.0, 3.0, 10);
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            r.json.pointer_mut(parent).unwrap()[key] = value;
            r
        };
        let differences = |base: &RunReport, cur: &RunReport| {
            let found = compare(base, cur, &TOLERANCES, "cur.json");
            let text = |list: &[Difference]| -> Vec<String> {
                list.iter().map(|d| d.describe(str::to_owned)).collect()
            };
            (text(&found.mismatched), text(&found.warnings))
        };
        let stages = |last: u64| serde_json::json!([{"duration_s": 1.0, "target": 8}, {"duration_s": 1.0, "target": last}]);
        assert_eq!(
            differences(
                &with("/load/stages", stages(8)),
                &with("/load/stages", stages(1))
            )
            .0,
            [
                r#"load/stages differs: [{"duration_s":1.0,"target":8},{"duration_s":1.0,"target":8}] vs [{"duration_s":1.0,"target":8},{"duration_s":1.0,"target":1}]"#
            ]
        );
        // `1` and `1.0` are the same duration.
        let mut respelled = stages(1);
        respelled[0]["duration_s"] = serde_json::json!(1);
        assert_eq!(
            differences(
                &with("/load/stages", stages(1)),
                &with("/load/stages", respelled)
            ),
            (vec![], vec![])
        );
        assert_eq!(
            differences(
                &report(100.0, 3.0, 10),
                &with("/load/ramp_up_s", Value::from(2.0))
            )
            .0,
            ["load/ramp_up_s differs: 0.0 vs 2.0"]
        );
        assert_eq!(
            differences(
                &with("/load/ramp_up_s", Value::from(0)),
                &report(100.0, 3.0, 10)
            ),
            (vec![], vec![])
        );
        assert_eq!(
            differences(
                &report(100.0, 3.0, 10),
                &with("/load/max_vus", Value::from(50))
            )
            .0,
            ["load/max_vus differs: - vs 50"]
        );
        let engine = |name: &str| with("/settings", serde_json::json!({"engine": name}));
        assert_eq!(
            differences(&engine("io_uring"), &engine("tokio")),
            (
                vec![],
                vec!["settings/engine differs: io_uring vs tokio".to_owned()]
            )
        );
        assert_eq!(
            differences(
                &report(100.0, 3.0, 10),
                &with("/load/warmup_s", Value::from(5.0))
            ),
            (vec![], vec!["load/warmup_s differs: 0.0 vs 5.0".to_owned()])
        );
    }

    /// An open-model run with the latency correction against one without: the
    /// corrected latency (from the scheduled start) is not the uncorrected one, so
    /// both are compared from the actual send, which each has; a report without it
    /// makes the runs not comparable.
    #[test]
    fn latency_corrections_that_differ_compare_latency_from_the_send() {
        let open = |corrected: bool, p99: f64, uncorrected_p99: Option<f64>| {
            let mut r = report(100.0, p99, 10);
            r.json["load"] = serde_json::json!({
                "model": "arrival_rate", "arrival_rate": 200, "vus": null,
                "latency_correction": corrected});
            if let Some(u) = uncorrected_p99 {
                r.json["latency_uncorrected_ms"] = serde_json::json!(
                    {"p50": 1.0, "p90": 2.0, "p95": 3.0, "p99": u, "p99_9": 5.0, "mean": 1.5});
            }
            RunReport::parse(&r.json.to_string()).unwrap()
        };
        // Off: 3 ms. On: 30 ms from the scheduled start, 3 ms from the send.
        let off = open(false, 3.0, Some(3.0));
        let on = open(true, 30.0, Some(3.0));
        let found = compare(&off, &on, &TOLERANCES, "cur.json");
        assert!(found.mismatched.is_empty());
        assert!(found.latency_uncorrected);
        assert_eq!(
            found.warnings[0].describe(str::to_owned),
            "load/latency_correction differs: false vs true"
        );
        assert_eq!(verdict_of(&found, "latency p99"), Change::Ok);
        assert!(found.regressions.is_empty());
        assert!(found.text.contains(UNCORRECTED_NOTE), "{}", found.text);
        assert_eq!(
            found.json(&["b.json".into()], str::to_owned)["latency_uncorrected"],
            true
        );
        // The same corrections: the corrected latency, as reported.
        let found = compare(&open(true, 3.0, Some(3.0)), &on, &TOLERANCES, "cur.json");
        assert!(!found.latency_uncorrected);
        assert_eq!(verdict_of(&found, "latency p99"), Change::Regression);
        // A corrected report without its latency from the send: not comparable.
        let found = compare(&off, &open(true, 30.0, None), &TOLERANCES, "cur.json");
        assert_eq!(
            found.mismatched[0].describe(str::to_owned),
            "load/latency_correction differs: false vs true"
        );
        assert!(!found.latency_uncorrected);
    }

    fn verdict_of(found: &Comparison, metric: &str) -> Change {
        found
            .rows
            .iter()
            .find(|r| r.metric == metric)
            .unwrap()
            .verdict
    }

    #[test]
    fn several_baselines_measure_the_noise() {
        // Noisy baselines: 100, 80, 120 req/s, mean 100, s = 20; with
        // t(1 − 0.025/8, 2) = 12.590 and √(1 + 1/3) the interval is 100 ± 290.7.
        let noisy = [
            report(100.0, 3.0, 10),
            report(80.0, 3.0, 10),
            report(120.0, 3.0, 10),
        ];
        let found = compare_many(&noisy, &report(70.0, 3.0, 10), &TOLERANCES, "c.json");
        let rps = &found.rows[0];
        assert_eq!(rps.baselines, [100.0, 80.0, 120.0]);
        let interval = rps.interval.unwrap();
        assert!((interval.mean - 100.0).abs() < 1e-9);
        assert!(
            (interval.half_width.unwrap() - 290.75).abs() < 0.01,
            "{interval:?}"
        );
        assert!((rps.change.unwrap() + 0.3).abs() < 1e-9);
        // 30% down, beyond the 10% tolerance, but one more baseline could do it.
        assert_eq!(rps.verdict, Change::WithinNoise);
        assert!(found.regressions.is_empty());
        assert!(found.text.contains("100.0/s ± 290.7/s"), "{}", found.text);
        assert!(found.text.contains("within noise"), "{}", found.text);
        assert!(
            found
                .text
                .contains("noise: 3 baselines, mean ± prediction interval for one more run, 95% for all 8 metrics together"),
            "{}",
            found.text
        );

        // Steady baselines: 100, 101, 99, s = 1, 100 ± 14.5.
        let steady = [
            report(100.0, 3.0, 10),
            report(101.0, 3.0, 10),
            report(99.0, 3.0, 10),
        ];
        let judge = |rps: f64| {
            verdict_of(
                &compare_many(&steady, &report(rps, 3.0, 10), &TOLERANCES, "c.json"),
                "rps",
            )
        };
        assert_eq!(judge(80.0), Change::Regression);
        assert_eq!(judge(95.0), Change::Ok);
        assert_eq!(judge(120.0), Change::Improvement);
        assert_eq!(judge(86.0), Change::WithinNoise);
        // Beyond the noise but inside the tolerance is fine.
        assert_eq!(judge(93.0), Change::Ok);
        let found = compare_many(&steady, &report(80.0, 3.0, 10), &TOLERANCES, "c.json");
        assert_eq!(found.regressions, ["rps"]);
        assert_eq!(verdict_of(&found, "latency p99"), Change::Ok);
    }

    #[test]
    fn markdown_and_json() {
        let bases = [report(100.0, 3.0, 10), report(100.5, 3.0, 20)];
        let found = compare_many(&bases, &report(50.0, 3.0, 10), &TOLERANCES, "c|ur.json");
        let names = ["b1.json".to_owned(), "b2.json".to_owned()];
        let md = found.markdown(&names, str::to_owned);
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        // Header, eight metrics and the thresholds' header and row; every row of the
        // metrics table has five cells.
        assert_eq!(table.len(), 11, "{md}");
        for line in &table[..9] {
            assert_eq!(line.matches(" | ").count(), 4, "{line}");
        }
        assert!(
            md.contains("| rps | 100.2/s ± 44.1/s | 50.0/s | -50.1% | **regression** |"),
            "{md}"
        );
        assert!(md.contains("**Regression** in rps"), "{md}");
        assert!(md.contains("`c\\|ur.json` against 2 baselines"), "{md}");
        assert!(
            md.contains("- load model: `b2.json` load/vus differs: 20 vs 10"),
            "{md}"
        );

        let json = found.json(&names, str::to_owned);
        assert_eq!(json["schema"], COMPARE_SCHEMA);
        assert_eq!(json["baselines"], serde_json::json!(["b1.json", "b2.json"]));
        assert_eq!(json["regressions"], serde_json::json!(["rps"]));
        let rps = &json["metrics"][0];
        assert_eq!(rps["metric"], "rps");
        assert_eq!(rps["baselines"], serde_json::json!([100.0, 100.5]));
        assert_eq!(rps["baseline_mean"], 100.25);
        assert_eq!(rps["current"], 50.0);
        assert_eq!(rps["verdict"], "regression");
        // s = √0.125 for 100 and 100.5: t(1 − 0.025/8, 1) · s · √(1 + 1/2) = 44.1,
        // with t(p, 1) = tan(π(p − ½)) = 101.856.
        let half = rps["interval_95"].as_f64().unwrap();
        let t = (std::f64::consts::PI * (0.5 - 0.025 / 8.0)).tan();
        assert!(
            (half - t * 0.125f64.sqrt() * 1.5f64.sqrt()).abs() < 1e-6,
            "{half}"
        );
        assert_eq!(json["load_model_differences"][0]["baseline"], "b2.json");
        assert_eq!(json["load_model_differences"][0]["field"], "load/vus");
        assert_eq!(json["thresholds"][0]["passed"], true);
    }
}
