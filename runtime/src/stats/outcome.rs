//! What one request came to: a response with its status and size, or the kind of
//! failure. Drivers and engines produce it; [`WorkerStats::record`] counts it and the
//! VU machine hands it to the VM to judge.
//!
//! [`WorkerStats::record`]: super::WorkerStats::record

use kaioken_vm::Status;

use crate::ErrorKind;

/// What one request came to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// A complete response.
    Response { status: Status, bytes_in: u64 },
    /// No complete response.
    Error(ErrorKind),
}

impl Outcome {
    /// The outcome of a driver's exchange (status and bytes read, or why there is no
    /// response) run under the request's timeout.
    pub(crate) fn of_exchange(
        result: Result<Result<(u16, u64), ErrorKind>, crate::deadline::TimedOut>,
    ) -> Outcome {
        match result {
            Ok(Ok((status, bytes_in))) => Outcome::Response {
                status: Status::Http(status),
                bytes_in,
            },
            Ok(Err(kind)) => Outcome::Error(kind),
            Err(_) => Outcome::Error(ErrorKind::Timeout),
        }
    }
}
