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
use crate::live::{Grid, PUBLISH_EVERY};
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
    /// When the last of this worker's VUs stopped working ([`WorkerCtx::at_work`]).
    pub(crate) work_ended: Cell<Option<Instant>>,
}

/// A VU of the tokio engine at work, from its start until it leaves its loop or a
/// hard stop cuts it off; dropped, it marks the time. The worker's run ends when
/// its last VU stopped working: closing connections gracefully afterwards
/// ([`crate::driver::Drivers::finish`], a WebSocket's close handshake) is not load,
/// and is not counted in the run's elapsed time, its requests per second or its
/// messages per second.
pub(crate) struct AtWork<'a>(&'a WorkerCtx);

impl Drop for AtWork<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let ended = &self.0.work_ended;
        ended.set(Some(ended.get().map_or(now, |t| t.max(now))));
    }
}

impl WorkerCtx {
    /// A VU starts working; drop the guard when it stops.
    pub(crate) fn at_work(&self) -> AtWork<'_> {
        AtWork(self)
    }

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
        let at = pacer.reserve_share(now, rate_share(&self.shared, self.index, now));
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

/// `--rate`: worker `index`'s pacer, at this instance's whole rate; each
/// reservation takes the worker's share of it ([`rate_share`]). Its first slot waits
/// the share of the instance's VUs on the workers before it: every worker's first
/// slot at once would be a burst of one request per worker (16 workers at `-r 10`
/// sent 16 in the first second). For both engines.
pub(crate) fn worker_pacer(shared: &Shared, index: usize) -> Option<Pacer> {
    let vus = shared.part.vus;
    let threads = shared.threads.max(1) as u32;
    let index = index as u32;
    let before = index * (vus / threads) + index.min(vus % threads);
    let phase = f64::from(before) / f64::from(vus.max(1));
    shared
        .part
        .rate
        .map(|rate| Pacer::new(rate).with_phase(phase))
}

/// `--rate`: worker `index`'s share of this instance's rate at `now`, for a VU of it
/// that is reserving a slot: the worker's VUs among the instance's active ones. The
/// closed model starts VUs in the order of their numbers (a ramp-up one by one, the
/// stages up to their level), and the workers take them in turn, so the share
/// follows from how many are active; without a ramp-up or stages it is the
/// worker's VUs among all. For both engines.
pub(crate) fn rate_share(shared: &Shared, index: usize, now: Instant) -> f64 {
    let part = &shared.part;
    let load = &shared.plan.load;
    let active = if load.arrival.is_some() {
        part.vus
    } else if shared.profile.is_some() {
        shared
            .vu_target
            .load(Ordering::Acquire)
            .saturating_sub(part.vu_offset)
            .min(part.vus)
    } else if now.saturating_duration_since(shared.start) < load.ramp_up {
        // VU `offset + i` starts at its ramp delay, later for each `i`: the first
        // whose delay is still ahead is how many have started.
        let t = now.saturating_duration_since(shared.start);
        let (mut started, mut not_yet) = (0, part.vus);
        while started < not_yet {
            let mid = started + (not_yet - started) / 2;
            if ramp_delay(shared, part.vu_offset + mid) <= t {
                started = mid + 1;
            } else {
                not_yet = mid;
            }
        }
        started
    } else {
        part.vus
    };
    let threads = shared.threads.max(1) as u32;
    let index = index as u32;
    let mine = active / threads + u32::from(index < active % threads);
    if mine == 0 {
        // A VU the stages' level went below while it finished its iteration: the
        // share one VU has of all, not the whole cap, until it parks.
        return 1.0 / f64::from(part.vus.max(1));
    }
    f64::from(mine) / f64::from(active)
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
    let pacer = worker_pacer(shared, index);
    let ctx = Rc::new(WorkerCtx {
        shared: shared.clone(),
        program,
        index,
        stats: RefCell::new(stats),
        in_flight: Cell::new(0),
        pacer,
        open,
        work_ended: Cell::new(None),
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
                // On the grid the controller's snapshots follow (live.rs).
                let first = Grid::new(publisher.shared.start).next_after(Instant::now());
                let mut tick = tokio::time::interval_at(first.into(), PUBLISH_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
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
        // Not `drop(rt)`: that waits for the runtime's blocking pool, where a name
        // lookup that does not answer (a resolver's timeouts are seconds long)
        // would hold the run's end until it did. Such a lookup is left to finish
        // on its own; its answer has no one to go to.
        drop(local);
        rt.shutdown_background();
    }
    // A worker whose VUs all stopped working ended then; one cut off ends now.
    let done_at = ctx.work_ended.get().unwrap_or_else(Instant::now);
    drop(running);
    // VU tasks cut off by a hard stop never decremented their in-flight count.
    let unfinished = ctx.in_flight.get();
    // Iterations still queued when the run ended never ran: they were dropped.
    if let Some(queue) = &ctx.open {
        queue
            .backlog
            .borrow_mut()
            .drop_all(shared, &mut ctx.stats.borrow_mut());
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
        self.tracer = Tracer::new(shared.plan.transport.trace_sample, seed)
            .map(|t| t.after_warmup(shared.measure_from));
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
                .perform(program, &shared.transport, &request, start)
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
        // In milliseconds when whole (as `--timeout` is mostly given), else as
        // precisely as it was given: `200µs`, not `0ms`.
        crate::ErrorKind::Timeout if timeout.subsec_nanos().is_multiple_of(1_000_000) => {
            format!("no complete response within {}ms", timeout.as_millis())
        }
        crate::ErrorKind::Timeout => format!("no complete response within {timeout:?}"),
        other => other.describe().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use kaioken_compiler::{Flags, Input, lower, plan};

    use super::*;
    use crate::Control;

    #[test]
    fn a_timeout_s_detail_names_it_to_its_precision() {
        for (timeout, named) in [
            (Duration::from_millis(300), "300ms"),
            (Duration::from_secs(2), "2000ms"),
            (Duration::from_micros(200), "200µs"),
            (Duration::from_micros(1500), "1.5ms"),
        ] {
            assert_eq!(
                default_detail(crate::ErrorKind::Timeout, timeout),
                format!("no complete response within {named}")
            );
        }
    }

    /// The shares of `-c 4 -r 400` on 2 workers, with `ramp`, at each of `at`.
    fn shares(ramp: Option<&str>, at: &[u64]) -> Vec<[f64; 2]> {
        let flags = Flags {
            url: Some("http://127.0.0.1:9/".to_owned()),
            vus: Some(4),
            rate: Some(400.0),
            ramp_up: ramp.map(str::to_owned),
            ..Flags::default()
        };
        let ir = lower(&Input {
            flags,
            ..Input::default()
        })
        .unwrap();
        let plan = Arc::new(plan(&ir).unwrap());
        let shared = Shared::new(&plan, 2, Arc::new(Control::new())).unwrap();
        at.iter()
            .map(|&ms| {
                let now = shared.start + Duration::from_millis(ms);
                [rate_share(&shared, 0, now), rate_share(&shared, 1, now)]
            })
            .collect()
    }

    /// A ramp-up over 2 s starts VU 1 (the first worker's) at 0, VU 2 (the
    /// second's) at 0.5 s, VU 3 at 1 s and VU 4 at 1.5 s: the first worker has the
    /// whole cap while its VU runs alone, and the shares follow the VUs started,
    /// adding up to the whole once both workers have one. Before that the second
    /// worker has no VU to ask; one that did would get one VU's share of all.
    /// Without a ramp-up, half each.
    #[test]
    fn a_rate_cap_is_shared_by_the_started_vus() {
        let third = 1.0 / 3.0;
        assert_eq!(
            shares(Some("2s"), &[0, 499, 500, 1000, 1500, 2500]),
            vec![
                [1.0, 0.25],
                [1.0, 0.25],
                [0.5, 0.5],
                [2.0 * third, third],
                [0.5, 0.5],
                [0.5, 0.5],
            ]
        );
        assert_eq!(shares(None, &[0, 1000]), vec![[0.5, 0.5]; 2]);
    }
}
