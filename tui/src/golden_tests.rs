//! Golden tests: the whole view drawn on ratatui's `TestBackend` from fixed
//! snapshots, at 80x24 and 160x48, in every mode.
//!
//! Regenerate after an intended change with `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test -p kaioken-tui`), and read the diff.

use std::time::Duration;

use hdrhistogram::Histogram;
use kaioken_runtime::{
    Counts, Engine, ErrorKind, Interval, RunStats, ScenarioStats, Second, Snapshot,
};
use kaioken_vm::Status;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use crate::{CheckInfo, Controls, RunInfo, ScenarioInfo, Stage, Theme, ThresholdLine, View, draw};

fn histogram(values_us: &[u64]) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for &v in values_us {
        h.record(v).unwrap();
    }
    h
}

/// A histogram of `n` values spread from `low` to `high` µs.
fn spread(n: u64, low: u64, high: u64) -> Histogram<u64> {
    let mut h = histogram(&[]);
    for i in 0..n {
        h.record(low + (high - low) * i * i / (n * n)).unwrap();
    }
    h
}

fn check(step: Option<&str>, name: &str) -> CheckInfo {
    CheckInfo {
        step: step.map(str::to_owned),
        name: name.to_owned(),
    }
}

fn second(requests: u64, max_us: u64) -> Second {
    Second {
        requests,
        responses: requests,
        errors: 0,
        unexpected: 0,
        latency_sum_us: requests * max_us / 4,
        latency_max_us: max_us,
        started: requests,
        dropped: 0,
        vus: 50,
        latency_p50_us: max_us / 4,
        latency_p90_us: max_us / 2,
        latency_p99_us: max_us * 9 / 10,
        bytes_in: requests * 100,
        messages_sent: 0,
        messages_received: 0,
    }
}

fn stats(latency: Histogram<u64>) -> RunStats {
    RunStats {
        latency_uncorrected: latency.clone(),
        latency,
        engine: Engine::IoUring,
        ..RunStats::default()
    }
}

/// Twelve seconds into a 30 s closed-model run of two scenarios at about 12,000
/// requests a second, with checks, an extractor, failures and thresholds.
fn closed() -> (RunInfo, Snapshot, Vec<ThresholdLine>) {
    let info = RunInfo {
        target: "GET http://127.0.0.1:8080/items".into(),
        load: "50 VUs for 30s after a 2s warm-up".into(),
        open_model: false,
        latency_correction: false,
        max_vus: 50,
        target_rate: None,
        warmup: Duration::from_secs(2),
        stages: Vec::new(),
        checks: vec![check(None, "ok"), check(None, "status == 200")],
        scenarios: vec![
            ScenarioInfo {
                name: "browse".into(),
                tags: vec!["web".into(), "read".into()],
            },
            ScenarioInfo {
                name: "order".into(),
                tags: vec!["web".into()],
            },
        ],
        extractors: vec!["item_id".into()],
    };
    let browse = spread(1000, 300, 9_000);
    let order = spread(300, 800, 48_000);
    let mut all = browse.clone();
    all.add(&order).unwrap();
    let mut total = stats(all);
    total.status = vec![
        (Status::Http(200), 121_000),
        (Status::Http(404), 512),
        (Status::Http(503), 88),
    ];
    total.counts = Counts {
        responses: 121_600,
        bytes_in: 121_600 * 830,
        bytes_out: 121_600 * 120,
        warmup_requests: 20_211,
        started: 121_640,
        ..Counts::default()
    };
    total.counts.errors[ErrorKind::Timeout as usize] = 37;
    total.counts.errors[ErrorKind::Reset as usize] = 3;
    total.timeline = (0..10)
        .map(|i| second(10_000 + (i * 731) % 3_000, 4_000 + (i * 2_311) % 40_000))
        .collect();
    total.max_vus = 50;
    total.active_vus = 50;
    total.checks = vec![[121_000, 600], [121_000, 0]];
    total.extractions = vec![[90_000, 12]];
    total.scenarios = vec![
        ScenarioStats {
            latency_max_us: browse.max(),
            latency: browse,
            requests: 91_000,
            errors: 10,
            unexpected: 5,
        },
        ScenarioStats {
            latency_max_us: order.max(),
            latency: order,
            requests: 30_640,
            errors: 30,
            unexpected: 0,
        },
    ];
    total.elapsed = Duration::from_millis(10_000);
    let snapshot = Snapshot {
        elapsed: Duration::from_secs(12),
        warming_up: false,
        planned: Some(Duration::from_secs(32)),
        max_requests: None,
        level: None,
        total,
        interval: Interval {
            length: Duration::from_millis(250),
            requests: 3_012,
            responses: 3_010,
            errors: 2,
            latency: spread(300, 250, 12_000),
            messages: [[0; 2]; 2],
        },
        last: false,
        spans: Vec::new(),
        spans_dropped: 0,
    };
    let thresholds = vec![
        ThresholdLine {
            label: "p95 < 10ms".into(),
            observed: "8.1ms".into(),
            passed: true,
        },
        ThresholdLine {
            label: "error_rate < 0.01%".into(),
            observed: "0.03%".into(),
            passed: false,
        },
        ThresholdLine {
            label: "scenario:order p99 < 500ms".into(),
            observed: "47.2ms".into(),
            passed: true,
        },
    ];
    (info, snapshot, thresholds)
}

/// An open-model run in its second stage, latency corrected, dropping iterations.
fn open() -> (RunInfo, Snapshot, Vec<ThresholdLine>) {
    let info = RunInfo {
        target: "POST http://127.0.0.1:8080/orders".into(),
        load: "3 stages of arrival rate on up to 200 VUs".into(),
        open_model: true,
        latency_correction: true,
        max_vus: 200,
        target_rate: Some(150.0),
        warmup: Duration::ZERO,
        stages: vec![
            Stage {
                duration: Duration::from_secs(10),
                target: 100.0,
            },
            Stage {
                duration: Duration::from_secs(20),
                target: 300.0,
            },
            Stage {
                duration: Duration::from_secs(5),
                target: 0.0,
            },
        ],
        ..RunInfo::default()
    };
    let mut total = stats(spread(2_000, 1_000, 900_000));
    total.latency_uncorrected = spread(2_000, 900, 400_000);
    total.schedule_lag = spread(2_000, 10, 300_000);
    total.status = vec![(Status::Http(200), 1_900), (Status::Http(503), 60)];
    total.counts = Counts {
        responses: 1_960,
        bytes_in: 500_000,
        started: 2_010,
        dropped: 45,
        ..Counts::default()
    };
    total.counts.errors[ErrorKind::ConnectRefused as usize] = 40;
    total.timeline = (0..14)
        .map(|i| second(100 + i * 10, 20_000 + i * 30_000))
        .collect();
    total.max_vus = 180;
    total.active_vus = 171;
    total.elapsed = Duration::from_secs(14);
    let snapshot = Snapshot {
        elapsed: Duration::from_secs(14),
        warming_up: false,
        planned: Some(Duration::from_secs(35)),
        max_requests: None,
        level: Some(180.0),
        total,
        interval: Interval {
            length: Duration::from_millis(250),
            requests: 60,
            responses: 58,
            errors: 2,
            latency: spread(60, 5_000, 800_000),
            messages: [[0; 2]; 2],
        },
        last: false,
        spans: Vec::new(),
        spans_dropped: 0,
    };
    (info, snapshot, Vec::new())
}

/// A long run that fails in a few places among many that pass: three scenarios of
/// fifteen steps with verbose names and two checks each, where step 7 of each
/// gets 500s; one threshold of three fails. Statuses of every kind, each a sliver,
/// while timeouts are half of all requests.
fn failing() -> (RunInfo, Snapshot, Vec<ThresholdLine>) {
    let (mut info, mut snapshot, _) = closed();
    info.target = "GET http://127.0.0.1:18781/step0?q=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into();
    info.extractors.clear();
    info.scenarios = (0..3)
        .map(|i| ScenarioInfo {
            name: format!("scenario_{i}_with_a_rather_long_name_to_see_how_it_is_cut"),
            tags: vec![format!("tag{i}"), "common".into()],
        })
        .collect();
    info.checks.clear();
    let total = &mut snapshot.total;
    total.checks.clear();
    for scenario in 0..3 {
        for step in 0..15 {
            let name = format!("step {step} of scenario {scenario} named verbosely");
            for expr in ["status == 200", "body contains \"ok\""] {
                info.checks.push(check(Some(&name), expr));
                let fails = if step == 7 { 270 + scenario * 10 } else { 0 };
                total.checks.push([4_000 - fails, fails]);
            }
        }
    }
    total.extractions.clear();
    let codes = [
        200, 201, 202, 204, 301, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503,
    ];
    total.status = codes
        .iter()
        .map(|&c| (Status::Http(c), 2 + u64::from(c % 7)))
        .collect();
    total.counts.responses = total.status.iter().map(|(_, n)| n).sum();
    total.counts.errors = [0; ErrorKind::COUNT];
    total.counts.errors[ErrorKind::Timeout as usize] = total.counts.responses;
    total.scenarios = (0..3)
        .map(|i| ScenarioStats {
            latency_max_us: 9_000,
            latency: spread(100, 300, 9_000),
            requests: 40_000 + i * 31,
            errors: 0,
            unexpected: 270 + i * 10,
        })
        .collect();
    let thresholds = vec![
        ThresholdLine {
            label: "p95 < 200ms".into(),
            observed: "0.20ms".into(),
            passed: true,
        },
        ThresholdLine {
            label: "error_rate < 1%".into(),
            observed: "0.00%".into(),
            passed: true,
        },
        ThresholdLine {
            label: "scenario:scenario_2_with_a_rather_long_name_to_see_how_it_is_cut p99 < 1s"
                .into(),
            observed: "8.81ms".into(),
            passed: true,
        },
        ThresholdLine {
            label: "check_pass_rate > 0.99".into(),
            observed: "93.33%".into(),
            passed: false,
        },
    ];
    (info, snapshot, thresholds)
}

/// Draw `view` on a `width`x`height` test terminal.
fn render(
    (info, snapshot, thresholds): &(RunInfo, Snapshot, Vec<ThresholdLine>),
    controls: Controls,
    serious: bool,
    (width, height): (u16, u16),
) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let view = View {
        info,
        snapshot,
        thresholds,
        controls: &controls,
        serious,
    };
    terminal.draw(|f| draw(f, &view)).unwrap();
    terminal.backend().buffer().clone()
}

/// The buffer's text, one line a row, trailing blanks trimmed.
fn text(buffer: &Buffer) -> String {
    let width = usize::from(buffer.area.width);
    let mut out = String::new();
    for row in buffer.content.chunks(width) {
        let line: String = row.iter().map(|c| c.symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The buffer's foreground colours, one letter a cell: upper case for the base
/// colours, lower case for their light variants, `d` dark grey, `w` white, `.` none.
fn colours(buffer: &Buffer) -> String {
    let width = usize::from(buffer.area.width);
    let mut out = String::new();
    for row in buffer.content.chunks(width) {
        let line: String = row
            .iter()
            .map(|c| match c.fg {
                Color::Reset => '.',
                Color::Red => 'R',
                Color::LightRed => 'r',
                Color::Yellow => 'Y',
                Color::LightYellow => 'y',
                Color::Green => 'G',
                Color::LightGreen => 'g',
                Color::Cyan => 'C',
                Color::LightCyan => 'c',
                Color::Magenta => 'M',
                Color::LightMagenta => 'm',
                Color::Gray => 'A',
                Color::White => 'w',
                Color::DarkGray => 'd',
                _ => '?',
            })
            .collect();
        out.push_str(line.trim_end_matches('.'));
        out.push('\n');
    }
    out
}

/// The smallest size the layout takes (`MIN_SIZE`).
const SMALLEST: (u16, u16) = (60, 22);
const SMALL: (u16, u16) = (80, 24);
const LARGE: (u16, u16) = (160, 48);

#[test]
fn closed_80x24() {
    let b = render(&closed(), Controls::new(Theme::Kaioken), false, SMALL);
    insta::assert_snapshot!(text(&b));
}

#[test]
fn closed_160x48() {
    let b = render(&closed(), Controls::new(Theme::Kaioken), false, LARGE);
    insta::assert_snapshot!(text(&b));
}

/// At the smallest size every panel still shows rows of its own: the latency
/// panel both its columns, the load model its lines, the lists their first rows.
#[test]
fn closed_60x22() {
    let b = render(&closed(), Controls::new(Theme::Kaioken), false, SMALLEST);
    let t = text(&b);
    assert!(t.contains("Latency · last │ run"), "{t}");
    assert!(
        !t.contains("│… "),
        "a panel of nothing but \"… N more\":\n{t}"
    );
    insta::assert_snapshot!(t);
}

#[test]
fn open_60x22() {
    let b = render(&open(), Controls::new(Theme::Kaioken), false, SMALLEST);
    insta::assert_snapshot!(text(&b));
}

/// What fails comes first in every list, at every size: the failing threshold,
/// then the failing checks (each with its expression, its step's name cut in the
/// middle), and the timeouts of half the requests before the statuses.
#[test]
fn failures_first() {
    let state = failing();
    for size in [SMALLEST, SMALL, (120, 40), LARGE] {
        let t = text(&render(&state, Controls::new(Theme::Plain), false, size));
        // At 60 columns the label is cut in the middle; its bound and value stay.
        assert!(
            t.contains("✗ check_pas") && t.contains(" > 0.99  93.33%"),
            "{size:?}\n{t}"
        );
        assert!(t.contains("] status == 200 9"), "{size:?}\n{t}");
        assert!(t.contains("body contains \"ok\" 9"), "{size:?}\n{t}");
        assert!(t.contains("timeout "), "{size:?}\n{t}");
        let timeout = t.find("timeout ").unwrap();
        assert!(
            t.find("\n│200 ").is_none_or(|at| at > timeout),
            "{size:?}\n{t}"
        );
    }
}

#[test]
fn failing_60x22() {
    let b = render(&failing(), Controls::new(Theme::Plain), false, SMALLEST);
    insta::assert_snapshot!(text(&b));
}

#[test]
fn failing_80x24() {
    let b = render(&failing(), Controls::new(Theme::Plain), false, SMALL);
    insta::assert_snapshot!(text(&b));
}

#[test]
fn failing_160x48() {
    let b = render(&failing(), Controls::new(Theme::Plain), false, LARGE);
    insta::assert_snapshot!(text(&b));
}

#[test]
fn open_80x24() {
    let b = render(&open(), Controls::new(Theme::Kaioken), false, SMALL);
    insta::assert_snapshot!(text(&b));
}

#[test]
fn open_160x48() {
    let b = render(&open(), Controls::new(Theme::Kaioken), false, LARGE);
    insta::assert_snapshot!(text(&b));
}

/// `--serious`: plain words, no power levels, no colour.
#[test]
fn serious_80x24() {
    let b = render(&closed(), Controls::new(Theme::Plain), true, SMALL);
    let t = text(&b);
    assert!(!t.contains("9000") && !t.contains("Power"), "{t}");
    assert_eq!(colours(&b).trim_matches(['.', '\n']), "");
    insta::assert_snapshot!(t);
}

#[test]
fn warming_up_with_a_request_budget() {
    let (info, mut snapshot, thresholds) = closed();
    snapshot.warming_up = true;
    snapshot.elapsed = Duration::from_secs(1);
    let mut state = (info, snapshot.clone(), thresholds);
    let b = render(&state, Controls::new(Theme::Kaioken), false, SMALL);
    assert!(text(&b).contains("warming up 1s / 2s"), "{}", text(&b));
    state.1.warming_up = false;
    state.1.planned = None;
    state.1.max_requests = Some(500_000);
    let b = render(&state, Controls::new(Theme::Kaioken), false, SMALL);
    assert!(text(&b).contains("141,851 / 500,000 req"), "{}", text(&b));
}

/// Each theme's name is in the title, and its aura colours the borders.
#[test]
fn themes_colour_the_view() {
    let state = closed();
    for (theme, letter) in Theme::CYCLE.iter().zip(['R', 'Y', 'C', 'A', 'G', 'M']) {
        let b = render(&state, Controls::new(*theme), false, SMALL);
        let t = text(&b);
        assert!(t.lines().next().unwrap().contains(theme.name()), "{t}");
        let c = colours(&b);
        // The top-left corner of the first panel is a border.
        assert_eq!(c.lines().nth(1).unwrap().chars().next(), Some(letter));
    }
}

#[test]
fn kaioken_colours_80x24() {
    let b = render(&closed(), Controls::new(Theme::Kaioken), false, SMALL);
    insta::assert_snapshot!(colours(&b));
}

#[test]
fn help_80x24() {
    let mut controls = Controls::new(Theme::Kaioken);
    controls.help = true;
    let b = render(&closed(), controls, false, SMALL);
    insta::assert_snapshot!(text(&b));
}

/// `+`: five seconds a bar, said in the charts' titles.
#[test]
fn time_scale_is_shown() {
    let mut controls = Controls::new(Theme::Kaioken);
    controls.scale = 2;
    let b = render(&closed(), controls, false, SMALL);
    assert!(text(&b).contains("5s/bar"), "{}", text(&b));
}

/// Too small for the layout: one line, whatever the size, and no panic down to
/// nothing at all.
#[test]
fn too_small() {
    let b = render(&closed(), Controls::new(Theme::Kaioken), false, (59, 30));
    insta::assert_snapshot!(text(&b).lines().next().unwrap(), @"terminal too small (59x30, needs 60x22) · q stops");
    for (w, h) in [
        (0, 0),
        (1, 1),
        (10, 3),
        (60, 21),
        (60, 22),
        (200, 22),
        (61, 100),
    ] {
        render(&closed(), Controls::new(Theme::Kaioken), false, (w, h));
    }
}

/// A run of WebSocket messages and gRPC calls: one panel per message protocol, with
/// messages each way (now and over the run), sessions, open times and streams; the
/// status panel shows their codes.
fn message_protocols() -> (RunInfo, Snapshot, Vec<ThresholdLine>) {
    let (mut info, mut snapshot, _) = closed();
    info.target = "WS ws://127.0.0.1:8765/chat".into();
    info.scenarios.clear();
    let total = &mut snapshot.total;
    total.scenarios.clear();
    total.status = vec![
        (Status::Grpc(0), 52_000),
        (Status::Grpc(5), 4_000),
        (Status::Ws(1000), 61_230),
        (Status::Ws(1011), 3),
    ];
    let mut ws = kaioken_runtime::Messages::new();
    (ws.sent, ws.received) = (61_240, 61_230);
    (ws.bytes_sent, ws.bytes_received) = (1_224_800, 1_224_600);
    (ws.opened, ws.open_failed, ws.closed_by_peer) = (53, 0, 3);
    ws.open_time = spread(53, 400, 2_500);
    let mut grpc = kaioken_runtime::Messages::new();
    (grpc.sent, grpc.received) = (56_000, 112_000);
    (grpc.bytes_sent, grpc.bytes_received) = (896_000, 3_584_000);
    (grpc.opened, grpc.open_failed, grpc.closed_by_peer) = (50, 2, 0);
    grpc.open_time = spread(50, 300, 1_800);
    grpc.streams = 8_000;
    grpc.stream_messages = histogram(&[8; 7_000]);
    (grpc.stream_messages_sum, grpc.stream_messages_max) = (56_000, 8);
    grpc.first_message = spread(7_000, 200, 9_000);
    total.messages = [Some(Box::new(ws)), Some(Box::new(grpc))];
    snapshot.interval.messages = [[1_280, 1_279], [1_170, 2_340]];
    (info, snapshot, Vec::new())
}

#[test]
fn message_protocols_80x24() {
    let b = render(
        &message_protocols(),
        Controls::new(Theme::Plain),
        false,
        SMALL,
    );
    insta::assert_snapshot!(text(&b));
}

#[test]
fn message_protocols_160x48() {
    let b = render(
        &message_protocols(),
        Controls::new(Theme::Plain),
        false,
        LARGE,
    );
    insta::assert_snapshot!(text(&b));
}

/// An empty snapshot (the first tick): nothing divides by zero, nothing panics.
#[test]
fn first_tick() {
    let (info, _, _) = closed();
    let snapshot = Snapshot {
        elapsed: Duration::ZERO,
        warming_up: false,
        planned: Some(Duration::from_secs(10)),
        max_requests: None,
        level: None,
        total: stats(histogram(&[])),
        interval: Interval {
            length: Duration::ZERO,
            requests: 0,
            responses: 0,
            errors: 0,
            latency: histogram(&[]),
            messages: [[0; 2]; 2],
        },
        last: false,
        spans: Vec::new(),
        spans_dropped: 0,
    };
    let b = render(
        &(info, snapshot, Vec::new()),
        Controls::new(Theme::Kaioken),
        false,
        SMALL,
    );
    assert!(text(&b).contains("no responses yet"), "{}", text(&b));
}

/// The histogram's columns hold every request, the fastest in the first and the
/// slowest in the last.
#[test]
fn histogram_columns_hold_every_request() {
    let h = spread(1000, 300, 48_000);
    let (columns, low, high) = crate::draw::histogram_columns(&h, 50);
    assert_eq!(columns.iter().sum::<u64>(), 1000);
    assert!(columns[0] > 0 && columns[49] > 0, "{columns:?}");
    assert_eq!((low, high), (h.min(), h.max()));
    let (columns, ..) = crate::draw::histogram_columns(&histogram(&[7, 7]), 3);
    assert_eq!(columns, [2, 0, 0]);
}

/// The latency chart shows each finished second's own p99, and a second still in
/// progress (no percentiles yet) its largest latency so far.
#[test]
fn latency_chart_reads_each_second_s_p99() {
    let finished = second(100, 10_000);
    assert_eq!(crate::second_p99_us(&finished), 9_000);
    let in_progress = Second {
        latency_p50_us: 0,
        latency_p90_us: 0,
        latency_p99_us: 0,
        ..finished
    };
    assert_eq!(crate::second_p99_us(&in_progress), 10_000);
    assert_eq!(crate::second_p99_us(&Second::default()), 0);
}
