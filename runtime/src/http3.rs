//! The HTTP/3 driver: QUIC with quinn, HTTP/3 framing with h3 (h3-quinn joins them),
//! TLS by the run's rustls configuration (`tls.rs`, ALPN `h3`), so `--cacert` and
//! `--insecure` mean what they mean over TCP. One QUIC connection per VU and origin,
//! one request stream at a time; each VU has its own UDP socket (one per address
//! family), made with its first connection.
//!
//! Requests are built as HTTP/2's are (`http2::build_request`); responses are kept
//! for checks, extractors and the cookie jar as HTTP/1.1 spells a head
//! (`http2::keep_head`), with `HTTP/3` as the status line's version.
//!
//! QUIC does its transport and TLS handshakes as one: the phase timings record the
//! whole handshake as the TLS phase, and as the connect phase only the local setup
//! (the UDP socket and the first packet queued). QUIC has no "connection refused": a
//! server that does not speak it stays silent, so the handshake gets the lesser of
//! the request timeout and [`HANDSHAKE_LIMIT`], and failing it is a `connect` error
//! whose detail says so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use h3::error::{ConnectionError as H3ConnectionError, StreamError};
use h3::quic::ConnectionErrorIncoming;
use kaioken_vm::{Origin, Program, Scheme, StepId, VuState};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::ClientConfig;

use crate::ErrorKind;
use crate::deadline::Armed;
use crate::dial::Dial;
use crate::driver::{Driver, Last, Perform};
use crate::http1::{Sending, StepInfo};
use crate::http2::{Prepared, build_request, keep_head, source};
use crate::stats::{Opened, Outcome, Timing};

/// The longest a QUIC handshake may take (the request timeout, when shorter, bounds
/// it too): a server without HTTP/3 never answers, so this is how long finding that
/// out takes.
pub(crate) const HANDSHAKE_LIMIT: Duration = Duration::from_secs(5);

/// One QUIC connection and its HTTP/3 request sender.
struct Conn {
    quic: quinn::Connection,
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
}

/// One VU's HTTP/3 connections (one per origin).
pub(crate) struct Http3 {
    /// What it kept of the last exchange.
    last: Last,
    /// Keep redirects' `Location`s.
    follow: bool,
    /// Connections carry more than one request; without (`--no-keepalive`) each is
    /// closed after its response.
    keepalive: bool,
    /// The VU's QUIC endpoints (UDP sockets): IPv4, IPv6.
    endpoints: [Option<quinn::Endpoint>; 2],
    /// The QUIC client configuration, from the run's TLS configuration.
    client: Option<quinn::ClientConfig>,
    /// By connection slot: the program's origins, then those redirects led to.
    conns: Vec<Option<Conn>>,
    steps: std::sync::Arc<[Option<Prepared>]>,
    last_len: u64,
    /// The handshake under way (its address and server), so that the request
    /// timeout ending it is told as the QUIC handshake failing, not the response.
    handshaking: Option<(SocketAddr, String)>,
}

impl Http3 {
    pub fn new(program: &Program, transport: &crate::driver::Transport) -> Http3 {
        let http = &transport.http;
        Http3 {
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
            endpoints: [None, None],
            client: None,
            conns: (0..program.origins.len()).map(|_| None).collect(),
            steps: transport.prepared.clone(),
            last_len: 0,
            handshaking: None,
        }
    }

    /// Close the connection in `slot` (its origin failed, or was replaced).
    pub fn drop_conn(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot) {
            *conn = None;
        }
    }

    /// Open a QUIC connection to `origin` and start HTTP/3 on it, timing it into
    /// `self.last.timing`.
    async fn open(
        &mut self,
        origin: &Origin,
        tls: Option<&Arc<ClientConfig>>,
        dial: &Dial,
        timeout: Duration,
    ) -> Result<Conn, ErrorKind> {
        if origin.scheme != Scheme::Https {
            // Only a redirect gets here (the compiler refuses `http://` with HTTP/3).
            self.last.detail = Some(format!(
                "a redirect led to http://{}, which HTTP/3 cannot reach (QUIC is always TLS)",
                origin.authority
            ));
            return Err(ErrorKind::Protocol);
        }
        let (addrs, dns) = dial
            .resolve(&origin.host, origin.port, &mut self.last.detail)
            .await?;
        let Some(&addr) = addrs.first() else {
            self.last.detail = Some(format!("`{}` resolved to no address", origin.host));
            return Err(ErrorKind::Dns);
        };
        let started = Instant::now();
        let client = match &self.client {
            Some(c) => c.clone(),
            None => {
                let Some(tls) = tls else {
                    self.last.detail = Some("internal error, this may indicate a bug in kaioken: no TLS configuration for HTTP/3; please file an issue".into());
                    return Err(ErrorKind::Other);
                };
                let quic = QuicClientConfig::try_from(tls.clone()).map_err(|e| {
                    self.last.detail = Some(format!("cannot use TLS for QUIC: {e}"));
                    ErrorKind::Tls
                })?;
                let client = quinn::ClientConfig::new(Arc::new(quic));
                self.client = Some(client.clone());
                client
            }
        };
        let family = usize::from(addr.is_ipv6());
        let endpoint = match &self.endpoints[family] {
            Some(e) => e,
            None => {
                let local: SocketAddr = if addr.is_ipv6() {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                };
                let e = quinn::Endpoint::client(local).map_err(|e| {
                    self.last.detail = Some(format!("cannot open a UDP socket for QUIC: {e}"));
                    ErrorKind::Connect
                })?;
                self.endpoints[family].insert(e)
            }
        };
        let connecting = endpoint
            .connect_with(client, addr, &origin.host)
            .map_err(|e| {
                self.last.detail = Some(format!("QUIC connection to {addr}: {e}"));
                match e {
                    quinn::ConnectError::InvalidServerName(_) => ErrorKind::Tls,
                    _ => ErrorKind::Connect,
                }
            })?;
        let connect = started.elapsed();
        let handshaking = Instant::now();
        let limit = timeout.min(HANDSHAKE_LIMIT);
        self.handshaking = Some((addr, origin.authority.clone()));
        let handshake = tokio::time::timeout(limit, connecting).await;
        self.handshaking = None;
        let quic = match handshake {
            Ok(Ok(quic)) => quic,
            Ok(Err(e)) => {
                let (kind, detail) = quic_failure(&e);
                self.last.detail = Some(format!("QUIC handshake with {addr}: {detail}"));
                return Err(kind);
            }
            Err(_) => {
                self.last.detail = Some(no_handshake(addr, &origin.authority, limit));
                return Err(ErrorKind::Connect);
            }
        };
        let tls_time = handshaking.elapsed();
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(quic.clone()))
            .await
            .map_err(|e| {
                self.last.detail = Some(format!("starting HTTP/3 with {addr}: {e}"));
                connection_kind(&e, false)
            })?;
        tokio::task::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        self.last.timing.opened = Some(Opened {
            dns,
            connect,
            tls: Some(tls_time),
        });
        self.last.connected = true;
        Ok(Conn { quic, send })
    }

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
            timeout,
        } = s;
        let (slot, origin, src) = source(&self.steps, program, state, step, hop, added)?;
        let (req, len) = build_request(src, origin)?;
        self.last_len = len;
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, ());

        if slot >= self.conns.len() {
            self.conns.resize_with(slot + 1, || None);
        }
        let closed = match &self.conns[slot] {
            Some(c) if c.quic.close_reason().is_some() => {
                // The server ended the connection (idle timeout, GOAWAY, or closed it).
                self.last.timing.closed_by_server = true;
                true
            }
            Some(_) => false,
            None => true,
        };
        if closed {
            self.conns[slot] = None;
            let conn = self.open(origin, tls, dial, timeout).await?;
            self.conns[slot] = Some(conn);
        }
        self.last.timing.reused = !closed;
        let Some(conn) = self.conns[slot].as_mut() else {
            return Err(ErrorKind::Other);
        };
        let sent = async {
            let mut stream = conn.send.send_request(req).await?;
            if !body.is_empty() {
                stream.send_data(body).await?;
            }
            stream.finish().await?;
            Ok::<_, StreamError>(stream)
        };
        let mut stream = match sent.await {
            Ok(stream) => stream,
            Err(e) => return Err(self.fail(&e, false)),
        };
        // The request is all sent (the stream finished): waiting is timed from here
        // to the response's head (see stats/phases.rs).
        self.last.timing.written = Some(Instant::now());
        let resp = match stream.recv_response().await {
            Ok(resp) => resp,
            Err(e) => return Err(self.fail(&e, false)),
        };
        self.last.timing.first_byte = Some(Instant::now());
        let status = resp.status().as_u16();
        self.last.location.clear();
        if self.follow
            && crate::redirect::is_redirect(status)
            && let Some(location) = resp.headers().get(http::header::LOCATION)
        {
            self.last.location.extend_from_slice(location.as_bytes());
        }
        let keep = info.keep;
        let capture = self.last.capture.as_mut().filter(|_| keep.any());
        let mut bytes_in = keep_head(
            capture.map(|c| c.start(keep.body)),
            b"HTTP/3",
            status,
            || crate::http2::fields(resp.headers()),
        );
        loop {
            let mut data = match stream.recv_data().await {
                Ok(Some(data)) => data,
                Ok(None) => break,
                Err(e) => return Err(self.fail(&e, true)),
            };
            bytes_in += data.remaining() as u64;
            let capture = self.last.capture.as_mut().filter(|_| keep.body);
            match capture {
                Some(c) => {
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        let n = chunk.len();
                        c.push_body(chunk);
                        data.advance(n);
                    }
                }
                None => {
                    let n = data.remaining();
                    data.advance(n);
                }
            }
        }
        if !self.keepalive {
            self.drop_conn(slot);
        }
        Ok((status, bytes_in))
    }

    /// Classify an HTTP/3 stream error and keep its message (the cold path).
    #[cold]
    fn fail(&mut self, e: &StreamError, in_body: bool) -> ErrorKind {
        let (kind, detail) = stream_failure(e, in_body);
        self.last.detail = Some(detail);
        kind
    }
}

/// What a handshake that got no answer within `limit` tells: QUIC has no "refused",
/// a server without it is silent.
#[cold]
fn no_handshake(addr: SocketAddr, authority: &str, limit: Duration) -> String {
    format!(
        "no QUIC handshake with {addr} within {limit:?} (the lesser of --timeout and {HANDSHAKE_LIMIT:?}): nothing answered on UDP port {}; does {authority} speak HTTP/3?",
        addr.port()
    )
}

/// A stream error's class and detail: the server resetting the stream or closing the
/// connection is `reset` before the response's head and `body_read` during its body,
/// as over HTTP/2; a stream the protocol could not carry is `protocol`.
fn stream_failure(e: &StreamError, in_body: bool) -> (ErrorKind, String) {
    let broken = if in_body {
        ErrorKind::BodyRead
    } else {
        ErrorKind::Reset
    };
    match e {
        StreamError::RemoteTerminate { code, .. } => (
            broken,
            format!("the server reset the stream, HTTP/3 error code {code}"),
        ),
        StreamError::RemoteClosing { .. } => (
            broken,
            "the server is closing the connection (GOAWAY)".to_string(),
        ),
        StreamError::ConnectionError { 0: c, .. } => (connection_kind(c, in_body), c.to_string()),
        StreamError::HeaderTooBig {
            actual_size,
            max_size,
            ..
        } => (
            ErrorKind::InvalidRequest,
            format!(
                "the request's header section ({actual_size} bytes) is over the server's limit ({max_size})"
            ),
        ),
        _ if in_body => (ErrorKind::BodyRead, e.to_string()),
        _ => (ErrorKind::Protocol, e.to_string()),
    }
}

/// The class of an HTTP/3 connection error.
fn connection_kind(e: &H3ConnectionError, in_body: bool) -> ErrorKind {
    match e {
        H3ConnectionError::Timeout { .. } => ErrorKind::Timeout,
        H3ConnectionError::Remote {
            0: ConnectionErrorIncoming::Timeout,
            ..
        } => ErrorKind::Timeout,
        H3ConnectionError::Remote {
            0: ConnectionErrorIncoming::InternalError(_),
            ..
        } => ErrorKind::Other,
        H3ConnectionError::Remote { .. } if in_body => ErrorKind::BodyRead,
        H3ConnectionError::Remote { .. } => ErrorKind::Reset,
        _ if in_body => ErrorKind::BodyRead,
        _ => ErrorKind::Protocol,
    }
}

/// A failed QUIC handshake's class and detail: a TLS alert (an unknown certificate, no
/// common ALPN) is `tls`; silence is `connect`; the peer closing is `reset`.
fn quic_failure(e: &quinn::ConnectionError) -> (ErrorKind, String) {
    use quinn::ConnectionError as E;
    // QUIC carries TLS alerts as transport error codes 0x100 + alert.
    let crypto = |code: quinn::TransportErrorCode| u64::from(code) & !0xff == 0x100;
    let kind = match e {
        E::TransportError(t) if crypto(t.code) => ErrorKind::Tls,
        E::ConnectionClosed(c) if crypto(c.error_code) => ErrorKind::Tls,
        E::TimedOut => ErrorKind::Connect,
        E::ConnectionClosed(_) | E::ApplicationClosed(_) | E::Reset => ErrorKind::Reset,
        E::VersionMismatch | E::TransportError(_) => ErrorKind::Protocol,
        E::LocallyClosed | E::CidsExhausted => ErrorKind::Other,
    };
    (kind, e.to_string())
}

impl Driver for Http3 {
    fn last(&self) -> &Last {
        &self.last
    }

    fn last_mut(&mut self) -> &mut Last {
        &mut self.last
    }

    /// The length of the request last sent, its head as HTTP/1.1 would spell it
    /// plus its body: QPACK makes the real wire size smaller.
    fn bytes_sent(&self) -> u64 {
        self.last_len
    }

    fn close(&mut self, slot: usize) {
        self.drop_conn(slot);
    }
}

impl Perform for Http3 {
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
        self.last.timing = Timing::default();
        let timeout = s.timeout;
        let exchange = || self.exchange(program, state, step, info, s);
        let mut outcome = Outcome::of_exchange(deadline.within(exchange).await);
        if let Some((addr, authority)) = self.handshaking.take() {
            // The request timeout ran out first (it was the shorter limit).
            self.last.detail = Some(no_handshake(addr, &authority, timeout));
            outcome = Outcome::Error(ErrorKind::Connect);
        }
        if matches!(outcome, Outcome::Error(_)) {
            self.drop_conn(slot);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_alerts_are_tls_errors_and_silence_is_a_connect_error() {
        use quinn::TransportErrorCode as Code;
        // 48: unknown_ca, what a certificate no root vouches for gets.
        let alert = quinn::ConnectionError::TransportError(Code::crypto(48).into());
        assert_eq!(quic_failure(&alert).0, ErrorKind::Tls);
        assert_eq!(
            quic_failure(&quinn::ConnectionError::TimedOut).0,
            ErrorKind::Connect
        );
        assert_eq!(
            quic_failure(&quinn::ConnectionError::Reset).0,
            ErrorKind::Reset
        );
        let violation = quinn::ConnectionError::TransportError(Code::PROTOCOL_VIOLATION.into());
        assert_eq!(quic_failure(&violation).0, ErrorKind::Protocol);
    }
}
