//! Thresholds: evaluated at the end, reported with what was observed, exit code 4
//! when one fails, and never passed on no data.

use crate::harness::Test;
use crate::nginx::{Nginx, Variant, free_port};
use crate::servers::{Behaviour, Server};

#[test]
fn passing_thresholds_exit_zero_and_failing_ones_exit_four() {
    let nginx = Nginx::start(Variant::Http1);
    let scenario = |max: &str| {
        format!(
            r#"
            [[checks]]
            expr = "status == 200"
            [thresholds]
            p95 = "< 5s"
            mean = "< 5s"
            max = "{max}"
            error_rate = "<= 1%"
            rps = "> 1"
            check_pass_rate = "> 0.99"
            "#
        )
    };
    let out = Test::new()
        .scenario(&scenario("< 10s"))
        .arg(nginx.url("/"))
        .args(["-c", "2", "--max-requests", "200", "-d", "60s"])
        .stdout_contains("Thresholds  all passed")
        .report()
        .run();
    let report = out.report();
    let thresholds = report
        .get("thresholds")
        .as_array()
        .expect("thresholds")
        .clone();
    assert_eq!(thresholds.len(), 6, "{report}");
    assert!(thresholds.iter().all(|t| t["passed"] == true), "{report}");
    assert_eq!(report.u64("outcome.exit_code"), 0, "{report}");

    // max < 1us cannot hold on any real network: exit 4, and the report says which.
    let out = Test::new()
        .scenario(&scenario("< 1us"))
        .arg(nginx.url("/"))
        .args(["-c", "2", "--max-requests", "200", "-d", "60s"])
        .status(4)
        .stdout_contains("✗ max < 1us")
        .stdout_contains("exit code 4")
        .report()
        .run();
    let report = out.report();
    assert_eq!(report.u64("outcome.exit_code"), 4, "{report}");
    let failed: Vec<_> = report
        .get("thresholds")
        .as_array()
        .expect("thresholds")
        .iter()
        .filter(|t| t["passed"] == false)
        .map(|t| t["metric"].as_str().expect("metric").to_owned())
        .collect();
    assert_eq!(failed, vec!["max".to_owned()], "{report}");
    let max = report
        .get("thresholds")
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["metric"] == "max")
        .unwrap()
        .clone();
    assert_eq!(max["unit"], "ms", "{report}");
    assert!(
        max["observed"].as_f64().expect("observed") > 0.001,
        "{report}"
    );
}

#[test]
fn a_threshold_over_no_data_fails() {
    let nginx = Nginx::start(Variant::Http1);
    // No checks: check_pass_rate has nothing to measure, so it must not pass.
    let out = Test::new()
        .scenario("[thresholds]\ncheck_pass_rate = \"> 0.5\"\n")
        .arg(nginx.url("/"))
        .args(["-c", "1", "--max-requests", "10", "-d", "60s"])
        .status(4)
        .stdout_contains("no data")
        .report()
        .run();
    let report = out.report();
    let t = &report.get("thresholds").as_array().expect("thresholds")[0];
    assert_eq!(t["observed"], serde_json::Value::Null, "{report}");
    assert_eq!(t["passed"], false, "{report}");
}

#[test]
fn failing_thresholds_outrank_a_high_error_rate() {
    let server = Server::start(Behaviour::CloseOnAccept);
    let out = Test::new()
        .scenario("[thresholds]\nerror_rate = \"< 1%\"\n")
        .arg(server.url())
        .args(["-c", "1", "--max-requests", "10", "-d", "30s"])
        .status(4)
        // The summary still says why exit code 1 would have come.
        .stdout_contains("thresholds failed: exit code 4\n  and 100.00% of requests failed, above the limit of 10.00% (--max-error-rate)")
        .report()
        .run();
    let report = out.report();
    assert_eq!(report.u64("outcome.exit_code"), 4, "{report}");
    assert_eq!(report.f64("requests.error_rate"), 1.0, "{report}");
}

#[test]
fn bad_thresholds_are_located() {
    let base = "[target]\nurl = \"http://127.0.0.1:9/\"\n[thresholds]\n";
    Test::new()
        .scenario(&format!("{base}pp95 = \"< 200ms\"\n"))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("unknown key `pp95`")
        .stderr_contains("did you mean `p95`?")
        .stderr_contains("scenario.toml:4:1")
        .run();
    Test::new()
        .scenario(&format!("{base}p95 = \"200ms\"\n"))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("invalid threshold")
        .stderr_contains("scenario.toml:4:")
        .run();
    Test::new()
        .scenario(&format!("{base}p95 = \"< 200\"\n"))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("give the bound a unit")
        .run();
    Test::new()
        .scenario(&format!("{base}error_rate = \"< 2s\"\n"))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("`error_rate` is not a time")
        .run();
}

#[test]
fn thresholds_per_scenario_and_tag() {
    let nginx = Nginx::start(Variant::Http1);
    let scenario = |bound: &str| {
        format!(
            r#"
            [[scenarios]]
            name = "fine"
            tags = ["web"]
            [[scenarios.steps]]
            url = "/"

            [[scenarios]]
            name = "broken"
            [[scenarios.steps]]
            url = "http://127.0.0.1:1/"

            [thresholds.scenarios.fine]
            error_rate = "== 0%"
            p95 = "< 5s"

            [thresholds.tags.web]
            rps = "> 0"

            [thresholds.scenarios.broken]
            error_rate = "{bound}"
            "#
        )
    };
    // The broken scenario fails every request, the fine one none: each scoped
    // threshold sees only its own requests.
    let out = Test::new()
        .scenario(&scenario("== 100%"))
        .arg(nginx.url("/"))
        .args([
            "-c",
            "2",
            "--max-requests",
            "100",
            "-d",
            "60s",
            "--max-error-rate",
            "1",
        ])
        .report()
        .run();
    let report = out.report();
    let thresholds = report
        .get("thresholds")
        .as_array()
        .expect("thresholds")
        .clone();
    let scopes: Vec<&str> = thresholds
        .iter()
        .map(|t| t["scope"].as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        [
            "scenario:broken",
            "scenario:fine",
            "scenario:fine",
            "tag:web"
        ],
        "{report}"
    );
    assert!(thresholds.iter().all(|t| t["passed"] == true), "{report}");
    assert!(
        out.stdout.contains("[scenario:broken] error_rate"),
        "{}",
        out.stdout
    );

    Test::new()
        .scenario(&scenario("< 50%"))
        .arg(nginx.url("/"))
        .args([
            "-c",
            "2",
            "--max-requests",
            "100",
            "-d",
            "60s",
            "--max-error-rate",
            "1",
        ])
        .status(4)
        .stdout_contains("✗ [scenario:broken] error_rate < 50%")
        .run();
}

#[test]
fn scoped_thresholds_name_real_scenarios_and_tags() {
    let base = "[target]\nurl = \"http://127.0.0.1:9/\"\n[[scenarios]]\nname = \"browse\"\ntags = [\"web\"]\n[[scenarios.steps]]\nurl = \"/\"\n";
    Test::new()
        .scenario(&format!(
            "{base}[thresholds.scenarios.brwose]\np95 = \"< 1s\"\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains(
            "thresholds for scenario `brwose`, which no scenario has; did you mean `browse`?",
        )
        .run();
    Test::new()
        .scenario(&format!("{base}[thresholds.tags.api]\np95 = \"< 1s\"\n"))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("thresholds for tag `api`")
        .run();
    Test::new()
        .scenario(&format!(
            "{base}[thresholds.tags.web]\ncheck_pass_rate = \"> 0.9\"\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("measured for the whole run only")
        .run();
}

/// A dead target is not a fast one: refused connections have no latency and are no
/// throughput, so latency and rps thresholds fail (nothing measured, 0 req/s) even
/// when `--max-error-rate 1` lets the errors through; the report says so.
#[test]
fn a_dead_target_fails_latency_and_throughput_thresholds() {
    let port = free_port();
    let out = Test::new()
        .scenario(
            r#"
            [thresholds]
            p95 = "< 200ms"
            rps = "> 10"
            "#,
        )
        .arg(format!("http://127.0.0.1:{port}/"))
        // Each VU backs off after a refused connect (up to 250 ms): 20 take about
        // 1.5 s, 200 took 24.
        .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
        .args(["--max-error-rate", "1"])
        .status(4)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(4);
    assert_eq!(report.u64("errors.connect_refused"), 20, "{report}");
    assert_eq!(report.f64("requests.rps"), 0.0, "{report}");
    // No response, no latency: `null`, not a latency of 0.
    for field in ["min", "mean", "p50", "p99", "max"] {
        assert!(
            report.get(&format!("latency_ms.{field}")).is_null(),
            "latency_ms.{field}: {report}"
        );
    }
    let verdict = |metric: &str| {
        report
            .get("thresholds")
            .as_array()
            .expect("thresholds")
            .iter()
            .find(|t| t["metric"] == metric)
            .cloned()
            .unwrap_or_else(|| panic!("no {metric} threshold: {report}"))
    };
    let p95 = verdict("p95");
    assert_eq!(p95["observed"], serde_json::Value::Null, "{report}");
    assert_eq!(p95["passed"], false, "{report}");
    let rps = verdict("rps");
    assert_eq!(rps["observed"], 0.0, "{report}");
    assert_eq!(rps["passed"], false, "{report}");
}
