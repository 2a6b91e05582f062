//! kaioken's runtime: executors, protocol drivers, timing and statistics.
//!
//! ```text
//!            cli ──► RunConfig { Arc<Program>, load, http } ──► run()
//!                                                               │
//!   controller thread: deadline, Ctrl-C (Control), progress ticks│
//!        ┌───────────────────────────────┬──────────────────────┘
//!        ▼                               ▼
//!   worker thread 0                 worker thread N-1      (one current-thread tokio
//!    VU tasks: loop {                 …                     runtime each, no sharing)
//!      program.resume() → Send(step)
//!      driver (http1 | http2) writes the VU's buffers, reads the response in place
//!      WorkerStats.record()  (HDR histogram, status, errors, timeline; per thread)
//!    }
//!        └──────────────► merged into RunStats when the run ends
//! ```
//!
//! Every VU keeps its own connection. Nothing on the request path takes a lock or sends
//! on a channel: statistics are per worker thread and merged once at the end, and the
//! progress counters are single-writer atomics.

#[cfg(test)]
mod alloc_tests;
mod conn;
mod control;
mod error_kind;
mod executor;
mod http1;
mod http2;
mod rate;
mod run_config;
mod stats;
mod tls;

pub use control::{Control, StopReason};
pub use error_kind::ErrorKind;
pub use executor::{Progress, run};
pub use run_config::{HttpConfig, LoadConfig, RunConfig};
pub use stats::{RunStats, Second};

/// Test builds count heap allocations made on threads that ask for it, to prove the
/// request path allocates nothing (see `alloc_tests`).
#[cfg(test)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub(crate) struct CountingAlloc;

    static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        pub(crate) static COUNTING: Cell<bool> = const { Cell::new(false) };
    }

    pub(crate) fn counted_allocations() -> u64 {
        ALLOCATIONS.load(Ordering::Relaxed)
    }

    // SAFETY: forwards to the system allocator; only adds a counter.
    unsafe impl GlobalAlloc for CountingAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // `try_with`: the flag may already be gone while a thread exits.
            if COUNTING.try_with(Cell::get).unwrap_or(false) {
                ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: same contract as ours.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as ours.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if COUNTING.try_with(Cell::get).unwrap_or(false) {
                ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: same contract as ours.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: CountingAlloc = CountingAlloc;
}
#[cfg(test)]
use counting::{COUNTING, counted_allocations};
