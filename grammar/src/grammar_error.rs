use std::fmt;

use crate::Span;

/// A string that is not a valid template or duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError {
    /// Where in the parsed string the problem is.
    pub span: Span,
    /// What the problem is.
    pub kind: GrammarErrorKind,
}

/// The kinds of [`GrammarError`]; all wording lives in the `Display` impl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrammarErrorKind {
    /// `${` with no closing `}`.
    UnterminatedVariable,
    /// `${}` or `${1abc}`.
    BadVariableName,
    /// A duration that does not match `number unit`.
    BadDuration,
    /// A duration that is only a number.
    DurationWithoutUnit,
    /// A duration too large to represent.
    DurationOverflow,
}

impl GrammarError {
    /// A short suggestion for fixing the error, where there is one.
    pub fn help(&self) -> Option<&'static str> {
        match self.kind {
            GrammarErrorKind::UnterminatedVariable => {
                Some("close the variable with `}`, or write `$${` for a literal `${`")
            }
            GrammarErrorKind::BadVariableName => {
                Some("variable names start with a letter or `_`, e.g. `${REQUEST_ID}`")
            }
            GrammarErrorKind::BadDuration => {
                Some("write a duration like `250ms`, `30s`, `5m` or `1h30m`")
            }
            GrammarErrorKind::DurationWithoutUnit => Some("add a unit, e.g. `30s` or `250ms`"),
            GrammarErrorKind::DurationOverflow => None,
        }
    }
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            GrammarErrorKind::UnterminatedVariable => {
                write!(f, "unterminated variable: `${{` has no closing `}}`")
            }
            GrammarErrorKind::BadVariableName => write!(f, "invalid variable name"),
            GrammarErrorKind::BadDuration => write!(f, "invalid duration"),
            GrammarErrorKind::DurationWithoutUnit => write!(f, "duration has no unit"),
            GrammarErrorKind::DurationOverflow => write!(f, "duration is too large"),
        }
    }
}

impl std::error::Error for GrammarError {}
