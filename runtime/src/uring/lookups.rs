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
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

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
    /// The VUs that waited for it.
    pub waiting: Vec<usize>,
    /// The one of them whose connection asked for it, if it still waits: its
    /// `dns` phase is the lookup's time.
    pub asker: Option<usize>,
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
    /// The VUs waiting for the lookup, and the one that asked for it (until it
    /// stops waiting).
    waiting: Vec<usize>,
    asker: Option<usize>,
}

/// The worker's names to look up again, by origin, and its line to the helper.
pub(super) struct Lookups {
    /// By origin: `None` for one reached at an address (or a Unix socket).
    names: Vec<Option<Name>>,
    ask: UnboundedSender<(usize, String, u16)>,
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
        let (ask, mut asked) = unbounded_channel::<(usize, String, u16)>();
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
                    asker: None,
                })
            })
            .collect();
        let dial = Arc::clone(dial);
        let woken = Arc::clone(&wake);
        // A current-thread runtime for `Dial::resolve`, each lookup a task of its
        // own (on the runtime's blocking pool), so that a slow name holds up no
        // other. The thread ends when the worker drops `ask`.
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        std::thread::Builder::new()
            .name("kaioken-dns".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some((origin, host, port)) = asked.recv().await {
                        let (dial, answer, woken) = (dial.clone(), answer.clone(), woken.clone());
                        tokio::spawn(async move {
                            let looked = look_up(&dial, origin, &host, port).await;
                            // The worker has ended when it is gone.
                            if answer.send(looked).is_ok() {
                                ring_bell(&woken);
                            }
                        });
                    }
                });
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
            name.asker = Some(vu);
            // The helper ends only when this side drops `ask`.
            let _ = self.ask.send((origin, name.host.clone(), name.port));
        }
        self.read(data)
    }

    /// VU `vu` waits no longer (its request timed out).
    pub(super) fn forget(&mut self, origin: usize, vu: usize) {
        if let Some(name) = &mut self.names[origin] {
            name.waiting.retain(|&v| v != vu);
            if name.asker == Some(vu) {
                name.asker = None;
            }
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
                asker: name.asker.take(),
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

    /// At the end of a run whose operations did not all complete: the read's
    /// count is left to the kernel, which may still write it; the rest goes (the
    /// helper ends; the kernel holds the eventfd's file while it reads it).
    pub(super) fn abandon(self) {
        std::mem::forget(self.count);
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

/// `origin`'s name looked up as the tokio engine's connections look it up, and
/// when its answer goes stale.
async fn look_up(dial: &Dial, origin: usize, host: &str, port: u16) -> Looked {
    let mut detail = None;
    let result = match dial.resolve(host, port, &mut detail).await {
        // Worded as the tokio engine's connect words it.
        Ok((addrs, _)) if addrs.is_empty() => Err(format!("`{host}` resolved to no address")),
        Ok((addrs, took)) => Ok((addrs.into_iter().map(SockAddr::from).collect(), took)),
        Err(_) => Err(detail.unwrap_or_else(|| format!("cannot resolve `{host}`"))),
    };
    (origin, result, dial.fresh_until(host, port))
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
    use std::io::{Read, Write};
    use std::net::{IpAddr, TcpListener};
    use std::sync::Mutex;

    use io_uring::IoUring;
    use kaioken_compiler::{Flags, Input, lower, plan};
    use kaioken_vm::TransportPlan;

    use super::*;
    use crate::dial::tests::ANSWERS;
    use crate::{Control, ErrorKind};

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

    /// A stale name is looked up once for the VUs that wait for it, its answer
    /// wakes the ring through the eventfd's read and is fresh for the refresh from
    /// the lookup; the VU that asked is named (its `dns` phase), and one that
    /// stopped waiting is left out, also as the asker. A name that does not
    /// resolve gives its waiting VUs the resolver's words and keeps its stale
    /// answer's age. An origin reached at an address is never looked up. (Times
    /// are asked about ahead, so that the test does not race the clock.)
    #[test]
    fn a_stale_name_is_looked_up_once_for_the_vus_waiting_for_it() {
        const REFRESH: Duration = Duration::from_secs(60);
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
        let started = Instant::now();
        let mut lookups = Lookups::new(&dial, names, REFRESH).unwrap().unwrap();
        let stale_at = started + REFRESH + Duration::from_secs(1);
        assert!(!lookups.stale(0, started) && lookups.stale(0, stale_at));
        assert!(!lookups.stale(1, started + 100 * REFRESH));
        let mut ring = IoUring::new(8).unwrap();
        std::thread::sleep(Duration::from_millis(2));

        let read = lookups
            .wait(0, 3, 7)
            .expect("the first to wait arms the read");
        assert!(
            lookups.busy() && lookups.stale(0, started),
            "being looked up"
        );
        assert!(lookups.wait(0, 5, 7).is_none(), "one read in flight");
        let answers = answered(&mut lookups, &mut ring, read);
        assert_eq!(answers.len(), 1);
        let answer = &answers[0];
        assert_eq!((answer.origin, &answer.waiting[..]), (0, &[3, 5][..]));
        assert_eq!(answer.asker, Some(3));
        let (addrs, took) = answer.result.as_ref().unwrap();
        assert!(!addrs.is_empty() && took.is_some(), "{addrs:?} {took:?}");
        // Fresh for the refresh from the lookup, not from the start.
        assert!(!lookups.stale(0, stale_at - Duration::from_secs(1)));

        let read = lookups.wait(2, 4, 7).unwrap();
        lookups.wait(2, 6, 7);
        lookups.forget(2, 4);
        let answers = answered(&mut lookups, &mut ring, read);
        let answer = &answers[0];
        assert_eq!((answer.origin, &answer.waiting[..]), (2, &[6][..]));
        assert_eq!(answer.asker, None, "the VU that asked stopped waiting");
        let detail = answer.result.as_ref().unwrap_err();
        assert!(
            detail.starts_with("cannot resolve `nowhere.invalid`"),
            "{detail}"
        );
        assert!(lookups.stale(2, stale_at), "a failure is not kept");
    }

    /// Serve one request per connection (`200 ok`, then close), noting when each
    /// connection came.
    fn serve_noting(listener: TcpListener) -> Arc<Mutex<Vec<Instant>>> {
        let came = Arc::new(Mutex::new(Vec::new()));
        let noted = Arc::clone(&came);
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(mut sock) = sock else { return };
                noted.lock().unwrap().push(Instant::now());
                let mut have = Vec::new();
                let mut buf = [0u8; 1024];
                while !have.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => have.extend_from_slice(&buf[..n]),
                    }
                }
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = sock.write_all(ok);
            }
        });
        came
    }

    /// Answer `name` with `ip`, at once (until [`change_answer`]).
    fn answer_name(name: &str, ip: &str) {
        let ip = ip.parse().unwrap();
        ANSWERS
            .lock()
            .unwrap()
            .push((name.to_owned(), ip, Duration::ZERO));
    }

    /// After `after`, change `name`'s answer (its address, how long it takes); the
    /// instant it changed.
    fn change_answer(
        after: Duration,
        name: &str,
        change: impl FnOnce(&mut IpAddr, &mut Duration) + Send + 'static,
    ) -> std::thread::JoinHandle<Instant> {
        let name = name.to_owned();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let mut answers = ANSWERS.lock().unwrap();
            let (_, ip, slow) = answers.iter_mut().find(|(n, _, _)| *n == name).unwrap();
            change(ip, slow);
            Instant::now()
        })
    }

    /// A run against `name:port`, a connection per request, with `flags`' load and
    /// `--dns-refresh refresh`.
    fn refreshing_run(name: &str, port: u16, refresh: &str, flags: Flags) -> crate::RunStats {
        let input = Input {
            flags: Flags {
                url: Some(format!("http://{name}:{port}/")),
                no_keepalive: true,
                dns_refresh: Some(refresh.into()),
                ..flags
            },
            ..Input::default()
        };
        let plan = Arc::new(plan(&lower(&input).unwrap()).unwrap());
        crate::run(&plan, 1, Arc::new(Control::new()), &mut |_| {}).unwrap()
    }

    /// A name moved during the run: once its answer is stale, every VU's next
    /// connection goes to the new address, not only those that waited for the
    /// lookup (few: it takes about a millisecond, and each VU sends every 20 ms).
    /// Eight VUs at 400 requests/s, a connection per request, answers kept 100 ms,
    /// the name moved from
    /// 127.0.0.1 to 127.0.0.2 (the same port) 300 ms into a 1.2 s run: the old
    /// address sees no connection made well after the next lookup, the new one
    /// sees many, and every request is answered, on the io_uring engine.
    #[test]
    fn a_moved_name_is_followed_by_every_vu() {
        let (old, new, port) = loop {
            let old = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = old.local_addr().unwrap().port();
            if let Ok(new) = TcpListener::bind(("127.0.0.2", port)) {
                break (old, new, port);
            }
        };
        let name = format!("moved-{port}.test");
        answer_name(&name, "127.0.0.1");
        let (olds, news) = (serve_noting(old), serve_noting(new));
        let mover = change_answer(Duration::from_millis(300), &name, |ip, _| {
            *ip = "127.0.0.2".parse().unwrap();
        });
        let load = Flags {
            vus: Some(8),
            rate: Some(400.0),
            duration: Some("1200ms".into()),
            ..Flags::default()
        };
        let stats = refreshing_run(&name, port, "100ms", load);
        let moved = mover.join().unwrap();
        assert_eq!(stats.engine.name(), "io_uring");
        let total = stats.total();
        assert_eq!(stats.counts.responses, total, "{:?}", stats.counts);
        let (olds, news) = (olds.lock().unwrap(), news.lock().unwrap());
        assert_eq!((olds.len() + news.len()) as u64, total);
        let last_old = *olds.last().unwrap();
        assert!(
            last_old < moved + Duration::from_millis(250),
            "the old address took connections {:?} after the move",
            last_old - moved
        );
        assert!(
            news.len() > 100,
            "{} connections to the new address",
            news.len()
        );
    }

    /// A lookup that does not answer: the VUs that wait for it time out at
    /// `--timeout`, each with the timeout's words (nothing is in flight for them),
    /// and the run still ends on time, leaving the lookup behind. The name answers
    /// at once for 400 ms, then takes a minute.
    #[test]
    fn vus_waiting_for_a_stuck_lookup_time_out_and_the_run_ends_on_time() {
        stuck_lookup("io_uring");
    }

    /// The same on the tokio engine.
    #[test]
    fn vus_waiting_for_a_stuck_lookup_time_out_on_tokio_too() {
        stuck_lookup("tokio");
    }

    fn stuck_lookup(engine: &str) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if engine == "tokio" {
            crate::uring::tests::ON_TOKIO.lock().unwrap().push(port);
        }
        let name = format!("stuck-{port}.test");
        answer_name(&name, "127.0.0.1");
        let served = serve_noting(listener);
        let staller = change_answer(Duration::from_millis(400), &name, |_, slow| {
            *slow = Duration::from_secs(60);
        });
        let load = Flags {
            vus: Some(4),
            rate: Some(100.0),
            duration: Some("1500ms".into()),
            timeout: Some("200ms".into()),
            ..Flags::default()
        };
        let started = Instant::now();
        let stats = refreshing_run(&name, port, "50ms", load);
        let took = started.elapsed();
        staller.join().unwrap();
        assert_eq!(stats.engine.name(), engine);
        assert!(took < Duration::from_secs(4), "the run took {took:?}");
        let timeouts = stats.counts.errors[ErrorKind::Timeout as usize];
        assert_eq!(stats.error_count(), timeouts, "{:?}", stats.counts);
        // Each VU waits 200 ms a time from 400 ms (or a stale answer's 50 ms
        // later) to 1.5 s: five times or so.
        assert!((8..=30).contains(&timeouts), "{timeouts} timeouts");
        assert_eq!(
            stats.error_details[ErrorKind::Timeout as usize].as_deref(),
            Some("no complete response within 200ms")
        );
        assert_eq!(stats.counts.responses, served.lock().unwrap().len() as u64);
        assert!(stats.counts.responses >= 20, "{:?}", stats.counts);
    }
}
