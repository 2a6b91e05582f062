//! The io_uring HTTP/1.1 engine: one ring per worker thread, every VU's socket on it.
//!
//! Used for the case that load generators are measured on: the closed model, plain
//! `http://`, HTTP/1.1, one origin, no rate cap, stages or ramp-up (the tokio engine
//! serves everything else). Why a second engine: on loopback ~85% of a generator's
//! CPU is the kernel's, and the tokio engine makes about 2.6 syscalls per request
//! (write, read, and epoll_wait when a read would block). Here a request is two
//! submission entries, a `send` that posts no completion unless it fails and a `recv`,
//! and one `io_uring_enter` submits every queued request and reaps every completion
//! that is ready. With `SINGLE_ISSUER | DEFER_TASKRUN` the kernel runs completions
//! when the thread waits, not as interrupts.
//!
//! Timing stays honest: one clock reading when the wait returns is every reaped
//! response's end time, and one reading just before submitting is the start of every
//! request in that submission. The wait asks for one completion (no batching delay
//! is added to any response).
//!
//! Buffers: each VU owns its write and read buffer for the whole run; the kernel writes
//! into them only between submission and completion, and the ring is dropped before
//! them, so no operation can outlive the memory it uses.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, squeue, types};
use kaioken_vm::{Method, Program, Protocol, Scheme, Yield};
use socket2::{SockAddr, Socket, Type};

use crate::http1::write_request;
use crate::response_parser::{Response, ResponseParser};
use crate::shared::Shared;
use crate::stats::{Outcome, WorkerStats};
use crate::vu::{After, Exchange, Vu, Worker};
use crate::worker::default_detail;
use crate::{ErrorKind, StopReason};

const READ_BUF: usize = 16 * 1024;
/// How often request deadlines are checked; a timed-out request is noticed within
/// this of its deadline.
const SCAN_EVERY: Duration = Duration::from_millis(20);

const OP_CONNECT: u64 = 1;
const OP_SEND: u64 = 2;
const OP_RECV: u64 = 3;

/// Whether this run can use the io_uring engine, and the address to connect to.
pub(crate) fn eligible(shared: &Shared) -> Option<SocketAddr> {
    let plan = &shared.plan;
    let load = &plan.load;
    let simple = load.arrival.is_none()
        && shared.profile.is_none()
        && load.rate.is_none()
        && load.ramp_up.is_zero()
        && plan.program.origins.len() == 1
        && plan
            .program
            .steps
            .iter()
            .all(|s| s.protocol == Protocol::Http1)
        && !plan.program.has_think_time()
        && std::env::var_os("KAIOKEN_NO_IO_URING").is_none();
    let origin = plan.program.origins.first()?;
    if !simple || origin.scheme != Scheme::Http {
        return None;
    }
    // Only literal addresses: a name that fails to resolve is the tokio engine's to
    // classify and report.
    let ip: IpAddr = origin.host.parse().ok()?;
    Some(SocketAddr::new(ip, origin.port))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No operation in flight; the VU is between requests (or finished).
    Idle,
    Connecting,
    /// `send` and `recv` submitted; waiting for the response.
    Exchanging,
}

struct Conn {
    /// The VU machine: VM state, cookies, step and redirect in progress.
    vu: Vu,
    socket: Option<Socket>,
    addr: SockAddr,
    wbuf: Vec<u8>,
    rbuf: Box<[u8]>,
    /// Unparsed response bytes are `rbuf[rstart..rend]`.
    rstart: usize,
    rend: usize,
    parser: ResponseParser,
    /// The response's head and body, when checks read them.
    capture: Option<crate::response_parser::Capture>,
    /// Whether this step's response is kept in `capture` (see `StepInfo::keep`).
    keep: bool,
    phase: Phase,
    /// When the request was submitted (set for the whole batch at submission).
    started: Instant,
    /// The deadline passed: the socket was shut down and the outcome is a timeout.
    timed_out: bool,
    /// A failed `send` (its completion arrives before the `recv`'s).
    send_error: Option<i32>,
    done: bool,
}

/// How the io_uring engine's part of a run ended.
pub(crate) struct Finished {
    /// Requests a hard stop cut off.
    pub unfinished: u64,
    /// A redirect led to another origin: the tokio engine runs these VUs from here,
    /// as they are (empty when the run simply ended).
    pub handoff: Vec<Vu>,
}

/// The io_uring engine's worker: runs `vus` (VU numbers) until the run stops, or
/// until a redirect leads elsewhere than the one origin it connects to.
///
/// # Errors
///
/// When io_uring cannot be set up (an old kernel, or seccomp forbids it): the caller
/// falls back to the tokio engine before any request was sent.
pub(crate) fn run_worker(
    shared: &Shared,
    program: &Program,
    index: usize,
    addr: SocketAddr,
    vus: &[u32],
    stats: &mut WorkerStats,
) -> io::Result<Finished> {
    let entries = (2 * vus.len() + 8).next_power_of_two() as u32;
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(entries.max(8))?;
    // From here on nothing fails back to the caller: the run has begun.
    Ok(drive(
        shared, program, index, addr, vus, stats, &mut ring, entries,
    ))
}

/// The event loop.
// Each argument is a part of the worker this loop runs; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn drive(
    shared: &Shared,
    program: &Program,
    index: usize,
    addr: SocketAddr,
    vus: &[u32],
    stats: &mut WorkerStats,
    ring: &mut IoUring,
    entries: u32,
) -> Finished {
    let mut conns: Vec<Conn> = vus
        .iter()
        .map(|&number| Conn {
            vu: Vu::new(program, number, shared.plan.transport.cookie_jar),
            socket: None,
            addr: SockAddr::from(addr),
            wbuf: Vec::with_capacity(1024),
            rbuf: vec![0u8; READ_BUF].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            parser: ResponseParser::new(false),
            capture: crate::judge::capture_for(program, shared.plan.transport.cookie_jar),
            keep: false,
            phase: Phase::Idle,
            started: Instant::now(),
            timed_out: false,
            send_error: None,
            done: false,
        })
        .collect();
    stats.vus_changed(Instant::now(), conns.len() as i64);
    let mut engine = Engine {
        shared,
        program,
        index,
        stats,
        pending: Vec::with_capacity(conns.len() * 2),
        submitted: Vec::with_capacity(conns.len()),
        remaining: conns.len(),
        deferred: Vec::new(),
        handoff: false,
    };
    let now = Instant::now();
    for i in 0..conns.len() {
        engine.next_request(&mut conns, i, now);
    }
    let mut completions: Vec<(u64, i32)> = Vec::with_capacity(entries as usize * 2);
    let mut next_scan = Instant::now() + SCAN_EVERY;
    let timeout = shared.plan.transport.timeout;
    let wait = types::Timespec::new().nsec(SCAN_EVERY.as_nanos() as u32);
    loop {
        if shared.control.is_hard_stopped() || (engine.remaining == 0 && engine.pending.is_empty())
        {
            break;
        }
        let now = Instant::now();
        for i in std::mem::take(&mut engine.deferred) {
            engine.next_request(&mut conns, i, now);
        }
        // Queue what the last round produced, then one syscall: submit and wait.
        {
            let mut sq = ring.submission();
            for entry in engine.pending.drain(..) {
                // SAFETY: every entry points into a `Conn`'s buffers or address, which
                // live in `conns` (never resized) until after the ring is dropped.
                if unsafe { sq.push(&entry) }.is_err() {
                    // Cannot happen: the queue holds two entries per VU and a VU
                    // never has more queued. Stop rather than lose a request.
                    shared.control.hard_stop();
                    break;
                }
            }
        }
        let submit_at = Instant::now();
        for &i in &engine.submitted {
            conns[i].started = submit_at;
        }
        engine.submitted.clear();
        let args = types::SubmitArgs::new().timespec(&wait);
        match ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::ETIME)
                    || e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => {
                engine
                    .stats
                    .note_error_detail(ErrorKind::Other, || format!("io_uring: {e}"));
                break;
            }
        }
        let now = Instant::now();
        completions.clear();
        completions.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for &(data, res) in &completions {
            engine.complete(&mut conns, (data >> 8) as usize, data & 0xff, res, now);
        }
        if shared.deadline.is_some_and(|d| now >= d) {
            shared.control.stop(StopReason::Duration);
        }
        if now >= next_scan {
            next_scan = now + SCAN_EVERY;
            for conn in conns.iter_mut() {
                if conn.phase != Phase::Idle
                    && !conn.timed_out
                    && now.duration_since(conn.started) >= timeout
                {
                    conn.timed_out = true;
                    if let Some(s) = &conn.socket {
                        let _ = s.shutdown(std::net::Shutdown::Both);
                    }
                }
            }
        }
    }
    let unfinished = conns.iter().filter(|c| c.phase != Phase::Idle).count() as u64;
    engine
        .stats
        .vus_changed(Instant::now(), -(conns.len() as i64));
    if unfinished > 0 {
        // Operations may still be in flight in the kernel, writing into these
        // buffers; they are given up to it (the process is about to report and
        // exit) rather than freed under it.
        for conn in &conns {
            if let Some(s) = &conn.socket {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        std::mem::forget(conns);
        return Finished {
            unfinished,
            handoff: Vec::new(),
        };
    }
    let handoff = if engine.handoff {
        conns.into_iter().map(|c| c.vu).collect()
    } else {
        Vec::new()
    };
    Finished {
        unfinished,
        handoff,
    }
}

struct Engine<'a> {
    shared: &'a Shared,
    /// The worker's own copy of the program (see `worker::worker`).
    program: &'a Program,
    index: usize,
    stats: &'a mut WorkerStats,
    /// Entries to submit in the next round.
    pending: Vec<squeue::Entry>,
    /// Conns whose request goes out in the next round (their start time).
    submitted: Vec<usize>,
    /// VUs that have not finished.
    remaining: usize,
    /// VUs to start again next round (their socket could not be opened; starting them
    /// again at once would spin).
    deferred: Vec<usize>,
    /// A redirect led to another origin: finish what is in flight, then hand the VUs
    /// to the tokio engine.
    handoff: bool,
}

impl Engine<'_> {
    /// Start VU `i`'s next request, connecting first if needed; or mark it done.
    fn next_request(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let shared = self.shared;
        let program: &Program = self.program;
        let conn = &mut conns[i];
        conn.phase = Phase::Idle;
        if conn.done {
            return;
        }
        if shared.control.is_stopping() || shared.deadline.is_some_and(|d| now >= d) || self.handoff
        {
            conn.done = true;
            self.remaining -= 1;
            return;
        }
        // A request starts an iteration when the VU was between iterations, or passed
        // the end of one on the way to this request.
        let mut new_iteration = conn.vu.between_iterations(program);
        loop {
            match conn.vu.next(program) {
                Yield::Send(_) => break,
                Yield::IterationDone | Yield::IterationAborted => new_iteration = true,
                // Programs with think time run on the tokio engine (see `eligible`).
                Yield::Sleep(_) => debug_assert!(false, "think time on the io_uring engine"),
            }
        }
        if !shared.claim() {
            conn.done = true;
            self.remaining -= 1;
            return;
        }
        if new_iteration {
            self.stats.iteration_started(now, None);
        }
        self.write(conns, i);
        self.issue(conns, i, now);
    }

    /// Write VU `i`'s request (its step's, or the redirect it follows) into its buffer.
    fn write(&mut self, conns: &mut [Conn], i: usize) {
        let program: &Program = self.program;
        let conn = &mut conns[i];
        let request = conn.vu.request(program);
        write_request(
            &mut conn.wbuf,
            program,
            request.state,
            request.step,
            &self.shared.transport.infos[request.step.index()],
            request.cookie,
            request.hop,
        );
    }

    /// Send the request written in VU `i`'s buffer, connecting first if needed.
    fn issue(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let shared = self.shared;
        let program: &Program = self.program;
        let conn = &mut conns[i];
        let step = conn.vu.step();
        let is_head = *conn.vu.method(program) == Method::Head;
        conn.timed_out = false;
        conn.send_error = None;
        conn.parser = ResponseParser::new(is_head)
            .following_redirects(shared.plan.transport.max_redirects > 0);
        let keep = shared.transport.infos[step.index()].keep;
        conn.keep = keep.any();
        if let Some(c) = conn.capture.as_mut().filter(|_| conn.keep) {
            c.start(keep.body);
        }
        self.submitted.push(i);
        if conn.socket.is_none() {
            match Socket::new(conn.addr.domain(), Type::STREAM, None) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let fd = types::Fd(s.as_raw_fd());
                    conn.socket = Some(s);
                    conn.phase = Phase::Connecting;
                    let entry =
                        opcode::Connect::new(fd, conn.addr.as_ptr().cast(), conn.addr.len())
                            .build()
                            .user_data(tag(i, OP_CONNECT));
                    self.pending.push(entry);
                }
                Err(e) => {
                    self.stats.note_error_detail(ErrorKind::Connect, || {
                        format!("cannot open a socket: {e}")
                    });
                    let exchange = Exchange {
                        outcome: Outcome::Error(ErrorKind::Connect),
                        start: now,
                        end: now,
                        intended: None,
                        bytes_sent: 0,
                        capture: None,
                        location: &[],
                    };
                    let mut worker = Worker {
                        program,
                        stats: self.stats,
                        live: &self.shared.live[self.index],
                        max_redirects: shared.plan.transport.max_redirects,
                    };
                    // A failure is never a redirect: the step is over.
                    conn.vu.complete(&mut worker, &exchange);
                    self.deferred.push(i);
                }
            }
            return;
        }
        self.exchange(conns, i);
    }

    /// Queue the request's `send` (no completion unless it fails) and a `recv`.
    fn exchange(&mut self, conns: &mut [Conn], i: usize) {
        let conn = &mut conns[i];
        let Some(socket) = &conn.socket else { return };
        let fd = types::Fd(socket.as_raw_fd());
        conn.phase = Phase::Exchanging;
        let send = opcode::Send::new(fd, conn.wbuf.as_ptr(), conn.wbuf.len() as u32)
            .flags(libc::MSG_WAITALL | libc::MSG_NOSIGNAL)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(tag(i, OP_SEND));
        self.pending.push(send);
        self.recv(conns, i);
    }

    fn recv(&mut self, conns: &mut [Conn], i: usize) {
        let conn = &mut conns[i];
        let Some(socket) = &conn.socket else { return };
        if conn.rstart == conn.rend {
            conn.rstart = 0;
            conn.rend = 0;
        } else if conn.rend == conn.rbuf.len() {
            conn.rbuf.copy_within(conn.rstart..conn.rend, 0);
            conn.rend -= conn.rstart;
            conn.rstart = 0;
            if conn.rend == conn.rbuf.len() {
                // A head (or chunk-size line) longer than the buffer: grow it, on this
                // cold path only. No operation is using the buffer now (its recv has
                // completed); the parser stops a head at MAX_HEAD.
                let mut bigger = vec![0u8; conn.rbuf.len() * 2].into_boxed_slice();
                bigger[..conn.rend].copy_from_slice(&conn.rbuf[..conn.rend]);
                conn.rbuf = bigger;
            }
        }
        let free = &mut conn.rbuf[conn.rend..];
        let entry = opcode::Recv::new(
            types::Fd(socket.as_raw_fd()),
            free.as_mut_ptr(),
            free.len() as u32,
        )
        .build()
        .user_data(tag(i, OP_RECV));
        self.pending.push(entry);
    }

    fn complete(&mut self, conns: &mut [Conn], i: usize, op: u64, res: i32, now: Instant) {
        if i >= conns.len() {
            return;
        }
        match op {
            OP_CONNECT if res < 0 => {
                let kind = if -res == libc::ECONNREFUSED {
                    ErrorKind::ConnectRefused
                } else {
                    ErrorKind::Connect
                };
                let addr = conns[i].addr.as_socket();
                self.stats.note_error_detail(kind, || {
                    format!(
                        "connecting to {}: {}",
                        addr.map_or_else(String::new, |a| a.to_string()),
                        io::Error::from_raw_os_error(-res)
                    )
                });
                conns[i].socket = None;
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
            OP_CONNECT => self.exchange(conns, i),
            // Only failures post a completion for `send`; the `recv` will end too.
            OP_SEND => conns[i].send_error = Some(-res),
            _ => self.received(conns, i, res, now),
        }
    }

    fn received(&mut self, conns: &mut [Conn], i: usize, res: i32, now: Instant) {
        let conn = &mut conns[i];
        let outcome = if res < 0 || conn.timed_out || conn.send_error.is_some() {
            let errno = conn.send_error.unwrap_or(-res);
            let kind = if conn.timed_out {
                ErrorKind::Timeout
            } else {
                ErrorKind::from_io(&io::Error::from_raw_os_error(errno), conn.parser.in_body())
            };
            Some(Err((kind, errno)))
        } else if res == 0 {
            Some(conn.parser.eof().map_err(|k| (k, 0)))
        } else {
            conn.rend += res as usize;
            let capture = conn.capture.as_mut().filter(|_| conn.keep);
            match conn
                .parser
                .advance_into(&conn.rbuf[conn.rstart..conn.rend], capture)
            {
                Ok((used, done)) => {
                    conn.rstart += used;
                    done.map(Ok)
                }
                Err(kind) => Some(Err((kind, 0))),
            }
        };
        match outcome {
            None => self.recv(conns, i),
            Some(Ok(Response {
                status,
                bytes,
                keep_alive,
            })) => {
                let conn = &mut conns[i];
                if !keep_alive {
                    conn.socket = None;
                    conn.rstart = 0;
                    conn.rend = 0;
                }
                let outcome = Outcome::Response {
                    status,
                    bytes_in: bytes,
                };
                self.finish(conns, i, now, outcome);
            }
            Some(Err((kind, errno))) => {
                let timeout = self.shared.plan.transport.timeout;
                self.stats.note_error_detail(kind, || match errno {
                    0 => default_detail(kind, timeout),
                    e => io::Error::from_raw_os_error(e).to_string(),
                });
                let conn = &mut conns[i];
                conn.socket = None;
                conn.rstart = 0;
                conn.rend = 0;
                self.finish(conns, i, now, Outcome::Error(kind));
            }
        }
    }

    /// Hand VU `i`'s finished exchange to its machine, then send what comes next: the
    /// redirect it leads to, or the VU's next request.
    fn finish(&mut self, conns: &mut [Conn], i: usize, now: Instant, outcome: Outcome) {
        let conn = &mut conns[i];
        let exchange = Exchange {
            outcome,
            start: conn.started,
            end: now,
            intended: None,
            bytes_sent: conn.wbuf.len() as u64,
            capture: conn.capture.as_ref(),
            location: &conn.parser.location,
        };
        let mut worker = Worker {
            program: self.program,
            stats: self.stats,
            live: &self.shared.live[self.index],
            max_redirects: self.shared.plan.transport.max_redirects,
        };
        match conn.vu.complete(&mut worker, &exchange) {
            After::Done => self.next_request(conns, i, now),
            After::Redirect { .. } => self.follow_redirect(conns, i, now),
        }
    }

    /// Send the redirect VU `i` follows. This engine has one connection per VU, to
    /// the program's one origin: a redirect to another origin ends the engine's part
    /// of the run, and the tokio engine, which can follow it, runs the VUs from then
    /// on (each VU machine moves over as it is, the redirect still to send).
    fn follow_redirect(&mut self, conns: &mut [Conn], i: usize, now: Instant) {
        let conn = &mut conns[i];
        if conn.vu.redirect().is_some_and(|h| h.cross_origin) {
            self.handoff = true;
            self.next_request(conns, i, now);
            return;
        }
        if !self.shared.may_continue() {
            conn.vu.abandon_redirect(self.program);
            self.next_request(conns, i, now);
            return;
        }
        self.write(conns, i);
        self.issue(conns, i, now);
    }
}

fn tag(i: usize, op: u64) -> u64 {
    ((i as u64) << 8) | op
}
