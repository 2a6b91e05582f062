//! The HTTP/2 driver: prior knowledge on `http://`, ALPN `h2` on `https://`. One
//! connection per VU and origin, one stream at a time (the closed model's VU waits
//! for its response), spoken by the VU's task itself over `kaioken-http2`'s
//! sans-I/O connection (h2own.rs): no connection task, no channel, no waker between
//! the request and the socket. With `--h2-streams N`, the VUs of a worker thread
//! share connections to the program's origins N to a connection, each VU's request
//! on its own stream (h2pool.rs); those connections, which need a task of their
//! own to serve many VUs, are the `h2` crate's.
//!
//! Unlike the HTTP/1.1 path this builds an `http::Request` per request; the
//! per-step parts that never change (method, header names, constant values, a
//! constant path's URI, a constant body) are converted once. On a shared
//! connection the VU's task opens its stream and reads its response itself; only
//! the connection's I/O runs in a task of its own, so a request costs no dispatch
//! channel and no spawned task (BENCHMARKS.md measures what those cost).
//! Building a request from a step and keeping a response's head ([`prepare`],
//! [`build_request`], [`keep_head`]) are shared with the HTTP/3 driver (http3.rs),
//! which differs only below them.

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use kaioken_vm::{Operand, Origin, Program, Scheme, StepId, VuState};

use crate::ErrorKind;
use crate::conn::connect;
use crate::driver::{Driver, Last, Perform};
use crate::h2own::{Failed, Keep, OwnConn, goaway};
use crate::h2pool;
use crate::http1::{Added, Sending, StepInfo};
use crate::redirect::Hop;
use crate::stats::Outcome;
use crate::stats::{Opened, Timing};
use kaioken_http1::Capture;

/// A step's request parts that never change (method, header names, constant values),
/// converted once: HTTP/2 and HTTP/3 build their `http::Request`s from them alike.
pub(crate) struct Prepared {
    method: Method,
    /// `scheme://authority`, to which the path is appended.
    prefix: String,
    /// The whole URI when the path is constant: cloned per request (its parts are
    /// shared `Bytes`), neither formatted nor parsed again.
    uri: Option<http::Uri>,
    headers: Vec<(HeaderName, Option<HeaderValue>)>,
    /// A constant body, shared by every request (a clone is a reference count), and
    /// its length as a `content-length` value.
    body: Option<(Bytes, HeaderValue)>,
    /// The step names a header HTTP/2 forbids (`keep-alive`, `proxy-connection`, a
    /// `te`), which the HTTP/2 driver leaves out: RFC 9113 section 8.2.2 forbids
    /// connection-specific fields.
    connection_headers: bool,
}

/// Each step's [`Prepared`] parts; `None` for a step whose constant parts `http`
/// refuses (its requests then fail as `other`).
pub(crate) fn prepare(program: &Program) -> Vec<Option<Prepared>> {
    program
        .steps
        .iter()
        .map(|s| {
            let origin = &program.origins[s.origin];
            let scheme = if origin.scheme == Scheme::Https {
                "https"
            } else {
                "http"
            };
            let headers = s
                .headers
                .iter()
                .map(|h| {
                    let name = HeaderName::from_bytes(program.constant(h.name)).ok()?;
                    let value = match h.value {
                        Operand::Const(k) => {
                            Some(HeaderValue::from_bytes(program.constant(k)).ok()?)
                        }
                        Operand::Buf(_) => None,
                    };
                    Some((name, value))
                })
                .collect::<Option<Vec<_>>>()?;
            let prefix = format!("{scheme}://{}", origin.authority);
            let uri = match s.path {
                Operand::Const(k) => {
                    let path = std::str::from_utf8(program.constant(k)).ok()?;
                    Some(http::Uri::try_from(format!("{prefix}{path}")).ok()?)
                }
                Operand::Buf(_) => None,
            };
            let connection_headers = headers.iter().any(|(name, _)| is_connection_header(name));
            Some(Prepared {
                method: Method::from_bytes(s.method.as_str().as_bytes()).ok()?,
                prefix,
                uri,
                headers,
                body: match s.body {
                    Some(Operand::Const(k)) => {
                        let body = program.constant(k);
                        Some((
                            Bytes::copy_from_slice(body),
                            HeaderValue::from(body.len() as u64),
                        ))
                    }
                    _ => None,
                },
                connection_headers,
            })
        })
        .collect()
}

/// Where a request's parts come from: its step's prepared parts and the VU's
/// state, the redirect it follows (`hop`), and the headers `added` to the step's
/// (cookies, `traceparent`). The HTTP/2 driver's own connections encode from it
/// directly (h2own.rs); [`build_request`] makes an `http::Request` of it for `h2`
/// and HTTP/3.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub prepared: &'a Prepared,
    pub program: &'a Program,
    pub state: &'a VuState,
    pub step: StepId,
    pub hop: Option<&'a Hop>,
    pub added: Added<'a>,
}

/// A header's value for one request: made once from a constant, or read from the
/// VU's state (and checked by whoever sends it).
#[derive(Clone, Copy)]
pub(crate) enum Value<'a> {
    Made(&'a HeaderValue),
    Read(&'a [u8]),
}

impl Value<'_> {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Made(v) => v.as_bytes(),
            Value::Read(b) => b,
        }
    }

    fn to_header_value(self) -> Result<HeaderValue, ErrorKind> {
        match self {
            Value::Made(v) => Ok(v.clone()),
            Value::Read(b) => HeaderValue::from_bytes(b).map_err(|_| ErrorKind::Other),
        }
    }
}

impl<'a> Source<'a> {
    /// The method: the step's, or the one its redirect asks for.
    pub(crate) fn method(&self) -> &'a str {
        match self.hop {
            Some(h) => h.method.as_str(),
            None => self.prepared.method.as_str(),
        }
    }

    /// The path and query, from `/`.
    pub(crate) fn path(&self) -> &'a [u8] {
        match self.hop {
            Some(h) => &h.path,
            None => self
                .program
                .bytes(self.state, self.program.step(self.step).path),
        }
    }

    /// The body (empty when the step has none, or its redirect left it behind), and
    /// the shared copy of a constant one.
    pub(crate) fn body(&self) -> (&'a [u8], Option<&'a Bytes>) {
        match self.program.step(self.step).body {
            Some(b) if self.hop.is_none_or(|h| h.keep_body) => match &self.prepared.body {
                Some((constant, _)) => (constant, Some(constant)),
                None => (self.program.bytes(self.state, b), None),
            },
            _ => (&[], None),
        }
    }

    /// Call `f` with each header of the request: the step's (less those a redirect
    /// to another origin drops), then the added ones. With `h2` (the body's length),
    /// as HTTP/2 allows them: RFC 9113 section 8.2.2 forbids connection-specific
    /// fields, so `keep-alive`, `proxy-connection` and a `te` other than `trailers`
    /// are left out (the compiler refuses `connection`, `transfer-encoding` and
    /// `upgrade`), and `content-length` follows for a body, or for an empty one of a
    /// method whose body has a meaning (not GET, HEAD, DELETE, CONNECT); the
    /// compiler refuses a step's own. Returns the headers' length as HTTP/1.1 spells
    /// them, without the `content-length`.
    pub(crate) fn headers(
        &self,
        h2: Option<usize>,
        mut f: impl FnMut(&HeaderName, Value<'_>) -> Result<(), ErrorKind>,
    ) -> Result<usize, ErrorKind> {
        let Source {
            prepared,
            program,
            state,
            step,
            hop,
            added,
        } = *self;
        let mut len = 0;
        let desc = program.step(step);
        for (h, (name, value)) in desc.headers.iter().zip(&prepared.headers) {
            if !crate::redirect::keeps_header(name.as_str().as_bytes(), hop) {
                continue;
            }
            let value = match value {
                Some(v) => Value::Made(v),
                None => Value::Read(program.bytes(state, h.value)),
            };
            len += name.as_str().len() + value.as_bytes().len() + 4;
            if h2.is_some()
                && prepared.connection_headers
                && is_connection_header(name)
                && !(*name == http::header::TE && value.as_bytes() == b"trailers")
            {
                continue;
            }
            f(name, value)?;
        }
        if let Some(cookie) = added.cookie {
            len += 8 + cookie.len();
            f(&http::header::COOKIE, Value::Read(cookie))?;
        }
        if let Some(traceparent) = added.traceparent {
            len += 13 + traceparent.len();
            f(&TRACEPARENT, Value::Read(traceparent))?;
        }
        if let Some(body_len) = h2 {
            let payload = !matches!(self.method(), "GET" | "HEAD" | "DELETE" | "CONNECT");
            if body_len != 0 || payload {
                let mut digits = itoa::Buffer::new();
                let value = match &prepared.body {
                    Some((body, length)) if body.len() == body_len => Value::Made(length),
                    _ => Value::Read(digits.format(body_len).as_bytes()),
                };
                f(&http::header::CONTENT_LENGTH, value)?;
            }
        }
        Ok(len)
    }
}

/// The `traceparent` header's name.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The request `src` describes, to `origin` (the step's, or its redirect's), as an
/// `http::Request`; with `h2`, as HTTP/2 allows it ([`Source::headers`]). Also its
/// length as HTTP/1.1 would spell it (the header compression of HTTP/2 and HTTP/3
/// makes the wire smaller).
pub(crate) fn build_request(
    src: Source<'_>,
    origin: &Origin,
    h2: bool,
) -> Result<(Request<Bytes>, u64), ErrorKind> {
    let method = Method::from_bytes(src.method().as_bytes()).map_err(|_| ErrorKind::Other)?;
    let uri = match (&src.prepared.uri, src.hop) {
        (Some(uri), None) => uri.clone(),
        (_, hop) => {
            let path = src.path();
            let mut uri = String::with_capacity(src.prepared.prefix.len() + path.len());
            match hop {
                Some(_) => {
                    uri.push_str(if origin.scheme == Scheme::Https {
                        "https://"
                    } else {
                        "http://"
                    });
                    uri.push_str(&origin.authority);
                }
                None => uri.push_str(&src.prepared.prefix),
            }
            uri.push_str(std::str::from_utf8(path).map_err(|_| ErrorKind::Other)?);
            http::Uri::try_from(uri).map_err(|_| ErrorKind::Other)?
        }
    };
    let (body, shared) = src.body();
    let body = match shared {
        Some(constant) => constant.clone(),
        None => Bytes::copy_from_slice(body),
    };
    let head_len = 16 + method.as_str().len();
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let body_len = req.body().len();
    let headers = req.headers_mut();
    let head_len = head_len
        + src.headers(h2.then_some(body_len), |name, value| {
            headers.append(name.clone(), value.to_header_value()?);
            Ok(())
        })?;
    let len = (head_len + req.body().len()) as u64;
    Ok((req, len))
}

/// Add a sampled request's `traceparent` header to `req`, counting it in
/// `head_len` as HTTP/1.1 spells it (the HTTP/2, HTTP/3 and gRPC drivers).
pub(crate) fn add_traceparent(
    req: http::request::Builder,
    traceparent: &[u8],
    head_len: &mut usize,
) -> Result<http::request::Builder, ErrorKind> {
    let value = HeaderValue::from_bytes(traceparent).map_err(|_| ErrorKind::Other)?;
    *head_len += 13 + value.len();
    Ok(req.header(TRACEPARENT, value))
}

/// Keep a response's head in `c` as HTTP/1.1 spells one (`version` for the status
/// line, e.g. `HTTP/2`), for checks, extractors and the cookie jar. Returns the
/// head's length as HTTP/1.1 would spell it (its status line taken as 12 bytes), for
/// `bytes_received`.
pub(crate) fn keep_head<'a, I: Iterator<Item = (&'a [u8], &'a [u8])>>(
    c: Option<&mut Capture>,
    version: &[u8],
    status: u16,
    headers: impl Fn() -> I,
) -> u64 {
    if let Some(c) = c {
        c.head.extend_from_slice(version);
        c.head.push(b' ');
        c.head
            .extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        c.head.extend_from_slice(b"\r\n");
        push_headers(&mut c.head, headers());
        c.head.extend_from_slice(b"\r\n");
    }
    header_bytes(headers()) + 12
}

/// A header map's fields as names and values, for [`keep_head`],
/// [`push_headers`] and [`header_bytes`].
pub(crate) fn fields(headers: &http::HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
}

/// Append `headers` to `out` as HTTP/1.1 lines (`name: value\r\n`).
pub(crate) fn push_headers<'a>(
    out: &mut Vec<u8>,
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) {
    for (name, value) in headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
}

/// The length of `headers` as HTTP/1.1 lines would spell them.
pub(crate) fn header_bytes<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> u64 {
    headers.map(|(n, v)| (n.len() + v.len() + 4) as u64).sum()
}

/// One VU's HTTP/2 connections (one per origin).
pub(crate) struct Http2 {
    /// What it kept of the last exchange.
    last: Last,
    /// Keep redirects' `Location`s.
    follow: bool,
    /// Connections carry more than one request; without (`--no-keepalive`) each is
    /// closed after its response.
    keepalive: bool,
    conns: Conns,
    /// The VU's own connections, one per slot, on `kaioken-http2` (h2own.rs), when
    /// it shares none (no `--h2-streams`); `None` when `conns` carries them.
    own: Option<Vec<Option<OwnConn>>>,
    /// Each step's prepared parts, shared (a request holds them while it borrows
    /// the driver mutably).
    steps: std::sync::Arc<[Option<Prepared>]>,
    last_len: u64,
}

/// A VU's HTTP/2 connections, one per connection slot (the program's origins, then
/// those redirects led to), shared with its group of VUs under `--h2-streams`
/// (h2pool.rs): what the HTTP/2 and gRPC drivers both hold.
pub(crate) struct Conns {
    slots: Vec<Option<H2Conn>>,
    /// The group whose connections to the program's origins these are shared with;
    /// `None` when each VU has its own.
    group: Option<h2pool::Member>,
    /// How many of the slots are the program's own origins (redirects' origins are
    /// a VU's own, never shared).
    origins: usize,
}

/// Why no connection could be had.
pub(crate) struct NoConn {
    pub kind: ErrorKind,
    /// Making a new connection failed (not a live one that turned out unusable).
    pub opening: bool,
}

impl Conns {
    pub fn new(program: &Program, group: Option<h2pool::Member>) -> Conns {
        Conns {
            slots: (0..program.origins.len()).map(|_| None).collect(),
            group,
            origins: program.origins.len(),
        }
    }

    /// Close the connection in `slot`.
    pub fn drop_conn(&mut self, slot: usize) {
        if let Some(conn) = self.slots.get_mut(slot) {
            *conn = None;
        }
    }

    /// A connection to `origin` in `slot`, ready for a stream: the VU's own while it
    /// lives, else its group's, else a new one (TCP, TLS with ALPN `h2`, the HTTP/2
    /// preface), with the time it took when it was made now. Fills `last`'s
    /// connection facts: opened (and its phases), reused, closed by the server, the
    /// failure's detail. A live connection the server has sent `GOAWAY` on is
    /// replaced by a new one (closed by the server), as one it had closed would be.
    pub async fn ready(
        &mut self,
        slot: usize,
        origin: &Origin,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
        dial: &crate::dial::Dial,
        last: &mut Last,
    ) -> Result<(&mut H2Conn, Option<std::time::Duration>), NoConn> {
        let fail = |last: &mut Last, e: &h2::Error, opening| {
            let (kind, detail) = h2_failure(e, false);
            last.detail = Some(detail);
            NoConn { kind, opening }
        };
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || None);
        }
        let mut took = None;
        // A second round only after a reused connection turned out to be going away.
        for retry in [false, true] {
            let mut claim = None;
            if let Some(group) = self.group.filter(|_| slot < self.origins)
                && self.slots[slot].as_ref().is_none_or(H2Conn::is_closed)
            {
                match h2pool::shared(group, slot).await {
                    Ok(conn) => self.slots[slot] = Some(conn),
                    Err(mine) => claim = Some(mine),
                }
            }
            let closed = self.slots[slot].as_ref().is_none_or(H2Conn::is_closed);
            if closed {
                if self.slots[slot].is_some() {
                    // The server ended the connection (GOAWAY, or closed it).
                    last.timing.closed_by_server = true;
                }
                let began = Instant::now();
                let conn = open(origin, tls, dial, last).await?;
                if let Some(claim) = claim {
                    claim.share(&conn);
                }
                self.slots[slot] = Some(conn);
                took = Some(began.elapsed());
            }
            last.timing.reused = !closed;
            let Some(conn) = self.slots[slot].as_mut() else {
                return Err(NoConn {
                    kind: ErrorKind::Other,
                    opening: false,
                });
            };
            match std::future::poll_fn(|cx| conn.send.poll_ready(cx)).await {
                Ok(()) => break,
                Err(e) if !closed && !retry && e.is_go_away() => {
                    // Finished streams the server answered, refuses new ones.
                    conn.close();
                }
                Err(e) => return Err(fail(last, &e, false)),
            }
        }
        match self.slots[slot].as_mut() {
            Some(conn) => Ok((conn, took)),
            None => Err(NoConn {
                kind: ErrorKind::Other,
                opening: false,
            }),
        }
    }
}

/// A new HTTP/2 connection to `origin`: TCP (or the dial's route), TLS with ALPN `h2`
/// on `https://`, the preface and settings; its task spawned on this thread's runtime.
/// Settings are those of hyper's HTTP/2 client by default (2 MiB stream and 5 MiB
/// connection windows, 16 KiB frames and header lists, no server push), so windows
/// and frame sizes are what servers commonly see from a Rust client.
/// A connection to `origin` for HTTP/2: TCP (or the dial's route), and TLS that
/// agreed to `h2` by ALPN on `https://`. What opening it took goes to `last`.
pub(crate) async fn connect_h2(
    origin: &Origin,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    dial: &crate::dial::Dial,
    last: &mut Last,
) -> Result<crate::conn::Stream, ErrorKind> {
    let mut opened = Opened::default();
    let stream = connect(origin, tls, dial, &mut last.detail, &mut opened).await?;
    last.timing.opened = Some(opened);
    last.connected = true;
    if origin.scheme == Scheme::Https && stream.alpn() != Some(b"h2") {
        last.detail = Some(format!(
            "{} did not agree to HTTP/2 (ALPN h2)",
            origin.authority
        ));
        return Err(ErrorKind::Protocol);
    }
    Ok(stream)
}

async fn open(
    origin: &Origin,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    dial: &crate::dial::Dial,
    last: &mut Last,
) -> Result<H2Conn, NoConn> {
    let stream = connect_h2(origin, tls, dial, last)
        .await
        .map_err(|kind| NoConn {
            kind,
            opening: true,
        })?;
    let (send, conn) = h2::client::Builder::new()
        .initial_max_send_streams(100)
        .initial_window_size(2 << 20)
        .initial_connection_window_size(5 << 20)
        .max_frame_size(16 << 10)
        .max_header_list_size(16 << 10)
        .max_send_buffer_size(1 << 20)
        .enable_push(false)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|e| {
            let (kind, detail) = h2_failure(&e, false);
            last.detail = Some(detail);
            NoConn {
                kind,
                opening: true,
            }
        })?;
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (handles, mut gone) = tokio::sync::mpsc::channel::<()>(1);
    let ended = closed.clone();
    tokio::task::spawn(async move {
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            _ = &mut conn => {}
            // Every handle dropped: `h2` is not woken by that on its own, so poll it
            // once more to close (at once when no stream is open).
            _ = gone.recv() => {
                let _ = conn.await;
            }
        }
        ended.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(H2Conn {
        send,
        closed,
        _handles: handles,
    })
}

/// A handle on one HTTP/2 connection, for new streams: cloned for each VU sharing
/// it (`--h2-streams`), dropped with the last of them (which ends its task).
#[derive(Clone)]
pub(crate) struct H2Conn {
    pub(crate) send: h2::client::SendRequest<Bytes>,
    /// Set when the connection's task has ended (the server closed it, or it failed),
    /// or when the server sent `GOAWAY`: no new stream goes on it.
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The connection's task learns from this channel's closing that every handle is
    /// gone.
    _handles: tokio::sync::mpsc::Sender<()>,
}

impl H2Conn {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Take no new streams on this connection (its group's VUs included).
    fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Headers HTTP/2 forbids in a request (RFC 9113 8.2.2) that a step may name: the
/// compiler refuses `connection`, `transfer-encoding` and (on HTTP/2) `upgrade`, not
/// these; `te` is allowed only as `trailers`.
fn is_connection_header(name: &HeaderName) -> bool {
    *name == http::header::TE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

impl Http2 {
    pub fn new(program: &Program, http: &kaioken_vm::TransportPlan) -> Http2 {
        let steps = prepare(program).into();
        let group = if http.keepalive {
            h2pool::join(h2pool::Kind::Http2, http.h2_streams)
        } else {
            None
        };
        Http2 {
            last: Last {
                detail: None,
                capture: crate::judge::capture_for(program, http),
                location: Vec::new(),
                reconnected: false,
                connected: false,
                timing: Timing::default(),
                decoded: None,
            },
            follow: http.max_redirects > 0,
            keepalive: http.keepalive,
            conns: Conns::new(program, group),
            own: group.is_none().then(Vec::new),
            steps,
            last_len: 0,
        }
    }

    /// Close the connection in `slot` (its origin failed, or was replaced).
    pub fn drop_conn(&mut self, slot: usize) {
        self.conns.drop_conn(slot);
        if let Some(conn) = self.own.as_mut().and_then(|own| own.get_mut(slot)) {
            *conn = None;
        }
    }

    async fn exchange(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        s: Sending<'_>,
    ) -> Result<(u16, u64), ErrorKind> {
        let Sending {
            tls,
            dial,
            added,
            hop,
            ..
        } = s;
        let desc = program.step(step);
        let steps = self.steps.clone();
        let Some(prepared) = &steps[step] else {
            return Err(ErrorKind::Other);
        };
        let (slot, origin) = match hop {
            Some(h) => (h.slot, &h.origin),
            None => (desc.origin.index(), &program.origins[desc.origin]),
        };
        let src = Source {
            prepared,
            program,
            state,
            step,
            hop,
            added,
        };
        if self.own.is_some() {
            return self.exchange_own(slot, origin, src, info, s).await;
        }
        let (req, len) = build_request(src, origin, true)?;
        self.last_len = len;
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts, ());

        let conn = match self
            .conns
            .ready(slot, origin, tls, dial, &mut self.last)
            .await
        {
            Ok((conn, _)) => conn,
            Err(failed) => return Err(failed.kind),
        };
        // The request goes out as the stream opens: waiting is timed from here to
        // the response's head (see stats/phases.rs).
        self.last.timing.written = Some(Instant::now());
        let response = match conn.send.send_request(req, body.is_empty()) {
            Ok((response, mut stream)) => {
                if !body.is_empty()
                    && let Err(e) = stream.send_data(body, true)
                {
                    return Err(self.fail(&e, false));
                }
                response
            }
            Err(e) => return Err(self.fail(&e, false)),
        };
        let resp = match response.await {
            Ok(resp) => resp,
            Err(e) => return Err(self.fail(&e, false)),
        };
        self.last.timing.first_byte = Some(Instant::now());
        let status = resp.status().as_u16();
        self.last.location.clear();
        if self.follow
            && crate::redirect::is_redirect(status)
            && let Some(location) = resp.headers().get(http::header::LOCATION)
        {
            self.last.location.extend_from_slice(location.as_bytes());
        }
        let keep = info.keep;
        let capture = self.last.capture.as_mut().filter(|_| keep.any());
        let mut bytes_in = keep_head(
            capture.map(|c| c.start(keep.body)),
            b"HTTP/2",
            status,
            || fields(resp.headers()),
        );
        let mut body = resp.into_body();
        while let Some(data) = body.data().await {
            let data = data.map_err(|e| self.fail(&e, true))?;
            // Read: the server may send as much again.
            let _ = body.flow_control().release_capacity(data.len());
            bytes_in += data.len() as u64;
            if let Some(c) = self.last.capture.as_mut().filter(|_| keep.body) {
                c.push_body(&data);
            }
        }
        if !self.keepalive {
            self.drop_conn(slot);
        }
        Ok((status, bytes_in))
    }
}

impl Http2 {
    /// [`Http2::exchange`] on the VU's own connection in `slot` (made first when
    /// there is none, or the server is closing it). A request the server did not
    /// process on a reused connection goes once more, on a new one
    /// ([`Last::reconnected`]).
    async fn exchange_own(
        &mut self,
        slot: usize,
        origin: &Origin,
        src: Source<'_>,
        info: &StepInfo,
        s: Sending<'_>,
    ) -> Result<(u16, u64), ErrorKind> {
        let Some(own) = self.own.as_mut() else {
            return Err(ErrorKind::Other);
        };
        if slot >= own.len() {
            own.resize_with(slot + 1, || None);
        }
        loop {
            let last = &mut self.last;
            if own[slot].as_ref().is_some_and(|c| !c.usable()) {
                // The server sent `GOAWAY`: it takes no new stream.
                last.timing.closed_by_server = true;
                own[slot] = None;
            }
            let fresh = own[slot].is_none();
            if fresh {
                own[slot] = Some(OwnConn::open(origin, s.tls, s.dial, last).await?);
            }
            last.timing.reused = !fresh;
            let Some(conn) = own[slot].as_mut() else {
                return Err(ErrorKind::Other);
            };
            let keep = info.keep;
            let location = &mut last.location;
            location.clear();
            let result = conn
                .exchange(
                    src,
                    origin,
                    Keep {
                        capture: last.capture.as_mut().filter(|_| keep.any()),
                        body: keep.body,
                        location: self.follow.then_some(location),
                    },
                    &mut last.timing,
                    &mut self.last_len,
                )
                .await;
            match result {
                Ok(answer) => {
                    if !self.keepalive {
                        own[slot] = None;
                    }
                    return Ok(answer);
                }
                Err(Failed::Unprocessed(_)) if !fresh => {
                    last.timing.closed_by_server = true;
                    last.reconnected = true;
                    own[slot] = None;
                }
                Err(Failed::Unprocessed(code)) => {
                    last.detail = Some(match code {
                        Some(code) => goaway(code),
                        None => "the server closed the connection before the response".into(),
                    });
                    return Err(ErrorKind::Reset);
                }
                Err(Failed::Kind(kind, detail)) => {
                    last.detail = detail;
                    return Err(kind);
                }
            }
        }
    }

    /// Classify an HTTP/2 error and keep its message (the cold path).
    #[cold]
    fn fail(&mut self, e: &h2::Error, in_body: bool) -> ErrorKind {
        let (kind, detail) = h2_failure(e, in_body);
        self.last.detail = Some(detail);
        kind
    }
}

/// A stream reset (`RST_STREAM`) or a connection closed (`GOAWAY`): `reset` before the
/// response's head, `body_read` during its body, and a detail with the HTTP/2 error
/// code either way. Other HTTP/2 errors are `protocol` (or an I/O error's class).
pub(crate) fn h2_failure(e: &h2::Error, in_body: bool) -> (ErrorKind, String) {
    let code = |r: h2::Reason| error_code(r.into());
    let by = if e.is_remote() {
        "the server"
    } else {
        "kaioken"
    };
    let (what, reason) = match e.reason() {
        Some(r) if e.is_reset() => (format!("{by} reset the stream (RST_STREAM)"), r),
        Some(r) if e.is_go_away() => (format!("{by} closed the connection (GOAWAY)"), r),
        _ => {
            let kind = match e.get_io() {
                Some(io) => ErrorKind::from_io(io, in_body),
                None if in_body => ErrorKind::BodyRead,
                None => ErrorKind::Protocol,
            };
            return (kind, e.to_string());
        }
    };
    let kind = if in_body {
        ErrorKind::BodyRead
    } else {
        ErrorKind::Reset
    };
    (kind, format!("{what}, {}", code(reason)))
}

/// An HTTP/2 error code as a failure's detail names it: `HTTP/2 error code
/// PROTOCOL_ERROR (0x1)`.
pub(crate) fn error_code(code: u32) -> String {
    format!("HTTP/2 error code {:?} ({code:#x})", h2::Reason::from(code))
}

impl Driver for Http2 {
    fn last(&self) -> &Last {
        &self.last
    }

    fn last_mut(&mut self) -> &mut Last {
        &mut self.last
    }

    /// The length of the request last sent, its head as HTTP/1.1 would spell it
    /// plus its body: HPACK makes the real wire size smaller.
    fn bytes_sent(&self) -> u64 {
        self.last_len
    }

    fn close(&mut self, slot: usize) {
        self.drop_conn(slot);
    }
}

impl Perform for Http2 {
    async fn perform(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        s: Sending<'_>,
    ) -> Outcome {
        let slot = s.hop.map_or(program.step(step).origin.index(), |h| h.slot);
        self.last.connected = false;
        self.last.reconnected = false;
        self.last.timing = Timing::default();
        let timeout = s.timeout;
        let exchange = self.exchange(program, state, step, info, s);
        let outcome = Outcome::of_exchange(tokio::time::timeout(timeout, exchange).await);
        if matches!(outcome, Outcome::Error(_)) {
            self.drop_conn(slot);
        }
        outcome
    }
}
