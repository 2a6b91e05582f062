//! The closed-model executor: worker threads, VU tasks, stopping and merging.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kaioken_vm::{Program, SystemHost, Yield};
use rustls::ClientConfig;
use tokio::task::{JoinSet, LocalSet};

use crate::control::reached;
use crate::http1::{Http1, StepInfo};
use crate::http2::Http2;
use crate::rate::Pacer;
use crate::stats::{Outcome, RunStats, WorkerStats};
use crate::{Control, RunConfig, StopReason};

/// A live view of a run, handed to the progress callback about once a second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Time since the run started (warm-up included).
    pub elapsed: Duration,
    /// Whether the warm-up is still going.
    pub warming_up: bool,
    /// Requests finished so far (warm-up included).
    pub requests: u64,
    /// Of those, the failed ones.
    pub errors: u64,
    /// The run's planned length, if it has one.
    pub planned: Option<Duration>,
}

/// How long requests in flight may take to finish after the run is told to stop,
/// before they are abandoned (capped by the request timeout). Letting them finish
/// keeps our counts equal to what the server saw; after Ctrl-C the user wants the
/// report soon, so the wait is shorter.
const GRACE: Duration = Duration::from_secs(5);
const GRACE_INTERRUPTED: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(50);

/// Per-worker counters the controller reads for progress. Written by one thread only,
/// so a load and a store replace a locked add; padded so workers don't share a line.
#[repr(align(128))]
#[derive(Default)]
struct Live {
    requests: AtomicU64,
    errors: AtomicU64,
}

struct Shared {
    config: RunConfig,
    tls: Option<Arc<ClientConfig>>,
    infos: Arc<[StepInfo]>,
    control: Arc<Control>,
    issued: AtomicU64,
    start: Instant,
    measure_from: Instant,
    live: Vec<Live>,
    running: AtomicUsize,
}

/// Run the load described by `config` until its duration or request budget is
/// spent, or `control` is told to stop. Blocks the calling thread, which acts as the
/// controller and calls `on_tick` about once a second.
///
/// # Errors
///
/// Only set-up failures (an unusable `--cacert`); failures of requests are counted
/// in the returned statistics, never returned as errors.
pub fn run(
    config: &RunConfig,
    control: Arc<Control>,
    on_tick: &mut dyn FnMut(&Progress),
) -> Result<RunStats, String> {
    let needs_tls = config
        .program
        .origins
        .iter()
        .any(|o| o.scheme == kaioken_vm::Scheme::Https);
    let tls = if needs_tls {
        Some(crate::tls::client_config(&config.http)?)
    } else {
        None
    };
    let vus = config.load.vus.max(1) as usize;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if config.threads == 0 {
        cpus
    } else {
        config.threads
    }
    .clamp(1, vus);
    let start = Instant::now();
    let measure_from = start + config.load.warmup;
    let deadline = config.load.duration.map(|d| measure_from + d);
    let shared = Arc::new(Shared {
        config: config.clone(),
        tls,
        infos: StepInfo::for_program(&config.program),
        control: control.clone(),
        issued: AtomicU64::new(0),
        start,
        measure_from,
        live: (0..threads).map(|_| Live::default()).collect(),
        running: AtomicUsize::new(threads),
    });
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("kaioken-worker-{index}"))
                .spawn(move || worker(&shared, index, threads))
                .map_err(|e| format!("cannot start a worker thread: {e}"))
        })
        .collect::<Result<_, _>>()?;

    let mut stopping_since: Option<Instant> = None;
    let mut next_tick = start + Duration::from_secs(1);
    while shared.running.load(Ordering::Acquire) > 0 {
        thread::sleep(TICK);
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            control.stop(StopReason::Duration);
        }
        if control.is_stopping() {
            let since = *stopping_since.get_or_insert(now);
            let grace = if control.reason() == Some(StopReason::Interrupted) {
                GRACE_INTERRUPTED
            } else {
                GRACE
            };
            if now.duration_since(since) >= grace.min(config.http.timeout) {
                control.hard_stop();
            }
        }
        if now >= next_tick {
            next_tick += Duration::from_secs(1);
            let (requests, errors) = shared.live.iter().fold((0, 0), |(r, e), l| {
                (
                    r + l.requests.load(Ordering::Relaxed),
                    e + l.errors.load(Ordering::Relaxed),
                )
            });
            on_tick(&Progress {
                elapsed: now - start,
                warming_up: now < measure_from,
                requests,
                errors,
                planned: config.load.duration.map(|d| d + config.load.warmup),
            });
        }
    }
    let mut workers = Vec::with_capacity(threads);
    let mut finished = measure_from;
    for h in handles {
        match h.join() {
            Ok((stats, done_at)) => {
                finished = finished.max(done_at);
                workers.push(stats);
            }
            Err(_) => return Err("internal error, this may indicate a bug in kaioken: a worker thread panicked; please file an issue".into()),
        }
    }
    Ok(RunStats::merge(
        workers,
        finished.saturating_duration_since(measure_from),
    ))
}

/// What a worker's VUs share: the worker's statistics and pacer. Single-threaded.
struct WorkerCtx {
    shared: Arc<Shared>,
    index: usize,
    stats: RefCell<WorkerStats>,
    in_flight: Cell<u64>,
    pacer: Option<Pacer>,
}

fn worker(shared: &Arc<Shared>, index: usize, threads: usize) -> (WorkerStats, Instant) {
    let load = &shared.config.load;
    let expected_secs = load.duration.map_or(60, |d| d.as_secs() as usize);
    let stats = WorkerStats::new(shared.measure_from, expected_secs);
    let total = load.vus as usize;
    let mine: Vec<usize> = (0..total).filter(|i| i % threads == index).collect();
    let pacer = load
        .rate
        .map(|r| Pacer::new(r * mine.len() as f64 / total as f64));
    let ctx = Rc::new(WorkerCtx {
        shared: shared.clone(),
        index,
        stats: RefCell::new(stats),
        in_flight: Cell::new(0),
        pacer,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    if let Ok(rt) = rt {
        let local = LocalSet::new();
        local.block_on(&rt, async {
            let mut set = JoinSet::new();
            for i in mine {
                let delay = load.ramp_up.mul_f64(i as f64 / total as f64);
                set.spawn_local(vu_loop(ctx.clone(), i as u32 + 1, delay));
            }
            let mut hard = shared.control.subscribe();
            tokio::select! {
                _ = async { while set.join_next().await.is_some() {} } => {}
                _ = reached(&mut hard, 2) => {}
            }
        });
    }
    let done_at = Instant::now();
    shared.running.fetch_sub(1, Ordering::AcqRel);
    // VU tasks cut off by a hard stop never decremented their in-flight count.
    let unfinished = ctx.in_flight.get();
    let mut stats = match Rc::try_unwrap(ctx) {
        Ok(ctx) => ctx.stats.into_inner(),
        Err(ctx) => ctx.stats.replace(WorkerStats::new(shared.measure_from, 0)),
    };
    stats.unfinished = unfinished;
    (stats, done_at)
}

enum Driver {
    H1(Http1),
    H2(Http2),
}

async fn vu_loop(ctx: Rc<WorkerCtx>, vu: u32, delay: Duration) {
    let shared = &*ctx.shared;
    let control = &*shared.control;
    let program: &Program = &shared.config.program;
    let http = &shared.config.http;
    let mut stop_rx = control.subscribe();
    if !delay.is_zero() {
        let at = tokio::time::Instant::from_std(shared.start + delay);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = reached(&mut stop_rx, 1) => return,
        }
    }
    let mut state = program.create_vu_state(vu);
    let mut driver = if http.http2 {
        Driver::H2(Http2::new(program))
    } else {
        Driver::H1(Http1::new(program))
    };
    let live = &shared.live[ctx.index];
    let tls = shared.tls.as_ref();
    loop {
        if control.is_stopping() {
            break;
        }
        let step = match program.resume(&mut state, &mut SystemHost) {
            Yield::IterationDone => continue,
            Yield::Send(step) => step,
        };
        if let Some(max) = shared.config.load.max_requests {
            if shared.issued.fetch_add(1, Ordering::Relaxed) >= max {
                control.stop(StopReason::MaxRequests);
                break;
            }
        }
        if let Some(pacer) = &ctx.pacer {
            let at = pacer.reserve(Instant::now());
            if at > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                    _ = reached(&mut stop_rx, 1) => break,
                }
            }
        }
        ctx.in_flight.set(ctx.in_flight.get() + 1);
        let start = Instant::now();
        let (outcome, sent) = match &mut driver {
            Driver::H1(d) => {
                let outcome = d
                    .send(
                        program,
                        &state,
                        step,
                        &shared.infos[step.index()],
                        tls,
                        http.timeout,
                    )
                    .await;
                (outcome, d.request_len())
            }
            Driver::H2(d) => {
                let outcome = d.send(program, &state, step, tls, http.timeout).await;
                (outcome, d.request_len())
            }
        };
        let end = Instant::now();
        ctx.in_flight.set(ctx.in_flight.get() - 1);
        ctx.stats.borrow_mut().record(start, end, sent, outcome);
        live.requests
            .store(live.requests.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if let Outcome::Error(kind) = outcome {
            let detail = match &mut driver {
                Driver::H1(d) => d.detail.take(),
                Driver::H2(d) => d.detail.take(),
            };
            let mut stats = ctx.stats.borrow_mut();
            let slot = &mut stats.error_details[kind as usize];
            if slot.is_none() {
                *slot = Some(detail.unwrap_or_else(|| default_detail(kind, http.timeout)));
            }
            drop(stats);
            live.errors
                .store(live.errors.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            // The rest of this iteration may depend on the failed response.
            state.restart_iteration(program);
        }
    }
}

/// A message for errors whose driver left none.
#[cold]
fn default_detail(kind: crate::ErrorKind, timeout: Duration) -> String {
    match kind {
        crate::ErrorKind::Timeout => {
            format!("no complete response within {}ms", timeout.as_millis())
        }
        other => other.describe().to_owned(),
    }
}
