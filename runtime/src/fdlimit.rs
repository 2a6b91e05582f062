//! File descriptors, checked before a run starts (controller.rs's `run`).
//!
//! Every VU keeps a connection, a file descriptor, per origin it talks to. At start
//! the soft `RLIMIT_NOFILE` is raised to the hard limit (what any process may do for
//! itself: the common soft default of 1024 is far below what a few thousand VUs
//! need); if the run still cannot fit, it is refused before anything is sent, with
//! the numbers and how to raise the limit, instead of failing request after request
//! with `EMFILE`. What a run still hits (other processes, an estimate too low) is
//! handled per request: the VU backs off (backoff.rs).

use crate::RunError;

/// Descriptors kaioken uses besides connections: standard streams, the report file,
/// the runtime's own (an io_uring ring, or epoll and a wake-up descriptor) per worker
/// thread, and some to spare.
fn overhead(threads: usize) -> u64 {
    32 + 4 * threads as u64
}

/// Raise the soft limit on open files to the hard limit, then check that `vus` VUs
/// with a connection to each of `origins` origins fit under it.
///
/// # Errors
///
/// [`RunError::FileLimit`] when they do not.
pub(crate) fn raise_and_check(vus: u32, origins: usize, threads: usize) -> Result<(), RunError> {
    let needed = u64::from(vus) * origins.max(1) as u64 + overhead(threads);
    let Some((soft, hard)) = raise() else {
        // The limit cannot be read: nothing to judge by; EMFILE, if it comes, is
        // handled per request.
        return Ok(());
    };
    if needed <= soft {
        return Ok(());
    }
    Err(RunError::FileLimit {
        limit: soft,
        hard,
        needed,
        vus,
    })
}

/// Raise the soft limit to the hard one; the limits in force then, or `None` if they
/// cannot be read. An unlimited hard limit is capped by the kernel's `nr_open`, so
/// the soft one goes as high as that allows.
#[cfg(unix)]
fn raise() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes the struct it is given, which lives on this stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let mut raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above; `setrlimit` only reads the struct.
        let mut ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0;
        if !ok && lim.rlim_max == libc::RLIM_INFINITY {
            raised.rlim_cur = nr_open().unwrap_or(1 << 20);
            // SAFETY: as above.
            ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0;
        }
        if ok {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    Some((lim.rlim_cur, lim.rlim_max))
}

/// Windows has no per-process limit on sockets like `RLIMIT_NOFILE`: nothing to
/// raise or judge by.
#[cfg(not(unix))]
fn raise() -> Option<(u64, u64)> {
    None
}

/// The kernel's ceiling on a process's open files.
#[cfg(unix)]
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_fits_passes_and_one_that_cannot_is_refused() {
        assert!(raise_and_check(10, 1, 2).is_ok());
        // Raised already: the soft limit is the hard one now.
        let (soft, hard) = raise().expect("the limit is readable");
        assert!(soft == hard || hard == libc::RLIM_INFINITY, "{soft} {hard}");
        let too_many = u32::try_from(soft).unwrap_or(u32::MAX);
        match raise_and_check(too_many, 2, 2) {
            Err(RunError::FileLimit {
                limit, needed, vus, ..
            }) => {
                assert_eq!((limit, vus), (soft, too_many));
                assert_eq!(needed, 2 * u64::from(too_many) + 40);
            }
            other => panic!("{other:?}"),
        }
    }
}
