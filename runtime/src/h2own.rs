//! The HTTP/2 driver's own connections (http2.rs): a VU that keeps its
//! connections to itself (no `--h2-streams`) speaks HTTP/2 through
//! `kaioken-http2`'s sans-I/O connection rather than the `h2` crate.
//!
//! The VU's task writes its request's frames and reads its response's on the
//! socket itself: no connection task, no channel or waker between the two, the
//! header block encoded straight into the connection's write buffer, the
//! response's head decoded into a buffer the connection keeps, its body read out of
//! the read buffer. What the protocol answers on its own (settings and ping
//! acknowledgements, window updates) goes out with the next write. A connection
//! the server said `GOAWAY` on takes no new request; a request the server never
//! processed (above the `GOAWAY`'s last stream, or on a reused connection closed
//! before any of its response came) is sent once more on a new connection, as the
//! HTTP/1.1 driver does for a keep-alive connection closed while idle.

use std::time::Instant;

use kaioken_http2::hpack;
use kaioken_http2::{Connection, Event};
use kaioken_vm::{Origin, Scheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ErrorKind;
use crate::conn::Stream;
use crate::driver::Last;
use crate::http2::{Source, Value, connect_h2, error_code, keep_head};
use crate::stats::Timing;
use kaioken_http1::Capture;

/// Room made in the read buffer before each read.
const READ_ROOM: usize = 32 << 10;

/// One connection of a VU's own.
pub(crate) struct OwnConn {
    io: Stream,
    codec: Connection,
    /// Bytes read; those before `rpos` are taken.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Frames to send: the preface, answers the connection owes, a request.
    wbuf: Vec<u8>,
}

/// Why an exchange failed.
pub(crate) enum Failed {
    /// The server did not process the request (it may go again, on a new
    /// connection): it closed the connection, with the `GOAWAY`'s error code
    /// when it said why.
    Unprocessed(Option<u32>),
    /// A failure of this class, with what is known of it.
    Kind(ErrorKind, Option<String>),
}

impl From<ErrorKind> for Failed {
    fn from(kind: ErrorKind) -> Failed {
        Failed::Kind(kind, None)
    }
}

/// The detail of a connection the server closed with `GOAWAY` and `code`.
pub(crate) fn goaway(code: u32) -> String {
    format!(
        "the server closed the connection (GOAWAY), {}",
        error_code(code)
    )
}

/// What the response is kept for.
pub(crate) struct Keep<'a> {
    /// The head and (when `body`) the body, for checks and extractors.
    pub capture: Option<&'a mut Capture>,
    pub body: bool,
    /// The `Location` of a redirect, when redirects are followed.
    pub location: Option<&'a mut Vec<u8>>,
}

impl OwnConn {
    /// A new connection to `origin`: TCP (or the dial's route), TLS with ALPN `h2`
    /// on `https://`; the preface waits in the write buffer for the first request.
    pub(crate) async fn open(
        origin: &Origin,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
        dial: &crate::dial::Dial,
        last: &mut Last,
    ) -> Result<OwnConn, ErrorKind> {
        let io = connect_h2(origin, tls, dial, last).await?;
        let mut codec = Connection::new();
        let mut wbuf = Vec::with_capacity(1024);
        codec.preface(&mut wbuf);
        Ok(OwnConn {
            io,
            codec,
            rbuf: Vec::with_capacity(READ_ROOM),
            rpos: 0,
            wbuf,
        })
    }

    /// Whether a new request may go on this connection.
    pub(crate) fn usable(&self) -> bool {
        self.codec.usable()
    }

    /// Send the request `src` describes to `origin` (the step's, or its
    /// redirect's) and read its response: its status and its size as HTTP/1.1
    /// would spell it. The request's own size, spelled so too, goes to `len`
    /// before it is sent; `timing` gets the instants it went and its head came.
    pub(crate) async fn exchange(
        &mut self,
        src: Source<'_>,
        origin: &Origin,
        keep: Keep<'_>,
        timing: &mut Timing,
        len: &mut u64,
    ) -> Result<(u16, u64), Failed> {
        let (body, _) = src.body();
        let at = self.codec.begin_headers(&mut self.wbuf);
        match self.encode(src, origin, body.len()) {
            Ok(head) => *len = (head + body.len()) as u64,
            Err(kind) => {
                self.wbuf.truncate(at);
                return Err(Failed::Kind(kind, None));
            }
        }
        let id = self.codec.end_headers(&mut self.wbuf, at, body.is_empty());
        let mut sent = 0;
        if !body.is_empty() {
            sent = self.codec.send_data(&mut self.wbuf, body);
        }
        timing.written = Some(Instant::now());
        self.flush().await.map_err(|e| {
            // Nothing of the response can have come: a reset means the server
            // closed the connection while it was idle.
            match ErrorKind::from_io(&e, false) {
                ErrorKind::Reset => Failed::Unprocessed(None),
                kind => Failed::Kind(kind, Some(e.to_string())),
            }
        })?;

        let Keep {
            mut capture,
            body: keep_body,
            mut location,
        } = keep;
        let mut status = None;
        let mut bytes_in = 0;
        loop {
            let (n, event) = self
                .codec
                .next(&self.rbuf[self.rpos..], &mut self.wbuf)
                .map_err(|e| {
                    Failed::Kind(
                        ErrorKind::Protocol,
                        Some(format!(
                            "the server broke HTTP/2: {} ({})",
                            e.what,
                            error_code(e.code)
                        )),
                    )
                })?;
            self.rpos += n;
            let end = match event {
                Event::NeedMore => {
                    let in_body = status.is_some();
                    let io = |e: std::io::Error| match ErrorKind::from_io(&e, in_body) {
                        // Closed before any of the response came.
                        ErrorKind::Reset => Failed::Unprocessed(None),
                        kind => Failed::Kind(kind, Some(e.to_string())),
                    };
                    self.flush().await.map_err(io)?;
                    if self.fill().await.map_err(io)? == 0 {
                        return Err(if in_body {
                            Failed::Kind(
                                ErrorKind::BodyRead,
                                Some(
                                    "the server closed the connection inside the response's body"
                                        .into(),
                                ),
                            )
                        } else {
                            Failed::Unprocessed(None)
                        });
                    }
                    false
                }
                Event::Head { status: s, end } => {
                    timing.first_byte = Some(Instant::now());
                    status = Some(s);
                    let head = &self.codec.fields;
                    let fields = || head.iter().filter(|(name, _)| !name.starts_with(b":"));
                    if let Some(location) = location
                        .as_mut()
                        .filter(|_| crate::redirect::is_redirect(s))
                        && let Some((_, v)) = fields().find(|(n, _)| *n == b"location")
                    {
                        location.extend_from_slice(v);
                    }
                    bytes_in = keep_head(
                        capture.as_deref_mut().map(|c| c.start(keep_body)),
                        b"HTTP/2",
                        s,
                        fields,
                    );
                    end
                }
                Event::Data(data, end) => {
                    bytes_in += data.len() as u64;
                    if keep_body && let Some(c) = capture.as_deref_mut() {
                        c.push_body(data);
                    }
                    end
                }
                Event::End => true,
                Event::Reset(code) => {
                    let kind = if status.is_some() {
                        ErrorKind::BodyRead
                    } else {
                        ErrorKind::Reset
                    };
                    return Err(Failed::Kind(
                        kind,
                        Some(format!(
                            "the server reset the stream (RST_STREAM), {}",
                            error_code(code)
                        )),
                    ));
                }
                Event::GoAway { last_stream, code } => {
                    if id <= last_stream {
                        // This stream is still answered.
                        false
                    } else if status.is_none() {
                        return Err(Failed::Unprocessed(Some(code)));
                    } else {
                        return Err(Failed::Kind(ErrorKind::BodyRead, Some(goaway(code))));
                    }
                }
                Event::Window => {
                    if sent < body.len() {
                        sent += self.codec.send_data(&mut self.wbuf, &body[sent..]);
                    }
                    false
                }
            };
            if end {
                break;
            }
        }
        // Frames already read after the response (a `GOAWAY` most often) are taken
        // now, so that the next request knows whether it may go here.
        while let Ok((n, event)) = self.codec.next(&self.rbuf[self.rpos..], &mut self.wbuf) {
            self.rpos += n;
            if event == Event::NeedMore {
                break;
            }
        }
        let status = status.unwrap_or_default();
        Ok((status, bytes_in))
    }

    /// Encode the request's header block into the write buffer, after the head
    /// [`Connection::begin_headers`] began: the pseudo-header fields, then the
    /// headers as HTTP/2 allows them ([`Source::headers`]). Values read from the
    /// VU's state are checked as `http` would check them; a path is cut at a `#`
    /// (a fragment is not sent). Returns the head's length as HTTP/1.1 spells it.
    fn encode(
        &mut self,
        src: Source<'_>,
        origin: &Origin,
        body_len: usize,
    ) -> Result<usize, ErrorKind> {
        let out = &mut self.wbuf;
        let method = src.method();
        let mut path = src.path();
        if let Some(hash) = memchr::memchr(b'#', path) {
            path = &path[..hash];
        }
        if !path.iter().all(|b| (0x21..0x7f).contains(b)) {
            return Err(ErrorKind::Other);
        }
        let scheme: &[u8] = match origin.scheme {
            Scheme::Https => b"https",
            Scheme::Http => b"http",
        };
        hpack::encode(out, b":method", method.as_bytes());
        hpack::encode(out, b":scheme", scheme);
        hpack::encode(out, b":authority", origin.authority.as_bytes());
        hpack::encode(out, b":path", if path.is_empty() { b"/" } else { path });
        let headers = src.headers(Some(body_len), |name, value| {
            if let Value::Read(b) = value
                && !b.iter().all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t')
            {
                return Err(ErrorKind::Other);
            }
            hpack::encode(out, name.as_str().as_bytes(), value.as_bytes());
            Ok(())
        })?;
        Ok(16 + method.len() + headers)
    }

    /// Write what the write buffer holds.
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.io.write_all(&self.wbuf).await?;
            self.wbuf.clear();
            self.io.flush().await?;
        }
        Ok(())
    }

    /// Read more bytes; 0 at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        } else if self.rpos > 0 && self.rbuf.capacity() - self.rbuf.len() < READ_ROOM / 2 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        self.rbuf.reserve(READ_ROOM);
        self.io.read_buf(&mut self.rbuf).await
    }
}
