//! Prometheus on loopback, started per test: the system `-o prometheus` is scraped
//! by and `-o prometheus-rw` pushes to.
//!
//! [`Prometheus::start`] writes a configuration that scrapes the given `host:port`
//! targets every second (job `kaioken`), with its data in a temporary directory,
//! listens on a free port on 127.0.0.1 with the remote write receiver enabled, and
//! waits until it is ready. Dropping the value stops it. [`Prometheus::query`] asks
//! its HTTP API for an instant vector of at most one element; [`promtool_check`]
//! runs `promtool check metrics` on an exposition.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::client;
use crate::nginx::free_port;

/// The prometheus binary; `PROMETHEUS` overrides it.
fn prometheus_binary() -> PathBuf {
    std::env::var_os("PROMETHEUS").map_or_else(|| PathBuf::from("prometheus"), PathBuf::from)
}

/// The promtool binary; `PROMTOOL` overrides it.
fn promtool_binary() -> PathBuf {
    std::env::var_os("PROMTOOL").map_or_else(|| PathBuf::from("promtool"), PathBuf::from)
}

/// A running Prometheus; stopped on drop.
pub struct Prometheus {
    dir: TempDir,
    child: Child,
    port: u16,
}

impl Prometheus {
    /// Start Prometheus scraping `targets` (`127.0.0.1:PORT`, none for a server
    /// that only receives remote writes) every second; panics with its log if it
    /// cannot start.
    pub fn start(targets: &[String]) -> Prometheus {
        let mut last_error = String::new();
        // A port picked by binding :0 and closing can be taken before Prometheus
        // binds it; then it exits, and we try another.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("create a temporary directory");
            let port = free_port();
            let config = dir.path().join("prometheus.yml");
            std::fs::write(&config, self::config(targets)).expect("write prometheus.yml");
            let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
            let child = Command::new(prometheus_binary())
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(stderr))
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {} ({e}); install prometheus (scripts/test.sh does)",
                        prometheus_binary().display()
                    )
                });
            let mut prometheus = Prometheus { dir, child, port };
            match prometheus.wait_ready() {
                Ok(()) => return prometheus,
                Err(e) => {
                    stop(&mut prometheus.child);
                    last_error = format!("{e}\n{}", prometheus.logs());
                }
            }
        }
        panic!("prometheus did not start:\n{last_error}");
    }

    /// `127.0.0.1:PORT`, where its HTTP API listens.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its remote write receiver: `http://127.0.0.1:PORT/api/v1/write`.
    pub fn remote_write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr())
    }

    /// An instant query, evaluated now: the value of its single element, `None`
    /// for an empty vector, an error for anything else (ask for `sum(…)`).
    pub fn query(&self, expr: &str) -> Result<Option<f64>, String> {
        self.query_with(&[("query", expr)])
    }

    fn query_with(&self, params: &[(&str, &str)]) -> Result<Option<f64>, String> {
        let path = format!("/api/v1/query?{}", client::query_string(params));
        let response = client::get(&self.addr(), &path, &[])?;
        let json: Value = serde_json::from_str(&response.body).map_err(|e| {
            format!(
                "{path}: status {}, not JSON ({e}): {}",
                response.status, response.body
            )
        })?;
        if json["status"] != "success" {
            return Err(format!("{path}: {}", response.body));
        }
        let result = json["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("{path}: no data.result in {}", response.body))?;
        match result.as_slice() {
            [] => Ok(None),
            [one] => {
                let text = one["value"][1]
                    .as_str()
                    .ok_or_else(|| format!("{path}: no value in {}", response.body))?;
                text.parse()
                    .map(Some)
                    .map_err(|_| format!("{path}: value {text:?} is not a number"))
            }
            _ => Err(format!(
                "{path}: {} series, expected at most one: {}",
                result.len(),
                response.body
            )),
        }
    }

    /// Query `expr` until it has a value or `within` has passed: the value, or the
    /// last error or `None`.
    pub fn query_eventually(&self, expr: &str, within: Duration) -> Result<Option<f64>, String> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.query(expr);
            if matches!(got, Ok(Some(_))) || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Wait until Prometheus has scraped `target` (`127.0.0.1:PORT`) successfully
    /// (`up` is 1), for at most `within`.
    pub fn wait_scraped(&self, target: &str, within: Duration) -> Result<(), String> {
        self.wait_up(target, within, |up| up == 1.0)
    }

    /// Wait until Prometheus is scraping `target`: it has tried at least once,
    /// whether anything answered or not (`up` has a value). Prometheus applies a
    /// new configuration's targets only after a few seconds, so a test waits for
    /// this before starting what it scrapes, to have it scraped from its start.
    pub fn wait_scraping(&self, target: &str, within: Duration) -> Result<(), String> {
        self.wait_up(target, within, |_| true)
    }

    fn wait_up(
        &self,
        target: &str,
        within: Duration,
        wanted: impl Fn(f64) -> bool,
    ) -> Result<(), String> {
        let expr = format!("up{{instance=\"{target}\"}}");
        let deadline = Instant::now() + within;
        loop {
            let got = self.query(&expr);
            if let Ok(Some(up)) = got
                && wanted(up)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{target} was not scraped within {within:?} ({expr} is {got:?})\n{}",
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Its configuration and log, for failure messages.
    pub fn logs(&self) -> String {
        logs(self.dir.path())
    }

    /// Wait until it has bound its port and `/-/ready` answers 200.
    fn wait_ready(&mut self) -> Result<(), String> {
        let (log, addr) = (self.dir.path().join("stderr.log"), self.addr());
        // Its own log says it listens there: another Prometheus that got the same
        // port first would answer `/-/ready` too.
        let listening = format!("msg=\"Listening on\" address={addr}");
        crate::harness::wait_ready(&mut self.child, "prometheus", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains(&listening))
                && client::get(&addr, "/-/ready", &[]).is_ok_and(|r| r.status == 200)
        })
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// `promtool check metrics` on `exposition` (the text format on its standard
/// input): `Ok` when it finds nothing to say, else `Err` with its exit code and
/// output (1: the text does not parse; 3: lint problems).
pub fn promtool_check(exposition: &str) -> Result<(), String> {
    let mut child = Command::new(promtool_binary())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); install prometheus (scripts/test.sh does)",
                promtool_binary().display()
            )
        });
    let mut stdin = child.stdin.take().expect("promtool's stdin");
    let text = exposition.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("wait for promtool");
    writer
        .join()
        .expect("the writer thread")
        .expect("write to promtool");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The sum of every sample of `family` (`kaioken_requests_total`) in a text-format
/// exposition, `None` when it has none.
pub fn exposition_sum(exposition: &str, family: &str) -> Option<f64> {
    let mut sum = None;
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(family) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        // The value follows the labels (which may hold spaces inside quotes).
        let after_labels = match rest.rfind('}') {
            Some(i) => &rest[i + 1..],
            None => rest,
        };
        let value: f64 = after_labels
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no value in the sample line {line:?}"));
        *sum.get_or_insert(0.0) += value;
    }
    sum
}

/// Stop Prometheus: SIGTERM (it flushes and exits), then SIGKILL.
fn stop(child: &mut Child) {
    crate::harness::stop_child(child, libc::SIGTERM);
}

fn logs(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!(
        "--- prometheus.yml\n{}--- prometheus log\n{}---",
        read("prometheus.yml"),
        read("stderr.log")
    )
}

fn config(targets: &[String]) -> String {
    let mut c = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
    if !targets.is_empty() {
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        c.push_str(&format!(
            "scrape_configs:\n  - job_name: kaioken\n    scrape_interval: 1s\n    \
             scrape_timeout: 1s\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        ));
    }
    c
}

/// The harness itself: Prometheus scrapes a target serving a known exposition, the
/// query reads its value back, a target that goes away leaves its last value to
/// `last_over_time` (what the tests read after kaioken has exited), and promtool
/// tells a clean exposition from a bad one.
#[test]
fn prometheus_harness_scrapes_and_queries() {
    let body = "# HELP harness_probe_total Probes.\n# TYPE harness_probe_total counter\n\
                harness_probe_total{kind=\"a\"} 40\nharness_probe_total{kind=\"b\"} 2\n";
    let target = FixedTarget::start(body);
    let addr = target.addr.clone();
    let prometheus = Prometheus::start(std::slice::from_ref(&addr));
    prometheus
        .wait_scraping(&addr, Duration::from_secs(20))
        .unwrap();
    prometheus
        .wait_scraped(&addr, Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        prometheus.query("sum(harness_probe_total)"),
        Ok(Some(42.0)),
        "{}",
        prometheus.logs()
    );
    assert_eq!(prometheus.query("harness_absent_total"), Ok(None));
    assert!(
        prometheus
            .query("harness_probe_total")
            .unwrap_err()
            .contains("2 series"),
        "two series are an error"
    );
    drop(target);
    // Once a scrape has failed, the series are stale: gone from an instant query,
    // still in a range.
    let deadline = Instant::now() + Duration::from_secs(20);
    while prometheus.query(&format!("up{{instance=\"{addr}\"}}")) != Ok(Some(0.0)) {
        assert!(Instant::now() < deadline, "{}", prometheus.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(prometheus.query("sum(harness_probe_total)"), Ok(None));
    assert_eq!(
        prometheus.query("sum(last_over_time(harness_probe_total[1m]))"),
        Ok(Some(42.0))
    );

    assert_eq!(exposition_sum(body, "harness_probe_total"), Some(42.0));
    assert_eq!(exposition_sum(body, "harness_probe"), None);
    promtool_check(body).unwrap();
    let lint = promtool_check("harness_probe_total 1\n").unwrap_err();
    assert!(lint.contains("no help text"), "{lint}");
    let broken = promtool_check("harness_probe_total{ 1\n").unwrap_err();
    assert!(broken.contains("parsing error"), "{broken}");
}

/// A target for the harness test: answers every request with the same exposition,
/// on a thread, until dropped.
struct FixedTarget {
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FixedTarget {
    fn start(body: &'static str) -> FixedTarget {
        use std::io::Read as _;
        use std::sync::atomic::Ordering;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("its address").to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                // Read the request head (a scrape has no body), then answer.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FixedTarget {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FixedTarget {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag; the listener closes with it.
        let _ = std::net::TcpStream::connect(&self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
