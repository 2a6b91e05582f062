//! Request anatomy: where a request's time went (DNS lookup, TCP connect, TLS
//! handshake, waiting for the first byte, receiving the rest), and how connections
//! were used (opened, reused, closed by the server).
//!
//! The engines fill a [`Timing`] per exchange with instants they mostly take anyway
//! and hand it to the VU machine, which records it here with the exchange (vu.rs),
//! so both engines record through one path. A phase that did not happen is not
//! recorded at all, rather than as zero: a request on a reused connection has no
//! connect, and a host given as an address has no DNS lookup; so each histogram's
//! count says how often its phase happened (the TLS histogram's is the number of TLS
//! connections opened).
//!
//! What each engine measures:
//!
//! - tokio, HTTP/1.1: DNS, connect and TLS around each step of `conn::connect`;
//!   waiting from the request fully written (flushed) to the first response byte
//!   read; receiving from there to the response's end.
//! - io_uring (HTTP/1.1, names resolved at the start: no DNS, but a
//!   `--dns-refresh` lookup made for the connection, timed on the helper thread
//!   that makes it; TLS from the connect's completion to the handshake's end):
//!   connect from the
//!   `connect`'s submission to its completion; waiting from the `send`'s submission
//!   (the request goes out with it unless it is larger than the socket buffer) to
//!   the first response bytes' arrival; receiving from there to the end. Response
//!   bytes are timed by the kernel's receive timestamps (when they reached the
//!   host's network stack), whenever their completion is reaped; a connect's
//!   completion is timed when reaped, with the others of its round, so it is late
//!   by the time it waited (no wait batches completions while a connect is in
//!   flight).
//! - tokio, HTTP/2: the connection's phases once, with the request that opened it;
//!   waiting from the stream's request sent to its response head received (the
//!   first byte of the body, or the head, is not seen apart from hyper's framing);
//!   receiving from the head to the body's end.
//! - tokio, HTTP/3: QUIC's transport and TLS handshakes are one, recorded as the TLS
//!   phase; connect is only the local setup (the UDP socket, the first packet
//!   queued). Waiting runs from the request stream finished to the response head,
//!   receiving from there to the stream's end.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{Merge, clamp_us, new_histogram, sum_histograms};

/// The time a new connection took to be made, by phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Opened {
    /// Resolving the host; `None` when it was an address (nothing to resolve).
    pub dns: Option<Duration>,
    /// The TCP connect (every address tried, when one failed).
    pub connect: Duration,
    /// The TLS handshake; `None` on plain TCP.
    pub tls: Option<Duration>,
}

/// What an engine saw of one exchange's phases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timing {
    /// The exchange opened a connection, which took this long to make.
    pub opened: Option<Opened>,
    /// The exchange went out on a connection an earlier one had used.
    pub reused: bool,
    /// When the request was all written (or sent, see the module docs).
    pub written: Option<Instant>,
    /// When the first byte of the response came.
    pub first_byte: Option<Instant>,
    /// The server ended the connection with this exchange: it said
    /// `connection: close`, closed it after the response, or closed it while it
    /// was idle (the request then went again on a new one).
    pub closed_by_server: bool,
    /// Bytes came on the connection after this exchange's response was complete
    /// (a stray response, a body to `HEAD`, more body than its `content-length`),
    /// or before its request went out: they answer no request, so kaioken closed
    /// the connection rather than read them as the next response.
    pub out_of_sync: bool,
}

/// The phases' histograms (µs) and the connections' counts, one set per worker.
#[derive(Debug, Clone)]
pub struct Phases {
    /// Resolving a host name (never recorded for an address).
    pub dns: Histogram<u64>,
    /// The TCP connect.
    pub connect: Histogram<u64>,
    /// The TLS handshake.
    pub tls: Histogram<u64>,
    /// Time to first byte: from the request written to the response's first byte.
    pub waiting: Histogram<u64>,
    /// From the response's first byte to its last.
    pub receiving: Histogram<u64>,
    /// Connections made (TCP connected, and TLS handshaken on `https`).
    pub opened: u64,
    /// Requests sent on a connection an earlier request had used.
    pub reused: u64,
    /// Connections the server ended (see `Timing::closed_by_server`).
    pub closed_by_server: u64,
    /// Connections closed because bytes came that no request asked for (see
    /// `Timing::out_of_sync`).
    pub out_of_sync: u64,
}

impl Phases {
    pub(crate) fn new() -> Phases {
        Phases {
            dns: new_histogram(),
            connect: new_histogram(),
            tls: new_histogram(),
            waiting: new_histogram(),
            receiving: new_histogram(),
            opened: 0,
            reused: 0,
            closed_by_server: 0,
            out_of_sync: 0,
        }
    }

    /// Record an exchange's phases. `end` is when it ended; `responded`: it got a
    /// whole response (only then are waiting and receiving recorded).
    #[inline]
    pub(crate) fn record(&mut self, t: &Timing, end: Instant, responded: bool) {
        if let Some(o) = &t.opened {
            self.opened += 1;
            if let Some(dns) = o.dns {
                self.dns.saturating_record(clamp_us(dns));
            }
            self.connect.saturating_record(clamp_us(o.connect));
            if let Some(tls) = o.tls {
                self.tls.saturating_record(clamp_us(tls));
            }
        }
        self.reused += u64::from(t.reused);
        self.closed_by_server += u64::from(t.closed_by_server);
        self.out_of_sync += u64::from(t.out_of_sync);
        if let (true, Some(first)) = (responded, t.first_byte) {
            if let Some(written) = t.written {
                self.waiting
                    .saturating_record(clamp_us(first.saturating_duration_since(written)));
            }
            self.receiving
                .saturating_record(clamp_us(end.saturating_duration_since(first)));
        }
    }

    /// The histograms, in the order dns, connect, tls, waiting, receiving.
    pub fn histograms(&self) -> [&Histogram<u64>; 5] {
        [
            &self.dns,
            &self.connect,
            &self.tls,
            &self.waiting,
            &self.receiving,
        ]
    }

    fn histograms_mut(&mut self) -> [&mut Histogram<u64>; 5] {
        [
            &mut self.dns,
            &mut self.connect,
            &mut self.tls,
            &mut self.waiting,
            &mut self.receiving,
        ]
    }
}

impl Merge for Phases {
    fn merge_from<'a, I>(&mut self, parts: I, again: bool)
    where
        I: Iterator<Item = &'a Phases> + Clone,
    {
        for (k, mine) in self.histograms_mut().into_iter().enumerate() {
            sum_histograms(mine, parts.clone().map(|p| p.histograms()[k]), again);
        }
        self.opened = parts.clone().map(|p| p.opened).sum();
        self.reused = parts.clone().map(|p| p.reused).sum();
        self.closed_by_server = parts.clone().map(|p| p.closed_by_server).sum();
        self.out_of_sync = parts.map(|p| p.out_of_sync).sum();
    }
}

impl Default for Phases {
    fn default() -> Phases {
        Phases::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A phase that did not happen is not recorded as zero: a reused connection adds
    /// to no connection histogram, an address to no DNS one, an error to no waiting.
    #[test]
    fn only_phases_that_happened_are_recorded() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Phases::new();
        let opened = Timing {
            opened: Some(Opened {
                dns: None,
                connect: ms(2),
                tls: Some(ms(5)),
            }),
            written: Some(t0),
            first_byte: Some(t0 + ms(50)),
            ..Timing::default()
        };
        p.record(&opened, t0 + ms(53), true);
        let reused = Timing {
            reused: true,
            written: Some(t0),
            first_byte: Some(t0 + ms(10)),
            closed_by_server: true,
            ..Timing::default()
        };
        p.record(&reused, t0 + ms(11), true);
        p.record(&Timing::default(), t0, false);
        let counts: Vec<u64> = p.histograms().iter().map(|h| h.len()).collect();
        assert_eq!(counts, [0, 1, 1, 2, 2]);
        assert_eq!((p.opened, p.reused, p.closed_by_server), (1, 1, 1));
        assert_eq!(p.tls.max(), p.tls.highest_equivalent(5_000));
        assert_eq!(p.waiting.min(), p.waiting.lowest_equivalent(10_000));
        assert_eq!(p.receiving.max(), p.receiving.highest_equivalent(3_000));
    }
}
