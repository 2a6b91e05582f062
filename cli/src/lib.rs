//! The parts of the `kaioken` command-line tool that are worth testing without it:
//! reading and comparing JSON reports, with the statistics of run-to-run noise
//! (`kaioken compare`). The binary (`main.rs`) uses them as any other library; the
//! fuzz targets in `fuzz/` feed them report text.

pub mod comparison;
pub mod hdr;
pub mod noise;

/// The JSON report's schema id, bumped on any change of meaning: `run` writes it,
/// `compare` requires it.
pub const SCHEMA: &str = "kaioken.run/v1";
