//! WebSocket runs against real servers (websocket.rs: Python `websockets`, started
//! per test on a free loopback port): echo round trips, the counts of both sides,
//! the message rates of fire-and-forget and of the interval model, `wss://` with a
//! generated certificate, a server that closes mid-run, a refused upgrade (nginx),
//! checks and extractors on replies, and a value carried from an HTTP step into a
//! message (httpbin).
//!
//! Messages in flight at the stop: a run ends at its deadline without starting new
//! exchanges, but an exchange cut off by the hard stop after its message went out
//! is counted by the server and not by kaioken (its result never came back). At
//! most one per connection: so the server's count is kaioken's `sent` plus at most
//! `-c` (and exactly `sent` when the run ends by `-n`, which waits for every
//! exchange).
//!
//! The rate tests warm up for a second first: connections open then (the Python
//! server takes a handshake at a time), and the measured window has the steady
//! rate only. They count the messages of the whole run, warm-up included: on a
//! loaded machine the window's edges are not the rate's (a handshake that takes
//! most of the warm-up has its VU catch up on the missed messages just inside the
//! window; a window that ends late, waiting on a last reply, divides by more).

use crate::harness::{Report, Test};
use crate::httpbin::Httpbin;
use crate::nginx::{Nginx, Variant};
use crate::websocket::{WsEcho, WsMode, WsOptions};

/// The server got what kaioken sent (in the warm-up too: one message per request),
/// up to one message per connection in flight at the stop.
fn assert_server_got_what_was_sent(report: &Report, server: &WsEcho, vus: u64) {
    let sent = report.u64("websocket.messages.sent") + report.u64("requests.warmup_requests");
    let got = server.received();
    assert!(
        got >= sent && got - sent <= vus,
        "server received {got}, kaioken sent {sent} over {vus} connections\n{report}\n{}",
        server.log()
    );
}

/// The WebSocket connections a run of `vus` VUs opened, one per VU that connected,
/// and as many as the server accepted. Not exactly `vus`: a VU claims its share of
/// a message budget before it connects, so on a loaded machine a VU that starts
/// late (its worker thread, say) can find the budget spent and never connect.
fn ws_connections(report: &Report, server: &WsEcho, vus: u64) -> u64 {
    let opened = report.u64("websocket.connections.opened");
    assert!(
        (1..=vus).contains(&opened),
        "{opened} connections for {vus} VUs:\n{report}"
    );
    assert_eq!(
        server.handshakes().len() as u64,
        opened,
        "the server's handshakes\n{report}"
    );
    opened
}

/// The messages a run sent, warm-up included (a warm-up request is one message),
/// within `least..=most`.
fn assert_sent_in_all(report: &Report, least: u64, most: u64) {
    let sent = report.u64("websocket.messages.sent") + report.u64("requests.warmup_requests");
    assert!(
        (least..=most).contains(&sent),
        "{sent} messages sent in all, expected {least} to {most}\n{report}"
    );
}

/// `websocket.messages.{what}_per_s` is the window's count over the window.
fn assert_rate_over_window(report: &Report, what: &str) {
    let count = report.u64(&format!("websocket.messages.{what}")) as f64;
    let rate = report.f64(&format!("websocket.messages.{what}_per_s"));
    let window = report.f64("elapsed_s");
    assert!(
        (rate * window - count).abs() <= count * 1e-9,
        "{what}: {rate}/s over {window}s is not {count}\n{report}"
    );
}

/// Echo: every message gets its reply and a round-trip time; both sides count the
/// same messages; one connection per VU (that connected: [`ws_connections`]), kept
/// for the whole run.
#[test]
fn echo_round_trips_are_counted_on_both_sides() {
    let server = WsEcho::start();
    let out = Test::new()
        .arg(server.url("/chat"))
        .args(["-c", "4", "-n", "2000", "-b", "hello ${REQUEST_ID}"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    let opened = ws_connections(&report, &server, 4);
    let noun = if opened == 1 { "session" } else { "sessions" };
    let said =
        format!("WebSocket   {opened} {noun} opened · 0 failed to open · 0 closed by the server");
    assert!(
        out.stdout.contains(&said),
        "{said:?} not in:\n{}",
        out.stdout
    );
    assert_eq!(report.str("target.url"), server.url("/chat"));
    assert_eq!(report.u64("requests.total"), 2000, "{report}");
    assert_eq!(report.u64("websocket.messages.sent"), 2000, "{report}");
    assert_eq!(report.u64("websocket.messages.received"), 2000, "{report}");
    assert_eq!(report.u64("websocket.close_codes.1000"), 2000, "{report}");
    assert_eq!(report.u64("status_codes.ws:1000"), 2000, "{report}");
    assert_eq!(report.u64("websocket.connections.failed"), 0, "{report}");
    assert_eq!(
        report
            .get("websocket.handshake_ms.p50")
            .as_f64()
            .map(|v| v > 0.0),
        Some(true)
    );
    // Round trips: one per message, each above zero.
    let rtt_min = report.f64("websocket.rtt_ms.min");
    assert!(
        rtt_min > 0.0 && report.f64("websocket.rtt_ms.p99") >= rtt_min,
        "{report}"
    );
    // "hello " and a request id, each way.
    let bytes = report.u64("websocket.bytes.sent");
    assert_eq!(bytes, report.u64("websocket.bytes.received"), "{report}");
    assert!(bytes >= 2000 * 7, "{report}");
    // `-n` waits for every exchange: nothing in flight.
    assert_eq!(server.received(), 2000);
    assert_eq!(
        server.handshakes(),
        vec!["/chat".to_owned(); opened as usize]
    );
}

/// `--no-keepalive` is for HTTP requests: the handshake still asks for the upgrade
/// (`connection: close` got it refused with 426), and the connection carries every
/// message of the VU, as without it.
#[test]
fn no_keepalive_leaves_websocket_connections_alone() {
    let server = WsEcho::start();
    let report = Test::new()
        .arg(server.url("/chat"))
        .args(["--no-keepalive", "-c", "1", "-n", "20", "-b", "hello"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.u64("status_codes.ws:1000"), 20, "{report}");
    assert_eq!(report.u64("websocket.connections.opened"), 1, "{report}");
    assert_eq!(report.u64("websocket.connections.failed"), 0, "{report}");
    assert_eq!(server.received(), 20);
    assert_eq!(server.handshakes(), ["/chat"]);
}

/// Fire-and-forget with an interval: 20 connections each sending every 50 ms is
/// 400 messages/s, 1,600 over the run's 4 s; the counting server got every one (up
/// to those in flight at the stop), and answered none.
///
/// Each connection's first message goes out as the run starts and every other one
/// 50 ms after the one before it was due (not after it went out, so no timer's
/// lateness adds up): no more than 80 each, all 80 on an idle machine. A VU held up
/// catches up on what it missed if less than a second behind (`TokioVu::pace`), so
/// a loaded machine costs only what is due when the deadline finds a VU behind, and
/// what a VU more than a second behind gives up (a handshake the Python server is
/// that slow to take): 10% (400 ms of the run) is room for that. Half the rate, a
/// message per connection per 100 ms, is far below it.
#[test]
fn fire_and_forget_keeps_the_interval_rate() {
    let server = WsEcho::start_with(WsOptions {
        mode: WsMode::Count,
        ..WsOptions::default()
    });
    let report = Test::new()
        .arg(server.url("/ingest"))
        .args(["-c", "20", "-d", "3s", "-b", "tick ${VU}"])
        .args(["--ws-fire-and-forget", "--ws-message-interval", "50ms"])
        .args(["--warmup", "1s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_sent_in_all(&report, 1440, 1600);
    assert_rate_over_window(&report, "sent");
    assert_eq!(report.u64("websocket.messages.received"), 0, "{report}");
    assert_server_got_what_was_sent(&report, &server, 20);
    // The timeline has the messages of each second.
    let timeline = report.get("timeline").as_array().expect("timeline");
    let per_second: u64 = timeline
        .iter()
        .map(|s| s["messages_sent"].as_u64().expect("messages_sent"))
        .sum();
    assert_eq!(
        per_second,
        report.u64("websocket.messages.sent"),
        "{report}"
    );
}

/// Echo with an interval: the same rate, each message answered (the same bounds
/// as [`fire_and_forget_keeps_the_interval_rate`]'s).
#[test]
fn echo_keeps_the_interval_rate() {
    let server = WsEcho::start();
    let report = Test::new()
        .arg(server.url("/"))
        .args(["-c", "20", "-d", "3s", "-b", "ping"])
        .args(["--ws-message-interval", "50ms", "--warmup", "1s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_sent_in_all(&report, 1440, 1600);
    assert_rate_over_window(&report, "sent");
    assert_rate_over_window(&report, "received");
    assert_eq!(
        report.u64("websocket.messages.sent"),
        report.u64("websocket.messages.received"),
        "{report}"
    );
    assert_server_got_what_was_sent(&report, &server, 20);
}

/// `wss://` with a certificate signed by a generated CA: trusted with `--cacert`
/// (a handshake per connection), a counted `tls` error without it.
#[test]
fn wss_with_a_generated_certificate() {
    let server = WsEcho::start_with(WsOptions {
        tls: true,
        ..WsOptions::default()
    });
    let ca = server.ca_path();
    let report = Test::new()
        .arg(server.url("/secure"))
        .args(["-c", "2", "-n", "100", "-b", "over tls"])
        .arg("--cacert")
        .arg(&ca)
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.u64("websocket.messages.received"), 100, "{report}");
    let opened = ws_connections(&report, &server, 2);
    assert_eq!(
        report.get("phases_ms.tls.count").as_u64(),
        Some(opened),
        "{report}"
    );
    assert_eq!(server.received(), 100);

    let report = Test::new()
        .arg(server.url("/secure"))
        .args(["-c", "1", "-n", "3", "-b", "over tls"])
        .status(1)
        .report()
        .run()
        .report();
    report.check_invariants(1);
    assert_eq!(report.error_classes(), [("tls".to_owned(), 3)], "{report}");
    assert_eq!(report.u64("websocket.connections.failed"), 3, "{report}");
    assert_eq!(report.u64("websocket.connections.opened"), 0, "{report}");
}

/// A server that closes each connection at its 5th message (code 4000): that
/// exchange's status is `ws:4000`, the close is counted, and the next exchange
/// goes out on a new connection; the run goes on.
#[test]
fn a_server_that_closes_mid_run_is_counted() {
    let server = WsEcho::start_with(WsOptions {
        close_after: 5,
        ..WsOptions::default()
    });
    let report = Test::new()
        .arg(server.url("/short"))
        .args(["-c", "1", "-n", "20", "-b", "m", "--max-error-rate", "0.5"])
        .stdout_contains("close codes 1000 ×16  4000 ×4")
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(
        report.status_codes_named(),
        [("ws:1000".to_owned(), 16), ("ws:4000".to_owned(), 4)],
        "{report}"
    );
    assert_eq!(
        report.u64("websocket.connections.closed_by_peer"),
        4,
        "{report}"
    );
    assert_eq!(report.u64("websocket.connections.opened"), 4, "{report}");
    assert_eq!(report.u64("websocket.messages.sent"), 20, "{report}");
    assert_eq!(report.u64("websocket.messages.received"), 16, "{report}");
    // A close code other than 1000 is not the expected status: a failed request.
    assert_eq!(report.u64("requests.failed"), 4, "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    assert_eq!(server.received(), 20);
    assert_eq!(server.handshakes().len(), 4);
    // Each of the server's closes was answered with a close frame (not 1006).
    let codes = server.close_codes();
    assert_eq!(codes, ["4000"; 4], "close codes\n{}", server.log());
}

/// nginx answers a WebSocket handshake as any GET: 404 for a missing path. That is a
/// `handshake` error naming the status, counted as a failed connection.
#[test]
fn a_refused_upgrade_is_a_handshake_error() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/nope").replacen("http://", "ws://", 1);
    let authority = url.trim_start_matches("ws://").trim_end_matches("/nope");
    let report = Test::new()
        .arg(&url)
        .args(["-c", "1", "-n", "3", "-b", "hello"])
        .status(1)
        .stdout_contains("handshake ×3")
        .report()
        .run()
        .report();
    report.check_invariants(1);
    assert_eq!(
        report.error_classes(),
        [("handshake".to_owned(), 3)],
        "{report}"
    );
    assert_eq!(
        report.str("error_details.handshake"),
        format!("{authority}/nope refused the WebSocket upgrade: HTTP 404 Not Found")
    );
    assert_eq!(report.u64("websocket.connections.failed"), 3, "{report}");
    assert_eq!(report.u64("websocket.messages.sent"), 0, "{report}");
}

/// An HTTP step's extracted value goes into a WebSocket message; the reply is
/// checked and a value extracted from it (`json:`) goes into the next HTTP step.
/// The handshake asks for the `chat` subprotocol, which the server requires; the
/// connection is kept across iterations (the reply's `n` counts its messages).
#[test]
fn values_chain_through_a_websocket_step() {
    let httpbin = Httpbin::start();
    let server = WsEcho::start_with(WsOptions {
        mode: WsMode::Json,
        ..WsOptions::default()
    });
    let report = Test::new()
        .scenario(&format!(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            name = "id"
            url = "/uuid"
            extract = {{ id = "json:$.uuid" }}

            [[scenarios.steps]]
            name = "say"
            ws = {{ url = "{}", send = '{{"id": "${{id}}"}}' }}
            headers = {{ "Sec-WebSocket-Protocol" = "chat" }}
            checks = ['body contains "\"echo\""', "status == 1000", 'body contains "nope"']
            extract = {{ n = "json:$.n", echoed = "json:$.echo" }}

            [[scenarios.steps]]
            name = "use"
            url = "/anything/${{n}}?echoed=${{URLENCODE(echoed)}}"
            checks = ["status == 200"]
            "#,
            server.url("/room")
        ))
        .arg(httpbin.url("/"))
        .args(["-c", "1", "-n", "9"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(
        report.check(r#"body contains "\"echo\"""#),
        (3, 0),
        "{report}"
    );
    assert_eq!(report.check("status == 1000"), (3, 0), "{report}");
    assert_eq!(report.check(r#"body contains "nope""#), (0, 3), "{report}");
    assert_eq!(report.check("status == 200"), (3, 0), "{report}");
    assert_eq!(report.u64("websocket.connections.opened"), 1, "{report}");
    let lines = httpbin.access_log_lines();
    let used: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l.path.starts_with("/anything/"))
        .map(|l| (l.path.as_str(), l.query.as_str()))
        .collect();
    assert_eq!(used.len(), 3, "{used:?}");
    for (i, (path, query)) in used.iter().enumerate() {
        // The reply's `n`, then the message the server echoed, with the uuid the
        // first step extracted.
        assert_eq!(*path, format!("/anything/{}", i + 1));
        let prefix = "echoed=%7B%22id%22%3A%20%22";
        assert!(
            query.starts_with(prefix),
            "{query} does not start with {prefix}"
        );
        assert_eq!(query.len(), prefix.len() + 36 + "%22%7D".len(), "{query}");
    }
    assert_eq!(server.handshakes(), ["/room"]);
}

/// `--timeout` bounds each exchange: a reply that never comes is a `timeout`, and
/// the connection it was due on is not used again (the reply might still come).
/// The exchange's time includes its connection's handshake, which the Python
/// server can be slow to take on a loaded machine: a second leaves the message
/// room to go out first, which 300 ms left little of.
#[test]
fn a_reply_that_never_comes_times_out() {
    let server = WsEcho::start_with(WsOptions {
        mode: WsMode::Count,
        ..WsOptions::default()
    });
    let report = Test::new()
        .arg(server.url("/quiet"))
        .args(["-c", "1", "-n", "3", "-b", "anyone?", "--timeout", "1s"])
        .status(1)
        .report()
        .run()
        .report();
    report.check_invariants(1);
    assert_eq!(
        report.error_classes(),
        [("timeout".to_owned(), 3)],
        "{report}"
    );
    assert_eq!(
        report.str("error_details.timeout"),
        "no complete response within 1000ms"
    );
    assert_eq!(report.u64("websocket.messages.sent"), 3, "{report}");
    assert_eq!(report.u64("websocket.connections.opened"), 3, "{report}");
    assert_eq!(server.received(), 3);
    assert_eq!(server.handshakes().len(), 3);
}

/// The server pings every 100 ms and drops a connection whose pong is 100 ms late:
/// kaioken answers as it reads and writes, so no connection is closed.
#[test]
fn pings_are_answered() {
    let server = WsEcho::start_with(WsOptions {
        ping: Some(std::time::Duration::from_millis(100)),
        ..WsOptions::default()
    });
    let report = Test::new()
        .arg(server.url("/"))
        .args(["-c", "2", "-d", "2s", "-b", "ping?"])
        .args(["--ws-message-interval", "20ms"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(
        report.u64("websocket.connections.closed_by_peer"),
        0,
        "{report}"
    );
    assert_eq!(report.u64("websocket.connections.opened"), 2, "{report}");
    assert_eq!(
        report.status_codes_named(),
        [("ws:1000".to_owned(), report.u64("requests.total"))]
    );
    assert_server_got_what_was_sent(&report, &server, 2);
}

/// `-r` caps the messages of every connection together: 10 connections, as fast as
/// echo allows, at 200 messages/s in all, 800 over the run's 4 s.
///
/// Never more than 2% above (the cap's own accuracy, whatever the load), where 10
/// connections each capped at 200/s would send ten times as many. Below it, a
/// loaded machine: the cap does not make up slots more than 2 ms old (rate.rs), so
/// VUs woken late lose theirs for good; 25% short is room for that, as in exec.rs's
/// `RATE_SHORTFALL`.
#[test]
fn a_rate_cap_holds_over_every_connection() {
    let server = WsEcho::start();
    let report = Test::new()
        .arg(server.url("/capped"))
        .args([
            "-c", "10", "-d", "3s", "-r", "200", "--warmup", "1s", "-b", "m",
        ])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_sent_in_all(&report, 600, 800 + 800 / 50);
    assert_rate_over_window(&report, "sent");
    assert_server_got_what_was_sent(&report, &server, 10);
}

/// A server that drops each connection at its 5th message, without a close frame:
/// that exchange is a `reset` error, the drop is counted, the next message opens a
/// new connection.
#[test]
fn a_dropped_connection_is_a_reset() {
    let server = WsEcho::start_with(WsOptions {
        close_after: 5,
        drop: true,
        ..WsOptions::default()
    });
    let report = Test::new()
        .arg(server.url("/"))
        .args(["-c", "1", "-n", "10", "-b", "m", "--max-error-rate", "0.5"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(
        report.error_classes(),
        [("reset".to_owned(), 2)],
        "{report}"
    );
    assert!(
        report
            .str("error_details.reset")
            .starts_with("waiting for a reply: "),
        "{report}"
    );
    assert_eq!(
        report.u64("websocket.connections.closed_by_peer"),
        2,
        "{report}"
    );
    assert_eq!(report.u64("websocket.connections.opened"), 2, "{report}");
    assert_eq!(report.u64("websocket.messages.received"), 8, "{report}");
    assert_eq!(server.received(), 10);
}

/// A server that closes normally (1000) instead of replying: that exchange got no
/// reply, a `reset` error naming the close, not the `ws:1000` of a completed
/// exchange; the close is counted and the next message opens a new connection.
#[test]
fn a_normal_close_before_the_reply_is_not_a_success() {
    let server = WsEcho::start_with(WsOptions {
        close_after: 5,
        close_code: 1000,
        ..WsOptions::default()
    });
    let report = Test::new()
        .arg(server.url("/"))
        .args(["-c", "1", "-n", "10", "-b", "m", "--max-error-rate", "0.5"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(
        report.error_classes(),
        [("reset".to_owned(), 2)],
        "{report}"
    );
    assert_eq!(
        report.str("error_details.reset"),
        "the server closed the connection normally (1000) before the reply",
        "{report}"
    );
    assert_eq!(
        report.status_codes_named(),
        [("ws:1000".to_owned(), 8)],
        "{report}"
    );
    assert_eq!(report.u64("requests.failed"), 2, "{report}");
    assert_eq!(
        report.u64("websocket.connections.closed_by_peer"),
        2,
        "{report}"
    );
    assert_eq!(report.u64("websocket.connections.opened"), 2, "{report}");
    assert_eq!(server.received(), 10);
}

/// A message that is not UTF-8 (`--body-file` of raw bytes) goes as a binary
/// message and comes back whole.
#[test]
fn a_binary_message_is_echoed() {
    let server = WsEcho::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("frame.bin");
    let bytes: Vec<u8> = (0..=255u8).rev().collect();
    std::fs::write(&file, &bytes).unwrap();
    let report = Test::new()
        .arg(server.url("/bin"))
        .args(["-c", "1", "-n", "5", "--body-file"])
        .arg(&file)
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.u64("websocket.bytes.sent"), 5 * 256, "{report}");
    assert_eq!(report.u64("websocket.bytes.received"), 5 * 256, "{report}");
    assert_eq!(report.u64("websocket.close_codes.1000"), 5, "{report}");
}

/// Fire-and-forget as fast as the connections take it, against a server that
/// echoes: the server's replies pile up unread, and a socket closed with them
/// unread is reset, which threw away the messages the server had not read yet
/// (it got 88 of 100). Each VU closes its connection with a close frame at its
/// end and reads the server's replies until the server's close: every message
/// counted as sent reaches the server.
#[test]
fn fire_and_forget_at_full_speed_delivers_what_it_counts() {
    let server = WsEcho::start();
    let report = Test::new()
        .arg(server.url("/chat"))
        .args(["-c", "2", "-n", "2000", "-b", "x${REQUEST_ID}"])
        .arg("--ws-fire-and-forget")
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.u64("websocket.messages.sent"), 2000, "{report}");
    assert_server_got_what_was_sent(&report, &server, 2);
    assert_closed_normally(&server, report.u64("websocket.connections.opened"));
}

/// The open model's VUs close their connections as the closed model's do, and
/// neither counts the closing (up to a quiet 300 ms per connection, then the
/// handshake) in the run's time: the rates are over the load's time.
#[test]
fn open_model_vus_close_their_connections_after_the_run() {
    let server = WsEcho::start();
    let report = Test::new()
        .arg(server.url("/chat"))
        .args(["--arrival-rate", "200", "-d", "2s", "-b", "x${REQUEST_ID}"])
        .arg("--ws-fire-and-forget")
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let opened = report.u64("websocket.connections.opened");
    assert!(opened >= 1, "{report}");
    assert_server_got_what_was_sent(&report, &server, opened);
    assert_closed_normally(&server, opened);
    let elapsed = report.f64("elapsed_s");
    assert!(
        (2.0..2.25).contains(&elapsed),
        "elapsed {elapsed} s\n{report}"
    );
    assert_rate_over_window(&report, "sent");
}

/// Every one of the `conns` connections the server saw ended with kaioken's close
/// frame, code 1000.
fn assert_closed_normally(server: &WsEcho, conns: u64) {
    let codes = server.close_codes();
    assert_eq!(
        codes.len() as u64,
        conns,
        "close codes {codes:?}\n{}",
        server.log()
    );
    assert!(
        codes.iter().all(|c| c == "1000"),
        "close codes {codes:?}\n{}",
        server.log()
    );
}
