//! httpbin on loopback, served by gunicorn, started per test: a real application
//! (JSON, header and query echo, cookies, redirects, any status) that nobody on this
//! project wrote.
//!
//! [`Httpbin::start`] writes a gunicorn configuration into a temporary directory (access
//! and error logs included, and no control socket under `$HOME`), picks a free port on
//! 127.0.0.1, runs `python3 -m gunicorn -c gunicorn.conf.py httpbin:app` (with the
//! interpreter `python3` stands for, so that signals reach gunicorn), and waits until
//! it answers an HTTP request. Start-up takes about 0.3 s, so every test gets its
//! own server and its own access log, as with nginx. Dropping the value stops it.
//!
//! The access log has one tab-separated line per request (status, method, path,
//! query, protocol, `X-Kaioken-Test`, `Cookie`, user agent), which
//! [`Httpbin::access_log_lines`] parses, so tests can compare kaioken's counts with
//! what httpbin served, and see the headers it was sent.
//!
//! httpbin and gunicorn are Python packages: `scripts/test.sh` installs them. When
//! they are missing the tests fail, saying so. `PYTHON` overrides the interpreter.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::nginx::free_port;

/// The user agent of the readiness probe; its access log lines are left out.
const PROBE_AGENT: &str = "kaioken-test-harness-probe";

/// How long gunicorn may take to answer its first request (importing Flask on a slow,
/// shared machine included).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The Python interpreter; `PYTHON` overrides it.
pub(crate) fn python() -> PathBuf {
    std::env::var_os("PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// The interpreter itself (`sys.executable`), found once per test process: `python3`
/// may be a wrapper (pyenv's shim) that does not always exec, and the signal that
/// stops gunicorn must reach gunicorn.
pub fn interpreter() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let out = Command::new(python())
            .args(["-c", "import sys; print(sys.executable)"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}); the httpbin tests need Python 3 with httpbin \
                     and gunicorn: run scripts/test.sh, which installs them",
                    python().display()
                )
            });
        let exe = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !exe.is_empty() {
            PathBuf::from(exe)
        } else {
            python()
        }
    })
}

/// A running httpbin; stopped on drop.
pub struct Httpbin {
    dir: TempDir,
    child: Child,
    port: u16,
}

/// One access log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The response status.
    pub status: u16,
    /// The request method.
    pub method: String,
    /// The path, without the query (percent-decoded, as WSGI's `PATH_INFO`).
    pub path: String,
    /// The query string as sent, without the `?`; empty when there was none.
    pub query: String,
    /// `HTTP/1.1`, ….
    pub protocol: String,
    /// The `X-Kaioken-Test` request header, `-` when absent.
    pub x_kaioken_test: String,
    /// The `Cookie` request header, `-` when absent.
    pub cookie: String,
    /// The `User-Agent` request header.
    pub user_agent: String,
}

impl LogLine {
    /// One value of the query string, as sent (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// gunicorn's atoms, tab-separated: see [`LogLine`].
const LOG_FORMAT: &str =
    r"%(s)s\t%(m)s\t%(U)s\t%(q)s\t%(H)s\t%({x-kaioken-test}i)s\t%({cookie}i)s\t%(a)s";

impl Httpbin {
    /// Start httpbin; panics with gunicorn's logs if it cannot, and with what to run
    /// if Python, httpbin or gunicorn is missing.
    pub fn start() -> Httpbin {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let mut last_error = String::new();
        // A port picked by binding :0 and closing can be taken by someone else before
        // gunicorn binds it; then gunicorn fails, and we try another.
        for _ in 0..5 {
            let port = free_port();
            let conf_path = dir.path().join("gunicorn.conf.py");
            std::fs::write(&conf_path, config(dir.path(), port)).expect("write gunicorn.conf.py");
            for log in ["access.log", "error.log"] {
                let _ = std::fs::remove_file(dir.path().join(log));
            }
            let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
            let mut child = Command::new(interpreter())
                .args(["-m", "gunicorn", "-c"])
                .arg(&conf_path)
                .arg("httpbin:app")
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(stderr))
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {} ({e}); the httpbin tests need Python 3 with httpbin \
                         and gunicorn: run scripts/test.sh, which installs them",
                        python().display()
                    )
                });
            match wait_ready(&mut child, dir.path(), port) {
                Ok(()) => return Httpbin { dir, child, port },
                Err(e) => {
                    stop(&mut child);
                    let logs = logs(dir.path());
                    if logs.contains("No module named") {
                        panic!(
                            "httpbin or gunicorn is not installed for {}: run \
                             scripts/test.sh, which installs them (or set PYTHON to an \
                             interpreter that has them)\n{logs}",
                            python().display()
                        );
                    }
                    last_error = format!("{e}\n{logs}");
                }
            }
        }
        panic!("httpbin (gunicorn) did not start:\n{last_error}");
    }

    /// A URL on this server: `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The access log, parsed (the harness's own probe left out), once it has settled:
    /// gunicorn writes a line when it has sent a response, which can be a moment after
    /// the client has it.
    pub fn access_log_lines(&self) -> Vec<LogLine> {
        let text = crate::harness::settled(&self.dir.path().join("access.log"));
        text.lines()
            .map(|l| parse_line(l, &text))
            .filter(|l| l.user_agent != PROBE_AGENT)
            .collect()
    }

    /// Requests served, by path (query left out).
    pub fn requests_by_path(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for line in self.access_log_lines() {
            *counts.entry(line.path).or_insert(0) += 1;
        }
        counts
    }

    /// gunicorn's configuration, error log and stderr, for failure messages.
    pub fn logs(&self) -> String {
        logs(self.dir.path())
    }
}

impl Drop for Httpbin {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// gunicorn's configuration: one worker with threads (keep-alive, and several VUs
/// served at once), logs in `dir`.
fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"bind = "127.0.0.1:{port}"
worker_class = "gthread"
workers = 1
threads = 8
accesslog = "{d}/access.log"
access_log_format = "{LOG_FORMAT}"
errorlog = "{d}/error.log"
loglevel = "info"
# gunicorn >= 25.1 opens a control socket under $HOME by default, one path shared by
# every instance; older versions ignore settings they do not know.
control_socket_disable = True
"#
    )
}

/// Wait until gunicorn answers a request on `port` as gunicorn (not whoever else may
/// have taken the port).
fn wait_ready(child: &mut Child, dir: &Path, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Some(status) = child.try_wait().expect("wait for gunicorn") {
            return Err(format!("gunicorn exited with {status}"));
        }
        let error_log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        if error_log.contains("Connection in use") {
            return Err(format!("port {port} is taken"));
        }
        if let Some(head) = probe(addr) {
            let lower = head.to_ascii_lowercase();
            if lower.starts_with("http/1.1 204") && lower.contains("\r\nserver: gunicorn") {
                return Ok(());
            }
            return Err(format!("something else answers on port {port}:\n{head}"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "gunicorn did not answer within {}s",
                START_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET /status/204`; the response's head, or `None` if nothing answered (yet).
fn probe(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!(
        "GET /status/204 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: {PROBE_AGENT}\r\n\
         Connection: close\r\n\r\n",
        addr.port()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    // The listening socket is bound before the worker has booted: a read may time out
    // or see the connection closed, which is "not yet".
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    (!head.is_empty()).then(|| head.to_owned())
}

/// Stop gunicorn: SIGINT (quick shutdown of the arbiter and its worker), then
/// SIGKILL (the worker notices its arbiter is gone and exits).
pub fn stop(child: &mut Child) {
    crate::harness::stop_child(child, libc::SIGINT);
}

fn logs(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!(
        "--- gunicorn.conf.py\n{}--- error.log\n{}--- stderr\n{}---",
        read("gunicorn.conf.py"),
        read("error.log"),
        read("stderr.log")
    )
}

fn parse_line(line: &str, whole: &str) -> LogLine {
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        f.len(),
        8,
        "unexpected access log line {line:?} in:\n{whole}"
    );
    LogLine {
        status: f[0].parse().expect("status"),
        method: f[1].to_owned(),
        path: f[2].to_owned(),
        query: f[3].to_owned(),
        protocol: f[4].to_owned(),
        x_kaioken_test: f[5].to_owned(),
        cookie: f[6].to_owned(),
        user_agent: f[7].to_owned(),
    }
}

/// The harness itself: httpbin answers, and the access log records a request in the
/// expected format, without the probe.
#[test]
fn httpbin_harness_serves_and_logs() {
    let started = Instant::now();
    let httpbin = Httpbin::start();
    let took = started.elapsed();
    assert!(took < START_TIMEOUT, "{took:?}");
    let addr: SocketAddr = httpbin
        .url("")
        .trim_start_matches("http://")
        .parse()
        .expect("host:port");
    let mut stream = TcpStream::connect(addr).expect("connect to httpbin");
    stream
        .write_all(
            b"GET /status/418?a=1 HTTP/1.1\r\nHost: localhost\r\nX-Kaioken-Test: harness\r\n\
              Cookie: k=v\r\nUser-Agent: test\r\nConnection: close\r\n\r\n",
        )
        .expect("write a request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    assert!(response.starts_with("HTTP/1.1 418"), "{response}");
    let lines = httpbin.access_log_lines();
    assert_eq!(
        lines,
        vec![LogLine {
            status: 418,
            method: "GET".to_owned(),
            path: "/status/418".to_owned(),
            query: "a=1".to_owned(),
            protocol: "HTTP/1.1".to_owned(),
            x_kaioken_test: "harness".to_owned(),
            cookie: "k=v".to_owned(),
            user_agent: "test".to_owned(),
        }],
        "{}",
        httpbin.logs()
    );
    assert_eq!(lines[0].query_param("a"), Some("1"));
    assert_eq!(
        httpbin.requests_by_path(),
        BTreeMap::from([("/status/418".to_owned(), 1)])
    );
}
