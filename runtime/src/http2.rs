//! The HTTP/2 driver: prior knowledge on `http://`, ALPN `h2` on `https://`. One
//! connection per VU and origin, one stream at a time (the closed model's VU waits
//! for its response), spoken by the VU's task itself over `kaioken-http2`'s
//! sans-I/O connection (h2own.rs): no connection task, no channel, no waker between
//! the request and the socket. With `--h2-streams N`, the VUs of a worker thread
//! share connections to the program's origins N to a connection, each VU's request
//! on its own stream (h2pool.rs), and the VUs waiting on a connection read it in
//! turn.
//!
//! A request's parts come from one [`Source`]: the per-step parts that never change
//! (method, header names, constant values, a constant path's URI, a constant body)
//! are converted once ([`prepare`]), and the header block is encoded from them
//! straight into the connection's write buffer, with nothing allocated per request.
//! Building an `http::Request` from the same source ([`build_request`]) and keeping
//! a response's head ([`keep_head`]) are shared with the HTTP/3 driver (http3.rs);
//! the connections (h2own.rs) with the gRPC driver (grpc.rs).

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use kaioken_vm::{Operand, Origin, Program, Scheme, StepId, VuState};

use crate::ErrorKind;
use crate::conn::connect;
use crate::deadline::Armed;
use crate::driver::{Driver, Last, Perform};
use crate::h2own::{self, Conns, Failed};
use crate::h2pool;
use crate::http1::{Added, Sending, StepInfo};
use crate::redirect::Hop;
use crate::stats::Outcome;
use crate::stats::{Opened, Timing};
use kaioken_http1::Capture;
use kaioken_http2::hpack::Fields;
use kaioken_vm::Reads;

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
    /// The path is a constant that passed `h2own::check_path`, and every header
    /// value is a constant: a request of the step has nothing of the VU's state to
    /// check, unless it follows a redirect or carries added headers.
    constant: bool,
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
            let constant = s.head_is_constant()
                && matches!(s.path, Operand::Const(k)
                    if crate::h2own::check_path(program.constant(k)).is_ok());
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
                constant,
            })
        })
        .collect()
}

/// Where a request's parts come from: its step's prepared parts and the VU's
/// state, the redirect it follows (`hop`), and the headers `added` to the step's
/// (cookies, `traceparent`). The HTTP/2 and gRPC drivers encode their header
/// blocks from it directly (h2own.rs); [`build_request`] makes an `http::Request`
/// of it for HTTP/3.
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

    /// Check what the request reads from the VU's state as `http` would (its path,
    /// its headers' values; `h2` as for [`Source::headers`]): nothing to do for a
    /// step whose parts are constants checked once, with nothing added.
    pub(crate) fn check_read(&self, h2: Option<usize>) -> Result<(), ErrorKind> {
        if self.is_constant() {
            return Ok(());
        }
        crate::h2own::check_path(self.path())?;
        self.headers(h2, |_, value| crate::h2own::check_value(value))?;
        Ok(())
    }

    /// Every request of the step has this head: its path and headers are
    /// constants, and it is not a redirect's, nor carries added headers (its body,
    /// and so its `content-length`, may still change).
    pub(crate) fn is_constant(&self) -> bool {
        self.prepared.constant && self.hop.is_none() && self.added.is_empty()
    }

    /// Every request of the step has this path: a constant, not a redirect's.
    pub(crate) fn constant_path(&self) -> bool {
        self.hop.is_none() && matches!(self.program.step(self.step).path, Operand::Const(_))
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
    /// as HTTP/2 and HTTP/3 allow them: RFC 9113 section 8.2.2 (and RFC 9114
    /// section 4.2) forbids connection-specific fields, so `keep-alive`, `proxy-connection` and a `te` other than `trailers`
    /// are left out (the compiler refuses `connection`, `transfer-encoding` and
    /// `upgrade`), and `content-length` follows for a body, or for an empty one of a
    /// method whose body has a meaning (not GET, HEAD, DELETE, CONNECT); the
    /// compiler refuses a step's own. Returns the headers' length as HTTP/1.1 spells
    /// them, without the `content-length`.
    pub(crate) fn headers<E>(
        &self,
        h2: Option<usize>,
        mut f: impl FnMut(&HeaderName, Value<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
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

/// The request for `step` (or the redirect `hop` it led to, with the headers
/// `added`): its connection slot, its origin and its [`Source`], from each step's
/// prepared parts (a step whose constant parts `http` refuses fails as `other`).
pub(crate) fn source<'a: 'p, 'p>(
    steps: &'p [Option<Prepared>],
    program: &'a Program,
    state: &'a VuState,
    step: StepId,
    hop: Option<&'a Hop>,
    added: Added<'a>,
) -> Result<(usize, &'a Origin, Source<'p>), ErrorKind> {
    let Some(prepared) = &steps[step] else {
        return Err(ErrorKind::Other);
    };
    let desc = program.step(step);
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
    Ok((slot, origin, src))
}

/// The `traceparent` header's name.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The request `src` describes, to `origin` (the step's, or its redirect's), as an
/// `http::Request` (for HTTP/3), its headers as HTTP/2's ([`Source::headers`]):
/// RFC 9114 section 4.2 forbids the same connection-specific fields, and h3 sends
/// no `content-length` of its own, which a server or a proxy in front of one may
/// need to read the body (Caddy's `reverse_proxy` passed an empty one on). Also
/// its length as HTTP/1.1 would spell it (the header compression of HTTP/3 makes
/// the wire smaller).
pub(crate) fn build_request(
    src: Source<'_>,
    origin: &Origin,
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
    let body_len = body.len();
    let head_len = 16 + method.as_str().len();
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    let head_len = head_len
        + src.headers(Some(body_len), |name, value| {
            headers.append(name.clone(), value.to_header_value()?);
            Ok::<_, ErrorKind>(())
        })?;
    let len = (head_len + req.body().len()) as u64;
    Ok((req, len))
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

/// An HTTP/2 response head's fields less its pseudo-header fields.
pub(crate) fn regular(head: &Fields) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.iter().filter(|(name, _)| !name.starts_with(b":"))
}

/// Keep an HTTP/2 response's head for the step's checks and extractors when it
/// `reads` it, as [`keep_head`] does; returns its length as HTTP/1.1 spells it.
pub(crate) fn keep_h2_head(last: &mut Last, reads: Reads, status: u16, head: &Fields) -> u64 {
    let capture = last.capture.as_mut().filter(|_| reads.any());
    keep_head(
        capture.map(|c| c.start(reads.body)),
        b"HTTP/2",
        status,
        || regular(head),
    )
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
    steps: std::sync::Arc<[Option<Prepared>]>,
    last_len: u64,
}

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

/// Headers HTTP/2 forbids in a request (RFC 9113 8.2.2) that a step may name: the
/// compiler refuses `connection`, `transfer-encoding` and (on HTTP/2) `upgrade`, not
/// these; `te` is allowed only as `trailers`.
pub(crate) fn is_connection_header(name: &HeaderName) -> bool {
    *name == http::header::TE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

impl Http2 {
    pub fn new(program: &Program, transport: &crate::driver::Transport) -> Http2 {
        let http = &transport.http;
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
            conns: Conns::new(program.origins.len(), group),
            steps: transport.prepared.clone(),
            last_len: 0,
        }
    }

    /// Send the request for `step` (or the redirect it follows) on the VU's
    /// connection in its slot and read its response (h2own.rs's `Conns`).
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
        let (slot, origin, src) = source(&self.steps, program, state, step, hop, added)?;
        self.last.location.clear();
        let mut keep = Keep {
            reads: info.keep,
            follow: self.follow,
        };
        let mut bytes_in = 0;
        let status = self
            .conns
            .exchange(
                slot,
                origin,
                tls,
                dial,
                &mut self.last,
                &src,
                &mut keep,
                (&mut self.last_len, &mut bytes_in),
            )
            .await?;
        if !self.keepalive {
            self.conns.drop_conn(slot);
        }
        Ok((status, bytes_in))
    }
}

/// An HTTP request's header block, encoded from its [`Source`] (nothing
/// allocated): the pseudo-header fields, then the headers as HTTP/2 allows them
/// ([`Source::headers`]).
impl h2own::Request for Source<'_> {
    fn check(&self) -> Result<(), ErrorKind> {
        self.check_read(Some(Source::body(self).0.len()))
    }

    fn encode(&self, block: &mut h2own::Block<'_>, origin: &Origin, body_len: usize) -> usize {
        let method = self.method();
        block.pseudo(method, origin, self.path(), self.constant_path());
        let Ok(headers) = self.headers(Some(body_len), |name, value| {
            block.header(name, value);
            Ok::<_, std::convert::Infallible>(())
        });
        16 + method.len() + headers
    }

    fn body(&self) -> &[u8] {
        Source::body(self).0
    }

    fn replay_key(&self) -> Option<usize> {
        self.is_constant().then(|| self.step.index())
    }
}

/// What of an HTTP response is kept, as it comes: its head and body for the step's
/// checks and extractors, and a redirect's `Location` when redirects are followed.
struct Keep {
    reads: Reads,
    follow: bool,
}

impl h2own::Sink for Keep {
    fn head(&mut self, last: &mut Last, status: u16, head: &Fields) -> u64 {
        if self.follow
            && crate::redirect::is_redirect(status)
            && let Some((_, v)) = regular(head).find(|(n, _)| *n == b"location")
        {
            last.location.extend_from_slice(v);
        }
        keep_h2_head(last, self.reads, status, head)
    }

    fn data(&mut self, last: &mut Last, data: &[u8]) -> Result<(), Failed> {
        if self.reads.body
            && let Some(c) = last.capture.as_mut()
        {
            c.push_body(data);
        }
        Ok(())
    }

    fn trailers(&mut self, _: &mut Last, fields: &Fields) -> u64 {
        header_bytes(fields.iter())
    }
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
        self.conns.drop_conn(slot);
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
        deadline: Armed<'_>,
    ) -> Outcome {
        let slot = s.hop.map_or(program.step(step).origin.index(), |h| h.slot);
        self.last.connected = false;
        self.last_len = 0;
        self.last.reconnected = false;
        self.last.timing = Timing::default();
        let exchange = || self.exchange(program, state, step, info, s);
        let outcome = Outcome::of_exchange(deadline.within(exchange).await);
        if matches!(outcome, Outcome::Error(_)) {
            self.conns.drop_conn(slot);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use kaioken_compiler::{Flags, Input, compile, lower};

    /// The step's first prepared parts, for a run of `flags` over HTTP/2.
    fn prepared(url: &str, headers: &[&str]) -> super::Prepared {
        let flags = Flags {
            url: Some(url.into()),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            http2: true,
            ..Flags::default()
        };
        let input = Input {
            flags,
            ..Input::default()
        };
        let program = compile(&lower(&input).unwrap()).unwrap();
        super::prepare(&program).swap_remove(0).unwrap()
    }

    #[test]
    fn only_a_step_of_constants_skips_the_request_check() {
        let url = "http://127.0.0.1:1/items?a=1";
        assert!(prepared(url, &["x-token: abc"]).constant);
        assert!(!prepared(url, &["x-vu: ${VU}"]).constant);
        assert!(!prepared("http://127.0.0.1:1/items/${REQUEST_ID}", &[]).constant);
    }
}
