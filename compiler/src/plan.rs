//! `plan`: IR → the [`RunPlan`] the runtime carries out: the compiled program, the
//! load plan, and the transport settings with the files they name read in. The cli
//! hands it to the runtime as it is.

use std::fmt;
use std::path::PathBuf;

use kaioken_vm::{InvalidProgram, RunPlan, TransportPlan};

use crate::{Ir, compile};

/// Why a run plan could not be made.
#[derive(Debug)]
pub enum PlanError {
    /// The compiler broke one of its own rules (a bug).
    Invalid(InvalidProgram),
    /// The `cacert`, `cert` or `key` file could not be read, or no longer holds
    /// what it held when it was checked.
    Cacert {
        /// The file, as given.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Invalid(e) => write!(f, "{e}"),
            PlanError::Cacert { path, message } => {
                write!(f, "cannot read `{}`: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for PlanError {}

/// Compile `ir` and gather everything its run needs.
///
/// # Errors
///
/// An unreadable `cacert` file, or a compiler bug ([`compile`]'s error).
pub fn plan(ir: &Ir) -> Result<RunPlan, PlanError> {
    let program = compile(ir).map_err(PlanError::Invalid)?;
    let s = &ir.settings;
    let cacert_pem = match &s.cacert {
        Some(path) => {
            let cacert = |message: String| PlanError::Cacert {
                path: path.clone(),
                message,
            };
            // Its certificates were checked when it was lowered (located there).
            let pem = std::fs::read(path).map_err(|e| cacert(e.to_string()))?;
            Some(pem)
        }
        None => None,
    };
    let client_cert = match &s.cert {
        Some(cert) => {
            let read = |path: &PathBuf| {
                std::fs::read(path).map_err(|e| PlanError::Cacert {
                    path: path.clone(),
                    message: e.to_string(),
                })
            };
            // Checked when lowered: a chain, and the key of its first certificate.
            let cert_pem = read(cert)?;
            let key_pem = match &s.key {
                Some(key) => read(key)?,
                None => cert_pem.clone(),
            };
            Some(kaioken_vm::ClientCert { cert_pem, key_pem })
        }
        None => None,
    };
    Ok(RunPlan {
        program,
        load: ir.load.clone(),
        transport: TransportPlan {
            timeout: s.timeout,
            insecure: s.insecure,
            cacert_pem,
            client_cert,
            cookie_jar: s.cookie_jar,
            max_redirects: s.max_redirects,
            compressed: s.compressed,
            keepalive: s.keepalive,
            h2_streams: s.h2_streams,
            connect_to: s.connect_to.clone(),
            dns_refresh: s.dns_refresh,
            unix_socket: s.unix_socket.clone(),
            proxy: s.proxy.clone(),
            verbose: None,
            trace_sample: s.trace_sample,
        },
        // Set by the command line: the plan is the whole run's.
        segment: None,
    })
}
