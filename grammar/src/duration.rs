use std::time::Duration;

use pest::Parser;

use crate::parser::{KaiokenParser, Rule};
use crate::{GrammarError, GrammarErrorKind, Span};

/// The longest duration kaioken accepts anywhere (a run, a stage, a timeout, a time in
/// a check or threshold): 100 days, `2400h`. Longer is an error where it is written,
/// rather than an overflow somewhere in the run.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 24 * 60 * 60);

/// Parse a duration such as `250ms`, `30s`, `5m`, `1h30m` or `1.5s`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use kaioken_grammar::parse_duration;
///
/// assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
/// assert_eq!(parse_duration("250ms")?, Duration::from_millis(250));
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Anything that is not a sequence of `number unit` terms; a bare number gets its own
/// error kind so the message can ask for a unit. A duration longer than
/// [`MAX_DURATION`] is [`GrammarErrorKind::DurationTooLong`].
pub fn parse_duration(input: &str) -> Result<Duration, GrammarError> {
    let whole = Span::new(0, input.len());
    let pairs = KaiokenParser::parse(Rule::duration, input).map_err(|_| {
        let trimmed = input.trim();
        let kind = if !trimmed.is_empty() && trimmed.parse::<f64>().is_ok() {
            GrammarErrorKind::DurationWithoutUnit
        } else {
            GrammarErrorKind::BadDuration
        };
        GrammarError { span: whole, kind }
    })?;
    let mut total_nanos: u128 = 0;
    for term in pairs.flatten().filter(|p| p.as_rule() == Rule::term) {
        let mut inner = term.into_inner();
        let (Some(number), Some(unit)) = (inner.next(), inner.next()) else {
            continue;
        };
        let nanos_per_unit: u128 = match unit.as_str() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            _ => 3_600_000_000_000,
        };
        let overflow = || GrammarError {
            span: Span::from(number.as_span()),
            kind: GrammarErrorKind::DurationTooLong,
        };
        let text = number.as_str();
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let int: u128 = int.parse().map_err(|_| overflow())?;
        let mut nanos = int.checked_mul(nanos_per_unit).ok_or_else(overflow)?;
        // Fractions are exact in decimal: 1.5s is 1_500_000_000 ns, no float rounding.
        let mut scale = nanos_per_unit;
        for digit in frac.bytes().take(18) {
            scale /= 10;
            nanos = nanos
                .checked_add(u128::from(digit - b'0') * scale)
                .ok_or_else(overflow)?;
        }
        total_nanos = total_nanos.checked_add(nanos).ok_or_else(overflow)?;
    }
    if total_nanos > MAX_DURATION.as_nanos() {
        return Err(GrammarError {
            span: whole,
            kind: GrammarErrorKind::DurationTooLong,
        });
    }
    let secs = (total_nanos / 1_000_000_000) as u64;
    Ok(Duration::new(secs, (total_nanos % 1_000_000_000) as u32))
}

/// Format a duration the way [`parse_duration`] reads it back (`1h30m`, `250ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        if nanos >= size {
            out.push_str(&(nanos / size).to_string());
            out.push_str(unit);
            nanos %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration(" 2m30s ").unwrap(), Duration::from_secs(150));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_duration("30").unwrap_err().kind,
            GrammarErrorKind::DurationWithoutUnit
        );
        assert_eq!(
            parse_duration("thirty").unwrap_err().kind,
            GrammarErrorKind::BadDuration
        );
        assert_eq!(
            parse_duration("").unwrap_err().kind,
            GrammarErrorKind::BadDuration
        );
        assert_eq!(
            parse_duration("5 m").unwrap_err().kind,
            GrammarErrorKind::BadDuration
        );
    }

    #[test]
    fn at_most_the_maximum() {
        assert_eq!(parse_duration("2400h").unwrap(), MAX_DURATION);
        assert_eq!(
            parse_duration("100d").unwrap_err().kind,
            GrammarErrorKind::BadDuration
        );
        assert_eq!(format_duration(MAX_DURATION), "2400h");
        for (text, span) in [
            ("2400h1ns", Span::new(0, 8)),
            ("2401h", Span::new(0, 5)),
            ("18446744073709551615s", Span::new(0, 21)),
            // Each term on its own fits in a u128 of nanoseconds; their sum too.
            ("1000000h1000000h", Span::new(0, 16)),
            // A term too large for a u128 is pointed at.
            (
                "1s99999999999999999999999999999999999999999h",
                Span::new(2, 43),
            ),
        ] {
            let e = parse_duration(text).unwrap_err();
            assert_eq!(
                (e.kind, e.span),
                (GrammarErrorKind::DurationTooLong, span),
                "{text}"
            );
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["0s", "250ms", "30s", "1h30m", "1s500ms", "10us"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
