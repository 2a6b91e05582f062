//! The report as GitHub-flavoured Markdown (`-o run.md`): the summary's sections as
//! tables, to paste into a pull request or append to `$GITHUB_STEP_SUMMARY`.
//!
//! A section the run has nothing for (no checks, one scenario) is left out. Cells
//! escape `|` so that a URL or a check expression cannot break a table.

use std::fmt::Write;

use kaioken_tui::thousands;

use super::{num, percent};
use crate::report::{GroupJson, Latency, Report};
use crate::summary::{latency, load_words};

/// A cell's text, with `|` escaped, `<` as `&lt;` outside code spans (a name or a
/// URL is no HTML for the page it is pasted into; inside a span it shows as
/// written) and line breaks as spaces.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_code = false;
    for (i, c) in s.char_indices() {
        match c {
            // A span needs its closing backtick; a lone one is a character.
            '`' if in_code || s[i + 1..].contains('`') => {
                in_code = !in_code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            '<' if !in_code => out.push_str("&lt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A table: a header row, the alignment row, then `rows` (each cell escaped here). A column of numbers
/// (every cell starts with a digit, or is empty or `–`) is right-aligned, any other
/// left-aligned.
fn table(out: &mut String, title: &str, header: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### {title}\n");
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let align: Vec<&str> = (0..header.len())
        .map(|i| {
            let numeric = rows.iter().all(|r| {
                r.get(i).is_none_or(|c| {
                    c.is_empty() || c == "–" || c.starts_with(|c: char| c.is_ascii_digit())
                })
            });
            if numeric { "--:" } else { ":--" }
        })
        .collect();
    let _ = writeln!(out, "| {} |", align.join(" | "));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

/// A scenario's or tag's row; `describe` adds a scenario's tags and weight.
fn group_rows(groups: &[GroupJson], describe: bool) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            let mut row = vec![g.name.clone()];
            if describe {
                row.push(g.tags.join(", "));
                row.push(g.weight.map_or_else(String::new, |w| w.to_string()));
            }
            row.extend([
                thousands(g.requests),
                thousands(g.failed),
                latency(g.latency_ms.p50),
                latency(g.latency_ms.p90),
                latency(g.latency_ms.p99),
                latency(g.latency_ms.max),
            ]);
            row
        })
        .collect()
}

fn latency_row(name: &str, l: &Latency) -> Vec<String> {
    [
        l.min, l.p50, l.p75, l.p90, l.p95, l.p99, l.p99_9, l.max, l.mean,
    ]
    .into_iter()
    .map(latency)
    .fold(vec![name.to_owned()], |mut row, v| {
        row.push(v);
        row
    })
}

/// The Markdown text.
pub fn render(report: &Report) -> String {
    let r = &report.requests;
    let mut out = String::from("## kaioken results\n\n");
    let verdict = if report.outcome.exit_code == 0 && report.thresholds_passed() {
        "✅ passed"
    } else {
        "❌ failed"
    };
    let _ = writeln!(
        out,
        "**{verdict}** (exit code {}, stopped by {}) · `{} {}` over HTTP/{} · {} · {}s measured",
        report.outcome.exit_code,
        report.outcome.stop_reason,
        cell(&report.target.method),
        cell(&report.target.url),
        report.target.http_version,
        cell(&load_words(report)),
        num(report.elapsed_s, 2)
    );
    table(
        &mut out,
        "Requests",
        &[
            "Requests",
            "Responses",
            "Failed",
            "Failure rate",
            "Errors",
            "Unexpected status",
            "Req/s",
            "Received (B)",
            "Sent (B)",
        ],
        &[vec![
            thousands(r.total),
            thousands(r.responses),
            thousands(r.failed),
            percent(r.failure_rate),
            thousands(r.errors),
            thousands(r.unexpected_status),
            num(r.rps, 1),
            thousands(r.bytes_received),
            thousands(r.bytes_sent),
        ]],
    );
    let mut latency_rows = vec![latency_row("all requests", &report.latency_ms)];
    if report.load.latency_correction {
        latency_rows.push(latency_row("uncorrected", &report.latency_uncorrected_ms));
    }
    table(
        &mut out,
        "Latency",
        &[
            "", "min", "p50", "p75", "p90", "p95", "p99", "p99.9", "max", "mean",
        ],
        &latency_rows,
    );
    let status: Vec<Vec<String>> = report
        .status_codes
        .iter()
        .map(|(code, n)| vec![code.clone(), thousands(*n)])
        .collect();
    table(&mut out, "Status codes", &["Status", "Responses"], &status);
    let errors: Vec<Vec<String>> = report
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| {
            let first = report.error_details.get(kind).cloned().unwrap_or_default();
            vec![kind.clone(), thousands(*n), first]
        })
        .collect();
    table(
        &mut out,
        "Errors",
        &["Error", "Count", "First message"],
        &errors,
    );
    let checks: Vec<Vec<String>> = report
        .checks
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.step.clone().unwrap_or_else(|| "every step".to_owned()),
                format!("`{}`", c.expr),
                thousands(c.passes),
                thousands(c.fails),
                c.pass_rate.map_or_else(|| "–".to_owned(), percent),
            ]
        })
        .collect();
    table(
        &mut out,
        "Checks",
        &[
            "Check",
            "Step",
            "Expression",
            "Passes",
            "Fails",
            "Pass rate",
        ],
        &checks,
    );
    let thresholds: Vec<Vec<String>> = report
        .thresholds
        .iter()
        .map(|t| {
            let observed = crate::summary::observed(t).unwrap_or_else(|| "no data".to_owned());
            vec![
                t.scope.clone(),
                t.metric.to_string(),
                format!("`{}`", t.threshold),
                observed,
                if t.passed { "✅ pass" } else { "❌ fail" }.to_owned(),
            ]
        })
        .collect();
    table(
        &mut out,
        "Thresholds",
        &["Scope", "Metric", "Bound", "Observed", "Result"],
        &thresholds,
    );
    table(
        &mut out,
        "Scenarios",
        &[
            "Scenario", "Tags", "Weight", "Requests", "Failed", "p50", "p90", "p99", "max",
        ],
        &group_rows(&report.scenarios, true),
    );
    table(
        &mut out,
        "Tags",
        &["Tag", "Requests", "Failed", "p50", "p90", "p99", "max"],
        &group_rows(&report.tags, false),
    );
    for (title, t) in [
        ("Steps", super::steps_table(report)),
        ("Request anatomy", super::anatomy_table(report)),
        ("WebSocket", super::websocket_table(report)),
        ("gRPC", super::grpc_table(report)),
        ("Streaming outputs", super::outputs_table(report)),
        ("Scripts", super::scripts_table(report)),
    ] {
        table(&mut out, title, t.header, &t.rows);
    }
    if !report.warnings.is_empty() {
        out.push_str("\n### Warnings\n\n");
        for w in &report.warnings {
            let _ = writeln!(out, "- ⚠️ {}", cell(w));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{closed_report, messages_report, open_report};

    #[test]
    fn closed_model_markdown() {
        insta::assert_snapshot!(render(&closed_report()));
    }

    #[test]
    fn open_model_markdown() {
        insta::assert_snapshot!(render(&open_report()));
    }

    /// The WebSocket and gRPC sections, after the request anatomy.
    #[test]
    fn websocket_and_grpc_markdown() {
        insta::assert_snapshot!(render(&messages_report()));
    }

    /// The streaming outputs, each with its exports, failures and last error.
    #[test]
    fn streaming_outputs_markdown() {
        let mut report = closed_report();
        report.outputs = vec![crate::outputs::OutputJson {
            kind: "influxdb".into(),
            address: "http://127.0.0.1:8086/nope".into(),
            exports: 0,
            failed: 3,
            dropped: 0,
            last_error: Some("HTTP 404 Not Found: database not found".into()),
            spans_sent: None,
            spans_dropped: None,
        }];
        let text = render(&report);
        assert!(
            text.contains(
                "\n### Streaming outputs\n\n| Output | Address | Exports | Failed | Dropped | Last error |\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| influxdb | http://127.0.0.1:8086/nope | 0 | 3 | 0 | HTTP 404 Not Found: database not found |"
            ),
            "{text}"
        );
        assert!(!render(&closed_report()).contains("Streaming outputs"));
    }

    /// Every table row has as many cells as its header: `|` inside a cell is
    /// escaped, once; and `<` too, so that no name is HTML.
    #[test]
    fn tables_are_well_formed() {
        let mut report = closed_report();
        report.checks[0].expr = "body contains 'a|b'".to_owned();
        report.steps[0].name = "step | <img src=x onerror=alert(1)>".to_owned();
        report.steps[1].name = "`a < b` ` <b>".to_owned();
        let text = render(&report);
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        let mut width = None;
        for line in text.lines() {
            if line.starts_with('|') {
                let n = cells(line);
                assert_eq!(*width.get_or_insert(n), n, "{line}");
            } else {
                width = None;
            }
        }
        assert!(text.contains("a\\|b"));
        assert!(
            text.contains("| step \\| &lt;img src=x onerror=alert(1)> |"),
            "{text}"
        );
        assert!(text.contains("| `a < b` ` &lt;b> |"), "{text}");
        assert!(!text.contains("\\\\|") && !text.contains("<img"), "{text}");
    }
}
