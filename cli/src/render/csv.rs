//! The report as CSV (`-o run.csv`): one row per second of the timeline, then one
//! row per scenario when the run has several, then one per step when it has several,
//! under one header row. Layout in `docs/reports.md`.
//!
//! Rows of the timeline have `scope` `run` and their `second`; a scenario's row has
//! `scope` `scenario:NAME`, a step's `step:SCENARIO/NAME`, no `second`, and the
//! totals over the whole run. An absent value (a latency in a second without responses) is an empty
//! field, which pandas reads as NaN. Fields are quoted as RFC 4180 says when needed.

use std::fmt::Write;

use super::{num, opt};
use crate::report::{Latency, Report};

/// The header row's columns, in order.
pub const COLUMNS: [&str; 15] = [
    "scope",
    "second",
    "requests",
    "responses",
    "errors",
    "unexpected_status",
    "rps",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "vus",
    "started",
    "dropped",
    "bytes_received",
];

/// A field, quoted if it holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn row(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
    let _ = write!(out, "{}\r\n", line.join(","));
}

/// The CSV text, CRLF line ends as RFC 4180 has them.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    row(&mut out, &COLUMNS.map(str::to_owned));
    for s in &report.timeline {
        row(
            &mut out,
            &[
                "run".to_owned(),
                s.second.to_string(),
                s.requests.to_string(),
                s.responses.to_string(),
                s.errors.to_string(),
                s.unexpected_status.to_string(),
                // A second of the timeline is one second long: its responses are its
                // rate.
                s.responses.to_string(),
                opt(s.latency_p50_ms, 3),
                opt(s.latency_p90_ms, 3),
                opt(s.latency_p99_ms, 3),
                opt(s.latency_max_ms, 3),
                s.vus.to_string(),
                s.started.to_string(),
                s.dropped.to_string(),
                s.bytes_received.to_string(),
            ],
        );
    }
    // A scenario's or step's totals over the run.
    let totals =
        |out: &mut String, scope: String, requests: u64, errors: u64, failed: u64, l: &Latency| {
            let responses = requests.saturating_sub(errors);
            let rps = if report.elapsed_s > 0.0 {
                num(responses as f64 / report.elapsed_s, 3)
            } else {
                String::new()
            };
            row(
                out,
                &[
                    scope,
                    String::new(),
                    requests.to_string(),
                    responses.to_string(),
                    errors.to_string(),
                    failed.saturating_sub(errors).to_string(),
                    rps,
                    opt(l.p50, 3),
                    opt(l.p90, 3),
                    opt(l.p99, 3),
                    opt(l.max, 3),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
            );
        };
    for g in &report.scenarios {
        let scope = format!("scenario:{}", g.name);
        totals(
            &mut out,
            scope,
            g.requests,
            g.errors,
            g.failed,
            &g.latency_ms,
        );
    }
    if report.steps.len() > 1 {
        for s in &report.steps {
            let scope = format!("step:{}/{}", s.scenario, s.name);
            totals(
                &mut out,
                scope,
                s.requests,
                s.errors,
                s.failed,
                &s.latency_ms,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{closed_report, open_report};

    #[test]
    fn closed_model_csv() {
        insta::assert_snapshot!(render(&closed_report()));
    }

    #[test]
    fn open_model_csv() {
        insta::assert_snapshot!(render(&open_report()));
    }

    /// One header row, one row per second, one per scenario; every row as wide as
    /// the header.
    #[test]
    fn rows_per_second_and_scenario() {
        let report = closed_report();
        let text = render(&report);
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 1 + 2 + 2 + report.steps.len());
        assert!(lines.iter().all(|l| l.split(',').count() == COLUMNS.len()));
        assert_eq!(lines[3].split(',').next(), Some("scenario:browse"));
        assert_eq!(lines[5].split(',').next(), Some("step:browse/step0"));
    }

    #[test]
    fn fields_with_commas_and_quotes_are_quoted() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("plain"), "plain");
    }
}
