//! One client connection's HTTP/2 (RFC 9113) framing and flow control, sans
//! I/O.
//!
//! The caller writes what [`Connection`] puts in its output buffer to the socket
//! and hands it the bytes it reads; [`Connection::next`] takes whole frames from
//! those bytes, answers what the protocol answers on its own (a `SETTINGS`
//! acknowledgement, a `PING`'s, the `WINDOW_UPDATE`s that keep the server
//! sending), and returns what concerns the open stream as an [`Event`]. The
//! response's head is decoded into [`Connection::fields`]; its body's bytes are
//! handed back as slices of the input, never copied.
//!
//! A closed-model VU sends a request and waits for its response: one stream at a
//! time on a connection of its own, or one stream each for the VUs that share a
//! connection. Whoever reads names its own stream ([`Connection::next`]'s `mine`):
//! the frames of another open stream are left in the input for that stream's
//! reader ([`Event::Other`]), so each response's head and body reach the one who
//! asked, in order, without being copied; frames of the connection and of streams
//! no longer open are taken by anyone. Frames of a stream that is no longer open
//! (after a reset) are dropped, with their header blocks still decoded, so that
//! the HPACK table stays the server's.

use crate::hpack::{self, Decoder, Encoder, Fields, Indexing};

/// What a client connection starts with (RFC 9113 section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Each stream's receive window, sent as SETTINGS_INITIAL_WINDOW_SIZE: a
/// response's first 2 MiB come without waiting for a window update.
pub const STREAM_WINDOW: u32 = 2 << 20;

/// The connection's receive window, opened to this by the first
/// `WINDOW_UPDATE`.
pub const CONNECTION_WINDOW: u32 = 5 << 20;

/// The largest frame the client takes (SETTINGS_MAX_FRAME_SIZE's default, which
/// it leaves as it is).
pub const MAX_FRAME: usize = 16 << 10;

/// The most a header block may hold before it is decoded (its fragments
/// together), and decoded (its fields' names and values): a broken server cannot
/// make the connection's buffers grow without bound.
pub const MAX_HEADER_BLOCK: usize = 64 << 10;

/// The largest window RFC 9113 allows (2^31 - 1).
const MAX_WINDOW: i64 = (1 << 31) - 1;

mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

/// HTTP/2 error codes (RFC 9113 section 7) the client sends or reports.
pub mod code {
    /// NO_ERROR
    pub const NO_ERROR: u32 = 0x0;
    /// PROTOCOL_ERROR
    pub const PROTOCOL_ERROR: u32 = 0x1;
    /// FLOW_CONTROL_ERROR
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    /// FRAME_SIZE_ERROR
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    /// CANCEL
    pub const CANCEL: u32 = 0x8;
    /// COMPRESSION_ERROR
    pub const COMPRESSION_ERROR: u32 = 0x9;
}

/// A connection error: the server broke the protocol, and the connection cannot
/// go on (RFC 9113 section 5.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// The HTTP/2 error code that names it.
    pub code: u32,
    /// What was wrong.
    pub what: &'static str,
}

impl Error {
    fn protocol(what: &'static str) -> Error {
        Error {
            code: code::PROTOCOL_ERROR,
            what,
        }
    }
}

/// What the bytes read so far say about the open stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// No whole frame is left in the input: read more.
    NeedMore,
    /// The response's head, its fields in [`Connection::fields`] (`:status`
    /// first); `end` when no body follows.
    Head {
        /// The status code.
        status: u16,
        /// The stream ended with the head.
        end: bool,
    },
    /// Bytes of the response's body; `end` when they are its last.
    Data(&'a [u8], bool),
    /// Trailers ended the response, their fields in [`Connection::fields`]
    /// (gRPC's status is there).
    Trailers,
    /// The server reset the stream (`RST_STREAM`) with this error code.
    Reset(u32),
    /// The server is closing the connection (`GOAWAY`): streams above
    /// `last_stream` were not processed and never will be.
    GoAway {
        /// The last stream the server processed or may still process.
        last_stream: u32,
        /// Why.
        code: u32,
    },
    /// The server opened the send window, or let more streams open (its first
    /// settings, or a higher SETTINGS_MAX_CONCURRENT_STREAMS): a body or a new
    /// stream held back may go on.
    Window,
    /// The next frame concerns another open stream, this one: it is left in the
    /// input (not counted as taken) for that stream's reader.
    Other(u32),
}

/// Where an open stream's response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The request went; its response's head has not come.
    Head,
    /// The head came; the body or trailers are coming.
    Body,
}

/// An open stream: one whose response has not ended.
#[derive(Debug, Clone, Copy)]
struct Open {
    id: u32,
    phase: Phase,
    /// What the client may still send on it.
    send: i64,
    /// What the server has sent on it since the client last opened its window.
    unacked: u32,
}

/// One HTTP/2 client connection's state: see the module's documentation.
#[derive(Debug)]
pub struct Connection {
    decoder: Decoder,
    /// The requests' encoder, with the server's table for them.
    encoder: Encoder,
    /// The last response head decoded.
    fields: Fields,
    /// The last header block decoded, when it read no entry of the dynamic table:
    /// the same block again makes the same fields, which are kept, and changes the
    /// table as [`hpack::Decoder::replay`] does.
    repeat: Vec<u8>,
    /// A header block's fragments until its last (`END_HEADERS`), and the stream
    /// and end-of-stream flag of its `HEADERS` frame.
    block: Vec<u8>,
    continuing: Option<(u32, bool)>,
    /// The server's SETTINGS_MAX_FRAME_SIZE, SETTINGS_INITIAL_WINDOW_SIZE and
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    peer_max_frame: usize,
    peer_initial_window: i64,
    peer_max_streams: u32,
    /// The server's first SETTINGS frame came. Until then its stream limit is
    /// unknown (RFC 9113 allows any number, but a server may be about to say
    /// 2, and refuses the streams above it with REFUSED_STREAM): one stream at a
    /// time goes.
    peer_settings: bool,
    /// What the client may still send on the connection.
    conn_send: i64,
    /// What the server has sent since the client last opened the connection's
    /// window.
    conn_unacked: u32,
    next_id: u32,
    streams: Vec<Open>,
    /// The last stream the server's `GOAWAY` named and its error code, once it
    /// sent one.
    goaway: Option<(u32, u32)>,
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new()
    }
}

impl Connection {
    /// A connection on which nothing has been sent.
    pub fn new() -> Connection {
        Connection {
            decoder: Decoder::new(),
            encoder: Encoder::new(),
            fields: Fields::default(),
            repeat: Vec::new(),
            block: Vec::new(),
            continuing: None,
            peer_max_frame: MAX_FRAME,
            peer_initial_window: 65_535,
            peer_max_streams: u32::MAX,
            peer_settings: false,
            conn_send: 65_535,
            conn_unacked: 0,
            next_id: 1,
            streams: Vec::new(),
            goaway: None,
        }
    }

    /// Write the client's preface: the magic, its settings (no server push, each
    /// stream's window) and the connection window's update. Requests may follow
    /// at once, before the server's settings come.
    pub fn preface(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(PREFACE);
        frame_head(out, 12, kind::SETTINGS, 0, 0);
        for (id, value) in [(0x2u16, 0u32), (0x4, STREAM_WINDOW)] {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
        window_update(out, 0, CONNECTION_WINDOW - 65_535);
    }

    /// The fields of the last header block decoded: those of the response head
    /// [`Event::Head`] announced (`:status` first), or of the trailers
    /// [`Event::Trailers`] announced, until the next event.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Whether a new stream may go on this connection: the server has not said it
    /// is going away, and stream identifiers are left.
    pub fn usable(&self) -> bool {
        self.goaway.is_none() && self.next_id <= MAX_WINDOW as u32
    }

    /// Whether the server takes one more stream now (its
    /// SETTINGS_MAX_CONCURRENT_STREAMS; one at a time until its settings come, so
    /// that no stream goes above a limit not yet known, to be refused). The wait
    /// for a second stream is the settings' round trip, once per connection;
    /// opening streams up to some guessed number instead is what made requests
    /// fail against nginx's `http2_max_concurrent_streams 2`.
    pub fn may_open(&self) -> bool {
        self.room() > 0
    }

    /// How many more streams the server takes now (see [`Client::may_open`]).
    pub fn room(&self) -> usize {
        let limit = match self.peer_settings {
            true => self.peer_max_streams as usize,
            false => 1,
        };
        limit.saturating_sub(self.streams.len())
    }

    /// Whether stream `id` is open: its response has not ended (nor been reset).
    pub fn is_open(&self, id: u32) -> bool {
        self.streams.iter().any(|s| s.id == id)
    }

    /// The `GOAWAY`'s error code when the server said it will not process stream
    /// `id` (above the `GOAWAY`'s last stream): it may go again on a new connection.
    pub fn refused(&self, id: u32) -> Option<u32> {
        self.goaway
            .filter(|&(last, _)| id > last)
            .map(|(_, code)| code)
    }

    /// Give up stream `id` (its reader is gone): `RST_STREAM` with CANCEL, and the
    /// stream's frames still to come are dropped by whoever reads them.
    pub fn cancel(&mut self, out: &mut Vec<u8>, id: u32) {
        if let Some(i) = self.streams.iter().position(|s| s.id == id) {
            self.streams.swap_remove(i);
            frame_head(out, 4, kind::RST_STREAM, 0, id);
            out.extend_from_slice(&code::CANCEL.to_be_bytes());
        }
    }

    fn open(&mut self, id: u32) -> Option<&mut Open> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    fn close(&mut self, id: u32) {
        if let Some(i) = self.streams.iter().position(|s| s.id == id) {
            self.streams.swap_remove(i);
        }
    }

    /// Begin a request's `HEADERS` frame in `out`: write its fields with
    /// [`Connection::field`] after this, then call [`Connection::end_headers`]
    /// with what this returned. The block's fields must all be written: the
    /// server's table changes with them.
    pub fn begin_headers(&mut self, out: &mut Vec<u8>) -> usize {
        let at = out.len();
        out.extend_from_slice(&[0; 9]);
        self.encoder.begin(out);
        at
    }

    /// Write a field of the request begun by [`Connection::begin_headers`]; with
    /// [`Indexing::Incremental`], the server keeps it in its table, for the
    /// requests after to name by index ([`Encoder::field`]).
    pub fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8], indexing: Indexing) {
        self.encoder.field(out, name, value, indexing);
    }

    /// The version of the requests' encoder's table ([`Encoder::version`]): the
    /// fields of a header block (what was written after
    /// [`Connection::begin_headers`]) written at one version that left it as it
    /// was may be written again as they are, while the version stays.
    pub fn table_version(&self) -> u64 {
        self.encoder.version()
    }

    /// Open the next stream with the header block written since
    /// [`Connection::begin_headers`] returned `at`, split into `CONTINUATION`
    /// frames where the server's frame size asks for it; `end_stream` when the
    /// request has no body. Returns the stream's identifier.
    pub fn end_headers(&mut self, out: &mut Vec<u8>, at: usize, end_stream: bool) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        self.streams.push(Open {
            id,
            phase: Phase::Head,
            send: self.peer_initial_window,
            unacked: 0,
        });
        let flags = if end_stream { END_STREAM } else { 0 };
        let block = out.len() - at - 9;
        let first = block.min(self.peer_max_frame);
        let last = if first == block { END_HEADERS } else { 0 };
        out[at..at + 9].copy_from_slice(&head_bytes(first, kind::HEADERS, flags | last, id));
        // A block larger than a frame (rare): its rest in CONTINUATION frames.
        let mut pos = at + 9 + first;
        while pos < out.len() {
            let len = (out.len() - pos).min(self.peer_max_frame);
            let flags = if pos + len == out.len() {
                END_HEADERS
            } else {
                0
            };
            out.splice(pos..pos, head_bytes(len, kind::CONTINUATION, flags, id));
            pos += 9 + len;
        }
        id
    }

    /// Write as much of stream `id`'s body `data` as the send windows allow, in
    /// `DATA` frames, the last with `END_STREAM` when all of it fits; returns how
    /// many bytes went. The rest waits for an [`Event::Window`]. Nothing goes on a
    /// stream no longer open.
    pub fn send_data(&mut self, out: &mut Vec<u8>, id: u32, data: &[u8]) -> usize {
        let Some(stream_send) = self.open(id).map(|s| s.send) else {
            return 0;
        };
        let room = self.conn_send.min(stream_send).max(0) as usize;
        let n = data.len().min(room);
        let mut sent = 0;
        while sent < n || (n == data.len() && sent == 0 && data.is_empty()) {
            let len = (n - sent).min(self.peer_max_frame);
            let end = sent + len == data.len();
            frame_head(out, len, kind::DATA, if end { END_STREAM } else { 0 }, id);
            out.extend_from_slice(&data[sent..sent + len]);
            sent += len;
            if end {
                break;
            }
        }
        self.conn_send -= n as i64;
        if let Some(s) = self.open(id) {
            s.send -= n as i64;
        }
        n
    }

    /// Read the next thing about stream `mine` from `input`: returns how many
    /// bytes were taken (whole frames) and the event. Frames the connection
    /// answers itself write their answers to `out`, which the caller sends before
    /// it next waits for the server. A frame of another open stream stops the
    /// reading before it ([`Event::Other`]).
    pub fn next<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut Vec<u8>,
        mine: u32,
    ) -> Result<(usize, Event<'a>), Error> {
        let mut pos = 0;
        loop {
            let Some(head) = input.get(pos..pos + 9) else {
                return Ok((pos, Event::NeedMore));
            };
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let (ty, flags) = (head[3], head[4]);
            let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            if len > MAX_FRAME {
                // `HTTP/1.1 …` read as a frame's head is one of megabytes.
                if input[pos..].starts_with(b"HTTP/1.") {
                    return Err(Error::protocol(
                        "an HTTP/1.1 response, not a frame (a server that does not speak HTTP/2 without TLS, h2c)",
                    ));
                }
                return Err(Error {
                    code: code::FRAME_SIZE_ERROR,
                    what: "a frame larger than SETTINGS_MAX_FRAME_SIZE",
                });
            }
            let Some(payload) = input.get(pos + 9..pos + 9 + len) else {
                return Ok((pos, Event::NeedMore));
            };
            if self.continuing.is_some() && ty != kind::CONTINUATION {
                return Err(Error::protocol("a frame inside a header block"));
            }
            let of_stream = matches!(
                ty,
                kind::DATA
                    | kind::HEADERS
                    | kind::CONTINUATION
                    | kind::RST_STREAM
                    | kind::WINDOW_UPDATE
            );
            if of_stream && id != 0 && id != mine && self.is_open(id) {
                return Ok((pos, Event::Other(id)));
            }
            pos += 9 + len;
            if let Some(event) = self.frame(ty, flags, id, payload, out)? {
                return Ok((pos, event));
            }
        }
    }

    /// Handle one frame; `Some` when it concerns the open stream.
    fn frame<'a>(
        &mut self,
        ty: u8,
        flags: u8,
        id: u32,
        payload: &'a [u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<Event<'a>>, Error> {
        let on_stream = |what| {
            if id == 0 {
                Err(Error::protocol(what))
            } else {
                Ok(())
            }
        };
        let on_connection = |what| {
            if id != 0 {
                Err(Error::protocol(what))
            } else {
                Ok(())
            }
        };
        match ty {
            kind::DATA => {
                on_stream("DATA on stream 0")?;
                self.conn_unacked += payload.len() as u32;
                if self.conn_unacked >= CONNECTION_WINDOW / 2 {
                    window_update(out, 0, self.conn_unacked);
                    self.conn_unacked = 0;
                }
                let Some(stream) = self.open(id) else {
                    return Ok(None);
                };
                if stream.phase != Phase::Body {
                    return Err(Error::protocol("DATA before the response's HEADERS"));
                }
                let end = flags & END_STREAM != 0;
                stream.unacked += payload.len() as u32;
                if end {
                    self.close(id);
                } else if stream.unacked >= STREAM_WINDOW / 2 {
                    window_update(out, id, stream.unacked);
                    stream.unacked = 0;
                }
                Ok(Some(Event::Data(unpad(flags, payload)?, end)))
            }
            kind::HEADERS => {
                on_stream("HEADERS on stream 0")?;
                let mut fragment = unpad(flags, payload)?;
                if flags & PRIORITY_FLAG != 0 {
                    fragment = fragment.get(5..).ok_or(Error::protocol(
                        "a HEADERS frame too short for its priority",
                    ))?;
                }
                let end = flags & END_STREAM != 0;
                if flags & END_HEADERS == 0 {
                    self.block.clear();
                    self.block.extend_from_slice(fragment);
                    self.continuing = Some((id, end));
                    return Ok(None);
                }
                self.decode(fragment, id, end)
            }
            kind::CONTINUATION => {
                let Some((stream, end)) = self.continuing else {
                    return Err(Error::protocol("CONTINUATION without HEADERS"));
                };
                if id != stream {
                    return Err(Error::protocol("CONTINUATION of another stream"));
                }
                if self.block.len() + payload.len() > MAX_HEADER_BLOCK {
                    return Err(Error::protocol("a header block larger than 64 KiB"));
                }
                self.block.extend_from_slice(payload);
                if flags & END_HEADERS == 0 {
                    return Ok(None);
                }
                self.continuing = None;
                let block = std::mem::take(&mut self.block);
                let event = self.decode(&block, id, end);
                self.block = block;
                event
            }
            kind::PRIORITY => Ok(None),
            kind::RST_STREAM => {
                on_stream("RST_STREAM on stream 0")?;
                let Ok(code) = <[u8; 4]>::try_from(payload) else {
                    return Err(Error {
                        code: code::FRAME_SIZE_ERROR,
                        what: "an RST_STREAM frame not 4 bytes long",
                    });
                };
                if !self.is_open(id) {
                    return Ok(None);
                }
                self.close(id);
                Ok(Some(Event::Reset(u32::from_be_bytes(code))))
            }
            kind::SETTINGS => {
                on_connection("SETTINGS on a stream")?;
                if flags & ACK != 0 {
                    return Ok(None);
                }
                if !payload.len().is_multiple_of(6) {
                    return Err(Error {
                        code: code::FRAME_SIZE_ERROR,
                        what: "a SETTINGS frame's length is not a multiple of 6",
                    });
                }
                // Its first settings, or a higher stream limit, let streams open
                // that waited.
                let mut opened = !std::mem::replace(&mut self.peer_settings, true);
                for setting in payload.chunks_exact(6) {
                    let value =
                        u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
                    match u16::from_be_bytes([setting[0], setting[1]]) {
                        0x4 => {
                            if value as i64 > MAX_WINDOW {
                                return Err(Error {
                                    code: code::FLOW_CONTROL_ERROR,
                                    what: "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                                });
                            }
                            let delta = value as i64 - self.peer_initial_window;
                            self.peer_initial_window = value as i64;
                            for stream in &mut self.streams {
                                stream.send += delta;
                            }
                            opened |= delta > 0;
                        }
                        0x1 => self.encoder.resize(value as usize),
                        0x3 => {
                            opened |= value > self.peer_max_streams;
                            self.peer_max_streams = value;
                        }
                        0x5 => {
                            if !(MAX_FRAME as u32..=(1 << 24) - 1).contains(&value) {
                                return Err(Error::protocol(
                                    "SETTINGS_MAX_FRAME_SIZE out of range",
                                ));
                            }
                            self.peer_max_frame = value as usize;
                        }
                        // Push, and limits on the client's side that one stream
                        // at a time keeps within.
                        _ => {}
                    }
                }
                frame_head(out, 0, kind::SETTINGS, ACK, 0);
                Ok(opened.then_some(Event::Window))
            }
            kind::PUSH_PROMISE => Err(Error::protocol("PUSH_PROMISE, with push disabled")),
            kind::PING => {
                on_connection("PING on a stream")?;
                if payload.len() != 8 {
                    return Err(Error {
                        code: code::FRAME_SIZE_ERROR,
                        what: "a PING frame not 8 bytes long",
                    });
                }
                if flags & ACK == 0 {
                    frame_head(out, 8, kind::PING, ACK, 0);
                    out.extend_from_slice(payload);
                }
                Ok(None)
            }
            kind::GOAWAY => {
                on_connection("GOAWAY on a stream")?;
                if payload.len() < 8 {
                    return Err(Error {
                        code: code::FRAME_SIZE_ERROR,
                        what: "a GOAWAY frame shorter than 8 bytes",
                    });
                }
                let last_stream =
                    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                        & 0x7fff_ffff;
                let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
                self.goaway = Some((last_stream, code));
                Ok(Some(Event::GoAway { last_stream, code }))
            }
            kind::WINDOW_UPDATE => {
                let Ok(increment) = <[u8; 4]>::try_from(payload) else {
                    return Err(Error {
                        code: code::FRAME_SIZE_ERROR,
                        what: "a WINDOW_UPDATE frame not 4 bytes long",
                    });
                };
                let increment = (u32::from_be_bytes(increment) & 0x7fff_ffff) as i64;
                if increment == 0 {
                    return Err(Error::protocol("a WINDOW_UPDATE of 0"));
                }
                let window = if id == 0 {
                    &mut self.conn_send
                } else if let Some(stream) = self.streams.iter_mut().find(|s| s.id == id) {
                    &mut stream.send
                } else {
                    return Ok(None);
                };
                *window += increment;
                if *window > MAX_WINDOW {
                    return Err(Error {
                        code: code::FLOW_CONTROL_ERROR,
                        what: "a window above 2^31-1",
                    });
                }
                Ok(Some(Event::Window))
            }
            // Frames of extensions the client does not know are ignored.
            _ => Ok(None),
        }
    }

    /// Decode a whole header block of stream `id` (always, to keep the table in
    /// step), and say what it means for the open stream.
    fn decode(
        &mut self,
        block: &[u8],
        id: u32,
        end: bool,
    ) -> Result<Option<Event<'static>>, Error> {
        // Servers repeat their heads (nginx's change once a second, with their
        // `date`): a block like the last, which read nothing of the dynamic table,
        // is not decoded again (the entries it added are owed to the table again,
        // `hpack::Decoder::replay`).
        if !block.is_empty() && block == self.repeat {
            self.decoder.replay(&self.fields);
        } else {
            self.repeat.clear();
            self.decoder
                .decode(block, &mut self.fields)
                .map_err(|hpack::Invalid(what)| Error {
                    code: code::COMPRESSION_ERROR,
                    what,
                })?;
            if self.fields.size() + 32 * self.fields.len() > MAX_HEADER_BLOCK {
                return Err(Error::protocol("a response head larger than 64 KiB"));
            }
            if self.decoder.replayable() {
                self.repeat.extend_from_slice(block);
            }
        }
        let Some(stream) = self.open(id) else {
            return Ok(None);
        };
        if stream.phase == Phase::Body {
            // Trailers: they end the stream.
            if !end {
                return Err(Error::protocol("trailers without END_STREAM"));
            }
            self.close(id);
            return Ok(Some(Event::Trailers));
        }
        let status = match self.fields.iter().next() {
            Some((b":status", v))
                if v.len() == 3 && v[0] != b'0' && v.iter().all(u8::is_ascii_digit) =>
            {
                v.iter().fold(0u16, |n, d| n * 10 + (d - b'0') as u16)
            }
            _ => {
                return Err(Error::protocol(
                    "a response head without a valid :status first",
                ));
            }
        };
        if (100..200).contains(&status) {
            // An interim response: the final head is still to come.
            if end {
                return Err(Error::protocol("an interim response that ends the stream"));
            }
            return Ok(None);
        }
        if end {
            self.close(id);
        } else if let Some(stream) = self.open(id) {
            stream.phase = Phase::Body;
        }
        Ok(Some(Event::Head { status, end }))
    }
}

/// A frame's 9-byte head.
fn head_bytes(len: usize, ty: u8, flags: u8, id: u32) -> [u8; 9] {
    let len = (len as u32).to_be_bytes();
    let id = id.to_be_bytes();
    [
        len[1], len[2], len[3], ty, flags, id[0], id[1], id[2], id[3],
    ]
}

/// Append a frame's 9-byte head.
fn frame_head(out: &mut Vec<u8>, len: usize, ty: u8, flags: u8, id: u32) {
    out.extend_from_slice(&head_bytes(len, ty, flags, id));
}

fn window_update(out: &mut Vec<u8>, id: u32, increment: u32) {
    frame_head(out, 4, kind::WINDOW_UPDATE, 0, id);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// A `DATA` or `HEADERS` payload without its padding.
fn unpad(flags: u8, payload: &[u8]) -> Result<&[u8], Error> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let (&pad, rest) = payload
        .split_first()
        .ok_or(Error::protocol("a padded frame without its pad length"))?;
    rest.len()
        .checked_sub(pad as usize)
        .map(|n| &rest[..n])
        .ok_or(Error::protocol("padding longer than the frame"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as the server would send it.
    fn frame(ty: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame_head(&mut out, payload.len(), ty, flags, id);
        out.extend_from_slice(payload);
        out
    }

    /// A header block of `fields`, as [`hpack::encode`] writes it.
    fn block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            hpack::encode(&mut out, name.as_bytes(), value.as_bytes());
        }
        out
    }

    /// The frames in `bytes`: type, flags, stream and payload.
    fn frames(mut bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        let mut all = Vec::new();
        while !bytes.is_empty() {
            let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
            let id = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
            all.push((bytes[3], bytes[4], id, bytes[9..9 + len].to_vec()));
            bytes = &bytes[9 + len..];
        }
        all
    }

    /// Every event `input` gives, in order, until it needs more; the bytes taken.
    fn events(conn: &mut Connection, input: &[u8], out: &mut Vec<u8>) -> (usize, Vec<String>) {
        let mut pos = 0;
        let mut seen = Vec::new();
        loop {
            let (n, event) = conn.next(&input[pos..], out, 1).unwrap();
            pos += n;
            if event == Event::NeedMore {
                return (pos, seen);
            }
            seen.push(format!("{event:?}"));
        }
    }

    /// A connection with a `GET` open on stream 1 (its frames dropped).
    fn open() -> Connection {
        let mut conn = Connection::new();
        let mut out = Vec::new();
        let at = conn.begin_headers(&mut out);
        out.extend(block(&[(":method", "GET"), (":path", "/")]));
        assert_eq!(conn.end_headers(&mut out, at, true), 1);
        conn
    }

    fn error(conn: &mut Connection, input: &[u8]) -> Error {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            match conn.next(&input[pos..], &mut out, 1) {
                Err(e) => return e,
                Ok((_, Event::NeedMore)) => panic!("no error in the input"),
                Ok((n, _)) => pos += n,
            }
        }
    }

    #[test]
    fn the_preface_sets_no_push_and_the_windows() {
        let mut out = Vec::new();
        Connection::new().preface(&mut out);
        assert!(out.starts_with(PREFACE));
        let sent = frames(&out[PREFACE.len()..]);
        let mut settings = vec![0, 2, 0, 0, 0, 0, 0, 4];
        settings.extend_from_slice(&STREAM_WINDOW.to_be_bytes());
        assert_eq!(sent[0], (kind::SETTINGS, 0, 0, settings));
        let increment = (CONNECTION_WINDOW - 65_535).to_be_bytes().to_vec();
        assert_eq!(sent[1], (kind::WINDOW_UPDATE, 0, 0, increment));
        assert_eq!(sent.len(), 2);
    }

    #[test]
    fn requests_open_odd_streams_with_their_header_block() {
        let mut conn = Connection::new();
        let mut out = Vec::new();
        let fields = block(&[(":method", "POST"), (":path", "/a"), ("x-id", "7")]);
        let at = conn.begin_headers(&mut out);
        out.extend_from_slice(&fields);
        assert_eq!(conn.end_headers(&mut out, at, false), 1);
        assert_eq!(conn.send_data(&mut out, 1, b"body"), 4);
        let sent = frames(&out);
        assert_eq!(sent[0], (kind::HEADERS, END_HEADERS, 1, fields.clone()));
        assert_eq!(sent[1], (kind::DATA, END_STREAM, 1, b"body".to_vec()));

        let mut decoded = Fields::default();
        Decoder::new().decode(&sent[0].3, &mut decoded).unwrap();
        let names: Vec<_> = decoded
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(names[2], (b"x-id".to_vec(), b"7".to_vec()));

        out.clear();
        let at = conn.begin_headers(&mut out);
        out.extend_from_slice(&fields);
        assert_eq!(conn.end_headers(&mut out, at, true), 3);
        assert!(conn.is_open(1) && conn.is_open(3));
        assert_eq!(frames(&out)[0].1, END_HEADERS | END_STREAM);
    }

    #[test]
    fn a_header_block_larger_than_a_frame_goes_on_in_continuations() {
        let mut conn = Connection::new();
        let mut out = Vec::new();
        let big = "v".repeat(40_000);
        let fields = block(&[(":method", "GET"), ("x-big", &big)]);
        let at = conn.begin_headers(&mut out);
        out.extend_from_slice(&fields);
        conn.end_headers(&mut out, at, true);
        let sent = frames(&out);
        let kinds: Vec<_> = sent.iter().map(|f| (f.0, f.1, f.3.len())).collect();
        let rest = fields.len() - 2 * MAX_FRAME;
        assert_eq!(
            kinds,
            [
                (kind::HEADERS, END_STREAM, MAX_FRAME),
                (kind::CONTINUATION, 0, MAX_FRAME),
                (kind::CONTINUATION, END_HEADERS, rest),
            ]
        );
        let joined: Vec<u8> = sent.iter().flat_map(|f| f.3.clone()).collect();
        assert_eq!(joined, fields);
    }

    #[test]
    fn a_padded_continued_response_arrives_in_pieces() {
        let mut conn = open();
        let head = block(&[(":status", "200"), ("content-type", "text/plain")]);
        // HEADERS padded and with a priority, its block split in two.
        let mut first = vec![3];
        first.extend_from_slice(&[0, 0, 0, 0, 16]);
        first.extend_from_slice(&head[..4]);
        first.extend_from_slice(&[0; 3]);
        let mut input = frame(kind::HEADERS, PADDED | PRIORITY_FLAG, 1, &first);
        input.extend(frame(kind::CONTINUATION, END_HEADERS, 1, &head[4..]));
        input.extend(frame(kind::DATA, PADDED, 1, b"\x02hel\0\0"));
        input.extend(frame(kind::DATA, END_STREAM, 1, b"lo"));

        // Byte by byte: nothing is taken until a frame is whole.
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let mut start = 0;
        for end in 1..=input.len() {
            let (n, more) = events(&mut conn, &input[start..end], &mut out);
            start += n;
            seen.extend(more);
        }
        assert_eq!(start, input.len());
        assert_eq!(
            seen,
            [
                "Head { status: 200, end: false }",
                "Data([104, 101, 108], false)",
                "Data([108, 111], true)",
            ]
        );
        let fields: Vec<_> = conn.fields().iter().map(|(n, _)| n.to_vec()).collect();
        assert_eq!(fields, [b":status".to_vec(), b"content-type".to_vec()]);
        assert!(out.is_empty(), "nothing to answer: {out:?}");
    }

    #[test]
    fn interim_heads_are_skipped_and_trailers_end_the_response() {
        let mut conn = open();
        let mut input = frame(kind::HEADERS, END_HEADERS, 1, &block(&[(":status", "100")]));
        input.extend(frame(
            kind::HEADERS,
            END_HEADERS,
            1,
            &block(&[(":status", "204")]),
        ));
        input.extend(frame(kind::DATA, 0, 1, b"x"));
        input.extend(frame(
            kind::HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &block(&[("grpc-status", "0")]),
        ));
        let (n, seen) = events(&mut conn, &input, &mut Vec::new());
        assert_eq!(n, input.len());
        assert_eq!(
            seen,
            [
                "Head { status: 204, end: false }",
                "Data([120], false)",
                "Trailers"
            ]
        );
        let trailers: Vec<_> = conn.fields().iter().collect();
        assert_eq!(trailers, [(&b"grpc-status"[..], &b"0"[..])]);
    }

    #[test]
    fn settings_and_pings_are_answered() {
        let mut conn = open();
        let mut out = Vec::new();
        let mut input = frame(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        input.extend(frame(kind::SETTINGS, ACK, 0, &[]));
        input.extend(frame(kind::PING, 0, 0, b"12345678"));
        input.extend(frame(kind::PING, ACK, 0, b"87654321"));
        let (n, seen) = events(&mut conn, &input, &mut out);
        // The first settings let streams open that waited for them.
        assert_eq!(n, input.len());
        assert_eq!(seen, ["Window"]);
        assert_eq!(
            frames(&out),
            [
                (kind::SETTINGS, ACK, 0, vec![]),
                (kind::PING, ACK, 0, b"12345678".to_vec()),
            ]
        );
    }

    /// Until the server's settings come, one stream at a time: its limit may be
    /// below the streams wanted, and those above it would be refused. Then its
    /// SETTINGS_MAX_CONCURRENT_STREAMS holds, and a higher one lets more open.
    #[test]
    fn streams_wait_for_the_server_s_limit() {
        let mut conn = Connection::new();
        assert!(conn.may_open());
        let mut out = Vec::new();
        let mut request = |conn: &mut Connection| {
            let at = conn.begin_headers(&mut out);
            out.extend(block(&[(":method", "GET"), (":path", "/")]));
            conn.end_headers(&mut out, at, true)
        };
        request(&mut conn);
        assert!(!conn.may_open(), "a second stream before the settings");
        let settings = |n: u8| frame(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, n]);
        let (_, seen) = events(&mut conn, &settings(2), &mut Vec::new());
        assert_eq!(seen, ["Window"]);
        assert!(conn.may_open());
        request(&mut conn);
        assert!(!conn.may_open(), "a third stream above the limit of 2");
        let (_, seen) = events(&mut conn, &settings(2), &mut Vec::new());
        assert!(
            seen.is_empty(),
            "the same limit again lets nothing more open"
        );
        let (_, seen) = events(&mut conn, &settings(3), &mut Vec::new());
        assert_eq!(seen, ["Window"]);
        assert!(conn.may_open());
    }

    #[test]
    fn the_server_s_table_size_is_kept_and_announced() {
        let mut conn = open();
        let mut out = Vec::new();
        let request = |conn: &mut Connection| {
            let mut block = Vec::new();
            let at = conn.begin_headers(&mut block);
            conn.field(
                &mut block,
                b":authority",
                b"example.test",
                Indexing::Incremental,
            );
            conn.end_headers(&mut block, at, true);
            frames(&block).remove(0).3
        };
        let first = request(&mut conn);
        assert_eq!(
            first[0],
            0x40 | 1,
            "a literal the server indexes: {first:?}"
        );
        assert_eq!(request(&mut conn), [0x80 | 62]);
        // SETTINGS_HEADER_TABLE_SIZE 0: the next block says so, and indexes nothing.
        let input = frame(kind::SETTINGS, 0, 0, &[0, 1, 0, 0, 0, 0]);
        let (n, _) = events(&mut conn, &input, &mut out);
        assert_eq!(n, input.len());
        let mut decoder = crate::hpack::Decoder::new();
        let mut fields = Fields::default();
        decoder.decode(&first, &mut fields).unwrap();
        let after = request(&mut conn);
        assert_eq!(after[0], 0x20);
        decoder.decode(&after, &mut fields).unwrap();
        assert_eq!(
            fields.iter().collect::<Vec<_>>(),
            [(&b":authority"[..], &b"example.test"[..])]
        );
        assert_eq!(request(&mut conn)[0], 1, "a literal without indexing");
    }

    #[test]
    fn a_body_waits_for_the_send_windows() {
        let mut conn = Connection::new();
        let mut out = Vec::new();
        let at = conn.begin_headers(&mut out);
        out.extend(block(&[(":method", "PUT")]));
        conn.end_headers(&mut out, at, false);
        let body = vec![7u8; 100_000];
        out.clear();
        let sent = conn.send_data(&mut out, 1, &body);
        assert_eq!(sent, 65_535);
        let data = frames(&out);
        assert!(
            data.iter()
                .all(|f| f.0 == kind::DATA && f.1 == 0 && f.3.len() <= MAX_FRAME)
        );
        assert_eq!(data.iter().map(|f| f.3.len()).sum::<usize>(), sent);
        assert_eq!(conn.send_data(&mut out, 1, &body[sent..]), 0);

        // The stream's window opens by a setting, the connection's by an update.
        let mut input = frame(kind::SETTINGS, 0, 0, &[0, 4, 0, 2, 0, 0]);
        input.extend(frame(kind::WINDOW_UPDATE, 0, 0, &40_000u32.to_be_bytes()));
        let (_, seen) = events(&mut conn, &input, &mut Vec::new());
        assert_eq!(seen, ["Window", "Window"]);
        out.clear();
        assert_eq!(
            conn.send_data(&mut out, 1, &body[sent..]),
            body.len() - sent
        );
        let data = frames(&out);
        assert_eq!(data.last().unwrap().1, END_STREAM);
        assert!(data[..data.len() - 1].iter().all(|f| f.1 == 0));
    }

    #[test]
    fn what_the_server_sends_is_acknowledged_by_window_updates() {
        let mut conn = open();
        let mut out = Vec::new();
        let mut input = frame(kind::HEADERS, END_HEADERS, 1, &block(&[(":status", "200")]));
        let chunk = vec![0u8; MAX_FRAME];
        for _ in 0..(STREAM_WINDOW as usize / 2 / MAX_FRAME) {
            input.extend(frame(kind::DATA, 0, 1, &chunk));
        }
        events(&mut conn, &input, &mut out);
        let half = (STREAM_WINDOW / 2).to_be_bytes().to_vec();
        assert_eq!(frames(&out), [(kind::WINDOW_UPDATE, 0, 1, half)]);

        // The connection's window counts every stream's data, a reset one's too.
        out.clear();
        let mut input = frame(kind::RST_STREAM, 0, 1, &8u32.to_be_bytes());
        for _ in 0..(CONNECTION_WINDOW as usize / 2 / MAX_FRAME) {
            input.extend(frame(kind::DATA, 0, 1, &chunk));
        }
        let (_, seen) = events(&mut conn, &input, &mut out);
        assert_eq!(seen, ["Reset(8)"]);
        let updates = frames(&out);
        assert_eq!(updates.len(), 1);
        assert_eq!((updates[0].0, updates[0].2), (kind::WINDOW_UPDATE, 0));
        let increment = u32::from_be_bytes(updates[0].3[..].try_into().unwrap());
        assert!(increment >= CONNECTION_WINDOW / 2, "{increment}");
    }

    #[test]
    fn goaway_says_which_streams_were_processed() {
        let mut conn = open();
        assert!(conn.usable());
        let mut payload = 0u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&0xbu32.to_be_bytes());
        payload.extend_from_slice(b"calm down");
        let (_, seen) = events(
            &mut conn,
            &frame(kind::GOAWAY, 0, 0, &payload),
            &mut Vec::new(),
        );
        assert_eq!(seen, ["GoAway { last_stream: 0, code: 11 }"]);
        assert!(!conn.usable());
    }

    #[test]
    fn broken_frames_are_connection_errors() {
        let head = frame(kind::HEADERS, END_HEADERS, 1, &block(&[(":status", "200")]));
        let cases: Vec<(Vec<u8>, u32, &str)> = vec![
            (
                frame(kind::DATA, 0, 1, &vec![0; MAX_FRAME + 1]),
                code::FRAME_SIZE_ERROR,
                "a frame larger than SETTINGS_MAX_FRAME_SIZE",
            ),
            (
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
                code::PROTOCOL_ERROR,
                "an HTTP/1.1 response, not a frame (a server that does not speak HTTP/2 without TLS, h2c)",
            ),
            (
                frame(kind::DATA, 0, 1, b"x"),
                code::PROTOCOL_ERROR,
                "DATA before the response's HEADERS",
            ),
            (
                frame(kind::PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2]),
                code::PROTOCOL_ERROR,
                "PUSH_PROMISE, with push disabled",
            ),
            (
                [
                    frame(kind::HEADERS, 0, 1, &[0x88]),
                    frame(kind::PING, 0, 0, &[0; 8]),
                ]
                .concat(),
                code::PROTOCOL_ERROR,
                "a frame inside a header block",
            ),
            (
                frame(kind::HEADERS, END_HEADERS, 1, &[0xff, 0xff, 0xff, 0x7f]),
                code::COMPRESSION_ERROR,
                "",
            ),
            (
                frame(kind::HEADERS, END_HEADERS, 1, &block(&[("server", "x")])),
                code::PROTOCOL_ERROR,
                "a response head without a valid :status first",
            ),
            (
                frame(kind::HEADERS, END_HEADERS, 1, &block(&[(":status", "099")])),
                code::PROTOCOL_ERROR,
                "a response head without a valid :status first",
            ),
            (
                frame(kind::WINDOW_UPDATE, 0, 0, &0u32.to_be_bytes()),
                code::PROTOCOL_ERROR,
                "a WINDOW_UPDATE of 0",
            ),
            (
                frame(kind::WINDOW_UPDATE, 0, 0, &0x7fff_ffffu32.to_be_bytes()),
                code::FLOW_CONTROL_ERROR,
                "a window above 2^31-1",
            ),
            (
                frame(kind::SETTINGS, 0, 0, &[0, 5, 0, 0, 0, 1]),
                code::PROTOCOL_ERROR,
                "SETTINGS_MAX_FRAME_SIZE out of range",
            ),
            (
                frame(kind::PING, 0, 0, b"short"),
                code::FRAME_SIZE_ERROR,
                "a PING frame not 8 bytes long",
            ),
            (
                [
                    head.clone(),
                    frame(kind::HEADERS, END_HEADERS, 1, &block(&[("x", "y")])),
                ]
                .concat(),
                code::PROTOCOL_ERROR,
                "trailers without END_STREAM",
            ),
            (
                [head.clone(), frame(kind::DATA, PADDED, 1, &[9, 1, 2])].concat(),
                code::PROTOCOL_ERROR,
                "padding longer than the frame",
            ),
        ];
        for (input, code, what) in cases {
            let e = error(&mut open(), &input);
            assert_eq!(e.code, code, "{e:?}");
            if !what.is_empty() {
                assert_eq!(e.what, what);
            }
        }
    }

    #[test]
    fn streams_sharing_a_connection_each_read_their_own_frames() {
        let mut conn = Connection::new();
        let mut out = Vec::new();
        let ids: Vec<u32> = (0..3)
            .map(|_| {
                let at = conn.begin_headers(&mut out);
                out.extend(block(&[(":method", "GET")]));
                conn.end_headers(&mut out, at, true)
            })
            .collect();
        assert_eq!(ids, [1, 3, 5]);
        let ok = block(&[(":status", "200")]);
        let mut input = frame(kind::PING, 0, 0, b"12345678");
        input.extend(frame(kind::HEADERS, END_HEADERS, 3, &ok));
        input.extend(frame(kind::HEADERS, END_HEADERS, 1, &ok));
        input.extend(frame(kind::DATA, END_STREAM, 3, b"three"));
        input.extend(frame(kind::DATA, END_STREAM, 1, b"one"));

        // Stream 1's reader answers the ping, then stops at stream 3's head.
        out.clear();
        let (n, event) = conn.next(&input, &mut out, 1).unwrap();
        assert_eq!(event, Event::Other(3));
        assert_eq!(n, 17);
        assert_eq!(frames(&out)[0].0, kind::PING);
        let mut pos = n;
        let (n, event) = conn.next(&input[pos..], &mut out, 3).unwrap();
        assert_eq!(
            event,
            Event::Head {
                status: 200,
                end: false
            }
        );
        pos += n;
        assert_eq!(
            conn.next(&input[pos..], &mut out, 3).unwrap(),
            (0, Event::Other(1))
        );
        let (n, event) = conn.next(&input[pos..], &mut out, 1).unwrap();
        assert_eq!(
            event,
            Event::Head {
                status: 200,
                end: false
            }
        );
        pos += n;
        let (n, event) = conn.next(&input[pos..], &mut out, 3).unwrap();
        assert_eq!(event, Event::Data(b"three", true));
        pos += n;
        assert!(!conn.is_open(3));
        let (n, event) = conn.next(&input[pos..], &mut out, 1).unwrap();
        assert_eq!(event, Event::Data(b"one", true));
        assert_eq!(pos + n, input.len());

        // A stream given up is reset, and its frames are anyone's to drop.
        out.clear();
        conn.cancel(&mut out, 5);
        assert_eq!(
            frames(&out),
            [(kind::RST_STREAM, 0, 5, code::CANCEL.to_be_bytes().to_vec())]
        );
        let late = frame(kind::HEADERS, END_HEADERS | END_STREAM, 5, &ok);
        assert_eq!(
            conn.next(&late, &mut out, 7).unwrap(),
            (late.len(), Event::NeedMore)
        );
    }

    #[test]
    fn the_server_limits_streams_and_refuses_those_past_its_goaway() {
        let mut conn = Connection::new();
        let mut out = Vec::new();
        let settings = frame(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 2]);
        conn.next(&settings, &mut out, 0).unwrap();
        for _ in 0..2 {
            assert!(conn.may_open());
            let at = conn.begin_headers(&mut out);
            out.extend(block(&[(":method", "GET")]));
            conn.end_headers(&mut out, at, true);
        }
        assert!(!conn.may_open());
        let mut payload = 1u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&0u32.to_be_bytes());
        let goaway = frame(kind::GOAWAY, 0, 0, &payload);
        let (_, event) = conn.next(&goaway, &mut out, 3).unwrap();
        assert_eq!(
            event,
            Event::GoAway {
                last_stream: 1,
                code: 0
            }
        );
        assert_eq!((conn.refused(1), conn.refused(3)), (None, Some(0)));
        assert!(!conn.usable());
    }

    #[test]
    fn a_repeated_head_is_replayed_only_when_it_read_nothing_of_the_table() {
        let mut conn = Connection::new();
        let mut out = Vec::new();
        // `x: 1` added to the table twice, the second time by replaying the first
        // block (so entries 62 and 63 both hold it, as 0xbf shows); then a block
        // naming entry 62 twice, with another entry added in between: the second
        // time it names the new one, and is decoded again.
        let blocks: [&[u8]; 6] = [
            &[0x88, 0x40, 1, b'x', 1, b'1'],
            &[0x88, 0x40, 1, b'x', 1, b'1'],
            &[0x88, 0xbf],
            &[0x88, 0xbe],
            &[0x88, 0x40, 1, b'w', 1, b'2'],
            &[0x88, 0xbe],
        ];
        let mut heads = Vec::new();
        for head in blocks {
            let at = conn.begin_headers(&mut out);
            out.extend(block(&[(":method", "GET")]));
            let id = conn.end_headers(&mut out, at, true);
            let input = frame(kind::HEADERS, END_HEADERS | END_STREAM, id, head);
            let (_, event) = conn.next(&input, &mut out, id).unwrap();
            assert_eq!(
                event,
                Event::Head {
                    status: 200,
                    end: true
                }
            );
            let fields: Vec<_> = conn
                .fields()
                .iter()
                .skip(1)
                .map(|(n, v)| [n, v].concat())
                .collect();
            heads.push(fields);
        }
        let x1 = vec![b"x1".to_vec()];
        let w2 = vec![b"w2".to_vec()];
        assert_eq!(
            heads,
            [
                x1.clone(),
                x1.clone(),
                x1.clone(),
                x1.clone(),
                w2.clone(),
                w2
            ]
        );
    }
}
