//! A VU's request timer on the tokio engine: the one timer every exchange of
//! that VU runs under, moved to each request's deadline in place of a new
//! `tokio::time::timeout` per request.
//!
//! [`Drivers`](crate::driver::Drivers) owns one, sets it for each request from
//! the request's start (the clock read once for both) and lends it to the
//! driver that performs the request (driver.rs); the driver runs its exchange
//! [`within`](Armed::within) it and judges a [`TimedOut`] its
//! own way (a dropped connection, a gRPC call's deadline status, ...).
//!
//! Why one timer: a new timer registers in the runtime's timer wheel on its
//! first poll and leaves it when dropped, two trips through the wheel's lock
//! per request. Moving a registered timer to a later deadline is one atomic
//! compare-and-swap: the wheel finds the entry's new deadline when the old one
//! comes round, and files it again then, about once per timeout for a busy VU.
//! A request's deadline is never earlier than the last one's (the timeout is
//! the run's, the starts only move on). A timer that went off (a timeout, or a
//! VU idle past its last deadline, whose task it wakes once for nothing) is
//! registered afresh by the next request, through the lock.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::coop;
use tokio::time::{Instant, Sleep};

/// As far as a deadline goes: a timeout too long to add to the clock waits
/// this long (tokio's `sleep` caps its delays at the same span).
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// One VU's request timer; made on the first request (it needs the runtime).
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
}

/// The exchange did not end within its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedOut;

impl Deadline {
    /// The timer, set to go off `limit` after `start` (the request's start, as
    /// its VU read the clock for it).
    pub(crate) fn arm(&mut self, start: Instant, limit: Duration) -> Armed<'_> {
        let at = start + limit.min(FAR);
        if let Some(sleep) = &mut self.sleep {
            sleep.as_mut().reset(at);
        }
        Armed((self.sleep).get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at))))
    }
}

/// A VU's timer set for one request ([`Deadline::arm`]), for its driver to run
/// the exchange under.
pub(crate) struct Armed<'a>(&'a mut Pin<Box<Sleep>>);

impl<'a> Armed<'a> {
    /// Run the exchange `make` makes until it ends or the timer goes off,
    /// whichever is first; the exchange is polled first, so one that is ready as
    /// the timer goes off ends.
    ///
    /// The exchange's future is large, and moving it costs a copy of its whole
    /// size per request: so this is not an `async fn` (which would move it into
    /// its arguments, then into a pinned local), and the exchange is made where
    /// it will run, inlined.
    #[inline(always)]
    pub(crate) fn within<F: Future>(self, make: impl FnOnce() -> F) -> Within<'a, F> {
        Within {
            exchange: make(),
            sleep: self.0,
        }
    }
}

pin_project_lite::pin_project! {
    /// An exchange under its deadline ([`Armed::within`]).
    pub(crate) struct Within<'a, F> {
        #[pin]
        exchange: F,
        sleep: &'a mut Pin<Box<Sleep>>,
    }
}

impl<F: Future> Future for Within<'_, F> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let had_budget = coop::has_budget_remaining();
        if let Poll::Ready(out) = this.exchange.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        // An exchange that spent the task's budget must not keep its limit from
        // being seen: the timer is asked outside the budget then, as tokio's
        // `timeout` does.
        let sleep = this.sleep.as_mut();
        let expired = if had_budget && !coop::has_budget_remaining() {
            pin!(coop::unconstrained(sleep)).poll(cx)
        } else {
            sleep.poll(cx)
        };
        expired.map(|()| Err(TimedOut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `work` as a request of `deadline` with `limit`, on paused time: what
    /// it came to, and how long it took.
    fn request<F: Future + 'static>(
        deadline: &mut Deadline,
        limit: Duration,
        work: F,
    ) -> impl Future<Output = (Result<F::Output, TimedOut>, Duration)> + '_ {
        let start = Instant::now();
        let within = deadline.arm(start, limit).within(|| work);
        async move { (within.await, start.elapsed()) }
    }

    fn sleep(ms: u64) -> tokio::time::Sleep {
        tokio::time::sleep(Duration::from_millis(ms))
    }

    fn on_paused_time(test: impl Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(test);
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn an_exchange_that_ends_first_is_its_own_result() {
        on_paused_time(async {
            let mut deadline = Deadline::default();
            for i in 0..3 {
                let (out, _) = request(&mut deadline, SECOND, async move { i }).await;
                assert_eq!(out, Ok(i));
            }
        });
    }

    #[test]
    fn a_slow_exchange_times_out_at_its_limit_and_the_timer_serves_again() {
        on_paused_time(async {
            let mut deadline = Deadline::default();
            let out = request(&mut deadline, 2 * SECOND, sleep(5000)).await;
            assert_eq!(out, (Err(TimedOut), 2 * SECOND));
            // After firing, the same timer measures the next request from its own
            // start, both ways.
            let out = request(&mut deadline, 2 * SECOND, sleep(500)).await;
            assert_eq!(out, (Ok(()), Duration::from_millis(500)));
            let out = request(&mut deadline, SECOND, sleep(5000)).await;
            assert_eq!(out, (Err(TimedOut), SECOND));
        });
    }

    #[test]
    fn a_later_deadline_is_not_cut_short_by_an_earlier_one() {
        on_paused_time(async {
            let mut deadline = Deadline::default();
            // The first request waits, so the timer is in the wheel for t = 1 s.
            let out = request(&mut deadline, SECOND, sleep(100)).await;
            assert_eq!(out, (Ok(()), Duration::from_millis(100)));
            tokio::time::advance(Duration::from_millis(800)).await;
            // The next runs past t = 1 s and ends before its own limit.
            let out = request(&mut deadline, 2 * SECOND, sleep(1500)).await;
            assert_eq!(out, (Ok(()), Duration::from_millis(1500)));
        });
    }

    #[test]
    fn a_limit_too_long_for_the_clock_waits_for_the_exchange() {
        on_paused_time(async {
            let mut deadline = Deadline::default();
            let out = request(&mut deadline, Duration::MAX, sleep(3_600_000)).await;
            assert_eq!(out, (Ok(()), Duration::from_secs(3600)));
        });
    }
}
