//! [`draw`]: one frame of the live view, from a [`View`]. Pure: the same view gives
//! the same cells, which is what the golden tests rely on.
//!
//! ```text
//!  80x24                                     160x48 (120 columns and wider)
//!  ┌ title: target · theme · keys ──────┐    the same rows, and three columns in
//!  │ Power          │ Progress          │    the lower two: latency │ status │
//!  │ Throughput/s   │ Latency/s         │    load, then checks │ thresholds │
//!  │ Latency bars   │ Status & errors   │    scenarios; taller charts
//!  │ Load model     │ Checks · thresholds · scenarios · extractions
//! ```

use hdrhistogram::Histogram;
use kaioken_runtime::{ErrorKind, Second};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Sparkline, Wrap};

use crate::format::{self, bar, bytes_per_s, latency_us, rate, seconds, share, thousands};
use crate::theme::Palette;
use crate::{SCALES, View};

/// The smallest terminal the layout fits; below it a single line says so.
pub const MIN_SIZE: (u16, u16) = (60, 22);

/// From this width on, the lower rows have three columns.
const WIDE: u16 = 120;

/// The latency of one second of the timeline for the latency chart: its p99, from
/// the second's own histogram. A second still in progress has no percentiles yet
/// (they are worked out once every worker is past it): it shows its largest latency
/// so far, an upper bound of its p99.
pub fn second_p99_us(s: &Second) -> u64 {
    if s.latency_p99_us == 0 && s.requests > 0 {
        s.latency_max_us
    } else {
        s.latency_p99_us
    }
}

/// Draw one frame of `view` over the whole of `frame`.
pub fn draw(frame: &mut Frame, view: &View) {
    let area = frame.area();
    let p = view.controls.theme.palette();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = format!(
            "terminal too small ({}x{}, needs {}x{}) · q stops",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        let line = Line::styled(text, p.bad);
        frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), area);
        return;
    }
    let wide = area.width >= WIDE;
    // Fixed rows first; what is left goes two parts to the charts, three to the
    // lists, which grow with the scenario.
    let rest = area.height - 1 - 5 - 9;
    let charts = (4 + rest.saturating_sub(7) * 2 / 5).min(rest - 3);
    let [title, top, chart_row, middle, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(5),
        Constraint::Length(charts),
        Constraint::Length(9),
        Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(title_line(view, &p)), title);
    let [power_area, progress_area] = halves(top);
    panel(frame, power_area, &p, power_title(view), power(view, &p));
    panel(frame, progress_area, &p, " Progress ", progress(view, &p));
    if wide {
        let [rps_area, latency_chart_area, histogram_area] = thirds(chart_row);
        charts_row(frame, view, &p, rps_area, latency_chart_area);
        histogram(frame, view, &p, histogram_area);
    } else {
        let [rps_area, latency_chart_area] = halves(chart_row);
        charts_row(frame, view, &p, rps_area, latency_chart_area);
    }
    if wide {
        let [a, b, c] = thirds(middle);
        noted_panel(
            frame,
            a,
            &p,
            latency_title(view),
            latency_note(view),
            latency(view, &p),
        );
        panel(frame, b, &p, " Status codes · errors ", statuses(view, &p));
        noted_panel(
            frame,
            c,
            &p,
            " Load model ",
            load_note(view),
            load_model(view, &p),
        );
        let [a, b, c] = thirds(bottom);
        let mut lines = checks(view, &p);
        lines.extend(extractions(view, &p));
        let lines = or_else(lines, "no checks or extractors", &p);
        panel(frame, a, &p, " Checks · extractions ", lines);
        let lines = or_else(thresholds(view, &p), "no thresholds", &p);
        panel(frame, b, &p, " Thresholds (now) ", lines);
        let c = message_panels(frame, view, &p, c, 3);
        let lines = or_else(groups(view, &p), "one scenario", &p);
        panel(frame, c, &p, " Scenarios · tags ", lines);
    } else {
        let [a, b] = halves(middle);
        noted_panel(
            frame,
            a,
            &p,
            latency_title(view),
            latency_note(view),
            latency(view, &p),
        );
        panel(frame, b, &p, " Status codes · errors ", statuses(view, &p));
        let [a, b] = halves(bottom);
        // Here the message protocols' panels come first and the load model gets
        // what room they leave.
        let a = message_panels(frame, view, &p, a, 0);
        if a.height >= 3 {
            noted_panel(
                frame,
                a,
                &p,
                " Load model ",
                load_note(view),
                load_model(view, &p),
            );
        }
        let mut lines = thresholds(view, &p);
        lines.extend(checks(view, &p));
        lines.extend(groups(view, &p));
        lines.extend(extractions(view, &p));
        let lines = or_else(lines, "no thresholds, checks or scenarios", &p);
        panel(frame, b, &p, " Thresholds · checks · scenarios ", lines);
    }
    if view.controls.help {
        help(frame, area, &p);
    }
}

/// Draw a panel for each message protocol the run speaks (WebSocket, gRPC) at the
/// top of `area`, each as tall as its lines (cut to fit); the rest of `area` is
/// returned for the panel that has it otherwise, with at least `leave` rows.
fn message_panels(frame: &mut Frame, view: &View, p: &Palette, area: Rect, leave: u16) -> Rect {
    let mut rest = area;
    for (title, lines) in messages(view, p) {
        let height = (lines.len() as u16 + 2).min(rest.height.saturating_sub(leave));
        if height < 3 {
            break;
        }
        let [top, below] =
            Layout::vertical([Constraint::Length(height), Constraint::Fill(1)]).areas(rest);
        panel(frame, top, p, title, lines);
        rest = below;
    }
    rest
}

/// What each message protocol counted: messages each way (per second in the last
/// interval, then over the run: messages and payload bytes), sessions, the time to
/// open one, and server streams.
fn messages<'a>(view: &View, p: &Palette) -> Vec<(&'static str, Vec<Line<'a>>)> {
    let s = view.snapshot;
    let protocols = [(" WebSocket ", "handshake"), (" gRPC ", "connect")];
    let mut panels = Vec::new();
    for (i, (title, open)) in protocols.into_iter().enumerate() {
        let Some(m) = s.total.messages[i].as_deref() else {
            continue;
        };
        let [sent, received] = s.interval.messages_per_s(i);
        let mut lines = vec![
            Line::from(vec![
                Span::styled("sent ", p.dim),
                Span::styled(format!("{:>8}/s", rate(sent)), p.accent),
                Span::raw(format!(
                    " · {} · {}",
                    thousands(m.sent),
                    format::bytes(m.bytes_sent)
                )),
            ]),
            Line::from(vec![
                Span::styled("recv ", p.dim),
                Span::styled(format!("{:>8}/s", rate(received)), p.accent),
                Span::raw(format!(
                    " · {} · {}",
                    thousands(m.received),
                    format::bytes(m.bytes_received)
                )),
            ]),
        ];
        let quiet = |n: u64| if n > 0 { p.bad } else { p.dim };
        lines.push(Line::from(vec![
            Span::raw(format!("{} opened · ", thousands(m.opened))),
            Span::styled(
                format!("{} failed", thousands(m.open_failed)),
                quiet(m.open_failed),
            ),
            Span::raw(" · "),
            Span::styled(
                format!("{} closed by peer", thousands(m.closed_by_peer)),
                if m.closed_by_peer > 0 { p.warn } else { p.dim },
            ),
        ]));
        if !m.open_time.is_empty() {
            lines.push(Line::raw(format!(
                "{open} p50 {} · p99 {}",
                latency_us(m.open_time.value_at_quantile(0.5)),
                latency_us(m.open_time.value_at_quantile(0.99))
            )));
        }
        if m.streams > 0 {
            // Over every stream, the empty ones (not in the histogram) included.
            let mean = m.stream_messages_sum as f64 / m.streams as f64;
            let mut line = format!(
                "{} streams · {} msgs each",
                thousands(m.streams),
                rate(mean)
            );
            if !m.first_message.is_empty() {
                line.push_str(&format!(
                    " · first p99 {}",
                    latency_us(m.first_message.value_at_quantile(0.99))
                ));
            }
            lines.push(Line::raw(line));
        }
        panels.push((title, lines));
    }
    panels
}

/// `lines`, or a dim line saying why there are none.
fn or_else<'a>(lines: Vec<Line<'a>>, none: &'a str, p: &Palette) -> Vec<Line<'a>> {
    if lines.is_empty() {
        vec![Line::styled(none, p.dim)]
    } else {
        lines
    }
}

fn halves(area: Rect) -> [Rect; 2] {
    Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area)
}

fn thirds(area: Rect) -> [Rect; 3] {
    Layout::horizontal([Constraint::Fill(1); 3]).areas(area)
}

/// A bordered panel of lines; lines past its height are cut, with a `…` marker on
/// the last one shown.
fn panel(frame: &mut Frame, area: Rect, p: &Palette, title: impl Into<String>, lines: Vec<Line>) {
    noted_panel(frame, area, p, title, String::new(), lines);
}

/// A [`panel`] with a note on its bottom border.
fn noted_panel(
    frame: &mut Frame,
    area: Rect,
    p: &Palette,
    title: impl Into<String>,
    note: String,
    lines: Vec<Line>,
) {
    let mut block = Block::bordered()
        .title(title.into())
        .border_style(p.border)
        .title_style(p.border);
    if !note.is_empty() {
        block = block.title_bottom(Line::styled(note, p.dim));
    }
    let room = usize::from(block.inner(area).height);
    let mut lines = lines;
    if lines.len() > room && room > 0 {
        let more = lines.len() - room + 1;
        lines.truncate(room - 1);
        lines.push(Line::styled(format!("… {more} more"), p.dim));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn title_line<'a>(view: &View, p: &Palette) -> Line<'a> {
    let theme = view.controls.theme;
    let mut spans = vec![
        Span::styled(" kaioken  ", p.accent),
        Span::raw(view.info.target.clone()),
    ];
    if theme != crate::Theme::Plain {
        spans.push(Span::styled("  · t ", p.dim));
        spans.push(Span::styled(theme.name(), p.border));
    }
    spans.push(Span::styled("  · ? keys  q stop", p.dim));
    Line::from(spans)
}

/// The transformation a rate of requests reaches, and what is shouted about it.
fn transformation(rps: f64) -> (&'static str, &'static str) {
    match rps {
        r if r > 250_000.0 => ("Ultra Instinct", "this isn't even my final form!"),
        r if r > 100_000.0 => ("Super Saiyan Blue", "IT'S OVER 9000!"),
        r if r > 50_000.0 => ("Super Saiyan 2", "IT'S OVER 9000!"),
        r if r > 9_000.0 => ("Super Saiyan", "IT'S OVER 9000!"),
        r if r > 1_000.0 => ("Kaioken x10", "powering up"),
        r if r > 0.0 => ("Base form", "powering up"),
        _ => ("Base form", "no power yet"),
    }
}

fn power_title(view: &View) -> &'static str {
    if view.serious {
        " Throughput "
    } else {
        " Power level "
    }
}

fn power<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    let s = view.snapshot;
    let rps = s.interval.rps();
    let now = thousands(rps.round() as u64);
    let total = &s.total;
    let elapsed = total.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    // Failed: transport errors and responses with an unexpected status.
    let failed = total.failed();
    let counts = Line::from(vec![
        Span::raw(format!("{} req · ", thousands(total.total()))),
        Span::styled(
            format!("{} failed", thousands(failed)),
            if failed > 0 { p.bad } else { p.dim },
        ),
        Span::raw(format!(
            " · {}",
            bytes_per_s(total.counts.bytes_in as f64 / elapsed)
        )),
    ]);
    if view.serious {
        return vec![
            Line::from(vec![
                Span::styled(now, p.accent),
                Span::raw(" req/s in the last interval"),
            ]),
            Line::raw(format!(
                "{} req/s over the run",
                rate(total.total() as f64 / elapsed)
            )),
            counts,
        ];
    }
    let (form, shout) = transformation(rps);
    vec![
        Line::from(vec![
            Span::raw("⚡ "),
            Span::styled(now, p.accent),
            Span::raw(" req/s  "),
            Span::styled(form, p.border),
        ]),
        Line::styled(shout, if rps > 9_000.0 { p.accent } else { p.dim }),
        counts,
    ]
}

fn progress<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    let s = view.snapshot;
    let info = view.info;
    const WIDTH: usize = 12;
    let requests = s.total.total() + s.total.counts.warmup_requests;
    let gauge = if s.warming_up {
        let w = info.warmup.max(std::time::Duration::from_millis(1));
        Line::from(vec![
            Span::styled(bar(s.elapsed.as_secs_f64(), w.as_secs_f64(), WIDTH), p.warn),
            Span::styled(
                format!(" warming up {} / {}", seconds(s.elapsed), seconds(w)),
                p.warn,
            ),
        ])
    } else if let Some(planned) = s.planned {
        Line::from(vec![
            Span::styled(
                bar(s.elapsed.as_secs_f64(), planned.as_secs_f64(), WIDTH),
                p.accent,
            ),
            Span::raw(format!(" {} / {}", seconds(s.elapsed), seconds(planned))),
        ])
    } else if let Some(max) = s.max_requests {
        Line::from(vec![
            Span::styled(bar(requests as f64, max as f64, WIDTH), p.accent),
            Span::raw(format!(" {} / {} req", thousands(requests), thousands(max))),
        ])
    } else {
        Line::raw(format!("{} elapsed", seconds(s.elapsed)))
    };
    let unit = if info.open_model { "/s" } else { " VUs" };
    let stage = if info.stages.is_empty() {
        match s.level {
            Some(level) => format!("level now {}{unit}", format::level(level)),
            None => format!("{} VUs active", s.total.active_vus),
        }
    } else {
        let measured = s.elapsed.saturating_sub(info.warmup);
        let mut end = std::time::Duration::ZERO;
        let mut current = info.stages.len();
        for (i, st) in info.stages.iter().enumerate() {
            end += st.duration;
            if measured < end {
                current = i + 1;
                break;
            }
        }
        let target = info.stages[current.min(info.stages.len()) - 1].target;
        let now = s
            .level
            .map_or(String::new(), |l| format!(", now {}", format::level(l)));
        format!(
            "stage {current} of {} → {}{unit}{now}",
            info.stages.len(),
            format::level(target)
        )
    };
    vec![
        gauge,
        Line::raw(stage),
        Line::styled(info.load.clone(), p.dim),
    ]
}

/// The chart's bars: one per `per` seconds of `timeline`, the last `room` of them.
fn buckets(timeline: &[Second], per: u32, room: usize, f: impl Fn(&[Second]) -> u64) -> Vec<u64> {
    let per = per.max(1) as usize;
    let all: Vec<u64> = timeline.chunks(per).map(f).collect();
    all[all.len().saturating_sub(room)..].to_vec()
}

fn charts_row(frame: &mut Frame, view: &View, p: &Palette, left: Rect, right: Rect) {
    let timeline = &view.snapshot.total.timeline;
    let per = view.controls.seconds_per_bar();
    let room = usize::from(left.width.saturating_sub(2));
    let rps = buckets(timeline, per, room, |c| {
        c.iter().map(|s| s.requests).sum::<u64>() / c.len() as u64
    });
    let scale = if per == SCALES[0] {
        String::new()
    } else {
        format!(" · {per}s/bar")
    };
    let peak = rps.iter().copied().max().unwrap_or(0);
    let block = Block::bordered()
        .title(format!(" req/s · peak {}{scale} ", thousands(peak)))
        .border_style(p.border)
        .title_style(p.border);
    frame.render_widget(
        Sparkline::default().block(block).data(&rps).style(p.accent),
        left,
    );
    let room = usize::from(right.width.saturating_sub(2));
    let latency = buckets(timeline, per, room, |c| {
        c.iter().map(second_p99_us).max().unwrap_or(0)
    });
    let peak = latency.iter().copied().max().unwrap_or(0);
    let block = Block::bordered()
        .title(format!(" p99/s · peak {}{scale} ", latency_us(peak)))
        .border_style(p.border)
        .title_style(p.border);
    frame.render_widget(
        Sparkline::default()
            .block(block)
            .data(&latency)
            .style(p.warn),
        right,
    );
}

/// How many of the run's requests fall in each of `columns` latency ranges, the
/// ranges log-spaced from the fastest to the slowest request; and those two.
pub(crate) fn histogram_columns(h: &Histogram<u64>, columns: usize) -> (Vec<u64>, u64, u64) {
    let mut out = vec![0; columns];
    if h.is_empty() || columns == 0 {
        return (out, 0, 0);
    }
    let (low, high) = (h.min().max(1), h.max().max(1));
    let span = (high as f64 / low as f64).ln();
    for v in h.iter_recorded() {
        let at = (v.value_iterated_to().max(1) as f64 / low as f64).ln();
        let i = if span > 0.0 {
            (at / span * (columns - 1) as f64).round() as usize
        } else {
            0
        };
        out[i.min(columns - 1)] += v.count_at_value();
    }
    (out, low, high)
}

/// The run's latency histogram, on a log scale of latency (wide layout).
fn histogram(frame: &mut Frame, view: &View, p: &Palette, area: Rect) {
    let columns = usize::from(area.width.saturating_sub(2));
    let (counts, low, high) = histogram_columns(&view.snapshot.total.latency, columns);
    let block = Block::bordered()
        .title(format!(
            " latency histogram · {} … {} (log) ",
            latency_us(low),
            latency_us(high)
        ))
        .border_style(p.border)
        .title_style(p.border);
    frame.render_widget(
        Sparkline::default()
            .block(block)
            .data(&counts)
            .style(p.accent),
        area,
    );
}

fn latency_title(view: &View) -> String {
    let corrected = if view.info.open_model && view.info.latency_correction {
        " [corrected]"
    } else {
        ""
    };
    format!(" Latency{corrected} · last │ run ")
}

/// `(label, quantile)`; `None` for the maximum.
const PERCENTILES: [(&str, Option<f64>); 7] = [
    ("p50", Some(0.50)),
    ("p75", Some(0.75)),
    ("p90", Some(0.90)),
    ("p95", Some(0.95)),
    ("p99", Some(0.99)),
    ("p99.9", Some(0.999)),
    ("max", None),
];

fn quantile(h: &Histogram<u64>, q: Option<f64>) -> u64 {
    match q {
        _ if h.is_empty() => 0,
        Some(q) => h.value_at_quantile(q),
        None => h.max(),
    }
}

fn latency<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    let s = view.snapshot;
    let last = &s.interval.latency;
    let run = &s.total.latency;
    // On a log scale: the tail is often a hundred times the median, and a linear
    // bar would leave the median as nothing at all. The scale starts at half the
    // fastest request, so the fastest gets a sliver.
    let fastest = [last, run]
        .iter()
        .filter(|h| !h.is_empty())
        .map(|h| h.min())
        .min()
        .unwrap_or(1);
    let floor = (fastest as f64 / 2.0).max(1.0);
    let top = quantile(run, None).max(quantile(last, None)) as f64;
    let log = |v: u64| (v as f64 / floor).max(1.0).ln();
    PERCENTILES
        .iter()
        .map(|&(label, q)| {
            let (l, r) = (quantile(last, q), quantile(run, q));
            Line::from(vec![
                Span::styled(format!("{label:<6}"), p.dim),
                Span::styled(bar(log(l), (top / floor).max(1.0).ln(), 12), p.accent),
                Span::raw(format!(" {:>8} │ {:>8}", latency_us(l), latency_us(r))),
            ])
        })
        .collect()
}

/// Under the latency panel in the open model with correction: the uncorrected p99,
/// beside the `[corrected]` marker of its title.
fn latency_note(view: &View) -> String {
    if view.info.open_model && view.info.latency_correction {
        let u = quantile(&view.snapshot.total.latency_uncorrected, Some(0.99));
        format!(" uncorrected p99 {} ", latency_us(u))
    } else {
        String::new()
    }
}

/// Under the load model panel in the open model: the schedule lag.
fn load_note(view: &View) -> String {
    if view.info.open_model {
        let lag = quantile(&view.snapshot.total.schedule_lag, Some(0.99));
        format!(" schedule lag p99 {} ", latency_us(lag))
    } else {
        String::new()
    }
}

fn statuses<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    let total = &view.snapshot.total;
    let all = total.total();
    let mut lines: Vec<Line> = total
        .status
        .iter()
        .map(|&(status, n)| {
            let style = match (status.family(), status.code()) {
                ("http", 200..300) | ("grpc", 0) | ("ws", 1000) => p.good,
                ("http", 300..500) => p.warn,
                _ => p.bad,
            };
            Line::from(vec![
                Span::styled(format!("{:<10}", status.to_string()), style),
                Span::raw(format!("{:>12} {:>7}", thousands(n), share(n, all))),
            ])
        })
        .collect();
    lines.extend(total.errors_by_kind().filter(|(_, n)| *n > 0).map(
        |(kind, n): (ErrorKind, u64)| {
            Line::from(vec![
                Span::styled(format!("{:<16}", kind.name()), p.bad),
                Span::raw(format!("{:>6} {:>7}", thousands(n), share(n, all))),
            ])
        },
    ));
    if lines.is_empty() {
        lines.push(Line::styled("no responses yet", p.dim));
    }
    lines
}

fn load_model<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    let s = view.snapshot;
    let t = &s.total;
    let elapsed = t.elapsed.as_secs_f64();
    let achieved = if elapsed > 0.0 {
        t.counts.started as f64 / elapsed
    } else {
        0.0
    };
    let mut lines = vec![
        Line::raw(format!(
            "VUs {} active · {} peak · {} max",
            t.active_vus, t.max_vus, view.info.max_vus
        )),
        Line::from(vec![
            Span::raw(format!("{} iterations · ", thousands(t.counts.started))),
            Span::styled(
                format!("{} dropped", thousands(t.counts.dropped)),
                if t.counts.dropped > 0 { p.bad } else { p.dim },
            ),
        ]),
    ];
    lines.push(Line::raw(match view.info.target_rate {
        Some(target) => format!("{}/s achieved · {}/s planned", rate(achieved), rate(target)),
        None => format!("{} iterations/s", rate(achieved)),
    }));
    lines
}

fn mark<'a>(ok: bool, p: &Palette) -> Span<'a> {
    if ok {
        Span::styled("✓ ", p.good)
    } else {
        Span::styled("✗ ", p.bad)
    }
}

fn checks<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    view.info
        .checks
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let [pass, fail] = view.snapshot.total.checks.get(i).copied().unwrap_or([0; 2]);
            if pass + fail == 0 {
                // Not evaluated yet: neither passed nor failed.
                return Line::from(vec![
                    Span::styled("– ", p.dim),
                    Span::raw(name.clone()),
                    Span::styled(" (not evaluated)", p.dim),
                ]);
            }
            Line::from(vec![
                mark(fail == 0, p),
                Span::raw(format!("{name} {}", share(pass, pass + fail))),
                Span::styled(
                    format!(" ({}/{})", thousands(pass), thousands(pass + fail)),
                    p.dim,
                ),
            ])
        })
        .collect()
}

fn extractions<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    view.info
        .extractors
        .iter()
        .enumerate()
        .map(|(i, var)| {
            let [ok, failed] = view
                .snapshot
                .total
                .extractions
                .get(i)
                .copied()
                .unwrap_or([0; 2]);
            Line::from(vec![
                mark(failed == 0, p),
                Span::raw(format!("extract {var}: {} failed", thousands(failed))),
                Span::styled(format!(" of {}", thousands(ok + failed)), p.dim),
            ])
        })
        .collect()
}

fn thresholds<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    view.thresholds
        .iter()
        .map(|t| {
            Line::from(vec![
                mark(t.passed, p),
                Span::raw(t.label.clone()),
                Span::styled(format!("  {}", t.observed), p.dim),
            ])
        })
        .collect()
}

/// Scenarios, then tags (each the merge of its scenarios), with requests, failures
/// and p99. Empty with one scenario: the run keeps no per-scenario statistics then.
fn groups<'a>(view: &View, p: &Palette) -> Vec<Line<'a>> {
    let stats = &view.snapshot.total.scenarios;
    let line = |name: String, requests: u64, failed: u64, p99: u64| {
        Line::from(vec![
            Span::raw(format!("{name} {} req · ", thousands(requests))),
            Span::styled(
                format!("{} failed", thousands(failed)),
                if failed > 0 { p.bad } else { p.dim },
            ),
            Span::raw(format!(" · p99 {}", latency_us(p99))),
        ])
    };
    let mut lines: Vec<Line> = view
        .info
        .scenarios
        .iter()
        .zip(stats)
        .map(|(info, s)| {
            line(
                info.name.clone(),
                s.requests,
                s.errors + s.unexpected,
                quantile(&s.latency, Some(0.99)),
            )
        })
        .collect();
    let mut tags: Vec<&str> = view
        .info
        .scenarios
        .iter()
        .flat_map(|s| s.tags.iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    for tag in tags {
        let mut latency: Option<Histogram<u64>> = None;
        let (mut requests, mut errors) = (0, 0);
        for (info, s) in view.info.scenarios.iter().zip(stats) {
            if info.tags.iter().any(|t| t == tag) {
                requests += s.requests;
                errors += s.errors + s.unexpected;
                match &mut latency {
                    Some(h) => {
                        let _ = h.add(&s.latency);
                    }
                    None => latency = Some(s.latency.clone()),
                }
            }
        }
        if let Some(h) = latency {
            lines.push(line(
                format!("#{tag}"),
                requests,
                errors,
                quantile(&h, Some(0.99)),
            ));
        }
    }
    lines
}

fn help(frame: &mut Frame, area: Rect, p: &Palette) {
    let lines = vec![
        Line::raw("t      next theme"),
        Line::raw("+ / -  more / fewer seconds a bar"),
        Line::raw("?      show / hide these keys"),
        Line::raw("q Esc  stop the run (like Ctrl-C)"),
        Line::raw("Ctrl-C stop; twice: abandon requests"),
        Line::raw("latency bars are on a log scale"),
    ];
    let width = 42.min(area.width);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(" Keys ")
        .border_style(p.accent)
        .style(Style::new());
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
