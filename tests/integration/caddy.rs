//! Caddy on loopback, started per test: a real HTTP/3 server (and HTTP/2 and
//! HTTP/1.1 on the same port, so one scenario can be run over all three against one
//! server).
//!
//! [`Caddy::start`] writes a generated Caddyfile into a temporary directory, with
//! `XDG_DATA_HOME` and `XDG_CONFIG_HOME` inside it too (Caddy's internal CA, its
//! certificates and autosaved configuration land there, never in the machine's
//! trust store: `skip_install_trust`), picks a free port on 127.0.0.1 (TCP and UDP),
//! and waits until it serves HTTPS. Dropping the value stops
//! Caddy. The access log is JSON, one object per request; [`Caddy::protocols`]
//! counts its `request.proto`s (`HTTP/1.1`, `HTTP/2.0`, `HTTP/3.0`).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::nginx::free_port;

/// The caddy binary; `CADDY` overrides it.
fn caddy_binary() -> PathBuf {
    std::env::var_os("CADDY").map_or_else(|| PathBuf::from("/usr/bin/caddy"), PathBuf::from)
}

/// A running Caddy; stopped on drop.
pub struct Caddy {
    dir: TempDir,
    child: Child,
    port: u16,
}

impl Caddy {
    /// Start Caddy; panics with its output if it cannot.
    pub fn start() -> Caddy {
        let mut last_error = String::new();
        // A port picked by binding :0 and closing can be taken before Caddy binds it;
        // then Caddy exits, and we try another.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("create a temporary directory");
            let (port, backend) = (free_port(), free_port());
            let caddyfile = dir.path().join("Caddyfile");
            std::fs::write(&caddyfile, config(dir.path(), port, backend))
                .expect("write the Caddyfile");
            let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
            let child = Command::new(caddy_binary())
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&caddyfile)
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .env("HOME", dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(stderr))
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {} ({e}); install caddy (scripts/test.sh does)",
                        caddy_binary().display()
                    )
                });
            let mut caddy = Caddy { dir, child, port };
            match caddy.wait_ready() {
                Ok(()) => return caddy,
                Err(e) => last_error = format!("{e}\n{}", caddy.logs()),
            }
        }
        panic!("caddy did not start:\n{last_error}");
    }

    /// A URL on this server: `https://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// Caddy's internal CA root, to pass as `--cacert`.
    pub fn ca_path(&self) -> PathBuf {
        root_path(self.dir.path())
    }

    /// How many requests the access log records per protocol (`HTTP/3.0` → n), once
    /// it has settled: a line is written when a request is done, which can be a
    /// moment after the client has the response.
    pub fn protocols(&self) -> BTreeMap<String, u64> {
        let text = crate::harness::settled(&self.dir.path().join("access.log"));
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("access log line is not JSON ({e}): {line}"));
            if entry["request"]["uri"] == READY {
                continue;
            }
            let proto = entry["request"]["proto"]
                .as_str()
                .unwrap_or_else(|| panic!("no request.proto in {line}"));
            *counts.entry(proto.to_owned()).or_insert(0) += 1;
        }
        counts
    }

    /// Each served request's protocol and its header `name` (as Caddy's log
    /// spells it, e.g. `Traceparent`), `None` without one, once the log has
    /// settled.
    pub fn header_values(&self, name: &str) -> Vec<(String, Option<String>)> {
        let text = crate::harness::settled(&self.dir.path().join("access.log"));
        let mut values = Vec::new();
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("access log line is not JSON ({e}): {line}"));
            if entry["request"]["uri"] == READY {
                continue;
            }
            let proto = entry["request"]["proto"].as_str().unwrap_or("?").to_owned();
            let value = entry["request"]["headers"][name][0]
                .as_str()
                .map(str::to_owned);
            values.push((proto, value));
        }
        values
    }

    /// The Caddyfile and Caddy's output, for failure messages.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- Caddyfile\n{}--- stderr\n{}---",
            read("Caddyfile"),
            read("stderr.log")
        )
    }

    /// Wait until Caddy serves HTTPS with its certificate: it accepts connections
    /// before it has obtained one from its CA, so a TLS request to `/ready` (left
    /// out of [`Caddy::protocols`]) is the signal, once the root exists.
    fn wait_ready(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let (root, ready) = (self.ca_path(), self.url(READY));
        crate::harness::wait_ready(&mut self.child, "caddy", || {
            root.exists()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && crate::harness::kaioken()
                    .arg(&ready)
                    .arg("--cacert")
                    .arg(&root)
                    .args(["-c", "1", "--max-requests", "1", "--no-tui"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        })
    }
}

/// The path [`Caddy::start`] requests to know Caddy is ready.
const READY: &str = "/ready";

impl Drop for Caddy {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stop Caddy: SIGTERM (graceful), then SIGKILL.
fn stop(child: &mut Child) {
    crate::harness::stop_child(child, libc::SIGTERM);
}

/// The body of `/big`, which Caddy compresses (zstd, else gzip) for a client that
/// accepts it: long enough to pass its 512-byte minimum.
pub const BIG: &str = "kaioken compressed body, line after line of it. ";
/// How many times `/big` repeats [`BIG`].
pub const BIG_REPEATS: usize = 20;

/// Where Caddy writes its internal CA's root under `dir` (its `XDG_DATA_HOME`).
fn root_path(dir: &Path) -> PathBuf {
    dir.join("data/caddy/pki/authorities/local/root.crt")
}

/// The Caddyfile: one site on `port`, HTTP/1.1, HTTP/2 and HTTP/3, its certificate
/// from Caddy's internal CA, and the routes the tests use; `/proxied` goes through
/// Caddy's `reverse_proxy` to a plain HTTP/1.1 site on `backend`, which answers
/// with the body and the `Content-Length` it was given.
///
/// `default_sni` picks the certificate for a client that sends no server name, as
/// TLS clients do for an IP address: over TCP Caddy falls back to the local address,
/// over QUIC it needs telling.
fn config(dir: &Path, port: u16, backend: u16) -> String {
    let d = dir.display();
    let big = BIG.repeat(BIG_REPEATS);
    format!(
        r#"{{
	admin off
	auto_https disable_redirects
	skip_install_trust
	default_sni 127.0.0.1
	servers {{
		protocols h1 h2 h3
	}}
}}

https://127.0.0.1:{port} {{
	tls internal
	log {{
		output file {d}/access.log
		format json
	}}
	header /login Set-Cookie "sid=abc123; Path=/"
	header /login Content-Type application/json
	respond /login `{{"token": "t-42", "user": {{"id": 7}}}}` 200
	respond /echo "{{http.request.method}} {{http.request.uri}}" 200
	respond /body "got {{http.request.body}}" 200
	respond /cookies "cookies: {{http.request.header.Cookie}}" 200
	encode /big zstd gzip
	respond /big "{big}" 200
	redir /hop /echo?hopped=1 302
	respond / "ok" 200
	respond /ready "ready" 200
	handle /proxied {{
		reverse_proxy 127.0.0.1:{backend}
	}}
	respond "not found" 404
}}

http://127.0.0.1:{backend} {{
	respond "backend got [{{http.request.body}}] length [{{http.request.header.Content-Length}}]" 200
}}
"#
    )
}
