//! `-a`/`--basic-auth` and `--bearer` against httpbin, which checks credentials
//! (`/basic-auth/USER/PASSWORD` answers 401 to wrong ones, `/bearer` to a missing
//! token) and echoes the token: what went over the wire, and that dumps hide it.

use crate::harness::Test;
use crate::httpbin::Httpbin;

#[test]
fn basic_auth_is_accepted_by_the_server_and_wrong_credentials_are_not() {
    let httpbin = Httpbin::start();
    let url = httpbin.url("/basic-auth/alice/s3cret");
    let right = Test::new()
        .arg(&url)
        .args(["-a", "alice:s3cret", "-c", "2", "--max-requests", "20"])
        .args(["-d", "60s"])
        .report()
        .run()
        .report();
    right.check_invariants(0);
    assert_eq!(right.status_codes(), vec![(200, 20)], "{right}");
    let wrong = Test::new()
        .arg(&url)
        .args(["-a", "alice:guess", "-c", "1", "--max-requests", "5"])
        .args(["-d", "60s", "--expect-status", "401"])
        .report()
        .run()
        .report();
    wrong.check_invariants(0);
    assert_eq!(wrong.status_codes(), vec![(401, 5)], "{wrong}");
    let lines = httpbin.access_log_lines();
    let count = |status| lines.iter().filter(|l| l.status == status).count();
    assert_eq!((count(200), count(401)), (20, 5), "{}", httpbin.logs());
}

#[test]
fn bearer_is_a_template_the_server_sees() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .arg(httpbin.url("/bearer"))
        .args(["--bearer", "tok-${VU}", "-c", "1", "--max-requests", "10"])
        .args(["-d", "60s"])
        .scenario(
            r#"
            [request]
            checks = ['body contains "\"token\": \"tok-1\""']
            "#,
        )
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), vec![(200, 10)], "{report}");
    assert_eq!(
        report.check("body contains \"\\\"token\\\": \\\"tok-1\\\"\""),
        (10, 0),
        "{report}"
    );
    // An -H of its own replaces it: httpbin refuses a scheme other than Bearer.
    let replaced = Test::new()
        .arg(httpbin.url("/bearer"))
        .args(["--bearer", "tok", "-H", "Authorization: Token x"])
        .args([
            "-c",
            "1",
            "--max-requests",
            "3",
            "-d",
            "60s",
            "--expect-status",
            "401",
        ])
        .report()
        .run()
        .report();
    assert_eq!(replaced.status_codes(), vec![(401, 3)], "{replaced}");
}

#[test]
fn credentials_stay_out_of_dumps_and_diagnostics() {
    let out = Test::new()
        .args(["http://127.0.0.1:9/", "-a", "alice:s3cret", "--dump", "ir"])
        .run();
    let dump = &out.stdout;
    assert!(
        dump.contains(r#"header "authorization" = "<redacted>""#),
        "{dump}"
    );
    assert!(!dump.contains("YWxpY2U6czNjcmV0"), "{dump}");
    Test::new()
        .args(["http://127.0.0.1:9/", "-a", "alice", "--dump", "ir"])
        .status(1)
        .stderr_contains(
            "invalid value: `--basic-auth` expects `user:password` (the password may be \
             empty: `user:`)",
        )
        .run();
    let out = Test::new()
        .args([
            "http://127.0.0.1:9/",
            "-a",
            "alice:s3cret",
            "--bearer",
            "t0ken",
        ])
        .status(1)
        .stderr_contains("`--basic-auth` and `--bearer` both set `Authorization`; give one")
        .run();
    let err = &out.stderr;
    assert!(!err.contains("s3cret") && !err.contains("t0ken"), "{err}");
}
