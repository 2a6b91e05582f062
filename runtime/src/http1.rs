//! The HTTP/1.1 driver: request bytes straight from the VU's buffers to the socket, the
//! response parsed in place with `httparse`.
//!
//! Why not hyper here: building a hyper `Request` and `HeaderMap` per request and a
//! `Response` back costs allocations and about 1.2x the CPU per request of this path
//! (measured: hyper `client::conn::http1` at 1.11x wrk's CPU per request, a raw
//! write + read + httparse loop at 0.92x). The driver owns two buffers per VU, reused
//! for the whole run; after the first few requests it allocates nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use kaioken_vm::{Method, Operand, Program, Reads, StepId, TransportPlan, VuState};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWrite};

use crate::ErrorKind;
use crate::conn::{Stream, open};
use crate::deadline::Armed;
use crate::driver::{Driver, Last, Perform};
use crate::redirect::Hop;
use crate::stats::Outcome;
use crate::stats::{Opened, Timing};
use kaioken_http1::{Capture, Invalid, Response, ResponseParser};

const READ_CHUNK: usize = 16 * 1024;

/// Facts about a step that the driver needs per request, worked out once per run.
#[derive(Debug, Clone)]
pub(crate) struct StepInfo {
    /// The step sets its own `host` header.
    pub has_host: bool,
    /// What of the response to keep: the head for header checks, extractors and the
    /// cookie jar, the body for body checks and extractors. Other steps' responses
    /// are only counted, whatever another step needs.
    pub keep: Reads,
    /// The step's path, header values and body are constants: its request is the
    /// same bytes every time, unless it follows a redirect or carries added
    /// headers ([`Held`]).
    pub constant: bool,
    /// Its request says `connection: close`, as `--no-keepalive` makes every
    /// HTTP/1.1 request say: a client that says so sends no further request on the
    /// connection (RFC 9112 §9.6), so the connection is closed after the response
    /// even when the server keeps it open.
    pub closes: bool,
}

/// Whether a step's request says `connection: close`: the header's value is a
/// constant (the compiler refuses a `connection` header of the user's other than
/// `Upgrade`, and adds `close` for `--no-keepalive`), a comma-separated list of
/// case-insensitive options (RFC 9110 §7.6.1).
fn says_close(program: &Program, step: &kaioken_vm::StepDesc) -> bool {
    step.headers.iter().any(|h| {
        let value = match h.value {
            Operand::Const(k) => program.constant(k),
            Operand::Buf(_) => return false,
        };
        program.constant(h.name).eq_ignore_ascii_case(b"connection")
            && value
                .split(|&b| b == b',')
                .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

/// Which step's request a VU's request buffer holds, when that request is a
/// constant one ([`StepInfo::constant`], no redirect, no added header): it is the
/// same bytes every time (a forwarding proxy's absolute form too, which depends
/// only on the step's origin), so while the buffer holds it, it is not written
/// again.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Held(Option<StepId>);

impl Held {
    /// Whether `step`'s request (with `added`, following `hop`) must be written into
    /// the buffer ([`write_request`], then a forwarding proxy's rewrite): not when
    /// the buffer holds it already. The caller writes it when told to; the buffer
    /// then holds it.
    pub fn must_write(
        &mut self,
        step: StepId,
        info: &StepInfo,
        added: Added<'_>,
        hop: Option<&Hop>,
    ) -> bool {
        let constant = info.constant && hop.is_none() && added.is_empty();
        let held = constant && self.0 == Some(step);
        self.0 = constant.then_some(step);
        !held
    }
}

/// What a request needs besides its step: the run's TLS settings and timeout, the
/// headers added to the step's, and the redirect it follows, if any.
pub(crate) struct Sending<'a> {
    pub tls: Option<&'a Arc<ClientConfig>>,
    pub dial: &'a crate::dial::Dial,
    pub timeout: Duration,
    pub added: Added<'a>,
    pub hop: Option<&'a Hop>,
}

/// The headers a request carries beside its step's: the VU's cookies, and a
/// sampled request's `traceparent` (`--trace-sample`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Added<'a> {
    pub cookie: Option<&'a [u8]>,
    pub traceparent: Option<&'a [u8]>,
}

impl Added<'_> {
    /// Nothing is added: the request carries its step's headers only.
    pub fn is_empty(&self) -> bool {
        self.cookie.is_none() && self.traceparent.is_none()
    }
}

impl StepInfo {
    pub fn for_program(program: &Program, transport: &TransportPlan) -> Arc<[StepInfo]> {
        program
            .steps
            .iter()
            .map(|s| StepInfo {
                closes: !transport.keepalive || says_close(program, s),
                keep: crate::judge::keep_for(s, transport),
                constant: s.head_is_constant()
                    && s.body.is_none_or(|b| matches!(b, Operand::Const(_))),
                has_host: s
                    .headers
                    .iter()
                    .any(|h| program.constant(h.name).eq_ignore_ascii_case(b"host")),
            })
            .collect()
    }
}

/// What the driver needs of a request besides its bytes.
#[derive(Debug, Clone, Copy)]
struct Asked {
    /// A `HEAD` request: its response has no body.
    is_head: bool,
    /// It may be sent again after its connection closed with no answer
    /// ([`Method::is_idempotent`]).
    idempotent: bool,
    /// It says `connection: close` ([`StepInfo::closes`]).
    closes: bool,
    keep: Reads,
}

/// One VU's HTTP/1.1 connections (one per origin) and buffers.
pub(crate) struct Http1 {
    /// What it kept of the last exchange.
    last: Last,
    /// By connection slot: the program's origins, then those redirects led to.
    conns: Vec<Option<Stream>>,
    wbuf: Vec<u8>,
    /// How much of `wbuf` the last exchange wrote, counted as it goes (a timeout
    /// drops the exchange midway).
    sent: u64,
    /// Which constant request `wbuf` holds.
    held: Held,
    rbuf: Vec<u8>,
    rpos: usize,
    /// Restarted for each response: it keeps the last head, to replay it, and
    /// redirects' `Location`s when they are followed.
    parser: ResponseParser,
}

impl Http1 {
    pub fn new(program: &Program, http: &kaioken_vm::TransportPlan) -> Http1 {
        Http1 {
            last: Last {
                detail: None,
                capture: crate::judge::capture_for(program, http),
                location: Vec::new(),
                reconnected: false,
                connected: false,
                timing: Timing::default(),
                decoded: None,
            },
            conns: (0..program.origins.len()).map(|_| None).collect(),
            wbuf: Vec::with_capacity(1024),
            sent: 0,
            held: Held::default(),
            rbuf: Vec::with_capacity(READ_CHUNK),
            rpos: 0,
            parser: ResponseParser::new(false).following_redirects(http.max_redirects > 0),
        }
    }

    /// Close the connection in `slot` (its origin failed, or was replaced).
    pub fn drop_conn(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot) {
            *conn = None;
        }
        self.rbuf.clear();
        self.rpos = 0;
    }

    /// Send the request in `wbuf` on `slot`'s connection (made first if there is
    /// none) and read the response.
    ///
    /// A request on a reused connection that fails as `reset` before any byte of a
    /// response came is sent once more, on a new connection, as browsers and curl
    /// do: the server closed the connection while it was idle (a keep-alive
    /// timeout), which is no answer to this request. It counts as a reconnect
    /// ([`Last::reconnected`]), not an error. Never when a byte of the response
    /// came, and never on a new connection's first request. Once some of the
    /// request went out, the server may have read it and failed before answering
    /// (a worker that crashed on it): only an idempotent request is sent again
    /// then (RFC 9110 §9.2.2), and a server's log may show it twice; any other is
    /// a `reset`. A close seen before the request went out (the connection is
    /// read first, see [`Exchange::poll`]) sends any request again.
    ///
    /// Bytes on the connection that no request asked for (after a complete
    /// response, or before the request went out) put it out of step with its
    /// requests: it is closed rather than read them as the next response
    /// ([`Timing::out_of_sync`]).
    async fn exchange(
        &mut self,
        slot: usize,
        origin: &kaioken_vm::Origin,
        asked: Asked,
        tls: Option<&Arc<ClientConfig>>,
        dial: &crate::dial::Dial,
        method: &Method,
    ) -> Result<(u16, u64), ErrorKind> {
        let Asked {
            is_head,
            idempotent,
            closes,
            keep,
        } = asked;
        if slot >= self.conns.len() {
            self.conns.resize_with(slot + 1, || None);
        }
        loop {
            let fresh = self.conns[slot].is_none();
            let timing = &mut self.last.timing;
            if fresh {
                let mut opened = Opened::default();
                let forward = dial.forwards(origin);
                let stream = open(
                    origin,
                    tls,
                    dial,
                    forward,
                    &mut self.last.detail,
                    &mut opened,
                )
                .await?;
                timing.opened = Some(opened);
                timing.reused = false;
                self.last.connected = true;
                self.conns[slot] = Some(stream);
                self.rbuf.clear();
                self.rpos = 0;
            }
            let Some(stream) = self.conns[slot].as_mut() else {
                return Err(ErrorKind::Other);
            };
            let capture = self.last.capture.as_mut().filter(|_| keep.any());
            let timing = &mut self.last.timing;
            timing.reused = !fresh;
            let mut exchange = Exchange {
                stream,
                timing,
                request: &self.wbuf,
                sent: &mut self.sent,
                writing: Writing::Bytes,
                buf: &mut self.rbuf,
                pos: &mut self.rpos,
                capture: capture.map(|c| c.start(keep.body)),
                invalid: None,
                tls_failed: None,
                peek: !fresh,
                stray: false,
                unclosed: false,
            };
            self.parser.restart(is_head);
            let parser = &mut self.parser;
            let result = std::future::poll_fn(|cx| exchange.poll(cx, parser)).await;
            // A response that came before the whole request went out leaves the server
            // expecting the rest: the connection cannot carry another request.
            let whole = matches!(exchange.writing, Writing::Done);
            let invalid = exchange.invalid;
            let tls_failed = exchange.tls_failed;
            let stray = exchange.stray;
            let unclosed = exchange.unclosed;
            let unanswered = |kind| kind == ErrorKind::Reset && !fresh && !parser.started();
            let response = match result {
                Ok(response) => response,
                Err(_) if stray => {
                    // Bytes came while the connection was idle: they answer
                    // nothing this VU sent. The request, unsent, goes on a new one.
                    self.last.timing.out_of_sync = true;
                    self.drop_conn(slot);
                    self.sent = 0;
                    continue;
                }
                Err(kind) if unanswered(kind) && (self.sent == 0 || idempotent) => {
                    // Closed while idle: the server ended it.
                    self.last.timing.closed_by_server = true;
                    self.drop_conn(slot);
                    self.sent = 0;
                    self.last.reconnected = true;
                    continue;
                }
                Err(kind) => {
                    if unanswered(kind) {
                        self.last.timing.closed_by_server = true;
                        self.last.detail = Some(closed_after_sending(method));
                    } else if unclosed {
                        self.last.detail = Some(unclosed_body(&origin.authority));
                    } else if let Some(invalid) = invalid {
                        self.last.detail = Some(invalid.detail());
                    } else if let Some(e) = tls_failed {
                        // Worded as the io_uring engine words it.
                        self.last.detail = Some(format!("TLS with {}: {e}", origin.authority));
                    }
                    return Err(kind);
                }
            };
            std::mem::swap(&mut self.last.location, &mut parser.location);
            // `connection: close`, or a body that ran to the connection's end.
            self.last.timing.closed_by_server |= !response.keep_alive;
            // Bytes after the response answer no request (no request is pipelined).
            let excess = self.rpos < self.rbuf.len();
            self.last.timing.out_of_sync |= excess;
            if !response.keep_alive || !whole || closes || excess {
                self.drop_conn(slot);
            }
            return Ok((response.status, response.bytes));
        }
    }
}

/// The detail of a request that is not sent again although its reused connection
/// closed with no answer: the server may have read it (see `Http1::exchange`).
/// Worded the same on both engines.
#[cold]
pub(crate) fn closed_after_sending(method: &Method) -> String {
    format!(
        "the server closed the connection after the {} request was sent, before any \
         response; not sent again, as the method is not idempotent",
        method.as_str()
    )
}

/// The detail of a TLS response whose body, delimited by the connection's end,
/// ended without the server's close_notify: only close_notify tells the end of the
/// stream from a connection cut short (by the network, a middlebox, an attacker),
/// so the body may be truncated and is not taken as whole (a `body_read` error),
/// as curl and rustls judge it. Worded the same on both engines.
#[cold]
pub(crate) fn unclosed_body(authority: &str) -> String {
    format!(
        "TLS with {authority}: the body, delimited by the connection's end, ended \
         without close_notify and may be cut short"
    )
}

/// How far the request has got onto the connection.
enum Writing {
    /// Bytes of the request are left to write.
    Bytes,
    /// All written; TLS may still hold some in its buffer.
    Flush,
    Done,
    /// Writing failed; the response may still have arrived (or be on its way) and is
    /// read all the same.
    Failed(ErrorKind),
}

/// One request and its response on one connection. Writing and reading go on together:
/// a server may answer before it has read the whole request (a `413` to a large body,
/// an error while the body is still coming) and then close, and that answer is the
/// request's outcome, not the failed write that follows it.
struct Exchange<'a> {
    stream: &'a mut Stream,
    /// When the request was all written and the response's first byte came.
    timing: &'a mut Timing,
    request: &'a [u8],
    sent: &'a mut u64,
    writing: Writing,
    buf: &'a mut Vec<u8>,
    pos: &'a mut usize,
    capture: Option<&'a mut Capture>,
    /// What was wrong with the response, when it was not valid HTTP.
    invalid: Option<Invalid>,
    /// What the TLS session said of a record that failed to decrypt.
    tls_failed: Option<std::io::Error>,
    /// A reused connection is read once before the request is written (see
    /// [`Exchange::poll`]).
    peek: bool,
    /// That read brought bytes: they answer no request (`Http1::exchange`).
    stray: bool,
    /// A body delimited by the connection's end ended without TLS's close_notify.
    unclosed: bool,
}

impl Exchange<'_> {
    /// Write what the connection takes, then parse what is buffered and read more,
    /// until the response is complete. Bytes after the response stay buffered (the
    /// caller closes a connection that has any).
    ///
    /// Both directions are polled on every wake-up; a direction that is waiting
    /// returns `Pending` from tokio's readiness state without a syscall, so a small
    /// request costs what `write_all` then `read` did.
    ///
    /// On a reused connection it reads first, before writing: what the peer did
    /// while the connection was idle is then known before the request goes. A
    /// close (a keep-alive timeout) makes the request go on a new connection
    /// unsent, whatever its method; bytes are out of step with the requests
    /// ([`Exchange::stray`]). That read costs no syscall in the usual case: the
    /// last response's read drained the socket, and tokio answers `Pending` from
    /// its readiness state until the peer sends more (the read after the write
    /// then answers `Pending` the same way). It sees what the runtime has heard
    /// of: bytes or a close that came since the last wait for events (a think
    /// time, another VU's wait) but not one that came just now.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        parser: &mut ResponseParser,
    ) -> Poll<Result<Response, ErrorKind>> {
        if std::mem::take(&mut self.peek)
            && let Poll::Ready(read) = self.poll_fill(cx)
        {
            return Poll::Ready(match read {
                Ok(0) => Err(ErrorKind::Reset),
                Ok(_) => {
                    self.stray = true;
                    Err(ErrorKind::Reset)
                }
                Err(e) => Err(self.read_failed(e, parser)),
            });
        }
        loop {
            self.poll_write(cx);
            let (used, done) =
                match parser.advance_into(&self.buf[*self.pos..], self.capture.as_deref_mut()) {
                    Ok(progress) => progress,
                    Err(invalid) => {
                        self.invalid = Some(invalid);
                        return Poll::Ready(Err(ErrorKind::Protocol));
                    }
                };
            *self.pos += used;
            if let Some(response) = done {
                return Poll::Ready(Ok(response));
            }
            match ready!(self.poll_fill(cx)) {
                Ok(n) if n > 0 && self.timing.first_byte.is_none() => {
                    self.timing.first_byte = Some(Instant::now());
                }
                Ok(0) => {
                    // The server closed without a (complete) response. If writing
                    // had failed and nothing of a response came, that failure is
                    // the clearer reason.
                    let written = match self.writing {
                        Writing::Failed(kind) if !parser.in_body() => Some(kind),
                        _ => None,
                    };
                    return Poll::Ready(parser.eof().map_err(|cut| written.unwrap_or(cut.into())));
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(self.read_failed(e, parser))),
            }
        }
    }

    /// What a failed read makes of the exchange.
    fn read_failed(&mut self, e: std::io::Error, parser: &ResponseParser) -> ErrorKind {
        let kind = ErrorKind::from_io(&e, parser.in_body());
        // tokio-rustls's word for a TCP end without close_notify.
        self.unclosed = e.kind() == std::io::ErrorKind::UnexpectedEof
            && parser.until_close()
            && self.stream.is_tls();
        if e.kind() == std::io::ErrorKind::InvalidData && self.stream.is_tls() {
            // A record that failed to decrypt (conn.rs hands over what
            // came before it first), worded by `Http1::exchange`.
            self.tls_failed = Some(e);
        }
        kind
    }

    /// Move the request along as far as the connection takes it now.
    fn poll_write(&mut self, cx: &mut Context<'_>) {
        loop {
            match self.writing {
                Writing::Bytes => {
                    let rest = &self.request[*self.sent as usize..];
                    match Pin::new(&mut *self.stream).poll_write(cx, rest) {
                        Poll::Pending => return,
                        // `write_all`'s `WriteZero`.
                        Poll::Ready(Ok(0)) => self.writing = Writing::Failed(ErrorKind::Other),
                        Poll::Ready(Ok(n)) => {
                            *self.sent += n as u64;
                            if *self.sent as usize == self.request.len() {
                                self.writing = Writing::Flush;
                            }
                        }
                        Poll::Ready(Err(e)) => {
                            self.writing = Writing::Failed(ErrorKind::from_io(&e, false));
                        }
                    }
                }
                Writing::Flush => match Pin::new(&mut *self.stream).poll_flush(cx) {
                    Poll::Pending => return,
                    Poll::Ready(Ok(())) => {
                        self.writing = Writing::Done;
                        self.timing.written = Some(Instant::now());
                    }
                    Poll::Ready(Err(e)) => {
                        self.writing = Writing::Failed(ErrorKind::from_io(&e, false));
                    }
                },
                Writing::Done | Writing::Failed(_) => return,
            }
        }
    }

    /// Read more bytes into the buffer. `Ok(0)` is end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if *self.pos == self.buf.len() {
            self.buf.clear();
            *self.pos = 0;
        } else if *self.pos > 0 {
            self.buf.drain(..*self.pos);
            *self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        // `read_buf`'s future holds nothing across polls: making one per poll, on the
        // stack, loses no bytes.
        let read = self.stream.read_buf(self.buf);
        std::pin::pin!(read).poll(cx)
    }
}

/// Rewrite the request in `w` for an HTTP proxy (`--proxy http://…` to an
/// `http://` origin): its target in absolute form (`GET http://host:port/path
/// HTTP/1.1`, RFC 9112 §3.2.2) and, for a proxy with credentials, a
/// `proxy-authorization` header. In place: once `w` has grown to fit, nothing is
/// allocated (the inserted bytes' count is known, so `splice` moves the rest once).
pub(crate) fn to_absolute_form(w: &mut Vec<u8>, authority: &str, auth: Option<&str>) {
    let Some(space) = w.iter().position(|&b| b == b' ') else {
        return;
    };
    let prefix = b"http://".iter().chain(authority.as_bytes());
    w.splice(space + 1..space + 1, prefix.copied());
    if let Some(auth) = auth
        && let Some(eol) = w.windows(2).position(|p| p == b"\r\n")
    {
        let header = b"proxy-authorization: "
            .iter()
            .chain(auth.as_bytes())
            .chain(b"\r\n");
        w.splice(eol + 2..eol + 2, header.copied());
    }
}

/// Serialize a request into `w`: request line, host, headers, framing, body. Shared by
/// every HTTP/1.1 driver; `w` is the VU's own buffer, cleared and reused. With `hop`,
/// the request a redirect asked for: its method, origin and path, the step's headers
/// (but `host` and `authorization` only on its own origin, `content-type` only with
/// the body).
pub(crate) fn write_request(
    w: &mut Vec<u8>,
    program: &Program,
    state: &VuState,
    step: StepId,
    info: &StepInfo,
    added: Added<'_>,
    hop: Option<&Hop>,
) {
    let desc = program.step(step);
    let (method, path, authority) = match hop {
        Some(h) => (&h.method, h.path.as_slice(), h.origin.authority.as_str()),
        None => (
            &desc.method,
            program.bytes(state, desc.path),
            program.origins[desc.origin].authority.as_str(),
        ),
    };
    let cross_origin = hop.is_some_and(|h| h.cross_origin);
    let with_body = hop.is_none_or(|h| h.keep_body);
    w.clear();
    w.extend_from_slice(method.as_str().as_bytes());
    w.push(b' ');
    w.extend_from_slice(path);
    w.extend_from_slice(b" HTTP/1.1\r\n");
    if !info.has_host || cross_origin {
        w.extend_from_slice(b"host: ");
        w.extend_from_slice(authority.as_bytes());
        w.extend_from_slice(b"\r\n");
    }
    // The jar's cookies: after the step's own `cookie` header's, in the same
    // header (RFC 6265 §5.4: one `Cookie` header), else in a header of their own.
    let mut jar = added.cookie;
    for h in &desc.headers {
        let name = program.constant(h.name);
        if hop.is_some() && !crate::redirect::keeps_header(name, hop) {
            continue;
        }
        w.extend_from_slice(name);
        w.extend_from_slice(b": ");
        w.extend_from_slice(program.bytes(state, h.value));
        if let Some(cookie) = jar.filter(|_| name.eq_ignore_ascii_case(b"cookie")) {
            w.extend_from_slice(b"; ");
            w.extend_from_slice(cookie);
            jar = None;
        }
        w.extend_from_slice(b"\r\n");
    }
    if let Some(cookie) = jar {
        w.extend_from_slice(b"cookie: ");
        w.extend_from_slice(cookie);
        w.extend_from_slice(b"\r\n");
    }
    if let Some(traceparent) = added.traceparent {
        w.extend_from_slice(b"traceparent: ");
        w.extend_from_slice(traceparent);
        w.extend_from_slice(b"\r\n");
    }
    let body = if with_body { desc.body } else { None };
    let bytes: &[u8] = body.map_or(&[], |b: Operand| program.bytes(state, b));
    if body.is_some() || method.expects_body() {
        w.extend_from_slice(b"content-length: ");
        w.extend_from_slice(itoa::Buffer::new().format(bytes.len()).as_bytes());
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(bytes);
}

impl Driver for Http1 {
    fn last(&self) -> &Last {
        &self.last
    }

    fn last_mut(&mut self) -> &mut Last {
        &mut self.last
    }

    /// The bytes of the last request that were written: less than its length when
    /// the server answered (or failed) before taking it all, none when the
    /// connection could not be made.
    fn bytes_sent(&self) -> u64 {
        self.sent
    }

    fn close(&mut self, slot: usize) {
        self.drop_conn(slot);
    }
}

impl Perform for Http1 {
    async fn perform(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        s: Sending<'_>,
        deadline: Armed<'_>,
    ) -> Outcome {
        let Sending {
            tls,
            dial,
            added,
            hop,
            ..
        } = s;
        self.sent = 0;
        self.last.reconnected = false;
        self.last.connected = false;
        self.last.timing = Timing::default();
        let desc = program.step(step);
        let (slot, origin, method) = match hop {
            Some(h) => (h.slot, &h.origin, &h.method),
            None => (
                desc.origin.index(),
                &program.origins[desc.origin],
                &desc.method,
            ),
        };
        let asked = Asked {
            is_head: *method == Method::Head,
            idempotent: method.is_idempotent(),
            closes: info.closes,
            keep: info.keep,
        };
        if self.held.must_write(step, info, added, hop) {
            write_request(&mut self.wbuf, program, state, step, info, added, hop);
            if dial.forwards(origin) {
                let auth = dial.forward_authorization(origin);
                to_absolute_form(&mut self.wbuf, &origin.authority, auth);
            }
        }
        let result = deadline
            .within(|| self.exchange(slot, origin, asked, tls, dial, method))
            .await;
        let outcome = Outcome::of_exchange(result);
        if matches!(outcome, Outcome::Error(_)) {
            self.drop_conn(slot);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use kaioken_vm::{Method, Origin, Scheme, StepId};

    use super::{Added, Held, StepInfo};
    use crate::redirect::Hop;

    fn info(constant: bool) -> StepInfo {
        StepInfo {
            has_host: false,
            keep: Default::default(),
            constant,
            closes: false,
        }
    }

    /// A constant request is written once and then held, until another request
    /// takes the buffer (another step's, one with a cookie, a redirect's); a step
    /// with a part read from the VU's state is written every time.
    #[test]
    fn a_constant_request_is_written_again_only_when_the_buffer_lost_it() {
        let (a, b) = (StepId(0), StepId(1));
        let (constant, varying) = (info(true), info(false));
        let plain = Added::default();
        let cookie = Added {
            cookie: Some(b"sid=1"),
            traceparent: None,
        };
        let hop = Hop {
            origin: Origin {
                scheme: Scheme::Http,
                host: "127.0.0.1".into(),
                port: 8080,
                authority: "127.0.0.1:8080".into(),
            },
            slot: 0,
            path: b"/next".to_vec(),
            method: Method::Get,
            keep_body: true,
            cross_origin: false,
            number: 1,
        };
        let mut held = Held::default();
        let mut writes = |step, info, added, hop| held.must_write(step, info, added, hop);
        assert!(writes(a, &constant, plain, None));
        assert!(!writes(a, &constant, plain, None));
        assert!(!writes(a, &constant, plain, None));
        assert!(writes(b, &constant, plain, None), "another step's");
        assert!(writes(a, &constant, plain, None));
        assert!(writes(a, &constant, cookie, None), "a cookie added");
        assert!(writes(a, &constant, plain, None));
        assert!(writes(a, &constant, plain, Some(&hop)), "a redirect's");
        assert!(writes(a, &constant, plain, None));
        assert!(!writes(a, &constant, plain, None));
        for _ in 0..3 {
            assert!(writes(a, &varying, plain, None));
        }
    }
}
