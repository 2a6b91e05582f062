//! HTTP/3 against Caddy: what Caddy served over QUIC is what the report counts, and a
//! scenario gives the same results over HTTP/1.1, HTTP/2 and HTTP/3; a server
//! without QUIC, and a certificate not trusted, are classified errors.

use std::time::Duration;

use crate::caddy::Caddy;
use crate::grpc::{GrpcServer, PROTO};
use crate::harness::Test;
use crate::load_models::assert_accounted;
use crate::nginx::{Nginx, Variant};
use crate::websocket::WsEcho;

#[test]
fn http3_requests_match_caddys_access_log() {
    let caddy = Caddy::start();
    let out = Test::new()
        .arg(caddy.url("/"))
        .arg("--cacert")
        .arg(caddy.ca_path())
        .args(["--http3", "-c", "4", "--max-requests", "200", "-d", "60s"])
        .stdout_contains("(HTTP/3)")
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.total"), 200, "{report}");
    assert_eq!(report.status_codes(), vec![(200, 200)], "{report}");
    assert_eq!(report.str("target.http_version"), "3", "{report}");
    // One QUIC connection per VU, its handshake timed as the TLS phase.
    let opened = report.keepalive_connections(4);
    assert_eq!(report.u64("connections.reused"), 200 - opened, "{report}");
    assert_eq!(report.u64("phases_ms.tls.count"), opened, "{report}");
    let served = caddy.protocols();
    assert_eq!(
        served.get("HTTP/3.0"),
        Some(&200),
        "{served:?}\n{}",
        caddy.logs()
    );
    assert_eq!(served.len(), 1, "only HTTP/3 was spoken: {served:?}");

    // The open model too: what it reports is what Caddy served. Each of the 100
    // iterations of 100/s for 1 s started or dropped, and all started but what the
    // run's end may cut on a loaded machine: what is still due, or waiting for a VU
    // (each new one a QUIC handshake first), when the deadline stops the run. The
    // 10% this once allowed is 100 ms of a 1 s run; a quarter of a second is room
    // for a loaded machine, as in load_models.rs's `open_stages_ramp_the_rate`.
    let report = Test::new()
        .arg(caddy.url("/"))
        .arg("--cacert")
        .arg(caddy.ca_path())
        .args([
            "--http3",
            "--arrival-rate",
            "100",
            "--max-vus",
            "8",
            "-d",
            "1s",
        ])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_accounted(&report, 100, 0.25);
    let total = report.u64("requests.total");
    assert_eq!(total, report.u64("iterations.started"), "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    assert_eq!(
        caddy.protocols().get("HTTP/3.0"),
        Some(&(200 + total)),
        "{report}"
    );
}

/// Checks, a value extracted from JSON and sent by later steps (in a URL and a
/// body), a redirect, a cookie the jar sends back and thresholds: six requests an
/// iteration, four iterations.
const SESSION: &str = r#"
    [[scenarios]]
    name = "session"

    [[scenarios.steps]]
    name = "login"
    url = "/login"
    checks = ["status == 200", 'header("content-type") contains "json"']
    extract = { token = "json:$.token" }

    [[scenarios.steps]]
    name = "use"
    url = "/echo?token=${token}"
    checks = ['body contains "GET /echo?token=t-42"']

    [[scenarios.steps]]
    name = "post"
    url = "/body"
    method = "POST"
    body = "token=${token}&vu=${VU}"
    checks = ['body contains "got token=t-42&vu=1"']

    [[scenarios.steps]]
    name = "hop"
    url = "/hop"
    checks = ['body contains "hopped=1"']

    [[scenarios.steps]]
    name = "cookies"
    url = "/cookies"
    checks = ['body contains "sid=abc123"']

    [thresholds]
    error_rate = "<= 1%"
    check_pass_rate = "> 0.99"
    p95 = "< 5s"
    "#;

#[test]
fn one_scenario_gives_the_same_results_over_h1_h2_and_h3() {
    let caddy = Caddy::start();
    let mut served_before = 0;
    for (flag, version, proto) in [
        (None, "1.1", "HTTP/1.1"),
        (Some("--http2"), "2", "HTTP/2.0"),
        (Some("--http3"), "3", "HTTP/3.0"),
    ] {
        let mut test = Test::new()
            .scenario(SESSION)
            .arg(caddy.url("/"))
            .arg("--cacert")
            .arg(caddy.ca_path())
            .args([
                "--cookie-jar",
                "-c",
                "1",
                "--max-requests",
                "24",
                "-d",
                "60s",
            ])
            .stdout_contains(format!("(HTTP/{version})"))
            .stdout_contains("Thresholds  all passed");
        if let Some(flag) = flag {
            test = test.arg(flag);
        }
        let report = test.report().run().report();
        report.check_invariants(0);
        assert_eq!(report.str("target.http_version"), version, "{report}");
        assert_eq!(report.u64("requests.total"), 24, "{report}");
        assert_eq!(report.u64("iterations.started"), 4, "{report}");
        assert_eq!(
            report.status_codes(),
            vec![(200, 20), (302, 4)],
            "{version}: {report}"
        );
        for check in [
            "status == 200",
            "header(\"content-type\") contains \"json\"",
            "body contains \"GET /echo?token=t-42\"",
            "body contains \"got token=t-42&vu=1\"",
            "body contains \"hopped=1\"",
            "body contains \"sid=abc123\"",
        ] {
            assert_eq!(report.check(check), (4, 0), "{version}: {check}\n{report}");
        }
        let extractions = report.get("extractions").as_array().expect("extractions");
        assert_eq!(extractions.len(), 1, "{report}");
        assert_eq!(extractions[0]["ok"], 4, "{version}: {report}");
        assert_eq!(extractions[0]["failed"], 0, "{version}: {report}");
        let thresholds = report.get("thresholds").as_array().expect("thresholds");
        assert_eq!(thresholds.len(), 3, "{report}");
        assert!(thresholds.iter().all(|t| t["passed"] == true), "{report}");
        let served = caddy.protocols();
        assert_eq!(served.get(proto), Some(&24), "{version}: {served:?}");
        served_before += 24;
        assert_eq!(served.values().sum::<u64>(), served_before, "{served:?}");
    }
}

/// A body goes with its `content-length` over HTTP/3 as over HTTP/2: without one,
/// Caddy's `reverse_proxy` passed an empty body on to its backend.
#[test]
fn http3_requests_carry_their_bodies_length() {
    let caddy = Caddy::start();
    // A constant body, and one made per request.
    let scenario = r#"
        [[scenarios]]
        [[scenarios.steps]]
        url = "/proxied"
        method = "POST"
        body = "hello world"
        checks = ['body contains "backend got [hello world] length [11]"']

        [[scenarios.steps]]
        url = "/proxied"
        method = "PUT"
        body = "vu ${VU}"
        checks = ['body contains "backend got [vu 1] length [4]"']
        "#;
    for flag in ["--http2", "--http3"] {
        let report = Test::new()
            .scenario(scenario)
            .arg(caddy.url("/"))
            .arg("--cacert")
            .arg(caddy.ca_path())
            .args([flag, "-c", "1", "-n", "4"])
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_eq!(report.status_codes(), vec![(200, 4)], "{flag}: {report}");
        for check in [
            "body contains \"backend got [hello world] length [11]\"",
            "body contains \"backend got [vu 1] length [4]\"",
        ] {
            assert_eq!(report.check(check), (2, 0), "{flag}: {check}\n{report}");
        }
    }
    let served = caddy.protocols();
    assert_eq!(served.get("HTTP/3.0"), Some(&4), "{served:?}");
}

#[test]
fn http3_to_a_server_without_quic_is_a_timely_connect_error() {
    // nginx speaks TLS on TCP only: nothing answers QUIC on its port.
    let nginx = Nginx::start(Variant::Tls);
    let out = Test::new()
        .arg(nginx.url("/"))
        .arg("--cacert")
        .arg(nginx.ca_path())
        .args([
            "--http3",
            "--timeout",
            "1s",
            "-c",
            "2",
            "--max-requests",
            "2",
        ])
        .args(["-d", "60s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(
        report.error_classes(),
        vec![("connect".to_owned(), 2)],
        "{report}"
    );
    let why = report.str("error_details.connect");
    assert!(
        why.starts_with("no QUIC handshake with 127.0.0.1:")
            && why.contains("within 1s (the lesser of --timeout and 5s)"),
        "{why}"
    );
    // Each VU gave up after its 1s handshake, not after a transport's idle timeout.
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    assert!(nginx.access_log_lines().is_empty(), "{}", nginx.logs());
}

#[test]
fn http3_to_an_http_url_is_a_config_error() {
    Test::new()
        .args(["http://127.0.0.1:9/", "--http3", "-n", "1"])
        .status(1)
        .stderr_contains("HTTP/3 runs on QUIC, which is always TLS: use an `https://` URL")
        .stderr_lacks("write a full URL")
        .run();
}

/// `http = "3"` is the version of a scenario's HTTP steps: its cleartext `ws://`
/// and `grpc://` steps run as they would without it (a WebSocket handshake over
/// HTTP/1.1, a call over h2c), each against its own real server.
#[test]
fn http3_leaves_cleartext_websocket_and_grpc_steps_alone() {
    let caddy = Caddy::start();
    let grpc = GrpcServer::start(false);
    let ws = WsEcho::start();
    let scenario = format!(
        r#"
        [target]
        url = "{http}"
        http = "3"

        [grpc]
        proto = "api.proto"

        [[scenarios]]
        [[scenarios.steps]]
        name = "page"
        url = "/echo"
        checks = ["status == 200"]

        [[scenarios.steps]]
        name = "item"
        grpc = {{ url = "{grpc}", call = "kaioken.test.Items/Get", message = '{{"id": "7"}}' }}
        checks = ["grpc_status == OK"]

        [[scenarios.steps]]
        name = "say"
        ws = {{ url = "{ws}", send = "hello" }}
        checks = ['body contains "hello"']
        "#,
        http = caddy.url("/"),
        grpc = grpc.url(),
        ws = ws.url("/chat"),
    );
    let report = Test::new()
        .file("api.proto", PROTO)
        .scenario(&scenario)
        .arg("--cacert")
        .arg(caddy.ca_path())
        .args(["-c", "1", "-n", "9"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.str("target.http_version"), "3", "{report}");
    for check in [
        "status == 200",
        "grpc_status == OK",
        "body contains \"hello\"",
    ] {
        assert_eq!(report.check(check), (3, 0), "{check}\n{report}");
    }
    assert_eq!(caddy.protocols(), [("HTTP/3.0".to_owned(), 3)].into());
    assert_eq!(grpc.calls().len(), 3, "{:?}", grpc.calls());
    assert_eq!(ws.received(), 3, "{}", ws.log());
}

#[test]
fn http3_certificates_are_verified_unless_insecure() {
    let caddy = Caddy::start();
    // Caddy's internal CA is not trusted without --cacert.
    let report = Test::new()
        .arg(caddy.url("/"))
        .args(["--http3", "-c", "2", "--max-requests", "10", "-d", "60s"])
        .status(1)
        .report()
        .run()
        .report();
    report.check_invariants(1);
    assert_eq!(
        report.error_classes(),
        vec![("tls".to_owned(), 10)],
        "{report}"
    );
    let why = report.str("error_details.tls");
    assert!(
        why.contains("QUIC handshake") && why.contains("UnknownIssuer"),
        "{why}"
    );
    assert_eq!(caddy.protocols().get("HTTP/3.0"), None);

    let report = Test::new()
        .arg(caddy.url("/"))
        .args(["--http3", "--insecure", "-c", "2", "--max-requests", "10"])
        .args(["-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), vec![(200, 10)], "{report}");
    assert_eq!(caddy.protocols().get("HTTP/3.0"), Some(&10));
}
