//! kaioken's runtime: executors, the VU machine, protocol drivers, timing and
//! statistics.
//!
//! ```text
//!   compiler ──► RunPlan { program, load, transport, segment } ──► run(plan, threads)
//!      (segment: this instance's part, see shared.rs)                      │
//!   controller thread: deadline, Ctrl-C (Control), progress ticks          │
//!        ┌───────────────────────────────┬─────────────────────────────────┘
//!        ▼                               ▼
//!   worker thread 0                 worker thread N-1      (one engine each, no sharing)
//!    VUs, each a sans-IO machine (vu.rs):
//!      vu.next()     → the VM's next effect: Send(step) | Sleep | iteration end
//!      vu.request()  → the request to send (the step's, or the redirect it follows)
//!      the engine performs it:
//!        tokio engine: a task per VU, drivers behind one seam (driver.rs):
//!                      http1.rs (raw bytes + kaioken-http1's parser), http2.rs
//!                      (h2own.rs over kaioken-http2), grpc.rs (h2own.rs too),
//!                      http3.rs (quinn + h3)
//!        io_uring engine: one ring, every VU's sockets (uring.rs; plain HTTP/1.1,
//!                      one socket per VU and origin, see uring::eligible)
//!      vu.complete() → WorkerStats.record(), cookies, redirects, then the VM resumed
//!                      with the outcome: its checks, extractors and failure policy
//!                      judge it (judge.rs)
//!        └──────────────► merged into RunStats when the run ends
//! ```
//!
//! Files by job: `controller` (the run's thread: clock, stop, stages, progress),
//! `shared` (what workers share), `worker` (a worker thread and its engine), `closed`
//! and `open` (the load models' VU tasks on tokio), `uring` (the io_uring engine),
//! `vu` (the VU machine), `judge` (where outcomes meet the VM), `driver` (and
//! `deadline`, a VU's request timer), `http1`,
//! `http2` (and `h2own`, `h2pool`), `grpc`, `http3`, `conn`, `tls` (the transport), `redirect`, `cookies`, `stats`,
//! `live` (the snapshots), `trace` (`--trace-sample`: sampled requests as spans).
//!
//! Every VU keeps its own connections (one per origin and protocol). Nothing on the
//! request path takes a lock or sends on a channel: statistics are per worker thread
//! and merged once at the end, and the progress counters are single-writer atomics.

mod backoff;
mod closed;
mod conn;
mod control;
mod controller;
mod cookies;
mod deadline;
mod decode;
mod dial;
mod driver;
mod error_kind;
mod fdlimit;
mod grpc;
mod h2own;
mod h2pool;
mod http1;
mod http2;
mod http3;
mod judge;
mod live;
mod open;
mod profile;
mod proto_json;
mod proxy;
mod rate;
mod redirect;
mod reflection;
mod run_error;
mod shared;
mod stats;
pub(crate) mod tls;
mod trace;
#[cfg(target_os = "linux")]
mod uring;
mod verbose;
mod vu;
mod worker;
mod ws;

pub use control::{Control, StopReason};
pub use controller::{check, run};
pub use error_kind::ErrorKind;
pub use live::{Interval, PUBLISH_EVERY, Snapshot};
pub use profile::Profile;
pub use reflection::reflect;
pub use run_error::RunError;
pub use stats::{
    Counts, Engine, MAX_STEPS, MergedFrom, Messages, Phases, RunStats, STATUS_CLASSES,
    ScenarioStats, Second, StepStats, messages_index, status_class,
};
pub use tls::{default_client_config, http1_client_config};
pub use trace::Span;

#[cfg(test)]
mod counting;
#[cfg(test)]
use counting::{COUNTING, counted_allocations};
#[cfg(test)]
mod alloc_tests;
