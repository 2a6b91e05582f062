//! Live snapshots of a run: what the controller gathers from every worker each tick,
//! for the live view and the progress line (and the streaming outputs to come).
//!
//! ```text
//!   worker thread:  VUs record into its WorkerStats (no lock, no channel)
//!                   every PUBLISH_EVERY: a copy into its slot in Shared (one short
//!                   lock per tick, never per request; only what changed since
//!                   the copy there, see stats/mod.rs)
//!                   (on a grid of PUBLISH_EVERY from the run's start, `Grid`)
//!   controller:     every PUBLISH_EVERY: the latest copy of each worker (taken
//!                   by a swap), merged (RunStats::merge_from, the same merge as
//!                   at the end, into the snapshot-before-last's buffers)
//!                   ─► Snapshot ─► on_tick
//!                   when the run is over: the final statistics ─► the last Snapshot
//! ```
//!
//! Spans of sampled requests (`--trace-sample`, trace.rs) ride the same path but
//! move rather than copy: each tick the worker moves its spans into its span slot
//! (bounded; what does not fit is dropped and counted), and the controller takes
//! them out into the snapshot, so each span is in exactly one snapshot.
//!
//! A snapshot's totals are counted exactly as the final report counts them, by the
//! same merge; the last snapshot is made from the very statistics `run` returns, so
//! the last frame of a live view and the final summary agree. One thing the
//! snapshots before the last leave out: each step's latency (its counts are
//! there; see `StepStats::keeps_latency`), which nothing live reads and which
//! would cost a histogram per step in every copy.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::Span;
use crate::stats::RunStats;

/// How often workers publish their statistics and the controller takes a snapshot.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// The publication grid: workers publish at `start + k × PUBLISH_EVERY` (or as soon
/// after as they wake), and the controller takes snapshot `k` half a period later,
/// so that each snapshot holds every worker's publication `k` and an interval
/// is one period of data. Each on its own clock (a worker publishing a period
/// after it last did, the controller at its own ticks), the two drifted through
/// each other: a snapshot with nothing new (a live rate of 0), then one with two
/// periods' worth (twice the rate).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    start: Instant,
}

impl Grid {
    pub(crate) fn new(start: Instant) -> Grid {
        Grid { start }
    }

    /// The first grid point after `now`: a worker's next publication.
    pub(crate) fn next_after(self, now: Instant) -> Instant {
        self.point(self.index(now) + 1)
    }

    /// The last grid point at or before `now`.
    pub(crate) fn last_at(self, now: Instant) -> Instant {
        self.point(self.index(now))
    }

    fn index(self, now: Instant) -> u32 {
        let since = now.saturating_duration_since(self.start);
        (since.as_nanos() / PUBLISH_EVERY.as_nanos()) as u32
    }

    fn point(self, k: u32) -> Instant {
        self.start + PUBLISH_EVERY * k
    }
}

/// A run as it stands at one tick.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Time since the run started, warm-up included, to the grid point whose
    /// publications the snapshot holds ([`Grid`]; the last: to the run's end).
    pub elapsed: Duration,
    /// Whether the warm-up is still going (nothing is measured yet).
    pub warming_up: bool,
    /// The run's planned length, warm-up included, if it has one.
    pub planned: Option<Duration>,
    /// The request budget (`--max-requests`), if any.
    pub max_requests: Option<u64>,
    /// The level the load plan asks for now: VUs (closed model with stages) or
    /// iterations per second (open model). `None` for a fixed number of VUs.
    pub level: Option<f64>,
    /// The measured window so far, merged over the workers as the final report is
    /// (but for the steps' latency before the last snapshot, see the module docs).
    pub total: RunStats,
    /// What changed since the previous snapshot.
    pub interval: Interval,
    /// Whether this is the last snapshot: the run is over and `total` is what `run`
    /// returns.
    pub last: bool,
    /// `--trace-sample`: the spans of the sampled requests that ended since the
    /// previous snapshot (warm-up included), each in exactly one snapshot; the last
    /// snapshot carries the rest.
    pub spans: Vec<Span>,
    /// Spans dropped so far for want of room (a worker keeps at most
    /// 4096 between two ticks), over the whole run.
    pub spans_dropped: u64,
}

/// What a run measured between two snapshots.
#[derive(Debug, Clone)]
pub struct Interval {
    /// How long it lasted.
    pub length: Duration,
    /// Requests finished in it, warm-up included.
    pub requests: u64,
    /// Of those, the ones with a complete response.
    pub responses: u64,
    /// Of those, the failed ones.
    pub errors: u64,
    /// Latency of the measured responses that arrived in it (µs).
    pub latency: Histogram<u64>,
    /// Per message protocol (by `messages_index`): messages sent and received in
    /// it (measured window only).
    pub messages: [[u64; 2]; 2],
}

impl Snapshot {
    /// Become a copy of `other` in this one's buffers: a live view that hands
    /// back the snapshot it is done with gets the next one without allocating,
    /// and the totals' histograms that did not change between the two are not
    /// copied (see `RunStats::copy_from`). Neither may have been changed since
    /// the controller made it.
    pub fn copy_from(&mut self, other: &Snapshot) {
        let Snapshot {
            elapsed,
            warming_up,
            planned,
            max_requests,
            level,
            total,
            interval,
            last,
            spans,
            spans_dropped,
        } = other;
        (self.elapsed, self.warming_up, self.planned) = (*elapsed, *warming_up, *planned);
        (self.max_requests, self.level, self.last) = (*max_requests, *level, *last);
        self.total.copy_from(total);
        self.interval.copy_from(interval);
        self.spans.clone_from(spans);
        self.spans_dropped = *spans_dropped;
    }
}

impl Interval {
    /// Become a copy of `other`, reusing this one's histogram.
    fn copy_from(&mut self, other: &Interval) {
        let Interval {
            length,
            requests,
            responses,
            errors,
            latency,
            messages,
        } = other;
        (self.length, self.requests) = (*length, *requests);
        (self.responses, self.errors) = (*responses, *errors);
        crate::stats::copy_histogram(&mut self.latency, latency, false);
        self.messages = *messages;
    }

    /// Nothing measured, in no time.
    pub(crate) fn empty() -> Interval {
        Interval {
            length: Duration::ZERO,
            requests: 0,
            responses: 0,
            errors: 0,
            latency: crate::stats::new_histogram(),
            messages: [[0; 2]; 2],
        }
    }

    /// Become what changed from `before` to `now`, `length` apart (in this
    /// interval's own histogram: a snapshot's interval is remade four times a
    /// second).
    pub(crate) fn measure(&mut self, before: &RunStats, now: &RunStats, length: Duration) {
        let done = |s: &RunStats| s.total() + s.counts.warmup_requests;
        self.length = length;
        self.requests = done(now).saturating_sub(done(before));
        self.responses = now.counts.responses.saturating_sub(before.counts.responses);
        self.errors = now.error_count().saturating_sub(before.error_count());
        // Both are cumulative counts of the same run: `before` is contained in
        // `now`, and as many responses means the same ones.
        if now.latency.len() == before.latency.len() {
            if !self.latency.is_empty() {
                self.latency.reset();
            }
        } else {
            crate::stats::copy_histogram(&mut self.latency, &now.latency, false);
            let _ = self.latency.subtract(&before.latency);
        }
        self.messages = std::array::from_fn(|i| {
            let count = |s: &RunStats| {
                s.messages[i]
                    .as_ref()
                    .map_or([0, 0], |m| [m.sent, m.received])
            };
            let (a, b) = (count(before), count(now));
            [b[0].saturating_sub(a[0]), b[1].saturating_sub(a[1])]
        });
    }

    /// Messages sent and received per second over the interval, for the message
    /// protocol of `messages_index` `i`.
    pub fn messages_per_s(&self, i: usize) -> [f64; 2] {
        let secs = self.length.as_secs_f64().max(f64::MIN_POSITIVE);
        self.messages[i].map(|n| n as f64 / secs)
    }

    /// Responses per second over the interval: what a run's throughput means
    /// everywhere (failed requests are no throughput).
    pub fn rps(&self) -> f64 {
        self.responses as f64 / self.length.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    use kaioken_compiler::{Flags, Input, lower, plan};

    use super::*;
    use crate::Control;

    /// A server answering every request of every connection with `200 ok`.
    fn serve_forever(listener: TcpListener) {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut have = Vec::new();
                loop {
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        have.drain(..end + 4);
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if sock.write_all(ok).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    }

    #[test]
    fn the_grid_is_whole_periods_from_the_start() {
        let start = Instant::now();
        let grid = Grid::new(start);
        let ms = Duration::from_millis;
        assert_eq!(grid.next_after(start), start + PUBLISH_EVERY);
        assert_eq!(grid.next_after(start + ms(249)), start + PUBLISH_EVERY);
        assert_eq!(grid.next_after(start + ms(250)), start + ms(500));
        assert_eq!(grid.last_at(start + ms(499)), start + ms(250));
        assert_eq!(grid.last_at(start + ms(500)), start + ms(500));
        assert_eq!(grid.last_at(start), start);
    }

    /// Snapshots count exactly as the final statistics do: their intervals add up to
    /// the run (requests and latency histogram alike), totals never go back, and the
    /// last snapshot is the returned statistics themselves. On the io_uring engine.
    #[test]
    fn snapshots_add_up_to_the_run() {
        snapshots_add_up(None, "io_uring");
    }

    /// The same with a rate cap (its VUs wait on the io_uring engine's timers) and
    /// `--compressed` (bodies kept for decoding).
    #[test]
    fn snapshots_add_up_to_the_run_with_a_rate_cap() {
        snapshots_add_up(Some(1e6), "io_uring");
    }

    /// The same on the tokio engine (the server's port is one of `ON_TOKIO`'s).
    #[test]
    fn snapshots_add_up_to_the_run_on_tokio() {
        snapshots_add_up(Some(1e6), "tokio");
    }

    fn snapshots_add_up(rate: Option<f64>, engine: &str) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || serve_forever(listener));
        #[cfg(target_os = "linux")]
        if engine == "tokio" {
            crate::uring::tests::ON_TOKIO.lock().unwrap().push(port);
        }
        let input = Input {
            flags: Flags {
                url: Some(format!("http://127.0.0.1:{port}/")),
                vus: Some(2),
                duration: Some("1s".into()),
                warmup: Some("400ms".into()),
                rate,
                compressed: rate.is_some(),
                ..Flags::default()
            },
            ..Input::default()
        };
        let plan = Arc::new(plan(&lower(&input).unwrap()).unwrap());
        let mut snapshots: Vec<Snapshot> = Vec::new();
        // As the live view takes them: each copied into the one before the one it
        // holds, which is what a clone would be.
        let (mut held, mut handed_back): (Option<Snapshot>, Option<Snapshot>) = (None, None);
        let stats = crate::run(&plan, 2, Arc::new(Control::new()), &mut |s| {
            snapshots.push(s.clone());
            let copy = match handed_back.take() {
                Some(mut old) => {
                    old.copy_from(s);
                    old
                }
                None => s.clone(),
            };
            assert_eq!(format!("{copy:?}"), format!("{s:?}"));
            handed_back = held.replace(copy);
        })
        .unwrap();
        assert!(snapshots.len() >= 4, "{} snapshots", snapshots.len());
        let last = snapshots.last().unwrap();
        assert!(last.last && snapshots.iter().filter(|s| s.last).count() == 1);
        assert_eq!(last.total.counts, stats.counts);
        assert_eq!(last.total.latency, stats.latency);
        assert!(snapshots[0].warming_up && !last.warming_up);
        let mut requests = 0;
        let mut latency = crate::stats::new_histogram();
        for pair in snapshots.windows(2) {
            assert!(pair[1].total.total() >= pair[0].total.total());
        }
        // Snapshots before the last hold the workers' publications at a grid
        // point: their intervals are whole periods of data, not the controller's
        // own ticks (on which an interval could be empty, the next one double).
        for s in snapshots.iter().filter(|s| !s.last) {
            let periods = |d: Duration| d.as_nanos() / PUBLISH_EVERY.as_nanos();
            let whole = |d: Duration| d.as_nanos().is_multiple_of(PUBLISH_EVERY.as_nanos());
            assert!(
                whole(s.elapsed) && periods(s.elapsed) > 0,
                "{:?}",
                s.elapsed
            );
            assert!(whole(s.interval.length), "{:?}", s.interval.length);
            assert!(periods(s.interval.length) > 0, "{:?}", s.interval.length);
        }
        for s in &snapshots {
            requests += s.interval.requests;
            latency.add(&s.interval.latency).unwrap();
        }
        assert_eq!(requests, stats.total() + stats.counts.warmup_requests);
        assert_eq!(latency, stats.latency);
        assert!(stats.total() > 100, "{} requests", stats.total());
        // Each second's own statuses and percentiles, by the time the requests ended.
        assert!(!stats.timeline.is_empty());
        for (i, second) in stats.timeline.iter().enumerate() {
            let by_status: u64 = stats.timeline_status[i].iter().map(|&(_, n)| n).sum();
            assert_eq!(by_status, second.responses, "second {i}");
            if second.requests > 0 {
                assert!(second.latency_p50_us > 0, "second {i}: {second:?}");
                assert!(second.latency_p50_us <= second.latency_p99_us);
                assert!(
                    second.latency_p99_us <= second.latency_max_us + second.latency_max_us / 100
                );
            }
        }
        assert_eq!(stats.engine.name(), engine);
    }
}
