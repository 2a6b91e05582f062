//! One virtual user as a sans-IO state machine: the per-request flow every engine
//! shares.
//!
//! ```text
//!   next() ──► Yield::Send(step) ──► request() ──► engine performs it (tokio task
//!     ▲                                             with a driver, or io_uring)
//!     │                                                      │
//!     │          After::Redirect ◄── complete(exchange) ◄────┘
//!     │            (engine gates, then request() again: the hop)
//!     └─────────── After::Done: the VM was resumed with the outcome and judged it
//! ```
//!
//! The machine owns what lives across a VU's requests: the VM state, the cookie jar,
//! the connection slots of origins redirects led to, the step in progress and the
//! redirect being followed, and what the VM yielded after judging the last exchange.
//! It records every exchange, absorbs cookies, decides redirects and resumes the VM;
//! it never touches a socket, a clock or a timer. The engines own the I/O, the gates
//! (rate limit, stop, deadline, budget), and when an iteration may start; a VU can
//! move from one engine to another between two of its requests.

use std::time::Instant;

use kaioken_vm::{
    HeaderFault, Method, Operand, Program, Protocol, Status, StepId, SystemHost, VuState, Yield,
};

use crate::cookies::Jar;
use crate::http1::Added;
use crate::judge::{View, after_exchange};
use crate::redirect::{Hop, Origins, Sent, follow};
use crate::stats::{Outcome, Timing, WorkerStats};
use kaioken_http1::Capture;

/// A virtual user.
pub(crate) struct Vu {
    /// The VM state: buffers, extracted values, counters, where it is.
    pub state: VuState,
    /// With `--cookie-jar`.
    jar: Option<Jar>,
    /// Connection slots, including origins redirects led to.
    origins: Origins,
    /// The step in progress (the last one the VM yielded).
    step: StepId,
    /// The redirect of `step` to send next, if the last response was one.
    hop: Option<Hop>,
    /// What the VM yielded after judging the last exchange, not yet acted on.
    next: Option<Yield>,
}

/// The request a VU sends now: its step's own, or the redirect it led to.
pub(crate) struct Request<'a> {
    pub step: StepId,
    pub protocol: Protocol,
    /// The redirect, when this request is one.
    pub hop: Option<&'a Hop>,
    /// The `Cookie` header from the jar, if any cookie applies.
    pub cookie: Option<&'a [u8]>,
    /// `--trace-sample`: the `traceparent` header's value, when the engine sampled
    /// this request (trace.rs).
    pub traceparent: Option<&'a [u8]>,
    /// The VM state whose buffers hold the request's parts.
    pub state: &'a VuState,
}

/// Why a request cannot be sent: a header whose value, built at run time, holds a
/// byte no header may carry, or a path built at run time that does not start with
/// `/`. Its `Display` is the report's message: what and why, never the value (it
/// may be a credential, and it is the server's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsendable<'p> {
    Header {
        /// The header's name.
        header: &'p [u8],
        fault: HeaderFault,
    },
    /// A URL that starts with an extracted value (`url = "${next}"`) that does not
    /// come to a path: an absolute URL, whose origin would not be the one the VU is
    /// connected to, or nothing at all (the extractor found nothing).
    Path,
}

impl std::fmt::Display for Unsendable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsendable::Header { header, fault } => write!(
                f,
                "header `{}`: its value has {fault}, which no header may carry; the request \
                 was not sent",
                String::from_utf8_lossy(header),
            ),
            Unsendable::Path => f.write_str(
                "the URL starts with an extracted value that does not start with `/`; a \
                 relative URL must be a path, so the request was not sent",
            ),
        }
    }
}

impl Request<'_> {
    /// The headers it carries beside its step's.
    pub fn added(&self) -> Added<'_> {
        Added {
            cookie: self.cookie,
            traceparent: self.traceparent,
        }
    }

    /// The first header whose value, built at run time, holds a byte no header may
    /// carry (a line break would end the header and start another of the value's
    /// choosing). Fixed values were checked by the compiler with the same rule;
    /// paths need no check here, as the VM percent-encodes what it interpolates into
    /// them. Reads each run-time value once and allocates nothing.
    ///
    /// A path that starts with an extracted value (a relative `Location`,
    /// `StepDesc::path_from_value`, decided by the compiler) must still come to
    /// start with `/`, which only the run can see.
    pub fn unsendable<'p>(&self, program: &'p Program) -> Option<Unsendable<'p>> {
        let step = program.step(self.step);
        // A redirect's hop has its own target, resolved from its `Location`.
        if step.path_from_value
            && self.hop.is_none()
            && !program.bytes(self.state, step.path).starts_with(b"/")
        {
            return Some(Unsendable::Path);
        }
        for h in &step.headers {
            if let Operand::Buf(_) = h.value {
                let value = program.bytes(self.state, h.value);
                if let Some(fault) = kaioken_vm::header_value_fault(value) {
                    return Some(Unsendable::Header {
                        header: program.constant(h.name),
                        fault,
                    });
                }
            }
        }
        let fault = kaioken_vm::header_value_fault(self.cookie?)?;
        Some(Unsendable::Header {
            header: b"cookie",
            fault,
        })
    }
}

/// What an engine measured of one exchange.
pub(crate) struct Exchange<'a> {
    pub outcome: Outcome,
    pub start: Instant,
    pub end: Instant,
    /// With latency correction: when the request should have been sent.
    pub intended: Option<Instant>,
    /// Request bytes that reached the socket.
    pub bytes_sent: u64,
    /// What the driver kept of the response for checks, extractors and the jar.
    pub capture: Option<&'a Capture>,
    /// The response's `Location`, when it was a redirect to follow.
    pub location: &'a [u8],
    /// Where its time went, and how it used its connection.
    pub timing: Timing,
    /// `--compressed`: what decoding its body came to, if it was encoded.
    pub decoded: Option<crate::decode::Decoded>,
}

/// What the worker lends a VU to complete an exchange.
pub(crate) struct Worker<'a> {
    pub program: &'a Program,
    pub stats: &'a mut WorkerStats,
    pub max_redirects: u32,
}

/// What comes after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// The response was a redirect to follow: once the engine's gate lets it, send
    /// [`Vu::request`] again. `evicted` is a connection slot the new origin took over
    /// (its old connection must be closed).
    Redirect { evicted: Option<usize> },
    /// The step is over: the VM judged the outcome, and [`Vu::next`] says what the
    /// VU does now.
    Done,
}

impl Vu {
    /// VU number `number` (from 1) of `program`, at the start of its first iteration.
    pub fn new(program: &Program, number: u32, cookie_jar: bool) -> Vu {
        Vu {
            state: program.create_vu_state(number),
            jar: cookie_jar.then(Jar::default),
            origins: Origins::new(&program.origins),
            step: StepId(0),
            hop: None,
            next: None,
        }
    }

    /// Whether the VU stands between two iterations (nothing of one is pending).
    pub fn between_iterations(&self, program: &Program) -> bool {
        self.hop.is_none()
            && match self.next {
                None => self.state.is_at_entry(program),
                Some(y) => matches!(
                    y,
                    Yield::IterationDone | Yield::IterationAborted | Yield::DataExhausted
                ),
            }
    }

    /// Whether a redirect is waiting to be sent: the step is not over.
    pub fn following(&self) -> bool {
        self.hop.is_some()
    }

    /// The step in progress.
    pub fn step(&self) -> StepId {
        self.step
    }

    /// The redirect waiting to be sent, if any. For the io_uring engine (Linux).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn redirect(&self) -> Option<&Hop> {
        self.hop.as_ref()
    }

    /// The method of the request to send now. For the io_uring engine (Linux).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn method<'a>(&'a self, program: &'a Program) -> &'a Method {
        match &self.hop {
            Some(h) => &h.method,
            None => &program.step(self.step).method,
        }
    }

    /// The VU's next effect: what the VM yielded after judging the last exchange, or
    /// else the VM resumed (at the start of an iteration, or after a sleep).
    pub fn next(&mut self, program: &Program) -> Yield {
        let effect = match self.next.take() {
            Some(effect) => effect,
            None => program.resume(&mut self.state, &mut SystemHost),
        };
        if let Yield::Send(step) = effect {
            self.step = step;
            self.hop = None;
        }
        effect
    }

    /// The request to send now.
    pub fn request<'a>(&'a mut self, program: &'a Program) -> Request<'a> {
        let desc = program.step(self.step);
        let (origin, path) = match &self.hop {
            Some(h) => (&h.origin, h.path.as_slice()),
            None => (
                &program.origins[desc.origin],
                program.bytes(&self.state, desc.path),
            ),
        };
        let cookie = match &mut self.jar {
            Some(jar) => jar.header_for(origin, path),
            None => None,
        };
        Request {
            step: self.step,
            protocol: desc.protocol,
            hop: self.hop.as_ref(),
            cookie,
            traceparent: None,
            state: &self.state,
        }
    }

    /// The exchange of [`Vu::request`] ended: count it, keep its cookies, follow a
    /// redirect, or resume the VM with the outcome so the step's checks, extractors
    /// and failure policy judge it.
    pub fn complete(&mut self, w: &mut Worker<'_>, ex: &Exchange<'_>) -> After {
        let program = w.program;
        let took = w
            .stats
            .record(ex.start, ex.end, ex.intended, ex.bytes_sent, ex.outcome);
        w.stats.step(self.step.index(), ex.end, took, ex.outcome);
        w.stats.phases(&ex.timing, ex.end, ex.outcome);
        if let Some(decoded) = ex.decoded {
            w.stats.decoded(ex.end, decoded);
        }
        let desc = program.step(self.step);
        let step_origin = &program.origins[desc.origin];
        let (origin, path) = match &self.hop {
            Some(h) => (&h.origin, h.path.as_slice()),
            None => (step_origin, program.bytes(&self.state, desc.path)),
        };
        if let Outcome::Response {
            status: Status::Http(status),
            ..
        } = ex.outcome
        {
            if let (Some(jar), Some(c)) = (&mut self.jar, ex.capture) {
                jar.absorb(origin, path, &c.head);
            }
            let sent = Sent::new(desc, step_origin, self.hop.as_ref(), path);
            if let Some(next) = follow(
                status,
                ex.location,
                &sent,
                w.max_redirects,
                &mut self.origins,
            ) {
                // The redirect was one of the scenario's requests; the step goes on.
                w.stats
                    .scenario(usize::from(desc.scenario), ex.end, took, false);
                self.hop = Some(next);
                return After::Redirect {
                    evicted: self.origins.evicted.take(),
                };
            }
        }
        self.hop = None;
        if let Outcome::Response { status, .. } = ex.outcome
            && !desc.expected.admits(status)
        {
            w.stats
                .unexpected(ex.end, usize::from(desc.scenario), self.step.index());
        }
        let view = View {
            outcome: ex.outcome,
            duration: took,
            capture: ex.capture,
        };
        self.next = Some(after_exchange(
            program,
            self.step,
            &view,
            ex.end,
            &mut self.state,
            w.stats,
        ));
        After::Done
    }

    /// Count the request [`Request::unsendable`] found unsendable as an
    /// `invalid_request` error, with its message, and judge the step as any failed
    /// exchange (its checks fail, the iteration is abandoned). Nothing was sent.
    #[cold]
    pub fn refuse(
        &mut self,
        w: &mut Worker<'_>,
        why: &Unsendable<'_>,
        at: Instant,
        intended: Option<Instant>,
    ) {
        w.stats
            .note_error_detail(crate::ErrorKind::InvalidRequest, || why.to_string());
        let exchange = Exchange {
            outcome: Outcome::Error(crate::ErrorKind::InvalidRequest),
            start: at,
            end: at,
            intended,
            bytes_sent: 0,
            capture: None,
            location: &[],
            timing: Timing::default(),
            decoded: None,
        };
        // A failure is never a redirect: the step is over.
        let after = self.complete(w, &exchange);
        debug_assert_eq!(after, After::Done);
    }

    /// Give up the redirect waiting to be sent (the run is ending): the step is cut
    /// short after a counted hop, and no check judges a response it never finished.
    pub fn abandon_redirect(&mut self, program: &Program) {
        if self.hop.take().is_some() {
            self.state.restart_iteration(program);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use kaioken_compiler::{ConfigFile, Input, compile, lower};

    use super::*;

    fn program(text: &str) -> Program {
        let input = Input {
            config: Some(ConfigFile {
                name: "vu.toml".into(),
                text: text.into(),
            }),
            ..Input::default()
        };
        compile(&lower(&input).unwrap()).unwrap()
    }

    /// Drives a VU machine by hand, as an engine would, with made-up responses.
    struct Bench {
        program: Program,
        stats: WorkerStats,
        t0: Instant,
    }

    impl Bench {
        fn new(text: &str) -> Bench {
            let program = program(text);
            let t0 = Instant::now();
            let stats = WorkerStats::new(t0, 1)
                .with_checks(program.checks.len())
                .with_extractors(program.extractors.len());
            Bench { program, stats, t0 }
        }

        /// Complete `vu`'s exchange with `outcome`, a captured head and body.
        fn complete(&mut self, vu: &mut Vu, outcome: Outcome, head: &str, body: &str) -> After {
            let mut capture = Capture::new(1024);
            capture.start(true);
            capture.head.extend_from_slice(head.as_bytes());
            capture.push_body(body.as_bytes());
            let location = head
                .lines()
                .find_map(|l| l.strip_prefix("location: "))
                .unwrap_or("");
            let exchange = Exchange {
                outcome,
                start: self.t0,
                end: self.t0 + Duration::from_millis(3),
                intended: None,
                bytes_sent: 10,
                capture: Some(&capture),
                location: location.as_bytes(),
                timing: Timing::default(),
                decoded: None,
            };
            let mut worker = Worker {
                program: &self.program,
                stats: &mut self.stats,
                max_redirects: 5,
            };
            vu.complete(&mut worker, &exchange)
        }
    }

    fn ok(status: u16) -> Outcome {
        Outcome::Response {
            status: Status::Http(status),
            bytes_in: 10,
        }
    }

    const LOGIN: &str = r#"
        [target]
        url = "http://127.0.0.1:9/"
        cookie_jar = true
        [[scenarios]]
        [[scenarios.steps]]
        url = "/login"
        extract = { token = "json:$.token" }
        checks = ["status == 200"]
        [[scenarios.steps]]
        url = "/items?t=${token}"
    "#;

    /// A redirect keeps the step going: the hop is the next request, the cookies it
    /// set go with it, and only the last response is judged.
    #[test]
    fn follows_a_redirect_then_judges_the_last_response() {
        let mut b = Bench::new(LOGIN);
        let mut vu = Vu::new(&b.program, 1, true);
        assert!(vu.between_iterations(&b.program));
        assert_eq!(vu.next(&b.program), Yield::Send(StepId(0)));
        assert!(!vu.between_iterations(&b.program));
        let head = "HTTP/1.1 302 Found\r\nlocation: /welcome\r\nset-cookie: sid=abc\r\n\r\n";
        assert_eq!(
            b.complete(&mut vu, ok(302), head, ""),
            After::Redirect { evicted: None }
        );
        let request = vu.request(&b.program);
        assert_eq!(
            request.hop.map(|h| h.path.as_slice()),
            Some(&b"/welcome"[..])
        );
        assert_eq!(request.cookie, Some(&b"sid=abc"[..]));
        assert_eq!(b.stats.checks, [[0, 0]], "a redirect is not judged");
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n";
        assert_eq!(
            b.complete(&mut vu, ok(200), head, r#"{"token": "t1"}"#),
            After::Done
        );
        assert_eq!(b.stats.checks, [[1, 0]]);
        assert_eq!(b.stats.extractions, [[1, 0]]);
        assert_eq!(vu.next(&b.program), Yield::Send(StepId(1)));
        let request = vu.request(&b.program);
        assert!(request.hop.is_none());
        assert_eq!(request.cookie, Some(&b"sid=abc"[..]));
        let path = b.program.step(StepId(1)).path;
        assert_eq!(b.program.bytes(&vu.state, path), b"/items?t=t1");
        assert_eq!(b.stats.counts.responses, 2);
    }

    /// A failed exchange fails the step's checks, empties its variables and abandons
    /// the iteration: the next request starts the next one.
    #[test]
    fn a_failure_abandons_the_iteration() {
        let mut b = Bench::new(LOGIN);
        let mut vu = Vu::new(&b.program, 1, false);
        assert_eq!(vu.next(&b.program), Yield::Send(StepId(0)));
        let failed = Outcome::Error(crate::ErrorKind::ConnectRefused);
        assert_eq!(b.complete(&mut vu, failed, "", ""), After::Done);
        assert!(vu.between_iterations(&b.program));
        assert_eq!(vu.next(&b.program), Yield::IterationAborted);
        assert_eq!(vu.next(&b.program), Yield::Send(StepId(0)));
        assert_eq!(b.stats.checks, [[0, 1]]);
        assert_eq!(b.stats.extractions, [[0, 1]]);
        assert_eq!(b.stats.counts.errors.iter().sum::<u64>(), 1);
    }

    /// A value extracted from a response that would break a header out of its line
    /// is found before sending: the request is refused, counted as `invalid_request`
    /// with a message naming the header and the byte (not the value), and judged as a
    /// failed exchange. In the path the same value is percent-encoded instead.
    #[test]
    fn an_extracted_line_break_is_refused_in_a_header_and_encoded_in_a_path() {
        let mut b = Bench::new(
            r#"
            [target]
            url = "http://127.0.0.1:9/"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/token"
            extract = { t = "body" }
            [[scenarios.steps]]
            url = "/use?t=${t}"
            headers = { "X-Token" = "${t}" }
            checks = ["status == 200"]
            "#,
        );
        let mut vu = Vu::new(&b.program, 1, false);
        assert_eq!(vu.next(&b.program), Yield::Send(StepId(0)));
        let head = "HTTP/1.1 200 OK\r\n\r\n";
        b.complete(&mut vu, ok(200), head, "abc\r\nX-Injected: 1");
        assert_eq!(vu.next(&b.program), Yield::Send(StepId(1)));
        let program = &b.program;
        let request = vu.request(program);
        let path = program.step(StepId(1)).path;
        assert_eq!(
            program.bytes(request.state, path),
            b"/use?t=abc%0D%0AX-Injected:%201"
        );
        let why = request.unsendable(program).expect("refused");
        assert_eq!(
            why.to_string(),
            "header `x-token`: its value has a carriage return (0x0d) at byte 3, which no \
             header may carry; the request was not sent"
        );
        let mut worker = Worker {
            program,
            stats: &mut b.stats,
            max_redirects: 5,
        };
        vu.refuse(&mut worker, &why, b.t0, None);
        let errors = b.stats.counts.errors;
        assert_eq!(errors[crate::ErrorKind::InvalidRequest as usize], 1);
        assert_eq!(errors.iter().sum::<u64>(), 1);
        assert_eq!(
            b.stats.error_details[crate::ErrorKind::InvalidRequest as usize].as_deref(),
            Some(why.to_string().as_str())
        );
        assert_eq!(b.stats.checks, [[0, 1]], "the step's check fails");
        assert!(
            vu.between_iterations(&b.program),
            "the iteration is abandoned"
        );
        assert_eq!(vu.next(&b.program), Yield::IterationAborted);

        // A clean value goes through.
        assert_eq!(vu.next(&b.program), Yield::Send(StepId(0)));
        b.complete(&mut vu, ok(200), head, "abc\tdef");
        assert_eq!(vu.next(&b.program), Yield::Send(StepId(1)));
        assert_eq!(vu.request(&b.program).unsendable(&b.program), None);
    }

    /// A URL that starts with an extracted value is sent only when it comes to a
    /// path: an absolute URL (another origin) is refused, as `invalid_request`,
    /// before anything is written.
    #[test]
    fn a_url_that_starts_with_an_extracted_value_must_be_a_path() {
        let mut b = Bench::new(
            r#"
            [target]
            url = "http://127.0.0.1:9/"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/orders"
            extract = { next = "body" }
            [[scenarios.steps]]
            url = "${next}/items"
            "#,
        );
        let head = "HTTP/1.1 201 Created\r\n\r\n";
        for (body, sent) in [
            ("/orders/98765abc", Some(&b"/orders/98765abc/items"[..])),
            ("http://evil.test/x", None),
            // Nothing extracted (counted as a failed extraction): what follows the
            // value is still a path on the same origin.
            ("", Some(&b"/items"[..])),
        ] {
            let mut vu = Vu::new(&b.program, 1, false);
            assert_eq!(vu.next(&b.program), Yield::Send(StepId(0)));
            b.complete(&mut vu, ok(201), head, body);
            assert_eq!(vu.next(&b.program), Yield::Send(StepId(1)));
            let program = &b.program;
            let request = vu.request(program);
            let why = request.unsendable(program);
            match sent {
                Some(path) => {
                    assert_eq!(why, None);
                    let desc = program.step(StepId(1));
                    assert_eq!(program.bytes(request.state, desc.path), path);
                }
                None => assert_eq!(why, Some(Unsendable::Path), "{body:?}"),
            }
        }
    }

    /// A redirect given up because the run ends leaves the VU at its entry, with no
    /// judgement of a response it never finished.
    #[test]
    fn an_abandoned_redirect_is_not_judged() {
        let mut b = Bench::new(LOGIN);
        let mut vu = Vu::new(&b.program, 1, false);
        vu.next(&b.program);
        let head = "HTTP/1.1 307 Temporary Redirect\r\nlocation: /again\r\n\r\n";
        assert!(matches!(
            b.complete(&mut vu, ok(307), head, ""),
            After::Redirect { .. }
        ));
        assert!(vu.following());
        vu.abandon_redirect(&b.program);
        assert!(!vu.following());
        assert!(vu.between_iterations(&b.program));
        assert_eq!(b.stats.checks, [[0, 0]]);
    }
}
