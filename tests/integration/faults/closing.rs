//! Connections kaioken closes itself, so that every response is the answer to the
//! request that caused it: after a request that said `connection: close`
//! (`--no-keepalive`) whatever the server does, and when bytes come that no
//! request asked for (HTTP/1.1 here pipelines nothing, so a complete response
//! leaves nothing to read until the next request goes).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{ENGINES, on_engine};
use crate::harness::Test;
use crate::servers::{Behaviour, Server};

/// A server that keeps every connection open, `connection: close` or not: with
/// `--no-keepalive` each request still goes on a connection of its own (RFC 9112
/// §9.6: no further request after saying `close`), on both engines, and the server
/// sees as many connections as requests.
#[test]
fn no_keepalive_closes_connections_the_server_keeps_open() {
    const REQUESTS: u64 = 40;
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::Ok);
        let test = Test::new()
            .arg(server.url())
            .args([
                "-c",
                "2",
                "--max-requests",
                "40",
                "-d",
                "30s",
                "--no-keepalive",
            ])
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let counts = server.counts();
        assert_eq!(counts.requests.load(Ordering::SeqCst), REQUESTS, "{engine}");
        assert_eq!(
            counts.connections.load(Ordering::SeqCst),
            REQUESTS,
            "{engine}: one connection per request\n{report}"
        );
        assert_eq!(report.status_codes(), vec![(200, REQUESTS)], "{engine}");
        assert_eq!(
            report.u64("connections.opened"),
            REQUESTS,
            "{engine}\n{report}"
        );
        assert_eq!(report.u64("connections.reused"), 0, "{engine}\n{report}");
        // kaioken closed them, not the server.
        assert_eq!(
            report.u64("connections.closed_by_server"),
            0,
            "{engine}\n{report}"
        );
    }
}

/// A second response after each one, a body to `HEAD`, more body than the
/// `content-length`: the bytes after a complete response answer no request. The
/// response is the request's (complete, a success); its connection is closed and
/// counted in `connections.out_of_sync`, and the next request goes on a new one,
/// so no request is "answered" by the stray bytes: every check on the body passes,
/// and the server served exactly what the report counts, on both engines.
#[test]
fn bytes_after_a_response_close_the_connection() {
    const REQUESTS: u64 = 30;
    let cases: [(&str, &'static [u8]); 3] = [
        (
            "GET",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello\
              HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nextra",
        ),
        (
            "GET",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello, and more",
        ),
        ("HEAD", b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"),
    ];
    for (method, response) in cases {
        for (env, engine) in ENGINES {
            let server = Server::start(Behaviour::Excess(response));
            let check = if method == "HEAD" {
                r#"header("content-length") == "5""#
            } else {
                r#"body == "hello""#
            };
            let test = Test::new()
                .scenario(&format!(
                    r#"
                    [target]
                    url = "{}"

                    [request]
                    method = "{method}"

                    [load]
                    vus = 2
                    max_requests = {REQUESTS}
                    duration = "30s"

                    [[checks]]
                    name = "its own response"
                    expr = '{check}'
                    "#,
                    server.url()
                ))
                .report();
            let report = on_engine(test, env).run().report();
            report.check_invariants(0);
            let what = format!("{method} {engine}");
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            let counts = server.counts();
            assert_eq!(
                counts.requests.load(Ordering::SeqCst),
                REQUESTS,
                "{what}\n{report}"
            );
            assert_eq!(
                report.status_codes(),
                vec![(200, REQUESTS)],
                "{what}\n{report}"
            );
            assert_eq!(
                report.check("its own response"),
                (REQUESTS, 0),
                "{what}\n{report}"
            );
            assert_eq!(
                report.u64("connections.out_of_sync"),
                REQUESTS,
                "{what}\n{report}"
            );
            assert_eq!(
                report.u64("connections.opened"),
                REQUESTS,
                "{what}\n{report}"
            );
            assert_eq!(
                counts.connections.load(Ordering::SeqCst),
                REQUESTS,
                "{what}\n{report}"
            );
        }
    }
}

/// A response nobody asked for that comes while the connection is idle (between
/// a response and the next request, here during think time) is never read as the
/// next request's: the connection is closed and the next request goes on a new
/// one, on both engines. Every response is the `ok` of the request that caused
/// it, and the server served exactly what the report counts.
#[test]
fn a_stray_response_on_an_idle_connection_closes_it() {
    const VUS: u64 = 2;
    const REQUESTS: u64 = 8;
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::StrayLater(Duration::from_millis(20)));
        let test = Test::new()
            .scenario(&format!(
                r#"
                [target]
                url = "{}"

                [request]
                think_time = "200ms"

                [load]
                vus = {VUS}
                max_requests = {REQUESTS}
                duration = "30s"

                [[checks]]
                name = "ok"
                expr = 'body == "ok"'
                "#,
                server.url()
            ))
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let counts = server.counts();
        assert_eq!(counts.requests.load(Ordering::SeqCst), REQUESTS, "{engine}");
        assert_eq!(report.status_codes(), vec![(200, REQUESTS)], "{engine}");
        assert_eq!(report.check("ok"), (REQUESTS, 0), "{engine}\n{report}");
        // Every request after a VU's first found its connection out of step (the
        // io_uring engine also closes one that falls out of step after the VU's
        // last response, if the run has not ended by then).
        let out_of_sync = report.u64("connections.out_of_sync");
        assert!(
            (REQUESTS - VUS..=REQUESTS).contains(&out_of_sync),
            "{engine}: {out_of_sync}\n{report}"
        );
        assert_eq!(
            report.u64("connections.opened"),
            REQUESTS,
            "{engine}\n{report}"
        );
        assert_eq!(report.u64("requests.reconnects"), 0, "{engine}\n{report}");
    }
}
