//! Kept-alive connections that the server closed while they were idle. The request
//! that finds such a connection closed, before any byte of a response, goes once more
//! on a new connection and counts in `requests.reconnects`, not as an error; a
//! response cut short is an error, never sent again.

use std::sync::atomic::Ordering;

use super::{ENGINES, on_engine};
use crate::harness::Test;
use crate::nginx::{Nginx, Variant};
use crate::servers::{Behaviour, Server};

/// nginx closes a connection idle for its `keepalive_timeout` (1s here); every VU
/// thinks 1.5s between requests, so each request after a VU's first finds its
/// connection closed. None is an error, and nginx served exactly what kaioken counts.
#[test]
fn idle_keep_alive_closes_are_not_errors() {
    const VUS: u64 = 4;
    const REQUESTS: u64 = 12;
    let nginx = Nginx::start_with(Variant::Http1, "keepalive_timeout 1s;");
    let out = Test::new()
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [request]
            think_time = "1500ms"

            [load]
            vus = {VUS}
            max_requests = {REQUESTS}
            duration = "60s"
            "#,
            nginx.url("/")
        ))
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.str("settings.engine"), "io_uring", "{report}");
    assert_eq!(report.u64("requests.total"), REQUESTS, "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    assert_eq!(report.status_codes(), vec![(200, REQUESTS)], "{report}");
    let served = nginx.access_log_lines().len() as u64;
    assert_eq!(served, REQUESTS, "nginx served {served}\n{}", nginx.logs());
    assert_eq!(
        report.u64("requests.reconnects"),
        REQUESTS - VUS,
        "every request after a VU's first found its connection closed\n{report}"
    );
}

/// 50 responses per connection, then a plain close without `Connection: close`, as
/// servers with a keep-alive limit do: the request that finds the connection closed
/// goes again on a new one, on both engines. No error, every request served once, and
/// every connection after each VU's first is a reconnect.
#[test]
fn server_closing_idle_connections_is_survived() {
    const VUS: u64 = 4;
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::CloseAfter(50));
        let test = Test::new()
            .arg(server.url())
            .args(["-c", "4", "--max-requests", "1000", "-d", "60s"])
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let counts = server.counts();
        let served = counts.responses.load(Ordering::SeqCst);
        let connections = counts.connections.load(Ordering::SeqCst);
        assert_eq!(report.u64("requests.total"), 1000, "{engine}\n{report}");
        assert_eq!(report.u64("requests.errors"), 0, "{engine}\n{report}");
        assert_eq!(served, 1000, "{engine}\n{report}");
        assert_eq!(
            report.status_codes(),
            vec![(200, 1000)],
            "{engine}\n{report}"
        );
        assert!(
            connections >= 1000 / 50,
            "{engine}: {connections} connections"
        );
        assert_eq!(
            report.u64("requests.reconnects"),
            connections - VUS,
            "{engine}: {connections} connections\n{report}"
        );
        // The anatomy's counts: every connection the server accepted was opened,
        // each request either opened one or reused one, and every close it made
        // was seen (the last connections may still be open when the run ends).
        assert_eq!(
            report.u64("connections.opened"),
            connections,
            "{engine}\n{report}"
        );
        assert_eq!(
            report.u64("connections.reused"),
            1000 - connections,
            "{engine}\n{report}"
        );
        assert_eq!(
            report.u64("connections.closed_by_server"),
            connections - VUS,
            "{engine}\n{report}"
        );
    }
}

/// A reused connection on which part of a response came, then the close: that is an
/// answer gone wrong, not an idle close. It is an error and is not sent again.
#[test]
fn response_cut_short_on_a_reused_connection_is_not_retried() {
    for (bytes, class) in [
        (b"HTTP/1.1 200 OK\r\ncontent-le".as_slice(), "reset"),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc".as_slice(),
            "body_read",
        ),
    ] {
        let bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
        for (env, engine) in ENGINES {
            let server = Server::start(Behaviour::PartialOnReuse(bytes));
            let test = Test::new()
                .arg(server.url())
                .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
                .status(1)
                .report();
            let report = on_engine(test, env).run().report();
            report.check_invariants(1);
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            // Each connection: a response, then a request cut short, which is not
            // sent again (the server reads every request once).
            let counts = server.counts();
            let ok = counts.responses.load(Ordering::SeqCst);
            assert_eq!(report.status_codes(), vec![(200, ok)], "{engine}\n{report}");
            assert_eq!(
                report.error_classes(),
                vec![(class.to_owned(), 20 - ok)],
                "{engine}\n{report}"
            );
            // Two VUs share the 20 requests; each alternates a response and an error.
            assert!((10..=11).contains(&ok), "{engine}\n{report}");
            assert_eq!(report.u64("requests.reconnects"), 0, "{engine}\n{report}");
            assert_eq!(counts.requests.load(Ordering::SeqCst), 20, "{engine}");
            assert_eq!(counts.connections.load(Ordering::SeqCst), ok, "{engine}");
        }
    }
}

/// A new connection's first request is never sent again: a server that closes every
/// connection at once makes every request a `reset`, one connection each.
#[test]
fn first_request_on_a_new_connection_is_not_retried() {
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::CloseOnAccept);
        let test = Test::new()
            .arg(server.url())
            .args(["-c", "2", "--max-requests", "30", "-d", "30s"])
            .status(1)
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(1);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(
            report.error_classes(),
            vec![("reset".to_owned(), 30)],
            "{engine}\n{report}"
        );
        assert_eq!(report.u64("requests.reconnects"), 0, "{engine}\n{report}");
        let connections = server.counts().connections.load(Ordering::SeqCst);
        assert_eq!(connections, 30, "{engine}\n{report}");
    }
}

/// A server that reads the request on a reused connection and closes it without a
/// word (a worker that crashed on it) may have acted on it. An idempotent request
/// (`GET`) goes again on a new connection and counts in `reconnects`, so the
/// server's log has it twice: its requests are the report's plus the reconnects. A
/// `POST` is not sent twice (RFC 9110 §9.2.2): it is a `reset` whose detail says
/// why, and the server read exactly the requests the report counts. Both engines.
#[test]
fn a_request_read_then_unanswered_is_sent_again_only_if_idempotent() {
    const REQUESTS: u64 = 40;
    for method in ["GET", "POST"] {
        for (env, engine) in ENGINES {
            // Four answers per connection, then the fifth request read and dropped.
            let server = Server::start(Behaviour::ReadThenClose(5));
            let mut test = Test::new().arg(server.url()).args([
                "-c",
                "2",
                "--max-requests",
                "40",
                "-d",
                "30s",
                "-m",
                method,
            ]);
            if method == "POST" {
                test = test.args(["-b", "order=1"]).status(1);
            }
            let report = on_engine(test.report(), env).run().report();
            let what = format!("{method} {engine}");
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            let counts = server.counts();
            let read = counts.requests.load(Ordering::SeqCst);
            let answered = counts.responses.load(Ordering::SeqCst);
            let reconnects = report.u64("requests.reconnects");
            assert_eq!(report.u64("requests.total"), REQUESTS, "{what}\n{report}");
            assert_eq!(
                report.status_codes(),
                vec![(200, answered)],
                "{what}\n{report}"
            );
            if method == "GET" {
                report.check_invariants(0);
                assert_eq!(answered, REQUESTS, "{what}\n{report}");
                // However the two VUs share the 40 requests, at least 7 of them
                // were fifth on their connection.
                assert!(reconnects >= 7, "{what}\n{report}");
                assert_eq!(read, REQUESTS + reconnects, "{what}\n{report}");
            } else {
                report.check_invariants(1);
                assert_eq!(reconnects, 0, "{what}\n{report}");
                assert_eq!(read, REQUESTS, "{what}\n{report}");
                assert_eq!(
                    report.error_classes(),
                    vec![("reset".to_owned(), REQUESTS - answered)],
                    "{what}\n{report}"
                );
                assert!(REQUESTS - answered >= 7, "{what}\n{report}");
                assert!(
                    report
                        .str("error_details.reset")
                        .contains("after the POST request was sent"),
                    "{what}\n{report}"
                );
            }
        }
    }
}

/// A close the server made while the connection was idle, seen before the next
/// request goes, costs no request: even a `POST` goes on a new connection then,
/// unsent on the closed one, and the server reads each request once. Both engines.
#[test]
fn a_close_seen_before_sending_resends_any_method() {
    const VUS: u64 = 2;
    const REQUESTS: u64 = 10;
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::CloseAfter(2));
        let test = Test::new()
            .scenario(&format!(
                r#"
                [target]
                url = "{}"

                [request]
                method = "POST"
                body = "order=1"
                think_time = "100ms"

                [load]
                vus = {VUS}
                max_requests = {REQUESTS}
                duration = "30s"
                "#,
                server.url()
            ))
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let counts = server.counts();
        assert_eq!(report.status_codes(), vec![(200, REQUESTS)], "{engine}");
        assert_eq!(
            counts.requests.load(Ordering::SeqCst),
            REQUESTS,
            "{engine}\n{report}"
        );
        let connections = counts.connections.load(Ordering::SeqCst);
        assert_eq!(
            report.u64("requests.reconnects"),
            connections - VUS,
            "{engine}: {connections} connections\n{report}"
        );
    }
}
