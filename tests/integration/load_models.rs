//! Load models and truthful measurement: the open model (`arrival_rate`) starts
//! iterations on schedule whatever the server does, counts the ones it cannot start,
//! and measures latency from when each iteration was due (coordinated omission);
//! `[[stages]]` move VUs or the arrival rate linearly. Each iteration here is one
//! request, so iteration counts can be compared with what the server served.
//!
//! The rates, lags and latencies asserted here are timing claims. Two such runs at
//! once on a small machine would measure each other, so the runs that assert them
//! take [`timing_lock`] first (`scripts/test.sh` runs this module's tests in a
//! process of their own, one at a time, beside the others).

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Output, Report, SCENARIO, Test, kaioken};
use crate::nginx::{Nginx, Variant};
use crate::servers::{Behaviour, Server};

/// A port nothing should be listening on; these runs must fail before connecting.
use crate::harness::NOWHERE;

/// Serialize the runs whose assertions depend on timing (see the module docs).
fn timing_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The report's `timeline`.
fn timeline(report: &Report) -> &Vec<Value> {
    report
        .get("timeline")
        .as_array()
        .unwrap_or_else(|| panic!("`timeline` is not an array:\n{report}"))
}

/// `key` of every timeline entry, in order.
fn per_second(report: &Report, key: &str) -> Vec<u64> {
    timeline(report)
        .iter()
        .map(|s| {
            s[key]
                .as_u64()
                .unwrap_or_else(|| panic!("timeline[].{key} is not an integer: {s}\n{report}"))
        })
        .collect()
}

/// `key` of the timeline entry for `second`.
fn at_second(report: &Report, second: u64, key: &str) -> u64 {
    let entry = timeline(report)
        .iter()
        .find(|s| s["second"].as_u64() == Some(second))
        .unwrap_or_else(|| panic!("the timeline has no second {second}:\n{report}"));
    entry[key]
        .as_u64()
        .unwrap_or_else(|| panic!("timeline second {second}: `{key}` is not an integer\n{report}"))
}

/// `|actual - want| <= tolerance * want`.
fn assert_within(what: &str, actual: f64, want: f64, tolerance: f64, report: &Report) {
    assert!(
        (actual - want).abs() <= tolerance * want,
        "{what} = {actual}, expected {want} ± {:.1}%\n{report}",
        tolerance * 100.0
    );
}

/// `load.stages` as (duration_s, key, value) triples, numbers as f64 (a report may
/// write `4` or `4.0`).
fn stages(report: &Report) -> Vec<(f64, String, f64)> {
    let stages = report
        .get("load.stages")
        .as_array()
        .unwrap_or_else(|| panic!("`load.stages` is not an array:\n{report}"));
    stages
        .iter()
        .map(|s| {
            let obj = s
                .as_object()
                .unwrap_or_else(|| panic!("a stage is not an object: {s}\n{report}"));
            let duration = obj
                .get("duration_s")
                .and_then(Value::as_f64)
                .unwrap_or_else(|| panic!("a stage without a numeric duration_s: {s}\n{report}"));
            let targets: Vec<(&String, &Value)> = obj
                .iter()
                .filter(|(k, _)| k.as_str() != "duration_s")
                .collect();
            assert_eq!(targets.len(), 1, "a stage with other keys: {s}\n{report}");
            let (key, value) = targets[0];
            let value = value
                .as_f64()
                .unwrap_or_else(|| panic!("stage {key} is not a number: {s}\n{report}"));
            (duration, key.clone(), value)
        })
        .collect()
}

/// The fields every report has from this feature on, with the relations between
/// them that hold in every run where each iteration is one request and nothing is
/// cut off: the timeline adds up to the totals, every started iteration finished as
/// a request, the achieved rate is started over the window, and no more VUs were
/// active than allowed.
fn check_iterations(report: &Report) {
    let started = report.u64("iterations.started");
    let dropped = report.u64("iterations.dropped");
    // The rate is over the planned window when the run lasted it, else over the
    // time it ran.
    let window = match report.str("outcome.stop_reason") {
        "duration" => report.f64("load.duration_s"),
        _ => report.f64("elapsed_s"),
    };
    assert_within(
        "iterations.achieved_rate",
        report.f64("iterations.achieved_rate"),
        started as f64 / window,
        0.001,
        report,
    );
    assert_eq!(report.u64("requests.unfinished"), 0, "{report}");
    assert_eq!(
        started,
        report.u64("requests.total"),
        "every started iteration is one request, and each finished\n{report}"
    );
    assert_eq!(
        per_second(report, "started").iter().sum::<u64>(),
        started,
        "timeline[].started does not add up to iterations.started\n{report}"
    );
    assert_eq!(
        per_second(report, "dropped").iter().sum::<u64>(),
        dropped,
        "timeline[].dropped does not add up to iterations.dropped\n{report}"
    );
    let max_active = report.u64("vus.max_active");
    let max_allowed = report.u64("vus.max_allowed");
    assert!(
        max_active <= max_allowed,
        "vus.max_active {max_active} > vus.max_allowed {max_allowed}\n{report}"
    );
    let peak = per_second(report, "vus").into_iter().max().unwrap_or(0);
    assert!(
        peak <= max_active,
        "the timeline has {peak} VUs in a second, vus.max_active is {max_active}\n{report}"
    );
}

/// The run's VUs ran on `engine` (both engines run the open model over plain
/// HTTP/1.1).
fn assert_engine(report: &Report, engine: &str) {
    assert_eq!(report.str("settings.engine"), engine, "{report}");
}

/// The access log has exactly the responses kaioken reports, and nothing failed.
fn assert_served_by(report: &Report, nginx: &Nginx) {
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    assert_eq!(
        report.u64("requests.responses"),
        nginx.access_log_lines().len() as u64,
        "kaioken's responses != nginx's access log lines\n{report}\n{}",
        nginx.logs()
    );
}

/// The share of a run's planned iterations that its end may cut on a loaded machine.
/// Iterations that fall due while the machine keeps kaioken off the CPU are not
/// lost: they start when it runs again, late (their lag and corrected latency say
/// so), and are counted in the second they were due. Only the end cuts: what is due
/// in the last moments, or still waiting for a VU, when the deadline stops the run is
/// dropped ([`assert_accounted`]). These runs once
/// allowed 1% and no drop at all, 40 ms of a 4 s run, which failed on CI's 2-core
/// machine, shared with the other test thread's runs and servers; 10% allows 400 ms
/// of a 4 s run, half a second of a 5 s one. A scheduler that cannot keep the rate
/// (one iteration per millisecond timer tick and worker would manage well under half
/// of 5000/s) falls far below it.
pub(crate) const END_CUT: f64 = 0.10;

/// Every iteration the plan put in the window (`planned`) was started or dropped,
/// exactly, on either engine, and no more than `cut` of them were not started.
pub(crate) fn assert_accounted(report: &Report, planned: u64, cut: f64) {
    let started = report.u64("iterations.started");
    let dropped = report.u64("iterations.dropped");
    assert_eq!(
        started + dropped,
        planned,
        "every iteration due is started or dropped\n{report}"
    );
    let least = planned as f64 * (1.0 - cut);
    assert!(
        started as f64 >= least,
        "{started} of {planned} planned iterations started, fewer than {least:.0} \
         ({dropped} dropped)\n{report}"
    );
}

/// Nothing was dropped in the timeline's seconds before `second` (the run's last):
/// the drops [`END_CUT`] allows are the run's end's. What the stop drops counts at
/// the deadline, and an iteration still queued then counts in the second it was due,
/// so a drop in an earlier second is an iteration over a second late at the end (its
/// VUs kept off the CPU that long), or one dropped as the run went (a full queue, a
/// VU limit, a wait past `queue_timeout`): what these runs must not do.
pub(crate) fn assert_no_drops_before(report: &Report, second: u64) {
    let early: Vec<&Value> = timeline(report)
        .iter()
        .filter(|s| s["second"].as_u64().is_some_and(|n| n < second))
        .filter(|s| s["dropped"].as_u64() != Some(0))
        .collect();
    assert!(
        early.is_empty(),
        "iterations dropped before second {second}, not by the run's end: {early:?}\n{report}"
    );
}

/// The open model against nginx at `rate` iterations/s for `seconds`: every
/// iteration planned was accounted for, all but what the run's end may cut on a
/// loaded machine ([`END_CUT`]) were started, each second inside the run started
/// about `rate`, and nginx served every iteration.
fn assert_rate_is_accurate(engine: &str, rate: u64, seconds: u64) {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .on_engine(engine)
        .arg(nginx.url("/"))
        .args(["--arrival-rate", &rate.to_string(), "--max-vus", "200"])
        .args(["-d", &format!("{seconds}s")])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_engine(&report, engine);
    assert_served_by(&report, &nginx);

    assert_eq!(report.str("load.model"), "arrival_rate", "{report}");
    assert_within(
        "load.arrival_rate",
        report.f64("load.arrival_rate"),
        rate as f64,
        1e-9,
        &report,
    );
    assert_eq!(report.u64("load.max_vus"), 200, "{report}");
    assert!(
        report.bool("load.latency_correction"),
        "on by default in the open model\n{report}"
    );
    assert_within(
        "load.duration_s",
        report.f64("load.duration_s"),
        seconds as f64,
        1e-9,
        &report,
    );
    assert_eq!(report.u64("vus.max_allowed"), 200, "{report}");

    let target = rate as f64;
    assert_within(
        "iterations.target_rate",
        report.f64("iterations.target_rate"),
        target,
        0.001,
        &report,
    );
    // The achieved rate is the started over the window (check_iterations): with
    // these, at most the plan and short of it by no more than the run's end cut.
    assert_accounted(&report, rate * seconds, END_CUT);
    // Paced, not bursty: every whole second inside the run started about `rate`.
    // An iteration counts in the second it was due, however late a loaded machine
    // started it, so these hold to 10% under load: only the run's end drops
    // iterations, and it would have to drop those of a whole second earlier (its VUs
    // kept off the CPU for over a second) to reach them, far beyond [`END_CUT`].
    let started = per_second(&report, "started");
    for (second, &n) in started
        .iter()
        .enumerate()
        .take(seconds as usize - 1)
        .skip(1)
    {
        assert_within(
            &format!("timeline second {second} started"),
            n as f64,
            target,
            0.1,
            &report,
        );
    }
}

#[test]
fn arrival_rate_100_is_accurate() {
    arrival_rate_100_is_accurate_on("io_uring");
}

#[test]
fn arrival_rate_100_is_accurate_on_tokio() {
    arrival_rate_100_is_accurate_on("tokio");
}

fn arrival_rate_100_is_accurate_on(engine: &str) {
    assert_rate_is_accurate(engine, 100, 10);
}

#[test]
fn arrival_rate_1000_is_accurate() {
    arrival_rate_1000_is_accurate_on("io_uring");
}

#[test]
fn arrival_rate_1000_is_accurate_on_tokio() {
    arrival_rate_1000_is_accurate_on("tokio");
}

fn arrival_rate_1000_is_accurate_on(engine: &str) {
    assert_rate_is_accurate(engine, 1000, 5);
}

#[test]
fn arrival_rate_5000_is_accurate() {
    arrival_rate_5000_is_accurate_on("io_uring");
}

#[test]
fn arrival_rate_5000_is_accurate_on_tokio() {
    arrival_rate_5000_is_accurate_on("tokio");
}

fn arrival_rate_5000_is_accurate_on(engine: &str) {
    assert_rate_is_accurate(engine, 5000, 4);
}

/// With a server that takes 100 ms and 2 VUs, at most ~20 iterations/s can run;
/// the rest of the 200/s are dropped and counted, and no more than 2 VUs (and 2
/// connections) are ever used. `[load]` is given as a scenario with `queue`, the
/// limit on waiting iterations, so few are still waiting when the run ends.
fn assert_drops_counted(engine: &str, queue: &str) {
    let _timing = timing_lock();
    let server = Server::start(Behaviour::Delay(Duration::from_millis(100)));
    let out = Test::new()
        .on_engine(engine)
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [load]
            arrival_rate = 200
            max_vus = 2
            duration = "3s"
            {queue}
            "#,
            server.url()
        ))
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_engine(&report, engine);
    let started = report.u64("iterations.started");
    let dropped = report.u64("iterations.dropped");
    assert!(
        dropped > 0,
        "nothing dropped at 200/s with 2 VUs × 100 ms\n{report}"
    );
    // Every iteration due is either started or dropped: exactly the plan's 600.
    assert_eq!(started + dropped, 600, "{report}");
    let warnings = report.get("warnings").as_array().unwrap();
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with(&format!("{dropped} iterations dropped")),
        "{report}"
    );
    assert!(out.stdout.contains("⚠ "), "{}", out.stdout);
    // 2 VUs × 3 s / 100 ms = 60 at most, give or take one each at the edges.
    assert!(
        (30..=64).contains(&started),
        "{started} iterations started with 2 VUs on a 100 ms server for 3s\n{report}"
    );
    assert!(report.u64("vus.max_active") <= 2, "{report}");
    assert_eq!(report.u64("vus.max_allowed"), 2, "{report}");
    assert_eq!(report.u64("load.max_vus"), 2, "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    let counts = server.counts();
    assert_eq!(
        report.u64("requests.responses"),
        counts.responses.load(Ordering::SeqCst),
        "kaioken's responses != responses the server wrote\n{report}"
    );
    let connections = counts.connections.load(Ordering::SeqCst);
    assert!(
        connections <= 2,
        "{connections} connections with max_vus = 2\n{report}"
    );
    // The drops happened throughout, not only at the end.
    let dropped_per_second = per_second(&report, "dropped");
    assert!(
        dropped_per_second.iter().filter(|&&n| n > 0).count() >= 2,
        "drops in fewer than two seconds: {dropped_per_second:?}\n{report}"
    );
}

#[test]
fn dropped_iterations_are_counted_when_the_queue_is_full() {
    dropped_iterations_are_counted_when_the_queue_is_full_on("io_uring");
}

#[test]
fn dropped_iterations_are_counted_when_the_queue_is_full_on_tokio() {
    dropped_iterations_are_counted_when_the_queue_is_full_on("tokio");
}

fn dropped_iterations_are_counted_when_the_queue_is_full_on(engine: &str) {
    assert_drops_counted(engine, "queue_size = 5");
}

#[test]
fn dropped_iterations_are_counted_when_they_wait_too_long() {
    dropped_iterations_are_counted_when_they_wait_too_long_on("io_uring");
}

#[test]
fn dropped_iterations_are_counted_when_they_wait_too_long_on_tokio() {
    dropped_iterations_are_counted_when_they_wait_too_long_on("tokio");
}

fn dropped_iterations_are_counted_when_they_wait_too_long_on(engine: &str) {
    assert_drops_counted(engine, "queue_timeout = \"50ms\"");
}

#[test]
fn dropped_iterations_are_counted_with_the_default_queue() {
    dropped_iterations_are_counted_with_the_default_queue_on("io_uring");
}

#[test]
fn dropped_iterations_are_counted_with_the_default_queue_on_tokio() {
    dropped_iterations_are_counted_with_the_default_queue_on("tokio");
}

fn dropped_iterations_are_counted_with_the_default_queue_on(engine: &str) {
    // 10000 places, 2s: iterations still waiting when the run ends were never run
    // either, and must be counted as dropped rather than lost.
    assert_drops_counted(engine, "");
}

/// A queue of one before a server that takes 500 ms, at 15/s with one VU: the
/// iteration queued behind a busy VU waits past `queue_timeout` (300 ms), and a
/// fresh one due later must take its place rather than be turned away as "queue
/// full". It waits about 100 ms when the VU frees up, and starts: some queued
/// iteration runs, so the schedule lag reaches tens of milliseconds. Kept, the
/// stale one was popped and dropped, and no queued iteration ever started.
fn assert_expired_iterations_make_room(engine: &str) {
    let _timing = timing_lock();
    let server = Server::start(Behaviour::Delay(Duration::from_millis(500)));
    let out = Test::new()
        .on_engine(engine)
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [load]
            arrival_rate = 15
            max_vus = 1
            queue_size = 1
            queue_timeout = "300ms"
            duration = "2s"
            "#,
            server.url()
        ))
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_engine(&report, engine);
    assert_eq!(
        report.u64("iterations.started") + report.u64("iterations.dropped"),
        30,
        "{report}"
    );
    let lag = report.f64("schedule_lag_ms.max");
    assert!(
        (20.0..=300.0).contains(&lag),
        "schedule_lag_ms.max = {lag}: no queued iteration started, or one waited \
         past the queue timeout\n{report}"
    );
}

#[test]
fn expired_iterations_make_room_in_the_queue() {
    assert_expired_iterations_make_room("io_uring");
}

#[test]
fn expired_iterations_make_room_in_the_queue_on_tokio() {
    assert_expired_iterations_make_room("tokio");
}

/// Far more iterations due than can run: each one due is counted — started or
/// dropped — however far the schedule falls behind (walking a billion a second one
/// by one would undercount), the run says so, and thresholds on drops and on the
/// achieved rate gate it.
#[test]
fn a_billion_a_second_is_counted_exactly() {
    a_billion_a_second_is_counted_exactly_on("io_uring");
}

#[test]
fn a_billion_a_second_is_counted_exactly_on_tokio() {
    a_billion_a_second_is_counted_exactly_on("tokio");
}

fn a_billion_a_second_is_counted_exactly_on(engine: &str) {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .on_engine(engine)
        .scenario(
            r#"
            [thresholds]
            dropped_iterations = "< 1%"
            achieved_rate = "> 95%"
            "#,
        )
        .arg(nginx.url("/"))
        .args(["--arrival-rate", "1e9", "--max-vus", "2", "-d", "2s"])
        .status(4)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(4);
    check_iterations(&report);
    assert_engine(&report, engine);
    assert_served_by(&report, &nginx);
    let started = report.u64("iterations.started");
    let dropped = report.u64("iterations.dropped");
    assert_eq!(started + dropped, 2_000_000_000, "{report}");
    let verdicts: Vec<(String, bool)> = report
        .get("thresholds")
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["metric"].as_str().unwrap().to_owned(),
                t["passed"] == true,
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("dropped_iterations".to_owned(), false),
            ("achieved_rate".to_owned(), false)
        ],
        "{report}"
    );
    let warnings = report.get("warnings").as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{report}");
    assert!(
        warnings[1]
            .as_str()
            .unwrap()
            .contains("below the planned 1000000000.0/s"),
        "{report}"
    );
    // Live too: the progress line counts the drops as they happen.
    assert!(out.stderr.contains("iterations dropped"), "{}", out.stderr);
}

/// A rate so low that few iterations fall in the window: the run still lasts its
/// duration (it does not end "completed" after the last one), and the achieved
/// rate is over that duration — 2 in 5 s at 0.4/s, not 2 in 2.5 s.
#[test]
fn low_rates_last_their_duration() {
    low_rates_last_their_duration_on("io_uring");
}

#[test]
fn low_rates_last_their_duration_on_tokio() {
    low_rates_last_their_duration_on("tokio");
}

fn low_rates_last_their_duration_on(engine: &str) {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .on_engine(engine)
        .arg(nginx.url("/"))
        .args(["--arrival-rate", "0.4", "-d", "5s"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_engine(&report, engine);
    assert_served_by(&report, &nginx);
    assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
    assert!(out.elapsed >= Duration::from_secs(5), "{:?}", out.elapsed);
    assert_eq!(report.u64("iterations.started"), 2, "{report}");
    assert_within(
        "iterations.achieved_rate",
        report.f64("iterations.achieved_rate"),
        0.4,
        1e-9,
        &report,
    );
    assert!(report.get("warnings").as_array().unwrap().is_empty());

    // 1e-7/s for 2 s plans no iteration at all: none runs, and the run says that
    // nothing was measured rather than claiming a rate.
    let out = Test::new()
        .on_engine(engine)
        .arg(nginx.url("/"))
        .args(["--arrival-rate", "1e-7", "-d", "2s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    assert_eq!(report.u64("iterations.started"), 0, "{report}");
    assert_eq!(report.f64("iterations.achieved_rate"), 0.0, "{report}");
    assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
    assert!(
        out.stdout
            .contains("no request finished in the measured window"),
        "{}",
        out.stdout
    );
}

/// A rate cap that two VUs can meet is met: a VU woken a timer tick late keeps its
/// slot instead of sliding the schedule (which capped two VUs near 1,500/s). On
/// both engines: tokio's timers wake on millisecond ticks, which is what the slack
/// is for; io_uring's are precise.
#[test]
fn a_rate_cap_is_met_when_the_vus_can() {
    let _timing = timing_lock();
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Http1);
        let report = Test::new()
            .arg(nginx.url("/"))
            .args(["-c", "2", "-r", "4000", "-d", "3s"])
            .on_engine(engine)
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
        assert_served_by(&report, &nginx);
        // A schedule that slid with each late wake-up sent at most one request per
        // VU per millisecond timer tick: 2,000/s for two VUs, about 1,500/s as
        // measured. Met, the cap is 4,000/s, never more than 2% above it (the cap's
        // own accuracy, whatever the load). Below it, a loaded machine: each VU has
        // half a millisecond per request, and the cap makes up only the slots of the
        // last 2 ms (rate.rs), so every moment kaioken or nginx spends off the CPU is
        // lost for good; the 15% this test allowed is 450 ms of a 3 s run. 40% short
        // (2,400/s) is room for that and still a fifth above the most that sliding
        // schedule allowed.
        let achieved = report.f64("iterations.achieved_rate");
        assert!(
            (4000.0 * 0.6..=4000.0 * 1.02).contains(&achieved),
            "{engine}: iterations.achieved_rate = {achieved:.0}/s at -r 4000 with 2 VUs\n{report}"
        );
    }
}

/// A paced run ends at its duration, on each engine: a rate cap, think time longer
/// than the run's last moments, an open model whose next iteration is due after the
/// end, stages that end at zero VUs. Each once ended up to a wake-up interval late,
/// and its rate was that much too low: the io_uring engine's loop waited out its
/// 20 ms scan with its last VUs retired, or with the deadline inside the wait, and
/// the controller noticed the deadline on its next 50 ms tick (which the tokio
/// engine's sleeping or parked VUs wait for): 11–22 ms late, every time. The margin,
/// 10 ms, is below every one of those and several times what a run's end takes
/// here; a shape gets three tries to end within it, as a loaded machine may keep
/// one run off the CPU that long, but not a run that ends late by design.
#[test]
fn paced_runs_end_at_their_duration() {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    let stages = "
        [[stages]]
        duration = \"500ms\"
        target = 2
        [[stages]]
        duration = \"500ms\"
        target = 0
        ";
    let think = "
        [request]
        think_time = \"300ms\"
        ";
    for engine in ["io_uring", "tokio"] {
        for (what, args, scenario) in [
            ("rate cap", &["-c", "2", "-r", "200", "-d", "1s"][..], None),
            ("think time", &["-c", "2", "-d", "1s"][..], Some(think)),
            ("open model", &["--arrival-rate", "3", "-d", "1s"][..], None),
            ("stages to zero", &[][..], Some(stages)),
        ] {
            let mut tries = Vec::new();
            while tries.len() < 3 && tries.iter().all(|&t| t >= 1.010) {
                let mut test = Test::new()
                    .arg(nginx.url("/"))
                    .args(args)
                    .on_engine(engine)
                    .report();
                if let Some(text) = scenario {
                    test = test.scenario(text);
                }
                let report = test.run().report();
                report.check_invariants(0);
                assert_eq!(report.str("settings.engine"), engine, "{what}\n{report}");
                assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
                let elapsed = report.f64("elapsed_s");
                assert!(elapsed >= 1.0, "{what} on {engine}: {elapsed}\n{report}");
                tries.push(elapsed);
            }
            assert!(
                tries.iter().any(|&t| t < 1.010),
                "{what} on {engine}: elapsed_s {tries:?} for 1 s"
            );
        }
    }
}

/// A cap on requests met by a scenario of two steps: each iteration is two requests,
/// so half the cap in iterations is on target, and nothing is said to fall short
/// while the requests meet the cap; when a loaded machine makes them fall short, the
/// shortfall is said in requests.
#[test]
fn a_rate_cap_on_two_step_iterations_is_judged_in_requests() {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .scenario(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/"
            [[scenarios.steps]]
            url = "/"
            "#,
        )
        .arg(nginx.url("/"))
        .args(["-c", "4", "-r", "400", "-d", "2s"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
    // The cap is on requests: never above 400/s (a cap on iterations would allow
    // 800/s), and not at half of it (the cap taken for iterations of two requests).
    // Below it, a loaded machine: the cap does not make up slots more than 2 ms old
    // (rate.rs), so VUs woken late lose theirs, all run long. The 5% this test once
    // allowed was not enough on CI's shared 2-core machine; 25% is (counts.rs's
    // `rate_limits_throughput` allows 30%), and half the cap stays far outside it.
    let requests_per_s = report.u64("requests.total") as f64 / 2.0;
    assert!(
        (400.0 * 0.75..=400.0 * 1.05).contains(&requests_per_s),
        "{requests_per_s} requests/s at -r 400\n{report}"
    );
    assert_within(
        "iterations.target_rate",
        report.f64("iterations.target_rate"),
        200.0,
        0.05,
        &report,
    );
    // kaioken warns when the requests fall more than 5% short of the cap
    // (`RATE_MARGIN`). Met, nothing is said; missed (on a loaded machine), the
    // warning says the requests' shortfall, never the iterations' 50%. Right at the
    // line (760 requests) floating point may go either way: not judged.
    let warnings = report.get("warnings").as_array().unwrap();
    let short = 1.0 - requests_per_s / 400.0;
    if short < 0.05 - 1e-3 {
        assert!(warnings.is_empty(), "{report}");
    } else if short > 0.05 + 1e-3 {
        let said = format!(
            "achieved {requests_per_s:.1} requests/s, {:.1}% below the -r cap of 400/s: \
             the VUs could not keep up; raise -c",
            short * 100.0
        );
        assert_eq!(warnings.len(), 1, "{report}");
        assert_eq!(warnings[0].as_str(), Some(said.as_str()), "{report}");
    }
}

/// A cap one VU cannot meet: the run says by how much it fell short.
#[test]
fn an_unmet_rate_cap_is_loud() {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "1", "-r", "1000000", "-d", "1s"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    let warnings = report.get("warnings").as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{report}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.contains("below the -r cap of 1000000/s: the VUs could not keep up"),
        "{report}"
    );
    assert!(
        out.stdout.contains(&format!("⚠ {warning}")),
        "{}",
        out.stdout
    );
}

#[test]
fn closed_stages_move_the_vus() {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    // 0 → 4 VUs over 2s, hold 1s, down to 1 over 1s, hold 1s.
    let out = Test::new()
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [[stages]]
            duration = "2s"
            target = 4

            [[stages]]
            duration = "1s"
            target = 4

            [[stages]]
            duration = "1s"
            target = 1

            [[stages]]
            duration = "1s"
            target = 1
            "#,
            nginx.url("/")
        ))
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_served_by(&report, &nginx);
    assert_eq!(report.str("settings.engine"), "io_uring", "{report}");
    assert_eq!(report.str("load.model"), "closed", "{report}");
    assert_within(
        "load.duration_s",
        report.f64("load.duration_s"),
        5.0,
        1e-9,
        &report,
    );
    assert_eq!(
        stages(&report),
        vec![
            (2.0, "target".to_owned(), 4.0),
            (1.0, "target".to_owned(), 4.0),
            (1.0, "target".to_owned(), 1.0),
            (1.0, "target".to_owned(), 1.0),
        ],
        "{report}"
    );
    // The run lasts its stages: it ends at their 5 s deadline, never before, and
    // soon after. How soon is the time its workers take to finish the requests in
    // flight, a moment, but a loaded machine can keep them off the CPU: 2 s is room
    // for that. A run that went on past its deadline until the stop's 5 s grace cut
    // it off would end at 10 s.
    assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
    let elapsed = report.f64("elapsed_s");
    assert!(
        (5.0..7.0).contains(&elapsed),
        "elapsed_s {elapsed}\n{report}"
    );
    assert_eq!(report.u64("vus.max_active"), 4, "{report}");
    assert_eq!(report.u64("vus.max_allowed"), 4, "{report}");
    // The level is the stages' VUs, rounded: VU n runs while it is n or more, from
    // 0.5 s · (n - 0.5) on the way up until 3 s + (4.5 - n) / 3 s on the way down
    // (the controller sets it every 50 ms; a VU starts or stops between requests).
    // A second counts the most VUs it had.
    //
    // Ramping up from 0: about 2 VUs by the end of second 0, not 4 at once.
    let first = at_second(&report, 0, "vus");
    assert!(
        (1..=3).contains(&first),
        "second 0 had {first} VUs\n{report}"
    );
    // The hold at 4, exactly: VUs 3 and 4 run from 1.25 s and 1.75 s to 3.5 s and
    // 3.17 s, so only one started over a second late (after 3 s) could miss second 2.
    assert_eq!(at_second(&report, 2, "vus"), 4, "the hold at 4\n{report}");
    // The hold at 1: VU 1, and VU 2 if it stopped after 4 s, a sixth of a second
    // late. VU 3 stops at 3.5 s: a loaded machine that keeps the controller or the
    // workers off the CPU for half a second has it still running in second 4 too,
    // which a bound of 2 did not allow. VU 4, stopped at 3.17 s, would have to be
    // 0.83 s late as well: 4 is VUs that do not stop, as without stages.
    let last = at_second(&report, 4, "vus");
    assert!(
        (1..=3).contains(&last),
        "second 4 (the hold at 1) had {last} VUs\n{report}"
    );
    // The closed model without `rate` has no schedule: no target rate, no lag, and
    // nothing to correct.
    assert!(report.get("iterations.target_rate").is_null(), "{report}");
    assert_eq!(report.u64("iterations.dropped"), 0, "{report}");
    for p in ["mean", "p50", "p90", "p99", "max"] {
        assert!(
            report.get(&format!("schedule_lag_ms.{p}")).is_null(),
            "schedule_lag_ms.{p} in the closed model\n{report}"
        );
    }
    assert_eq!(
        report.get("latency_uncorrected_ms"),
        report.get("latency_ms"),
        "the closed model's uncorrected latency is its latency\n{report}"
    );
}

/// `--ramp-up` starts the VUs one by one over its length, on both engines: 4 VUs
/// over 2 s start at 0, 0.5, 1 and 1.5 s, so second 0 has 2 of them and seconds 2
/// on have all 4; nginx served every response.
///
/// Two worker threads, whatever this machine has: the first VU (on the first
/// thread) runs alone for half a second, and the cap is the whole run's, not each
/// thread's half from its own first VU (which allowed 1,100 requests in 3 s, not
/// 1,200, and blamed the VUs for the shortfall).
#[test]
fn ramp_up_starts_the_vus_in_turn() {
    let _timing = timing_lock();
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Http1);
        let report = Test::new()
            .arg(nginx.url("/"))
            .args(["-c", "4", "--ramp-up", "2s", "-r", "400", "-d", "3s"])
            .args(["--threads", "2"])
            .on_engine(engine)
            .report()
            .run()
            .report();
        report.check_invariants(0);
        check_iterations(&report);
        assert_served_by(&report, &nginx);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("vus.max_active"), 4, "{report}");
        let first = at_second(&report, 0, "vus");
        assert!(
            (1..=3).contains(&first),
            "{engine}: second 0 had {first} VUs\n{report}"
        );
        assert_eq!(at_second(&report, 2, "vus"), 4, "{engine}\n{report}");
        // The cap holds through the ramp: 400/s for 3 s, never more than 2% above
        // (the cap's own accuracy, whatever the load). Below it, a loaded machine:
        // the cap does not make up slots more than 2 ms old (rate.rs), so VUs woken
        // late lose theirs for good; 25% short is room for that, as in exec.rs's
        // `RATE_SHORTFALL`, and a cap split in halves from each thread's first VU
        // (1,100) is still inside it: `a_rate_cap_is_shared_by_the_active_vus` is the
        // test of that.
        let total = report.u64("requests.total");
        assert!(
            (900..=1200 + 1200 / 50).contains(&total),
            "{engine}: {total} requests, 1,200 planned by the cap\n{report}"
        );
    }
}

/// A rate cap is the run's, whichever VUs are active: stages hold one VU of two
/// for 3 s, on the first of two worker threads, and that VU alone sends the whole
/// 200/s. A cap split by thread, half each whatever their VUs do, held it to 100/s
/// and told the user to raise `-c`. On both engines.
#[test]
fn a_rate_cap_is_shared_by_the_active_vus() {
    let _timing = timing_lock();
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Http1);
        let report = Test::new()
            .scenario(&format!(
                r#"
                [target]
                url = "{}"

                [[stages]]
                duration = "100ms"
                target = 1

                [[stages]]
                duration = "3s"
                target = 1

                [[stages]]
                duration = "100ms"
                target = 2
                "#,
                nginx.url("/")
            ))
            .args(["-r", "200", "--threads", "2"])
            .on_engine(engine)
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_served_by(&report, &nginx);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("vus.max_allowed"), 2, "{report}");
        // 200/s over the 3.2 s, never more than 2% above. Below: a loaded machine
        // loses slots (rate.rs); a quarter short is room for that and far above
        // the 100/s (320 requests) of a cap split by thread.
        let total = report.u64("requests.total");
        assert!(
            (480..=640 + 640 / 50).contains(&total),
            "{engine}: {total} requests, 640 planned by the cap\n{report}"
        );
    }
}

#[test]
fn closed_model_with_rate_reports_its_target_rate() {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "4", "-r", "200", "-d", "2s"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_served_by(&report, &nginx);
    assert_eq!(report.str("settings.engine"), "io_uring", "{report}");
    assert_eq!(report.str("load.model"), "closed", "{report}");
    assert_within(
        "iterations.target_rate",
        report.f64("iterations.target_rate"),
        200.0,
        0.001,
        &report,
    );
    assert_eq!(report.u64("vus.max_allowed"), 4, "{report}");
    assert!(report.u64("vus.max_active") <= 4, "{report}");
    assert_eq!(report.u64("iterations.dropped"), 0, "{report}");
}

#[test]
fn open_stages_ramp_the_rate() {
    open_stages_ramp_the_rate_on("io_uring");
}

#[test]
fn open_stages_ramp_the_rate_on_tokio() {
    open_stages_ramp_the_rate_on("tokio");
}

fn open_stages_ramp_the_rate_on(engine: &str) {
    let _timing = timing_lock();
    let nginx = Nginx::start(Variant::Http1);
    // 0 → 100/s over 2s (100 iterations), then 100 → 300/s over 2s (400).
    let out = Test::new()
        .on_engine(engine)
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [load]
            max_vus = 50

            [[stages]]
            duration = "2s"
            target_rate = 100

            [[stages]]
            duration = "2s"
            target_rate = 300
            "#,
            nginx.url("/")
        ))
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_engine(&report, engine);
    assert_served_by(&report, &nginx);
    assert_eq!(report.str("load.model"), "arrival_rate", "{report}");
    assert_within(
        "load.duration_s",
        report.f64("load.duration_s"),
        4.0,
        1e-9,
        &report,
    );
    assert_eq!(
        stages(&report),
        vec![
            (2.0, "target_rate".to_owned(), 100.0),
            (2.0, "target_rate".to_owned(), 300.0),
        ],
        "{report}"
    );
    // The run's end comes at its highest rate, 300/s, so what a loaded machine's
    // end cuts weighs more here than in a flat run ([`END_CUT`]): 15% is 75
    // iterations, 250 ms of it. No more, so that the rise below still shows: the last
    // second keeps at least 175 of its 250, more than the 150 of the one before.
    assert_accounted(&report, 500, 0.15);
    // 500 planned over 4s.
    assert_within(
        "iterations.target_rate",
        report.f64("iterations.target_rate"),
        125.0,
        0.01,
        &report,
    );
    // Per second about 25, 75, 150, 250: each more than the one before. Each
    // iteration counts in the second it was due, however late it started.
    let started: Vec<u64> = (0..4).map(|s| at_second(&report, s, "started")).collect();
    assert!(
        started.windows(2).all(|w| w[0] < w[1]),
        "started per second does not rise: {started:?}\n{report}"
    );
    assert!(
        started[3] > 3 * started[0],
        "started per second: {started:?}\n{report}"
    );
}

/// The server pauses for [2s, 3s) of every 4s. At 200 iterations/s with 10 VUs, the
/// 10 VUs are stuck in the first 50 ms of each pause, and the ~190 iterations due in
/// the rest of it wait for a VU (well within the 2s queue timeout): none is dropped
/// but what the run's end cuts on a loaded machine ([`END_CUT`]).
fn run_through_stalls(engine: &str, extra: &[&str]) -> Report {
    let server = Server::start(Behaviour::StallWindows {
        every: Duration::from_secs(4),
        from: Duration::from_secs(2),
        to: Duration::from_secs(3),
    });
    let out = Test::new()
        .on_engine(engine)
        .arg(server.url())
        .args(["--arrival-rate", "200", "--max-vus", "10", "-d", "8s"])
        .args(extra)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_engine(&report, engine);
    // The pauses hold back the iterations due in them, each for up to a second;
    // they wait and start, none is dropped. The server pauses on its own clock,
    // which started before kaioken's, so both pauses end before the run's last
    // second.
    assert_accounted(&report, 200 * 8, END_CUT);
    assert_no_drops_before(&report, 7);
    assert!(report.u64("vus.max_active") <= 10, "{report}");
    assert_eq!(
        report.u64("requests.responses"),
        server.counts().responses.load(Ordering::SeqCst),
        "{report}"
    );
    // Both pauses fell inside the run: the requests in flight when each began
    // waited most of a second, however latency is counted.
    let max = report.f64("latency_uncorrected_ms.max");
    assert!(
        max >= 800.0,
        "no request waited out a pause: max {max} ms\n{report}"
    );
    // The iterations due during a pause could not be sent until it ended, whether
    // or not their latency is corrected for it: ~40% of them waited 0–1 s. A loaded
    // machine only adds to that.
    let lag = report.f64("schedule_lag_ms.p99");
    assert!(
        lag >= 300.0,
        "schedule_lag_ms.p99 = {lag} ms through two 1 s pauses\n{report}"
    );
    report
}

#[test]
fn coordinated_omission_is_corrected_by_default() {
    coordinated_omission_is_corrected_by_default_on("io_uring");
}

#[test]
fn coordinated_omission_is_corrected_by_default_on_tokio() {
    coordinated_omission_is_corrected_by_default_on("tokio");
}

fn coordinated_omission_is_corrected_by_default_on(engine: &str) {
    let _timing = timing_lock();
    let report = run_through_stalls(engine, &[]);
    assert!(report.bool("load.latency_correction"), "{report}");
    // A quarter of the iterations fell due during a pause and carry its wait
    // (0–1 s, ~750 ms at p95); uncorrected, only the 20 in flight would. The raw
    // bound holds on a loaded machine: a stall lengthens only the requests in flight
    // through it, a few at a time at 200/s against this instant server, and 80 of
    // them (5%) held 100 ms would take seconds of stalls.
    let p95 = report.f64("latency_ms.p95");
    assert!(
        p95 >= 300.0,
        "corrected latency_ms.p95 = {p95} ms: the pauses were not counted\n{report}"
    );
    let raw = report.f64("latency_uncorrected_ms.p95");
    assert!(
        raw < 100.0,
        "latency_uncorrected_ms.p95 = {raw} ms: the raw latencies are not raw\n{report}"
    );
}

#[test]
fn coordinated_omission_without_correction() {
    coordinated_omission_without_correction_on("io_uring");
}

#[test]
fn coordinated_omission_without_correction_on_tokio() {
    coordinated_omission_without_correction_on("tokio");
}

fn coordinated_omission_without_correction_on(engine: &str) {
    let _timing = timing_lock();
    let report = run_through_stalls(engine, &["--no-latency-correction"]);
    assert!(!report.bool("load.latency_correction"), "{report}");
    // As the raw latency with correction: a loaded machine's stalls lengthen only
    // the few requests in flight through them.
    let p95 = report.f64("latency_ms.p95");
    assert!(
        p95 < 100.0,
        "uncorrected latency_ms.p95 = {p95} ms: only ~20 requests were slow\n{report}"
    );
    assert_eq!(
        report.get("latency_uncorrected_ms"),
        report.get("latency_ms"),
        "without correction the two latencies are the same\n{report}"
    );
}

#[test]
fn latency_correction_can_be_turned_off_in_the_scenario() {
    latency_correction_can_be_turned_off_in_the_scenario_on("io_uring");
}

#[test]
fn latency_correction_can_be_turned_off_in_the_scenario_on_tokio() {
    latency_correction_can_be_turned_off_in_the_scenario_on("tokio");
}

fn latency_correction_can_be_turned_off_in_the_scenario_on(engine: &str) {
    // Also: with one VU pre-allocated, VUs are added only on demand, and a fast
    // server at 50/s needs one or two, not all 20. Two worker threads, as on CI's
    // machine, whatever this one has: each pre-allocates its own VU.
    let server = Server::start(Behaviour::Ok);
    let out = Test::new()
        .on_engine(engine)
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [load]
            arrival_rate = 50
            max_vus = 20
            pre_allocated_vus = 1
            duration = "1s"
            latency_correction = false
            "#,
            server.url()
        ))
        .args(["--threads", "2"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    check_iterations(&report);
    assert_engine(&report, engine);
    assert!(!report.bool("load.latency_correction"), "{report}");
    assert_eq!(report.str("load.model"), "arrival_rate", "{report}");
    assert_eq!(report.u64("load.pre_allocated_vus"), 1, "{report}");
    assert_eq!(report.u64("load.max_vus"), 20, "{report}");
    assert_eq!(report.u64("vus.max_allowed"), 20, "{report}");
    // A worker starts a VU for an iteration that falls due while all of its VUs are
    // busy with earlier ones (on tokio, also while its pre-allocated VU has not yet
    // had its first turn to wait: one more). An iteration holds its VU from its due
    // time (released up to 1 ms before) to its end, its lag and latency (raw here),
    // and a worker's iterations are due 40 ms apart: at most one more overlaps per
    // 40 ms of the longest lag and latency, one per 20 ms over both workers. On an
    // idle machine that bound is 5, what this test once asserted. A loaded machine
    // that holds the run back makes iterations late, and those due meanwhile find
    // every VU busy: more VUs, rightly, and the lag says how many. All 20 would take
    // iterations over 300 ms late, or VUs started ahead of demand.
    let overlap = report.f64("schedule_lag_ms.max") + report.f64("latency_ms.max") + 1.0;
    let most = 2 * 2 + (overlap / 20.0).ceil() as u64;
    let active = report.u64("vus.max_active");
    assert!(
        (1..=most).contains(&active),
        "{active} VUs active for 50/s against an instant server, at most {most} for \
         a longest lag and latency of {overlap:.1} ms\n{report}"
    );
}

/// Like diagnostics.rs's check: `scenario.toml:LINE:COL` for one of `lines`, one of
/// the `offending` texts, an underline, and nothing on stdout. A conflict may
/// rightly point at either of the keys, hence the alternatives.
fn assert_located(out: &Output, lines: &[u32], offending: &[&str]) {
    let stderr = &out.stderr;
    let found = lines.iter().any(|line| {
        let prefix = format!("{SCENARIO}:{line}:");
        stderr
            .match_indices(&prefix)
            .any(|(i, _)| stderr[i + prefix.len()..].starts_with(|c: char| c.is_ascii_digit()))
    });
    assert!(
        found,
        "stderr does not name {SCENARIO}:<one of lines {lines:?}>:<col>:\n{stderr}"
    );
    assert!(
        offending.iter().any(|o| stderr.contains(o)),
        "stderr does not show the offending text (one of {offending:?}):\n{stderr}"
    );
    assert!(
        stderr.contains('┬') || stderr.contains('^'),
        "stderr has no underline (`─┬─` or `^`):\n{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "a failed compile printed to stdout:\n{}",
        out.stdout
    );
}

#[test]
fn arrival_rate_conflicts_with_vus() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            vus = 10
            arrival_rate = 100
            max_vus = 20
            duration = "1s"
            "#,
        )
        .status(1)
        .stderr_contains("arrival_rate")
        .stderr_contains("vus")
        .run();
    assert_located(&out, &[5, 6], &["arrival_rate = 100", "vus = 10"]);
}

#[test]
fn arrival_rate_conflicts_with_rate() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            arrival_rate = 100
            rate = 50
            max_vus = 20
            duration = "1s"
            "#,
        )
        .status(1)
        .stderr_contains("arrival_rate")
        .stderr_contains("rate = 50")
        .run();
    assert_located(&out, &[5, 6], &["arrival_rate = 100", "rate = 50"]);
}

#[test]
fn stage_with_zero_duration() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [[stages]]
            duration = "1s"
            target = 2

            [[stages]]
            duration = "0s"
            target = 1
            "#,
        )
        .status(1)
        .stderr_contains("duration")
        .run();
    assert_located(&out, &[9], &["duration = \"0s\""]);
}

#[test]
fn zero_max_vus() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            arrival_rate = 100
            max_vus = 0
            duration = "1s"
            "#,
        )
        .status(1)
        .stderr_contains("max_vus")
        .run();
    assert_located(&out, &[6], &["max_vus = 0"]);
}

#[test]
fn negative_arrival_rate() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            arrival_rate = -5
            max_vus = 10
            duration = "1s"
            "#,
        )
        .status(1)
        .stderr_contains("arrival_rate")
        .run();
    assert_located(&out, &[5], &["arrival_rate = -5"]);
}

#[test]
fn stages_mixing_target_and_target_rate() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            max_vus = 10

            [[stages]]
            duration = "1s"
            target = 5

            [[stages]]
            duration = "1s"
            target_rate = 100
            "#,
        )
        .status(1)
        .stderr_contains("target_rate")
        .stderr_contains("target")
        .run();
    assert_located(
        &out,
        &[9, 11, 13],
        &["target = 5", "target_rate = 100", "[[stages]]"],
    );
}

#[test]
fn duration_with_stages() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            duration = "5s"

            [[stages]]
            duration = "1s"
            target = 2
            "#,
        )
        .status(1)
        .stderr_contains("duration")
        .stderr_contains("stages")
        .run();
    assert_located(&out, &[5, 7], &["duration = \"5s\"", "[[stages]]"]);
}

#[test]
fn arrival_rate_flag_conflicts_with_concurrency() {
    // The flags' version of `arrival_rate` with `vus`, refused before any load: as
    // a usage error (2, clap's `conflicts_with`) or a compile error (1).
    let out = kaioken()
        .args([
            NOWHERE,
            "--arrival-rate",
            "100",
            "--max-vus",
            "10",
            "-c",
            "5",
        ])
        .args(["-d", "1s", "--no-tui"])
        .timeout(Duration::from_secs(30))
        .output()
        .expect("spawn kaioken");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "exit {:?}, expected 1 or 2\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("arrival-rate") || stderr.contains("arrival_rate"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The lines of a dry run's plan that describe stages.
fn stage_lines(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("stage"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dry_run_shows_closed_stages_and_total_duration() {
    let server = Server::start(Behaviour::Ok);
    // Targets 9, 6, 8 appear nowhere else in the plan (durations are 1s and 2s).
    let out = Test::new()
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [[stages]]
            duration = "2s"
            target = 9

            [[stages]]
            duration = "2s"
            target = 6

            [[stages]]
            duration = "1s"
            target = 8
            "#,
            server.url()
        ))
        .arg("--dry-run")
        .stdout_contains("5s")
        .run();
    let stages = stage_lines(&out.stdout);
    for want in ["9", "6", "8", "2s", "1s"] {
        assert!(
            stages.contains(want),
            "the plan's stage lines lack {want:?}:\n{stages}\n--- stdout\n{}",
            out.stdout
        );
    }
    assert_eq!(server.counts().connections.load(Ordering::SeqCst), 0);
}

#[test]
fn dry_run_shows_open_stages_and_total_duration() {
    let server = Server::start(Behaviour::Ok);
    let out = Test::new()
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [load]
            max_vus = 70

            [[stages]]
            duration = "3s"
            target_rate = 150

            [[stages]]
            duration = "4s"
            target_rate = 450
            "#,
            server.url()
        ))
        .arg("--dry-run")
        .stdout_contains("7s")
        .stdout_contains("70")
        .run();
    let stages = stage_lines(&out.stdout);
    for want in ["150", "450", "3s", "4s"] {
        assert!(
            stages.contains(want),
            "the plan's stage lines lack {want:?}:\n{stages}\n--- stdout\n{}",
            out.stdout
        );
    }
    assert_eq!(server.counts().connections.load(Ordering::SeqCst), 0);
}

/// The open model with `-n`: the iterations that fall due after the budget's last
/// request are not dropped (no VU was missing for them), so a gate on drops does
/// not fail at random. Before, a few were counted dropped, blaming the VUs.
#[test]
fn a_request_budget_drops_no_iteration() {
    // Three rounds each: the drops came in some runs, not all.
    for engine in [
        "io_uring", "tokio", "io_uring", "tokio", "io_uring", "tokio",
    ] {
        let nginx = Nginx::start(Variant::Http1);
        let out = Test::new()
            .arg(nginx.url("/"))
            .args(["--arrival-rate", "1500", "-n", "500", "--max-vus", "200"])
            .on_engine(engine)
            .scenario("[thresholds]\ndropped_iterations = \"== 0\"\n")
            .report()
            .run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(
            report.str("outcome.stop_reason"),
            "max_requests",
            "{report}"
        );
        assert_eq!(report.u64("requests.total"), 500, "{report}");
        assert_eq!(nginx.access_log_lines().len(), 500, "{report}");
        assert_eq!(report.u64("iterations.started"), 500, "{engine}\n{report}");
        assert_eq!(report.u64("iterations.dropped"), 0, "{engine}\n{report}");
        assert!(
            report.get("warnings").as_array().unwrap().is_empty(),
            "{engine}\n{report}"
        );
    }
}
