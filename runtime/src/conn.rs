//! Connecting: DNS (through dial.rs: `--connect-to`, the run's answers), TCP and
//! TLS, with every failure classified (HTTP/3's QUIC connections resolve through
//! dial.rs too, then connect in http3.rs).

use std::fmt;
use std::io::{self, BufRead};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use kaioken_vm::{Origin, Scheme};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;
use tokio_rustls::client::TlsStream;

use crate::ErrorKind;
use crate::dial::Dial;
use crate::stats::Opened;

/// A connection, plain or TLS, over TCP or a Unix socket (`--unix-socket`).
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Unix(UnixStream),
    UnixTls(Box<TlsStream<UnixStream>>),
}

impl Stream {
    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_) | Stream::UnixTls(_))
    }

    /// After the TLS session failed on a record (tokio-rustls reports that first),
    /// what the records before it decrypted to, which the session still holds:
    /// appended to `buf`. Returns how many bytes; none on a plain stream.
    pub fn salvage(&mut self, buf: &mut Vec<u8>) -> usize {
        let session = match self {
            Stream::Tls(s) => s.get_mut().1,
            Stream::UnixTls(s) => s.get_mut().1,
            Stream::Plain(_) | Stream::Unix(_) => return 0,
        };
        let mut reader = session.reader();
        let mut n = 0;
        while let Ok(chunk) = reader.fill_buf()
            && !chunk.is_empty()
        {
            let k = chunk.len();
            buf.extend_from_slice(chunk);
            reader.consume(k);
            n += k;
        }
        n
    }

    /// The ALPN protocol the server chose, for TLS.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Stream::Plain(_) | Stream::Unix(_) => None,
            Stream::Tls(s) => s.get_ref().1.alpn_protocol(),
            Stream::UnixTls(s) => s.get_ref().1.alpn_protocol(),
        }
    }
}

/// Where a failed connect was going, as its error detail names it.
pub(crate) enum Peer<'a> {
    Tcp(SocketAddr),
    Unix(&'a Path),
}

impl fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix(path) => write!(f, "the Unix socket {}", path.display()),
        }
    }
}

/// A failed connect, classified (`ErrorKind::from_connect`) and worded alike on
/// both engines (the io_uring engine's connects complete in uring.rs):
/// "connecting to ADDR: …".
pub(crate) fn connect_failure(peer: Peer<'_>, e: &io::Error) -> String {
    format!("connecting to {peer}: {e}")
}

/// A failure on the way to `proxy` (when there is one) names it: "proxy URL: …".
pub(crate) fn via_proxy(proxy: Option<impl fmt::Display>, message: String) -> String {
    match proxy {
        Some(p) => format!("proxy {p}: {message}"),
        None => message,
    }
}

/// Connect to `origin` (where `dial` sends it: a route, the run's DNS answer,
/// `--unix-socket`, or a tunnel through a proxy): resolve, connect (with
/// `TCP_NODELAY`), and handshake TLS for `https`, timing each phase into `opened`
/// (set only on success; through a proxy, `dns` is the proxy's name and `connect`
/// includes setting up the tunnel). On failure, `detail` gets the underlying message
/// (for the report's first example of each error kind); that is the cold path, so
/// it may allocate.
pub(crate) async fn connect(
    origin: &Origin,
    tls: Option<&Arc<ClientConfig>>,
    dial: &Dial,
    detail: &mut Option<String>,
    opened: &mut Opened,
) -> Result<Stream, ErrorKind> {
    open(origin, tls, dial, false, detail, opened).await
}

/// [`connect`], and with `forward`, when `origin` goes through an HTTP proxy, a
/// plain connection to the proxy itself, no tunnel: HTTP/1.1 then writes its
/// requests to `origin` in absolute form (see [`Dial::forwards`]).
pub(crate) async fn open(
    origin: &Origin,
    tls: Option<&Arc<ClientConfig>>,
    dial: &Dial,
    forward: bool,
    detail: &mut Option<String>,
    opened: &mut Opened,
) -> Result<Stream, ErrorKind> {
    let mut fail = |kind: ErrorKind, message: String| {
        *detail = Some(message);
        kind
    };
    if let Some(path) = dial.unix_socket() {
        let connecting = Instant::now();
        let unix = match UnixStream::connect(path).await {
            Ok(s) => s,
            Err(e) => {
                let message = connect_failure(Peer::Unix(path), &e);
                return Err(fail(ErrorKind::from_connect(&e), message));
            }
        };
        let connected = Instant::now();
        *opened = Opened {
            dns: None,
            connect: connected - connecting,
            tls: None,
        };
        return match origin.scheme {
            Scheme::Http => Ok(Stream::Unix(unix)),
            Scheme::Https => {
                let stream = handshake(origin, tls, unix)
                    .await
                    .map_err(|(kind, message)| fail(kind, message))?;
                opened.tls = Some(connected.elapsed());
                Ok(Stream::UnixTls(Box::new(stream)))
            }
        };
    }
    let proxy = dial.proxy_for(origin);
    let (host, port) = match proxy {
        Some(p) => (p.host.as_str(), p.port),
        None => (origin.host.as_str(), origin.port),
    };
    let (addrs, dns) = dial.resolve(host, port, detail).await?;
    let mut last = (ErrorKind::Dns, format!("`{host}` resolved to no address"));
    let mut tcp = None;
    let connecting = Instant::now();
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => {
                last = (
                    ErrorKind::from_connect(&e),
                    connect_failure(Peer::Tcp(addr), &e),
                )
            }
        }
    }
    let Some(mut tcp) = tcp else {
        let (kind, message) = last;
        *detail = Some(via_proxy(proxy, message));
        return Err(kind);
    };
    let _ = tcp.set_nodelay(true);
    if let Some(proxy) = proxy.filter(|_| !forward) {
        crate::proxy::tunnel(&mut tcp, proxy, origin, dial, detail).await?;
    }
    let connected = Instant::now();
    let connect = connected - connecting;
    match origin.scheme {
        Scheme::Http => {
            *opened = Opened {
                dns,
                connect,
                tls: None,
            };
            Ok(Stream::Plain(tcp))
        }
        Scheme::Https => {
            let stream = handshake(origin, tls, tcp)
                .await
                .map_err(|(kind, message)| {
                    *detail = Some(message);
                    kind
                })?;
            *opened = Opened {
                dns,
                connect,
                tls: Some(connected.elapsed()),
            };
            Ok(Stream::Tls(Box::new(stream)))
        }
    }
}

/// The name a TLS handshake with `host` verifies: an IP address, or a DNS name.
///
/// # Errors
///
/// A host that is neither, in words.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(host.to_owned())
            .map_err(|e| format!("`{host}` is not a valid TLS server name: {e}")),
    }
}

/// The TLS handshake with `origin` over `io`, verifying its host name.
async fn handshake<IO>(
    origin: &Origin,
    tls: Option<&Arc<ClientConfig>>,
    io: IO,
) -> Result<TlsStream<IO>, (ErrorKind, String)>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let Some(config) = tls.cloned() else {
        let internal = "internal error, this may indicate a bug in kaioken: no TLS configuration; please file an issue";
        return Err((ErrorKind::Other, internal.into()));
    };
    let name = server_name(&origin.host).map_err(|message| (ErrorKind::Tls, message))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(|e| {
            let kind = match e.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => ErrorKind::Reset,
                _ => ErrorKind::Tls,
            };
            (
                kind,
                format!("TLS handshake with {}: {e}", origin.authority),
            )
        })
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::UnixTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::UnixTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::UnixTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::UnixTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::UnixTls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            Stream::UnixTls(s) => s.is_write_vectored(),
        }
    }
}

/// Where there are no Unix sockets (Windows): a stream that cannot exist, so that
/// [`Stream`] keeps one shape everywhere. `--unix-socket` is refused before a run
/// starts there (the compiler's check, and [`Dial::new`]), so nothing connects.
#[cfg(not(unix))]
pub(crate) enum UnixStream {}

#[cfg(not(unix))]
impl UnixStream {
    #[allow(clippy::unused_async)]
    async fn connect(_path: &std::path::Path) -> io::Result<UnixStream> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            crate::dial::NO_UNIX_SOCKETS,
        ))
    }
}

#[cfg(not(unix))]
impl AsyncRead for UnixStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match *self {}
    }
}

#[cfg(not(unix))]
impl AsyncWrite for UnixStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match *self {}
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self {}
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self {}
    }
}
