//! Values a response hands back never reach the wire raw. httpbin's `/base64/…`
//! answers with the text it decodes, here `abc\r\nX-Injected: 1` and `a b`; `body`
//! extractors take them, and later steps send them in the URL (percent-encoded: they
//! arrive as one query value and one path segment) and in a header (refused before sending: counted as an
//! `invalid_request` error, and httpbin's `/headers` echo never sees the request,
//! let alone an `X-Injected` header). Both engines: io_uring, and tokio.

use crate::harness::Test;
use crate::httpbin::Httpbin;

/// `abc\r\nX-Injected: 1`, base64.
const INJECTION: &str = "YWJjDQpYLUluamVjdGVkOiAx";
/// `a b`, base64.
const SPACE: &str = "YSBi";

const MESSAGE: &str = "header `x-kaioken-test`: its value has a carriage return (0x0d) at \
                       byte 3, which no header may carry; the request was not sent";

#[test]
fn extracted_line_breaks_are_encoded_in_urls_and_refused_in_headers() {
    for engine in ["io_uring", "tokio"] {
        let httpbin = Httpbin::start();
        let mut test = Test::new()
            .scenario(&format!(
                r#"
                [[scenarios]]
                [[scenarios.steps]]
                url = "/base64/{INJECTION}"
                extract = {{ v = "body" }}

                [[scenarios.steps]]
                url = "/base64/{SPACE}"
                extract = {{ w = "body" }}

                [[scenarios.steps]]
                url = "/anything/${{w}}?q=${{v}}"
                checks = ["status == 200"]

                [[scenarios.steps]]
                url = "/headers"
                headers = {{ "X-Kaioken-Test" = "${{v}}" }}
                checks = ['body contains "Injected"']
                "#
            ))
            .arg(httpbin.url("/"))
            .args(["-n", "12", "-c", "1", "--max-error-rate", "0.5"])
            .stdout_contains(format!("invalid_request ×3  (first: {MESSAGE})"))
            .report();
        if engine == "tokio" {
            test = test.env("KAIOKEN_NO_IO_URING", "1");
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        // Three iterations of three requests sent and one refused.
        assert_eq!(report.u64("requests.total"), 12, "{report}");
        assert_eq!(
            report.error_classes(),
            [("invalid_request".to_owned(), 3)],
            "{report}"
        );
        assert_eq!(report.str("error_details.invalid_request"), MESSAGE);
        assert_eq!(report.status_codes(), [(200, 9)], "{report}");
        // The server understood the request line: the value is one query value.
        assert_eq!(report.check("status == 200"), (3, 0), "{report}");
        // The header's step was never sent, so its check fails.
        assert_eq!(
            report.check(r#"body contains "Injected""#),
            (0, 3),
            "{report}"
        );
        let lines = httpbin.access_log_lines();
        let paths: Vec<&str> = lines.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(lines.len(), 9, "{paths:?}\n{}", httpbin.logs());
        assert_eq!(
            paths.iter().filter(|p| p.starts_with("/base64/")).count(),
            6,
            "{paths:?}"
        );
        let echoed: Vec<_> = lines
            .iter()
            .filter(|l| l.path.starts_with("/anything/"))
            .collect();
        assert_eq!(echoed.len(), 3, "{paths:?}");
        for l in echoed {
            assert_eq!(l.query, "q=abc%0D%0AX-Injected:%201", "{l:?}");
            // The log shows the path percent-decoded.
            assert_eq!(l.path, "/anything/a b", "{l:?}");
            assert_eq!(l.status, 200, "{l:?}");
        }
        assert!(!paths.contains(&"/headers"), "{paths:?}");
    }
}

/// An environment variable folded into a URL when the scenario is compiled is
/// percent-encoded as a value filled in at run time is: nginx logs the space and
/// the non-ASCII letter encoded, the `/` and `?` left as they are.
#[test]
fn environment_values_are_encoded_in_urls() {
    let nginx = crate::nginx::Nginx::start(crate::nginx::Variant::Http1);
    Test::new()
        .arg(nginx.url("/echo?q=${WHO}"))
        .env("WHO", "a b/é?")
        .args(["-n", "1", "-c", "1"])
        .run();
    let uris: Vec<String> = nginx
        .access_log_lines()
        .into_iter()
        .map(|l| l.uri)
        .collect();
    assert_eq!(uris, ["/echo?q=a%20b/%C3%A9?"]);
}
