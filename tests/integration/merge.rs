//! `kaioken merge`: real reports of runs against nginx, given the segments two
//! instances of one distributed run would have, merged; and every reason a set of
//! reports cannot be merged, with its message and exit code.

use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{Output, Test};
use crate::nginx::{Nginx, Variant};

/// The scenario both "instances" run: the same file, the same flags.
fn scenario(url: &str, vus: u32) -> String {
    format!(
        r#"
        [target]
        url = "{url}"

        [load]
        vus = {vus}
        max_requests = 300
        duration = "60s"

        [thresholds]
        p99 = "< 10s"
        error_rate = "< 0.5"
        "#
    )
}

/// Run the scenario once, its report written to `dir/name`, with `segment` set in
/// the report as the segments' instance would record it.
fn run(dir: &Path, name: &str, url: &str, vus: u32, segment: Option<(&str, &str)>) -> Value {
    let out = Test::new().scenario(&scenario(url, vus)).report().run();
    let mut report = out.report().0;
    if let Some((from, to)) = segment {
        report["segment"] = json!({"from": from, "to": to, "sequence": ["0", "1/2", "1"]});
    }
    write(dir, name, &report);
    report
}

fn write(dir: &Path, name: &str, report: &Value) {
    std::fs::write(
        dir.join(name),
        serde_json::to_string_pretty(report).unwrap(),
    )
    .unwrap();
}

/// `kaioken merge ARGS` in `dir`, expected to exit `status`.
fn merge(dir: &Path, args: &[&str], status: i32) -> Output {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    Test::in_dir(copy)
        .without_no_tui()
        .arg("merge")
        .args(args.iter().copied())
        .status(status)
        .run()
}

fn u64_at(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no {pointer} in {v:#}"))
}

fn histogram(v: &Value) -> hdrhistogram::Histogram<u64> {
    kaioken_report::hdr::decode(v["histogram"]["data"].as_str().unwrap()).unwrap()
}

/// Two halves of one run merged: the counts are the sum and what nginx logged, the
/// histogram holds every response, the thresholds are judged on the merged data,
/// every format renders it, and `compare` reads it.
#[test]
fn two_segments_against_nginx() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/");
    let dir = tempfile::tempdir().unwrap();
    let a = run(dir.path(), "a.json", &url, 2, Some(("0", "1/2")));
    let mut b = run(dir.path(), "b.json", &url, 2, Some(("1/2", "1")));
    // Run one after the other here; the instances of one run start together.
    b["started_at_unix_ms"] = a["started_at_unix_ms"].clone();
    write(dir.path(), "b.json", &b);
    assert_eq!(a["fingerprint"], b["fingerprint"]);
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 64);

    let out = merge(
        dir.path(),
        &[
            "a.json",
            "b.json",
            "-o",
            "merged.json",
            "-o",
            "merged.html",
            "-o",
            "merged.md",
        ],
        0,
    );
    let text = std::fs::read_to_string(out.dir.path().join("merged.json")).unwrap();
    let m: Value = serde_json::from_str(&text).unwrap();
    let logged = nginx.access_log_lines().len() as u64;
    assert_eq!(logged, 600);
    for pointer in [
        "/requests/total",
        "/requests/responses",
        "/status_codes/200",
    ] {
        assert_eq!(
            u64_at(&m, pointer),
            u64_at(&a, pointer) + u64_at(&b, pointer),
            "{pointer}"
        );
    }
    assert_eq!(u64_at(&m, "/requests/total"), logged);
    assert_eq!(u64_at(&m, "/requests/errors"), 0);
    assert_eq!(u64_at(&m, "/iterations/started"), 600);
    let mut both = histogram(&a);
    both.add(histogram(&b)).unwrap();
    let merged = histogram(&m);
    assert_eq!(merged.len(), 600);
    assert_eq!(merged.value_at_quantile(0.99), both.value_at_quantile(0.99));
    assert_eq!(
        m["latency_ms"]["p99"].as_f64().unwrap(),
        both.value_at_quantile(0.99) as f64 / 1000.0
    );
    let seconds: u64 = m["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(seconds, 600);
    assert_eq!(m["segment"]["from"], "0");
    assert_eq!(m["segment"]["to"], "1");
    assert_eq!(m["merged_from"], json!(["a.json", "b.json"]));
    assert_eq!(m["fingerprint"], a["fingerprint"]);
    assert_eq!(m["thresholds"][0]["metric"], "p99");
    assert_eq!(m["thresholds"][0]["passed"], true);
    assert_eq!(m["outcome"]["exit_code"], 0);
    assert_eq!(
        out.stderr,
        "wrote merged.json\nwrote merged.html\nwrote merged.md\n"
    );
    let html = std::fs::read_to_string(out.dir.path().join("merged.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..100]);
    assert!(
        html.contains("<div class=\"card\"><b>600</b><span>requests</span></div>"),
        "the HTML lacks the total"
    );
    let md = std::fs::read_to_string(out.dir.path().join("merged.md")).unwrap();
    assert!(md.contains("\n| 600 | 600 | 0 | 0% | 0 | 0 |"), "{md}");

    // Without -o: the summary on stdout, like `kaioken report`.
    let out = merge(dir.path(), &["a.json", "b.json"], 0);
    assert!(
        out.stdout
            .contains("Requests    600 total · 600 responses · 0 failed (0.00%)"),
        "{}",
        out.stdout
    );

    // `compare` reads a merged report like any other, and judges its thresholds.
    std::fs::write(dir.path().join("merged.json"), &text).unwrap();
    let out = Test::in_dir(tempfile::tempdir().unwrap())
        .without_no_tui()
        .arg("compare")
        .arg(dir.path().join("merged.json"))
        .arg(dir.path().join("merged.json"))
        .run();
    assert!(out.stdout.contains("no regression"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ p99 < 10s"), "{}", out.stdout);

    // A bound no loopback run meets, in both parts: judged on the merged data, it
    // fails, and merge exits 4.
    for (name, mut report) in [("a.json", a.clone()), ("b.json", b.clone())] {
        report["thresholds"][0]["threshold"] = json!("< 1us");
        write(dir.path(), &format!("strict-{name}"), &report);
    }
    let out = merge(
        dir.path(),
        &["strict-a.json", "strict-b.json", "-o", "strict.json"],
        4,
    );
    let strict: Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.path().join("strict.json")).unwrap())
            .unwrap();
    assert_eq!(strict["thresholds"][0]["passed"], false);
    assert_eq!(
        strict["thresholds"][0]["observed"].as_f64().unwrap(),
        both.value_at_quantile(0.99) as f64 / 1000.0
    );
    assert_eq!(strict["outcome"]["exit_code"], 4);

    refusals(dir.path(), &url, &a, &b);
}

/// Every reason to refuse: exit 1, the file and the reason on stderr.
fn refusals(dir: &Path, url: &str, a: &Value, b: &Value) {
    let refused = |args: &[&str], message: &str| {
        let out = merge(dir, args, 1);
        assert_eq!(out.stderr, format!("error: {message}\n"));
        assert_eq!(out.stdout, "");
    };
    let fingerprint = |r: &Value| r["fingerprint"].as_str().unwrap()[..12].to_owned();

    // Another load (3 VUs): another fingerprint.
    let other = run(dir, "other.json", url, 3, Some(("1/2", "1")));
    refused(
        &["a.json", "other.json"],
        &format!(
            "cannot merge `other.json` with `a.json`: they ran different scenarios or loads (fingerprint {} is not {}); every segment must run the same scenario with the same flags",
            fingerprint(&other),
            fingerprint(a)
        ),
    );
    let mut newer = b.clone();
    newer["schema"] = json!("kaioken.run/v2");
    write(dir, "newer.json", &newer);
    refused(
        &["a.json", "newer.json"],
        &format!(
            "cannot merge `newer.json`: it is a `kaioken.run/v2` report, written by a newer kaioken; this kaioken ({}) reads `kaioken.run/v1`",
            env!("CARGO_PKG_VERSION")
        ),
    );
    let mut older = b.clone();
    older.as_object_mut().unwrap().remove("fingerprint");
    write(dir, "older.json", &older);
    refused(
        &["a.json", "older.json"],
        &format!(
            "cannot merge `older.json`: it has no `fingerprint` (written by kaioken {0}, before reports had one), so nothing tells that it ran the same scenario as the others; run it again with this kaioken ({0})",
            env!("CARGO_PKG_VERSION")
        ),
    );
    write(dir, "a-again.json", a);
    refused(
        &["a.json", "a-again.json"],
        "cannot merge `a-again.json` with `a.json`: their segments overlap (0:1/2 and 0:1/2); each part of the load must be merged once",
    );
    refused(
        &["a.json"],
        "cannot merge: the reports' segments do not cover the whole run, 1/2:1 missing; merge every segment's report, or pass --partial to merge these alone",
    );
    std::fs::write(dir.join("package.json"), r#"{"name": "x"}"#).unwrap();
    refused(
        &["a.json", "package.json"],
        r#"cannot merge `package.json`: not a kaioken report: no `schema` field (a run report has `"schema": "kaioken.run/v1"`)"#,
    );
    refused(
        &["a.json", "missing.json"],
        "cannot access `missing.json`: No such file or directory (os error 2)",
    );

    // --partial merges what there is, and says what is missing.
    let out = merge(dir, &["a.json", "--partial", "-o", "half.json"], 0);
    let half: Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.path().join("half.json")).unwrap())
            .unwrap();
    assert_eq!(u64_at(&half, "/requests/total"), 300);
    assert_eq!(
        half["warnings"].as_array().unwrap().last().unwrap(),
        "a partial merge (--partial): the segments 1/2:1 are missing from these numbers"
    );
}
