//! The gRPC driver: unary and server-streaming calls on HTTP/2 (prior knowledge on
//! `grpc://`, ALPN `h2` on `grpcs://`), one connection per VU and origin.
//!
//! Where it sits: the VM writes a gRPC step's parts like any request's (the path
//! `/package.Service/Method`, the metadata as headers, the request message as JSON
//! into the body buffer) and yields; [`Grpc::perform`] encodes the JSON with the
//! method's input descriptor (prost-reflect, from the schema the compiler put in the
//! program, decoded once per run by [`methods`]), sends it in gRPC's length-prefixed
//! framing on the HTTP/2 driver's connections (h2own.rs over `kaioken-http2`, made
//! by `conn.rs`, so `--insecure`, `--cacert`, `--h2-streams` and the timing phases
//! apply as for HTTP), reads the reply messages as the body comes and the status
//! from the trailers (or a trailers-only response), and turns the replies into JSON
//! for the step's checks and extractors when it reads the body: a unary call's
//! reply as one object, a stream's replies as an array of objects.
//!
//! A call that gets a status is a response of [`Status::Grpc`] whatever the code; a
//! call cut short by `--timeout` after it was sent is `DEADLINE_EXCEEDED` (as gRPC
//! clients report their own deadline), the server being told the same deadline in
//! `grpc-timeout`. Transport failures keep their HTTP/2 classes.
//!
//! Allocations per call: none once warm. The header block is encoded from the
//! step's prepared parts straight into the connection's write buffer, as an HTTP/2
//! request's; a message whose JSON changed is written into the step's frame by
//! proto_json, and one whose JSON did not is not encoded again; a reply the step
//! reads is turned into JSON by proto_json, unless it is the last one's. A schema
//! with well-known types (or, for replies, proto2's) takes prost-reflect's route,
//! through a `DynamicMessage` whose fields allocate. Measured in alloc_tests.rs.

use std::sync::Arc;
use std::time::Duration;

use kaioken_http2::hpack::Fields;
use kaioken_vm::{InvalidProgram, Origin, Program, Reads, Status, StepId, StepKind, VuState};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};

use crate::ErrorKind;
use crate::deadline::Armed;
use crate::driver::{Driver, Last, Perform};
use crate::h2own::{self, Conns, Failed};
use crate::h2pool;
use crate::http1::{Added, Sending, StepInfo};
use crate::http2::{Prepared, Source, is_connection_header, keep_h2_head, regular, source};
use crate::proto_json;
use crate::stats::{Outcome, Tally, Timing};

/// `DEADLINE_EXCEEDED`.
const DEADLINE_EXCEEDED: u8 = 4;
/// `INTERNAL`.
const INTERNAL: u8 = 13;

/// A method the program's steps call, resolved in the schema.
#[derive(Debug, Clone)]
pub(crate) struct GrpcMethod {
    pub input: MessageDescriptor,
    pub output: MessageDescriptor,
    /// proto_json writes `input` messages ([`proto_json::writable`]).
    pub writable: bool,
    /// proto_json reads `output` messages ([`proto_json::readable`]).
    pub readable: bool,
}

/// The program's gRPC methods, by [`kaioken_vm::GrpcStep::method`], resolved once per
/// run in the schema the compiler put in the program. The compiler checked every
/// method against it, so a failure here is a compiler bug.
pub(crate) fn methods(program: &Program) -> Result<Arc<[GrpcMethod]>, InvalidProgram> {
    if program.grpc_methods.is_empty() {
        return Ok(Arc::from([]));
    }
    let fail = |message: String| InvalidProgram { pc: None, message };
    let pool = DescriptorPool::decode(program.grpc_schema.as_slice())
        .map_err(|e| fail(format!("the gRPC schema does not decode: {e}")))?;
    program
        .grpc_methods
        .iter()
        .map(|name| {
            let (service, method) = name
                .split_once('/')
                .ok_or_else(|| fail(format!("gRPC method `{name}` has no `/`")))?;
            let m = pool
                .get_service_by_name(service)
                .and_then(|s| s.methods().find(|m| m.name() == method))
                .ok_or_else(|| fail(format!("gRPC method `{name}` is not in the schema")))?;
            Ok(GrpcMethod {
                writable: proto_json::writable(&m.input()),
                readable: proto_json::readable(&m.output()),
                input: m.input(),
                output: m.output(),
            })
        })
        .collect()
}

/// A gRPC status code from an HTTP status, for a response without `grpc-status`
/// (a proxy's error page): gRPC's own mapping.
fn from_http(status: u16) -> u8 {
    match status {
        400 => INTERNAL,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

/// A `grpc-status` value.
fn parse_status(value: &[u8]) -> u8 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok())
        .unwrap_or(2)
}

/// A reply kept with its JSON (below this size) so that the same reply again is
/// not decoded again: a unary call's answer is often the same from call to call.
const REPLAY_MAX: usize = 4 << 10;

/// One VU's gRPC calls: its HTTP/2 connections (one per origin, its group's under
/// `--h2-streams`), each step's request message as last encoded, and the reading
/// of replies.
pub(crate) struct Grpc {
    last: Last,
    /// Connections carry more than one call; without (`--no-keepalive`) each is
    /// closed after its call, as an HTTP/2 request's is.
    keepalive: bool,
    conns: Conns,
    methods: Arc<[GrpcMethod]>,
    /// Each step's request parts as HTTP/2 encodes them (the metadata's names and
    /// constant values).
    steps: Arc<[Option<Prepared>]>,
    /// Each step's message as last encoded.
    encoded: Vec<Encoded>,
    writer: proto_json::Writer,
    /// `grpc-timeout`, from the run's timeout.
    deadline: String,
    replies: Replies,
    last_len: u64,
    bytes_in: u64,
    tally: Tally,
}

/// A step's request message as last encoded: the JSON it came from, and its frame
/// (gRPC's 5-byte prefix, then the protobuf). The same JSON again (a constant
/// message, or one whose interpolated parts did not change) is not encoded again.
#[derive(Default)]
struct Encoded {
    json: Vec<u8>,
    frame: Vec<u8>,
    /// `frame` is `json`'s (not one that failed to encode).
    valid: bool,
}

/// What a call's replies leave behind for the next: the buffers they are read
/// into, and the last reply decoded, with its JSON.
#[derive(Default)]
struct Replies {
    /// Reply bytes not yet a whole message.
    inbox: Vec<u8>,
    /// The last reply turned into JSON (when it was under [`REPLAY_MAX`]), the
    /// message type it was read as, and its JSON.
    reply: Vec<u8>,
    reply_of: Option<MessageDescriptor>,
    json: Vec<u8>,
    /// Room for a reply's map keys, compared by [`proto_json::reply`].
    keys: Vec<u64>,
    /// When the call's first message came, after the call was sent.
    first: Option<Duration>,
}

impl Grpc {
    pub fn new(program: &Program, transport: &crate::driver::Transport) -> Grpc {
        let http = &transport.http;
        // gRPC's timeout unit `m` is milliseconds, at most 8 digits.
        let ms = http.timeout.as_millis().clamp(1, 99_999_999);
        Grpc {
            last: Last {
                detail: None,
                capture: crate::judge::capture_for(program, http),
                location: Vec::new(),
                reconnected: false,
                connected: false,
                timing: Timing::default(),
                decoded: None,
            },
            keepalive: http.keepalive,
            // A connection that carries one call is no VU's to share.
            conns: Conns::new(
                program.origins.len(),
                http.keepalive
                    .then(|| h2pool::join(h2pool::Kind::Grpc, http.h2_streams))
                    .flatten(),
            ),
            methods: transport.grpc.clone(),
            steps: transport.prepared.clone(),
            encoded: (0..program.steps.len())
                .map(|_| Encoded::default())
                .collect(),
            writer: proto_json::Writer::default(),
            deadline: format!("{ms}m"),
            replies: Replies::default(),
            last_len: 0,
            bytes_in: 0,
            tally: Tally::default(),
        }
    }

    /// One call: its status code.
    async fn call(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        s: &Sending<'_>,
    ) -> Result<u8, ErrorKind> {
        let desc = program.step(step);
        let StepKind::Grpc(call) = desc.kind else {
            return Err(ErrorKind::Other);
        };
        let method = &self.methods[call.method as usize];
        let json = desc.body.map_or(&b"{}"[..], |b| program.bytes(state, b));
        let encoded = &mut self.encoded[step];
        encode(
            encoded,
            &mut self.writer,
            json,
            method,
            &mut self.last.detail,
        )?;
        let added = Added {
            cookie: None,
            traceparent: s.added.traceparent,
        };
        let (slot, origin, src) = source(&self.steps, program, state, step, None, added)?;
        let req = Call {
            src,
            deadline: self.deadline.as_bytes(),
            frame: &encoded.frame,
        };
        self.replies.first = None;
        // What a call cut short left of a message is none of this call's.
        self.replies.inbox.clear();
        let mut reading = Reading {
            replies: &mut self.replies,
            method,
            reads: info.keep,
            stream: call.server_streaming,
            http_status: 0,
            code: None,
            trailers_only: false,
            tally: &mut self.tally,
        };
        let http_status = self
            .conns
            .exchange(
                slot,
                origin,
                s.tls,
                s.dial,
                &mut self.last,
                &req,
                &mut reading,
                (&mut self.last_len, &mut self.bytes_in),
            )
            .await?;
        let (code, trailers_only) = match reading.code {
            Some(code) => (code, reading.trailers_only),
            None if http_status != 200 => return Ok(from_http(http_status)),
            None => {
                self.last.detail = Some("the server ended the call without a `grpc-status`".into());
                (INTERNAL, false)
            }
        };
        if trailers_only {
            self.end_stream(call.server_streaming, 0, None);
            return Ok(code);
        }
        if call.server_streaming
            && let Some(c) = self.last.capture.as_mut().filter(|_| info.keep.body)
        {
            c.push_body(if c.body.is_empty() { b"[]" } else { b"]" });
        }
        self.end_stream(
            call.server_streaming,
            self.tally.received,
            self.replies.first,
        );
        Ok(code)
    }

    fn end_stream(&mut self, streaming: bool, messages: u64, first: Option<Duration>) {
        if streaming {
            self.tally.stream = Some((messages, first));
        }
    }
}

/// Encode `json` as a message of the `method`'s input into `e`'s frame (gRPC's
/// 5-byte prefix, then the message), unless it is the JSON the frame was last
/// encoded from: written directly ([`proto_json`]) where it can be, or else
/// through a `DynamicMessage`, whose error is the one reported.
fn encode(
    e: &mut Encoded,
    writer: &mut proto_json::Writer,
    json: &[u8],
    method: &GrpcMethod,
    detail: &mut Option<String>,
) -> Result<(), ErrorKind> {
    if e.valid && e.json == json {
        return Ok(());
    }
    e.valid = false;
    e.frame.clear();
    e.frame.extend_from_slice(&[0; 5]);
    if !(method.writable && writer.encode(json, &method.input, &mut e.frame).is_ok()) {
        e.frame.truncate(5);
        encode_dynamic(&mut e.frame, json, &method.input, detail)?;
    }
    let len = e.frame.len() - 5;
    e.frame[1..5].copy_from_slice(&(len as u32).to_be_bytes());
    e.json.clear();
    e.json.extend_from_slice(json);
    e.valid = true;
    Ok(())
}

/// Append `json`, encoded through a `DynamicMessage` (prost-reflect's JSON
/// mapping), to `out`, or say why it is no valid `input`.
fn encode_dynamic(
    out: &mut Vec<u8>,
    json: &[u8],
    input: &MessageDescriptor,
    detail: &mut Option<String>,
) -> Result<(), ErrorKind> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let message = DynamicMessage::deserialize_with_options(
        input.clone(),
        &mut de,
        &DeserializeOptions::new(),
    )
    .and_then(|m| de.end().map(|()| m));
    let message = match message {
        Ok(m) => m,
        Err(e) => {
            *detail = Some(invalid(input, &e));
            return Err(ErrorKind::InvalidRequest);
        }
    };
    message.encode(out).map_err(|_| ErrorKind::Other)
}

#[cold]
fn invalid(input: &MessageDescriptor, e: &serde_json::Error) -> String {
    format!(
        "the request message is not a valid `{}` in JSON: {e}; the call was not sent",
        input.full_name()
    )
}

/// A call as HTTP/2 sends it: `POST` to the method's path, gRPC's own headers,
/// then the step's metadata (and a sampled call's `traceparent`); the framed
/// message is the body.
struct Call<'a> {
    src: Source<'a>,
    deadline: &'a [u8],
    frame: &'a [u8],
}

impl h2own::Request for Call<'_> {
    /// A call's block carries no `content-length`: its message may change length
    /// from call to call (a template) and the kept block still serves.
    const SIZED: bool = false;

    fn check(&self) -> Result<(), ErrorKind> {
        self.src.check_read(None)
    }

    /// The head's length counts the metadata (as HTTP/1.1 spells it), not the
    /// pseudo-header fields or gRPC's own headers. Nothing written depends on the
    /// message's length (see `SIZED`).
    fn encode(&self, block: &mut h2own::Block<'_>, origin: &Origin, _: usize) -> usize {
        block.pseudo("POST", origin, self.src.path(), self.src.constant_path());
        block.constant(b"content-type", b"application/grpc");
        block.constant(b"te", b"trailers");
        block.constant(b"grpc-timeout", self.deadline);
        // Metadata HTTP/2 forbids (RFC 9113 section 8.2.2) is left out, and a `te`
        // too: gRPC's own is sent.
        let Ok(len) = self.src.headers(None, |name, value| {
            if !is_connection_header(name) {
                block.header(name, value);
            }
            Ok::<_, std::convert::Infallible>(())
        });
        len
    }

    fn body(&self) -> &[u8] {
        self.frame
    }

    /// The request's own ([`Source`]'s): gRPC's fields are the run's constants
    /// (the deadline is `--timeout`).
    fn replay_key(&self) -> Option<usize> {
        h2own::Request::replay_key(&self.src)
    }
}

/// One call's reading of its response: the status from the trailers (or a
/// trailers-only response's head), the reply messages taken whole out of the body
/// as it comes, counted, and turned into JSON for the step's checks when they
/// read the body (a unary call's reply as one object, a stream's as an array).
struct Reading<'a> {
    replies: &'a mut Replies,
    method: &'a GrpcMethod,
    reads: Reads,
    stream: bool,
    http_status: u16,
    code: Option<u8>,
    trailers_only: bool,
    tally: &'a mut Tally,
}

impl h2own::Sink for Reading<'_> {
    fn head(&mut self, last: &mut Last, status: u16, head: &Fields) -> u64 {
        self.http_status = status;
        if let Some((_, v)) = regular(head).find(|(n, _)| *n == b"grpc-status") {
            self.code = Some(parse_status(v));
            self.trailers_only = true;
        }
        keep_h2_head(last, self.reads, status, head)
    }

    fn data(&mut self, last: &mut Last, data: &[u8]) -> Result<(), Failed> {
        if self.http_status != 200 || self.code.is_some() {
            return Ok(());
        }
        self.replies.inbox.extend_from_slice(data);
        let mut at = 0;
        let result = loop {
            let inbox = &self.replies.inbox[at..];
            let Some(&[compressed, a, b, c, d]) = inbox.get(..5) else {
                break Ok(());
            };
            let len = u32::from_be_bytes([a, b, c, d]) as usize;
            if inbox.len() < 5 + len {
                break Ok(());
            }
            if compressed != 0 {
                break Err(Failed::Kind(
                    ErrorKind::Protocol,
                    Some(
                        "the server sent a compressed message, which kaioken did not ask for"
                            .into(),
                    ),
                ));
            }
            self.tally.received(len);
            if self.replies.first.is_none() {
                self.replies.first = last.timing.written.map(|w| w.elapsed());
            }
            if self.reads.body
                && let Some(capture) = last.capture.as_mut()
            {
                let (from, to) = (at + 5, at + 5 + len);
                if let Err(detail) = self.replies.reply_json(from..to, self.method) {
                    break Err(Failed::Kind(ErrorKind::Protocol, Some(detail)));
                }
                if self.stream {
                    capture.push_body(if capture.body.is_empty() { b"[" } else { b"," });
                }
                capture.push_body(&self.replies.json);
            }
            at += 5 + len;
        };
        self.replies.inbox.drain(..at);
        result
    }

    /// Trailers without a `grpc-status` leave the call's code to its HTTP status
    /// (or to `INTERNAL`, with a detail saying why: `Grpc::call`).
    fn trailers(&mut self, last: &mut Last, fields: &Fields) -> u64 {
        if let Some((_, v)) = fields.iter().find(|(n, _)| *n == b"grpc-status") {
            self.code = Some(parse_status(v));
        }
        if let Some(c) = last.capture.as_mut().filter(|_| self.reads.head) {
            // Trailers read as headers: `header("grpc-message")` works.
            c.head.truncate(c.head.len().saturating_sub(2));
            crate::http2::push_headers(&mut c.head, fields.iter());
            c.head.extend_from_slice(b"\r\n");
        }
        crate::http2::header_bytes(fields.iter())
    }
}

impl Replies {
    /// Turn the reply in `inbox[at]` into JSON in `json` (field names as in the
    /// `.proto`, default values included): the last reply's JSON when it is the
    /// same reply, or else read from the bytes ([`proto_json::reply`]) or through
    /// a `DynamicMessage`, whose error says why it is no valid `output`.
    fn reply_json(
        &mut self,
        at: std::ops::Range<usize>,
        method: &GrpcMethod,
    ) -> Result<(), String> {
        let output = &method.output;
        let body = &self.inbox[at];
        if !self.reply.is_empty() && self.reply == body && self.reply_of.as_ref() == Some(output) {
            return Ok(());
        }
        self.reply.clear();
        self.reply_of = None;
        self.json.clear();
        if !(method.readable
            && proto_json::reply(output, body, &mut self.json, &mut self.keys).is_ok())
        {
            self.json.clear();
            let message = DynamicMessage::decode(output.clone(), body)
                .map_err(|e| format!("a reply is not a valid `{}`: {e}", output.full_name()))?;
            let options = SerializeOptions::new()
                .use_proto_field_name(true)
                .skip_default_fields(false);
            let mut ser = serde_json::Serializer::new(&mut self.json);
            message
                .serialize_with_options(&mut ser, &options)
                .map_err(|e| format!("a reply does not turn into JSON: {e}"))?;
        }
        if body.len() <= REPLAY_MAX {
            self.reply.extend_from_slice(body);
            self.reply_of = Some(output.clone());
        }
        Ok(())
    }
}

impl Driver for Grpc {
    fn last(&self) -> &Last {
        &self.last
    }

    fn last_mut(&mut self) -> &mut Last {
        &mut self.last
    }

    /// The call's metadata as HTTP/1.1 would spell it plus its framed message.
    fn bytes_sent(&self) -> u64 {
        self.last_len
    }

    fn close(&mut self, slot: usize) {
        self.conns.drop_conn(slot);
    }

    fn take_tally(&mut self) -> Option<Tally> {
        Some(std::mem::take(&mut self.tally))
    }
}

impl Perform for Grpc {
    async fn perform(
        &mut self,
        program: &Program,
        state: &VuState,
        step: StepId,
        info: &StepInfo,
        s: Sending<'_>,
        deadline: Armed<'_>,
    ) -> Outcome {
        let slot = program.step(step).origin.index();
        self.last.connected = false;
        self.last_len = 0;
        self.last.reconnected = false;
        self.last.timing = Timing::default();
        self.tally = Tally::default();
        self.bytes_in = 0;
        if let Some(c) = self.last.capture.as_mut() {
            c.clear();
        }
        let result = deadline
            .within(|| self.call(program, state, step, info, &s))
            .await;
        // A message is sent once its call is on a connection: not when the
        // connection could not be opened, nor when a server that had closed it
        // left the call to go again on a new one that could not be.
        if self.last.timing.written.is_some() {
            self.tally.sent(self.encoded[step].frame.len() - 5);
        }
        // Taken: a call that failed before its exchange opened nothing.
        self.tally.opened = self.conns.opened.take();
        self.tally.open_failed = u64::from(std::mem::take(&mut self.conns.open_failed));
        self.tally.closed_by_peer = u64::from(self.last.timing.closed_by_server);
        let outcome = match result {
            Ok(Ok(code)) => Outcome::Response {
                status: Status::Grpc(code),
                bytes_in: self.bytes_in,
            },
            // The deadline passed with the call on its way: the call's own status.
            Err(_) if self.last.timing.written.is_some() => {
                if let StepKind::Grpc(call) = program.step(step).kind
                    && call.server_streaming
                    && self.tally.stream.is_none()
                {
                    self.tally.stream = Some((self.tally.received, self.replies.first));
                }
                Outcome::Response {
                    status: Status::Grpc(DEADLINE_EXCEEDED),
                    bytes_in: self.bytes_in,
                }
            }
            Ok(Err(kind)) => Outcome::Error(kind),
            Err(_) => Outcome::Error(ErrorKind::Timeout),
        };
        // A call refused before it went out (its message or metadata could not be
        // written) says nothing of the connection, which stays (unless connections
        // carry one call each).
        if !self.keepalive
            || matches!(outcome, Outcome::Error(kind) if kind != ErrorKind::InvalidRequest)
        {
            self.conns.drop_conn(slot);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use prost_reflect::{DescriptorPool, MessageDescriptor};

    use super::{GrpcMethod, Replies};

    /// The schema of `alloc_tests::grpc_program`: `t.Item { id }` and `t.Y { name }`
    /// encode `"1"` alike.
    fn pool() -> DescriptorPool {
        let dir = std::env::temp_dir().join(format!("kaioken-grpc-unit-{}", std::process::id()));
        let program = crate::alloc_tests::grpc_program(&dir, 1, "{}", "[]");
        std::fs::remove_dir_all(&dir).unwrap();
        DescriptorPool::decode(program.grpc_schema.as_slice()).unwrap()
    }

    /// A method whose replies are `output`, read from their bytes (`readable`) or
    /// through a `DynamicMessage`.
    fn method(output: &MessageDescriptor, readable: bool) -> GrpcMethod {
        GrpcMethod {
            input: output.clone(),
            output: output.clone(),
            writable: readable,
            readable,
        }
    }

    #[test]
    fn a_reply_s_json_is_reused_only_for_the_same_bytes_and_type() {
        for readable in [true, false] {
            reused_only_for_the_same_bytes_and_type(readable);
        }
    }

    fn reused_only_for_the_same_bytes_and_type(readable: bool) {
        let pool = pool();
        let item = &method(&pool.get_message_by_name("t.Item").unwrap(), readable);
        let y = &method(&pool.get_message_by_name("t.Y").unwrap(), readable);
        let mut replies = Replies::default();
        let json = |replies: &mut Replies, bytes: &[u8], ty| {
            replies.inbox.clear();
            replies.inbox.extend_from_slice(bytes);
            replies.reply_json(0..bytes.len(), ty).unwrap();
            String::from_utf8(replies.json.clone()).unwrap()
        };
        let one = [0x0a, 0x01, b'1'];
        assert_eq!(json(&mut replies, &one, item), r#"{"id":"1"}"#);
        assert_eq!(json(&mut replies, &one, item), r#"{"id":"1"}"#);
        assert_eq!(json(&mut replies, &one, y), r#"{"name":"1"}"#);
        assert_eq!(
            json(&mut replies, &[0x0a, 0x01, b'2'], y),
            r#"{"name":"2"}"#
        );
        assert_eq!(json(&mut replies, &[], y), r#"{"name":""}"#);
        replies.inbox = vec![0xff];
        let invalid = replies.reply_json(0..1, y).unwrap_err();
        assert!(
            invalid.starts_with("a reply is not a valid `t.Y`"),
            "{invalid}"
        );
    }
}
