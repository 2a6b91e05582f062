//! The report as one self-contained HTML page (`-o run.html`): inline CSS and inline
//! SVG charts drawn here, no script and no URL to fetch, so that it renders offline
//! from a `file://` URL, on a laptop and on paper.
//!
//! Charts, each an `<svg class="chart">` with its own `id`: requests/s over time
//! with errors (`chart-rps`), latency p50/p90/p99 over time (`chart-latency`), the
//! latency percentile spectrum on a log scale like HdrHistogram's plotter, from the
//! report's full histogram (`chart-spectrum`), status codes over time
//! (`chart-status`), VUs, iterations started and dropped over time (`chart-vus`),
//! per-scenario latency (`chart-scenarios`), check pass rates (`chart-checks`) and
//! WebSocket or gRPC messages sent and received over time (`chart-messages`); then
//! thresholds, settings and the load model as tables, and the WebSocket and gRPC
//! sections when a step speaks them. A chart the run has no data for is left out.

use std::fmt::Write;

use hdrhistogram::Histogram;
use kaioken_tui::thousands;

use super::{num, percent};
use crate::report::Report;
use crate::summary::{latency, load_words, power_line};

/// Text made safe for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1d1d1f;background:#fff}
header{border-bottom:4px solid #e8590c;margin-bottom:1.5rem}
header h1{margin:.2rem 0;font-size:1.6rem}
header p{margin:.3rem 0 .8rem;color:#555}
.pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.5rem .9rem;min-width:8rem}
.card b{display:block;font-size:1.3rem}
.card span{color:#666;font-size:.85rem}
section{break-inside:avoid;page-break-inside:avoid;margin:1.5rem 0}
h2{font-size:1.15rem;border-bottom:1px solid #eee;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f6f6f6}
svg.chart{width:100%;height:auto;max-width:1000px;font-size:11px}
svg.chart text{fill:#444}
svg.chart .grid{stroke:#eee}
svg.chart .axis{stroke:#999}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
.warn{background:#fff4e6;border-left:4px solid #e8590c;padding:.4rem .8rem}
@media print{body{margin:0;max-width:none}header{border-color:#000}}
";

const PALETTE: [&str; 8] = [
    "#1c7ed6", "#e03131", "#f08c00", "#2f9e44", "#7048e8", "#0c8599", "#d6336c", "#5c940d",
];

const W: f64 = 960.0;
const H: f64 = 260.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 15.0;
const BOTTOM: f64 = 35.0;

/// One line of a chart: its name, colour and a value per x (`None`: a gap).
struct Series {
    name: String,
    color: &'static str,
    values: Vec<Option<f64>>,
}

/// A round step for about five grid lines up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    step * mag
}

fn legend(out: &mut String, series: &[Series]) {
    out.push_str("<div class=\"legend\">");
    for s in series {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span>",
            s.color,
            esc(&s.name)
        );
    }
    out.push_str("</div>");
}

/// The frame every plotted chart shares: its section, title and `<svg>` opened, and
/// its y axis from 0 to `top` — grid lines with their values, and `unit` along the
/// side. Returns where a value goes on the y axis.
fn open_plot(
    out: &mut String,
    id: &str,
    title: &str,
    unit: &str,
    top: f64,
) -> impl Fn(f64) -> f64 + use<> {
    let ph = H - TOP - BOTTOM;
    let y = move |v: f64| TOP + ph - v / top * ph;
    let _ = write!(
        out,
        "<section><h2>{}</h2><svg class=\"chart\" id=\"{id}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    let step = nice_step(top);
    let mut v = 0.0;
    while v <= top {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 5.0,
            y(v) + 4.0,
            num(v, 3),
            y = y(v)
        );
        v += step;
    }
    let _ = write!(
        out,
        "<text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{}</text>",
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(unit)
    );
    y
}

/// A line chart over the timeline's seconds; `unit` labels the y axis.
fn line_chart(out: &mut String, id: &str, title: &str, unit: &str, series: &[Series]) {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    if n == 0 {
        return;
    }
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |i: usize| {
        LEFT + if n > 1 {
            i as f64 * pw / (n - 1) as f64
        } else {
            pw / 2.0
        }
    };
    let y = open_plot(out, id, title, unit, top);
    let every = (n / 12).max(1);
    for i in (0..n).step_by(every) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{i}s</text>",
            x(i),
            H - BOTTOM + 15.0
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>",
        W - RIGHT,
        TOP + ph,
        TOP + ph
    );
    for s in series {
        // One polyline per run of values without a gap.
        let mut points = Vec::new();
        let flush = |out: &mut String, points: &mut Vec<String>| {
            if points.len() == 1 {
                let _ = write!(
                    out,
                    "<circle r=\"2.5\" fill=\"{}\" cx=\"{}\"/>",
                    s.color,
                    points[0].replace(',', "\" cy=\"")
                );
            } else if points.len() > 1 {
                let _ = write!(
                    out,
                    "<polyline class=\"series\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
                    s.color,
                    points.join(" "),
                    esc(&s.name)
                );
            }
            points.clear();
        };
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => points.push(format!("{:.1},{:.1}", x(i), y(*v))),
                None => flush(out, &mut points),
            }
        }
        flush(out, &mut points);
    }
    out.push_str("</svg>");
    legend(out, series);
    out.push_str("</section>\n");
}

/// Horizontal bars: one row per `(label, values)`, one bar per value, coloured as
/// `names`; `fmt` writes a value.
fn bar_chart(
    out: &mut String,
    id: &str,
    title: &str,
    names: &[&str],
    rows: &[(String, Vec<Option<f64>>)],
    fmt: &dyn Fn(f64) -> String,
) {
    if rows.is_empty() {
        return;
    }
    let max = rows
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let max = if max > 0.0 { max } else { 1.0 };
    let bar = 14.0;
    let row_h = bar * names.len() as f64 + 10.0;
    let label_w = 180.0;
    let h = TOP + row_h * rows.len() as f64 + 5.0;
    let pw = W - label_w - 100.0;
    let _ = write!(
        out,
        "<section><h2>{}</h2><svg class=\"chart\" id=\"{id}\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for (r, (label, values)) in rows.iter().enumerate() {
        let y0 = TOP + r as f64 * row_h;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y0 + row_h / 2.0,
            esc(label)
        );
        for (i, v) in values.iter().enumerate() {
            let y = y0 + i as f64 * bar;
            let width = v.map_or(0.0, |v| v / max * pw);
            let text = v.map_or_else(|| "–".to_owned(), fmt);
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{label_w}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{}\" fill=\"{}\"><title>{} {}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                bar - 2.0,
                PALETTE[i % PALETTE.len()],
                esc(names[i]),
                esc(&text),
                label_w + width + 4.0,
                y + bar - 4.0,
                esc(&text)
            );
        }
    }
    out.push_str("</svg>");
    if names.len() > 1 {
        let series: Vec<Series> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Series {
                name: (*n).to_owned(),
                color: PALETTE[i % PALETTE.len()],
                values: Vec::new(),
            })
            .collect();
        legend(out, &series);
    }
    out.push_str("</section>\n");
}

/// The report's whole-run histogram, if it has one that decodes.
fn histogram(report: &Report) -> Option<Histogram<u64>> {
    kaioken_report::hdr::decode(&report.histogram.data).filter(|h| !h.is_empty())
}

/// Latency by percentile, x on a log scale of `1 / (1 - q)` (0, 90, 99, 99.9, …),
/// as far as the run's count of requests resolves.
fn spectrum(out: &mut String, report: &Report) {
    let Some(h) = histogram(report) else {
        return;
    };
    // Nines: as many as the count resolves, at least 1, at most 6.
    let nines = (h.len() as f64).log10().ceil().clamp(1.0, 6.0);
    let steps = (nines * 20.0) as usize;
    let points: Vec<(f64, f64)> = (0..=steps)
        .map(|k| {
            let x = k as f64 / 20.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect();
    let max = points.iter().fold(0.0f64, |a, p| a.max(p.1)) * 1.1;
    let max = if max > 0.0 { max } else { 1.0 };
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |v: f64| LEFT + v / nines * pw;
    let y = open_plot(out, "chart-spectrum", "Latency by percentile", "ms", max);
    for k in 0..=nines as usize {
        let label = match k {
            0 => "0%".to_owned(),
            k => format!("{}%", num(100.0 - 100.0 * 10f64.powi(-(k as i32)), 4)),
        };
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{}\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            TOP + ph,
            H - BOTTOM + 15.0,
            x = x(k as f64)
        );
    }
    let line: Vec<String> = points
        .iter()
        .map(|&(px, py)| format!("{:.1},{:.1}", x(px), y(py)))
        .collect();
    let _ = write!(
        out,
        "<polyline class=\"series\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"><title>latency</title></polyline></svg>",
        PALETTE[0],
        line.join(" ")
    );
    out.push_str("</section>\n");
}

fn table(out: &mut String, title: &str, header: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(out, "<section><h2>{}</h2><table><tr>", esc(title));
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></section>\n");
}

/// The page.
pub fn render(report: &Report, serious: bool) -> String {
    let r = &report.requests;
    let t = &report.timeline;
    // A count in a second as a rate: over what the second lasted.
    let per_second = |n: u64, second: usize| report.second_rate(n, second);
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>kaioken report: {} {}</title><style>{CSS}</style></head><body>",
        esc(&report.target.method),
        esc(&report.target.url)
    );
    let heading = if serious {
        "kaioken results".to_owned()
    } else {
        power_line(report)
    };
    let verdict = if report.outcome.exit_code == 0 && report.thresholds_passed() {
        "<span class=\"pass\">passed</span>"
    } else {
        "<span class=\"fail\">failed</span>"
    };
    let _ = write!(
        out,
        "<header><h1>{}</h1><p>{} <code>{}</code> over HTTP/{} · {} · {}s measured, stopped by {} · {verdict} (exit code {})</p></header>",
        esc(&heading),
        esc(&report.target.method),
        esc(&report.target.url),
        esc(&report.target.http_version),
        esc(&load_words(report)),
        num(report.elapsed_s, 2),
        esc(&report.outcome.stop_reason),
        report.outcome.exit_code
    );
    out.push_str("<div class=\"cards\">");
    for (value, label) in [
        (thousands(r.total), "requests"),
        (num(r.rps, 1), "responses/s"),
        (thousands(r.failed), "failed"),
        (percent(r.failure_rate), "failure rate"),
        (latency(report.latency_ms.p50), "p50"),
        (latency(report.latency_ms.p99), "p99"),
        (latency(report.latency_ms.max), "max"),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b><span>{label}</span></div>",
            esc(&value)
        );
    }
    out.push_str("</div>\n");
    for w in &report.warnings {
        let _ = write!(out, "<p class=\"warn\">⚠ {}</p>", esc(w));
    }
    line_chart(
        &mut out,
        "chart-rps",
        "Requests per second",
        "per second",
        &[
            Series {
                name: "responses".into(),
                color: PALETTE[0],
                values: t
                    .iter()
                    .map(|s| per_second(s.responses, s.second))
                    .collect(),
            },
            Series {
                name: "errors".into(),
                color: PALETTE[1],
                values: t.iter().map(|s| per_second(s.errors, s.second)).collect(),
            },
            Series {
                name: "unexpected status".into(),
                color: PALETTE[2],
                values: t
                    .iter()
                    .map(|s| per_second(s.unexpected_status, s.second))
                    .collect(),
            },
        ],
    );
    if super::has_message_counts(report) {
        line_chart(
            &mut out,
            "chart-messages",
            "Messages per second",
            "per second",
            &[
                Series {
                    name: "sent".into(),
                    color: PALETTE[0],
                    values: t
                        .iter()
                        .map(|s| s.messages_sent.map(|n| n as f64))
                        .collect(),
                },
                Series {
                    name: "received".into(),
                    color: PALETTE[3],
                    values: t
                        .iter()
                        .map(|s| s.messages_received.map(|n| n as f64))
                        .collect(),
                },
            ],
        );
    }
    line_chart(
        &mut out,
        "chart-latency",
        "Latency over time",
        "ms",
        &[
            Series {
                name: "p50".into(),
                color: PALETTE[3],
                values: t.iter().map(|s| s.latency_p50_ms).collect(),
            },
            Series {
                name: "p90".into(),
                color: PALETTE[2],
                values: t.iter().map(|s| s.latency_p90_ms).collect(),
            },
            Series {
                name: "p99".into(),
                color: PALETTE[1],
                values: t.iter().map(|s| s.latency_p99_ms).collect(),
            },
        ],
    );
    spectrum(&mut out, report);
    let codes: Vec<&String> = report.status_codes.keys().collect();
    let status: Vec<Series> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| Series {
            name: (*code).clone(),
            color: PALETTE[i % PALETTE.len()],
            values: t
                .iter()
                .map(|s| Some(s.status.get(*code).copied().unwrap_or(0) as f64))
                .collect(),
        })
        .collect();
    if !status.is_empty() {
        line_chart(
            &mut out,
            "chart-status",
            "Status codes over time",
            "responses",
            &status,
        );
    }
    line_chart(
        &mut out,
        "chart-vus",
        "VUs and iterations",
        "count",
        &[
            Series {
                name: "VUs".into(),
                color: PALETTE[4],
                values: t.iter().map(|s| Some(s.vus as f64)).collect(),
            },
            Series {
                name: "iterations started".into(),
                color: PALETTE[5],
                values: t.iter().map(|s| Some(s.started as f64)).collect(),
            },
            Series {
                name: "iterations dropped".into(),
                color: PALETTE[1],
                values: t.iter().map(|s| Some(s.dropped as f64)).collect(),
            },
        ],
    );
    let scenarios: Vec<(String, Vec<Option<f64>>)> = report
        .scenarios
        .iter()
        .map(|g| {
            let l = &g.latency_ms;
            (g.name.clone(), vec![l.p50, l.p90, l.p99])
        })
        .collect();
    bar_chart(
        &mut out,
        "chart-scenarios",
        "Latency per scenario",
        &["p50", "p90", "p99"],
        &scenarios,
        &|v| latency(Some(v)),
    );
    let checks: Vec<(String, Vec<Option<f64>>)> = report
        .checks
        .iter()
        .map(|c| (c.name.clone(), vec![c.pass_rate.map(|p| p * 100.0)]))
        .collect();
    bar_chart(
        &mut out,
        "chart-checks",
        "Check pass rates",
        &["pass rate"],
        &checks,
        &|v| format!("{}%", num(v, 2)),
    );
    let thresholds: Vec<Vec<String>> = report
        .thresholds
        .iter()
        .map(|t| {
            let observed = crate::summary::observed(t).unwrap_or_else(|| "no data".to_owned());
            vec![
                esc(&t.scope),
                esc(&t.metric),
                esc(&t.threshold),
                esc(&observed),
                if t.passed {
                    "<span class=\"pass\">pass</span>"
                } else {
                    "<span class=\"fail\">fail</span>"
                }
                .to_owned(),
            ]
        })
        .collect();
    table(
        &mut out,
        "Thresholds",
        &["Scope", "Metric", "Bound", "Observed", "Result"],
        &thresholds,
    );
    let l = &report.latency_ms;
    table(
        &mut out,
        "Latency",
        &[
            "", "min", "p50", "p75", "p90", "p95", "p99", "p99.9", "max", "mean",
        ],
        &[[
            l.min, l.p50, l.p75, l.p90, l.p95, l.p99, l.p99_9, l.max, l.mean,
        ]
        .into_iter()
        .map(latency)
        .fold(vec!["all requests".to_owned()], |mut row, v| {
            row.push(esc(&v));
            row
        })],
    );
    let errors: Vec<Vec<String>> = report
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| {
            vec![
                esc(kind),
                thousands(*n),
                esc(report.error_details.get(kind).map_or("", String::as_str)),
            ]
        })
        .collect();
    table(
        &mut out,
        "Errors",
        &["Error", "Count", "First message"],
        &errors,
    );
    for (title, t) in [
        ("Steps", super::steps_table(report)),
        ("Request anatomy", super::anatomy_table(report)),
        ("WebSocket", super::websocket_table(report)),
        ("gRPC", super::grpc_table(report)),
        ("Streaming outputs", super::outputs_table(report)),
        ("Scripts", super::scripts_table(report)),
    ] {
        let rows: Vec<Vec<String>> = t
            .rows
            .iter()
            .map(|r| r.iter().map(|c| esc(c)).collect())
            .collect();
        table(&mut out, title, t.header, &rows);
    }
    let s = &report.settings;
    let ld = &report.load;
    let opt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| num(v, 3));
    let mut settings = vec![
        ("load model", ld.model.clone()),
        ("load", load_words(report)),
        ("VUs", ld.vus.to_string()),
        ("arrival rate (/s)", opt(ld.arrival_rate)),
        ("stages", ld.stages.len().to_string()),
        ("duration (s)", opt(ld.duration_s)),
        ("rate cap (/s)", opt(ld.rate)),
        ("ramp-up (s)", num(ld.ramp_up_s, 3)),
        ("warm-up (s)", num(ld.warmup_s, 3)),
        ("latency correction", ld.latency_correction.to_string()),
        ("engine", s.engine.clone()),
        ("timeout (s)", num(s.timeout_s, 3)),
        ("HTTP version", report.target.http_version.clone()),
        ("max error rate", percent(s.max_error_rate)),
        ("expected status", s.expected_status.clone()),
        ("cookie jar", s.cookie_jar.to_string()),
        ("max redirects", s.max_redirects.to_string()),
        ("kaioken", report.kaioken_version.clone()),
    ];
    if let Some(n) = ld.max_requests {
        settings.push(("max requests", n.to_string()));
    }
    let settings: Vec<Vec<String>> = settings
        .into_iter()
        .map(|(k, v)| vec![esc(k), esc(&v)])
        .collect();
    table(
        &mut out,
        "Settings and load model",
        &["Setting", "Value"],
        &settings,
    );
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{closed_report, messages_report, open_report};

    /// Every chart the closed fixture has data for, and no URL but the target's.
    #[test]
    fn closed_report_has_its_charts_and_no_external_url() {
        let report = closed_report();
        let page = render(&report, false);
        for id in [
            "chart-rps",
            "chart-latency",
            "chart-spectrum",
            "chart-status",
            "chart-vus",
            "chart-scenarios",
            "chart-checks",
        ] {
            assert_eq!(page.matches(&format!("id=\"{id}\"")).count(), 1, "{id}");
        }
        // The only URLs are the run's own targets, as text.
        let without_target = report
            .steps
            .iter()
            .fold(page.replace(&report.target.url, ""), |page, s| {
                page.replace(&esc(&s.url), "")
            });
        assert!(!without_target.contains("http://") && !without_target.contains("https://"));
        assert!(page.contains("⚡ Power level"));
        assert!(!render(&report, true).contains("Power level"));
        // Four thresholds of six fail in the fixture.
        assert_eq!(report.thresholds.iter().filter(|t| !t.passed).count(), 4);
        assert_eq!(page.matches("<span class=\"fail\">fail</span>").count(), 4);
        assert_eq!(page.matches("<span class=\"pass\">pass</span>").count(), 2);
    }

    /// No scenarios, no checks: those charts are left out, not drawn empty.
    #[test]
    fn open_report_leaves_out_what_it_has_not() {
        let page = render(&open_report(), true);
        assert!(page.contains("id=\"chart-spectrum\""));
        assert!(!page.contains("id=\"chart-scenarios\""));
        assert!(!page.contains("id=\"chart-checks\""));
        assert!(!page.contains("id=\"chart-messages\""));
        assert!(!page.contains("<h2>WebSocket</h2>"));
    }

    /// The messages/s chart and the WebSocket and gRPC tables, as drawn.
    #[test]
    fn websocket_and_grpc_html() {
        let page = render(&messages_report(), true);
        let start = page.find("<section><h2>Messages per second").unwrap();
        let chart = &page[start..];
        let chart = &chart[..chart.find("</section>").unwrap()];
        let start = page.find("<section><h2>WebSocket").unwrap();
        let end = page.find("<section><h2>Settings").unwrap();
        insta::assert_snapshot!(format!("{chart}</section>\n{}", &page[start..end]));
    }

    #[test]
    fn text_is_escaped() {
        let mut report = closed_report();
        report.checks[0].name = "<script>".into();
        let page = render(&report, true);
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
    }
}
