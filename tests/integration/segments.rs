//! Execution segments against nginx: several kaioken processes, each given its part
//! (`--segment-index/--segment-count`, `--execution-segment` with a sequence) and
//! started together (`--start-after`, `--start-at`), send together what one process
//! would: the same VUs, requests and iterations, `${REQUEST_ID}`s unique across them;
//! nginx's access log is the referee. Then the flags' errors, word for word.
//!
//! The processes of one test run at once and measure each other's rates; the heavy
//! tests here take [`segments_lock`] so that two of them never overlap.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{Output, Report, Test};
use crate::load_models::{END_CUT, assert_accounted};
use crate::nginx::{Nginx, Variant};

fn segments_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Run `tests` at once, each in its own thread; their outputs in order.
fn together(tests: Vec<Test>) -> Vec<Output> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = tests
            .into_iter()
            .map(|t| scope.spawn(move || t.run()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a run's thread panicked"))
            .collect()
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The request ids in nginx's log (`/?id=VU-N`), as (VU, N).
fn request_ids(nginx: &Nginx) -> Vec<(u64, u64)> {
    nginx
        .access_log_lines()
        .iter()
        .map(|l| {
            let id = l
                .uri
                .strip_prefix("/?id=")
                .unwrap_or_else(|| panic!("unexpected URI {}", l.uri));
            let (vu, n) = id.split_once('-').expect("VU-N");
            (
                vu.parse().expect("a VU number"),
                n.parse().expect("a count"),
            )
        })
        .collect()
}

fn sequence(report: &Report) -> Vec<String> {
    report
        .get("segment.sequence")
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// `-c 10 -n 1000` split four ways: 2, 3, 2 and 3 VUs numbered 1–2, 3–5, 6–7,
/// 8–10, 250 requests each; nginx sees 1000, every request id once. On the
/// io_uring engine (such a run's default) and on tokio.
#[test]
fn a_closed_run_split_four_ways_adds_up_on_io_uring() {
    closed_run_split_four_ways("io_uring");
}

#[test]
fn a_closed_run_split_four_ways_adds_up_on_tokio() {
    closed_run_split_four_ways("tokio");
}

fn closed_run_split_four_ways(engine: &str) {
    let _lock = segments_lock();
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/?id=${REQUEST_ID}");
    let outs = together(
        (0..4)
            .map(|i| {
                let test = Test::new()
                    .args([&url, "-c", "10", "-n", "1000", "--json"])
                    .args(["--segment-index", &i.to_string(), "--segment-count", "4"])
                    .args(["--start-after", "2s"]);
                if engine == "tokio" {
                    test.env("KAIOKEN_NO_IO_URING", "1")
                } else {
                    test.env_remove("KAIOKEN_NO_IO_URING")
                }
            })
            .collect(),
    );
    let reports: Vec<Report> = outs.iter().map(Output::stdout_report).collect();
    let mut total = 0;
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.u64("requests.total"), 250, "instance {i}:\n{r}");
        assert_eq!(r.str("settings.engine"), engine, "instance {i}:\n{r}");
        assert_eq!(
            r.u64("vus.max_allowed"),
            [2, 3, 2, 3][i],
            "instance {i}:\n{r}"
        );
        assert_eq!(
            r.str("segment.from"),
            ["0", "1/4", "1/2", "3/4"][i],
            "instance {i}:\n{r}"
        );
        assert_eq!(sequence(r), ["0", "1/4", "1/2", "3/4", "1"]);
        // The whole run's load plan is every instance's.
        assert_eq!(r.u64("load.vus"), 10);
        assert_eq!(r.u64("load.max_requests"), 1000);
        let planned = r.u64("planned_start_unix_ms");
        assert!(
            r.u64("started_at_unix_ms") >= planned,
            "started before its planned start:\n{r}"
        );
        total += r.u64("requests.total");
    }
    assert_eq!(total, 1000);
    // Launched within a moment of each other, they planned the same start (to
    // within the moment).
    let planned: Vec<u64> = reports
        .iter()
        .map(|r| r.u64("planned_start_unix_ms"))
        .collect();
    let spread = planned.iter().max().unwrap() - planned.iter().min().unwrap();
    assert!(spread < 1000, "planned starts {planned:?}");
    let ids = request_ids(&nginx);
    assert_eq!(ids.len(), 1000);
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 1000, "a request id was sent twice");
    // Every VU number of the whole run was used, by exactly one instance.
    let vus: BTreeSet<u64> = ids.iter().map(|&(vu, _)| vu).collect();
    assert_eq!(vus, (1..=10).collect());
}

/// Stages (0 → 8 VUs, hold, down to 2) split four ways by a sequence: the
/// instances' VUs add up to the single run's, and nginx counts what they report.
#[test]
fn closed_stages_split_by_a_sequence_add_up() {
    let _lock = segments_lock();
    let nginx = Nginx::start(Variant::Http1);
    let scenario = format!(
        r#"
        [target]
        url = "{}"

        [[stages]]
        duration = "1s"
        target = 8

        [[stages]]
        duration = "1s"
        target = 8

        [[stages]]
        duration = "1s"
        target = 2
        "#,
        nginx.url("/?id=${REQUEST_ID}")
    );
    let bounds = ["0", "1/4", "1/2", "3/4", "1"];
    let outs = together(
        (0..4)
            .map(|i| {
                Test::new()
                    .scenario(&scenario)
                    .arg("--json")
                    .args([
                        "--execution-segment",
                        &format!("{}:{}", bounds[i], bounds[i + 1]),
                        "--execution-segment-sequence",
                        "0,25%,0.5,3/4,1",
                    ])
                    .args(["--start-after", "2s"])
            })
            .collect(),
    );
    let reports: Vec<Report> = outs.iter().map(Output::stdout_report).collect();
    let mut vus = 0;
    let mut requests = 0;
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(sequence(r), bounds, "instance {i}:\n{r}");
        assert_eq!(r.u64("vus.max_allowed"), 2, "instance {i}:\n{r}");
        assert_eq!(r.u64("vus.max_active"), 2, "instance {i}:\n{r}");
        vus += r.u64("vus.max_active");
        requests += r.u64("requests.total") + r.u64("requests.warmup_requests");
    }
    // A single run's plan peaks at 8 VUs.
    assert_eq!(vus, 8);
    let ids = request_ids(&nginx);
    assert_eq!(ids.len() as u64, requests);
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a request id was sent twice");
    // Each instance's VU numbers are its own: 1–2, 3–4, 5–6, 7–8.
    let mut by_vu: BTreeMap<u64, u64> = BTreeMap::new();
    for (vu, _) in ids {
        *by_vu.entry(vu).or_default() += 1;
    }
    assert_eq!(
        by_vu.keys().copied().collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
}

/// The issue's test: `--arrival-rate 3000 -d 5s` once, then split four ways with
/// `0,1/4,1/2,3/4,1` and started together with `--start-at`: nginx serves the same
/// number (within 1%), and each instance started exactly its stripe of the
/// schedule, every fourth of the 15000 iterations; no request id twice.
#[test]
fn an_open_run_split_four_ways_sends_what_one_does() {
    let _lock = segments_lock();
    let single = Nginx::start(Variant::Http1);
    let out = Test::new()
        .args([
            &single.url("/"),
            "--arrival-rate",
            "3000",
            "-d",
            "5s",
            "--json",
        ])
        .run();
    let one = out.stdout_report();
    let single_served = single.access_log_lines().len() as u64;
    assert_eq!(
        one.u64("iterations.started") + one.u64("iterations.dropped"),
        15000
    );
    assert_eq!(single_served, one.u64("requests.total"));

    let nginx = Nginx::start(Variant::Http1);
    let start = chrono::DateTime::from_timestamp_millis((now_ms() + 3000) as i64)
        .expect("a time")
        .to_rfc3339();
    let bounds = ["0", "1/4", "1/2", "3/4", "1"];
    let outs = together(
        (0..4)
            .map(|i| {
                Test::new()
                    .args([
                        &nginx.url("/?id=${REQUEST_ID}"),
                        "--arrival-rate",
                        "3000",
                        "-d",
                        "5s",
                    ])
                    .args([
                        "--json",
                        "--execution-segment",
                        &format!("{}:{}", bounds[i], bounds[i + 1]),
                        "--execution-segment-sequence",
                        &bounds.join(","),
                        "--start-at",
                        &start,
                    ])
            })
            .collect(),
    );
    let reports: Vec<Report> = outs.iter().map(Output::stdout_report).collect();
    let mut requests = 0;
    for (i, r) in reports.iter().enumerate() {
        // Its stripe: the iterations k with k mod 4 == i, 3750 of them.
        assert_eq!(
            r.u64("iterations.started") + r.u64("iterations.dropped"),
            3750,
            "instance {i}:\n{r}"
        );
        assert_eq!(r.f64("iterations.target_rate"), 750.0, "instance {i}:\n{r}");
        assert_eq!(r.u64("vus.max_allowed"), 250, "instance {i}:\n{r}");
        assert_eq!(r.f64("load.arrival_rate"), 3000.0);
        assert_eq!(
            r.u64("planned_start_unix_ms"),
            reports[0].u64("planned_start_unix_ms")
        );
        requests += r.u64("requests.total");
    }
    let ids = request_ids(&nginx);
    let served = ids.len() as u64;
    assert_eq!(served, requests, "nginx's log against the reports' sum");
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a request id was sent twice");
    let diff = served.abs_diff(single_served) as f64;
    assert!(
        diff <= single_served as f64 * 0.01,
        "split: {served} served, single: {single_served}"
    );
}

/// `--dry-run` shows the instance's share: its VUs and their numbers, its rate,
/// its stages' targets, its requests, and when it would start.
#[test]
fn dry_run_shows_the_share() {
    let out = Test::new()
        .args(["http://127.0.0.1:9/", "-c", "10", "-n", "1001", "--dry-run"])
        .args(["--segment-count", "4"])
        .env("JOB_COMPLETION_INDEX", "3")
        .run();
    assert!(
        out.stdout.ends_with(
            "as segment 3/4:1 of 0,1/4,1/2,3/4,1, this instance runs:\n  3 of 10 VUs (numbers 8–10)\n  251 of 1001 requests\n"
        ),
        "{}",
        out.stdout
    );
    let out = Test::new()
        .args(["http://127.0.0.1:9/", "--arrival-rate", "300", "-d", "5s"])
        .args(["--execution-segment", "0:1/3", "--dry-run"])
        .args(["--start-at", "2100-01-01T00:00:00Z"])
        .run();
    assert!(
        out.stdout.ends_with(
            "as segment 0:1/3 of 0,1/3,1, this instance runs:\n  at most 333 of 1000 VUs (numbers 1–333)\n  100 of 300 iterations/s\nwould start at 2100-01-01T00:00:00+00:00\n"
        ),
        "{}",
        out.stdout
    );
}

/// A past `--start-at` is a warning (the run starts now), an error with `--strict`;
/// the summary names the segment.
#[test]
fn a_past_start_warns_or_fails_with_strict() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .args([&nginx.url("/"), "-n", "5", "--json"])
        .args(["--start-at", "2020-01-01T00:00:00Z"])
        .stderr_contains("warning: --start-at 2020-01-01T00:00:00Z is ")
        .stderr_contains(" in the past; starting now\n")
        .run();
    assert_eq!(out.stdout_report().u64("requests.total"), 5);
    assert_eq!(
        out.stdout_report().u64("planned_start_unix_ms"),
        1_577_836_800_000
    );
    let out = Test::new()
        .args([
            &nginx.url("/"),
            "-n",
            "4",
            "--segment-index",
            "1",
            "--segment-count",
            "2",
        ])
        .stdout_contains("\n  Segment     1/2:1 of 0,1/2,1\n")
        .run();
    assert!(
        out.stdout.contains("\n  Requests    2 total"),
        "{}",
        out.stdout
    );
    let out = Test::new()
        .args([&nginx.url("/"), "-n", "5", "--strict"])
        .args(["--start-at", "2020-01-01T00:00:00Z"])
        .status(1)
        .run();
    assert!(
        out.stderr
            .starts_with("error: --start-at 2020-01-01T00:00:00Z is ")
            && out
                .stderr
                .ends_with(" in the past (--strict allows at most 5s)\n"),
        "{}",
        out.stderr
    );
    assert_eq!(
        nginx.access_log_lines().len(),
        7,
        "the strict run sent nothing"
    );
}

/// Malformed segments, sequences and indexes: exit 1, the message word for word,
/// nothing sent.
#[test]
fn bad_segments_are_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--execution-segment", "1/2:1/4"],
            "error: --execution-segment `1/2:1/4`: it must go up (1/2 is not below 1/4)\n",
        ),
        (
            &["--execution-segment", "0:3/2"],
            "error: --execution-segment `0:3/2`: 3/2 is past 1 (a segment lies within 0:1)\n",
        ),
        (
            &["--execution-segment", "x:y"],
            "error: --execution-segment: `x` is not a fraction (write it as 1/4, 25% or 0.25)\n",
        ),
        (
            &[
                "--execution-segment",
                "0:1/4",
                "--execution-segment-sequence",
                "0,1/3,1",
            ],
            "error: --execution-segment `0:1/4`: the sequence `0,1/3,1` does not contain its bound 1/4\n",
        ),
        (
            &["--segment-index", "4", "--segment-count", "4"],
            "error: --segment-index 4 is out of range: with --segment-count 4 it goes from 0 to 3\n",
        ),
        (
            &["--segment-count", "4"],
            "error: --segment-count 4 needs --segment-index, or JOB_COMPLETION_INDEX in the environment\n",
        ),
        (&["--start-after", "soon"], "error: --start-after `soon`: "),
    ];
    for (flags, message) in cases {
        let out = Test::new()
            .args(["http://127.0.0.1:9/", "-n", "1"])
            .args(flags.iter())
            .env_remove("JOB_COMPLETION_INDEX")
            .status(1)
            .run();
        assert!(
            out.stderr.starts_with(message) && (message.ends_with(": ") || out.stderr == *message),
            "{flags:?}: {}",
            out.stderr
        );
    }
}

/// A run without segment flags has neither report field.
#[test]
fn a_whole_run_has_no_segment() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .args([&nginx.url("/"), "-n", "3", "--json"])
        .run();
    let report = out.stdout_report();
    assert!(report.0.get("segment").is_none(), "{report}");
    assert!(report.0.get("planned_start_unix_ms").is_none(), "{report}");
}

/// Two VUs split four ways: two instances get one each, two get none; those send
/// nothing and say so, and exit 0 (an empty part is no failure).
#[test]
fn an_empty_part_sends_nothing_and_succeeds() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/?id=${REQUEST_ID}");
    let part = |i: u32| {
        Test::new()
            .args([&url, "-c", "2", "-n", "40", "--json"])
            .args(["--segment-index", &i.to_string(), "--segment-count", "4"])
            .run()
            .stdout_report()
    };
    let empty = part(0);
    assert_eq!(empty.u64("requests.total"), 0);
    assert_eq!(
        empty.get("warnings")[0],
        "segment 0:1/4's part of 2 VUs is none: this instance sent nothing"
    );
    let one = part(1);
    assert_eq!(one.u64("requests.total"), 10);
    assert_eq!(one.u64("vus.max_allowed"), 1);
    // Its one VU is the whole run's VU 1: the first instance has none.
    let vus: BTreeSet<u64> = request_ids(&nginx).iter().map(|&(vu, _)| vu).collect();
    assert_eq!(vus, BTreeSet::from([1]));
}

/// A run that cannot start (too few file descriptors for its VUs) fails at once,
/// not when its planned start comes 30 s later.
#[test]
fn a_run_that_cannot_start_fails_before_its_planned_start() {
    let started = std::time::Instant::now();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 100 && exec {} http://127.0.0.1:9/ -c 500 -n 1 --start-after 30s --no-tui",
            crate::harness::kaioken_path().display()
        ))
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run kaioken under sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        // How many depends on the worker threads, so on the machine's CPUs.
        stderr.starts_with("error: 500 VUs need about ")
            && stderr.contains(" open files (a connection each, and some of kaioken's own), but this process may open 100 (`ulimit -n`)"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "it waited for the planned start first"
    );
}

/// The whole path: four segments of one open-model scenario, started together and
/// merged. The merged report counts what nginx logged, covers the whole run, and
/// judges the thresholds over all of it: `rps > 200` fails on each part of a 400/s
/// run, which can send no more than 100/s (each still exits 0, its verdict left to
/// the merge, and says so) and passes on the merged report.
///
/// The merged rate is over the span from the first part's start to the last one's
/// end. Each part starts 2 s after its own process did, so four processes started
/// at once on a loaded machine stretch that span, and each part's end may cut what
/// its deadline finds still due ([`END_CUT`]). With 10% cut, `> 300` (this test's
/// threshold once) failed for a span past 3.6 s; `> 200` allows 5.4 s, and a part
/// alone still fails it by half.
#[test]
fn four_segments_merge_into_the_whole_run() {
    let _lock = segments_lock();
    let nginx = Nginx::start(Variant::Http1);
    let scenario = format!(
        r#"
        [target]
        url = "{}"

        [load]
        arrival_rate = 400
        duration = "3s"
        max_vus = 40

        [thresholds]
        rps = "> 200"
        "#,
        nginx.url("/")
    );
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let parts: Vec<String> = (0..4)
        .map(|i| {
            dir.path()
                .join(format!("part-{i}.json"))
                .display()
                .to_string()
        })
        .collect();
    let outs = together(
        parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                Test::new()
                    .scenario(&scenario)
                    .args(["--segment-index", &i.to_string(), "--segment-count", "4"])
                    .args(["--start-after", "2s", "-o", part.as_str()])
            })
            .collect(),
    );
    for (i, out) in outs.iter().enumerate() {
        assert!(
            out.stdout
                .contains("for this segment alone; `kaioken merge` judges the whole run"),
            "instance {i}:\n{}",
            out.stdout
        );
        let part = Report(
            serde_json::from_str(&std::fs::read_to_string(&parts[i]).expect("a part's report"))
                .expect("JSON"),
        );
        assert_eq!(
            part.get("thresholds")[0]["passed"].as_bool(),
            Some(false),
            "instance {i}:\n{part}"
        );
        // Its stripe of the schedule: every fourth of the 1,200 iterations.
        assert_eq!(
            part.u64("iterations.started") + part.u64("iterations.dropped"),
            300,
            "instance {i}:\n{part}"
        );
    }
    let merged = dir.path().join("merged.json");
    let mut args = vec!["merge".to_owned()];
    args.extend(parts.iter().cloned());
    args.extend(["-o".to_owned(), merged.display().to_string()]);
    Test::new().without_no_tui().args(args).status(0).run();
    let merged = Report(
        serde_json::from_str(&std::fs::read_to_string(&merged).expect("the merged report"))
            .expect("JSON"),
    );
    assert_eq!(
        merged.u64("requests.total"),
        nginx.access_log_lines().len() as u64,
        "{merged}"
    );
    // 400/s for 3 s: every iteration started or dropped, all started but what the
    // parts' ends may cut on a loaded machine, and each started one a request.
    assert_accounted(&merged, 1200, END_CUT);
    assert_eq!(
        merged.u64("requests.total"),
        merged.u64("iterations.started"),
        "{merged}"
    );
    assert_eq!(
        (merged.str("segment.from"), merged.str("segment.to")),
        ("0", "1"),
        "{merged}"
    );
    assert_eq!(merged.get("merged_from").as_array().map(Vec::len), Some(4));
    // The whole run's plan, from the parts' shares of it, whatever their order.
    assert_eq!(merged.f64("iterations.target_rate"), 400.0, "{merged}");
    assert_eq!(merged.u64("vus.max_allowed"), 40, "{merged}");
    let reversed = dir.path().join("reversed.json");
    let mut args = vec!["merge".to_owned()];
    args.extend(parts.iter().rev().cloned());
    args.extend(["-o".to_owned(), reversed.display().to_string()]);
    Test::new().without_no_tui().args(args).run();
    let reversed = Report(
        serde_json::from_str(&std::fs::read_to_string(&reversed).expect("the merged report"))
            .expect("JSON"),
    );
    for field in [
        "iterations.target_rate",
        "vus.max_allowed",
        "requests.total",
    ] {
        assert_eq!(reversed.get(field), merged.get(field), "{field}");
    }
    // Without -o, the merged run's summary, which says what it was made of.
    let mut args = vec!["merge".to_owned()];
    args.extend(parts.iter().cloned());
    let out = Test::new().without_no_tui().args(args).status(0).run();
    assert!(
        out.stdout
            .contains(&format!("\n  Merged      4 reports: {}, ", parts[0])),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("  Segment "), "{}", out.stdout);
    assert_eq!(
        merged.get("thresholds")[0]["passed"].as_bool(),
        Some(true),
        "{merged}"
    );
}
