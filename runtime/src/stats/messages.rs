//! What the message protocols count beside their exchanges: sessions (a WebSocket
//! connection, a gRPC connection), messages and bytes each way, and for streams their
//! shape.
//!
//! An exchange of a message protocol is a request like any other: a WebSocket
//! message (with its reply, in echo mode) or a gRPC call is counted, timed, judged and
//! classified through the same path as an HTTP request (vu.rs, `WorkerStats::record`),
//! and its status is a [`kaioken_vm::Status`] of its family. [`Messages`] holds what
//! that path has no place for, one per protocol (`WorkerStats::messages`): the drivers
//! record into it as messages come and go, and it merges like every other table.

use std::time::Duration;

use hdrhistogram::Histogram;
use kaioken_vm::Protocol;

use super::{Merge, clamp_us, new_histogram, sum_histograms};

/// The index of `protocol`'s counts in `WorkerStats::messages` and
/// `RunStats::messages`: WebSocket 0, gRPC 1; `None` for HTTP.
pub fn index(protocol: Protocol) -> Option<usize> {
    match protocol {
        Protocol::WebSocket => Some(0),
        Protocol::Grpc => Some(1),
        Protocol::Http1 | Protocol::Http2 | Protocol::Http3 => None,
    }
}

/// One message protocol's counts.
#[derive(Debug, Clone)]
pub struct Messages {
    /// Messages sent: WebSocket data messages, gRPC request messages.
    pub sent: u64,
    /// Messages received: WebSocket data messages (replies, and in fire-and-forget
    /// mode whatever the server sends), gRPC response messages.
    pub received: u64,
    /// Payload bytes sent (a message's data, without framing).
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Sessions opened: WebSocket handshakes that succeeded, gRPC connections made.
    pub opened: u64,
    /// Sessions that could not be opened (refused, TLS, a refused upgrade, …).
    pub open_failed: u64,
    /// Sessions the peer ended: a WebSocket close frame or a dropped connection, a
    /// gRPC connection the server closed.
    pub closed_by_peer: u64,
    /// Time to open a session, µs: TCP connect, TLS and the WebSocket handshake (or
    /// the HTTP/2 preface).
    pub open_time: Histogram<u64>,
    /// Server streams that ended (gRPC server streaming).
    pub streams: u64,
    /// Messages per server stream that had any (a count, not µs), for its
    /// percentiles: its values are exact up to 2,047 only (three significant
    /// digits), so the mean and the max come from the two counts below.
    pub stream_messages: Histogram<u64>,
    /// The messages of every server stream, exactly.
    pub stream_messages_sum: u64,
    /// The most messages one server stream had, exactly.
    pub stream_messages_max: u64,
    /// From a call's start to its stream's first message, µs.
    pub first_message: Histogram<u64>,
}

/// What a driver counted during one exchange, handed to the worker's [`Messages`]
/// after it (`WorkerStats::tally`): the driver cannot reach the worker's statistics
/// while its exchange is in flight, and a histogram per VU would cost 200 KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub sent: u64,
    pub received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// A session was opened, in this long.
    pub opened: Option<Duration>,
    pub open_failed: u64,
    pub closed_by_peer: u64,
    /// A server stream ended: its messages, and its first message's time after the
    /// call began (`None` when none came).
    pub stream: Option<(u64, Option<Duration>)>,
}

impl Tally {
    /// A message of `bytes` payload bytes went out.
    #[inline]
    pub(crate) fn sent(&mut self, bytes: usize) {
        self.sent += 1;
        self.bytes_sent += bytes as u64;
    }

    /// A message of `bytes` payload bytes came in.
    #[inline]
    pub(crate) fn received(&mut self, bytes: usize) {
        self.received += 1;
        self.bytes_received += bytes as u64;
    }
}

impl Default for Messages {
    fn default() -> Messages {
        Messages::new()
    }
}

impl Messages {
    /// Nothing counted yet.
    pub fn new() -> Messages {
        Messages {
            sent: 0,
            received: 0,
            bytes_sent: 0,
            bytes_received: 0,
            opened: 0,
            open_failed: 0,
            closed_by_peer: 0,
            open_time: new_histogram(),
            streams: 0,
            stream_messages: new_histogram(),
            stream_messages_sum: 0,
            stream_messages_max: 0,
            first_message: new_histogram(),
        }
    }

    /// Add what a driver counted during one exchange.
    pub(crate) fn absorb(&mut self, t: &Tally) {
        self.sent += t.sent;
        self.received += t.received;
        self.bytes_sent += t.bytes_sent;
        self.bytes_received += t.bytes_received;
        if let Some(took) = t.opened {
            self.opened += 1;
            let _ = self.open_time.record(clamp_us(took));
        }
        self.open_failed += t.open_failed;
        self.closed_by_peer += t.closed_by_peer;
        if let Some((messages, first)) = t.stream {
            self.streams += 1;
            // The histogram's lowest value is 1: an empty stream is counted in
            // `streams` only (so `streams - stream_messages.len()` were empty).
            if messages > 0 {
                let _ = self.stream_messages.record(messages);
                self.stream_messages_sum += messages;
                self.stream_messages_max = self.stream_messages_max.max(messages);
            }
            if let Some(first) = first {
                let _ = self.first_message.record(clamp_us(first));
            }
        }
    }

    /// Messages per server stream that had any, mean and max (`None` when none
    /// had): exact, where the histogram's are three significant digits.
    pub fn stream_messages_mean_max(&self) -> Option<(f64, u64)> {
        let streams = self.stream_messages.len();
        (streams > 0).then(|| {
            (
                self.stream_messages_sum as f64 / streams as f64,
                self.stream_messages_max,
            )
        })
    }
}

impl Merge for Messages {
    fn merge_from<'a, I>(&mut self, parts: I, again: bool)
    where
        I: Iterator<Item = &'a Messages> + Clone,
    {
        let sum = |count: fn(&Messages) -> u64| parts.clone().map(count).sum();
        self.sent = sum(|m| m.sent);
        self.received = sum(|m| m.received);
        self.bytes_sent = sum(|m| m.bytes_sent);
        self.bytes_received = sum(|m| m.bytes_received);
        self.opened = sum(|m| m.opened);
        self.open_failed = sum(|m| m.open_failed);
        self.closed_by_peer = sum(|m| m.closed_by_peer);
        self.streams = sum(|m| m.streams);
        self.stream_messages_sum = sum(|m| m.stream_messages_sum);
        self.stream_messages_max = parts
            .clone()
            .map(|m| m.stream_messages_max)
            .max()
            .unwrap_or(0);
        let histograms = |m: &'a Messages| [&m.open_time, &m.stream_messages, &m.first_message];
        for (k, mine) in [
            &mut self.open_time,
            &mut self.stream_messages,
            &mut self.first_message,
        ]
        .into_iter()
        .enumerate()
        {
            sum_histograms(mine, parts.clone().map(|m| histograms(m)[k]), again);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts add up over workers; an empty stream counts as a stream with no
    /// messages, not as a message.
    #[test]
    fn adds_up() {
        let mut t = Tally::default();
        t.sent(5);
        t.received(7);
        t.opened = Some(Duration::from_millis(2));
        t.stream = Some((3, Some(Duration::from_millis(1))));
        let mut a = Messages::new();
        a.absorb(&t);
        let mut u = Tally::default();
        u.sent(1);
        u.stream = Some((0, None));
        let mut b = Messages::new();
        b.absorb(&u);
        a.merge_from([a.clone(), b].iter(), false);
        assert_eq!(
            (a.sent, a.bytes_sent, a.received, a.bytes_received),
            (2, 6, 1, 7)
        );
        assert_eq!((a.opened, a.open_time.len()), (1, 1));
        assert_eq!((a.streams, a.stream_messages.len()), (2, 1));
        assert_eq!(a.stream_messages.max(), 3);
        assert_eq!(a.first_message.len(), 1);
        assert_eq!(a.stream_messages_mean_max(), Some((3.0, 3)));
        let mut c = Messages::new();
        c.copy_from(&a, false);
        assert_eq!((c.sent, c.streams, c.open_time.len()), (2, 2, 1));
    }

    /// A stream's messages are counted exactly, beyond the histogram's three
    /// significant digits (above 2,047 it records 20,000 as 20,015), and stay exact
    /// merged over workers.
    #[test]
    fn long_streams_are_counted_exactly() {
        let stream = |messages| {
            let mut m = Messages::new();
            m.absorb(&Tally {
                stream: Some((messages, None)),
                ..Tally::default()
            });
            m
        };
        let (a, b) = (stream(20_000), stream(30_001));
        assert_eq!(a.stream_messages_mean_max(), Some((20_000.0, 20_000)));
        let mut all = Messages::new();
        all.merge_from([a, b, stream(0)].iter(), false);
        assert_eq!((all.streams, all.stream_messages.len()), (3, 2));
        assert_eq!(all.stream_messages_mean_max(), Some((25_000.5, 30_001)));
        assert_eq!(Messages::new().stream_messages_mean_max(), None);
    }
}
