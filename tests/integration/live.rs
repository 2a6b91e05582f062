//! The live view in a real terminal: kaioken runs in a tmux pane against nginx, and
//! the test reads the screen with `capture-pane`, types keys with `send-keys` and
//! resizes the window. Plus the view's flags and when the view is not shown.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Report, Test, kaioken_path};
use crate::nginx::{Nginx, Variant};

/// A target nothing listens on; these runs must not send anything.
use crate::harness::NOWHERE;

/// Also in a dry run, which says what the run would.
#[test]
fn zero_or_negative_frame_rates_are_errors() {
    for (fps, dry_run) in [("0", false), ("-1", false), ("0", true)] {
        Test::new()
            .args([NOWHERE, "-d", "1s", "--fps", fps])
            .args(dry_run.then_some("--dry-run"))
            .status(1)
            .stdout("")
            .stderr(&format!(
                "error: `--fps {fps}` is not a frame rate; expected a whole number of frames per second, at least 1\n"
            ))
            .run();
    }
}

#[test]
fn unknown_theme_is_an_error() {
    Test::new()
        .args([NOWHERE, "-d", "1s", "--theme", "vegeta"])
        .status(1)
        .stdout("")
        .stderr(
            "error: unknown theme `vegeta`; expected one of `kaioken`, `super-saiyan`, \
             `super-saiyan-blue`, `ultra-instinct`, `namek`, `frieza`, `plain`\n",
        )
        .run();
}

/// Without a terminal on stdout there is no live view, even without `--no-tui`:
/// the summary as always, and not one escape sequence.
#[test]
fn no_live_view_without_a_terminal() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .without_no_tui()
        .args([&nginx.url("/"), "-c", "2", "-n", "40", "--theme", "namek"])
        .stdout_contains("40 total")
        .run();
    assert!(!out.stdout.contains('\x1b'), "{}", out.stdout);
    assert!(!out.stderr.contains('\x1b'), "{}", out.stderr);
}

/// Without a terminal, the progress is a plain line a second on stderr: no carriage
/// returns, no escape codes, a CI log can read it.
#[test]
fn progress_without_a_terminal_is_a_line_a_second() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .args([&nginx.url("/"), "-c", "2", "-d", "2s", "--rate", "200"])
        .run();
    assert!(
        !out.stderr.contains('\r') && !out.stderr.contains('\x1b'),
        "{:?}",
        out.stderr
    );
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert!(!lines.is_empty(), "no progress line: {:?}", out.stderr);
    for line in &lines {
        let (time, rest) = line.split_once("] ").expect("[time] counts");
        assert!(time.ends_with("s/2s"), "{line}");
        let (requests, errors) = rest.split_once(" requests, ").expect("requests, errors");
        assert!(requests.parse::<u64>().is_ok_and(|n| n > 0), "{line}");
        assert_eq!(errors, "0 failed", "{line}");
    }
}

/// A tmux server of its own (`-L`), killed on drop, with one window of one pane.
struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// A server not started yet, and a directory for the run's files.
    fn new() -> Tmux {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let socket = format!(
            "kaioken-test-{}-{}",
            std::process::id(),
            dir.path().file_name().unwrap().to_string_lossy()
        );
        Tmux { socket, dir }
    }

    /// Run `command` (a shell command line) in a new `width`x`height` window.
    fn start(&self, command: &str, width: u16, height: u16) {
        let status = self
            .command()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "k"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .status()
            .unwrap_or_else(|e| panic!("cannot run tmux ({e}); install it (scripts/test.sh does)"));
        assert!(status.success(), "tmux new-session failed: {status}");
        // Keep the pane once the command exits, to read what it left on the screen.
        self.run(&["set-option", "-t", "k", "remain-on-exit", "on"]);
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's screen, as text.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "k"])
    }

    /// Wait until the screen satisfies `ok`; panic with it after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < limit,
                "no {what} on the screen within {limit:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "k", keys]);
    }

    fn resize(&self, width: u16, height: u16) {
        self.run(&[
            "resize-window",
            "-t",
            "k",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // A test may have killed the server already.
        let _ = self
            .command()
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Quote for `sh`.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The whole live view in a terminal: panels with live numbers, `t` changes the
/// theme, a tiny window shows a line instead of crashing, and `q` stops the run as
/// Ctrl-C does: promptly, exit code 130, the summary on the main screen, the report
/// written with the count nginx logged.
#[test]
fn live_view_in_tmux() {
    let nginx = Nginx::start(Variant::Http1);
    let tmux = Tmux::new();
    let report_path = tmux.path("report.json");
    let exit_path = tmux.path("exit");
    let stderr_path = tmux.path("stderr");
    // CI sets CI=true and the harness NO_COLOR: neither may reach this run.
    let command = format!(
        "env -u CI -u NO_COLOR RUST_BACKTRACE=0 TERM=xterm-256color {} {} -c 4 -d 60s -o {} 2>{}; echo $? > {}",
        quoted(&kaioken_path()),
        nginx.url("/"),
        quoted(&report_path),
        quoted(&stderr_path),
        quoted(&exit_path),
    );
    tmux.start(&command, 100, 30);
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();

    let screen = tmux.wait_for("status 200", Duration::from_secs(20), |s| {
        s.contains("│200 ")
    });
    for panel in [
        "Power level",
        "Progress",
        "req/s",
        "Latency",
        "Status codes",
        "Load model",
        "Kaioken red",
    ] {
        assert!(
            screen.contains(panel),
            "no {panel:?} on the screen:\n{screen}"
        );
    }
    let power = screen
        .lines()
        .find_map(|l| {
            l.split_once("⚡")?
                .1
                .split(" req/s")
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let power: u64 = power.trim().replace(',', "").parse().unwrap_or(0);
    assert!(power > 0, "no power level:\n{screen}");

    tmux.keys("t");
    tmux.wait_for("new theme", Duration::from_secs(5), |s| {
        s.contains("Super Saiyan gold")
    });

    tmux.resize(20, 5);
    tmux.wait_for("size warning", Duration::from_secs(5), |s| {
        s.contains("terminal too")
    });
    tmux.resize(100, 30);
    tmux.wait_for("view again", Duration::from_secs(5), |s| {
        s.contains("Power level")
    });

    let pressed = Instant::now();
    tmux.keys("q");
    while !exit_path.exists()
        || std::fs::read_to_string(&exit_path)
            .unwrap_or_default()
            .is_empty()
    {
        assert!(
            pressed.elapsed() < Duration::from_secs(10),
            "kaioken still running 10s after q:\n{}\n{}",
            tmux.screen(),
            stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = std::fs::read_to_string(&exit_path).unwrap();
    let screen = tmux.screen();
    let context = format!("{screen}\n--- stderr\n{}", stderr());
    assert_eq!(code.trim(), "130", "{context}");
    assert!(!context.contains("panicked"), "{context}");
    // The main screen again, with the summary in its scroll-back.
    assert!(!screen.contains("Power level ─"), "{context}");
    assert!(screen.contains("(interrupted)"), "{context}");
    let text = std::fs::read_to_string(&report_path)
        .unwrap_or_else(|e| panic!("no report after q ({e})\n{context}"));
    let report = Report(serde_json::from_str(&text).expect("the report is JSON"));
    report.check_invariants(130);
    assert!(report.bool("outcome.interrupted"), "{report}");
    assert_eq!(report.u64("requests.unfinished"), 0, "{report}");
    assert_eq!(
        report.u64("requests.responses"),
        nginx.access_log_lines().len() as u64,
        "kaioken's responses != nginx's access log lines\n{report}"
    );
}

/// The terminal goes away mid-run (its window closed, the SSH session or the tmux
/// server gone): the hang-up stops the run as Ctrl-C does, and kaioken exits within
/// seconds with the report written and its count equal to nginx's log, rather than
/// waiting forever on a terminal that will never answer.
#[test]
fn a_terminal_that_hangs_up_still_leaves_the_report() {
    let nginx = Nginx::start(Variant::Http1);
    let tmux = Tmux::new();
    let report_path = tmux.path("report.json");
    let pid_path = tmux.path("pid");
    let command = format!(
        "echo $$ > {}; exec env -u CI -u NO_COLOR RUST_BACKTRACE=0 TERM=xterm-256color {} {} -c 2 -d 60s -r 200 -o {}",
        quoted(&pid_path),
        quoted(&kaioken_path()),
        nginx.url("/"),
        quoted(&report_path),
    );
    tmux.start(&command, 100, 30);
    tmux.wait_for("status 200", Duration::from_secs(20), |s| {
        s.contains("│200 ")
    });
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .expect("the shell wrote its pid")
        .trim()
        .parse()
        .expect("a pid");
    tmux.run(&["kill-server"]);
    let gone = Instant::now();
    // SAFETY: kill with signal 0 only asks whether the process exists.
    let alive = || unsafe { libc::kill(pid, 0) } == 0;
    while alive() && gone.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive() {
        // SAFETY: as above; SIGKILL so a failing test leaves nothing spinning.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("kaioken still running 10s after its terminal hung up");
    }
    let text = std::fs::read_to_string(&report_path)
        .unwrap_or_else(|e| panic!("no report after the hang-up ({e})"));
    let report = Report(serde_json::from_str(&text).expect("the report is JSON"));
    report.check_invariants(130);
    assert!(report.bool("outcome.interrupted"), "{report}");
    assert!(report.u64("requests.responses") > 0, "{report}");
    assert_eq!(
        report.u64("requests.responses"),
        nginx.access_log_lines().len() as u64,
        "kaioken's responses != nginx's access log lines\n{report}"
    );
}

/// A run with a planned start says so on the terminal while it waits, and the live
/// view takes the screen when the load starts: never a blank screen meanwhile.
#[test]
fn a_planned_start_is_announced_before_the_view_opens() {
    let nginx = Nginx::start(Variant::Http1);
    let tmux = Tmux::new();
    let command = format!(
        "env -u CI -u NO_COLOR RUST_BACKTRACE=0 TERM=xterm-256color {} {} -c 1 -d 2s -r 20 --start-after 3s",
        quoted(&kaioken_path()),
        nginx.url("/"),
    );
    tmux.start(&command, 100, 30);
    let waiting = tmux.wait_for("the wait", Duration::from_secs(10), |s| {
        s.contains("for the planned start")
    });
    assert!(!waiting.contains("Power level"), "{waiting}");
    assert!(nginx.access_log_lines().is_empty(), "sent before its start");
    tmux.wait_for("the live view", Duration::from_secs(15), |s| {
        s.contains("Power level")
    });
}

/// A terminal that cannot host the view gets a warning and the progress line
/// instead, and the run completes with its summary: never a crash, nor a hang. A
/// `TERM=dumb` terminal; and a terminal kaioken is not the foreground process of
/// (`timeout` runs it in a group of its own), which would stop it (SIGTTOU) at the
/// view's first change of the terminal's mode, before any request.
#[test]
fn a_terminal_the_view_cannot_have_falls_back_to_the_progress_line() {
    let nginx = Nginx::start(Variant::Http1);
    for (prefix, why) in [
        ("TERM=dumb", "TERM is `dumb`"),
        ("timeout 60", "not the terminal's foreground process"),
    ] {
        let tmux = Tmux::new();
        let exit_path = tmux.path("exit");
        let stderr_path = tmux.path("stderr");
        let command = format!(
            "env -u CI -u NO_COLOR RUST_BACKTRACE=0 {prefix} {} {} -c 2 -n 200 2>{}; echo $? > {}",
            quoted(&kaioken_path()),
            nginx.url("/"),
            quoted(&stderr_path),
            quoted(&exit_path),
        );
        tmux.start(&command, 100, 30);
        let screen = tmux.wait_for("the summary", Duration::from_secs(20), |s| {
            s.contains("200 total")
        });
        assert!(!screen.contains("Power level ─"), "{prefix}: {screen}");
        let started = Instant::now();
        while !exit_path.exists() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let exit = std::fs::read_to_string(&exit_path).expect("the exit code");
        assert_eq!(exit.trim(), "0", "{prefix}");
        let stderr = std::fs::read_to_string(&stderr_path).expect("stderr");
        assert!(
            stderr.contains("cannot start the live view") && stderr.contains(why),
            "{prefix}: {stderr}"
        );
    }
}

/// A WebSocket run in a terminal: the live view adds a WebSocket panel with messages
/// each way per second and in all, the connections and their handshake time, and
/// the status panel counts `ws:1000`. The run ends on its own, exit code 0.
#[test]
fn live_view_shows_the_websocket_panel() {
    let server = crate::websocket::WsEcho::start();
    let tmux = Tmux::new();
    let exit_path = tmux.path("exit");
    let command = format!(
        "env -u CI -u NO_COLOR RUST_BACKTRACE=0 TERM=xterm-256color {} {} -c 4 -d 4s -b hello --ws-message-interval 10ms 2>/dev/null; echo $? > {}",
        quoted(&kaioken_path()),
        server.url("/live"),
        quoted(&exit_path),
    );
    tmux.start(&command, 160, 48);
    // Past the first second: the connections' first messages, paced from when each
    // opened, are behind it.
    let screen = tmux.wait_for("WebSocket panel", Duration::from_secs(20), |s| {
        s.contains("WebSocket")
            && s.contains("4 opened")
            && s.contains("ws:1000")
            && s.contains("2s / 4s")
    });
    assert!(
        screen.contains(&format!("kaioken  {}", server.url("/live"))),
        "{screen}"
    );
    // The panel's `sent` line: messages/s in the last quarter second (which jitters
    // with the machine's load, as every rate of the view does; the rates are tested
    // against the server in ws.rs), then the run's total, which only grows.
    let sent = |screen: &str| -> (f64, u64) {
        let line = screen
            .lines()
            .find_map(|l| l.split_once("│sent").map(|(_, rest)| rest.to_owned()))
            .unwrap_or_default();
        let mut parts = line.split(" · ");
        let rate = parts.next().and_then(|r| r.trim().strip_suffix("/s"));
        let total = parts.next().map(|t| t.trim().replace(',', ""));
        (
            rate.and_then(|r| r.replace(',', "").parse().ok())
                .unwrap_or(-1.0),
            total.and_then(|t| t.parse().ok()).unwrap_or(0),
        )
    };
    let (rate, before) = sent(&screen);
    assert!(rate >= 0.0 && before > 0, "{screen}");
    std::thread::sleep(Duration::from_millis(600));
    let later = tmux.screen();
    let (_, after) = sent(&later);
    // 4 connections, one message each 10 ms: about 240 more in 600 ms.
    assert!(after > before + 60, "{before} then {after}:\n{later}");
    assert!(screen.contains("handshake p50"), "{screen}");
    let started = Instant::now();
    while std::fs::read_to_string(&exit_path)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read_to_string(&exit_path).unwrap().trim(),
        "0",
        "{}",
        tmux.screen()
    );
}
