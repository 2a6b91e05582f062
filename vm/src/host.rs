use std::time::{SystemTime, UNIX_EPOCH};

use crate::{CheckId, ExtractorId};

/// What the VM asks of the world outside it, and tells it. The runtime passes one that
/// reads the clock and counts judgements into its statistics; tests pass a fixed one,
/// so the VM stays deterministic and I/O-free.
pub trait Host {
    /// Unix time in milliseconds, for `${TIMESTAMP_MS}`.
    fn unix_ms(&mut self) -> u64;
    /// A `check` instruction judged the last outcome.
    fn checked(&mut self, check: CheckId, passed: bool);
    /// An `extract` instruction ran on the last outcome; `found` is whether it set its
    /// variable.
    fn extracted(&mut self, x: ExtractorId, found: bool);
}

/// The wall-clock time in Unix milliseconds, for hosts backed by the system clock.
pub fn system_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The host backed by the system clock, for programs that are not judged (or whose
/// judgements nobody counts): checks and extractions are dropped.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemHost;

impl Host for SystemHost {
    fn unix_ms(&mut self) -> u64 {
        system_unix_ms()
    }
    fn checked(&mut self, _: CheckId, _: bool) {}
    fn extracted(&mut self, _: ExtractorId, _: bool) {}
}
