//! The executors: worker threads, VU tasks, stopping and merging.
//!
//! Closed model: each VU loops as fast as the target answers. With stages, the
//! controller publishes the number of VUs that should be active; VUs above it park
//! between iterations until the level rises again.
//!
//! Open model: each worker runs a scheduler that walks its stripe of the global
//! iteration schedule ([`Profile::time_of`]), releases every iteration whose time has
//! come (in a batch, so millisecond timers do not cap the rate) into a bounded queue,
//! and hands them to idle VUs, starting new VUs up to its share of `max_vus`. An
//! iteration that finds the queue full, or waits longer than `queue_timeout`, is
//! dropped and counted. With latency correction, a request's latency counts from its
//! iteration's scheduled start, so time spent waiting for a VU is not hidden.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kaioken_vm::{Program, Protocol, Yield};
use rustls::ClientConfig;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinSet, LocalSet};

use crate::control::reached;
use crate::driver::{Drivers, Transport};
use crate::http1::StepInfo;
use crate::rate::Pacer;
use crate::stats::{Outcome, RunStats, WorkerStats};
use crate::vu::{After, Exchange, Vu, Worker as VuWorker};
use crate::{Control, Profile, RunConfig, StopReason};

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
/// Open model: a VU idle this long retires (above the pre-allocated number).
const RETIRE_AFTER: Duration = Duration::from_secs(1);
/// Open model: the scheduler yields to its VUs after releasing this many iterations
/// in one go, so a schedule that has fallen behind cannot starve them.
const RELEASE_BATCH: u32 = 64;
/// Open model: iterations due within this much of now are released together (one
/// timer tick), so they start at most this early and typically on time.
const TICK_AHEAD: Duration = Duration::from_millis(1);

/// Per-worker counters the controller reads for progress. Written by one thread only,
/// so a load and a store replace a locked add; padded so workers don't share a line.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Live {
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Live {
    /// Count a finished request. One writer per worker, so a load and a store
    /// replace a locked add.
    #[inline]
    pub(crate) fn count(&self, error: bool) {
        self.requests
            .store(self.requests.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if error {
            self.errors
                .store(self.errors.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }
}

pub(crate) struct Shared {
    pub(crate) config: RunConfig,
    /// What every exchange shares: settings, TLS per protocol, per-step facts.
    pub(crate) transport: Transport,
    pub(crate) control: Arc<Control>,
    pub(crate) issued: AtomicU64,
    pub(crate) start: Instant,
    pub(crate) measure_from: Instant,
    /// When the measured window ends, if the run has a duration.
    pub(crate) deadline: Option<Instant>,
    pub(crate) live: Vec<Live>,
    pub(crate) running: AtomicUsize,
    /// Closed model: how many VUs should be active now (VU numbers 1..=target).
    pub(crate) vu_target: AtomicU32,
    pub(crate) vu_target_tx: watch::Sender<u32>,
    /// The level over the whole run, warm-up included.
    pub(crate) profile: Option<Profile>,
    pub(crate) threads: usize,
}

impl Shared {
    /// Everything the workers share, with the run's clock starting now.
    ///
    /// # Errors
    ///
    /// An unusable TLS configuration (`--cacert`).
    pub(crate) fn new(config: &RunConfig, control: Arc<Control>) -> Result<Shared, String> {
        // The engines index tables by the program's ids and trust its control flow.
        config.program.validate().map_err(|e| {
            format!("internal error, this may indicate a bug in kaioken: {e}; please file an issue")
        })?;
        // A TLS configuration for each protocol a step speaks to an `https` origin, or
        // may after a redirect (from `http` to `https` is the most common one).
        let program = &config.program;
        let mut tls: [Option<Arc<ClientConfig>>; Protocol::ALL.len()] = Default::default();
        for step in &program.steps {
            let https = program.origins[step.origin].scheme == kaioken_vm::Scheme::Https;
            let slot = &mut tls[step.protocol.index()];
            if slot.is_none() && (https || config.http.max_redirects > 0) {
                *slot = Some(crate::tls::client_config(&config.http, step.protocol)?);
            }
        }
        let load = &config.load;
        let vus = load.vus.max(1) as usize;
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        let threads = if config.threads == 0 {
            cpus
        } else {
            config.threads
        }
        .clamp(1, vus);
        let start = Instant::now();
        let measure_from = start + load.warmup;
        let profile = load.profile.as_ref().map(|p| p.with_lead(load.warmup));
        let initial_target = match (&profile, &load.arrival) {
            (Some(p), None) => p.level_at(Duration::ZERO).round() as u32,
            _ => load.vus,
        };
        Ok(Shared {
            config: config.clone(),
            transport: Transport {
                http: config.http.clone(),
                tls,
                infos: StepInfo::for_program(&config.program, config.http.cookie_jar),
            },
            control,
            issued: AtomicU64::new(0),
            start,
            measure_from,
            deadline: load.duration.map(|d| measure_from + d),
            live: (0..threads).map(|_| Live::default()).collect(),
            running: AtomicUsize::new(threads),
            vu_target: AtomicU32::new(initial_target),
            vu_target_tx: watch::Sender::new(initial_target),
            profile,
            threads,
        })
    }

    /// Claim one request from `max_requests`; `false` when the budget is spent (and
    /// the run is told to stop).
    pub(crate) fn claim(&self) -> bool {
        match self.config.load.max_requests {
            Some(max) if self.issued.fetch_add(1, Ordering::Relaxed) >= max => {
                self.control.stop(StopReason::MaxRequests);
                false
            }
            _ => true,
        }
    }

    /// Whether another request may start: the run is not stopping, its deadline has not
    /// passed (checked here, not only by the controller's tick, so that no request
    /// starts after it), and the budget has room (claimed).
    pub(crate) fn may_continue(&self) -> bool {
        if self.control.is_stopping() {
            return false;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.control.stop(StopReason::Duration);
            return false;
        }
        self.claim()
    }
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
    let shared = Arc::new(Shared::new(config, control.clone())?);
    let (threads, start, measure_from, deadline, load) = (
        shared.threads,
        shared.start,
        shared.measure_from,
        shared.deadline,
        &config.load,
    );
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("kaioken-worker-{index}"))
                .spawn(move || worker(&shared, index))
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
        if let (Some(p), None) = (&shared.profile, &load.arrival) {
            let target = p.level_at(now - start).round() as u32;
            shared.vu_target.store(target, Ordering::Release);
            shared
                .vu_target_tx
                .send_if_modified(|t| std::mem::replace(t, target) != target);
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
                planned: load.duration.map(|d| d + load.warmup),
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
            Err(_) => {
                return Err("internal error, this may indicate a bug in kaioken: a worker thread panicked; please file an issue".into());
            }
        }
    }
    Ok(RunStats::merge(
        workers,
        finished.saturating_duration_since(measure_from),
    ))
}

/// What a worker's VUs share: the worker's statistics, pacer and (open model)
/// iteration queue. Single-threaded.
struct WorkerCtx {
    shared: Arc<Shared>,
    /// This worker's own copy of the program. A compiled regex's cache pool is
    /// lock-free only for the thread that used it first; every other thread takes
    /// a mutex per search. One copy per worker keeps every check and extractor on
    /// the lock-free path.
    program: Program,
    index: usize,
    stats: RefCell<WorkerStats>,
    in_flight: Cell<u64>,
    pacer: Option<Pacer>,
    open: Option<OpenQueue>,
}

impl WorkerCtx {
    /// Whether one more request may start: first wait for the rate limit (closed
    /// model; a stop cuts the wait short), then [`Shared::may_continue`]. Every request
    /// of the tokio engine, redirect hops included, passes here, in this order, so none
    /// starts after a stop or the deadline and none goes past the budget.
    async fn may_send(&self, stop_rx: &mut watch::Receiver<u8>) -> bool {
        if let Some(pacer) = &self.pacer {
            let at = pacer.reserve(Instant::now());
            if at > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                    _ = reached(stop_rx, 1) => return false,
                }
            }
        }
        self.shared.may_continue()
    }
}

/// The open model's per-worker queue of iterations waiting for a VU.
struct OpenQueue {
    /// Scheduled start times of the iterations that are due.
    due: RefCell<VecDeque<Instant>>,
    capacity: usize,
    /// Wakes an idle VU when an iteration is queued, or all when the schedule ends.
    ready: Notify,
    /// Wakes the worker when a VU retires.
    retired: Notify,
    alive: Cell<u32>,
    idle: Cell<u32>,
    max_vus: u32,
    pre_allocated: u32,
    next_vu: Cell<u32>,
    schedule_done: Cell<bool>,
}

/// This worker's share of `total`, split as evenly as possible.
fn share(total: u32, index: usize, threads: usize) -> u32 {
    let (total, index, threads) = (total as usize, index, threads);
    (total / threads + usize::from(index < total % threads)) as u32
}

/// Counts a worker out when it ends, however it ends: a worker that panicked must
/// not leave the controller waiting for it forever.
struct RunningGuard<'a>(&'a AtomicUsize);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn worker(shared: &Arc<Shared>, index: usize) -> (WorkerStats, Instant) {
    let running = RunningGuard(&shared.running);
    let load = &shared.config.load;
    let threads = shared.threads;
    let expected_secs = load.duration.map_or(60, |d| d.as_secs() as usize);
    let checks = shared.config.program.checks.len();
    let extractors = shared.config.program.extractors.len();
    let scenarios = shared.config.program.scenarios.len();
    let mut stats = WorkerStats::new(shared.measure_from, expected_secs)
        .with_checks(checks)
        .with_extractors(extractors)
        .with_scenarios(scenarios);
    if let Some(arrival) = &load.arrival {
        stats = stats.open_model(arrival.latency_correction);
    }
    let open = load.arrival.as_ref().map(|a| {
        let max_vus = share(load.vus, index, threads).max(1);
        OpenQueue {
            due: RefCell::new(VecDeque::with_capacity(1024)),
            capacity: share(a.queue_size, index, threads).max(1) as usize,
            ready: Notify::new(),
            retired: Notify::new(),
            alive: Cell::new(0),
            idle: Cell::new(0),
            max_vus,
            pre_allocated: share(a.pre_allocated_vus, index, threads).clamp(1, max_vus),
            next_vu: Cell::new(0),
            schedule_done: Cell::new(false),
        }
    });
    let program = Program::clone(&shared.config.program);
    let total = load.vus as usize;
    let mine: Vec<usize> = (0..total).filter(|i| i % threads == index).collect();
    // The VUs the io_uring engine hands over, in `mine`'s order.
    let mut handed: Vec<Option<Vu>> = Vec::new();
    #[cfg(target_os = "linux")]
    if let Some(addr) = crate::uring::eligible(shared) {
        let numbers: Vec<u32> = mine.iter().map(|&i| i as u32 + 1).collect();
        // An error means io_uring is not available here (an old kernel, seccomp), found
        // before anything was sent: the tokio engine below runs the VUs instead.
        match crate::uring::run_worker(shared, &program, index, addr, &numbers, &mut stats) {
            Ok(finished) if finished.handoff.is_empty() => {
                let done_at = Instant::now();
                drop(running);
                stats.counts.unfinished = finished.unfinished;
                stats.engine = "io_uring";
                return (stats, done_at);
            }
            // A redirect to another origin: the tokio engine below goes on with the
            // same VUs, as they were, and the same statistics.
            Ok(finished) => {
                stats.engine = "io_uring+tokio";
                stats.counts.unfinished = finished.unfinished;
                handed = finished.handoff.into_iter().map(Some).collect();
            }
            Err(_) => {}
        }
    }
    let pacer = load
        .rate
        .map(|r| Pacer::new(r * mine.len() as f64 / total as f64));
    let ctx = Rc::new(WorkerCtx {
        shared: shared.clone(),
        program,
        index,
        stats: RefCell::new(stats),
        in_flight: Cell::new(0),
        pacer,
        open,
    });
    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        let local = LocalSet::new();
        local.block_on(&rt, async {
            let mut hard = shared.control.subscribe();
            if ctx.open.is_some() {
                tokio::select! {
                    _ = open_worker(ctx.clone()) => {}
                    _ = reached(&mut hard, 2) => {}
                }
            } else {
                let mut set = JoinSet::new();
                for (k, i) in mine.into_iter().enumerate() {
                    let delay = if load.profile.is_some() {
                        Duration::ZERO
                    } else {
                        load.ramp_up.mul_f64(i as f64 / total as f64)
                    };
                    let from = handed.get_mut(k).and_then(Option::take);
                    set.spawn_local(closed_vu(ctx.clone(), i as u32 + 1, delay, from));
                }
                tokio::select! {
                    _ = async { while set.join_next().await.is_some() {} } => {}
                    _ = reached(&mut hard, 2) => {}
                }
            }
        });
    }
    let done_at = Instant::now();
    drop(running);
    // VU tasks cut off by a hard stop never decremented their in-flight count.
    let unfinished = ctx.in_flight.get();
    let never_ran: Vec<Instant> = ctx
        .open
        .as_ref()
        .map_or_else(Vec::new, |q| q.due.borrow_mut().drain(..).collect());
    let mut stats = match Rc::try_unwrap(ctx) {
        Ok(ctx) => ctx.stats.into_inner(),
        Err(ctx) => ctx.stats.replace(WorkerStats::new(shared.measure_from, 0)),
    };
    // Iterations still queued when the run ended never ran: they were dropped.
    for due in never_ran {
        stats.iteration_dropped(due);
    }
    stats.counts.unfinished += unfinished;
    (stats, done_at)
}

/// A VU of the tokio engine: the VU machine and its drivers.
struct TokioVu {
    vu: Vu,
    drivers: Drivers,
}

impl TokioVu {
    /// Send the VU's request — its step's, or the redirect it is following — and
    /// every redirect after it, recording each; the VM then judges the last response.
    /// `intended` is the scheduled send time when latency correction applies;
    /// `stop_rx` is the VU's view of the run's stop. Returns `false` when the run
    /// stopped the step short (after a counted redirect).
    async fn send(
        &mut self,
        ctx: &WorkerCtx,
        mut intended: Option<Instant>,
        stop_rx: &mut watch::Receiver<u8>,
    ) -> bool {
        let shared = &*ctx.shared;
        let program: &Program = &ctx.program;
        loop {
            ctx.in_flight.set(ctx.in_flight.get() + 1);
            let request = self.vu.request(program);
            let protocol = request.protocol;
            let start = Instant::now();
            let outcome = self
                .drivers
                .perform(program, &shared.transport, &request)
                .await;
            let end = Instant::now();
            ctx.in_flight.set(ctx.in_flight.get() - 1);
            let Some(driver) = self.drivers.get(protocol) else {
                return false;
            };
            if let Outcome::Error(kind) = outcome {
                let detail = driver.take_detail();
                ctx.stats.borrow_mut().note_error_detail(kind, || {
                    detail.unwrap_or_else(|| default_detail(kind, shared.config.http.timeout))
                });
            }
            let exchange = Exchange {
                outcome,
                start,
                end,
                intended: intended.take(),
                bytes_sent: driver.bytes_sent(),
                capture: driver.capture(),
                location: driver.location(),
            };
            let after = self.vu.complete(
                &mut VuWorker {
                    program,
                    stats: &mut ctx.stats.borrow_mut(),
                    live: &shared.live[ctx.index],
                    max_redirects: shared.config.http.max_redirects,
                },
                &exchange,
            );
            match after {
                After::Done => return true,
                After::Redirect { evicted } => {
                    if let Some(slot) = evicted {
                        self.drivers.close(slot);
                    }
                    if !ctx.may_send(stop_rx).await {
                        self.vu.abandon_redirect(program);
                        return false;
                    }
                }
            }
        }
    }
}

async fn closed_vu(ctx: Rc<WorkerCtx>, number: u32, delay: Duration, from: Option<Vu>) {
    let shared = &*ctx.shared;
    let control = &*shared.control;
    let program: &Program = &ctx.program;
    let mut stop_rx = control.subscribe();
    if !delay.is_zero() {
        let at = tokio::time::Instant::from_std(shared.start + delay);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = reached(&mut stop_rx, 1) => return,
        }
    }
    let mut vu = TokioVu {
        vu: from.unwrap_or_else(|| Vu::new(program, number, shared.config.http.cookie_jar)),
        drivers: Drivers::default(),
    };
    let mut active = false;
    let mut at_entry = vu.vu.between_iterations(program);
    if !at_entry {
        // Handed over in the middle of an iteration: it is active already.
        active = true;
        ctx.stats.borrow_mut().vus_changed(Instant::now(), 1);
    }
    if vu.vu.following() {
        // Handed over with a redirect to another origin still to send.
        if !ctx.may_send(&mut stop_rx).await || !vu.send(&ctx, None, &mut stop_rx).await {
            vu.vu.abandon_redirect(program);
        }
    }
    loop {
        if control.is_stopping() {
            break;
        }
        if at_entry {
            // Stages: park above the current level, between iterations only.
            if shared.vu_target.load(Ordering::Acquire) < number {
                if active {
                    active = false;
                    ctx.stats.borrow_mut().vus_changed(Instant::now(), -1);
                }
                let mut target = shared.vu_target_tx.subscribe();
                tokio::select! {
                    _ = target.wait_for(|t| *t >= number) => {}
                    _ = reached(&mut stop_rx, 1) => break,
                }
                continue;
            }
            if !active {
                active = true;
                ctx.stats.borrow_mut().vus_changed(Instant::now(), 1);
            }
        }
        match vu.vu.next(program) {
            Yield::IterationDone | Yield::IterationAborted => {
                at_entry = true;
                continue;
            }
            Yield::Sleep(pause) => {
                if !think(pause, &mut stop_rx).await {
                    break;
                }
                continue;
            }
            Yield::Send(_) => {}
        }
        // Wait for the rate limit and claim from the budget first, and only then count
        // the iteration: a stop that cuts the wait short must not leave an iteration
        // counted that never sent anything.
        if !ctx.may_send(&mut stop_rx).await {
            break;
        }
        if at_entry {
            ctx.stats
                .borrow_mut()
                .iteration_started(Instant::now(), None);
        }
        at_entry = false;
        if !vu.send(&ctx, None, &mut stop_rx).await {
            break;
        }
    }
    if active {
        ctx.stats.borrow_mut().vus_changed(Instant::now(), -1);
    }
}

/// The open model on one worker: pre-allocate VUs, run the scheduler, then wait for
/// the VUs to drain the queue and retire.
async fn open_worker(ctx: Rc<WorkerCtx>) {
    let Some(queue) = &ctx.open else { return };
    for _ in 0..queue.pre_allocated {
        spawn_open_vu(&ctx);
    }
    schedule(&ctx).await;
    queue.schedule_done.set(true);
    queue.ready.notify_waiters();
    while queue.alive.get() > 0 {
        queue.retired.notified().await;
    }
}

fn spawn_open_vu(ctx: &Rc<WorkerCtx>) {
    let Some(queue) = &ctx.open else { return };
    let n = queue.next_vu.get();
    queue.next_vu.set(n + 1);
    queue.alive.set(queue.alive.get() + 1);
    // Global VU numbers: this worker's n-th VU, striped like the schedule.
    let number = (ctx.index + n as usize * ctx.shared.threads) as u32 + 1;
    ctx.stats.borrow_mut().vus_changed(Instant::now(), 1);
    tokio::task::spawn_local(open_vu(ctx.clone(), number));
}

/// Release this worker's stripe of the schedule: iteration `n` of the run is due at
/// `profile.time_of(n)`, and this worker takes every `threads`-th one.
async fn schedule(ctx: &Rc<WorkerCtx>) {
    let shared = &*ctx.shared;
    let Some(queue) = &ctx.open else { return };
    let Some(profile) = &shared.profile else {
        return;
    };
    let control = &*shared.control;
    let mut stop_rx = control.subscribe();
    let mut n = ctx.index as u64;
    let mut released = 0u32;
    let deadline = shared.deadline;
    loop {
        if control.is_stopping() {
            return;
        }
        let Some(offset) = profile.time_of(n as f64) else {
            return;
        };
        let due = shared.start + offset;
        if deadline.is_some_and(|d| due >= d) {
            return;
        }
        // Timers fire on millisecond ticks: an iteration due within the next tick is
        // released now rather than up to a tick late (and the scheduler never spins).
        // Its latency then counts from its actual send, never from a later due time.
        if due > Instant::now() + TICK_AHEAD {
            released = 0;
            let wake = tokio::time::Instant::from_std(due - TICK_AHEAD);
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = reached(&mut stop_rx, 1) => return,
            }
        } else if released >= RELEASE_BATCH {
            released = 0;
            tokio::task::yield_now().await;
        }
        released += 1;
        n += shared.threads as u64;
        if queue.due.borrow().len() >= queue.capacity {
            ctx.stats.borrow_mut().iteration_dropped(due);
            continue;
        }
        queue.due.borrow_mut().push_back(due);
        if queue.idle.get() == 0 && queue.alive.get() < queue.max_vus {
            spawn_open_vu(ctx);
        } else {
            queue.ready.notify_one();
        }
    }
}

async fn open_vu(ctx: Rc<WorkerCtx>, number: u32) {
    let shared = &*ctx.shared;
    let control = &*shared.control;
    let program: &Program = &ctx.program;
    let Some(queue) = &ctx.open else { return };
    let Some(arrival) = &shared.config.load.arrival else {
        return;
    };
    let mut vu = TokioVu {
        vu: Vu::new(program, number, shared.config.http.cookie_jar),
        drivers: Drivers::default(),
    };
    let mut stop_rx = control.subscribe();
    'iterations: loop {
        if control.is_stopping() {
            break;
        }
        let next = queue.due.borrow_mut().pop_front();
        let Some(due) = next else {
            if queue.schedule_done.get() {
                break;
            }
            queue.idle.set(queue.idle.get() + 1);
            let woken = tokio::time::timeout(RETIRE_AFTER, queue.ready.notified()).await;
            queue.idle.set(queue.idle.get() - 1);
            if woken.is_err() && queue.alive.get() > queue.pre_allocated {
                break;
            }
            continue;
        };
        let now = Instant::now();
        if now.saturating_duration_since(due) > arrival.queue_timeout {
            ctx.stats.borrow_mut().iteration_dropped(due);
            continue;
        }
        // The first request carries the iteration's scheduled start; the ones after
        // it were meant to follow the previous response, so they time themselves.
        let mut intended = arrival.latency_correction.then_some(due);
        let mut first = true;
        loop {
            match vu.vu.next(program) {
                Yield::IterationDone | Yield::IterationAborted => break,
                Yield::Sleep(pause) => {
                    if !think(pause, &mut stop_rx).await {
                        break 'iterations;
                    }
                }
                Yield::Send(_) => {
                    // An iteration due within the run starts even if its VU got to it
                    // just after the deadline (the schedule ends there, the queue
                    // drains); its later steps, like every request, do not start
                    // after the deadline.
                    let allowed = if first {
                        shared.claim()
                    } else {
                        ctx.may_send(&mut stop_rx).await
                    };
                    if !allowed {
                        break 'iterations;
                    }
                    if std::mem::take(&mut first) {
                        let lag = Instant::now().saturating_duration_since(due);
                        ctx.stats.borrow_mut().iteration_started(due, Some(lag));
                    }
                    if !vu.send(&ctx, intended.take(), &mut stop_rx).await {
                        break 'iterations;
                    }
                }
            }
        }
    }
    queue.alive.set(queue.alive.get() - 1);
    ctx.stats.borrow_mut().vus_changed(Instant::now(), -1);
    queue.retired.notify_one();
}

/// Think time: pause, unless the run stops first. Returns whether the VU goes on.
async fn think(pause: Duration, stop_rx: &mut watch::Receiver<u8>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => true,
        _ = reached(stop_rx, 1) => false,
    }
}

/// A message for errors whose driver left none.
#[cold]
pub(crate) fn default_detail(kind: crate::ErrorKind, timeout: Duration) -> String {
    match kind {
        crate::ErrorKind::Timeout => {
            format!("no complete response within {}ms", timeout.as_millis())
        }
        other => other.describe().to_owned(),
    }
}
