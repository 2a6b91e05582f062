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

use std::time::Duration;

use hdrhistogram::Histogram;

pub use counts::{Counts, Second};
pub(crate) use messages::Tally;
pub use messages::{Messages, index as messages_index};
pub(crate) use outcome::Outcome;
pub use phases::Phases;
pub(crate) use phases::{Opened, Timing};
pub use run::RunStats;

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
pub(crate) fn copy_histogram(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    dst.reset();
    dst.add(src).expect("histograms share bounds");
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
