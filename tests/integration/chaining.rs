//! Request chaining: a value extracted from one response is sent by a later step.

use crate::harness::Test;
use crate::nginx::{Nginx, Variant};
use crate::servers::{Behaviour, Server};

#[test]
fn an_extracted_value_reaches_the_next_request() {
    for env in [None, Some("1")] {
        let nginx = Nginx::start(Variant::Http1);
        // nginx's /echo answers with the request line, so the first step's URL comes
        // back in its body; the second step sends what the regex took from it.
        let mut test = Test::new()
            .scenario(
                r#"
                [[scenarios]]
                [[scenarios.steps]]
                url = "/echo?token=t${REQUEST_ID}"
                extract = { token = 'regex:token=(t[\d-]+)', whole = "body" }

                [[scenarios.steps]]
                url = "/echo?got=${token}"
                checks = ['body contains "got=t"']
                "#,
            )
            .arg(nginx.url("/"))
            .args(["-c", "3", "--max-requests", "600", "-d", "60s"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        let lines = nginx.access_log_lines();
        let sent: std::collections::BTreeSet<&str> = lines
            .iter()
            .filter_map(|l| l.uri.strip_prefix("/echo?token="))
            .collect();
        let got: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.uri.strip_prefix("/echo?got="))
            .collect();
        assert_eq!(sent.len() + got.len(), 600, "{report}");
        assert!(got.len() >= 297, "the second step ran: {}", got.len());
        // Every value sent back is one the server gave out, and none is empty.
        assert!(got.iter().all(|g| sent.contains(g)), "{got:?}");
        let extractions = report
            .get("extractions")
            .as_array()
            .expect("extractions")
            .clone();
        assert_eq!(extractions.len(), 2, "{report}");
        for x in &extractions {
            assert_eq!(x["failed"], 0, "{report}");
            assert_eq!(x["ok"].as_u64().unwrap(), sent.len() as u64, "{report}");
        }
        assert_eq!(report.get("checks")[0]["fails"], 0, "{report}");
    }
}

#[test]
fn json_extraction_across_origins_and_failures_are_counted() {
    let body = r#"{"session": {"id": "s-42"}, "n": [7]}"#;
    let response = format!(
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let api = Server::start(Behaviour::Malformed(Box::leak(
        response.into_bytes().into_boxed_slice(),
    )));
    let nginx = Nginx::start(Variant::Http1);
    let scenario = format!(
        r#"
        [[scenarios]]
        [[scenarios.steps]]
        url = "{api}"
        extract = {{ sid = "json:$.session.id", n = "json:$.n[0]", missing = "json:$.nope", ct = "header:Content-Type" }}

        [[scenarios.steps]]
        url = "{echo}?sid=${{sid}}&n=${{n}}&ct=${{ct}}&missing=${{missing}}"
        "#,
        api = api.url(),
        echo = nginx.url("/echo"),
    );
    let report = Test::new()
        .scenario(&scenario)
        .args(["-c", "1", "--max-requests", "20", "-d", "60s"])
        .report()
        .run()
        .report();
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 10, "{report}");
    assert!(
        lines
            .iter()
            .all(|l| l.uri == "/echo?sid=s-42&n=7&ct=application/json&missing="),
        "{:?}",
        lines.first()
    );
    let failed = |var: &str| {
        report
            .get("extractions")
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["var"] == var)
            .unwrap()["failed"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (failed("sid"), failed("n"), failed("ct")),
        (0, 0, 0),
        "{report}"
    );
    assert_eq!(
        failed("missing"),
        10,
        "a path that matches nothing is counted, the run goes on\n{report}"
    );
}

#[test]
fn chaining_errors_are_located() {
    let base = "[target]\nurl = \"http://127.0.0.1:9/\"\n";
    Test::new()
        .scenario(&format!(
            "{base}[[scenarios]]\n[[scenarios.steps]]\nurl = \"/a?t=${{token}}\"\n[[scenarios.steps]]\nurl = \"/b\"\nextract = {{ token = \"body\" }}\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("`${token}` is used before any step can have extracted it")
        .stderr_contains("scenario.toml:5:")
        .run();
    Test::new()
        .scenario(&format!("{base}[[scenarios]]\n[[scenarios.steps]]\nurl = \"/\"\nextract = {{ t = \"json:$[\" }}\n"))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("invalid JSONPath")
        .run();
    Test::new()
        .scenario(&format!("{base}[[scenarios]]\n[[scenarios.steps]]\nurl = \"/\"\nextract = {{ t = \"xml:/a\" }}\n"))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("invalid extractor")
        .run();
    Test::new()
        .scenario(&format!(
            "{base}[[scenarios]]\n[[scenarios.steps]]\nurl = \"/\"\nextract = {{ VU = \"body\" }}\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("`VU` is a built-in")
        .run();
}

#[test]
fn the_cookie_jar_carries_a_session() {
    const SCENARIO: &str = r#"
        [[scenarios]]
        [[scenarios.steps]]
        url = "/cookies/set"
        [[scenarios.steps]]
        url = "/cookies"
        checks = ['body contains "sid=abc123"']
    "#;
    for (jar, env, passes) in [
        (true, None, true),
        (true, Some("1"), true),
        (false, None, false),
    ] {
        let nginx = Nginx::start(Variant::Http1);
        let mut test = Test::new()
            .scenario(SCENARIO)
            .arg(nginx.url("/"))
            .args(["-c", "2", "--max-requests", "200", "-d", "60s"])
            .report();
        if jar {
            test = test.arg("--cookie-jar");
        }
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        let check = &report.get("checks")[0];
        let (ok, failed) = (
            check["passes"].as_u64().unwrap(),
            check["fails"].as_u64().unwrap(),
        );
        // 200 requests over two VUs: about 100 of them are the second step (a VU may
        // stop between its steps when the budget runs out).
        assert!((98..=100).contains(&(ok + failed)), "{report}");
        if passes {
            assert_eq!(
                failed, 0,
                "jar on: every second step sends the cookie\n{report}"
            );
        } else {
            assert_eq!(ok, 0, "jar off: no cookie is sent\n{report}");
        }
    }
    // Over HTTP/2 too.
    let nginx = Nginx::start(Variant::H2c);
    let report = Test::new()
        .scenario(SCENARIO)
        .arg(nginx.url("/"))
        .args([
            "--http2",
            "--cookie-jar",
            "-c",
            "2",
            "--max-requests",
            "100",
            "-d",
            "60s",
        ])
        .report()
        .run()
        .report();
    assert_eq!(report.get("checks")[0]["fails"], 0, "{report}");
}

/// A JSON number reaches the next request as the server wrote it: `1e2`, `19.90`
/// and an integer beyond 2^64 are not rewritten through an `f64`, alone or inside
/// an object, on the direct route (`$.a`) as on jsonpath-rust's (`$..y`). httpbin
/// decodes `/base64/…` into the body `{"a": 1e2, "o": {"x": 1.0, "y":
/// 12345678901234567890123}, "p": 19.90}` and logs the next request's query.
#[test]
fn json_numbers_are_extracted_as_written() {
    let httpbin = crate::httpbin::Httpbin::start();
    Test::new()
        .scenario(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/base64/BODY"
            extract = { a = "json:$.a", o = "json:$.o", p = "json:$.p", y = "json:$..y" }

            [[scenarios.steps]]
            url = "/anything?a=${a}&o=${o}&p=${p}&y=${y}"
            "#
            .replace("BODY", "eyJhIjogMWUyLCAibyI6IHsieCI6IDEuMCwgInkiOiAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyM30sICJwIjogMTkuOTB9")
            .as_str(),
        )
        .arg(httpbin.url("/"))
        .args(["-n", "2", "-c", "1"])
        .run();
    let lines = httpbin.access_log_lines();
    let queries: Vec<&str> = lines
        .iter()
        .filter(|l| l.path == "/anything")
        .map(|l| l.query.as_str())
        .collect();
    assert_eq!(
        queries,
        [
            "a=1e2&o=%7B%22x%22:1.0,%22y%22:12345678901234567890123%7D&p=19.90&y=12345678901234567890123"
        ]
    );
}
