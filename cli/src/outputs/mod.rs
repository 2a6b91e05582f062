//! Streaming outputs (`-o KIND=ADDRESS`, `[[outputs]]`): the run's metrics to
//! Prometheus, InfluxDB and OpenTelemetry while it goes, and to output plugins
//! (`exec`, see [`exec`]) as JSON lines.
//!
//! ```text
//!   controller thread: on_tick(Snapshot) ── try_send (bounded; a full queue drops
//!                                            the snapshot and counts it) ──┐
//!   thread "kaioken-outputs" (its own tokio runtime):                     ▼
//!        Metrics::of(snapshot) ─► /metrics server's latest (prometheus)
//!                              └► each push output's task: requests() ─► POST,
//!                                 with a timeout; failures counted, never retried
//!                                 in a loop that could hold the run back
//!                     snapshot ─► each exec output's task: an interval line into
//!                                 its bounded queue (full: dropped, counted)
//! ```
//!
//! Nothing here runs on a worker thread: the cost to the run is one snapshot clone
//! per tick on the controller thread.

pub mod exec;
pub mod influx;
pub mod metrics;
pub mod otlp;
pub mod prometheus;
pub mod push;
pub mod remote_write;
mod send;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kaioken_compiler::{Ir, OutputKind, Redact};
use kaioken_runtime::{Control, Snapshot, Span};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::error::Error;
use crate::report::Report;
use metrics::{Metrics, RunLabels};
use push::Push;

/// The most spans waiting for an output: beyond, new ones are dropped and counted.
const SPAN_QUEUE: usize = 16_384;

/// How long the end of a run waits for the push outputs' last sends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// The most `Outputs::finish` waits for an output plugin to take the lines queued
/// for it (a pipe write takes microseconds; a plugin that stopped reading, forever).
const WRITTEN_WAIT: Duration = Duration::from_secs(1);

/// What the report says about one output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputJson {
    /// `prometheus`, `prometheus-rw`, `influxdb`, `otlp` or `exec`.
    pub kind: String,
    /// Where (for `exec`, the command), with credentials hidden.
    pub address: String,
    /// Pushes accepted, scrapes served (`prometheus`), or lines the plugin took
    /// (`exec`).
    pub exports: u64,
    /// Pushes that failed: refused, timed out, or answered with an error; for
    /// `exec`, lines the plugin was gone for, and its exit if not 0.
    pub failed: u64,
    /// Snapshots, spans or lines that never went out because the output fell behind.
    pub dropped: u64,
    /// The last failure, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// `otlp` with `--trace-sample`: spans accepted by the receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spans_sent: Option<u64>,
    /// Spans that never reached it: dropped by a full buffer, or in a push that
    /// failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spans_dropped: Option<u64>,
}

/// An output's counts, kept by its task and read for the report.
#[derive(Default)]
struct Counts {
    exports: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Whether this output takes spans, and how many went out and were lost.
    spans: Option<SpanCounts>,
}

#[derive(Default)]
struct SpanCounts {
    sent: AtomicU64,
    lost: AtomicU64,
}

impl Counts {
    fn fail(&self, message: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    /// `address` is shown as given: the caller hides its secrets.
    fn json(&self, kind: OutputKind, address: &str, upstream_dropped: u64) -> OutputJson {
        let spans = self.spans.as_ref();
        let upstream = if spans.is_some() { upstream_dropped } else { 0 };
        OutputJson {
            spans_sent: spans.map(|s| s.sent.load(Ordering::Relaxed)),
            spans_dropped: spans.map(|s| s.lost.load(Ordering::Relaxed) + upstream),
            kind: kind.key().to_owned(),
            address: address.to_owned(),
            exports: self.exports.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed) + upstream,
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// What the outputs thread shares with the run's side.
struct Shared {
    /// What the thread has not taken yet.
    pending: Mutex<Pending>,
    wake: Notify,
    /// Whether some output takes spans.
    wants_spans: bool,
    /// Spans the workers could not keep (`Snapshot::spans_dropped`, cumulative).
    upstream_dropped: AtomicU64,
    /// What hides secrets in what is printed (a failed push's URL).
    rule: Redact,
}

#[derive(Default)]
struct Pending {
    /// The latest snapshot (without its spans, which are in `spans`).
    snapshot: Option<Snapshot>,
    /// Spans of every snapshot since the thread last took them, at most
    /// [`SPAN_QUEUE`].
    spans: Vec<Span>,
    /// Spans that did not fit.
    overflow: u64,
}

/// The streaming outputs of a run, from before its start to after its end.
pub struct Outputs {
    shared: Arc<Shared>,
    outputs: Vec<(OutputKind, String, Arc<Counts>)>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set when the last pushes are done (or given up on).
    flushed: std::sync::mpsc::Receiver<()>,
    /// Dropped to stop the `/metrics` servers.
    stop: Option<watch::Sender<bool>>,
    linger: Duration,
    listening: Vec<SocketAddr>,
    /// The output plugins, closed by [`Outputs::send_report`] (or on drop).
    execs: Mutex<Vec<exec::Exec>>,
    /// How often a snapshot's metrics are handed over: the push interval, at most a
    /// second (what a scrape every second wants).
    every: Duration,
    /// When the next one is due, in the run's time (ms since its start).
    next_ms: AtomicU64,
}

impl Outputs {
    /// Start the outputs of `ir`, if it has any: listen on every `prometheus`
    /// address (a port in use is an error now, before any load) and start the thread
    /// that serves and pushes.
    ///
    /// Start every `exec` command last, once the other outputs are known to
    /// work; `live`: the live view is to be shown (the commands' output waits for
    /// it to close).
    ///
    /// # Errors
    /// An address that cannot be listened on, an output's address that its kind
    /// cannot use, or a command that cannot be started.
    pub fn start(
        ir: &Ir,
        rule: &Redact,
        labels: RunLabels,
        steps: Vec<otlp::StepNames>,
        started_unix_ms: u64,
        live: bool,
    ) -> Result<Option<Outputs>, Error> {
        let outputs = &ir.outputs;
        if outputs.specs.is_empty() {
            return Ok(None);
        }
        let mut listeners = Vec::new();
        let mut pushes: Vec<(Box<dyn Push>, Arc<Counts>)> = Vec::new();
        let mut all = Vec::new();
        let mut exec_specs = Vec::new();
        for spec in &outputs.specs {
            if spec.kind == OutputKind::Exec {
                let counts = Arc::new(Counts::default());
                all.push((spec.kind, rule.text(&spec.address), counts.clone()));
                exec_specs.push((&spec.address, counts));
            } else if spec.kind == OutputKind::Prometheus {
                let counts = Arc::new(Counts::default());
                all.push((spec.kind, rule.url(&spec.address), counts.clone()));
                let listener = TcpListener::bind(&spec.address).map_err(|e| {
                    Error::Setup(format!(
                        "cannot serve /metrics on {} (`-o prometheus={}`): {e}",
                        spec.address, spec.address
                    ))
                })?;
                let local = listener
                    .local_addr()
                    .map_err(|e| Error::Setup(e.to_string()))?;
                if !local.ip().is_loopback() {
                    eprintln!(
                        "warning: serving /metrics on {local}, which other machines can reach"
                    );
                }
                listener
                    .set_nonblocking(true)
                    .map_err(|e| Error::Setup(e.to_string()))?;
                listeners.push((listener, counts));
            } else {
                let push = encoder(spec.kind, &spec.address, &labels, &steps, started_unix_ms)
                    .map_err(|e| unusable(spec, rule, &e))?;
                let counts = Arc::new(Counts {
                    spans: (push.wants_spans() && ir.settings.trace_sample > 0.0)
                        .then(SpanCounts::default),
                    ..Counts::default()
                });
                all.push((spec.kind, rule.url(&spec.address), counts.clone()));
                pushes.push((push, counts));
            }
        }
        let listening = listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect();
        let labels = Arc::new(labels);
        let start_line = exec::start_line(
            &labels,
            &steps,
            &exec::Plan {
                duration: ir.load.duration,
                warmup: ir.load.warmup,
                max_requests: ir.load.max_requests,
                interval: outputs.interval,
                started_unix_ms,
            },
        );
        let mut execs = Vec::new();
        let mut loops = Vec::new();
        for (command, counts) in exec_specs {
            let plugin = exec::Exec::spawn(command, counts, live)
                .map_err(|e| Error::Setup(format!("-o exec={}: {e}", rule.text(command))))?;
            let sender = plugin.sender();
            // The first line, into an empty queue.
            sender.send(start_line.clone());
            loops.push((sender, exec::Encoder::new(labels.clone(), &steps)));
            execs.push(plugin);
        }
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            wants_spans: pushes.iter().any(|(_, c)| c.spans.is_some()),
            upstream_dropped: AtomicU64::new(0),
            rule: rule.clone(),
        });
        let (flushed_tx, flushed) = std::sync::mpsc::channel();
        let (stop, stopped) = watch::channel(false);
        let interval = outputs.interval;
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kaioken-outputs".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(serve(
                    thread_shared,
                    &labels,
                    Kinds {
                        listeners,
                        pushes,
                        execs: loops,
                    },
                    interval,
                    flushed_tx,
                    stopped,
                ));
            })
            .map_err(|e| Error::Setup(format!("cannot start the outputs thread: {e}")))?;
        Ok(Some(Outputs {
            shared,
            outputs: all,
            thread: Some(thread),
            flushed,
            stop: Some(stop),
            linger: outputs.linger,
            listening,
            execs: Mutex::new(execs),
            every: interval.min(Duration::from_secs(1)),
            next_ms: AtomicU64::new(0),
        }))
    }

    /// Hand a live snapshot over (controller thread, each tick): it replaces one the
    /// thread has not taken yet, since counters are cumulative and nothing is lost;
    /// its spans join those waiting, up to [`SPAN_QUEUE`].
    pub fn on_snapshot(&self, snapshot: &Snapshot) {
        let shared = &self.shared;
        shared
            .upstream_dropped
            .store(snapshot.spans_dropped, Ordering::Relaxed);
        // Copying the statistics costs the controller's thread (the generator's CPU
        // in a pinned run): only as often as an output can use them.
        let now_ms = u64::try_from(snapshot.elapsed.as_millis()).unwrap_or(u64::MAX);
        let due = snapshot.last || now_ms >= self.next_ms.load(Ordering::Relaxed);
        let with_spans = shared.wants_spans && !snapshot.spans.is_empty();
        if !due && !with_spans {
            return;
        }
        let taken = due.then(|| {
            let every = u64::try_from(self.every.as_millis()).unwrap_or(1000);
            self.next_ms.store(now_ms + every, Ordering::Relaxed);
            Snapshot {
                spans: Vec::new(),
                ..snapshot.clone()
            }
        });
        let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        if shared.wants_spans {
            let room = SPAN_QUEUE.saturating_sub(pending.spans.len());
            let fit = snapshot.spans.len().min(room);
            pending.spans.extend_from_slice(&snapshot.spans[..fit]);
            pending.overflow += (snapshot.spans.len() - fit) as u64;
        }
        if taken.is_some() {
            pending.snapshot = taken;
        }
        drop(pending);
        shared.wake.notify_one();
    }

    /// Wait (at most [`FLUSH_TIMEOUT`]) for the last pushes of the run, and say how
    /// every output fared. The live view is closed by now: the output plugins'
    /// held output is printed.
    pub fn finish(&self) -> Vec<OutputJson> {
        let _ = self.flushed.recv_timeout(FLUSH_TIMEOUT);
        // The plugins' lines queued so far are written before their counts go in
        // the report (the report line says how many lines came before it); a
        // plugin that does not read costs at most `WRITTEN_WAIT` here.
        let deadline = Instant::now() + WRITTEN_WAIT.min(self.linger);
        for plugin in lock(&self.execs).iter() {
            plugin.wait_written(deadline);
            plugin.release_log();
        }
        self.entries()
    }

    fn entries(&self) -> Vec<OutputJson> {
        let upstream = self.shared.upstream_dropped.load(Ordering::Relaxed);
        self.outputs
            .iter()
            .map(|(kind, address, counts)| counts.json(*kind, address, upstream))
            .collect()
    }

    /// The report, done but for its `exec` entries, to every output plugin as its
    /// last line; then wait for the plugins to exit (within `--metrics-linger`; a
    /// new Ctrl-C ends the wait), and put how they fared in the report: its
    /// `outputs` (which [`finish`] filled) and its warnings.
    ///
    /// [`finish`]: Outputs::finish
    pub fn send_report(&self, report: &mut Report, control: &Control) {
        let mut execs = lock(&self.execs);
        if execs.is_empty() {
            return;
        }
        let line = exec::report_line(report);
        let deadline = Instant::now() + self.linger;
        let seen_interrupts = control.interrupts();
        let give_up = || control.interrupts() != seen_interrupts;
        for plugin in execs.iter_mut() {
            plugin.close(Some(line.clone()), deadline, &give_up);
        }
        drop(execs);
        for (i, entry) in self.entries().into_iter().enumerate() {
            if entry.kind != OutputKind::Exec.key() {
                continue;
            }
            let Some(slot) = report.outputs.get_mut(i) else {
                continue;
            };
            if let Some(old) = warning(slot) {
                report.warnings.retain(|w| *w != old);
            }
            report.warnings.extend(warning(&entry));
            *slot = entry;
        }
    }

    /// Keep serving `/metrics` for the linger time after the run, so the last scrape
    /// sees the final numbers; a Ctrl-C now ends it at once.
    pub fn linger(self, control: &Control) {
        if !self.listening.is_empty() && !self.linger.is_zero() {
            let addresses: Vec<String> = self
                .listening
                .iter()
                .map(|a| format!("http://{a}/metrics"))
                .collect();
            eprintln!(
                "serving the final metrics on {} for {:?} (--metrics-linger)",
                addresses.join(", "),
                self.linger
            );
            let until = Instant::now() + self.linger;
            let seen_interrupts = control.interrupts();
            while Instant::now() < until && control.interrupts() == seen_interrupts {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Stop serving and pushing, and let the thread end (also when the run failed
/// before its last snapshot); an output plugin still running gets the end of its
/// stdin and the linger time to exit.
impl Drop for Outputs {
    fn drop(&mut self) {
        self.stop.take();
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let deadline = Instant::now() + self.linger;
        for plugin in lock(&self.execs).iter_mut() {
            plugin.close(None, deadline, &|| false);
        }
    }
}

/// The report's warning about an output that failed or dropped, if it did.
pub fn warning(o: &OutputJson) -> Option<String> {
    (o.failed > 0 || o.dropped > 0).then(|| {
        format!(
            "output {} {}: {} exports failed, {} dropped{}",
            o.kind,
            o.address,
            o.failed,
            o.dropped,
            o.last_error
                .as_ref()
                .map_or(String::new(), |e| format!(" (last: {e})"))
        )
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether every push output's address is one its kind can use (as [`Outputs::start`]
/// will find), without opening anything: what a dry run, and a run before its
/// plan is made, check.
///
/// # Errors
/// The first address its kind cannot use, and why.
pub fn check_addresses(ir: &Ir, rule: &Redact) -> Result<(), Error> {
    let pushed = ir
        .outputs
        .specs
        .iter()
        .filter(|s| !matches!(s.kind, OutputKind::Prometheus | OutputKind::Exec));
    for spec in pushed {
        encoder(spec.kind, &spec.address, &RunLabels::default(), &[], 0)
            .map_err(|e| unusable(spec, rule, &e))?;
    }
    Ok(())
}

/// The error of an output whose address its kind cannot use.
fn unusable(spec: &kaioken_compiler::OutputSpec, rule: &Redact, why: &str) -> Error {
    Error::Setup(format!(
        "-o {}={}: {why}",
        spec.kind.key(),
        rule.url(&spec.address)
    ))
}

/// The encoder of a push output (its module parses the address).
fn encoder(
    kind: OutputKind,
    address: &str,
    labels: &RunLabels,
    steps: &[otlp::StepNames],
    started_unix_ms: u64,
) -> Result<Box<dyn Push>, String> {
    Ok(match kind {
        OutputKind::PrometheusRemoteWrite => Box::new(remote_write::RemoteWrite::new(address)?),
        OutputKind::Influxdb => {
            let token = std::env::var("KAIOKEN_INFLUXDB_TOKEN").ok();
            Box::new(influx::Influx::new(address, token.as_deref())?)
        }
        OutputKind::Otlp => Box::new(otlp::Otlp::new(
            address,
            started_unix_ms.saturating_mul(1_000_000),
            &labels.tags,
            steps.to_vec(),
        )?),
        OutputKind::Prometheus => return Err("`prometheus` is served, not pushed".into()),
        OutputKind::Exec => return Err("`exec` writes to a command, not pushed".into()),
    })
}

/// Milliseconds since the Unix epoch, now.
fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the outputs thread runs, by kind: `/metrics` servers, push outputs, and
/// output plugins' interval lines.
struct Kinds {
    listeners: Vec<(TcpListener, Arc<Counts>)>,
    pushes: Vec<(Box<dyn Push>, Arc<Counts>)>,
    execs: Vec<(exec::Sender, exec::Encoder)>,
}

/// The outputs thread: take snapshots as they come, turn them into metrics for
/// the `/metrics` servers and every push task; after the last, flush the pushes and
/// serve until stopped.
async fn serve(
    shared: Arc<Shared>,
    labels: &RunLabels,
    Kinds {
        listeners,
        pushes,
        execs,
    }: Kinds,
    interval: Duration,
    flushed: std::sync::mpsc::Sender<()>,
    stopped: watch::Receiver<bool>,
) {
    let (latest_tx, latest_rx) = watch::channel::<Option<Arc<Metrics>>>(None);
    for (listener, counts) in listeners {
        if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
            tokio::spawn(prometheus::serve(
                listener,
                latest_rx.clone(),
                counts,
                stopped.clone(),
            ));
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut span_queues = Vec::new();
    for (push, counts) in pushes {
        let queue = counts.spans.is_some().then(|| {
            let queue = Arc::new(Mutex::new(Vec::new()));
            span_queues.push((queue.clone(), counts.clone()));
            queue
        });
        tasks.spawn(send::push_loop(
            send::Pusher {
                push,
                counts,
                rule: shared.rule.clone(),
            },
            latest_rx.clone(),
            queue,
            interval,
        ));
    }
    let (taken_tx, taken_rx) = watch::channel::<Option<Arc<exec::Taken>>>(None);
    let with_execs = !execs.is_empty();
    for (sender, encoder) in execs {
        tasks.spawn(exec::interval_loop(
            sender,
            encoder,
            taken_rx.clone(),
            interval,
        ));
    }
    loop {
        shared.wake.notified().await;
        let (taken, spans, overflow) = {
            let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            (
                pending.snapshot.take(),
                std::mem::take(&mut pending.spans),
                std::mem::take(&mut pending.overflow),
            )
        };
        // Spans first: a push task that sees the last metrics finds every span.
        for (queue, counts) in &span_queues {
            let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
            let room = SPAN_QUEUE.saturating_sub(queue.len());
            let fit = spans.len().min(room);
            queue.extend_from_slice(&spans[..fit]);
            let lost = overflow + (spans.len() - fit) as u64;
            if lost > 0 {
                counts.dropped.fetch_add(lost, Ordering::Relaxed);
                if let Some(s) = &counts.spans {
                    s.lost.fetch_add(lost, Ordering::Relaxed);
                }
            }
        }
        let Some(snapshot) = taken else {
            if stopped.has_changed().is_err() {
                return;
            }
            continue;
        };
        let metrics = Metrics::of(&snapshot, labels, now_unix_ms());
        let last = metrics.last;
        if with_execs {
            taken_tx.send_replace(Some(Arc::new(exec::Taken {
                time_unix_ms: metrics.time_unix_ms,
                snapshot,
            })));
        }
        latest_tx.send_replace(Some(Arc::new(metrics)));
        if last {
            break;
        }
    }
    // The push tasks end after sending the last metrics.
    while tasks.join_next().await.is_some() {}
    let _ = flushed.send(());
    // Serve `/metrics` until `linger` drops the sender.
    let mut stopped = stopped;
    let _ = stopped.changed().await;
    drop(latest_tx);
}
