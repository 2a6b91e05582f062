//! Sampled requests as trace spans (`--trace-sample`): the ids a sampled request
//! carries in its W3C `traceparent` header, and what the run learned about it.
//!
//! ```text
//!   TokioVu::send (worker.rs), or uring.rs's write: Tracer::sample, one draw per
//!   request
//!     sampled ─► Request::traceparent ─► the driver adds the header (http1, http2,
//!                http3, grpc; ws in the handshake that opens a connection)
//!             ─► span_in_run(…) ─► WorkerStats::spans (Spans, at most SPAN_BUFFER)
//!   every tick: Shared::publish moves them into the worker's slot (bounded)
//!   controller: Shared::take_spans ─► Snapshot::spans ─► OTLP output (cli)
//! ```
//!
//! Both engines trace alike. A run without `--trace-sample` makes no sampler and no
//! buffer.

use std::time::{Duration, Instant};

use kaioken_vm::Status;

use crate::ErrorKind;
use crate::stats::{Outcome, Timing};

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

/// How many spans a worker keeps between two publications, and its slot between
/// two snapshots: a sampled request beyond that is dropped and counted.
pub(crate) const SPAN_BUFFER: usize = 4096;

/// The length of a `traceparent` value: `00-` 32 hex `-` 16 hex `-01`.
pub(crate) const TRACEPARENT_LEN: usize = 55;

/// The ids of one sampled request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ids {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

/// One VU's sampler (either engine): whether each request is traced, and the ids
/// and `traceparent` value of the ones that are. Made only when tracing is on, so
/// an untraced run has no sampler and its requests pay nothing; with one, an
/// unsampled request costs a draw of a few cycles and allocates nothing.
pub(crate) struct Tracer {
    /// splitmix64 state (a sequence of its own: the VM's random numbers and
    /// scenario picks stay as they are with or without tracing).
    state: u64,
    /// A draw below this samples the request (`share` × 2⁶⁴).
    threshold: u64,
    /// `share` is 1: every request, whatever the draw.
    all: bool,
    /// The last sampled request's header value.
    header: [u8; TRACEPARENT_LEN],
    /// The end of the warm-up, until the first sample after it: a warm-up request
    /// is not measured, so it is not traced either (no `traceparent`, no span).
    quiet_until: Option<Instant>,
}

impl Tracer {
    /// A sampler of `share` (0 to 1) of the requests, drawing from `seed`; `None`
    /// when `share` samples nothing.
    pub(crate) fn new(share: f64, seed: u64) -> Option<Tracer> {
        if share.is_nan() || share <= 0.0 {
            return None;
        }
        let mut header = [b'0'; TRACEPARENT_LEN];
        header[2] = b'-';
        header[35] = b'-';
        header[52] = b'-';
        header[54] = b'1';
        Some(Tracer {
            state: seed,
            // The conversion saturates: a share of 1 - 1e-20 is "every request".
            threshold: (share * 2f64.powi(64)) as u64,
            all: share >= 1.0,
            header,
            quiet_until: None,
        })
    }

    /// The same sampler, sampling nothing before `measure_from` (the warm-up's end).
    pub(crate) fn after_warmup(mut self, measure_from: Instant) -> Tracer {
        self.quiet_until = Some(measure_from);
        self
    }

    /// The next number of the sequence (splitmix64: every state gives a fresh,
    /// well-mixed number, and seeds a few apart give unrelated sequences).
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Whether the next request is traced: if so, its fresh ids, written into
    /// [`Tracer::header`] too.
    pub(crate) fn sample(&mut self) -> Option<Ids> {
        if !self.all && self.next() >= self.threshold {
            return None;
        }
        // Only a draw that samples reads the clock, and only until the warm-up ends.
        if let Some(until) = self.quiet_until {
            if Instant::now() < until {
                return None;
            }
            self.quiet_until = None;
        }
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&self.next().to_be_bytes());
        trace_id[8..].copy_from_slice(&self.next().to_be_bytes());
        let mut span_id = self.next().to_be_bytes();
        // All zeros is not a valid id (W3C Trace Context): one draw in 2⁶⁴.
        if trace_id == [0; 16] {
            trace_id[15] = 1;
        }
        if span_id == [0; 8] {
            span_id[7] = 1;
        }
        hex(&trace_id, &mut self.header[3..35]);
        hex(&span_id, &mut self.header[36..52]);
        Some(Ids { trace_id, span_id })
    }

    /// The `traceparent` value of the last sampled request:
    /// `00-<trace id>-<span id>-01` (version 0, sampled).
    pub(crate) fn header(&self) -> &[u8] {
        &self.header
    }
}

/// Lowercase hex of `bytes` into `out` (twice as long).
fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// A seed for a run's samplers: the process's random hasher keys and the time, so
/// two runs (or two kaioken processes) never send the same trace ids.
pub(crate) fn run_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish()
}

/// The seed of VU `number`'s sampler in a run seeded `run`.
pub(crate) fn vu_seed(run: u64, number: u32) -> u64 {
    run ^ u64::from(number).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

/// Sampled requests' spans, as a worker keeps them between two publications and
/// its slot in [`crate::shared::Shared`] keeps them between two snapshots: at
/// most [`SPAN_BUFFER`], the rest counted as dropped.
///
/// Spans move, they are never copied: a clone of a worker's statistics (the first
/// copy a worker publishes) gets an empty buffer with the same room.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    pub spans: Vec<Span>,
    /// Spans dropped for want of room (since the last publication, in a worker's
    /// buffer; since the run began, in a slot).
    pub dropped: u64,
}

impl Clone for Spans {
    fn clone(&self) -> Spans {
        Spans {
            spans: Vec::with_capacity(self.spans.capacity()),
            dropped: 0,
        }
    }
}

impl Spans {
    /// An empty buffer with room for [`SPAN_BUFFER`] spans, or none when the run
    /// traces nothing.
    pub(crate) fn new(tracing: bool) -> Spans {
        Spans {
            spans: Vec::with_capacity(if tracing { SPAN_BUFFER } else { 0 }),
            dropped: 0,
        }
    }

    /// Keep `span`, or count it dropped when the buffer is full.
    pub(crate) fn push(&mut self, span: Span) {
        if self.spans.len() < SPAN_BUFFER {
            self.spans.push(span);
        } else {
            self.dropped += 1;
        }
    }

    /// Move every span and drop count of `from` here (emptied, keeping its room);
    /// the spans beyond this buffer's room are dropped and counted. Allocates
    /// nothing when this buffer was made by [`Spans::new`].
    pub(crate) fn take_from(&mut self, from: &mut Spans) {
        let room = SPAN_BUFFER.saturating_sub(self.spans.len());
        let moved = from.spans.len().min(room);
        self.dropped += from.dropped + (from.spans.len() - moved) as u64;
        from.dropped = 0;
        self.spans.extend(from.spans.drain(..moved));
        from.spans.clear();
    }
}

/// The span of a sampled request of the run `shared`: `ids` sent at `start`, ended
/// at `end` with `outcome`, its phases as `timing` saw them; its wall-clock start is
/// the run's plus the time since the run's start (one clock reading per span).
pub(crate) fn span_in_run(
    shared: &crate::shared::Shared,
    ids: Ids,
    step: u32,
    start: Instant,
    end: Instant,
    outcome: Outcome,
    timing: &Timing,
) -> Span {
    let since_start = start.saturating_duration_since(shared.start).as_nanos();
    let start_unix_ns = shared
        .start_unix_ns
        .saturating_add(u64::try_from(since_start).unwrap_or(u64::MAX));
    span_of(ids, step, start_unix_ns, start, end, outcome, timing)
}

/// The span of a sampled request: `ids` sent at `start` (`start_unix_ns` on the
/// wall clock), ended at `end` with `outcome`, its phases as `timing` saw them.
pub(crate) fn span_of(
    ids: Ids,
    step: u32,
    start_unix_ns: u64,
    start: Instant,
    end: Instant,
    outcome: Outcome,
    timing: &Timing,
) -> Span {
    let (status, error) = match outcome {
        Outcome::Response { status, .. } => (Some(status), None),
        Outcome::Error(kind) => (None, Some(kind)),
    };
    let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let mut phases_us = Vec::new();
    if let Some(o) = &timing.opened {
        if let Some(dns) = o.dns {
            phases_us.push(("dns", us(dns)));
        }
        phases_us.push(("connect", us(o.connect)));
        if let Some(tls) = o.tls {
            phases_us.push(("tls", us(tls)));
        }
    }
    // As the report's anatomy counts them: waiting and receiving of whole responses.
    if let (Some(_), Some(first)) = (status, timing.first_byte) {
        if let Some(written) = timing.written {
            phases_us.push(("waiting", us(first.saturating_duration_since(written))));
        }
        phases_us.push(("receiving", us(end.saturating_duration_since(first))));
    }
    Span {
        trace_id: ids.trace_id,
        span_id: ids.span_id,
        start_unix_ns,
        duration_ns: u64::try_from(end.saturating_duration_since(start).as_nanos())
            .unwrap_or(u64::MAX),
        step,
        status,
        error,
        phases_us,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use kaioken_compiler::{Flags, Input, lower, plan};

    use super::*;
    use crate::{Control, Snapshot};

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A share of 0.1 samples 10% of 20,000 requests, within 1.5 points (the
    /// standard deviation is 0.2), and the same seed draws the same requests.
    #[test]
    fn samples_its_share() {
        let draws = |seed| {
            let mut t = Tracer::new(0.1, seed).unwrap();
            (0..20_000)
                .map(|_| t.sample().is_some())
                .collect::<Vec<_>>()
        };
        let sampled = draws(42).iter().filter(|&&s| s).count();
        assert!((1_700..=2_300).contains(&sampled), "{sampled} of 20000");
        assert_eq!(draws(42), draws(42));
        assert_ne!(draws(42), draws(43));
    }

    #[test]
    fn samples_none_at_zero_and_all_at_one() {
        assert!(Tracer::new(0.0, 1).is_none());
        assert!(Tracer::new(f64::NAN, 1).is_none());
        let mut all = Tracer::new(1.0, 7).unwrap();
        assert_eq!(
            (0..10_000).filter(|_| all.sample().is_some()).count(),
            10_000
        );
    }

    /// Nothing is sampled before the warm-up's end, everything after it at 1.
    #[test]
    fn samples_nothing_in_the_warmup() {
        let end = Instant::now() + Duration::from_millis(200);
        let mut t = Tracer::new(1.0, 5).unwrap().after_warmup(end);
        assert!(t.sample().is_none());
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        assert!((0..100).all(|_| t.sample().is_some()));
    }

    /// The header is `00-<32 hex>-<16 hex>-01` with the ids the span gets, and
    /// every sampled request has ids of its own.
    #[test]
    fn the_header_carries_the_ids() {
        let mut t = Tracer::new(1.0, 3).unwrap();
        let (mut traces, mut spans) = (HashSet::new(), HashSet::new());
        for _ in 0..1_000 {
            let ids = t.sample().unwrap();
            let header = std::str::from_utf8(t.header()).unwrap();
            assert_eq!(
                header,
                format!("00-{}-{}-01", hex_of(&ids.trace_id), hex_of(&ids.span_id))
            );
            assert_eq!(header.len(), 55);
            assert_ne!(ids.trace_id, [0; 16]);
            assert_ne!(ids.span_id, [0; 8]);
            assert!(traces.insert(ids.trace_id) && spans.insert(ids.span_id));
        }
    }

    fn span(step: u32) -> Span {
        Span {
            trace_id: [1; 16],
            span_id: [2; 8],
            start_unix_ns: 0,
            duration_ns: 0,
            step,
            status: None,
            error: Some(ErrorKind::Timeout),
            phases_us: Vec::new(),
        }
    }

    /// A full buffer drops and counts; moving into a slot keeps what fits, counts
    /// the rest, and leaves the source empty with its room.
    #[test]
    fn full_buffers_drop_and_count() {
        let mut worker = Spans::new(true);
        for i in 0..SPAN_BUFFER as u32 + 5 {
            worker.push(span(i));
        }
        assert_eq!((worker.spans.len(), worker.dropped), (SPAN_BUFFER, 5));
        let mut slot = Spans::new(true);
        slot.push(span(0));
        slot.take_from(&mut worker);
        assert_eq!(slot.spans.len(), SPAN_BUFFER);
        assert_eq!(
            slot.dropped, 6,
            "5 dropped by the worker, 1 that did not fit"
        );
        assert_eq!(slot.spans[1].step, 0);
        assert_eq!(slot.spans[SPAN_BUFFER - 1].step, SPAN_BUFFER as u32 - 2);
        assert_eq!((worker.spans.len(), worker.dropped), (0, 0));
        assert_eq!(worker.spans.capacity(), SPAN_BUFFER);
        assert_eq!(worker.clone().spans.len(), 0);
    }

    /// A server answering every request with `200 ok`, keeping each request's
    /// `traceparent` header (or `-` without one).
    fn serve(listener: TcpListener, seen: Arc<Mutex<Vec<String>>>) {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut have = Vec::new();
                loop {
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&have[..end]).into_owned();
                        have.drain(..end + 4);
                        let value = head
                            .lines()
                            .find_map(|l| l.strip_prefix("traceparent: "))
                            .unwrap_or("-");
                        seen.lock().unwrap().push(value.to_owned());
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if sock.write_all(ok).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    }

    /// `requests` requests on 2 VUs and 2 threads, tracing `share`: what the server
    /// saw of `traceparent`, the snapshots, and the run's request count.
    fn traced_run(share: f64, requests: u64) -> (Vec<String>, Vec<Snapshot>, u64) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let server_seen = seen.clone();
        std::thread::spawn(move || serve(listener, server_seen));
        let input = Input {
            flags: Flags {
                url: Some(format!("http://127.0.0.1:{port}/")),
                vus: Some(2),
                max_requests: Some(requests),
                trace_sample: Some(share),
                ..Flags::default()
            },
            ..Input::default()
        };
        let plan = Arc::new(plan(&lower(&input).unwrap()).unwrap());
        let mut snapshots: Vec<Snapshot> = Vec::new();
        let stats = crate::run(&plan, 2, Arc::new(Control::new()), &mut |s| {
            snapshots.push(s.clone())
        })
        .unwrap();
        let seen = seen.lock().unwrap().clone();
        (seen, snapshots, stats.total())
    }

    /// Every request of a run tracing all carries a `traceparent`, each with ids of
    /// its own, and each becomes exactly one span in the snapshots, with those ids,
    /// its status and its phases.
    #[test]
    fn every_traced_request_is_one_span_in_the_snapshots() {
        let (seen, snapshots, total) = traced_run(1.0, 400);
        assert_eq!(total, 400);
        assert_eq!(seen.len(), 400);
        let spans: Vec<&Span> = snapshots.iter().flat_map(|s| &s.spans).collect();
        assert_eq!(spans.len(), 400);
        assert_eq!(snapshots.last().unwrap().spans_dropped, 0);
        let from_spans: HashSet<String> = spans
            .iter()
            .map(|s| format!("00-{}-{}-01", hex_of(&s.trace_id), hex_of(&s.span_id)))
            .collect();
        let from_server: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(from_spans.len(), 400, "ids are distinct");
        assert_eq!(from_spans, from_server);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        for s in &spans {
            assert_eq!(s.status, Some(Status::Http(200)));
            assert_eq!(s.error, None);
            assert_eq!(s.step, 0);
            assert!(s.duration_ns > 0);
            assert!(s.start_unix_ns < now && s.start_unix_ns > now - 60_000_000_000);
            let names: Vec<&str> = s.phases_us.iter().map(|p| p.0).collect();
            assert!(names.ends_with(&["waiting", "receiving"]), "{names:?}");
        }
        // A VU's first request opened its connection: two VUs, two connects.
        let connects = spans
            .iter()
            .filter(|s| s.phases_us.iter().any(|p| p.0 == "connect"))
            .count();
        assert_eq!(connects, 2);
    }

    /// A share of 0.1: the spans are the requests that carried the header, about a
    /// tenth of them; a share of 0 sends no header and makes no span.
    #[test]
    fn a_share_traces_that_share_and_zero_none() {
        let (seen, snapshots, total) = traced_run(0.1, 4_000);
        assert_eq!(total, 4_000);
        let headers: HashSet<&String> = seen.iter().filter(|v| *v != "-").collect();
        let spans: Vec<&Span> = snapshots.iter().flat_map(|s| &s.spans).collect();
        assert_eq!(spans.len(), headers.len());
        assert!((300..=500).contains(&spans.len()), "{} spans", spans.len());
        for s in &spans {
            let header = format!("00-{}-{}-01", hex_of(&s.trace_id), hex_of(&s.span_id));
            assert!(headers.contains(&header));
        }

        let (seen, snapshots, total) = traced_run(0.0, 500);
        assert_eq!(total, 500);
        assert_eq!(seen.iter().filter(|v| *v != "-").count(), 0);
        assert_eq!(seen.len(), 500);
        assert!(
            snapshots
                .iter()
                .all(|s| s.spans.is_empty() && s.spans_dropped == 0)
        );
    }

    /// With tracing on, an unsampled request allocates nothing on the tokio
    /// engine's request path, and a sampled one only its span's list of phases (the
    /// span itself goes into the buffer made before the run): over 2,000 requests
    /// at 1%, the allocations are exactly the spans recorded.
    #[test]
    fn unsampled_requests_allocate_nothing() {
        const WARM: usize = 200;
        const MEASURED: usize = 2_000;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::with_capacity(WARM + MEASURED)));
        let server_seen = seen.clone();
        std::thread::spawn(move || serve(listener, server_seen));
        let input = Input {
            flags: Flags {
                url: Some(format!("http://127.0.0.1:{port}/")),
                vus: Some(1),
                trace_sample: Some(0.01),
                ..Flags::default()
            },
            ..Input::default()
        };
        let program = plan(&lower(&input).unwrap()).unwrap().program;
        let (allocations, spans_measured, stats) = crate::alloc_tests::traced_tokio_allocations(
            program,
            WARM,
            MEASURED,
            Tracer::new(0.01, 11),
        );
        assert_eq!(stats.counts.responses, (WARM + MEASURED) as u64);
        let spans = &stats.spans.spans;
        let traced = seen.lock().unwrap().iter().filter(|v| *v != "-").count();
        assert_eq!(spans.len(), traced);
        assert!((5..=40).contains(&spans_measured), "{spans_measured} spans");
        assert_eq!(allocations, spans_measured as u64);
    }
}
