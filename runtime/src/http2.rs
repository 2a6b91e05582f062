//! The HTTP/2 driver, on hyper's `client::conn::http2`: prior knowledge on `http://`,
//! ALPN `h2` on `https://`. One connection per VU and origin, one stream at a time
//! (the closed model's VU waits for its response); with `--h2-streams N`, the VUs of
//! a worker thread share connections to the program's origins N to a connection,
//! each VU's request on its own stream (h2pool.rs).
//!
//! Unlike the HTTP/1.1 path this builds a hyper `Request` per request; HTTP/2's framing
//! and HPACK are hyper's job, and the per-step parts that never change (method, header
//! names, constant values) are converted once. Building a request from a step and
//! keeping a response's head ([`prepare`], [`build_request`], [`keep_head`]) are
//! shared with the HTTP/3 driver (http3.rs), which differs only below them.

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kaioken_vm::{Operand, Origin, Program, Scheme, StepId, VuState};

use crate::ErrorKind;
use crate::conn::connect;
use crate::driver::{Driver, Last, Perform};
use crate::h2pool;
use crate::http1::{Added, Sending, StepInfo};
use crate::redirect::Hop;
use crate::response_parser::Capture;
use crate::stats::Outcome;
use crate::stats::{Opened, Timing};

/// A step's request parts that never change (method, header names, constant values),
/// converted once: HTTP/2 and HTTP/3 build their `http::Request`s from them alike.
pub(crate) struct Prepared {
    method: Method,
    /// `scheme://authority`, to which the path is appended.
    prefix: String,
    headers: Vec<(HeaderName, Option<HeaderValue>)>,
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
            Some(Prepared {
                method: Method::from_bytes(s.method.as_str().as_bytes()).ok()?,
                prefix: format!("{scheme}://{}", origin.authority),
                headers,
            })
        })
        .collect()
}

/// The request for `step` (or the redirect `hop` it led to) to `origin`, with the
/// headers `added` to the step's (cookies, `traceparent`), and its length as HTTP/1.1 would spell it (the header
/// compression of HTTP/2 and HTTP/3 makes the wire smaller).
pub(crate) fn build_request(
    prepared: &Prepared,
    program: &Program,
    state: &VuState,
    step: StepId,
    origin: &Origin,
    hop: Option<&Hop>,
    added: Added<'_>,
) -> Result<(Request<Bytes>, u64), ErrorKind> {
    let desc = program.step(step);
    let mut uri = String::with_capacity(prepared.prefix.len() + 64);
    let (method, path) = match hop {
        Some(h) => {
            uri.push_str(if origin.scheme == Scheme::Https {
                "https://"
            } else {
                "http://"
            });
            uri.push_str(&origin.authority);
            let method =
                Method::from_bytes(h.method.as_str().as_bytes()).map_err(|_| ErrorKind::Other)?;
            (method, h.path.as_slice())
        }
        None => {
            uri.push_str(&prepared.prefix);
            (prepared.method.clone(), program.bytes(state, desc.path))
        }
    };
    uri.push_str(std::str::from_utf8(path).map_err(|_| ErrorKind::Other)?);
    let mut head_len = 16 + method.as_str().len();
    let mut req = Request::builder().method(method).uri(uri);
    for (h, (name, value)) in desc.headers.iter().zip(&prepared.headers) {
        if !crate::redirect::keeps_header(name.as_str().as_bytes(), hop) {
            continue;
        }
        let value = match value {
            Some(v) => v.clone(),
            None => HeaderValue::from_bytes(program.bytes(state, h.value))
                .map_err(|_| ErrorKind::Other)?,
        };
        head_len += name.as_str().len() + value.len() + 4;
        req = req.header(name, value);
    }
    if let Some(cookie) = added.cookie {
        let value = HeaderValue::from_bytes(cookie).map_err(|_| ErrorKind::Other)?;
        head_len += 8 + value.len();
        req = req.header(http::header::COOKIE, value);
    }
    if let Some(traceparent) = added.traceparent {
        req = add_traceparent(req, traceparent, &mut head_len)?;
    }
    let body = match desc.body {
        Some(b) if hop.is_none_or(|h| h.keep_body) => {
            Bytes::copy_from_slice(program.bytes(state, b))
        }
        _ => Bytes::new(),
    };
    let len = (head_len + body.len()) as u64;
    let req = req.body(body).map_err(|_| ErrorKind::Other)?;
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
    Ok(req.header(http::HeaderName::from_static("traceparent"), value))
}

/// Keep a response's head in `c` as HTTP/1.1 spells one (`version` for the status
/// line, e.g. `HTTP/2`), for checks, extractors and the cookie jar. Returns the
/// head's length as HTTP/1.1 would spell it (its status line taken as 12 bytes), for
/// `bytes_received`.
pub(crate) fn keep_head(
    c: Option<&mut Capture>,
    version: &[u8],
    status: u16,
    headers: &http::HeaderMap,
) -> u64 {
    if let Some(c) = c {
        c.head.extend_from_slice(version);
        c.head.push(b' ');
        c.head
            .extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        c.head.extend_from_slice(b"\r\n");
        push_headers(&mut c.head, headers);
        c.head.extend_from_slice(b"\r\n");
    }
    header_bytes(headers) + 12
}

/// Append `headers` to `out` as HTTP/1.1 lines (`name: value\r\n`).
pub(crate) fn push_headers(out: &mut Vec<u8>, headers: &http::HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The length of `headers` as HTTP/1.1 lines would spell them.
pub(crate) fn header_bytes(headers: &http::HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(n, v)| (n.as_str().len() + v.len() + 4) as u64)
        .sum()
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
    steps: Vec<Option<Prepared>>,
    last_len: u64,
}

/// A VU's HTTP/2 connections, one per connection slot (the program's origins, then
/// those redirects led to), shared with its group of VUs under `--h2-streams`
/// (h2pool.rs): what the HTTP/2 and gRPC drivers both hold.
pub(crate) struct Conns {
    slots: Vec<Option<SendRequest<Full<Bytes>>>>,
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
    /// failure's detail.
    pub async fn ready(
        &mut self,
        slot: usize,
        origin: &Origin,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
        dial: &crate::dial::Dial,
        last: &mut Last,
    ) -> Result<(&mut SendRequest<Full<Bytes>>, Option<std::time::Duration>), NoConn> {
        let fail = |last: &mut Last, e: &hyper::Error, opening| {
            let (kind, detail) = failure(e, false);
            last.detail = Some(detail);
            NoConn { kind, opening }
        };
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || None);
        }
        let mut claim = None;
        if let Some(group) = self.group.filter(|_| slot < self.origins)
            && self.slots[slot].as_ref().is_none_or(|s| s.is_closed())
        {
            match h2pool::shared(group, slot).await {
                Ok(conn) => self.slots[slot] = Some(conn),
                Err(mine) => claim = Some(mine),
            }
        }
        let closed = self.slots[slot].as_ref().is_none_or(|s| s.is_closed());
        let mut took = None;
        if closed {
            if self.slots[slot].is_some() {
                // The server ended the connection (GOAWAY, or closed it).
                last.timing.closed_by_server = true;
            }
            let began = Instant::now();
            let mut opened = Opened::default();
            let stream = connect(origin, tls, dial, &mut last.detail, &mut opened)
                .await
                .map_err(|kind| NoConn {
                    kind,
                    opening: true,
                })?;
            last.timing.opened = Some(opened);
            last.connected = true;
            if origin.scheme == Scheme::Https && stream.alpn() != Some(b"h2") {
                last.detail = Some(format!(
                    "{} did not agree to HTTP/2 (ALPN h2)",
                    origin.authority
                ));
                return Err(NoConn {
                    kind: ErrorKind::Protocol,
                    opening: true,
                });
            }
            let (sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .map_err(|e| fail(last, &e, true))?;
            tokio::task::spawn(async move {
                let _ = conn.await;
            });
            if let Some(claim) = claim {
                claim.share(&sender);
            }
            self.slots[slot] = Some(sender);
            took = Some(began.elapsed());
        }
        last.timing.reused = !closed;
        let Some(sender) = self.slots[slot].as_mut() else {
            return Err(NoConn {
                kind: ErrorKind::Other,
                opening: false,
            });
        };
        if let Err(e) = sender.ready().await {
            return Err(fail(last, &e, false));
        }
        Ok((sender, took))
    }
}

impl Http2 {
    pub fn new(program: &Program, http: &kaioken_vm::TransportPlan) -> Http2 {
        let steps = prepare(program);
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
            conns: Conns::new(
                program,
                if http.keepalive {
                    h2pool::join(h2pool::Kind::Http2, http.h2_streams)
                } else {
                    None
                },
            ),
            steps,
            last_len: 0,
        }
    }

    /// Close the connection in `slot` (its origin failed, or was replaced).
    pub fn drop_conn(&mut self, slot: usize) {
        self.conns.drop_conn(slot);
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
        let Some(prepared) = &self.steps[step] else {
            return Err(ErrorKind::Other);
        };
        let (slot, origin) = match hop {
            Some(h) => (h.slot, &h.origin),
            None => (desc.origin.index(), &program.origins[desc.origin]),
        };
        let (req, len) = build_request(prepared, program, state, step, origin, hop, added)?;
        self.last_len = len;
        let req = req.map(Full::new);

        let sender = match self
            .conns
            .ready(slot, origin, tls, dial, &mut self.last)
            .await
        {
            Ok((sender, _)) => sender,
            Err(failed) => return Err(failed.kind),
        };
        // The request goes out as the stream opens: waiting is timed from here to
        // the response's head (see stats/phases.rs).
        self.last.timing.written = Some(Instant::now());
        let resp = match sender.send_request(req).await {
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
            resp.headers(),
        );
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.fail(&e, true))?;
            if let Some(data) = frame.data_ref() {
                bytes_in += data.len() as u64;
                if let Some(c) = self.last.capture.as_mut().filter(|_| keep.body) {
                    c.push_body(data);
                }
            }
        }
        if !self.keepalive {
            self.drop_conn(slot);
        }
        Ok((status, bytes_in))
    }
}

impl Http2 {
    /// Classify a hyper error and keep its message (the cold path).
    #[cold]
    fn fail(&mut self, e: &hyper::Error, in_body: bool) -> ErrorKind {
        let (kind, detail) = failure(e, in_body);
        self.last.detail = Some(detail);
        kind
    }
}

/// A hyper error of an HTTP/2 exchange (before its response's head, or `in_body`): its
/// class and its message (gRPC's driver classifies its calls' failures alike).
#[cold]
pub(crate) fn failure(e: &hyper::Error, in_body: bool) -> (ErrorKind, String) {
    match h2_error(e) {
        Some(h2) => h2_failure(h2, in_body),
        None => (classify(e, in_body), with_sources(e)),
    }
}

/// An error's message followed by its sources' (hyper's own says only "connection
/// error" for an I/O error).
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The HTTP/2 error under a hyper error, if the peer or the protocol ended the stream
/// or the connection.
fn h2_error(e: &hyper::Error) -> Option<&h2::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        source = s.source();
    }
    None
}

/// A stream reset (`RST_STREAM`) or a connection closed (`GOAWAY`): `reset` before the
/// response's head, `body_read` during its body, and a detail with the HTTP/2 error
/// code either way. Other HTTP/2 errors are `protocol` (or an I/O error's class).
fn h2_failure(e: &h2::Error, in_body: bool) -> (ErrorKind, String) {
    let code = |r: h2::Reason| format!("HTTP/2 error code {r:?} ({:#x})", u32::from(r));
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

fn classify(e: &hyper::Error, in_body: bool) -> ErrorKind {
    if in_body {
        return ErrorKind::BodyRead;
    }
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    if e.is_parse() || e.is_user() {
        return ErrorKind::Protocol;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return ErrorKind::from_io(io, false);
        }
        source = s.source();
    }
    if e.is_closed() || e.is_canceled() || e.is_incomplete_message() {
        return ErrorKind::Reset;
    }
    ErrorKind::Protocol
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
