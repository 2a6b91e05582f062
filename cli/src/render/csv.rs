//! The report as CSV (`-o run.csv`): one row per second of the timeline, then one
//! row per scenario when the run has several, then one per step when it has several,
//! under one header row. Layout in `docs/reports.md`.
//!
//! Rows of the timeline have `scope` `run` and their `second`; a scenario's row has
//! `scope` `scenario:NAME`, a step's `step:SCENARIO/NAME`, no `second`, and the
//! totals over the whole run. When a step speaks WebSocket or gRPC, the rows have
//! two more columns, [`MESSAGE_COLUMNS`], and a row for each section (`websocket`,
//! `grpc`) ends the file. An absent value (a latency in a second without responses) is an empty
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

/// Columns after [`COLUMNS`] when the run counted messages (a step speaks WebSocket
/// or gRPC): per second in the timeline's rows, in total in the sections' rows.
pub const MESSAGE_COLUMNS: [&str; 2] = ["messages_sent", "messages_received"];

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
    let messages =
        super::has_message_counts(report) || report.websocket.is_some() || report.grpc.is_some();
    // The message columns, when the run has them.
    let extra = |sent: Option<u64>, received: Option<u64>| {
        let field = |n: Option<u64>| n.map_or_else(String::new, |n| n.to_string());
        if messages {
            vec![field(sent), field(received)]
        } else {
            Vec::new()
        }
    };
    let header = COLUMNS
        .iter()
        .chain(if messages { &MESSAGE_COLUMNS[..] } else { &[] });
    row(
        &mut out,
        &header.map(|c| (*c).to_owned()).collect::<Vec<_>>(),
    );
    for s in &report.timeline {
        // A whole second's responses are its rate; a second cut short is not whole,
        // and a fragment of one has none.
        let rps = if report.second_length(s.second) < 1.0 {
            opt(report.second_rate(s.responses, s.second), 3)
        } else {
            s.responses.to_string()
        };
        row(
            &mut out,
            &[
                "run".to_owned(),
                s.second.to_string(),
                s.requests.to_string(),
                s.responses.to_string(),
                s.errors.to_string(),
                s.unexpected_status.to_string(),
                rps,
                opt(s.latency_p50_ms, 3),
                opt(s.latency_p90_ms, 3),
                opt(s.latency_p99_ms, 3),
                opt(s.latency_max_ms, 3),
                s.vus.to_string(),
                s.started.to_string(),
                s.dropped.to_string(),
                s.bytes_received.to_string(),
            ]
            .into_iter()
            .chain(extra(s.messages_sent, s.messages_received))
            .collect::<Vec<_>>(),
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
                ]
                .into_iter()
                .chain(extra(None, None))
                .collect::<Vec<_>>(),
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
    // The WebSocket and gRPC sections' totals: `requests` is gRPC's calls, the
    // latency WebSocket's round trips.
    let section = |out: &mut String,
                   scope: &str,
                   calls: Option<u64>,
                   l: Option<&Latency>,
                   bytes_received: u64,
                   sent: u64,
                   received: u64| {
        let ms = |v: fn(&Latency) -> Option<f64>| opt(l.and_then(v), 3);
        let mut fields = vec![
            scope.to_owned(),
            String::new(),
            calls.map_or_else(String::new, |n| n.to_string()),
        ];
        fields.extend(std::iter::repeat_n(String::new(), 4));
        fields.extend([ms(|l| l.p50), ms(|l| l.p90), ms(|l| l.p99), ms(|l| l.max)]);
        fields.extend(std::iter::repeat_n(String::new(), 3));
        fields.push(bytes_received.to_string());
        fields.extend(extra(Some(sent), Some(received)));
        row(out, &fields);
    };
    if let Some(ws) = &report.websocket {
        section(
            &mut out,
            "websocket",
            None,
            Some(&ws.rtt_ms),
            ws.bytes.received,
            ws.messages.sent,
            ws.messages.received,
        );
    }
    if let Some(g) = &report.grpc {
        section(
            &mut out,
            "grpc",
            Some(g.calls),
            None,
            g.bytes_received,
            g.messages_sent,
            g.messages_received,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{closed_report, messages_report, open_report};

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

    /// Message columns after the others, a row per section after the steps'.
    #[test]
    fn websocket_and_grpc_csv() {
        let text = render(&messages_report());
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        let width = COLUMNS.len() + MESSAGE_COLUMNS.len();
        assert!(lines.iter().all(|l| l.split(',').count() == width));
        insta::assert_snapshot!(text);
    }

    /// A whole second's rate is its responses; the last, cut short, is its
    /// responses over what it lasted, if that is a quarter of a second or more.
    #[test]
    fn the_last_second_is_a_rate_over_what_it_lasted() {
        let mut report = closed_report();
        let last = report.timeline.last().unwrap().second;
        report.elapsed_s = last as f64 + 0.25;
        let responses: Vec<u64> = report.timeline.iter().map(|s| s.responses).collect();
        let text = render(&report);
        let rps: Vec<&str> = text
            .split_terminator("\r\n")
            .filter(|l| l.starts_with("run,"))
            .map(|l| l.split(',').nth(6).unwrap())
            .collect();
        let mut expected: Vec<String> = responses.iter().map(u64::to_string).collect();
        *expected.last_mut().unwrap() = num(*responses.last().unwrap() as f64 * 4.0, 3);
        assert_eq!(rps, expected);

        // A fragment under a quarter of a second (the requests in flight at the
        // end) has no rate.
        report.elapsed_s = last as f64 + 0.003;
        let text = render(&report);
        let row = text
            .split_terminator("\r\n")
            .filter(|l| l.starts_with("run,"))
            .last()
            .unwrap();
        assert_eq!(row.split(',').nth(6), Some(""), "{row}");
        assert_eq!(report.second_rate(5, last), None);
        assert_eq!(report.second_rate(5, last - 1), Some(5.0));
    }

    #[test]
    fn fields_with_commas_and_quotes_are_quoted() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("plain"), "plain");
    }
}
