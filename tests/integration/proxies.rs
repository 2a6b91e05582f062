//! Real proxies for the proxy tests: tinyproxy (Debian `tinyproxy`), an HTTP proxy
//! that forwards absolute-form requests and opens `CONNECT` tunnels to the ports
//! its config allows, and microsocks (Debian `microsocks`), a SOCKS5 server with
//! optional username and password. scripts/test.sh installs both; each test starts
//! its own on a free loopback port and stops it on drop.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::nginx::free_port;

fn binary(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// Wait until `child` accepts connections on `port`.
fn wait_ready(child: &mut Child, name: &str, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Some(status) = child.try_wait().expect("wait for the proxy") {
            return Err(format!("{name} exited with {status}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{name} did not accept connections within 10s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A running tinyproxy.
pub struct Tinyproxy {
    dir: TempDir,
    child: Child,
    port: u16,
}

impl Tinyproxy {
    /// Start tinyproxy allowing `CONNECT` to `connect_ports` only (a `CONNECT` to
    /// another port is refused with a 403).
    pub fn start(connect_ports: &[u16]) -> Tinyproxy {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let d = dir.path().display();
            let mut conf = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 200\nAllow 127.0.0.1\n\
                 LogFile \"{d}/tinyproxy.log\"\nLogLevel Connect\nPidFile \"{d}/tinyproxy.pid\"\n"
            );
            for p in connect_ports {
                conf.push_str(&format!("ConnectPort {p}\n"));
            }
            let conf_path = dir.path().join("tinyproxy.conf");
            std::fs::write(&conf_path, conf).expect("write tinyproxy.conf");
            let mut child = Command::new(binary("TINYPROXY", "/usr/bin/tinyproxy"))
                .arg("-d")
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run tinyproxy ({e}); install it (scripts/test.sh does)")
                });
            match wait_ready(&mut child, "tinyproxy", port) {
                Ok(()) => return Tinyproxy { dir, child, port },
                Err(e) => {
                    stop(&mut child);
                    last_error = e;
                }
            }
        }
        panic!("tinyproxy did not start: {last_error}");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests tinyproxy logged (`GET http://… HTTP/1.1`, `CONNECT host:port
    /// HTTP/1.1`), once the log has settled.
    pub fn requests(&self) -> Vec<String> {
        let text = crate::harness::settled(&self.dir.path().join("tinyproxy.log"));
        text.lines()
            .filter_map(|l| l.split_once("]: Request (file descriptor "))
            .filter_map(|(_, rest)| rest.split_once("): ").map(|(_, r)| r.to_owned()))
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A running microsocks.
pub struct Microsocks {
    child: Child,
    port: u16,
}

impl Microsocks {
    /// Start microsocks, asking for `credentials` when given.
    pub fn start(credentials: Option<(&str, &str)>) -> Microsocks {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut command = Command::new(binary("MICROSOCKS", "/usr/bin/microsocks"));
            command.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
            if let Some((user, password)) = credentials {
                command.args(["-u", user, "-P", password]);
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run microsocks ({e}); install it (scripts/test.sh does)")
                });
            match wait_ready(&mut child, "microsocks", port) {
                Ok(()) => return Microsocks { child, port },
                Err(e) => {
                    stop(&mut child);
                    last_error = e;
                }
            }
        }
        panic!("microsocks did not start: {last_error}");
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
