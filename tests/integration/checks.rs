//! Checks: each evaluation counted, on every engine and protocol; failed requests
//! fail their checks; the body limit bounds what checks can see; bad checks are
//! located errors.

use crate::harness::{Report, Test};
use crate::nginx::{Nginx, Variant};
use crate::servers::{Behaviour, Server};

const SCENARIO: &str = r#"
    [request]
    checks = ["status == 200", 'body contains "ok"', 'body contains "absent"']

    [[checks]]
    name = "length"
    expr = 'header("Content-Length") == "2" && header("content-type") contains "text"'

    [[checks]]
    name = "quick"
    expr = "duration < 10s"
"#;

/// `(name, passes, fails)` of every check in the report.
fn checks(report: &Report) -> Vec<(String, u64, u64)> {
    report
        .get("checks")
        .as_array()
        .expect("checks is an array")
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("check name").to_owned();
            (
                name,
                c["passes"].as_u64().expect("passes"),
                c["fails"].as_u64().expect("fails"),
            )
        })
        .collect()
}

fn run_against(nginx: &Nginx, extra: &[&str], env: Option<(&str, &str)>, engine: &str) {
    let mut test = Test::new()
        .scenario(SCENARIO)
        .arg(nginx.url("/"))
        .args(["-c", "4", "--max-requests", "300", "-d", "60s"])
        .args(extra.iter().copied())
        .report();
    if let Some((k, v)) = env {
        test = test.env(k, v);
    }
    let out = test.run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.str("settings.engine"), engine, "{report}");
    assert_eq!(report.u64("requests.responses"), 300, "{report}");
    let mut got = checks(&report);
    got.sort();
    let mut want = vec![
        ("length".to_owned(), 300, 0),
        ("quick".to_owned(), 300, 0),
        ("status == 200".to_owned(), 300, 0),
        ("body contains \"ok\"".to_owned(), 300, 0),
        ("body contains \"absent\"".to_owned(), 0, 300),
    ];
    want.sort();
    assert_eq!(got, want, "{report}");
    let rate = report.f64("requests.check_pass_rate");
    assert!(
        (rate - 0.8).abs() < 1e-9,
        "4 of 5 checks pass every time: {rate}\n{report}"
    );
    // The failing check says where it was written (`[request] checks`, line 2 of the file written), in
    // the report and the summary; passing ones need no location in the summary.
    let absent = report
        .get("checks")
        .as_array()
        .expect("checks is an array")
        .iter()
        .find(|c| c["name"] == "body contains \"absent\"")
        .expect("the failing check");
    assert_eq!(absent["location"], "scenario.toml:2:50", "{report}");
    assert!(
        out.stderr.contains("(scenario.toml:2:50)") || out.stdout.contains("(scenario.toml:2:50)"),
        "{}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn checks_are_counted_on_every_engine_and_protocol() {
    let nginx = Nginx::start(Variant::Http1);
    run_against(&nginx, &[], None, "io_uring");
    run_against(&nginx, &[], Some(("KAIOKEN_NO_IO_URING", "1")), "tokio");
    let h2 = Nginx::start(Variant::H2c);
    run_against(&h2, &["--http2"], None, "tokio");
}

#[test]
fn status_checks_see_the_real_status() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .scenario(
            r#"
            [[checks]]
            expr = "status == 200"
            [[checks]]
            expr = "status in [404, 410]"
            [[checks]]
            expr = 'body == "not found"'
            "#,
        )
        .arg(nginx.url("/status/404"))
        .args(["-c", "2", "--max-requests", "100", "-d", "60s"])
        .args(["--expect-status", "404"])
        .report()
        .run();
    let report = out.report();
    assert_eq!(report.u64("requests.failed"), 0, "{report}");
    assert_eq!(
        checks(&report),
        vec![
            ("status == 200".to_owned(), 0, 100),
            ("status in [404, 410]".to_owned(), 100, 0),
            ("body == \"not found\"".to_owned(), 100, 0),
        ],
        "{report}"
    );
    assert!(out.stdout.contains("✗ status == 200"), "{}", out.stdout);
}

#[test]
fn requests_without_a_response_fail_their_checks() {
    let server = Server::start(Behaviour::CloseOnAccept);
    let out = Test::new()
        .scenario("[[checks]]\nexpr = \"status < 600\"\n")
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    assert_eq!(
        checks(&report),
        vec![("status < 600".to_owned(), 0, 20)],
        "{report}"
    );
    assert_eq!(report.f64("requests.check_pass_rate"), 0.0, "{report}");
}

#[test]
fn the_body_limit_bounds_what_checks_see() {
    let mut response =
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 100006\r\n\r\n".to_vec();
    response.extend(std::iter::repeat_n(b'x', 100_000));
    response.extend_from_slice(b"MARKER");
    let response: &'static [u8] = Box::leak(response.into_boxed_slice());
    for (limit, passes) in [(None, 0), (Some("200000"), 10)] {
        for no_uring in [false, true] {
            let server = Server::start(Behaviour::Malformed(response));
            let mut scenario = String::from("[[checks]]\nexpr = 'body contains \"MARKER\"'\n");
            if let Some(limit) = limit {
                scenario.push_str(&format!("[target]\nbody_limit = {limit}\n"));
            }
            let mut test = Test::new()
                .scenario(&scenario)
                .arg(server.url())
                .args(["-c", "1", "--max-requests", "10", "-d", "30s"])
                .report();
            if no_uring {
                test = test.env("KAIOKEN_NO_IO_URING", "1");
            }
            let report = test.run().report();
            assert_eq!(report.u64("requests.responses"), 10, "{report}");
            let (_, got, _) = checks(&report)[0].clone();
            assert_eq!(got, passes, "limit {limit:?}, tokio {no_uring}\n{report}");
            // Every byte was still read and counted, kept or not.
            assert!(
                report.u64("requests.bytes_received") > 10 * 100_000,
                "{report}"
            );
        }
    }
}

#[test]
fn bad_checks_are_located() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [[checks]]
            expr = "latency < 200ms"
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains("check `latency` is not a response field")
        .stderr_contains("scenario.toml:5:")
        .run();
    assert!(out.stderr.contains("latency"), "{}", out.stderr);
    Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [request]
            checks = ['body matches "(unclosed"']
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains("invalid regular expression")
        .stderr_contains("scenario.toml:5:")
        .run();
    Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [[checks]]
            expr = 'status contains "2"'
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains("`status` is a number")
        .run();
    Test::new()
        .scenario("[target]\nurl = \"http://127.0.0.1:9/\"\n[[checks]]\nname = \"no expr\"\n")
        .arg("--dry-run")
        .status(1)
        .stderr_contains("a check needs `expr`")
        .run();
}
