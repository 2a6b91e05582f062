//! An incremental HTTP/1.1 response parser over bytes already read: head with
//! `httparse`, then the body by content-length, chunked coding, or until close.
//!
//! It is sync and owns no buffer, so any driver can feed it whatever its socket
//! produced: the tokio driver after each `read`, an io_uring driver after each
//! completion. Body bytes are counted and skipped, never copied.

use httparse::Status;

use crate::ErrorKind;

/// Response heads larger than this are a protocol error, so a broken server cannot make
/// a VU's buffer grow without bound.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// The parts of a response kept for checks and extractors: the head as received and
/// the body up to a limit. One per VU, cleared (not freed) for each response.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    /// Body bytes beyond this are counted but not kept, so memory stays bounded.
    pub body_limit: usize,
    /// This response's limit: `body_limit`, or 0 when its step reads no body.
    limit: usize,
    /// Whether the body was longer than `body_limit`.
    pub truncated: bool,
}

impl Capture {
    pub fn new(body_limit: usize) -> Capture {
        Capture {
            head: Vec::with_capacity(512),
            body: Vec::with_capacity(body_limit.min(16 * 1024)),
            body_limit,
            limit: body_limit,
            truncated: false,
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
pub(crate) struct Response {
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

/// Parses one response; make a new one (a few words, no allocation) for the next.
#[derive(Debug)]
pub(crate) struct ResponseParser {
    state: State,
    is_head: bool,
    /// Keep the `Location` of a redirect.
    follow: bool,
    status: u16,
    keep_alive: bool,
    bytes: u64,
    /// A redirect's `Location`, when following redirects (empty otherwise).
    pub location: Vec<u8>,
}

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
            location: Vec::new(),
        }
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

    /// Consume what it can of `buf`. Returns how many bytes it used and, once the
    /// response is complete, the response; bytes after it are left unused.
    #[cfg(test)]
    pub fn advance(&mut self, buf: &[u8]) -> Result<(usize, Option<Response>), ErrorKind> {
        self.advance_into(buf, None)
    }

    /// [`ResponseParser::advance`], also copying the head and (up to its limit) the
    /// body into `capture` when checks need them. Without a capture it copies nothing.
    pub fn advance_into(
        &mut self,
        buf: &[u8],
        mut capture: Option<&mut Capture>,
    ) -> Result<(usize, Option<Response>), ErrorKind> {
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
    /// close; an error anywhere else.
    pub fn eof(&mut self) -> Result<Response, ErrorKind> {
        match self.state {
            State::UntilClose => Ok(self.response()),
            State::Head => Err(ErrorKind::Reset),
            _ => Err(ErrorKind::BodyRead),
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
    fn head(&mut self, rest: &[u8]) -> Result<(usize, Option<Option<()>>), ErrorKind> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(rest) {
            Ok(Status::Complete(n)) => n,
            Ok(Status::Partial) if rest.len() > MAX_HEAD => return Err(ErrorKind::Protocol),
            Ok(Status::Partial) => return Ok((0, None)),
            Err(_) => return Err(ErrorKind::Protocol),
        };
        let code = resp.code.unwrap_or(0);
        let mut length = None;
        let mut chunked = false;
        let mut close = resp.version == Some(0);
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let text = std::str::from_utf8(h.value).map_err(|_| ErrorKind::Protocol)?;
                length = Some(
                    text.trim()
                        .parse::<u64>()
                        .map_err(|_| ErrorKind::Protocol)?,
                );
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // `chunked` must be the last coding (RFC 9112 6.1).
                let v = h.value.trim_ascii_end();
                chunked = v.len() >= 7 && v[v.len() - 7..].eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                if h.value.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
        if (100..200).contains(&code) && code != 101 {
            // An interim response; the real one follows.
            return Ok((n, Some(Some(()))));
        }
        self.status = code;
        // After 101 the connection speaks another protocol (a WebSocket handshake
        // succeeded): it cannot carry the next request.
        self.keep_alive = !close && code != 101;
        if self.follow && crate::redirect::is_redirect(code) {
            if let Some(h) = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("location"))
            {
                self.location.clear();
                self.location.extend_from_slice(h.value);
            }
        }
        if self.is_head || code == 204 || code == 304 || (100..200).contains(&code) {
            return Ok((n, Some(None)));
        }
        self.state = if chunked {
            State::Chunk(Chunk::Size)
        } else if let Some(len) = length {
            if len == 0 {
                return Ok((n, Some(None)));
            }
            State::Length(len)
        } else {
            self.keep_alive = false;
            State::UntilClose
        };
        Ok((n, Some(Some(()))))
    }

    #[allow(clippy::type_complexity)]
    fn chunk(
        &mut self,
        chunk: Chunk,
        rest: &[u8],
    ) -> Result<(usize, Option<Option<()>>), ErrorKind> {
        let (used, next) = match chunk {
            Chunk::Size => match httparse::parse_chunk_size(rest) {
                Ok(Status::Complete((n, 0))) => (n, Chunk::Trailer),
                Ok(Status::Complete((n, size))) => (n, Chunk::Data(size)),
                Ok(Status::Partial) => return Ok((0, None)),
                Err(_) => return Err(ErrorKind::Protocol),
            },
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
                _ => return Err(ErrorKind::Protocol),
            },
            Chunk::Trailer => {
                if rest.starts_with(b"\r\n") {
                    return Ok((2, Some(None)));
                }
                match memchr::memmem::find(rest, b"\r\n") {
                    Some(i) => (i + 2, Chunk::Trailer),
                    None if rest.len() > MAX_HEAD => return Err(ErrorKind::Protocol),
                    None => return Ok((0, None)),
                }
            }
        };
        self.state = State::Chunk(next);
        Ok((used, Some(Some(()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in pieces of `size` bytes; return the response and bytes used.
    fn feed(input: &[u8], size: usize, is_head: bool) -> Result<(Response, usize), ErrorKind> {
        let mut p = ResponseParser::new(is_head);
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut consumed = 0;
        loop {
            let (used, done) = p.advance(&buf)?;
            buf.drain(..used);
            consumed += used;
            if let Some(r) = done {
                return Ok((r, consumed));
            }
            if fed == input.len() {
                return p.eof().map(|r| (r, consumed));
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
        assert_eq!(feed(b"", 4, false).unwrap_err(), ErrorKind::Reset);
        assert_eq!(
            feed(b"HTTP/1.1 200 OK\r\ncontent-len", 4, false).unwrap_err(),
            ErrorKind::Reset
        );
        assert_eq!(
            feed(
                b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort",
                4,
                false
            )
            .unwrap_err(),
            ErrorKind::BodyRead
        );
        assert_eq!(
            feed(b"garbage\r\n\r\n", 4, false).unwrap_err(),
            ErrorKind::Protocol
        );
        assert_eq!(
            feed(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", 64, false).unwrap_err(),
            ErrorKind::Protocol
        );
        let bad_chunk = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(feed(bad_chunk, 64, false).unwrap_err(), ErrorKind::Protocol);
        let huge_head = [
            b"HTTP/1.1 200 OK\r\n".as_slice(),
            &vec![b'a'; MAX_HEAD + 10],
        ]
        .concat();
        assert_eq!(
            feed(&huge_head, 4096, false).unwrap_err(),
            ErrorKind::Protocol
        );
    }
}
