//! The controller: starts the worker threads, watches the clock and the stop, moves
//! the closed model's stage level, takes a live snapshot of the workers' statistics
//! every [`PUBLISH_EVERY`] (live.rs), and merges them when they are done.
//!
//! ```text
//!   run() ──► Shared ──► worker threads (worker.rs), each one engine:
//!   │                      io_uring (uring.rs) or tokio: closed.rs | open.rs VU tasks
//!   └─ every TICK, and at the deadline: deadline → stop; stages → vu_target; a stop's
//!      grace → hard stop;
//!      every PUBLISH_EVERY: on_tick(Snapshot); at the end, the last one
//! ```

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::Span;
use crate::live::{Grid, Interval, PUBLISH_EVERY, Snapshot};
use crate::shared::Shared;
use crate::stats::{RunStats, Seconds, WorkerStats};
use crate::worker::worker;
use kaioken_vm::RunPlan;

use crate::{Control, RunError, StopReason};

/// How long requests in flight may take to finish after the run is told to stop,
/// before they are abandoned (capped by the request timeout). Letting them finish
/// keeps our counts equal to what the server saw; after Ctrl-C the user wants the
/// report soon, so the wait is shorter.
const GRACE: Duration = Duration::from_secs(5);
const GRACE_INTERRUPTED: Duration = Duration::from_secs(1);
/// How long after the hard stop a worker that has not stopped is waited for. Its
/// VUs were cut off at the hard stop; one still running is stuck where nothing can
/// interrupt it (a script in a library call: a `string.find` backtracking for
/// minutes), and the run ends without it, its statistics its last published ones.
const ABANDON_AFTER: Duration = Duration::from_secs(2);
/// How long a worker is given to return once the others are being collected
/// after `ABANDON_AFTER`: one that has just ended is not taken for stuck.
const ENDING: Duration = Duration::from_millis(200);
const TICK: Duration = Duration::from_millis(50);

/// Run `plan` on `threads` worker threads (0: one per CPU, at most one per VU) until
/// its duration or request budget is spent, or `control` is told to stop. Blocks the
/// calling thread, which acts as the controller and hands `on_tick` a [`Snapshot`]
/// every [`PUBLISH_EVERY`], and a last one, made from the statistics it returns, when
/// the run is over.
///
/// # Errors
///
/// Only a run that cannot start (an unusable `--cacert`, no thread) or a bug; failures
/// of requests are counted in the returned statistics, never returned as errors.
pub fn run(
    plan: &Arc<RunPlan>,
    threads: usize,
    control: Arc<Control>,
    on_tick: &mut dyn FnMut(&Snapshot),
) -> Result<RunStats, RunError> {
    let shared = Arc::new(Shared::new(plan, threads, control.clone())?);
    crate::fdlimit::raise_and_check(shared.part.vus, plan.program.origins.len(), shared.threads)?;
    let (threads, start, measure_from, deadline, load) = (
        shared.threads,
        shared.start,
        shared.measure_from,
        shared.deadline,
        &plan.load,
    );
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("kaioken-worker-{index}"))
                .spawn(move || worker(&shared, index))
                .map_err(RunError::Thread)
        })
        .collect::<Result<_, _>>()?;

    let mut stopping_since: Option<Instant> = None;
    let mut interrupted_since: Option<Instant> = None;
    let mut hard_since: Option<Instant> = None;
    let mut abandoning = false;
    // Snapshot `k` is taken half a period after the workers' publication `k`
    // (live.rs, `Grid`), and holds the data up to that grid point.
    let grid = Grid::new(start);
    let mut next_tick = start + PUBLISH_EVERY + PUBLISH_EVERY / 2;
    let mut snapshots = Snapshots::new(&shared, threads);
    while shared.running.load(Ordering::Acquire) > 0 {
        // The deadline is a wake-up of its own, not the tick after it: what waits
        // for the stop (a stage's parked VUs) ends on time.
        let nap = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
            Some(left) if !left.is_zero() => TICK.min(left),
            _ => TICK,
        };
        thread::sleep(nap);
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            control.stop(StopReason::Duration);
        }
        if let (Some(p), None) = (&shared.profile, &load.arrival) {
            let target = shared
                .part
                .vu_target(p.level_at(now - start).round() as u32);
            shared.vu_target.store(target, Ordering::Release);
            shared
                .vu_target_tx
                .send_if_modified(|t| std::mem::replace(t, target) != target);
        }
        if control.is_stopping() {
            let since = *stopping_since.get_or_insert(now);
            // An interruption, even one while the run was already stopping for
            // another reason, leaves requests in flight a second from then.
            let interrupted = (control.interrupts() > 0)
                .then(|| *interrupted_since.get_or_insert(now))
                .is_some_and(|at| now.duration_since(at) >= GRACE_INTERRUPTED);
            if interrupted || now.duration_since(since) >= GRACE.min(plan.transport.timeout) {
                control.hard_stop();
            }
        }
        if control.is_hard_stopped()
            && now.duration_since(*hard_since.get_or_insert(now)) >= ABANDON_AFTER
        {
            abandoning = true;
            break;
        }
        if now >= next_tick {
            next_tick = grid.next_after(now) + PUBLISH_EVERY / 2;
            on_tick(snapshots.take(&shared, grid.last_at(now), None));
        }
    }
    let mut workers = Vec::with_capacity(threads);
    let mut finished = measure_from;
    let mut abandoned = 0;
    for (index, h) in handles.into_iter().enumerate() {
        // A worker that is ending finishes within moments; a stuck one does not.
        let asked = Instant::now();
        while abandoning && !h.is_finished() && asked.elapsed() < ENDING {
            thread::sleep(Duration::from_millis(5));
        }
        if abandoning && !h.is_finished() {
            // Stuck (see `ABANDON_AFTER`): its thread is left to the process's exit.
            shared.take_published(index, &mut snapshots.latest[index]);
            workers.push(snapshots.latest[index].copy());
            finished = finished.max(Instant::now());
            abandoned += 1;
            continue;
        }
        match h.join() {
            Ok((stats, done_at)) => {
                finished = finished.max(done_at);
                workers.push(stats);
            }
            Err(_) => {
                return Err(RunError::WorkerPanicked);
            }
        }
    }
    // The spans still in the slots, then each worker's last ones (the slots have
    // room for them now), go into the last snapshot.
    shared.take_spans(&mut snapshots.spans);
    for (index, w) in workers.iter_mut().enumerate() {
        shared.publish_last_spans(index, &mut w.spans);
    }
    let mut stats = RunStats::merge(&workers, finished.saturating_duration_since(measure_from));
    stats.abandoned_workers = abandoned;
    for (w, final_stats) in workers.iter().enumerate() {
        snapshots.seconds.finish(w, final_stats);
    }
    snapshots.seconds.settle();
    stats.apply_seconds(&snapshots.seconds.done);
    let window = match (control.reason(), load.duration) {
        (Some(StopReason::Duration), Some(d)) => d.as_secs_f64().ceil() as usize,
        _ => 0,
    };
    stats.fit_timeline(window);
    on_tick(snapshots.take(&shared, Instant::now(), Some(&stats)));
    Ok(stats)
}

/// What [`run`] checks before it sends anything (the program, TLS settings, the
/// network settings, the file descriptor limit), checked without running: a run
/// that waits for a planned start (`--start-at`) fails before the wait, not after.
///
/// # Errors
///
/// Those [`run`] would return before starting.
pub fn check(plan: &Arc<RunPlan>, threads: usize) -> Result<(), RunError> {
    let shared = Shared::new(plan, threads, Arc::new(Control::new()))?;
    crate::fdlimit::raise_and_check(shared.part.vus, plan.program.origins.len(), shared.threads)
}

/// The controller's side of the live snapshots: each worker's latest published
/// statistics, and the previous snapshot's totals to tell what changed. A snapshot
/// is lent to `on_tick`, so the next one is made in its buffers and in those of the
/// one before it: nothing is allocated per snapshot once the run has warmed up.
struct Snapshots {
    latest: Vec<WorkerStats>,
    /// Each second's own percentiles and statuses, as workers finish them.
    seconds: Seconds,
    /// The snapshot taken last.
    snapshot: Snapshot,
    /// The totals of the snapshot before it.
    previous: RunStats,
    at: Instant,
    /// Spans taken out of the slots for the next snapshot.
    spans: Vec<Span>,
}

impl Snapshots {
    fn new(shared: &Shared, threads: usize) -> Snapshots {
        let empty = WorkerStats::new(shared.measure_from, 0);
        Snapshots {
            latest: vec![empty; threads],
            seconds: Seconds::new(threads),
            snapshot: Snapshot {
                elapsed: Duration::ZERO,
                warming_up: true,
                planned: None,
                max_requests: None,
                level: None,
                total: RunStats::default(),
                interval: Interval::empty(),
                last: false,
                spans: Vec::new(),
                spans_dropped: 0,
            },
            previous: RunStats::default(),
            at: shared.start,
            spans: Vec::new(),
        }
    }

    /// The run as it stands at `now` (a grid point: what the workers published
    /// then), the workers' latest statistics merged, or `last`, the final
    /// statistics, when the run is over (`now`: the time it is).
    fn take(&mut self, shared: &Shared, now: Instant, last: Option<&RunStats>) -> &Snapshot {
        // The last snapshot's totals become the previous ones; the new totals
        // overwrite the ones before them.
        std::mem::swap(&mut self.previous, &mut self.snapshot.total);
        let snapshot = &mut self.snapshot;
        match last {
            Some(stats) => snapshot.total.clone_from(stats),
            None => {
                for (index, latest) in self.latest.iter_mut().enumerate() {
                    shared.take_published(index, latest);
                    self.seconds.observe(index, latest);
                }
                self.seconds.settle();
                snapshot.total.merge_from(
                    &self.latest,
                    now.saturating_duration_since(shared.measure_from),
                );
                snapshot.total.apply_seconds(&self.seconds.done);
            }
        }
        snapshot
            .interval
            .measure(&self.previous, &snapshot.total, now - self.at);
        snapshot.spans.clear();
        snapshot.spans.append(&mut self.spans);
        snapshot.spans_dropped = shared.take_spans(&mut snapshot.spans);
        let load = &shared.plan.load;
        snapshot.elapsed = now - shared.start;
        snapshot.warming_up = now < shared.measure_from;
        snapshot.planned = load.duration.map(|d| d + load.warmup);
        snapshot.max_requests = shared.part.max_requests;
        snapshot.level = shared.profile.as_ref().map(|p| {
            shared
                .part
                .level(p.level_at(now - shared.start), load.arrival.is_some())
        });
        snapshot.last = last.is_some();
        self.at = now;
        snapshot
    }
}
