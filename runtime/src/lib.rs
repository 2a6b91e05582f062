//! kaioken's runtime: executors, protocol drivers, timing and statistics.
//!
//! ```text
//!            cli ──► RunConfig { Arc<Program>, load, http } ──► run()
//!                                                               │
//!   controller thread: deadline, Ctrl-C (Control), progress ticks│
//!        ┌───────────────────────────────┬──────────────────────┘
//!        ▼                               ▼
//!   worker thread 0                 worker thread N-1      (one engine each, no sharing:
//!    VUs: loop {                      …                     a current-thread tokio runtime,
//!      program.resume() → Send(step)                          or an io_uring ring for plain
//!      engine writes the VU's buffers, reads the response     HTTP/1.1 in the simple closed
//!                                                             model: see uring::eligible)
//!        in place (http1 | http2 drivers, or uring.rs)
//!      WorkerStats.record(); program.resume_with(outcome): the VM's checks,
//!      extractors and failure policy judge it (judge.rs)
//!    }
//!        └──────────────► merged into RunStats when the run ends
//! ```
//!
//! Every VU keeps its own connection. Nothing on the request path takes a lock or sends
//! on a channel: statistics are per worker thread and merged once at the end, and the
//! progress counters are single-writer atomics.

mod conn;
mod control;
mod cookies;
mod error_kind;
mod executor;
mod http1;
mod http2;
mod judge;
mod profile;
mod rate;
mod redirect;
mod response_parser;
mod run_config;
mod stats;
mod tls;
#[cfg(target_os = "linux")]
mod uring;

pub use control::{Control, StopReason};
pub use error_kind::ErrorKind;
pub use executor::{Progress, run};
pub use profile::Profile;
pub use run_config::{ArrivalConfig, HttpConfig, LoadConfig, RunConfig};
pub use stats::{Counts, RunStats, ScenarioStats, Second};

#[cfg(test)]
mod counting;
#[cfg(test)]
use counting::{COUNTING, counted_allocations};
#[cfg(test)]
mod alloc_tests;
