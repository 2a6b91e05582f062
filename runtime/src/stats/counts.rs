//! The plain sums a worker keeps: [`Counts`] for the whole measured window and
//! [`Second`] for each second of its timeline. Both add up field by field when
//! workers merge.

use crate::ErrorKind;

/// One second of the measured window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Second {
    /// Requests that finished in this second.
    pub requests: u64,
    /// Of those, the ones with a complete response.
    pub responses: u64,
    /// Of those, the ones without a response (transport errors).
    pub errors: u64,
    /// Of the responses, the ones whose status their step did not expect.
    pub unexpected: u64,
    /// Sum of the responses' latencies, µs (failed requests have none).
    pub latency_sum_us: u64,
    /// The largest latency of a response, µs.
    pub latency_max_us: u64,
    /// Iterations started in this second (open model: the scheduled ones that ran).
    pub started: u64,
    /// Iterations dropped in this second (open model).
    pub dropped: u64,
    /// The most VUs active during this second.
    pub vus: u64,
    /// Latency percentiles of the requests that ended in this second (µs; 0 without
    /// requests), from the second's own histogram merged over the workers: p50.
    pub latency_p50_us: u64,
    /// See `latency_p50_us`: p90.
    pub latency_p90_us: u64,
    /// See `latency_p50_us`: p99.
    pub latency_p99_us: u64,
    /// Bytes of the responses that ended in this second (as `Counts::bytes_in`).
    pub bytes_in: u64,
    /// Messages of the message protocols (WebSocket, gRPC) sent in this second.
    pub messages_sent: u64,
    /// Messages of the message protocols received in this second.
    pub messages_received: u64,
}

impl Second {
    /// Nothing happened in it but VUs being active: no request ended, no
    /// iteration was due, no message went or came.
    pub(super) fn is_idle(&self) -> bool {
        let Second {
            requests,
            started,
            dropped,
            bytes_in,
            messages_sent,
            messages_received,
            ..
        } = *self;
        requests == 0
            && started == 0
            && dropped == 0
            && bytes_in == 0
            && messages_sent == 0
            && messages_received == 0
    }

    pub(super) fn add(&mut self, other: &Second) {
        self.started += other.started;
        self.dropped += other.dropped;
        self.vus += other.vus;
        self.requests += other.requests;
        self.responses += other.responses;
        self.errors += other.errors;
        self.unexpected += other.unexpected;
        self.latency_sum_us += other.latency_sum_us;
        self.bytes_in += other.bytes_in;
        self.messages_sent += other.messages_sent;
        self.messages_received += other.messages_received;
        self.latency_max_us = self.latency_max_us.max(other.latency_max_us);
    }
}

/// What a run counts: requests by outcome, bytes, iterations. Each worker keeps its
/// own, and [`RunStats`](super::RunStats) adds them up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests with a complete response.
    pub responses: u64,
    /// Of those, the ones whose status their step did not expect: failed requests,
    /// beside the errors.
    pub unexpected: u64,
    /// Failed requests by kind, in [`ErrorKind::ALL`] order.
    pub errors: [u64; ErrorKind::COUNT],
    /// Response bytes read (head and body).
    pub bytes_in: u64,
    /// Request bytes written.
    pub bytes_out: u64,
    /// Requests that finished during the warm-up (in no other count).
    pub warmup_requests: u64,
    /// Requests cut off by a hard stop (in no other count).
    pub unfinished: u64,
    /// Iterations started in the measured window.
    pub started: u64,
    /// Iterations dropped in the measured window (open model: no VU free in time,
    /// or the queue was full).
    pub dropped: u64,
    /// Requests sent a second time on a new connection because their reused one
    /// turned out closed before any of a response came (an idle keep-alive
    /// connection the server had closed). Each is counted once among the requests,
    /// by its final outcome.
    pub reconnects: u64,
    /// `--compressed`: responses whose body was decoded (its `content-encoding` was
    /// gzip, deflate, br or zstd).
    pub decoded: u64,
    /// Of those, the ones that did not decode whole: cut at the body limit, corrupt,
    /// or past the decoder's bound.
    pub decoded_partial: u64,
    /// Bytes those bodies decoded to (the wire's are in `bytes_in`).
    pub bytes_decoded: u64,
}

impl Counts {
    pub(super) fn add(&mut self, other: &Counts) {
        self.responses += other.responses;
        self.unexpected += other.unexpected;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.warmup_requests += other.warmup_requests;
        self.unfinished += other.unfinished;
        self.started += other.started;
        self.dropped += other.dropped;
        self.reconnects += other.reconnects;
        self.decoded += other.decoded;
        self.decoded_partial += other.decoded_partial;
        self.bytes_decoded += other.bytes_decoded;
    }
}
