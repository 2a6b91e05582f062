//! What every worker of a run shares: the configuration and transport, the run's
//! clock, its stop, the request budget, the closed model's stage level, and each
//! worker's live progress counters. Read on the request path, so it holds atomics,
//! never a lock. With an execution segment ([`kaioken_vm::Segment`]) it also holds
//! this instance's share of the plan ([`Part`]): the plan stays the whole run's, and
//! the engines read their VUs, budget and stripe from here.

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

/// This instance's part of the run's load: all of it without a segment.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// The segment (`0:1` without one).
    pub(crate) segment: kaioken_vm::Segment,
    /// Closed model: its VUs; open model: the most it may start.
    pub(crate) vus: u32,
    /// The instances before it have the VU numbers `1..=vu_offset`; its own follow.
    pub(crate) vu_offset: u32,
    /// Its part of `max_requests`.
    pub(crate) max_requests: Option<u64>,
    /// Its part of the closed model's `--rate`.
    pub(crate) rate: Option<f64>,
    /// Open model: its part of the pre-allocated VUs and of the queue.
    pub(crate) pre_allocated: u32,
    pub(crate) queue_size: u32,
}

impl Part {
    /// `load`'s part for `segment`.
    pub(crate) fn of(load: &kaioken_vm::LoadPlan, segment: Option<&kaioken_vm::Segment>) -> Part {
        let segment = segment.cloned().unwrap_or_else(kaioken_vm::Segment::whole);
        let open = load.arrival.is_some();
        // The open model's stripe is never empty: it needs a VU to run it. One the
        // whole run's VUs leave without a share numbers it past them, by where its
        // segment starts, so that `${VU}` and `${REQUEST_ID}` stay unique.
        let share = segment.part_u32(load.vus);
        let (vus, vu_offset) = if open && share == 0 {
            let past = u64::from(load.vus) + segment.from.of(segment.lcd());
            (1, u32::try_from(past).unwrap_or(u32::MAX - 1))
        } else {
            (share, segment.offset(u64::from(load.vus)) as u32)
        };
        Part {
            vus,
            vu_offset,
            max_requests: load.max_requests.map(|n| segment.part(n)),
            rate: load.rate.map(|r| r * segment.share()),
            pre_allocated: load
                .arrival
                .as_ref()
                .map_or(0, |a| segment.part_u32(a.pre_allocated_vus)),
            queue_size: load
                .arrival
                .as_ref()
                .map_or(0, |a| segment.part_u32(a.queue_size).max(1)),
            segment,
        }
    }

    /// Closed model: the VU numbers that should be active when the whole run's level
    /// is `level` VUs: this instance's part of them, numbered after the others'.
    pub(crate) fn vu_target(&self, level: u32) -> u32 {
        self.vu_offset + self.segment.part_u32(level)
    }

    /// This instance's part of the whole run's `level` (stages' VUs, or the open
    /// model's iterations per second), as the live view shows it.
    pub(crate) fn level(&self, level: f64, open: bool) -> f64 {
        if open || self.segment.share() >= 1.0 {
            level * self.segment.share()
        } else {
            f64::from(self.segment.part_u32(level.round() as u32))
        }
    }
}

pub(crate) struct Shared {
    pub(crate) plan: Arc<RunPlan>,
    /// This instance's part of `plan.load`.
    pub(crate) part: Part,
    /// What every exchange shares: settings, TLS per protocol, per-step facts.
    pub(crate) transport: Transport,
    pub(crate) control: Arc<Control>,
    pub(crate) issued: AtomicU64,
    pub(crate) start: Instant,
    pub(crate) measure_from: Instant,
    /// When the measured window ends, if the run has a duration.
    pub(crate) deadline: Option<Instant>,
    /// Each worker's latest copy of its statistics, for the live snapshots (see
    /// live.rs): written once per tick by the worker, taken by the controller.
    pub(crate) published: Vec<Mutex<Published>>,
    /// Each worker's sampled requests' spans not yet in a snapshot, and how many
    /// it dropped (`--trace-sample`; see trace.rs): moved in once per tick by the
    /// worker, taken out by the controller.
    pub(crate) spans: Vec<Mutex<Spans>>,
    /// `--trace-sample`: where the VUs' samplers' seeds come from.
    pub(crate) trace_seed: u64,
    /// `start` on the wall clock, ns since the Unix epoch (spans' start times).
    pub(crate) start_unix_ns: u64,
    pub(crate) running: AtomicUsize,
    /// Closed model: the VU numbers that should be active now (this instance's from
    /// `part.vu_offset + 1` up to this).
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
        let part = Part::of(load, plan.segment.as_ref());
        let vus = part.vus.max(1) as usize;
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
            (Some(p), None) => part.vu_target(p.level_at(Duration::ZERO).round() as u32),
            _ => part.vu_offset + part.vus,
        };
        Ok(Shared {
            plan: plan.clone(),
            part,
            transport: Transport {
                http: plan.transport.clone(),
                tls,
                infos: StepInfo::for_program(&plan.program, &plan.transport),
                prepared: crate::http2::prepare(&plan.program).into(),
                grpc: crate::grpc::methods(&plan.program).map_err(RunError::InvalidProgram)?,
                dial: Arc::new(crate::dial::Dial::new(&plan.transport).map_err(RunError::Network)?),
            },
            control,
            issued: AtomicU64::new(0),
            start,
            measure_from,
            deadline: load.duration.map(|d| measure_from + d),
            published: (0..threads).map(|_| Mutex::default()).collect(),
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
        match self.part.max_requests {
            Some(max) if self.issued.fetch_add(1, Ordering::Relaxed) >= max => {
                self.control.stop(StopReason::MaxRequests);
                false
            }
            _ => true,
        }
    }

    /// Whether the request budget (`max_requests`) ended the run.
    pub(crate) fn budget_spent(&self) -> bool {
        self.control.reason() == Some(StopReason::MaxRequests)
    }

    /// Whether the run goes on: it is not stopping, and its deadline has not passed
    /// (checked here, not only by the controller's tick, so that no request starts
    /// after it; past it, the run is told to stop).
    pub(crate) fn going_on(&self) -> bool {
        if self.control.is_stopping() {
            return false;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.control.stop(StopReason::Duration);
            return false;
        }
        true
    }

    /// Whether another request may start: the run goes on ([`Shared::going_on`]) and
    /// the budget has room (claimed).
    pub(crate) fn may_continue(&self) -> bool {
        self.going_on() && self.claim()
    }

    /// Publish a copy of worker `index`'s statistics for the next snapshot, as they
    /// stand at `now` (a second that began since the last record begins now). Called
    /// by the worker once per tick (never per request); the copy reuses the slot's
    /// buffers, so once warm it allocates nothing on the worker's thread.
    /// Its spans move to its span slot (never copied: each reaches one snapshot).
    pub(crate) fn publish(&self, index: usize, stats: &mut WorkerStats, now: Instant) {
        stats.roll_second(now);
        if (!stats.spans.spans.is_empty() || stats.spans.dropped > 0)
            && let Ok(mut slot) = self.spans[index].lock()
        {
            slot.take_from(&mut stats.spans);
        }
        if let Ok(mut slot) = self.published[index].lock() {
            match slot.stats.as_mut() {
                Some(copy) => copy.copy_from(stats),
                None => slot.stats = Some(stats.copy()),
            }
            slot.unread = true;
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

    /// Make `latest` worker `index`'s latest published statistics, if it has
    /// published since the last call; otherwise `latest` already is. Once
    /// `latest` is a copy of the worker's statistics, the two swap, not copy:
    /// the slot gets the older copy, which the worker's next publication brings
    /// up to date by copying only what changed since
    /// ([`WorkerStats::copy_from`]). The first time it is a copy, made on this
    /// thread: swapped in, the controller's empty statistics would have the
    /// worker's thread make all their room (a histogram per step, the timeline)
    /// while its VUs wait. `latest` must be left as it is between two calls.
    pub(crate) fn take_published(&self, index: usize, latest: &mut WorkerStats) {
        if let Ok(mut slot) = self.published[index].lock()
            && slot.unread
            && let Some(published) = slot.stats.as_mut()
        {
            latest.take_from(published);
            slot.unread = false;
        }
    }
}

/// A worker's latest published statistics (see [`Shared::publish`]).
#[derive(Default)]
pub(crate) struct Published {
    stats: Option<WorkerStats>,
    /// Published since the controller last took them.
    unread: bool,
}

#[cfg(test)]
mod tests {
    use super::Part;
    use kaioken_vm::{LoadPlan, Segment};
    use std::time::Duration;

    fn load(vus: u32) -> LoadPlan {
        LoadPlan {
            vus,
            duration: Some(Duration::from_secs(1)),
            max_requests: Some(101),
            rate: Some(100.0),
            ramp_up: Duration::ZERO,
            warmup: Duration::ZERO,
            start: 0.0,
            stages: Vec::new(),
            arrival: None,
        }
    }

    /// Ten VUs and 101 requests over four equal parts: each part's VUs, numbers,
    /// budget and rate, adding up to the whole run's.
    #[test]
    fn four_parts_of_a_closed_run() {
        let parts: Vec<Part> = (0..4)
            .map(|i| Part::of(&load(10), Some(&Segment::equal(i, 4).unwrap())))
            .collect();
        let got: Vec<(u32, u32, Option<u64>)> = parts
            .iter()
            .map(|p| (p.vus, p.vu_offset, p.max_requests))
            .collect();
        assert_eq!(
            got,
            [
                (2, 0, Some(25)),
                (3, 2, Some(25)),
                (2, 5, Some(25)),
                (3, 7, Some(26))
            ]
        );
        assert_eq!(parts[1].rate, Some(25.0));
        // A stage at 6 VUs: the parts run 1, 2, 1 and 2 of them, the first of each
        // part's numbers (1, 3–4, 6, 8–9); a target is the last active number.
        let targets: Vec<u32> = parts.iter().map(|p| p.vu_target(6)).collect();
        assert_eq!(targets, [1, 4, 6, 9]);
        let active: u32 = parts.iter().map(|p| p.vu_target(6) - p.vu_offset).sum();
        assert_eq!(active, 6);
        // What the live view shows of a stage at 6 VUs: each part's own.
        let levels: Vec<f64> = parts.iter().map(|p| p.level(6.0, false)).collect();
        assert_eq!(levels, [1.0, 2.0, 1.0, 2.0]);
        assert_eq!(parts[0].level(400.0, true), 100.0);
        // No segment: the whole run.
        let whole = Part::of(&load(10), None);
        assert_eq!(
            (whole.vus, whole.vu_offset, whole.max_requests),
            (10, 0, Some(101))
        );
        assert_eq!(whole.level(3.7, false), 3.7);
    }

    /// An open run of at most 2 VUs over four parts: the two parts without a share
    /// still get a VU to run their stripe, numbered past the run's (3 and 5), so no
    /// two parts share a number.
    #[test]
    fn open_parts_without_a_vu_share_are_numbered_past_the_run() {
        let open = LoadPlan {
            arrival: Some(kaioken_vm::Arrival {
                rate: 100.0,
                pre_allocated_vus: 2,
                latency_correction: true,
                queue_size: 100,
                queue_timeout: Duration::from_secs(1),
            }),
            ..load(2)
        };
        let parts: Vec<(u32, u32)> = (0..4)
            .map(|i| Part::of(&open, Some(&Segment::equal(i, 4).unwrap())))
            .map(|p| (p.vus, p.vu_offset))
            .collect();
        assert_eq!(parts, [(1, 2), (1, 0), (1, 4), (1, 1)]);
        let numbers: std::collections::BTreeSet<u32> =
            parts.iter().map(|(_, offset)| offset + 1).collect();
        assert_eq!(numbers.len(), 4, "{parts:?}");
    }
}
