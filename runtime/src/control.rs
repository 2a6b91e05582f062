use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use tokio::sync::watch;

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    /// The duration ran out.
    Duration = 1,
    /// `max_requests` were sent.
    MaxRequests = 2,
    /// Ctrl-C, SIGTERM, SIGHUP, or `q` in the live view.
    Interrupted = 3,
    /// Every VU finished by itself (not reached in the closed model today).
    Completed = 4,
    /// A `sequential` data source that does not wrap ran out of rows.
    DataExhausted = 5,
}

impl StopReason {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Duration => "duration",
            StopReason::MaxRequests => "max_requests",
            StopReason::Interrupted => "interrupted",
            StopReason::Completed => "completed",
            StopReason::DataExhausted => "data_exhausted",
        }
    }
}

/// Stopping a run from anywhere: the deadline, the request budget, or a signal.
///
/// Two stages: `stop` asks VUs to send nothing new and lets requests in flight finish
/// (so counts match what the server saw); `hard_stop` abandons whatever is still in
/// flight. VUs poll the atomic flag between requests, which costs one relaxed load;
/// tasks that sleep (rate limit, ramp-up) wait on the watch channel instead.
#[derive(Debug)]
pub struct Control {
    stopping: AtomicBool,
    /// Set with the watch's level 2, so engines polling it take no lock.
    hard: AtomicBool,
    reason: AtomicU8,
    /// Interruptions so far (see [`Control::interrupt`]).
    interrupts: AtomicU32,
    state: watch::Sender<u8>,
}

impl Default for Control {
    fn default() -> Control {
        Control {
            stopping: AtomicBool::new(false),
            hard: AtomicBool::new(false),
            reason: AtomicU8::new(0),
            interrupts: AtomicU32::new(0),
            state: watch::Sender::new(0),
        }
    }
}

impl Control {
    /// A run that is going.
    pub fn new() -> Control {
        Control::default()
    }

    /// Ask the run to stop; the first reason given wins.
    pub fn stop(&self, reason: StopReason) {
        let _ = self
            .reason
            .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        if self.stopping.swap(true, Ordering::AcqRel) {
            // Asked already (the deadline is seen by every VU): the watch has it.
            return;
        }
        self.state.send_if_modified(|s| {
            let changed = *s < 1;
            *s = (*s).max(1);
            changed
        });
    }

    /// How many times the run was interrupted so far (signals, `q`): a change tells
    /// a wait after the run (a metrics linger) that the user wants out.
    pub fn interrupts(&self) -> u32 {
        self.interrupts.load(Ordering::Acquire)
    }

    /// The user interrupts the run (a signal, or `q` in the live view), from wherever:
    /// the first interruption stops it and lets requests in flight finish, any
    /// further one abandons them.
    pub fn interrupt(&self) {
        if self.interrupts.fetch_add(1, Ordering::AcqRel) == 0 {
            self.stop(StopReason::Interrupted);
        } else {
            self.hard_stop();
        }
    }

    /// Abandon requests in flight.
    pub fn hard_stop(&self) {
        self.stop(StopReason::Interrupted);
        self.hard.store(true, Ordering::Release);
        self.state.send_replace(2);
    }

    /// Whether a stop was asked for.
    #[inline(always)]
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Whether a hard stop was asked for.
    #[inline(always)]
    pub fn is_hard_stopped(&self) -> bool {
        self.hard.load(Ordering::Relaxed)
    }

    /// The reason given first, if any.
    pub fn reason(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::Acquire) {
            1 => Some(StopReason::Duration),
            2 => Some(StopReason::MaxRequests),
            3 => Some(StopReason::Interrupted),
            4 => Some(StopReason::Completed),
            5 => Some(StopReason::DataExhausted),
            _ => None,
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u8> {
        self.state.subscribe()
    }
}

/// Wait until the state reaches `level` (1 = stopping, 2 = hard stop).
pub(crate) async fn reached(rx: &mut watch::Receiver<u8>, level: u8) {
    if rx.wait_for(|s| *s >= level).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Interruptions escalate wherever they come from (a signal, then `q`): the first
    /// stops the run gently, the next abandons what is in flight. One that comes after
    /// the run was stopping for another reason still lets requests finish first.
    #[test]
    fn interruptions_escalate() {
        let c = Control::new();
        c.interrupt();
        assert!(c.is_stopping() && !c.is_hard_stopped());
        assert_eq!(c.reason(), Some(StopReason::Interrupted));
        c.interrupt();
        assert!(c.is_hard_stopped());

        let c = Control::new();
        c.stop(StopReason::Duration);
        c.interrupt();
        assert!(!c.is_hard_stopped());
        assert_eq!(c.reason(), Some(StopReason::Duration));
        c.interrupt();
        assert!(c.is_hard_stopped());
    }
}
