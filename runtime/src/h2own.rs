//! HTTP/2 connections on `kaioken-http2`'s sans-I/O connection, for the HTTP/2
//! and gRPC drivers (http2.rs, grpc.rs): a VU's own, or one the VUs of a group
//! share (`--h2-streams`, h2pool.rs), each VU's request on a stream of its own.
//! A driver says how its request's header block is written ([`Request`]) and
//! where its response's head, body and trailers go as they come ([`Sink`]); the
//! connections, the turns on them and the retries ([`Conns`]) are the same for
//! both.
//!
//! No task runs a connection: the VUs waiting for responses on it read it
//! themselves, on their own tasks (a worker's VUs share one thread, so a shared
//! connection is an `Rc<RefCell<…>>` and is never borrowed across an await). A VU
//! encodes its request's header block straight into the connection's write
//! buffer, sends what the buffer holds, and reads until its response has ended:
//! frames of the connection, and of streams no longer open, it handles for all;
//! its own stream's it handles itself (the head decoded into fields the connection
//! keeps, the body read out of the read buffer, either kept only when checks
//! read it); at another open stream's frame it stops, wakes that stream's VU, and
//! waits for its own turn. With no whole frame left it reads the socket. A VU whose
//! response has ended, or which gave up (its request timed out), hands the reading
//! on to a VU still waiting, so that one of them always waits on the socket.
//!
//! What the protocol answers on its own (settings and ping acknowledgements,
//! window updates) goes out with the next write. A connection the server said
//! `GOAWAY` on, or which broke, takes no new stream; a request the server never
//! processed (above the `GOAWAY`'s last stream, or on a reused connection closed
//! before any of its response came) is sent once more on a new connection, as the
//! HTTP/1.1 driver does for a keep-alive connection closed while idle.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Instant;

use http::HeaderName;
use kaioken_http2::hpack::{Fields, Indexing};
use kaioken_http2::{Connection, Event};
use kaioken_vm::{Origin, Scheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::ErrorKind;
use crate::conn::Stream;
use crate::driver::Last;
use crate::h2pool;
use crate::http2::{Value, connect_h2, error_code};

/// The read buffer's size: a whole frame (16 KiB and its head) always fits, with
/// room to read more behind it.
const READ_BUFFER: usize = 64 << 10;

/// Room made in the read buffer before each read.
const READ_ROOM: usize = 32 << 10;

/// A connection, as the VUs that use it hold it.
pub(crate) type Shared = Rc<RefCell<Conn>>;

/// One HTTP/2 connection: the socket, the protocol's state, and the VUs waiting on
/// it.
pub(crate) struct Conn {
    io: Stream,
    codec: Connection,
    /// Bytes read: those in `rpos..rend` are still to be taken.
    rbuf: Box<[u8]>,
    rpos: usize,
    rend: usize,
    /// Frames to send (the preface, answers the connection owes, requests); those
    /// before `wpos` went.
    wbuf: Vec<u8>,
    wpos: usize,
    /// The VUs whose streams wait for their turn or for the socket, by stream, and
    /// whether a body of theirs waits for a window to open.
    waiting: Vec<(u32, Waker, bool)>,
    /// The stream whose VU the socket will wake when it has more to read, when one
    /// surely will: the last to find nothing to read, while its waker stays with
    /// the socket.
    reader: Option<u32>,
    /// The last read filled the room it had: TLS may hold more, which no socket
    /// event announces.
    full_read: bool,
    /// How the connection ended (the server closed it, or reading failed) after
    /// the bytes last read, which are taken first.
    ended: Option<Broken>,
    /// The VUs waiting for the server to take one more stream, in the order they
    /// came, each by its ticket ([`open_turn`]): a stream that ends lets the first
    /// one open the next, not the VU whose stream ended and which comes straight
    /// back (with the server taking fewer streams than VUs share the connection,
    /// that VU kept the slot and the others waited out the run).
    openers: VecDeque<(u64, Waker)>,
    /// The next opener's ticket.
    next_ticket: u64,
    /// Why the connection carries nothing more, once it does not.
    broken: Option<Broken>,
    /// Header blocks of constant requests, to write again.
    replays: Replays,
    /// A VU has counted the server's ending of this connection
    /// ([`Conn::count_closure`]).
    closure_counted: bool,
}

/// A constant request's header block ([`Request::replay_key`]) that left the
/// encoder's table as it found it: every field went as an index, or as a literal
/// that adds nothing. While the table stays at that version, the same request's
/// block is these bytes again, and they are copied instead of encoded (the
/// static table searched for each field, the dynamic one after it).
struct Replay {
    key: usize,
    /// The body's length the block was written for, when the block depends on
    /// it ([`Request::SIZED`]).
    body_len: Option<usize>,
    version: u64,
    /// The head's length as HTTP/1.1 spells it ([`Request::encode`]'s).
    head: usize,
    block: Vec<u8>,
}

/// A connection's kept header blocks, one per key.
#[derive(Default)]
struct Replays(Vec<Replay>);

impl Replays {
    /// Write `req`'s header block (after [`Connection::begin_headers`]): the block
    /// kept for it when there is one still good ([`Replay`]), else encoded, and
    /// kept when it may be written again. Returns the head's length as HTTP/1.1
    /// spells it.
    fn write_block<R: Request>(
        &mut self,
        codec: &mut Connection,
        out: &mut Vec<u8>,
        req: &R,
        origin: &Origin,
        body_len: usize,
    ) -> usize {
        let key = req.replay_key();
        let sized = R::SIZED.then_some(body_len);
        let version = codec.table_version();
        let kept = key.and_then(|key| self.0.iter().position(|r| r.key == key));
        if let Some(r) = kept.map(|i| &self.0[i])
            && r.body_len == sized
            && r.version == version
        {
            out.extend_from_slice(&r.block);
            return r.head;
        }
        let start = out.len();
        let mut block = Block {
            codec: &mut *codec,
            out: &mut *out,
        };
        let head = req.encode(&mut block, origin, body_len);
        let Some(key) = key else { return head };
        if codec.table_version() != version {
            // The block added to the table: the next one will differ (an index
            // where this one had a literal).
            return head;
        }
        let written = &out[start..];
        match kept {
            Some(i) => {
                let r = &mut self.0[i];
                (r.body_len, r.version, r.head) = (sized, version, head);
                r.block.clear();
                r.block.extend_from_slice(written);
            }
            None => self.0.push(Replay {
                key,
                body_len: sized,
                version,
                head,
                block: written.to_vec(),
            }),
        }
        head
    }
}

/// How a connection broke.
#[derive(Clone)]
enum Broken {
    /// The server closed it.
    Closed,
    /// Reading or writing failed.
    Io(std::io::ErrorKind, String),
    /// The server broke the protocol.
    Protocol(String),
}

impl Broken {
    /// What it means for a stream whose response's head has (`in_body`) or has
    /// not come.
    fn failed(&self, in_body: bool) -> Failed {
        match self {
            Broken::Closed if in_body => Failed::Kind(
                ErrorKind::BodyRead,
                Some("the server closed the connection inside the response's body".into()),
            ),
            // Closed before any of the response came.
            Broken::Closed => Failed::Unprocessed(None),
            Broken::Io(kind, message) => {
                match ErrorKind::from_io(&std::io::Error::from(*kind), in_body) {
                    ErrorKind::Reset => Failed::Unprocessed(None),
                    kind => Failed::Kind(kind, Some(message.clone())),
                }
            }
            Broken::Protocol(detail) => Failed::Kind(ErrorKind::Protocol, Some(detail.clone())),
        }
    }
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

/// A request as an exchange sends it: a driver's.
pub(crate) trait Request {
    /// Whether the header block depends on the body's length, as a
    /// `content-length` does: a kept block is then written again only for a body
    /// of the same length. (The head's length [`Request::encode`] returns never
    /// counts the body's.)
    const SIZED: bool = true;

    /// Check what the request reads from the VU's state (its path, its headers'
    /// values) as `http` would: a request that fails here is not written at all
    /// (a header block written in part would leave the server's table and the
    /// client's apart).
    fn check(&self) -> Result<(), ErrorKind>;

    /// Write the request's header block with `block` (the pseudo-header fields
    /// first, [`Block::pseudo`]), for a body of `body_len` bytes. Returns the
    /// head's length as HTTP/1.1 spells it.
    fn encode(&self, block: &mut Block<'_>, origin: &Origin, body_len: usize) -> usize;

    /// The request's body (empty when it has none).
    fn body(&self) -> &[u8];

    /// `Some(key)` when every request with this key (and body length, when
    /// [`Request::SIZED`]) encodes the same fields (its step's, when they are all
    /// constants): its header block is kept, to be written again while the
    /// connection's table allows ([`Replay`]).
    fn replay_key(&self) -> Option<usize> {
        None
    }
}

/// Where a response's parts go as they come: a driver's reading of them, into the
/// VU's `Last` (its capture, its failure's detail).
pub(crate) trait Sink {
    /// The response's head came, its `fields` with `:status` first. Returns its
    /// length as HTTP/1.1 spells it.
    fn head(&mut self, last: &mut Last, status: u16, fields: &Fields) -> u64;

    /// Bytes of the body came. An error ends the exchange (its stream is reset).
    fn data(&mut self, last: &mut Last, data: &[u8]) -> Result<(), Failed>;

    /// Trailers ended the response. Returns their length as HTTP/1.1 spells them.
    fn trailers(&mut self, last: &mut Last, fields: &Fields) -> u64;
}

/// A request's header block being written into the connection's write buffer.
/// Fields that stay the same from request to request (constants) are kept in the
/// server's table and go as an index after their first time; those read from the
/// VU's state go as literals, and secrets as literals never indexed (kaioken-http2's
/// `Encoder`).
pub(crate) struct Block<'a> {
    codec: &'a mut Connection,
    out: &'a mut Vec<u8>,
}

/// Headers never kept in a table, constant or not (nor by intermediaries).
const SECRETS: [&[u8]; 3] = [b"authorization", b"proxy-authorization", b"cookie"];

impl Block<'_> {
    /// The pseudo-header fields of a request for `method` and `path` (checked by
    /// [`check_path`]; `constant` when every request of the step has it) to
    /// `origin`.
    pub(crate) fn pseudo(&mut self, method: &str, origin: &Origin, path: &[u8], constant: bool) {
        let scheme: &[u8] = match origin.scheme {
            Scheme::Https => b"https",
            Scheme::Http => b"http",
        };
        let path = sent_path(path);
        let Block { codec, out } = self;
        let path_indexing = if constant {
            Indexing::Incremental
        } else {
            Indexing::Without
        };
        codec.field(out, b":method", method.as_bytes(), Indexing::Incremental);
        codec.field(out, b":scheme", scheme, Indexing::Incremental);
        codec.field(
            out,
            b":authority",
            origin.authority.as_bytes(),
            Indexing::Incremental,
        );
        codec.field(
            out,
            b":path",
            if path.is_empty() { b"/" } else { path },
            path_indexing,
        );
    }

    /// A header (its value checked by [`check_value`]): kept in the server's table
    /// when it is a constant; a secret never indexed.
    pub(crate) fn header(&mut self, name: &HeaderName, value: Value<'_>) {
        let name = name.as_str().as_bytes();
        let indexing = if SECRETS.contains(&name) {
            Indexing::Never
        } else if matches!(value, Value::Made(_)) {
            Indexing::Incremental
        } else {
            Indexing::Without
        };
        self.codec.field(self.out, name, value.as_bytes(), indexing);
    }

    /// A constant field of the driver's own (`name` in lower case).
    pub(crate) fn constant(&mut self, name: &[u8], value: &[u8]) {
        self.codec
            .field(self.out, name, value, Indexing::Incremental);
    }
}

/// The path as it is sent: cut at a `#` (a fragment is not sent).
fn sent_path(path: &[u8]) -> &[u8] {
    match memchr::memchr(b'#', path) {
        Some(hash) => &path[..hash],
        None => path,
    }
}

/// A path is refused when it holds bytes a request line may not carry.
pub(crate) fn check_path(path: &[u8]) -> Result<(), ErrorKind> {
    if sent_path(path).iter().all(|b| (0x21..0x7f).contains(b)) {
        Ok(())
    } else {
        Err(ErrorKind::Other)
    }
}

/// A header's value read from the VU's state is checked as `http` would check it.
pub(crate) fn check_value(value: Value<'_>) -> Result<(), ErrorKind> {
    match value {
        Value::Read(b) if !b.iter().all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t') => {
            Err(ErrorKind::Other)
        }
        _ => Ok(()),
    }
}

/// One exchange's reading: its stream, its body's progress, what came.
struct Reading<'a, S> {
    id: u32,
    body: &'a [u8],
    sent: usize,
    status: Option<u16>,
    /// The response's size so far, as HTTP/1.1 would spell it: the caller's, so
    /// that a request cut short by its timeout keeps what came.
    bytes_in: &'a mut u64,
    last: &'a mut Last,
    sink: &'a mut S,
}

impl Conn {
    /// A new connection to `origin`: TCP (or the dial's route), TLS with ALPN `h2`
    /// on `https://`; the preface waits in the write buffer for the first request.
    pub(crate) async fn open(
        origin: &Origin,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
        dial: &crate::dial::Dial,
        last: &mut Last,
    ) -> Result<Shared, ErrorKind> {
        let io = connect_h2(origin, tls, dial, last).await?;
        let mut codec = Connection::new();
        let mut wbuf = Vec::with_capacity(4096);
        codec.preface(&mut wbuf);
        Ok(Rc::new(RefCell::new(Conn {
            io,
            codec,
            rbuf: vec![0; READ_BUFFER].into_boxed_slice(),
            rpos: 0,
            rend: 0,
            wbuf,
            wpos: 0,
            waiting: Vec::new(),
            reader: None,
            full_read: false,
            ended: None,
            openers: VecDeque::new(),
            next_ticket: 0,
            broken: None,
            replays: Replays::default(),
            closure_counted: false,
        })))
    }

    /// Whether the server's ending of this connection is the caller's to count
    /// (`Timing::closed_by_server`): the first time it is asked. Every VU that
    /// shares the connection (`--h2-streams`) sees it end, and it ended once.
    pub(crate) fn count_closure(&mut self) -> bool {
        !std::mem::replace(&mut self.closure_counted, true)
    }

    /// Whether a new request may go on this connection: it has not broken or been
    /// closed (its last bytes may still be being taken), and the server has not said
    /// it is going away.
    pub(crate) fn usable(&self) -> bool {
        self.broken.is_none() && self.ended.is_none() && self.codec.usable()
    }

    /// Write what the write buffer holds; `Pending` (this VU's waker kept by the
    /// socket) while the socket takes no more.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        if self.wpos > 0 {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.wbuf.clear();
            self.wpos = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// Read more bytes; 0 at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.rpos == self.rend {
            (self.rpos, self.rend) = (0, 0);
        } else if self.rbuf.len() - self.rend < READ_ROOM {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            (self.rpos, self.rend) = (0, self.rend - self.rpos);
        }
        let room = self.rbuf.len() - self.rend;
        let mut buf = ReadBuf::new(&mut self.rbuf[self.rend..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        self.rend += n;
        self.full_read = n == room;
        Poll::Ready(Ok(n))
    }

    /// Stream `id`'s VU waits (for its turn, or the socket) with `waker`.
    fn wait(&mut self, id: u32, waker: &Waker, blocked: bool) {
        match self.waiting.iter_mut().find(|w| w.0 == id) {
            Some(w) => {
                w.1.clone_from(waker);
                w.2 = blocked;
            }
            None => self.waiting.push((id, waker.clone(), blocked)),
        }
    }

    /// Wake stream `id`'s VU: the next frame is its.
    fn wake(&mut self, id: u32) {
        if let Some(i) = self.waiting.iter().position(|w| w.0 == id) {
            self.waiting.swap_remove(i).1.wake();
        }
    }

    /// Wake the VUs `which` picks.
    fn wake_those(&mut self, which: impl Fn(&(u32, Waker, bool)) -> bool) {
        let mut i = 0;
        while i < self.waiting.len() {
            if which(&self.waiting[i]) {
                self.waiting.swap_remove(i).1.wake();
            } else {
                i += 1;
            }
        }
    }

    /// The server opened a send window or let more streams open
    /// ([`Event::Window`]): the VUs whose bodies it held back go on, and those
    /// waiting to open a stream try again.
    fn window_opened(&mut self) {
        self.wake_those(|w| w.2);
        if self.codec.may_open() {
            for (_, opener) in self.openers.drain(..) {
                opener.wake();
            }
        }
    }

    /// The server said `GOAWAY`: the VUs whose streams it refused learn it, and
    /// those waiting to open a stream go to another connection. Left waiting, the
    /// latter were woken only as streams here ended, one each, and those beyond the
    /// streams still open waited on a connection nobody read any more.
    fn going_away(&mut self) {
        self.wake_those(|_| true);
        for (_, opener) in self.openers.drain(..) {
            opener.wake();
        }
    }

    /// The connection broke: every VU waiting on it learns how.
    fn break_with(&mut self, broken: Broken) {
        self.broken = Some(broken);
        self.wake_those(|_| true);
        for (_, opener) in self.openers.drain(..) {
            opener.wake();
        }
    }

    /// Stream `id` is done with the connection (its response ended, it failed, or
    /// its VU gave up): a VU still waiting takes over the reading unless the socket
    /// will wake one, and one waiting to open a stream may open it.
    fn leave(&mut self, id: u32) {
        if let Some(i) = self.waiting.iter().position(|w| w.0 == id) {
            self.waiting.swap_remove(i);
        }
        // Nothing read is left to take, nothing to write: only the socket can
        // bring more.
        let clear = self.rpos == self.rend
            && !self.full_read
            && self.wbuf.is_empty()
            && self.ended.is_none();
        if !(clear && self.reader.is_some_and(|r| r != id)) {
            self.reader = None;
            if let Some((next, waker, blocked)) = self.waiting.pop() {
                // With nothing to read or write, the socket takes that VU's waker
                // and wakes it when there is; else it is woken to go on.
                let mut cx = Context::from_waker(&waker);
                if clear && self.io.poll_read_ready(&mut cx).is_pending() {
                    self.reader = Some(next);
                    self.waiting.push((next, waker, blocked));
                } else {
                    waker.wake();
                }
            }
        }
        // The first in line takes the room, when it runs: it stays first until
        // then, so that the VU whose stream ended queues behind it.
        if let Some((_, opener)) = self.openers.front() {
            opener.wake_by_ref();
        }
    }

    /// Read stream `r.id`'s response as far as its turn and the socket allow.
    fn poll_response<S: Sink>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut Reading<'_, S>,
    ) -> Poll<Result<u16, Failed>> {
        let result = loop {
            if let Some(broken) = &self.broken {
                break Err(broken.failed(r.status.is_some()));
            }
            if let Some(code) = self.codec.refused(r.id) {
                break Err(match r.status {
                    None => Failed::Unprocessed(Some(code)),
                    Some(_) => Failed::Kind(ErrorKind::BodyRead, Some(goaway(code))),
                });
            }
            let (n, event) =
                match self
                    .codec
                    .next(&self.rbuf[self.rpos..self.rend], &mut self.wbuf, r.id)
                {
                    Ok(next) => next,
                    Err(e) => {
                        self.break_with(Broken::Protocol(format!(
                            "the server broke HTTP/2: {} ({})",
                            e.what,
                            error_code(e.code)
                        )));
                        continue;
                    }
                };
            self.rpos += n;
            let end = match event {
                Event::NeedMore => {
                    // Requests and what the frames taken owe the server go out
                    // before the wait: those of every VU that wrote since the last
                    // write, in one (Pending: the socket keeps this VU's waker until
                    // it takes more).
                    if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
                        self.break_with(Broken::Io(e.kind(), e.to_string()));
                        continue;
                    }
                    if let Some(broken) = self.ended.take() {
                        self.break_with(broken);
                        continue;
                    }
                    // Read until the socket has nothing more, so that this VU's
                    // waker stays with it (the reader) while the frames read are
                    // handled; an end or an error after bytes waits until those
                    // bytes are taken.
                    let mut read = false;
                    loop {
                        let ended = match self.poll_fill(cx) {
                            Poll::Pending => {
                                self.reader = Some(r.id);
                                break;
                            }
                            Poll::Ready(Ok(0)) => Broken::Closed,
                            Poll::Ready(Ok(_)) if self.full_read => {
                                // No room left: the socket may hold more.
                                self.reader = None;
                                read = true;
                                break;
                            }
                            Poll::Ready(Ok(_)) => {
                                read = true;
                                continue;
                            }
                            Poll::Ready(Err(e)) => Broken::Io(e.kind(), e.to_string()),
                        };
                        self.ended = Some(ended);
                        break;
                    }
                    if !read && self.ended.is_none() {
                        self.wait(r.id, cx.waker(), r.sent < r.body.len());
                        return Poll::Pending;
                    }
                    false
                }
                Event::Other(id) => {
                    // Its VU reads on. This one stays the reader if its waker is
                    // still the socket's (a readiness that woke it took it back);
                    // asking puts it there again if it was taken, with nothing to
                    // read.
                    if self.reader == Some(r.id) && self.io.poll_read_ready(cx).is_ready() {
                        self.reader = None;
                    }
                    self.wake(id);
                    self.wait(r.id, cx.waker(), r.sent < r.body.len());
                    return Poll::Pending;
                }
                Event::Head { status, end } => {
                    r.last.timing.first_byte = Some(Instant::now());
                    r.status = Some(status);
                    *r.bytes_in = r.sink.head(r.last, status, self.codec.fields());
                    end
                }
                Event::Data(data, end) => {
                    *r.bytes_in += data.len() as u64;
                    if let Err(failed) = r.sink.data(r.last, data) {
                        if !end {
                            self.codec.cancel(&mut self.wbuf, r.id);
                        }
                        break Err(failed);
                    }
                    end
                }
                Event::Trailers => {
                    *r.bytes_in += r.sink.trailers(r.last, self.codec.fields());
                    true
                }
                Event::Reset(code) => {
                    let kind = if r.status.is_some() {
                        ErrorKind::BodyRead
                    } else {
                        ErrorKind::Reset
                    };
                    break Err(Failed::Kind(
                        kind,
                        Some(format!(
                            "the server reset the stream (RST_STREAM), {}",
                            error_code(code)
                        )),
                    ));
                }
                // Those it refused learn it at the top of their loop.
                Event::GoAway { .. } => {
                    self.going_away();
                    false
                }
                Event::Window => {
                    if r.sent < r.body.len() {
                        r.sent += self
                            .codec
                            .send_data(&mut self.wbuf, r.id, &r.body[r.sent..]);
                    }
                    // Bodies held back by the connection's window may go on too,
                    // and streams waiting for the server's limit.
                    self.window_opened();
                    false
                }
            };
            if end {
                break Ok(r.status.unwrap_or_default());
            }
        };
        // The frames of the connection read after the response (a `GOAWAY` most
        // often) are taken now, so that the next request knows whether it may go
        // here.
        while self.broken.is_none() {
            match self
                .codec
                .next(&self.rbuf[self.rpos..self.rend], &mut self.wbuf, 0)
            {
                Ok((n, event)) => {
                    self.rpos += n;
                    match event {
                        Event::NeedMore => break,
                        Event::Other(id) => {
                            self.wake(id);
                            break;
                        }
                        Event::GoAway { .. } => self.going_away(),
                        Event::Window => self.window_opened(),
                        _ => {}
                    }
                }
                Err(_) => break,
            }
        }
        self.leave(r.id);
        Poll::Ready(result)
    }
}

/// Whether the VU holding `ticket` (none yet: it has not waited) may open a stream
/// on `c` now: the server has room, and no VU that came before it waits. Else it
/// waits in line ([`Conn::openers`]). A connection that carries nothing more lets
/// every VU go (to fail, or to another connection).
fn open_turn(c: &mut Conn, ticket: &Cell<Option<u64>>, cx: &mut Context<'_>) -> Poll<()> {
    let place = ticket
        .get()
        .and_then(|t| c.openers.iter().position(|e| e.0 == t));
    if !c.usable() {
        if let Some(i) = place {
            c.openers.remove(i);
        }
        ticket.set(None);
        return Poll::Ready(());
    }
    let room = c.codec.room();
    let first = match place {
        Some(i) => i == 0,
        // Not in line: it never waited, or the line was let go (more room, a
        // GOAWAY); it goes before those still in line only when none is.
        None => c.openers.is_empty(),
    };
    if room > 0 && first {
        if place.is_some() {
            c.openers.pop_front();
        }
        ticket.set(None);
        // More room than this stream takes: the next in line goes on too.
        if room > 1
            && let Some((_, next)) = c.openers.front()
        {
            next.wake_by_ref();
        }
        return Poll::Ready(());
    }
    match place {
        Some(i) => {
            if !c.openers[i].1.will_wake(cx.waker()) {
                c.openers[i].1 = cx.waker().clone();
            }
        }
        None => {
            let t = *ticket.get().get_or_insert_with(|| {
                c.next_ticket += 1;
                c.next_ticket
            });
            ticket.set(Some(t));
            c.openers.push_back((t, cx.waker().clone()));
        }
    }
    Poll::Pending
}

/// A VU waiting its turn to open a stream ([`open_turn`]) that gives up (its
/// request timed out) leaves the line, and lets the next go if it was first.
struct TicketGuard<'a> {
    conn: &'a Shared,
    ticket: Cell<Option<u64>>,
}

impl Drop for TicketGuard<'_> {
    fn drop(&mut self) {
        let Some(t) = self.ticket.get() else {
            return;
        };
        let mut c = self.conn.borrow_mut();
        if let Some(i) = c.openers.iter().position(|e| e.0 == t) {
            c.openers.remove(i);
            if i == 0
                && c.codec.may_open()
                && let Some((_, next)) = c.openers.front()
            {
                next.wake_by_ref();
            }
        }
    }
}

/// A stream whose VU may give up on it (its request timed out): dropped before
/// its response ended, it resets the stream and hands the reading on.
struct Guard<'a> {
    conn: &'a Shared,
    id: u32,
    done: bool,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut conn = self.conn.borrow_mut();
            let conn = &mut *conn;
            conn.codec.cancel(&mut conn.wbuf, self.id);
            conn.leave(self.id);
        }
    }
}

/// Send `req` to `origin` (the step's, or its redirect's) on `conn` and read its
/// response into `sink`: its status. The sizes as HTTP/1.1 would spell them go to
/// `len`, the request's before it is sent, the response's as it comes; `last`'s
/// timing gets the instants it went and its head came.
async fn exchange<R: Request, S: Sink>(
    conn: &Shared,
    req: &R,
    origin: &Origin,
    last: &mut Last,
    sink: &mut S,
    (len, bytes_in): (&mut u64, &mut u64),
) -> Result<u16, Failed> {
    // The server takes so many streams at once (SETTINGS_MAX_CONCURRENT_STREAMS):
    // a VU waits its turn.
    let ticket = TicketGuard {
        conn,
        ticket: Cell::new(None),
    };
    std::future::poll_fn(|cx| open_turn(&mut conn.borrow_mut(), &ticket.ticket, cx)).await;
    let body = req.body();
    req.check().map_err(Failed::from)?;
    let (id, sent) = {
        let mut c = conn.borrow_mut();
        let c = &mut *c;
        if !c.usable() {
            // It went away while this request waited: the request never went.
            return Err(Failed::Unprocessed(None));
        }
        let at = c.codec.begin_headers(&mut c.wbuf);
        let head = (c.replays).write_block(&mut c.codec, &mut c.wbuf, req, origin, body.len());
        *len = (head + body.len()) as u64;
        let id = c.codec.end_headers(&mut c.wbuf, at, body.is_empty());
        let sent = match body.is_empty() {
            true => 0,
            false => c.codec.send_data(&mut c.wbuf, id, body),
        };
        (id, sent)
    };
    let mut guard = Guard {
        conn,
        id,
        done: false,
    };
    last.timing.written = Some(Instant::now());
    *bytes_in = 0;
    let mut reading = Reading {
        id,
        body,
        sent,
        status: None,
        bytes_in,
        last,
        sink,
    };
    let result = std::future::poll_fn(|cx| conn.borrow_mut().poll_response(cx, &mut reading)).await;
    guard.done = true;
    result
}

/// A VU's HTTP/2 connections, one per slot: the program's origins (its group's,
/// under `--h2-streams`), then those redirects led to (its own).
pub(crate) struct Conns {
    slots: Vec<Option<Shared>>,
    /// The group whose connections to the program's origins these are shared with;
    /// `None` when each VU has its own.
    group: Option<h2pool::Member>,
    /// How many of the slots are the program's own origins.
    origins: usize,
    /// The last exchange opened a connection, in this long (`None` when it used
    /// one it had), or failed to open one.
    pub opened: Option<std::time::Duration>,
    pub open_failed: bool,
}

impl Conns {
    /// No connection yet to any of the program's `origins`; shared with `group`.
    pub fn new(origins: usize, group: Option<h2pool::Member>) -> Conns {
        Conns {
            slots: (0..origins).map(|_| None).collect(),
            group,
            origins,
            opened: None,
            open_failed: false,
        }
    }

    /// Close the connection in `slot` (its origin failed, or was replaced); one its
    /// group shares lives on with the group.
    pub fn drop_conn(&mut self, slot: usize) {
        if let Some(conn) = self.slots.get_mut(slot) {
            *conn = None;
        }
    }

    /// Send `req` on the connection in `slot` to `origin`, made first when there is
    /// none or the server is closing it (its group's, under `--h2-streams`, made by
    /// one VU of the group while the others wait), and read its response into
    /// `sink`. A request the server did not process on a reused connection goes
    /// once more, on a new one ([`Last::reconnected`]). Returns the response's
    /// status; `sizes` get the request's and the response's as HTTP/1.1 would
    /// spell them.
    #[allow(clippy::too_many_arguments)]
    pub async fn exchange<R: Request, S: Sink>(
        &mut self,
        slot: usize,
        origin: &Origin,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
        dial: &crate::dial::Dial,
        last: &mut Last,
        req: &R,
        sink: &mut S,
        sizes: (&mut u64, &mut u64),
    ) -> Result<u16, ErrorKind> {
        self.opened = None;
        self.open_failed = false;
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || None);
        }
        loop {
            let slots = &mut self.slots;
            if let Some(conn) = slots[slot].take_if(|c| !c.borrow().usable()) {
                // The server sent `GOAWAY` or closed it: it takes no new stream.
                last.timing.closed_by_server |= conn.borrow_mut().count_closure();
            }
            let mut fresh = false;
            if slots[slot].is_none() {
                let mut claim = None;
                if let Some(group) = self.group.filter(|_| slot < self.origins) {
                    match h2pool::shared(group, slot).await {
                        Ok(conn) => slots[slot] = Some(conn),
                        Err(mine) => claim = Some(mine),
                    }
                }
                if slots[slot].is_none() {
                    let began = Instant::now();
                    let conn = Conn::open(origin, tls, dial, last).await.inspect_err(|_| {
                        self.open_failed = true;
                    })?;
                    self.opened = Some(began.elapsed());
                    if let Some(claim) = claim {
                        claim.share(conn.clone());
                    }
                    slots[slot] = Some(conn);
                    fresh = true;
                }
            }
            last.timing.reused = !fresh;
            let Some(conn) = slots[slot].as_ref() else {
                return Err(ErrorKind::Other);
            };
            let (len, bytes_in) = (&mut *sizes.0, &mut *sizes.1);
            match exchange(conn, req, origin, last, sink, (len, bytes_in)).await {
                Ok(status) => return Ok(status),
                Err(Failed::Unprocessed(_)) if !fresh => {
                    last.timing.closed_by_server |= conn.borrow_mut().count_closure();
                    last.reconnected = true;
                    // Sent again: from when it goes on the new connection.
                    last.timing.written = None;
                    slots[slot] = None;
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
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use kaioken_http2::Connection;
    use kaioken_http2::hpack::{Decoder, Fields};
    use kaioken_vm::{Origin, Scheme};

    use super::{Block, ErrorKind, Replays, Request};

    /// A request of constant fields, `key` its replay key, counting its encodings;
    /// its block depends on the body's length when `SIZED` (HTTP's, not gRPC's).
    struct Constant<const SIZED: bool = true> {
        key: Option<usize>,
        path: &'static [u8],
        encoded: Cell<u32>,
    }

    impl Constant {
        fn new(key: Option<usize>, path: &'static [u8]) -> Constant {
            Constant {
                key,
                path,
                encoded: Cell::new(0),
            }
        }

        /// The same request, its block not depending on the body's length.
        fn without_length(self) -> Constant<false> {
            Constant {
                key: self.key,
                path: self.path,
                encoded: self.encoded,
            }
        }
    }

    impl<const S: bool> Request for Constant<S> {
        const SIZED: bool = S;

        fn check(&self) -> Result<(), ErrorKind> {
            Ok(())
        }

        fn encode(&self, block: &mut Block<'_>, origin: &Origin, _: usize) -> usize {
            self.encoded.set(self.encoded.get() + 1);
            block.pseudo("GET", origin, self.path, true);
            block.constant(b"user-agent", b"kaioken");
            100
        }

        fn body(&self) -> &[u8] {
            &[]
        }

        fn replay_key(&self) -> Option<usize> {
            self.key
        }
    }

    /// A client's encoder and its kept blocks, and the server's decoder.
    struct Pair {
        codec: Connection,
        replays: Replays,
        server: Decoder,
        origin: Origin,
    }

    impl Pair {
        fn new() -> Pair {
            Pair {
                codec: Connection::new(),
                replays: Replays::default(),
                server: Decoder::new(),
                origin: Origin {
                    scheme: Scheme::Http,
                    host: "127.0.0.1".into(),
                    port: 8080,
                    authority: "127.0.0.1:8080".into(),
                },
            }
        }

        /// Send `req` (with a body of `body_len`) as an exchange does: the header
        /// block's bytes (a table size update owed first, then the fields), and
        /// the fields the server reads from them.
        fn send<const S: bool>(
            &mut self,
            req: &Constant<S>,
            body_len: usize,
        ) -> (Vec<u8>, Vec<(String, String)>) {
            let mut out = Vec::new();
            let at = self.codec.begin_headers(&mut out) + 9;
            let head =
                (self.replays).write_block(&mut self.codec, &mut out, req, &self.origin, body_len);
            assert_eq!(head, 100, "the kept head's length");
            let out = out.split_off(at);
            let mut fields = Fields::default();
            self.server.decode(&out, &mut fields).unwrap();
            let fields = fields
                .iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8(n.to_vec()).unwrap(),
                        String::from_utf8(v.to_vec()).unwrap(),
                    )
                })
                .collect();
            (out, fields)
        }
    }

    fn fields(path: &str) -> Vec<(String, String)> {
        [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "127.0.0.1:8080"),
            (":path", path),
            ("user-agent", "kaioken"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn a_constant_request_s_block_is_written_again_while_the_table_stays() {
        let mut pair = Pair::new();
        let a = Constant::new(Some(0), b"/a");
        // The first block adds its fields to the table; the second names them by
        // index and is kept; the ones after are that block again.
        let (first, read) = pair.send(&a, 0);
        assert_eq!(read, fields("/a"));
        let (second, read) = pair.send(&a, 0);
        assert_eq!(read, fields("/a"));
        assert!(second.len() < first.len(), "{first:?} {second:?}");
        for _ in 0..3 {
            let (again, read) = pair.send(&a, 0);
            assert_eq!(read, fields("/a"));
            assert_eq!(again, second);
        }
        assert_eq!(a.encoded.get(), 2);

        // Another request adds its path to the table, moving the indexes of the
        // entries before it: `a`'s kept block is stale and `a` is encoded again.
        let b = Constant::new(Some(1), b"/b");
        assert_eq!(pair.send(&b, 0).1, fields("/b"));
        let (after, read) = pair.send(&a, 0);
        assert_eq!(read, fields("/a"));
        assert_ne!(after, second, "the indexes moved");
        assert_eq!(a.encoded.get(), 3);
        assert_eq!(pair.send(&a, 0).0, after);
        assert_eq!(a.encoded.get(), 3);

        // Another body length is another block (its `content-length`).
        pair.send(&a, 5);
        assert_eq!(a.encoded.get(), 4);
    }

    #[test]
    fn a_smaller_table_from_the_server_makes_kept_blocks_stale() {
        let mut pair = Pair::new();
        let (a, b) = (Constant::new(Some(0), b"/a"), Constant::new(Some(1), b"/b"));
        for req in [&a, &b, &a, &b] {
            pair.send(req, 0);
        }
        let kept = pair.send(&a, 0).0;
        assert_eq!(pair.send(&b, 0).1, fields("/b"));
        assert_eq!((a.encoded.get(), b.encoded.get()), (2, 2));

        // SETTINGS_HEADER_TABLE_SIZE = 64: the table loses its entries, and the
        // next block says so first, then encodes its fields anew.
        let settings = [0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 64];
        let mut answer = Vec::new();
        pair.codec.next(&settings, &mut answer, 1).unwrap();
        let (block, read) = pair.send(&a, 0);
        assert_eq!(
            block[..2],
            [0x3f, 64 - 31],
            "a size update first: {block:?}"
        );
        assert_ne!(block[2..], kept[..]);
        assert_eq!(read, fields("/a"));
        assert_eq!(a.encoded.get(), 3);
    }

    #[test]
    fn a_block_without_the_body_s_length_is_written_again_for_any_body() {
        let mut pair = Pair::new();
        let call = Constant::new(Some(0), b"/pkg.Service/Call").without_length();
        for body_len in [5, 7, 5, 120, 0, 9] {
            assert_eq!(pair.send(&call, body_len).1, fields("/pkg.Service/Call"));
        }
        // Encoded twice, as a sized request of one length is: its fields added to
        // the table, then named by index and kept.
        assert_eq!(call.encoded.get(), 2);
    }

    #[test]
    fn a_request_without_a_key_is_encoded_every_time() {
        let mut pair = Pair::new();
        let varying = Constant::new(None, b"/v");
        for _ in 0..4 {
            assert_eq!(pair.send(&varying, 0).1, fields("/v"));
        }
        assert_eq!(varying.encoded.get(), 4);
    }
}
