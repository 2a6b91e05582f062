//! Which statuses a step expects: an answer with any other is a failed request, counted
//! beside transport errors (as k6's `expected_statuses` does). The compiler builds the
//! set from `expected_status`/`--expect-status`; the engines test each final response
//! against its step's set with one bit lookup.

use std::fmt;

use crate::Status;

/// The HTTP codes a set can hold: 100 to 999.
const HTTP_MIN: u16 = 100;
/// See [`HTTP_MIN`].
const HTTP_MAX: u16 = 999;
/// Bits for codes 0..=999.
const WORDS: usize = (HTTP_MAX as usize + 1).div_ceil(64);

/// A set of expected HTTP status codes. Other protocols' statuses are expected when
/// they say all went well: gRPC `OK` (0), WebSocket normal closure (1000).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ExpectedStatus {
    bits: [u64; WORDS],
}

impl Default for ExpectedStatus {
    /// 200 to 399: success and redirection, as k6 and browsers see it.
    fn default() -> ExpectedStatus {
        let mut set = ExpectedStatus::none();
        set.insert_range(200, 399);
        set
    }
}

impl ExpectedStatus {
    /// The empty set (every response fails).
    pub fn none() -> ExpectedStatus {
        ExpectedStatus { bits: [0; WORDS] }
    }

    /// Every code from 100 to 999: no response fails for its status.
    pub fn any() -> ExpectedStatus {
        let mut set = ExpectedStatus::none();
        set.insert_range(HTTP_MIN, HTTP_MAX);
        set
    }

    /// Add the codes `lo..=hi` (clamped to 100–999).
    pub fn insert_range(&mut self, lo: u16, hi: u16) {
        let (lo, hi) = (lo.max(HTTP_MIN), hi.min(HTTP_MAX));
        if lo > hi {
            return;
        }
        // A word at a time: every step of a recording builds the default set.
        for word in lo / 64..=hi / 64 {
            let first = if word == lo / 64 { lo % 64 } else { 0 };
            let last = if word == hi / 64 { hi % 64 } else { 63 };
            let ones = u64::MAX >> (63 - (last - first));
            self.bits[usize::from(word)] |= ones << first;
        }
    }

    /// Whether an answer with `status` is expected.
    #[inline]
    pub fn admits(&self, status: Status) -> bool {
        match status {
            Status::Http(code) => {
                code <= HTTP_MAX && self.bits[usize::from(code / 64)] & (1 << (code % 64)) != 0
            }
            Status::Grpc(code) => code == 0,
            Status::Ws(code) => code == 1000,
        }
    }

    /// The set's HTTP codes as inclusive ranges, in order.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for code in HTTP_MIN..=HTTP_MAX {
            if !self.admits(Status::Http(code)) {
                continue;
            }
            match out.last_mut() {
                Some((_, hi)) if *hi + 1 == code => *hi = code,
                _ => out.push((code, code)),
            }
        }
        out
    }

    /// Parse a list as `expected_status` and `--expect-status` write it: codes
    /// (`404`), ranges (`200-299`) and classes (`2xx`), separated by commas.
    pub fn parse(text: &str) -> Result<ExpectedStatus, String> {
        let mut set = ExpectedStatus::none();
        let code = |s: &str| -> Result<u16, String> {
            match s.parse::<u16>() {
                Ok(c) if (HTTP_MIN..=HTTP_MAX).contains(&c) => Ok(c),
                _ => Err(format!("`{s}` is not a status code from 100 to 999")),
            }
        };
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                return Err("empty item: write codes (404), ranges (200-299) or classes (2xx), separated by commas".into());
            }
            let (lo, hi) =
                if let Some(class) = item.strip_suffix("xx").or_else(|| item.strip_suffix("XX")) {
                    match class.parse::<u16>() {
                        Ok(c @ 1..=9) if class.len() == 1 => (c * 100, c * 100 + 99),
                        _ => return Err(format!("`{item}` is not a status class such as 2xx")),
                    }
                } else if let Some((lo, hi)) = item.split_once('-') {
                    let (lo, hi) = (code(lo.trim())?, code(hi.trim())?);
                    if lo > hi {
                        return Err(format!(
                            "the range `{item}` is empty: write the lower code first"
                        ));
                    }
                    (lo, hi)
                } else {
                    let c = code(item)?;
                    (c, c)
                };
            set.insert_range(lo, hi);
        }
        Ok(set)
    }
}

/// As written: `200-399`, `200-299,404`.
impl fmt::Display for ExpectedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges = self.ranges();
        if ranges.is_empty() {
            return f.write_str("none");
        }
        for (i, (lo, hi)) in ranges.into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ExpectedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExpectedStatus({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_success_and_redirection() {
        let set = ExpectedStatus::default();
        assert_eq!(set.to_string(), "200-399");
        assert!(set.admits(Status::Http(200)));
        assert!(set.admits(Status::Http(399)));
        assert!(!set.admits(Status::Http(199)));
        assert!(!set.admits(Status::Http(404)));
        assert!(!set.admits(Status::Http(500)));
        assert!(set.admits(Status::Grpc(0)));
        assert!(!set.admits(Status::Grpc(14)));
        assert!(set.admits(Status::Ws(1000)));
        assert!(!set.admits(Status::Ws(1011)));
    }

    #[test]
    fn a_range_holds_exactly_its_codes() {
        // Ranges within a word, across one boundary or several, on a boundary, one
        // code, and reaching past the codes a set can hold.
        for (lo, hi) in [
            (200, 299),
            (100, 999),
            (127, 128),
            (128, 191),
            (130, 900),
            (404, 404),
            (0, 150),
            (950, 1200),
            (500, 400),
        ] {
            let mut set = ExpectedStatus::none();
            set.insert_range(lo, hi);
            for code in 0..1100 {
                let want = (lo.max(HTTP_MIN)..=hi.min(HTTP_MAX)).contains(&code);
                assert_eq!(set.admits(Status::Http(code)), want, "{lo}-{hi}: {code}");
            }
        }
    }

    #[test]
    fn parses_codes_ranges_and_classes() {
        let set = ExpectedStatus::parse("2xx, 404,301-302").unwrap();
        assert_eq!(set.to_string(), "200-299,301-302,404");
        assert!(set.admits(Status::Http(404)));
        assert!(!set.admits(Status::Http(300)));
        assert_eq!(
            ExpectedStatus::parse("100-999").unwrap(),
            ExpectedStatus::any()
        );
        assert_eq!(
            ExpectedStatus::parse("200-399").unwrap(),
            ExpectedStatus::default()
        );
    }

    #[test]
    fn refuses_what_is_not_a_status() {
        for (text, message) in [
            ("", "empty item"),
            ("200,", "empty item"),
            ("abc", "`abc` is not a status code from 100 to 999"),
            ("99", "`99` is not a status code from 100 to 999"),
            ("1000", "`1000` is not a status code from 100 to 999"),
            ("299-200", "the range `299-200` is empty"),
            ("20xx", "`20xx` is not a status class such as 2xx"),
            ("0xx", "`0xx` is not a status class such as 2xx"),
        ] {
            let err = ExpectedStatus::parse(text).unwrap_err();
            assert!(err.starts_with(message), "{text:?}: {err}");
        }
    }

    #[test]
    fn codes_past_999_are_never_expected() {
        assert!(!ExpectedStatus::any().admits(Status::Http(1000)));
        assert!(!ExpectedStatus::any().admits(Status::Http(u16::MAX)));
    }
}
