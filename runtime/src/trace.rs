//! Sampled requests as trace spans (`--trace-sample`): the ids a sampled request
//! carries in its W3C `traceparent` header, and what the run learned about it.
//!
//! ```text
//!   VU: sample? ─► traceparent header ─► driver ─► Span (worker's bounded buffer)
//!        ─► Snapshot::spans (controller, each tick) ─► OTLP output (cli)
//! ```

use kaioken_vm::Status;

use crate::ErrorKind;

/// One sampled request, as a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The trace's id: the `traceparent` header's second field.
    pub trace_id: [u8; 16],
    /// The span's id: the header's third field (the server's spans name it their
    /// parent).
    pub span_id: [u8; 8],
    /// When the request started, nanoseconds since the Unix epoch.
    pub start_unix_ns: u64,
    /// How long it took, ns.
    pub duration_ns: u64,
    /// The step it belongs to (`Program::step`'s index): its name, method and URL
    /// template are the program's.
    pub step: u32,
    /// The response's status, if one came.
    pub status: Option<Status>,
    /// Why none came.
    pub error: Option<ErrorKind>,
    /// Phase timings, µs, as the report's anatomy names them (`dns`, `connect`,
    /// `tls`, `waiting`, `receiving`); a phase the request did not go through is
    /// absent.
    pub phases_us: Vec<(&'static str, u64)>,
}
