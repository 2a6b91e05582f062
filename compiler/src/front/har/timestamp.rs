//! `startedDateTime`: an ISO 8601 / RFC 3339 date and time, to order entries and to
//! measure the pauses between them.
//!
//! Recorders write it in several ways: `2023-03-30T00:00:54.250Z` (Chrome),
//! `2023-03-29T16:58:59.303-07:00` (Firefox, Charles), `…15.216374+00:00`
//! (mitmproxy), and some without the offset's colon (`+0000`). `chrono` reads them.

use chrono::DateTime;

/// Microseconds since the Unix epoch, or `None` when `text` is not a date-time.
pub(crate) fn parse_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::parse_micros;

    #[test]
    fn recorders_formats() {
        assert_eq!(parse_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_micros("2023-03-30T00:00:54.250Z"),
            Some(1_680_134_454_250_000)
        );
        // The same instant, written with an offset.
        assert_eq!(
            parse_micros("2023-03-29T17:00:54.25-07:00"),
            parse_micros("2023-03-30T00:00:54.250Z")
        );
        assert_eq!(
            parse_micros("2023-07-25T11:03:15.216374+00:00"),
            Some(1_690_282_995_216_374)
        );
        assert_eq!(
            parse_micros("2023-07-25T11:03:15+0000"),
            Some(1_690_282_995_000_000)
        );
        assert_eq!(parse_micros("yesterday"), None);
        assert_eq!(parse_micros("2023-13-01T00:00:00Z"), None);
        assert_eq!(parse_micros("2023-01-01T00:00:00Zjunk"), None);
    }
}
