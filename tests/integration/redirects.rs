//! Redirects and think time: every hop of a redirect chain is a request nginx logged
//! and kaioken counted, on every engine and protocol; checks see the last response.
//!
//! nginx's `/hop/2` answers 302 to `/hop/1`, which answers 307 to `/echo`;
//! `/see-other` answers 303 to `/echo`; `/elsewhere` redirects to the same server
//! under another origin (`localhost` instead of `127.0.0.1`).

use crate::harness::Test;
use crate::httpbin::Httpbin;
use crate::nginx::{Nginx, Variant};

/// Run `/hop/2` and compare with the log: each hop counted once, and the check on
/// the final response passed once per completed chain (a chain the request budget
/// cut short after a hop has no final response to check).
fn chain(variant: Variant, extra: &[&str], env: Option<(&str, &str)>, engine: &str) {
    let nginx = Nginx::start(variant);
    let mut test = Test::new()
        .arg(nginx.url("/hop/2"))
        .args(["-n", "60", "-c", "2"])
        .args(extra.iter().copied())
        .scenario(
            r#"
            [[checks]]
            name = "landed"
            expr = 'status == 200 && body == "GET /echo"'
            "#,
        )
        .report();
    if let Some((k, v)) = env {
        test = test.env(k, v);
    }
    if variant.is_tls() {
        test = test.arg("--cacert").arg(nginx.ca_path());
    }
    let out = test.run();
    let report = out.report();
    report.check_invariants(0);
    let (lines, context) = nginx.logged_as_counted(&report, engine, 60);
    let by_uri = |uri: &str| lines.iter().filter(|l| l.uri == uri).count() as u64;
    let (starts, middles, ends) = (by_uri("/hop/2"), by_uri("/hop/1"), by_uri("/echo"));
    assert_eq!(starts + middles + ends, 60, "{lines:?}");
    // Hops happen in order: every /echo came from a /hop/1, every /hop/1 from a
    // /hop/2; at most one chain per VU was cut when the budget ran out.
    assert!(starts >= middles && middles >= ends, "{lines:?}");
    assert!(starts - ends <= 2 * 2, "{lines:?}");
    let (passes, fails) = report.check("landed");
    assert_eq!((passes, fails), (ends, 0), "{context}");
}

#[test]
fn redirect_chain_http1_io_uring() {
    chain(Variant::Http1, &[], None, "io_uring");
}

#[test]
fn redirect_chain_http1_tokio() {
    chain(
        Variant::Http1,
        &[],
        Some(("KAIOKEN_NO_IO_URING", "1")),
        "tokio",
    );
}

#[test]
fn redirect_chain_h2c() {
    chain(Variant::H2c, &["--http2"], None, "tokio");
}

#[test]
fn redirect_chain_tls() {
    chain(Variant::Tls, &[], None, "io_uring");
    chain(
        Variant::Tls,
        &[],
        Some(("KAIOKEN_NO_IO_URING", "1")),
        "tokio",
    );
}

#[test]
fn not_following_makes_the_redirect_the_response() {
    for args in [&["--no-follow-redirects"][..], &["--max-redirects", "0"]] {
        let nginx = Nginx::start(Variant::Http1);
        let out = Test::new()
            .arg(nginx.url("/hop/2"))
            .args(["-n", "20", "-c", "2"])
            .args(args.iter().copied())
            .scenario(
                r#"
                [[checks]]
                name = "moved"
                expr = 'status == 302 && header("location") == "/hop/1"'
                "#,
            )
            .report()
            .run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(report.status_codes(), vec![(302, 20)], "{report}");
        assert_eq!(report.check("moved"), (20, 0), "{report}");
        assert_eq!(report.u64("settings.max_redirects"), 0, "{report}");
        assert_eq!(nginx.access_log_lines().len(), 20);
    }
}

#[test]
fn the_redirect_limit_stops_the_chain() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/hop/2"))
        .args(["-n", "20", "-c", "1"])
        .scenario(
            r#"
            [target]
            max_redirects = 1

            [[checks]]
            name = "stopped at the second hop"
            expr = "status == 307"
            "#,
        )
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(
        report.status_codes(),
        vec![(302, 10), (307, 10)],
        "{report}"
    );
    assert_eq!(report.check("stopped at the second hop"), (10, 0));
    let lines = nginx.access_log_lines();
    assert!(lines.iter().all(|l| l.uri != "/echo"), "{lines:?}");
}

/// RFC 9110: 307 repeats the method and body, 303 turns the request into a GET
/// without a body.
#[test]
fn methods_and_bodies_across_redirects() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [[scenarios]]
            name = "forms"

            [[scenarios.steps]]
            name = "temporary"
            url = "/hop/1"
            method = "POST"
            body = "hello"
            checks = ['body == "POST /echo"']

            [[scenarios.steps]]
            name = "see other"
            url = "/see-other"
            method = "POST"
            body = "hello"
            checks = ['body == "GET /echo"']
            "#,
            nginx.url("/")
        ))
        .args(["-n", "8", "-c", "1"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    let checks = report.get("checks").as_array().expect("checks").clone();
    for c in &checks {
        assert_eq!(
            (c["passes"].as_u64(), c["fails"].as_u64()),
            (Some(2), Some(0)),
            "{report}"
        );
    }
    let lines = nginx.access_log_lines();
    let echoes: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l.uri == "/echo")
        .map(|l| (l.method.as_str(), l.content_length.as_str()))
        .collect();
    assert_eq!(
        echoes,
        [("POST", "5"), ("GET", "-"), ("POST", "5"), ("GET", "-")],
        "{lines:?}"
    );
}

/// A redirect to another origin: the io_uring engine (one connection, one origin)
/// hands the VUs to the tokio engine, which follows it. The VUs go on as they were:
/// `${REQUEST_ID}` never repeats, and the step the handover interrupted finishes
/// there (its check judges the final response).
#[test]
fn a_redirect_to_another_origin_is_followed_on_every_engine() {
    for (env, engine) in [(None, "io_uring+tokio"), (Some("1"), "tokio")] {
        let nginx = Nginx::start(Variant::Http1);
        let mut test = Test::new()
            .arg(nginx.url("/elsewhere?id=${REQUEST_ID}"))
            .args(["-n", "40", "-c", "2"])
            .scenario(
                r#"
                [[checks]]
                name = "landed"
                expr = 'body == "GET /echo"'
                "#,
            )
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let out = test.run();
        let report = out.report();
        report.check_invariants(0);
        let (lines, _) = nginx.logged_as_counted(&report, engine, 40);
        let starts: Vec<&str> = lines
            .iter()
            .filter(|l| l.uri.starts_with("/elsewhere"))
            .map(|l| l.uri.as_str())
            .collect();
        let distinct: std::collections::BTreeSet<&&str> = starts.iter().collect();
        assert_eq!(
            distinct.len(),
            starts.len(),
            "a request id repeated: {starts:?}"
        );
        let echoes = lines.iter().filter(|l| l.uri == "/echo").count() as u64;
        assert!(echoes >= 18, "few redirects followed: {lines:?}");
        // Every finished chain was checked once, the interrupted one included; only a
        // chain the budget cut at the very end goes unchecked.
        assert_eq!(report.check("landed"), (echoes, 0), "{report}");
    }
}

/// Credentials stay with the origin they were given for: on a redirect to another
/// origin, `authorization`, `proxy-authorization` and `cookie` are not sent, other
/// headers are. The redirect is httpbin's, to `localhost` instead of `127.0.0.1`.
#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let httpbin = Httpbin::start();
    let elsewhere = httpbin.url("/headers").replace("127.0.0.1", "localhost");
    let out = Test::new()
        .arg(httpbin.url(&format!("/redirect-to?url={elsewhere}")))
        .args(["-n", "10", "-c", "1"])
        .args(["-H", "Authorization: Bearer s3cr3t", "-H", "Cookie: session=hunter2"])
        .args(["-H", "Proxy-Authorization: Basic cHJveHk=", "-H", "X-Kaioken-Test: kept"])
        .scenario(
            r#"
            [[checks]]
            name = "no credentials"
            expr = '!(body contains "s3cr3t") && !(body contains "hunter2") && !(body contains "cHJveHk")'

            [[checks]]
            name = "other headers"
            expr = 'body contains "kept"'
            "#,
        )
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), [(200, 5), (302, 5)], "{report}");
    assert_eq!(report.check("no credentials"), (5, 0), "{report}");
    assert_eq!(report.check("other headers"), (5, 0), "{report}");
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 10, "{lines:?}");
    for l in &lines {
        let own_origin = l.path == "/redirect-to";
        assert_eq!(l.cookie == "session=hunter2", own_origin, "{l:?}");
    }
}

/// The most common redirect, from `http` to `https`: the run has TLS ready for it
/// although the scenario names no `https` origin.
#[test]
fn a_redirect_from_http_to_https_is_followed() {
    let nginx = Nginx::start(Variant::Tls);
    let httpbin = Httpbin::start();
    let target = nginx.url("/echo");
    assert!(target.starts_with("https://"), "{target}");
    let out = Test::new()
        .arg(httpbin.url(&format!("/redirect-to?url={target}")))
        .args(["-n", "10", "-c", "1", "--cacert"])
        .arg(nginx.ca_path())
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), [(200, 5), (302, 5)], "{report}");
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 5, "{lines:#?}\n{}", nginx.logs());
}

/// `think_time` spaces a VU's requests out and is not latency, on both engines
/// (io_uring waits on its worker's timers); iterations, requests and nginx's log
/// agree.
#[test]
fn think_time_paces_requests() {
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Http1);
        let report = Test::new()
            .on_engine(engine)
            .scenario(&format!(
                r#"
                [target]
                url = "{}"

                [request]
                think_time = "150ms"

                [load]
                vus = 1
                max_requests = 5
                "#,
                nginx.url("/")
            ))
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.total"), 5, "{report}");
        assert_eq!(report.u64("iterations.started"), 5, "{report}");
        assert_eq!(nginx.access_log_lines().len(), 5, "{engine}");
        // Four pauses between five requests.
        let elapsed = report.f64("elapsed_s");
        assert!(elapsed >= 0.6, "{engine}: elapsed {elapsed}\n{report}");
        let max_ms = report.f64("latency_ms.max");
        assert!(
            max_ms < 150.0,
            "{engine}: think time counted as latency: {max_ms}\n{report}"
        );
    }
}

/// The end of the run cuts a think time short on both engines: a 30 s pause in a
/// 1 s run ends with the run, every VU's one request in nginx's log.
#[test]
fn the_end_of_the_run_cuts_think_time_short() {
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Http1);
        let report = Test::new()
            .on_engine(engine)
            .scenario(&format!(
                r#"
                [target]
                url = "{}"

                [request]
                think_time = "30s"

                [load]
                vus = 3
                duration = "1s"
                "#,
                nginx.url("/")
            ))
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.responses"), 3, "{report}");
        assert_eq!(nginx.access_log_lines().len(), 3, "{engine}");
        let elapsed = report.f64("elapsed_s");
        assert!(elapsed < 5.0, "{engine}: elapsed {elapsed}\n{report}");
    }
}

/// A redirect under a rate cap waits for its slot between requests: nginx closing
/// the idle connection meanwhile (a 5 ms keep-alive timeout, shorter than the
/// wait) sends the redirect on a new connection, counted once as a reconnect.
/// On the io_uring engine that close was once taken for the finished exchange's
/// outcome: the exchange finished twice and the worker panicked.
#[test]
fn a_redirect_waiting_for_its_rate_slot_survives_the_servers_close() {
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start_with(Variant::Http1, "keepalive_timeout 5ms;");
        let report = Test::new()
            .on_engine(engine)
            .arg(nginx.url("/hop/1"))
            .args(["-n", "30", "-c", "2", "-r", "60"])
            .report()
            .run()
            .report();
        report.check_invariants(0);
        let (_, context) = nginx.logged_as_counted(&report, engine, 30);
        assert_eq!(report.u64("requests.errors"), 0, "{context}");
        // Each request after the first of a VU found its connection closed.
        let reconnects = report.u64("requests.reconnects");
        assert!(reconnects >= 20, "{context}");
    }
}
