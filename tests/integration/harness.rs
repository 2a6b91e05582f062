//! A builder that runs the `kaioken` binary and checks what it did, in the style of
//! just's `tests/test.rs`:
//!
//! ```ignore
//! Test::new()
//!     .scenario("
//!         [load]
//!         duraton = \"2s\"
//!     ")
//!     .status(1)
//!     .stderr_contains("did you mean `duration`?")
//!     .run();
//! ```
//!
//! Expected text and scenarios are unindented, so they can be written inline. Every
//! run gets `--no-tui`, `NO_COLOR=1` and `RUST_BACKTRACE=0`, a private temporary
//! working directory and a time limit; every run also checks that kaioken did not
//! panic. With [`Test::report`], the run writes `-o report.json` and [`Output::report`]
//! holds it, parsed.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// How long any single run may take before the test fails. Runs in these tests last
/// a few seconds; the limit is for a hung binary on a slow, shared machine.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The name a scenario given with [`Test::scenario`] is written under, relative to
/// the working directory, as diagnostics show it.
pub const SCENARIO: &str = "scenario.toml";

/// The report file [`Test::report`] asks for, relative to the working directory.
pub const REPORT: &str = "report.json";

/// Strip the common leading indentation of all non-blank lines, and a first line
/// that is empty (so text can start on the line after the opening quote).
pub fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            out.push_str(if line.ends_with('\n') { "\n" } else { "" });
        } else {
            out.push_str(&line[indent..]);
        }
    }
    // A closing quote on its own indented line leaves trailing spaces; drop them.
    let trimmed = out.trim_end_matches([' ', '\t']).len();
    out.truncate(trimmed);
    out
}

/// One run of the binary, and what it must do.
#[must_use]
pub struct Test {
    dir: TempDir,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    scenario: Option<String>,
    no_tui: bool,
    status: i32,
    stdout: Option<String>,
    stderr: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
    stderr_lacks: Vec<String>,
    report: bool,
    timeout: Duration,
}

/// What a finished run produced.
pub struct Output {
    /// Its working directory (still on disk while this value lives).
    pub dir: TempDir,
    /// Standard output, as UTF-8 (lossy).
    pub stdout: String,
    /// Standard error, as UTF-8 (lossy).
    pub stderr: String,
    /// The parsed `-o report.json`, when [`Test::report`] asked for one.
    pub report: Option<Value>,
    /// How long the run took, wall clock.
    pub elapsed: Duration,
    /// The exit code it was expected to (and did) exit with.
    pub exit_code: i32,
}

impl Test {
    /// A run in a fresh temporary directory, expected to exit 0.
    pub fn new() -> Test {
        Test::in_dir(tempfile::tempdir().expect("create a temporary directory"))
    }

    /// A run whose working directory is `dir` (e.g. to run twice in the same place).
    pub fn in_dir(dir: TempDir) -> Test {
        Test {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            scenario: None,
            no_tui: true,
            status: 0,
            stdout: None,
            stderr: None,
            stdout_contains: Vec::new(),
            stderr_contains: Vec::new(),
            stderr_lacks: Vec::new(),
            report: false,
            timeout: RUN_TIMEOUT,
        }
    }

    /// One argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Test {
        self.args.push(arg.into());
        self
    }

    /// Several arguments.
    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable for the run.
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Test {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Run on `engine`, as the report's `settings.engine` names it: `"tokio"` sets
    /// `KAIOKEN_NO_IO_URING`; `"io_uring"` leaves the choice to the run (io_uring
    /// where the run and the kernel allow it).
    pub fn on_engine(self, engine: &str) -> Test {
        match engine {
            "tokio" => self.env("KAIOKEN_NO_IO_URING", "1"),
            "io_uring" => self,
            other => panic!("no engine `{other}` (io_uring or tokio)"),
        }
    }

    /// Make sure an environment variable is not set for the run.
    pub fn env_remove(mut self, name: impl Into<OsString>) -> Test {
        self.env_remove.push(name.into());
        self
    }

    /// Write `text` (unindented) to `scenario.toml` and pass `-f scenario.toml`.
    pub fn scenario(mut self, text: &str) -> Test {
        self.scenario = Some(unindent(text));
        self
    }

    /// Write a file (unindented) into the working directory, e.g. a body file.
    pub fn file(self, name: &str, text: &str) -> Test {
        let path = self.dir.path().join(name);
        std::fs::write(&path, unindent(text))
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    /// Do not add `--no-tui` (for `--version`, `--help` and the like).
    pub fn without_no_tui(mut self) -> Test {
        self.no_tui = false;
        self
    }

    /// The exit code the run must end with (default 0).
    pub fn status(mut self, code: i32) -> Test {
        self.status = code;
        self
    }

    /// The exact standard output (unindented).
    pub fn stdout(mut self, text: &str) -> Test {
        self.stdout = Some(unindent(text));
        self
    }

    /// The exact standard error (unindented).
    pub fn stderr(mut self, text: &str) -> Test {
        self.stderr = Some(unindent(text));
        self
    }

    /// Standard output must contain `text`.
    pub fn stdout_contains(mut self, text: impl Into<String>) -> Test {
        self.stdout_contains.push(text.into());
        self
    }

    /// Standard error must contain `text`.
    pub fn stderr_contains(mut self, text: impl Into<String>) -> Test {
        self.stderr_contains.push(text.into());
        self
    }

    /// Standard error must not contain `text`.
    pub fn stderr_lacks(mut self, text: impl Into<String>) -> Test {
        self.stderr_lacks.push(text.into());
        self
    }

    /// Pass `-o report.json`, and require the report to be written and parse.
    pub fn report(mut self) -> Test {
        self.report = true;
        self
    }

    /// Run, check everything asked for, and return what the run produced.
    pub fn run(self) -> Output {
        let scenario_path = self.dir.path().join(SCENARIO);
        let mut args: Vec<OsString> = Vec::new();
        if let Some(text) = &self.scenario {
            std::fs::write(&scenario_path, text).expect("write the scenario");
            args.push("-f".into());
            args.push(SCENARIO.into());
        }
        args.extend(self.args.iter().cloned());
        if self.report {
            args.push("-o".into());
            args.push(REPORT.into());
        }
        if self.no_tui {
            args.push("--no-tui".into());
        }

        let mut cmd = kaioken();
        cmd.current_dir(self.dir.path())
            .args(&args)
            .timeout(self.timeout);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        let started = Instant::now();
        let out = cmd.output().expect("spawn kaioken");
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();

        let context = describe(
            &args,
            &out.status,
            elapsed,
            &stdout,
            &stderr,
            self.scenario.as_deref(),
        );
        let mut failures = Vec::new();
        match out.status.code() {
            Some(code) if code == self.status => {}
            Some(code) => failures.push(format!("exit code {code}, expected {}", self.status)),
            None if elapsed >= self.timeout => failures.push(format!(
                "killed after the {}s time limit (expected exit code {})",
                self.timeout.as_secs(),
                self.status
            )),
            None => failures.push(format!("killed by a signal ({:?})", out.status)),
        }
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            if stderr.contains(bad) || stdout.contains(bad) {
                failures.push(format!("output contains {bad:?}"));
            }
        }
        if let Some(want) = &self.stdout
            && *want != stdout
        {
            failures.push(format!("stdout differs; expected:\n{want}"));
        }
        if let Some(want) = &self.stderr
            && *want != stderr
        {
            failures.push(format!("stderr differs; expected:\n{want}"));
        }
        for want in &self.stdout_contains {
            if !stdout.contains(want.as_str()) {
                failures.push(format!("stdout lacks {want:?}"));
            }
        }
        for want in &self.stderr_contains {
            if !stderr.contains(want.as_str()) {
                failures.push(format!("stderr lacks {want:?}"));
            }
        }
        for bad in &self.stderr_lacks {
            if stderr.contains(bad.as_str()) {
                failures.push(format!("stderr contains {bad:?}"));
            }
        }
        let mut report = None;
        if self.report {
            let path = self.dir.path().join(REPORT);
            match std::fs::read_to_string(&path) {
                Err(e) => failures.push(format!("no report at {}: {e}", path.display())),
                Ok(text) => match serde_json::from_str::<Value>(&text) {
                    Err(e) => failures.push(format!("the report is not JSON ({e}):\n{text}")),
                    Ok(v) => report = Some(v),
                },
            }
        }
        assert!(failures.is_empty(), "{}\n{context}", failures.join("\n"));
        Output {
            dir: self.dir,
            stdout,
            stderr,
            report,
            elapsed,
            exit_code: self.status,
        }
    }
}

impl Output {
    /// The report; panics if the test did not ask for one.
    pub fn report(&self) -> Report {
        Report(
            self.report
                .clone()
                .expect("this test did not ask for a report (Test::report)"),
        )
    }

    /// Standard output parsed as a JSON report (`--json`).
    pub fn stdout_report(&self) -> Report {
        Report(
            serde_json::from_str(&self.stdout)
                .unwrap_or_else(|e| panic!("stdout is not a JSON report ({e}):\n{}", self.stdout)),
        )
    }
}

/// A parsed JSON report, with lookups that fail with the whole report in the message.
#[derive(Clone)]
pub struct Report(pub Value);

impl Report {
    /// The value at a dotted path such as `requests.total`.
    pub fn get(&self, path: &str) -> &Value {
        let mut v = &self.0;
        for key in path.split('.') {
            v = v
                .get(key)
                .unwrap_or_else(|| panic!("the report has no `{path}` (missing `{key}`):\n{self}"));
        }
        v
    }

    /// An unsigned integer at `path`.
    pub fn u64(&self, path: &str) -> u64 {
        self.get(path)
            .as_u64()
            .unwrap_or_else(|| panic!("`{path}` is not an unsigned integer:\n{self}"))
    }

    /// A number at `path`.
    pub fn f64(&self, path: &str) -> f64 {
        self.get(path)
            .as_f64()
            .unwrap_or_else(|| panic!("`{path}` is not a number:\n{self}"))
    }

    /// A string at `path`.
    pub fn str(&self, path: &str) -> &str {
        self.get(path)
            .as_str()
            .unwrap_or_else(|| panic!("`{path}` is not a string:\n{self}"))
    }

    /// A boolean at `path`.
    pub fn bool(&self, path: &str) -> bool {
        self.get(path)
            .as_bool()
            .unwrap_or_else(|| panic!("`{path}` is not a boolean:\n{self}"))
    }

    /// `status_codes` as (HTTP status, count) pairs, sorted; a run with another
    /// protocol's statuses (`ws:1000`, `grpc:0`) reads them with
    /// [`Report::status_codes_named`].
    pub fn status_codes(&self) -> Vec<(u16, u64)> {
        let mut codes: Vec<(u16, u64)> = self
            .status_codes_named()
            .into_iter()
            .map(|(k, n)| {
                let code = k.parse().unwrap_or_else(|_| {
                    panic!("status {k:?} is not an HTTP code (use status_codes_named):\n{self}")
                });
                (code, n)
            })
            .collect();
        codes.sort_unstable();
        codes
    }

    /// `status_codes` as (name, count) pairs, sorted: HTTP codes (`200`) and other
    /// protocols' statuses (`ws:1000`) alike.
    pub fn status_codes_named(&self) -> Vec<(String, u64)> {
        let map = self
            .get("status_codes")
            .as_object()
            .unwrap_or_else(|| panic!("`status_codes` is not an object:\n{self}"));
        let mut codes: Vec<(String, u64)> = map
            .iter()
            .map(|(k, v)| {
                let n = v
                    .as_u64()
                    .unwrap_or_else(|| panic!("count for {k} is not an integer:\n{self}"));
                (k.clone(), n)
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        codes.sort();
        codes
    }

    /// `(passes, fails)` of the check named `name`.
    pub fn check(&self, name: &str) -> (u64, u64) {
        let checks = self.get("checks").as_array().expect("checks is an array");
        let c = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check named {name:?}:\n{self}"));
        (
            c["passes"].as_u64().expect("passes"),
            c["fails"].as_u64().expect("fails"),
        )
    }

    /// The error classes with a non-zero count, sorted by name.
    pub fn error_classes(&self) -> Vec<(String, u64)> {
        let map = self
            .get("errors")
            .as_object()
            .unwrap_or_else(|| panic!("`errors` is not an object:\n{self}"));
        let mut classes: Vec<(String, u64)> = map
            .iter()
            .map(|(k, v)| {
                let n = v
                    .as_u64()
                    .unwrap_or_else(|| panic!("errors.{k} is not an integer:\n{self}"));
                (k.clone(), n)
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        classes.sort();
        classes
    }

    /// The connections a keep-alive run opened where every VU holds its own: at
    /// least one and at most `vus`. Not exactly `vus`: a VU claims its share of a
    /// request budget before it connects, so on a loaded machine a VU that starts
    /// late can find the budget spent and never connect. Tests compare the number
    /// with what the server saw.
    pub fn keepalive_connections(&self, vus: u64) -> u64 {
        let opened = self.u64("connections.opened");
        assert!(
            (1..=vus).contains(&opened),
            "{opened} connections for {vus} VUs:\n{self}"
        );
        opened
    }

    /// The invariants every report keeps, whatever the run: the schema id, `total =
    /// responses + errors`, the status codes adding up to the responses, the error
    /// classes adding up to the errors, and the exit code it records.
    pub fn check_invariants(&self, exit_code: i32) {
        assert_eq!(self.str("schema"), "kaioken.run/v1", "{self}");
        let total = self.u64("requests.total");
        let responses = self.u64("requests.responses");
        let errors = self.u64("requests.errors");
        assert_eq!(
            total,
            responses + errors,
            "total != responses + errors:\n{self}"
        );
        let by_status: u64 = self.status_codes_named().iter().map(|(_, n)| n).sum();
        assert_eq!(
            by_status, responses,
            "status_codes do not add up to responses:\n{self}"
        );
        // Failed requests are the errors and the responses with an unexpected status.
        assert_eq!(
            self.u64("requests.failed"),
            errors + self.u64("requests.unexpected_status"),
            "failed != errors + unexpected_status:\n{self}"
        );
        let by_class: u64 = self.error_classes().iter().map(|(_, n)| n).sum();
        assert_eq!(
            by_class, errors,
            "error classes do not add up to errors:\n{self}"
        );
        assert_eq!(
            self.u64("outcome.exit_code"),
            u64::try_from(exit_code).expect("exit codes are positive"),
            "outcome.exit_code:\n{self}"
        );
        // `error_details`: a first message for exactly the classes that occurred.
        let details = self
            .get("error_details")
            .as_object()
            .unwrap_or_else(|| panic!("`error_details` is not an object:\n{self}"));
        let mut with_details: Vec<&str> = details.keys().map(String::as_str).collect();
        with_details.sort_unstable();
        let classes = self.error_classes();
        let occurred: Vec<&str> = classes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(with_details, occurred, "error_details vs errors:\n{self}");
        for (k, v) in details {
            assert!(
                v.as_str().is_some_and(|m| !m.is_empty()),
                "error_details.{k} is not a message:\n{self}"
            );
        }
        let rate = self.f64("requests.error_rate");
        if total > 0 {
            let want = errors as f64 / total as f64;
            assert!(
                (rate - want).abs() < 1e-6,
                "error_rate {rate}, expected {want}:\n{self}"
            );
        }
        self.check_latency_maxima();
    }

    /// The largest latency is exact, the same in the run's section and its
    /// timeline, and no percentile is above it.
    fn check_latency_maxima(&self) {
        let num = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64);
        let mut seconds_max: Option<f64> = None;
        for second in self.get("timeline").as_array().into_iter().flatten() {
            let Some(max) = num(second, "latency_max_ms") else {
                continue;
            };
            seconds_max = Some(seconds_max.map_or(max, |m| m.max(max)));
            for p in ["latency_p50_ms", "latency_p90_ms", "latency_p99_ms"] {
                let v = num(second, p).unwrap_or(0.0);
                assert!(v <= max, "timeline {p} {v} above its max {max}:\n{self}");
            }
        }
        let latency = self.get("latency_ms");
        if let (Some(max), Some(seconds_max)) = (num(latency, "max"), seconds_max) {
            assert_eq!(
                max, seconds_max,
                "latency_ms.max vs the timeline's:\n{self}"
            );
            for p in ["p50", "p75", "p90", "p95", "p99", "p99_9"] {
                let v = num(latency, p).unwrap_or(0.0);
                assert!(v <= max, "latency_ms.{p} {v} above max {max}:\n{self}");
            }
            // A step's, scenario's or tag's latencies are some of the run's, timed
            // from the actual send (no later than the run's): their exact maximum
            // is no larger, and their percentiles are no larger than it.
            for list in ["steps", "scenarios", "tags"] {
                for (i, group) in self.get(list).as_array().into_iter().flatten().enumerate() {
                    let latency = &group["latency_ms"];
                    let Some(group_max) = num(latency, "max") else {
                        continue;
                    };
                    assert!(
                        group_max <= max,
                        "{list}[{i}] max {group_max} above the run's {max}:\n{self}"
                    );
                    for p in ["p50", "p75", "p90", "p95", "p99", "p99_9"] {
                        let v = num(latency, p).unwrap_or(0.0);
                        assert!(
                            v <= group_max,
                            "{list}[{i}] {p} {v} above its max {group_max}:\n{self}"
                        );
                    }
                }
            }
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string_pretty(&self.0).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

/// A loopback URL nothing listens on (the discard port): a refused connection.
pub const NOWHERE: &str = "http://127.0.0.1:9/";

/// A `Command` for the binary, with the environment every test uses.
pub fn kaioken() -> Command {
    let mut cmd = Command::cargo_bin("kaioken").expect("the kaioken binary is built");
    cmd.env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FORCE_COLOR");
    cmd
}

/// The path of the binary, for tests that spawn it themselves.
pub fn kaioken_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kaioken"))
}

/// Everything about a run, for assertion messages.
pub fn describe(
    args: &[OsString],
    status: &std::process::ExitStatus,
    elapsed: Duration,
    stdout: &str,
    stderr: &str,
    scenario: Option<&str>,
) -> String {
    let mut s = String::new();
    let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
    let _ = writeln!(s, "command: kaioken {}", args.join(" "));
    let _ = writeln!(s, "status: {status} after {:.2}s", elapsed.as_secs_f64());
    if let Some(text) = scenario {
        let _ = writeln!(s, "--- {SCENARIO}\n{text}");
    }
    let _ = writeln!(s, "--- stdout\n{stdout}");
    let _ = writeln!(s, "--- stderr\n{stderr}---");
    s
}

/// Wait up to 30 s for a server the tests started to be `ready`, checking every
/// 100 ms; an error naming `what` when it exits first or the time runs out.
pub fn wait_ready(
    child: &mut std::process::Child,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("wait for {what}: {e}"))?
        {
            return Err(format!("{what} exited with {status}"));
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{what} was not ready within 30s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stop a server the tests started: `signal` (its graceful shutdown), then SIGKILL if
/// it is still running after 10 s.
pub fn stop_child(child: &mut std::process::Child, signal: libc::c_int) {
    if let Ok(None) = child.try_wait() {
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe {
            libc::kill(pid, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The text of a file a server writes as it goes (an access log, a count), once it
/// has not changed for 300 ms (at most 10 s): a server writes its line when it is
/// done with a request, which can be a moment after the client has the response.
pub fn settled(path: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last: Option<String> = None;
    let mut stable_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = std::fs::read_to_string(path).unwrap_or_default();
        if last.as_ref() != Some(&now) {
            last = Some(now);
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= Duration::from_millis(300) || Instant::now() > deadline
        {
            return now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unindent;

    #[test]
    fn unindent_strips_common_indentation() {
        assert_eq!(
            unindent(
                "
                [load]
                  vus = 4

                duration = \"2s\"
                "
            ),
            "[load]\n  vus = 4\n\nduration = \"2s\"\n"
        );
        assert_eq!(unindent("no indent"), "no indent");
        assert_eq!(unindent("  a\n    b"), "a\n  b");
    }
}
