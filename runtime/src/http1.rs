//! The HTTP/1.1 driver: request bytes straight from the VU's buffers to the socket, the
//! response parsed in place with `httparse`.
//!
//! Why not hyper here: building a hyper `Request` and `HeaderMap` per request and a
//! `Response` back costs allocations and about 1.2x the CPU per request of this path
//! (measured: hyper `client::conn::http1` at 1.11x wrk's CPU per request, a raw
//! write + read + httparse loop at 0.92x). The driver owns two buffers per VU, reused
//! for the whole run; after the first few requests it allocates nothing.

use std::sync::Arc;
use std::time::Duration;

use kaioken_vm::{Method, Operand, Program, Reads, StepId, VuState};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ErrorKind;
use crate::conn::{Stream, connect};
use crate::redirect::Hop;
use crate::response_parser::{Capture, Response, ResponseParser};
use crate::stats::Outcome;

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
}

/// What a request needs besides its step: the run's TLS settings and timeout, the
/// VU's cookie header for it, and the redirect it follows, if any.
pub(crate) struct Sending<'a> {
    pub tls: Option<&'a Arc<ClientConfig>>,
    pub timeout: Duration,
    pub cookie: Option<&'a [u8]>,
    pub hop: Option<&'a Hop>,
}

impl StepInfo {
    pub fn for_program(program: &Program, cookie_jar: bool) -> Arc<[StepInfo]> {
        program
            .steps
            .iter()
            .map(|s| StepInfo {
                keep: crate::judge::keep_for(s, cookie_jar),
                has_host: s
                    .headers
                    .iter()
                    .any(|h| program.constant(h.name).eq_ignore_ascii_case(b"host")),
            })
            .collect()
    }
}

/// One VU's HTTP/1.1 connections (one per origin) and buffers.
pub(crate) struct Http1 {
    /// What went wrong with the last failed connect, for the report.
    pub detail: Option<String>,
    /// The last response's head and body, when checks read them.
    pub capture: Option<Capture>,
    /// The last response's `Location`, when it was a redirect to follow.
    pub location: Vec<u8>,
    /// Keep redirects' `Location`s.
    follow: bool,
    /// By connection slot: the program's origins, then those redirects led to.
    conns: Vec<Option<Stream>>,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    rpos: usize,
}

impl Http1 {
    pub fn new(program: &Program, http: &kaioken_vm::TransportPlan) -> Http1 {
        Http1 {
            detail: None,
            capture: crate::judge::capture_for(program, http.cookie_jar),
            location: Vec::new(),
            follow: http.max_redirects > 0,
            conns: (0..program.origins.len()).map(|_| None).collect(),
            wbuf: Vec::with_capacity(1024),
            rbuf: Vec::with_capacity(READ_CHUNK),
            rpos: 0,
        }
    }

    /// Length of the request last written, for the bytes-sent count.
    pub fn request_len(&self) -> u64 {
        self.wbuf.len() as u64
    }

    /// Send `step` (or, with `s.hop`, the redirect it led to) and read its whole
    /// response, within `s.timeout`.
    pub async fn send(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        s: Sending<'_>,
    ) -> Outcome {
        let Sending {
            tls,
            timeout,
            cookie,
            hop,
        } = s;
        write_request(&mut self.wbuf, program, state, step, info, cookie, hop);
        let desc = program.step(step);
        let (slot, origin, method) = match hop {
            Some(h) => (h.slot, &h.origin, &h.method),
            None => (
                desc.origin.index(),
                &program.origins[desc.origin],
                &desc.method,
            ),
        };
        let is_head = *method == Method::Head;
        let exchange = self.exchange(slot, origin, is_head, info.keep, tls);
        let result = tokio::time::timeout(timeout, exchange).await;
        let outcome = Outcome::of_exchange(result);
        if matches!(outcome, Outcome::Error(_)) {
            self.drop_conn(slot);
        }
        outcome
    }

    /// Close the connection in `slot` (its origin failed, or was replaced).
    pub fn drop_conn(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot) {
            *conn = None;
        }
        self.rbuf.clear();
        self.rpos = 0;
    }

    async fn exchange(
        &mut self,
        slot: usize,
        origin: &kaioken_vm::Origin,
        is_head: bool,
        keep: Reads,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<(u16, u64), ErrorKind> {
        if slot >= self.conns.len() {
            self.conns.resize_with(slot + 1, || None);
        }
        if self.conns[slot].is_none() {
            let stream = connect(origin, tls, &mut self.detail).await?;
            self.conns[slot] = Some(stream);
            self.rbuf.clear();
            self.rpos = 0;
        }
        let Some(stream) = self.conns[slot].as_mut() else {
            return Err(ErrorKind::Other);
        };
        stream
            .write_all(&self.wbuf)
            .await
            .map_err(|e| ErrorKind::from_io(&e, false))?;
        let capture = self.capture.as_mut().filter(|_| keep.any());
        let mut reader = Reader {
            stream,
            buf: &mut self.rbuf,
            pos: &mut self.rpos,
            capture: capture.map(|c| c.start(keep.body)),
        };
        let mut parser = ResponseParser::new(is_head).following_redirects(self.follow);
        let response = reader.read_response(&mut parser).await?;
        self.location = parser.location;
        if !response.keep_alive {
            self.drop_conn(slot);
        }
        Ok((response.status, response.bytes))
    }
}

struct Reader<'a> {
    stream: &'a mut Stream,
    buf: &'a mut Vec<u8>,
    pos: &'a mut usize,
    capture: Option<&'a mut Capture>,
}

impl Reader<'_> {
    /// Read more bytes. `Ok(0)` is end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
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
        self.stream.read_buf(self.buf).await
    }

    /// Read one response: feed the parser what is buffered, read more until it is
    /// complete. Bytes after the response stay buffered.
    async fn read_response(&mut self, parser: &mut ResponseParser) -> Result<Response, ErrorKind> {
        loop {
            let (used, done) =
                parser.advance_into(&self.buf[*self.pos..], self.capture.as_deref_mut())?;
            *self.pos += used;
            if let Some(response) = done {
                return Ok(response);
            }
            match self.fill().await {
                Ok(0) => return parser.eof(),
                Ok(_) => {}
                Err(e) => return Err(ErrorKind::from_io(&e, parser.in_body())),
            }
        }
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
    cookie: Option<&[u8]>,
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
    for h in &desc.headers {
        if hop.is_some() && !crate::redirect::keeps_header(program.constant(h.name), hop) {
            continue;
        }
        w.extend_from_slice(program.constant(h.name));
        w.extend_from_slice(b": ");
        w.extend_from_slice(program.bytes(state, h.value));
        w.extend_from_slice(b"\r\n");
    }
    if let Some(cookie) = cookie {
        w.extend_from_slice(b"cookie: ");
        w.extend_from_slice(cookie);
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

impl crate::driver::Driver for Http1 {
    fn bytes_sent(&self) -> u64 {
        self.request_len()
    }

    fn capture(&self) -> Option<&Capture> {
        self.capture.as_ref()
    }

    fn location(&self) -> &[u8] {
        &self.location
    }

    fn close(&mut self, slot: usize) {
        self.drop_conn(slot);
    }

    fn take_detail(&mut self) -> Option<String> {
        self.detail.take()
    }
}

impl crate::driver::Perform for Http1 {
    async fn perform(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        s: Sending<'_>,
    ) -> Outcome {
        self.send(program, state, step, info, s).await
    }
}
