//! The end-of-run summary on stdout.

use std::fmt::Write;
use std::iter::once;

use hdrhistogram::Histogram;
use kaioken_tui::thousands;

use crate::report::Report;

/// A latency in ms as the summary writes it; `–` when nothing was measured.
pub(crate) fn latency(ms: Option<f64>) -> String {
    let Some(ms) = ms else {
        return "–".to_owned();
    };
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.2}ms")
    }
}

/// A power-level line for the flavourful summary, from the rate of responses (failed
/// requests are no power at all). A run whose failures are over the limit gets no
/// cheer: it says how many failed instead.
pub(crate) fn power_line(report: &Report) -> String {
    let r = &report.requests;
    if r.total == 0 && report.empty_part().is_some() {
        // Its warning says why; the target answered the other instances.
        return "⚡ Power level: 0 — this segment had nothing to send: its part of the load is none"
            .to_owned();
    }
    if r.total == 0 && r.warmup_requests > 0 {
        return if report.outcome.interrupted {
            "⚡ Power level: 0 — interrupted during the warm-up: nothing was measured"
        } else {
            "⚡ Power level: 0 — nothing measured: every request finished in the warm-up"
        }
        .to_owned();
    }
    if r.total == 0 && report.outcome.interrupted {
        return "⚡ Power level: 0 — interrupted before any request finished".to_owned();
    }
    if r.rps == 0.0 {
        // Not "did not answer" when it answered, with what no request could take.
        return match report.errors.iter().max_by_key(|&(_, n)| *n) {
            Some((class, _)) if r.errors > 0 => {
                format!(
                    "⚡ Power level: 0 — no response: every request failed, most with `{class}`"
                )
            }
            _ => "⚡ Power level: 0 — the target did not answer".to_owned(),
        };
    }
    let level = thousands(r.rps.round() as u64);
    if report.too_many_failed() {
        return format!(
            "⚡ Power level: {level} req/s — but {:.2}% of requests failed",
            r.failure_rate * 100.0
        );
    }
    let shout = match r.rps {
        r if r > 100_000.0 => "  — this isn't even my final form!",
        r if r > 9_000.0 => "  — IT'S OVER 9000!",
        r if r > 1_000.0 => "  — kaioken x10!",
        _ => "",
    };
    format!("⚡ Power level: {level} req/s{shout}")
}

/// Write `rows` one a line in the summary's two columns: `label` in the 12-wide
/// left column of the first line, blank on the others.
///
/// ```text
///   Scenarios   browse  6 requests, 0 failed  p50 0.34ms  p99 2.70ms
///               order  3 requests, 1 failed  p50 1.20ms  p99 45.0ms
/// ```
fn rows(out: &mut String, label: &str, rows: impl IntoIterator<Item = String>) {
    let mut label = label;
    for row in rows {
        let _ = writeln!(out, "  {label:<12}{row}");
        label = "";
    }
}

/// One line per step, when there are several: its requests, failures, median and
/// tail latency and statuses by class.
///
/// ```text
///   Steps       login  3 requests, 0 failed  p50 0.34ms  p99 2.70ms  2xx 3
///               items  3 requests, 1 failed  p50 1.20ms  p99 45.0ms  2xx 2, 5xx 1
/// ```
/// One row per `[scripts]` function: its calls, what failed, and its most frequent
/// message (the rest are in the JSON report).
fn scripts(out: &mut String, report: &Report) {
    let rows_ = report.scripts.iter().map(|s| {
        let mut row = format!(
            "{} {} ({})  {} call{}",
            mark(s.errors == 0 && s.failed == 0),
            s.name,
            s.role,
            thousands(s.calls),
            if s.calls == 1 { "" } else { "s" }
        );
        if s.failed > 0 {
            let _ = write!(row, ", {} failed", thousands(s.failed));
        }
        if s.errors > 0 {
            let _ = write!(row, ", {} errors", thousands(s.errors));
        }
        if s.over_budget > 0 {
            let _ = write!(row, " ({} over budget)", thousands(s.over_budget));
        }
        if let Some(m) = s.messages.first() {
            let _ = write!(row, "  \"{}\" ×{}", m.text, thousands(m.count));
        }
        row
    });
    rows(out, "Scripts", rows_);
}

fn steps(out: &mut String, report: &Report) {
    if report.steps.len() < 2 {
        return;
    }
    // Steps of different scenarios may share a name: the scenario tells them apart.
    let several_scenarios = !report.scenarios.is_empty();
    let lines = report.steps.iter().map(|s| {
        let scenario = if several_scenarios {
            format!("{}/", s.scenario)
        } else {
            String::new()
        };
        let statuses: Vec<String> = s
            .status_codes
            .iter()
            .map(|(class, n)| format!("{class} {}", thousands(*n)))
            .collect();
        format!(
            "{scenario}{}  {} requests, {} failed  p50 {}  p99 {}  {}",
            s.name,
            thousands(s.requests),
            thousands(s.failed),
            latency(s.latency_ms.p50),
            latency(s.latency_ms.p99),
            statuses.join(", ")
        )
        .trim_end()
        .to_owned()
    });
    rows(out, "Steps", lines);
}

/// The request anatomy: each phase that happened, at its median, then how the
/// connections were used. Nothing when no request reached a connection.
///
/// ```text
///   Anatomy     p50  connect 0.10ms · tls 2.31ms · waiting 0.40ms · receiving 0.02ms
///               12 connections opened · 9,988 requests reused one · 0 closed by the server
/// ```
fn anatomy(out: &mut String, report: &Report) {
    let c = &report.connections;
    if c.opened + c.reused == 0 {
        return;
    }
    let p = &report.phases_ms;
    let phases: Vec<String> = [
        ("dns", &p.dns),
        ("connect", &p.connect),
        ("tls", &p.tls),
        ("waiting", &p.waiting),
        ("receiving", &p.receiving),
    ]
    .into_iter()
    .filter(|(_, phase)| phase.count > 0)
    .map(|(name, phase)| format!("{name} {}", latency(phase.latency.p50)))
    .collect();
    let mut connections = format!(
        "{} opened · {} reused one · {} closed by the server",
        counted(c.opened, "connection", "connections"),
        counted(c.reused, "request", "requests"),
        thousands(c.closed_by_server)
    );
    if c.out_of_sync > 0 {
        // Rare, and a fault of the server's worth seeing: bytes no request asked for.
        connections.push_str(&format!(
            " · {} closed on bytes no request asked for",
            thousands(c.out_of_sync)
        ));
    }
    rows(
        out,
        "Anatomy",
        [format!("p50  {}", phases.join(" · ")), connections],
    );
}

/// `n` with its noun, `one` when `n` is 1, else `many`: `1 connection`, `1,024
/// connections`.
pub(crate) fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// The WebSocket section, when a step speaks WebSocket: connections, handshake
/// time, messages each way with their rates, round trips and close codes.
///
/// ```text
///   WebSocket   10 sessions opened · 0 failed to open · 0 closed by the server
///               handshake p50 0.41ms  p99 1.20ms
///               sent 9,990 (999.0/s) · received 9,990 (999.0/s) · 0.2 MiB out, 0.2 MiB in
///               round trip p50 0.35ms  p90 0.52ms  p99 1.10ms
///               close codes 1000 ×9,990
/// ```
fn websocket(out: &mut String, report: &Report) {
    let Some(ws) = &report.websocket else {
        return;
    };
    let c = &ws.connections;
    let m = &ws.messages;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let codes: Vec<String> = ws
        .close_codes
        .iter()
        .map(|(code, n)| format!("{code} ×{}", thousands(*n)))
        .collect();
    let mut lines = vec![
        // Sessions: the anatomy counts the TCP connections, those whose upgrade
        // failed too.
        format!(
            "{} opened · {} failed to open · {} closed by the server",
            counted(c.opened, "session", "sessions"),
            thousands(c.failed),
            thousands(c.closed_by_peer)
        ),
        format!(
            "handshake p50 {}  p99 {}",
            latency(ws.handshake_ms.p50),
            latency(ws.handshake_ms.p99)
        ),
        format!(
            "sent {} · received {} · {:.1} MiB out, {:.1} MiB in",
            with_rate(m.sent, m.sent_per_s),
            with_rate(m.received, m.received_per_s),
            mib(ws.bytes.sent),
            mib(ws.bytes.received)
        ),
        format!(
            "round trip p50 {}  p90 {}  p99 {}",
            latency(ws.rtt_ms.p50),
            latency(ws.rtt_ms.p90),
            latency(ws.rtt_ms.p99)
        ),
    ];
    if !codes.is_empty() {
        lines.push(format!("close codes {}", codes.join("  ")));
    }
    rows(out, "WebSocket", lines);
}

/// A count with its rate: `9,990 (999.0/s)`.
pub(crate) fn with_rate(n: u64, per_s: f64) -> String {
    format!("{} ({per_s:.1}/s)", thousands(n))
}

/// Messages per server stream that had any, mean and max (`–` when none had).
pub(crate) fn stream_messages(st: &crate::report::StreamsJson) -> (String, String) {
    (
        st.messages_mean
            .map_or("–".to_owned(), |m| format!("{m:.1}")),
        st.messages_max.map_or("–".to_owned(), |m| m.to_string()),
    )
}

/// `✓` for a check, extractor or threshold that never failed, `✗` otherwise.
fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// How the summary is drawn.
pub struct Options<'a> {
    /// Plain wording, without the power levels.
    pub serious: bool,
    /// The latency percentiles to show (`99.9`), in order.
    pub percentiles: &'a [f64],
}

/// `p99.9` for 99.9, `p50` for 50.
fn percentile_label(p: f64) -> String {
    format!("p{}", p)
}

/// The latency percentiles of `options`, exact from the report's histogram; without
/// one (it did not decode), the report's own fields for the ones it has.
fn percentiles(report: &Report, histogram: Option<&Histogram<u64>>, wanted: &[f64]) -> String {
    let l = &report.latency_ms;
    let field = |p: f64| match p {
        50.0 => l.p50,
        75.0 => l.p75,
        90.0 => l.p90,
        95.0 => l.p95,
        99.0 => l.p99,
        99.9 => l.p99_9,
        100.0 => l.max,
        _ => None,
    };
    let values: Vec<String> = wanted
        .iter()
        .map(|&p| {
            let ms = match histogram {
                Some(h) if !h.is_empty() => Some(h.value_at_quantile(p / 100.0) as f64 / 1000.0),
                Some(_) => None,
                None => field(p),
            };
            format!("{} {}", percentile_label(p), latency(ms))
        })
        .collect();
    // Six to a line.
    values
        .chunks(6)
        .map(|c| c.join("  "))
        .collect::<Vec<_>>()
        .join("\n              ")
}

/// The bars of the latency histogram: at most this many characters.
const BAR_WIDTH: u64 = 30;
/// Its rows: buckets spaced evenly on a log scale from the fastest response to the
/// slowest.
const BUCKETS: usize = 10;

/// A compact latency histogram, like oha's and `vegeta report -type=hist`: how many
/// responses took at most each bound. Empty with fewer than two distinct latencies.
fn histogram_rows(h: &Histogram<u64>) -> Vec<String> {
    let (low, high) = (h.min().max(1), h.max());
    if h.len() < 2 || high <= low {
        return Vec::new();
    }
    let ratio = (high as f64 / low as f64).powf(1.0 / BUCKETS as f64);
    let mut bounds: Vec<u64> = (1..=BUCKETS)
        .map(|i| (low as f64 * ratio.powi(i as i32)).round() as u64)
        .collect();
    bounds[BUCKETS - 1] = high;
    bounds.dedup();
    let mut counts = Vec::with_capacity(bounds.len());
    let mut below = 0;
    for &bound in &bounds {
        let upto = h.count_between(0, bound);
        counts.push(upto.saturating_sub(below));
        below = upto.max(below);
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1);
    let width = counts
        .iter()
        .map(|&c| thousands(c).len())
        .max()
        .unwrap_or(1);
    let labels = bound_labels(&bounds);
    labels
        .iter()
        .zip(&counts)
        .map(|(label, &n)| {
            let bar = (n * BAR_WIDTH).div_ceil(most) as usize;
            format!("≤ {label:>8} {:>width$} {}", thousands(n), "■".repeat(bar))
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// The histogram's bounds (µs, increasing, distinct) as the summary writes
/// latencies, each with as many more decimals as it needs to read apart from its
/// neighbours: 15µs and 24µs are both `0.02ms`, so they are `0.015ms` and
/// `0.024ms`, while the others keep their usual spelling. Six decimals of a second
/// are whole µs, so any two bounds read apart with at most four more.
fn bound_labels(bounds: &[u64]) -> Vec<String> {
    let label = |us: u64, extra: usize| {
        let ms = us as f64 / 1000.0;
        if ms >= 1000.0 {
            format!("{:.*}s", 2 + extra, ms / 1000.0)
        } else if ms >= 10.0 {
            format!("{ms:.*}ms", 1 + extra)
        } else {
            format!("{ms:.*}ms", 2 + extra)
        }
    };
    (0..bounds.len())
        .map(|i| {
            let neighbours = [i.checked_sub(1), Some(i + 1)]
                .into_iter()
                .flatten()
                .filter_map(|j| bounds.get(j).copied());
            let neighbours: Vec<u64> = neighbours.collect();
            let extra = (0..4)
                .find(|&e| {
                    neighbours
                        .iter()
                        .all(|&n| label(n, e) != label(bounds[i], e))
                })
                .unwrap_or(4);
            label(bounds[i], extra)
        })
        .collect()
}

/// The load plan in words, as the summary's `Load` line and the other formats say it:
/// `20 VUs for 10s, rate cap 500/s, after a 1s warm-up`.
pub(crate) fn load_words(report: &Report) -> String {
    let vus = match report.load.vus {
        1 => "1 VU".to_owned(),
        n => format!("{n} VUs"),
    };
    let mut load = match report.load.arrival_rate {
        Some(_) if !report.load.stages.is_empty() => {
            format!(
                "{} stages of arrival rate on up to {vus}",
                report.load.stages.len(),
            )
        }
        Some(rate) => format!("{rate} iterations/s on up to {vus}"),
        None if !report.load.stages.is_empty() => {
            format!("up to {vus} in {} stages", report.load.stages.len())
        }
        None => vus,
    };
    if let Some(d) = report.load.duration_s {
        let _ = write!(load, " for {d}s");
    }
    if let Some(n) = report.load.max_requests {
        let _ = write!(load, ", at most {} requests", thousands(n));
    }
    if let Some(rate) = report.load.rate {
        let _ = write!(load, ", rate cap {rate}/s");
    }
    if report.load.warmup_s > 0.0 {
        let _ = write!(load, ", after a {}s warm-up", report.load.warmup_s);
    }
    load
}

/// A threshold's observed value in its unit, as every printer writes it (`4.20ms`,
/// `0.50%`, `1,200`, `99.5 req/s`); `None` when nothing was measured.
pub(crate) fn observed(v: &kaioken_compiler::Verdict) -> Option<String> {
    let x = v.observed?;
    Some(match &*v.unit {
        "ms" => latency(Some(x)),
        "ratio" => format!("{:.2}%", x * 100.0),
        "iterations" => thousands(x as u64),
        unit => format!("{x:.1} {unit}"),
    })
}

/// Render the summary.
pub fn render(report: &Report, options: &Options<'_>) -> String {
    let serious = options.serious;
    let histogram = kaioken_report::hdr::decode(&report.histogram.data);
    let r = &report.requests;
    let l = &report.latency_ms;
    let mut out = String::new();
    let _ = if serious {
        writeln!(out, "kaioken results")
    } else {
        // The same throughput as everywhere: `requests.rps`, responses per second.
        writeln!(out, "{}", power_line(report))
    };
    let _ = writeln!(out);
    let _ = if report.target.url.starts_with("ws") {
        // A WebSocket target: its messages have no method, its handshake is HTTP/1.1.
        writeln!(out, "  Target      {}  (WebSocket)", report.target.url)
    } else {
        writeln!(
            out,
            "  Target      {} {}  (HTTP/{})",
            report.target.method, report.target.url, report.target.http_version
        )
    };
    let load = load_words(report);
    let _ = writeln!(out, "  Load        {load}");
    if !report.merged_from.is_empty() {
        let _ = writeln!(
            out,
            "  Merged      {} reports: {}",
            report.merged_from.len(),
            report.merged_from.join(", ")
        );
    }
    if let Some(segment) = report
        .segment
        .as_ref()
        .filter(|s| report.merged_from.is_empty() || !s.is_whole())
    {
        // One part of a split run, or a partial merge of some: the load above is
        // the whole run's.
        let _ = writeln!(
            out,
            "  Segment     {} of {}",
            segment.measured(),
            segment.sequence.join(",")
        );
    }
    let _ = writeln!(
        out,
        "  Elapsed     {:.2}s  ({})",
        report.elapsed_s,
        match report.outcome.stop_reason.as_str() {
            "duration" => "duration reached",
            "max_requests" => "request limit reached",
            "interrupted" => "interrupted",
            "data_exhausted" => "a sequential data source ran out of rows",
            other => other,
        }
    );
    let _ = writeln!(
        out,
        "  Requests    {} total · {} responses · {} failed ({:.2}%)",
        thousands(r.total),
        thousands(r.responses),
        thousands(r.failed),
        r.failure_rate * 100.0
    );
    if r.failed > 0 {
        let _ = writeln!(
            out,
            "              {} without a response · {} with a status outside {}",
            thousands(r.errors),
            thousands(r.unexpected_status),
            report.settings.expected_status
        );
    }
    let mib_in =
        r.bytes_received as f64 / (1024.0 * 1024.0) / report.elapsed_s.max(f64::MIN_POSITIVE);
    let _ = writeln!(
        out,
        "  Throughput  {:.1} req/s · {mib_in:.2} MiB/s received",
        r.rps
    );
    if r.decoded > 0 {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let partial = if r.decoded_partial > 0 {
            format!(" ({} not whole)", thousands(r.decoded_partial))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  Compressed  {} bodies decoded{partial} to {:.2} MiB · {:.2} MiB received in all",
            thousands(r.decoded),
            mib(r.bytes_decoded),
            mib(r.bytes_received)
        );
    }
    if report.load.model == "arrival_rate" {
        let it = &report.iterations;
        let lag = &report.schedule_lag_ms;
        let _ = writeln!(
            out,
            "  Iterations  {} started at {:.1}/s (target {:.1}/s) · {} dropped · {} VUs at most",
            thousands(it.started),
            it.achieved_rate,
            it.target_rate.unwrap_or(0.0),
            thousands(it.dropped),
            report.vus.max_active
        );
        let _ = writeln!(
            out,
            "  Sched. lag  p50 {}  p99 {}  max {}",
            latency(lag.p50),
            latency(lag.p99),
            latency(lag.max)
        );
    }
    rows(
        &mut out,
        "Warnings",
        report.warnings.iter().map(|w| format!("⚠ {w}")),
    );
    if r.reconnects > 0 {
        let _ = writeln!(
            out,
            "  Reconnects  {} requests sent again on a new connection (the server closed theirs before answering)",
            thousands(r.reconnects)
        );
    }
    if r.warmup_requests > 0 || r.unfinished > 0 {
        let _ = writeln!(
            out,
            "  Not counted {} during warm-up · {} cut off at the end",
            thousands(r.warmup_requests),
            thousands(r.unfinished)
        );
    }
    let _ = writeln!(out);
    if report.load.model == "arrival_rate" {
        let (shown, other) = if report.load.latency_correction {
            (
                "corrected: from each iteration's scheduled start",
                "uncorrected",
            )
        } else {
            (
                "uncorrected: from the actual send (--no-latency-correction)",
                "",
            )
        };
        let _ = writeln!(out, "  Latency is {shown}");
        if !other.is_empty() {
            let u = &report.latency_uncorrected_ms;
            let _ = writeln!(
                out,
                "  ({other}: p50 {}  p90 {}  p99 {}  p99.9 {})",
                latency(u.p50),
                latency(u.p90),
                latency(u.p99),
                latency(u.p99_9)
            );
        }
    }
    let _ = writeln!(
        out,
        "  Latency     {}",
        percentiles(report, histogram.as_ref(), options.percentiles)
    );
    let _ = writeln!(
        out,
        "              min {}  mean {}  max {}  (stdev {})",
        latency(l.min),
        latency(l.mean),
        latency(l.max),
        latency(l.stdev)
    );
    if let Some(h) = &histogram {
        rows(&mut out, "Histogram", histogram_rows(h));
    }
    anatomy(&mut out, report);
    websocket(&mut out, report);
    if let Some(rate) = r.check_pass_rate {
        // As the live view: the step is named when the run has several.
        let several_steps = report.steps.len() > 1;
        let checks = report.checks.iter().map(|c| {
            // A failing check says where it was written.
            let at = match &c.location {
                Some(at) if c.fails > 0 => format!("  ({at})"),
                _ => String::new(),
            };
            // Checks of different steps may read alike: the step tells them apart.
            let step = match &c.step {
                Some(step) if several_steps => format!("[{step}] "),
                _ => String::new(),
            };
            if c.passes + c.fails == 0 {
                // Never evaluated (its step never got a response): neither ✓ nor ✗.
                return format!("– {step}{}  not evaluated", c.name);
            }
            format!(
                "{} {step}{}  {} passed, {} failed{at}",
                mark(c.fails == 0),
                c.name,
                thousands(c.passes),
                thousands(c.fails)
            )
        });
        let total = format!("{:.2}% passed", rate * 100.0);
        rows(&mut out, "Checks", once(total).chain(checks));
    }
    for (title, groups) in [("Scenarios", &report.scenarios), ("Tags", &report.tags)] {
        let groups = groups.iter().map(|g| {
            format!(
                "{}  {} requests, {} failed  p50 {}  p99 {}",
                g.name,
                thousands(g.requests),
                thousands(g.failed),
                latency(g.latency_ms.p50),
                latency(g.latency_ms.p99)
            )
        });
        rows(&mut out, title, groups);
    }
    steps(&mut out, report);
    if !report.extractions.is_empty() {
        // The heading has a line to itself: there is no total to put after it.
        let _ = writeln!(out, "  Extracted");
        let extractions = report.extractions.iter().map(|x| {
            format!(
                "{} {} <- {}  {} ok, {} failed",
                mark(x.failed == 0),
                x.var,
                x.spec,
                thousands(x.ok),
                thousands(x.failed)
            )
        });
        rows(&mut out, "", extractions);
    }
    scripts(&mut out, report);
    if !report.thresholds.is_empty() {
        let failed = report.thresholds.iter().filter(|t| !t.passed).count();
        let mut verdict = if failed == 0 {
            "all passed".to_owned()
        } else {
            format!("{failed} failed")
        };
        match &report.segment {
            Some(_) if report.merged_from.is_empty() => {
                verdict.push_str(" for this segment alone; `kaioken merge` judges the whole run")
            }
            Some(s) if !s.is_whole() => verdict.push_str(&format!(
                " for {} alone; merge every segment's report to judge the whole run",
                s.measured()
            )),
            _ => {}
        }
        let thresholds = report.thresholds.iter().map(|t| {
            let observed = observed(t).unwrap_or_else(|| "no data".to_owned());
            let scope = if t.scope == "all" {
                String::new()
            } else {
                format!("[{}] ", t.scope)
            };
            format!(
                "{} {scope}{} {}  (observed {observed})",
                mark(t.passed),
                t.metric,
                t.threshold
            )
        });
        rows(&mut out, "Thresholds", once(verdict).chain(thresholds));
    }
    if !report.status_codes.is_empty() {
        let codes: Vec<String> = report
            .status_codes
            .iter()
            .map(|(c, n)| format!("{} ×{}", status_label(c), thousands(*n)))
            .collect();
        let _ = writeln!(out, "  Status      {}", codes.join("  "));
    }
    if let Some(g) = &report.grpc {
        grpc(&mut out, g);
    }
    let errors = report
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| {
            let first = match report.error_details.get(kind) {
                Some(detail) => format!("  (first: {detail})"),
                None => String::new(),
            };
            format!("{kind} ×{}{first}", thousands(*n))
        });
    rows(&mut out, "Errors", errors);
    if report.outcome.exit_code == 4 {
        let _ = writeln!(out, "\n  thresholds failed: exit code 4");
        // Exit code 1's reason too, which exit code 4 outranks.
        if report.too_many_failed() {
            let _ = writeln!(out, "  and {}", failure_reason(report));
        }
    }
    if report.outcome.exit_code == 1 {
        let _ = writeln!(out, "\n  {}: exit code 1", failure_reason(report));
    }
    out
}

/// A status as the report keys it, with its name when it is gRPC's (`grpc:5
/// NOT_FOUND`).
fn status_label(key: &str) -> String {
    let name = key
        .strip_prefix("grpc:")
        .and_then(|code| code.parse::<u8>().ok())
        .and_then(|code| kaioken_vm::Status::Grpc(code).grpc_name());
    match name {
        Some(name) => format!("{key} {name}"),
        None => key.to_owned(),
    }
}

/// The gRPC section: calls by status name, messages, connections and streams.
///
/// ```text
///   gRPC        400 calls  OK ×300  NOT_FOUND ×100
///               messages 400 sent, 300 received (1.2 KiB, 8.8 KiB) · 4 connections
///               streams 100  messages/stream mean 5.0 max 5  first message p50 0.80ms p99 2.10ms
/// ```
fn grpc(out: &mut String, g: &crate::report::GrpcJson) {
    let statuses: Vec<String> = g
        .statuses
        .iter()
        .map(|(name, n)| format!("{name} ×{}", thousands(*n)))
        .collect();
    let mut lines = vec![
        format!("{} calls  {}", thousands(g.calls), statuses.join("  "))
            .trim_end()
            .to_owned(),
    ];
    let mut connections = counted(g.connections_opened, "connection", "connections");
    if g.connections_failed > 0 {
        connections.push_str(&format!(", {} failed", thousands(g.connections_failed)));
    }
    if g.connections_closed_by_server > 0 {
        connections.push_str(&format!(
            ", {} closed by the server",
            thousands(g.connections_closed_by_server)
        ));
    }
    lines.push(format!(
        "messages {} sent, {} received ({} B, {} B) · {connections}",
        thousands(g.messages_sent),
        thousands(g.messages_received),
        thousands(g.bytes_sent),
        thousands(g.bytes_received),
    ));
    let st = &g.streams;
    if st.count > 0 {
        let (mean, max) = stream_messages(st);
        lines.push(format!(
            "streams {}  messages/stream mean {mean} max {max}  first message p50 {} p99 {}",
            thousands(st.count),
            latency(st.first_message_ms.p50),
            latency(st.first_message_ms.p99),
        ));
    }
    rows(out, "gRPC", lines);
}

/// Why a finished run exits 1: too many failed requests, or none finished at all
/// (a failure rate of 0% "above the limit" would say nothing true).
pub fn failure_reason(report: &Report) -> String {
    let r = &report.requests;
    if r.total == 0 && r.warmup_requests > 0 {
        let budget = match report.load.max_requests {
            Some(n) if n <= r.warmup_requests => format!(
                "the request limit ({}) was spent in the warm-up; raise --max-requests or shorten --warmup",
                thousands(n)
            ),
            _ => "the run stopped before the warm-up ended".to_owned(),
        };
        return format!(
            "no request finished in the measured window: all {} finished during the {}s warm-up ({budget})",
            thousands(r.warmup_requests),
            report.load.warmup_s
        );
    }
    if r.total == 0 {
        return "no request finished in the measured window".to_owned();
    }
    let mut reason = format!(
        "{:.2}% of requests failed, above the limit of {:.2}% (--max-error-rate)",
        r.failure_rate * 100.0,
        report.settings.max_error_rate * 100.0
    );
    if r.unexpected_status > 0 {
        let n = thousands(r.unexpected_status);
        // gRPC calls and WebSocket exchanges have their own success, which no
        // setting changes.
        let _ = match report.settings.expected_status.as_str() {
            "OK" => write!(reason, "; {n} had a gRPC status other than OK"),
            "ws:1000" => write!(reason, "; {n} closed with a code other than 1000"),
            expected => write!(
                reason,
                "; {n} had a status outside {expected} (--expect-status or `expected_status` to change)"
            ),
        };
    }
    reason
}

#[cfg(test)]
mod tests {
    //! Regenerate the golden summaries after an intended change with `cargo insta
    //! review` (or `INSTA_UPDATE=always cargo test -p kaioken --bins`).

    use super::*;
    use crate::report::tests::{closed_report, open_report};

    /// The options of a run with the default `--percentiles`.
    fn options(serious: bool) -> Options<'static> {
        Options {
            serious,
            percentiles: Box::leak(crate::args::Percentiles::default().0.into_boxed_slice()),
        }
    }

    /// One VU is a VU, in every load shape.
    #[test]
    fn one_vu_is_singular() {
        let mut report = closed_report();
        report.load.vus = 1;
        report.load.rate = None;
        report.load.warmup_s = 0.0;
        assert_eq!(load_words(&report), "1 VU for 10s");
        report.load.arrival_rate = Some(5.0);
        assert_eq!(load_words(&report), "5 iterations/s on up to 1 VU for 10s");
        report.load.vus = 2;
        assert_eq!(load_words(&report), "5 iterations/s on up to 2 VUs for 10s");
    }

    #[test]
    fn closed_model_summary() {
        let mut report = closed_report();
        report.outcome.exit_code = 4;
        insta::assert_snapshot!(render(&report, &options(false)));
    }

    /// The anatomy's lines: only the phases that happened, at their median, then the
    /// connections; none when no request reached a connection.
    #[test]
    fn anatomy_lines() {
        let mut report = closed_report();
        assert!(!render(&report, &options(true)).contains("Anatomy"));
        report.connections = crate::report::ConnectionsJson {
            opened: 4,
            reused: 1_396,
            closed_by_server: 1,
            out_of_sync: 0,
        };
        let p = &mut report.phases_ms;
        for (phase, count, p50) in [
            (&mut p.connect, 4, 0.1),
            (&mut p.tls, 4, 2.31),
            (&mut p.waiting, 1_400, 50.4),
            (&mut p.receiving, 1_400, 0.02),
        ] {
            phase.count = count;
            phase.latency.p50 = Some(p50);
        }
        let text = render(&report, &options(true));
        assert!(
            text.contains(
                "  Anatomy     p50  connect 0.10ms · tls 2.31ms · waiting 50.4ms · receiving 0.02ms\n\
                 \x20             4 connections opened · 1,396 requests reused one · 1 closed by the server\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn open_model_summary() {
        insta::assert_snapshot!(render(&open_report(), &options(true)));
    }

    #[test]
    fn open_model_summary_above_error_rate() {
        let mut report = open_report();
        report.outcome.stop_reason = "duration".into();
        report.outcome.exit_code = 1;
        report.load.latency_correction = false;
        insta::assert_snapshot!(render(&report, &options(false)));
    }

    #[test]
    fn groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1283110), "1,283,110");
    }

    /// `--percentiles` picks the list, read exactly from the report's histogram; the
    /// histogram rows add up to the responses.
    #[test]
    fn chosen_percentiles_and_the_histogram() {
        let report = closed_report();
        let h = kaioken_report::hdr::decode(&report.histogram.data).unwrap();
        let line = percentiles(&report, Some(&h), &[50.0, 99.99]);
        assert_eq!(line, "p50 0.90ms  p99.99 45.0ms");
        let rows = histogram_rows(&h);
        let total: u64 = rows
            .iter()
            .map(|r| {
                r.split_whitespace()
                    .nth(2)
                    .unwrap()
                    .replace(',', "")
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(total, h.len());
        assert!(rows.last().unwrap().starts_with("≤   45.0ms"), "{rows:?}");
    }

    /// Bounds that round to the same spelling get the decimals that tell them
    /// apart, and only those; the rows of a fast run's histogram read apart.
    #[test]
    fn histogram_labels_are_distinct() {
        assert_eq!(
            bound_labels(&[9, 16, 24, 38, 61, 1_500, 45_000, 1_000_001, 1_000_002]),
            [
                "0.01ms",
                "0.016ms",
                "0.024ms",
                "0.04ms",
                "0.06ms",
                "1.50ms",
                "45.0ms",
                "1.000001s",
                "1.000002s"
            ]
        );
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for (v, n) in [(10, 4), (12, 10), (16, 56), (24, 900), (40, 30), (60, 1)] {
            h.record_n(v, n).unwrap();
        }
        let rows = histogram_rows(&h);
        let labels: Vec<&str> = rows.iter().map(|r| &r[..r.len().min(12)]).collect();
        let mut distinct = labels.clone();
        distinct.dedup();
        assert_eq!(labels, distinct, "{rows:#?}");
    }

    #[test]
    fn power_levels() {
        let mut report = closed_report();
        let mut line = |rps: f64, failure_rate: f64| {
            report.requests.rps = rps;
            report.requests.failure_rate = failure_rate;
            power_line(&report)
        };
        assert!(line(9001.0, 0.0).contains("OVER 9000"));
        assert!(!line(500.0, 0.0).contains("OVER"));
        assert_eq!(
            line(0.0, 1.0),
            "⚡ Power level: 0 — no response: every request failed, most with `timeout`"
        );
        // Every response a 404: fast, but no cheer.
        assert_eq!(
            line(9001.0, 1.0),
            "⚡ Power level: 9,001 req/s — but 100.00% of requests failed"
        );
    }

    /// A segment whose part of the VUs is none sent nothing: its headline says so,
    /// as its warning does, not that the target did not answer (it answered the
    /// other instances). A segment with VUs that got no answer still says that.
    #[test]
    fn a_segment_without_a_part_had_nothing_to_send() {
        let mut report = closed_report();
        report.requests.total = 0;
        report.requests.rps = 0.0;
        report.requests.errors = 0;
        report.requests.warmup_requests = 0;
        report.load.vus = 2;
        report.segment = Some(crate::report::SegmentJson {
            from: "0".into(),
            to: "1/3".into(),
            sequence: vec!["0".into(), "1/3".into(), "2/3".into(), "1".into()],
            missing: Vec::new(),
        });
        assert_eq!(
            power_line(&report),
            "⚡ Power level: 0 — this segment had nothing to send: its part of the load is none"
        );
        report.load.vus = 3;
        assert_eq!(
            power_line(&report),
            "⚡ Power level: 0 — the target did not answer"
        );
    }

    /// Nothing measured because the warm-up took every request, or a Ctrl-C came
    /// during it: the summary says so rather than that the target did not answer.
    #[test]
    fn nothing_measured_after_a_warm_up() {
        let mut report = closed_report();
        report.requests.total = 0;
        report.requests.warmup_requests = 10;
        report.load.max_requests = Some(10);
        report.load.warmup_s = 2.0;
        report.outcome.exit_code = 1;
        let text = render(&report, &options(true));
        assert!(
            text.contains(
                "no request finished in the measured window: all 10 finished during the 2s warm-up (the request limit (10) was spent in the warm-up; raise --max-requests or shorten --warmup)"
            ),
            "{text}"
        );
        assert!(text.contains(", after a 2s warm-up"), "{text}");
        report.outcome.interrupted = true;
        assert_eq!(
            power_line(&report),
            "⚡ Power level: 0 — interrupted during the warm-up: nothing was measured"
        );
    }
}
