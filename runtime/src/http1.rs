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

use httparse::Status;
use kaioken_vm::{Operand, Program, StepId, VuState};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ErrorKind;
use crate::conn::{Stream, connect};
use crate::stats::Outcome;

/// Response heads larger than this are a protocol error, so a broken server cannot make
/// a VU's buffer grow without bound.
const MAX_HEAD: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// Facts about a step that the driver needs per request, worked out once per run.
#[derive(Debug, Clone)]
pub(crate) struct StepInfo {
    /// The step sets its own `host` header.
    pub has_host: bool,
    /// `HEAD`: the response has no body whatever its headers say.
    pub is_head: bool,
    /// The method conventionally has a body, so send `content-length: 0` without one.
    pub wants_length: bool,
}

impl StepInfo {
    pub fn for_program(program: &Program) -> Arc<[StepInfo]> {
        program
            .steps
            .iter()
            .map(|s| StepInfo {
                has_host: s
                    .headers
                    .iter()
                    .any(|h| program.constant(h.name).eq_ignore_ascii_case(b"host")),
                is_head: s.method.eq_ignore_ascii_case("HEAD"),
                wants_length: matches!(s.method.as_str(), "POST" | "PUT" | "PATCH"),
            })
            .collect()
    }
}

/// One VU's HTTP/1.1 connections (one per origin) and buffers.
pub(crate) struct Http1 {
    /// What went wrong with the last failed connect, for the report.
    pub detail: Option<String>,
    conns: Vec<Option<Stream>>,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    rpos: usize,
}

impl Http1 {
    pub fn new(program: &Program) -> Http1 {
        Http1 {
            detail: None,
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

    /// Send `step` and read its whole response, within `timeout`.
    pub async fn send(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        tls: Option<&Arc<ClientConfig>>,
        timeout: Duration,
    ) -> Outcome {
        self.write_request(program, state, step, info);
        let origin = program.step(step).origin;
        let result = tokio::time::timeout(timeout, self.exchange(program, origin, info, tls)).await;
        match result {
            Ok(Ok((status, bytes_in))) => Outcome::Response { status, bytes_in },
            Ok(Err(kind)) => {
                self.drop_conn(origin);
                Outcome::Error(kind)
            }
            Err(_) => {
                self.drop_conn(origin);
                Outcome::Error(ErrorKind::Timeout)
            }
        }
    }

    fn drop_conn(&mut self, origin: kaioken_vm::OriginId) {
        self.conns[origin] = None;
        self.rbuf.clear();
        self.rpos = 0;
    }

    /// Serialize the request into `wbuf`: request line, host, headers, framing, body.
    fn write_request(&mut self, program: &Program, state: &VuState, step: StepId, info: &StepInfo) {
        let desc = program.step(step);
        let w = &mut self.wbuf;
        w.clear();
        w.extend_from_slice(desc.method.as_bytes());
        w.push(b' ');
        w.extend_from_slice(program.bytes(state, desc.path));
        w.extend_from_slice(b" HTTP/1.1\r\n");
        if !info.has_host {
            w.extend_from_slice(b"host: ");
            w.extend_from_slice(program.origins[desc.origin].authority.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        for h in &desc.headers {
            w.extend_from_slice(program.constant(h.name));
            w.extend_from_slice(b": ");
            w.extend_from_slice(program.bytes(state, h.value));
            w.extend_from_slice(b"\r\n");
        }
        let body: &[u8] = desc.body.map_or(&[], |b: Operand| program.bytes(state, b));
        if desc.body.is_some() || info.wants_length {
            w.extend_from_slice(b"content-length: ");
            w.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(body);
    }

    async fn exchange(
        &mut self,
        program: &Program,
        origin: kaioken_vm::OriginId,
        info: &StepInfo,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<(u16, u64), ErrorKind> {
        if self.conns[origin].is_none() {
            let stream = connect(&program.origins[origin], tls, &mut self.detail).await?;
            self.conns[origin] = Some(stream);
            self.rbuf.clear();
            self.rpos = 0;
        }
        let Some(stream) = self.conns[origin].as_mut() else {
            return Err(ErrorKind::Other);
        };
        stream
            .write_all(&self.wbuf)
            .await
            .map_err(|e| ErrorKind::from_io(&e, false))?;
        let mut reader = Reader {
            stream,
            buf: &mut self.rbuf,
            pos: &mut self.rpos,
        };
        let (status, bytes_in, keep_alive) = reader.read_response(info.is_head).await?;
        if !keep_alive {
            self.drop_conn(origin);
        }
        Ok((status, bytes_in))
    }
}

/// How the body of a response is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

struct Reader<'a> {
    stream: &'a mut Stream,
    buf: &'a mut Vec<u8>,
    pos: &'a mut usize,
}

impl Reader<'_> {
    fn available(&self) -> &[u8] {
        &self.buf[*self.pos..]
    }

    fn consume(&mut self, n: usize) {
        *self.pos += n;
    }

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

    /// Read one response. Returns status, bytes read and whether the connection may
    /// be reused.
    async fn read_response(&mut self, is_head: bool) -> Result<(u16, u64, bool), ErrorKind> {
        let mut bytes_in = 0u64;
        let (status, framing, keep_alive) = loop {
            let parsed = {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(self.available()) {
                    Ok(Status::Complete(n)) => {
                        let code = resp.code.unwrap_or(0);
                        let mut length = None;
                        let mut chunked = false;
                        let mut close = resp.version == Some(0);
                        for h in resp.headers.iter() {
                            if h.name.eq_ignore_ascii_case("content-length") {
                                let text = std::str::from_utf8(h.value)
                                    .map_err(|_| ErrorKind::Protocol)?;
                                length = Some(
                                    text.trim()
                                        .parse::<u64>()
                                        .map_err(|_| ErrorKind::Protocol)?,
                                );
                            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                                // `chunked` must be the last coding (RFC 9112 6.1).
                                let v = h.value.trim_ascii_end();
                                chunked = v.len() >= 7
                                    && v[v.len() - 7..].eq_ignore_ascii_case(b"chunked");
                            } else if h.name.eq_ignore_ascii_case("connection") {
                                let v = h.value;
                                if v.eq_ignore_ascii_case(b"close") {
                                    close = true;
                                } else if v.eq_ignore_ascii_case(b"keep-alive") {
                                    close = false;
                                }
                            }
                        }
                        Some((n, code, length, chunked, close))
                    }
                    Ok(Status::Partial) => None,
                    Err(_) => return Err(ErrorKind::Protocol),
                }
            };
            match parsed {
                Some((n, code, length, chunked, close)) => {
                    self.consume(n);
                    bytes_in += n as u64;
                    if (100..200).contains(&code) && code != 101 {
                        continue; // an interim response; the real one follows
                    }
                    let framing =
                        if is_head || code == 204 || code == 304 || (100..200).contains(&code) {
                            Framing::None
                        } else if chunked {
                            Framing::Chunked
                        } else if let Some(len) = length {
                            Framing::Length(len)
                        } else {
                            Framing::UntilClose
                        };
                    let keep_alive = !close && !matches!(framing, Framing::UntilClose);
                    break (code, framing, keep_alive);
                }
                None => {
                    if self.available().len() > MAX_HEAD {
                        return Err(ErrorKind::Protocol);
                    }
                    match self.fill().await {
                        Ok(0) => return Err(ErrorKind::Reset),
                        Ok(_) => {}
                        Err(e) => return Err(ErrorKind::from_io(&e, false)),
                    }
                }
            }
        };
        bytes_in += self.read_body(framing).await?;
        Ok((status, bytes_in, keep_alive))
    }

    async fn read_body(&mut self, framing: Framing) -> Result<u64, ErrorKind> {
        let mut read = 0u64;
        match framing {
            Framing::None => {}
            Framing::Length(mut remaining) => loop {
                let take = (self.available().len() as u64).min(remaining);
                self.consume(take as usize);
                read += take;
                remaining -= take;
                if remaining == 0 {
                    break;
                }
                self.more_body().await?;
            },
            Framing::UntilClose => loop {
                let n = self.available().len();
                self.consume(n);
                read += n as u64;
                match self.fill().await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(ErrorKind::from_io(&e, true)),
                }
            },
            Framing::Chunked => {
                let mut state = Chunk::Size;
                loop {
                    let avail = self.available();
                    let (used, next) = match state {
                        Chunk::Size => match httparse::parse_chunk_size(avail) {
                            Ok(Status::Complete((n, 0))) => (n, Some(Chunk::Trailer)),
                            Ok(Status::Complete((n, size))) => (n, Some(Chunk::Data(size))),
                            Ok(Status::Partial) => (0, None),
                            Err(_) => return Err(ErrorKind::Protocol),
                        },
                        Chunk::Data(rem) => {
                            let take = (avail.len() as u64).min(rem);
                            let next = if take == rem {
                                Chunk::DataEnd
                            } else {
                                Chunk::Data(rem - take)
                            };
                            (take as usize, if take == 0 { None } else { Some(next) })
                        }
                        Chunk::DataEnd => match avail {
                            [b'\r', b'\n', ..] => (2, Some(Chunk::Size)),
                            [] | [b'\r'] => (0, None),
                            _ => return Err(ErrorKind::Protocol),
                        },
                        Chunk::Trailer => {
                            if avail.starts_with(b"\r\n") {
                                self.consume(2);
                                return Ok(read + 2);
                            }
                            match memchr::memmem::find(avail, b"\r\n") {
                                Some(i) => (i + 2, Some(Chunk::Trailer)),
                                None if avail.len() > MAX_HEAD => return Err(ErrorKind::Protocol),
                                None => (0, None),
                            }
                        }
                    };
                    match next {
                        Some(next) => {
                            self.consume(used);
                            read += used as u64;
                            state = next;
                        }
                        None => self.more_body().await?,
                    }
                }
            }
        }
        Ok(read)
    }

    async fn more_body(&mut self) -> Result<(), ErrorKind> {
        match self.fill().await {
            Ok(0) => Err(ErrorKind::BodyRead),
            Ok(_) => Ok(()),
            Err(e) => Err(ErrorKind::from_io(&e, true)),
        }
    }
}

#[derive(Clone, Copy)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}
