//! `--compressed` against httpbin, whose `/gzip`, `/deflate` and `/brotli` answer with
//! an encoded JSON body that names the encoding and echoes the request's headers:
//! checks see the decoded body, the server saw the `accept-encoding` kaioken sent,
//! and the report counts what was decoded beside the bytes on the wire. HTTP/1.1 on
//! both engines.

use crate::harness::{Report, Test};
use crate::httpbin::Httpbin;

const SCENARIO: &str = r#"
    [[scenarios]]
    [[scenarios.steps]]
    url = "/gzip"
    checks = ['body contains "\"gzipped\": true"']
    [[scenarios.steps]]
    url = "/deflate"
    checks = ['body contains "\"deflated\": true"']
    [[scenarios.steps]]
    url = "/brotli"
    checks = ['body contains "\"brotli\": true"', 'body contains "\"Accept-Encoding\": \"gzip, br, zstd\""']
"#;

fn run(httpbin: &Httpbin, compressed: bool, engine: &str) -> Report {
    let mut test = Test::new()
        .scenario(SCENARIO)
        .arg(httpbin.url("/"))
        .args(["-c", "1", "--max-requests", "12", "-d", "60s"])
        .on_engine(engine);
    if compressed {
        test = test.arg("--compressed");
    }
    let report = test.report().run().report();
    assert_eq!(report.str("settings.engine"), engine, "{report}");
    report
}

#[test]
fn bodies_are_decoded_for_checks_and_counted() {
    for engine in ["io_uring", "tokio"] {
        decoded_and_counted_on(engine);
    }
}

fn decoded_and_counted_on(engine: &str) {
    let httpbin = Httpbin::start();
    let report = run(&httpbin, true, engine);
    report.check_invariants(0);
    assert_eq!(report.status_codes(), vec![(200, 12)], "{report}");
    for check in [
        r#"body contains "\"gzipped\": true""#,
        r#"body contains "\"deflated\": true""#,
        r#"body contains "\"brotli\": true""#,
        r#"body contains "\"Accept-Encoding\": \"gzip, br, zstd\"""#,
    ] {
        assert_eq!(report.check(check), (4, 0), "{check}\n{report}");
    }
    assert_eq!(report.u64("requests.decoded"), 12, "{report}");
    assert_eq!(report.u64("requests.decoded_partial"), 0, "{report}");
    // Each decoded body is a JSON document of a few hundred bytes.
    let decoded = report.u64("requests.bytes_decoded");
    assert!(
        (12 * 100..12 * 2000).contains(&decoded),
        "{decoded}\n{report}"
    );

    // Without the option the bodies are judged as they came: encoded.
    let raw = run(&httpbin, false, engine);
    assert_eq!(
        raw.check(r#"body contains "\"gzipped\": true""#),
        (0, 4),
        "{raw}"
    );
    assert_eq!(
        raw.check(r#"body contains "\"brotli\": true""#),
        (0, 4),
        "{raw}"
    );
    assert_eq!(raw.u64("requests.decoded"), 0, "{raw}");
    assert_eq!(httpbin.access_log_lines().len(), 24, "{}", httpbin.logs());
}

#[test]
fn summary_says_what_was_decoded_and_dump_shows_the_header() {
    let httpbin = Httpbin::start();
    let out = Test::new()
        .arg(httpbin.url("/gzip"))
        .args([
            "--compressed",
            "-c",
            "1",
            "--max-requests",
            "3",
            "-d",
            "60s",
        ])
        .run();
    assert!(
        out.stdout.contains("Compressed  3 bodies decoded to"),
        "{}",
        out.stdout
    );
    let dump = Test::new()
        .args(["http://127.0.0.1:9/", "--compressed", "--dump", "ir"])
        .run();
    assert!(
        dump.stdout
            .contains(r#"header "accept-encoding" = "gzip, br, zstd""#),
        "{}",
        dump.stdout
    );
    // A header of the user's own wins.
    let dump = Test::new()
        .args([
            "http://127.0.0.1:9/",
            "--compressed",
            "-H",
            "Accept-Encoding: gzip",
        ])
        .args(["--dump", "ir"])
        .run();
    assert!(
        dump.stdout.contains(r#"header "accept-encoding" = "gzip""#)
            && !dump.stdout.contains("br, zstd"),
        "{}",
        dump.stdout
    );
}

/// zstd (and the other codings) over every HTTP version: Caddy compresses `/big`
/// with zstd for a client that accepts it, over HTTP/1.1, HTTP/2 and HTTP/3; each
/// body decodes whole to what Caddy was told to send, and checks read it decoded.
#[test]
fn caddy_zstd_over_h1_h2_and_h3() {
    use crate::caddy::{BIG, BIG_REPEATS, Caddy};
    let caddy = Caddy::start();
    for flag in [None, Some("--http2"), Some("--http3")] {
        let mut test = Test::new()
            .arg(caddy.url("/big"))
            .arg("--cacert")
            .arg(caddy.ca_path())
            .args(["--compressed", "-c", "1", "--max-requests", "5", "-d", "60s"])
            .scenario(
                r#"
                [request]
                checks = ['body contains "line after line of it. kaioken compressed body"', 'header("content-encoding") == "zstd"']
                "#,
            );
        if let Some(flag) = flag {
            test = test.arg(flag);
        }
        let report = test.report().run().report();
        report.check_invariants(0);
        let what = format!("{flag:?}");
        // HTTP/1.1 over TLS runs on io_uring, the others on tokio.
        let engine = if flag.is_none() { "io_uring" } else { "tokio" };
        assert_eq!(
            report.str("settings.engine"),
            engine,
            "{what}
{report}"
        );
        assert_eq!(report.u64("requests.decoded"), 5, "{what}\n{report}");
        assert_eq!(
            report.u64("requests.decoded_partial"),
            0,
            "{what}\n{report}"
        );
        assert_eq!(
            report.u64("requests.bytes_decoded"),
            5 * (BIG.len() * BIG_REPEATS) as u64,
            "{what}\n{report}"
        );
        let checks = report.get("checks").as_array().expect("checks");
        assert!(
            checks.iter().all(|c| c["passes"] == 5 && c["fails"] == 0),
            "{what}\n{report}"
        );
        // What came over the wire is smaller than what it decoded to.
        assert!(
            report.u64("requests.bytes_received") < report.u64("requests.bytes_decoded"),
            "{what}\n{report}"
        );
    }
}
