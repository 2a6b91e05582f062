//! Connecting: DNS (through dial.rs: `--connect-to`, the run's answers), TCP and
//! TLS, with every failure classified (HTTP/3's QUIC connections resolve through
//! dial.rs too, then connect in http3.rs).

use std::fmt;
use std::io::{self, Read};
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
    Tls(Box<Tls<TcpStream>>),
    Unix(UnixStream),
    UnixTls(Box<Tls<UnixStream>>),
}

impl Stream {
    /// Whether the socket may have bytes to read (`Ready`: a read would not wait),
    /// or else (`Pending`) will wake `cx`'s task when it does; no system call
    /// either way. Bytes TLS has already read but not yet handed over are not
    /// seen here.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(s) => s.poll_read_ready(cx),
            Stream::Tls(s) => s.stream.get_ref().0.poll_read_ready(cx),
            Stream::Unix(s) => s.poll_read_ready(cx),
            Stream::UnixTls(s) => s.stream.get_ref().0.poll_read_ready(cx),
        }
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_) | Stream::UnixTls(_))
    }

    /// The ALPN protocol the server chose, for TLS.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Stream::Plain(_) | Stream::Unix(_) => None,
            Stream::Tls(s) => s.stream.get_ref().1.alpn_protocol(),
            Stream::UnixTls(s) => s.stream.get_ref().1.alpn_protocol(),
        }
    }
}

/// A TLS session over `IO` that reads, of a record that fails to decrypt, what
/// the records before it held first, and the failure after them.
///
/// tokio-rustls reports a failing record as soon as it meets it, before the
/// plaintext of the records ahead of it in the same read, which the session still
/// holds: a response whole before bytes that are no record of the session would
/// be lost, or not, by when the client happened to read. Handed over first, it
/// counts as it does when the bad bytes come in a read of their own, whatever the
/// protocol on top (HTTP/1.1, HTTP/2, WebSocket); the io_uring engine's TLS reads
/// do the same (uring.rs).
pub(crate) struct Tls<IO> {
    stream: TlsStream<IO>,
    /// The failure, while plaintext from before it is still being handed over.
    failed: Option<io::Error>,
}

impl<IO> Tls<IO> {
    fn new(stream: TlsStream<IO>) -> Box<Self> {
        Box::new(Tls {
            stream,
            failed: None,
        })
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Tls<IO> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let failed = match self.failed.take() {
            Some(e) => e,
            None => match Pin::new(&mut self.stream).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::InvalidData => e,
                other => return other,
            },
        };
        match self
            .stream
            .get_mut()
            .1
            .reader()
            .read(buf.initialize_unfilled())
        {
            Ok(n) if n > 0 => {
                buf.advance(n);
                self.failed = Some(failed);
                Poll::Ready(Ok(()))
            }
            // All handed over: the failure (the session keeps it, so a read after
            // this one that reaches the socket reports it again).
            _ => Poll::Ready(Err(failed)),
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
                Ok(Stream::UnixTls(Tls::new(stream)))
            }
        };
    }
    let proxy = dial.proxy_for(origin);
    let (host, port) = dial.dials(origin);
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
            Ok(Stream::Tls(Tls::new(stream)))
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
            Stream::Tls(s) => s.poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::UnixTls(s) => s.poll_read(cx, buf),
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
            Stream::Tls(s) => Pin::new(&mut s.stream).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::UnixTls(s) => Pin::new(&mut s.stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut s.stream).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::UnixTls(s) => Pin::new(&mut s.stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut s.stream).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::UnixTls(s) => Pin::new(&mut s.stream).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut s.stream).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::UnixTls(s) => Pin::new(&mut s.stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.stream.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            Stream::UnixTls(s) => s.stream.is_write_vectored(),
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
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self {}
    }

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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;

    use super::{Stream, Tls};

    /// A server's record and, in the same write, bytes that are no record of the
    /// session: the record's plaintext is read first, whatever the size of the
    /// reads, and the failure after it.
    #[test]
    fn a_record_before_a_failing_one_is_read_first() {
        for read_size in [64, 2] {
            let (received, failure) = read_until_failure(read_size);
            assert_eq!(received, b"first", "reading {read_size} bytes at a time");
            assert_eq!(failure, std::io::ErrorKind::InvalidData);
        }
    }

    /// What a client reading `read_size` bytes at a time gets from a TLS server
    /// that writes a record of `first` and bad bytes in one write: the plaintext,
    /// and the kind of the error that ends it.
    fn read_until_failure(read_size: usize) -> (Vec<u8>, std::io::ErrorKind) {
        let tls = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let provider = || Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(tls.key_pair.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![tls.cert.der().clone()], key)
            .unwrap();
        let serving = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut session = rustls::ServerConnection::new(Arc::new(server)).unwrap();
            while session.is_handshaking() {
                session.complete_io(&mut sock).unwrap();
            }
            session.writer().write_all(b"first").unwrap();
            let mut out = Vec::new();
            while session.wants_write() {
                session.write_tls(&mut out).unwrap();
            }
            // An application-data record's header, and 32 bytes no key made.
            out.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x20]);
            out.extend_from_slice(&[0xab; 0x20]);
            sock.write_all(&out).unwrap();
            // Until the client is done.
            let _ = std::io::copy(&mut sock, &mut std::io::sink());
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let session = tokio_rustls::TlsConnector::from(Arc::new(client))
                .connect(name, tcp)
                .await
                .unwrap();
            let mut stream = Stream::Tls(Tls::new(session));
            let mut received = Vec::new();
            let mut buf = vec![0; read_size];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => panic!("the connection ended without the failure"),
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                    Err(e) => return (received, e.kind()),
                }
            }
        });
        drop(rt);
        serving.join().unwrap();
        result
    }
}
