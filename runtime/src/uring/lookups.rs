//! `--dns-refresh` on the io_uring engine: names looked up again during the run,
//! off the ring's thread.
//!
//! A lookup blocks (`getaddrinfo`), and the ring's thread runs every VU of its
//! worker, so a helper thread makes it, through the same `Dial::resolve` as the
//! tokio engine's connections: the answers are the run's, shared by every worker
//! of either engine, an answer is used until it is older than the refresh, the
//! connection that looked a name up has the `dns` phase and those that waited for
//! its answer have none, and a failed lookup is a `dns` error for each of them.
//!
//! On the ring's side (uring.rs): a VU whose new connection goes to a name whose
//! answer is stale waits here (`Phase::Resolving`), the first of them asks the
//! helper, and the helper's answer wakes the ring through an eventfd whose `read`
//! is in flight while a lookup is outstanding. Its answer gives the origin its new
//! addresses and sends the waiting VUs on to connect.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types};
use socket2::SockAddr;

use crate::dial::Dial;

/// A looked-up name's answer, as the helper sends it back.
pub(super) struct Answer {
    /// The origin whose connections go to the name.
    pub origin: usize,
    /// The addresses (at least one) and, when this lookup made it (rather than
    /// finding another worker's fresh answer), how long it took; or what the
    /// resolver said.
    pub result: Result<(Vec<SockAddr>, Option<Duration>), String>,
    /// The VUs that waited for it, the one that asked first.
    pub waiting: Vec<usize>,
}

/// The helper's answer for an origin: the lookup's result and, when it gave
/// addresses, when they go stale (as `Dial` keeps them: another worker's answer
/// may be older than this lookup).
type Looked = (
    usize,
    Result<(Vec<SockAddr>, Option<Duration>), String>,
    Option<Instant>,
);

/// What the ring's thread knows of one origin's name.
struct Name {
    host: String,
    port: u16,
    /// When the answer in use goes stale (its lookup's start plus the refresh).
    until: Instant,
    /// The helper is looking it up.
    asked: bool,
    /// The VUs waiting for the lookup, in the order they came.
    waiting: Vec<usize>,
}

/// The worker's names to look up again, by origin, and its line to the helper.
pub(super) struct Lookups {
    /// By origin: `None` for one reached at an address (or a Unix socket).
    names: Vec<Option<Name>>,
    ask: Sender<(usize, String, u16)>,
    answers: Receiver<Looked>,
    /// Written by the helper after each answer; shared with it.
    wake: Arc<OwnedFd>,
    /// The count a read of `wake` puts here: the kernel writes it while
    /// `reading` (boxed, so that it never moves).
    count: Box<u64>,
    reading: bool,
}

impl Lookups {
    /// The lookups of a worker whose origins' connections go to `names` (by
    /// origin, from `Dial::refreshed`), their answers got at the start now
    /// `refresh` old at most; `None` when every origin is reached at an address.
    ///
    /// # Errors
    ///
    /// When the eventfd or the helper thread cannot be made: the worker falls back
    /// to the tokio engine before any request was sent.
    pub(super) fn new(
        dial: &Arc<Dial>,
        names: Vec<Option<(String, u16)>>,
        refresh: Duration,
    ) -> io::Result<Option<Lookups>> {
        if names.iter().all(Option::is_none) {
            return Ok(None);
        }
        // SAFETY: a plain system call; a valid descriptor is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(fd) });
        let (ask, asked) = channel::<(usize, String, u16)>();
        let (answer, answers) = channel();
        let started = Instant::now();
        let names = names
            .into_iter()
            .map(|name| {
                name.map(|(host, port)| Name {
                    // The answer `eligible` got at the start, as `Dial` keeps it.
                    until: dial.fresh_until(&host, port).unwrap_or(started + refresh),
                    host,
                    port,
                    asked: false,
                    waiting: Vec::new(),
                })
            })
            .collect();
        let dial = Arc::clone(dial);
        let woken = Arc::clone(&wake);
        // A current-thread runtime for `Dial::resolve` (its lookup runs on the
        // runtime's blocking pool). The thread ends when the worker drops `ask`.
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        std::thread::Builder::new()
            .name("kaioken-dns".into())
            .spawn(move || {
                while let Ok((origin, host, port)) = asked.recv() {
                    let mut detail = None;
                    let result = match runtime.block_on(dial.resolve(&host, port, &mut detail)) {
                        Ok((addrs, _)) if addrs.is_empty() => {
                            Err(format!("cannot resolve `{host}`: no address"))
                        }
                        Ok((addrs, took)) => {
                            Ok((addrs.into_iter().map(SockAddr::from).collect(), took))
                        }
                        Err(_) => Err(detail.unwrap_or_else(|| format!("cannot resolve `{host}`"))),
                    };
                    let until = dial.fresh_until(&host, port);
                    if answer.send((origin, result, until)).is_err() {
                        return;
                    }
                    ring_bell(&woken);
                }
            })?;
        Ok(Some(Lookups {
            names,
            ask,
            answers,
            wake,
            count: Box::new(0),
            reading: false,
        }))
    }

    /// Whether a new connection to `origin` must wait for a lookup: its name's
    /// answer is stale, or being looked up.
    pub(super) fn stale(&self, origin: usize, now: Instant) -> bool {
        self.names[origin]
            .as_ref()
            .is_some_and(|n| n.asked || now >= n.until)
    }

    /// VU `vu` waits for `origin`'s name: the helper is asked if no one has asked
    /// yet. Returns the wake-up's read to queue (tagged `data`), if none is in
    /// flight.
    pub(super) fn wait(&mut self, origin: usize, vu: usize, data: u64) -> Option<squeue::Entry> {
        let name = self.names[origin].as_mut()?;
        name.waiting.push(vu);
        if !name.asked {
            name.asked = true;
            // The helper ends only when this side drops `ask`.
            let _ = self.ask.send((origin, name.host.clone(), name.port));
        }
        self.read(data)
    }

    /// VU `vu` waits no longer (its request timed out).
    pub(super) fn forget(&mut self, origin: usize, vu: usize) {
        if let Some(name) = &mut self.names[origin] {
            name.waiting.retain(|&v| v != vu);
        }
    }

    /// The wake-up's read completed: the answers that came, each with the VUs that
    /// waited for it; and the read to queue again (tagged `data`) while lookups
    /// are still outstanding. A stale answer's name keeps its old `until` when the
    /// lookup failed, so that the next connection asks again.
    pub(super) fn woken(&mut self, data: u64) -> (Vec<Answer>, Option<squeue::Entry>) {
        self.reading = false;
        let mut answers = Vec::new();
        while let Ok((origin, result, until)) = self.answers.try_recv() {
            let Some(name) = self.names[origin].as_mut() else {
                continue;
            };
            name.asked = false;
            if result.is_ok()
                && let Some(until) = until
            {
                name.until = until;
            }
            answers.push(Answer {
                origin,
                result,
                waiting: std::mem::take(&mut name.waiting),
            });
        }
        let again = if self.names.iter().flatten().any(|n| n.asked) {
            self.read(data)
        } else {
            None
        };
        (answers, again)
    }

    /// Whether a lookup is outstanding: the ring's wait must end at its answer.
    pub(super) fn busy(&self) -> bool {
        self.reading
    }

    /// At the end of the run: a read still in flight completes now, so that
    /// nothing of the worker's is left in the kernel's hands.
    pub(super) fn end(&self) {
        if self.reading {
            ring_bell(&self.wake);
        }
    }

    fn read(&mut self, data: u64) -> Option<squeue::Entry> {
        if std::mem::replace(&mut self.reading, true) {
            return None;
        }
        let count: *mut u64 = &mut *self.count;
        Some(
            opcode::Read::new(types::Fd(self.wake.as_raw_fd()), count.cast(), 8)
                .build()
                .user_data(data),
        )
    }
}

/// Wake the ring: one more on the eventfd's count.
fn ring_bell(fd: &OwnedFd) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live buffer to an open descriptor. An eventfd
    // write fails only when its count would overflow, which a pending read's
    // count never nears.
    let _ = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
}

#[cfg(test)]
mod tests {
    use io_uring::IoUring;
    use kaioken_vm::TransportPlan;

    use super::*;

    const REFRESH: Duration = Duration::from_millis(50);

    /// Queue the wake-up's `read` (tagged 7), wait for the helper's bell, and take
    /// what came.
    fn answered(lookups: &mut Lookups, ring: &mut IoUring, read: squeue::Entry) -> Vec<Answer> {
        // SAFETY: the read's buffer is the `Lookups`' boxed count, alive until the
        // completion is reaped below.
        unsafe { ring.submission().push(&read) }.unwrap();
        ring.submit_and_wait(1).unwrap();
        let cqe = ring.completion().next().unwrap();
        assert_eq!((cqe.user_data(), cqe.result()), (7, 8));
        let (answers, again) = lookups.woken(7);
        assert!(again.is_none() && !lookups.busy());
        answers
    }

    /// A stale name is looked up once for the VUs that wait for it (the first
    /// asked), its answer wakes the ring through the eventfd's read and is fresh
    /// for the refresh; a name that does not resolve gives its waiting VUs the
    /// resolver's words and stays stale, and a VU that stopped waiting is left
    /// out. An origin reached at an address is never looked up.
    #[test]
    fn a_stale_name_is_looked_up_once_for_the_vus_waiting_for_it() {
        let plan = TransportPlan {
            dns_refresh: Some(REFRESH),
            ..TransportPlan::default()
        };
        let dial = Arc::new(Dial::new(&plan).unwrap());
        let names = vec![
            Some(("localhost".to_owned(), 80)),
            None,
            Some(("nowhere.invalid".to_owned(), 80)),
        ];
        let mut lookups = Lookups::new(&dial, names, REFRESH).unwrap().unwrap();
        let now = Instant::now();
        assert!(!lookups.stale(0, now));
        assert!(lookups.stale(0, now + 2 * REFRESH));
        assert!(!lookups.stale(1, now + 1000 * REFRESH));
        let mut ring = IoUring::new(8).unwrap();

        let read = lookups
            .wait(0, 3, 7)
            .expect("the first to wait arms the read");
        assert!(lookups.busy() && lookups.stale(0, now), "being looked up");
        assert!(lookups.wait(0, 5, 7).is_none(), "one read in flight");
        let answers = answered(&mut lookups, &mut ring, read);
        assert_eq!(answers.len(), 1);
        assert_eq!(
            (answers[0].origin, &answers[0].waiting[..]),
            (0, &[3, 5][..])
        );
        let (addrs, took) = answers[0].result.as_ref().unwrap();
        assert!(!addrs.is_empty() && took.is_some(), "{addrs:?} {took:?}");
        assert!(!lookups.stale(0, Instant::now()));

        std::thread::sleep(REFRESH);
        assert!(lookups.stale(2, Instant::now()));
        let read = lookups.wait(2, 4, 7).unwrap();
        lookups.wait(2, 6, 7);
        lookups.forget(2, 6);
        let answers = answered(&mut lookups, &mut ring, read);
        assert_eq!((answers[0].origin, &answers[0].waiting[..]), (2, &[4][..]));
        let detail = answers[0].result.as_ref().unwrap_err();
        assert!(
            detail.starts_with("cannot resolve `nowhere.invalid`"),
            "{detail}"
        );
        assert!(lookups.stale(2, Instant::now()), "a failure is not kept");
    }
}
