//! What an exchange's answer says, whatever the protocol: the status the engines
//! count, and checks (`status == 200`) compare by its code.

use std::fmt;

/// An exchange's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// An HTTP status code (the response's, 100–999).
    Http(u16),
    /// A gRPC status code (0 `OK` to 16 `UNAUTHENTICATED`).
    Grpc(u8),
    /// A WebSocket exchange's code, in the close codes' space: 1000 (normal) when it
    /// completed on a connection in good standing, or the code the peer closed the
    /// connection with before it completed (1001 going away, 1011 server error, …).
    Ws(u16),
}

impl Status {
    /// The number, as checks compare it.
    pub fn code(self) -> u16 {
        match self {
            Status::Http(code) | Status::Ws(code) => code,
            Status::Grpc(code) => u16::from(code),
        }
    }

    /// A gRPC status's name (`OK`, `NOT_FOUND`, …); `None` for other families and
    /// for codes gRPC does not define.
    pub fn grpc_name(self) -> Option<&'static str> {
        match self {
            Status::Grpc(code) => kaioken_grammar::GRPC_CODES.get(usize::from(code)).copied(),
            _ => None,
        }
    }

    /// The family's name in reports: `http`, `grpc` or `ws`.
    pub fn family(self) -> &'static str {
        match self {
            Status::Http(_) => "http",
            Status::Grpc(_) => "grpc",
            Status::Ws(_) => "ws",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Http(code) => write!(f, "{code}"),
            other => write!(f, "{}:{}", other.family(), other.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names() {
        assert_eq!(Status::Http(404).code(), 404);
        assert_eq!(Status::Grpc(14).code(), 14);
        assert_eq!(Status::Ws(1001).to_string(), "ws:1001");
        assert_eq!(Status::Http(200).to_string(), "200");
    }
}
