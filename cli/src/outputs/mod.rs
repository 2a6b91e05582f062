//! Streaming outputs (`-o KIND=ADDRESS`, `[[outputs]]`): the run's metrics to
//! Prometheus, InfluxDB and OpenTelemetry while it goes.
//!
//! ```text
//!   controller thread: on_tick(Snapshot) ── try_send (bounded; a full queue drops
//!                                            the snapshot and counts it) ──┐
//!   thread "kaioken-outputs" (its own tokio runtime):                     ▼
//!        Metrics::of(snapshot) ─► /metrics server's latest (prometheus)
//!                              └► each push output's task: requests() ─► POST,
//!                                 with a timeout; failures counted, never retried
//!                                 in a loop that could hold the run back
//! ```
//!
//! Nothing here runs on a worker thread: the cost to the run is one snapshot clone
//! per tick on the controller thread.

pub mod metrics;
pub mod prometheus;
pub mod push;
mod send;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kaioken_compiler::{Ir, OutputKind};
use kaioken_runtime::{Control, Snapshot};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::error::Error;
use metrics::{Metrics, RunLabels};
use push::Push;

/// How long the end of a run waits for the push outputs' last sends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// What the report says about one output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputJson {
    /// `prometheus`, `prometheus-rw`, `influxdb` or `otlp`.
    pub kind: String,
    /// Where, with credentials hidden.
    pub address: String,
    /// Pushes accepted, or scrapes served (`prometheus`).
    pub exports: u64,
    /// Pushes that failed: refused, timed out, or answered with an error.
    pub failed: u64,
    /// Snapshots or spans that never went out because the output fell behind.
    pub dropped: u64,
    /// The last failure, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// An output's counts, kept by its task and read for the report.
#[derive(Default)]
struct Counts {
    exports: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counts {
    fn fail(&self, message: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    fn json(&self, kind: OutputKind, address: &str) -> OutputJson {
        OutputJson {
            kind: kind.key().to_owned(),
            address: hide_credentials(address),
            exports: self.exports.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// A URL with its user's password and any token or password query value hidden.
pub fn hide_credentials(address: &str) -> String {
    let mut out = address.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = &out[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            out = format!(
                "{}{user}:{}{}",
                &out[..scheme_end + 3],
                kaioken_compiler::REDACTED,
                &rest[at..]
            );
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if ["p", "password", "token"].contains(&k) => {
                    format!("{k}={}", kaioken_compiler::REDACTED)
                }
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

/// What the outputs thread shares with the run's side.
struct Shared {
    /// The latest snapshot not yet taken by the thread.
    pending: Mutex<Option<Snapshot>>,
    wake: Notify,
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
}

impl Outputs {
    /// Start the outputs of `ir`, if it has any: listen on every `prometheus`
    /// address (a port in use is an error now, before any load) and start the thread
    /// that serves and pushes.
    ///
    /// # Errors
    /// An address that cannot be listened on, or an output's address that its kind
    /// cannot use.
    pub fn start(ir: &Ir, labels: RunLabels) -> Result<Option<Outputs>, Error> {
        let outputs = &ir.outputs;
        if outputs.specs.is_empty() {
            return Ok(None);
        }
        let mut listeners = Vec::new();
        let mut pushes: Vec<(Box<dyn Push>, Arc<Counts>)> = Vec::new();
        let mut all = Vec::new();
        for spec in &outputs.specs {
            let counts = Arc::new(Counts::default());
            all.push((spec.kind, spec.address.clone(), counts.clone()));
            if spec.kind == OutputKind::Prometheus {
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
                let push = encoder(spec.kind, &spec.address, &labels).map_err(|e| {
                    Error::Setup(format!(
                        "-o {}={}: {e}",
                        spec.kind.key(),
                        hide_credentials(&spec.address)
                    ))
                })?;
                pushes.push((push, counts));
            }
        }
        let listening = listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect();
        let shared = Arc::new(Shared {
            pending: Mutex::new(None),
            wake: Notify::new(),
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
                    labels,
                    listeners,
                    pushes,
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
        }))
    }

    /// Hand a live snapshot over (controller thread, each tick): it replaces one the
    /// thread has not taken yet, since counters are cumulative and nothing is lost.
    pub fn on_snapshot(&self, snapshot: &Snapshot) {
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *pending = Some(snapshot.clone());
        drop(pending);
        self.shared.wake.notify_one();
    }

    /// Wait (at most [`FLUSH_TIMEOUT`]) for the last pushes of the run, and say how
    /// every output fared.
    pub fn finish(&self) -> Vec<OutputJson> {
        let _ = self.flushed.recv_timeout(FLUSH_TIMEOUT);
        self.outputs
            .iter()
            .map(|(kind, address, counts)| counts.json(*kind, address))
            .collect()
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
/// before its last snapshot).
impl Drop for Outputs {
    fn drop(&mut self) {
        self.stop.take();
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The encoder of a push output (its module parses the address).
fn encoder(kind: OutputKind, address: &str, labels: &RunLabels) -> Result<Box<dyn Push>, String> {
    let _ = (address, labels);
    Err(format!("`{}` is not available in this build", kind.key()))
}

/// Milliseconds since the Unix epoch, now.
fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The outputs thread: take snapshots as they come, turn them into metrics for
/// the `/metrics` servers and every push task; after the last, flush the pushes and
/// serve until stopped.
async fn serve(
    shared: Arc<Shared>,
    labels: RunLabels,
    listeners: Vec<(TcpListener, Arc<Counts>)>,
    pushes: Vec<(Box<dyn Push>, Arc<Counts>)>,
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
    for (push, counts) in pushes {
        tasks.spawn(send::push_loop(push, counts, latest_rx.clone(), interval));
    }
    loop {
        shared.wake.notified().await;
        let taken = shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(snapshot) = taken else {
            if stopped.has_changed().is_err() {
                return;
            }
            continue;
        };
        let metrics = Metrics::of(&snapshot, &labels, now_unix_ms());
        let last = metrics.last;
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
