//! InfluxDB 1.x (`influxd`) on loopback, started per test: the system
//! `-o influxdb=http://…/DBNAME` writes to over the v1 `/write` API.
//!
//! [`Influx::start`] writes a configuration into a temporary directory (meta, data
//! and WAL directories there too, usage reporting off, every listener but HTTP off),
//! binds its HTTP API and its RPC address to free ports on 127.0.0.1, and waits
//! until `/ping` answers. With [`Auth`], authentication is on and an admin user is
//! created (the one request InfluxDB allows before any user exists). Dropping the
//! value stops it. [`Influx::query`] runs InfluxQL through `/query` and reads back
//! the first value.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::client;
use crate::nginx::free_port;

/// The influxd binary; `INFLUXD` overrides it.
fn influxd_binary() -> PathBuf {
    std::env::var_os("INFLUXD").map_or_else(|| PathBuf::from("influxd"), PathBuf::from)
}

/// An admin user, for a server with authentication on.
#[derive(Debug, Clone, Copy)]
pub struct Auth {
    pub user: &'static str,
    pub password: &'static str,
}

/// A running influxd; stopped on drop.
pub struct Influx {
    dir: TempDir,
    child: Child,
    port: u16,
    auth: Option<Auth>,
}

impl Influx {
    /// Start influxd, with authentication when `auth` is given; panics with its log
    /// if it cannot start.
    pub fn start(auth: Option<Auth>) -> Influx {
        let mut last_error = String::new();
        // Ports picked by binding :0 and closing can be taken before influxd binds
        // them; then it exits, and we try others.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("create a temporary directory");
            let (port, rpc_port) = (free_port(), free_port());
            let conf = dir.path().join("influxdb.conf");
            std::fs::write(&conf, config(dir.path(), port, rpc_port, auth.is_some()))
                .expect("write influxdb.conf");
            let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
            let child = Command::new(influxd_binary())
                .arg("-config")
                .arg(&conf)
                .env("HOME", dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(stderr))
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {} ({e}); install influxdb (scripts/test.sh does)",
                        influxd_binary().display()
                    )
                });
            let mut influx = Influx {
                dir,
                child,
                port,
                auth: None,
            };
            match influx.wait_ready() {
                Ok(()) => {
                    if let Some(a) = auth {
                        let q = format!(
                            "CREATE USER \"{}\" WITH PASSWORD '{}' WITH ALL PRIVILEGES",
                            a.user, a.password
                        );
                        influx.execute(&q).unwrap_or_else(|e| {
                            panic!("create the admin user: {e}\n{}", influx.logs())
                        });
                        influx.auth = auth;
                    }
                    return influx;
                }
                Err(e) => {
                    stop(&mut influx.child);
                    last_error = format!("{e}\n{}", influx.logs());
                }
            }
        }
        panic!("influxd did not start:\n{last_error}");
    }

    /// `127.0.0.1:PORT`, where its HTTP API listens.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `CREATE DATABASE name`.
    pub fn create_database(&self, name: &str) {
        self.execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("create database {name}: {e}\n{}", self.logs()));
    }

    /// Write line protocol into `db` (millisecond timestamps) with the admin's
    /// credentials, if any.
    pub fn write(&self, db: &str, lines: &str) -> Result<(), String> {
        let mut params = vec![("db", db), ("precision", "ms")];
        self.credentials(&mut params);
        let path = format!("/write?{}", client::query_string(&params));
        let response = client::post(&self.addr(), &path, &[], lines.as_bytes())?;
        if response.status == 204 {
            Ok(())
        } else {
            Err(format!(
                "{path}: status {}: {}",
                response.status, response.body
            ))
        }
    }

    /// Run an InfluxQL query in `db` as the admin (if any): the first value of the
    /// first series (the first column after `time`), `None` when there is no series.
    pub fn query(&self, db: &str, q: &str) -> Result<Option<f64>, String> {
        self.query_as(db, q, self.auth.map(|a| (a.user, a.password)))
    }

    /// The same, as `user`/`password`, or without credentials.
    pub fn query_as(
        &self,
        db: &str,
        q: &str,
        credentials: Option<(&str, &str)>,
    ) -> Result<Option<f64>, String> {
        let mut params = vec![("db", db), ("q", q)];
        if let Some((u, p)) = credentials {
            params.extend([("u", u), ("p", p)]);
        }
        let json = self.get_query(&params)?;
        let series = &json["results"][0]["series"];
        let Some(first) = series.as_array().and_then(|s| s.first()) else {
            return Ok(None);
        };
        let columns = first["columns"].as_array().cloned().unwrap_or_default();
        let column = columns
            .iter()
            .position(|c| c != "time")
            .ok_or_else(|| format!("{q}: no column but time in {json}"))?;
        let value = &first["values"][0][column];
        value
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{q}: the first value {value} is not a number in {json}"))
    }

    /// A statement that changes something (`CREATE …`), through `POST /query`.
    fn execute(&self, q: &str) -> Result<(), String> {
        let mut params = vec![("q", q)];
        self.credentials(&mut params);
        let path = format!("/query?{}", client::query_string(&params));
        let response = client::post(&self.addr(), &path, &[], b"")?;
        let json = parse_results(&path, &response)?;
        match json["results"][0]["error"].as_str() {
            Some(e) => Err(format!("{q}: {e}")),
            None => Ok(()),
        }
    }

    fn get_query(&self, params: &[(&str, &str)]) -> Result<Value, String> {
        let path = format!("/query?{}", client::query_string(params));
        let response = client::get(&self.addr(), &path, &[])?;
        let json = parse_results(&path, &response)?;
        if let Some(e) = json["results"][0]["error"].as_str() {
            return Err(e.to_owned());
        }
        Ok(json)
    }

    fn credentials<'a>(&'a self, params: &mut Vec<(&'a str, &'a str)>) {
        if let Some(a) = &self.auth {
            params.extend([("u", a.user), ("p", a.password)]);
        }
    }

    /// Its configuration and log, for failure messages.
    pub fn logs(&self) -> String {
        logs(self.dir.path())
    }

    /// Wait until it has bound its HTTP port and `/ping` answers 204.
    fn wait_ready(&mut self) -> Result<(), String> {
        let (log, addr) = (self.dir.path().join("stderr.log"), self.addr());
        crate::harness::wait_ready(&mut self.child, "influxd", || {
            // Its own log says it listens there: another influxd that got the same
            // port first would answer `/ping` too.
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Listening on HTTP"))
                && client::get(&addr, "/ping", &[]).is_ok_and(|r| r.status == 204)
        })
    }
}

impl Drop for Influx {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A `/query` answer: JSON, with an HTTP error (401 and the like) as `Err` with its
/// message.
fn parse_results(path: &str, response: &client::Response) -> Result<Value, String> {
    let json: Value = serde_json::from_str(&response.body).map_err(|e| {
        format!(
            "{path}: status {}, not JSON ({e}): {}",
            response.status, response.body
        )
    })?;
    if response.status != 200 {
        let message = json["error"].as_str().unwrap_or(&response.body);
        return Err(format!("status {}: {message}", response.status));
    }
    Ok(json)
}

/// Stop influxd: SIGTERM (it closes its stores and exits), then SIGKILL.
fn stop(child: &mut Child) {
    crate::harness::stop_child(child, libc::SIGTERM);
}

fn logs(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!(
        "--- influxdb.conf\n{}--- influxd log\n{}---",
        read("influxdb.conf"),
        read("stderr.log")
    )
}

fn config(dir: &Path, port: u16, rpc_port: u16, auth: bool) -> String {
    let d = dir.display();
    format!(
        r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{d}/meta"

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  auth-enabled = {auth}
  log-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
"#
    )
}

/// The harness itself: points written through the HTTP API are summed back by a
/// query; a server with authentication refuses a wrong password with the message
/// kaioken's report is expected to pass on, and a missing database is an error too.
#[test]
fn influx_harness_writes_and_queries() {
    let influx = Influx::start(None);
    influx.create_database("harness");
    influx
        .write(
            "harness",
            "probe,kind=a count=1i 1000\nprobe,kind=b count=2i 2000\nprobe,kind=a count=3i 3000\n",
        )
        .unwrap();
    let q = "SELECT sum(\"count\") FROM probe";
    assert_eq!(
        influx.query("harness", q),
        Ok(Some(6.0)),
        "{}",
        influx.logs()
    );
    assert_eq!(
        influx.query(
            "harness",
            "SELECT sum(\"count\") FROM probe WHERE \"kind\" = 'a'"
        ),
        Ok(Some(4.0))
    );
    assert_eq!(
        influx.query("harness", "SELECT sum(\"count\") FROM absent"),
        Ok(None)
    );
    // InfluxDB may close the connection as it answers a write it refuses unread,
    // and the reset can reach the client before the answer: ask again then.
    let missing = (0..5)
        .map(|_| influx.write("nope", "probe count=1i 1000\n").unwrap_err())
        .find(|e| !e.contains("reset by peer"))
        .expect("InfluxDB answered one of five writes");
    assert!(
        missing.contains("404") && missing.contains("database not found"),
        "{missing}"
    );

    let auth = Auth {
        user: "admin",
        password: "s3cret",
    };
    let secured = Influx::start(Some(auth));
    secured.create_database("harness");
    secured.write("harness", "probe count=5i 1000\n").unwrap();
    assert_eq!(secured.query("harness", q), Ok(Some(5.0)));
    let refused = secured
        .query_as("harness", q, Some(("admin", "wrong")))
        .unwrap_err();
    assert!(
        refused.contains("401") && refused.contains("authorization failed"),
        "{refused}"
    );
}
