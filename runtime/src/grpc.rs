//! The gRPC driver: unary and server-streaming calls on HTTP/2 (prior knowledge on
//! `grpc://`, ALPN `h2` on `grpcs://`), one connection per VU and origin.
//!
//! Where it sits: the VM writes a gRPC step's parts like any request's (the path
//! `/package.Service/Method`, the metadata as headers, the request message as JSON
//! into the body buffer) and yields; [`Grpc::perform`] encodes the JSON with the
//! method's input descriptor (prost-reflect, from the schema the compiler put in the
//! program, decoded once per run by [`methods`]), sends it in gRPC's length-prefixed
//! framing on HTTP/2 connections of the `h2` crate's client (h2client.rs) made by
//! `conn.rs` (so
//! `--insecure`, `--cacert` and the timing phases apply as for HTTP), reads the reply
//! messages and the status from the trailers (or a trailers-only response), and turns
//! the replies into JSON for the step's checks and extractors when it reads the body:
//! a unary call's reply as one object, a stream's replies as an array of objects.
//!
//! A call that gets a status is a response of [`Status::Grpc`] whatever the code; a
//! call cut short by `--timeout` after it was sent is `DEADLINE_EXCEEDED` (as gRPC
//! clients report their own deadline), the server being told the same deadline in
//! `grpc-timeout`. Transport failures keep their HTTP/2 classes.
//!
//! Allocations per call: the JSON is decoded into a `DynamicMessage` (its fields
//! allocate: prost-reflect has no way to encode JSON without one), the `Request`
//! and its header map are built per call for `h2`, and reply messages
//! are decoded into `DynamicMessage`s only when the step reads the body. The framing
//! buffers are the driver's and are reused. Measured (alloc_tests.rs): 14 allocations
//! per unary call, 30 when the step reads the reply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use http::{HeaderName, HeaderValue, Method, Request};
use kaioken_vm::{InvalidProgram, Operand, Program, Scheme, Status, StepId, StepKind, VuState};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};

use crate::ErrorKind;
use crate::driver::{Driver, Last, Perform};
use crate::h2pool;
use crate::http1::{Sending, StepInfo};
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
fn parse_status(value: &HeaderValue) -> u8 {
    std::str::from_utf8(value.as_bytes())
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok())
        .unwrap_or(2)
}

/// One VU's gRPC connections (one per origin) and framing buffers.
pub(crate) struct Grpc {
    last: Last,
    /// Its HTTP/2 connections, shared with its group under `--h2-streams`.
    conns: crate::h2client::Conns,
    methods: Arc<[GrpcMethod]>,
    /// Per step: `scheme://authority` and its constant metadata.
    steps: Vec<Option<GrpcStepParts>>,
    /// `grpc-timeout`, from the run's timeout.
    deadline: HeaderValue,
    /// The request's frame, encoded here.
    out: BytesMut,
    /// Reply bytes not yet a whole message.
    inbox: BytesMut,
    /// A reply's JSON, before it goes to the capture.
    json: Vec<u8>,
    last_len: u64,
    bytes_in: u64,
    tally: Tally,
}

struct GrpcStepParts {
    prefix: String,
    headers: Vec<(HeaderName, Option<HeaderValue>)>,
}

impl Grpc {
    pub fn new(
        program: &Program,
        http: &kaioken_vm::TransportPlan,
        methods: Arc<[GrpcMethod]>,
    ) -> Grpc {
        let steps = program
            .steps
            .iter()
            .map(|s| {
                let origin = &program.origins[s.origin];
                let scheme = match origin.scheme {
                    Scheme::Https => "https",
                    Scheme::Http => "http",
                };
                let headers = s
                    .headers
                    .iter()
                    .map(|h| {
                        let name = HeaderName::from_bytes(program.constant(h.name)).ok()?;
                        let value = match h.value {
                            Operand::Const(k) => {
                                Some(HeaderValue::from_bytes(program.constant(k)).ok()?)
                            }
                            Operand::Buf(_) => None,
                        };
                        Some((name, value))
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(GrpcStepParts {
                    prefix: format!("{scheme}://{}", origin.authority),
                    headers,
                })
            })
            .collect();
        // gRPC's timeout unit `m` is milliseconds, at most 8 digits.
        let ms = http.timeout.as_millis().clamp(1, 99_999_999);
        let deadline = HeaderValue::from_str(&format!("{ms}m"))
            .unwrap_or_else(|_| HeaderValue::from_static("99999999m"));
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
            conns: crate::h2client::Conns::new(
                program,
                h2pool::join(h2pool::Kind::Grpc, http.h2_streams),
            ),
            methods,
            steps,
            deadline,
            out: BytesMut::with_capacity(1024),
            inbox: BytesMut::with_capacity(1024),
            json: Vec::new(),
            last_len: 0,
            bytes_in: 0,
            tally: Tally::default(),
        }
    }

    fn drop_conn(&mut self, slot: usize) {
        self.conns.drop_conn(slot);
    }

    /// Encode the step's JSON message into `out` as one gRPC frame.
    fn encode(&mut self, json: &[u8], input: &MessageDescriptor) -> Result<(), ErrorKind> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let message = DynamicMessage::deserialize_with_options(
            input.clone(),
            &mut de,
            &DeserializeOptions::new(),
        )
        .and_then(|m| de.end().map(|()| m));
        let message = match message {
            Ok(m) => m,
            Err(e) => return Err(self.invalid(input, &e)),
        };
        let len = message.encoded_len();
        self.out.clear();
        self.out.reserve(5 + len);
        self.out.put_u8(0);
        self.out.put_u32(len as u32);
        message
            .encode(&mut self.out)
            .map_err(|_| ErrorKind::Other)?;
        Ok(())
    }

    #[cold]
    fn invalid(&mut self, input: &MessageDescriptor, e: &serde_json::Error) -> ErrorKind {
        self.last.detail = Some(format!(
            "the request message is not a valid `{}` in JSON: {e}; the call was not sent",
            input.full_name()
        ));
        ErrorKind::InvalidRequest
    }

    /// Take the whole messages out of `inbox`: count them, and with `keep`, add each
    /// one's JSON to the capture (`stream`: as an element of an array).
    fn drain(
        &mut self,
        output: &MessageDescriptor,
        keep: bool,
        stream: bool,
        started: Instant,
        first: &mut Option<Duration>,
    ) -> Result<(), ErrorKind> {
        while self.inbox.len() >= 5 {
            let compressed = self.inbox[0];
            let len =
                u32::from_be_bytes([self.inbox[1], self.inbox[2], self.inbox[3], self.inbox[4]])
                    as usize;
            if self.inbox.len() < 5 + len {
                break;
            }
            if compressed != 0 {
                self.last.detail = Some(
                    "the server sent a compressed message, which kaioken did not ask for".into(),
                );
                return Err(ErrorKind::Protocol);
            }
            self.inbox.advance(5);
            let body = self.inbox.split_to(len);
            self.tally.received(len);
            if first.is_none() {
                *first = Some(started.elapsed());
            }
            if keep {
                self.reply_json(output, &body, stream)?;
            }
        }
        Ok(())
    }

    /// Decode one reply and append its JSON (field names as in the `.proto`, default
    /// values included) to the capture.
    fn reply_json(
        &mut self,
        output: &MessageDescriptor,
        body: &[u8],
        stream: bool,
    ) -> Result<(), ErrorKind> {
        let Some(capture) = self.last.capture.as_mut() else {
            return Ok(());
        };
        let message = match DynamicMessage::decode(output.clone(), body) {
            Ok(m) => m,
            Err(e) => {
                self.last.detail = Some(format!(
                    "a reply is not a valid `{}`: {e}",
                    output.full_name()
                ));
                return Err(ErrorKind::Protocol);
            }
        };
        self.json.clear();
        if stream {
            self.json
                .push(if capture.body.is_empty() { b'[' } else { b',' });
        }
        let options = SerializeOptions::new()
            .use_proto_field_name(true)
            .skip_default_fields(false);
        let mut ser = serde_json::Serializer::new(&mut self.json);
        message
            .serialize_with_options(&mut ser, &options)
            .map_err(|_| ErrorKind::Other)?;
        capture.push_body(&self.json);
        Ok(())
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
        let method = self.methods[call.method as usize].clone();
        let json = desc.body.map_or(&b"{}"[..], |b| program.bytes(state, b));
        self.encode(json, &method.input)?;
        let Some(parts) = &self.steps[step] else {
            return Err(ErrorKind::Other);
        };
        let path = program.bytes(state, desc.path);
        let mut uri = String::with_capacity(parts.prefix.len() + path.len());
        uri.push_str(&parts.prefix);
        uri.push_str(std::str::from_utf8(path).map_err(|_| ErrorKind::Other)?);
        let mut req = Request::builder().method(Method::POST).uri(uri);
        let mut head_len = 0;
        for (h, (name, value)) in desc.headers.iter().zip(&parts.headers) {
            let value = match value {
                Some(v) => v.clone(),
                None => HeaderValue::from_bytes(program.bytes(state, h.value))
                    .map_err(|_| ErrorKind::Other)?,
            };
            head_len += name.as_str().len() + value.len() + 4;
            req = req.header(name, value);
        }
        if let Some(traceparent) = s.added.traceparent {
            req = crate::http2::add_traceparent(req, traceparent, &mut head_len)?;
        }
        req = req
            .header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            )
            .header(http::header::TE, HeaderValue::from_static("trailers"))
            .header("grpc-timeout", self.deadline.clone());
        let frame = self.out.split().freeze();
        self.tally.sent(frame.len() - 5);
        self.last_len = (head_len + frame.len()) as u64;
        let req = req.body(()).map_err(|_| ErrorKind::Other)?;

        let slot = desc.origin.index();
        let origin = &program.origins[desc.origin];
        let sender = match self
            .conns
            .ready(slot, origin, s.tls, s.dial, &mut self.last)
            .await
        {
            Ok((sender, took)) => {
                self.tally.opened = took;
                sender
            }
            Err(failed) => {
                self.tally.open_failed = u64::from(failed.opening);
                return Err(failed.kind);
            }
        };
        self.tally.closed_by_peer = u64::from(self.last.timing.closed_by_server);
        let started = Instant::now();
        self.last.timing.written = Some(started);
        let response = match sender.send.send_request(req, false) {
            Ok((response, mut stream)) => {
                if let Err(e) = stream.send_data(frame, true) {
                    return Err(self.fail(&e, false));
                }
                response
            }
            Err(e) => return Err(self.fail(&e, false)),
        };
        let resp = match response.await {
            Ok(resp) => resp,
            Err(e) => return Err(self.fail(&e, false)),
        };
        self.last.timing.first_byte = Some(Instant::now());
        let keep = info.keep;
        let http_status = resp.status().as_u16();
        let capture = self.last.capture.as_mut().filter(|_| keep.any());
        self.bytes_in = crate::http2::keep_head(
            capture.map(|c| c.start(keep.body)),
            b"HTTP/2",
            http_status,
            || crate::http2::fields(resp.headers()),
        );
        if let Some(v) = resp.headers().get("grpc-status") {
            // Trailers-only: a status without messages.
            let code = parse_status(v);
            self.end_stream(call.server_streaming, 0, None);
            return Ok(code);
        }
        if http_status != 200 {
            return Ok(from_http(http_status));
        }
        self.inbox.clear();
        let mut first = None;
        let mut body = resp.into_body();
        let mut code = None;
        while let Some(data) = body.data().await {
            let data = data.map_err(|e| self.fail(&e, true))?;
            let _ = body.flow_control().release_capacity(data.len());
            self.bytes_in += data.len() as u64;
            self.inbox.extend_from_slice(&data);
            self.drain(
                &method.output,
                keep.body,
                call.server_streaming,
                started,
                &mut first,
            )?;
        }
        let trailers = body.trailers().await.map_err(|e| self.fail(&e, true))?;
        if let Some(trailers) = &trailers {
            self.bytes_in += crate::http2::header_bytes(crate::http2::fields(trailers));
            code = Some(trailers.get("grpc-status").map_or(INTERNAL, parse_status));
            if let Some(c) = self.last.capture.as_mut().filter(|_| keep.head) {
                // Trailers read as headers: `header("grpc-message")` works.
                c.head.truncate(c.head.len().saturating_sub(2));
                crate::http2::push_headers(&mut c.head, crate::http2::fields(trailers));
                c.head.extend_from_slice(b"\r\n");
            }
        }
        if call.server_streaming
            && let Some(c) = self.last.capture.as_mut().filter(|_| keep.body)
        {
            c.push_body(if c.body.is_empty() { b"[]" } else { b"]" });
        }
        self.end_stream(call.server_streaming, self.tally.received, first);
        Ok(code.unwrap_or_else(|| {
            self.last.detail = Some("the server ended the call without a `grpc-status`".into());
            INTERNAL
        }))
    }

    fn end_stream(&mut self, streaming: bool, messages: u64, first: Option<Duration>) {
        if streaming {
            self.tally.stream = Some((messages, first));
        }
    }

    #[cold]
    fn fail(&mut self, e: &h2::Error, in_body: bool) -> ErrorKind {
        let (kind, detail) = crate::h2client::h2_failure(e, in_body);
        self.last.detail = Some(detail);
        kind
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
        self.drop_conn(slot);
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
    ) -> Outcome {
        let slot = program.step(step).origin.index();
        self.last.connected = false;
        self.last.timing = Timing::default();
        self.tally = Tally::default();
        self.bytes_in = 0;
        if let Some(c) = self.last.capture.as_mut() {
            c.clear();
        }
        let timeout = s.timeout;
        let result = tokio::time::timeout(timeout, self.call(program, state, step, info, &s)).await;
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
                    self.tally.stream = Some((self.tally.received, None));
                }
                Outcome::Response {
                    status: Status::Grpc(DEADLINE_EXCEEDED),
                    bytes_in: self.bytes_in,
                }
            }
            Ok(Err(kind)) => Outcome::Error(kind),
            Err(_) => Outcome::Error(ErrorKind::Timeout),
        };
        if matches!(outcome, Outcome::Error(_)) {
            self.drop_conn(slot);
        }
        outcome
    }
}
