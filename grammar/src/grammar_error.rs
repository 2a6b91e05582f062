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
    /// A duration longer than [`MAX_DURATION`](crate::MAX_DURATION).
    DurationTooLong,
    /// A check expression that does not parse.
    BadCheck {
        /// What could have come at the error's position.
        expected: String,
    },
    /// A check subject that does not exist (`latency` instead of `duration`).
    UnknownSubject {
        /// The name as written.
        found: String,
    },
    /// A predicate that does not fit its subject (`status contains "x"`).
    CheckType {
        /// What is wrong, with the fix.
        problem: String,
    },
    /// An extractor spec that is not `json:`, `regex:`, `header:` or `body`.
    BadExtractor,
    /// A threshold that is not an operator and a number.
    BadThreshold,
}

impl GrammarError {
    /// A short suggestion for fixing the error, where there is one.
    pub fn help(&self) -> Option<&'static str> {
        match &self.kind {
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
            GrammarErrorKind::DurationTooLong => {
                Some("a run, a stage, a timeout or a time in a check is at most `2400h`")
            }
            GrammarErrorKind::BadCheck { .. } => Some(
                r#"write checks like `status == 200`, `status in [200, 201]` or `body contains "ok"`"#,
            ),
            GrammarErrorKind::UnknownSubject { .. } => {
                Some(r#"checks read `status`, `body`, `duration` or `header("name")`"#)
            }
            GrammarErrorKind::CheckType { .. } => None,
            GrammarErrorKind::BadExtractor => {
                Some(r"write `json:$.path`, `regex:name=(\w+)`, `header:Name` or `body`")
            }
            GrammarErrorKind::BadThreshold => Some(
                "write an operator and a number, e.g. `< 200ms`, `> 0.95` or `<= 1%`; a time's unit is `us`, `ms`, `s`, `m` or `h`",
            ),
        }
    }
}

/// [`MAX_DURATION`](crate::MAX_DURATION) as messages name it: `2400h (100 days)`.
pub fn max_duration() -> String {
    let max = crate::MAX_DURATION;
    format!(
        "{} ({} days)",
        crate::format_duration(max),
        max.as_secs() / 86_400
    )
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            GrammarErrorKind::UnterminatedVariable => {
                write!(f, "unterminated variable: `${{` has no closing `}}`")
            }
            GrammarErrorKind::BadVariableName => write!(f, "invalid variable name"),
            GrammarErrorKind::BadDuration => write!(f, "invalid duration"),
            GrammarErrorKind::DurationWithoutUnit => write!(f, "duration has no unit"),
            GrammarErrorKind::DurationTooLong => {
                write!(f, "duration is longer than the maximum, {}", max_duration())
            }
            GrammarErrorKind::BadCheck { expected } => {
                write!(f, "invalid check: expected {expected}")
            }
            GrammarErrorKind::UnknownSubject { found } => {
                write!(
                    f,
                    "check `{found}` is not a response field; expected one of `status`, `body`, `header`, `duration`"
                )
            }
            GrammarErrorKind::CheckType { problem } => write!(f, "invalid check: {problem}"),
            GrammarErrorKind::BadExtractor => write!(f, "invalid extractor"),
            GrammarErrorKind::BadThreshold => write!(f, "invalid threshold"),
        }
    }
}

impl std::error::Error for GrammarError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help is a `&'static str`: it must name the same maximum as the constant.
    #[test]
    fn the_maximum_is_named_as_it_is() {
        assert_eq!(max_duration(), "2400h (100 days)");
        let e = GrammarError {
            span: Span::new(0, 1),
            kind: GrammarErrorKind::DurationTooLong,
        };
        assert!(e.help().unwrap().ends_with("`2400h`"));
        assert_eq!(
            e.to_string(),
            "duration is longer than the maximum, 2400h (100 days)"
        );
    }
}
