//! Ctrl-C: the run stops, exits 130, and still writes its report and summary. A
//! second Ctrl-C cuts off requests still in flight.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::harness::{Report, kaioken_path};
use crate::nginx::{Nginx, Variant};
use crate::servers::{Behaviour, Server};

/// A `kaioken` run in the background, its output going to files; killed if the
/// test fails before it ends, so it does not outlive the test.
struct Run {
    child: Child,
    dir: tempfile::TempDir,
}

impl Run {
    fn start(args: &[&str]) -> Run {
        Run::start_in(tempfile::tempdir().expect("temporary directory"), args)
    }

    /// Start in `dir`, which may hold files already (an earlier report).
    fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Run {
        let child = Command::new(kaioken_path())
            .current_dir(dir.path())
            .args(args)
            .args(["-o", "report.json", "--no-tui"])
            .env("RUST_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(File::create(dir.path().join("stdout")).expect("stdout file"))
            .stderr(File::create(dir.path().join("stderr")).expect("stderr file"))
            .spawn()
            .expect("spawn kaioken");
        Run { child, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn output(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            read(&self.path("stdout")),
            read(&self.path("stderr"))
        )
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.path("stdout")).unwrap_or_default()
    }

    /// Panics if the run has already ended.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            panic!("kaioken exited early with {status}\n{}", self.output());
        }
    }

    fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "kaioken still running {limit:?} after SIGINT\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn report(&self) -> Report {
        let text = std::fs::read_to_string(self.path("report.json"))
            .unwrap_or_else(|e| panic!("no report.json after SIGINT ({e})\n{}", self.output()));
        Report(serde_json::from_str(&text).expect("report.json is JSON"))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn sigint_stops_the_run_and_writes_the_report() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/");
    let mut run = Run::start(&[&url, "-c", "4", "-d", "30s"]);

    // Interrupt once traffic is flowing (nginx has logged requests), and at least
    // a second in, so the run is well past its start-up.
    let started = Instant::now();
    while nginx.access_log_len_now() == 0 || started.elapsed() < Duration::from_millis(1500) {
        run.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no traffic reached nginx within 20s\n{}",
            nginx.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run.sigint();
    let status = run.wait(Duration::from_secs(15));
    let context = format!("status {status}\n{}", run.output());
    assert_eq!(status.code(), Some(130), "{context}");
    assert!(!context.contains("panicked"), "{context}");

    let report = run.report();
    report.check_invariants(130);
    assert!(report.bool("outcome.interrupted"), "{report}");
    assert_eq!(report.str("outcome.stop_reason"), "interrupted", "{report}");
    assert!(report.u64("requests.total") > 0, "{report}");
    assert!(
        report.f64("elapsed_s") < 20.0,
        "the run did not stop early\n{report}"
    );
    // A first Ctrl-C lets in-flight requests finish: still nothing lost.
    assert_eq!(report.u64("requests.unfinished"), 0, "{report}");
    assert_eq!(
        report.u64("requests.responses"),
        nginx.access_log_lines().len() as u64,
        "kaioken's responses != nginx's access log lines\n{report}"
    );
    // The summary is printed as for a normal run, with the same count.
    let total = group_thousands(report.u64("requests.total"));
    assert!(
        run.stdout().contains(&format!("{total} total")),
        "the summary on stdout does not show {total} requests\n{context}\n{report}"
    );
}

#[test]
fn second_sigint_cuts_off_requests_in_flight() {
    let server = Server::start(Behaviour::Stall);
    let url = server.url();
    let mut run = Run::start(&[&url, "-c", "3", "-d", "30s", "--timeout", "60s"]);

    // Wait until all three VUs have a request stuck at the server.
    let started = Instant::now();
    while server.counts().requests.load(Ordering::SeqCst) < 3 {
        run.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the requests did not reach the server within 20s\n{}",
            run.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run.sigint();
    // Two signals sent back to back can be delivered as one; space them.
    std::thread::sleep(Duration::from_millis(300));
    if run.child.try_wait().expect("wait").is_none() {
        run.sigint();
    }
    let status = run.wait(Duration::from_secs(10));
    let context = format!("status {status}\n{}", run.output());
    assert_eq!(status.code(), Some(130), "{context}");

    let report = run.report();
    report.check_invariants(130);
    assert_eq!(report.str("outcome.stop_reason"), "interrupted", "{report}");
    assert_eq!(report.u64("requests.total"), 0, "{report}");
    assert_eq!(
        report.u64("requests.unfinished"),
        3,
        "the three stalled requests are cut off, in no other count\n{report}"
    );
}

/// A signal while the run waits for its requests in flight after its duration
/// (up to 5 s) cuts the wait to a second from the signal, and the run counts as
/// interrupted: exit 130, though it stopped for its duration. Before, the signal
/// was lost: the run waited out the grace and exited as if uninterrupted.
#[test]
fn sigint_while_requests_finish_after_the_duration() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let server = Server::start(Behaviour::Stall);
        let url = server.url();
        let mut run = Run::start(&[&url, "-c", "3", "-d", "1s", "--timeout", "60s"]);
        let started = Instant::now();
        // The duration is over at 1 s; interrupt in the grace after it.
        while started.elapsed() < Duration::from_millis(1800) {
            run.assert_running();
            std::thread::sleep(Duration::from_millis(20));
        }
        run.signal(signal);
        let interrupted = Instant::now();
        let status = run.wait(Duration::from_secs(10));
        let waited = interrupted.elapsed();
        let context = format!(
            "signal {signal}: status {status} after {waited:?}\n{}",
            run.output()
        );
        assert_eq!(status.code(), Some(130), "{context}");
        // A second for requests in flight, and the report: not the rest of 5 s.
        assert!(waited < Duration::from_millis(2500), "{context}");
        let report = run.report();
        report.check_invariants(130);
        assert!(report.bool("outcome.interrupted"), "{report}");
        assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
        assert_eq!(report.u64("requests.unfinished"), 3, "{report}");
    }
}

/// SIGTERM and SIGHUP (what `timeout`, Kubernetes and CI runners send) stop a run as
/// SIGINT does: requests in flight finish, the full report is written, exit 130. Until
/// then the report of an earlier run at the same path is left whole: the new one
/// replaces it in one step, never truncated first.
#[test]
fn sigterm_and_sighup_stop_like_sigint_and_keep_the_earlier_report_until_then() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/");
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let earlier = "{\"an earlier\": \"report\"}\n";
        std::fs::write(dir.path().join("report.json"), earlier).unwrap();
        let mut run = Run::start_in(dir, &[&url, "-c", "2", "-d", "30s"]);
        let started = Instant::now();
        while nginx.access_log_len_now() == 0 || started.elapsed() < Duration::from_millis(1000) {
            run.assert_running();
            assert!(started.elapsed() < Duration::from_secs(20), "no traffic");
            std::thread::sleep(Duration::from_millis(50));
        }
        let during = std::fs::read_to_string(run.path("report.json")).unwrap();
        assert_eq!(
            during, earlier,
            "the earlier report was touched during the run"
        );
        run.signal(signal);
        let status = run.wait(Duration::from_secs(15));
        let context = format!("signal {signal}: status {status}\n{}", run.output());
        assert_eq!(status.code(), Some(130), "{context}");
        let report = run.report();
        report.check_invariants(130);
        assert_eq!(report.str("outcome.stop_reason"), "interrupted", "{report}");
        assert!(report.u64("requests.total") > 0, "{report}");
        assert_eq!(report.u64("requests.unfinished"), 0, "{report}");
        // No temporary file is left beside the report.
        let names: Vec<String> = std::fs::read_dir(run.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("report"))
            .collect();
        assert_eq!(names, ["report.json"], "{context}");
    }
}

/// `setup` and `teardown` may each run for a minute (their budget), and Ctrl-C
/// stops either within moments. Interrupted during `setup`, the run sends
/// nothing and exits 130. During `teardown` (after the load), the run's report is
/// written whole, every request in it as nginx logged them, with the interrupted
/// teardown as a warning; exit 130.
#[test]
fn sigint_stops_setup_and_teardown() {
    let nginx = Nginx::start(Variant::Http1);
    let spin = "print('started') while true do end";
    for (setup, teardown) in [(spin, "return"), ("return", spin)] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let scenario = format!(
            "[target]\nurl = \"{}\"\n[load]\nvus = 2\nduration = \"1s\"\n\
             [scripts]\nsetup = \"{setup}\"\nteardown = \"{teardown}\"\n",
            nginx.url("/")
        );
        std::fs::write(dir.path().join("s.toml"), scenario).unwrap();
        let mut run = Run::start_in(dir, &["-f", "s.toml"]);
        let role = if setup == spin { "setup" } else { "teardown" };
        let started = Instant::now();
        let spinning = format!("[{role}] started");
        while !run.output().contains(&spinning) {
            run.assert_running();
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{role} never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        run.sigint();
        let status = run.wait(Duration::from_secs(10));
        let context = format!("{role}: status {status}\n{}", run.output());
        assert_eq!(status.code(), Some(130), "{context}");
        let lines = nginx.access_log_lines().len() as u64;
        if role == "setup" {
            assert!(
                context.contains("interrupted during setup: no load was sent"),
                "{context}"
            );
            assert_eq!(lines, 0, "{context}");
            assert!(!run.path("report.json").exists(), "{context}");
        } else {
            let report = run.report();
            report.check_invariants(130);
            assert!(report.bool("outcome.interrupted"), "{report}");
            assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
            assert!(report.u64("requests.total") > 0, "{report}");
            assert_eq!(report.u64("requests.total"), lines, "{report}");
            let warnings = report.get("warnings").to_string();
            assert!(
                warnings.contains("teardown") && warnings.contains("interrupted"),
                "{report}"
            );
        }
    }
}

/// `25586` → `25,586`, as the summary prints counts.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn group_thousands_matches_the_summary_format() {
    assert_eq!(group_thousands(7), "7");
    assert_eq!(group_thousands(999), "999");
    assert_eq!(group_thousands(25_586), "25,586");
    assert_eq!(group_thousands(1_283_110), "1,283,110");
}

/// Ctrl-C while waiting for a planned start: nothing is sent, and the report says
/// when the run did start (at the interruption), not the start that never came.
#[test]
fn sigint_during_the_wait_for_a_planned_start() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/");
    let mut run = Run::start(&[&url, "-c", "2", "-d", "2s", "--start-after", "30s"]);
    std::thread::sleep(Duration::from_millis(1500));
    run.assert_running();
    run.sigint();
    let status = run.wait(Duration::from_secs(15));
    let context = format!("status {status}\n{}", run.output());
    assert_eq!(status.code(), Some(130), "{context}");
    let report = run.report();
    let (started, planned) = (
        report.u64("started_at_unix_ms"),
        report.u64("planned_start_unix_ms"),
    );
    assert!(
        started + 20_000 < planned,
        "started {started}, planned {planned}\n{report}"
    );
    assert_eq!(report.u64("requests.total"), 0, "{report}");
    assert_eq!(nginx.access_log_lines().len(), 0, "{}", nginx.logs());
}
