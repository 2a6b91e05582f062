//! The open model on the tokio engine: each worker runs a scheduler that walks its
//! stripe of the global iteration schedule ([`crate::Profile::time_of`]), releases
//! every iteration whose time has come (in a batch, so millisecond timers do not cap
//! the rate) into a bounded queue, and hands them to idle VUs, starting new VUs up to
//! its share of `max_vus`. An iteration that finds the queue full, or waits longer
//! than `queue_timeout`, is dropped and counted. With latency correction, a request's
//! latency counts from its iteration's scheduled start, so time spent waiting for a VU
//! is not hidden.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kaioken_vm::{Program, Yield};
use tokio::sync::Notify;

use crate::control::reached;
use crate::shared::Part;
use crate::vu::Vu;
use crate::worker::{TokioVu, WorkerCtx, think};

/// Open model: a VU idle this long retires (above the pre-allocated number).
const RETIRE_AFTER: Duration = Duration::from_secs(1);
/// Open model: the scheduler yields to its VUs after releasing this many iterations
/// in one go, so a schedule that has fallen behind cannot starve them.
const RELEASE_BATCH: u32 = 64;
/// Open model: iterations due within this much of now are released together (one
/// timer tick), so they start at most this early and typically on time.
const TICK_AHEAD: Duration = Duration::from_millis(1);

/// The open model's per-worker queue of iterations waiting for a VU.
pub(crate) struct OpenQueue {
    /// Scheduled start times of the iterations that are due.
    pub(crate) due: RefCell<VecDeque<Instant>>,
    pub(crate) capacity: usize,
    /// Wakes an idle VU when an iteration is queued, or all when the schedule ends.
    pub(crate) ready: Notify,
    /// Wakes the worker when a VU retires.
    pub(crate) retired: Notify,
    pub(crate) alive: Cell<u32>,
    pub(crate) idle: Cell<u32>,
    pub(crate) max_vus: u32,
    pub(crate) pre_allocated: u32,
    pub(crate) next_vu: Cell<u32>,
    pub(crate) schedule_done: Cell<bool>,
}

impl OpenQueue {
    /// Worker `index` of `threads`' queue: its share of the instance's `max_vus`, of
    /// its queue and of its pre-allocated VUs.
    pub(crate) fn for_worker(part: &Part, index: usize, threads: usize) -> OpenQueue {
        let max_vus = share(part.vus, index, threads).max(1);
        OpenQueue {
            due: RefCell::new(VecDeque::with_capacity(1024)),
            capacity: share(part.queue_size, index, threads).max(1) as usize,
            ready: Notify::new(),
            retired: Notify::new(),
            alive: Cell::new(0),
            idle: Cell::new(0),
            max_vus,
            pre_allocated: share(part.pre_allocated, index, threads).clamp(1, max_vus),
            next_vu: Cell::new(0),
            schedule_done: Cell::new(false),
        }
    }
}

/// This worker's share of `total`, split as evenly as possible.
fn share(total: u32, index: usize, threads: usize) -> u32 {
    let (total, index, threads) = (total as usize, index, threads);
    (total / threads + usize::from(index < total % threads)) as u32
}

/// The open model on one worker: pre-allocate VUs, run the scheduler, then wait for
/// the VUs to drain the queue and retire.
pub(crate) async fn open_worker(ctx: Rc<WorkerCtx>) {
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
    // Global VU numbers: this worker's n-th VU, striped like the schedule, after the
    // other instances' VUs.
    let number =
        ctx.shared.part.vu_offset + (ctx.index + n as usize * ctx.shared.threads) as u32 + 1;
    ctx.stats.borrow_mut().vus_changed(Instant::now(), 1);
    tokio::task::spawn_local(open_vu(ctx.clone(), number));
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

/// Release this worker's stripe of the schedule: iteration `k` of the whole run is due
/// at `profile.time_of(k + PHASE)`; this instance takes its segment's stripe of them
/// (its `n`-th is `segment.global_index(n)`, all of them without a segment), and this
/// worker every `threads`-th of those. Once the last iteration before the deadline is
/// released, wait for the deadline: a run at a low rate still lasts its duration.
async fn schedule(ctx: &Rc<WorkerCtx>) {
    let shared = &*ctx.shared;
    let Some(queue) = &ctx.open else { return };
    let Some(profile) = &shared.profile else {
        return;
    };
    let control = &*shared.control;
    let mut stop_rx = control.subscribe();
    let (index, threads) = (ctx.index as u64, shared.threads as u64);
    let segment = &shared.part.segment;
    // `n` counts this instance's iterations, not the whole run's.
    let mut n = index;
    let mut released = 0u32;
    let deadline = shared.deadline;
    // Every iteration due before `t` (a time since the start), and at least this
    // instance's before its `at_least`-th, that this worker has not yet walked:
    // dropped at once, counted exactly, however far behind it is.
    let drop_due_before = |t: Duration, at_least: u64, n: &mut u64| {
        // Iteration m is due when the count reaches m + PHASE: those due before `t`
        // are the m < count - PHASE.
        let due = profile.count_until(t) - PHASE;
        let due = if due.is_finite() {
            due.max(0.0).ceil() as u64
        } else {
            0
        };
        let total = segment.owned_below(due).max(at_least);
        let walked = in_stripe(*n, index, threads);
        let behind = in_stripe(total, index, threads).saturating_sub(walked);
        if behind > 0 {
            ctx.stats
                .borrow_mut()
                .iterations_dropped(shared.start + t, behind);
            *n += behind * threads;
        }
    };
    // The end of the schedule: the deadline, or when the stages end.
    let end = deadline.map(|d| d.saturating_duration_since(shared.start));
    loop {
        if control.is_stopping() {
            // Stopped while behind: what fell due before the stop was dropped.
            let now = Instant::now().saturating_duration_since(shared.start);
            drop_due_before(end.map_or(now, |e| now.min(e)), 0, &mut n);
            return;
        }
        let due = profile
            .time_of(segment.global_index(n) as f64 + PHASE)
            .filter(|&offset| end.is_none_or(|e| offset < e))
            // Due past any instant the clock can name: never, for this run.
            .and_then(|offset| shared.start.checked_add(offset));
        let due = match due {
            Some(due) => due,
            // Nothing more is due before the deadline: it still ends the run.
            _ => {
                if let Some(d) = deadline {
                    tokio::select! {
                        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(d)) => {}
                        _ = reached(&mut stop_rx, 1) => {}
                    }
                }
                return;
            }
        };
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
        if queue.due.borrow().len() >= queue.capacity {
            // Behind with the queue full: this one and every other one due by now is
            // dropped in one count, rather than walked one by one at the rate (at a
            // billion a second the walk would fall ever further behind and undercount).
            let now = Instant::now().saturating_duration_since(shared.start);
            drop_due_before(end.map_or(now, |e| now.min(e)), n + 1, &mut n);
            released += 1;
            continue;
        }
        released += 1;
        n += threads;
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
    let Some(arrival) = &shared.plan.load.arrival else {
        return;
    };
    let mut vu = TokioVu::new(Vu::new(program, number, shared.plan.transport.cookie_jar))
        .traced(shared, number);
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
    queue.alive.set(queue.alive.get() - 1);
    ctx.stats.borrow_mut().vus_changed(Instant::now(), -1);
    queue.retired.notify_one();
}
