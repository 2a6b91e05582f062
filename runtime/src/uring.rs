//! The io_uring HTTP/1.1 engine: one ring per worker thread, every VU's socket on it.
//!
//! Used for HTTP/1.1 to one origin or several, `http://` or `https://` (rustls,
//! sans I/O, between the request's buffer and the socket: `Tls`): the closed
//! model, with or without think time, a rate cap, stages or a ramp-up, and the
//! open model (arrival rate); the tokio engine serves everything else (see
//! `eligible`). Why a second
//! engine: on loopback ~85% of a generator's CPU is the kernel's, and the tokio
//! engine makes about 2.6 syscalls per request (write, read, and epoll_wait when a
//! read would block). Here a request is one submission entry, a `send`, and one
//! completion for it and one for its response: each connection has one multishot
//! `recvmsg` armed for as long as it lives (so an answer that comes before the whole
//! request went out is read), which the kernel fills from a ring of buffers the
//! worker provides (`Pool`). One `io_uring_enter` submits every queued request and
//! reaps every completion that is ready. With `SINGLE_ISSUER | DEFER_TASKRUN` the
//! kernel runs completions when the thread waits, not as interrupts.
//!
//! Waiting VUs (think time, a ramp-up's start, a rate cap's slot, back-off after a
//! failed connect) sit in heaps of timers; the ring's wait ends at the first one,
//! so a VU goes on without an operation or a syscall of its own. For a rate-cap
//! slot the loop wakes at its time; for a pause, on the run's next `PAUSE_TICK`
//! (250 µs) at or after its end, and every pause over by then ends in that round,
//! so the VUs whose pauses end within one tick send together and the server wakes
//! once for them rather than once each.
//!
//! The open model's iterations are due on the schedule open.rs computes for both
//! engines; the ring's wait ends `open::RELEASE_AHEAD` (1 ms) before the next one
//! is due (`EXT_ARG`'s timeout is a high-resolution timer), and every iteration due
//! within that millisecond is released then. The wait is never shorter than
//! `RELEASE_GRAIN` (50 µs): above 20,000/s a wake-up releases the few iterations
//! due within it together, rather than one wake-up each (at 50,000/s, 35% less
//! CPU; BENCHMARKS.md, 2026-12-02). Schedule precision: an iteration
//! starts at most 1 ms early (its latency then counts from its actual send, as on
//! the tokio engine) and late by the wake-up latency plus the round's work when the
//! loop is not busy with responses; its schedule lag is measured at its first
//! request's submission (lag p99 in BENCHMARKS.md, 2026-12-01).
//!
//! Timing stays honest: the clock is read twice per round of the loop, not per
//! request. One reading just before submitting is the start of every request in
//! that submission (early by at most the queueing of its entries). A response's
//! bytes carry the kernel's receive timestamp (`SO_TIMESTAMPNS`, read from each
//! `recvmsg` completion's control message, `Clock`): their end time is when they
//! reached the host's network stack, whenever the completion is reaped. The other
//! reading, when the wait returns, is the time of what carries no stamp (a
//! connect's completion, the end of stream) and the time the next round's timers
//! are checked against; a timer fires late by the round's handling (about a
//! microsecond per completion reaped), and a pause besides by up to its tick.
//!
//! Because responses keep their own times, a wait need not end at the first
//! completion. When the loop will wake within `REAP_WITHIN` (1 ms) anyway (the
//! open model's next release, a rate-cap slot, think time), the wait asks for a
//! batch and completions are reaped at that wake-up: one wake-up per iteration
//! instead of two at 1,000/s, a quarter to two fifths less CPU per request at
//! 1,000 and 10,000/s, and more under a 20,000/s rate cap (BENCHMARKS.md,
//! 2026-12-02). What it costs: a VU's next request after a response goes at the
//! loop's next wake-up, up to `REAP_WITHIN` later (under a rate cap, half the
//! pacer's slack more); think time counts from the response's stamp, so it is not
//! stretched beyond that (and its tick). Otherwise (the closed model without pauses, a connect in
//! flight, the last response bytes came without a stamp, as the run's first ones
//! may) the wait ends at the first completion.
//!
//! Connections: a VU keeps one keep-alive connection per origin of the program
//! (`Link`), opened when its first request to that origin goes, as the tokio
//! engine's HTTP/1.1 driver keeps one per connection slot; its requests go one at a
//! time, so the exchange in progress is the VU's and runs on one of its links.
//!
//! Buffers: each VU owns its write buffer for the whole run, and each link a small
//! `tail` for the unparsed end of a response that spans receive buffers; responses are
//! parsed straight out of the pool's buffers, each given back to the kernel as soon
//! as it is parsed. On a TLS link the pool's buffers hold records: they are
//! decrypted into `tail` and parsed there, and the request is encrypted into the
//! link's own send buffer (rustls copies each record, two allocations per request;
//! a plain request makes none). The rules that keep this sound are at `Conn`.

mod lookups;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, squeue, types};
use kaioken_vm::{Method, Program, Protocol, Scheme, Status, Yield};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use socket2::{SockAddr, Socket, Type};

use crate::backoff::Backoff;
use crate::conn::{Peer, connect_failure, via_proxy};
use crate::http1::{Held, closed_after_sending, to_absolute_form, unclosed_body, write_request};
use crate::live::Grid;
use crate::open::{Backlog, Limits, RELEASE_AHEAD, RETIRE_AFTER, Schedule};
use crate::proxy::{self, Handshake, Progress};
use crate::rate::Pacer;
use crate::shared::Shared;
use crate::stats::{Opened, Outcome, Timing, WorkerStats};
use crate::trace::{Ids, Tracer};
use crate::vu::{After, Exchange, Vu, Worker};
use crate::worker::default_detail;
use crate::{ErrorKind, StopReason};
use kaioken_http1::{Invalid, Response, ResponseParser};
use lookups::Lookups;

/// The size of each provided receive buffer (`Pool`).
const BUF_SIZE: usize = 16 * 1024;
/// A connection's `tail` holds at least this once it is first needed.
const TAIL_MIN: usize = 1024;
/// The buffer group of the worker's `Pool` (each worker has its own ring, so one
/// group number serves them all).
const BGID: u16 = 0;
/// The bounds of a `Pool`'s buffer count (see `Pool::count_for`).
const MIN_BUFS: usize = 16;
const MAX_BUFS: usize = 1024;
/// How often request deadlines are checked; a timed-out request is noticed within
/// this of its deadline.
const SCAN_EVERY: Duration = Duration::from_millis(20);

/// When the loop will wake within this anyway (a timer, the open model's next
/// release), the wait asks for a batch of completions instead of the first one:
/// responses that come meanwhile are reaped at that wake-up, their end times the
/// kernel's receive timestamps (`Clock`), not the moment they were reaped.
const REAP_WITHIN: Duration = Duration::from_millis(1);

/// The open model's shortest wait for its next release (see `drive`): the
/// iterations due within it go out together, still before they are due.
const RELEASE_GRAIN: Duration = Duration::from_micros(50);

/// The loop wakes for pauses on this grid of the run's clock (`on_tick`). A
/// think time's VUs each pause from their own response, so without it every pause
/// ending is a wake-up of its own, and each request it sends finds the server
/// asleep and pays for waking it: 1.24–1.38× the CPU per request of the plain
/// closed model at 1 ms of think time (a rate cap at the same rate, whose wake-ups
/// send a millisecond's slots together, costs less than the plain case). On a
/// 250 µs grid, 1.05–1.24× (BENCHMARKS.md, 2026-12-02). A pause lasts at most this
/// much longer than asked (on the tokio engine, whose timer ticks every
/// millisecond: up to 1 ms longer).
const PAUSE_TICK: Duration = Duration::from_micros(250);

/// The most origins a program run here may have, and the most VUs: what an
/// operation's tag has room for (see `tag`).
const MAX_ORIGINS: usize = 1 << 8;
const MAX_VUS: usize = 1 << 24;

const OP_CONNECT: u64 = 1;
const OP_SEND: u64 = 2;
const OP_RECV: u64 = 3;
/// The read of `Lookups`' eventfd: a `--dns-refresh` lookup's answer came (its
/// tag's other parts are zeros: it is no VU's).
const OP_WAKE: u64 = 4;
/// The tag of that read.
const WAKE: u64 = tag(0, 0, 0, OP_WAKE);

/// One entry of a provided-buffer ring, as the kernel reads it (`struct
/// io_uring_buf`); the first entry's `resv` is the ring's tail.
#[repr(C)]
struct BufEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// The worker's receive buffers: `count` buffers of `BUF_SIZE` bytes in one block,
/// and the ring (registered as buffer group `BGID`) through which the kernel takes
/// them for the connections' multishot recvs. A completion names the buffer it
/// filled; the bytes are parsed from there, and the buffer goes back on the ring
/// (`give_back`) as soon as the completion has been handled, so between two waits
/// the engine holds none of them.
///
/// Both blocks are allocated once, page-aligned, and never move; the kernel reads
/// the ring and writes the buffers it takes until the group is unregistered (see
/// `run_worker`) or, if operations were left in flight, for the rest of the
/// process (`leak`).
struct Pool {
    ring: *mut BufEntry,
    bufs: *mut u8,
    count: usize,
    /// The ring's tail as last published: buffers added so far, wrapping.
    tail: u16,
    /// Operations may still be in flight: the blocks are never freed.
    leak: bool,
}

impl Pool {
    /// Buffers for `conns` connections (sockets, a VU's one per origin): one each,
    /// a power of two (the ring's size must be one), at least `MIN_BUFS` and at most
    /// `MAX_BUFS`. A connection holds a buffer only from the kernel's filling it to
    /// the end of the completion's handling, so beyond `MAX_BUFS` connections the
    /// ring runs dry only when more than `MAX_BUFS` completions come in one wait;
    /// then a multishot recv ends with `ENOBUFS` and is armed again (see
    /// `Engine::recv_done`), no byte lost.
    fn count_for(conns: usize) -> usize {
        conns.next_power_of_two().clamp(MIN_BUFS, MAX_BUFS)
    }

    fn new(count: usize) -> Pool {
        debug_assert!(count.is_power_of_two() && count <= 1 << 15);
        let ring_layout = Self::ring_layout(count);
        let bufs_layout = Self::bufs_layout(count);
        // SAFETY: both layouts have a non-zero size.
        let (ring, bufs) = unsafe {
            (
                std::alloc::alloc_zeroed(ring_layout).cast::<BufEntry>(),
                std::alloc::alloc_zeroed(bufs_layout),
            )
        };
        if ring.is_null() {
            std::alloc::handle_alloc_error(ring_layout);
        }
        if bufs.is_null() {
            std::alloc::handle_alloc_error(bufs_layout);
        }
        let mut pool = Pool {
            ring,
            bufs,
            count,
            tail: 0,
            leak: false,
        };
        for bid in 0..count {
            pool.give_back(bid as u16);
        }
        pool
    }

    fn ring_layout(count: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(count * size_of::<BufEntry>(), 4096)
            .expect("a small page-aligned layout")
    }

    fn bufs_layout(count: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(count * BUF_SIZE, 4096)
            .expect("a small page-aligned layout")
    }

    /// Register the ring with `ring` as buffer group `BGID`.
    fn register(&self, ring: &IoUring) -> io::Result<()> {
        // SAFETY: the ring's memory is valid and stays put until the group is
        // unregistered or the pool leaked (see `Pool`).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                self.ring as u64,
                self.count as u16,
                BGID,
                0,
            )
        }
    }

    /// Put buffer `bid` back on the ring, for the kernel to fill again. The caller
    /// is done with its bytes.
    fn give_back(&mut self, bid: u16) {
        let bid = bid as usize % self.count;
        let slot = self.tail as usize & (self.count - 1);
        // SAFETY: `slot` is within the ring; the kernel reads an entry only once the
        // tail has been moved past it, which the release store below does. The
        // writes are field by field so that the first entry's `resv` (the tail,
        // which the kernel reads) is never written here.
        unsafe {
            let entry = self.ring.add(slot);
            std::ptr::addr_of_mut!((*entry).addr).write(self.bufs.add(bid * BUF_SIZE) as u64);
            std::ptr::addr_of_mut!((*entry).len).write(BUF_SIZE as u32);
            std::ptr::addr_of_mut!((*entry).bid).write(bid as u16);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is the first entry's `resv`, an aligned u16 that only
        // atomic accesses touch on this side.
        let tail = unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*self.ring).resv)) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The `len` bytes the kernel put in buffer `bid`.
    ///
    /// # Safety
    ///
    /// A reaped completion named `bid` with `len` bytes, and the buffer has not been
    /// given back since: the kernel does not write it until it is. The slice must
    /// not be used after `give_back(bid)`.
    unsafe fn filled<'b>(&self, bid: u16, len: usize) -> &'b [u8] {
        let bid = bid as usize % self.count;
        let len = len.min(BUF_SIZE);
        // SAFETY: within the block; see the function's contract.
        unsafe { std::slice::from_raw_parts(self.bufs.add(bid * BUF_SIZE), len) }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.leak {
            return;
        }
        // SAFETY: allocated in `new` with these layouts; no operation is in flight
        // and the group is unregistered (`leak` is set otherwise).
        unsafe {
            std::alloc::dealloc(self.ring.cast(), Self::ring_layout(self.count));
            std::alloc::dealloc(self.bufs, Self::bufs_layout(self.count));
        }
    }
}

/// Whether this run can use the io_uring engine, and the addresses to connect to,
/// by origin (the program's `origins` order); each origin's in order: a connection
/// tries the next when one fails, as the tokio engine does.
///
/// What runs here, decided here and nowhere else: plain `http://` HTTP/1.1 to the
/// program's origins, one or several (a VU keeps a connection to each origin it
/// talks to, see `Link`), in the closed model with think time, a rate cap, a ramp-up or stages
/// (think time, ramp-up starts and rate-cap slots wait on the worker's timers,
/// `Engine::pauses` and `Engine::slots`, which bound the ring's wait; the rate cap is the tokio engine's
/// pacer, `worker::worker_pacer`; stages park VUs above the level between
/// iterations, as `closed_vu` does), and in the open model, constant or ramping
/// arrival rate (the tokio engine's schedule and queue, open.rs; the next due
/// iteration bounds the ring's wait too, see `Engine::release`). Measured cost: an
/// open-model run at 10,000/s costs about 2.4x the tokio engine's CPU per request
/// (a wake-up per iteration, evenly spaced, against tokio's one per millisecond
/// tick; BENCHMARKS.md, 2026-12-02); its schedule lag is lower. Each origin's host is an
/// IP address, a name `--resolve`/`--connect-to` routes, or a name resolved here,
/// once for the run ([`Dial::fixed_route`](crate::dial::Dial::fixed_route)), so its
/// connections have no `dns` phase; with `--dns-refresh`, the names are looked up
/// again during the run on a helper thread (`Lookups`), as the tokio engine's
/// connections look them up. With `--unix-socket`, every origin's connections go
/// to that socket (whose bytes carry no receive timestamp: see `Engine::stamped`). A plain
/// `http://` origin behind an HTTP proxy is one whose address is the proxy's, and
/// whose requests go in absolute form (`Forward`), as on the tokio engine; an
/// origin behind a proxy's tunnel (`CONNECT` for `https://`, SOCKS5) is one whose
/// address is the proxy's too, and whose connections set the tunnel up first
/// (`Tunnel`: the tokio engine's set-up, proxy.rs's `Handshake`; for `socks5://`
/// the origin's name resolved at the start as well).
///
/// What falls back to the tokio engine, and why (one ineligible origin or step is
/// enough: a VU runs all its steps on one engine, so the whole run goes there):
/// - HTTP/2, HTTP/3, WebSocket and gRPC steps: protocols this engine does not
///   speak (their framing lives in the tokio engine's drivers). `https://` origins
///   run here (rustls over the engine's buffers, `Tls`), but for a host that is no
///   valid TLS server name, which the tokio engine reports per request.
/// - An origin whose name does not resolve at the start (the tokio engine's
///   lookups report it, as every `dns` error is reported). A `--unix-socket` path
///   too long for a socket address, and SOCKS5 credentials or a name over its 255
///   bytes, which the tokio engine reports per request; a SOCKS5 tunnel that asks
///   the proxy for a name's address under `--dns-refresh` (`Dial::fixed_route`).
/// - More than `MAX_ORIGINS` origins, or more than `MAX_VUS` VUs: an operation's tag
///   has room for no more (see `tag`).
///
/// A redirect to one of the program's origins is followed here, on the VU's
/// connection to it. A redirect to an origin the program does not name is the one
/// thing it cannot know in advance: it hands its VUs to the tokio engine then.
pub(crate) fn eligible(shared: &Shared) -> Option<Vec<Vec<SockAddr>>> {
    let plan = &shared.plan;
    let origins = &plan.program.origins;
    let simple = !origins.is_empty()
        && origins.len() <= MAX_ORIGINS
        && (shared.part.vus as usize) <= MAX_VUS
        && plan
            .program
            .steps
            .iter()
            .all(|s| s.protocol == Protocol::Http1)
        && std::env::var_os("KAIOKEN_NO_IO_URING").is_none();
    let unsecurable =
        |o: &kaioken_vm::Origin| o.scheme == Scheme::Https && tls_for(shared, o).is_none();
    if !simple || origins.iter().any(unsecurable) {
        return None;
    }
    #[cfg(test)]
    if origins
        .iter()
        .any(|o| tests::ON_TOKIO.lock().unwrap().contains(&o.port))
    {
        return None;
    }
    origins
        .iter()
        .map(|o| shared.transport.dial.fixed_route(o))
        .collect()
}

/// What a TLS session with `origin` is made from: the run's HTTP/1.1 client
/// configuration and the name the server's certificate must hold; `None` when the
/// run has no configuration or the host is no valid server name.
fn tls_for(
    shared: &Shared,
    origin: &kaioken_vm::Origin,
) -> Option<(Arc<ClientConfig>, ServerName<'static>)> {
    let config = shared.transport.tls[Protocol::Http1.index()].clone()?;
    Some((config, crate::conn::server_name(&origin.host).ok()?))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No operation in flight; the VU is between requests (or finished).
    Idle,
    /// Waiting for a `--dns-refresh` lookup of its origin's name (`Lookups`):
    /// nothing in flight.
    Resolving,
    Connecting,
    /// `send` and `recv` submitted; waiting for the response, or, with the outcome
    /// known, for the send's completion.
    Exchanging,
}

/// One VU and its connections (`links`, one per origin of the program).
///
/// # Safety
///
/// The kernel uses memory of a `Conn` while an operation on it is in flight, and the
/// code keeps off that memory until the operation's completion has been reaped:
///
/// - A link's `addr`: a `connect` reads the socket address. `addr` is changed only
///   to try the origin's next address, after the failed connect's completion and
///   before the next connect is queued; neither the `Conn` nor its `links` ever
///   move (`conns` is never resized: the open model adds VUs only within the room
///   reserved at the start, and replaces a `Conn` only when its VU retired idle,
///   with nothing in flight but its links' recvs, which use no memory of the
///   `Conn`; `links` is sized once, in `Conn::new`).
/// - `wbuf`: a `send` reads `wbuf[sent..]`. Every send posts a completion, and
///   `send_in_flight` is true from its submission to that completion. `wbuf` is
///   rewritten (cleared, maybe reallocated) only when the next request is written,
///   which happens only from `settle`, and `settle` runs only with no send in flight:
///   an outcome reached earlier waits in `settled` for the send's completion.
///   (A send still queued, not submitted, is no operation: `requeue` takes one
///   back from the queue.)
/// - A TLS link's `out` (`Tls`): on such a link a `send` reads the ciphertext in
///   `out[sent..]` instead of `wbuf`, under the same rule: `send_in_flight` is true
///   until its completion, and `out` is cleared and written again only with no
///   send in flight (a new exchange, or the completion of the last send). Dropping
///   the link's TLS session leaves `out` where it is.
/// - A link's tunnel's `out` (`Tunnel`): while the tunnel is set up a `send` reads
///   the proxy's message in `out[sent..]`, under the same rule: `out` is written
///   only with no send in flight (`tunnel_send`), and the origin's exchange, which
///   sends from `wbuf` or the TLS `out`, begins only after the last message's
///   send has completed (`Tunnel::answered`). Ending the set-up drops the
///   handshake, not `out`.
/// - The engine's `msghdr`, not a `Conn`'s: the kernel reads it while submitting
///   a multishot `recvmsg` (the `io_uring_enter` that submits it); it is boxed in
///   the engine, in place for the whole loop.
/// - The pool's buffers (`Pool`), not a `Conn`'s: the socket's multishot `recv`
///   writes into buffers the kernel takes from the pool's ring, and a buffer it
///   took is the kernel's until the completion that names it is reaped. The engine
///   reads those bytes while handling that completion (copying what it keeps to
///   `tail`) and then puts the buffer back on the ring (`Pool::give_back`); the
///   kernel does not take it again before that. The ring and the buffers stay
///   allocated and in place until the buffer group is unregistered, after every
///   operation has ended (`Engine::drain`), or for the rest of the process.
/// - A link's `socket`: its descriptor is closed (and its number free for another
///   socket) only with no operation in flight on it: a socket given up while its
///   recv is still armed is shut down, which ends the recv, and is kept in
///   `Engine::retired` until the recv's last completion; the link's `sock`, in
///   every operation's tag beside the link's origin, tells that recv's completions
///   from the next socket's. Every link of a VU keeps its recv armed while its
///   connection lives, also while the VU's exchange is on another link: what comes
///   then (bytes, or the peer's close) is kept for the link's next exchange.
///
/// Timers (think time, back-off) are no operation: they bound the wait of
/// `io_uring_enter` (`EXT_ARG`), whose timespec the kernel reads during that call
/// only, so no memory of theirs is in the kernel's hands between calls.
///
/// When the run ends, every socket is shut down (ending idle connections' recvs
/// and a hard stop's requests) and `drive` reaps completions until no operation is
/// in flight (`Engine::ops`); if some are still in flight after `DRAIN_FOR`, it
/// leaks every `Conn` and the pool rather than free memory under the kernel.
struct Conn {
    /// The VU machine: VM state, cookies, step and redirect in progress.
    vu: Vu,
    /// The VU's number (stages activate VUs up to a number).
    number: u32,
    /// Counted among the active VUs: started, and not parked above the stages' level.
    active: bool,
    /// With a rate cap: the VU holds a reserved slot and waits for it (its timer);
    /// when it is due the request goes without reserving another.
    slot_reserved: bool,
    /// The VU's connections, by origin index (the program's `origins`).
    links: Vec<Link>,
    /// The link of the exchange in progress (or of the last one).
    at: usize,
    /// Back-off after failed connects (backoff.rs).
    backoff: Backoff,
    /// Parked on a timer (think time, back-off), its next request starts an
    /// iteration: the VU was between iterations when it began to wait.
    iteration_pending: bool,
    /// The request in progress made a new connection.
    connected: bool,
    /// Where the request in progress spent its time (stats/phases.rs).
    timing: Timing,
    /// `--trace-sample`: the VU's sampler, and the ids of the request in progress
    /// when it was sampled.
    tracer: Option<Tracer>,
    sampled: Option<Ids>,
    /// When its `connect` was submitted, if it is sent again after an idle close
    /// or after a `--dns-refresh` lookup (otherwise `started`).
    connect_from: Option<Instant>,
    /// How long the lookup this request's connection made took (its `dns`
    /// phase), until the connection is open.
    looked_up: Option<Duration>,
    wbuf: Vec<u8>,
    /// Which constant request `wbuf` holds (written again only when it does not).
    held: Held,
    /// The submission round (`Engine::round`) in which the request's send was
    /// queued: a recv completion reaped in that same round came before the request
    /// went out.
    queued_round: u64,
    parser: ResponseParser,
    /// The response's head and body, when checks read them.
    capture: Option<kaioken_http1::Capture>,
    /// Whether this step's response is kept in `capture` (see `StepInfo::keep`).
    keep: bool,
    /// The request says `connection: close` (`StepInfo::closes`): its connection
    /// is closed after the response, whatever the server does.
    closes: bool,
    /// The request may be sent again after its reused connection closed with no
    /// answer once some of it went out (`Method::is_idempotent`).
    idempotent: bool,
    /// With `-v`, the failure's detail of the exchange in progress, to print with
    /// it (`Engine::note_detail`).
    detail: Option<String>,
    phase: Phase,
    /// When the request was submitted (set for the whole batch at submission).
    started: Instant,
    /// The deadline passed: the socket was shut down and the outcome is a timeout.
    timed_out: bool,
    /// How much of `wbuf` the kernel has taken (what the completions of this request's
    /// sends said); the next send starts there.
    sent: usize,
    /// A `send` of `wbuf` is submitted and its completion has not arrived.
    send_in_flight: bool,
    /// A failed `send`: the reason for a failure when no response came.
    send_error: Option<i32>,
    /// The outcome, and when it was known, held until the send in flight completes.
    settled: Option<(Settled, Instant)>,
    done: bool,
    /// The open model: when the iteration it is running was due, until its first
    /// request is submitted (its schedule lag is measured then).
    due: Option<Instant>,
    /// With latency correction, the scheduled start its next exchange's latency
    /// counts from (the iteration's first request only).
    intended: Option<Instant>,
    /// The open model: when it last became idle (see `Engine::retire_idle`).
    idle_since: Instant,
}

/// One of a VU's connections: the one to an origin of the program.
struct Link {
    socket: Option<Socket>,
    /// `socket` has carried a request before the one in progress.
    reused: bool,
    addr: SockAddr,
    /// The origin's addresses when the connection began (a `--dns-refresh` lookup
    /// may give the origin new ones meanwhile), and which of them `addr` is: a new
    /// connection tries the first, and the next after a failed connect.
    route: Rc<[SockAddr]>,
    addr_index: usize,
    /// Response bytes not parsed yet: a response's unparsed end when it spans
    /// buffers (a head cut in two), and bytes that came between requests. Empty
    /// (and unallocated) for most connections; its capacity is kept once grown.
    tail: Vec<u8>,
    /// The socket's multishot `recv` is armed: its completions come until one
    /// without `IORING_CQE_F_MORE`.
    recv_armed: bool,
    /// The socket's number among this link's sockets (wrapping), in every
    /// operation's tag: a completion of a recv on a socket given up
    /// (`Engine::retired`) is told from one on the current socket by it.
    sock: u32,
    /// The peer closed (or reset) the connection between requests: the next
    /// request goes on a new connection.
    peer_closed: bool,
    /// TLS that failed after the last response (bytes that are no valid record
    /// for the session, between requests or right behind the response's): the
    /// next request fails with it, unsent, as it would reading it
    /// (`Engine::broken`); the one after goes on a new connection.
    broken: Option<rustls::Error>,
    /// An `https` origin's link: its TLS session and the ciphertext it sends.
    tls: Option<Box<Tls>>,
    /// Through a proxy's tunnel: its set-up, between the connect to the proxy and
    /// the origin's TLS or first request.
    tunnel: Tunnel,
}

/// A tunnel's set-up with its proxy on a link (`CONNECT`, SOCKS5; proxy.rs's
/// `Handshake`, bytes in and out, as the tokio engine speaks it): under way while
/// `handshake` is there, from the connect's completion to the proxy's last
/// answer. Its messages go out of `out`, which the kernel reads (`out[sent..]`)
/// while a send is in flight, under the rules for `wbuf` (see `Conn`): `out` is
/// written only with no send in flight, and never freed before the `Conn`.
#[derive(Default)]
struct Tunnel {
    handshake: Option<Box<Handshake>>,
    out: Vec<u8>,
    sent: usize,
    /// The proxy opened the tunnel while a message was still going out: the
    /// origin's exchange begins when that send's completion comes.
    answered: bool,
    /// The set-up failed while a message was still going out (the socket is
    /// shut down): the request fails when that send's completion comes.
    failed: Option<(ErrorKind, Option<String>)>,
}

/// TLS on a link, sans I/O: rustls encrypts a request into `out`, which a `send`
/// takes to the socket like a plain request's `wbuf`, and decrypts what the
/// link's multishot `recvmsg` brings into the link's `tail`, where the response
/// is parsed as a plain one is. The handshake is the first exchange's: its first
/// send is the ClientHello, the request waits in the session until the server's
/// reply completes the handshake (`Engine::received`), and then goes out with
/// the client's Finished. Sessions are resumed from the run's shared client
/// configuration, as on the tokio engine.
struct Tls {
    /// The connection's session: made when its socket has connected (`Engine::seal`),
    /// dropped with the socket.
    session: Option<ClientConnection>,
    /// Ciphertext to send; the kernel reads `out[sent..]` while a send is in flight
    /// (see the safety rules at `Conn`).
    out: Vec<u8>,
    sent: usize,
    /// When the handshake began (its connect's completion), while it is under way.
    handshake_from: Option<Instant>,
}

impl Tls {
    /// Encrypt what the session has to send into `out`, unless the kernel holds
    /// `out` (a send in flight) or some of it is still to go: returns whether there
    /// is ciphertext to send. No send is in flight.
    fn pending(&mut self) -> bool {
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
            if let Some(session) = &mut self.session {
                // Writing into a `Vec` cannot fail.
                while session.wants_write() && session.write_tls(&mut self.out).is_ok() {}
            }
        }
        self.sent < self.out.len()
    }

    /// All of the request has gone to the socket: the handshake is over and neither
    /// the session nor `out` holds more.
    fn all_sent(&self) -> bool {
        self.sent == self.out.len()
            && self
                .session
                .as_ref()
                .is_some_and(|s| !s.is_handshaking() && !s.wants_write())
    }
}

impl Link {
    /// No connection yet, to connect to `route`'s first address; `tls` for an
    /// `https` origin.
    fn new(route: &Rc<[SockAddr]>, tls: bool) -> Link {
        Link {
            socket: None,
            reused: false,
            addr: route[0].clone(),
            route: Rc::clone(route),
            addr_index: 0,
            tail: Vec::new(),
            recv_armed: false,
            sock: 0,
            peer_closed: false,
            broken: None,
            tls: tls.then(|| {
                Box::new(Tls {
                    session: None,
                    out: Vec::new(),
                    sent: 0,
                    handshake_from: None,
                })
            }),
            tunnel: Tunnel::default(),
        }
    }

    /// The next connection goes to `route`'s first address (the origin's latest).
    fn restart(&mut self, route: &Rc<[SockAddr]>) {
        self.route = Rc::clone(route);
        self.addr_index = 0;
        self.addr = route[0].clone();
    }

    /// Bytes the socket received, kept in `tail` to be parsed: as they came, or
    /// on a TLS link what they decrypt to (which may be nothing: handshake
    /// messages, session tickets). Returns whether the peer closed the TLS
    /// session (its close_notify): no more comes, as at the end of the stream.
    ///
    /// # Errors
    ///
    /// The TLS session's, when the bytes are no valid TLS for it (a failed
    /// handshake, a certificate not trusted, a record that does not decrypt).
    fn take_in(&mut self, mut data: &[u8]) -> Result<bool, rustls::Error> {
        let Some(session) = self.tls.as_deref_mut().and_then(|t| t.session.as_mut()) else {
            keep(&mut self.tail, data);
            return Ok(false);
        };
        let mut closed = false;
        while !data.is_empty() && !closed {
            // After the peer's close_notify nothing more is read (`Ok(0)`).
            let read = session
                .read_tls(&mut data)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            let processed = session.process_new_packets();
            // What the records before a failing one decrypted to is kept.
            let mut reader = session.reader();
            // Until it has no more (`WouldBlock`), or the peer's close_notify.
            while let Ok(chunk) = reader.fill_buf()
                && !chunk.is_empty()
            {
                let n = chunk.len();
                keep(&mut self.tail, chunk);
                reader.consume(n);
            }
            closed = processed?.peer_has_closed() || read == 0;
        }
        Ok(closed)
    }
}

impl Conn {
    /// The outcome when the stream ended with the response awaited: the response,
    /// if it is one that ends with the connection, or why there is none.
    fn ended(&mut self) -> Settled {
        let in_body = self.parser.in_body();
        let send_error = self.send_error;
        self.parser.eof().map_err(|cut| match send_error {
            // Closed with no response after a failed send: the send's error says
            // more than the end of stream.
            Some(e) if !in_body => {
                let kind = ErrorKind::from_io(&io::Error::from_raw_os_error(e), false);
                (kind, Why::Errno(e))
            }
            _ => (cut.into(), Why::Nothing),
        })
    }

    /// VU `number`, with no connection yet, to connect to each origin's first
    /// address (`addrs`, by origin) when it first talks to it.
    fn new(shared: &Shared, program: &Program, number: u32, addrs: &[Rc<[SockAddr]>]) -> Conn {
        Conn {
            vu: Vu::new(program, number, shared.plan.transport.cookie_jar),
            number,
            active: false,
            slot_reserved: false,
            links: addrs
                .iter()
                .zip(&program.origins)
                .map(|(a, o)| Link::new(a, o.scheme == Scheme::Https))
                .collect(),
            at: 0,
            backoff: Backoff::default(),
            iteration_pending: false,
            connected: false,
            timing: Timing::default(),
            tracer: Tracer::new(
                shared.plan.transport.trace_sample,
                crate::trace::vu_seed(shared.trace_seed, number),
            )
            .map(|t| t.after_warmup(shared.measure_from)),
            sampled: None,
            connect_from: None,
            looked_up: None,
            wbuf: Vec::with_capacity(1024),
            held: Held::default(),
            queued_round: u64::MAX,
            parser: ResponseParser::new(false)
                .following_redirects(shared.plan.transport.max_redirects > 0),
            capture: crate::judge::capture_for(program, &shared.plan.transport),
            keep: false,
            closes: false,
            idempotent: true,
            detail: None,
            phase: Phase::Idle,
            started: Instant::now(),
            timed_out: false,
            sent: 0,
            send_in_flight: false,
            send_error: None,
            settled: None,
            done: false,
            due: None,
            intended: None,
            idle_since: Instant::now(),
        }
    }
}

/// A plain `http://` origin forwarded through an HTTP proxy (`Dial::forwards`):
/// its connections go to the proxy, and its requests in absolute form.
struct Forward<'a> {
    /// The proxy (its `Display` is how the report names it, password hidden).
    proxy: &'a kaioken_vm::Proxy,
    /// Its `Proxy-Authorization` value, which `Dial` made once, when it has
    /// credentials.
    auth: Option<&'a str>,
}

/// An origin reached through a proxy's tunnel (`CONNECT` for `https://`, or
/// SOCKS5): its connections go to the proxy, and set the tunnel up first.
struct Through<'a> {
    proxy: &'a kaioken_vm::Proxy,
    /// For `socks5://`, the origin's address the proxy is asked for (resolved at
    /// the start, as every name here is).
    address: Option<std::net::IpAddr>,
}

/// What a VU waiting for its rate-cap slot does when the slot comes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    /// Send the request it has.
    Send,
    /// Send the redirect it follows.
    Redirect,
}

/// A request's outcome as the response (or its absence) decided it: the response, or
/// the error and what more is known of it.
type Settled = Result<Response, (ErrorKind, Why)>;

/// What is known of a failure besides its kind, for the report's example message.
#[derive(Debug, Clone)]
enum Why {
    /// What the TLS session said: the handshake's failure, or a record's after it.
    Tls {
        error: rustls::Error,
        handshake: bool,
    },
    /// Nothing: the kind's own description (a timeout's names the timeout).
    Nothing,
    /// The errno an operation failed with.
    Errno(i32),
    /// What was wrong with a response that is not valid HTTP.
    Invalid(Invalid),
    /// A reused connection closed with no answer after some of a request that is
    /// not idempotent went out: the server may have read it, so it is not sent
    /// again.
    Unanswered,
    /// A TLS body delimited by the connection's end ended without close_notify: it
    /// may be cut short (`http1::unclosed_body`).
    Unclosed,
}

/// How the io_uring engine's part of a run ended.
pub(crate) struct Finished {
    /// Requests a hard stop cut off.
    pub unfinished: u64,
    /// A redirect led to an origin the program does not name: the tokio engine runs
    /// these VUs from here, as they are (empty when the run simply ended).
    pub handoff: Vec<Vu>,
}

/// The io_uring engine's worker: runs `vus` (VU numbers) until the run stops, or
/// until a redirect leads elsewhere than the program's origins, whose addresses
/// `addrs` holds (see `eligible`).
///
/// # Errors
///
/// When io_uring cannot be set up (an old kernel, or seccomp forbids it), or its
/// receive buffers cannot be registered (provided-buffer rings need Linux 5.19,
/// multishot recv 6.0; `DEFER_TASKRUN`, asked for first, already needs 6.1): the
/// caller falls back to the tokio engine before any request was sent.
pub(crate) fn run_worker(
    shared: &Shared,
    program: &Program,
    index: usize,
    addrs: &[Vec<SockAddr>],
    vus: &[u32],
    stats: &mut WorkerStats,
) -> io::Result<Finished> {
    // Made first, so that its failure leaves nothing registered with a ring.
    let lookups = match shared.plan.transport.dns_refresh {
        Some(refresh) => {
            let dial = &shared.transport.dial;
            let names = program.origins.iter().map(|o| dial.refreshed(o)).collect();
            Lookups::new(dial, names, refresh)?
        }
        None => None,
    };
    let entries = (2 * vus.len() + 8).next_power_of_two() as u32;
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(entries.max(8))?;
    // A buffer per connection: a VU has one per origin it talks to.
    let count = Pool::count_for(vus.len() * addrs.len());
    #[cfg(test)]
    let count = tests::POOL_BUFS.with(std::cell::Cell::get).unwrap_or(count);
    let mut pool = Pool::new(count);
    pool.register(&ring)?;
    // From here on nothing fails back to the caller: the run has begun. Published
    // at once, so that a worker the controller abandons (stuck in a script before
    // its first tick's publication) is reported with the engine it ran.
    stats.engine = crate::stats::Engine::IoUring;
    shared.publish(index, stats, Instant::now());
    let finished = drive(
        shared, program, index, addrs, vus, stats, &mut ring, &mut pool, entries, lookups,
    );
    if !pool.leak {
        // Nothing is in flight: the kernel lets go of the buffers here, and they
        // are freed after.
        let _ = ring.submitter().unregister_buf_ring(BGID);
    }
    drop(pool);
    Ok(finished)
}

/// The event loop.
// Each argument is a part of the worker this loop runs; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn drive(
    shared: &Shared,
    program: &Program,
    index: usize,
    addrs: &[Vec<SockAddr>],
    vus: &[u32],
    stats: &mut WorkerStats,
    ring: &mut IoUring,
    pool: &mut Pool,
    entries: u32,
    lookups: Option<Lookups>,
) -> Finished {
    let open = Open::new(shared, index, vus.len());
    let addrs: Vec<Rc<[SockAddr]>> = addrs.iter().map(|a| Rc::from(a.as_slice())).collect();
    // The open model starts VUs on demand, up to `vus.len()`: the room is made now,
    // so that a `Conn` never moves (see its safety rules).
    let mut conns: Vec<Conn> = Vec::with_capacity(vus.len());
    if open.is_none() {
        conns.extend(
            vus.iter()
                .map(|&number| Conn::new(shared, program, number, &addrs)),
        );
    }
    let dial = &shared.transport.dial;
    let forward = program
        .origins
        .iter()
        .map(|o| {
            let proxy = dial.proxy_for(o).filter(|_| dial.forwards(o))?;
            Some(Forward {
                proxy,
                auth: dial.forward_authorization(o),
            })
        })
        .collect();
    let tunnels = program
        .origins
        .iter()
        .map(|o| {
            let proxy = dial.proxy_for(o).filter(|_| !dial.forwards(o))?;
            Some(Through {
                proxy,
                address: dial.tunnel_address(proxy, o),
            })
        })
        .collect();
    let mut engine = Engine {
        shared,
        program,
        addrs,
        lookups,
        forward,
        tunnels,
        stats,
        index,
        pending: Vec::with_capacity(vus.len() * 2),
        submitted: Vec::with_capacity(vus.len()),
        remaining: conns.len(),
        parked: Vec::new(),
        pauses: BinaryHeap::with_capacity(vus.len()),
        slots: BinaryHeap::with_capacity(vus.len()),
        pacer: crate::worker::worker_pacer(shared, index),
        benched: Vec::with_capacity(if shared.profile.is_some() && open.is_none() {
            vus.len()
        } else {
            0
        }),
        open,
        target: shared.vu_target.load(Ordering::Acquire),
        handoff: false,
        refused: false,
        pool,
        tls: program
            .origins
            .iter()
            .map(|o| {
                (o.scheme == Scheme::Https)
                    .then(|| tls_for(shared, o))
                    .flatten()
            })
            .collect(),
        msghdr: Box::new(recvmsg_header()),
        stamped: false,
        stamps_refused: false,
        connecting: 0,
        round: 0,
        ops: 0,
        retired: Vec::new(),
    };
    // `--ramp-up`: each VU starts when the tokio engine would start it. The open
    // model starts its pre-allocated VUs, idle until the first iteration is due.
    let now = Instant::now();
    let pre_allocated = engine.open.as_ref().map_or(0, |o| o.limits.pre_allocated);
    for _ in 0..pre_allocated {
        let i = engine.spawn(&mut conns, now);
        engine.idle(&mut conns, i, now);
    }
    let closed = if engine.open.is_some() { &[][..] } else { vus };
    for (i, &number) in closed.iter().enumerate() {
        let delay = crate::worker::ramp_delay(shared, number - 1);
        if delay.is_zero() {
            engine.next_request(&mut conns, i, now);
        } else {
            engine.pause(i, shared.start + delay);
        }
    }
    let mut completions: Vec<(u64, i32, u32)> = Vec::with_capacity(entries as usize * 2);
    let mut next_scan = now + SCAN_EVERY;
    let grid = Grid::new(shared.start);
    let mut next_publish = grid.next_after(now);
    let timeout = shared.plan.transport.timeout;
    // The clock is read twice per round: just before submitting (the start of every
    // request in the submission) and when the wait returns (the end of every reaped
    // response, and `now` for the next round's timers and gates).
    let mut now = now;
    loop {
        if shared.control.is_hard_stopped() {
            break;
        }
        // VUs backing off after a failed connect whose wait is over go on; when the
        // run is stopping, every one does (to be marked done).
        let stopping = shared.control.is_stopping()
            || shared.deadline.is_some_and(|d| now >= d)
            || engine.handoff;
        for i in std::mem::take(&mut engine.parked) {
            engine.next_request(&mut conns, i, now);
        }
        // VUs whose pause is over go on: started by the ramp-up, think time over,
        // back-off waited out.
        while let Some(&Reverse((at, i))) = engine.pauses.peek() {
            if !stopping && at > now {
                break;
            }
            engine.pauses.pop();
            engine.next_request(&mut conns, i, now);
        }
        // Rate-cap slots come. One within half the pacer's slack is taken now, as
        // `Engine::paced` takes a slot it reserves: one wake-up sends a
        // millisecond's slots together, not one each.
        let horizon = now + crate::rate::SLACK / 2;
        while let Some(&Reverse((at, i, then))) = engine.slots.peek() {
            if !stopping && at > horizon {
                break;
            }
            engine.slots.pop();
            match then {
                Wake::Send => engine.send_step(&mut conns, i, now),
                Wake::Redirect => engine.follow_redirect(&mut conns, i, now),
            }
        }
        // Stages: VUs parked above the level go on when it rises to them.
        if !engine.benched.is_empty() {
            let target = shared.vu_target.load(Ordering::Acquire);
            if stopping || target != engine.target {
                engine.target = target;
                let mut k = 0;
                while k < engine.benched.len() {
                    let i = engine.benched[k];
                    if stopping || conns[i].number <= target {
                        engine.benched.swap_remove(k);
                        engine.next_request(&mut conns, i, now);
                    } else {
                        k += 1;
                    }
                }
            }
        }
        // The open model: iterations due by now go to VUs (or the queue).
        if engine.open.is_some() {
            engine.release(&mut conns, now);
        }
        // Every VU is done (the last ones may have retired just now, at the stop's
        // timers above): nothing is left to wait for.
        if engine.remaining == 0 && engine.pending.is_empty() {
            break;
        }
        // Queue what the last round produced, then one syscall: submit and wait.
        if !engine.submit(ring) {
            break;
        }
        let submit_at = Instant::now();
        for &i in &engine.submitted {
            let conn = &mut conns[i];
            conn.started = submit_at;
            // The open model: an iteration's first request is going out now; how
            // late that is after its due time is its schedule lag.
            if let Some(due) = conn.due.take() {
                let lag = submit_at.saturating_duration_since(due);
                engine.stats.iteration_started(due, Some(lag));
            }
        }
        engine.submitted.clear();
        // The wait ends at the first timer, when the open model's next iteration
        // is due, at the run's deadline (below), or after `SCAN_EVERY` (to notice
        // a stop and time requests out). The kernel reads `wait` during this call
        // only.
        let mut wait = SCAN_EVERY;
        // For a pause, the loop wakes on the run's next `PAUSE_TICK` at or after
        // its end, and takes every pause over by then.
        if let Some(&Reverse((at, _))) = engine.pauses.peek() {
            let at = on_tick(at, shared.start);
            wait = wait.min(at.saturating_duration_since(submit_at));
        }
        if let Some(&Reverse((at, _, _))) = engine.slots.peek() {
            wait = wait.min(at.saturating_duration_since(submit_at));
        }
        if let Some(open) = &engine.open
            && let Some(due) = open.schedule.next_due()
        {
            // A wake-up per iteration, each a millisecond ahead: the iterations
            // go out evenly spaced and on time. Waking at the due time instead (a
            // millisecond's worth per wake-up) cost a third less CPU at 10,000/s
            // but sent them in bursts, which the server's latency and the schedule
            // lag then showed (BENCHMARKS.md, 2026-12-02). With the queue full, the next
            // iteration waits for its due time.
            let ahead = if open.backlog.is_full() {
                Duration::ZERO
            } else {
                RELEASE_AHEAD
            };
            let release = due.checked_sub(ahead).unwrap_or(due);
            let mut until = release.saturating_duration_since(submit_at);
            if !ahead.is_zero() {
                // Iterations go out RELEASE_AHEAD before they are due, so waking a
                // little later is never late for them: above 20,000/s, one wake-up
                // releases the few due within `RELEASE_GRAIN` together.
                until = until.max(RELEASE_GRAIN);
            }
            wait = wait.min(until);
        }
        // Deferred VUs whose request was refused have nothing in flight to wait for.
        // With a wake-up due within `REAP_WITHIN` anyway, the wait asks for a
        // batch (as many completions as a submission has entries), so that it
        // ends then rather than at each completion: a response's end time is its
        // kernel timestamp, whenever it is reaped. Otherwise (a connect in flight,
        // whose time is its reaping's, or a lookup's answer awaited) the first
        // completion ends it. Under a rate cap, a wake-up takes every slot due
        // within half the pacer's slack (see the timers above), so the slots left
        // waiting are just beyond that: the reach grows by as much, or no wait
        // would batch.
        let reach = if engine.pacer.is_some() {
            REAP_WITHIN + crate::rate::SLACK / 2
        } else {
            REAP_WITHIN
        };
        let want = if std::mem::take(&mut engine.refused) {
            0
        } else if engine.stamped
            && !engine.stamps_refused
            && engine.connecting == 0
            && !engine.lookups.as_ref().is_some_and(Lookups::busy)
            && wait <= reach
        {
            #[cfg(test)]
            tests::BATCHED.with(|n| n.set(n.get() + 1));
            entries as usize
        } else {
            1
        };
        // The deadline ends the wait too, so that the run stops on time; it does
        // not make the wait a batch (decided above from what else is due): a VU
        // whose response comes in the last moments goes on at once, as earlier.
        if let Some(d) = shared.deadline
            && d > submit_at
        {
            wait = wait.min(d - submit_at);
        }
        if let Err(e) = wait_for(ring, want, wait) {
            engine
                .stats
                .note_error_detail(ErrorKind::Other, || format!("io_uring: {e}"));
            break;
        }
        let clock = Clock::read();
        now = clock.now;
        completions.clear();
        completions.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(data, res, flags) in &completions {
            engine.complete(&mut conns, data, res, flags, clock);
        }
        if shared.deadline.is_some_and(|d| now >= d) {
            shared.control.stop(StopReason::Duration);
        }
        if now >= next_publish {
            next_publish = grid.next_after(now);
            shared.publish(index, engine.stats, now);
        }
        if now >= next_scan {
            next_scan = now + SCAN_EVERY;
            engine.retire_idle(&mut conns, now);
            for i in 0..conns.len() {
                let conn = &mut conns[i];
                if conn.phase != Phase::Idle
                    && !conn.timed_out
                    && now.duration_since(conn.started) >= timeout
                {
                    if conn.phase == Phase::Resolving {
                        // Nothing in flight to end: it stops waiting for the
                        // lookup, whose answer will leave it out.
                        let at = conn.at;
                        if let Some(lookups) = engine.lookups.as_mut() {
                            lookups.forget(at, i);
                        }
                        conn.timed_out = true;
                        let kind = ErrorKind::Timeout;
                        engine.note_detail(conn, kind, true, || default_detail(kind, timeout));
                        engine.finish(&mut conns, i, now, Outcome::Error(kind));
                        continue;
                    }
                    conn.timed_out = true;
                    if let Some(s) = &conn.links[conn.at].socket {
                        let _ = s.shutdown(std::net::Shutdown::Both);
                    }
                    // The shutdown ends the exchange through its recv's completion;
                    // should none be armed, one is, so that the timeout still ends
                    // it rather than leave the VU waiting for good.
                    if conn.phase == Phase::Exchanging {
                        engine.arm(&mut conns, i);
                    }
                }
            }
        }
    }
    // Iterations still queued when the run ended never ran: they were dropped. So
    // was what fell due since the schedule was last walked, if the loop ended (its
    // VUs retired) before `release` saw the run ending.
    if let Some(open) = &mut engine.open {
        if !std::mem::replace(&mut open.stopped, true) {
            open.schedule.stop(Instant::now(), engine.stats);
        }
        open.backlog.drop_all(engine.shared, engine.stats);
    }
    let unfinished = conns.iter().filter(|c| c.phase != Phase::Idle).count() as u64;
    let active = conns.iter().filter(|c| c.active).count() as i64;
    engine.stats.vus_changed(Instant::now(), -active);
    // Idle keep-alive connections still have their multishot recv armed, and a hard
    // stop leaves requests in flight: shutting every socket down ends them all, and
    // their last completions are waited for (briefly) before any memory the kernel
    // may write is freed.
    for link in conns.iter().flat_map(|c| &c.links) {
        if let Some(s) = &link.socket {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
    if let Some(lookups) = &engine.lookups {
        lookups.end();
    }
    if !engine.drain(ring, &mut completions) {
        // Operations still in flight may write into these buffers; they are given
        // up to the kernel (the process is about to report and exit) rather than
        // freed under it.
        engine.pool.leak = true;
        std::mem::forget(std::mem::take(&mut engine.retired));
        if let Some(lookups) = engine.lookups.take() {
            lookups.abandon();
        }
        std::mem::forget(conns);
        return Finished {
            unfinished,
            handoff: Vec::new(),
        };
    }
    let handoff = if engine.handoff && unfinished == 0 {
        conns.into_iter().map(|c| c.vu).collect()
    } else {
        Vec::new()
    };
    Finished {
        unfinished,
        handoff,
    }
}

/// Submit what is queued and wait up to `wait` for `want` completions. A wait that
/// ends by its timeout, a signal, or a full completion queue is no error.
fn wait_for(ring: &IoUring, want: usize, wait: Duration) -> io::Result<()> {
    let wait = types::Timespec::from(wait);
    let args = types::SubmitArgs::new().timespec(&wait);
    match ring.submitter().submit_with_args(want, &args) {
        Ok(_) => Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::ETIME)
                || e.raw_os_error() == Some(libc::EINTR)
                || e.raw_os_error() == Some(libc::EBUSY) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// How long `drive` waits, at the end of a run, for the operations still in flight
/// once every socket is shut down (they end at once on a working kernel).
const DRAIN_FOR: Duration = Duration::from_secs(1);

struct Engine<'a> {
    shared: &'a Shared,
    /// The worker's index (the open model numbers its VUs by it).
    index: usize,
    /// The addresses of each origin, by origin index (see `eligible`); none empty.
    /// A `--dns-refresh` lookup's answer replaces an origin's (`Lookups`); a
    /// link's next new connection takes the latest (`Link::route`).
    addrs: Vec<Rc<[SockAddr]>>,
    /// `--dns-refresh`: the origins' names looked up again during the run.
    lookups: Option<Lookups>,
    /// By origin index: the HTTP proxy a plain `http://` origin is forwarded
    /// through, whose address is the origin's in `addrs`.
    forward: Vec<Option<Forward<'a>>>,
    /// By origin index: the proxy whose tunnel an origin is reached through,
    /// whose address is the origin's in `addrs`.
    tunnels: Vec<Option<Through<'a>>>,
    /// The worker's own copy of the program (see `worker::worker`).
    program: &'a Program,
    stats: &'a mut WorkerStats,
    /// Entries to submit in the next round.
    pending: Vec<squeue::Entry>,
    /// Conns whose request goes out in the next round (their start time).
    submitted: Vec<usize>,
    /// VUs that have not finished.
    remaining: usize,
    /// VUs whose request was refused unsent: they go on in the next round.
    parked: Vec<usize>,
    /// VUs pausing, until when: think time, a ramp-up's start, or the back-off after
    /// a failed connect (starting again at once would spin). With `slots`, never
    /// more than one entry per VU, so neither grows past its initial capacity.
    pauses: BinaryHeap<Reverse<(Instant, usize)>>,
    /// VUs waiting for their rate-cap slot, until when, and what they send then.
    slots: BinaryHeap<Reverse<(Instant, usize, Wake)>>,
    /// `--rate`: this worker's share of it, the tokio engine's pacer
    /// (`worker::worker_pacer`).
    pacer: Option<Pacer>,
    /// Stages: VUs parked between iterations above the current level.
    benched: Vec<usize>,
    /// The stages' level as last seen (`Shared::vu_target`).
    target: u32,
    /// A redirect led to an origin the program does not name: finish what is in
    /// flight, then hand the VUs to the tokio engine.
    handoff: bool,
    /// A request was refused unsent this round: its VU, in `parked`, goes on at
    /// once rather than after a wait for completions.
    refused: bool,
    /// The receive buffers the multishot recvs take from.
    pool: &'a mut Pool,
    /// For each `https` origin (by index), the run's client configuration and the
    /// name its certificate must hold.
    tls: Vec<Option<(Arc<ClientConfig>, ServerName<'static>)>>,
    /// What every multishot `recvmsg` is armed with (`recvmsg_header`); boxed, so
    /// that its address, which an armed operation's entry holds, never moves.
    msghdr: Box<libc::msghdr>,
    /// Connects submitted whose completion has not come: their time is the
    /// reaping's, so no wait batches completions while one is in flight.
    connecting: usize,
    /// The last completion with response bytes carried the kernel's receive
    /// timestamp, so the next ones' end times do not depend on when they are
    /// reaped, and waits may batch completions (`REAP_WITHIN`). False until the
    /// first stamp comes: the kernel turns receive timestamps on for the host a
    /// moment after the first socket asks (a deferred static key), so the run's
    /// first responses may come without one; those are reaped as they come and
    /// timed when reaped. A Unix socket's bytes never carry one (the kernel stamps
    /// only what comes through its network stack), so a `--unix-socket` run keeps
    /// this false and every wait ends at the first completion.
    stamped: bool,
    /// A socket refused the timestamp option: no wait batches for the rest of the
    /// run, as that socket's responses would be timed when reaped.
    stamps_refused: bool,
    /// Submissions so far: a request queued in round `round` goes out at its end.
    round: u64,
    /// Operations submitted whose last completion has not been reaped.
    ops: usize,
    /// Sockets given up while their multishot recv was still armed, with that recv's
    /// tag: shut down, and closed when its last completion comes (the descriptor
    /// stays open while an operation may use it; see `Conn`).
    retired: Vec<(u64, Socket)>,
    /// The open model's schedule, queue and idle VUs.
    open: Option<Open<'a>>,
}

/// The open model on this engine: the tokio engine's schedule and queue (open.rs),
/// with VUs (connections) started on demand into `conns`' reserved room. Here
/// `Engine::remaining` counts the live VUs.
struct Open<'a> {
    schedule: Schedule<'a>,
    backlog: Backlog,
    limits: Limits,
    latency_correction: bool,
    /// Live VUs waiting for an iteration, the longest idle first; the last one to
    /// become idle takes the next (its connection is the warmest), so the ones
    /// idle longest retire (`RETIRE_AFTER`).
    idle: Vec<usize>,
    /// Places in `conns` whose VU retired for idleness: a new VU goes there first.
    vacant: Vec<usize>,
    /// VUs started so far (the next one's number, see `open::vu_number`).
    started: u32,
    /// The run's stop was seen: what fell due before it is counted as dropped.
    stopped: bool,
}

impl<'a> Open<'a> {
    /// The open model's state for worker `index` running at most `max_vus` VUs;
    /// `None` in the closed model.
    fn new(shared: &'a Shared, index: usize, max_vus: usize) -> Option<Open<'a>> {
        let arrival = shared.plan.load.arrival.as_ref()?;
        let schedule = Schedule::new(shared, index)?;
        let mut limits = Limits::for_worker(&shared.part, index, shared.threads);
        limits.max_vus = limits.max_vus.min(max_vus as u32);
        Some(Open {
            schedule,
            backlog: Backlog::new(limits, arrival.queue_timeout),
            limits,
            latency_correction: arrival.latency_correction,
            idle: Vec::with_capacity(max_vus),
            vacant: Vec::with_capacity(max_vus),
            started: 0,
            stopped: false,
        })
    }
}

impl Engine<'_> {
    /// Put the queued entries on the submission queue (`wait_for` submits them).
    /// Returns `false` when the queue is full, which cannot happen: it holds two
    /// entries per VU (a send and a recv) and a VU never has more queued.
    fn submit(&mut self, ring: &mut IoUring) -> bool {
        let mut sq = ring.submission();
        for entry in self.pending.drain(..) {
            // SAFETY: every entry points into a `Conn`'s buffers or address, or at
            // the pool's ring, used by the kernel under the rules at `Conn`; `conns`
            // is never resized, and it and the pool are leaked if operations are
            // still in flight when the loop ends.
            if unsafe { sq.push(&entry) }.is_err() {
                // Stop rather than lose a request.
                self.shared.control.hard_stop();
                return false;
            }
            self.ops += 1;
        }
        self.round += 1;
        true
    }

    /// At the end of a run, with every socket shut down: reap completions until no
    /// operation is in flight (true), or give up after `DRAIN_FOR` (false).
    fn drain(&mut self, ring: &mut IoUring, completions: &mut Vec<(u64, i32, u32)>) -> bool {
        for (_, s) in &self.retired {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let until = Instant::now() + DRAIN_FOR;
        while self.ops > 0 {
            let now = Instant::now();
            if now >= until || wait_for(ring, 1, until - now).is_err() {
                return false;
            }
            completions.clear();
            completions.extend(
                ring.completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for &(_, _, flags) in completions.iter() {
                if let Some(bid) = io_uring::cqueue::buffer_select(flags) {
                    self.pool.give_back(bid);
                }
                if !io_uring::cqueue::more(flags) {
                    self.ops -= 1;
                }
            }
        }
        self.retired.clear();
        true
    }

    /// Start VU `i`'s next request, connecting first if needed; or mark it done.
    fn next_request(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let shared = self.shared;
        let program: &Program = self.program;
        let conn = &mut conns[i];
        conn.phase = Phase::Idle;
        if conn.done {
            return;
        }
        if self.ending(now) {
            self.retire(conns, i);
            return;
        }
        // A request starts an iteration when the VU was between iterations, or passed
        // the end of one on the way to this request (maybe before a think time).
        let mut new_iteration =
            std::mem::take(&mut conn.iteration_pending) || conn.vu.between_iterations(program);
        if new_iteration && let Some(open) = &mut self.open {
            // The open model: the VU takes a queued iteration, or waits for one.
            if conn.due.is_none() {
                match open.backlog.take(now, self.stats) {
                    Some(due) => conn.due = Some(due),
                    None => {
                        conn.iteration_pending = true;
                        self.idle(conns, i, now);
                        return;
                    }
                }
            }
        } else if new_iteration {
            // Stages: above the current level, park between iterations (as the tokio
            // engine's `closed_vu` does) until `drive` sees the level rise.
            if shared.profile.is_some() && shared.vu_target.load(Ordering::Acquire) < conn.number {
                if std::mem::take(&mut conn.active) {
                    self.stats.vus_changed(now, -1);
                }
                conn.iteration_pending = true;
                self.benched.push(i);
                return;
            }
            if !conn.active {
                conn.active = true;
                self.stats.vus_changed(now, 1);
            }
        }
        loop {
            match conn.vu.next(program) {
                Yield::Send(_) => break,
                Yield::IterationDone | Yield::IterationAborted => {
                    new_iteration = true;
                    if shared.profile.is_some() {
                        // At the entry again: the level decides whether it goes on.
                        conn.iteration_pending = true;
                        return self.next_request(conns, i, now);
                    }
                }
                Yield::DataExhausted => {
                    shared.control.stop(crate::StopReason::DataExhausted);
                    self.retire(conns, i);
                    return;
                }
                // Think time: the VU waits on the worker's timers, then goes on from
                // here (`drive` calls this again). A stop ends the wait early.
                Yield::Sleep(pause) => {
                    if pause.is_zero() {
                        continue;
                    }
                    conn.iteration_pending = new_iteration;
                    self.pause(i, now + pause);
                    return;
                }
                // Only WebSocket steps pace, and they run on the tokio engine (see
                // `eligible`).
                Yield::Pace(_) => debug_assert!(false, "pacing on the io_uring engine"),
            }
        }
        conn.iteration_pending = new_iteration;
        self.send_step(conns, i, now);
    }

    /// Send VU `i`'s step request once the gates let it: the rate cap's slot, then
    /// the stop, the deadline and the budget; the same gates in the same order as the
    /// tokio engine's `WorkerCtx::may_send`. The iteration is counted only then.
    fn send_step(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let waited = conns[i].slot_reserved;
        if !self.paced(conns, i, now, Wake::Send) {
            return;
        }
        // `next_request` saw the run going on just before the VM yielded this
        // request (its data row taken); only a wait for the slot makes it ask again.
        if (waited && self.ending(now)) || !self.shared.claim() {
            self.retire(conns, i);
            return;
        }
        if std::mem::take(&mut conns[i].iteration_pending) {
            match &self.open {
                // Counted when its first request is submitted (`drive`), with its lag.
                Some(open) => {
                    let conn = &mut conns[i];
                    conn.intended = conn.due.filter(|_| open.latency_correction);
                }
                None => self.stats.iteration_started(now, None),
            }
        }
        if self.write(conns, i, now) {
            self.issue(conns, i, now, false);
        } else if let Some(due) = conns[i].due.take() {
            // Refused unsent: the iteration started all the same, as on tokio.
            let lag = now.saturating_duration_since(due);
            self.stats.iteration_started(due, Some(lag));
        }
    }

    /// The open model: release every iteration due by `now` and within
    /// `RELEASE_AHEAD` after it (the ring's timed wait ends that long before the
    /// next one is due, so a wake-up releases a batch at high rates): to
    /// an idle VU, else to a new one while there are fewer than `max_vus`, else into
    /// the queue; with the queue full, it and every other one due by now are dropped
    /// (`Schedule::drop_behind`). When the run is ending, what fell due before the
    /// stop is dropped and the idle VUs retire; so do they when the schedule is over
    /// (a run without a deadline) and the queue is empty.
    fn release(&mut self, conns: &mut Vec<Conn>, now: Instant) {
        loop {
            // Asked again after each iteration released: its request may have
            // ended the run (the budget), and a VU retired then leaves no place
            // for a new one.
            let ending = self.ending(now);
            let Some(open) = &mut self.open else { return };
            if ending || (open.schedule.next_due().is_none() && self.shared.deadline.is_none()) {
                if ending && !std::mem::replace(&mut open.stopped, true) {
                    // A fresh reading, as the tokio scheduler takes: `now` is from
                    // before this round's completions, and may be before the deadline
                    // the controller stopped the run at (at a billion a second, a
                    // microsecond is a thousand iterations due and never counted).
                    open.schedule.stop(Instant::now(), self.stats);
                }
                if ending || open.backlog.is_empty() {
                    let idle = std::mem::take(&mut open.idle);
                    for &i in &idle {
                        self.retire(conns, i);
                    }
                    if let Some(open) = &mut self.open {
                        open.idle = idle;
                        open.idle.clear();
                    }
                }
                return;
            }
            let horizon = now + RELEASE_AHEAD;
            let Some(due) = open.schedule.next_due().filter(|&d| d <= horizon) else {
                return;
            };
            let vu = match open.idle.pop() {
                Some(i) => Some(i),
                // A new VU needs a place: a retired VU's, or `conns`' reserved room
                // (never beyond it: a `Conn` must not move).
                None if self.remaining < open.limits.max_vus as usize
                    && (!open.vacant.is_empty() || conns.len() < conns.capacity()) =>
                {
                    None
                }
                None if open.backlog.has_room(now, self.stats) => {
                    open.schedule.release();
                    open.backlog.push(due);
                    continue;
                }
                // Not due yet, with the queue full: it waits for its time (or for
                // a VU), rather than being dropped before it is due.
                None if due > now => return,
                None => {
                    open.schedule.drop_behind(now, self.stats);
                    continue;
                }
            };
            open.schedule.release();
            let i = match vu {
                Some(i) => i,
                None => self.spawn(conns, now),
            };
            let conn = &mut conns[i];
            conn.due = Some(due);
            conn.iteration_pending = true;
            self.next_request(conns, i, now);
        }
    }

    /// The open model: start a VU, in a vacant place or a new one (within `conns`'
    /// reserved room: the caller checked there are fewer than `max_vus`). Returns
    /// its place.
    fn spawn(&mut self, conns: &mut Vec<Conn>, now: Instant) -> usize {
        let Some(open) = &mut self.open else {
            unreachable!("only the open model starts VUs on demand")
        };
        let number = crate::open::vu_number(self.shared, self.index, open.started);
        open.started += 1;
        let mut conn = Conn::new(self.shared, self.program, number, &self.addrs);
        let i = match open.vacant.pop() {
            // The VU that was here retired idle: nothing of its is in flight but the
            // end of its sockets' recvs (see `close`), whose completions the socket
            // numbers, carried over link by link, tell apart from the new VU's.
            Some(i) => {
                for (new, old) in conn.links.iter_mut().zip(&conns[i].links) {
                    new.sock = old.sock;
                }
                conns[i] = conn;
                i
            }
            None => {
                debug_assert!(conns.len() < conns.capacity(), "a Conn would move");
                conns.push(conn);
                conns.len() - 1
            }
        };
        conns[i].active = true;
        self.remaining += 1;
        self.stats.vus_changed(now, 1);
        i
    }

    /// The open model: VU `i`, between iterations, waits for one.
    fn idle(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let conn = &mut conns[i];
        conn.phase = Phase::Idle;
        conn.idle_since = now;
        if let Some(open) = &mut self.open {
            open.idle.push(i);
        }
    }

    /// The open model: VUs idle for `RETIRE_AFTER` retire, down to the
    /// pre-allocated number, as on the tokio engine; their places are reused.
    fn retire_idle(&mut self, conns: &mut [Conn], now: Instant) {
        let Some(open) = &mut self.open else { return };
        let keep = open.limits.pre_allocated as usize;
        // `idle` is in the order the VUs became idle: the longest idle first.
        let old = open
            .idle
            .iter()
            .take_while(|&&i| now.saturating_duration_since(conns[i].idle_since) >= RETIRE_AFTER)
            .count()
            .min(self.remaining.saturating_sub(keep));
        // Taken out and put back (as `release` does), so `close` may borrow `self`.
        let mut idle = std::mem::take(&mut open.idle);
        for i in idle.drain(..old) {
            // Idle: no send of its is in flight; its connections close (their armed
            // recvs end, see `close`).
            for o in 0..conns[i].links.len() {
                self.close(conns, i, o);
            }
            let conn = &mut conns[i];
            conn.done = true;
            conn.active = false;
            self.stats.vus_changed(now, -1);
            self.remaining -= 1;
            if let Some(open) = &mut self.open {
                open.vacant.push(i);
            }
        }
        if let Some(open) = &mut self.open {
            open.idle = idle;
        }
    }

    /// Whether the run is over for VUs: stopping, past its deadline, or handing off.
    fn ending(&self, now: Instant) -> bool {
        self.shared.control.is_stopping()
            || self.shared.deadline.is_some_and(|d| now >= d)
            || self.handoff
    }

    /// VU `i` is done for the run.
    fn retire(&mut self, conns: &mut [Conn], i: usize) {
        conns[i].phase = Phase::Idle;
        conns[i].done = true;
        self.remaining -= 1;
    }

    /// VU `i` pauses (think time, a ramp-up's start, a back-off) until `until`, and
    /// then asks its machine for its next request, in the first round at or after
    /// that (the loop wakes for it on a `PAUSE_TICK`, see `drive`).
    fn pause(&mut self, i: usize, until: Instant) {
        self.pauses.push(Reverse((until, i)));
    }

    /// With a rate cap, whether VU `i` may send now: it reserves the next slot of
    /// the worker's pacer, and when that is later than now it waits for it on the
    /// timers (returns `false`; `then` is what it does when the slot comes). Slots
    /// within half the pacer's slack are taken now, as on the tokio engine.
    fn paced(&mut self, conns: &mut [Conn], i: usize, now: Instant, then: Wake) -> bool {
        let Some(pacer) = &self.pacer else {
            return true;
        };
        let conn = &mut conns[i];
        if std::mem::take(&mut conn.slot_reserved) {
            return true;
        }
        let share = crate::worker::rate_share(self.shared, self.index, now);
        let at = pacer.reserve_share(now, share);
        if at <= now + crate::rate::SLACK / 2 {
            return true;
        }
        conn.slot_reserved = true;
        self.slots.push(Reverse((at, i, then)));
        false
    }

    /// Write VU `i`'s request (its step's, or the redirect it follows) into its buffer,
    /// unless the buffer holds it already (a constant request: `Held`).
    /// A request that cannot be sent (see `Request::unsendable`) is counted as an
    /// error instead, and the VU goes on in the next round; returns whether there is
    /// a request to issue.
    fn write(&mut self, conns: &mut [Conn], i: usize, now: Instant) -> bool {
        let program: &Program = self.program;
        let conn = &mut conns[i];
        let request = conn.vu.request(program);
        if let Some(why) = request.unsendable(program) {
            let mut worker = Worker {
                program,
                stats: self.stats,
                max_redirects: self.shared.plan.transport.max_redirects,
            };
            conn.vu.refuse(&mut worker, &why, now, None);
            // Next round, without waiting for a completion: nothing was submitted
            // for this VU, and starting its next request here could chain refusals
            // without end while other VUs' completions wait.
            self.parked.push(i);
            self.refused = true;
            return false;
        }
        // Unsampled (and untraced) requests stop at the draw, as on the tokio engine.
        conn.sampled = conn.tracer.as_mut().and_then(Tracer::sample);
        let mut added = request.added();
        if conn.sampled.is_some() {
            added.traceparent = conn.tracer.as_ref().map(Tracer::header);
        }
        let info = &self.shared.transport.infos[request.step.index()];
        if !conn.held.must_write(request.step, info, added, request.hop) {
            return true;
        }
        write_request(
            &mut conn.wbuf,
            program,
            request.state,
            request.step,
            info,
            added,
            request.hop,
        );
        // Through a forwarding proxy: the request names its origin (the step's, or
        // a redirect's, one of the program's here), as the tokio engine's driver
        // rewrites it.
        let (slot, origin) = match request.hop {
            Some(h) => (h.slot, &h.origin),
            None => {
                let slot = program.step(request.step).origin.index();
                (slot, &program.origins[slot])
            }
        };
        if let Some(f) = self.forward.get(slot).and_then(Option::as_ref) {
            to_absolute_form(&mut conn.wbuf, &origin.authority, f.auth);
        }
        true
    }

    /// Send the request written in VU `i`'s buffer on its link to the request's
    /// origin (the step's, or the redirect's), connecting first if needed. `again`
    /// when it is sent a second time: its start time stays the first's.
    fn issue(&mut self, conns: &mut [Conn], i: usize, now: Instant, again: bool) {
        let shared = self.shared;
        let program: &Program = self.program;
        let conn = &mut conns[i];
        let step = conn.vu.step();
        // The connection slot, as the tokio engine's driver picks it: a redirect's
        // is one of the program's origins here (see `follow_redirect`).
        conn.at = conn
            .vu
            .redirect()
            .map_or(program.step(step).origin.index(), |h| h.slot);
        let method = conn.vu.method(program);
        let is_head = *method == Method::Head;
        conn.idempotent = method.is_idempotent();
        conn.timed_out = false;
        conn.connected = false;
        if !again {
            conn.timing = Timing::default();
            // Its start until the submission sets it (`drive`): the deadline scan
            // may look at it before then.
            conn.started = now;
        }
        conn.timing.written = None;
        conn.timing.first_byte = None;
        conn.connect_from = again.then_some(now);
        conn.looked_up = None;
        conn.sent = 0;
        conn.send_error = None;
        conn.parser.restart(is_head);
        let info = &shared.transport.infos[step.index()];
        conn.closes = info.closes;
        let keep = info.keep;
        conn.keep = keep.any();
        if let Some(c) = conn.capture.as_mut().filter(|_| conn.keep) {
            c.start(keep.body);
        }
        if !again {
            self.submitted.push(i);
        }
        let at = conn.at;
        let link = &mut conn.links[at];
        if link.broken.is_some() {
            conn.phase = Phase::Exchanging;
            self.broken(conns, i, now);
            return;
        }
        if link.peer_closed {
            // Closed by the peer while idle: as a reused connection found closed.
            self.reconnect(conns, i, now);
            return;
        }
        if link.socket.is_none() {
            link.reused = false;
            // Sent again after an idle close: it opens a connection, it reuses none.
            conn.timing.reused = false;
            if link.addr_index != 0 || !Rc::ptr_eq(&link.route, &self.addrs[at]) {
                link.restart(&self.addrs[at]);
            }
            if let Some(lookups) = self.lookups.as_mut().filter(|l| l.stale(at, now)) {
                // `--dns-refresh`: the connection goes where the name's new answer
                // says (`looked_up`).
                conn.phase = Phase::Resolving;
                if let Some(read) = lookups.wait(at, i, WAKE) {
                    self.pending.push(read);
                }
                return;
            }
            self.connect(conns, i, now);
            return;
        }
        conn.timing.reused = true;
        self.exchange(conns, i, now);
    }

    /// Open a socket for VU `i`'s current link and queue its `connect` to the
    /// link's `addr`. No operation of the link's is in flight.
    fn connect(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let conn = &mut conns[i];
        let at = conn.at;
        let link = &mut conn.links[at];
        match Socket::new(link.addr.domain(), Type::STREAM, None) {
            Ok(s) => {
                // A Unix socket has no Nagle to turn off, and its bytes carry no
                // receive timestamp: its responses are timed when reaped, and waits
                // end at the first completion (see `Engine::stamped`).
                if !link.addr.is_unix() {
                    let _ = s.set_nodelay(true);
                    if stamp_receipts(&s).is_err() {
                        self.stamps_refused = true;
                    }
                }
                let fd = types::Fd(s.as_raw_fd());
                link.socket = Some(s);
                link.peer_closed = false;
                link.broken = None;
                link.tail.clear();
                conn.phase = Phase::Connecting;
                let entry = opcode::Connect::new(fd, link.addr.as_ptr().cast(), link.addr.len())
                    .build()
                    .user_data(tag(i, at, link.sock, OP_CONNECT));
                self.connecting += 1;
                self.pending.push(entry);
            }
            Err(e) => {
                // Out of file descriptors (`EMFILE`, `ENFILE`), most likely: the VU
                // backs off (see `finish`) rather than spin.
                // Its start stays the request's (`issue`): a lookup's wait or a
                // first attempt before it counts.
                self.note_detail(conn, ErrorKind::Connect, true, || {
                    format!("cannot open a socket: {e}")
                });
                self.finish(conns, i, now, Outcome::Error(ErrorKind::Connect));
            }
        }
    }

    /// `--dns-refresh` lookups' answers came (`Lookups`): each VU that waited for
    /// one connects to the name's new first address (the one that asked has the
    /// lookup's time as its `dns` phase, as on the tokio engine), or fails with
    /// the resolver's words as a `dns` error.
    fn looked_up(&mut self, conns: &mut [Conn], now: Instant) {
        let Some(lookups) = self.lookups.as_mut() else {
            return;
        };
        let (answers, again) = lookups.woken(WAKE);
        if let Some(read) = again {
            self.pending.push(read);
        }
        for answer in answers {
            let o = answer.origin;
            let result = match answer.result {
                Ok((addrs, took)) => {
                    self.addrs[o] = addrs.into();
                    Ok(took)
                }
                Err(detail) => Err(detail),
            };
            for &i in &answer.waiting {
                // A VU that timed out meanwhile was forgotten (`drive`'s scan).
                if conns[i].phase != Phase::Resolving || conns[i].at != o {
                    continue;
                }
                match &result {
                    Ok(took) => {
                        let conn = &mut conns[i];
                        conn.looked_up = if answer.asker == Some(i) { *took } else { None };
                        conn.connect_from = Some(now);
                        conn.links[o].restart(&self.addrs[o]);
                        self.connect(conns, i, now);
                    }
                    Err(detail) => {
                        let conn = &mut conns[i];
                        self.note_detail(conn, ErrorKind::Dns, true, || detail.clone());
                        self.finish(conns, i, now, Outcome::Error(ErrorKind::Dns));
                    }
                }
            }
        }
    }

    /// Queue the request's `send` and a `recv` on the current link, side by side:
    /// the response is read
    /// while the request is still going out, so a server that answers before it has
    /// read the whole request (a `413` to a large body) is heard.
    /// On a TLS link the request goes through its session first (`seal`).
    fn exchange(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        conns[i].phase = Phase::Exchanging;
        conns[i].queued_round = self.round;
        if let Err(e) = self.seal(conns, i, now) {
            self.settle(conns, i, Err(tls_failure(e, true, false)), now);
            return;
        }
        self.send(conns, i);
        self.arm(conns, i);
    }

    /// On a TLS link, hand VU `i`'s request to the link's session, and put what
    /// is to go out first in its `out`: on a new connection the session is made
    /// here and that is its ClientHello (the request goes once the handshake is
    /// done); on a reused one, the request's records. No send is in flight.
    fn seal(&mut self, conns: &mut [Conn], i: usize, now: Instant) -> Result<(), rustls::Error> {
        let conn = &mut conns[i];
        let at = conn.at;
        let Some(tls) = conn.links[at].tls.as_deref_mut() else {
            return Ok(());
        };
        let session = match &mut tls.session {
            Some(session) => session,
            None => {
                let Some((config, name)) = &self.tls[at] else {
                    return Err(rustls::Error::General("no TLS configuration".into()));
                };
                let mut session = ClientConnection::new(config.clone(), name.clone())?;
                // All of a request is taken at once, however large its body.
                session.set_buffer_limit(None);
                tls.handshake_from = Some(now);
                // What an earlier connection left unsent (a request taken back
                // before it went, a send cut short) is not this session's.
                tls.out.clear();
                tls.sent = 0;
                tls.session.insert(session)
            }
        };
        session
            .writer()
            .write_all(&conn.wbuf)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        tls.pending();
        Ok(())
    }

    /// Queue a `send` of what is left of the request.
    ///
    /// Every send posts its completion: it is the only word that the kernel is done
    /// reading `wbuf`, which the next request rewrites (see the safety rules at
    /// `Conn`). `SKIP_SUCCESS` would save one completion per request, but a skipped
    /// success says nothing, and the response can complete before the send does (an
    /// early answer to a large body). Rejected alternatives: keeping `SKIP_SUCCESS`
    /// for requests that fit in the socket buffer (whether they fit depends on what is
    /// still unacknowledged from earlier requests, so it is a guess, not a rule that
    /// keeps the buffer safe), and linking the `recv` after the `send` (the response
    /// to a large body could then not be read until the body was all sent).
    ///
    /// Measured (release, 2 cores: nginx pinned to one, kaioken `--threads 1 -c 50`
    /// to the other, `GET /` → `200 ok`, 8 runs of 300k-600k requests each): median
    /// CPU per request 6.60 µs with `SKIP_SUCCESS` and 6.60 µs without; user time
    /// 0.46 → 0.56 µs (reaping the extra completion), system time 6.17 → 6.02 µs, all
    /// within the runs' spread (6.28-7.53 µs in total).
    fn send(&mut self, conns: &mut [Conn], i: usize) {
        let conn = &mut conns[i];
        let link = &conn.links[conn.at];
        let Some(socket) = &link.socket else { return };
        let rest = match &link.tls {
            _ if link.tunnel.handshake.is_some() => &link.tunnel.out[link.tunnel.sent..],
            Some(tls) => &tls.out[tls.sent..],
            None => &conn.wbuf[conn.sent..],
        };
        if rest.is_empty() {
            return;
        }
        // A request over 4 GiB goes out in several sends.
        let len = rest.len().min(u32::MAX as usize) as u32;
        let send = opcode::Send::new(types::Fd(socket.as_raw_fd()), rest.as_ptr(), len)
            .flags(libc::MSG_WAITALL | libc::MSG_NOSIGNAL)
            .build()
            .user_data(tag(i, conn.at, link.sock, OP_SEND));
        conn.send_in_flight = true;
        self.pending.push(send);
    }

    /// Arm the current link's multishot `recv`, unless it is armed: it stays armed across
    /// the connection's requests, each completion bringing what one receive got in
    /// a buffer of the pool, until the connection ends, the pool runs dry
    /// (`ENOBUFS`) or the kernel stops it; then the next exchange (or the handling
    /// of that completion, when a response is awaited) arms it again.
    fn arm(&mut self, conns: &mut [Conn], i: usize) {
        let conn = &mut conns[i];
        let at = conn.at;
        let link = &mut conn.links[at];
        let Some(socket) = &link.socket else { return };
        if link.recv_armed {
            return;
        }
        let entry = opcode::RecvMsgMulti::new(
            types::Fd(socket.as_raw_fd()),
            std::ptr::from_ref(&*self.msghdr),
            BGID,
        )
        .build()
        .user_data(tag(i, at, link.sock, OP_RECV));
        link.recv_armed = true;
        self.pending.push(entry);
    }

    /// Give up the socket of VU `i`'s link `o`. With its recv still armed, the
    /// socket is shut down (which ends the recv) and kept open in `retired` until
    /// the recv's last completion; otherwise no operation uses it and it is closed
    /// now.
    fn close(&mut self, conns: &mut [Conn], i: usize, o: usize) {
        let link = &mut conns[i].links[o];
        if link.tunnel.handshake.take().is_some() {
            self.connecting -= 1;
        }
        link.tail.clear();
        link.peer_closed = false;
        link.broken = None;
        if let Some(tls) = &mut link.tls {
            tls.session = None;
            tls.handshake_from = None;
        }
        let Some(socket) = link.socket.take() else {
            return;
        };
        if std::mem::take(&mut link.recv_armed) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
            self.retired.push((tag(i, o, link.sock, OP_RECV), socket));
        }
        // Completions still to come for the old socket's recv are told apart by it.
        link.sock = link.sock.wrapping_add(1) & 0xff_ffff;
    }

    fn complete(&mut self, conns: &mut [Conn], data: u64, res: i32, flags: u32, clock: Clock) {
        let now = clock.now;
        let more = io_uring::cqueue::more(flags);
        if !more {
            self.ops -= 1;
        }
        let (i, o, sock, op) = untag(data);
        if op == OP_WAKE {
            self.looked_up(conns, now);
            return;
        }
        if op == OP_RECV {
            let bid = io_uring::cqueue::buffer_select(flags);
            // A filled buffer holds the kernel's header, the control message and the
            // payload; `res` becomes the payload's length, so that 0 is the end of
            // stream (the recv's last completion, with an empty payload).
            let (res, data, at) = match bid {
                Some(bid) if res > 0 => {
                    // SAFETY: this completion named the buffer and it is given back
                    // only below, after `recv_done`; `data` does not outlive it.
                    let buf = unsafe { self.pool.filled(bid, res as usize) };
                    match types::RecvMsgOut::parse(buf, &self.msghdr) {
                        Ok(out) => {
                            // The payload ends the filled part of the buffer.
                            let len = out.payload_data().len();
                            let data = &buf[buf.len() - len..];
                            let at = receipt_time(out.control_data()).map(|t| clock.when(t));
                            if !data.is_empty() {
                                self.stamped = at.is_some();
                            }
                            #[cfg(test)]
                            if at.is_some() {
                                tests::STAMPED.with(|n| n.set(n.get() + 1));
                            }
                            (data.len() as i32, data, at.unwrap_or(now))
                        }
                        // The kernel's layout is the header's: this cannot happen.
                        Err(()) => (-libc::EBADMSG, &[][..], now),
                    }
                }
                _ => (res, &[][..], now),
            };
            self.recv_done(conns, i, o, sock, res, data, more, at, now);
            if let Some(bid) = bid {
                self.pool.give_back(bid);
            }
            return;
        }
        if op == OP_CONNECT {
            self.connecting -= 1;
        }
        if i >= conns.len() {
            return;
        }
        match op {
            // A connect is on the VU's current link (`o` is `conns[i].at`).
            OP_CONNECT
                if res < 0
                    && conns[i].links[o].addr_index + 1 < conns[i].links[o].route.len()
                    && !conns[i].timed_out =>
            {
                // The origin's next address, as the tokio engine tries them in turn;
                // the last one's failure is the one reported.
                let link = &mut conns[i].links[o];
                link.addr_index += 1;
                link.addr = link.route[link.addr_index].clone();
                link.socket = None;
                self.connect(conns, i, now);
            }
            OP_CONNECT if res < 0 => {
                // Cold: a copy, so that the VU's detail may be noted beside it.
                let addr = conns[i].links[o].addr.clone();
                // The proxy's, when the origin goes through one, as on tokio.
                let proxy = self.forward[o]
                    .as_ref()
                    .map(|f| f.proxy)
                    .or_else(|| self.tunnels[o].as_ref().map(|t| t.proxy));
                let e = io::Error::from_raw_os_error(-res);
                let kind = ErrorKind::from_connect(&e);
                self.note_detail(&mut conns[i], kind, true, || {
                    // A route is an address or a socket's path (`Dial::fixed_route`).
                    let peer = match addr.as_socket() {
                        Some(a) => Peer::Tcp(a),
                        None => Peer::Unix(addr.as_pathname().unwrap_or(Path::new(""))),
                    };
                    via_proxy(proxy, connect_failure(peer, &e))
                });
                conns[i].links[o].socket = None;
                self.finish(
                    conns,
                    i,
                    now,
                    Outcome::Error(if conns[i].timed_out {
                        ErrorKind::Timeout
                    } else {
                        kind
                    }),
                );
            }
            OP_CONNECT => match &self.tunnels[o] {
                Some(t) => {
                    let handshake = Handshake::new(t.proxy, &self.program.origins[o], t.address);
                    self.tunnel(conns, i, handshake);
                }
                None => self.opened(conns, i, now),
            },
            _ => self.sent(conns, i, res, now),
        }
    }

    /// VU `i`'s connection is open (to the origin, or through a tunnel to it): the
    /// origin's exchange begins, with TLS's handshake first for `https`.
    fn opened(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let conn = &mut conns[i];
        conn.connected = true;
        conn.timing.opened = Some(Opened {
            dns: conn.looked_up.take(),
            connect: now.saturating_duration_since(conn.connect_from.unwrap_or(conn.started)),
            tls: None,
        });
        if conn.links[conn.at].tls.is_none() {
            // The send goes with the next submission, about now.
            conn.timing.written = Some(now);
        }
        self.exchange(conns, i, now);
    }

    /// VU `i`'s connection to the proxy is made: the tunnel's set-up, `handshake`,
    /// goes first. Until it is over the VU counts as connecting (no wait batches).
    fn tunnel(&mut self, conns: &mut [Conn], i: usize, handshake: Handshake) {
        let conn = &mut conns[i];
        let tunnel = &mut conn.links[conn.at].tunnel;
        tunnel.handshake = Some(Box::new(handshake));
        tunnel.answered = false;
        tunnel.failed = None;
        self.connecting += 1;
        self.tunnel_send(conns, i);
        self.arm(conns, i);
    }

    /// Send the tunnel's next message, if it has one and no send is in flight.
    fn tunnel_send(&mut self, conns: &mut [Conn], i: usize) {
        let conn = &mut conns[i];
        let tunnel = &mut conn.links[conn.at].tunnel;
        let Some(handshake) = tunnel.handshake.as_deref_mut() else {
            return;
        };
        if conn.send_in_flight || handshake.out.is_empty() {
            return;
        }
        tunnel.out.clear();
        tunnel.out.append(&mut handshake.out);
        tunnel.sent = 0;
        self.send(conns, i);
    }

    /// What VU `i`'s tunnel set-up got from the proxy: `res` bytes, `data`, the
    /// end of stream (0) or an errno.
    fn tunneled(&mut self, conns: &mut [Conn], i: usize, res: i32, data: &[u8], now: Instant) {
        let conn = &mut conns[i];
        let at = conn.at;
        if conn.timed_out {
            self.tunnel_failed(conns, i, (ErrorKind::Timeout, None), now);
            return;
        }
        let tunnel = &mut conn.links[at].tunnel;
        let Some(handshake) = tunnel
            .handshake
            .as_deref_mut()
            .filter(|_| tunnel.failed.is_none())
        else {
            return;
        };
        let progress = match res {
            1.. => handshake.received(data),
            0 => Progress::Failed(handshake.closed()),
            _ => Progress::Failed(proxy::io_failure(
                &handshake.reading(),
                &io::Error::from_raw_os_error(-res),
            )),
        };
        let past = !handshake.rest().is_empty();
        match progress {
            Progress::More => {
                self.tunnel_send(conns, i);
                self.arm(conns, i);
            }
            Progress::Open if past => {
                let message = "it sent bytes past its answer, before the tunnel carried any";
                self.tunnel_failed(conns, i, (ErrorKind::Protocol, Some(message.into())), now);
            }
            Progress::Open if conn.send_in_flight => conn.links[at].tunnel.answered = true,
            Progress::Open => self.tunnel_open(conns, i, now),
            Progress::Failed((kind, message)) => {
                self.tunnel_failed(conns, i, (kind, Some(message)), now);
            }
        }
    }

    /// VU `i`'s tunnel is open: the origin's exchange begins on it.
    fn tunnel_open(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let conn = &mut conns[i];
        conn.links[conn.at].tunnel.handshake = None;
        self.connecting -= 1;
        self.opened(conns, i, now);
    }

    /// VU `i`'s tunnel set-up failed: the request fails with it (a failed connect,
    /// as on the tokio engine: worded after the proxy, and backed off from).
    fn tunnel_failed(
        &mut self,
        conns: &mut [Conn],
        i: usize,
        (kind, message): (ErrorKind, Option<String>),
        now: Instant,
    ) {
        let at = conns[i].at;
        let conn = &mut conns[i];
        if conn.send_in_flight {
            // The kernel may still read the tunnel's `out`: the send is stopped,
            // and the request fails with its completion (`sent`).
            if let Some(s) = &conn.links[at].socket {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            conn.links[at].tunnel.failed = Some((kind, message));
            return;
        }
        let proxy = self.tunnels[at].as_ref().map(|t| t.proxy);
        let timeout = self.shared.plan.transport.timeout;
        let shown = message.is_some();
        self.note_detail(&mut conns[i], kind, shown, || match message {
            Some(message) => via_proxy(proxy, message),
            // The timeout's own words, as for any request.
            None => default_detail(kind, timeout),
        });
        self.close(conns, i, at);
        let conn = &mut conns[i];
        conn.links[at].reused = false;
        conn.connected = false;
        self.finish(conns, i, now, Outcome::Error(kind));
    }

    /// A completion of the multishot recv of VU `i`'s link `o` on its socket number
    /// `sock`: `res` bytes, `data`, that came `at`, the end of stream (0) or an
    /// errno; `more` when the recv stays armed. `data` is in a pool buffer that
    /// goes back to the pool after this.
    #[allow(clippy::too_many_arguments)]
    fn recv_done(
        &mut self,
        conns: &mut [Conn],
        i: usize,
        o: usize,
        sock: u32,
        res: i32,
        data: &[u8],
        more: bool,
        at: Instant,
        now: Instant,
    ) {
        if conns
            .get(i)
            .and_then(|c| c.links.get(o))
            .is_none_or(|l| sock != l.sock)
        {
            // The recv of a socket given up: its last completion closes it.
            if !more {
                let data = tag(i, o, sock, OP_RECV);
                if let Some(k) = self.retired.iter().position(|(t, _)| *t == data) {
                    self.retired.swap_remove(k);
                }
            }
            return;
        }
        let conn = &mut conns[i];
        // The link of the exchange in progress (or of the last one); the others
        // are idle.
        let current = o == conn.at;
        let link = &mut conn.links[o];
        if !more {
            link.recv_armed = false;
        }
        if current && link.tunnel.handshake.is_some() {
            // The proxy's answer (a pool that ran dry left it in the socket: the
            // recv is armed again).
            if res == -libc::ENOBUFS {
                self.arm(conns, i);
            } else {
                self.tunneled(conns, i, res, data, now);
            }
            return;
        }
        // A response is awaited: the request's send went out on this link in an
        // earlier round than this completion's reaping, and no outcome is known yet.
        let awaited = current
            && conn.phase == Phase::Exchanging
            && conn.settled.is_none()
            && conn.queued_round != self.round;
        if res == -libc::ENOBUFS {
            #[cfg(test)]
            tests::RAN_DRY.fetch_add(1, Ordering::Relaxed);
            // The pool ran dry: nothing was read, the bytes wait in the socket. The
            // recv is armed again when the link has an exchange in progress (a
            // response awaited, or a request queued this round, whose exchange
            // found the recv still armed and left it), otherwise by the next
            // exchange; it is submitted after this round's buffers are all back.
            if current && conn.phase == Phase::Exchanging && conn.settled.is_none() {
                self.arm(conns, i);
            }
            return;
        }
        if !awaited {
            if (current && conn.settled.is_some()) || link.socket.is_none() {
                // The outcome is known (the socket is shut down): nothing more is read.
                return;
            }
            // Bytes between requests answer no request (none is pipelined): the
            // connection is out of step with its requests and is closed, and
            // the next request goes on a new one. The end of stream, an error
            // or the peer's close_notify leave the connection unusable: the
            // next request goes on a new one. TLS that fails is the next
            // request's failure, as reading it would be.
            let taken = if res <= 0 {
                Ok(true)
            } else {
                link.take_in(data)
            };
            // A request queued this round (its exchange in progress, no response
            // awaited yet) has not gone out.
            let queued = current && conn.phase == Phase::Exchanging;
            match taken {
                Ok(true) => {
                    link.peer_closed = true;
                    if queued && conn.connected {
                        // A new connection (a tunnel's, whose recv was armed before
                        // the request) closed as the request was queued: its
                        // failure, as on the tokio engine, which sends a new
                        // connection's request once.
                        self.take_back(conns, i);
                        self.settle(conns, i, Err((ErrorKind::Reset, Why::Nothing)), now);
                    } else if queued {
                        // It goes on a new connection instead, as a request that
                        // finds its reused connection closed does.
                        self.requeue(conns, i, now);
                    }
                }
                Err(error) => {
                    link.broken = Some(error);
                    if queued {
                        self.take_back(conns, i);
                        self.broken(conns, i, now);
                    }
                }
                // Bytes (a TLS link's records may bring none: a session ticket)
                // after a response. (On a new connection, as a tunnel's whose recv
                // was armed before the request, they are read as its response, as
                // the tokio engine reads them.)
                Ok(false) if link.reused && !link.tail.is_empty() => {
                    if queued {
                        self.take_back(conns, i);
                    }
                    self.close(conns, i, o);
                    conns[i].links[o].reused = false;
                    if queued {
                        // Its request, unsent, goes on a new connection.
                        conns[i].timing.out_of_sync = true;
                        self.issue(conns, i, now, true);
                    } else {
                        self.stats.out_of_sync(now);
                    }
                }
                // The kernel stopped the recv with these bytes, after that
                // request's exchange found it still armed: armed again for its
                // response.
                Ok(false) if !more && queued => self.arm(conns, i),
                Ok(false) => {}
            }
            return;
        }
        // Bytes that came before the request went out (kept in `tail`) do not
        // make the response end before it began.
        let at = at.max(conn.started).min(now);
        self.received(conns, i, res, data, at);
    }

    /// VU `i`'s request, queued this round on a connection the peer has closed
    /// since, is taken back before it goes out, and goes on a new connection.
    fn requeue(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        self.take_back(conns, i);
        self.reconnect(conns, i, now);
    }

    /// VU `i`'s request, queued this round, is taken back before it goes out.
    fn take_back(&mut self, conns: &mut [Conn], i: usize) {
        let conn = &mut conns[i];
        let send = tag(i, conn.at, conn.links[conn.at].sock, OP_SEND);
        self.pending.retain(|e| e.get_user_data() != send);
        conn.send_in_flight = false;
    }

    /// VU `i`'s request was to go on a link whose TLS failed between requests
    /// (`Link::broken`): it fails with that failure, unsent (the tokio engine would
    /// send it and fail reading), and the link is closed.
    fn broken(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let conn = &mut conns[i];
        let Some(error) = conn.links[conn.at].broken.take() else {
            return;
        };
        self.settle(conns, i, Err(tls_failure(error, false, false)), now);
    }

    /// VU `i`'s reused connection was closed before any of the response came: the
    /// request goes once more, on a new connection, as in the tokio engine
    /// (`Http1::exchange`). Its start time stays the first attempt's.
    fn reconnect(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let at = conns[i].at;
        self.close(conns, i, at);
        let conn = &mut conns[i];
        conn.links[at].reused = false;
        conn.timing.closed_by_server = true;
        self.stats.reconnected(now);
        self.issue(conns, i, now, true);
    }

    /// A send's completion: `res` is the bytes the kernel took, or an errno. With
    /// `MSG_WAITALL` a short count means the send stopped early (the connection
    /// broke, or it was shut down); the rest is sent again only while the response
    /// is still awaited, and the error that stops it lands on this request.
    fn sent(&mut self, conns: &mut [Conn], i: usize, res: i32, now: Instant) {
        let conn = &mut conns[i];
        conn.send_in_flight = false;
        let tunnel = &mut conn.links[conn.at].tunnel;
        if let Some(handshake) = tunnel.handshake.as_deref() {
            // A message of the tunnel's set-up: sent on, or the set-up's failure.
            if let Some(failure) = tunnel.failed.take() {
                self.tunnel_failed(conns, i, failure, now);
                return;
            }
            if conn.timed_out {
                // The deadline scan shut the socket down.
                self.tunnel_failed(conns, i, (ErrorKind::Timeout, None), now);
                return;
            }
            if res <= 0 {
                let e = match res {
                    0 => io::ErrorKind::WriteZero.into(),
                    _ => io::Error::from_raw_os_error(-res),
                };
                let (kind, message) = proxy::io_failure(handshake.sending(), &e);
                self.tunnel_failed(conns, i, (kind, Some(message)), now);
                return;
            }
            tunnel.sent += res as usize;
            if tunnel.sent < tunnel.out.len() {
                self.send(conns, i);
            } else if std::mem::take(&mut tunnel.answered) {
                self.tunnel_open(conns, i, now);
            } else {
                self.tunnel_send(conns, i);
            }
            return;
        }
        let tls = conn.links[conn.at].tls.as_deref_mut();
        if res < 0 {
            conn.send_error = Some(-res);
        } else if let Some(tls) = tls {
            // The request counts as sent when the last of its ciphertext is.
            tls.sent += res as usize;
            if tls.all_sent() {
                conn.sent = conn.wbuf.len();
            }
        } else {
            conn.sent += res as usize;
        }
        if let Some((settled, at)) = conn.settled.take() {
            self.settle(conns, i, settled, at);
        } else if res > 0 && !conn.timed_out {
            // What is left of the request, or on a TLS link what its session has
            // to send next (the rest of its records).
            let more = match conn.links[conn.at].tls.as_deref_mut() {
                Some(tls) => tls.pending(),
                None => conn.sent < conn.wbuf.len(),
            };
            if more {
                self.send(conns, i);
            }
        }
        // Otherwise the recv in flight ends the exchange: with the response that may
        // already be on its way, or with the connection's end.
    }

    /// What VU `i`'s recv brought while its response is awaited: `res` bytes,
    /// `data`, the end of stream (0) or an errno; `now` is when it came.
    fn received(&mut self, conns: &mut [Conn], i: usize, res: i32, data: &[u8], now: Instant) {
        // On a TLS link the bytes are records: decrypted into the link's `tail`
        // first, where the response is then parsed (`data` is left empty).
        // The peer's close_notify (`closed`) ends the stream as a socket's end does.
        // A record that fails (`failed`) does not undo the ones before it: a
        // response whole before it is the response, and the failure the next
        // request's (`Link::broken`), as when it comes in a receive of its own.
        let mut data = data;
        let (mut failed, mut closed) = (None, false);
        if res > 0 && !conns[i].timed_out && conns[i].links[conns[i].at].tls.is_some() {
            match unseal(&mut conns[i], data, now) {
                Ok(peer_closed) => closed = peer_closed,
                Err(error) => failed = Some(error),
            }
            data = &[];
        }
        let conn = &mut conns[i];
        // A failed send does not decide the outcome: the server may have answered
        // before it stopped reading, and that answer is still read (Linux returns
        // data already received before reporting a reset).
        let outcome = if conn.timed_out {
            Some(Err((ErrorKind::Timeout, Why::Nothing)))
        } else if res < 0 {
            let e = io::Error::from_raw_os_error(-res);
            Some(Err((
                ErrorKind::from_io(&e, conn.parser.in_body()),
                Why::Errno(-res),
            )))
        } else if res == 0 && conn.parser.until_close() && conn.links[conn.at].tls.is_some() {
            // The socket's end without the session's close_notify (which ends
            // the stream as `closed`, below): the body may be cut short, as the
            // tokio engine (tokio-rustls's `UnexpectedEof`) judges it.
            Some(Err((ErrorKind::BodyRead, Why::Unclosed)))
        } else if res == 0 {
            Some(conn.ended())
        } else if data.is_empty() && conn.links[conn.at].tail.is_empty() {
            // TLS records with nothing for the response (the handshake's, a
            // session ticket).
            None
        } else {
            if conn.timing.first_byte.is_none() {
                conn.timing.first_byte = Some(now);
            }
            let capture = conn.capture.as_mut().filter(|_| conn.keep);
            let tail = &mut conn.links[conn.at].tail;
            // Parsed straight from the pool's buffer; only what the parser leaves
            // (a head cut at the buffer's end, bytes after the response) is copied,
            // to `tail`, and the next bytes are parsed after it.
            let parsed = if tail.is_empty() {
                conn.parser
                    .advance_into(data, capture)
                    .inspect(|&(used, _)| {
                        keep(tail, &data[used..]);
                    })
            } else {
                keep(tail, data);
                conn.parser
                    .advance_into(tail, capture)
                    .inspect(|&(used, _)| {
                        tail.drain(..used);
                    })
            };
            match parsed {
                Ok((_, done)) => done.map(Ok),
                Err(invalid) => Some(Err((ErrorKind::Protocol, Why::Invalid(invalid)))),
            }
        };
        let outcome = match (outcome, failed) {
            (Some(Ok(response)), Some(error)) => {
                conn.links[conn.at].broken = Some(error);
                Some(Ok(response))
            }
            // What came before the failing record fails the exchange already
            // (bytes that are no HTTP, a reset): that is the reason reported, and
            // the connection closes with it, the TLS failure behind it too.
            (Some(Err(e)), _) => Some(Err(e)),
            (_, Some(error)) => {
                let handshake = conn.links[conn.at]
                    .tls
                    .as_ref()
                    .is_some_and(|t| t.handshake_from.is_some());
                Some(Err(tls_failure(error, handshake, conn.parser.in_body())))
            }
            (None, None) if closed => Some(conn.ended()),
            (outcome, None) => outcome,
        };
        match outcome {
            None => {
                // A TLS session may have records to send: the handshake's end and
                // the request with it. (With the outcome known they wait for the
                // connection's next request, which `seal` sends after them.)
                if !conn.send_in_flight
                    && conn.links[conn.at]
                        .tls
                        .as_deref_mut()
                        .is_some_and(Tls::pending)
                {
                    self.send(conns, i);
                }
                self.arm(conns, i);
            }
            Some(settled) if conn.send_in_flight => {
                // The outcome came before the request was all sent. The send is
                // stopped (shutting the socket down ends it with what it sent), and
                // until its completion arrives the kernel may still read `wbuf`, so
                // the request is recorded and the next one written only then. The
                // connection, shut down, is not reused, whatever the response says;
                // a server that answers early and would have read on costs a new
                // connection (the tokio engine stops writing at this point too).
                if let Some(s) = &conn.links[conn.at].socket {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
                let settled = settled.map(|r| Response {
                    keep_alive: false,
                    ..r
                });
                conn.settled = Some((settled, now));
            }
            Some(settled) => self.settle(conns, i, settled, now),
        }
    }

    /// Act on VU `i`'s outcome: record it and go on, following a redirect if it is
    /// one. No operation of the VU's is in flight.
    fn settle(&mut self, conns: &mut [Conn], i: usize, settled: Settled, now: Instant) {
        match settled {
            Ok(Response {
                status,
                bytes,
                keep_alive,
            }) => {
                let conn = &mut conns[i];
                let at = conn.at;
                conn.timing.closed_by_server |= !keep_alive;
                // Bytes after the response answer no request (none is pipelined):
                // the connection is out of step with its requests.
                let excess = !conn.links[at].tail.is_empty();
                conn.timing.out_of_sync |= excess;
                // A request not sent whole leaves the server expecting the rest; one
                // that said `connection: close` sends no other on it.
                if !keep_alive || conn.sent < conn.wbuf.len() || conn.closes || excess {
                    self.close(conns, i, at);
                }
                let link = &mut conns[i].links[at];
                link.reused = link.socket.is_some();
                let outcome = Outcome::Response {
                    status: Status::Http(status),
                    bytes_in: bytes,
                };
                self.finish(conns, i, now, outcome);
            }
            Err((kind, why)) => {
                let conn = &mut conns[i];
                let at = conn.at;
                // A reused connection that was closed before any of a response came
                // (an idle keep-alive connection the server had closed). Once some
                // of the request went out the server may have read it: only an
                // idempotent one goes again then, as on the tokio engine
                // (`Http1::exchange`).
                let unanswered = kind == ErrorKind::Reset
                    && conn.links[at].reused
                    && !conn.parser.started()
                    && !conn.timed_out;
                let went_out =
                    conn.sent > 0 || conn.links[at].tls.as_ref().is_some_and(|t| t.sent > 0);
                if unanswered && (conn.idempotent || !went_out) {
                    self.reconnect(conns, i, now);
                    return;
                }
                let why = if unanswered {
                    conn.timing.closed_by_server = true;
                    Why::Unanswered
                } else {
                    why
                };
                // A connection lost before its TLS handshake was over (the server
                // closed or reset it) is the handshake's failure.
                let handshake = conn.links[at]
                    .tls
                    .as_ref()
                    .is_some_and(|t| t.handshake_from.is_some());
                // Classed as the tokio engine classes a failed handshake: a reset or
                // an end of stream is a reset, any other errno the handshake's.
                let kind = match why {
                    Why::Errno(e) if handshake && e != libc::ECONNRESET => ErrorKind::Tls,
                    _ => kind,
                };
                // As the tokio engine's driver drops a slot's connection on an error.
                self.close(conns, i, at);
                conns[i].links[at].reused = false;
                if handshake {
                    // A connection is open once TCP is connected and TLS handshaken
                    // (docs/json.md), as the tokio engine counts one: one whose
                    // handshake failed is neither in `connections.opened` nor timed
                    // in the connect phase, and it does not end a connect back-off.
                    conns[i].timing.opened = None;
                    conns[i].connected = false;
                }
                let timeout = self.shared.plan.transport.timeout;
                let program: &Program = self.program;
                let authority = &program.origins[at].authority;
                let unanswered = matches!(why, Why::Unanswered)
                    .then(|| closed_after_sending(conns[i].vu.method(program)));
                // What the tokio engine's driver words itself (and `-v` shows):
                // a handshake's failure, bytes that are no HTTP, a TLS record's
                // failure; a timeout, or a reset during an exchange, it leaves to
                // the error kind.
                let shown = match why {
                    Why::Nothing => handshake && kind != ErrorKind::Timeout,
                    Why::Errno(_) => handshake,
                    Why::Invalid(_) | Why::Tls { .. } | Why::Unanswered | Why::Unclosed => true,
                };
                // Worded as the tokio engine words a failed handshake (tokio-rustls
                // calls an end of stream during one `tls handshake eof`).
                self.note_detail(&mut conns[i], kind, shown, || match why {
                    Why::Nothing if handshake && kind != ErrorKind::Timeout => {
                        format!("TLS handshake with {authority}: tls handshake eof")
                    }
                    Why::Nothing => default_detail(kind, timeout),
                    Why::Errno(e) if handshake => format!(
                        "TLS handshake with {authority}: {}",
                        io::Error::from_raw_os_error(e)
                    ),
                    Why::Errno(e) => io::Error::from_raw_os_error(e).to_string(),
                    Why::Invalid(invalid) => invalid.detail(),
                    Why::Unanswered => unanswered.unwrap_or_default(),
                    Why::Unclosed => unclosed_body(authority),
                    Why::Tls { error, handshake } => format!(
                        "TLS {}with {authority}: {error}",
                        if handshake { "handshake " } else { "" },
                    ),
                });
                self.finish(conns, i, now, Outcome::Error(kind));
            }
        }
    }

    /// Note the detail of `conn`'s failure `kind` for the report (the first of
    /// each kind is kept) and, with `-v` and when `shown` (a detail the tokio
    /// engine's drivers give too), to print with its exchange (`finish`); worded
    /// only when one of them keeps it.
    fn note_detail(
        &mut self,
        conn: &mut Conn,
        kind: ErrorKind,
        shown: bool,
        detail: impl FnOnce() -> String,
    ) {
        if shown && self.shared.verbose.is_some() {
            let text = detail();
            self.stats.note_error_detail(kind, || text.clone());
            conn.detail = Some(text);
        } else {
            self.stats.note_error_detail(kind, detail);
        }
    }

    /// Hand VU `i`'s finished exchange to its machine, then send what comes next: the
    /// redirect it leads to, or the VU's next request.
    fn finish(&mut self, conns: &mut [Conn], i: usize, now: Instant, outcome: Outcome) {
        let conn = &mut conns[i];
        let decoded = crate::decode::after_exchange(
            self.shared.plan.transport.compressed,
            &outcome,
            conn.capture.as_mut().filter(|_| conn.keep),
        );
        let mut timing = conn.timing;
        // On a reused connection the send went with the request's submission.
        timing.written = timing.written.or(Some(conn.started));
        let exchange = Exchange {
            outcome,
            start: conn.started,
            end: now,
            intended: conn.intended.take(),
            bytes_sent: conn.sent as u64,
            capture: conn.capture.as_ref(),
            location: &conn.parser.location,
            timing,
            decoded,
        };
        if let Some(verbose) = &self.shared.verbose {
            let program: &Program = self.program;
            let mut request = conn.vu.request(program);
            // As it was sent (`write`).
            if conn.sampled.is_some() {
                request.traceparent = conn.tracer.as_ref().map(Tracer::header);
            }
            let answer = crate::verbose::Answer {
                outcome,
                capture: conn.capture.as_ref().filter(|_| conn.keep),
                detail: conn.detail.as_deref(),
            };
            let transport = &self.shared.transport;
            let info = &transport.infos[request.step.index()];
            verbose.exchange(program, &transport.dial, &request, info, answer);
            conn.detail = None;
        }
        if let Some(ids) = conn.sampled.take() {
            let step = conn.vu.step().index() as u32;
            let span = crate::trace::span_in_run(
                self.shared,
                ids,
                step,
                conn.started,
                now,
                outcome,
                &timing,
            );
            self.stats.span(span);
        }
        let mut worker = Worker {
            program: self.program,
            stats: self.stats,
            max_redirects: self.shared.plan.transport.max_redirects,
        };
        let after = conn.vu.complete(&mut worker, &exchange);
        let error = match outcome {
            Outcome::Error(kind) => Some(kind),
            Outcome::Response { .. } => None,
        };
        if let Some(wait) = conn.backoff.after(error, conn.connected) {
            // A failed connect is never a redirect: the step is over. The VU waits
            // out its back-off, parked (see `drive`).
            conn.phase = Phase::Idle;
            self.pause(i, now + wait);
            return;
        }
        match after {
            After::Done => self.next_request(conns, i, now),
            After::Redirect { .. } => self.follow_redirect(conns, i, now),
        }
    }

    /// Send the redirect VU `i` follows. A VU here has a link to each of the
    /// program's origins, and a redirect to one of them goes on it (`issue`); a
    /// redirect to an origin the program does not name ends the engine's part of the
    /// run, and the tokio engine, which can follow it, runs the VUs from then on
    /// (each VU machine moves over as it is, the redirect still to send).
    fn follow_redirect(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let conn = &mut conns[i];
        // Between requests until the redirect goes out: nothing of the last
        // exchange is awaited any more (a wait for a rate-cap slot must not take
        // the connection's end, or its bytes, for an outcome, nor time out).
        conn.phase = Phase::Idle;
        // The VU's connection slots list the program's origins first (`Origins`).
        if conn
            .vu
            .redirect()
            .is_some_and(|h| h.slot >= conn.links.len())
        {
            self.handoff = true;
            self.next_request(conns, i, now);
            return;
        }
        if !self.paced(conns, i, now, Wake::Redirect) {
            return;
        }
        if !self.shared.may_continue() {
            conns[i].vu.abandon_redirect(self.program);
            self.next_request(conns, i, now);
            return;
        }
        if self.write(conns, i, now) {
            self.issue(conns, i, now, false);
        }
    }
}

/// A TLS session's failure as an exchange's outcome: the handshake's, or after it
/// classed as the tokio engine classes what tokio-rustls reports as invalid data
/// (`in_body`: the response's head had come).
fn tls_failure(error: rustls::Error, handshake: bool, in_body: bool) -> (ErrorKind, Why) {
    let kind = if handshake {
        ErrorKind::Tls
    } else {
        ErrorKind::from_io(&io::Error::from(io::ErrorKind::InvalidData), in_body)
    };
    (kind, Why::Tls { error, handshake })
}

/// What VU `i`'s TLS link received while its response is awaited, `data`, through
/// its session into the link's `tail`. When that ends the handshake, the
/// handshake's time is recorded (the request then goes out with the client's
/// Finished, see `Engine::received`). Returns whether the peer closed the
/// session.
///
/// # Errors
///
/// The session's, when `data` is no valid TLS for it.
fn unseal(conn: &mut Conn, data: &[u8], now: Instant) -> Result<bool, rustls::Error> {
    let link = &mut conn.links[conn.at];
    let closed = link.take_in(data)?;
    let Some(tls) = link.tls.as_deref_mut() else {
        return Ok(closed);
    };
    if let Some(from) = tls.handshake_from
        && tls.session.as_ref().is_some_and(|s| !s.is_handshaking())
    {
        tls.handshake_from = None;
        if let Some(opened) = &mut conn.timing.opened {
            opened.tls = Some(now.saturating_duration_since(from));
        }
        conn.timing.written = Some(now);
    }
    Ok(closed)
}

/// Append `bytes` to a connection's `tail`. Its first allocation holds a typical
/// response head (`TAIL_MIN`), so that a run of small responses that span buffers
/// allocates once per connection, not once per size.
fn keep(tail: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if tail.capacity() == 0 {
        tail.reserve(TAIL_MIN.max(bytes.len()));
    }
    tail.extend_from_slice(bytes);
}

/// The kernel's receive timestamps turned into the loop's clock. Each socket has
/// `SO_TIMESTAMPNS` on, so every completion of its multishot `recvmsg` carries the
/// time (`CLOCK_REALTIME`) its last bytes reached the host's network stack; the
/// realtime clock is read beside the round's monotonic reading, and a stamp becomes
/// `now` less how long before that reading it was.
///
/// The two readings are a pair only when nothing comes between them: a thread
/// preempted there (a busy machine, a virtual CPU descheduled) misplaces every
/// stamp of the round by the time it lost, and a response could end before its
/// request began. Read back to back on this 2-CPU virtual machine, 1 pair in
/// 12,600 was more than 1 µs apart and 1 in 130,000 more than 10 µs (up to
/// 147 µs; a response on loopback comes in tens of µs). So the realtime clock is
/// read on both sides of the monotonic one, the pair placed at the middle, and read
/// again while the two realtime readings are more than `PAIR_WITHIN` apart (at most
/// `PAIR_TRIES` times, the closest kept): a stamp is then as precise as the
/// kernel's own, within half a microsecond.
#[derive(Clone, Copy)]
struct Clock {
    now: Instant,
    real: Duration,
}

/// How far apart the realtime readings around a monotonic one may be for the
/// three to count as one moment (see `Clock`).
const PAIR_WITHIN: Duration = Duration::from_micros(1);
/// How many times `Clock::read` reads the clocks for a pair within `PAIR_WITHIN`.
const PAIR_TRIES: usize = 4;

impl Clock {
    fn read() -> Clock {
        // `SystemTime` is `CLOCK_REALTIME`, the stamps' clock.
        let realtime = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        };
        Clock::pair(realtime, Instant::now)
    }

    /// The clocks read as a pair: `real`, `mono`, `real` again, until the two
    /// realtime readings are within `PAIR_WITHIN` (the closest of `PAIR_TRIES`
    /// otherwise). A realtime clock stepped back between them counts as no gap.
    fn pair(mut real: impl FnMut() -> Duration, mut mono: impl FnMut() -> Instant) -> Clock {
        let mut best: Option<(Duration, Clock)> = None;
        for _ in 0..PAIR_TRIES {
            let before = real();
            let now = mono();
            let gap = real().saturating_sub(before);
            let clock = Clock {
                now,
                real: before + gap / 2,
            };
            if gap <= PAIR_WITHIN {
                return clock;
            }
            if best.is_none_or(|(closest, _)| gap < closest) {
                best = Some((gap, clock));
            }
        }
        best.map_or_else(|| unreachable!("PAIR_TRIES is not 0"), |(_, clock)| clock)
    }

    /// When bytes stamped `at` (realtime) came, on the loop's clock: never after
    /// `now` (a stamp ahead of the reading, the realtime clock stepped back, is
    /// taken as `now`).
    fn when(&self, at: Duration) -> Instant {
        self.now
            .checked_sub(self.real.saturating_sub(at))
            .unwrap_or(self.now)
    }
}

/// The `msghdr` every multishot `recvmsg` is armed with: no address, and room for
/// one control message, the receive timestamp. The kernel reads it when the
/// operation is submitted; the pool's buffers then hold, each, the kernel's
/// `io_uring_recvmsg_out` header, that control message and the payload.
fn recvmsg_header() -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid (no name, no iovec, no control).
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    // SAFETY: CMSG_SPACE only computes a size. (The field is a `size_t` with glibc,
    // a `socklen_t` with musl, where the padding beside it, zeroed above, makes the
    // 64-bit length the kernel reads.)
    hdr.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::timespec>() as u32) } as _;
    hdr
}

/// Turn a socket's receive timestamps on (see `Clock`).
fn stamp_receipts(socket: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid descriptor, and an int option of the right size.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            std::ptr::from_ref(&on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The receive timestamp among a `recvmsg`'s control messages (`SCM_TIMESTAMPNS`),
/// as realtime since the epoch; `None` without one.
pub(crate) fn receipt_time(control: &[u8]) -> Option<Duration> {
    // SAFETY: CMSG_LEN only computes a size.
    let head = unsafe { libc::CMSG_LEN(0) } as usize;
    let mut rest = control;
    while rest.len() >= head {
        // SAFETY: at least a header's bytes; read unaligned, as the buffer gives
        // no alignment guarantee this code relies on.
        let cmsg: libc::cmsghdr = unsafe { std::ptr::read_unaligned(rest.as_ptr().cast()) };
        // A `size_t` with glibc, a `socklen_t` with musl.
        let len = cmsg.cmsg_len as usize;
        if len < head || len > rest.len() {
            return None;
        }
        if cmsg.cmsg_level == libc::SOL_SOCKET
            && cmsg.cmsg_type == libc::SCM_TIMESTAMPNS
            && len - head >= size_of::<libc::timespec>()
        {
            // SAFETY: the message's data holds a timespec (checked length).
            let ts: libc::timespec =
                unsafe { std::ptr::read_unaligned(rest[head..].as_ptr().cast()) };
            return Some(Duration::new(
                u64::try_from(ts.tv_sec).unwrap_or(0),
                u32::try_from(ts.tv_nsec).unwrap_or(0),
            ));
        }
        // The next message starts at this one's length rounded up (CMSG_ALIGN).
        let step = len.next_multiple_of(size_of::<usize>());
        rest = rest.get(step..).unwrap_or(&[]);
    }
    None
}

/// An operation's user data: the socket's number (`Link::sock`, 24 bits), the
/// link's origin (8 bits, `MAX_ORIGINS`), the VU's index (24 bits, `MAX_VUS`) and
/// the operation (8 bits).
const fn tag(i: usize, o: usize, sock: u32, op: u64) -> u64 {
    debug_assert!(i < MAX_VUS && o < MAX_ORIGINS);
    (((sock & 0xff_ffff) as u64) << 40)
        | ((o as u64 & 0xff) << 32)
        | ((i as u64 & 0xff_ffff) << 8)
        | op
}

/// The first instant at or after `at` on the grid of `PAUSE_TICK`s from `start`.
fn on_tick(at: Instant, start: Instant) -> Instant {
    let tick = PAUSE_TICK.as_nanos() as u64;
    // A run's nanoseconds fit in 64 bits for 584 years.
    let since = at.saturating_duration_since(start).as_nanos() as u64;
    start + Duration::from_nanos(since.div_ceil(tick) * tick)
}

/// The parts of a [`tag`]: the VU's index, the link's origin, its socket's
/// number, the operation.
fn untag(data: u64) -> (usize, usize, u32, u64) {
    (
        ((data >> 8) & 0xff_ffff) as usize,
        ((data >> 32) & 0xff) as usize,
        (data >> 40) as u32,
        data & 0xff,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;
    use std::sync::atomic::AtomicU64;

    thread_local! {
        /// The pool's buffer count for runs on this thread, instead of
        /// `Pool::count_for`'s: a pool small enough to run dry.
        pub(crate) static POOL_BUFS: Cell<Option<usize>> = const { Cell::new(None) };
        /// Receive completions with data that carried the kernel's timestamp, in
        /// runs on this thread.
        pub(crate) static STAMPED: Cell<u64> = const { Cell::new(0) };
        /// Waits that asked for a batch of completions (`REAP_WITHIN`), in runs on
        /// this thread.
        pub(crate) static BATCHED: Cell<u64> = const { Cell::new(0) };
    }

    /// Ports whose origins run on the tokio engine in this process's tests, as
    /// `KAIOKEN_NO_IO_URING` would make every run (which would reach the tests
    /// running beside them): each test names its own server's.
    pub(crate) static ON_TOKIO: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

    /// A pause ends on the first tick at or after it; one on a tick ends there.
    #[test]
    fn a_pause_ends_on_the_next_tick() {
        use super::{PAUSE_TICK, on_tick};
        use std::time::{Duration, Instant};
        let start = Instant::now();
        assert_eq!(on_tick(start, start), start);
        assert_eq!(on_tick(start + PAUSE_TICK, start), start + PAUSE_TICK);
        let at = start + Duration::from_millis(7) + Duration::from_nanos(1);
        assert_eq!(
            on_tick(at, start),
            start + Duration::from_millis(7) + PAUSE_TICK
        );
        for us in [1, 99, 250, 251, 1_000, 3_600_000_000] {
            let at = start + Duration::from_micros(us);
            let tick = on_tick(at, start);
            assert!(tick >= at && tick - at < PAUSE_TICK, "{us} µs");
            assert_eq!((tick - start).as_nanos() % PAUSE_TICK.as_nanos(), 0);
        }
        // Before the start (a timer set then): the start.
        assert_eq!(on_tick(start, start + PAUSE_TICK), start + PAUSE_TICK);
    }

    /// How many times a multishot recv ended because the pool ran dry.
    pub(crate) static RAN_DRY: AtomicU64 = AtomicU64::new(0);

    /// A control message carrying a receive timestamp is found, after another
    /// message; a truncated or foreign one yields nothing.
    #[test]
    fn a_receipt_time_is_read_from_the_control_messages() {
        use super::receipt_time;
        use std::time::Duration;
        fn message(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
            // SAFETY: CMSG_LEN/CMSG_SPACE only compute sizes.
            let (len, space) = unsafe {
                (
                    libc::CMSG_LEN(data.len() as u32) as usize,
                    libc::CMSG_SPACE(data.len() as u32) as usize,
                )
            };
            let mut out = vec![0u8; space];
            let head = len - data.len();
            out[..size_of::<usize>()].copy_from_slice(&len.to_ne_bytes());
            out[size_of::<usize>()..size_of::<usize>() + 4].copy_from_slice(&level.to_ne_bytes());
            out[size_of::<usize>() + 4..size_of::<usize>() + 8]
                .copy_from_slice(&kind.to_ne_bytes());
            out[head..head + data.len()].copy_from_slice(data);
            out
        }
        let mut stamp = Vec::new();
        stamp.extend_from_slice(&1_700_000_000i64.to_ne_bytes());
        stamp.extend_from_slice(&123_456_789i64.to_ne_bytes());
        let ts = message(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &stamp);
        let want = Some(Duration::new(1_700_000_000, 123_456_789));
        assert_eq!(receipt_time(&ts), want);
        let mut two = message(libc::SOL_IP, libc::IP_TOS, &[7]);
        two.extend_from_slice(&ts);
        assert_eq!(receipt_time(&two), want, "found after another message");
        assert_eq!(receipt_time(&ts[..ts.len() - 1]), None, "cut short");
        assert_eq!(
            receipt_time(&message(libc::SOL_IP, libc::IP_TOS, &[7])),
            None
        );
        assert_eq!(receipt_time(&[]), None);
    }

    /// A stamp becomes the time that long before the round's reading, and never
    /// later than it.
    #[test]
    fn a_stamp_is_placed_on_the_loops_clock() {
        use super::Clock;
        use std::time::{Duration, Instant};
        let clock = Clock {
            now: Instant::now(),
            real: Duration::from_secs(1_000),
        };
        let earlier = Duration::from_secs(1_000) - Duration::from_micros(250);
        assert_eq!(clock.now - clock.when(earlier), Duration::from_micros(250));
        assert_eq!(clock.when(Duration::from_secs(1_001)), clock.now);
    }

    /// A pair whose realtime readings are far apart (the thread preempted between
    /// them) is read again; the first close one is taken, placed at the middle of
    /// its realtime readings, or else the closest of the tries.
    #[test]
    fn the_clocks_are_read_again_until_their_readings_are_a_pair() {
        use super::{Clock, PAIR_TRIES};
        use std::time::{Duration, Instant};
        let start = Instant::now();
        let us = Duration::from_micros;
        // Realtime readings in pairs (before, after) and the monotonic reading
        // between each pair, in µs.
        let read = |reals: &[u64], monos: &[u64]| {
            let (mut r, mut m) = (reals.iter(), monos.iter());
            let clock = Clock::pair(
                || us(*r.next().expect("read no more than PAIR_TRIES pairs")),
                || start + us(*m.next().expect("read no more than PAIR_TRIES pairs")),
            );
            (clock.now - start, clock.real, r.len())
        };
        // Preempted for 50 µs in the first try, then a close pair.
        let (now, real, left) = read(&[1_000, 1_050, 1_060, 1_061, 9, 9], &[5, 60, 9]);
        assert_eq!((now, left), (us(60), 2));
        assert_eq!(real, us(1_060) + Duration::from_nanos(500));
        // Never close: the closest of the tries.
        let reals: Vec<u64> = (0..PAIR_TRIES as u64)
            .flat_map(|k| [100 * k, 100 * k + 30 - k])
            .collect();
        let monos: Vec<u64> = (0..PAIR_TRIES as u64).map(|k| 100 * k + 5).collect();
        let last = PAIR_TRIES as u64 - 1;
        let (now, real, _) = read(&reals, &monos);
        assert_eq!(now, us(100 * last + 5));
        assert_eq!(real, us(100 * last) + (us(30 - last) / 2));
        // A realtime clock stepped back between the readings is no gap.
        let (now, real, _) = read(&[500, 400], &[7]);
        assert_eq!((now, real), (us(7), us(500)));
    }

    /// A tag gives back what it was made of, at the bounds of each part: the
    /// last VU, the last origin, a socket number that wrapped.
    #[test]
    fn tags_keep_vu_origin_socket_and_operation_apart() {
        use super::{MAX_ORIGINS, MAX_VUS, OP_CONNECT, OP_RECV, OP_SEND, tag, untag};
        for (i, o, sock, op) in [
            (0, 0, 0, OP_CONNECT),
            (MAX_VUS - 1, MAX_ORIGINS - 1, 0xff_ffff, OP_RECV),
            (12_345, 1, 7, OP_SEND),
            (1, MAX_ORIGINS - 1, 0, OP_RECV),
        ] {
            assert_eq!(untag(tag(i, o, sock, op)), (i, o, sock, op));
        }
        // Neighbours differ: the same VU's sockets to two origins, and a socket's
        // successor on the same link.
        assert_ne!(tag(3, 0, 5, OP_RECV), tag(3, 1, 5, OP_RECV));
        assert_ne!(tag(3, 1, 5, OP_RECV), tag(3, 1, 6, OP_RECV));
    }
}
