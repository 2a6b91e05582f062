//! Streaming outputs (`-o KIND=ADDRESS`, `[[outputs]]`): the run's metrics to
//! Prometheus, InfluxDB and OpenTelemetry while it goes.
//!
//! ```text
//!   controller thread: on_tick(Snapshot) ── try_send (bounded; a full queue drops
//!                                            the snapshot and counts it) ──┐
//!   thread "kaioken-outputs" (its own tokio runtime):                     ▼
//!        Metrics::of(snapshot) ─► /metrics server's latest (prometheus)
//!                              └► each push output's task: requests() ─► POST,
//!                                 with a timeout; failures counted, never retried
//!                                 in a loop that could hold the run back
//! ```
//!
//! Nothing here runs on a worker thread: the cost to the run is one snapshot clone
//! per tick on the controller thread.

pub mod metrics;
pub mod push;
// Wired into the outputs thread next; until then only their tests use them.
#[cfg_attr(not(test), allow(dead_code))]
pub mod influx;
#[cfg_attr(not(test), allow(dead_code))]
pub mod otlp;
#[cfg_attr(not(test), allow(dead_code))]
pub mod remote_write;
