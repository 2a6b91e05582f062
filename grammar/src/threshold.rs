//! Threshold expressions: `"< 200ms"`, `"> 0.95"`, `"<= 1%"`.

use std::fmt;

use pest::Parser;

use crate::check::{CmpOp, Value, syntax_error, value};
use crate::parser::{KaiokenParser, Rule};
use crate::{GrammarError, GrammarErrorKind, Span};

/// A parsed threshold: the observed value must satisfy `op bound`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use kaioken_grammar::{parse_threshold, CmpOp, Value};
///
/// let t = parse_threshold("< 200ms")?;
/// assert_eq!((t.op, t.bound), (CmpOp::Lt, Value::Time(Duration::from_millis(200))));
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The comparison.
    pub op: CmpOp,
    /// The bound: a number, a time or a percentage (never text).
    pub bound: Value,
}

/// Parse a threshold expression.
///
/// # Errors
///
/// Anything but an operator followed by a number with an optional unit.
pub fn parse_threshold(input: &str) -> Result<Threshold, GrammarError> {
    let mut pairs = KaiokenParser::parse(Rule::threshold, input).map_err(|e| {
        let mut err = syntax_error(input, &e);
        err.kind = GrammarErrorKind::BadThreshold;
        err
    })?;
    let whole = Span::new(0, input.len());
    let bad = || GrammarError {
        span: whole,
        kind: GrammarErrorKind::BadThreshold,
    };
    let mut inner = pairs.next().ok_or_else(bad)?.into_inner();
    let op = CmpOp::from_text(inner.next().ok_or_else(bad)?.as_str());
    let bound = value(inner.next().ok_or_else(bad)?)?;
    Ok(Threshold { op, bound })
}

impl Threshold {
    /// Whether `observed` passes. Times and percentages are compared in their own
    /// unit: `observed` is seconds for a time bound and a fraction for a percentage.
    pub fn passes(&self, observed: f64) -> bool {
        let bound = match self.bound {
            Value::Number(n) | Value::Percent(n) => n,
            Value::Time(d) => d.as_secs_f64(),
            Value::Text(_) | Value::Code(_) => return false,
        };
        self.op.test(observed, bound)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.bound)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse_threshold("> 0.95").unwrap(),
            Threshold {
                op: CmpOp::Gt,
                bound: Value::Number(0.95)
            }
        );
        assert_eq!(
            parse_threshold("<=1%").unwrap(),
            Threshold {
                op: CmpOp::Le,
                bound: Value::Percent(0.01)
            }
        );
        assert_eq!(
            parse_threshold(" < 1.5s ").unwrap(),
            Threshold {
                op: CmpOp::Lt,
                bound: Value::Time(Duration::from_millis(1500))
            }
        );
        for text in [
            "< 200ms", "> 0.95", "<= 1%", ">= 1000", "< 1s", "< 2m", "< 1h", "< 250us",
        ] {
            assert_eq!(parse_threshold(text).unwrap().to_string(), text);
        }
        // A time is written in the largest unit that writes it whole.
        for (text, shown) in [
            ("< 1000ms", "< 1s"),
            ("< 90s", "< 90s"),
            ("< 120s", "< 2m"),
            ("< 1.5m", "< 90s"),
            ("< 0s", "< 0ms"),
        ] {
            assert_eq!(parse_threshold(text).unwrap().to_string(), shown, "{text}");
        }
    }

    #[test]
    fn passes() {
        assert!(parse_threshold("< 200ms").unwrap().passes(0.150));
        assert!(!parse_threshold("< 200ms").unwrap().passes(0.250));
        assert!(parse_threshold("<= 1%").unwrap().passes(0.01));
        assert!(parse_threshold("> 0.95").unwrap().passes(0.99));
    }

    #[test]
    fn errors() {
        for bad in ["200ms", "< fast", "", "<< 3", "< \"x\"", "< 200 parsecs"] {
            assert_eq!(
                parse_threshold(bad).unwrap_err().kind,
                GrammarErrorKind::BadThreshold,
                "{bad}"
            );
        }
    }

    #[test]
    fn times_are_at_most_the_maximum() {
        for text in ["< 2400h", "< 144000m", "< 8640000s"] {
            assert_eq!(
                parse_threshold(text).unwrap().bound,
                Value::Time(crate::MAX_DURATION),
                "{text}"
            );
        }
        assert_eq!(
            parse_threshold("< 2401h").unwrap_err().kind,
            GrammarErrorKind::DurationTooLong
        );
        let e = parse_threshold("< 18446744073709551615s").unwrap_err();
        assert_eq!(
            (e.kind, e.span),
            (GrammarErrorKind::DurationTooLong, Span::new(2, 23))
        );
    }
}
