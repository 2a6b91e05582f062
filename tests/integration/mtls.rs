//! Client certificates (mutual TLS, `--cert`/`--key`, `cert`/`key` in `[target]`)
//! against nginx with `ssl_verify_client on`: without a certificate every request
//! is a 400, counted as an unexpected status; with one, every request is served,
//! and the counts are nginx's.

use crate::harness::Test;
use crate::nginx::{Nginx, Variant};

/// The load of these runs: a known number of requests.
const REQUESTS: u64 = 60;

fn load() -> [&'static str; 6] {
    ["-c", "3", "--max-requests", "60", "-d", "60s"]
}

/// On both engines: no certificate, 400s (exit 1, every one unexpected); a
/// certificate and its key, 200s; each counted as nginx logged it.
#[test]
fn mtls_without_a_certificate_400s_with_one_200s() {
    for engine in ["tokio", "io_uring"] {
        let nginx = Nginx::start(Variant::TlsClientAuth);
        let out = Test::new()
            .arg(nginx.url("/"))
            .arg("--cacert")
            .arg(nginx.ca_path())
            .args(load())
            .on_engine(engine)
            .status(1)
            .report()
            .run();
        let report = out.report();
        report.check_invariants(out.exit_code);
        let (lines, context) = nginx.logged_as_counted(&report, engine, REQUESTS);
        assert_eq!(report.status_codes(), [(400, REQUESTS)], "{context}");
        assert_eq!(
            report.u64("requests.unexpected_status"),
            REQUESTS,
            "{context}"
        );
        assert_eq!(report.u64("requests.errors"), 0, "{context}");
        drop(lines);
        drop(nginx);

        let nginx = Nginx::start(Variant::TlsClientAuth);
        let out = Test::new()
            .arg(nginx.url("/"))
            .arg("--cacert")
            .arg(nginx.ca_path())
            .arg("--cert")
            .arg(nginx.client_cert_path())
            .arg("--key")
            .arg(nginx.client_key_path())
            .args(load())
            .on_engine(engine)
            .report()
            .run();
        let report = out.report();
        report.check_invariants(out.exit_code);
        let (lines, context) = nginx.logged_as_counted(&report, engine, REQUESTS);
        assert_eq!(report.status_codes(), [(200, REQUESTS)], "{context}");
        assert!(lines.iter().all(|l| l.status == 200), "{context}");
        assert_eq!(report.u64("requests.unexpected_status"), 0, "{context}");
    }
}

/// One file holding the certificate and its key, as curl's `--cert` takes it, over
/// HTTP/2 too, and with `--insecure` (which skips checking the server, not
/// showing ours).
#[test]
fn mtls_one_file_with_both_over_http1_and_http2_and_insecure() {
    let nginx = Nginx::start(Variant::TlsClientAuth);
    let both = nginx.client_cert_path().with_file_name("client-both.pem");
    let mut served = 0;
    for extra in [
        &["--http2", "--cacert"][..],
        &["--cacert"][..],
        &["--insecure", "--http2"][..],
    ] {
        let mut test = Test::new().arg(nginx.url("/")).args(extra);
        if extra.contains(&"--cacert") {
            test = test.arg(nginx.ca_path());
        }
        let out = test
            .arg("--cert")
            .arg(&both)
            .args(load())
            .on_engine("tokio")
            .report()
            .run();
        let report = out.report();
        assert_eq!(
            report.status_codes(),
            [(200, REQUESTS)],
            "{extra:?}\n{report}"
        );
        served += REQUESTS;
    }
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len() as u64, served, "{}", nginx.logs());
    assert!(lines.iter().all(|l| l.status == 200), "{lines:?}");
    assert!(lines.iter().any(|l| l.protocol == "HTTP/2.0"), "{lines:?}");
}

/// `cert` and `key` in `[target]`, relative to the scenario's folder as `cacert`
/// is; the IR dump names the files and never shows the key.
#[test]
fn mtls_from_the_scenario_file_relative_to_its_folder() {
    let nginx = Nginx::start(Variant::TlsClientAuth);
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).expect("read a PEM file");
    let key = read(nginx.client_key_path());
    let scenario = format!(
        "[target]\nurl = \"{}\"\ncacert = \"ca.pem\"\ncert = \"client.pem\"\nkey = \"client.key\"\n",
        nginx.url("/")
    );
    let files = |t: Test| {
        t.file("ca.pem", &read(nginx.ca_path()))
            .file("client.pem", &read(nginx.client_cert_path()))
            .file("client.key", &key)
            .scenario(&scenario)
    };
    let out = files(Test::new())
        .args(load())
        .on_engine("io_uring")
        .report()
        .run();
    let report = out.report();
    let (_, context) = nginx.logged_as_counted(&report, "io_uring", REQUESTS);
    assert_eq!(report.status_codes(), [(200, REQUESTS)], "{context}");

    let key_line = key.lines().nth(1).expect("a key's first base64 line");
    for dump in [&["--dump", "ir"][..], &["--dry-run"][..]] {
        let out = files(Test::new()).args(dump).run();
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(!all.contains(key_line), "{dump:?} shows the key:\n{all}");
        assert!(!all.contains("PRIVATE KEY"), "{dump:?}:\n{all}");
        if dump[0] == "--dump" {
            assert!(
                all.contains("client.key\""),
                "{dump:?} names the key file:\n{all}"
            );
        }
    }
}
