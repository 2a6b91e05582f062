use std::fmt;
use std::io;

/// Why a request got no complete response. Counted per kind in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ErrorKind {
    /// Nothing listens at the target (connection refused).
    ConnectRefused,
    /// Any other failure to connect (unreachable, no route, …).
    Connect,
    /// The host name did not resolve.
    Dns,
    /// TLS handshake or certificate failure.
    Tls,
    /// No complete response within the timeout.
    Timeout,
    /// The peer reset or closed the connection before a response began.
    Reset,
    /// The response was not valid HTTP.
    Protocol,
    /// The connection broke while the body was being read.
    BodyRead,
    /// The request was not sent: a value built at run time (an extracted value in a
    /// header) holds a byte the request cannot carry. Found before any I/O.
    InvalidRequest,
    /// A WebSocket opening handshake failed: the server refused the upgrade (its
    /// HTTP status is in the detail) or answered it wrongly.
    Handshake,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// How many kinds there are, for per-kind arrays.
    pub const COUNT: usize = 11;

    /// Every kind, in report order.
    pub const ALL: [ErrorKind; ErrorKind::COUNT] = [
        ErrorKind::ConnectRefused,
        ErrorKind::Connect,
        ErrorKind::Dns,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Protocol,
        ErrorKind::BodyRead,
        ErrorKind::InvalidRequest,
        ErrorKind::Handshake,
        ErrorKind::Other,
    ];

    /// The name used in reports (`connect_refused`, `timeout`, …).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Protocol => "protocol",
            ErrorKind::BodyRead => "body_read",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Handshake => "handshake",
            ErrorKind::Other => "other",
        }
    }

    /// A short description for the summary.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connection refused",
            ErrorKind::Connect => "could not connect",
            ErrorKind::Dns => "DNS lookup failed",
            ErrorKind::Tls => "TLS handshake failed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Reset => "connection reset or closed before the response",
            ErrorKind::Protocol => "invalid HTTP response",
            ErrorKind::BodyRead => "connection broke while reading the body",
            ErrorKind::InvalidRequest => "invalid request, not sent",
            ErrorKind::Handshake => "WebSocket handshake refused",
            ErrorKind::Other => "other error",
        }
    }

    /// Classify an I/O error on an established connection. `in_body` says whether
    /// the response head had already arrived.
    pub(crate) fn from_io(e: &io::Error, in_body: bool) -> ErrorKind {
        if in_body {
            return ErrorKind::BodyRead;
        }
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected => ErrorKind::Reset,
            io::ErrorKind::TimedOut => ErrorKind::Timeout,
            io::ErrorKind::InvalidData => ErrorKind::Protocol,
            _ => ErrorKind::Other,
        }
    }

    /// Classify a failure to connect.
    pub(crate) fn from_connect(e: &io::Error) -> ErrorKind {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
            io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Connect,
        }
    }
}

impl From<kaioken_http1::Cut> for ErrorKind {
    /// A response the connection's end cut off: a reset before its head was
    /// complete, a broken body after.
    fn from(cut: kaioken_http1::Cut) -> ErrorKind {
        match cut {
            kaioken_http1::Cut::Head => ErrorKind::Reset,
            kaioken_http1::Cut::Body => ErrorKind::BodyRead,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
