//! kaioken's JSON run reports read back: the schema id `run` writes and `compare`
//! requires, the latency histogram's wire form, and the comparison of reports with
//! the statistics of run-to-run noise (`kaioken compare`).
//!
//! It sits after the run, beside the binary's report writer: the `kaioken` binary
//! (`cli/`) writes reports with [`hdr::encode`] and [`SCHEMA`], and reads them back
//! here for `compare`, `merge`, the summary and the HTML report. It depends on the
//! compiler (threshold judging) but not on the runtime or any I/O, so the fuzz
//! targets in `fuzz/` feed it report text without building the engines.

pub mod comparison;
pub mod hdr;
pub mod noise;

/// The JSON report's schema id, bumped on any change of meaning: `run` writes it,
/// `compare` requires it.
pub const SCHEMA: &str = "kaioken.run/v1";
