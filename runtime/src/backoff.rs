//! Per-VU back-off after a failed connect, for both engines (worker.rs's
//! `TokioVu::send`, uring.rs's parked VUs).
//!
//! A refused connection fails in microseconds: a VU that tried again at once made tens
//! of thousands of "requests" a second against a dead target, and out of file
//! descriptors (`EMFILE`) it spun without end while the VUs that still had a
//! connection starved. After a connect fails the VU waits — [`FIRST`], doubling with
//! each failure in a row up to [`CAP`] — and only a new connection made resets the
//! wait (a response on a connection kept from before says nothing about connecting:
//! a VU whose redirect leads to an origin it cannot connect to must not try it again
//! at once after each response from the first). Every failed attempt still counts as
//! an error; there are just far fewer per second.

use std::time::Duration;

use crate::ErrorKind;

/// The wait after a first failed connect.
pub(crate) const FIRST: Duration = Duration::from_millis(10);
/// The longest wait: a target that comes back is used again within it.
pub(crate) const CAP: Duration = Duration::from_millis(250);

/// One VU's back-off state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// After a request that failed with `error` (`None`: it did not fail) and did or
    /// did not make a new connection (`connected`): how long the VU waits before its
    /// next request, if at all.
    pub fn after(&mut self, error: Option<ErrorKind>, connected: bool) -> Option<Duration> {
        if error.is_some_and(failed_to_connect) {
            let wait = self.next;
            self.next = (self.next * 2).min(CAP);
            return Some(wait);
        }
        if connected {
            self.next = FIRST;
        }
        None
    }
}

/// Whether `kind` means no connection was made: nothing listens, the address or name
/// is unusable, or no socket could be had (`EMFILE`, `ENFILE`).
pub(crate) fn failed_to_connect(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectRefused | ErrorKind::Connect | ErrorKind::Dns
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets_on_a_connection() {
        let mut b = Backoff::default();
        let refused = Some(ErrorKind::ConnectRefused);
        let waits: Vec<u64> = (0..8)
            .map(|_| b.after(refused, false).unwrap().as_millis() as u64)
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 250, 250, 250]);
        // A response on a connection kept from before changes nothing.
        assert_eq!(b.after(None, false), None);
        assert_eq!(b.after(refused, false), Some(CAP));
        // A connection made (a response, or a failure after connecting) resets it.
        assert_eq!(b.after(Some(ErrorKind::Timeout), true), None);
        assert_eq!(b.after(refused, false), Some(FIRST));
        assert_eq!(b.after(None, true), None);
        assert_eq!(b.after(Some(ErrorKind::Dns), false), Some(FIRST));
    }
}
