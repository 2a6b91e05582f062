//! Weighted scenarios of ordered steps: every step reaches the server in order, the
//! weights share the iterations, step checks apply to their step only.

use crate::harness::Test;
use crate::nginx::{Nginx, Variant};

const SCENARIOS: &str = r#"
    [request]
    headers = { "x-kaioken-test" = "common" }

    [[scenarios]]
    name = "browse"
    weight = 3
    tags = ["web"]

    [[scenarios.steps]]
    name = "home"
    url = "/"
    checks = ["status == 200"]

    [[scenarios.steps]]
    name = "missing"
    url = "/status/404"
    checks = ["status == 404"]
    expected_status = "404"

    [[scenarios]]
    name = "echo"
    weight = 1

    [[scenarios.steps]]
    url = "/echo"
    method = "POST"
    body = "hi"
"#;

#[test]
fn weighted_scenarios_run_their_steps_in_order() {
    for env in [None, Some("1")] {
        let nginx = Nginx::start(Variant::Http1);
        let mut test = Test::new()
            .scenario(SCENARIOS)
            .arg(nginx.url("/"))
            .args(["-c", "4", "--max-requests", "4000", "-d", "60s"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let out = test.run();
        let report = out.report();
        let lines = nginx.access_log_lines();
        assert_eq!(
            lines.len() as u64,
            report.u64("requests.responses"),
            "{report}"
        );
        let count = |method: &str, uri: &str| {
            lines
                .iter()
                .filter(|l| l.method == method && l.uri == uri)
                .count() as f64
        };
        let (home, missing, echo) = (
            count("GET", "/"),
            count("GET", "/status/404"),
            count("POST", "/echo"),
        );
        assert_eq!(
            home + missing + echo,
            4000.0,
            "every request is one of the three steps"
        );
        // Steps run in order: each browse iteration sends both of its steps (the last
        // iteration of a VU may stop between them at the request budget).
        assert!(
            (home - missing).abs() <= 4.0,
            "home {home}, missing {missing}"
        );
        // 3:1 by weight, in iterations: browse/echo ≈ 3 (a loose bound; draws are random).
        let ratio = home / echo;
        assert!(
            (2.6..3.4).contains(&ratio),
            "browse/echo iterations {ratio} (home {home}, echo {echo})"
        );
        assert!(
            lines.iter().all(|l| l.x_kaioken_test == "common"),
            "[request] headers reach every step"
        );
        let checks = report.get("checks").as_array().expect("checks").clone();
        let by_name = |n: &str| {
            checks
                .iter()
                .find(|c| c["name"] == n)
                .unwrap_or_else(|| panic!("no check {n}\n{report}"))
                .clone()
        };
        assert_eq!(by_name("status == 200")["fails"], 0, "{report}");
        assert_eq!(by_name("status == 404")["fails"], 0, "{report}");
        // Each check names its step; a 404 is what `missing` expects.
        assert_eq!(by_name("status == 200")["step"], "home", "{report}");
        assert_eq!(by_name("status == 404")["step"], "missing", "{report}");
        assert_eq!(report.u64("requests.failed"), 0, "{report}");
        assert_eq!(
            report.str("settings.expected_status"),
            "home=200-399 missing=404 step0=200-399"
        );
        assert!(
            out.stdout.contains("✓ [missing] status == 404"),
            "{}",
            out.stdout
        );
        assert_eq!(
            by_name("status == 200")["passes"].as_f64().unwrap(),
            home,
            "{report}"
        );
        assert_eq!(
            report.u64("iterations.started") as f64,
            home + echo,
            "{report}"
        );
        // Every response is one step's and one scenario's, and the closed model
        // times it from the actual send: the largest of the steps' and of the
        // scenarios' exact maxima is the run's.
        report.check_invariants(0);
        let largest = |key: &str| {
            report
                .get(key)
                .as_array()
                .expect("an array")
                .iter()
                .filter_map(|g| g["latency_ms"]["max"].as_f64())
                .fold(0.0, f64::max)
        };
        let max = report.f64("latency_ms.max");
        assert_eq!(largest("steps"), max, "{report}");
        assert_eq!(largest("scenarios"), max, "{report}");
        // Per-scenario and per-tag results add up to what the server saw.
        let groups = |key: &str| -> Vec<(String, u64)> {
            report
                .get(key)
                .as_array()
                .expect("an array")
                .iter()
                .map(|g| {
                    (
                        g["name"].as_str().unwrap().to_owned(),
                        g["requests"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(
            groups("scenarios"),
            vec![
                ("browse".to_owned(), (home + missing) as u64),
                ("echo".to_owned(), echo as u64)
            ],
            "{report}"
        );
        assert_eq!(
            groups("tags"),
            vec![("web".to_owned(), (home + missing) as u64)],
            "{report}"
        );
        assert!(
            report.get("scenarios")[0]["latency_ms"]["p99"]
                .as_f64()
                .unwrap()
                > 0.0,
            "{report}"
        );
    }
}

#[test]
fn scenario_errors_are_located() {
    let base = "[target]\nurl = \"http://127.0.0.1:9/\"\n";
    Test::new()
        .scenario(&format!(
            "{base}[[scenarios]]\nweight = 0\n[[scenarios.steps]]\nurl = \"/\"\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("`weight` is out of range")
        .stderr_contains("scenario.toml:4:10")
        .run();
    Test::new()
        .scenario(&format!("{base}[[scenarios]]\nname = \"empty\"\n"))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("a scenario needs at least one")
        .run();
    Test::new()
        .scenario(&format!(
            "{base}[[scenarios]]\n[[scenarios.steps]]\nmethod = \"GET\"\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("a step needs a `url`")
        .run();
    Test::new()
        .scenario("[[scenarios]]\n[[scenarios.steps]]\nurl = \"/relative\"\n")
        .arg("--dry-run")
        .status(1)
        .stderr_contains(
            "a relative URL needs a base: `url` in `[target]`, or the URL on the command line",
        )
        .run();
    Test::new()
        .scenario(&format!(
            "{base}[request]\nmethod = \"POST\"\n[[scenarios]]\n[[scenarios.steps]]\nurl = \"/\"\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("each step sets its own `method`")
        .run();
    Test::new()
        .scenario(&format!(
            "{base}[[scenarios]]\n[[scenarios.steps]]\nurl = \"/\"\nmethd = \"GET\"\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("did you mean `method`?")
        .run();
}

#[test]
fn uuid_and_random_builtins() {
    let nginx = Nginx::start(Variant::Http1);
    Test::new()
        .arg(nginx.url("/echo?id=${UUID}&n=${RANDOM(-2,3)}"))
        .args(["-c", "2", "--max-requests", "600", "-d", "60s"])
        .run();
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 600);
    let mut ids = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    for l in &lines {
        let query = l.uri.strip_prefix("/echo?id=").expect("the URL");
        let (id, n) = query.split_once("&n=").expect("both built-ins");
        // 8-4-4-4-12 lowercase hex, version 4, RFC 4122 variant.
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{id}"
        );
        assert!(
            id.bytes()
                .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id}"
        );
        assert!(
            groups[2].starts_with('4') && "89ab".contains(&groups[3][..1]),
            "{id}"
        );
        ids.insert(id.to_owned());
        let n: i64 = n.parse().expect("an integer");
        assert!((-2..=3).contains(&n), "{n}");
        seen.insert(n);
    }
    assert_eq!(ids.len(), 600, "every UUID is new");
    assert_eq!(
        seen.len(),
        6,
        "600 draws hit every value of -2..=3: {seen:?}"
    );

    for (url, message) in [
        (
            "http://127.0.0.1:9/${RANDOM(5,1)}",
            "`RANDOM` takes two integers, the smallest first",
        ),
        (
            "http://127.0.0.1:9/${RANDOM}",
            "`RANDOM` takes two integers",
        ),
        ("http://127.0.0.1:9/${UUID(1)}", "`UUID` takes no arguments"),
    ] {
        Test::new()
            .arg(url)
            .arg("--dry-run")
            .status(1)
            .stderr_contains(message)
            .run();
    }
}

/// Two steps of one scenario: the report's `steps` give each its own requests,
/// failures, statuses and latency, and each step's request count is what nginx
/// logged for its URI; the summary has a line per step. On both engines.
#[test]
fn each_step_has_its_own_results() {
    const TWO_STEPS: &str = r#"
        [[scenarios]]
        name = "pair"

        [[scenarios.steps]]
        name = "home"
        url = "/"

        [[scenarios.steps]]
        name = "gone"
        url = "/status/404?secret=hunter2"
    "#;
    for env in [None, Some("1")] {
        let nginx = Nginx::start(Variant::Http1);
        let mut test = Test::new()
            .scenario(TWO_STEPS)
            .arg(nginx.url("/"))
            .args(["-c", "3", "--max-requests", "600", "-d", "60s"])
            .args(["--max-error-rate", "0.6", "--redact", "secret"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let out = test.run();
        let report = out.report();
        let lines = nginx.access_log_lines();
        let logged = |uri: &str| lines.iter().filter(|l| l.uri == uri).count() as u64;
        let (home, gone) = (logged("/"), logged("/status/404?secret=hunter2"));
        assert_eq!(home + gone, 600, "{lines:?}");
        let steps = report.get("steps").as_array().expect("steps").clone();
        assert_eq!(steps.len(), 2, "{report}");
        let (h, g) = (&steps[0], &steps[1]);
        assert_eq!(h["name"], "home", "{report}");
        assert_eq!(h["scenario"], "pair", "{report}");
        assert_eq!(h["method"], "GET", "{report}");
        assert_eq!(h["url"], nginx.url("/"), "{report}");
        assert_eq!(h["requests"].as_u64(), Some(home), "{report}");
        assert_eq!(h["failed"], 0, "{report}");
        assert_eq!(h["status_codes"], serde_json::json!({ "2xx": home }));
        assert_eq!(g["name"], "gone", "{report}");
        assert_eq!(
            g["url"],
            nginx.url("/status/404?secret=<redacted>"),
            "the step's URL is redacted as the target's is\n{report}"
        );
        assert_eq!(g["requests"].as_u64(), Some(gone), "{report}");
        assert_eq!(g["failed"].as_u64(), Some(gone), "a 404 is not expected");
        assert_eq!(g["errors"], 0, "{report}");
        assert_eq!(g["status_codes"], serde_json::json!({ "4xx": gone }));
        for s in [h, g] {
            let p50 = s["latency_ms"]["p50"].as_f64().expect("a p50");
            let p99 = s["latency_ms"]["p99"].as_f64().expect("a p99");
            assert!(0.0 < p50 && p50 <= p99, "{report}");
        }
        assert_eq!(report.u64("requests.failed"), gone, "{report}");
        assert!(
            out.stdout.contains(&format!(
                "  Steps       home  {home} requests, 0 failed  p50 "
            )),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains(&format!("gone  {gone} requests, {gone} failed  p50 ")),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!("  4xx {gone}\n")),
            "{}",
            out.stdout
        );
    }
}

/// An iteration abandoned after a failed request has its number: the next one has
/// the next, so `${ITERATION}` (and `${VU}-${ITERATION}`) never repeats. Each
/// iteration here reaches nginx, then fails at a port nothing listens on.
#[test]
fn an_abandoned_iteration_keeps_its_number() {
    for engine in ["tokio", "io_uring"] {
        let nginx = Nginx::start(Variant::Http1);
        let scenario = format!(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "{}"
            [[scenarios.steps]]
            url = "{}"
            "#,
            nginx.url("/?i=${ITERATION}"),
            crate::harness::NOWHERE,
        );
        let report = Test::new()
            .scenario(&scenario)
            .on_engine(engine)
            .args(["-c", "1", "-n", "10", "--max-error-rate", "1"])
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_eq!(report.u64("requests.errors"), 5, "{engine}\n{report}");
        let uris: Vec<String> = nginx
            .access_log_lines()
            .into_iter()
            .map(|l| l.uri)
            .collect();
        let want: Vec<String> = (0..5).map(|i| format!("/?i={i}")).collect();
        assert_eq!(uris, want, "{engine}\n{report}");
    }
}
