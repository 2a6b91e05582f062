use std::time::{SystemTime, UNIX_EPOCH};

/// What the VM asks of the world outside it. The runtime passes a real one; tests pass
/// a fixed one, so the VM stays deterministic and I/O-free.
pub trait Host {
    /// Unix time in milliseconds, for `${TIMESTAMP_MS}`.
    fn unix_ms(&mut self) -> u64;
}

/// The host backed by the system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemHost;

impl Host for SystemHost {
    fn unix_ms(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}
