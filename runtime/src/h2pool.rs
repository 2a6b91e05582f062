//! `--h2-streams N`: HTTP/2 connections shared by the VUs of a worker thread, N VUs to
//! a connection, each request on its own stream (h2load's `-m`).
//!
//! The HTTP/2 and gRPC drivers (http2.rs, grpc.rs) each keep a connection per origin
//! slot (h2own.rs's `Conns`); with sharing, a driver [`join`]s a group when it is
//! made (in the order drivers are made on the thread) and takes its group's
//! connection to one of the program's origins from here, or makes it while the
//! group waits. Origins a redirect leads to stay each VU's own.

use crate::h2own::Shared;

/// A worker thread's shared connections, by group of VUs and origin.
/// The tokio engine runs a worker's VUs on its own thread, so a thread-local pool is
/// shared by exactly that worker's VUs, without a lock. One VU of a group makes a connection
/// while the others wait for it, so a group opens one, not one per VU at the start.
#[derive(Default)]
struct Pool {
    /// Drivers made on this thread so far: the next one joins group `made / N`.
    made: usize,
    /// By group, then by origin slot.
    groups: Vec<Vec<Entry>>,
}

/// A group's connection to one origin.
#[derive(Default)]
enum Entry {
    #[default]
    None,
    /// A VU of the group is making it; the others wait to be told.
    Connecting(std::rc::Rc<tokio::sync::Notify>),
    Ready(Shared),
}

thread_local! {
    /// By [`Kind`].
    static POOLS: std::cell::RefCell<[Pool; 2]> = std::cell::RefCell::default();
}

/// Which drivers share a pool: each kind groups its own VUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Http2 = 0,
    Grpc = 1,
}

/// A driver's place in its pool: its group, when VUs share connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    kind: Kind,
    group: usize,
}

/// The group a new driver of `kind` joins when VUs share connections `streams` to
/// one; `None` when each VU has its own.
pub(crate) fn join(kind: Kind, streams: u32) -> Option<Member> {
    (streams > 1).then(|| {
        POOLS.with_borrow_mut(|pools| {
            let pool = &mut pools[kind as usize];
            let group = pool.made / streams as usize;
            pool.made += 1;
            Member { kind, group }
        })
    })
}

/// Run `f` on the member's group's entry for origin `slot`, made if missing.
fn with_entry<T>(m: Member, slot: usize, f: impl FnOnce(&mut Entry) -> T) -> T {
    let group = m.group;
    POOLS.with_borrow_mut(|pools| {
        let pool = &mut pools[m.kind as usize];
        if pool.groups.len() <= group {
            pool.groups.resize_with(group + 1, Vec::new);
        }
        let slots = &mut pool.groups[group];
        if slots.len() <= slot {
            slots.resize_with(slot + 1, Entry::default);
        }
        f(&mut slots[slot])
    })
}

/// The group's live connection to origin `slot`, waiting while another VU makes
/// it; `Err(claim)` when this VU is to make it (and offer it with [`Claim::share`]).
/// One the server closed or is closing takes no new stream, and is made again.
pub(crate) async fn shared(m: Member, slot: usize) -> Result<Shared, Claim> {
    loop {
        let wait = with_entry(m, slot, |entry| match entry {
            Entry::Ready(conn) if conn.borrow().usable() => Ok(Ok(conn.clone())),
            Entry::Connecting(notify) => Err(notify.clone()),
            _ => {
                *entry = Entry::Connecting(std::rc::Rc::default());
                Ok(Err(Claim::new(m, slot)))
            }
        });
        match wait {
            Ok(found) => return found,
            // Made before the claimant can finish (no await in between), so its
            // `notify_waiters` is not missed.
            Err(notify) => notify.notified().await,
        }
    }
}

/// A VU's claim to make its group's connection to one origin. Dropped unshared (the
/// connect failed or timed out), it frees the entry and wakes the group to try again.
pub(crate) struct Claim {
    member: Member,
    slot: usize,
    done: bool,
}

impl Claim {
    fn new(member: Member, slot: usize) -> Claim {
        Claim {
            member,
            slot,
            done: false,
        }
    }

    /// Offer `conn` to the group and wake the VUs waiting for it.
    pub(crate) fn share(mut self, conn: Shared) {
        self.done = true;
        self.settle(Entry::Ready(conn));
    }

    fn settle(&self, new: Entry) {
        let old = with_entry(self.member, self.slot, |entry| {
            std::mem::replace(entry, new)
        });
        if let Entry::Connecting(notify) = old {
            notify.notify_waiters();
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.done {
            self.settle(Entry::None);
        }
    }
}
