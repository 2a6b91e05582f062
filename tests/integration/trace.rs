//! `--trace-sample` against nginx, whose second access log records each request's
//! `traceparent` header (`$http_traceparent`, `-` without one): with a share of 1
//! every request nginx served carries a valid W3C `traceparent` with ids of its own
//! (HTTP/1.1 and HTTP/2; HTTP/3 against Caddy, whose JSON access log has the
//! request's headers; gRPC calls' metadata against the grpcio server; the
//! handshakes of WebSocket connections); with 0 none does; a share out of range is
//! an error.

use std::collections::HashSet;

use tempfile::TempDir;

use crate::caddy::Caddy;
use crate::grpc::{GrpcServer, PROTO};
use crate::harness::{Report, Test, settled};
use crate::nginx::{Nginx, Variant};
use crate::websocket::WsEcho;

/// nginx of `variant`, with a second access log of each request's `traceparent`.
pub(crate) fn nginx_logging_traceparent(variant: Variant) -> (Nginx, TempDir) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let log = dir.path().join("traceparent.log");
    let directives = format!(
        "log_format traceparent '$http_traceparent';\n    access_log {} traceparent;",
        log.display()
    );
    (Nginx::start_with(variant, &directives), dir)
}

/// The `traceparent` values nginx logged, one per request.
pub(crate) fn logged(dir: &TempDir) -> Vec<String> {
    settled(&dir.path().join("traceparent.log"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `(trace id, parent id)` of a W3C `traceparent` as kaioken sends it
/// (`00-TRACE-PARENT-01`: version 00, a 32-hex-digit trace id and a 16-hex-digit span
/// id, neither all zeros, flags 01, sampled); panics on any other shape.
pub(crate) fn parse_traceparent(header: &str) -> (String, String) {
    let parts: Vec<&str> = header.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    assert!(
        parts.len() == 4
            && parts[0] == "00"
            && hex(parts[1], 32)
            && hex(parts[2], 16)
            && parts[1] != "0".repeat(32)
            && parts[2] != "0".repeat(16)
            && parts[3] == "01",
        "not a W3C traceparent: {header:?}"
    );
    (parts[1].to_owned(), parts[2].to_owned())
}

fn run(nginx: &Nginx, extra: &[&str]) -> Report {
    run_on(nginx, extra, Test::new())
}

fn run_on(nginx: &Nginx, extra: &[&str], test: Test) -> Report {
    let out = test
        .arg(nginx.url("/"))
        .args(["-c", "4", "-n", "50", "-d", "60s"])
        .args(extra)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), vec![(200, 50)], "{report}");
    report
}

/// Every logged request carries a valid `traceparent`, each a trace of its own.
fn assert_all_traced(headers: &[String]) {
    assert_n_traced(headers, 50);
}

fn assert_n_traced(headers: &[String], n: usize) {
    assert_eq!(headers.len(), n, "{headers:?}");
    for h in headers {
        parse_traceparent(h);
    }
    let traces: HashSet<&str> = headers.iter().map(|h| &h[3..35]).collect();
    let spans: HashSet<&str> = headers.iter().map(|h| &h[36..52]).collect();
    assert_eq!((traces.len(), spans.len()), (n, n), "{headers:?}");
}

/// Both engines trace: the io_uring engine takes this run, and the tokio engine
/// when told to.
#[test]
fn a_share_of_one_traces_every_request() {
    for engine in ["io_uring", "tokio"] {
        let (nginx, dir) = nginx_logging_traceparent(Variant::Http1);
        let mut test = Test::new();
        if engine == "tokio" {
            test = test.env("KAIOKEN_NO_IO_URING", "1");
        }
        let report = run_on(&nginx, &["--trace-sample", "1"], test);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_all_traced(&logged(&dir));
    }
}

#[test]
fn a_share_of_one_traces_every_http2_request() {
    let (nginx, dir) = nginx_logging_traceparent(Variant::H2c);
    run(&nginx, &["--http2", "--trace-sample", "1"]);
    assert_all_traced(&logged(&dir));
}

#[test]
fn a_share_of_one_traces_every_http3_request() {
    let caddy = Caddy::start();
    let report = Test::new()
        .arg(caddy.url("/"))
        .arg("--cacert")
        .arg(caddy.ca_path())
        .args(["--http3", "-c", "4", "-n", "50", "-d", "60s"])
        .args(["--trace-sample", "1"])
        .report()
        .run()
        .report();
    assert_eq!(report.status_codes(), vec![(200, 50)], "{report}");
    let served = caddy.header_values("Traceparent");
    assert!(
        served.iter().all(|(proto, _)| proto == "HTTP/3.0"),
        "{served:?}"
    );
    let headers: Vec<String> = served
        .into_iter()
        .map(|(_, v)| v.unwrap_or_else(|| "-".into()))
        .collect();
    assert_all_traced(&headers);
}

#[test]
fn a_share_of_one_traces_every_grpc_call() {
    let server = GrpcServer::start(false);
    let report = Test::new()
        .file("api.proto", PROTO)
        .arg(server.url())
        .args(["--proto", "api.proto", "--call", "kaioken.test.Items/Get"])
        .args(["-b", r#"{"id": "x"}"#, "-c", "4", "-n", "50", "-d", "60s"])
        .args(["--trace-sample", "1"])
        .report()
        .run()
        .report();
    assert_eq!(report.u64("requests.total"), 50, "{report}");
    let headers: Vec<String> = server
        .calls()
        .into_iter()
        .filter(|c| c[0] == "get")
        .map(|c| c[3].clone())
        .collect();
    assert_all_traced(&headers);
}

/// A WebSocket exchange carries the header only in the handshake that opens its
/// connection: one per VU here, each a trace of its own. One per VU that connected:
/// a VU claims its share of the 50 messages before it connects, so on a loaded
/// machine one that starts late can find them spent and never connect.
#[test]
fn a_share_of_one_traces_websocket_handshakes() {
    let server = WsEcho::start();
    let report = Test::new()
        .arg(server.url("/echo"))
        .args(["-c", "4", "-n", "50", "-b", "hi", "-d", "60s"])
        .args(["--trace-sample", "1"])
        .report()
        .run()
        .report();
    assert_eq!(report.u64("requests.total"), 50, "{report}");
    let opened = report.u64("websocket.connections.opened");
    assert!((1..=4).contains(&opened), "{report}");
    assert_n_traced(&server.handshake_traceparents(), opened as usize);
}

#[test]
fn the_scenario_file_sets_the_share() {
    let (nginx, dir) = nginx_logging_traceparent(Variant::Http1);
    let out = Test::new()
        .scenario("[target]\ntrace_sample = 1.0\n")
        .arg(nginx.url("/"))
        .args(["-c", "4", "-n", "50", "-d", "60s"])
        .report()
        .run();
    assert_eq!(out.report().status_codes(), vec![(200, 50)]);
    assert_all_traced(&logged(&dir));
}

#[test]
fn a_share_of_zero_traces_nothing() {
    let (nginx, dir) = nginx_logging_traceparent(Variant::Http1);
    run(&nginx, &["--trace-sample", "0"]);
    let headers = logged(&dir);
    assert_eq!(headers, vec!["-".to_owned(); 50]);
}

#[test]
fn a_share_out_of_range_is_an_error() {
    for share in ["1.5", "-0.1"] {
        Test::new()
            .arg("http://127.0.0.1:9/")
            .arg(format!("--trace-sample={share}"))
            .status(1)
            .stderr_contains("`trace_sample` is out of range; expected a fraction from 0 to 1")
            .stderr_contains(format!("--trace-sample \"{share}\""))
            .run();
    }
}
