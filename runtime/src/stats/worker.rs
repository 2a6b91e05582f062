//! One worker thread's statistics and the methods its VUs record through.
//!
//! Only the worker's own thread touches its `WorkerStats`, so recording takes no
//! lock and sends nothing: it is a few additions on the request path. The tables are
//! sized before the run (the timeline for its expected length up to
//! [`PREALLOCATED_SECONDS`], checks, extractors, scenarios); what may still allocate is
//! a first occurrence (an error kind's example message, a status of another protocol)
//! or a timeline that outgrows its estimate (it doubles as it goes: a 100-day run does
//! not reserve 100 days of seconds up front).
//! [`RunStats::merge`](super::RunStats::merge) adds the workers up when the run ends.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use kaioken_vm::Status;

use super::{
    Counts, Engine, HTTP_STATUSES, Lineage, Merge, Messages, Outcome, Phases, ScenarioStats,
    Second, SecondStart, StepStats, clamp_us, copy_histogram, copy_list, copy_option,
    new_histogram, step::MAX_STEPS,
};
use crate::ErrorKind;
use crate::trace::{Span, Spans};

/// Statistics of one worker thread; recorded into by its VUs, copied out for the live
/// snapshots every tick, merged at the end.
#[derive(Debug, Clone)]
pub(crate) struct WorkerStats {
    /// Which statistics these are, or are a copy of: a copy made again from the
    /// same ones copies only the histograms that changed.
    lineage: Lineage,
    measure_from: Instant,
    /// The second of the measured window an instant last fell in.
    last_second: LastSecond,
    pub latency: Histogram<u64>,
    /// HTTP responses by status code (a flat table: the hot path).
    pub status: Box<[u64; HTTP_STATUSES]>,
    /// Responses of other protocols by status (gRPC codes, WebSocket close codes).
    pub other_status: Vec<(Status, u64)>,
    pub counts: Counts,
    pub timeline: Vec<Second>,
    /// The first message seen for each error kind.
    pub error_details: [Option<String>; ErrorKind::COUNT],
    /// Open model: latency from the actual send, whatever the correction.
    /// Open model only (each histogram is a few hundred KiB, so the closed model
    /// does not carry them).
    pub latency_uncorrected: Option<Histogram<u64>>,
    /// Open model: from an iteration's scheduled start to its first send (µs).
    pub schedule_lag: Option<Histogram<u64>>,
    /// The most VUs active at once in this worker.
    pub max_vus: u64,
    /// VUs active now.
    active_vus: u64,
    /// Which engine ran this worker's VUs: `io_uring` or `tokio`.
    pub engine: Engine,
    /// Per check (by [`kaioken_vm::CheckId`]): passes and failures.
    pub checks: Vec<[u64; 2]>,
    /// Per extractor (by [`kaioken_vm::ExtractorId`]): successes and failures.
    pub extractions: Vec<[u64; 2]>,
    /// Per scenario, when there are several.
    pub scenarios: Vec<ScenarioStats>,
    /// Per step (by [`kaioken_vm::StepId`]), when there are several: the first
    /// [`MAX_STEPS`] only.
    pub steps: Vec<StepStats>,
    /// Request anatomy: time per phase, and how connections were used.
    pub phases: Phases,
    /// What the message protocols count beside their exchanges, by protocol (see
    /// [`WorkerStats::messages`]); `None` for a protocol no step speaks.
    pub messages: [Option<Box<Messages>>; 2],
    /// Where the current second began, for the timeline's per-second percentiles
    /// (see seconds.rs).
    pub second_start: SecondStart,
    /// `--trace-sample`: the sampled requests' spans since the last publication
    /// (moved out by it, never copied; see trace.rs).
    pub spans: Spans,
}

/// A second of the measured window: its index, and the instants it runs from and
/// until. Which second an instant falls in is found by comparing it with these
/// bounds, rather than by subtracting the window's start from it and dividing
/// (about 50 instructions each time, several times per request).
#[derive(Debug, Clone, Copy)]
struct LastSecond {
    from: Instant,
    until: Instant,
    index: usize,
}

/// The most seconds of timeline reserved before the run: an hour (about 300 KiB per
/// worker). A longer run's timeline grows as the run goes.
pub(crate) const PREALLOCATED_SECONDS: usize = 3_600;

impl WorkerStats {
    pub fn new(measure_from: Instant, expected_seconds: usize) -> WorkerStats {
        WorkerStats {
            lineage: Lineage::new(),
            measure_from,
            // Empty: the first instant looked up finds its second.
            last_second: LastSecond {
                from: measure_from,
                until: measure_from,
                index: 0,
            },
            latency: new_histogram(),
            status: Box::new([0; HTTP_STATUSES]),
            other_status: Vec::new(),
            counts: Counts::default(),
            timeline: Vec::with_capacity(expected_seconds.min(PREALLOCATED_SECONDS) + 2),
            error_details: Default::default(),
            latency_uncorrected: None,
            schedule_lag: None,
            max_vus: 0,
            active_vus: 0,
            engine: Engine::Tokio,
            checks: Vec::new(),
            extractions: Vec::new(),
            scenarios: Vec::new(),
            steps: Vec::new(),
            phases: Phases::new(),
            messages: [None, None],
            second_start: SecondStart::new(),
            spans: Spans::default(),
        }
    }

    /// The open model's histograms: the schedule lag, and the uncorrected latency
    /// when `latency_correction` makes it differ from the recorded one (without
    /// correction they are the same, and the merge copies it).
    pub fn open_model(mut self, latency_correction: bool) -> WorkerStats {
        if latency_correction {
            self.latency_uncorrected = Some(new_histogram());
        }
        self.schedule_lag = Some(new_histogram());
        self
    }

    /// The second of the measured window `at` falls in, or `None` during the warm-up.
    /// Most instants fall in the second the one before fell in (requests are
    /// recorded as they end), so that second's bounds are kept ([`LastSecond`]) and
    /// compared with first.
    #[inline]
    fn second_of(&mut self, at: Instant) -> Option<usize> {
        let last = &mut self.last_second;
        if last.from <= at && at < last.until {
            return Some(last.index);
        }
        let index = at.checked_duration_since(self.measure_from)?.as_secs();
        if let Some(from) = self.measure_from.checked_add(Duration::from_secs(index))
            && let Some(until) = from.checked_add(Duration::from_secs(1))
        {
            *last = LastSecond {
                from,
                until,
                index: index as usize,
            };
        }
        Some(index as usize)
    }

    /// Whether `at` is in the warm-up, before the measured window (where
    /// [`WorkerStats::second_of`] finds no second).
    #[inline]
    fn in_warmup(&self, at: Instant) -> bool {
        at < self.measure_from
    }

    /// The timeline entry for instant `at`, or `None` during the warm-up.
    #[inline]
    fn second(&mut self, at: Instant) -> Option<&mut Second> {
        let second = self.second_of(at)?;
        Some(self.second_at(second))
    }

    /// The timeline entry for second `second`, made if the timeline is shorter.
    #[inline]
    fn second_at(&mut self, second: usize) -> &mut Second {
        if second >= self.timeline.len() {
            let vus = self.active_vus;
            self.timeline.resize(
                second + 1,
                Second {
                    vus,
                    ..Second::default()
                },
            );
        }
        &mut self.timeline[second]
    }

    /// Keep `detail()` as the example message of error kind `kind`, unless one is
    /// kept already (only then is `detail` called: it may allocate).
    pub fn note_error_detail(&mut self, kind: ErrorKind, detail: impl FnOnce() -> String) {
        let slot = &mut self.error_details[kind as usize];
        if slot.is_none() {
            *slot = Some(detail());
        }
    }

    /// A request that finished at `at` had to be sent again on a new connection
    /// (see [`Counts::reconnects`]).
    pub fn reconnected(&mut self, at: Instant) {
        if self.second_of(at).is_some() {
            self.counts.reconnects += 1;
        }
    }

    /// A connection was closed at `at` because bytes came on it between requests,
    /// answering none (see `Timing::out_of_sync`): the io_uring engine hears them
    /// while no exchange is in progress (Linux only, as that engine is).
    #[cfg(target_os = "linux")]
    pub fn out_of_sync(&mut self, at: Instant) {
        if !self.in_warmup(at) {
            self.phases.out_of_sync += 1;
        }
    }

    /// Keep message counts for the message protocols `program`'s steps speak.
    pub fn with_messages(mut self, program: &kaioken_vm::Program) -> WorkerStats {
        for step in &program.steps {
            if let Some(i) = super::messages::index(step.protocol) {
                self.messages[i].get_or_insert_with(|| Box::new(Messages::new()));
            }
        }
        self
    }

    /// Add what a driver of `protocol` counted during an exchange that ended at
    /// `at` (nothing during the warm-up, like the exchanges themselves).
    pub fn tally(&mut self, protocol: kaioken_vm::Protocol, at: Instant, t: &super::Tally) {
        let Some(second) = self.second_of(at) else {
            return;
        };
        if let Some(m) = self.messages(protocol) {
            m.absorb(t);
        }
        let sec = self.second_at(second);
        sec.messages_sent += t.sent;
        sec.messages_received += t.received;
    }

    /// The message counts of `protocol` (WebSocket or gRPC), if a step speaks it.
    #[inline]
    pub fn messages(&mut self, protocol: kaioken_vm::Protocol) -> Option<&mut Messages> {
        self.messages[super::messages::index(protocol)?].as_deref_mut()
    }

    /// A response that ended at `at` had its body decoded (`--compressed`).
    pub fn decoded(&mut self, at: Instant, decoded: crate::decode::Decoded) {
        if self.second_of(at).is_some() {
            self.counts.decoded += 1;
            self.counts.decoded_partial += u64::from(!decoded.complete);
            self.counts.bytes_decoded += decoded.bytes;
        }
    }

    /// Make room for the spans of sampled requests, when the run traces some (once,
    /// before the run).
    pub fn with_spans(mut self, tracing: bool) -> WorkerStats {
        self.spans = Spans::new(tracing);
        self
    }

    /// Keep the span of a sampled request, or count it dropped when the buffer is
    /// full until the next publication.
    #[cold]
    pub fn span(&mut self, span: Span) {
        self.spans.push(span);
    }

    /// Make room for `n` checks' counts (once, before the run).
    pub fn with_checks(mut self, n: usize) -> WorkerStats {
        self.checks = vec![[0; 2]; n];
        self
    }

    /// Make room for `n` extractors' counts (once, before the run).
    pub fn with_extractors(mut self, n: usize) -> WorkerStats {
        self.extractions = vec![[0; 2]; n];
        self
    }

    /// Keep per-scenario results for `n` scenarios (only worth it for two or more).
    pub fn with_scenarios(mut self, n: usize) -> WorkerStats {
        if n > 1 {
            self.scenarios = (0..n).map(|_| ScenarioStats::new()).collect();
        }
        self
    }

    /// Keep per-step results for `n` steps (only worth it for two or more; at most
    /// [`MAX_STEPS`]).
    pub fn with_steps(mut self, n: usize) -> WorkerStats {
        if n > 1 {
            self.steps = (0..n.min(MAX_STEPS)).map(|_| StepStats::new()).collect();
        }
        self
    }

    /// Count a request that finished at `end` after `took` in scenario `index`.
    #[inline]
    pub fn scenario(&mut self, index: usize, end: Instant, took: Duration, error: bool) {
        if self.in_warmup(end) {
            return;
        }
        if let Some(s) = self.scenarios.get_mut(index) {
            // Like the run's, a scenario's latency is its responses'.
            s.record(took, error);
        }
    }

    /// Count an exchange of step `index` (a redirect it followed included) that
    /// finished at `end` after `took`.
    #[inline]
    pub fn step(&mut self, index: usize, end: Instant, took: Duration, outcome: Outcome) {
        if self.in_warmup(end) {
            return;
        }
        if let Some(s) = self.steps.get_mut(index) {
            s.record(took, outcome);
        }
    }

    /// Record the phases of an exchange that ended at `end` (see phases.rs).
    #[inline]
    pub fn phases(&mut self, timing: &super::Timing, end: Instant, outcome: Outcome) {
        if self.in_warmup(end) {
            return;
        }
        let responded = matches!(outcome, Outcome::Response { .. });
        self.phases.record(timing, end, responded);
    }

    /// Count a response that ended at `end` in scenario `scenario`, step `step`, with
    /// a status its step did not expect: a failed request (its response is counted
    /// already).
    #[inline]
    pub fn unexpected(&mut self, end: Instant, scenario: usize, step: usize) {
        let Some(sec) = self.second(end) else {
            return;
        };
        sec.unexpected += 1;
        self.counts.unexpected += 1;
        if let Some(s) = self.scenarios.get_mut(scenario) {
            s.unexpected += 1;
        }
        if let Some(s) = self.steps.get_mut(step) {
            s.totals.unexpected += 1;
        }
    }

    /// Count one run of extractor `id` on an exchange that ended at `end`.
    #[inline]
    pub fn extraction(&mut self, id: kaioken_vm::ExtractorId, end: Instant, ok: bool) {
        if self.in_warmup(end) {
            return;
        }
        if let Some(counts) = self.extractions.get_mut(id.index()) {
            counts[usize::from(!ok)] += 1;
        }
    }

    /// Count one evaluation of check `id` on an exchange that ended at `end`.
    #[inline]
    pub fn check(&mut self, id: kaioken_vm::CheckId, end: Instant, passed: bool) {
        if self.in_warmup(end) {
            return;
        }
        if let Some(counts) = self.checks.get_mut(id.index()) {
            counts[usize::from(!passed)] += 1;
        }
    }

    /// An iteration started at `at`; `lag` is how late it was (open model).
    pub fn iteration_started(&mut self, at: Instant, lag: Option<Duration>) {
        if let Some(sec) = self.second(at) {
            sec.started += 1;
            self.counts.started += 1;
            if let Some(lag) = lag
                && let Some(h) = &mut self.schedule_lag
            {
                h.saturating_record(clamp_us(lag));
            }
        }
    }

    /// An iteration due at `at` was dropped.
    pub fn iteration_dropped(&mut self, at: Instant) {
        self.iterations_dropped(at, 1);
    }

    /// `n` iterations due by `at` were dropped (counted in `at`'s second).
    pub fn iterations_dropped(&mut self, at: Instant, n: u64) {
        if let Some(sec) = self.second(at) {
            sec.dropped += n;
            self.counts.dropped += n;
        }
    }

    /// Become a copy of `other`, reusing this one's buffers: after the first copy it
    /// allocates nothing unless `other` grew (a new second in its timeline, a new
    /// status, an error's first message). How a worker publishes its statistics every
    /// tick without allocating on its thread. Spans are not copied: they move
    /// (see [`crate::shared::Shared::publish`]). A copy of statistics it copied
    /// before copies only the histograms that changed since ([`Lineage`]). The
    /// steps' latency is not copied: a copy's steps count only
    /// ([`StepStats::keeps_latency`]; the copies are for the live snapshots).
    pub fn copy_from(&mut self, other: &WorkerStats) {
        let again = self.lineage == other.lineage;
        self.lineage.adopt(&other.lineage);
        self.measure_from = other.measure_from;
        self.last_second = other.last_second;
        copy_histogram(&mut self.latency, &other.latency, again);
        *self.status = *other.status;
        self.other_status.clone_from(&other.other_status);
        self.counts.clone_from(&other.counts);
        // As much room as the original's (sized for the run's expected length), so the
        // copy does not grow second by second.
        self.timeline.reserve(
            other
                .timeline
                .capacity()
                .saturating_sub(self.timeline.len()),
        );
        self.timeline.clone_from(&other.timeline);
        for (mine, theirs) in self.error_details.iter_mut().zip(&other.error_details) {
            mine.clone_from(theirs);
        }
        for (mine, theirs) in [
            (&mut self.latency_uncorrected, &other.latency_uncorrected),
            (&mut self.schedule_lag, &other.schedule_lag),
        ] {
            match (mine.as_mut(), theirs) {
                (Some(m), Some(t)) => copy_histogram(m, t, again),
                _ => mine.clone_from(theirs),
            }
        }
        self.max_vus = other.max_vus;
        self.active_vus = other.active_vus;
        self.engine = other.engine;
        self.checks.clone_from(&other.checks);
        self.extractions.clone_from(&other.extractions);
        self.second_start.copy_from(&other.second_start, again);
        copy_list(&mut self.scenarios, &other.scenarios, again);
        self.phases.copy_from(&other.phases, again);
        for (mine, theirs) in self.messages.iter_mut().zip(&other.messages) {
            copy_option(mine, theirs, again);
        }
        // The steps' counts, not their latency (see `StepStats::keeps_latency`).
        self.steps.truncate(other.steps.len());
        self.steps
            .resize_with(other.steps.len(), StepStats::counts_only);
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            if mine.keeps_latency() {
                *mine = StepStats::counts_only();
            }
            mine.sum_counts(std::iter::once(theirs));
        }
    }

    /// If `now` is in a later second than the current one, that second begins: what
    /// was recorded so far belongs to the seconds before. Requests are recorded in the
    /// order they end, so nothing recorded later can belong to an earlier second.
    pub fn roll_second(&mut self, now: Instant) {
        if let Some(second) = self.second_of(now) {
            self.roll_to(second);
        }
    }

    /// Second `second` has begun (see [`WorkerStats::roll_second`]).
    #[inline]
    fn roll_to(&mut self, second: usize) {
        let index = u32::try_from(second).unwrap_or(u32::MAX);
        if index > self.second_start.index {
            self.second_start
                .begin(index, &self.latency, &self.status, &self.other_status);
        }
    }

    /// A copy of these statistics, as [`copy_from`](Self::copy_from) makes it (the
    /// steps without their latency), with their room: the first publication,
    /// whose buffers later ones reuse.
    pub fn copy(&self) -> WorkerStats {
        let mut copy = WorkerStats::new(self.measure_from, 0);
        copy.copy_from(self);
        copy
    }

    /// Become `published`, a worker's latest publication, as the controller takes
    /// it ([`crate::shared::Shared::take_published`]): when these are a copy of
    /// the same statistics ([`Lineage`]), the two swap, and `published` keeps the
    /// older copy, which the worker's next publication brings up to date by
    /// copying only what changed since; otherwise (the first take) a copy.
    pub fn take_from(&mut self, published: &mut WorkerStats) {
        if self.lineage == published.lineage {
            std::mem::swap(self, published);
        } else {
            self.copy_from(published);
        }
    }

    /// Which statistics these are, or are a copy of (for a merge to remember).
    pub fn lineage(&self) -> &Lineage {
        &self.lineage
    }

    /// VUs active now.
    pub fn active_vus(&self) -> u64 {
        self.active_vus
    }

    /// The number of active VUs changed by `delta` at `at`.
    pub fn vus_changed(&mut self, at: Instant, delta: i64) {
        // The seconds since the last change, made here if nothing else made them,
        // had the VUs active before this one (VUs stuck on a stalled server, let
        // go when the grace runs out, were active all along).
        let second = self.second_of(at);
        if let Some(second) = second {
            self.second_at(second);
        }
        self.active_vus = self.active_vus.saturating_add_signed(delta);
        let active = self.active_vus;
        self.max_vus = self.max_vus.max(active);
        if let Some(second) = second {
            let sec = &mut self.timeline[second];
            sec.vus = sec.vus.max(active);
        }
    }

    /// Record a request that was sent at `start` and finished at `end`. With latency
    /// correction, `intended` is when it should have been sent (its iteration's
    /// scheduled start) and its latency counts from there. Returns how long it took
    /// from `start` (the VU machine's duration of it, computed once here).
    #[inline]
    pub fn record(
        &mut self,
        start: Instant,
        end: Instant,
        intended: Option<Instant>,
        bytes_out: u64,
        outcome: Outcome,
    ) -> Duration {
        let took = end.saturating_duration_since(start);
        let Some(second) = self.second_of(end) else {
            self.counts.warmup_requests += 1;
            return took;
        };
        self.roll_to(second);
        self.counts.bytes_out += bytes_out;
        let (status, bytes_in) = match outcome {
            Outcome::Response { status, bytes_in } => (status, bytes_in),
            Outcome::Error(kind) => {
                // A request that got no answer has no response latency: a refused
                // connection in microseconds must not make the target look fast.
                self.counts.errors[kind as usize] += 1;
                let sec = self.second_at(second);
                sec.requests += 1;
                sec.errors += 1;
                return took;
            }
        };
        // Corrected latency counts from the scheduled start, or from the actual send
        // if that came first (an iteration released up to a timer tick early).
        let latency = match intended {
            Some(i) if i < start => end.saturating_duration_since(i),
            _ => took,
        };
        let us = clamp_us(latency);
        self.latency.saturating_record(us);
        if let Some(h) = &mut self.latency_uncorrected {
            h.saturating_record(clamp_us(took));
        }
        self.counts.responses += 1;
        self.counts.bytes_in += bytes_in;
        match status {
            Status::Http(code) => {
                self.status[usize::from(code).min(HTTP_STATUSES - 1)] += 1;
            }
            other => match self.other_status.iter_mut().find(|(s, _)| *s == other) {
                Some((_, n)) => *n += 1,
                None => {
                    self.other_status.push((other, 1));
                    self.second_start.room_for(self.other_status.len());
                }
            },
        }
        let sec = self.second_at(second);
        sec.requests += 1;
        sec.responses += 1;
        sec.latency_sum_us += us;
        sec.latency_max_us = sec.latency_max_us.max(us);
        sec.bytes_in += bytes_in;
        took
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instant's second is the same whatever second was looked up before it
    /// (whose bounds are kept): at and beside each second's edges, in and out of
    /// order, and in the warm-up.
    #[test]
    fn an_instant_s_second_does_not_depend_on_the_one_before() {
        let t0 = Instant::now();
        let measure_from = t0 + Duration::from_secs(1);
        let mut w = WorkerStats::new(measure_from, 4);
        let ns = |s: u64| Duration::from_secs(s).as_nanos() as u64;
        for at in [
            ns(1),
            ns(2) - 1,
            ns(2),
            ns(1) + 500,
            ns(1) - 1,
            ns(3),
            ns(3) - 1,
            0,
            ns(2),
            ns(5) + 432,
            ns(1),
            ns(1) - 1,
        ] {
            let at = t0 + Duration::from_nanos(at);
            let direct = at
                .checked_duration_since(measure_from)
                .map(|d| d.as_secs() as usize);
            assert_eq!(w.second_of(at), direct, "{at:?}");
        }
    }

    /// A copy made from other statistics than the last is made whole, even where
    /// the two hold as many values: only a copy of the same statistics made
    /// again skips what has as many values as before.
    #[test]
    fn a_copy_of_other_statistics_is_made_whole() {
        let t0 = Instant::now();
        let response = Outcome::Response {
            status: Status::Http(200),
            bytes_in: 1,
        };
        let (mut a, mut b) = (WorkerStats::new(t0, 1), WorkerStats::new(t0, 1));
        a.record(t0, t0 + Duration::from_micros(100), None, 1, response);
        b.record(t0, t0 + Duration::from_micros(900), None, 1, response);
        let mut copy = WorkerStats::new(t0, 1);
        copy.copy_from(&a);
        assert_eq!(copy.latency, a.latency);
        copy.copy_from(&b);
        assert_eq!(copy.latency, b.latency);
        // A clone is statistics of its own, recorded into apart from the original.
        let mut c = a.clone();
        c.record(t0, t0 + Duration::from_micros(5), None, 1, response);
        a.record(t0, t0 + Duration::from_micros(7_000), None, 1, response);
        copy.copy_from(&c);
        copy.copy_from(&a);
        assert_eq!(copy.latency, a.latency);
    }

    #[test]
    fn warmup_is_not_measured() {
        let t0 = Instant::now();
        let mut w = WorkerStats::new(t0 + Duration::from_secs(1), 1);
        w.record(
            t0,
            t0 + Duration::from_millis(10),
            None,
            5,
            Outcome::Response {
                status: Status::Http(200),
                bytes_in: 1,
            },
        );
        w.record(
            t0,
            t0 + Duration::from_millis(1010),
            None,
            5,
            Outcome::Response {
                status: Status::Http(200),
                bytes_in: 1,
            },
        );
        assert_eq!(w.counts.warmup_requests, 1);
        assert_eq!(w.counts.responses, 1);
        assert_eq!(w.latency.len(), 1);
    }

    /// A run of 1,000,000 hours (3.6 billion seconds) reserves an hour of timeline,
    /// not 300 GB, and the timeline still takes in a second far past that hour.
    #[test]
    fn a_long_run_grows_its_timeline_as_it_goes() {
        let t0 = Instant::now();
        let mut w = WorkerStats::new(t0, 3_600_000_000);
        assert_eq!(w.timeline.capacity(), PREALLOCATED_SECONDS + 2);
        let response = Outcome::Response {
            status: Status::Http(200),
            bytes_in: 1,
        };
        for at in [10, 5_000, 20_000] {
            let end = t0 + Duration::from_secs(at);
            w.record(end - Duration::from_millis(1), end, None, 5, response);
        }
        assert_eq!(w.timeline.len(), 20_001);
        let counted: Vec<u64> = [10, 5_000, 20_000]
            .iter()
            .map(|&s| w.timeline[s].responses)
            .collect();
        assert_eq!(counted, [1, 1, 1]);
        assert_eq!(w.timeline.iter().map(|s| s.responses).sum::<u64>(), 3);
    }
}
