//! HTTP/2 for kaioken's clients, sans I/O: HPACK ([`hpack`]) and one
//! connection's framing and flow control, one stream at a time ([`client`]).
//!
//! It sits under the runtime's HTTP/2 driver (`kaioken-runtime`, `h2own.rs`),
//! which owns the socket: the closed model's VU writes its request's frames and
//! reads its response's on its own task, with no connection task or channel
//! between them, header blocks encoded straight into the write buffer and
//! response heads decoded into buffers the connection keeps. VUs that share connections (`--h2-streams`) and gRPC use
//! the `h2` crate. A crate of its own, with no I/O, so that the fuzz targets in
//! `fuzz/` build it alone.

pub mod client;
pub mod hpack;
mod huffman;

pub use client::{Connection, Error, Event};
