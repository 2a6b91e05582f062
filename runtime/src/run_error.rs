//! Why a run could not start or finish. Failures of requests are never errors: they
//! are counted in the run's statistics.

use std::fmt;

use kaioken_vm::InvalidProgram;

/// A run that could not start, or could not finish.
#[derive(Debug)]
pub enum RunError {
    /// The TLS configuration could not be built (an unusable `--cacert`).
    Tls(String),
    /// A worker thread could not be started.
    Thread(std::io::Error),
    /// A worker thread panicked: a bug.
    WorkerPanicked,
    /// The program broke one of the invariants the engines rely on: a compiler bug.
    InvalidProgram(InvalidProgram),
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
            RunError::Tls(message) => f.write_str(message),
            RunError::Thread(e) => write!(f, "cannot start a worker thread: {e}"),
            RunError::WorkerPanicked => f.write_str("a worker thread panicked"),
            RunError::InvalidProgram(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RunError {}
