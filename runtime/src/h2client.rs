//! gRPC's HTTP/2 connections (grpc.rs), on the `h2` crate's client: a connection
//! task per connection, which the VUs of a group share under `--h2-streams`
//! (h2pool.rs), each call on a stream of its own. The HTTP/2 driver's connections
//! are kaioken's own (h2own.rs); this is where gRPC's differ, above the same
//! connect (`http2::connect_h2`).

use std::time::Instant;

use bytes::Bytes;
use kaioken_vm::{Origin, Program};

use crate::ErrorKind;
use crate::driver::Last;
use crate::h2pool;
use crate::http2::{connect_h2, error_code};

/// A VU's HTTP/2 connections, one per connection slot (the program's origins, then
/// those redirects led to), shared with its group of VUs under `--h2-streams`
/// (h2pool.rs): what the gRPC driver holds.
pub(crate) struct Conns {
    slots: Vec<Option<H2Conn>>,
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
    /// failure's detail. A live connection the server has sent `GOAWAY` on is
    /// replaced by a new one (closed by the server), as one it had closed would be.
    pub async fn ready(
        &mut self,
        slot: usize,
        origin: &Origin,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
        dial: &crate::dial::Dial,
        last: &mut Last,
    ) -> Result<(&mut H2Conn, Option<std::time::Duration>), NoConn> {
        let fail = |last: &mut Last, e: &h2::Error, opening| {
            let (kind, detail) = h2_failure(e, false);
            last.detail = Some(detail);
            NoConn { kind, opening }
        };
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || None);
        }
        let mut took = None;
        // A second round only after a reused connection turned out to be going away.
        for retry in [false, true] {
            let mut claim = None;
            if let Some(group) = self.group.filter(|_| slot < self.origins)
                && self.slots[slot].as_ref().is_none_or(H2Conn::is_closed)
            {
                match h2pool::shared_h2(group, slot).await {
                    Ok(conn) => self.slots[slot] = Some(conn),
                    Err(mine) => claim = Some(mine),
                }
            }
            let closed = self.slots[slot].as_ref().is_none_or(H2Conn::is_closed);
            if closed {
                if self.slots[slot].is_some() {
                    // The server ended the connection (GOAWAY, or closed it).
                    last.timing.closed_by_server = true;
                }
                let began = Instant::now();
                let conn = open(origin, tls, dial, last).await?;
                if let Some(claim) = claim {
                    claim.share(h2pool::Pooled::H2(conn.clone()));
                }
                self.slots[slot] = Some(conn);
                took = Some(began.elapsed());
            }
            last.timing.reused = !closed;
            let Some(conn) = self.slots[slot].as_mut() else {
                return Err(NoConn {
                    kind: ErrorKind::Other,
                    opening: false,
                });
            };
            match std::future::poll_fn(|cx| conn.send.poll_ready(cx)).await {
                Ok(()) => break,
                Err(e) if !closed && !retry && e.is_go_away() => {
                    // Finished streams the server answered, refuses new ones.
                    conn.close();
                }
                Err(e) => return Err(fail(last, &e, false)),
            }
        }
        match self.slots[slot].as_mut() {
            Some(conn) => Ok((conn, took)),
            None => Err(NoConn {
                kind: ErrorKind::Other,
                opening: false,
            }),
        }
    }
}

/// A new HTTP/2 connection to `origin`: TCP (or the dial's route), TLS with ALPN `h2`
/// on `https://`, the preface and settings; its task spawned on this thread's runtime.
/// Settings are those of hyper's HTTP/2 client by default (2 MiB stream and 5 MiB
/// connection windows, 16 KiB frames and header lists, no server push), so windows
/// and frame sizes are what servers commonly see from a Rust client.
async fn open(
    origin: &Origin,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    dial: &crate::dial::Dial,
    last: &mut Last,
) -> Result<H2Conn, NoConn> {
    let stream = connect_h2(origin, tls, dial, last)
        .await
        .map_err(|kind| NoConn {
            kind,
            opening: true,
        })?;
    let (send, conn) = h2::client::Builder::new()
        .initial_max_send_streams(100)
        .initial_window_size(2 << 20)
        .initial_connection_window_size(5 << 20)
        .max_frame_size(16 << 10)
        .max_header_list_size(16 << 10)
        .max_send_buffer_size(1 << 20)
        .enable_push(false)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|e| {
            let (kind, detail) = h2_failure(&e, false);
            last.detail = Some(detail);
            NoConn {
                kind,
                opening: true,
            }
        })?;
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (handles, mut gone) = tokio::sync::mpsc::channel::<()>(1);
    let ended = closed.clone();
    tokio::task::spawn(async move {
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            _ = &mut conn => {}
            // Every handle dropped: `h2` is not woken by that on its own, so poll it
            // once more to close (at once when no stream is open).
            _ = gone.recv() => {
                let _ = conn.await;
            }
        }
        ended.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(H2Conn {
        send,
        closed,
        _handles: handles,
    })
}

/// A handle on one HTTP/2 connection, for new streams: cloned for each VU sharing
/// it (`--h2-streams`), dropped with the last of them (which ends its task).
#[derive(Clone)]
pub(crate) struct H2Conn {
    pub(crate) send: h2::client::SendRequest<Bytes>,
    /// Set when the connection's task has ended (the server closed it, or it failed),
    /// or when the server sent `GOAWAY`: no new stream goes on it.
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The connection's task learns from this channel's closing that every handle is
    /// gone.
    _handles: tokio::sync::mpsc::Sender<()>,
}

impl H2Conn {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Take no new streams on this connection (its group's VUs included).
    fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A stream reset (`RST_STREAM`) or a connection closed (`GOAWAY`): `reset` before the
/// response's head, `body_read` during its body, and a detail with the HTTP/2 error
/// code either way. Other HTTP/2 errors are `protocol` (or an I/O error's class).
pub(crate) fn h2_failure(e: &h2::Error, in_body: bool) -> (ErrorKind, String) {
    let code = |r: h2::Reason| error_code(r.into());
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
