//! HTTP/2 for kaioken's clients, sans I/O: HPACK ([`hpack`]) and one
//! connection's framing and flow control ([`client`]).
//!
//! It sits under the runtime's HTTP/2 and gRPC drivers (`kaioken-runtime`,
//! `h2own.rs`), which own the socket: a closed-model VU writes its request's frames and reads
//! its response's on its own task, with no connection task or channel between
//! them, header blocks encoded straight into the write buffer and response heads
//! decoded into buffers the connection keeps. VUs that share a connection
//! (`--h2-streams`) read it in turn, each its own stream's frames; gRPC's status
//! comes in the trailers' fields. A crate of its own, with no I/O, so that the fuzz targets in
//! `fuzz/` build it alone.

pub mod client;
pub mod hpack;
mod huffman;

pub use client::{Connection, Error, Event};
