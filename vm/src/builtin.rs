use std::fmt;

/// A built-in variable, computed at run time by the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum Builtin {
    /// `${REQUEST_ID}`: `<vu>-<n>`, unique within a run; the same within one request.
    RequestId,
    /// `${TIMESTAMP_MS}`: Unix time in milliseconds when the request was built.
    TimestampMs,
    /// `${VU}`: the VU's number, from 1.
    Vu,
    /// `${ITERATION}`: the VU's iteration number, from 0.
    Iteration,
    /// `${UUID}`: a random version-4 UUID, new each time it is used.
    Uuid,
}

impl Builtin {
    /// Every built-in, in a stable order.
    pub const ALL: [Builtin; 5] = [
        Builtin::RequestId,
        Builtin::TimestampMs,
        Builtin::Vu,
        Builtin::Iteration,
        Builtin::Uuid,
    ];

    /// The name used inside `${…}`.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::RequestId => "REQUEST_ID",
            Builtin::TimestampMs => "TIMESTAMP_MS",
            Builtin::Vu => "VU",
            Builtin::Iteration => "ITERATION",
            Builtin::Uuid => "UUID",
        }
    }

    /// The built-in called `name`, if any.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `${URLENCODE(name)}` leaves as it is: RFC 3986's unreserved characters
/// (ASCII letters, digits, `-`, `.`, `_`, `~`); every other byte becomes `%XX`.
const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Append `bytes` percent-encoded for a URL component or a form field, as
/// `${URLENCODE(name)}` sends them. Allocates nothing beyond `out`'s growth.
pub fn push_url_encoded(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in percent_encoding::percent_encode(bytes, URL_COMPONENT) {
        out.extend_from_slice(chunk.as_bytes());
    }
}
