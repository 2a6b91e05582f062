//! Secrets never reach the output. One rule (`kaioken_vm::Redact`) hides the values
//! of credential headers (`authorization`, `cookie`, `x-api-key`, …), of credential
//! query keys (`token`, `api_key`, …), URL passwords, and whatever `--redact NAME`
//! or `redact = [...]` adds, in every printer: diagnostics, `--dry-run`, `--dump ir`,
//! `--dump bytecode` (no lengths either), the JSON report, the summary and
//! `compare`. The requests themselves carry the real values (httpbin's access log
//! shows them).

use serde_json::Value;

use crate::harness::Test;
use crate::httpbin::Httpbin;

/// Every secret the scenarios below hold; none may be printed.
const SECRETS: [&str; 9] = [
    "QTOKEN1",
    "QAPIKEY2",
    "HAUTH3",
    "HKEY4",
    "HCOOKIE5",
    "HTOKEN6",
    "HCUSTOM7",
    "HTENANT8",
    "FPASSWORD9",
];

/// A scenario with a secret in each place the rule covers; `x-tenant` is named by
/// `redact`, `x-custom` is left to `--redact`.
fn scenario(url: &str) -> String {
    format!(
        r#"
        redact = ["X-Tenant"]

        [target]
        url = "{url}?token=QTOKEN1&page=2&api_key=QAPIKEY2"

        [request]
        method = "POST"
        body = "user=alice&password=FPASSWORD9"
        headers = {{ authorization = "Bearer HAUTH3", x-api-key = "HKEY4", cookie = "s=HCOOKIE5", x-auth-token = "HTOKEN6", x-custom = "HCUSTOM7", x-tenant = "HTENANT8", accept = "text/shown" }}
        "#
    )
}

fn assert_hidden(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

#[test]
fn dumps_and_dry_runs_hide_every_secret() {
    for args in [
        &["--dry-run"][..],
        &["--dump", "ir"],
        &["--dump", "bytecode"],
    ] {
        let out = Test::new()
            .scenario(&scenario("http://127.0.0.1:9/items"))
            .args(["--redact", "X-CUSTOM"])
            .args(args.iter().copied())
            .run();
        assert_hidden(&format!("{args:?}"), &out.stdout);
        assert_hidden(&format!("{args:?} stderr"), &out.stderr);
        // What is not secret is shown, and no length of what is.
        for shown in ["text/shown", "page=2", "user=alice", "<redacted>"] {
            assert!(
                out.stdout.contains(shown),
                "{args:?}: {shown}\n{}",
                out.stdout
            );
        }
        assert!(!out.stdout.contains("bytes>"), "{args:?}:\n{}", out.stdout);
    }
    // The IR dump line by line: each secret header's value, the query, the body.
    let out = Test::new()
        .scenario(&scenario("http://127.0.0.1:9/items"))
        .args(["--redact", "x-custom", "--dry-run"])
        .run();
    for line in [
        r#"step s0 "request" POST o0 "/items?token=<redacted>&page=2&api_key=<redacted>""#,
        r#"header "authorization" = "<redacted>""#,
        r#"header "x-custom" = "<redacted>""#,
        r#"header "x-tenant" = "<redacted>""#,
        r#"body "user=alice&password=<redacted>""#,
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
    // Without `--redact`, `x-custom` is not a secret.
    Test::new()
        .scenario(&scenario("http://127.0.0.1:9/items"))
        .arg("--dry-run")
        .stdout_contains(r#"header "x-custom" = "HCUSTOM7""#)
        .run();
}

/// A real run: httpbin receives the real values (its access log has the query), and
/// neither the summary, nor the JSON report (`-o` and `--json`), nor stderr shows
/// them.
#[test]
fn runs_send_secrets_but_reports_and_summaries_hide_them() {
    let httpbin = Httpbin::start();
    for json in [false, true] {
        let mut test = Test::new()
            .scenario(&scenario(&httpbin.url("/anything")))
            .args(["--redact", "x-custom", "-n", "3", "-c", "1"])
            .report();
        if json {
            test = test.arg("--json");
        }
        let out = test.run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(report.status_codes(), [(200, 3)], "{report}");
        assert_eq!(
            report.str("target.url"),
            format!(
                "{}?token=<redacted>&page=2&api_key=<redacted>",
                httpbin.url("/anything")
            )
        );
        let file = std::fs::read_to_string(out.dir.path().join("report.json")).unwrap();
        assert_hidden("the report", &file);
        assert_hidden("stdout", &out.stdout);
        assert_hidden("stderr", &out.stderr);
        if !json {
            assert!(
                out.stdout.contains("/anything?token=<redacted>&page=2"),
                "{}",
                out.stdout
            );
        }
    }
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 6, "{}", httpbin.logs());
    for l in &lines {
        assert_eq!(l.query, "token=QTOKEN1&page=2&api_key=QAPIKEY2", "{l:?}");
        assert_eq!(l.cookie, "s=HCOOKIE5", "{l:?}");
    }
}

/// Diagnostics quote the source: a flag (whose value is also the source's name) or
/// a line of the file. Secrets in it are hidden and the underline still points at
/// the error.
#[test]
fn diagnostics_hide_secrets_in_the_quoted_source() {
    Test::new()
        .args([
            "http://127.0.0.1:9/",
            "-H",
            "Authorization: Bearer SECRET123${NOPE}",
            "--dry-run",
        ])
        .status(1)
        .stderr(
            "kaioken::compile::unknown_variable

  × unknown variable `NOPE`
   ╭─[--header \"Authorization: <redacted>${NOPE}\":1:32]
 1 │ Authorization: <redacted>${NOPE}
   ·                          ───┬───
   ·                             ╰── not a built-in or environment variable
   ╰────
  help: built-ins are `REQUEST_ID`, `TIMESTAMP_MS`, `VU`, `ITERATION`, `UUID` and
        `RANDOM(min,max)`; any other name must be extracted by an earlier step or be an
        environment variable
",
        )
        .run();
    // A line of the file with secrets around the error, one named by `redact`.
    let out = Test::new()
        .scenario(
            r#"
            redact = ["x-tenant"]
            [target]
            url = "http://127.0.0.1:9/a?token=QTOKEN1"
            [request]
            headers = { x-api-key = "HKEY4", x-tenant = "HTENANT8", x-trace = "${NOPE}" }
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains(
            r#"headers = { x-api-key = "<redacted>", x-tenant = "<redacted>", x-trace = "${NOPE}" }"#,
        )
        .stderr_contains("unknown variable `NOPE`")
        .run();
    assert_hidden("stderr", &out.stderr);
    // A password in a URL, in the flag's name, the source and the message.
    let out = Test::new()
        .args([
            "http://me:PASS5WORD@127.0.0.1:9/?api_key=QAPIKEY2",
            "--dry-run",
        ])
        .status(1)
        .stderr_contains("url \"http://me:<redacted>@127.0.0.1:9/?api_key=<redacted>\"")
        .stderr_contains("credentials in the URL are not supported")
        .run();
    assert!(!out.stderr.contains("PASS5WORD"), "{}", out.stderr);
    assert_hidden("stderr", &out.stderr);
    // `--redact` reaches diagnostics too; without it, the value is shown.
    let custom = [
        "http://127.0.0.1:9/",
        "-H",
        "X-Custom: HCUSTOM7${NOPE}",
        "--dry-run",
    ];
    Test::new()
        .args(custom)
        .args(["--redact", "x-custom"])
        .status(1)
        .stderr_contains("X-Custom: <redacted>${NOPE}")
        .stderr_lacks("HCUSTOM7")
        .run();
    Test::new()
        .args(custom)
        .status(1)
        .stderr_contains("X-Custom: HCUSTOM7${NOPE}")
        .run();
}

/// `redact` takes names: anything else is an error naming it.
#[test]
fn redact_in_a_scenario_takes_names() {
    Test::new()
        .scenario(
            r#"
            redact = ["x-ok", "not a name"]
            [target]
            url = "http://127.0.0.1:9/"
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains("`redact` takes header names and query keys; `not a name` is neither")
        .run();
}

/// `compare` prints the target URLs that differ: with their secrets hidden, even
/// from a report written before reports hid them, and with its own `--redact`.
#[test]
fn compare_hides_secrets_in_the_urls_it_prints() {
    let out = Test::new()
        .args(["http://127.0.0.1:9/", "-n", "1", "--max-error-rate", "1"])
        .report()
        .run();
    let mut base = out.report().0;
    let mut current = base.clone();
    base["target"]["url"] = Value::from("http://127.0.0.1:9/?token=QTOKEN1&tenant=T1");
    current["target"]["url"] = Value::from("http://127.0.0.1:9/?token=OTHER&tenant=T2");
    let dir = tempfile::tempdir().unwrap();
    for (name, report) in [("base.json", &base), ("current.json", &current)] {
        std::fs::write(dir.path().join(name), report.to_string()).unwrap();
    }
    let out = Test::in_dir(dir)
        .without_no_tui()
        .args(["compare", "base.json", "current.json", "--redact", "tenant"])
        .stderr_contains(
            "warning: target/url differs: http://127.0.0.1:9/?token=<redacted>&tenant=<redacted> \
             vs http://127.0.0.1:9/?token=<redacted>&tenant=<redacted>",
        )
        .run();
    for secret in ["QTOKEN1", "OTHER", "T1", "T2"] {
        assert!(!out.stderr.contains(secret), "{secret}:\n{}", out.stderr);
        assert!(!out.stdout.contains(secret), "{secret}:\n{}", out.stdout);
    }
}
