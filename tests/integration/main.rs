//! kaioken's integration tests: one binary, a module per area (STYLE.md §7).
//!
//! Every test runs the real `kaioken` binary through [`harness::Test`], with
//! `--no-tui`, `NO_COLOR=1` and `RUST_BACKTRACE=0`, except the live view's, which run
//! it in a tmux pane ([`live`]). Traffic never leaves loopback:
//! the targets are nginx ([`nginx::Nginx`]) for what a real server does, Caddy
//! ([`caddy::Caddy`]) for HTTP/3, tinyproxy and microsocks ([`proxies`]) for
//! proxies, httpbin
//! ([`httpbin::Httpbin`]) for what a real application does (echoes, cookies,
//! redirects), and small in-process servers ([`servers`]) for what a real server will
//! not do on demand. Streaming outputs ([`outputs`]) go to the real systems that
//! receive them: Prometheus ([`prometheus::Prometheus`]), InfluxDB
//! ([`influx::Influx`]) and an OTLP receiver ([`otlp::OtlpReceiver`]).
//!
//! The suite runs on Unix (Linux in CI): it signals the binary and starts servers
//! installed from Debian packages. On Windows it compiles to nothing, so that
//! `cargo check --all-targets` for Windows checks the rest.
#![cfg(unix)]

mod caddy;
mod client;
#[path = "../../cli/src/commit.rs"]
mod commit;
mod grpc;
mod harness;
mod httpbin;
mod influx;
mod nginx;
mod otlp;
mod prometheus;
mod proxies;
mod servers;
mod websocket;

mod anatomy;
mod auth;
mod chaining;
mod checks;
mod ci_templates;
mod cli;
mod compare;
mod compressed;
mod counts;
mod data;
mod diagnostics;
mod docs;
mod examples;
mod exec;
mod faults;
mod har;
mod http3;
mod httpbin_scenarios;
mod injection;
mod live;
mod load_models;
mod manifests;
mod merge;
mod mtls;
mod multipart;
mod network;
mod openapi;
mod origins;
mod outputs;
mod postman;
mod protocols_chain;
mod proxy;
mod redaction;
mod redirects;
mod reports;
mod scenarios;
mod schema;
mod scripts;
mod segments;
mod signals;
mod thresholds;
mod trace;
mod verbose;
mod ws;
