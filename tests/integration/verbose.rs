//! `-v` against httpbin, which echoes the request: the first exchange of each step is
//! printed to stderr once (not once per request), request and response, with the
//! secrets hidden wherever they appear (in the request's head, in the URL, and where
//! the server echoes them in its body, even inside a JSON string holding the
//! request's body, where no key names them); on each engine.

use crate::harness::Test;
use crate::httpbin::Httpbin;

#[test]
fn each_step_is_shown_once_with_secrets_hidden() {
    let httpbin = Httpbin::start();
    for engine in ["io_uring", "tokio"] {
        let out = Test::new()
            .on_engine(engine)
            .scenario(
                r#"
                [[scenarios]]
                [[scenarios.steps]]
                name = "login"
                url = "/anything/login?api_key=k3y&page=2"
                method = "POST"
                headers = { Authorization = "Bearer s3cret-token" }
                body = '{"user": "vu-${VU}", "password": "pw-s3cr3t"}'
                [[scenarios.steps]]
                name = "missing"
                url = "/status/404"
                expected_status = "404"
                "#,
            )
            .arg(httpbin.url("/"))
            .args(["-v", "-c", "2", "--max-requests", "20", "-d", "60s"])
            .report()
            .run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.responses"), 20, "{report}");
        let err = &out.stderr;
        assert_eq!(
            err.matches("its first exchange").count(),
            2,
            "{engine}: {err}"
        );
        for expected in [
            r#"── "login" (s0), its first exchange, over h1 ──"#,
            "> POST /anything/login?api_key=<redacted>&page=2 HTTP/1.1",
            "> authorization: <redacted>",
            "> content-length: 41",
            r#"> {"user": "vu-"#,
            "< HTTP/1.1 200 OK",
            r#"<   "method": "POST","#,
            r#"<   "url": "http://127.0.0.1:"#,
            r#"── "missing" (s1), its first exchange, over h1 ──"#,
            "> GET /status/404 HTTP/1.1",
            "< HTTP/1.1 404 NOT FOUND",
        ] {
            assert!(
                err.contains(expected),
                "{engine}: {expected:?} is not in:\n{err}"
            );
        }
        assert!(
            !err.contains("s3cret") && !err.contains("k3y") && !err.contains("s3cr3t"),
            "{engine}: {err}"
        );
        // The live view stays off, and the summary still goes to stdout.
        assert!(out.stdout.contains("Requests"), "{}", out.stdout);
    }
}

/// A body with terminal control sequences (httpbin's `/base64/…` sends back the
/// bytes it decodes: ESC `[2J` clears the screen, ESC `[31m` turns it red, BEL
/// rings) is shown with each control character escaped, never sent to the
/// terminal as it is.
#[test]
fn control_characters_in_a_body_are_shown_escaped() {
    let httpbin = Httpbin::start();
    let out = Test::new()
        .arg(httpbin.url("/base64/G1syShtbMzFtcmVkByBkb25l"))
        .args(["-v", "-n", "1", "-c", "1"])
        .run();
    let err = &out.stderr;
    assert!(err.contains(r"< \x1b[2J\x1b[31mred\x07 done"), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err}");
}

/// A failure is shown with its detail, as the report words it.
#[test]
fn a_failed_exchange_shows_why() {
    for engine in ["io_uring", "tokio"] {
        let out = Test::new()
            .on_engine(engine)
            .args(["http://127.0.0.1:9/", "-v", "-c", "1"])
            .args(["--max-requests", "2", "--max-error-rate", "1"])
            .report()
            .run();
        let report = out.report();
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert!(
            out.stderr
                .contains("< no response: connect_refused (connecting to 127.0.0.1:9: "),
            "{engine}: {}",
            out.stderr
        );
    }
}

/// A failure the error kind says enough of (a timeout) is shown alike on both
/// engines: its kind, with no detail of its own.
#[test]
fn a_timeout_is_shown_alike_on_both_engines() {
    let server = crate::servers::Server::start(crate::servers::Behaviour::Stall);
    let shown: Vec<String> = ["io_uring", "tokio"]
        .into_iter()
        .map(|engine| {
            let out = Test::new()
                .on_engine(engine)
                .arg(server.url())
                .args(["-v", "-c", "1", "--max-requests", "1", "--timeout", "200ms"])
                .args(["--max-error-rate", "1"])
                .report()
                .run();
            assert_eq!(out.report().str("settings.engine"), engine);
            let err = &out.stderr;
            let start = err.find("── ").unwrap_or_else(|| panic!("{engine}: {err}"));
            let block = &err[start..];
            block[..block.find("\n\n").unwrap_or(block.len())].to_owned()
        })
        .collect();
    assert!(
        shown[0].contains("\n< no response: timeout\n"),
        "{}",
        shown[0]
    );
    assert_eq!(shown[0], shown[1]);
}
