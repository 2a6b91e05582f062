//! `stats`: what a run measured, recorded per worker and merged once at the end.
//!
//! ```text
//!   worker thread 0                      worker thread N-1
//!    VUs ──record()──► WorkerStats   …    VUs ──record()──► WorkerStats
//!                      (only this thread writes it: no lock, no channel)
//!                          └──────────────┬──────────────┘
//!                                         ▼  once, when the run ends
//!                      controller: RunStats::merge(workers, elapsed)
//!                                         ▼
//!                      run() returns it; the cli builds its report from it
//! ```
//!
//! Each worker thread owns one [`WorkerStats`]; its VUs record into it without locks.
//! Nothing keeps a list of samples: latencies go into an HDR histogram (1 µs to 1 h, 3
//! significant digits, about 200 KiB) and per-second aggregates, so memory is flat
//! whatever the run's length. [`RunStats::merge`] adds histograms exactly.
//!
//! The live snapshots copy each worker's statistics and merge them four times a
//! second (live.rs). A histogram is 184 KiB, a run keeps a dozen per worker (a
//! few hundred with many steps), and most do not change between two ticks, so a
//! copy or a merge made again from the same statistics ([`Lineage`],
//! [`MergedFrom`]) redoes only the histograms whose count moved.
//!
//! Files by job:
//!
//! - this file: the histogram bounds and [`new_histogram`], shared by every file;
//! - `outcome.rs`: [`Outcome`], what one request came to, as the drivers report it;
//! - `counts.rs`: [`Counts`] (requests, bytes, iterations) and [`Second`] (one
//!   second of the timeline), the plain sums a worker keeps;
//! - `scenario.rs`: [`ScenarioStats`], one scenario's share when there are several;
//! - `phases.rs`: [`Phases`], request anatomy: time per phase, connections' use;
//! - `messages.rs`: [`Messages`], what WebSocket and gRPC count beside exchanges;
//! - `step.rs`: [`StepStats`], one step's share when there are several;
//! - `worker.rs`: [`WorkerStats`] and the methods VUs record through;
//! - `run.rs`: [`RunStats`], the merge of every worker, and the run's engine name.

mod counts;
mod messages;
mod outcome;
mod phases;
mod run;
mod scenario;
mod seconds;
mod step;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

pub use counts::{Counts, Second};
pub(crate) use messages::Tally;
pub use messages::{Messages, index as messages_index};
pub(crate) use outcome::Outcome;
pub use phases::Phases;
pub(crate) use phases::{Opened, Timing};
pub use run::{MergedFrom, RunStats};

pub use scenario::ScenarioStats;
pub use seconds::SecondDetail;
pub(crate) use seconds::{SecondStart, Seconds};
pub use step::{MAX_STEPS, STATUS_CLASSES, StepStats, class as status_class};
pub(crate) use worker::WorkerStats;

/// Lowest and highest latency recorded, in microseconds (values are clamped).
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 3_600_000_000;
const SIGFIG: u8 = 3;

/// A new latency histogram with kaioken's bounds.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG)
        .expect("static histogram bounds are valid")
}

/// A duration in whole microseconds, clamped to the histograms' bounds.
#[inline]
pub(crate) fn clamp_us(d: Duration) -> u64 {
    d.as_micros()
        .clamp(u128::from(LOWEST_US), u128::from(HIGHEST_US)) as u64
}

/// Make `dst` a copy of `src` without allocating when `dst` already has the room:
/// histograms of kaioken's bounds all have the same size.
///
/// `again`: `dst` is a copy of an earlier state of `src`, untouched since (a copy
/// of the same [`Lineage`]'s statistics, whose histograms only grow). Then an equal
/// count means `src` recorded nothing since, and the copy is skipped: a histogram
/// is 23,552 counts (184 KiB), and statistics are copied four times a second
/// whether or not anything was recorded in them.
pub(crate) fn copy_histogram(dst: &mut Histogram<u64>, src: &Histogram<u64>, again: bool) {
    sum_histograms(dst, [src], again);
}

/// Make `dst` the sum of `srcs` (all of kaioken's bounds), reusing its room.
///
/// `again`: `dst` is the sum of earlier states of the same histograms, untouched
/// since (see [`copy_histogram`]). As none of them shrinks, an equal total count
/// means none changed, and nothing is done. A histogram is emptied only if it
/// holds something: zeroing is the cost of a copy, and most of the histograms a
/// run keeps (connect, DNS and TLS times, a protocol it does not speak) stay
/// empty or rarely change.
pub(crate) fn sum_histograms<'a, I>(dst: &mut Histogram<u64>, srcs: I, again: bool)
where
    I: IntoIterator<Item = &'a Histogram<u64>>,
    I::IntoIter: Clone,
{
    let srcs = srcs.into_iter();
    let total = srcs
        .clone()
        .map(Histogram::len)
        .fold(0u64, u64::saturating_add);
    if again && dst.len() == total && total < u64::MAX {
        return;
    }
    if !dst.is_empty() {
        dst.reset();
    }
    for src in srcs {
        dst.add(src).expect("histograms share bounds");
    }
}

/// Statistics a worker keeps that the merge adds up over the workers
/// ([`RunStats::merge_from`]) and a publication copies, in room they keep.
pub(crate) trait Merge: Sized {
    /// Become the sum of `parts` (`again`: the sum of earlier states of the same
    /// ones, untouched since; see [`sum_histograms`]).
    fn merge_from<'a, I>(&mut self, parts: I, again: bool)
    where
        I: Iterator<Item = &'a Self> + Clone,
        Self: 'a;

    /// Become a copy of `other` (`again`: of an earlier state of it, see
    /// [`copy_histogram`]).
    fn copy_from(&mut self, other: &Self, again: bool) {
        self.merge_from(std::iter::once(other), again);
    }
}

impl<T: Merge> Merge for Box<T> {
    fn merge_from<'a, I>(&mut self, parts: I, again: bool)
    where
        I: Iterator<Item = &'a Box<T>> + Clone,
        Self: 'a,
    {
        (**self).merge_from(parts.map(|part| &**part), again);
    }
}

/// Make `mine` a copy of `theirs` (per scenario, or per step), reusing the room
/// of those it has (`again`: see [`copy_histogram`]).
pub(crate) fn copy_list<T: Merge + Clone>(mine: &mut Vec<T>, theirs: &[T], again: bool) {
    mine.truncate(theirs.len());
    for (i, theirs) in theirs.iter().enumerate() {
        match mine.get_mut(i) {
            Some(mine) => mine.copy_from(theirs, again),
            None => mine.push(theirs.clone()),
        }
    }
}

/// Make `mine` a copy of `theirs` (a protocol's messages), reusing its room when
/// both are there (`again`: see [`copy_histogram`]).
pub(crate) fn copy_option<T: Merge + Clone>(mine: &mut Option<T>, theirs: &Option<T>, again: bool) {
    match (mine.as_mut(), theirs) {
        (Some(m), Some(t)) => m.copy_from(t, again),
        _ => mine.clone_from(theirs),
    }
}

/// Which recorded statistics a [`WorkerStats`] holds, or holds a copy of.
///
/// Statistics are recorded into by one worker and copied out every tick (to its
/// slot, then to the controller, then merged): a copy made from statistics of
/// the same lineage as the last one is made *again*, and only what changed since
/// is copied ([`copy_histogram`]). That relies on the recorded statistics'
/// histograms only growing, which they do: nothing is ever removed from them
/// while a run goes on (the warm-up is not recorded), and a copy is never
/// recorded into. A clone is statistics of its own (a new lineage): it may be
/// recorded into apart from the original.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Lineage(u64);

impl Lineage {
    pub(crate) fn new() -> Lineage {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Lineage(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Become a copy's lineage: that of `other`, whose statistics were just copied.
    pub(crate) fn adopt(&mut self, other: &Lineage) {
        self.0 = other.0;
    }

    /// An id that tells lineages apart (for a merge to remember its workers').
    pub(crate) fn id(&self) -> u64 {
        self.0
    }
}

impl Clone for Lineage {
    fn clone(&self) -> Lineage {
        Lineage::new()
    }
}

/// HTTP statuses are counted in a flat table of this many entries (codes above it
/// count as its last).
pub(crate) const HTTP_STATUSES: usize = 1000;

/// What ran a worker's VUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The tokio engine: a task per VU.
    #[default]
    Tokio,
    /// The io_uring engine: one ring per worker.
    IoUring,
    /// Both: the io_uring engine handed its VUs to tokio (a redirect to an origin
    /// the program does not name), or the run's workers used different engines.
    IoUringAndTokio,
}

impl Engine {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Tokio => "tokio",
            Engine::IoUring => "io_uring",
            Engine::IoUringAndTokio => "io_uring+tokio",
        }
    }

    /// The engine of a run whose workers used `self` and `other`.
    pub(crate) fn and(self, other: Engine) -> Engine {
        if self == other {
            self
        } else {
            Engine::IoUringAndTokio
        }
    }
}
