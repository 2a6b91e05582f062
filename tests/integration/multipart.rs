//! Multipart bodies (`multipart = { … }`, `-F`) against httpbin's `/post`, which
//! parses `multipart/form-data` and echoes the fields under `form` and the files
//! under `files`: what the server read is what the scenario wrote.

use crate::harness::Test;
use crate::httpbin::Httpbin;

#[test]
fn scenario_fields_and_files_reach_the_server() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .file("notes.txt", "hello file")
        .scenario(
            r#"
            [request]
            multipart = { who = "vu-${VU}", notes = "@notes.txt", literal = "@@home" }
            checks = [
                'body contains "\"who\": \"vu-1\""',
                'body contains "\"literal\": \"@home\""',
                'body contains "\"notes\": \"hello file\""',
                'body matches "multipart/form-data; boundary=kaioken-[0-9a-f]{20}\""',
            ]
            "#,
        )
        .arg(httpbin.url("/post"))
        .args(["-c", "1", "--max-requests", "6", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), vec![(200, 6)], "{report}");
    for check in [
        r#"body contains "\"who\": \"vu-1\"""#,
        r#"body contains "\"literal\": \"@home\"""#,
        r#"body contains "\"notes\": \"hello file\"""#,
        r#"body matches "multipart/form-data; boundary=kaioken-[0-9a-f]{20}\"""#,
    ] {
        assert_eq!(report.check(check), (6, 0), "{check}\n{report}");
    }
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 6, "{}", httpbin.logs());
    assert!(
        lines
            .iter()
            .all(|l| l.method == "POST" && l.path == "/post"),
        "{lines:?}"
    );
}

#[test]
fn form_flags_make_the_same_body() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .file("data.json", r#"{"k": 1}"#)
        .arg(httpbin.url("/post"))
        .args([
            "-F",
            "a=1",
            "-F",
            "doc=@data.json",
            "-c",
            "1",
            "--max-requests",
            "3",
        ])
        .args(["-d", "60s"])
        .scenario(
            r#"
            [request]
            checks = ['body contains "\"a\": \"1\""', 'body contains "\"doc\": \"{\\\"k\\\": 1}\""']
            "#,
        )
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(
        report.check(r#"body contains "\"a\": \"1\"""#),
        (3, 0),
        "{report}"
    );
    let doc = r#"body contains "\"doc\": \"{\\\"k\\\": 1}\"""#;
    assert_eq!(report.check(doc), (3, 0), "{report}");
    Test::new()
        .args([
            "http://127.0.0.1:9/",
            "-F",
            "a=1",
            "-b",
            "x",
            "--dump",
            "ir",
        ])
        .status(1)
        .stderr_contains(
            "`--form` makes the body: it cannot be used with `--body` or `--body-file`",
        )
        .run();
    Test::new()
        .args(["http://127.0.0.1:9/", "-F", "novalue", "--dump", "ir"])
        .status(1)
        .stderr_contains("invalid value: expected `name=value` or `name=@path`")
        .run();
}
