//! A WebSocket echo server (the Python `websockets` library) on loopback, for the
//! WebSocket handshakes a replayed recording makes. It logs the path of every
//! handshake it accepted, so a test can compare kaioken's counts with the server's.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::httpbin::{interpreter, stop};
use crate::nginx::free_port;

const SERVER: &str = r#"
import asyncio, sys
from websockets.asyncio.server import serve

LOG = sys.argv[2]

async def echo(ws):
    with open(LOG, "a") as f:
        f.write(ws.request.path + "\n")
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass  # a client that leaves without a closing handshake

async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1])):
        await asyncio.get_running_loop().create_future()

asyncio.run(main())
"#;

/// A running echo server; stopped on drop.
pub struct WsEcho {
    dir: TempDir,
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl WsEcho {
    /// Start the server; panics with its output if it cannot, and with what to run if
    /// the `websockets` library is missing.
    pub fn start() -> WsEcho {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let script = dir.path().join("echo.py");
        std::fs::write(&script, SERVER).expect("write echo.py");
        let port = free_port();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
        let mut child = Command::new(interpreter())
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path().join("handshakes.log"))
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
        WsEcho { dir, child, port }
    }

    /// The paths of the handshakes it accepted, in order.
    pub fn handshakes(&self) -> Vec<String> {
        // The server writes a line as each handshake completes; give the last ones a
        // moment to land.
        let path: PathBuf = self.dir.path().join("handshakes.log");
        let mut last = None;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = std::fs::read_to_string(&path).unwrap_or_default();
            if last.as_ref() == Some(&now) {
                return now.lines().map(str::to_owned).collect();
            }
            last = Some(now);
        }
    }
}

impl Drop for WsEcho {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
