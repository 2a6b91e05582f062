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

use std::cmp::Reverse;

use hdrhistogram::Histogram;
use kaioken_runtime::{ErrorKind, Second};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Sparkline, Wrap};

use crate::format::{
    self, Shared, bar, bytes_per_s, cut_apart, cut_end, cut_middle, latency_us, rate, seconds,
    share, thousands, width,
};
use crate::theme::Palette;
use crate::{CheckInfo, SCALES, View};

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
    // Below 24 rows the latency row drops two percentiles, so that the lists under
    // it keep three rows (at 22, one otherwise: a panel of "… N more" alone).
    let middle_rows = if area.height < 24 { 7 } else { 9 };
    // Fixed rows first; what is left goes two parts to the charts, three to the
    // lists, which grow with the scenario.
    let rest = area.height - 1 - 5 - middle_rows;
    let charts = (4 + rest.saturating_sub(7) * 2 / 5).min(rest - 3);
    let [title, top, chart_row, middle, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(5),
        Constraint::Length(charts),
        Constraint::Length(middle_rows),
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
        latency_panel(frame, view, &p, a);
        panel(
            frame,
            b,
            &p,
            " Status codes · errors ",
            statuses(view, &p, inner(b)),
        );
        noted_panel(
            frame,
            c,
            &p,
            " Load model ",
            load_note(view),
            load_model(view, &p, inner(c)),
        );
        let [a, b, c] = thirds(bottom);
        let mut rows = checks(view, &p, inner(a));
        rows.extend(extractions(view, &p));
        let rows = or_else(failures_first(rows), "no checks or extractors", &p);
        panel(frame, a, &p, " Checks · extractions ", rows);
        let rows = or_else(thresholds(view, &p, inner(b)), "no thresholds", &p);
        panel(frame, b, &p, " Thresholds (now) ", failures_first(rows));
        let c = message_panels(frame, view, &p, c, 3);
        let rows = or_else(groups(view, &p, inner(c)), "one scenario", &p);
        panel(frame, c, &p, " Scenarios · tags ", rows);
    } else {
        let [a, b] = halves(middle);
        latency_panel(frame, view, &p, a);
        panel(
            frame,
            b,
            &p,
            " Status codes · errors ",
            statuses(view, &p, inner(b)),
        );
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
                load_model(view, &p, inner(a)),
            );
        }
        // One list of what the run is judged by: whatever fails, of any kind,
        // before anything that holds.
        let cells = inner(b);
        let mut rows = thresholds(view, &p, cells);
        rows.extend(checks(view, &p, cells));
        rows.extend(groups(view, &p, cells));
        rows.extend(extractions(view, &p));
        let rows = or_else(
            failures_first(rows),
            "no thresholds, checks or scenarios",
            &p,
        );
        let title = fit(
            &[" Thresholds · checks · scenarios ", " Thresholds · checks "],
            b.width,
        );
        panel(frame, b, &p, title, rows);
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

/// A line of a panel's list, and whether it tells of a failure (a failed check or
/// threshold, an error class): the lists put those first, and a list cut short
/// says how many of them it hides.
struct Row<'a> {
    line: Line<'a>,
    failing: bool,
}

impl<'a> Row<'a> {
    fn new(line: Line<'a>, failing: bool) -> Row<'a> {
        Row { line, failing }
    }
}

impl<'a> From<Line<'a>> for Row<'a> {
    fn from(line: Line<'a>) -> Row<'a> {
        Row::new(line, false)
    }
}

/// `rows`, those that fail first, each part in the order it came: a panel cut
/// short then hides what holds, never what fails. A list in a fixed order hid the
/// one failing check of a long run behind the passing ones.
fn failures_first(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_key(|r| !r.failing);
    rows
}

/// `rows`, or a dim line saying why there are none.
fn or_else<'a>(rows: Vec<Row<'a>>, none: &'a str, p: &Palette) -> Vec<Row<'a>> {
    if rows.is_empty() {
        vec![Line::styled(none, p.dim).into()]
    } else {
        rows
    }
}

/// The cells inside a panel's borders, across.
fn inner(area: Rect) -> usize {
    usize::from(area.width.saturating_sub(2))
}

/// The first of `titles` that fits on the top border of a panel `width` wide, or
/// the last.
fn fit<'a>(titles: &[&'a str], width: u16) -> &'a str {
    let room = usize::from(width.saturating_sub(2));
    titles
        .iter()
        .copied()
        .find(|t| format::width(t) <= room)
        .unwrap_or(titles[titles.len() - 1])
}

fn halves(area: Rect) -> [Rect; 2] {
    Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area)
}

fn thirds(area: Rect) -> [Rect; 3] {
    Layout::horizontal([Constraint::Fill(1); 3]).areas(area)
}

/// A bordered panel of rows; rows past its height are cut, and its bottom border
/// says how many (and how many of those fail).
fn panel<'a, R: Into<Row<'a>>>(
    frame: &mut Frame,
    area: Rect,
    p: &Palette,
    title: impl Into<String>,
    rows: Vec<R>,
) {
    noted_panel(frame, area, p, title, String::new(), rows);
}

/// A [`panel`] with a note on its bottom border.
///
/// What is cut is said on the border rather than on a row of its own: a panel
/// one row high (the bottom row at the smallest size) showed nothing but
/// "… N more" that way.
fn noted_panel<'a, R: Into<Row<'a>>>(
    frame: &mut Frame,
    area: Rect,
    p: &Palette,
    title: impl Into<String>,
    note: String,
    rows: Vec<R>,
) {
    let mut block = Block::bordered()
        .title(title.into())
        .border_style(p.border)
        .title_style(p.border);
    let room = usize::from(block.inner(area).height);
    let mut rows: Vec<Row> = rows.into_iter().map(Into::into).collect();
    let mut bottom = Vec::new();
    if rows.len() > room {
        let hidden = rows.split_off(room);
        let failing = hidden.iter().filter(|r| r.failing).count();
        bottom.push(Span::styled(format!(" … {} more ", hidden.len()), p.dim));
        if failing > 0 {
            bottom.push(Span::styled(format!("· {failing} failing "), p.bad));
        }
    }
    if !note.is_empty() {
        if !bottom.is_empty() {
            bottom.push(Span::styled("·", p.dim));
        }
        bottom.push(Span::styled(note, p.dim));
    }
    if !bottom.is_empty() {
        block = block.title_bottom(Line::from(bottom));
    }
    let lines: Vec<Line> = rows.into_iter().map(|r| r.line).collect();
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

/// The latency panel: the last interval's and the whole run's percentiles, as
/// many as its height holds, in rows as narrow as its width needs.
fn latency_panel(frame: &mut Frame, view: &View, p: &Palette, area: Rect) {
    let rows = usize::from(area.height.saturating_sub(2));
    noted_panel(
        frame,
        area,
        p,
        latency_title(view, area.width),
        latency_note(view),
        latency(view, p, inner(area), rows),
    );
}

/// Its title names its two columns. With latency correction it also says
/// `[corrected]`; where the whole of that does not fit (60 columns), the word
/// "Latency" goes first: the rows' `p50` … `max` say what they are.
fn latency_title(view: &View, width: u16) -> &'static str {
    if view.info.open_model && view.info.latency_correction {
        fit(
            &[
                " Latency [corrected] · last │ run ",
                " [corrected] last │ run ",
            ],
            width,
        )
    } else {
        " Latency · last │ run "
    }
}

/// `(label, quantile)`; `None` for the maximum. A panel short of rows drops some,
/// see [`percentiles`].
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

/// The [`PERCENTILES`] that `rows` hold: all seven, or without p75 then p90 (p95
/// stays: it is the one thresholds bound most), then the rest from the top down.
fn percentiles(rows: usize) -> Vec<(&'static str, Option<f64>)> {
    let mut kept = PERCENTILES.to_vec();
    for label in ["p75", "p90", "p50", "p95", "p99.9", "p99"] {
        if kept.len() <= rows {
            break;
        }
        kept.retain(|&(l, _)| l != label);
    }
    kept
}

/// A row is a label, a bar and the two columns. From 80 columns on, the bar is 12
/// cells and each column 8; narrower (the 28 cells of a panel at 60 columns), the
/// columns take 7, enough for anything under 1,000 s, and the bar what is left, so
/// that the whole-run column is never the one cut.
fn latency<'a>(view: &View, p: &Palette, cells: usize, rows: usize) -> Vec<Line<'a>> {
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
    // label, bar, " ", column, " │ ", column
    let (column, bar_cells) = if cells >= 6 + 12 + 1 + 8 + 3 + 8 {
        (8, 12)
    } else {
        (7, cells.saturating_sub(6 + 1 + 7 + 3 + 7).min(12))
    };
    percentiles(rows)
        .into_iter()
        .map(|(label, q)| {
            let (l, r) = (quantile(last, q), quantile(run, q));
            Line::from(vec![
                Span::styled(format!("{label:<6}"), p.dim),
                Span::styled(
                    bar(log(l), (top / floor).max(1.0).ln(), bar_cells),
                    p.accent,
                ),
                Span::raw(format!(
                    " {:>column$} │ {:>column$}",
                    latency_us(l),
                    latency_us(r)
                )),
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

/// Statuses and error classes in one list, the most frequent first: what most
/// requests got is what the panel shows, whether a status or an error (a timeout
/// of half the requests was listed after every status, and cut). Each row is at
/// most 30 cells: the name, then the count and the share flush right.
fn statuses<'a>(view: &View, p: &Palette, cells: usize) -> Vec<Row<'a>> {
    let total = &view.snapshot.total;
    let all = total.total();
    // (name, style, failing, count)
    let mut counted: Vec<(String, Style, bool, u64)> = total
        .status
        .iter()
        .map(|&(status, n)| {
            let (style, failing) = match (status.family(), status.code()) {
                ("http", 200..300) | ("grpc", 0) | ("ws", 1000) => (p.good, false),
                ("http", 300..500) => (p.warn, false),
                _ => (p.bad, true),
            };
            (status.to_string(), style, failing, n)
        })
        .collect();
    counted.extend(
        total
            .errors_by_kind()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n): (ErrorKind, u64)| (kind.name().to_owned(), p.bad, true, n)),
    );
    // Stable: at equal counts, statuses in code order, then error classes.
    counted.sort_by_key(|&(.., n)| Reverse(n));
    let row = cells.min(30);
    let mut rows: Vec<Row> = counted
        .into_iter()
        .map(|(name, style, failing, n)| {
            let numbers = format!("{} {:>7}", thousands(n), share(n, all));
            let name = cut_end(&name, row.saturating_sub(numbers.len() + 1));
            let gap = row.saturating_sub(width(&name) + numbers.len());
            let line = Line::from(vec![
                Span::styled(name, style),
                Span::raw(format!("{:>gap$}{numbers}", "")),
            ]);
            Row::new(line, failing)
        })
        .collect();
    if rows.is_empty() {
        rows.push(Line::styled("no responses yet", p.dim).into());
    }
    rows
}

/// VUs, iterations and their rate; in shorter words where the long ones do not
/// fit `cells` (a panel at 60 columns).
fn load_model<'a>(view: &View, p: &Palette, cells: usize) -> Vec<Line<'a>> {
    let s = view.snapshot;
    let t = &s.total;
    let elapsed = t.elapsed.as_secs_f64();
    let achieved = if elapsed > 0.0 {
        t.counts.started as f64 / elapsed
    } else {
        0.0
    };
    let words = |long: String, short: String, after: &str| {
        if width(&long) + width(after) <= cells {
            long
        } else {
            short
        }
    };
    let (active, peak, max) = (t.active_vus, t.max_vus, view.info.max_vus);
    let dropped = format!("{} dropped", thousands(t.counts.dropped));
    let started = thousands(t.counts.started);
    let mut lines = vec![
        Line::raw(words(
            format!("VUs {active} active · {peak} peak · {max} max"),
            format!("VUs {active} · peak {peak} · max {max}"),
            "",
        )),
        Line::from(vec![
            Span::raw(words(
                format!("{started} iterations · "),
                format!("{started} iter · "),
                &dropped,
            )),
            Span::styled(
                dropped.clone(),
                if t.counts.dropped > 0 { p.bad } else { p.dim },
            ),
        ]),
    ];
    lines.push(Line::raw(match view.info.target_rate {
        Some(target) => words(
            format!("{}/s achieved · {}/s planned", rate(achieved), rate(target)),
            format!("{}/s of {}/s planned", rate(achieved), rate(target)),
            "",
        ),
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

/// A check's name in `cells`: `[step] expression`, the expression kept whole (two
/// checks of one step differ only by it, so a cut at the end made them look the
/// same) and the step's name cut to what tells it from the other steps' (`steps`).
/// With less room than three cells of the step's name, the expression alone; with
/// less than that, the expression cut in the middle.
fn check_name(check: &CheckInfo, cells: usize, steps: Shared) -> String {
    let expr = width(&check.name);
    match &check.step {
        Some(step) if width(step) + expr + 3 <= cells => format!("[{step}] {}", check.name),
        Some(step) if expr + 6 <= cells => {
            format!(
                "[{}] {}",
                cut_apart(step, cells - expr - 3, steps),
                check.name
            )
        }
        _ => cut_middle(&check.name, cells),
    }
}

/// The checks, those that fail first and the most failures first among them, the
/// ones not evaluated yet last; each with its pass share, and its counts if they
/// fit in `cells`.
fn checks<'a>(view: &View, p: &Palette, cells: usize) -> Vec<Row<'a>> {
    let counts = |i: usize| view.snapshot.total.checks.get(i).copied().unwrap_or([0; 2]);
    let steps = Shared::of(view.info.checks.iter().filter_map(|c| c.step.as_deref()));
    let mut order: Vec<usize> = (0..view.info.checks.len()).collect();
    order.sort_by_key(|&i| match counts(i) {
        [0, 0] => (2, Reverse(0)),
        [_, 0] => (1, Reverse(0)),
        [_, fail] => (0, Reverse(fail)),
    });
    order
        .into_iter()
        .map(|i| {
            let check = &view.info.checks[i];
            let [pass, fail] = counts(i);
            if pass + fail == 0 {
                // Not evaluated yet: neither passed nor failed.
                const NOT: &str = " (not evaluated)";
                let room = cells.saturating_sub(2);
                let line = Line::from(vec![
                    Span::styled("– ", p.dim),
                    Span::raw(check_name(
                        check,
                        room.saturating_sub(NOT.len()).max(room / 2),
                        steps,
                    )),
                    Span::styled(NOT, p.dim),
                ]);
                return line.into();
            }
            let rate = format!(" {}", share(pass, pass + fail));
            let tally = format!(" ({}/{})", thousands(pass), thousands(pass + fail));
            let room = cells.saturating_sub(2 + rate.len());
            let whole = check.label();
            let (name, tally) = if width(&whole) + tally.len() <= room {
                (whole, tally)
            } else {
                (check_name(check, room, steps), String::new())
            };
            let line = Line::from(vec![
                mark(fail == 0, p),
                Span::raw(format!("{name}{rate}")),
                Span::styled(tally, p.dim),
            ]);
            Row::new(line, fail > 0)
        })
        .collect()
}

fn extractions<'a>(view: &View, p: &Palette) -> Vec<Row<'a>> {
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
            let line = Line::from(vec![
                mark(failed == 0, p),
                Span::raw(format!("extract {var}: {} failed", thousands(failed))),
                Span::styled(format!(" of {}", thousands(ok + failed)), p.dim),
            ]);
            Row::new(line, failed > 0)
        })
        .collect()
}

/// The thresholds as judged now, each with the value it is judged on; a label
/// too long for `cells` is cut in the middle, keeping its scope's start and its
/// bound, and the value.
fn thresholds<'a>(view: &View, p: &Palette, cells: usize) -> Vec<Row<'a>> {
    view.thresholds
        .iter()
        .map(|t| {
            let observed = format!("  {}", t.observed);
            let room = cells.saturating_sub(2 + width(&observed));
            let line = Line::from(vec![
                mark(t.passed, p),
                Span::raw(cut_middle(&t.label, room.max(cells / 2))),
                Span::styled(observed, p.dim),
            ]);
            Row::new(line, !t.passed)
        })
        .collect()
}

/// Scenarios, then tags (each the merge of its scenarios), with requests, failures
/// and p99. Empty with one scenario: the run keeps no per-scenario statistics then.
fn groups<'a>(view: &View, p: &Palette, cells: usize) -> Vec<Row<'a>> {
    let stats = &view.snapshot.total.scenarios;
    // A long name is cut to leave its numbers room, keeping what tells it from the
    // other scenarios' names.
    let names = Shared::of(view.info.scenarios.iter().map(|s| s.name.as_str()));
    let line = |name: String, requests: u64, failed: u64, p99: u64| {
        let requests = format!(" {} req · ", thousands(requests));
        let failed_words = format!("{} failed", thousands(failed));
        let p99 = format!(" · p99 {}", latency_us(p99));
        let numbers = width(&requests) + width(&failed_words) + width(&p99);
        let name = cut_apart(&name, cells.saturating_sub(numbers).max(8), names);
        Row::from(Line::from(vec![
            Span::raw(format!("{name}{requests}")),
            Span::styled(failed_words, if failed > 0 { p.bad } else { p.dim }),
            Span::raw(p99),
        ]))
    };
    let mut lines: Vec<Row> = view
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
