//! Through a proxy: an HTTP `CONNECT` tunnel (RFC 9110 §9.3.6) or a SOCKS5
//! connection (RFC 1928, with RFC 1929's username and password), set up on a TCP
//! connection to the proxy before TLS and HTTP go over it.
//!
//! The set-up is [`Handshake`], bytes in and bytes out with no I/O of its own, so
//! that both engines speak it alike: [`tunnel`] drives it over a tokio stream (conn.rs
//! calls it when dial.rs says an origin goes through a proxy: `--proxy`,
//! `--proxy-from-env`), and the io_uring engine over its ring (uring.rs). Plain
//! HTTP/1.1 to an `http://` origin through an HTTP proxy needs neither: its requests
//! go to the proxy in absolute form (http1.rs). A proxy that refuses is a `connect`
//! error, its answer in the detail. Cold path: it may allocate.

use std::net::IpAddr;

use base64::Engine;
use kaioken_vm::{Origin, Proxy, ProxyKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ErrorKind;
use crate::dial::Dial;

/// The longest proxy answer head read.
const MAX_HEAD: usize = 16 * 1024;

/// Make `tcp`, a connection to `proxy`, a tunnel to `origin`.
pub(crate) async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    origin: &Origin,
    dial: &Dial,
    detail: &mut Option<String>,
) -> Result<(), ErrorKind> {
    let result = match socks_address(proxy, origin, dial).await {
        Ok(address) => match Handshake::unsendable(proxy, origin, address) {
            Some(failure) => Err(failure),
            None => drive(tcp, Handshake::new(proxy, origin, address)).await,
        },
        Err(failure) => Err(failure),
    };
    result.map_err(|(kind, message)| {
        *detail = Some(crate::conn::via_proxy(Some(proxy), message));
        kind
    })
}

/// [`Handshake`] over `tcp`: each message written whole, and no more of the
/// proxy's answer read than it is known to be, so that what follows it is the
/// tunnel's.
async fn drive(tcp: &mut TcpStream, mut handshake: Handshake) -> Result<(), Failure> {
    let mut buf = [0u8; 512];
    loop {
        let out = std::mem::take(&mut handshake.out);
        if !out.is_empty() {
            tcp.write_all(&out)
                .await
                .map_err(|e| io_failure(handshake.sending(), &e))?;
        }
        let want = handshake.want().min(buf.len());
        let n = match tcp.read(&mut buf[..want]).await {
            Ok(0) => return Err(handshake.closed()),
            Ok(n) => n,
            Err(e) => return Err(io_failure(&handshake.reading(), &e)),
        };
        match handshake.received(&buf[..n]) {
            Progress::More => {}
            Progress::Open => return Ok(()),
            Progress::Failed(failure) => return Err(failure),
        }
    }
}

/// For `socks5://` (names resolved here) and an origin named by a host name: the
/// address the proxy is asked to connect to, through the run's routes and answers.
async fn socks_address(
    proxy: &Proxy,
    origin: &Origin,
    dial: &Dial,
) -> Result<Option<IpAddr>, Failure> {
    if !needs_address(proxy, origin) {
        return Ok(None);
    }
    let mut detail = None;
    let (addrs, _) = dial
        .resolve(&origin.host, origin.port, &mut detail)
        .await
        .map_err(|kind| (kind, detail.unwrap_or_default()))?;
    match addrs.first() {
        Some(addr) => Ok(Some(addr.ip())),
        None => Err((
            ErrorKind::Dns,
            format!("`{}` resolved to no address", bare_host(origin)),
        )),
    }
}

/// `origin`'s host without an IPv6 address's brackets.
fn bare_host(origin: &Origin) -> &str {
    origin.host.trim_start_matches('[').trim_end_matches(']')
}

/// `origin`'s host, when it is an address.
fn host_ip(origin: &Origin) -> Option<IpAddr> {
    bare_host(origin).parse().ok()
}

/// Whether connections to `origin` through `proxy` need the origin's address
/// resolved before the tunnel (`socks5://` and a host name): [`Handshake::new`]'s
/// `address`.
pub(crate) fn needs_address(proxy: &Proxy, origin: &Origin) -> bool {
    proxy.kind == ProxyKind::Socks5 && host_ip(origin).is_none()
}

/// A failure's kind and the message the report gives it (before the proxy's name).
pub(crate) type Failure = (ErrorKind, String);

/// A failed read or write during the set-up, `what` naming the step.
pub(crate) fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    let kind = match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => ErrorKind::Reset,
        _ => ErrorKind::Connect,
    };
    (kind, format!("{what}: {e}"))
}

/// The `host:port` a tunnel asks for (IPv6 in brackets).
fn authority(origin: &Origin) -> String {
    if origin.host.contains(':') && !origin.host.starts_with('[') {
        format!("[{}]:{}", origin.host, origin.port)
    } else {
        format!("{}:{}", origin.host, origin.port)
    }
}

/// `Proxy-Authorization: Basic …` for a proxy with credentials.
pub(crate) fn authorization(proxy: &Proxy) -> Option<String> {
    let (user, password) = proxy.credentials.as_ref()?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Some(format!("Basic {encoded}"))
}

/// What a SOCKS5 reply code means (RFC 1928 §6).
fn socks_reply(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned reply code",
    }
}

/// Where a [`Handshake`] stands: the proxy's answer it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// The head of the answer to `CONNECT` (HTTP).
    ConnectAnswer,
    /// SOCKS5: the method the proxy chose.
    Greeting,
    /// SOCKS5: the verdict on the username and password.
    Authentication,
    /// SOCKS5: the answer to `CONNECT`.
    Reply,
    /// Over: the tunnel is open.
    Open,
    /// Over: the set-up failed, and why.
    Failed(Failure),
}

/// What the proxy's bytes brought.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The set-up goes on: [`Handshake::out`] may hold the next message.
    More,
    /// The tunnel is open; bytes past the proxy's answer, if any, are in
    /// [`Handshake::rest`].
    Open,
    Failed(Failure),
}

/// A tunnel's set-up with its proxy, without I/O: what to send (`out`, taken and
/// sent whole by the caller), and what the proxy's answers mean (`received`).
///
/// HTTP: `CONNECT host:port` (with `Proxy-Authorization` when the proxy URL has
/// credentials); any 2xx opens the tunnel. SOCKS5: greet (no authentication, or
/// username and password), authenticate, and `CONNECT` to the origin by name with
/// `socks5h`, by address with `socks5` (the caller resolves a name first: see
/// [`needs_address`]).
pub(crate) struct Handshake {
    /// What is to go to the proxy next.
    pub out: Vec<u8>,
    /// The proxy's bytes not yet understood.
    input: Vec<u8>,
    /// How much of `input` was searched for the end of a `CONNECT` answer's head.
    searched: usize,
    step: Step,
    /// `host:port` of the origin, for messages.
    target: String,
    /// SOCKS5: the method offered (0 none, 2 username and password), its
    /// authentication message, and the `CONNECT` request, sent in turn.
    method: u8,
    authentication: Option<Vec<u8>>,
    request: Vec<u8>,
}

impl Handshake {
    /// The set-up of a tunnel to `origin` through `proxy`; `address` is the
    /// origin's, resolved, when [`needs_address`] says so. Its first message is
    /// in `out`. See [`Handshake::unsendable`] first.
    pub fn new(proxy: &Proxy, origin: &Origin, address: Option<IpAddr>) -> Handshake {
        let target = authority(origin);
        let mut handshake = Handshake {
            out: Vec::new(),
            input: Vec::new(),
            searched: 0,
            step: Step::ConnectAnswer,
            target,
            method: 0,
            authentication: None,
            request: Vec::new(),
        };
        match proxy.kind {
            ProxyKind::Http => {
                let target = &handshake.target;
                let mut request = format!("CONNECT {target} HTTP/1.1\r\nhost: {target}\r\n");
                if let Some(auth) = authorization(proxy) {
                    request.push_str(&format!("proxy-authorization: {auth}\r\n"));
                }
                request.push_str("\r\n");
                handshake.out = request.into_bytes();
            }
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                handshake.step = Step::Greeting;
                handshake.method = if proxy.credentials.is_some() { 2 } else { 0 };
                handshake.out = vec![5, 1, handshake.method];
                if let Some((user, password)) = &proxy.credentials {
                    let mut auth = vec![1, user.len().min(255) as u8];
                    auth.extend_from_slice(user.as_bytes());
                    auth.push(password.len().min(255) as u8);
                    auth.extend_from_slice(password.as_bytes());
                    handshake.authentication = Some(auth);
                }
                let mut request = vec![5, 1, 0];
                match address.or_else(|| host_ip(origin)) {
                    Some(IpAddr::V4(v4)) => {
                        request.push(1);
                        request.extend_from_slice(&v4.octets());
                    }
                    Some(IpAddr::V6(v6)) => {
                        request.push(4);
                        request.extend_from_slice(&v6.octets());
                    }
                    None => {
                        let host = bare_host(origin);
                        request.push(3);
                        request.push(host.len().min(255) as u8);
                        request.extend_from_slice(host.as_bytes());
                    }
                }
                request.extend_from_slice(&origin.port.to_be_bytes());
                handshake.request = request;
            }
        }
        handshake
    }

    /// Why the set-up cannot start, if it cannot: SOCKS5 limits a username, a
    /// password and a host name to 255 bytes each.
    pub fn unsendable(proxy: &Proxy, origin: &Origin, address: Option<IpAddr>) -> Option<Failure> {
        if !matches!(proxy.kind, ProxyKind::Socks5 | ProxyKind::Socks5h) {
            return None;
        }
        if let Some((user, password)) = &proxy.credentials
            && (user.len() > 255 || password.len() > 255)
        {
            return Some((
                ErrorKind::Other,
                "SOCKS5 credentials are at most 255 bytes each".into(),
            ));
        }
        let host = bare_host(origin);
        if address.is_none() && host_ip(origin).is_none() && host.len() > 255 {
            return Some((ErrorKind::Other, format!("`{host}` is too long for SOCKS5")));
        }
        None
    }

    /// The most bytes of the proxy's answer that may be read now without reading
    /// past it (at least 1).
    pub fn want(&self) -> usize {
        let needed = match self.step {
            // Byte by byte up to the head's end: what follows is the tunnel's.
            Step::ConnectAnswer | Step::Open | Step::Failed(_) => 1,
            Step::Greeting | Step::Authentication => 2,
            Step::Reply => self.reply_len(),
        };
        needed.saturating_sub(self.input.len()).max(1)
    }

    /// How long the SOCKS5 reply is, as far as its bytes so far tell: its head
    /// (4), then the bound address by its type and the port; for a name, its
    /// length byte first. An unknown type is known to fail at the head.
    fn reply_len(&self) -> usize {
        match self.input.get(3) {
            Some(1) => 4 + 4 + 2,
            Some(4) => 4 + 16 + 2,
            Some(3) => match self.input.get(4) {
                Some(&n) => 5 + usize::from(n) + 2,
                None => 5,
            },
            _ => 4,
        }
    }

    /// What the step in progress sends, for a write's failure.
    pub fn sending(&self) -> &'static str {
        match self.step {
            Step::Greeting => "greeting",
            Step::Authentication => "authenticating",
            Step::ConnectAnswer | Step::Reply | Step::Open | Step::Failed(_) => "sending CONNECT",
        }
    }

    /// What the step in progress reads, for a read's failure.
    pub fn reading(&self) -> String {
        match self.step {
            Step::Greeting => "reading its greeting".into(),
            Step::Authentication => "reading its authentication answer".into(),
            Step::Reply => "reading its answer to CONNECT".into(),
            Step::ConnectAnswer | Step::Open | Step::Failed(_) => {
                format!("reading its answer to CONNECT {}", self.target)
            }
        }
    }

    /// The proxy closed the connection before the set-up was over, or as the tunnel
    /// opened.
    pub fn closed(&self) -> Failure {
        match self.step {
            Step::ConnectAnswer => (
                ErrorKind::Reset,
                format!(
                    "it closed the connection before answering CONNECT {}",
                    self.target
                ),
            ),
            // Answered, and closed before the tunnel carried anything (the io_uring
            // engine hears the close while its last set-up message's send is
            // still to complete).
            Step::Open => (
                ErrorKind::Reset,
                format!("it closed the tunnel to {} as it opened it", self.target),
            ),
            _ => io_failure(
                &self.reading(),
                &std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "early eof"),
            ),
        }
    }

    /// Bytes that came past the proxy's answer, once the tunnel is open (the
    /// io_uring engine's reads are not bounded by [`want`](Self::want)).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn rest(&self) -> &[u8] {
        &self.input
    }

    /// The proxy's next bytes.
    pub fn received(&mut self, bytes: &[u8]) -> Progress {
        self.input.extend_from_slice(bytes);
        loop {
            let progress = match self.step {
                Step::ConnectAnswer => self.connect_answer(),
                Step::Greeting => self.greeting(),
                Step::Authentication => self.authenticated(),
                Step::Reply => self.reply(),
                // Over: it ended as it ended (no driver feeds it after a failure).
                Step::Open => return Progress::Open,
                Step::Failed(ref failure) => return Progress::Failed(failure.clone()),
            };
            match progress {
                Some(Progress::More) => {}
                Some(Progress::Failed(failure)) => {
                    self.step = Step::Failed(failure.clone());
                    return Progress::Failed(failure);
                }
                Some(Progress::Open) => {
                    self.step = Step::Open;
                    return Progress::Open;
                }
                // Not all of the answer yet.
                None => return Progress::More,
            }
        }
    }

    /// `n` bytes of the answer understood.
    fn consume(&mut self, n: usize) {
        self.input.drain(..n);
    }

    fn connect_answer(&mut self) -> Option<Progress> {
        let target = &self.target;
        // Each byte is searched once (the end may straddle what came before).
        let from = self.searched.saturating_sub(3);
        let end = self.input[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| from + at);
        self.searched = self.input.len();
        let too_long = || {
            Some(Progress::Failed((
                ErrorKind::Protocol,
                format!("its answer to CONNECT {target} has a head over 16 KiB"),
            )))
        };
        let Some(end) = end else {
            return if self.input.len() >= MAX_HEAD {
                too_long()
            } else {
                None
            };
        };
        if end + 4 > MAX_HEAD {
            return too_long();
        }
        let text = String::from_utf8_lossy(&self.input[..end]).into_owned();
        self.consume(end + 4);
        let target = &self.target;
        let status_line = text.lines().next().unwrap_or_default().trim();
        let status = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse::<u16>().ok());
        Some(match status {
            Some(200..=299) => Progress::Open,
            Some(_) => Progress::Failed((
                ErrorKind::Connect,
                format!("it refused CONNECT {target}: {status_line}"),
            )),
            None => Progress::Failed((
                ErrorKind::Protocol,
                format!("its answer to CONNECT {target} is not HTTP: {status_line:?}"),
            )),
        })
    }

    fn greeting(&mut self) -> Option<Progress> {
        let &[version, chosen, ..] = self.input.as_slice() else {
            return None;
        };
        self.consume(2);
        if version != 5 {
            return Some(Progress::Failed((
                ErrorKind::Protocol,
                format!("it is not a SOCKS5 proxy (version {version})"),
            )));
        }
        if chosen != self.method {
            let message = if chosen == 0xff {
                format!(
                    "it accepts none of the offered authentication methods ({})",
                    if self.method == 2 {
                        "username and password"
                    } else {
                        "none"
                    }
                )
            } else {
                format!("it chose authentication method {chosen} that was not offered")
            };
            return Some(Progress::Failed((ErrorKind::Connect, message)));
        }
        match self.authentication.take() {
            Some(auth) => {
                self.out = auth;
                self.step = Step::Authentication;
            }
            None => {
                self.out = std::mem::take(&mut self.request);
                self.step = Step::Reply;
            }
        }
        Some(Progress::More)
    }

    fn authenticated(&mut self) -> Option<Progress> {
        let &[_, status, ..] = self.input.as_slice() else {
            return None;
        };
        self.consume(2);
        if status != 0 {
            return Some(Progress::Failed((
                ErrorKind::Connect,
                "it refused the username and password".into(),
            )));
        }
        self.out = std::mem::take(&mut self.request);
        self.step = Step::Reply;
        Some(Progress::More)
    }

    fn reply(&mut self) -> Option<Progress> {
        let &[_, code, _, kind, ..] = self.input.as_slice() else {
            return None;
        };
        if code != 0 {
            self.consume(4);
            return Some(Progress::Failed((
                ErrorKind::Connect,
                format!(
                    "it refused CONNECT {}: reply {code} ({})",
                    self.target,
                    socks_reply(code)
                ),
            )));
        }
        if !matches!(kind, 1 | 3 | 4) {
            self.consume(4);
            return Some(Progress::Failed((
                ErrorKind::Protocol,
                format!("its answer has address type {kind}"),
            )));
        }
        // The bound address, which is of no use here.
        let needed = self.reply_len();
        if self.input.len() < needed {
            return None;
        }
        self.consume(needed);
        Some(Progress::Open)
    }
}

#[cfg(test)]
mod tests {
    use kaioken_vm::{Origin, Proxy, ProxyKind, Scheme};

    use super::{Handshake, Progress};
    use crate::ErrorKind;

    fn proxy(kind: ProxyKind, credentials: Option<(&str, &str)>) -> Proxy {
        Proxy {
            kind,
            host: "127.0.0.1".into(),
            port: 3128,
            credentials: credentials.map(|(u, p)| (u.into(), p.into())),
        }
    }

    fn origin(host: &str) -> Origin {
        Origin {
            scheme: Scheme::Https,
            host: host.into(),
            port: 8443,
            authority: format!("{host}:8443"),
        }
    }

    /// Feeds `answer` a byte at a time, as `want` allows, and returns what came of it.
    fn answered(handshake: &mut Handshake, answer: &[u8]) -> Progress {
        let mut progress = Progress::More;
        for byte in answer {
            assert!(handshake.want() >= 1);
            progress = handshake.received(std::slice::from_ref(byte));
            if progress != Progress::More {
                break;
            }
        }
        progress
    }

    #[test]
    fn connect_asks_for_the_origin_and_opens_on_2xx() {
        let p = proxy(ProxyKind::Http, Some(("u", "pw")));
        let mut h = Handshake::new(&p, &origin("example.test"), None);
        let sent = String::from_utf8(std::mem::take(&mut h.out)).unwrap();
        assert_eq!(
            sent,
            "CONNECT example.test:8443 HTTP/1.1\r\nhost: example.test:8443\r\n\
             proxy-authorization: Basic dTpwdw==\r\n\r\n"
        );
        // Read whole with what follows: the rest is the tunnel's.
        let progress = h.received(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03");
        assert_eq!(progress, Progress::Open);
        assert_eq!(h.rest(), b"\x16\x03");
        // Closed then, before the tunnel carried anything: said as such, not as
        // an answer cut short.
        assert_eq!(
            h.closed(),
            (
                ErrorKind::Reset,
                "it closed the tunnel to example.test:8443 as it opened it".into()
            )
        );
    }

    #[test]
    fn a_connect_answer_head_over_16_kib_is_refused_however_it_comes() {
        let p = proxy(ProxyKind::Http, None);
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        head.extend(std::iter::repeat_n(b"x: y\r\n".as_slice(), 3000).flatten());
        head.extend_from_slice(b"\r\n");
        let mut h = Handshake::new(&p, &origin("example.test"), None);
        let whole = h.received(&head);
        let mut h = Handshake::new(&p, &origin("example.test"), None);
        let bytewise = answered(&mut h, &head);
        for progress in [whole, bytewise] {
            let Progress::Failed((kind, message)) = progress else {
                panic!("a head of {} bytes was taken", head.len());
            };
            assert_eq!(kind, ErrorKind::Protocol);
            assert!(message.ends_with("has a head over 16 KiB"), "{message}");
        }
    }

    #[test]
    fn connect_refused_names_the_answer() {
        let p = proxy(ProxyKind::Http, None);
        let mut h = Handshake::new(&p, &origin("example.test"), None);
        let progress = answered(&mut h, b"HTTP/1.1 403 Forbidden\r\nvia: x\r\n\r\n");
        assert_eq!(
            progress,
            Progress::Failed((
                ErrorKind::Connect,
                "it refused CONNECT example.test:8443: HTTP/1.1 403 Forbidden".into()
            ))
        );
        // Over as it ended: a later answer does not open it.
        assert_eq!(h.received(b"HTTP/1.1 200 OK\r\n\r\n"), progress);
        let mut h = Handshake::new(&p, &origin("example.test"), None);
        let Progress::Failed((kind, _)) = answered(&mut h, b"SSH-2.0-x\r\n\r\n") else {
            panic!("not HTTP, yet not failed");
        };
        assert_eq!(kind, ErrorKind::Protocol);
        assert_eq!(h.closed().0, ErrorKind::Reset);
    }

    #[test]
    fn socks5_greets_authenticates_and_connects_by_address_or_name() {
        let p = proxy(ProxyKind::Socks5, Some(("user", "pw")));
        let address = Some("127.0.0.2".parse().unwrap());
        let mut h = Handshake::new(&p, &origin("example.test"), address);
        assert_eq!(std::mem::take(&mut h.out), [5, 1, 2]);
        assert_eq!(h.want(), 2);
        assert_eq!(h.received(&[5, 2]), Progress::More);
        assert_eq!(std::mem::take(&mut h.out), b"\x01\x04user\x02pw");
        assert_eq!(h.received(&[1, 0]), Progress::More);
        assert_eq!(
            std::mem::take(&mut h.out),
            [5, 1, 0, 1, 127, 0, 0, 2, 0x20, 0xfb]
        );
        // A reply bound to a name: read no further than its end.
        assert_eq!(h.want(), 4);
        assert_eq!(h.received(&[5, 0, 0, 3]), Progress::More);
        assert_eq!(h.want(), 1);
        assert_eq!(h.received(&[3]), Progress::More);
        assert_eq!(h.want(), 5);
        assert_eq!(h.received(b"abc\x00\x50"), Progress::Open);
        assert!(h.rest().is_empty());

        let p = proxy(ProxyKind::Socks5h, None);
        let mut h = Handshake::new(&p, &origin("example.test"), None);
        assert_eq!(std::mem::take(&mut h.out), [5, 1, 0]);
        assert_eq!(h.received(&[5, 0]), Progress::More);
        let mut request = vec![5, 1, 0, 3, 12];
        request.extend_from_slice(b"example.test\x20\xfb");
        assert_eq!(std::mem::take(&mut h.out), request);
        let progress = answered(&mut h, &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            progress,
            Progress::Failed((
                ErrorKind::Connect,
                "it refused CONNECT example.test:8443: reply 5 (connection refused)".into()
            ))
        );
    }

    #[test]
    fn socks5_refusals_and_limits() {
        let p = proxy(ProxyKind::Socks5h, None);
        let mut h = Handshake::new(&p, &origin("example.test"), None);
        let Progress::Failed((kind, message)) = h.received(&[5, 0xff]) else {
            panic!("no method, yet not failed");
        };
        assert_eq!(kind, ErrorKind::Connect);
        assert!(message.contains("none of the offered"), "{message}");
        let mut h = Handshake::new(&p, &origin("example.test"), None);
        assert!(matches!(
            h.received(&[4, 0]),
            Progress::Failed((ErrorKind::Protocol, _))
        ));
        let long = "x".repeat(256);
        let p = proxy(ProxyKind::Socks5, Some((&long, "pw")));
        let refused = Handshake::unsendable(&p, &origin("example.test"), None);
        assert_eq!(refused.map(|f| f.0), Some(ErrorKind::Other));
        let p = proxy(ProxyKind::Socks5h, None);
        let refused = Handshake::unsendable(&p, &origin(&long), None);
        assert_eq!(refused.map(|f| f.0), Some(ErrorKind::Other));
        let h = Handshake::new(&p, &origin("example.test"), None);
        assert_eq!(
            h.closed().1,
            "reading its greeting: early eof",
            "the proxy's close during the greeting"
        );
    }
}
