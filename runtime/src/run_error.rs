//! Why a run could not start or finish. Failures of requests are never errors: they
//! are counted in the run's statistics.

use std::fmt;

use kaioken_vm::InvalidProgram;

/// A run that could not start, or could not finish.
#[derive(Debug)]
pub enum RunError {
    /// The TLS configuration could not be built (an unusable `--cacert`).
    Tls(String),
    /// Where to connect cannot be known: a `--connect-to` name that does not
    /// resolve.
    Network(String),
    /// A worker thread could not be started.
    Thread(std::io::Error),
    /// A worker thread panicked: a bug.
    WorkerPanicked,
    /// The program broke one of the invariants the engines rely on: a compiler bug.
    InvalidProgram(InvalidProgram),
    /// The run needs more open files than the limit allows, even raised to the hard
    /// limit.
    FileLimit {
        /// The soft `RLIMIT_NOFILE` in force (raised as far as allowed).
        limit: u64,
        /// The hard limit.
        hard: u64,
        /// About how many the run needs.
        needed: u64,
        /// The VUs asked for.
        vus: u32,
    },
}

impl RunError {
    /// Whether this is kaioken's own fault (a bug to report), not the environment's.
    pub fn is_internal(&self) -> bool {
        matches!(self, RunError::WorkerPanicked | RunError::InvalidProgram(_))
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Tls(message) | RunError::Network(message) => f.write_str(message),
            RunError::Thread(e) => write!(f, "cannot start a worker thread: {e}"),
            RunError::WorkerPanicked => f.write_str("a worker thread panicked"),
            RunError::InvalidProgram(e) => write!(f, "{e}"),
            RunError::FileLimit {
                limit,
                hard,
                needed,
                vus,
            } => {
                write!(
                    f,
                    "{vus} VUs need about {needed} open files (a connection each, and some \
                     of kaioken's own), but this process may open {limit} (`ulimit -n`)"
                )?;
                if hard <= limit {
                    write!(
                        f,
                        ", its hard limit; raise the hard limit as root (`ulimit -Hn {needed}`, \
                         `LimitNOFILE=` for a systemd service, or `nofile` in \
                         /etc/security/limits.conf)"
                    )?;
                } else {
                    write!(f, "; raise it with `ulimit -n {needed}`")?;
                }
                f.write_str(", or run fewer VUs")
            }
        }
    }
}

impl std::error::Error for RunError {}
