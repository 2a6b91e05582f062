//! `--compressed` against httpbin, whose `/gzip`, `/deflate` and `/brotli` answer with
//! an encoded JSON body that names the encoding and echoes the request's headers:
//! checks see the decoded body, the server saw the `accept-encoding` kaioken sent,
//! and the report counts what was decoded beside the bytes on the wire.

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

fn run(httpbin: &Httpbin, compressed: bool) -> Report {
    let mut test = Test::new().scenario(SCENARIO).arg(httpbin.url("/")).args([
        "-c",
        "1",
        "--max-requests",
        "12",
        "-d",
        "60s",
    ]);
    if compressed {
        test = test.arg("--compressed");
    }
    test.report().run().report()
}

#[test]
fn bodies_are_decoded_for_checks_and_counted() {
    let httpbin = Httpbin::start();
    let report = run(&httpbin, true);
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
    let raw = run(&httpbin, false);
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
