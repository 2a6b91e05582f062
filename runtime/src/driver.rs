//! The driver seam: what the tokio engine asks of a protocol driver, and the one
//! place where a VU's request meets the driver of its step's protocol.
//!
//! A driver performs one exchange at a time for one VU, keeping a connection per
//! origin slot, and reports what it kept of the response. [`Driver`] is the part any
//! code may hold as `dyn Driver`; [`Perform`] adds the exchange itself (an `async`
//! method, so it is dispatched statically, without a boxed future per request).
//! [`Drivers`] holds a VU's drivers, made on first use, one per protocol its steps
//! speak. A new protocol is a driver file implementing both traits, and one arm in
//! each `match` below.

use std::sync::Arc;
use std::time::Duration;

use kaioken_vm::{Program, Protocol, TransportPlan};
use rustls::ClientConfig;

use crate::deadline::{Armed, Deadline};
use crate::decode::Decoded;
use crate::grpc::{Grpc, GrpcMethod};
use crate::http1::{Http1, Sending, StepInfo};
use crate::http2::{Http2, Prepared};
use crate::http3::Http3;
use crate::stats::{Outcome, Tally, Timing};
use crate::vu::Request;
use crate::ws::Ws;
use kaioken_http1::Capture;

/// What every driver keeps of its last exchange.
#[derive(Debug, Default)]
pub(crate) struct Last {
    /// What went wrong with the last failed exchange, if the driver knows more than
    /// the error's class (for the report's first example of each kind).
    pub detail: Option<String>,
    /// The last response's head (as HTTP/1.1 spells it) and body, kept when the step
    /// reads them.
    pub capture: Option<Capture>,
    /// The last response's `Location`, when it was a redirect to follow.
    pub location: Vec<u8>,
    /// The last request went out twice: its reused connection turned out closed
    /// before any of a response came, and it was sent again on a new one.
    pub reconnected: bool,
    /// The last request made a new connection (for the back-off: backoff.rs).
    pub connected: bool,
    /// Where the last exchange's time went (stats/phases.rs).
    pub timing: Timing,
    /// `--compressed`: what decoding the last response's body came to, when it was
    /// encoded (decode.rs).
    pub decoded: Option<Decoded>,
}

/// What a driver tells of its last exchange, and its connections.
pub(crate) trait Driver {
    /// What it kept of its last exchange.
    fn last(&self) -> &Last;
    /// The same, to take from.
    fn last_mut(&mut self) -> &mut Last;
    /// Request bytes of the last exchange that reached the socket (HTTP/2: as
    /// HTTP/1.1 would spell the head; HPACK makes the wire smaller).
    fn bytes_sent(&self) -> u64;
    /// Close the connection in `slot` (its origin was replaced).
    fn close(&mut self, slot: usize);

    /// The last response's kept head and body, when the step reads them.
    fn capture(&self) -> Option<&Capture> {
        self.last().capture.as_ref()
    }
    /// The last response's `Location`, when it was a redirect to follow.
    fn location(&self) -> &[u8] {
        &self.last().location
    }
    /// The last failure's detail, taken.
    fn take_detail(&mut self) -> Option<String> {
        self.last_mut().detail.take()
    }
    /// What the last exchange counted of messages and sessions (the message
    /// protocols' drivers), taken.
    fn take_tally(&mut self) -> Option<Tally> {
        None
    }
}

/// A driver's exchange.
pub(crate) trait Perform: Driver {
    /// Send `step`'s request (or, with `s.hop`, the redirect it led to) and read the
    /// whole response before `deadline` (the VU's timer, set to `s.timeout`
    /// after the request's start).
    async fn perform(
        &mut self,
        program: &Program,
        state: &kaioken_vm::VuState,
        step: kaioken_vm::StepId,
        info: &StepInfo,
        s: Sending<'_>,
        deadline: Armed<'_>,
    ) -> Outcome;
}

/// What every exchange of a run shares: settings and the TLS configuration of each
/// protocol (ALPN differs).
pub(crate) struct Transport {
    pub http: TransportPlan,
    /// By [`Protocol::index`]; `None` when no origin of that protocol may be `https`.
    pub tls: [Option<Arc<ClientConfig>>; Protocol::ALL.len()],
    pub infos: Arc<[StepInfo]>,
    /// Each step's request parts for HTTP/2, gRPC and HTTP/3 (http2.rs's
    /// `prepare`), made once for the run: every VU's driver reads the same, so
    /// they stay in the cache from one VU's request to the next.
    pub prepared: Arc<[Option<Prepared>]>,
    /// The gRPC methods steps call, resolved in the program's schema.
    pub grpc: Arc<[GrpcMethod]>,
    /// Where connections go (`--connect-to`, the run's DNS answers).
    pub dial: Arc<crate::dial::Dial>,
}

impl Transport {
    fn timeout(&self) -> Duration {
        self.http.timeout
    }
}

/// One VU's drivers, one per protocol, each made when a step first needs it, and
/// the request timer they share.
#[derive(Default)]
pub(crate) struct Drivers {
    deadline: Deadline,
    http1: Option<Http1>,
    http2: Option<Http2>,
    grpc: Option<Grpc>,
    http3: Option<Http3>,
    ws: Option<Ws>,
}

impl Drivers {
    /// Perform `request`, which starts at `start`, with the driver of its
    /// protocol; the outcome, and the driver for what it kept of the exchange.
    pub async fn perform(
        &mut self,
        program: &Program,
        transport: &Transport,
        request: &Request<'_>,
        start: std::time::Instant,
    ) -> (Outcome, &mut dyn Driver) {
        let info = &transport.infos[request.step.index()];
        let limit = transport.timeout();
        let s = Sending {
            tls: transport.tls[request.protocol.index()].as_ref(),
            dial: &transport.dial,
            timeout: limit,
            added: request.added(),
            hop: request.hop,
        };
        let (state, step) = (request.state, request.step);
        let deadline = (self.deadline).arm(tokio::time::Instant::from_std(start), limit);
        let (outcome, driver): (Outcome, &mut dyn Driver) = match request.protocol {
            Protocol::Http1 => {
                let d = self
                    .http1
                    .get_or_insert_with(|| Http1::new(program, &transport.http));
                (d.perform(program, state, step, info, s, deadline).await, d)
            }
            Protocol::Http2 => {
                let d = self
                    .http2
                    .get_or_insert_with(|| Http2::new(program, transport));
                (d.perform(program, state, step, info, s, deadline).await, d)
            }
            Protocol::Grpc => {
                let d = self
                    .grpc
                    .get_or_insert_with(|| Grpc::new(program, transport));
                (d.perform(program, state, step, info, s, deadline).await, d)
            }
            Protocol::Http3 => {
                let d = self
                    .http3
                    .get_or_insert_with(|| Http3::new(program, transport));
                (d.perform(program, state, step, info, s, deadline).await, d)
            }
            Protocol::WebSocket => {
                let d = self
                    .ws
                    .get_or_insert_with(|| Ws::new(program, &transport.http));
                (d.perform(program, state, step, info, s, deadline).await, d)
            }
        };
        if program.step(step).kind == kaioken_vm::StepKind::Http {
            let last = driver.last_mut();
            last.decoded = crate::decode::after_exchange(
                transport.http.compressed,
                &outcome,
                last.capture.as_mut(),
            );
        }
        (outcome, driver)
    }

    /// The VU is done: its WebSocket connections close as the protocol says
    /// ([`Ws::finish`]); the other drivers' connections close when dropped.
    pub async fn finish(&mut self, hard_stop: impl std::future::Future<Output = ()>) {
        if let Some(ws) = &mut self.ws {
            ws.finish(hard_stop).await;
        }
    }

    /// The driver of `protocol`, if a step has used it.
    pub fn get(&mut self, protocol: Protocol) -> Option<&mut dyn Driver> {
        match protocol {
            Protocol::Http1 => self.http1.as_mut().map(|d| d as &mut dyn Driver),
            Protocol::Http2 => self.http2.as_mut().map(|d| d as &mut dyn Driver),
            Protocol::Grpc => self.grpc.as_mut().map(|d| d as &mut dyn Driver),
            Protocol::Http3 => self.http3.as_mut().map(|d| d as &mut dyn Driver),
            Protocol::WebSocket => self.ws.as_mut().map(|d| d as &mut dyn Driver),
        }
    }

    /// Close connection slot `slot` in every driver (an origin replaced it).
    pub fn close(&mut self, slot: usize) {
        for protocol in Protocol::ALL {
            if let Some(d) = self.get(protocol) {
                d.close(slot);
            }
        }
    }
}
