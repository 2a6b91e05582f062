//! What may go on the wire: the bytes a request target and a header value can carry.
//!
//! Where it sits: the compiler checks fixed text with it (a URL's path, a header's
//! literal value, environment variables folded in) and encodes an environment
//! variable folded into a URL with [`push_target_encoded`], the VM encodes values
//! extracted at run time into a URL with it too (`buf.sloturl`), and the
//! runtime checks every header value built at run time with [`header_value_fault`]
//! before a request is written, on every engine and protocol. A value a response
//! handed back is never spliced raw into the request line or a header: a line break
//! in it would end the line and start a header (or a request) of the server's
//! choosing.

use std::fmt;

/// What a request target (path and query) cannot carry as it is: controls, space,
/// DEL, and the ASCII characters RFC 3986 allows nowhere in a URI (`"`, `<`, `>`,
/// `\`, `^`, `` ` ``, `{`, `|`, `}`), plus `#`, which would start a fragment.
/// Bytes above 0x7f are always encoded. Every other character (`/`, `?`, `&`, `=`,
/// `+`, `%`, …) is left alone, so a value can carry a path or a query of its own,
/// and one already percent-encoded is not encoded twice.
const REQUEST_TARGET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Append `bytes` to a request target, percent-encoding what a target cannot carry
/// (see the set above). Allocates nothing beyond `out`'s growth.
///
/// # Example
///
/// ```
/// let mut path = b"/search?q=".to_vec();
/// kaioken_vm::push_target_encoded(&mut path, "a b\r\nX: 1/é".as_bytes());
/// assert_eq!(path, b"/search?q=a%20b%0D%0AX:%201/%C3%A9");
/// ```
pub fn push_target_encoded(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in percent_encoding::percent_encode(bytes, REQUEST_TARGET) {
        out.extend_from_slice(chunk.as_bytes());
    }
}

/// Whether a request target can carry `byte` as it is.
pub fn target_allows(byte: u8) -> bool {
    byte.is_ascii_graphic() && !b"\"#<>\\^`{|}".contains(&byte)
}

/// The first byte of a header value that no header may carry, if any: a control
/// character other than horizontal tab (CR, LF and NUL among them), or DEL
/// (RFC 9110's `field-value`; bytes above 0x7f, `obs-text`, pass). The same bytes
/// `http::HeaderValue` refuses, so the HTTP/1.1 and HTTP/2 paths agree.
///
/// # Example
///
/// ```
/// use kaioken_vm::{header_value_fault, HeaderFault};
///
/// assert_eq!(header_value_fault(b"Bearer abc\tdef"), None);
/// let fault = header_value_fault(b"abc\r\nX-Injected: 1").unwrap();
/// assert_eq!(fault, HeaderFault { at: 3, byte: b'\r' });
/// assert_eq!(fault.to_string(), "a carriage return (0x0d) at byte 3");
/// ```
pub fn header_value_fault(value: &[u8]) -> Option<HeaderFault> {
    value
        .iter()
        .position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        .map(|at| HeaderFault {
            at,
            byte: value[at],
        })
}

/// A byte a header value cannot carry, and where it is. Its `Display` names the
/// byte and its offset, never the value (which may be a credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderFault {
    /// Its offset in the value.
    pub at: usize,
    /// The byte.
    pub byte: u8,
}

impl HeaderFault {
    /// What the byte is, in words: `a line feed (0x0a)`.
    pub fn byte_name(&self) -> String {
        let name = match self.byte {
            b'\r' => "a carriage return",
            b'\n' => "a line feed",
            0 => "a NUL byte",
            0x7f => "a DEL byte",
            _ => "a control byte",
        };
        format!("{name} (0x{:02x})", self.byte)
    }
}

impl fmt::Display for HeaderFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.byte_name(), self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        push_target_encoded(&mut out, bytes);
        String::from_utf8(out).expect("percent-encoding gives ASCII")
    }

    #[test]
    fn a_request_target_gets_no_line_break_space_or_non_ascii() {
        assert_eq!(encoded(b"abc\r\nX-Injected: 1"), "abc%0D%0AX-Injected:%201");
        assert_eq!(encoded(b"a b\x00\x7f\t"), "a%20b%00%7F%09");
        assert_eq!(encoded("naïve".as_bytes()), "na%C3%AFve");
        assert_eq!(encoded(b"\"<>\\^`{|}#"), "%22%3C%3E%5C%5E%60%7B%7C%7D%23");
        // What a path or query may hold stays as it is, `%` included.
        let kept = "/a/b?c=d&e=f+g;h,i:j@k!l$m'n(o)p*q~r_s.t-u%20";
        assert_eq!(encoded(kept.as_bytes()), kept);
    }

    #[test]
    fn target_allows_exactly_what_is_not_encoded() {
        for b in 0..=u8::MAX {
            assert_eq!(target_allows(b), encoded(&[b]).len() == 1, "byte {b:#04x}");
        }
    }

    #[test]
    fn header_values_refuse_controls_but_tab() {
        for b in 0..=u8::MAX {
            let refused = header_value_fault(&[b'a', b]).is_some();
            let control = b < 0x20 && b != b'\t' || b == 0x7f;
            assert_eq!(refused, control, "byte {b:#04x}");
            assert_eq!(refused, !field_value(b), "byte {b:#04x}: RFC 9110");
        }
        let fault = header_value_fault(b"ok\x00").expect("NUL");
        assert_eq!(fault.to_string(), "a NUL byte (0x00) at byte 2");
        let fault = header_value_fault(b"\x1b[31m").expect("ESC");
        assert_eq!(fault.to_string(), "a control byte (0x1b) at byte 0");
        assert_eq!(header_value_fault("caf\u{e9}".as_bytes()), None);
    }

    /// RFC 9110's `field-vchar / SP / HTAB / obs-text`, spelled as the grammar has it.
    fn field_value(b: u8) -> bool {
        b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80
    }
}
