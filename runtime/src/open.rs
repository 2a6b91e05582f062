//! The open model: iterations start on a schedule, not when a VU is free.
//!
//! What both engines share is here: [`Schedule`] walks a worker's stripe of the
//! global iteration schedule ([`crate::Profile::time_of`]) and drops, in one count,
//! what fell due while the worker could not take it; [`Backlog`] is the bounded queue
//! of due iterations waiting for a VU (an iteration that finds it full, or waits
//! longer than `queue_timeout`, is dropped and counted); [`Limits`] is a worker's
//! share of `max_vus`, of the queue and of the pre-allocated VUs. A due iteration
//! goes to an idle VU, else to a new VU while there are fewer than `max_vus`, else
//! into the queue. With latency correction, a request's latency counts from its
//! iteration's scheduled start, so time spent waiting for a VU is not hidden; each
//! iteration's schedule lag (its first send minus its due time) is recorded.
//!
//! The tokio engine's scheduler is below (`open_worker`): a task per worker releases
//! every iteration whose time has come (in a batch, so millisecond timers do not cap
//! the rate) and hands them to VU tasks, each idle on a `Notify`. The io_uring engine
//! (uring.rs) runs the same schedule and queue on its ring's timed wait.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kaioken_vm::{Program, Yield};
use tokio::sync::Notify;

use crate::control::reached;
use crate::profile::Profile;
use crate::shared::{Part, Shared};
use crate::stats::WorkerStats;
use crate::vu::Vu;
use crate::worker::{TokioVu, WorkerCtx, think};

/// Open model: a VU idle this long retires (above the pre-allocated number).
pub(crate) const RETIRE_AFTER: Duration = Duration::from_secs(1);
/// Open model: the scheduler yields to its VUs after releasing this many iterations
/// in one go, so a schedule that has fallen behind cannot starve them.
const RELEASE_BATCH: u32 = 64;
/// Open model: iterations due within this much of now are released together, so
/// they start at most this early and typically on time (a started iteration's
/// latency counts from its actual send, never from a later due time). On the tokio
/// engine it is one timer tick; the io_uring engine wakes this long ahead of each
/// iteration, so each goes out on time and evenly spaced (above 20,000/s, in
/// groups due within 50 µs of each other), and what fell behind is released in one
/// go (BENCHMARKS.md, 2026-12-01 and 2026-12-02).
pub(crate) const RELEASE_AHEAD: Duration = Duration::from_millis(1);

/// A worker's share of the open model's limits.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    /// The most VUs it runs at once.
    pub(crate) max_vus: u32,
    /// VUs started before the first iteration (and never retired for idleness).
    pub(crate) pre_allocated: u32,
    /// The most due iterations that wait for a VU.
    pub(crate) capacity: usize,
}

impl Limits {
    /// Worker `index` of `threads`' share of the instance's `max_vus`, of its queue
    /// and of its pre-allocated VUs.
    pub(crate) fn for_worker(part: &Part, index: usize, threads: usize) -> Limits {
        let max_vus = share(part.vus, index, threads).max(1);
        Limits {
            max_vus,
            pre_allocated: share(part.pre_allocated, index, threads).clamp(1, max_vus),
            capacity: share(part.queue_size, index, threads).max(1) as usize,
        }
    }
}

/// The global number of worker `index`'s `n`-th VU (from 0): striped like the
/// schedule, after the other instances' VUs. The same numbers on both engines.
pub(crate) fn vu_number(shared: &Shared, index: usize, n: u32) -> u32 {
    shared.part.vu_offset + (index + n as usize * shared.threads) as u32 + 1
}

/// The due iterations waiting for a VU, oldest first.
pub(crate) struct Backlog {
    due: VecDeque<Instant>,
    capacity: usize,
    /// How long an iteration may wait (`queue_timeout`).
    timeout: Duration,
}

impl Backlog {
    pub(crate) fn new(limits: Limits, timeout: Duration) -> Backlog {
        Backlog {
            due: VecDeque::with_capacity(limits.capacity.min(1024)),
            capacity: limits.capacity,
            timeout,
        }
    }

    /// Whether the queue looks full, without dropping what waited too long: for a
    /// guess only (how early to wake); whether an iteration may be queued is
    /// [`Backlog::has_room`]'s.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn is_full(&self) -> bool {
        self.due.len() >= self.capacity
    }

    /// Whether an iteration can be queued at `now`. Those that waited past the
    /// queue timeout are dropped and counted first: they would be dropped when a VU
    /// popped them anyway, and keeping their places until then would turn a fresh
    /// iteration away as "queue full" though a VU may well free up within its own
    /// timeout (a small queue before a slow server then never ran a queued
    /// iteration at all).
    pub(crate) fn has_room(&mut self, now: Instant, stats: &mut WorkerStats) -> bool {
        if self.due.len() < self.capacity {
            return true;
        }
        while let Some(&due) = self.due.front()
            && self.expired(due, now)
        {
            self.due.pop_front();
            stats.iteration_dropped(due);
        }
        self.due.len() < self.capacity
    }

    fn expired(&self, due: Instant, now: Instant) -> bool {
        now.saturating_duration_since(due) > self.timeout
    }

    /// Whether no iteration waits. For the io_uring engine (Linux).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// Queue an iteration due at `due` (the caller checked [`Backlog::has_room`]).
    pub(crate) fn push(&mut self, due: Instant) {
        self.due.push_back(due);
    }

    /// The oldest queued iteration that has not waited past the queue timeout at
    /// `now`; those that have are dropped and counted.
    pub(crate) fn take(&mut self, now: Instant, stats: &mut WorkerStats) -> Option<Instant> {
        while let Some(due) = self.due.pop_front() {
            if self.expired(due, now) {
                stats.iteration_dropped(due);
                continue;
            }
            return Some(due);
        }
        None
    }

    /// The run ended: every iteration still queued never ran, and is dropped;
    /// unless `shared`'s request budget ended it, which they were not part of.
    pub(crate) fn drop_all(&mut self, shared: &Shared, stats: &mut WorkerStats) {
        for due in self.due.drain(..) {
            if !shared.budget_spent() {
                stats.iteration_dropped(due);
            }
        }
    }
}

/// This worker's share of `total`, split as evenly as possible.
fn share(total: u32, index: usize, threads: usize) -> u32 {
    let (total, index, threads) = (total as usize, index, threads);
    (total / threads + usize::from(index < total % threads)) as u32
}

/// How many of the iterations `0..total` fall in worker `index`'s stripe (every
/// `threads`-th, from `index`).
fn in_stripe(total: u64, index: u64, threads: u64) -> u64 {
    if total > index {
        (total - index - 1) / threads + 1
    } else {
        0
    }
}

/// Where in its slot of the schedule an iteration is due: the middle. Iteration `n`
/// is due when the planned count reaches `n + PHASE`, so a window holds the whole
/// number of iterations nearest to what the plan says (0.4/s for 5 s: 2; 1e-7/s for
/// 3 s: none), never one too many from an iteration due at time zero.
const PHASE: f64 = 0.5;

/// One worker's walk of the schedule: iteration `k` of the whole run is due at
/// `profile.time_of(k + PHASE)`; this instance takes its segment's stripe of them
/// (its `n`-th is `segment.global_index(n)`, all of them without a segment), and
/// this worker every `threads`-th of those. The schedule ends at the deadline, or
/// when the stages end.
pub(crate) struct Schedule<'a> {
    shared: &'a Shared,
    profile: &'a Profile,
    index: u64,
    threads: u64,
    /// The next iteration, counted over this instance's iterations.
    n: u64,
    /// The end of the schedule, since the start.
    end: Option<Duration>,
    /// When iteration `n` is due; `None` when it is not due before the end.
    next: Option<Instant>,
}

impl<'a> Schedule<'a> {
    /// Worker `index`'s schedule; `None` in the closed model.
    pub(crate) fn new(shared: &'a Shared, index: usize) -> Option<Schedule<'a>> {
        shared.plan.load.arrival.as_ref()?;
        let profile = shared.profile.as_ref()?;
        let mut schedule = Schedule {
            shared,
            profile,
            index: index as u64,
            threads: shared.threads as u64,
            n: index as u64,
            end: shared
                .deadline
                .map(|d| d.saturating_duration_since(shared.start)),
            next: None,
        };
        schedule.next = schedule.due_of(schedule.n);
        Some(schedule)
    }

    fn due_of(&self, n: u64) -> Option<Instant> {
        let shared = self.shared;
        self.profile
            .time_of(shared.part.segment.global_index(n) as f64 + PHASE)
            .filter(|&offset| self.end.is_none_or(|e| offset < e))
            // Due past any instant the clock can name: never, for this run.
            .and_then(|offset| shared.start.checked_add(offset))
    }

    /// When this worker's next iteration is due; `None` once nothing more is due
    /// before the end of the schedule.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.next
    }

    /// The next iteration was released (handed to a VU, or queued).
    pub(crate) fn release(&mut self) {
        self.n += self.threads;
        self.next = self.due_of(self.n);
    }

    /// Every iteration due before `t` (a time since the start), and at least this
    /// instance's before its `at_least`-th, that this worker has not yet walked:
    /// dropped at once, counted exactly, however far behind it is.
    fn drop_due_before(&mut self, t: Duration, at_least: u64, stats: &mut WorkerStats) {
        // Iteration m is due when the count reaches m + PHASE: those due before `t`
        // are the m < count - PHASE.
        let due = self.profile.count_until(t) - PHASE;
        let due = if due.is_finite() {
            due.max(0.0).ceil() as u64
        } else {
            0
        };
        let total = self.shared.part.segment.owned_below(due).max(at_least);
        let walked = in_stripe(self.n, self.index, self.threads);
        let behind = in_stripe(total, self.index, self.threads).saturating_sub(walked);
        if behind > 0 {
            stats.iterations_dropped(self.shared.start + t, behind);
            self.n += behind * self.threads;
            self.next = self.due_of(self.n);
        }
    }

    /// The time since the start, up to the end of the schedule.
    fn clamp(&self, now: Instant) -> Duration {
        let now = now.saturating_duration_since(self.shared.start);
        self.end.map_or(now, |e| now.min(e))
    }

    /// Behind with the queue full and no VU free: the next iteration and every
    /// other one due by `now` is dropped in one count, rather than walked one by one
    /// at the rate (at a billion a second the walk would fall ever further behind
    /// and undercount).
    pub(crate) fn drop_behind(&mut self, now: Instant, stats: &mut WorkerStats) {
        let t = self.clamp(now);
        self.drop_due_before(t, self.n + 1, stats);
    }

    /// Stopped while behind: what fell due before the stop is dropped, and nothing
    /// more is due. A run its request budget (`-n`) ended drops nothing: what fell
    /// due after the last request it allowed was never to be sent, and no VU was
    /// missing for it.
    pub(crate) fn stop(&mut self, now: Instant, stats: &mut WorkerStats) {
        if !self.shared.budget_spent() {
            let t = self.clamp(now);
            self.drop_due_before(t, 0, stats);
        }
        self.next = None;
    }
}

/// The open model's per-worker state on the tokio engine: the queue of iterations
/// waiting for a VU, and the VU tasks' bookkeeping.
pub(crate) struct OpenQueue {
    pub(crate) backlog: RefCell<Backlog>,
    pub(crate) limits: Limits,
    /// Wakes an idle VU when an iteration is queued, or all when the schedule ends.
    pub(crate) ready: Notify,
    /// Wakes the worker when a VU retires.
    pub(crate) retired: Notify,
    /// VUs started and not yet gone: those closing their connections count, against
    /// `max_vus` and for the worker's end.
    pub(crate) alive: Cell<u32>,
    /// Of `alive`, those that left their loop and are closing their connections:
    /// not there to take an iteration, so not counted by a VU deciding whether it
    /// may retire.
    pub(crate) leaving: Cell<u32>,
    pub(crate) idle: Cell<u32>,
    pub(crate) next_vu: Cell<u32>,
    pub(crate) schedule_done: Cell<bool>,
}

impl OpenQueue {
    /// Worker `index` of `threads`' queue, with its share of the limits.
    pub(crate) fn for_worker(shared: &Shared, index: usize, threads: usize) -> Option<OpenQueue> {
        let arrival = shared.plan.load.arrival.as_ref()?;
        let limits = Limits::for_worker(&shared.part, index, threads);
        Some(OpenQueue {
            backlog: RefCell::new(Backlog::new(limits, arrival.queue_timeout)),
            limits,
            ready: Notify::new(),
            retired: Notify::new(),
            alive: Cell::new(0),
            leaving: Cell::new(0),
            idle: Cell::new(0),
            next_vu: Cell::new(0),
            schedule_done: Cell::new(false),
        })
    }
}

/// The open model on one worker of the tokio engine: pre-allocate VUs, run the
/// scheduler, then wait for the VUs to drain the queue and retire.
pub(crate) async fn open_worker(ctx: Rc<WorkerCtx>) {
    let Some(queue) = &ctx.open else { return };
    for _ in 0..queue.limits.pre_allocated {
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
    let number = vu_number(&ctx.shared, ctx.index, n);
    ctx.stats.borrow_mut().vus_changed(Instant::now(), 1);
    tokio::task::spawn_local(open_vu(ctx.clone(), number));
}

/// Release this worker's stripe of the schedule ([`Schedule`]). Once the last
/// iteration before the deadline is released, wait for the deadline: a run at a low
/// rate still lasts its duration.
async fn schedule(ctx: &Rc<WorkerCtx>) {
    let shared = &*ctx.shared;
    let Some(queue) = &ctx.open else { return };
    let Some(mut schedule) = Schedule::new(shared, ctx.index) else {
        return;
    };
    let control = &*shared.control;
    let mut stop_rx = control.subscribe();
    let mut released = 0u32;
    loop {
        if control.is_stopping() {
            schedule.stop(Instant::now(), &mut ctx.stats.borrow_mut());
            return;
        }
        let Some(due) = schedule.next_due() else {
            // Nothing more is due before the deadline: it still ends the run.
            if let Some(d) = shared.deadline {
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(d)) => {}
                    _ = reached(&mut stop_rx, 1) => {}
                }
            }
            return;
        };
        // Timers fire on millisecond ticks: an iteration due within the next tick is
        // released now rather than up to a tick late (and the scheduler never spins).
        // Its latency then counts from its actual send, never from a later due time.
        if due > Instant::now() + RELEASE_AHEAD {
            released = 0;
            let wake = tokio::time::Instant::from_std(due - RELEASE_AHEAD);
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                // What fell due while this slept (a loaded machine can keep it off
                // the CPU past several) is dropped, as at the loop's top: every
                // iteration of the plan is started or dropped.
                _ = reached(&mut stop_rx, 1) => {
                    schedule.stop(Instant::now(), &mut ctx.stats.borrow_mut());
                    return;
                }
            }
        } else if released >= RELEASE_BATCH {
            released = 0;
            tokio::task::yield_now().await;
        }
        released += 1;
        let room = queue
            .backlog
            .borrow_mut()
            .has_room(Instant::now(), &mut ctx.stats.borrow_mut());
        if !room {
            schedule.drop_behind(Instant::now(), &mut ctx.stats.borrow_mut());
            continue;
        }
        schedule.release();
        queue.backlog.borrow_mut().push(due);
        if queue.idle.get() == 0 && queue.alive.get() < queue.limits.max_vus {
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
    let Some(arrival) = &shared.plan.load.arrival else {
        return;
    };
    let at_work = ctx.at_work();
    let mut vu = TokioVu::new(Vu::new(program, number, shared.plan.transport.cookie_jar))
        .traced(shared, number);
    let mut stop_rx = control.subscribe();
    'iterations: loop {
        if control.is_stopping() {
            break;
        }
        let next = queue
            .backlog
            .borrow_mut()
            .take(Instant::now(), &mut ctx.stats.borrow_mut());
        let Some(due) = next else {
            if queue.schedule_done.get() {
                break;
            }
            queue.idle.set(queue.idle.get() + 1);
            let woken = tokio::time::timeout(RETIRE_AFTER, queue.ready.notified()).await;
            queue.idle.set(queue.idle.get() - 1);
            let staying = queue.alive.get() - queue.leaving.get();
            if woken.is_err() && staying > queue.limits.pre_allocated {
                break;
            }
            continue;
        };
        // The first request carries the iteration's scheduled start; the ones after
        // it were meant to follow the previous response, so they time themselves.
        let mut intended = arrival.latency_correction.then_some(due);
        let mut first = true;
        loop {
            match vu.vu.next(program) {
                Yield::IterationDone | Yield::IterationAborted => break,
                Yield::DataExhausted => {
                    control.stop(crate::StopReason::DataExhausted);
                    break 'iterations;
                }
                Yield::Sleep(pause) => {
                    if !think(pause, &mut stop_rx).await {
                        break 'iterations;
                    }
                }
                Yield::Pace(interval) => {
                    if !vu.pace(interval, &mut stop_rx).await {
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
    ctx.stats.borrow_mut().vus_changed(Instant::now(), -1);
    drop(at_work);
    // The VU holds its connections until they are closed: it counts against
    // `max_vus` until then, and the worker waits for it.
    queue.leaving.set(queue.leaving.get() + 1);
    vu.drivers.finish(reached(&mut stop_rx, 2)).await;
    queue.leaving.set(queue.leaving.get() - 1);
    queue.alive.set(queue.alive.get() - 1);
    queue.retired.notify_one();
}
