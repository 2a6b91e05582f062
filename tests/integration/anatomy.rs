//! Request anatomy against real servers: each phase is recorded only when it
//! happened (a TLS handshake per connection opened, not per request), and waiting
//! is the time to the first byte (a server that waits 50 ms before answering has
//! a waiting p50 of at least 50 ms). On both engines where they apply.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::harness::{Report, Test};
use crate::nginx::{LogLine, Nginx, Variant, distinct_connections};
use crate::servers::{Behaviour, Server};

/// A phase's `count`.
fn count(report: &Report, phase: &str) -> u64 {
    report.u64(&format!("phases_ms.{phase}.count"))
}

/// Over TLS with keep-alive, the handshake count is the number of connections
/// opened (one per VU here, as nginx's log numbers them; one per VU that connected:
/// [`Report::keepalive_connections`]), not the number of requests; every other
/// request reused a connection, and every response has a waiting and a receiving
/// time. HTTP/1.1 on both engines (the io_uring engine times the handshake from
/// the connect's completion to the server's Finished), HTTP/2 on tokio.
#[test]
fn tls_handshakes_count_connections_not_requests() {
    for (http2, engine) in [(false, "io_uring"), (false, "tokio"), (true, "tokio")] {
        let nginx = Nginx::start(Variant::Tls);
        let mut test = Test::new()
            .arg(nginx.url("/"))
            .arg("--cacert")
            .arg(nginx.ca_path())
            .args(["-c", "4", "--max-requests", "400", "-d", "60s"])
            .on_engine(engine)
            .report();
        if http2 {
            test = test.arg("--http2");
        }
        let out = test.run();
        let report = out.report();
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.responses"), 400, "{report}");
        let opened = report.keepalive_connections(4);
        let lines = nginx.access_log_lines();
        assert_eq!(lines.len(), 400, "{report}");
        assert_eq!(distinct_connections(&lines), opened, "{lines:?}");
        assert_eq!(count(&report, "tls"), opened, "{report}");
        assert_eq!(count(&report, "connect"), opened, "{report}");
        assert_eq!(count(&report, "dns"), 0, "an address is not resolved");
        assert_eq!(report.u64("connections.reused"), 400 - opened, "{report}");
        assert_eq!(report.u64("connections.closed_by_server"), 0, "{report}");
        for phase in ["waiting", "receiving"] {
            assert_eq!(count(&report, phase), 400, "{phase}\n{report}");
        }
        for phase in ["tls", "connect", "waiting"] {
            let p50 = report.f64(&format!("phases_ms.{phase}.p50"));
            assert!(p50 > 0.0, "{phase} p50 {p50}\n{report}");
        }
        assert!(
            report.get("phases_ms.dns.p50").is_null(),
            "a phase that never happened has no statistics\n{report}"
        );
        let noun = if opened == 1 {
            "connection"
        } else {
            "connections"
        };
        let said = format!(
            "{opened} {noun} opened · {} requests reused one · 0 closed by the server",
            400 - opened
        );
        assert!(
            out.stdout.contains(&said),
            "{said:?} not in:\n{}",
            out.stdout
        );
    }
}

/// A server that waits 50 ms before its first byte: waiting's p50 is at least
/// 50 ms, and most of the latency; receiving a two-byte body takes far less. On
/// io_uring, on tokio, and on tokio through a host name (resolved once per run: the
/// first connection has a `dns` phase, the other VU's waits for that answer). Each
/// VU that connected opened one connection, as the server counts them.
#[test]
fn waiting_is_the_time_to_first_byte() {
    let server = Server::start(Behaviour::Delay(Duration::from_millis(50)));
    let url = server.url();
    let by_name = url.replace("127.0.0.1", "localhost");
    for (url, engine) in [(&url, "io_uring"), (&url, "tokio"), (&by_name, "tokio")] {
        let accepted = server.counts().connections.load(Ordering::SeqCst);
        let mut test = Test::new()
            .arg(url)
            .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
            .report();
        if engine == "tokio" {
            test = test.env("KAIOKEN_NO_IO_URING", "1");
        }
        let report = test.run().report();
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.responses"), 20, "{report}");
        let waiting = report.f64("phases_ms.waiting.p50");
        assert!(
            waiting >= 50.0,
            "{engine} {url}: waiting p50 {waiting}\n{report}"
        );
        let receiving = report.f64("phases_ms.receiving.p50");
        assert!(receiving < 25.0, "receiving p50 {receiving}\n{report}");
        let opened = report.keepalive_connections(2);
        assert_eq!(
            server.counts().connections.load(Ordering::SeqCst) - accepted,
            opened,
            "the server's connections\n{report}"
        );
        assert_eq!(report.u64("connections.reused"), 20 - opened, "{report}");
        let dns = u64::from(url.contains("localhost"));
        assert_eq!(count(&report, "dns"), dns, "{url}\n{report}");
        assert_eq!(count(&report, "tls"), 0, "{report}");
    }
}

/// `--no-keepalive`: every request opens its own connection, on HTTP/1.1 (both
/// engines: the request says `connection: close` and nginx closes) and HTTP/2 (the
/// driver closes after the response). nginx's log numbers each request's
/// connection: as many as requests, where keep-alive needs at most one per VU (a
/// VU whose first connect the machine delays past the 200th response sends nothing,
/// so one is possible on a loaded machine), and the report's counts say the same.
#[test]
fn no_keepalive_opens_a_connection_per_request() {
    for (variant, http2, engine) in [
        (Variant::Http1, false, "io_uring"),
        (Variant::Http1, false, "tokio"),
        (Variant::H2c, true, "tokio"),
    ] {
        for keepalive in [true, false] {
            let nginx = Nginx::start(variant);
            let mut test = Test::new()
                .arg(nginx.url("/"))
                .args(["-c", "2", "--max-requests", "200", "-d", "60s"])
                .report();
            if http2 {
                test = test.arg("--http2");
            }
            if engine == "tokio" {
                test = test.env("KAIOKEN_NO_IO_URING", "1");
            }
            if !keepalive {
                test = test.arg("--no-keepalive");
            }
            let report = test.run().report();
            report.check_invariants(0);
            let what = format!("{variant:?} {engine} keepalive={keepalive}");
            assert_eq!(report.u64("requests.responses"), 200, "{what}\n{report}");
            assert_eq!(report.str("settings.engine"), engine, "{what}");
            let lines = nginx.access_log_lines();
            assert_eq!(lines.len(), 200, "{what}");
            let expected = if keepalive {
                report.keepalive_connections(2)
            } else {
                200
            };
            assert_eq!(distinct_connections(&lines), expected, "{what}: {lines:?}");
            assert_eq!(
                report.u64("connections.opened"),
                expected,
                "{what}\n{report}"
            );
            assert_eq!(
                report.u64("connections.reused"),
                200 - expected,
                "{what}\n{report}"
            );
            assert_eq!(count(&report, "connect"), expected, "{what}\n{report}");
        }
    }
}

/// The VUs (`X-Kaioken-Test: ${VU}`) nginx logged on each connection.
fn vus_by_connection(lines: &[LogLine]) -> BTreeMap<u64, BTreeSet<&str>> {
    let mut by: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for l in lines {
        by.entry(l.connection)
            .or_default()
            .insert(l.x_kaioken_test.as_str());
    }
    by
}

/// `--h2-streams N`: the VUs of a worker thread share HTTP/2 connections N to one,
/// each request on its own stream: 20 VUs with 5 streams a connection open 4
/// connections (one thread, or two threads of 10 VUs), as nginx's log numbers them;
/// without it each VU has its own. Refused without HTTP/2, and out of its range.
///
/// Each request names its VU, so nginx's log says which VUs shared a connection:
/// at most N (1 without sharing), each VU on one connection. Not always 4
/// connections (or 20): a VU claims its share of the request budget before it
/// connects, so on a loaded machine the VUs of a thread that starts late can find
/// the 400 requests spent and never connect. But a thread's VUs all claim their
/// first request before any is answered, so at least 10 VUs sent: VUs that did not
/// share would have opened more than 4 connections.
#[test]
fn h2_streams_share_connections_between_vus() {
    for (streams, threads, most) in [(None, "1", 20), (Some("5"), "1", 4), (Some("5"), "2", 4)] {
        let nginx = Nginx::start(Variant::H2c);
        let mut test = Test::new()
            .arg(nginx.url("/"))
            .args(["--http2", "-c", "20", "--threads", threads])
            .args(["--max-requests", "400", "-d", "60s"])
            .args(["-H", "x-kaioken-test: ${VU}"])
            .report();
        if let Some(n) = streams {
            test = test.args(["--h2-streams", n]);
        }
        let report = test.run().report();
        report.check_invariants(0);
        let what = format!("--h2-streams {streams:?} --threads {threads}");
        assert_eq!(report.u64("requests.responses"), 400, "{what}\n{report}");
        let lines = nginx.access_log_lines();
        assert_eq!(lines.len(), 400, "{what}");
        let opened = distinct_connections(&lines);
        assert!((1..=most).contains(&opened), "{what}: {opened} connections");
        assert_eq!(report.u64("connections.opened"), opened, "{what}\n{report}");
        assert_eq!(
            report.u64("connections.reused"),
            400 - opened,
            "{what}\n{report}"
        );
        let by_connection = vus_by_connection(&lines);
        let vus: BTreeSet<&str> = by_connection.values().flatten().copied().collect();
        assert!(vus.len() >= 10, "{what}: only VUs {vus:?} sent");
        let placed: usize = by_connection.values().map(BTreeSet::len).sum();
        assert_eq!(
            placed,
            vus.len(),
            "{what}: a VU on two connections: {by_connection:?}"
        );
        let per_connection = streams.map_or(1, |n| n.parse().unwrap());
        assert!(
            by_connection.values().all(|v| v.len() <= per_connection),
            "{what}: more than {per_connection} VUs on a connection: {by_connection:?}"
        );
    }
    Test::new()
        .args(["http://127.0.0.1:9/", "--h2-streams", "4", "--dump", "ir"])
        .status(1)
        .stderr_contains(
            "`h2_streams` shares HTTP/2 connections: it needs `http2` (`--http2`) or gRPC calls",
        )
        .run();
    Test::new()
        .args(["http://127.0.0.1:9/", "--http2", "--h2-streams", "0"])
        .status(2)
        .stderr_contains("0 is not in 1..=1000")
        .run();
}

/// A shared HTTP/2 connection the server ends is counted once, not once per VU
/// that shares it: nginx ends each connection after 50 requests
/// (`keepalive_requests`), and the report's `closed_by_server` is how many of
/// nginx's connections served their 50, less those whose end no VU came to see
/// (at most one per connection open at the end: 4), and never more than it
/// opened.
#[test]
fn a_shared_connection_the_server_ends_is_counted_once() {
    let nginx = Nginx::start_with(Variant::H2c, "keepalive_requests 50;");
    let report = Test::new()
        .arg(nginx.url("/"))
        .args(["--http2", "--h2-streams", "5", "-c", "20", "--threads", "1"])
        .args(["--max-requests", "400", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 400, "{report}");
    let mut per_connection = std::collections::BTreeMap::new();
    for l in &lines {
        *per_connection.entry(l.connection).or_insert(0u64) += 1;
    }
    let ended = per_connection.values().filter(|&&n| n == 50).count() as u64;
    assert!(ended >= 4, "{per_connection:?}");
    let opened = report.u64("connections.opened");
    assert_eq!(opened, per_connection.len() as u64, "{report}");
    let closed = report.u64("connections.closed_by_server");
    assert!(
        closed <= ended && closed + 4 >= ended,
        "{closed} counted closed by the server, of {ended} nginx ended \
         ({per_connection:?}):\n{report}"
    );
}
