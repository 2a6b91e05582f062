//! A worker thread: its statistics, and the engine that runs its VUs — the io_uring
//! engine when the run allows it (uring.rs), else a current-thread tokio runtime with
//! a task per VU (closed.rs, open.rs) whose requests go through [`TokioVu::send`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kaioken_vm::Program;
use tokio::sync::watch;
use tokio::task::{JoinSet, LocalSet};

use crate::backoff::Backoff;
use crate::closed::closed_vu;
use crate::control::reached;
use crate::driver::Drivers;
use crate::live::PUBLISH_EVERY;
use crate::open::{OpenQueue, open_worker};
use crate::rate::Pacer;
use crate::shared::Shared;
#[cfg(target_os = "linux")]
use crate::stats::Engine;
use crate::stats::{Outcome, WorkerStats};
use crate::trace::Tracer;
use crate::vu::{After, Exchange, Vu, Worker as VuWorker};

/// What a worker's VUs share: the worker's statistics, pacer and (open model)
/// iteration queue. Single-threaded.
pub(crate) struct WorkerCtx {
    pub(crate) shared: Arc<Shared>,
    /// This worker's own copy of the program. A compiled regex's cache pool is
    /// lock-free only for the thread that used it first; every other thread takes
    /// a mutex per search. One copy per worker keeps every check and extractor on
    /// the lock-free path.
    pub(crate) program: Program,
    pub(crate) index: usize,
    pub(crate) stats: RefCell<WorkerStats>,
    pub(crate) in_flight: Cell<u64>,
    pub(crate) pacer: Option<Pacer>,
    pub(crate) open: Option<OpenQueue>,
}

impl WorkerCtx {
    /// Whether one more request may start: first wait for the rate limit (closed
    /// model; a stop cuts the wait short), then [`Shared::may_continue`]. Every request
    /// of the tokio engine, redirect hops included, passes here or through
    /// [`WorkerCtx::may_send_yielded`], so none starts after a stop or the deadline and
    /// none goes past the budget.
    pub(crate) async fn may_send(&self, stop_rx: &mut watch::Receiver<u8>) -> bool {
        self.slot(stop_rx).await.is_some() && self.shared.may_continue()
    }

    /// [`WorkerCtx::may_send`] for a request the VM has just yielded, when the caller
    /// saw the run going on ([`Shared::going_on`]) just before resuming it. The
    /// resumption may have taken a data row, which must be sent once taken: a stop
    /// that came since (another VU found the source exhausted) does not drop it. Only
    /// a wait for the rate limit's slot makes it ask about the stop and the deadline
    /// again. The io_uring engine's `send_step` keeps the same rule.
    pub(crate) async fn may_send_yielded(&self, stop_rx: &mut watch::Receiver<u8>) -> bool {
        match self.slot(stop_rx).await {
            None => false,
            Some(true) => self.shared.may_continue(),
            Some(false) => self.shared.claim(),
        }
    }

    /// Wait for the rate limit's slot, if there is a rate limit: `Some(waited)`, or
    /// `None` when a stop cut the wait short.
    async fn slot(&self, stop_rx: &mut watch::Receiver<u8>) -> Option<bool> {
        let Some(pacer) = &self.pacer else {
            return Some(false);
        };
        let now = Instant::now();
        let at = pacer.reserve(now);
        // Timers fire on millisecond ticks: a slot within the next tick is taken
        // now, not a tick late.
        if at <= now + crate::rate::SLACK / 2 {
            return Some(false);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => Some(true),
            _ = reached(stop_rx, 1) => None,
        }
    }
}

/// `--rate`: the pacer of a worker running `vus` of this instance's VUs, with their
/// share of the rate. For both engines.
pub(crate) fn worker_pacer(shared: &Shared, vus: usize) -> Option<Pacer> {
    let part = &shared.part;
    part.rate
        .map(|r| Pacer::new(r * vus as f64 / f64::from(part.vus)))
}

/// `--ramp-up`: how long after the run's start VU `index` (from 0, over all
/// instances) starts: the whole run's ramp, each VU when it would start alone. With
/// stages the level starts VUs instead. For both engines.
pub(crate) fn ramp_delay(shared: &Shared, index: u32) -> Duration {
    let load = &shared.plan.load;
    if shared.profile.is_some() {
        Duration::ZERO
    } else {
        load.ramp_up.mul_f64(f64::from(index) / f64::from(load.vus))
    }
}

/// Counts a worker out when it ends, however it ends: a worker that panicked must
/// not leave the controller waiting for it forever.
struct RunningGuard<'a>(&'a AtomicUsize);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) fn worker(shared: &Arc<Shared>, index: usize) -> (WorkerStats, Instant) {
    let running = RunningGuard(&shared.running);
    let load = &shared.plan.load;
    let threads = shared.threads;
    let expected_secs = load.duration.map_or(60, |d| d.as_secs() as usize);
    let checks = shared.plan.program.checks.len();
    let extractors = shared.plan.program.extractors.len();
    let scenarios = shared.plan.program.scenarios.len();
    let mut stats = WorkerStats::new(shared.measure_from, expected_secs)
        .with_checks(checks)
        .with_extractors(extractors)
        .with_scenarios(scenarios)
        .with_steps(shared.plan.program.steps.len())
        .with_messages(&shared.plan.program)
        .with_spans(shared.plan.transport.trace_sample > 0.0);
    if let Some(arrival) = &load.arrival {
        stats = stats.open_model(arrival.latency_correction);
    }
    let open = OpenQueue::for_worker(shared, index, threads);
    let program = Program::clone(&shared.plan.program);
    // This instance's VUs, numbered after the other instances' (`vu_offset`).
    let part = &shared.part;
    let total = part.vus as usize;
    let offset = part.vu_offset as usize;
    let mine: Vec<usize> = (0..total)
        .filter(|i| i % threads == index)
        .map(|i| offset + i)
        .collect();
    // The VUs the io_uring engine hands over, in `mine`'s order.
    let mut handed: Vec<Option<Vu>> = Vec::new();
    #[cfg(target_os = "linux")]
    if let Some(addrs) = crate::uring::eligible(shared) {
        let numbers: Vec<u32> = mine.iter().map(|&i| i as u32 + 1).collect();
        // An error means io_uring is not available here (an old kernel, seccomp), found
        // before anything was sent: the tokio engine below runs the VUs instead.
        match crate::uring::run_worker(shared, &program, index, &addrs, &numbers, &mut stats) {
            Ok(finished) if finished.handoff.is_empty() => {
                let done_at = Instant::now();
                drop(running);
                stats.counts.unfinished = finished.unfinished;
                stats.engine = Engine::IoUring;
                return (stats, done_at);
            }
            // A redirect to an origin the program does not name: the tokio engine
            // below goes on with the same VUs, as they were, and the same statistics.
            Ok(finished) => {
                stats.engine = Engine::IoUringAndTokio;
                stats.counts.unfinished = finished.unfinished;
                handed = finished.handoff.into_iter().map(Some).collect();
            }
            Err(_) => {}
        }
    }
    let pacer = worker_pacer(shared, mine.len());
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
            // Publish this worker's statistics for the live snapshots, every tick, from
            // its own thread; the task ends with the worker's VUs.
            let publisher = ctx.clone();
            tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(PUBLISH_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let mut stats = publisher.stats.borrow_mut();
                    let now = Instant::now();
                    publisher.shared.publish(publisher.index, &mut stats, now);
                }
            });
            if ctx.open.is_some() {
                tokio::select! {
                    _ = open_worker(ctx.clone()) => {}
                    _ = reached(&mut hard, 2) => {}
                }
            } else {
                let mut set = JoinSet::new();
                for (k, i) in mine.into_iter().enumerate() {
                    let delay = ramp_delay(shared, i as u32);
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
    // Iterations still queued when the run ended never ran: they were dropped.
    if let Some(queue) = &ctx.open {
        queue
            .backlog
            .borrow_mut()
            .drop_all(&mut ctx.stats.borrow_mut());
    }
    let mut stats = match Rc::try_unwrap(ctx) {
        Ok(ctx) => ctx.stats.into_inner(),
        Err(ctx) => ctx.stats.replace(WorkerStats::new(shared.measure_from, 0)),
    };
    stats.counts.unfinished += unfinished;
    (stats, done_at)
}

/// A VU of the tokio engine: the VU machine, its drivers, and its back-off after
/// failed connects.
pub(crate) struct TokioVu {
    pub(crate) vu: Vu,
    pub(crate) drivers: Drivers,
    pub(crate) backoff: Backoff,
    /// When its last exchange began, for `Yield::Pace`.
    pub(crate) last_start: Option<Instant>,
    /// When the last paced exchange was due.
    pub(crate) paced: Option<Instant>,
    /// `--trace-sample`: its sampler, when the run traces requests.
    pub(crate) tracer: Option<Tracer>,
}

impl TokioVu {
    pub(crate) fn new(vu: Vu) -> TokioVu {
        TokioVu {
            vu,
            drivers: Drivers::default(),
            backoff: Backoff::default(),
            last_start: None,
            paced: None,
            tracer: None,
        }
    }

    /// With `--trace-sample`, a sampler for VU `number`, seeded from the run's seed.
    pub(crate) fn traced(mut self, shared: &Shared, number: u32) -> TokioVu {
        let seed = crate::trace::vu_seed(shared.trace_seed, number);
        self.tracer = Tracer::new(shared.plan.transport.trace_sample, seed);
        self
    }

    /// Send the VU's request — its step's, or the redirect it is following — and
    /// every redirect after it, recording each; the VM then judges the last response.
    /// `intended` is the scheduled send time when latency correction applies;
    /// `stop_rx` is the VU's view of the run's stop. Returns `false` when the run
    /// stopped the step short (after a counted redirect).
    pub(crate) async fn send(
        &mut self,
        ctx: &WorkerCtx,
        mut intended: Option<Instant>,
        stop_rx: &mut watch::Receiver<u8>,
    ) -> bool {
        let shared = &*ctx.shared;
        let program: &Program = &ctx.program;
        loop {
            let mut request = self.vu.request(program);
            // Unsampled (and untraced) requests stop at the draw: no clock, no write.
            let sampled = self.tracer.as_mut().and_then(Tracer::sample);
            if let (Some(_), Some(tracer)) = (sampled, &self.tracer) {
                request.traceparent = Some(tracer.header());
            }
            if let Some(why) = request.unsendable(program) {
                let worker = &mut VuWorker {
                    program,
                    stats: &mut ctx.stats.borrow_mut(),
                    max_redirects: shared.plan.transport.max_redirects,
                };
                self.vu
                    .refuse(worker, &why, Instant::now(), intended.take());
                return true;
            }
            ctx.in_flight.set(ctx.in_flight.get() + 1);
            let start = Instant::now();
            self.last_start = Some(start);
            let (outcome, driver) = self
                .drivers
                .perform(program, &shared.transport, &request)
                .await;
            let end = Instant::now();
            ctx.in_flight.set(ctx.in_flight.get() - 1);
            if let Some(ids) = sampled {
                let span = crate::trace::span_in_run(
                    shared,
                    ids,
                    request.step.index() as u32,
                    start,
                    end,
                    outcome,
                    &driver.last().timing,
                );
                ctx.stats.borrow_mut().span(span);
            }
            if let Some(verbose) = &shared.verbose {
                let info = &shared.transport.infos[request.step.index()];
                let detail = driver.last().detail.as_deref();
                let answer = crate::verbose::Answer {
                    outcome,
                    capture: driver.capture(),
                    detail,
                };
                verbose.exchange(program, &shared.transport.dial, &request, info, answer);
            }
            if driver.last().reconnected {
                ctx.stats.borrow_mut().reconnected(end);
            }
            if let Some(tally) = driver.take_tally() {
                ctx.stats
                    .borrow_mut()
                    .tally(program.step(self.vu.step()).protocol, end, &tally);
            }
            if let Outcome::Error(kind) = outcome {
                let detail = driver.take_detail();
                ctx.stats.borrow_mut().note_error_detail(kind, || {
                    detail.unwrap_or_else(|| default_detail(kind, shared.plan.transport.timeout))
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
                timing: driver.last().timing,
                decoded: driver.last().decoded,
            };
            let after = self.vu.complete(
                &mut VuWorker {
                    program,
                    stats: &mut ctx.stats.borrow_mut(),
                    max_redirects: shared.plan.transport.max_redirects,
                },
                &exchange,
            );
            let error = match outcome {
                Outcome::Error(kind) => Some(kind),
                Outcome::Response { .. } => None,
            };
            if let Some(pause) = self.backoff.after(error, driver.last().connected) {
                // A failed connect is never a redirect: the step is over. A stop
                // during the wait is seen by the caller's next gate.
                think(pause, stop_rx).await;
            }
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

impl TokioVu {
    /// `Yield::Pace`: wait until `interval` after the last exchange began, unless the
    /// run stops first. Returns whether the VU goes on.
    ///
    /// Counted from when that exchange was due rather than when the timer let it go,
    /// as long as it began within [`CATCH_UP`] of it (or an interval, if longer):
    /// timers fire on millisecond ticks, and lateness added up over every message
    /// would lower the rate (a 50 ms interval late by 1 ms each time is 2% slow),
    /// and a VU held up for a moment (a busy machine, a slow reply) sends what it
    /// missed right away. A VU further behind than that starts over from its last
    /// start, without a burst to catch up.
    pub(crate) async fn pace(
        &mut self,
        interval: Duration,
        stop_rx: &mut watch::Receiver<u8>,
    ) -> bool {
        let Some(last) = self.last_start else {
            return true;
        };
        let at = match self.paced {
            Some(due) if due + interval.max(CATCH_UP) >= last => due + interval,
            _ => last + interval,
        };
        self.paced = Some(at);
        if at <= Instant::now() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => true,
            _ = reached(stop_rx, 1) => false,
        }
    }
}

/// How late a paced VU may be and still keep its schedule (`TokioVu::pace`).
const CATCH_UP: Duration = Duration::from_secs(1);

/// Think time: pause, unless the run stops first. Returns whether the VU goes on.
pub(crate) async fn think(pause: Duration, stop_rx: &mut watch::Receiver<u8>) -> bool {
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
