//! Servers that fail on purpose: each failure must land in its own error class, the
//! run must still end on time, and the report must still be written.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::harness::Test;
use crate::nginx::free_port;
use crate::servers::{Behaviour, Server};

#[test]
fn stalled_server_times_out() {
    let server = Server::start(Behaviour::Stall);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "2s", "--timeout", "300ms"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    let total = report.u64("requests.total");
    assert!(report.u64("errors.timeout") > 0, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("timeout".to_owned(), total)],
        "every request should time out\n{report}"
    );
    assert_eq!(report.u64("requests.responses"), 0, "{report}");
    // 2 VUs, 2s, 300ms per attempt: a handful each, not one (the timeout works
    // per request) and not unbounded.
    assert!((4..=20).contains(&total), "total {total}\n{report}");
    assert!(
        out.elapsed < Duration::from_secs(20),
        "stalled requests held the run for {:?}",
        out.elapsed
    );
    assert!(server.counts().requests.load(Ordering::SeqCst) >= total);
}

#[test]
fn reset_after_request_is_a_reset() {
    let server = Server::start(Behaviour::ResetAfterRequest);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "50", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 50, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("reset".to_owned(), 50)],
        "a reset before any response is `reset`\n{report}"
    );
}

#[test]
fn close_on_accept_is_a_reset() {
    let server = Server::start(Behaviour::CloseOnAccept);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "50", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 50, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("reset".to_owned(), 50)],
        "a close before any response is `reset`\n{report}"
    );
    assert!(server.counts().connections.load(Ordering::SeqCst) > 0);
}

#[test]
fn server_closing_idle_connections_is_survived() {
    // 50 responses per connection, then a plain close without `Connection: close`,
    // as servers with a keep-alive limit do. At most the request racing each close
    // can fail, and only as a reset.
    let server = Server::start(Behaviour::CloseAfter(50));
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "4", "--max-requests", "1000", "-d", "60s"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    let counts = server.counts();
    let served = counts.responses.load(Ordering::SeqCst);
    let connections = counts.connections.load(Ordering::SeqCst);
    assert_eq!(report.u64("requests.total"), 1000, "{report}");
    assert_eq!(
        report.u64("requests.responses"),
        served,
        "kaioken's responses != responses the server wrote\n{report}"
    );
    assert_eq!(report.status_codes(), vec![(200, served)], "{report}");
    let errors = report.u64("requests.errors");
    assert_eq!(report.u64("errors.reset"), errors, "{report}");
    assert!(
        errors <= connections,
        "{errors} errors over {connections} connections: more than one per close\n{report}"
    );
    assert!(
        connections >= 1000 / 50,
        "{connections} connections for 1000 requests at 50 per connection"
    );
}

#[test]
fn connection_refused() {
    let port = free_port();
    let out = Test::new()
        .arg(format!("http://127.0.0.1:{port}/"))
        .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    let total = report.u64("requests.total");
    assert_eq!(total, 20, "{report}");
    assert_eq!(report.u64("errors.connect_refused"), total, "{report}");
    assert_eq!(report.u64("requests.errors"), total, "{report}");
    assert!(
        (report.f64("requests.error_rate") - 1.0).abs() < 1e-9,
        "{report}"
    );
}

#[test]
fn connection_refused_within_max_error_rate_exits_zero() {
    let port = free_port();
    let out = Test::new()
        .arg(format!("http://127.0.0.1:{port}/"))
        .args([
            "-c",
            "1",
            "--max-requests",
            "5",
            "-d",
            "30s",
            "--max-error-rate",
            "1",
        ])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("errors.connect_refused"), 5, "{report}");
    assert!(
        (report.f64("settings.max_error_rate") - 1.0).abs() < 1e-9,
        "{report}"
    );
}

#[test]
fn malformed_response_is_a_protocol_error() {
    let server = Server::start(Behaviour::Malformed(b"SPDY/9 banana\r\n\r\n"));
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 20, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("protocol".to_owned(), 20)],
        "{report}"
    );
}

#[test]
fn truncated_body_is_a_body_read_error() {
    let server = Server::start(Behaviour::Malformed(
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a few bytes",
    ));
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 20, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("body_read".to_owned(), 20)],
        "{report}"
    );
}

#[test]
fn in_process_server_counts_match() {
    // The same promise as against nginx, with a server that counts in memory.
    let server = Server::start(Behaviour::Ok);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "4", "-d", "1s"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    let served = server.counts().responses.load(Ordering::SeqCst);
    assert!(served > 0, "{report}");
    assert_eq!(report.u64("requests.responses"), served, "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
}

#[test]
fn unwritable_report_path_fails_before_any_load() {
    let server = Server::start(Behaviour::Ok);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "5s", "-o", "/nonexistent-dir/run.json"])
        .status(1)
        .stderr_contains("/nonexistent-dir/run.json")
        .run();
    assert!(
        out.elapsed < Duration::from_secs(4),
        "the run went ahead: {:?}",
        out.elapsed
    );
    assert_eq!(
        server.counts().connections.load(Ordering::SeqCst),
        0,
        "load was sent"
    );
}

/// The faults above run on the io_uring engine (plain HTTP/1.1 to 127.0.0.1); the
/// tokio engine, used when io_uring is unavailable, must classify them the same way.
#[test]
fn tokio_engine_classifies_the_same_faults() {
    let cases: [(Behaviour, &str); 4] = [
        (Behaviour::ResetAfterRequest, "reset"),
        (Behaviour::CloseOnAccept, "reset"),
        (Behaviour::Malformed(b"SPDY/9 banana\r\n\r\n"), "protocol"),
        (
            Behaviour::Malformed(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a few bytes"),
            "body_read",
        ),
    ];
    for (behaviour, class) in cases {
        for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
            let server = Server::start(behaviour);
            let mut test = Test::new()
                .arg(server.url())
                .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
                .status(1)
                .report();
            if let Some(v) = env {
                test = test.env("KAIOKEN_NO_IO_URING", v);
            }
            let out = test.run();
            let report = out.report();
            report.check_invariants(1);
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            assert_eq!(report.u64("requests.total"), 20, "{report}");
            assert_eq!(
                report.error_classes(),
                vec![(class.to_owned(), 20)],
                "{engine}\n{report}"
            );
        }
    }
    let server = Server::start(Behaviour::Stall);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "1s", "--timeout", "200ms"])
        .env("KAIOKEN_NO_IO_URING", "1")
        .status(1)
        .report()
        .run();
    let report = out.report();
    assert_eq!(report.str("settings.engine"), "tokio", "{report}");
    let total = report.u64("requests.total");
    assert_eq!(
        report.error_classes(),
        vec![("timeout".to_owned(), total)],
        "{report}"
    );
}

/// A response head larger than the engines' read buffers (16 KiB) is still read whole,
/// on both engines.
#[test]
fn large_response_head_is_read_whole() {
    let mut response = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
    response.extend(std::iter::repeat_n(b'a', 40_000));
    response.extend_from_slice(b"\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok");
    let response: &'static [u8] = Box::leak(response.into_boxed_slice());
    for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
        let server = Server::start(Behaviour::Malformed(response));
        let mut test = Test::new()
            .arg(server.url())
            .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.status_codes(), vec![(200, 20)], "{engine}\n{report}");
        assert!(
            report.u64("requests.bytes_received") > 20 * 40_000,
            "{report}"
        );
    }
}

/// What [`Behaviour::EarlyResponse`] answers a body over its limit with.
const TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 9\r\n\r\ntoo large";

/// A body well over what the socket buffers take (the client's send buffer grows to
/// `tcp_wmem`'s maximum, 4 MiB by default; the server's receive buffer stays small when
/// it reads 1 KiB), so a server that stops reading early leaves most of it unsent.
const LARGE_BODY: usize = 16 << 20;

/// A temporary directory holding `body.bin`, `LARGE_BODY` bytes.
fn large_body_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let body: Vec<u8> = (0..LARGE_BODY).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("body.bin"), body).expect("write body.bin");
    dir
}

/// A server that answers `413` after reading 1 KiB of a large body and closes (which
/// resets the connection, the rest being unread): the response is the outcome, on
/// both engines, and the bytes sent are what went out, not the body's length.
#[test]
fn early_response_to_a_large_body_is_the_response() {
    const N: u64 = 100;
    for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
        let server = Server::start(Behaviour::EarlyResponse {
            read: 1024,
            response: TOO_LARGE,
        });
        let mut test = Test::in_dir(large_body_dir())
            .arg(server.url())
            .args([
                "-m",
                "POST",
                "--body-file",
                "body.bin",
                "-c",
                "4",
                "-d",
                "30s",
            ])
            .args(["--max-requests", &N.to_string()])
            .args(["--max-error-rate", "1"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.status_codes(), vec![(413, N)], "{engine}\n{report}");
        assert_eq!(report.u64("requests.errors"), 0, "{engine}\n{report}");
        let counts = server.counts();
        assert_eq!(counts.early.load(Ordering::SeqCst), N, "{engine}");
        assert_eq!(counts.malformed.load(Ordering::SeqCst), 0, "{engine}");
        let sent = report.u64("requests.bytes_sent");
        let read = counts.bytes_read.load(Ordering::SeqCst);
        assert!(
            sent >= read,
            "{engine}: {sent} bytes sent, but the server read {read}\n{report}"
        );
        assert!(
            sent < N * LARGE_BODY as u64 / 2,
            "{engine}: {sent} bytes sent, most of {N} bodies that were refused\n{report}"
        );
    }
}

/// Each iteration sends a large body that the server refuses early and closes on,
/// then a small request on a fresh connection. Nothing of the refused request may
/// leak into the next one: no error lands on it (as a late failure of the refused
/// send did on the io_uring engine), and every request head the server reads parses
/// strictly (none written over while a send was still reading it).
#[test]
fn early_response_leaves_the_next_request_intact() {
    const ITERATIONS: u64 = 50;
    let scenario = r#"
        [[scenarios]]
        name = "upload then look"

        [[scenarios.steps]]
        url = "/upload"
        method = "POST"
        body_file = "body.bin"

        [[scenarios.steps]]
        url = "/after?vu=${VU}&i=${ITERATION}"
    "#;
    for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
        let server = Server::start(Behaviour::EarlyResponse {
            read: 1024,
            response: TOO_LARGE,
        });
        let mut test = Test::in_dir(large_body_dir())
            .scenario(scenario)
            .arg(server.url())
            .args(["-c", "4", "-d", "30s", "--max-error-rate", "1"])
            .args(["--max-requests", &(2 * ITERATIONS).to_string()])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.errors"), 0, "{engine}\n{report}");
        let counts = server.counts();
        assert_eq!(counts.malformed.load(Ordering::SeqCst), 0, "{engine}");
        // The request limit falls mid-iteration for some of the 4 VUs.
        let early = counts.early.load(Ordering::SeqCst);
        let ok = counts.responses.load(Ordering::SeqCst);
        assert_eq!(
            report.status_codes(),
            vec![(200, ok), (413, early)],
            "{engine}\n{report}"
        );
        assert_eq!(ok + early, 2 * ITERATIONS, "{engine}\n{report}");
        assert!(early.abs_diff(ok) <= 4, "{engine}\n{report}");
    }
}

/// A run in which no request finished says so, rather than that an error rate of 0%
/// is above the limit; the cut-off requests are counted as unfinished, exit 1.
#[test]
fn no_request_finished_says_so() {
    let server = Server::start(Behaviour::Stall);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "1s", "--timeout", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 0, "{report}");
    assert_eq!(report.u64("requests.unfinished"), 2, "{report}");
    assert!(
        out.stdout
            .contains("no request finished in the measured window: exit code 1"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("above the limit"), "{}", out.stdout);
}
