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
    /// Path and query, starting with `/` (see `path_from_value`).
    pub path: Operand,
    /// The path starts with a value only known at run time (an extracted relative
    /// `Location`, `url = "${next}/items"`): the VU refuses a request whose path
    /// does not come to start with `/` (an absolute URL would leave the origin).
    pub path_from_value: bool,
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
    /// What kind of exchange it is; `protocol` names the driver that performs it.
    pub kind: StepKind,
}

impl StepDesc {
    /// The path and every header value are constants: every request of the step
    /// has the same head, unless a driver adds to it (cookies, `traceparent`) or
    /// follows a redirect. HTTP/1.1 keeps the whole request to send again when the
    /// body is constant too; HTTP/2 and gRPC keep the header block, whatever the
    /// body, for a path HTTP/2 accepts.
    pub fn head_is_constant(&self) -> bool {
        matches!(self.path, Operand::Const(_))
            && self
                .headers
                .iter()
                .all(|h| matches!(h.value, Operand::Const(_)))
    }
}

/// What kind of exchange a step is, and what its protocol needs beyond the parts every
/// step has (origin, path, headers, body, all written by the same instructions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StepKind {
    /// An HTTP request and its response (HTTP/1.1, HTTP/2 or HTTP/3: see `protocol`).
    #[default]
    Http,
    /// A WebSocket message: the body is the message, sent on the VU's connection to
    /// the step's origin and path; the path and headers make the opening handshake
    /// when there is no connection yet.
    WebSocket(WsStep),
    /// A gRPC call on HTTP/2: the path is `/package.Service/Method`, the headers are
    /// its metadata, the body is the request message written as JSON.
    Grpc(GrpcStep),
}

/// A WebSocket step's exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsStep {
    /// Wait for replies, or only send.
    pub mode: WsMode,
    /// How many messages to receive before the exchange is over (echo mode); the
    /// last one is what checks and extractors read.
    pub expect: u32,
    /// The least time from one of the connection's messages to the next, start to
    /// start, µs (`--ws-message-interval`; compiled to a `pace` before the `send`);
    /// 0: as fast as the mode allows.
    pub interval_micros: u32,
}

/// How a WebSocket step treats replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WsMode {
    /// Send, then wait for the replies: the exchange's time is the round trip.
    #[default]
    Echo,
    /// Send only: the exchange is over once the message is written; messages that
    /// arrive are still counted.
    FireAndForget,
}

/// A gRPC step's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcStep {
    /// The method, an index into the program's gRPC methods.
    pub method: u32,
    /// Whether the server answers with a stream of messages.
    pub server_streaming: bool,
}

/// The protocol of an exchange: which driver performs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// HTTP/1.1: on TCP, or TLS with ALPN `http/1.1`.
    #[default]
    Http1,
    /// HTTP/2: prior knowledge on TCP, ALPN `h2` on TLS.
    Http2,
    /// WebSocket: an HTTP/1.1 upgrade (ALPN `http/1.1` on TLS), then messages.
    WebSocket,
    /// gRPC: HTTP/2 (prior knowledge on TCP, ALPN `h2` on TLS).
    Grpc,
    /// HTTP/3: QUIC (always TLS), ALPN `h3`.
    Http3,
}

impl Protocol {
    /// Every protocol, in declaration order (tables indexed by protocol follow it).
    pub const ALL: [Protocol; 5] = [
        Protocol::Http1,
        Protocol::Http2,
        Protocol::WebSocket,
        Protocol::Grpc,
        Protocol::Http3,
    ];

    /// Its index in [`Protocol::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name `--dump bytecode` and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "h1",
            Protocol::Http2 => "h2",
            Protocol::WebSocket => "ws",
            Protocol::Grpc => "grpc",
            Protocol::Http3 => "h3",
        }
    }

    /// The ALPN protocol it asks for on TLS.
    pub fn alpn(self) -> &'static [u8] {
        match self {
            Protocol::Http1 | Protocol::WebSocket => b"http/1.1",
            Protocol::Http2 | Protocol::Grpc => b"h2",
            Protocol::Http3 => b"h3",
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
