//! The report's other formats: CSV, Markdown and HTML, each rendered from a
//! [`Report`], the one source of truth, whether just measured (`kaioken … -o
//! run.html`) or read back from a saved JSON report (`kaioken report run.json -o
//! run.html`).
//!
//! ```text
//!  runtime ─► RunStats ─► Report ─┬─► JSON (serde)        ─┐
//!          saved run.json ─serde─►┘─► csv · md · html      ├─► -o FILE… / stdout
//!                                   └─► summary (terminal) ─┘
//! ```
//!
//! Each output file's format follows its extension ([`Format::of_path`]), or
//! `--format` when it has none that is known.

pub mod csv;
pub mod html;
pub mod md;

use std::path::Path;

use crate::error::Error;
use crate::report::Report;

/// A file format kaioken writes a report in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
    Md,
    Html,
}

/// The formats, as the command line spells them, for error messages.
pub const FORMATS: &str = "json, csv, md, html";

impl Format {
    /// The format as `--format` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Md => "md",
            Format::Html => "html",
        }
    }

    /// The format a file name's extension names (`.json`, `.csv`, `.md` or
    /// `.markdown`, `.html` or `.htm`; any case), if any.
    pub fn of_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "md" | "markdown" => Some(Format::Md),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }

    /// The format `path` is written in: its extension's, else `fallback` (the
    /// `--format` flag), else an error that lists the formats.
    pub fn of_path(path: &Path, fallback: Option<Format>) -> Result<Format, Error> {
        Format::of_extension(path).or(fallback).ok_or_else(|| {
            Error::Setup(format!(
                "cannot tell the format of `{}` from its name: the formats are {FORMATS}; end the name in .json, .csv, .md or .html, or give --format",
                path.display()
            ))
        })
    }
}

/// `report` in `format`; `serious` drops the flavour (HTML's header).
pub fn render(report: &Report, format: Format, serious: bool) -> Result<String, Error> {
    Ok(match format {
        Format::Json => {
            let json = serde_json::to_string_pretty(report)
                .map_err(|e| Error::Internal(format!("cannot write the JSON report: {e}")))?;
            format!("{json}\n")
        }
        Format::Csv => csv::render(report),
        Format::Md => md::render(report),
        Format::Html => html::render(report, serious),
    })
}

/// A number as a report table writes it: up to `decimals` places, no trailing zeros.
pub(crate) fn num(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A table of plain text (each renderer escapes its cells): a header and its rows.
pub(crate) struct Table {
    pub header: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// Per-step results, with two steps or more (one step's are the run's).
pub(crate) fn steps_table(report: &Report) -> Table {
    let ms = |v: Option<f64>| crate::summary::latency(v);
    let rows = if report.steps.len() < 2 {
        Vec::new()
    } else {
        report
            .steps
            .iter()
            .map(|s| {
                let classes: Vec<String> = s
                    .status_codes
                    .iter()
                    .map(|(class, n)| format!("{class} {}", kaioken_tui::thousands(*n)))
                    .collect();
                vec![
                    s.name.clone(),
                    s.scenario.clone(),
                    format!("{} {}", s.method, s.url),
                    kaioken_tui::thousands(s.requests),
                    kaioken_tui::thousands(s.failed),
                    ms(s.latency_ms.p50),
                    ms(s.latency_ms.p95),
                    ms(s.latency_ms.p99),
                    classes.join(" · "),
                ]
            })
            .collect()
    };
    Table {
        header: &[
            "Step", "Scenario", "Request", "Requests", "Failed", "p50", "p95", "p99", "Statuses",
        ],
        rows,
    }
}

/// The request anatomy: each phase that happened, with how many requests went
/// through it; then the connections, as one more row.
pub(crate) fn anatomy_table(report: &Report) -> Table {
    let p = &report.phases_ms;
    let ms = |v: Option<f64>| crate::summary::latency(v);
    let mut rows: Vec<Vec<String>> = [
        ("DNS lookup", &p.dns),
        ("TCP connect", &p.connect),
        ("TLS handshake", &p.tls),
        ("waiting (time to first byte)", &p.waiting),
        ("receiving", &p.receiving),
    ]
    .into_iter()
    .filter(|(_, phase)| phase.count > 0)
    .map(|(name, phase)| {
        vec![
            name.to_owned(),
            kaioken_tui::thousands(phase.count),
            ms(phase.latency.p50),
            ms(phase.latency.p90),
            ms(phase.latency.p99),
            ms(phase.latency.max),
        ]
    })
    .collect();
    let c = &report.connections;
    if !rows.is_empty() {
        rows.push(vec![
            format!(
                "connections: {} opened, {} requests reused one, {} closed by the server",
                kaioken_tui::thousands(c.opened),
                kaioken_tui::thousands(c.reused),
                kaioken_tui::thousands(c.closed_by_server)
            ),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    Table {
        header: &["Phase", "Requests", "p50", "p90", "p99", "max"],
        rows,
    }
}

/// Whether the timeline counts messages (a step speaks WebSocket or gRPC).
pub(crate) fn has_message_counts(report: &Report) -> bool {
    report
        .timeline
        .iter()
        .any(|s| s.messages_sent.is_some() || s.messages_received.is_some())
}

/// A section's row: what it counts, the count, and its p50/p90/p99/max when it is
/// a time (in the summary's wording).
fn section_row(what: &str, count: String, l: Option<&crate::report::Latency>) -> Vec<String> {
    let ms = |v: Option<f64>| crate::summary::latency(v);
    let mut row = vec![what.to_owned(), count];
    match l {
        Some(l) => row.extend([ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max)]),
        None => row.extend(std::iter::repeat_n(String::new(), 4)),
    }
    row
}

/// The WebSocket section, when a step speaks WebSocket: sessions (upgraded
/// connections; the anatomy counts the TCP connections, those whose upgrade failed
/// too), handshake and round-trip times, messages each way with their rates, bytes
/// and close codes.
pub(crate) fn websocket_table(report: &Report) -> Table {
    use crate::summary::with_rate;
    let t = kaioken_tui::thousands;
    let rows = report.websocket.as_ref().map_or_else(Vec::new, |ws| {
        let c = &ws.connections;
        let m = &ws.messages;
        let mut rows = vec![
            section_row("sessions opened", t(c.opened), None),
            section_row("sessions that failed to open", t(c.failed), None),
            section_row("sessions closed by the server", t(c.closed_by_peer), None),
            section_row("handshake", String::new(), Some(&ws.handshake_ms)),
            section_row("round trip", String::new(), Some(&ws.rtt_ms)),
            section_row("messages sent", with_rate(m.sent, m.sent_per_s), None),
            section_row(
                "messages received",
                with_rate(m.received, m.received_per_s),
                None,
            ),
            section_row("bytes sent", t(ws.bytes.sent), None),
            section_row("bytes received", t(ws.bytes.received), None),
        ];
        rows.extend(
            ws.close_codes
                .iter()
                .map(|(code, n)| section_row(&format!("close code {code}"), t(*n), None)),
        );
        rows
    });
    Table {
        header: &["WebSocket", "Count", "p50", "p90", "p99", "max"],
        rows,
    }
}

/// The gRPC section, when a step makes gRPC calls: calls by status name, messages,
/// bytes, connections and their set-up time, and server streams when there were any.
pub(crate) fn grpc_table(report: &Report) -> Table {
    let t = kaioken_tui::thousands;
    let rows = report.grpc.as_ref().map_or_else(Vec::new, |g| {
        let mut rows = vec![section_row("calls", t(g.calls), None)];
        rows.extend(
            g.statuses
                .iter()
                .map(|(name, n)| section_row(&format!("status {name}"), t(*n), None)),
        );
        rows.extend([
            section_row("messages sent", t(g.messages_sent), None),
            section_row("messages received", t(g.messages_received), None),
            section_row("bytes sent", t(g.bytes_sent), None),
            section_row("bytes received", t(g.bytes_received), None),
            section_row("connections opened", t(g.connections_opened), None),
            section_row("connections failed", t(g.connections_failed), None),
            section_row(
                "connections closed by the server",
                t(g.connections_closed_by_server),
                None,
            ),
            section_row("connect", String::new(), Some(&g.connect_ms)),
        ]);
        let st = &g.streams;
        if st.count > 0 {
            let (mean, max) = crate::summary::stream_messages(st);
            rows.extend([
                section_row("streams", t(st.count), None),
                section_row("messages/stream mean", mean, None),
                section_row("messages/stream max", max, None),
                section_row("first message", String::new(), Some(&st.first_message_ms)),
            ]);
        }
        rows
    });
    Table {
        header: &["gRPC", "Count", "p50", "p90", "p99", "max"],
        rows,
    }
}

/// The streaming outputs (`-o KIND=ADDRESS`) and how each fared, when the run had any.
pub(crate) fn outputs_table(report: &Report) -> Table {
    let t = kaioken_tui::thousands;
    Table {
        header: &[
            "Output",
            "Address",
            "Exports",
            "Failed",
            "Dropped",
            "Last error",
        ],
        rows: report
            .outputs
            .iter()
            .map(|o| {
                vec![
                    o.kind.clone(),
                    o.address.clone(),
                    t(o.exports),
                    t(o.failed),
                    t(o.dropped),
                    o.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    }
}

/// What each `[scripts]` function did, when the scenario has any: its most frequent
/// message beside the counts.
pub(crate) fn scripts_table(report: &Report) -> Table {
    let t = kaioken_tui::thousands;
    Table {
        header: &[
            "Script",
            "Role",
            "Calls",
            "Failed",
            "Errors",
            "Over budget",
            "Most frequent message",
        ],
        rows: report
            .scripts
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.role.clone(),
                    t(s.calls),
                    t(s.failed),
                    t(s.errors),
                    t(s.over_budget),
                    s.messages
                        .first()
                        .map_or(String::new(), |m| format!("{} ({}×)", m.text, t(m.count))),
                ]
            })
            .collect(),
    }
}

/// A ratio as a report table writes it: `12.5%`.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{}%", num(ratio * 100.0, 2))
}

/// An optional number; empty when absent (CSV), as `num` otherwise.
pub(crate) fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(String::new, |v| num(v, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension_then_the_flag() {
        let of = |p: &str, f| Format::of_path(Path::new(p), f).map_err(|e| e.to_string());
        assert_eq!(of("run.json", None), Ok(Format::Json));
        assert_eq!(of("out/RUN.HTML", None), Ok(Format::Html));
        assert_eq!(of("a.markdown", Some(Format::Csv)), Ok(Format::Md));
        assert_eq!(of("report", Some(Format::Csv)), Ok(Format::Csv));
        assert_eq!(
            of("report.txt", None),
            Err("cannot tell the format of `report.txt` from its name: the formats are json, csv, md, html; end the name in .json, .csv, .md or .html, or give --format".to_owned())
        );
    }

    #[test]
    fn numbers_lose_trailing_zeros() {
        assert_eq!(num(1.5, 3), "1.5");
        assert_eq!(num(2.0, 3), "2");
        assert_eq!(num(0.1234, 3), "0.123");
        assert_eq!(opt(None, 2), "");
    }
}
