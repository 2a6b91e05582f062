//! Bad scenarios: exit code 1 and a located diagnostic (file:line:col, the offending
//! text underlined, a help line), never a panic or a backtrace. The wording is the
//! compiler's (`compiler/src/compile_error.rs`); these tests pin stable substrings.

use std::sync::atomic::Ordering;

use crate::harness::{Output, SCENARIO, Test};
use crate::servers::{Behaviour, Server};

/// A port nothing should be listening on; these runs must fail before connecting.
use crate::harness::NOWHERE;

/// The checks every diagnostic must pass: the location `scenario.toml:LINE:COL`
/// (`COL` of `None` accepts any column), the offending text, and an underline.
fn assert_located(out: &Output, line: u32, col: Option<u32>, offending: &str) {
    let stderr = &out.stderr;
    let prefix = format!("{SCENARIO}:{line}:");
    let found = stderr.match_indices(&prefix).any(|(i, _)| {
        let rest = &stderr[i + prefix.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        !digits.is_empty() && col.is_none_or(|c| digits == c.to_string())
    });
    let want = match col {
        Some(c) => format!("{prefix}{c}"),
        None => format!("{prefix}<col>"),
    };
    assert!(found, "stderr does not name {want}:\n{stderr}");
    assert!(
        stderr.contains(offending),
        "stderr does not show the offending text {offending:?}:\n{stderr}"
    );
    assert!(
        stderr.contains('┬') || stderr.contains('^'),
        "stderr has no underline (`─┬─` or `^`):\n{stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "a failed compile printed to stdout:\n{}",
        out.stdout
    );
}

#[test]
fn malformed_toml() {
    let out = Test::new()
        .scenario(
            r#"
            [target
            url = "http://127.0.0.1:9/"
            "#,
        )
        .status(1)
        .stderr_contains("invalid TOML")
        .run();
    assert_located(&out, 1, None, "[target");
}

#[test]
fn unknown_key_suggests_the_closest() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            duraton = "2s"
            "#,
        )
        .status(1)
        .stderr_contains("unknown key `duraton`")
        .stderr_contains("did you mean `duration`?")
        .run();
    assert_located(&out, 5, Some(1), "duraton = \"2s\"");
}

#[test]
fn unknown_key_full_diagnostic() {
    // The whole rendering, underline included (STYLE.md §7: error-rendering tests
    // compare full stderr).
    Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            duraton = "2s"
            "#,
        )
        .status(1)
        .stdout("")
        .stderr(
            "
            kaioken::toml::unknown_key

              × unknown key `duraton`
               ╭─[scenario.toml:5:1]
             4 │ [load]
             5 │ duraton = \"2s\"
               · ───┬───
               ·    ╰── unknown key
               ╰────
              help: did you mean `duration`?
            ",
        )
        .run();
}

#[test]
fn unknown_section() {
    let out = Test::new()
        .scenario(
            r#"
            [targets]
            url = "http://127.0.0.1:9/"
            "#,
        )
        .status(1)
        .stderr_contains("unknown key `targets`")
        .stderr_contains("did you mean `target`?")
        .run();
    assert_located(&out, 1, None, "[targets]");
}

#[test]
fn unparseable_duration() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            duration = "10 parsecs"
            "#,
        )
        .status(1)
        .stderr_contains("invalid duration")
        .stderr_contains("`250ms`")
        .run();
    assert_located(&out, 5, Some(13), "duration = \"10 parsecs\"");
}

#[test]
fn wrong_value_type() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [load]
            vus = "many"
            "#,
        )
        .status(1)
        .stderr_contains("invalid value")
        .run();
    assert_located(&out, 5, None, "vus = \"many\"");
    // A duration written as a bare number is told how to write it.
    let out = Test::new()
        .scenario("[target]\nurl = \"http://127.0.0.1:9/\"\n[load]\nduration = 30\n")
        .status(1)
        .stderr_contains("invalid type: integer `30`, expected a string")
        .stderr_contains("help: write it in quotes; a duration with its unit, e.g. `\"30s\"`")
        .run();
    assert_located(&out, 4, Some(12), "duration = 30");
}

#[test]
fn url_without_scheme() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "127.0.0.1:8080/"
            "#,
        )
        .status(1)
        .stderr_contains("invalid URL")
        .stderr_contains("has no scheme")
        .run();
    assert_located(&out, 2, Some(8), "url = \"127.0.0.1:8080/\"");
}

#[test]
fn url_with_unsupported_scheme() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "ftp://127.0.0.1/"
            "#,
        )
        .status(1)
        .stderr_contains("invalid URL")
        .stderr_contains("`ftp`")
        .run();
    assert_located(&out, 2, None, "ftp://127.0.0.1/");
}

#[test]
fn unknown_variable() {
    let out = Test::new()
        .env_remove("NOPE")
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"

            [request]
            method = "POST"
            body = "id=${NOPE}"
            "#,
        )
        .status(1)
        .stderr_contains("unknown variable `NOPE`")
        .stderr_contains("built-ins are `REQUEST_ID`")
        .run();
    assert_located(&out, 6, None, "body = \"id=${NOPE}\"");
}

#[test]
fn misspelled_builtin_suggests_it() {
    let out = Test::new()
        .env_remove("REQUEST_IDD")
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/${REQUEST_IDD}"
            "#,
        )
        .status(1)
        .stderr_contains("unknown variable `REQUEST_IDD`")
        .stderr_contains("did you mean `REQUEST_ID`?")
        .run();
    assert_located(&out, 2, None, "REQUEST_IDD");
}

#[test]
fn several_errors_are_all_reported() {
    let out = Test::new()
        .env_remove("NOPE")
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/"
            timeout = "soon"

            [request]
            body = "${NOPE}"
            "#,
        )
        .status(1)
        .stderr_contains("invalid duration")
        .stderr_contains("unknown variable `NOPE`")
        .run();
    assert_located(&out, 3, None, "timeout = \"soon\"");
    assert_located(&out, 6, None, "body = \"${NOPE}\"");
}

#[test]
fn missing_scenario_file() {
    Test::new()
        .args(["-f", "does-not-exist.toml"])
        .status(1)
        .stderr_contains("does-not-exist.toml")
        .stderr_lacks("backtrace")
        .run();
}

#[test]
fn bad_duration_flag_names_the_flag() {
    Test::new()
        .args([NOWHERE, "-d", "10 parsecs"])
        .status(1)
        .stderr_contains("invalid duration")
        .stderr_contains("10 parsecs")
        .stderr_contains("--duration")
        .run();
}

#[test]
fn bad_url_argument() {
    Test::new()
        .arg("127.0.0.1:8080/")
        .status(1)
        .stderr_contains("invalid URL")
        .stderr_contains("127.0.0.1:8080/")
        .run();
}

#[test]
fn bad_header_flag() {
    Test::new()
        .args([NOWHERE, "-H", "no colon here"])
        .status(1)
        .stderr_contains("invalid header")
        .stderr_contains("`Name: value`")
        .run();
}

#[test]
fn zero_concurrency_is_out_of_range() {
    Test::new()
        .args([NOWHERE, "-c", "0"])
        .status(1)
        .stderr_contains("out of range")
        .run();
}

/// A scenario that is not UTF-8 text (saved in Latin-1) is told where.
#[test]
fn a_file_that_is_not_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("latin1.toml"),
        b"[target]\nurl = \"http://127.0.0.1:9/caf\xe9\"\n",
    )
    .unwrap();
    Test::in_dir(dir)
        .args(["-f", "latin1.toml", "--dry-run"])
        .status(1)
        .stderr("error: cannot access `latin1.toml`: it is not UTF-8 text: the byte 0xe9 at line 2, column 30 is not UTF-8; save the file as UTF-8\n")
        .run();
}

/// A recording's, a spec's or a collection's flag on a run of something else is an
/// error, not ignored: `--think-time` on a URL would otherwise run without pauses.
#[test]
fn a_flag_for_another_kind_of_scenario_is_an_error() {
    for (flag, what) in [
        (&["--think-time"][..], "a recording (`.har`)"),
        (&["--server", "http://127.0.0.1:9"][..], "an OpenAPI spec"),
        (&["--environment", "env.json"][..], "a Postman collection"),
    ] {
        Test::new()
            .file("env.json", "{}")
            .arg(NOWHERE)
            .args(flag.iter().copied())
            .arg("--dry-run")
            .status(1)
            .stderr_contains(format!(
                "`{}` applies to {what}: this run's scenario is not one",
                flag[0]
            ))
            .run();
    }
}

/// A dry run's plan says the rate cap, as the summary's `Load` line does.
#[test]
fn a_dry_run_says_the_rate_cap() {
    Test::new()
        .args([NOWHERE, "-c", "4", "-d", "3s", "-r", "1000", "--dry-run"])
        .stdout_contains("would run 4 VUs for 3s, rate cap 1000/s\n")
        .run();
}

/// A negative number is the flag's value, out of its range: not an unknown flag
/// (`-r -10` was "unexpected argument '-1'").
#[test]
fn a_negative_rate_is_out_of_range() {
    Test::new()
        .args([NOWHERE, "-r", "-10"])
        .status(1)
        .stderr_contains("`rate` is out of range")
        .run();
}

#[test]
fn missing_cacert_is_located() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "https://127.0.0.1:8443/"
            cacert = "no-such-ca.pem"
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains("no-such-ca.pem")
        .run();
    assert_located(&out, 3, Some(11), "cacert = \"no-such-ca.pem\"");
}

/// A `--cacert` file of something else than certificates fails a dry run as it
/// would fail the run, naming the file, located where it is given (in the file,
/// or at the flag).
#[test]
fn a_cacert_without_certificates_fails_the_dry_run() {
    let text = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    for (contents, why) in [
        ("syntax = \"proto3\";\n", "it holds no PEM certificate"),
        (text, "a certificate in it cannot be read"),
    ] {
        let out = Test::new()
            .file("ca.pem", contents)
            .args(["https://127.0.0.1:8443/", "--cacert", "ca.pem", "--dry-run"])
            .status(1)
            .stderr_contains(format!("invalid value: `ca.pem`: {why}"))
            .stderr_contains("[--cacert \"ca.pem\":1:1]")
            .run();
        assert!(!out.stderr.contains("cannot access"), "{}", out.stderr);
        let out = Test::new()
            .file("ca.pem", contents)
            .scenario("[target]\nurl = \"https://127.0.0.1:8443/\"\ncacert = \"ca.pem\"\n")
            .arg("--dry-run")
            .status(1)
            .stderr_contains(why)
            .run();
        assert_located(&out, 3, Some(11), "cacert = \"ca.pem\"");
    }
}

/// A client certificate and its key (PEM), and a key of another certificate.
fn client_pems() -> (String, String, String) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["client".to_owned()]).expect("certificate");
    let other = rcgen::KeyPair::generate().expect("key");
    (cert.pem(), key_pair.serialize_pem(), other.serialize_pem())
}

#[test]
fn missing_client_certificate_is_located() {
    let out = Test::new()
        .scenario(
            r#"
            [target]
            url = "https://127.0.0.1:8443/"
            cert = "no-such-client.pem"
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains("cannot read `no-such-client.pem`")
        .run();
    assert_located(&out, 3, Some(9), "cert = \"no-such-client.pem\"");
}

/// Each unusable client certificate fails a dry run as it would fail the run: the
/// file named, the flag or the key that gave it underlined, and the key's contents
/// never shown.
#[test]
fn unusable_client_certificates_fail_the_dry_run() {
    let (cert, key, other) = client_pems();
    let secret = other.lines().nth(1).expect("a key line").to_owned();
    let cases: [(&str, &str, &[&str], &str, &str); 4] = [
        // A certificate without its key, and no --key.
        (
            cert.as_str(),
            "",
            &["--cert", "client.pem"],
            "invalid value: `client.pem`: it holds no PEM private key: give the key with `key` (`--key`)",
            "[--cert \"client.pem\":1:1]",
        ),
        // A key where the certificate should be.
        (
            key.as_str(),
            "",
            &["--cert", "client.pem"],
            "invalid value: `client.pem`: it holds no PEM certificate",
            "[--cert \"client.pem\":1:1]",
        ),
        // The key of another certificate.
        (
            cert.as_str(),
            other.as_str(),
            &["--cert", "client.pem", "--key", "client.key"],
            "invalid value: `client.key`: its private key is not the key of the certificate",
            "[--key \"client.key\":1:1]",
        ),
        // A key file without a key.
        (
            cert.as_str(),
            cert.as_str(),
            &["--cert", "client.pem", "--key", "client.key"],
            "invalid value: `client.key`: it holds no PEM private key",
            "[--key \"client.key\":1:1]",
        ),
    ];
    for (cert_file, key_file, flags, why, at) in cases {
        let out = Test::new()
            .file("client.pem", cert_file)
            .file("client.key", key_file)
            .args(["https://127.0.0.1:8443/", "--dry-run"])
            .args(flags)
            .status(1)
            .stderr_contains(why)
            .stderr_contains(at)
            .run();
        assert!(!out.stderr.contains(&secret), "{}", out.stderr);
        assert!(!out.stderr.contains("backtrace"), "{}", out.stderr);
    }
    // In the scenario: at the `key` that names the other certificate's key.
    let out = Test::new()
        .file("client.pem", &cert)
        .file("client.key", &other)
        .scenario(
            "[target]\nurl = \"https://127.0.0.1:8443/\"\ncert = \"client.pem\"\nkey = \"client.key\"\n",
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains("is not the key of the certificate")
        .run();
    assert_located(&out, 4, Some(8), "key = \"client.key\"");
    assert!(!out.stderr.contains(&secret), "{}", out.stderr);
    // A `key` with no `cert`.
    let out = Test::new()
        .file("client.key", &key)
        .args([
            "https://127.0.0.1:8443/",
            "--key",
            "client.key",
            "--dry-run",
        ])
        .status(1)
        .stderr_contains("`key` is the private key of a client certificate")
        .run();
    assert!(!out.stderr.contains("backtrace"), "{}", out.stderr);
}

/// A fragment is never sent to a server: it is an error wherever it stands in the URL,
/// after a `${…}` too.
#[test]
fn url_fragments_are_rejected() {
    for url in [
        "http://127.0.0.1:9/a#top",
        "http://127.0.0.1:9/a/${VU}?b=1#top",
    ] {
        let out = Test::new()
            .scenario(&format!("[target]\nurl = \"{url}\"\n"))
            .arg("--dry-run")
            .status(1)
            .stderr_contains("fragment `#top` is never sent to a server")
            .run();
        assert_located(&out, 2, None, url);
    }
}

/// A line too long to print whole (a long URL, a HAR recording's one-line body) is
/// shown as a window around the problem: the location is still the real line and
/// column, the offending text is underlined, and the 70 KB line is not printed.
#[test]
fn a_problem_on_a_very_long_line_is_shown_in_a_window() {
    let long = "a".repeat(70_000);
    // A flag value: one line, the problem at its end.
    let url = format!("http://127.0.0.1:9/{long}${{NOPE}}");
    let out = Test::new()
        .env_remove("NOPE")
        .args([url.as_str(), "--dry-run"])
        .status(1)
        .stderr_contains("unknown variable `NOPE`")
        .stderr_contains(format!(
            ":1:{}]",
            "http://127.0.0.1:9/".len() + long.len() + 1
        ))
        .stderr_contains("aaaa${NOPE}")
        .stderr_contains("───┬───")
        .stderr_contains("╰── not a built-in or environment variable")
        .run();
    assert!(out.stderr.len() < 2_000, "{}", out.stderr);

    // A scenario file: the long line between two short ones.
    let out = Test::new()
        .env_remove("NOPE")
        .scenario(&format!(
            "[target]\nurl = \"http://127.0.0.1:9/{long}${{NOPE}}/{long}\"\n[load]\nvus = 1\n"
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains("unknown variable `NOPE`")
        .run();
    assert_located(&out, 2, Some(27 + 70_000), "aaaa${NOPE}/aaaa");
    assert!(out.stderr.len() < 2_000, "{}", out.stderr);

    // A HAR recording whose one line breaks off 130 KB in.
    let har = format!(
        r#"{{"log": {{"comment": "{}", "entries": [}}"#,
        "b".repeat(130_000)
    );
    let column = har.len();
    let out = Test::new()
        .file("long.har", &har)
        .args(["long.har", "--dry-run"])
        .status(1)
        .stderr_contains("invalid JSON")
        .stderr_contains(format!("long.har:1:{column}]"))
        .stderr_contains("bbbb\", \"entries\": [}")
        .stderr_contains("┬")
        .run();
    assert!(out.stderr.len() < 2_000, "{}", out.stderr);
}

/// Every duration is at most 2400h (100 days): longer is a located error naming the
/// maximum, wherever it is written, instead of an overflow adding stages up, adding
/// the warm-up to the run, converting a check's time, or at run time.
#[test]
fn durations_longer_than_the_maximum_are_located_errors() {
    let huge = "18446744073709551615s";
    Test::new()
        .args([NOWHERE, "-d", huge])
        .status(1)
        .stderr_contains(format!(
            "duration `{huge}` for `duration` is longer than the maximum, 2400h (100 days)"
        ))
        .stderr_contains(format!("--duration \"{huge}\":1:1]"))
        .stderr_contains("at most `2400h`")
        .run();
    Test::new()
        .args([NOWHERE, "-d", "1000000h", "--dry-run"])
        .status(1)
        .stderr_contains("duration `1000000h` for `duration` is longer than the maximum")
        .run();

    let out = Test::new()
        .scenario(&format!(
            r#"
            [target]
            url = "{NOWHERE}"

            [request]
            checks = ["duration < {huge}"]

            [[stages]]
            duration = "10000000000000000000s"
            target = 1

            [[stages]]
            duration = "10000000000000000000s"
            target = 1

            [thresholds]
            p99 = "< {huge}"
            "#
        ))
        .arg("--dry-run")
        .status(1)
        .stderr_contains(
            "duration `10000000000000000000s` for `duration` is longer than the maximum",
        )
        .stderr_contains("duration is longer than the maximum, 2400h (100 days)")
        .run();
    assert_located(&out, 5, Some(23), huge);
    for (line, column) in [(8, 13), (12, 13), (16, 10)] {
        assert!(
            out.stderr.contains(&format!("{SCENARIO}:{line}:{column}]")),
            "{line}:{column} not named:\n{}",
            out.stderr
        );
    }

    Test::new()
        .args([
            NOWHERE,
            "--warmup",
            "2401h",
            "-d",
            "2400h",
            "--ramp-up",
            "1s",
        ])
        .arg("--dry-run")
        .status(1)
        .stderr_contains("duration `2401h` for `warmup` is longer than the maximum")
        .stderr_lacks("`duration`")
        .run();
}

/// The maximum itself is a valid run: two stages of it after a warm-up of it, a
/// ramp-up of it, and a run of it cut short by `--max-requests`, which sends
/// exactly that many.
#[test]
fn the_longest_duration_is_accepted_and_runs() {
    let out = Test::new()
        .scenario(&format!(
            r#"
            [target]
            url = "{NOWHERE}"

            [[stages]]
            duration = "2400h"
            target = 1

            [[stages]]
            duration = "2400h"
            target = 2

            [load]
            vus = 1
            warmup = "2400h"
            "#
        ))
        .arg("--dry-run")
        .run();
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let out = Test::new()
        .args([
            NOWHERE,
            "-d",
            "2400h",
            "--warmup",
            "2400h",
            "--ramp-up",
            "2400h",
        ])
        .arg("--dry-run")
        .run();
    assert!(out.stderr.is_empty(), "{}", out.stderr);

    let server = Server::start(Behaviour::Ok);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "1", "-d", "2400h", "--max-requests", "3"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.total"), 3, "{report}");
    assert_eq!(report.u64("requests.responses"), 3, "{report}");
    assert_eq!(server.counts().requests.load(Ordering::SeqCst), 3);
}
