use crate::{BufId, ConstId, ExpectedStatus, Method, OriginId};

/// Where a request part's bytes are: a constant, or a buffer the VM just filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// Bytes fixed at compile time.
    Const(ConstId),
    /// Bytes interpolated at run time into the VU's buffer.
    Buf(BufId),
}

/// The layout of one request step. The VM fills the buffers the operands name, then
/// yields `Send(step)`; the driver reads the parts through [`crate::Program::bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDesc {
    /// The step's name, for reports.
    pub name: String,
    /// The method.
    pub method: Method,
    /// The origin the request goes to; fixed per step so connections can be kept.
    pub origin: OriginId,
    /// The protocol it is sent with (redirects it leads to keep it).
    pub protocol: Protocol,
    /// Path and query, starting with `/`.
    pub path: Operand,
    /// Headers in order; names are constants, values may be interpolated.
    pub headers: Vec<HeaderDesc>,
    /// The body, if the step has one.
    pub body: Option<Operand>,
    /// What of its response the judging instructions after its `send` read: the
    /// engines keep only that (a cookie jar adds the head).
    pub reads: Reads,
    /// The scenario it belongs to (an index into `Program::scenarios`).
    pub scenario: u16,
    /// The statuses its final response may have; any other makes the request a
    /// failure (redirects that are followed are not judged).
    pub expected: ExpectedStatus,
}

/// The protocol of an exchange: which driver performs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// HTTP/1.1: on TCP, or TLS with ALPN `http/1.1`.
    #[default]
    Http1,
    /// HTTP/2: prior knowledge on TCP, ALPN `h2` on TLS.
    Http2,
}

impl Protocol {
    /// Every protocol, in declaration order (tables indexed by protocol follow it).
    pub const ALL: [Protocol; 2] = [Protocol::Http1, Protocol::Http2];

    /// Its index in [`Protocol::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name `--dump bytecode` and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "h1",
            Protocol::Http2 => "h2",
        }
    }
}

/// What of a response a step's checks and extractors read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    /// The head: a header check or extractor.
    pub head: bool,
    /// The body (up to `Program::body_limit`): a body check, a JSON, regex or body
    /// extractor.
    pub body: bool,
}

impl Reads {
    /// The head only.
    pub const HEAD: Reads = Reads {
        head: true,
        body: false,
    };
    /// The body only.
    pub const BODY: Reads = Reads {
        head: false,
        body: true,
    };

    /// Whether anything is read at all.
    pub fn any(self) -> bool {
        self.head || self.body
    }

    /// What `self` and `other` read together.
    pub fn union(self, other: Reads) -> Reads {
        Reads {
            head: self.head | other.head,
            body: self.body | other.body,
        }
    }
}

/// One request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderDesc {
    /// The header name (lowercase).
    pub name: ConstId,
    /// The header value.
    pub value: Operand,
}

/// The scheme of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS.
    Https,
}

/// A target origin. Every VU keeps its own connection to each origin it talks to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// Port, defaulted from the scheme.
    pub port: u16,
    /// The `Host` header value (`host[:port]`, port omitted when it is the default).
    pub authority: String,
}
