//! `-o exec=COMMAND`: an output plugin. kaioken starts the command and writes the
//! run to its stdin as JSON lines (docs/outputs.md, "exec: your own output
//! plugin"): a `start` line, an `interval` line every `--output-interval`, and the
//! final `report`.
//!
//! ```text
//!   Outputs::start ── spawn (a missing program is an error before the run) ─► start line
//!   outputs thread, each interval: Encoder::interval(snapshot) ─► Queue ─┐
//!        (bounded: when full, the line is dropped and counted)           ▼
//!   thread "kaioken-exec": write_all to the command's stdin — the only thread
//!        that ever waits on a slow plugin
//!   end of run (main thread): the report line (never dropped) ─► stdin closed ─►
//!        wait for the command within --metrics-linger, then kill it
//! ```
//!
//! The command runs in a process group of its own, so a Ctrl-C at the terminal
//! stops kaioken (which then sends the report) and not the plugin (on Windows, a
//! new console process group, which Ctrl-C does not reach; there, stopping it kills
//! the command itself, not what it started). Its stdout and
//! stderr go to kaioken's stderr, each line prefixed with `[exec] `: kaioken's
//! stdout is its summary or `--json` report, which a plugin must not garble. While
//! the live view has the terminal, those lines are held (the last
//! [`HELD_LINES`]) and printed once it is closed.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kaioken_runtime::{ErrorKind, Snapshot};
use serde::Serialize;

use tokio::sync::watch;

use super::Counts;
use super::metrics::RunLabels;
use super::otlp::StepNames;
use super::send::next_due;
use crate::report::{Latency, latency};

/// The version of the lines' schema, on every line: a field may be added within a
/// version, none renamed or removed.
pub const SCHEMA: u32 = 1;

/// The most interval lines waiting for the plugin: beyond, new ones are dropped.
const QUEUE: usize = 16;

/// The most lines of the plugin's output kept while the live view is shown.
const HELD_LINES: usize = 100;

/// How long a plugin that closed its stdin is given to exit, for its status to be
/// named.
const EXIT_GRACE: Duration = Duration::from_millis(200);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running output plugin.
pub(super) struct Exec {
    queue: Arc<Queue>,
    child: Arc<Mutex<Child>>,
    counts: Arc<Counts>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Set by the writer when it ends.
    written: std::sync::mpsc::Receiver<()>,
    log: Arc<Log>,
    closed: bool,
}

impl Exec {
    /// Start `command` (already checked to split into words), with `counts` for the
    /// report, its output held while `live` (the live view is shown).
    ///
    /// # Errors
    /// The program cannot be started: not found, not executable.
    pub(super) fn spawn(command: &str, counts: Arc<Counts>, live: bool) -> Result<Exec, String> {
        let argv = kaioken_compiler::exec_argv(command)?;
        let program = &argv[0];
        let mut command = Command::new(program);
        command
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        own_group(&mut command);
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("cannot start `{program}`: no such program (looked for in PATH)")
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("cannot start `{program}`: not executable")
            }
            _ => format!("cannot start `{program}`: {e}"),
        })?;
        let log = Arc::new(Log {
            held: Mutex::new(live.then(VecDeque::new)),
        });
        if let Some(out) = child.stdout.take() {
            forward(out, log.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(err, log.clone());
        }
        let stdin = child.stdin.take();
        let child = Arc::new(Mutex::new(child));
        let queue = Arc::new(Queue::default());
        let (done, written) = std::sync::mpsc::channel();
        let writer = {
            let (queue, child, counts) = (queue.clone(), child.clone(), counts.clone());
            std::thread::Builder::new()
                .name("kaioken-exec".into())
                .spawn(move || {
                    if let Some(stdin) = stdin {
                        write_lines(stdin, &queue, &child, &counts);
                    }
                    let _ = done.send(());
                })
                .map_err(|e| format!("cannot start its writer thread: {e}"))?
        };
        Ok(Exec {
            queue,
            child,
            counts,
            writer: Some(writer),
            written,
            log,
            closed: false,
        })
    }

    /// What queues this plugin's lines.
    pub(super) fn sender(&self) -> Sender {
        Sender {
            queue: self.queue.clone(),
            counts: self.counts.clone(),
        }
    }

    /// The plugin's held output, printed now that the live view is closed.
    pub(super) fn release_log(&self) {
        self.log.release();
    }

    /// Wait until `deadline` for the writer to have written (or failed) every
    /// line queued so far, so that the counts then taken for the report line
    /// cover every line before it. A plugin that stops reading costs the wait.
    pub(super) fn wait_written(&self, deadline: Instant) {
        self.queue.wait_idle(deadline);
    }

    /// Send the report line (never dropped), close the plugin's stdin, and wait
    /// until `deadline` (or until `give_up`: a new Ctrl-C) for it to take
    /// everything and exit; then kill it. Its exit status, when not 0, is counted
    /// as a failure and named.
    pub(super) fn close(
        &mut self,
        report: Option<Vec<u8>>,
        deadline: Instant,
        give_up: &dyn Fn() -> bool,
    ) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        if let Some(line) = report {
            self.queue.offer(line, true);
        }
        self.queue.close();
        let wrote_all = loop {
            match self.written.recv_timeout(Duration::from_millis(10)) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    if Instant::now() < deadline && !give_up() => {}
                result => break result.is_ok(),
            }
        };
        match wait_until(&self.child, deadline, give_up) {
            Some(status) if !status.success() => {
                let taken = self.counts.exports.load(Ordering::Relaxed);
                self.counts.fail(exited(status, taken));
            }
            Some(_) => {}
            None => {
                kill(&mut lock(&self.child));
                let why = if wrote_all {
                    "did not exit"
                } else {
                    "did not read its last lines"
                };
                let when = if give_up() {
                    "before Ctrl-C cut the wait short"
                } else {
                    "within --metrics-linger after the run"
                };
                // A writer stuck on the full pipe fails now that the pipe is gone:
                // its count is final after this.
                let _ = self.written.recv_timeout(Duration::from_secs(1));
                let taken = self.counts.exports.load(Ordering::Relaxed);
                self.counts
                    .fail(format!("{why} {when}; killed after {}", lines(taken)));
            }
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        self.log.release();
    }
}

/// A plugin dropped without [`Exec::close`] (kaioken stopped before its run): its
/// stdin is closed and it is killed, never left behind.
impl Drop for Exec {
    fn drop(&mut self) {
        if !self.closed {
            self.queue.close();
            kill(&mut lock(&self.child));
        }
    }
}

/// Queues the lines of one plugin, from any thread.
#[derive(Clone)]
pub(super) struct Sender {
    queue: Arc<Queue>,
    counts: Arc<Counts>,
}

impl Sender {
    /// Queue an interval (or the start) line; a full queue drops it, counted.
    /// Whether it was queued.
    pub(super) fn send(&self, line: Vec<u8>) -> bool {
        let queued = self.queue.offer(line, false);
        if !queued {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }
}

/// What the outputs thread hands the interval loops: a snapshot and when it was
/// taken.
pub(super) struct Taken {
    pub(super) snapshot: Snapshot,
    pub(super) time_unix_ms: u64,
}

/// One plugin's interval lines: at every tick of `interval` the latest snapshot's,
/// and the run's last snapshot's at once; ends after that one.
pub(super) async fn interval_loop(
    sender: Sender,
    mut encoder: Encoder,
    mut latest: watch::Receiver<Option<Arc<Taken>>>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = None;
    while let Some(taken) = next_due(&mut ticker, &mut latest, |t| t.snapshot.last).await {
        if sent == Some(taken.time_unix_ms) {
            continue;
        }
        sent = Some(taken.time_unix_ms);
        let line = encoder.interval(&taken.snapshot, taken.time_unix_ms);
        if sender.send(line) {
            encoder.queued();
        }
        if taken.snapshot.last {
            return;
        }
    }
}

/// Start the plugin in a process group of its own, out of reach of the terminal's
/// Ctrl-C.
#[cfg(unix)]
fn own_group(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

/// Start the plugin in a console process group of its own, which Ctrl-C does not
/// reach (`CREATE_NEW_PROCESS_GROUP`).
#[cfg(windows)]
fn own_group(command: &mut Command) {
    use std::os::windows::process::CommandExt;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    command.creation_flags(CREATE_NEW_PROCESS_GROUP);
}

/// Kill the plugin and what it started in its process group (the program a
/// `sh -c` wrapper runs), and reap it. On Windows, the plugin itself
/// (`TerminateProcess`).
fn kill(child: &mut Child) {
    // Only while it is not reaped: until then its pid is its group's id.
    #[cfg(unix)]
    if let (Ok(None), Ok(pid)) = (child.try_wait(), libc::pid_t::try_from(child.id())) {
        // SAFETY: kill(2) with a negative pid signals the process group the plugin
        // leads (spawned with `process_group(0)`); it reads or writes no memory.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The signal that ended a process, where there are signals.
#[cfg(unix)]
fn signal_of(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// Windows has no signals: every status has an exit code.
#[cfg(not(unix))]
fn signal_of(_status: ExitStatus) -> Option<i32> {
    None
}

/// Wait for `child` to exit until `deadline` or `give_up`: its status, or `None`
/// if it still runs.
fn wait_until(
    child: &Mutex<Child>,
    deadline: Instant,
    give_up: &dyn Fn() -> bool,
) -> Option<ExitStatus> {
    loop {
        if let Ok(Some(status)) = lock(child).try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline || give_up() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `n line(s)`.
fn lines(n: u64) -> String {
    if n == 1 {
        "1 line".into()
    } else {
        format!("{n} lines")
    }
}

/// How a plugin ended, in words: "exited with status 3 after 2 lines".
fn exited(status: ExitStatus, taken: u64) -> String {
    let how = match (status.code(), signal_of(status)) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended ({status})"),
    };
    format!("{how} after {}", lines(taken))
}

/// The lines waiting for the writer thread.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    lines: VecDeque<Vec<u8>>,
    /// No more lines will come: the writer ends once it has written those left.
    closed: bool,
    /// The writer has taken a line and not yet written (or failed) it.
    writing: bool,
}

impl Queue {
    /// Add `line`; `always`: even beyond [`QUEUE`] (the report). `false` when it was
    /// dropped.
    fn offer(&self, line: Vec<u8>, always: bool) -> bool {
        let mut state = lock(&self.state);
        if state.closed || (!always && state.lines.len() >= QUEUE) {
            return false;
        }
        state.lines.push_back(line);
        drop(state);
        self.ready.notify_all();
        true
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.ready.notify_all();
    }

    /// Wait until `deadline` for no line to be queued or being written.
    fn wait_idle(&self, deadline: Instant) {
        let mut state = lock(&self.state);
        while state.writing || !state.lines.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// The next line, waiting for one (the one taken before is done with);
    /// `None` once closed and empty.
    fn take(&self) -> Option<Vec<u8>> {
        let mut state = lock(&self.state);
        if std::mem::take(&mut state.writing) {
            // `wait_idle` may be waiting for that line.
            self.ready.notify_all();
        }
        loop {
            if let Some(line) = state.lines.pop_front() {
                state.writing = true;
                return Some(line);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// The writer thread: each line to the plugin's stdin, in order, until the queue
/// is closed; then stdin is closed. A plugin that stops reading (it exited, or
/// closed its stdin) fails this line and every later one, counted.
fn write_lines(mut stdin: ChildStdin, queue: &Queue, child: &Mutex<Child>, counts: &Counts) {
    let mut gone = false;
    while let Some(line) = queue.take() {
        if gone {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_ok() {
            counts.exports.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        gone = true;
        let taken = counts.exports.load(Ordering::Relaxed);
        let message = match wait_until(child, Instant::now() + EXIT_GRACE, &|| false) {
            Some(status) => exited(status, taken),
            None => format!("closed its stdin after {}", lines(taken)),
        };
        counts.fail(message);
    }
}

/// The plugin's output, line by line, to kaioken's stderr (or held while the
/// live view is shown).
struct Log {
    /// `Some` while held.
    held: Mutex<Option<VecDeque<String>>>,
}

impl Log {
    fn line(&self, line: &str) {
        let mut held = lock(&self.held);
        match held.as_mut() {
            Some(lines) => {
                if lines.len() == HELD_LINES {
                    lines.pop_front();
                }
                lines.push_back(line.to_owned());
            }
            None => eprintln!("[exec] {line}"),
        }
    }

    fn release(&self) {
        let mut held = lock(&self.held);
        for line in held.take().unwrap_or_default() {
            eprintln!("[exec] {line}");
        }
    }
}

/// A thread that reads one of the plugin's output streams into `log`.
fn forward(stream: impl Read + Send + 'static, log: Arc<Log>) {
    let _ = std::thread::Builder::new()
        .name("kaioken-exec-log".into())
        .spawn(move || {
            for line in BufReader::new(stream).split(b'\n') {
                let Ok(line) = line else { break };
                log.line(String::from_utf8_lossy(&line).trim_end_matches('\r'));
            }
        });
}

/// The `start` line.
#[derive(Serialize)]
struct Start<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: u32,
    kaioken: &'a str,
    started_unix_ms: u64,
    target: &'a str,
    load: &'a str,
    duration_s: Option<f64>,
    warmup_s: f64,
    max_requests: Option<u64>,
    interval_s: f64,
    tags: BTreeMap<&'a str, &'a str>,
    scenarios: &'a [String],
    steps: Vec<StepInfo<'a>>,
    checks: &'a [String],
}

#[derive(Serialize)]
struct StepInfo<'a> {
    name: &'a str,
    method: &'a str,
    url: &'a str,
}

/// What the `start` line says of the run beside its labels and steps.
pub(super) struct Plan {
    pub(super) duration: Option<Duration>,
    pub(super) warmup: Duration,
    pub(super) max_requests: Option<u64>,
    pub(super) interval: Duration,
    pub(super) started_unix_ms: u64,
}

/// The `start` line of a run, with its newline.
pub(super) fn start_line(labels: &RunLabels, steps: &[StepNames], plan: &Plan) -> Vec<u8> {
    let info = |key: &str| {
        labels
            .info
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    };
    to_line(&Start {
        kind: "start",
        schema: SCHEMA,
        kaioken: env!("CARGO_PKG_VERSION"),
        started_unix_ms: plan.started_unix_ms,
        target: info("target"),
        load: info("load"),
        duration_s: plan.duration.map(seconds),
        warmup_s: seconds(plan.warmup),
        max_requests: plan.max_requests,
        interval_s: seconds(plan.interval),
        tags: labels
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        scenarios: &labels.scenarios,
        steps: steps
            .iter()
            .map(|s| StepInfo {
                name: &s.name,
                method: &s.method,
                url: &s.url,
            })
            .collect(),
        checks: &labels.checks,
    })
}

/// The `report` line for the report's JSON (as `-o report.json` has it).
pub(super) fn report_line(report: &crate::report::Report) -> Vec<u8> {
    #[derive(Serialize)]
    struct ReportLine<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        schema: u32,
        report: &'a crate::report::Report,
    }
    to_line(&ReportLine {
        kind: "report",
        schema: SCHEMA,
        report,
    })
}

/// `d` in seconds, to the millisecond.
fn seconds(d: Duration) -> f64 {
    d.as_millis() as f64 / 1000.0
}

/// `value` as one line of JSON, with its newline.
fn to_line(value: &impl Serialize) -> Vec<u8> {
    // Serializing plain structs, maps with string keys and numbers cannot fail.
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    line
}

/// An `interval` line.
#[derive(Serialize)]
struct IntervalLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: u32,
    seq: u64,
    time_unix_ms: u64,
    elapsed_s: f64,
    interval_s: f64,
    warming_up: bool,
    last: bool,
    vus: u64,
    vus_max: u64,
    target_level: Option<f64>,
    total: &'a Window,
    delta: &'a Window,
}

/// The counts of a stretch of the measured window: all of it so far (`total`) or
/// the part since the previous interval line (`delta`).
#[derive(Serialize, Default, Clone)]
struct Window {
    requests: u64,
    responses: u64,
    errors: u64,
    failed: u64,
    status: BTreeMap<String, u64>,
    errors_by_kind: BTreeMap<&'static str, u64>,
    iterations_started: u64,
    iterations_dropped: u64,
    bytes_received: u64,
    bytes_sent: u64,
    latency_ms: Latency,
    checks: Vec<CheckCount>,
    scenarios: Vec<PartCount>,
    steps: Vec<PartCount>,
}

#[derive(Serialize, Default, Clone)]
struct CheckCount {
    name: String,
    pass: u64,
    fail: u64,
}

#[derive(Serialize, Default, Clone)]
struct PartCount {
    name: String,
    requests: u64,
    errors: u64,
}

impl Window {
    /// What `self` (the total now) added to `before` (the total at the previous
    /// line); its latency is that of `histogram`, the responses in between.
    fn minus(&self, before: &Window, histogram: &Histogram<u64>) -> Window {
        let parts = |now: &[PartCount], then: &[PartCount]| {
            now.iter()
                .enumerate()
                .map(|(i, p)| {
                    let t = then.get(i).cloned().unwrap_or_default();
                    PartCount {
                        name: p.name.clone(),
                        requests: p.requests.saturating_sub(t.requests),
                        errors: p.errors.saturating_sub(t.errors),
                    }
                })
                .collect()
        };
        Window {
            requests: self.requests.saturating_sub(before.requests),
            responses: self.responses.saturating_sub(before.responses),
            errors: self.errors.saturating_sub(before.errors),
            failed: self.failed.saturating_sub(before.failed),
            status: keyed(&self.status, &before.status),
            errors_by_kind: keyed(&self.errors_by_kind, &before.errors_by_kind),
            iterations_started: self
                .iterations_started
                .saturating_sub(before.iterations_started),
            iterations_dropped: self
                .iterations_dropped
                .saturating_sub(before.iterations_dropped),
            bytes_received: self.bytes_received.saturating_sub(before.bytes_received),
            bytes_sent: self.bytes_sent.saturating_sub(before.bytes_sent),
            latency_ms: latency(histogram),
            checks: self
                .checks
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let t = before.checks.get(i).cloned().unwrap_or_default();
                    CheckCount {
                        name: c.name.clone(),
                        pass: c.pass.saturating_sub(t.pass),
                        fail: c.fail.saturating_sub(t.fail),
                    }
                })
                .collect(),
            scenarios: parts(&self.scenarios, &before.scenarios),
            steps: parts(&self.steps, &before.steps),
        }
    }
}

/// Each count of `now` less the same key's in `then`.
fn keyed<K: Ord + Clone>(now: &BTreeMap<K, u64>, then: &BTreeMap<K, u64>) -> BTreeMap<K, u64> {
    now.iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n.saturating_sub(then.get(k).copied().unwrap_or(0)),
            )
        })
        .collect()
}

/// Makes the interval lines of one plugin: keeps the totals of the last line
/// queued, so that each line carries both the totals and what changed since. A
/// dropped line's changes are in the next one's `delta`.
pub(super) struct Encoder {
    labels: Arc<RunLabels>,
    steps: Vec<String>,
    seq: u64,
    /// The totals of the last line queued, its latency histogram and time.
    before: Before,
    /// The same for the line just made, until it is known to be queued.
    made: Option<Before>,
}

#[derive(Default)]
struct Before {
    window: Window,
    latency: Option<Histogram<u64>>,
    elapsed: Duration,
}

impl Encoder {
    pub(super) fn new(labels: Arc<RunLabels>, steps: &[StepNames]) -> Encoder {
        Encoder {
            labels,
            steps: steps.iter().map(|s| s.name.clone()).collect(),
            seq: 0,
            before: Before::default(),
            made: None,
        }
    }

    /// The line last made was queued: the next line's `delta` starts from it.
    pub(super) fn queued(&mut self) {
        if let Some(made) = self.made.take() {
            self.before = made;
        }
    }

    /// The line for `snapshot`, taken at `time_unix_ms`, with its newline.
    pub(super) fn interval(&mut self, snapshot: &Snapshot, time_unix_ms: u64) -> Vec<u8> {
        let stats = &snapshot.total;
        let name = |names: &[String], i: usize| names.get(i).cloned().unwrap_or_default();
        let total = Window {
            requests: stats.total(),
            responses: stats.counts.responses,
            errors: stats.error_count(),
            failed: stats.failed(),
            status: stats
                .status
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            errors_by_kind: stats
                .errors_by_kind()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n): (ErrorKind, u64)| (k.name(), n))
                .collect(),
            iterations_started: stats.counts.started,
            iterations_dropped: stats.counts.dropped,
            bytes_received: stats.counts.bytes_in,
            bytes_sent: stats.counts.bytes_out,
            latency_ms: Latency::with_max(&stats.latency, crate::report::exact_max_us(stats)),
            checks: stats
                .checks
                .iter()
                .enumerate()
                .map(|(i, [pass, fail])| CheckCount {
                    name: name(&self.labels.checks, i),
                    pass: *pass,
                    fail: *fail,
                })
                .collect(),
            scenarios: stats
                .scenarios
                .iter()
                .enumerate()
                .map(|(i, s)| PartCount {
                    name: name(&self.labels.scenarios, i),
                    requests: s.requests,
                    errors: s.errors,
                })
                .collect(),
            steps: stats
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| PartCount {
                    name: name(&self.steps, i),
                    requests: s.totals.requests,
                    errors: s.totals.errors,
                })
                .collect(),
        };
        // The responses since the previous line: the latency histogram then,
        // taken from the one now (both cover the measured window from its start).
        let mut since = stats.latency.clone();
        if let Some(before) = &self.before.latency
            && since.subtract(before).is_err()
        {
            since.reset();
        }
        let delta = total.minus(&self.before.window, &since);
        self.seq += 1;
        let line = to_line(&IntervalLine {
            kind: "interval",
            schema: SCHEMA,
            seq: self.seq,
            time_unix_ms,
            elapsed_s: seconds(snapshot.elapsed),
            interval_s: seconds(snapshot.elapsed.saturating_sub(self.before.elapsed)),
            warming_up: snapshot.warming_up,
            last: snapshot.last,
            vus: stats.active_vus,
            vus_max: stats.max_vus,
            target_level: snapshot.level,
            total: &total,
            delta: &delta,
        });
        self.made = Some(Before {
            window: total,
            latency: Some(stats.latency.clone()),
            elapsed: snapshot.elapsed,
        });
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaioken_runtime::{Interval, RunStats};
    use kaioken_vm::Status;
    use serde_json::Value;

    /// The shortest `--output-interval` the compiler allows is how often the
    /// runtime gathers the statistics an interval line is made from: change both.
    #[test]
    fn the_shortest_interval_is_the_snapshot_period() {
        assert_eq!(
            kaioken_compiler::MIN_INTERVAL,
            kaioken_runtime::PUBLISH_EVERY
        );
    }

    /// A snapshot whose measured window has `ok` 200s and `bad` 503s so far, with
    /// the latencies (µs) `latencies`.
    fn snapshot(ok: u64, bad: u64, latencies: &[u64], last: bool) -> Snapshot {
        let mut total = RunStats {
            status: vec![(Status::Http(200), ok), (Status::Http(503), bad)],
            ..RunStats::default()
        };
        total.counts.responses = ok + bad;
        for v in latencies {
            total.latency.record(*v).unwrap();
        }
        let mut latency = total.latency.clone();
        latency.reset();
        Snapshot {
            elapsed: Duration::from_millis(500 * (ok + bad)),
            warming_up: false,
            planned: None,
            max_requests: None,
            level: None,
            total,
            interval: Interval {
                length: Duration::from_millis(250),
                requests: 0,
                responses: 0,
                errors: 0,
                latency,
                messages: [[0; 2]; 2],
            },
            last,
            spans: Vec::new(),
            spans_dropped: 0,
        }
    }

    fn json(line: &[u8]) -> Value {
        assert_eq!(line.last(), Some(&b'\n'));
        assert!(!line[..line.len() - 1].contains(&b'\n'), "one line");
        serde_json::from_slice(line).unwrap()
    }

    #[test]
    fn deltas_add_up_to_the_totals_when_a_line_is_dropped() {
        let mut encoder = Encoder::new(Arc::new(RunLabels::default()), &[]);
        let first = json(&encoder.interval(&snapshot(8, 2, &[1_000, 2_000], false), 1));
        encoder.queued();
        // Made, but the queue was full: not queued.
        let dropped = json(&encoder.interval(&snapshot(18, 2, &[1_000, 2_000, 9_000], false), 2));
        let last =
            json(&encoder.interval(&snapshot(30, 4, &[1_000, 2_000, 9_000, 40_000], true), 3));
        encoder.queued();
        assert_eq!(first["delta"]["requests"], 10);
        assert_eq!(dropped["delta"]["requests"], 10);
        assert_eq!(
            (&last["seq"], &last["last"], &last["total"]["requests"]),
            (&Value::from(3), &Value::from(true), &Value::from(34))
        );
        // Since the first line: the dropped line's share is in it.
        assert_eq!(last["delta"]["requests"], 24);
        assert_eq!(last["delta"]["status"]["200"], 22);
        assert_eq!(last["delta"]["status"]["503"], 2);
        assert_eq!(last["interval_s"], 12.0);
        // The latency of the responses since the first line: 9 ms and 40 ms.
        let min = last["delta"]["latency_ms"]["min"].as_f64().unwrap();
        let max = last["delta"]["latency_ms"]["max"].as_f64().unwrap();
        assert!(
            (8.9..9.1).contains(&min) && (39.9..40.1).contains(&max),
            "{last}"
        );
        assert_eq!(last["total"]["latency_ms"]["min"], 1.0);
        assert_eq!(last["schema"], SCHEMA);
        assert_eq!(last["type"], "interval");
    }

    #[test]
    fn the_queue_is_bounded_but_for_the_report() {
        let queue = Queue::default();
        for _ in 0..QUEUE {
            assert!(queue.offer(b"x\n".to_vec(), false));
        }
        assert!(!queue.offer(b"x\n".to_vec(), false));
        assert!(queue.offer(b"report\n".to_vec(), true));
        queue.close();
        assert!(!queue.offer(b"late\n".to_vec(), true));
        let taken: Vec<Vec<u8>> = std::iter::from_fn(|| queue.take()).collect();
        assert_eq!(taken.len(), QUEUE + 1);
        assert_eq!(taken.last().map(Vec::as_slice), Some(&b"report\n"[..]));
    }

    #[cfg(unix)]
    #[test]
    fn endings_in_words() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            exited(ExitStatus::from_raw(3 << 8), 2),
            "exited with status 3 after 2 lines"
        );
        assert_eq!(
            exited(ExitStatus::from_raw(9), 1),
            "was killed by signal 9 after 1 line"
        );
    }

    #[cfg(windows)]
    #[test]
    fn endings_in_words() {
        use std::os::windows::process::ExitStatusExt;
        assert_eq!(
            exited(ExitStatus::from_raw(3), 2),
            "exited with status 3 after 2 lines"
        );
    }
}
