//! An incremental HTTP/1.1 response parser over bytes already read: head with
//! `httparse`, then the body by content-length, chunked coding, or until close.
//!
//! It sits under the runtime's HTTP/1.1 drivers (`kaioken-runtime`): it is sync and
//! owns no read buffer, so any driver can feed it whatever its socket produced: the tokio
//! driver after each `read`, the io_uring engine after each completion. Body bytes
//! are counted and skipped, never copied, except into a [`Capture`] when checks read
//! them. A head byte-identical to the last one on the connection (a server repeats
//! its own) is not parsed again when the parser is [restarted](ResponseParser::restart).
//! A crate of its own, with no I/O and no runtime, so that the fuzz targets in
//! `fuzz/` build it alone ([`fuzzing`]).
//!
//! Every part whose end must be searched for is bounded — the head and the trailer
//! section ([`MAX_HEAD`], [`MAX_HEADERS`] lines), a chunk-size line
//! ([`MAX_CHUNK_LINE`]) — and searched once, from where the last search stopped, so
//! parsing stays linear in the bytes read whatever the pieces they come in. Each
//! protocol error says what was wrong ([`Invalid`]).

use httparse::Status;

#[doc(hidden)]
pub mod fuzzing;

/// Response heads (and trailer sections) larger than this are a protocol error, so a
/// broken server cannot make a VU's buffer grow without bound.
pub const MAX_HEAD: usize = 64 * 1024;

/// Most header lines a response head may have: generous (a response setting 70
/// cookies is ordinary), and what `httparse` gets as slots on the stack (32 bytes
/// each).
pub const MAX_HEADERS: usize = 256;

/// Header slots tried first: enough for nearly every response, and cheap to clear.
const FEW_HEADERS: usize = 64;

/// Longest chunk-size line, extensions included: a line that does not end within
/// it is a protocol error, not a buffer that grows.
pub const MAX_CHUNK_LINE: usize = 4 * 1024;

/// The parts of a response kept for checks and extractors: the head as received and
/// the body up to a limit. One per VU, cleared (not freed) for each response. The
/// parser fills it as it goes ([`ResponseParser::advance_into`]); the drivers of
/// other protocols fill it from their responses the same way.
#[derive(Debug, Default)]
pub struct Capture {
    /// The head: status line and header lines, as received.
    pub head: Vec<u8>,
    /// The body, up to this response's limit.
    pub body: Vec<u8>,
    /// Body bytes beyond this are counted but not kept, so memory stays bounded.
    pub body_limit: usize,
    /// This response's limit: `body_limit`, or 0 when its step reads no body.
    limit: usize,
    /// Whether the body was longer than `body_limit`.
    pub truncated: bool,
    /// Room for a decoded body (`--compressed`: decode.rs), swapped with `body`.
    pub scratch: Vec<u8>,
}

impl Capture {
    /// A capture keeping up to `body_limit` bytes of each body.
    pub fn new(body_limit: usize) -> Capture {
        Capture {
            head: Vec::with_capacity(512),
            body: Vec::with_capacity(body_limit.min(16 * 1024)),
            body_limit,
            limit: body_limit,
            truncated: false,
            scratch: Vec::new(),
        }
    }

    /// Make ready for a response, keeping its body only if `body`.
    pub fn start(&mut self, body: bool) -> &mut Capture {
        self.clear();
        self.limit = if body { self.body_limit } else { 0 };
        self
    }

    /// Forget the last response, keeping the memory.
    pub fn clear(&mut self) {
        self.head.clear();
        self.body.clear();
        self.truncated = false;
    }

    /// Keep what fits of `bytes`, the next part of the body.
    pub fn push_body(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.body.len());
        self.truncated |= bytes.len() > room;
        self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The value of header `name` (case-insensitive) in the captured head.
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        let mut lines = self.head.split(|&b| b == b'\n').skip(1);
        lines.find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .eq_ignore_ascii_case(name)
                .then(|| line[colon + 1..].trim_ascii())
        })
    }
}

/// A complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Its status code (the final one, after any interim `1xx`).
    pub status: u16,
    /// Bytes of head and body.
    pub bytes: u64,
    /// Whether the connection may carry the next request.
    pub keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    Chunk(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

/// Parses one response; [`ResponseParser::restart`] it for the next on the same
/// connection (or make a new one: a few words, no allocation, nothing to replay).
#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    is_head: bool,
    /// Keep the `Location` of a redirect.
    follow: bool,
    status: u16,
    keep_alive: bool,
    bytes: u64,
    /// Where the search for the end of the head, a chunk-size line or a trailer line
    /// goes on, in the bytes not yet used: each byte is looked at once however the
    /// input is split.
    scan: usize,
    /// Bytes of the head (or of the trailer section) seen but not yet used.
    pending: usize,
    /// A redirect's `Location`, when following redirects (empty otherwise).
    pub location: Vec<u8>,
    /// The last head parsed, when it may be replayed (empty otherwise), and what it
    /// said: a server repeats its head byte for byte (nginx's changes with its
    /// `Date`, once a second), and one equal to the last is not parsed again.
    last: Vec<u8>,
    last_framing: Framing,
}

/// What a response head says of the response: its status, and how its body is
/// framed and its connection kept.
#[derive(Debug, Clone, Copy, Default)]
struct Framing {
    code: u16,
    length: Option<u64>,
    /// `Some(chunked)` when the response names a transfer coding.
    coding: Option<bool>,
    close: bool,
}

/// Longest head kept for replay: a connection holds at most this much more.
const REPLAY_MAX: usize = 1024;

impl ResponseParser {
    /// A parser for the response to a request; `is_head` for `HEAD` requests, whose
    /// responses have no body whatever their headers say.
    pub fn new(is_head: bool) -> ResponseParser {
        ResponseParser {
            state: State::Head,
            is_head,
            follow: false,
            status: 0,
            keep_alive: true,
            bytes: 0,
            scan: 0,
            pending: 0,
            location: Vec::new(),
            last: Vec::new(),
            last_framing: Framing::default(),
        }
    }

    /// Make ready for the next response on the same connection, as
    /// [`ResponseParser::new`] would (`following_redirects` is kept), keeping the
    /// last head for replay and the memory of both buffers.
    pub fn restart(&mut self, is_head: bool) {
        self.state = State::Head;
        self.is_head = is_head;
        self.status = 0;
        self.keep_alive = true;
        self.bytes = 0;
        self.scan = 0;
        self.pending = 0;
        self.location.clear();
    }

    /// Also keep a redirect's `Location` (in [`ResponseParser::location`]).
    pub fn following_redirects(mut self, follow: bool) -> ResponseParser {
        self.follow = follow;
        self
    }

    /// Whether the head has been read (errors after it are body errors).
    pub fn in_body(&self) -> bool {
        !matches!(self.state, State::Head)
    }

    /// Whether the body being read ends with the connection (no `content-length`, no
    /// final `chunked` coding): only the connection's end says it is whole.
    pub fn until_close(&self) -> bool {
        matches!(self.state, State::UntilClose)
    }

    /// Whether any byte of a response has arrived. A request on a reused connection
    /// that fails before one did may be sent again on a new connection.
    pub fn started(&self) -> bool {
        self.bytes > 0 || self.pending > 0
    }

    /// Consume what it can of `buf`. Returns how many bytes it used and, once the
    /// response is complete, the response; bytes after it are left unused.
    pub fn advance(&mut self, buf: &[u8]) -> Result<(usize, Option<Response>), Invalid> {
        self.advance_into(buf, None)
    }

    /// [`ResponseParser::advance`], also copying the head and (up to its limit) the
    /// body into `capture` when checks need them. Without a capture it copies nothing.
    ///
    /// `buf` is what was not used yet: the bytes a call leaves unused must start the
    /// next call's `buf` (more may follow them).
    pub fn advance_into(
        &mut self,
        buf: &[u8],
        mut capture: Option<&mut Capture>,
    ) -> Result<(usize, Option<Response>), Invalid> {
        let mut used = 0;
        loop {
            let rest = &buf[used..];
            let before = self.state;
            let step = match self.state {
                State::Head => self.head(rest)?,
                State::Length(remaining) => {
                    let take = (rest.len() as u64).min(remaining);
                    if take == remaining {
                        (take as usize, Some(None))
                    } else {
                        self.state = State::Length(remaining - take);
                        (take as usize, None)
                    }
                }
                State::UntilClose => (rest.len(), None),
                State::Chunk(chunk) => self.chunk(chunk, rest)?,
            };
            let (n, finished) = step;
            if n > 0 {
                self.scan = 0;
            }
            if let Some(c) = capture.as_deref_mut() {
                match before {
                    State::Head if finished.is_some() => {
                        c.head.clear();
                        c.head.extend_from_slice(&rest[..n]);
                    }
                    State::Length(_) | State::UntilClose | State::Chunk(Chunk::Data(_)) => {
                        c.push_body(&rest[..n])
                    }
                    _ => {}
                }
            }
            used += n;
            self.bytes += n as u64;
            match finished {
                // The response is complete.
                Some(None) => return Ok((used, Some(self.response()))),
                // The state moved on: go round again with what is left.
                Some(Some(())) => continue,
                // Needs more bytes.
                None => return Ok((used, None)),
            }
        }
    }

    /// The connection reached end of stream. Complete for a body delimited by the
    /// close; cut off anywhere else.
    pub fn eof(&mut self) -> Result<Response, Cut> {
        match self.state {
            State::UntilClose => Ok(self.response()),
            State::Head => Err(Cut::Head),
            _ => Err(Cut::Body),
        }
    }

    fn response(&self) -> Response {
        Response {
            status: self.status,
            bytes: self.bytes,
            keep_alive: self.keep_alive,
        }
    }

    /// `(bytes used, progress)`: progress `None` needs more bytes, `Some(Some(()))`
    /// moved to another state, `Some(None)` finished the response.
    #[allow(clippy::type_complexity)]
    fn head(&mut self, rest: &[u8]) -> Result<(usize, Option<Option<()>>), Invalid> {
        // Something that is not HTTP/1.x is told at its first bytes, not when (if
        // ever) a blank line follows.
        let line = rest
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .map_or(&[][..], |i| &rest[i..]);
        let version = &line[..line.len().min(7)];
        if !b"HTTP/1."[..version.len()].eq_ignore_ascii_case(version) {
            return Err(Invalid("status line is not HTTP/1.x"));
        }
        let Some(end) = blank_line_end(rest, &mut self.scan) else {
            self.pending = rest.len();
            if rest.len() > MAX_HEAD {
                return Err(Invalid("response head over 64 KiB"));
            }
            return Ok((0, None));
        };
        self.pending = 0;
        if end > MAX_HEAD {
            return Err(Invalid("response head over 64 KiB"));
        }
        // The last head again: what it said holds (a head whose `Location` is
        // wanted is never kept, see `take_head`).
        if !self.last.is_empty() && self.last[..] == rest[..end] {
            return Ok(self.apply(self.last_framing, end));
        }
        // Most heads fit in a few header slots (2 KiB of stack to clear per
        // response); only one with more is parsed again with all MAX_HEADERS.
        let mut headers = [httparse::EMPTY_HEADER; FEW_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&rest[..end]) {
            Ok(Status::Complete(n)) => self.take_head(&resp, &rest[..n]),
            Err(httparse::Error::TooManyHeaders) => self.many_headers(&rest[..end]),
            // The blank line was found, so the head is all there.
            Ok(Status::Partial) => Err(Invalid("malformed response head")),
            Err(e) => Err(Invalid(head_error(e))),
        }
    }

    /// [`ResponseParser::head`] for a head with more than [`FEW_HEADERS`] lines.
    #[cold]
    #[inline(never)]
    #[allow(clippy::type_complexity)]
    fn many_headers(&mut self, head: &[u8]) -> Result<(usize, Option<Option<()>>), Invalid> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(head) {
            Ok(Status::Complete(n)) => self.take_head(&resp, &head[..n]),
            Ok(Status::Partial) => Err(Invalid("malformed response head")),
            Err(e) => Err(Invalid(head_error(e))),
        }
    }

    /// Act on a parsed head, `head` its bytes: status, framing, connection,
    /// location. A head that needs nothing but its framing is kept for replay.
    #[allow(clippy::type_complexity)]
    fn take_head(
        &mut self,
        resp: &httparse::Response<'_, '_>,
        head: &[u8],
    ) -> Result<(usize, Option<Option<()>>), Invalid> {
        let framing = framing(resp)?;
        let code = framing.code;
        let redirect = self.follow && is_redirect(code);
        if redirect
            && let Some(h) = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("location"))
        {
            self.location.clear();
            self.location.extend_from_slice(h.value);
        }
        self.last.clear();
        if !redirect && head.len() <= REPLAY_MAX {
            self.last.extend_from_slice(head);
            self.last_framing = framing;
        }
        Ok(self.apply(framing, head.len()))
    }

    /// Go on after a head of `n` bytes that said `framing`.
    fn apply(&mut self, framing: Framing, n: usize) -> (usize, Option<Option<()>>) {
        let Framing {
            code,
            length,
            coding,
            close,
        } = framing;
        if (100..200).contains(&code) && code != 101 {
            // An interim response; the real one follows.
            return (n, Some(Some(())));
        }
        self.status = code;
        // After 101 the connection speaks another protocol (a WebSocket handshake
        // succeeded): it cannot carry the next request.
        self.keep_alive = !close && code != 101;
        if self.is_head || code == 204 || code == 304 || (100..200).contains(&code) {
            return (n, Some(None));
        }
        self.state = match (coding, length) {
            (Some(true), _) => State::Chunk(Chunk::Size),
            // A transfer coding overrides any content-length (RFC 9112 6.3).
            (Some(false), _) | (None, None) => {
                self.keep_alive = false;
                State::UntilClose
            }
            (None, Some(0)) => return (n, Some(None)),
            (None, Some(len)) => State::Length(len),
        };
        (n, Some(Some(())))
    }

    #[allow(clippy::type_complexity)]
    fn chunk(&mut self, chunk: Chunk, rest: &[u8]) -> Result<(usize, Option<Option<()>>), Invalid> {
        let (used, next) = match chunk {
            Chunk::Size => {
                let Some(end) = line_end(rest, &mut self.scan) else {
                    if rest.len() > MAX_CHUNK_LINE {
                        return Err(Invalid("chunk-size line over 4 KiB"));
                    }
                    return Ok((0, None));
                };
                if end > MAX_CHUNK_LINE {
                    return Err(Invalid("chunk-size line over 4 KiB"));
                }
                match httparse::parse_chunk_size(&rest[..end]) {
                    Ok(Status::Complete((n, 0))) => (n, Chunk::Trailer),
                    Ok(Status::Complete((n, size))) => (n, Chunk::Data(size)),
                    Ok(Status::Partial) | Err(_) => return Err(Invalid("invalid chunk size")),
                }
            }
            Chunk::Data(remaining) => {
                let take = (rest.len() as u64).min(remaining);
                if take == 0 {
                    return Ok((0, None));
                }
                (
                    take as usize,
                    if take == remaining {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(remaining - take)
                    },
                )
            }
            Chunk::DataEnd => match rest {
                [b'\r', b'\n', ..] => (2, Chunk::Size),
                [] | [b'\r'] => return Ok((0, None)),
                _ => return Err(Invalid("chunk data not followed by CRLF")),
            },
            Chunk::Trailer => {
                // Trailer lines, then a blank one; all of them within MAX_HEAD.
                let Some(end) = line_end(rest, &mut self.scan) else {
                    if self.pending + rest.len() > MAX_HEAD {
                        return Err(Invalid("trailer section over 64 KiB"));
                    }
                    return Ok((0, None));
                };
                self.pending += end;
                if self.pending > MAX_HEAD {
                    return Err(Invalid("trailer section over 64 KiB"));
                }
                if matches!(&rest[..end], b"\r\n" | b"\n") {
                    self.pending = 0;
                    return Ok((end, Some(None)));
                }
                (end, Chunk::Trailer)
            }
        };
        self.state = State::Chunk(next);
        Ok((used, Some(Some(()))))
    }
}

/// What `resp`'s headers say of its framing and connection.
fn framing(resp: &httparse::Response<'_, '_>) -> Result<Framing, Invalid> {
    let mut length = None;
    let mut coding = None;
    let mut close = resp.version == Some(0);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            // Digits only (RFC 9110 8.6): `+5` is what `u64::from_str` takes, not
            // a length.
            let digits = h.value.trim_ascii();
            let value = (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(digits).ok()?.parse::<u64>().ok())
                .flatten()
                .ok_or(Invalid("content-length is not a number"))?;
            if length.is_some_and(|l| l != value) {
                return Err(Invalid("conflicting content-length values"));
            }
            length = Some(value);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the final coding frames the body (RFC 9112 6.1): `chunked`
            // there (a case-insensitive token), anything else reads to the close.
            // Over several headers, the last one's last coding is the final one.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            coding = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    Ok(Framing {
        code: resp.code.unwrap_or(0),
        length,
        coding,
        close,
    })
}

/// Whether `status` is a redirect kaioken follows (it needs a `Location`): the
/// parser keeps a redirect's `Location` when asked to.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Where the connection's end cut a response off ([`ResponseParser::eof`]). The
/// runtime counts the first as a reset and the second as a broken body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Before its head was complete: no response came.
    Head,
    /// In its body.
    Body,
}

/// Why a response is not valid HTTP/1.1, for the `protocol` error's detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl Invalid {
    /// The report's example message for this error.
    #[cold]
    pub fn detail(self) -> String {
        format!("invalid HTTP response: {}", self.0)
    }
}

/// What was wrong, for each of `httparse`'s errors.
fn head_error(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending in the head",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid token in the head",
        httparse::Error::TooManyHeaders => "more than 256 header lines",
        httparse::Error::Version => "status line is not HTTP/1.x",
    }
}

/// The end (just past its `\n`) of the line that starts `buf`. The search starts at
/// `*scan`, where the last call with the same line stopped, and leaves it where this
/// one stopped, so a line arriving in pieces is scanned once.
fn line_end(buf: &[u8], scan: &mut usize) -> Option<usize> {
    let from = (*scan).min(buf.len());
    match memchr::memchr(b'\n', &buf[from..]) {
        Some(i) => Some(from + i + 1),
        None => {
            *scan = buf.len();
            None
        }
    }
}

/// The end of the blank line that ends a head at the start of `buf` (a `\n` followed
/// by `\r\n` or `\n`), searching from `*scan` as [`line_end`] does.
fn blank_line_end(buf: &[u8], scan: &mut usize) -> Option<usize> {
    let mut at = (*scan).min(buf.len());
    while let Some(i) = memchr::memchr(b'\n', &buf[at..]) {
        let nl = at + i;
        match &buf[nl + 1..] {
            [b'\n', ..] => return Some(nl + 2),
            [b'\r', b'\n', ..] => return Some(nl + 3),
            // The line's end is not all here yet: look at this `\n` again.
            [] | [b'\r'] => {
                *scan = nl;
                return None;
            }
            _ => at = nl + 1,
        }
    }
    *scan = buf.len();
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::Failed;

    /// Feed `input` in pieces of `size` bytes; return the response and bytes used.
    fn feed(input: &[u8], size: usize, is_head: bool) -> Result<(Response, usize), Failed> {
        run(input, size, is_head).map_err(|e| e.map_or(Failed::Invalid, Failed::Cut))
    }

    /// The reason `input`, fed in pieces of `size` bytes, is a protocol error.
    fn why(input: &[u8], size: usize) -> &'static str {
        match run(input, size, false) {
            Err(Err(Invalid(reason))) => reason,
            other => panic!("not a protocol error: {other:?}"),
        }
    }

    /// [`feed`], with the error `Err(Invalid)` for a protocol error, `Ok(cut)` for
    /// an end of stream before the response's end.
    fn run(
        input: &[u8],
        size: usize,
        is_head: bool,
    ) -> Result<(Response, usize), Result<Cut, Invalid>> {
        let mut p = ResponseParser::new(is_head);
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut consumed = 0;
        loop {
            let (used, done) = p.advance(&buf).map_err(Err)?;
            buf.drain(..used);
            consumed += used;
            if let Some(r) = done {
                return Ok((r, consumed));
            }
            if fed == input.len() {
                return p.eof().map(|r| (r, consumed)).map_err(Ok);
            }
            let end = (fed + size).min(input.len());
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
        }
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";

    #[test]
    fn every_framing_in_every_split() {
        let length = b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nhelloNEXT";
        let close = b"HTTP/1.0 200 OK\r\n\r\nuntil the end";
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        for size in [1, 2, 3, 7, 64, 4096] {
            let (r, used) = feed(length, size, false).unwrap();
            assert_eq!((r.status, r.keep_alive), (201, true));
            assert_eq!(used, length.len() - 4, "the next response's bytes are left");
            let (r, used) = feed(CHUNKED, size, false).unwrap();
            assert_eq!(
                (r.status, r.bytes as usize, used),
                (200, CHUNKED.len(), CHUNKED.len())
            );
            let (r, _) = feed(close, size, false).unwrap();
            assert_eq!(
                (r.status, r.keep_alive, r.bytes as usize),
                (200, false, close.len())
            );
            let (r, _) = feed(interim, size, false).unwrap();
            assert_eq!(r.status, 204);
            // A switch of protocols ends the response and the connection's HTTP.
            let switch = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n\x81\x05hello";
            let (r, used) = feed(switch, size, false).unwrap();
            assert_eq!((r.status, r.keep_alive), (101, false));
            assert_eq!(
                used,
                switch.len() - 7,
                "the frame is not part of the response"
            );
        }
    }

    #[test]
    fn capture_keeps_head_and_capped_body() {
        for size in [1, 3, 64, 4096] {
            for (input, body) in [
                (CHUNKED, b"hello world".as_slice()),
                (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 11\r\n\r\nhello world".as_slice(), b"hello world".as_slice()),
            ] {
                let mut p = ResponseParser::new(false);
                let mut c = Capture::new(5);
                let mut fed = 0;
                let mut buf = Vec::new();
                loop {
                    let (used, done) = p.advance_into(&buf, Some(&mut c)).unwrap();
                    buf.drain(..used);
                    if done.is_some() {
                        break;
                    }
                    let end = (fed + size).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
                assert_eq!(c.body, &body[..5], "size {size}");
                assert!(c.truncated);
                assert!(c.head.starts_with(b"HTTP/1.1 200 OK\r\n") && c.head.ends_with(b"\r\n\r\n"));
            }
        }
        let mut c = Capture::new(100);
        c.head
            .extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\nX-A: 1\r\n\r\n");
        assert_eq!(c.header(b"content-type"), Some(b"text/plain".as_slice()));
        assert_eq!(c.header(b"x-a"), Some(b"1".as_slice()));
        assert_eq!(c.header(b"x-b"), None);
    }

    #[test]
    fn head_responses_have_no_body() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n";
        let (r, used) = feed(head, 8, true).unwrap();
        assert_eq!((r.status, used), (200, head.len()));
    }

    #[test]
    fn connection_close_is_honoured() {
        let (r, _) = feed(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            5,
            false,
        )
        .unwrap();
        assert!(!r.keep_alive);
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(feed(b"", 4, false).unwrap_err(), Failed::Cut(Cut::Head));
        assert_eq!(
            feed(b"HTTP/1.1 200 OK\r\ncontent-len", 4, false).unwrap_err(),
            Failed::Cut(Cut::Head)
        );
        assert_eq!(
            feed(
                b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort",
                4,
                false
            )
            .unwrap_err(),
            Failed::Cut(Cut::Body)
        );
        assert_eq!(
            feed(b"garbage\r\n\r\n", 4, false).unwrap_err(),
            Failed::Invalid
        );
        assert_eq!(
            feed(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", 64, false).unwrap_err(),
            Failed::Invalid
        );
        let bad_chunk = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(feed(bad_chunk, 64, false).unwrap_err(), Failed::Invalid);
        let huge_head = [
            b"HTTP/1.1 200 OK\r\n".as_slice(),
            &vec![b'a'; MAX_HEAD + 10],
        ]
        .concat();
        assert_eq!(feed(&huge_head, 4096, false).unwrap_err(), Failed::Invalid);
    }

    #[test]
    fn generous_header_count_and_named_limits() {
        let mut many = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n".to_vec();
        for i in 0..70 {
            many.extend_from_slice(format!("set-cookie: c{i}=v; Path=/\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\nok");
        for size in [1, 7, 4096] {
            let (r, used) = feed(&many, size, false).unwrap();
            assert_eq!((r.status, used), (200, many.len()));
        }
        let mut too_many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            too_many.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
        }
        too_many.extend_from_slice(b"\r\n");
        assert_eq!(why(&too_many, 4096), "more than 256 header lines");
        let huge_head = [
            b"HTTP/1.1 200 OK\r\nx: ".as_slice(),
            &vec![b'a'; MAX_HEAD + 10],
        ]
        .concat();
        assert_eq!(why(&huge_head, 4096), "response head over 64 KiB");
        let huge_line = [
            b"HTTP/1.1 200 OK\r\nx: ".as_slice(),
            &vec![b'a'; MAX_HEAD + 10],
            b"\r\n\r\n",
        ]
        .concat();
        assert_eq!(why(&huge_line, 1 << 20), "response head over 64 KiB");
    }

    #[test]
    fn only_a_final_chunked_coding_is_chunked() {
        let body = |te: &str| {
            format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: {te}\r\ncontent-length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            )
        };
        for (te, chunked) in [
            ("chunked", true),
            ("Chunked", true),
            ("gzip, chunked", true),
            ("gzip ,CHUNKED ", true),
            ("notchunked", false),
            ("chunked, gzip", false),
            ("gzip", false),
        ] {
            let input = body(te);
            let (r, used) = feed(input.as_bytes(), 5, false).unwrap();
            if chunked {
                // The whole chunked body, and the connection kept.
                assert_eq!((used, r.keep_alive), (input.len(), true), "{te}");
            } else {
                // Not chunked, whatever content-length says: until the close.
                assert_eq!(
                    (r.bytes as usize, r.keep_alive),
                    (input.len(), false),
                    "{te}"
                );
            }
        }
    }

    #[test]
    fn protocol_errors_say_what_was_wrong() {
        for size in [1, 3, 4096] {
            assert_eq!(
                why(b"SPDY/9 banana\r\n\r\n", size),
                "status line is not HTTP/1.x"
            );
            assert_eq!(why(b"HTTP/1.1 2x0 OK\r\n\r\n", size), "invalid status code");
            for length in ["x", "+5", "-1", "", "5 5"] {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n");
                assert_eq!(
                    why(head.as_bytes(), size),
                    "content-length is not a number",
                    "{length:?}"
                );
            }
            assert_eq!(
                why(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                    size
                ),
                "conflicting content-length values"
            );
            assert_eq!(
                why(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                    size
                ),
                "invalid chunk size"
            );
            assert_eq!(
                why(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabX\r\n",
                    size
                ),
                "chunk data not followed by CRLF"
            );
        }
        // Not HTTP at all is told from the first bytes, before any blank line.
        let mut p = ResponseParser::new(false);
        assert_eq!(
            p.advance(b"SSH-2.0-OpenSSH").unwrap_err(),
            Invalid("status line is not HTTP/1.x")
        );
        // Stray line ends before the status line are tolerated.
        let (r, _) = feed(b"\r\nHTTP/1.1 204 No Content\r\n\r\n", 2, false).unwrap();
        assert_eq!(r.status, 204);
    }

    #[test]
    fn endless_lines_end_in_an_error_at_their_cap() {
        let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        // A chunk-size line that never ends (digits, then an extension).
        let mut p = ResponseParser::new(false);
        let mut buf = head.to_vec();
        buf.extend_from_slice(b"1;");
        let (used, _) = p.advance(&buf).unwrap();
        buf.drain(..used);
        let mut fed = 0;
        let err = loop {
            buf.extend_from_slice(&[b'a'; 512]);
            fed += 512;
            match p.advance(&buf) {
                Ok((0, None)) => assert!(fed <= 2 * MAX_CHUNK_LINE, "no error after {fed}"),
                Ok(other) => panic!("{other:?}"),
                Err(e) => break e,
            }
        };
        assert_eq!(err, Invalid("chunk-size line over 4 KiB"));
        assert!(fed <= MAX_CHUNK_LINE + 512);
        // A trailer line that never ends.
        let mut input = head.to_vec();
        input.extend_from_slice(b"0\r\nx-t: ");
        input.extend(std::iter::repeat_n(b'a', MAX_HEAD + 1));
        assert_eq!(why(&input, 4096), "trailer section over 64 KiB");
    }

    #[test]
    fn started_tells_whether_a_response_byte_came() {
        let mut p = ResponseParser::new(false);
        assert!(!p.started());
        assert_eq!(p.advance(b"").unwrap(), (0, None));
        assert!(!p.started());
        assert_eq!(p.advance(b"HTT").unwrap(), (0, None));
        assert!(p.started());
        assert_eq!(p.eof(), Err(Cut::Head));
    }

    /// Parse one whole response in `buf` with `p`, restarted first.
    fn whole(p: &mut ResponseParser, is_head: bool, buf: &[u8]) -> (usize, Option<Response>) {
        p.restart(is_head);
        let mut used = 0;
        loop {
            let (n, done) = p.advance(&buf[used..]).unwrap();
            used += n;
            if done.is_some() || n == 0 {
                return (used, done);
            }
        }
    }

    #[test]
    fn a_repeated_head_is_replayed_as_it_was_parsed() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let mut p = ResponseParser::new(false);
        let first = whole(&mut p, false, ok);
        assert_eq!(p.last, ok[..ok.len() - 2]);
        assert_eq!(whole(&mut p, false, ok), first);
        assert_eq!(first.1.unwrap().bytes, ok.len() as u64);
        // The same head for a HEAD request: no body, whatever it says.
        let head = whole(&mut p, true, &ok[..ok.len() - 2]);
        assert_eq!(head.1.map(|r| r.bytes), Some(ok.len() as u64 - 2));
        // A head one byte different is parsed, not replayed.
        let close = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
        let done = whole(&mut p, false, close).1.unwrap();
        assert!(!done.keep_alive);
        assert_eq!(whole(&mut p, false, close).1, Some(done));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        for _ in 0..2 {
            assert_eq!(whole(&mut p, false, chunked).0, chunked.len());
        }
    }

    #[test]
    fn a_followed_redirect_s_head_is_not_kept_for_replay() {
        let moved = b"HTTP/1.1 302 Found\r\nlocation: /next\r\ncontent-length: 0\r\n\r\n";
        let mut p = ResponseParser::new(false).following_redirects(true);
        for _ in 0..2 {
            assert_eq!(whole(&mut p, false, moved).1.unwrap().status, 302);
            assert_eq!(p.location, b"/next");
            assert!(p.last.is_empty());
        }
        // Not followed, the `Location` is not wanted: the head may be replayed.
        let mut p = ResponseParser::new(false);
        whole(&mut p, false, moved);
        assert_eq!(p.last, moved);
        assert_eq!(whole(&mut p, false, moved).1.unwrap().status, 302);
        assert!(p.location.is_empty());
    }
}
