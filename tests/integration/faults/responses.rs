//! Responses that misbehave: stalled after a part, with many headers, framed oddly,
//! malformed in named ways, endless, or setting cookie after cookie. Each ends as its
//! error class with a detail that says what was wrong, quickly and in bounded
//! memory, on both engines.

use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{ENGINES, on_engine, run_measured};
use crate::harness::Test;
use crate::servers::{Behaviour, H2Behaviour, Server};

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// A server that sends part of a response (of the head, of the body) and stalls: a
/// timeout, whose detail names the timeout.
#[test]
fn timeout_after_part_of_a_response_is_a_timeout() {
    let mut long_head = b"HTTP/1.1 200 OK\r\nx-long: ".to_vec();
    long_head.extend(std::iter::repeat_n(b'a', 20_000));
    let long_head = leak(long_head);
    for bytes in [
        b"HTTP/1.1 200 OK\r\ncontent-le".as_slice(),
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc".as_slice(),
        // More than the engines' 16 KiB read buffers.
        long_head,
    ] {
        for (env, engine) in ENGINES {
            let server = Server::start(Behaviour::PartialThenStall(bytes));
            let test = Test::new()
                .arg(server.url())
                .args(["-c", "2", "-d", "1s", "--timeout", "300ms"])
                .status(1)
                .report();
            let report = on_engine(test, env).run().report();
            report.check_invariants(1);
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            let total = report.u64("requests.total");
            assert!(total >= 2, "{engine}\n{report}");
            assert_eq!(
                report.error_classes(),
                vec![("timeout".to_owned(), total)],
                "{engine}\n{report}"
            );
            assert_eq!(
                report.str("error_details.timeout"),
                "no complete response within 300ms",
                "{engine}\n{report}"
            );
        }
    }
}

/// 70 `Set-Cookie` headers are an ordinary response, not a protocol error.
#[test]
fn many_headers_are_a_response() {
    let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..70 {
        response.extend_from_slice(format!("set-cookie: c{i}=v; Path=/\r\n").as_bytes());
    }
    response.extend_from_slice(b"connection: close\r\ncontent-length: 2\r\n\r\nok");
    let response = leak(response);
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::Malformed(response));
        let test = Test::new()
            .arg(server.url())
            .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.status_codes(), vec![(200, 20)], "{engine}\n{report}");
        assert_eq!(
            report.u64("requests.bytes_received"),
            20 * response.len() as u64,
            "{engine}\n{report}"
        );
    }
}

/// `Transfer-Encoding: notchunked` is not chunked: only a final `chunked` coding is.
/// The body is read to the close, whole.
#[test]
fn only_a_final_chunked_coding_frames_the_body() {
    let response: &[u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: notchunked\r\n\r\nnot chunks, just bytes";
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::Malformed(response));
        let test = Test::new()
            .arg(server.url())
            .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.status_codes(), vec![(200, 20)], "{engine}\n{report}");
        assert_eq!(
            report.u64("requests.bytes_received"),
            20 * response.len() as u64,
            "{engine}\n{report}"
        );
    }
}

/// Every protocol error's detail says what was wrong.
#[test]
fn protocol_errors_say_what_was_wrong() {
    let mut too_many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..300 {
        too_many.extend_from_slice(format!("x-h{i}: 1\r\n").as_bytes());
    }
    too_many.extend_from_slice(b"content-length: 0\r\n\r\n");
    let mut huge = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 70_000));
    huge.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
    let cases: [(&'static [u8], &str); 6] = [
        (b"SPDY/9 banana\r\n\r\n", "status line is not HTTP/1.x"),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            "invalid chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
            "conflicting content-length values",
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: two\r\n\r\nab",
            "content-length is not a number",
        ),
        (leak(too_many), "more than 256 header lines"),
        (leak(huge), "response head over 64 KiB"),
    ];
    for (response, reason) in cases {
        for (env, engine) in ENGINES {
            let server = Server::start(Behaviour::Malformed(response));
            let test = Test::new()
                .arg(server.url())
                .args(["-c", "2", "--max-requests", "10", "-d", "30s"])
                .status(1)
                .report();
            let report = on_engine(test, env).run().report();
            report.check_invariants(1);
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            assert_eq!(
                report.error_classes(),
                vec![("protocol".to_owned(), 10)],
                "{engine}: {reason}\n{report}"
            );
            assert_eq!(
                report.str("error_details.protocol"),
                format!("invalid HTTP response: {reason}"),
                "{engine}\n{report}"
            );
        }
    }
}

/// A line that never ends — a chunk-size line, a header — is a protocol error at its
/// limit, at once, in bounded memory (unbounded, it grew kaioken past 600 MB).
#[test]
fn endless_lines_end_quickly_in_bounded_memory() {
    const REQUESTS: u64 = 10;
    // Far above a run's own footprint (tens of MiB of heap), far below what an
    // unbounded buffer reaches. RSS also counts the binary's pages in memory, which
    // can be all of a debug build's text (the kernel may map it with huge pages):
    // its size is allowed on top.
    let binary_kib =
        std::fs::metadata(crate::harness::kaioken_path()).map_or(0, |m| m.len() / 1024);
    let peak_rss_kib: u64 = 150 * 1024 + binary_kib;
    let cases: [(&'static [u8], &str); 2] = [
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;",
            "chunk-size line over 4 KiB",
        ),
        (
            b"HTTP/1.1 200 OK\r\nx-endless: ",
            "response head over 64 KiB",
        ),
    ];
    for (head, reason) in cases {
        for (env, engine) in ENGINES {
            let server = Server::start(Behaviour::EndlessLine(head));
            let dir = tempfile::tempdir().expect("a temporary directory");
            let args: Vec<OsString> = [
                server.url().as_str(),
                "-c",
                "2",
                "-d",
                "60s",
                "--timeout",
                "30s",
                "--max-requests",
                &REQUESTS.to_string(),
                "-o",
                "report.json",
            ]
            .iter()
            .map(OsString::from)
            .collect();
            let env: Vec<(&str, &str)> = env
                .map(|v| ("KAIOKEN_NO_IO_URING", v))
                .into_iter()
                .collect();
            let run = run_measured(dir.path(), &[], &args, &env);
            let text = std::fs::read_to_string(dir.path().join("report.json"))
                .unwrap_or_else(|e| panic!("no report ({e}):\n{}", run.stderr));
            let report = crate::harness::Report(serde_json::from_str(&text).expect("JSON"));
            assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
            report.check_invariants(1);
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            assert_eq!(
                report.error_classes(),
                vec![("protocol".to_owned(), REQUESTS)],
                "{engine}: {reason}\n{report}"
            );
            assert_eq!(
                report.str("error_details.protocol"),
                format!("invalid HTTP response: {reason}"),
                "{engine}\n{report}"
            );
            assert!(
                run.elapsed < Duration::from_secs(10),
                "{engine}: {reason}: took {:?}",
                run.elapsed
            );
            assert!(
                run.peak_rss_kib < peak_rss_kib,
                "{engine}: {reason}: peak RSS {} KiB (limit {peak_rss_kib} KiB)",
                run.peak_rss_kib
            );
        }
    }
}

/// A server that sets 50 new cookies with every response, 5,000 in all: the jar
/// keeps at most 180 for the domain, so the `Cookie` header stays bounded (it grew
/// to 1.5 MB), and every request is still answered.
#[test]
fn a_flood_of_cookies_keeps_requests_bounded() {
    const REQUESTS: u64 = 100;
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::SetCookies(50));
        let test = Test::new()
            .arg(server.url())
            .args(["-c", "1", "-d", "60s", "--cookie-jar"])
            .args(["--max-requests", &REQUESTS.to_string()])
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(
            report.status_codes(),
            vec![(200, REQUESTS)],
            "{engine}\n{report}"
        );
        let counts = server.counts();
        assert_eq!(counts.cookies_set.load(Ordering::SeqCst), 50 * REQUESTS);
        let longest = counts.max_cookie.load(Ordering::SeqCst);
        // 180 cookies `cN=v` (N up to 4 digits) with their separators.
        assert!(
            (180 * 6..=180 * 10).contains(&longest),
            "longest Cookie header {longest} bytes"
        );
    }
}

/// An HTTP/2 server that resets each request's stream (`RST_STREAM`), or closes the
/// connection (`GOAWAY`), with an error code: `reset`, and the detail names the frame
/// and the code.
#[test]
fn http2_resets_and_goaways_are_resets_with_their_code() {
    let cases = [
        (
            H2Behaviour::ResetStream(h2::Reason::REFUSED_STREAM),
            "the server reset the stream (RST_STREAM), HTTP/2 error code REFUSED_STREAM (0x7)",
        ),
        (
            H2Behaviour::GoAway(h2::Reason::ENHANCE_YOUR_CALM),
            "the server closed the connection (GOAWAY), HTTP/2 error code ENHANCE_YOUR_CALM (0xb)",
        ),
    ];
    for (behaviour, detail) in cases {
        let server = Server::start_h2(behaviour);
        let report = Test::new()
            .arg(server.url())
            .args(["--http2", "-c", "2", "--max-requests", "10", "-d", "30s"])
            .status(1)
            .report()
            .run()
            .report();
        report.check_invariants(1);
        assert_eq!(
            report.error_classes(),
            vec![("reset".to_owned(), 10)],
            "{behaviour:?}\n{report}"
        );
        assert_eq!(report.str("error_details.reset"), detail, "{report}");
        assert_eq!(server.counts().requests.load(Ordering::SeqCst), 10);
    }
}

/// A server that ends each connection gracefully after three requests (`GOAWAY`
/// with no error before the third response, as nginx does at its
/// `keepalive_requests`): every request is answered, none fails, and each connection
/// after the first is a new one the report counts as closed by the server.
#[test]
fn http2_graceful_goaway_moves_to_a_new_connection() {
    let server = Server::start_h2(H2Behaviour::GoAwayAfter(3));
    let report = Test::new()
        .arg(server.url())
        .args(["--http2", "-c", "1", "--max-requests", "10", "-d", "30s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.total"), 10, "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    assert_eq!(report.u64("connections.opened"), 4, "{report}");
    assert_eq!(report.u64("connections.closed_by_server"), 3, "{report}");
    let counts = server.counts();
    assert_eq!(counts.connections.load(Ordering::SeqCst), 4);
    assert_eq!(counts.requests.load(Ordering::SeqCst), 10);
    assert_eq!(counts.responses.load(Ordering::SeqCst), 10);
}

/// VUs sharing a connection (`--h2-streams`) whose server never answers some of
/// their requests: each of those times out alone (its stream reset), and the VUs
/// around it, whose frames come on the same connection, are answered all along.
/// Every fifth request of the connection stalls; 4 VUs on one connection send 40.
#[test]
fn http2_a_stalled_stream_times_out_alone_on_a_shared_connection() {
    let server = Server::start_h2(H2Behaviour::StallEvery(5));
    let run = Test::new()
        .arg(server.url())
        .args(["--http2", "-c", "4", "--h2-streams", "4", "--threads", "1"])
        .args(["--max-requests", "40", "-d", "60s", "--timeout", "1s"])
        .status(1)
        .report()
        .run();
    let report = run.report();
    report.check_invariants(1);
    let counts = server.counts();
    let answered = counts.responses.load(Ordering::SeqCst);
    assert_eq!(counts.requests.load(Ordering::SeqCst), 40, "{report}");
    assert_eq!(counts.connections.load(Ordering::SeqCst), 1, "{report}");
    assert_eq!(answered, 32, "{report}");
    assert_eq!(report.status_codes(), vec![(200, answered)], "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("timeout".to_owned(), 8)],
        "{report}"
    );
    assert_eq!(report.u64("connections.opened"), 1, "{report}");
}

/// VUs sharing a connection that the server ends gracefully every three requests
/// (`GOAWAY`): the requests it did not take go again on the group's next
/// connection, and every request is answered once.
#[test]
fn http2_graceful_goaway_moves_a_shared_connection_s_vus_on() {
    let server = Server::start_h2(H2Behaviour::GoAwayAfter(3));
    let report = Test::new()
        .arg(server.url())
        .args(["--http2", "-c", "4", "--h2-streams", "4", "--threads", "1"])
        .args(["--max-requests", "30", "-d", "30s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.total"), 30, "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    let counts = server.counts();
    assert_eq!(counts.requests.load(Ordering::SeqCst), 30, "{report}");
    assert_eq!(counts.responses.load(Ordering::SeqCst), 30, "{report}");
    assert_eq!(
        report.u64("connections.opened"),
        counts.connections.load(Ordering::SeqCst),
        "{report}"
    );
}

/// Over TLS only the server's close_notify tells the end of a body delimited by
/// the connection's end from a connection cut short (by the network, a middlebox,
/// an attacker). Such a body that ends with the TCP connection but no close_notify
/// may be truncated: a `body_read` error saying so, on both engines (as curl and
/// rustls judge it). With close_notify it is a response; a response framed by its
/// `content-length` is whole however the connection ends after it.
#[test]
fn a_tls_body_read_to_the_close_needs_close_notify() {
    let to_close: &[u8] = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello world";
    let framed: &[u8] = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\n\r\nhello";
    for (behaviour, ok) in [
        (Behaviour::WithoutCloseNotify(to_close), false),
        // Its shutdown sends close_notify.
        (Behaviour::Malformed(to_close), true),
        (Behaviour::WithoutCloseNotify(framed), true),
    ] {
        for (env, engine) in ENGINES {
            let server = Server::start_tls(behaviour);
            let test = Test::new()
                .arg(server.url())
                .arg("--cacert")
                .arg(server.ca_path())
                .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
                .status(if ok { 0 } else { 1 })
                .report();
            let report = on_engine(test, env).run().report();
            let what = format!("{behaviour:?} {engine}");
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            if ok {
                report.check_invariants(0);
                assert_eq!(report.status_codes(), vec![(200, 20)], "{what}\n{report}");
            } else {
                report.check_invariants(1);
                assert_eq!(
                    report.error_classes(),
                    vec![("body_read".to_owned(), 20)],
                    "{what}\n{report}"
                );
                assert!(
                    report
                        .str("error_details.body_read")
                        .contains("without close_notify"),
                    "{what}\n{report}"
                );
            }
        }
    }
}
