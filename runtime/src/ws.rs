//! The WebSocket driver: one connection per VU and step URL, kept across iterations,
//! and one message exchange per `send`.
//!
//! Where it sits: the VM writes a WebSocket step's handshake path and headers and its
//! message into the VU's buffers and yields `Send(step)`; the tokio engine hands the
//! request to [`Drivers`](crate::driver::Drivers), which calls this driver; the
//! outcome goes back through the VU machine (vu.rs) like an HTTP response's, and
//! what the driver counted of messages and sessions goes to the worker's
//! [`Messages`](crate::stats::Messages) through a [`Tally`].
//!
//! The connection is made here (conn.rs: TCP, TLS for `wss`, with `--insecure`,
//! `--cacert` and the timing phases of every other driver), then upgraded with
//! `tokio_tungstenite::client_async_with_config`: the handshake sends the step's
//! headers (`Sec-WebSocket-Protocol` for a subprotocol, a token, …). A connection
//! opens on a step's first exchange and again after the peer closed it; steps with
//! the same URL share it, and a step whose URL changed (a `${…}` in its path) closes
//! the one it had before opening the next.
//!
//! An exchange, in echo mode: write the message (text when it is UTF-8, else
//! binary), then read until `expect` data messages came; the last one is what the
//! step's checks and extractors read. Its status is `ws:1000`; a close frame from
//! the peer before the replies makes it `ws:<code>`; a dropped connection, or a
//! normal close (1000, which would read as a completed exchange) before the
//! replies, is an error (`reset`). In fire-and-forget mode the exchange is over once the message is
//! written; messages that came meanwhile are read without waiting, and counted.
//! Pings are answered by tungstenite as frames are read and written.
//!
//! Allocation: the message goes out of one `BytesMut` per VU, reclaimed once
//! tungstenite has framed it (its frame is gone when `send` returns); a reply is a
//! slice of tungstenite's read buffer, copied into the capture and dropped before
//! the next read. Once warm, an exchange allocates nothing, in either mode
//! (`alloc_tests.rs` measures both).

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use kaioken_vm::{OriginId, Program, Scheme, StepId, StepKind, VuState, WsMode};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use crate::ErrorKind;
use crate::conn::{Stream, connect};
use crate::deadline::Armed;
use crate::driver::{Driver, Last, Perform};
use crate::http1::{Sending, StepInfo};
use crate::stats::{Opened, Outcome, Tally, Timing};

/// The close code of an exchange that completed on a connection in good standing.
const NORMAL: u16 = 1000;
/// A close frame without a code (RFC 6455 §7.4.1: "no status received").
const NO_STATUS: u16 = 1005;
/// The longest a VU's connections take to close at its end ([`Ws::finish`]).
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a connection is quiet before it is closed at the VU's end: a server
/// still answering what it was sent answers more often than this.
const QUIET: std::time::Duration = std::time::Duration::from_millis(300);

/// One open WebSocket connection, the URL it was opened to and the step that opened
/// it.
struct Conn {
    step: StepId,
    origin: OriginId,
    /// The handshake's path and query.
    path: Vec<u8>,
    ws: WebSocketStream<Stream>,
}

/// How an exchange ended, before it becomes an [`Outcome`].
enum Ended {
    /// The replies came (echo), or the message went out (fire-and-forget).
    Done { bytes_in: u64 },
    /// The peer closed the connection with this code before the exchange completed.
    Closed(u16),
}

/// One VU's WebSocket connections and message buffer.
pub(crate) struct Ws {
    last: Last,
    conns: Vec<Conn>,
    /// The message of the exchange in progress; reclaimed after each send.
    out: BytesMut,
    /// Payload bytes of the last message, when it was written.
    sent: u64,
    /// What the last exchange counted of messages and sessions.
    tally: Tally,
}

impl Ws {
    pub fn new(program: &Program, http: &kaioken_vm::TransportPlan) -> Ws {
        Ws {
            last: Last {
                capture: crate::judge::capture_for(program, http),
                ..Last::default()
            },
            conns: Vec::new(),
            out: BytesMut::with_capacity(1024),
            sent: 0,
            tally: Tally::default(),
        }
    }

    /// The index of the open connection to `origin` and `path`, if any.
    fn find(&self, origin: OriginId, path: &[u8]) -> Option<usize> {
        self.conns
            .iter()
            .position(|c| c.origin == origin && c.path == path)
    }

    /// Open a connection to `origin` and `path` with `step`'s handshake headers
    /// (and a sampled exchange's `traceparent`: only an exchange that opens its
    /// connection sends one).
    async fn open(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        s: &Sending<'_>,
    ) -> Result<usize, ErrorKind> {
        let (tls, dial) = (s.tls, s.dial);
        let desc = program.step(step);
        let origin = &program.origins[desc.origin];
        let path = program.bytes(state, desc.path);
        let started = Instant::now();
        let mut opened = Opened::default();
        let stream = match connect(origin, tls, dial, &mut self.last.detail, &mut opened).await {
            Ok(stream) => stream,
            Err(kind) => {
                self.tally.open_failed += 1;
                return Err(kind);
            }
        };
        self.last.connected = true;
        self.last.timing.opened = Some(opened);
        let request = match handshake_request(program, state, step, path, s.added.traceparent) {
            Ok(request) => request,
            Err(message) => {
                self.tally.open_failed += 1;
                self.last.detail = Some(message);
                return Err(ErrorKind::InvalidRequest);
            }
        };
        match tokio_tungstenite::client_async_with_config(request, stream, None).await {
            Ok((ws, _response)) => {
                self.tally.opened = Some(started.elapsed());
                // A step whose URL changed (a `${…}` in its path) leaves its earlier
                // connection: a VU keeps at most one per step.
                if let Some(old) = self.conns.iter().position(|c| c.step == step) {
                    self.drop_conn(old);
                }
                self.conns.push(Conn {
                    step,
                    origin: desc.origin,
                    path: path.to_vec(),
                    ws,
                });
                Ok(self.conns.len() - 1)
            }
            Err(e) => {
                self.tally.open_failed += 1;
                let (kind, detail) = handshake_error(&e, &origin.authority, path);
                self.last.detail = Some(detail);
                Err(kind)
            }
        }
    }

    /// Read what came on connection `i` without waiting: data messages are counted,
    /// pings answered, a close or a broken connection ends it. Returns the peer's
    /// close code when it ended.
    fn drain(&mut self, i: usize) -> Option<u16> {
        loop {
            match self.conns[i].ws.next().now_or_never() {
                // Nothing more for now.
                None => return None,
                Some(Some(Ok(message))) => match message {
                    Message::Text(t) => self.tally.received(t.len()),
                    Message::Binary(b) => self.tally.received(b.len()),
                    Message::Close(frame) => return Some(close_code(frame.as_ref())),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                },
                Some(Some(Err(_)) | None) => return Some(DROPPED),
            }
        }
    }

    /// Forget connection `i`, which the peer closed or which failed. A peer's close
    /// frame is answered first, as RFC 6455 asks (tungstenite has the answer queued;
    /// it goes out if the socket takes it now, and is not waited for).
    fn drop_conn(&mut self, i: usize) {
        let _ = self.conns[i].ws.flush().now_or_never();
        self.conns.swap_remove(i);
    }

    /// The VU is done: close each connection as RFC 6455 says, within
    /// [`CLOSE_WAIT`], or until `hard_stop` resolves (a second Ctrl-C). First what
    /// the server still sends is read until the connection is quiet for [`QUIET`]:
    /// a fire-and-forget VU sends faster than a server echoes, and a server cannot
    /// echo once it has the client's close, nor read on once a socket closed with
    /// replies unread is reset; either way it would stop short of messages counted
    /// as sent. Then the close frame (1000), and what comes up to the server's own
    /// close. What comes while closing is after the run, and not counted.
    pub async fn finish(&mut self, hard_stop: impl std::future::Future<Output = ()>) {
        // Every connection at once: one after another, a VU with many would pass
        // `CLOSE_WAIT` before the last.
        let closing = futures_util::future::join_all(self.conns.iter_mut().map(|conn| async {
            while let Ok(Some(Ok(_))) = tokio::time::timeout(QUIET, conn.ws.next()).await {}
            let normal = tungstenite::protocol::CloseFrame {
                code: tungstenite::protocol::frame::coding::CloseCode::Normal,
                reason: Utf8Bytes::default(),
            };
            if conn.ws.close(Some(normal)).await.is_ok() {
                while let Some(Ok(_)) = conn.ws.next().await {}
            }
        }));
        tokio::select! {
            _ = tokio::time::timeout(CLOSE_WAIT, closing) => {}
            () = hard_stop => {}
        }
        self.conns.clear();
    }

    /// One exchange on `step`'s connection, opened first if there is none.
    async fn exchange(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        keep_body: bool,
        s: &Sending<'_>,
    ) -> Result<Ended, ErrorKind> {
        let desc = program.step(step);
        let StepKind::WebSocket(ws_step) = desc.kind else {
            self.last.detail = Some(format!(
                "internal error, this may indicate a bug in kaioken: step `{}` is not a \
                 WebSocket step; please file an issue",
                desc.name
            ));
            return Err(ErrorKind::Other);
        };
        let path = program.bytes(state, desc.path);
        let mut found = self.find(desc.origin, path);
        if let Some(i) = found {
            // What came since the last exchange: replies beyond those expected, the
            // server's own messages, or its close while the connection was idle (the
            // exchange then goes out on a new one).
            if self.drain(i).is_some() {
                self.tally.closed_by_peer += 1;
                self.last.timing.closed_by_server = true;
                self.drop_conn(i);
                found = None;
            }
        }
        let i = match found {
            Some(i) => {
                self.last.timing.reused = true;
                i
            }
            None => self.open(program, state, step, s).await?,
        };
        let body = desc.body.map_or(&[][..], |b| program.bytes(state, b));
        self.out.clear();
        self.out.extend_from_slice(body);
        let payload: Bytes = self.out.split().freeze();
        let message = if std::str::from_utf8(body).is_ok() {
            match Utf8Bytes::try_from(payload) {
                Ok(text) => Message::Text(text),
                Err(_) => return Err(ErrorKind::Other),
            }
        } else {
            Message::Binary(payload)
        };
        let written = self.conns[i].ws.send(message).await;
        // The frame holding the payload is gone: the buffer is ours again.
        self.out.reserve(body.len());
        if let Err(e) = written {
            let kind = write_error(&e);
            self.last.detail = Some(format!("sending a message: {e}"));
            self.tally.closed_by_peer += 1;
            self.drop_conn(i);
            return Err(kind);
        }
        self.sent = body.len() as u64;
        self.tally.sent(body.len());
        self.last.timing.written = Some(Instant::now());
        if ws_step.mode == WsMode::FireAndForget {
            return match self.drain(i) {
                None => Ok(Ended::Done { bytes_in: 0 }),
                Some(code) => self.peer_closed(i, code),
            };
        }
        let mut replies = 0;
        let mut bytes_in = 0;
        if let Some(c) = self.last.capture.as_mut() {
            c.start(keep_body);
        }
        while replies < ws_step.expect {
            let data = match self.conns[i].ws.next().await {
                Some(Ok(Message::Text(t))) => t.into(),
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Close(frame))) => {
                    let code = close_code(frame.as_ref());
                    if code == NORMAL {
                        // Not the status of an exchange that completed: no reply came.
                        self.peer_closed(i, code)?;
                        self.last.detail = Some(
                            "the server closed the connection normally (1000) before the reply"
                                .into(),
                        );
                        return Err(ErrorKind::Reset);
                    }
                    return self.peer_closed(i, code);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Err(e)) => {
                    let kind = read_error(&e);
                    self.last.detail = Some(format!("waiting for a reply: {e}"));
                    self.tally.closed_by_peer += 1;
                    self.last.timing.closed_by_server = true;
                    self.drop_conn(i);
                    return Err(kind);
                }
                None => return self.peer_closed(i, DROPPED),
            };
            if self.last.timing.first_byte.is_none() {
                self.last.timing.first_byte = Some(Instant::now());
            }
            replies += 1;
            bytes_in += data.len() as u64;
            self.tally.received(data.len());
            if replies == ws_step.expect
                && let Some(c) = self.last.capture.as_mut()
            {
                c.start(keep_body);
                c.push_body(&data);
            }
        }
        Ok(Ended::Done { bytes_in })
    }

    /// The peer ended connection `i` before the exchange completed: with a close
    /// frame (its code is the exchange's status), or by dropping it (an error).
    fn peer_closed(&mut self, i: usize, code: u16) -> Result<Ended, ErrorKind> {
        self.tally.closed_by_peer += 1;
        self.last.timing.closed_by_server = true;
        self.drop_conn(i);
        if code == DROPPED {
            self.last.detail =
                Some("the server dropped the connection without a close frame".into());
            return Err(ErrorKind::Reset);
        }
        Ok(Ended::Closed(code))
    }
}

/// Not a close code (they are 1000 to 4999): the connection ended without a close
/// frame.
const DROPPED: u16 = 0;

/// The code of a close frame, 1005 when it has none.
fn close_code(frame: Option<&tungstenite::protocol::CloseFrame>) -> u16 {
    frame.map_or(NO_STATUS, |f| u16::from(f.code))
}

/// The opening handshake's request: the step's URL and headers, and the upgrade's
/// own headers, which tungstenite makes (a `host` or `connection` the step sets
/// replaces tungstenite's).
fn handshake_request(
    program: &Program,
    state: &VuState,
    step: StepId,
    path: &[u8],
    traceparent: Option<&[u8]>,
) -> Result<http::Request<()>, String> {
    use tungstenite::client::IntoClientRequest;

    let desc = program.step(step);
    let origin = &program.origins[desc.origin];
    let scheme = match origin.scheme {
        Scheme::Http => "ws",
        Scheme::Https => "wss",
    };
    let url = format!(
        "{scheme}://{}{}",
        origin.authority,
        String::from_utf8_lossy(path)
    );
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("`{url}` is not a WebSocket URL: {e}"))?;
    let headers = request.headers_mut();
    for h in &desc.headers {
        let name = program.constant(h.name);
        let value = program.bytes(state, h.value);
        let name = http::HeaderName::from_bytes(name)
            .map_err(|e| format!("header `{}`: {e}", String::from_utf8_lossy(name)))?;
        let value =
            http::HeaderValue::from_bytes(value).map_err(|e| format!("header `{name}`: {e}"))?;
        if headers.contains_key(&name) {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
    }
    if let Some(traceparent) = traceparent {
        let value = http::HeaderValue::from_bytes(traceparent)
            .map_err(|e| format!("header `traceparent`: {e}"))?;
        headers.insert(http::HeaderName::from_static("traceparent"), value);
    }
    Ok(request)
}

/// Classify a failed opening handshake, with what the report shows of it.
fn handshake_error(e: &tungstenite::Error, authority: &str, path: &[u8]) -> (ErrorKind, String) {
    let at = format!("{authority}{}", String::from_utf8_lossy(path));
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            (
                ErrorKind::Handshake,
                format!(
                    "{at} refused the WebSocket upgrade: HTTP {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
            )
        }
        tungstenite::Error::Io(io) => (
            ErrorKind::from_io(io, false),
            format!("WebSocket handshake with {at}: {io}"),
        ),
        other => (
            ErrorKind::Handshake,
            format!("WebSocket handshake with {at}: {other}"),
        ),
    }
}

/// Classify a failure to write a message.
fn write_error(e: &tungstenite::Error) -> ErrorKind {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Io(io) => ErrorKind::from_io(io, false),
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(ProtocolError::SendAfterClosing) => ErrorKind::Reset,
        _ => ErrorKind::Other,
    }
}

/// Classify a failure to read a reply: the connection ending without a close frame
/// is a `reset`, a frame that breaks the protocol a `protocol` error.
fn read_error(e: &tungstenite::Error) -> ErrorKind {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Io(io) => ErrorKind::from_io(io, false),
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            ErrorKind::Reset
        }
        tungstenite::Error::Protocol(_)
        | tungstenite::Error::Capacity(_)
        | tungstenite::Error::Utf8(_) => ErrorKind::Protocol,
        _ => ErrorKind::Other,
    }
}

impl Driver for Ws {
    fn last(&self) -> &Last {
        &self.last
    }

    fn last_mut(&mut self) -> &mut Last {
        &mut self.last
    }

    /// The payload bytes of the last message, once written.
    fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Connections are per step URL, not per origin slot: a replaced origin (a
    /// redirect, which WebSocket steps do not follow) leaves them as they are.
    fn close(&mut self, _slot: usize) {}

    fn take_tally(&mut self) -> Option<Tally> {
        Some(std::mem::take(&mut self.tally))
    }
}

impl Perform for Ws {
    async fn perform(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        s: Sending<'_>,
        deadline: Armed<'_>,
    ) -> Outcome {
        self.sent = 0;
        self.last.connected = false;
        self.last.reconnected = false;
        self.last.timing = Timing::default();
        match deadline
            .within(|| self.exchange(program, state, step, info.keep.body, &s))
            .await
        {
            Ok(Ok(Ended::Done { bytes_in })) => Outcome::Response {
                status: kaioken_vm::Status::Ws(NORMAL),
                bytes_in,
            },
            Ok(Ok(Ended::Closed(code))) => Outcome::Response {
                status: kaioken_vm::Status::Ws(code),
                bytes_in: 0,
            },
            Ok(Err(kind)) => Outcome::Error(kind),
            Err(_) => {
                // A reply may still come: the connection cannot carry the next
                // exchange's.
                let desc = program.step(step);
                if let Some(i) = self.find(desc.origin, program.bytes(state, desc.path)) {
                    self.drop_conn(i);
                }
                Outcome::Error(ErrorKind::Timeout)
            }
        }
    }
}
