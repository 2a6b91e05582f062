//! Limits of the machine: open files, and a target nothing listens at. A run that
//! cannot fit under the open-file limit is refused before it starts, saying what it
//! needs and how to raise the limit; failed connects back off instead of spinning.

use std::ffi::OsString;
use std::sync::atomic::Ordering;

use super::{ENGINES, on_engine, run_measured};
use crate::harness::Test;
use crate::nginx::{Nginx, Variant, free_port};
use crate::servers::{Behaviour, Server};

/// Under `prlimit --nofile=64:64`, 100 VUs cannot have a connection each: the run
/// is refused before any load, with the numbers and the way out.
#[test]
fn too_many_vus_for_the_open_file_limit_is_refused_before_the_run() {
    let server = Server::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let args: Vec<OsString> = [
        server.url().as_str(),
        "-c",
        "100",
        "--threads",
        "1",
        "-d",
        "5s",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let run = run_measured(dir.path(), &["prlimit", "--nofile=64:64", "--"], &args, &[]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr,
        "error: 100 VUs need about 136 open files (a connection each, and some of \
         kaioken's own), but this process may open 64 (`ulimit -n`), its hard limit; \
         raise the hard limit as root (`ulimit -Hn 136`, `LimitNOFILE=` for a systemd \
         service, or `nofile` in /etc/security/limits.conf), or run fewer VUs\n"
    );
    assert_eq!(server.counts().connections.load(Ordering::SeqCst), 0);
    // A soft limit below the hard one is raised: the same run fits under 64:4096.
    let args: Vec<OsString> = [
        server.url().as_str(),
        "-c",
        "100",
        "--threads",
        "1",
        "--max-requests",
        "300",
        "-d",
        "30s",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let run = run_measured(
        dir.path(),
        &["prlimit", "--nofile=64:4096", "--"],
        &args,
        &[],
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(server.counts().responses.load(Ordering::SeqCst), 300);
    assert_eq!(server.counts().connections.load(Ordering::SeqCst), 100);
}

/// A target nothing listens at, for 2s: each VU backs off after every refused
/// connect (10ms, doubling to 250ms), so the attempts stay few — every one counted
/// as `connect_refused` — instead of tens of thousands a second.
#[test]
fn refused_connects_back_off() {
    const VUS: u64 = 2;
    // Attempts at 0, 10, 30, 70, 150, 310, 560, 810, ..., 1810ms: 12 within 2s.
    const MOST_PER_VU: u64 = 13;
    for (env, engine) in ENGINES {
        let port = free_port();
        let test = Test::new()
            .arg(format!("http://127.0.0.1:{port}/"))
            .args(["-c", &VUS.to_string(), "-d", "2s"])
            .status(1)
            .report();
        let report = on_engine(test, env).run().report();
        report.check_invariants(1);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let total = report.u64("requests.total");
        assert_eq!(
            report.error_classes(),
            vec![("connect_refused".to_owned(), total)],
            "{engine}\n{report}"
        );
        assert!(
            (VUS * 6..=VUS * MOST_PER_VU).contains(&total),
            "{engine}: {total} attempts in 2s\n{report}"
        );
    }
}

/// Out of file descriptors mid-run: 100 VUs fit under `--nofile=150` with one
/// connection each, but a redirect to a second origin (`localhost` for `127.0.0.1`)
/// asks for a second one each. The VUs that cannot have it fail with "Too many open
/// files", back off (a few attempts a second each, not hundreds of thousands in all),
/// and the VUs that still have their connections keep being answered.
#[test]
fn out_of_file_descriptors_mid_run_backs_off() {
    const VUS: u64 = 100;
    // Attempts at 0, 10, 30, 70, 150, 310, 560, 810, ..., 1810ms: 12 within 2s.
    const MOST_PER_VU: u64 = 13;
    let nginx = Nginx::start(Variant::Http1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let args: Vec<OsString> = [
        nginx.url("/elsewhere").as_str(),
        "-c",
        &VUS.to_string(),
        "--threads",
        "1",
        "-d",
        "2s",
        "--max-error-rate",
        "1",
        "-o",
        "report.json",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let run = run_measured(
        dir.path(),
        &["prlimit", "--nofile=150:150", "--"],
        &args,
        &[("KAIOKEN_NO_IO_URING", "1")],
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let text = std::fs::read_to_string(dir.path().join("report.json")).expect("the report");
    let report = crate::harness::Report(serde_json::from_str(&text).expect("JSON"));
    report.check_invariants(0);
    let failed = report.u64("requests.errors");
    assert!(failed > 0, "no VU ran out of file descriptors\n{report}");
    for (class, _) in report.error_classes() {
        assert!(
            class == "connect" || class == "dns",
            "{class} is not a failure to connect\n{report}"
        );
        let detail = report.str(&format!("error_details.{class}"));
        assert!(detail.contains("Too many open files"), "{report}");
    }
    assert!(
        failed <= VUS * MOST_PER_VU,
        "{failed} failed attempts in 2s: no back-off\n{report}"
    );
    let responses = report.u64("requests.responses");
    assert!(
        responses > 2 * failed,
        "{responses} responses for {failed} failed connects: the healthy VUs starved\n{report}"
    );
}
