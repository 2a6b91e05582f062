//! `kaioken compare`: verdicts on reports derived from one real run, so the test does
//! not depend on how noisy the machine is.

use serde_json::Value;

use crate::harness::Test;
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
        out.stdout.contains("✓ p99 < 10000ms") && out.stdout.contains("✓ error_rate < 0.5"),
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
}
