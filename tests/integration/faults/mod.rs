//! Servers that fail on purpose: each failure must land in its own error class, the
//! run must still end on time, and the report must still be written.
//!
//! Files by job: this one, the classic faults (stall, reset, close, garbage);
//! `closing`, connections kaioken closes (`--no-keepalive`, bytes no request asked for);
//! `reconnect`, kept-alive connections a server closed while idle; `responses`,
//! responses that are cut short, oversized, endless or malformed in named ways;
//! `limits`, the open-file limit and targets nothing listens at.

mod closing;
mod limits;
mod reconnect;
mod responses;

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::harness::{Test, kaioken_path};
use crate::nginx::free_port;
use crate::servers::{Behaviour, Server};

/// Both engines: the `KAIOKEN_NO_IO_URING` value that picks it (none: io_uring,
/// where the run allows it), and its name in the report's `settings.engine`.
pub const ENGINES: [(Option<&str>, &str); 2] = [(None, "io_uring"), (Some("1"), "tokio")];

/// `test` on the engine `env` picks (see [`ENGINES`]).
pub fn on_engine(test: Test, env: Option<&str>) -> Test {
    match env {
        Some(v) => test.env("KAIOKEN_NO_IO_URING", v),
        None => test,
    }
}

/// What [`run_measured`] saw.
pub struct Measured {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The run's peak resident memory in KiB: the kernel's count for this one
    /// process (`wait4`'s rusage), not for every child of the test binary.
    pub peak_rss_kib: u64,
    pub elapsed: Duration,
}

/// Run kaioken with `args` (plus `--no-tui`) in `dir`, under `wrapper` (a program and
/// its arguments, e.g. `prlimit --nofile=64:64 --`) if given, and measure it.
pub fn run_measured(
    dir: &Path,
    wrapper: &[&str],
    args: &[OsString],
    env: &[(&str, &str)],
) -> Measured {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let mut cmd = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut cmd = Command::new(program);
            cmd.args(rest).arg(kaioken_path());
            cmd
        }
        None => Command::new(kaioken_path()),
    };
    cmd.current_dir(dir)
        .args(args)
        .arg("--no-tui")
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    // Reaped below by `wait4`, which also returns its resource usage.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().expect("spawn kaioken");
    let (mut out, mut err) = (
        child.stdout.take().expect("stdout"),
        child.stderr.take().expect("stderr"),
    );
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    let _ = out.read_to_string(&mut stdout);
    let stderr = reader.join().expect("stderr reader");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    let mut status = 0;
    // SAFETY: plain out-parameters; `rusage` is a C struct for which zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(
            !stderr.contains(bad) && !stdout.contains(bad),
            "output contains {bad:?}\n{stdout}\n{stderr}"
        );
    }
    Measured {
        code,
        stdout,
        stderr,
        peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        elapsed: started.elapsed(),
    }
}

#[test]
fn stalled_server_times_out() {
    let server = Server::start(Behaviour::Stall);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "2s", "--timeout", "300ms"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    let total = report.u64("requests.total");
    assert!(report.u64("errors.timeout") > 0, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("timeout".to_owned(), total)],
        "every request should time out\n{report}"
    );
    assert_eq!(report.u64("requests.responses"), 0, "{report}");
    // 2 VUs, 2s, 300ms per attempt: a handful each, not one (the timeout works
    // per request) and not unbounded.
    assert!((4..=20).contains(&total), "total {total}\n{report}");
    assert!(
        out.elapsed < Duration::from_secs(20),
        "stalled requests held the run for {:?}",
        out.elapsed
    );
    assert!(server.counts().requests.load(Ordering::SeqCst) >= total);
}

/// A target that stops answering for good, with a timeout longer than the run's
/// grace: nothing fails (the requests are cut off at the end, not timed out), and
/// the report says the target stopped answering rather than leave "0 failed" alone.
#[test]
fn a_target_that_stops_answering_is_warned_of() {
    let server = Server::start(Behaviour::Stall);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "3s", "--timeout", "60s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    assert_eq!(report.u64("requests.unfinished"), 2, "{report}");
    assert!(
        report
            .get("warnings")
            .to_string()
            .contains("no request finished in the last 3.0s of the run (from second 0)"),
        "{report}"
    );
    let warnings = report.get("warnings").to_string();
    assert!(
        warnings.contains("and 2 requests were cut off at the end: the target stopped answering"),
        "{report}"
    );
}

/// A target that stops answering, on both engines: the timeline has an entry for
/// each second of the 2 s window, the VUs stuck at work in both, and none for the
/// grace after it in which nothing ended (the requests are cut off at its end).
#[test]
fn a_stalled_run_s_timeline_is_its_window() {
    for (env, engine) in ENGINES {
        let server = Server::start(Behaviour::Stall);
        let out = on_engine(Test::new(), env)
            .arg(server.url())
            .args(["-c", "2", "-d", "2s", "--timeout", "60s"])
            .status(1)
            .report()
            .run();
        let report = out.report();
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let timeline = report.get("timeline").as_array().unwrap();
        let seconds: Vec<(u64, u64)> = timeline
            .iter()
            .map(|s| (s["second"].as_u64().unwrap(), s["vus"].as_u64().unwrap()))
            .collect();
        assert_eq!(seconds, [(0, 2), (1, 2)], "{engine}\n{report}");
    }
}

#[test]
fn reset_after_request_is_a_reset() {
    let server = Server::start(Behaviour::ResetAfterRequest);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "50", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 50, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("reset".to_owned(), 50)],
        "a reset before any response is `reset`\n{report}"
    );
}

#[test]
fn close_on_accept_is_a_reset() {
    let server = Server::start(Behaviour::CloseOnAccept);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "50", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 50, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("reset".to_owned(), 50)],
        "a close before any response is `reset`\n{report}"
    );
    assert!(server.counts().connections.load(Ordering::SeqCst) > 0);
}

/// A server that closes the connection before the TLS handshake is over: a reset
/// on both engines, and the example message says it was the handshake's (on the
/// io_uring engine it once said only that the connection was reset).
#[test]
fn a_close_during_the_tls_handshake_is_the_handshakes_failure() {
    for engine in ["io_uring", "tokio"] {
        let server = Server::start(Behaviour::CloseOnAccept);
        let url = server.url().replace("http://", "https://");
        let out = Test::new()
            .arg(&url)
            .args(["-c", "2", "--max-requests", "10", "-d", "30s"])
            .on_engine(engine)
            .status(1)
            .report()
            .run();
        let report = out.report();
        report.check_invariants(1);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(
            report.error_classes(),
            vec![("reset".to_owned(), 10)],
            "{engine}: a close during the handshake is a reset\n{report}"
        );
        let authority = url.trim_start_matches("https://").trim_end_matches('/');
        let why = report.str("error_details.reset");
        assert!(
            why.starts_with(&format!("TLS handshake with {authority}: ")),
            "{engine}: {why}"
        );
    }
}

#[test]
fn connection_refused() {
    let port = free_port();
    let out = Test::new()
        .arg(format!("http://127.0.0.1:{port}/"))
        .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    let total = report.u64("requests.total");
    assert_eq!(total, 20, "{report}");
    assert_eq!(report.u64("errors.connect_refused"), total, "{report}");
    assert_eq!(report.u64("requests.errors"), total, "{report}");
    assert!(
        (report.f64("requests.error_rate") - 1.0).abs() < 1e-9,
        "{report}"
    );
}

#[test]
fn connection_refused_within_max_error_rate_exits_zero() {
    let port = free_port();
    let out = Test::new()
        .arg(format!("http://127.0.0.1:{port}/"))
        .args([
            "-c",
            "1",
            "--max-requests",
            "5",
            "-d",
            "30s",
            "--max-error-rate",
            "1",
        ])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("errors.connect_refused"), 5, "{report}");
    assert!(
        (report.f64("settings.max_error_rate") - 1.0).abs() < 1e-9,
        "{report}"
    );
}

#[test]
fn malformed_response_is_a_protocol_error() {
    let server = Server::start(Behaviour::Malformed(b"SPDY/9 banana\r\n\r\n"));
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 20, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("protocol".to_owned(), 20)],
        "{report}"
    );
}

#[test]
fn truncated_body_is_a_body_read_error() {
    let server = Server::start(Behaviour::Malformed(
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a few bytes",
    ));
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 20, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("body_read".to_owned(), 20)],
        "{report}"
    );
}

#[test]
fn in_process_server_counts_match() {
    // The same promise as against nginx, with a server that counts in memory.
    let server = Server::start(Behaviour::Ok);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "4", "-d", "1s"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    let served = server.counts().responses.load(Ordering::SeqCst);
    assert!(served > 0, "{report}");
    assert_eq!(report.u64("requests.responses"), served, "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
}

#[test]
fn unwritable_report_path_fails_before_any_load() {
    let server = Server::start(Behaviour::Ok);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "5s", "-o", "/nonexistent-dir/run.json"])
        .status(1)
        .stderr_contains("/nonexistent-dir/run.json")
        .run();
    assert!(
        out.elapsed < Duration::from_secs(4),
        "the run went ahead: {:?}",
        out.elapsed
    );
    assert_eq!(
        server.counts().connections.load(Ordering::SeqCst),
        0,
        "load was sent"
    );
}

/// The faults above run on the io_uring engine (plain HTTP/1.1 to 127.0.0.1); the
/// tokio engine, used when io_uring is unavailable, must classify them the same way.
#[test]
fn tokio_engine_classifies_the_same_faults() {
    let cases: [(Behaviour, &str); 4] = [
        (Behaviour::ResetAfterRequest, "reset"),
        (Behaviour::CloseOnAccept, "reset"),
        (Behaviour::Malformed(b"SPDY/9 banana\r\n\r\n"), "protocol"),
        (
            Behaviour::Malformed(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a few bytes"),
            "body_read",
        ),
    ];
    for (behaviour, class) in cases {
        for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
            let server = Server::start(behaviour);
            let mut test = Test::new()
                .arg(server.url())
                .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
                .status(1)
                .report();
            if let Some(v) = env {
                test = test.env("KAIOKEN_NO_IO_URING", v);
            }
            let out = test.run();
            let report = out.report();
            report.check_invariants(1);
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            assert_eq!(report.u64("requests.total"), 20, "{report}");
            assert_eq!(
                report.error_classes(),
                vec![(class.to_owned(), 20)],
                "{engine}\n{report}"
            );
        }
    }
    let server = Server::start(Behaviour::Stall);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "1s", "--timeout", "200ms"])
        .env("KAIOKEN_NO_IO_URING", "1")
        .status(1)
        .report()
        .run();
    let report = out.report();
    assert_eq!(report.str("settings.engine"), "tokio", "{report}");
    let total = report.u64("requests.total");
    assert_eq!(
        report.error_classes(),
        vec![("timeout".to_owned(), total)],
        "{report}"
    );
}

/// A response head larger than the engines' read buffers (16 KiB) is still read whole,
/// on both engines.
#[test]
fn large_response_head_is_read_whole() {
    let mut response = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
    response.extend(std::iter::repeat_n(b'a', 40_000));
    response.extend_from_slice(b"\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok");
    let response: &'static [u8] = Box::leak(response.into_boxed_slice());
    for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
        let server = Server::start(Behaviour::Malformed(response));
        let mut test = Test::new()
            .arg(server.url())
            .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.status_codes(), vec![(200, 20)], "{engine}\n{report}");
        assert!(
            report.u64("requests.bytes_received") > 20 * 40_000,
            "{report}"
        );
    }
}

/// What [`Behaviour::EarlyResponse`] answers a body over its limit with.
const TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 9\r\n\r\ntoo large";

/// A body well over what the socket buffers take (the client's send buffer grows to
/// `tcp_wmem`'s maximum, 4 MiB by default; the server's receive buffer stays small when
/// it reads 1 KiB), so a server that stops reading early leaves most of it unsent.
const LARGE_BODY: usize = 16 << 20;

/// A temporary directory holding `body.bin`, `LARGE_BODY` bytes.
fn large_body_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let body: Vec<u8> = (0..LARGE_BODY).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("body.bin"), body).expect("write body.bin");
    dir
}

/// A server that answers `413` after reading 1 KiB of a large body and closes (which
/// resets the connection, the rest being unread): the response is the outcome, on
/// both engines, and the bytes sent are what went out, not the body's length.
#[test]
fn early_response_to_a_large_body_is_the_response() {
    const N: u64 = 100;
    for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
        let server = Server::start(Behaviour::EarlyResponse {
            read: 1024,
            response: TOO_LARGE,
        });
        let mut test = Test::in_dir(large_body_dir())
            .arg(server.url())
            .args([
                "-m",
                "POST",
                "--body-file",
                "body.bin",
                "-c",
                "4",
                "-d",
                "30s",
            ])
            .args(["--max-requests", &N.to_string()])
            .args(["--max-error-rate", "1"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.status_codes(), vec![(413, N)], "{engine}\n{report}");
        assert_eq!(report.u64("requests.errors"), 0, "{engine}\n{report}");
        let counts = server.counts();
        assert_eq!(counts.early.load(Ordering::SeqCst), N, "{engine}");
        assert_eq!(counts.malformed.load(Ordering::SeqCst), 0, "{engine}");
        let sent = report.u64("requests.bytes_sent");
        let read = counts.bytes_read.load(Ordering::SeqCst);
        assert!(
            sent >= read,
            "{engine}: {sent} bytes sent, but the server read {read}\n{report}"
        );
        assert!(
            sent < N * LARGE_BODY as u64 / 2,
            "{engine}: {sent} bytes sent, most of {N} bodies that were refused\n{report}"
        );
    }
}

/// Each iteration sends a large body that the server refuses early and closes on,
/// then a small request on a fresh connection. Nothing of the refused request may
/// leak into the next one: no error lands on it (as a late failure of the refused
/// send did on the io_uring engine), and every request head the server reads parses
/// strictly (none written over while a send was still reading it).
#[test]
fn early_response_leaves_the_next_request_intact() {
    const ITERATIONS: u64 = 50;
    let scenario = r#"
        [[scenarios]]
        name = "upload then look"

        [[scenarios.steps]]
        url = "/upload"
        method = "POST"
        body_file = "body.bin"

        [[scenarios.steps]]
        url = "/after?vu=${VU}&i=${ITERATION}"
    "#;
    for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
        let server = Server::start(Behaviour::EarlyResponse {
            read: 1024,
            response: TOO_LARGE,
        });
        let mut test = Test::in_dir(large_body_dir())
            .scenario(scenario)
            .arg(server.url())
            .args(["-c", "4", "-d", "30s", "--max-error-rate", "1"])
            .args(["--max-requests", &(2 * ITERATIONS).to_string()])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.errors"), 0, "{engine}\n{report}");
        let counts = server.counts();
        assert_eq!(counts.malformed.load(Ordering::SeqCst), 0, "{engine}");
        // The request limit falls mid-iteration for some of the 4 VUs.
        let early = counts.early.load(Ordering::SeqCst);
        let ok = counts.responses.load(Ordering::SeqCst);
        assert_eq!(
            report.status_codes(),
            vec![(200, ok), (413, early)],
            "{engine}\n{report}"
        );
        assert_eq!(ok + early, 2 * ITERATIONS, "{engine}\n{report}");
        assert!(early.abs_diff(ok) <= 4, "{engine}\n{report}");
    }
}

/// A run in which no request finished says so, rather than that an error rate of 0%
/// is above the limit; the cut-off requests are counted as unfinished, exit 1.
#[test]
fn no_request_finished_says_so() {
    let server = Server::start(Behaviour::Stall);
    let out = Test::new()
        .arg(server.url())
        .args(["-c", "2", "-d", "1s", "--timeout", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("requests.total"), 0, "{report}");
    assert_eq!(report.u64("requests.unfinished"), 2, "{report}");
    assert!(
        out.stdout
            .contains("no request finished in the measured window: exit code 1"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("above the limit"), "{}", out.stdout);
}

/// A server whose every request meets a fault drawn from a seed (servers.rs
/// `Behaviour::Chaos`): kept or closed connections, with and without
/// `connection: close`, late answers, answers in pieces or large, redirects
/// (some followed by the connection's close), closes and resets without an
/// answer, bodies cut short, answers that are no HTTP and bytes after an answer
/// that are none (over TLS, no record of the session), all mixed on 64
/// connections; the closed model without pauses, under a rate cap, and with
/// think time (seed by seed); every fourth seed over TLS. Whatever comes, on both
/// engines the run ends with every request counted once, the responses are
/// exactly the answers the server wrote whole, and every error is one of the
/// faults' classes. (With the redirect fix of
/// `a_redirect_waiting_for_its_rate_slot_survives_the_servers_close` undone, 4 of
/// 20 rate-capped seeds miss responses on io_uring; before a response read in
/// one piece with a bad record behind it counted, a TLS seed missed 134 on
/// io_uring and 161 on tokio.)
#[test]
fn a_server_of_mixed_faults_is_counted_exactly() {
    for (env, engine) in ENGINES {
        for seed in 1..=8 {
            // Every fourth over TLS.
            let tls = seed % 4 == 0;
            let server = if tls {
                Server::start_tls(Behaviour::Chaos(seed))
            } else {
                Server::start(Behaviour::Chaos(seed))
            };
            let mut test = Test::new()
                .args(["-c", "64", "--max-requests", "4000", "-d", "60s"])
                .status(1)
                .report();
            if tls {
                test = test.arg("--cacert").arg(server.ca_path());
            }
            test = match seed % 3 {
                0 => test.arg(server.url()),
                1 => test.arg(server.url()).args(["-r", "20000"]),
                _ => test.scenario(&format!(
                    "[target]\nurl = \"{}\"\n[request]\nthink_time = \"1ms\"\n",
                    server.url()
                )),
            };
            let report = on_engine(test, env).run().report();
            report.check_invariants(1);
            let context = format!("{engine}, seed {seed}, TLS {tls}\n{report}");
            assert_eq!(report.str("settings.engine"), engine, "{context}");
            assert_eq!(report.u64("requests.total"), 4000, "{context}");
            assert_eq!(report.u64("requests.unfinished"), 0, "{context}");
            let written = server.counts().responses.load(Ordering::SeqCst);
            assert_eq!(report.u64("requests.responses"), written, "{context}");
            for (class, _) in report.error_classes() {
                assert!(
                    ["reset", "body_read", "protocol"].contains(&class.as_str()),
                    "{class}: {context}"
                );
            }
        }
    }
}
