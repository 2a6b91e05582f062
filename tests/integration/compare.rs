//! `kaioken compare`: verdicts on reports derived from one real run, so the test does
//! not depend on how noisy the machine is.

use serde_json::Value;

use crate::harness::{Test, kaioken};
use crate::nginx::{Nginx, Variant};

/// A real report, from a short run against nginx.
fn real_report() -> Value {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "2", "--max-requests", "500", "-d", "60s"])
        .report()
        .run();
    out.report().0
}

/// Run `kaioken compare` on two reports written into a fresh directory.
fn compare(base: &Value, current: &Value, extra: &[&str], status: i32) -> crate::harness::Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("base.json"), base.to_string()).unwrap();
    std::fs::write(dir.path().join("current.json"), current.to_string()).unwrap();
    Test::in_dir(dir)
        .without_no_tui()
        .args(["compare", "base.json", "current.json"])
        .args(extra.iter().copied())
        .status(status)
        .run()
}

fn set(report: &Value, pointer: &str, value: Value) -> Value {
    let mut copy = report.clone();
    *copy
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = value;
    copy
}

#[test]
fn verdicts() {
    let base = real_report();

    // The same run: nothing changed.
    let out = compare(&base, &base, &[], 0);
    assert!(out.stdout.contains("no regression"), "{}", out.stdout);

    // Half the throughput: a regression, exit 3.
    let rps = base
        .pointer("/requests/rps")
        .and_then(Value::as_f64)
        .unwrap();
    let slower = set(&base, "/requests/rps", Value::from(rps / 2.0));
    let out = compare(&base, &slower, &[], 3);
    assert!(out.stdout.contains("regression in rps"), "{}", out.stdout);

    // Percentiles come from the histogram, not the rounded summary fields: changing
    // only the field changes nothing...
    let p99_field = set(&base, "/latency_ms/p99", Value::from(1000.0));
    compare(&base, &p99_field, &[], 0);
    // ...but without histograms the fields are what there is.
    let no_histogram = set(&base, "/histogram/data", Value::from(""));
    let worse = set(&no_histogram, "/latency_ms/p99", Value::from(1000.0));
    let out = compare(&no_histogram, &worse, &[], 3);
    assert!(out.stdout.contains("latency p99"), "{}", out.stdout);

    // More failed requests.
    let errors = set(&base, "/requests/failure_rate", Value::from(0.2));
    let out = compare(&base, &errors, &[], 3);
    assert!(
        out.stdout.contains("regression in failure rate"),
        "{}",
        out.stdout
    );

    // Different load models are not compared unless forced.
    let other_model = set(&base, "/load/vus", Value::from(100));
    let out = compare(&base, &other_model, &[], 5);
    assert!(out.stderr.contains("load/vus differs"), "{}", out.stderr);
    compare(&base, &other_model, &["--force"], 0);

    // Not a report at all.
    let out = compare(&base, &Value::from("hello"), &[], 1);
    assert!(
        out.stderr.contains("not a kaioken report"),
        "{}",
        out.stderr
    );

    // A report cut down to its schema, or without its requests, is no report to
    // compare: it would be "no data" on every row, and pass.
    let bare = serde_json::json!({"schema": "kaioken.run/v1"});
    let out = compare(&bare, &bare, &[], 1);
    assert!(
        out.stderr
            .starts_with("error: cannot compare `base.json`: not a complete kaioken.run/v1 report: `requests.total`"),
        "{}",
        out.stderr
    );
    let mut cut = base.clone();
    cut.as_object_mut().unwrap().remove("requests");
    let out = compare(&base, &cut, &[], 1);
    assert!(
        out.stderr.contains("cannot compare `current.json`"),
        "{}",
        out.stderr
    );
}

/// `compare` judges the current report's thresholds again, from its data and with the
/// function `run` uses: a run whose thresholds fail does not pass (exit 4), and the
/// verdict comes from the measurements, not from the `passed` the report stored.
#[test]
fn thresholds_of_the_current_run_are_judged_again() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .scenario(
            r#"
            [thresholds]
            p99 = "< 10s"
            error_rate = "< 0.5"
            "#,
        )
        .arg(nginx.url("/"))
        .args(["-c", "2", "--max-requests", "300", "-d", "60s"])
        .report()
        .run();
    let base = out.report().0;
    let out = compare(&base, &base, &[], 0);
    assert!(
        out.stdout.contains("✓ p99 < 10s") && out.stdout.contains("✓ error_rate < 0.5"),
        "{}",
        out.stdout
    );
    // A bound no loopback run can meet, with the stored verdict left at `passed`.
    let thresholds = base.pointer("/thresholds/0").unwrap().clone();
    assert_eq!(thresholds["metric"], "p99");
    let strict = set(&base, "/thresholds/0/threshold", Value::from("< 1us"));
    assert_eq!(
        strict.pointer("/thresholds/0/passed"),
        Some(&Value::Bool(true))
    );
    let out = compare(&base, &strict, &[], 4);
    assert!(out.stdout.contains("✗ p99 <"), "{}", out.stdout);
    // A regression outranks a failed threshold.
    let rps = base
        .pointer("/requests/rps")
        .and_then(Value::as_f64)
        .unwrap();
    let slower = set(&strict, "/requests/rps", Value::from(rps / 2.0));
    compare(&base, &slower, &[], 3);
    // One segment's thresholds are its share's, not the run's verdict: shown, with
    // a note, and not exit 4 (as in the segment's own run).
    let segment = serde_json::json!({"from": "0", "to": "1/4", "sequence": ["0", "1/4", "1"]});
    let mut part = strict.clone();
    part["segment"] = segment;
    let out = compare(&base, &part, &[], 0);
    assert!(out.stdout.contains("✗ p99 <"), "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "note: `current.json` measured the segment 0:1/4 of its run alone: its thresholds are not the run's verdict"
        ),
        "{}",
        out.stderr
    );
}

/// Several baselines: four short runs of an unchanged nginx are the same within
/// their noise (exit 0), and the same URL serving a file 4000 times larger is a
/// regression (exit 3), in text, Markdown (`-o diff.md`) and JSON (`--json`).
#[test]
fn noise_is_not_a_regression_but_a_slower_url_is() {
    let nginx = Nginx::start(Variant::Http1);
    let page = nginx.files_dir().join("page");
    std::fs::write(&page, vec![b'k'; 1024]).unwrap();
    let url = nginx.url("/files/page");
    let runs = tempfile::tempdir().expect("temporary directory");
    let run = |name: &str| {
        let out = Test::new()
            .arg(&url)
            .args(["-c", "2", "-d", "1s"])
            .report()
            .run();
        let report = out.report();
        assert_eq!(report.u64("requests.errors"), 0);
        assert!(report.u64("requests.total") > 100, "{}", report.0);
        std::fs::write(runs.path().join(name), report.0.to_string()).unwrap();
        report
    };
    // A directory holding the three baselines and `current`.
    let staged = |current: &str| {
        let dir = tempfile::tempdir().expect("temporary directory");
        for name in ["b1.json", "b2.json", "b3.json", current] {
            std::fs::copy(runs.path().join(name), dir.path().join(name)).unwrap();
        }
        dir
    };
    let compare = |current: &str, extra: &[&str], status: i32| {
        Test::in_dir(staged(current))
            .without_no_tui()
            .args(["compare", "b1.json", "b2.json", "b3.json", current])
            .args(extra.iter().copied())
            .status(status)
            .run()
    };

    // The intervals cover all eight metrics together at 95%, so one more run of the
    // same URL is flagged about once in twenty by design, and more often on a
    // machine busy with the whole suite (a p99 of 4 ms against 0.5 ± 2.2 ms, once).
    // Of three independent sets of three baselines and one more run, one must be
    // judged clean; the slower URL below must be flagged at once.
    let mut flagged = Vec::new();
    let clean = (0..3).find_map(|_| {
        for name in ["b1.json", "b2.json", "b3.json", "same.json"] {
            run(name);
        }
        let dir = staged("same.json");
        let out = kaioken()
            .current_dir(dir.path())
            .args(["compare", "b1.json", "b2.json", "b3.json", "same.json"])
            .output()
            .expect("spawn kaioken");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        match out.status.code() {
            Some(0) => Some(stdout),
            Some(3) => {
                flagged.push(stdout);
                None
            }
            code => panic!(
                "compare exited {code:?}:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    });
    let Some(stdout) = clean else {
        panic!(
            "three runs of the same URL, each flagged:\n{}",
            flagged.join("\n")
        );
    };
    assert!(stdout.contains("\nno regression ("), "{stdout}");
    assert!(stdout.contains("noise: 3 baselines"), "{stdout}");
    assert!(!stdout.contains("REGRESSION"), "{stdout}");

    // The same URL, 4 MB instead of 1 kB: every request moves 4000 times the bytes.
    std::fs::write(&page, vec![b'k'; 4 << 20]).unwrap();
    let slow = run("slow.json");
    assert_eq!(
        (slow.u64("requests.bytes_received") / slow.u64("requests.total")) >> 20,
        4
    );
    let out = compare("slow.json", &["--json", "-o", "diff.md"], 3);
    let json: Value = serde_json::from_str(&out.stdout).expect("compare --json");
    assert_eq!(json["schema"], "kaioken.compare/v1");
    assert_eq!(
        json["baselines"],
        serde_json::json!(["b1.json", "b2.json", "b3.json"])
    );
    let metric = |name: &str| {
        json["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .unwrap_or_else(|| panic!("no {name} in {json:#}"))
            .clone()
    };
    let p50 = metric("latency p50");
    assert_eq!(p50["verdict"], "regression", "{json:#}");
    assert_eq!(p50["baselines"].as_array().unwrap().len(), 3);
    let (mean, half, current) = (
        p50["baseline_mean"].as_f64().unwrap(),
        p50["interval_95"].as_f64().unwrap(),
        p50["current"].as_f64().unwrap(),
    );
    assert!(current > 5.0 * mean && current > mean + half, "{p50}");
    // Throughput drops too, but three 1-second runs on a busy machine can vary so
    // much that a large drop is still inside their interval: its verdict varies.
    let rps = metric("rps");
    assert!(
        rps["current"].as_f64().unwrap() < rps["baseline_mean"].as_f64().unwrap() / 2.0,
        "{rps}"
    );
    let regressions = json["regressions"].as_array().unwrap();
    assert!(
        regressions.contains(&Value::from("latency p50")),
        "{json:#}"
    );

    let md = std::fs::read_to_string(out.dir.path().join("diff.md")).expect("diff.md");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(
        rows[0],
        "| metric | baseline (mean ± 95%) | current | change | verdict |"
    );
    assert_eq!(rows.len(), 9, "{md}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("| latency p50 | ") && r.ends_with(" | **regression** |")),
        "{md}"
    );
    assert!(md.contains("**Regression** in "), "{md}");
}

/// `-o` with a name whose format is unknown is refused before anything is read;
/// one into a missing directory names it; fewer than two reports is a usage error.
#[test]
fn compare_output_errors() {
    let base = real_report();
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("a.json"), base.to_string()).unwrap();
    std::fs::write(dir.path().join("b.json"), base.to_string()).unwrap();
    let dir = Test::in_dir(dir)
        .without_no_tui()
        .env("RUST_BACKTRACE", "0")
        .args(["compare", "a.json", "b.json", "-o", "diff.xyz"])
        .status(1)
        .stderr_contains(
            "cannot tell the format of `diff.xyz` from its extension; name it .md, .json or .txt, or pass --format md|json|text",
        )
        .run()
        .dir;
    let dir = Test::in_dir(dir)
        .without_no_tui()
        .env("RUST_BACKTRACE", "0")
        .args(["compare", "a.json", "b.json", "-o", "missing/diff.md"])
        .status(1)
        .stderr_contains("cannot access `missing/diff.md`: ")
        .run()
        .dir;
    // The format given wins over the extension.
    let out = Test::in_dir(dir)
        .without_no_tui()
        .args([
            "compare", "a.json", "b.json", "-o", "diff.txt", "--format", "json",
        ])
        .run();
    let written = std::fs::read_to_string(out.dir.path().join("diff.txt")).unwrap();
    let json: Value = serde_json::from_str(&written).expect("JSON in diff.txt");
    assert_eq!(json["regressions"], serde_json::json!([]));
    assert_eq!(json["metrics"].as_array().unwrap().len(), 8);
    assert!(out.stdout.contains("\nno regression ("), "{}", out.stdout);
    // One file is not a comparison.
    let out = Test::in_dir(out.dir)
        .without_no_tui()
        .args(["compare", "a.json"])
        .status(2)
        .run();
    assert!(
        out.stderr.contains("<REPORT> <REPORT>..."),
        "{}",
        out.stderr
    );
}
