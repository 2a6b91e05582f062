//! The CLI's errors and the one place exit codes are decided.

use std::fmt;

use kaioken_compiler::CompileErrors;

/// Everything that makes kaioken exit without a (complete) run.
#[derive(Debug)]
pub enum Error {
    /// The scenario or flags are invalid.
    Compile(CompileErrors),
    /// A file could not be read or written.
    Io { path: String, message: String },
    /// The run could not start.
    Setup(String),
    /// kaioken broke one of its own rules (a compiler bug): said plainly, exit 1.
    Internal(String),
}

impl Error {
    /// The error with what `rule` calls secret hidden, as it is printed: a
    /// diagnostic's source, underline and message, any other error's message.
    pub fn redacted(self, rule: &kaioken_compiler::Redact) -> Error {
        match self {
            Error::Compile(e) => Error::Compile(e.redacted(rule)),
            Error::Io { path, message } => Error::Io {
                path: rule.text(&path),
                message: rule.text(&message),
            },
            Error::Setup(message) => Error::Setup(rule.text(&message)),
            Error::Internal(message) => Error::Internal(rule.text(&message)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Compile(e) => fmt::Display::fmt(e, f),
            Error::Io { path, message } => write!(f, "cannot access `{path}`: {message}"),
            Error::Setup(message) => f.write_str(message),
            Error::Internal(message) => write!(
                f,
                "internal error, this may indicate a bug in kaioken: {message}; please file an issue"
            ),
        }
    }
}

/// How a completed command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All good.
    Success,
    /// The run finished but too many requests failed.
    HighErrorRate,
    /// The run finished and at least one threshold failed.
    ThresholdsFailed,
    /// `compare` found a regression.
    Regression,
    /// `compare` was given runs of different load models.
    LoadModelMismatch,
    /// Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
}

/// Exit codes, decided here and nowhere else (DESIGN.md): 0 ok, 1 error, 2 usage
/// (clap's own), 3 regression (`compare`), 4 thresholds failed, 5 load-model mismatch
/// (`compare` without `--force`), 130 interrupted.
pub fn exit_code(result: &Result<Outcome, Error>) -> u8 {
    match result {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::HighErrorRate) => 1,
        Ok(Outcome::Regression) => 3,
        Ok(Outcome::ThresholdsFailed) => 4,
        Ok(Outcome::LoadModelMismatch) => 5,
        Ok(Outcome::Interrupted) => 130,
        Err(_) => 1,
    }
}
