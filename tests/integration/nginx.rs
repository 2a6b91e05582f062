//! nginx on loopback, started per test: the server nobody on this project wrote.
//!
//! [`Nginx::start`] writes a generated configuration into a temporary directory (pid
//! file, logs and temp paths included, so nothing outside it is touched), picks a
//! free port on 127.0.0.1, and waits until nginx has bound it. Dropping the value
//! stops nginx. The access log has one tab-separated line per request, which
//! [`Nginx::access_log_lines`] parses, so tests can count what nginx actually served.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::harness::Report;

/// The nginx binary; `NGINX` overrides it.
fn nginx_binary() -> PathBuf {
    std::env::var_os("NGINX").map_or_else(|| PathBuf::from("/usr/sbin/nginx"), PathBuf::from)
}

/// How nginx listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Plain HTTP/1.1.
    Http1,
    /// HTTP/2 over cleartext, prior knowledge only (`listen … http2`).
    H2c,
    /// TLS, offering `h2` and `http/1.1` by ALPN, with a certificate for
    /// `localhost` and `127.0.0.1` signed by a test CA ([`Nginx::ca_path`]).
    Tls,
    /// As [`Variant::Tls`], but the certificate is self-signed (no CA): what
    /// `openssl req -x509` gives. [`Nginx::ca_path`] is the certificate itself.
    TlsSelfSigned,
    /// As [`Variant::Tls`], and every client must show a certificate signed by the
    /// same CA (`ssl_verify_client on`): without one, nginx answers 400 "No required
    /// SSL certificate was sent". [`Nginx::client_cert_path`] and
    /// [`Nginx::client_key_path`] are one it accepts.
    TlsClientAuth,
}

impl Variant {
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            Variant::Tls | Variant::TlsSelfSigned | Variant::TlsClientAuth
        )
    }
}

/// A running nginx; stopped on drop.
pub struct Nginx {
    dir: TempDir,
    child: Child,
    port: u16,
    variant: Variant,
}

/// One access log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `$status`.
    pub status: u16,
    /// `$server_protocol`: `HTTP/1.1`, `HTTP/2.0`, ….
    pub protocol: String,
    /// `$request_method`.
    pub method: String,
    /// `$request_uri`.
    pub uri: String,
    /// `$http_content_length`, `-` when absent.
    pub content_length: String,
    /// `$http_x_kaioken_test`, `-` when absent.
    pub x_kaioken_test: String,
    /// `$http_user_agent`.
    pub user_agent: String,
    /// `$request_length`: bytes of the request as received (head and body).
    pub request_length: u64,
    /// `$connection`: the serial number of the connection it came on.
    pub connection: u64,
    /// `$http_host`: the `Host` header (HTTP/2: `:authority`), `-` when absent.
    pub host: String,
}

const LOG_FORMAT: &str = "$status\\t$server_protocol\\t$request_method\\t$request_uri\\t\
    $http_content_length\\t$http_x_kaioken_test\\t$http_user_agent\\t$request_length\\t$connection\\t$http_host";

impl Nginx {
    /// Start nginx; panics with its error log if it cannot.
    pub fn start(variant: Variant) -> Nginx {
        Nginx::start_with(variant, "")
    }

    /// Start nginx with `directives` added to its `http` block (e.g.
    /// `keepalive_timeout 1s;`).
    pub fn start_with(variant: Variant, directives: &str) -> Nginx {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        match variant {
            Variant::Tls | Variant::TlsClientAuth => write_certificates(dir.path()),
            Variant::TlsSelfSigned => write_self_signed(dir.path()),
            Variant::Http1 | Variant::H2c => {}
        }
        let mut last_error = String::new();
        // A port picked by binding :0 and closing can be taken by someone else before
        // nginx binds it; then nginx fails, and we try another.
        for _ in 0..5 {
            let port = free_port();
            let conf_path = dir.path().join("nginx.conf");
            std::fs::write(&conf_path, config(dir.path(), port, variant, directives))
                .expect("write nginx.conf");
            let _ = std::fs::remove_file(dir.path().join("nginx.pid"));
            let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
            let mut child = Command::new(nginx_binary())
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(stderr))
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {} ({e}); install nginx (scripts/test.sh does)",
                        nginx_binary().display()
                    )
                });
            match wait_ready(&mut child, dir.path(), port) {
                Ok(()) => {
                    return Nginx {
                        dir,
                        child,
                        port,
                        variant,
                    };
                }
                Err(e) => {
                    stop(&mut child);
                    last_error = format!("{e}\n{}", logs(dir.path()));
                }
            }
        }
        panic!("nginx did not start:\n{last_error}");
    }

    /// A URL on this server: `http://127.0.0.1:PORT/path`, or `https://` for TLS.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.variant.is_tls() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// The Unix socket nginx also listens on, with the same protocols as its port.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("nginx.sock")
    }

    /// The certificate (PEM) to trust: the CA that signed the server's certificate,
    /// or the self-signed certificate itself (TLS variants only).
    pub fn ca_path(&self) -> PathBuf {
        match self.variant {
            Variant::Tls | Variant::TlsClientAuth => self.dir.path().join("ca.pem"),
            Variant::TlsSelfSigned => self.dir.path().join("server.pem"),
            Variant::Http1 | Variant::H2c => panic!("{:?} has no certificate", self.variant),
        }
    }

    /// A client certificate signed by the test CA, for `--cert` (PEM, certificate
    /// only; `client-both.pem` beside it holds the certificate and its key).
    pub fn client_cert_path(&self) -> PathBuf {
        self.dir.path().join("client.pem")
    }

    /// The private key of [`Nginx::client_cert_path`], for `--key`.
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client.key")
    }

    /// The access log, parsed, once it has settled: nginx writes a line when it
    /// finishes a request, which can be a moment after the client has the response.
    pub fn access_log_lines(&self) -> Vec<LogLine> {
        let text = crate::harness::settled(&self.dir.path().join("access.log"));
        text.lines().map(|l| parse_line(l, &text)).collect()
    }

    /// A run's `report`, on `engine`, held against the access log: `total`
    /// requests counted, each one nginx logged, with the same status codes.
    /// Returns the log's lines and the context to print (the report and nginx's
    /// logs) for the caller's own assertions.
    pub fn logged_as_counted(
        &self,
        report: &Report,
        engine: &str,
        total: u64,
    ) -> (Vec<LogLine>, String) {
        let lines = self.access_log_lines();
        let context = format!("{engine}\n{report}\n{}", self.logs());
        assert_eq!(report.str("settings.engine"), engine, "{context}");
        assert_eq!(report.u64("requests.total"), total, "{context}");
        assert_eq!(
            lines.len() as u64,
            total,
            "nginx logged every request\n{context}"
        );
        assert_eq!(report.status_codes(), log_status_codes(&lines), "{context}");
        (lines, context)
    }

    /// The directory nginx serves as `/files/` (created on first call): a test
    /// writes a file there and requests `/files/NAME`, and may rewrite it between
    /// runs.
    pub fn files_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("files");
        std::fs::create_dir_all(&dir).expect("create nginx's files directory");
        dir
    }

    /// The number of access log lines right now, without waiting.
    pub fn access_log_len_now(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// nginx's configuration, error log and stderr, for failure messages.
    pub fn logs(&self) -> String {
        logs(self.dir.path())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Wait until nginx has bound its port (it writes the pid file only after binding
/// every listen socket) and accepts connections on it.
fn wait_ready(child: &mut Child, dir: &Path, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid_file = dir.join("nginx.pid");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Some(status) = child.try_wait().expect("wait for nginx") {
            return Err(format!("nginx exited with {status}"));
        }
        if pid_file.exists()
            && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("nginx did not accept connections within 20s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Status → count, from access log lines.
pub fn log_status_codes(lines: &[LogLine]) -> Vec<(u16, u64)> {
    let mut m = std::collections::BTreeMap::new();
    for l in lines {
        *m.entry(l.status).or_insert(0u64) += 1;
    }
    m.into_iter().collect()
}

/// Stop nginx: SIGTERM (fast shutdown of the master and its worker), then SIGKILL.
fn stop(child: &mut Child) {
    crate::harness::stop_child(child, libc::SIGTERM);
}

fn logs(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!(
        "--- nginx.conf\n{}--- error.log\n{}--- stderr\n{}---",
        read("nginx.conf"),
        read("error.log"),
        read("stderr.log")
    )
}

/// How many distinct connections (`$connection`) the lines came on.
pub fn distinct_connections(lines: &[LogLine]) -> u64 {
    let ids: std::collections::BTreeSet<u64> = lines.iter().map(|l| l.connection).collect();
    ids.len() as u64
}

fn parse_line(line: &str, whole: &str) -> LogLine {
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        f.len(),
        10,
        "unexpected access log line {line:?} in:\n{whole}"
    );
    LogLine {
        status: f[0].parse().expect("status"),
        protocol: f[1].to_owned(),
        method: f[2].to_owned(),
        uri: f[3].to_owned(),
        content_length: f[4].to_owned(),
        x_kaioken_test: f[5].to_owned(),
        user_agent: f[6].to_owned(),
        request_length: f[7].parse().expect("request_length"),
        connection: f[8].parse().expect("connection"),
        host: f[9].to_owned(),
    }
}

/// A port on 127.0.0.1 that was free (for TCP and UDP) a moment ago, for a server a
/// test is about to start, or for "nobody listens here".
///
/// A port the kernel picks for `:0` comes from its ephemeral range, which is also
/// where every outgoing connection's local port comes from, and where the next
/// test's `:0` may land once this one is closed: between the pick and the server's
/// bind, another test's connection or server could take it (a metrics listener
/// failed with "Address already in use" that way), or a test's "nobody listens
/// here" could reach another test's server. So the ports come from below the
/// ephemeral range, in turn from a cursor shared by the whole test process (whose
/// start depends on the process id): no two calls here return the same port, and
/// neither connections nor `:0` binds can take one. Test processes run side by
/// side (nextest runs each test in one of its own), so each port is also reserved
/// across processes, by a lock on a file named after it that its process holds
/// until it exits.
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());

    // Whether this process now holds `port`; a lock file that cannot be made
    // reserves nothing, and the port is taken on the binds' word alone.
    let reserve = |port: u32| {
        let dir = std::env::temp_dir().join("kaioken-test-ports");
        let _ = std::fs::create_dir_all(&dir);
        let Ok(file) = std::fs::File::create(dir.join(port.to_string())) else {
            return true;
        };
        match lock(&file) {
            Some(true) => {
                HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
                true
            }
            Some(false) => false,
            None => true,
        }
    };

    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let span = ephemeral_low.saturating_sub(LOWEST);
    if span < 1_000 {
        // No room below the ephemeral range: take the kernel's pick.
        return TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
    }
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let port = LOWEST + NEXT.fetch_add(1, Ordering::Relaxed) % span;
        if !reserve(port) {
            continue;
        }
        let port = port as u16;
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 between {LOWEST} and {ephemeral_low}");
}

/// Take `file`'s exclusive lock without waiting: whether it was free, or `None`
/// when locks cannot be taken.
#[cfg(unix)]
fn lock(file: &std::fs::File) -> Option<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: a lock on a descriptor `file` holds open for the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Some(true);
    }
    let held = std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK);
    held.then_some(false)
}

#[cfg(not(unix))]
fn lock(_: &std::fs::File) -> Option<bool> {
    None
}

fn config(dir: &Path, port: u16, variant: Variant, directives: &str) -> String {
    let d = dir.display();
    // Each variant also listens on a Unix socket ([`Nginx::socket_path`]).
    let listen = match variant {
        Variant::Http1 => format!("listen 127.0.0.1:{port};\n        listen unix:{d}/nginx.sock;"),
        Variant::H2c => {
            format!("listen 127.0.0.1:{port} http2;\n        listen unix:{d}/nginx.sock http2;")
        }
        Variant::Tls | Variant::TlsSelfSigned => format!(
            "listen 127.0.0.1:{port} ssl http2;\n        \
             listen unix:{d}/nginx.sock ssl http2;\n        \
             ssl_certificate {d}/server.pem;\n        \
             ssl_certificate_key {d}/server.key;\n        \
             ssl_protocols TLSv1.2 TLSv1.3;"
        ),
        Variant::TlsClientAuth => format!(
            "listen 127.0.0.1:{port} ssl http2;\n        \
             listen unix:{d}/nginx.sock ssl http2;\n        \
             ssl_certificate {d}/server.pem;\n        \
             ssl_certificate_key {d}/server.key;\n        \
             ssl_protocols TLSv1.2 TLSv1.3;\n        \
             ssl_verify_client on;\n        \
             ssl_client_certificate {d}/ca.pem;"
        ),
    };
    let mut c = String::new();
    let _ = write!(
        c,
        r#"daemon off;
master_process on;
worker_processes 1;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    client_body_temp_path {d}/client_body_temp;
    proxy_temp_path {d}/proxy_temp;
    fastcgi_temp_path {d}/fastcgi_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;

    log_format counts "{LOG_FORMAT}";
    access_log {d}/access.log counts;

    default_type text/plain;
    {directives}

    server {{
        {listen}
        server_name localhost;
        # Redirects keep their relative `Location` (`/hop/2` and friends).
        absolute_redirect off;

        location = / {{
            return 200 "ok";
        }}
        location = /status/404 {{
            return 404 "not found";
        }}
        location = /echo {{
            return 200 "$request_method $request_uri";
        }}
        location = /cookies/set {{
            add_header Set-Cookie "sid=abc123; Path=/";
            return 200 "set";
        }}
        location = /cookies {{
            return 200 "cookies: $http_cookie";
        }}
        location = /hop/2 {{
            return 302 /hop/1;
        }}
        location = /hop/1 {{
            return 307 /echo;
        }}
        location = /see-other {{
            return 303 /echo;
        }}
        location = /elsewhere {{
            return 302 $scheme://localhost:$server_port/echo;
        }}
        # Static files a test writes into `Nginx::files_dir`.
        location /files/ {{
            alias {d}/files/;
        }}
    }}
}}
"#
    );
    c
}

/// A CA, a server certificate for `localhost` and `127.0.0.1` signed by it, and a
/// client certificate signed by it: `ca.pem`, `server.pem`, `server.key`,
/// `client.pem`, `client.key` and `client-both.pem` (certificate, then key) in `dir`.
pub fn write_certificates(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kaioken test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");

    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("sign the server certificate");

    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write ca.pem");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("write server.pem");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write server.key");

    let key = KeyPair::generate().expect("client key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    params
        .distinguished_name
        .push(DnType::CommonName, "kaioken test client");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("sign the client certificate");
    std::fs::write(dir.join("client.pem"), cert.pem()).expect("write client.pem");
    std::fs::write(dir.join("client.key"), key.serialize_pem()).expect("write client.key");
    std::fs::write(
        dir.join("client-both.pem"),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
    .expect("write client-both.pem");
}

/// A self-signed server certificate for `localhost` and `127.0.0.1`.
fn write_self_signed(dir: &Path) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("self-signed certificate");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("write server.pem");
    std::fs::write(dir.join("server.key"), key_pair.serialize_pem()).expect("write server.key");
}

/// The harness itself: every variant starts, and the access log records a request
/// in the expected format.
#[test]
fn nginx_harness_serves_and_logs() {
    use std::io::{Read, Write};

    let nginx = Nginx::start(Variant::Http1);
    let mut stream = TcpStream::connect(
        nginx
            .url("/")
            .trim_start_matches("http://")
            .trim_end_matches('/'),
    )
    .expect("connect to nginx");
    stream
        .write_all(b"GET /status/404 HTTP/1.1\r\nHost: localhost\r\nX-Kaioken-Test: harness\r\nConnection: close\r\n\r\n")
        .expect("write a request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 1, "{lines:?}\n{}", nginx.logs());
    assert_eq!(
        (
            lines[0].status,
            lines[0].protocol.as_str(),
            lines[0].uri.as_str()
        ),
        (404, "HTTP/1.1", "/status/404")
    );
    assert_eq!(lines[0].x_kaioken_test, "harness");

    for variant in [Variant::H2c, Variant::Tls, Variant::TlsSelfSigned] {
        let nginx = Nginx::start(variant);
        assert!(nginx.access_log_len_now() == 0, "{}", nginx.logs());
    }
}
