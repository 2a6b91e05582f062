//! WebSocket servers (the Python `websockets` library) on loopback: an echo server
//! for the WebSocket handshakes a replayed recording makes and for kaioken's own
//! WebSocket runs, and its variants ([`WsOptions`]): one that only counts, one that
//! answers in JSON and insists on a subprotocol, one that closes each connection
//! after a number of messages, over plain TCP or TLS. Each logs the path of every
//! handshake it accepted and counts every message it received, so a test can
//! compare kaioken's counts with the server's.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::httpbin::{interpreter, stop};
use crate::nginx::free_port;

const SERVER: &str = r#"
import asyncio, json, os, ssl, sys
from websockets.asyncio.server import serve

PORT, DIR, MODE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
CLOSE_AFTER, TLS = int(sys.argv[4]), sys.argv[5] == "tls"
# Ping every PING seconds, and close (1011) a connection whose pong is late by as
# much; 0: the library's defaults (20 s).
PING = float(sys.argv[6])
# At message CLOSE_AFTER, drop the connection without a close frame instead.
DROP = sys.argv[7] == "drop"
# The code of the close at message CLOSE_AFTER.
CLOSE_CODE = int(sys.argv[8])
received = 0

def save():
    # Written whole, then renamed: a reader never sees half a number.
    with open(os.path.join(DIR, "received.tmp"), "w") as f:
        f.write(str(received))
    os.replace(os.path.join(DIR, "received.tmp"), os.path.join(DIR, "received"))

async def handler(ws):
    global received
    with open(os.path.join(DIR, "handshakes.log"), "a") as f:
        f.write(ws.request.path + "\n")
    with open(os.path.join(DIR, "traceparents.log"), "a") as f:
        f.write(ws.request.headers.get("traceparent", "-") + "\n")
    n = 0
    try:
        async for message in ws:
            received += 1
            n += 1
            if CLOSE_AFTER and n == CLOSE_AFTER:
                if DROP:
                    ws.transport.abort()
                else:
                    await ws.close(CLOSE_CODE, "enough")
                break
            if MODE == "count":
                continue
            if MODE == "json":
                await ws.send(json.dumps({"echo": message, "n": n, "path": ws.request.path}))
            else:
                await ws.send(message)
    except Exception:
        pass  # a client that leaves without a closing handshake
    finally:
        # The client's close code: 1006 when it left without a close frame.
        with open(os.path.join(DIR, "closes.log"), "a") as f:
            f.write(f"{ws.close_code}\n")
        save()

async def main():
    context = None
    if TLS:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(DIR, "server.pem"), os.path.join(DIR, "server.key"))
    subprotocols = ["chat"] if MODE == "json" else None
    pings = {"ping_interval": PING, "ping_timeout": PING} if PING else {}
    async with serve(handler, "127.0.0.1", PORT, ssl=context, subprotocols=subprotocols, **pings):
        save()
        await asyncio.get_running_loop().create_future()

asyncio.run(main())
"#;

/// What a [`WsEcho`] does with the messages it receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WsMode {
    /// Send each one back.
    #[default]
    Echo,
    /// Count it only.
    Count,
    /// Answer `{"echo": message, "n": its number on the connection, "path": the
    /// handshake's path}`; the handshake must ask for the `chat` subprotocol (else
    /// it is refused with 400).
    Json,
}

/// How a [`WsEcho`] runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct WsOptions {
    pub mode: WsMode,
    /// Close each connection with code `close_code`, instead of answering, when its
    /// message number this many arrives (0: never).
    pub close_after: u32,
    /// The code of the close at `close_after` (0: 4000).
    pub close_code: u16,
    /// With `close_after`: drop the connection there, without a close frame.
    pub drop: bool,
    /// Serve `wss://` with a certificate signed by a CA ([`WsEcho::ca_path`]).
    pub tls: bool,
    /// Ping each connection this often, closing it (code 1011) when a pong takes as
    /// long (`None`: every 20 s, the library's default).
    pub ping: Option<Duration>,
}

/// A running server; stopped on drop.
pub struct WsEcho {
    dir: TempDir,
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    tls: bool,
}

impl WsEcho {
    /// Start an echo server; panics with its output if it cannot, and with what to
    /// run if the `websockets` library is missing.
    pub fn start() -> WsEcho {
        WsEcho::start_with(WsOptions::default())
    }

    /// Start a server of `options`.
    pub fn start_with(options: WsOptions) -> WsEcho {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let script = dir.path().join("echo.py");
        std::fs::write(&script, SERVER).expect("write echo.py");
        if options.tls {
            crate::nginx::write_certificates(dir.path());
        }
        let port = free_port();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
        let mode = match options.mode {
            WsMode::Echo => "echo",
            WsMode::Count => "count",
            WsMode::Json => "json",
        };
        let mut child = Command::new(interpreter())
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path())
            .arg(mode)
            .arg(options.close_after.to_string())
            .arg(if options.tls { "tls" } else { "plain" })
            .arg(options.ping.map_or(0.0, |d| d.as_secs_f64()).to_string())
            .arg(if options.drop { "drop" } else { "close" })
            .arg(match options.close_code {
                0 => "4000".to_owned(),
                code => code.to_string(),
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start the WebSocket echo server");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                stop(&mut child);
                if log.contains("No module named") {
                    panic!(
                        "the Python `websockets` library is not installed: run \
                         scripts/test.sh, which installs it\n{log}"
                    );
                }
                panic!("the WebSocket echo server did not start:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        WsEcho {
            dir,
            child,
            port,
            tls: options.tls,
        }
    }

    /// Its URL for `path`: `ws://` or `wss://` (the certificate is for `127.0.0.1`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// The CA certificate to trust (`tls` only).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The paths of the handshakes it accepted, in order.
    pub fn handshakes(&self) -> Vec<String> {
        let text = crate::harness::settled(&self.dir.path().join("handshakes.log"));
        text.lines().map(str::to_owned).collect()
    }

    /// The `traceparent` header of each handshake it accepted (`-` without one), in
    /// order.
    pub fn handshake_traceparents(&self) -> Vec<String> {
        let text = crate::harness::settled(&self.dir.path().join("traceparents.log"));
        text.lines().map(str::to_owned).collect()
    }

    /// The close code of each connection whose handler has ended, in order: the
    /// client's close frame's, `1006` for a connection left without one.
    pub fn close_codes(&self) -> Vec<String> {
        let text = crate::harness::settled(&self.dir.path().join("closes.log"));
        text.lines().map(str::to_owned).collect()
    }

    /// The messages it received, once every connection's handler has ended (each
    /// writes the count as it ends: after kaioken exits, the last one's is the total).
    pub fn received(&self) -> u64 {
        let text = crate::harness::settled(&self.dir.path().join("received"));
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("the server's count is not a number: {text:?}"))
    }

    /// What the server wrote to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for WsEcho {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
