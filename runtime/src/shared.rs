//! What every worker of a run shares: the configuration and transport, the run's
//! clock, its stop, the request budget, the closed model's stage level, and each
//! worker's live progress counters. Read on the request path, so it holds atomics,
//! never a lock.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kaioken_vm::Protocol;
use rustls::ClientConfig;
use tokio::sync::watch;

use crate::driver::Transport;
use crate::http1::StepInfo;
use crate::stats::WorkerStats;
use crate::trace::{Span, Spans};
use kaioken_vm::RunPlan;

use crate::{Control, Profile, RunError, StopReason};

pub(crate) struct Shared {
    pub(crate) plan: Arc<RunPlan>,
    /// What every exchange shares: settings, TLS per protocol, per-step facts.
    pub(crate) transport: Transport,
    pub(crate) control: Arc<Control>,
    pub(crate) issued: AtomicU64,
    pub(crate) start: Instant,
    pub(crate) measure_from: Instant,
    /// When the measured window ends, if the run has a duration.
    pub(crate) deadline: Option<Instant>,
    /// Each worker's latest copy of its statistics, for the live snapshots (see
    /// live.rs): written once per tick by the worker, read by the controller.
    pub(crate) published: Vec<Mutex<Option<WorkerStats>>>,
    /// Each worker's sampled requests' spans not yet in a snapshot, and how many
    /// it dropped (`--trace-sample`; see trace.rs): moved in once per tick by the
    /// worker, taken out by the controller.
    pub(crate) spans: Vec<Mutex<Spans>>,
    /// `--trace-sample`: where the VUs' samplers' seeds come from.
    pub(crate) trace_seed: u64,
    /// `start` on the wall clock, ns since the Unix epoch (spans' start times).
    pub(crate) start_unix_ns: u64,
    pub(crate) running: AtomicUsize,
    /// Closed model: how many VUs should be active now (VU numbers 1..=target).
    pub(crate) vu_target: AtomicU32,
    pub(crate) vu_target_tx: watch::Sender<u32>,
    /// The level over the whole run, warm-up included.
    pub(crate) profile: Option<Profile>,
    pub(crate) threads: usize,
    /// `-v`: which steps' first exchange has been printed.
    pub(crate) verbose: Option<crate::verbose::Verbose>,
}

impl Shared {
    /// Everything the workers share, with the run's clock starting now.
    ///
    /// # Errors
    ///
    /// An unusable TLS configuration (`--cacert`).
    pub(crate) fn new(
        plan: &Arc<RunPlan>,
        threads: usize,
        control: Arc<Control>,
    ) -> Result<Shared, RunError> {
        // The engines index tables by the program's ids and trust its control flow.
        plan.program.validate().map_err(RunError::InvalidProgram)?;
        // A TLS configuration for each protocol a step speaks to an `https` origin, or
        // may after a redirect (from `http` to `https` is the most common one).
        let program = &plan.program;
        let mut tls: [Option<Arc<ClientConfig>>; Protocol::ALL.len()] = Default::default();
        for step in &program.steps {
            let https = program.origins[step.origin].scheme == kaioken_vm::Scheme::Https;
            let slot = &mut tls[step.protocol.index()];
            if slot.is_none() && (https || plan.transport.max_redirects > 0) {
                *slot = Some(
                    crate::tls::client_config(&plan.transport, step.protocol)
                        .map_err(RunError::Tls)?,
                );
            }
        }
        let load = &plan.load;
        let vus = load.vus.max(1) as usize;
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        let threads = if threads == 0 { cpus } else { threads }.clamp(1, vus);
        let start = Instant::now();
        let start_unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let tracing = plan.transport.trace_sample > 0.0;
        let measure_from = start + load.warmup;
        let profile = Profile::of(load).map(|p| p.with_lead(load.warmup));
        let initial_target = match (&profile, &load.arrival) {
            (Some(p), None) => p.level_at(Duration::ZERO).round() as u32,
            _ => load.vus,
        };
        Ok(Shared {
            plan: plan.clone(),
            transport: Transport {
                http: plan.transport.clone(),
                tls,
                infos: StepInfo::for_program(&plan.program, &plan.transport),
                grpc: crate::grpc::methods(&plan.program).map_err(RunError::InvalidProgram)?,
                dial: crate::dial::Dial::new(&plan.transport).map_err(RunError::Network)?,
            },
            control,
            issued: AtomicU64::new(0),
            start,
            measure_from,
            deadline: load.duration.map(|d| measure_from + d),
            published: (0..threads).map(|_| Mutex::new(None)).collect(),
            spans: (0..threads)
                .map(|_| Mutex::new(Spans::new(tracing)))
                .collect(),
            trace_seed: crate::trace::run_seed(),
            start_unix_ns,
            running: AtomicUsize::new(threads),
            vu_target: AtomicU32::new(initial_target),
            vu_target_tx: watch::Sender::new(initial_target),
            profile,
            threads,
            verbose: plan
                .transport
                .verbose
                .clone()
                .map(|rule| crate::verbose::Verbose::new(&plan.program, rule)),
        })
    }

    /// Claim one request from `max_requests`; `false` when the budget is spent (and
    /// the run is told to stop).
    pub(crate) fn claim(&self) -> bool {
        match self.plan.load.max_requests {
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

    /// Publish a copy of worker `index`'s statistics for the next snapshot, as they
    /// stand at `now` (a second that began since the last record begins now). Called
    /// by the worker once per tick (never per request); the copy reuses the slot's
    /// buffers, so once warm it allocates nothing on the worker's thread.
    /// Its spans move to its span slot (never copied: each reaches one snapshot).
    pub(crate) fn publish(&self, index: usize, stats: &mut WorkerStats, now: Instant) {
        stats.roll_second(now);
        if !stats.spans.spans.is_empty() || stats.spans.dropped > 0 {
            if let Ok(mut slot) = self.spans[index].lock() {
                slot.take_from(&mut stats.spans);
            }
        }
        if let Ok(mut slot) = self.published[index].lock() {
            match slot.as_mut() {
                Some(copy) => copy.copy_from(stats),
                None => {
                    // The first copy makes the buffers (with the original's room, see
                    // `copy_from`); later ones reuse them.
                    let mut copy = stats.clone();
                    copy.copy_from(stats);
                    *slot = Some(copy);
                }
            }
        }
    }

    /// Move worker `index`'s last spans (those it had not published when it
    /// ended) into its slot.
    pub(crate) fn publish_last_spans(&self, index: usize, spans: &mut Spans) {
        if let Ok(mut slot) = self.spans[index].lock() {
            slot.take_from(spans);
        }
    }

    /// Move every worker's published spans into `into`; the spans dropped so far,
    /// over every worker.
    pub(crate) fn take_spans(&self, into: &mut Vec<Span>) -> u64 {
        let mut dropped = 0;
        for slot in &self.spans {
            if let Ok(mut slot) = slot.lock() {
                into.append(&mut slot.spans);
                dropped += slot.dropped;
            }
        }
        dropped
    }

    /// Copy worker `index`'s latest published statistics into `into`, if it has
    /// published since the run began.
    pub(crate) fn read_published(&self, index: usize, into: &mut WorkerStats) {
        if let Ok(slot) = self.published[index].lock() {
            if let Some(published) = slot.as_ref() {
                into.copy_from(published);
            }
        }
    }
}
