//! Small in-process HTTP/1.1 servers on `127.0.0.1:0` that misbehave on purpose:
//! stall, reset, close early, answer garbage. A real server will not do these on
//! demand (STYLE.md §7). Each runs on its own thread with a current-thread tokio
//! runtime; dropping the [`Server`] stops it and closes every socket it holds.
//! [`Server::start_tls`] serves the same behaviours over TLS (rustls, a
//! certificate for `127.0.0.1` made for the server).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// What the server does with each connection.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Answer every request with `200 ok`, keeping the connection open.
    Ok,
    /// Read the request and never answer; hold the connection open.
    Stall,
    /// Read the request, then reset the connection (`SO_LINGER` 0, close).
    ResetAfterRequest,
    /// Accept and close at once, reading nothing.
    CloseOnAccept,
    /// Answer this many requests on each connection with `200 ok`, then close the
    /// connection without having said `Connection: close`.
    CloseAfter(u64),
    /// Read the request, answer with these bytes, then close.
    Malformed(&'static [u8]),
    /// Answer every request with `200 ok` after this delay, keeping the connection
    /// open: a slow server, one request at a time per connection.
    Delay(Duration),
    /// Answer every request with `200 ok` at once, keeping the connection open,
    /// except during a window that recurs every `every`, measured from the server's
    /// start: a request read while `from <= (now - start) % every < to` is answered
    /// when the window ends (a stop-the-world pause, as a GC or a failover makes).
    StallWindows {
        /// How often the window recurs.
        every: Duration,
        /// Where in each period the window opens.
        from: Duration,
        /// Where in each period it closes.
        to: Duration,
    },
    /// Read at most `read` bytes of each request. A request that ends within them is
    /// answered `200 ok`, keeping the connection open; one that does not (a large
    /// body) is answered with `response` at once, and the connection closed with the
    /// rest unread, as a server refusing a body over its limit does (the close with
    /// unread data resets the connection). Every request head is parsed strictly; one
    /// that is not well formed counts in [`Counts::malformed`] and ends the connection.
    EarlyResponse {
        /// How much of a request the server reads before it answers.
        read: usize,
        /// The early answer, e.g. a `413` with `connection: close`.
        response: &'static [u8],
    },
    /// Read the request, write these bytes (part of a response), then hold the
    /// connection open without another word.
    PartialThenStall(&'static [u8]),
    /// Answer the first request on each connection with `200 ok`, keeping the
    /// connection open; answer the second with these bytes (a response cut short) and
    /// close.
    PartialOnReuse(&'static [u8]),
    /// Read the request, write these bytes, then one line that never ends: `a` after
    /// `a`, until the client goes away (or [`ENDLESS_CAP`] bytes were written).
    EndlessLine(&'static [u8]),
    /// Answer every request with `200 ok` and this many `Set-Cookie` headers, each
    /// naming a cookie never set before; keep the connection open.
    SetCookies(u32),
    /// Answer every request with these bytes, a complete response and more after it
    /// (a second response nobody asked for, a body to `HEAD`, more body than the
    /// `content-length`), in one write; keep the connection open. Counts in
    /// [`Counts::responses`].
    Excess(&'static [u8]),
    /// Answer every request with `200 ok`, then, this long after, send a second
    /// `200` response nobody asked for (its body `stray`) on the idle connection;
    /// keep it open.
    StrayLater(Duration),
    /// Answer the first `n - 1` requests on each connection with `200 ok`; read the
    /// `n`-th and close the connection without a word, as a worker that crashed on
    /// it does (the request counts in [`Counts::requests`]).
    ReadThenClose(u64),
    /// Read the request, answer with these bytes, then end the TCP connection
    /// without a TLS close_notify (over TLS; over TCP, as [`Behaviour::Malformed`]).
    WithoutCloseNotify(&'static [u8]),
    /// Each request meets one of the faults above, drawn from this seed by the
    /// request's number among the server's ([`chaos`]): most are answered and
    /// the connection kept, others answered with or without `connection: close`
    /// and closed, answered late, closed unanswered, answered in part or with
    /// bytes that are no HTTP response, then closed. Only answers written whole
    /// count in [`Counts::responses`].
    Chaos(u64),
}

/// What an HTTP/2 server (cleartext, prior knowledge) does with each request.
#[derive(Debug, Clone, Copy)]
pub enum H2Behaviour {
    /// Reset the request's stream (`RST_STREAM`) with this error code.
    ResetStream(h2::Reason),
    /// Refuse every stream: answer the client's first frames with `GOAWAY` (last stream
    /// 0, this error code) and close.
    GoAway(h2::Reason),
    /// Answer `200 ok`, and on taking a connection's this-many-th request send
    /// `GOAWAY` (no error) before its response, then close once it is answered: what
    /// nginx does at its `keepalive_requests`.
    GoAwayAfter(u64),
    /// Answer `200 ok`, but never a connection's every this-many-th request (its
    /// stream stays open, unanswered, until the client resets it or goes).
    StallEvery(u64),
}

/// Which protocol a server speaks, and how it misbehaves.
#[derive(Clone)]
enum Kind {
    Http1(Behaviour),
    /// HTTP/1.1 over TLS.
    Http1Tls(Behaviour, TlsAcceptor),
    H2(H2Behaviour),
}

/// A connection the HTTP/1.1 behaviours talk on: plain TCP, or TLS over it.
trait Conn: AsyncRead + AsyncWrite + Unpin {
    /// The TCP connection underneath.
    fn tcp(&mut self) -> &mut TcpStream;
    /// Over TLS: bytes are sent on the TCP connection as they are, outside the
    /// session ([`Fault::Junk`]); plain TCP has no session to break (false).
    fn is_tls(&self) -> bool;
}

impl Conn for TcpStream {
    fn tcp(&mut self) -> &mut TcpStream {
        self
    }

    fn is_tls(&self) -> bool {
        false
    }
}

impl Conn for TlsStream<TcpStream> {
    fn tcp(&mut self) -> &mut TcpStream {
        self.get_mut().0
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// The most [`Behaviour::EndlessLine`] writes on one connection.
pub const ENDLESS_CAP: u64 = 1 << 30;

/// Counts of what the server saw.
#[derive(Debug, Default)]
pub struct Counts {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests read completely.
    pub requests: AtomicU64,
    /// `200` responses written completely.
    pub responses: AtomicU64,
    /// Early answers written ([`Behaviour::EarlyResponse`]).
    pub early: AtomicU64,
    /// Request heads that were not well formed ([`Behaviour::EarlyResponse`]).
    pub malformed: AtomicU64,
    /// Request bytes read ([`Behaviour::EarlyResponse`]).
    pub bytes_read: AtomicU64,
    /// Response bytes written ([`Behaviour::EndlessLine`]).
    pub bytes_written: AtomicU64,
    /// The longest `Cookie` header value of a request read.
    pub max_cookie: AtomicU64,
    /// Cookies set ([`Behaviour::SetCookies`]).
    pub cookies_set: AtomicU64,
    /// Faults drawn so far ([`Behaviour::Chaos`]).
    pub draws: AtomicU64,
}

/// A running server; stopped on drop.
pub struct Server {
    addr: SocketAddr,
    /// The CA certificate (PEM) a TLS server's certificate is checked against.
    ca: Option<tempfile::NamedTempFile>,
    counts: Arc<Counts>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";

impl Server {
    /// Start a server with `behaviour` on a fresh loopback port.
    pub fn start(behaviour: Behaviour) -> Server {
        Server::start_kind(Kind::Http1(behaviour))
    }

    /// Start an HTTP/2 server with `behaviour` on a fresh loopback port.
    pub fn start_h2(behaviour: H2Behaviour) -> Server {
        Server::start_kind(Kind::H2(behaviour))
    }

    /// Start an HTTPS server with `behaviour` on a fresh loopback port, its
    /// certificate (for `127.0.0.1`) self-signed: see [`Server::ca_path`].
    pub fn start_tls(behaviour: Behaviour) -> Server {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("make a certificate");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("a certificate and its key");
        let mut ca = tempfile::NamedTempFile::new().expect("a temporary file");
        std::io::Write::write_all(&mut ca, cert.cert.pem().as_bytes()).expect("write the CA");
        let mut server = Server::start_kind(Kind::Http1Tls(
            behaviour,
            TlsAcceptor::from(Arc::new(config)),
        ));
        server.ca = Some(ca);
        server
    }

    /// A TLS server's certificate, for `--cacert`.
    pub fn ca_path(&self) -> &std::path::Path {
        self.ca.as_ref().expect("a TLS server").path()
    }

    fn start_kind(kind: Kind) -> Server {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        std_listener
            .set_nonblocking(true)
            .expect("set the listener non-blocking");
        let addr = std_listener.local_addr().expect("local address");
        let counts = Arc::new(Counts::default());
        let epoch = Instant::now();
        let (shutdown, mut stopped) = oneshot::channel::<()>();
        let thread_counts = counts.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a tokio runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            thread_counts.connections.fetch_add(1, Ordering::SeqCst);
                            let counts = thread_counts.clone();
                            let kind = kind.clone();
                            tokio::spawn(async move {
                                match kind {
                                    Kind::Http1(behaviour) => {
                                        let _ = serve(stream, behaviour, epoch, &counts).await;
                                    }
                                    Kind::Http1Tls(behaviour, acceptor) => {
                                        if let Ok(stream) = acceptor.accept(stream).await {
                                            let _ = serve(stream, behaviour, epoch, &counts).await;
                                        }
                                    }
                                    Kind::H2(behaviour) => {
                                        let _ = serve_h2(stream, behaviour, &counts).await;
                                    }
                                }
                            });
                        }
                    }
                }
            });
            // Dropping the runtime drops every connection task and its socket.
            drop(rt);
        });
        Server {
            addr,
            ca: None,
            counts,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/`, or `https://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/", self.addr)
    }

    /// What the server has seen so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    mut stream: impl Conn,
    behaviour: Behaviour,
    epoch: Instant,
    counts: &Counts,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    match behaviour {
        Behaviour::CloseOnAccept => Ok(()),
        Behaviour::Ok => loop {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            stream.write_all(OK).await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
        },
        Behaviour::CloseAfter(n) => {
            for _ in 0..n {
                if !read_request(&mut stream, &mut buf, counts).await? {
                    return Ok(());
                }
                stream.write_all(OK).await?;
                stream.flush().await?;
                counts.responses.fetch_add(1, Ordering::SeqCst);
            }
            close_gracefully(&mut stream).await
        }
        Behaviour::Stall => {
            read_request(&mut stream, &mut buf, counts).await?;
            // Hold the connection until the server stops.
            std::future::pending::<()>().await;
            Ok(())
        }
        Behaviour::ResetAfterRequest => {
            read_request(&mut stream, &mut buf, counts).await?;
            stream.tcp().set_zero_linger()?;
            drop(stream);
            Ok(())
        }
        Behaviour::Excess(bytes) => loop {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            stream.write_all(bytes).await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
        },
        Behaviour::StrayLater(after) => loop {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            stream.write_all(OK).await?;
            stream.flush().await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(after).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray")
                .await?;
            stream.flush().await?;
        },
        Behaviour::ReadThenClose(n) => {
            for _ in 1..n {
                if !read_request(&mut stream, &mut buf, counts).await? {
                    return Ok(());
                }
                stream.write_all(OK).await?;
                stream.flush().await?;
                counts.responses.fetch_add(1, Ordering::SeqCst);
            }
            read_request(&mut stream, &mut buf, counts).await?;
            Ok(())
        }
        Behaviour::WithoutCloseNotify(bytes) => {
            if read_request(&mut stream, &mut buf, counts).await? {
                stream.write_all(bytes).await?;
                stream.flush().await?;
                stream.tcp().shutdown().await?;
            }
            Ok(())
        }
        Behaviour::Malformed(bytes) => {
            if read_request(&mut stream, &mut buf, counts).await? {
                stream.write_all(bytes).await?;
                stream.shutdown().await?;
            }
            Ok(())
        }
        Behaviour::Delay(delay) => loop {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            tokio::time::sleep(delay).await;
            stream.write_all(OK).await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
        },
        Behaviour::StallWindows { every, from, to } => loop {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            let phase = Duration::from_nanos(
                u64::try_from(epoch.elapsed().as_nanos() % every.as_nanos())
                    .expect("a phase within one period fits u64 nanoseconds"),
            );
            if (from..to).contains(&phase) {
                tokio::time::sleep(to - phase).await;
            }
            stream.write_all(OK).await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
        },
        Behaviour::EarlyResponse { read, response } => loop {
            let mut chunk = [0u8; 8192];
            // The head, within `read` bytes.
            let head_end = loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
                if buf.len() >= read {
                    counts.malformed.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
                let want = (read - buf.len()).min(chunk.len());
                let n = stream.read(&mut chunk[..want]).await?;
                if n == 0 {
                    return Ok(());
                }
                counts.bytes_read.fetch_add(n as u64, Ordering::SeqCst);
                buf.extend_from_slice(&chunk[..n]);
            };
            let Some(body_len) = strict_head(&buf[..head_end]) else {
                counts.malformed.fetch_add(1, Ordering::SeqCst);
                return Ok(());
            };
            let total = head_end + body_len;
            let end = total.min(read);
            while buf.len() < end {
                let want = (end - buf.len()).min(chunk.len());
                let n = stream.read(&mut chunk[..want]).await?;
                if n == 0 {
                    return Ok(());
                }
                counts.bytes_read.fetch_add(n as u64, Ordering::SeqCst);
                buf.extend_from_slice(&chunk[..n]);
            }
            if total > read {
                stream.write_all(response).await?;
                counts.early.fetch_add(1, Ordering::SeqCst);
                // Dropping the stream closes it with the rest of the body unread.
                return Ok(());
            }
            buf.drain(..total);
            counts.requests.fetch_add(1, Ordering::SeqCst);
            stream.write_all(OK).await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
        },
        Behaviour::PartialThenStall(bytes) => {
            if read_request(&mut stream, &mut buf, counts).await? {
                stream.write_all(bytes).await?;
                std::future::pending::<()>().await;
            }
            Ok(())
        }
        Behaviour::PartialOnReuse(bytes) => {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            stream.write_all(OK).await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
            if read_request(&mut stream, &mut buf, counts).await? {
                stream.write_all(bytes).await?;
                close_gracefully(&mut stream).await?;
            }
            Ok(())
        }
        Behaviour::EndlessLine(bytes) => {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            stream.write_all(bytes).await?;
            let line = [b'a'; 16 * 1024];
            let mut written = 0;
            while written < ENDLESS_CAP {
                // The client closing (or resetting) ends the loop with an error.
                stream.write_all(&line).await?;
                written += line.len() as u64;
                counts
                    .bytes_written
                    .fetch_add(line.len() as u64, Ordering::SeqCst);
            }
            Ok(())
        }
        Behaviour::Chaos(seed) => loop {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            let fault = chaos(seed, counts.draws.fetch_add(1, Ordering::SeqCst));
            let answer: &[u8] = match fault {
                Fault::Unanswered => return close_gracefully(&mut stream).await,
                Fault::Reset => {
                    stream.tcp().set_zero_linger()?;
                    return Ok(());
                }
                Fault::Pieces => {
                    stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-enc").await?;
                    stream.flush().await?;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    stream
                        .write_all(b"oding: chunked\r\n\r\n1\r\no\r\n")
                        .await?;
                    stream.flush().await?;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    b"1\r\nk\r\n0\r\n\r\n"
                }
                Fault::Large => LARGE.get_or_init(|| {
                    let mut r = b"HTTP/1.1 200 OK\r\ncontent-length: 65536\r\n\r\n".to_vec();
                    r.resize(r.len() + 65536, b'x');
                    r
                }),
                Fault::Partial | Fault::Garbage => {
                    let bytes: &[u8] = if fault == Fault::Partial {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok"
                    } else {
                        b"HTTP/1.1 two hundred\r\n\r\n"
                    };
                    stream.write_all(bytes).await?;
                    return close_gracefully(&mut stream).await;
                }
                Fault::Late => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    OK
                }
                Fault::SaysClose => {
                    b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
                }
                Fault::Redirect | Fault::RedirectThenClose => REDIRECT,
                Fault::None | Fault::Closes | Fault::Junk => OK,
            };
            stream.write_all(answer).await?;
            stream.flush().await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
            if fault == Fault::RedirectThenClose {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if fault == Fault::Junk {
                // Apart from the answer, so that the client has read it first.
                tokio::time::sleep(Duration::from_millis(1)).await;
                let junk: &[u8] = if stream.is_tls() {
                    &[0x17, 0x03, 0x03, 0x00, 0x04, 0xab, 0xab, 0xab, 0xab]
                } else {
                    b"HTTP/1.1 two hundred\r\n\r\n"
                };
                stream.tcp().write_all(junk).await?;
                return close_gracefully(&mut stream).await;
            }
            if matches!(
                fault,
                Fault::SaysClose | Fault::Closes | Fault::RedirectThenClose
            ) {
                return close_gracefully(&mut stream).await;
            }
        },
        Behaviour::SetCookies(n) => loop {
            if !read_request(&mut stream, &mut buf, counts).await? {
                return Ok(());
            }
            let mut head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n".to_vec();
            for _ in 0..n {
                let id = counts.cookies_set.fetch_add(1, Ordering::SeqCst);
                head.extend_from_slice(format!("set-cookie: c{id}=v; Path=/\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\nok");
            stream.write_all(&head).await?;
            counts.responses.fetch_add(1, Ordering::SeqCst);
        },
    }
}

async fn serve_h2(
    stream: TcpStream,
    behaviour: H2Behaviour,
    counts: &Counts,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let reason = match behaviour {
        H2Behaviour::ResetStream(reason) => reason,
        H2Behaviour::GoAway(reason) => {
            return Ok(go_away(stream, reason, counts).await?);
        }
        H2Behaviour::GoAwayAfter(n) => return go_away_after(stream, n, counts).await,
        H2Behaviour::StallEvery(n) => return stall_every(stream, n, counts).await,
    };
    let mut conn = h2::server::handshake(stream).await?;
    while let Some(request) = conn.accept().await {
        let (_request, mut respond) = request?;
        counts.requests.fetch_add(1, Ordering::SeqCst);
        respond.send_reset(reason);
    }
    Ok(())
}

/// [`H2Behaviour::GoAwayAfter`] on one connection.
async fn go_away_after(
    stream: TcpStream,
    n: u64,
    counts: &Counts,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = h2::server::handshake(stream).await?;
    let mut taken = 0;
    while let Some(request) = conn.accept().await {
        let (_request, respond) = request?;
        counts.requests.fetch_add(1, Ordering::SeqCst);
        taken += 1;
        if taken == n {
            conn.graceful_shutdown();
        }
        answer_ok(respond, counts)?;
    }
    Ok(())
}

/// Answer a stream `200 ok`, counted.
fn answer_ok(
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    counts: &Counts,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let head = http::Response::builder().status(200).body(())?;
    let mut send = respond.send_response(head, false)?;
    send.send_data(bytes::Bytes::from_static(b"ok"), true)?;
    counts.responses.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// [`H2Behaviour::StallEvery`] on one connection.
async fn stall_every(
    stream: TcpStream,
    n: u64,
    counts: &Counts,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = h2::server::handshake(stream).await?;
    let mut taken = 0;
    // Kept, so that no reset goes for them.
    let mut stalled = Vec::new();
    while let Some(request) = conn.accept().await {
        let (_request, respond) = request?;
        counts.requests.fetch_add(1, Ordering::SeqCst);
        taken += 1;
        if taken % n == 0 {
            stalled.push(respond);
            continue;
        }
        answer_ok(respond, counts)?;
    }
    Ok(())
}

/// Read the client's preface and first frames, answer with an empty `SETTINGS` and a
/// `GOAWAY` that processes no stream (last stream 0), then close once the client has.
/// Frames are written by hand: `h2`'s server only sends a `GOAWAY` covering the
/// streams it has taken.
async fn go_away(
    mut stream: TcpStream,
    reason: h2::Reason,
    counts: &Counts,
) -> std::io::Result<()> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // The preface, then at least one frame header after it.
    while buf.len() < PREFACE.len() + 9 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    counts.requests.fetch_add(1, Ordering::SeqCst);
    let mut frames = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
    frames.extend_from_slice(&[0, 0, 8, 7, 0, 0, 0, 0, 0]);
    frames.extend_from_slice(&0u32.to_be_bytes());
    frames.extend_from_slice(&u32::from(reason).to_be_bytes());
    stream.write_all(&frames).await?;
    close_gracefully(&mut stream).await
}

/// The body length of a request head (through its blank line) that is well formed:
/// `METHOD /target HTTP/1.1`, then `name: value` lines with token names and no
/// control bytes, at most one `content-length`, all ending in CRLF. `None` if it is
/// not; a request written over, cut short or sent on the wrong connection fails this.
fn strict_head(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head.strip_suffix(b"\r\n\r\n")?).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !method_ok || !target.starts_with('/') || version != "HTTP/1.1" || parts.next().is_some() {
        return None;
    }
    let mut length = None;
    for line in lines {
        let (name, value) = line.split_once(": ")?;
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty()
            || !name.bytes().all(token)
            || value.bytes().any(|b| b.is_ascii_control())
        {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") {
            if length.is_some() {
                return None;
            }
            length = Some(value.parse::<usize>().ok()?);
        }
    }
    Some(length.unwrap_or(0))
}

/// Read one HTTP/1.1 request (head, and a body by `content-length`) from `stream`,
/// keeping any bytes after it in `buf`. `false` on a clean end of stream.
/// What [`Behaviour::Chaos`] does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answer, keep the connection.
    None,
    /// Answer 5 ms late, keep the connection.
    Late,
    /// Answer with `connection: close`, close.
    SaysClose,
    /// Answer, close without having said so.
    Closes,
    /// Close without an answer.
    Unanswered,
    /// Answer a head and part of the body, close.
    Partial,
    /// Answer bytes that are no HTTP response, close.
    Garbage,
    /// Answer in chunks, written apart (the head cut in two), keep the
    /// connection.
    Pieces,
    /// Answer a 64 KiB body, keep the connection.
    Large,
    /// Reset the connection without an answer.
    Reset,
    /// Redirect to `/` (the client follows: one more request), keep the
    /// connection.
    Redirect,
    /// Redirect to `/` without `connection: close`, then close the connection
    /// 2 ms later, as a server's keep-alive timeout does: while the client may
    /// still be waiting to follow it.
    RedirectThenClose,
    /// Answer, then send bytes between requests that are no response (over TLS,
    /// no record of the session: written on the TCP connection underneath),
    /// then close.
    Junk,
}

/// [`Fault::Redirect`]'s answer.
const REDIRECT: &[u8] = b"HTTP/1.1 302 Found\r\nlocation: /\r\ncontent-length: 0\r\n\r\n";

/// [`Fault::Large`]'s answer.
static LARGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// The fault for draw `n` of `seed`: a splitmix64 step, so a seed gives the same
/// faults in the same order on every run.
fn chaos(seed: u64, n: u64) -> Fault {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    match (z ^ (z >> 31)) % 100 {
        0..30 => Fault::None,
        30..34 => Fault::Junk,
        34..38 => Fault::RedirectThenClose,
        38..45 => Fault::Redirect,
        45..50 => Fault::Late,
        50..58 => Fault::SaysClose,
        58..66 => Fault::Closes,
        66..72 => Fault::Unanswered,
        72..76 => Fault::Partial,
        76..80 => Fault::Garbage,
        80..88 => Fault::Pieces,
        88..96 => Fault::Large,
        _ => Fault::Reset,
    }
}

/// Close for writing, then drain what the client still sends, so that the close
/// is a clean FIN rather than a reset caused by unread data.
async fn close_gracefully(stream: &mut impl Conn) -> std::io::Result<()> {
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

async fn read_request(
    stream: &mut impl Conn,
    buf: &mut Vec<u8>,
    counts: &Counts,
) -> std::io::Result<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let body_len: usize = head
                .lines()
                .filter_map(|l| l.strip_prefix("content-length:"))
                .find_map(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let cookie = head
                .lines()
                .filter_map(|l| l.strip_prefix("cookie:"))
                .map(|v| v.trim().len() as u64)
                .max()
                .unwrap_or(0);
            counts.max_cookie.fetch_max(cookie, Ordering::SeqCst);
            let total = end + 4 + body_len;
            while buf.len() < total {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(false);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            counts.requests.fetch_add(1, Ordering::SeqCst);
            return Ok(true);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
