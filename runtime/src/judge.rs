//! Where an exchange's outcome goes back into the VM, for every engine.
//!
//! The runtime does not judge responses: the step's `check`, `extract` and
//! `jump.failed` instructions do, when the engine resumes the VU with the outcome.
//! This module is the runtime's half of that meeting: a [`View`] of what the engine
//! kept of the response, and a [`Judge`], the VM host that counts each check and
//! extraction into the worker's statistics.

use std::time::Duration;

use kaioken_vm::{
    CheckId, ExtractorId, Host, Program, Reads, ResponseView, StepId, TransportPlan, VuState, Yield,
};

use crate::stats::{Outcome, WorkerStats};
use kaioken_http1::Capture;

/// An exchange's outcome as checks and extractors see it: the status, the time it
/// took, and what the engine kept of the head and body.
pub(crate) struct View<'a> {
    pub outcome: Outcome,
    pub duration: Duration,
    pub capture: Option<&'a Capture>,
}

impl ResponseView for View<'_> {
    fn completed(&self) -> bool {
        matches!(self.outcome, Outcome::Response { .. })
    }

    fn status(&self) -> u16 {
        match self.outcome {
            Outcome::Response { status, .. } => status.code(),
            Outcome::Error(_) => 0,
        }
    }

    fn duration(&self) -> Duration {
        self.duration
    }

    fn body(&self) -> &[u8] {
        self.capture.map_or(&[], |c| &c.body)
    }

    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.capture?.header(name)
    }
}

/// The VM host of a worker: the system clock, and its statistics for the
/// judgements of an exchange that ended at `end` (none are counted during the
/// warm-up, as none of its requests are).
pub(crate) struct Judge<'a> {
    pub stats: &'a mut WorkerStats,
    pub end: std::time::Instant,
}

impl Host for Judge<'_> {
    fn unix_ms(&mut self) -> u64 {
        kaioken_vm::system_unix_ms()
    }

    #[inline]
    fn checked(&mut self, check: CheckId, passed: bool) {
        self.stats.check(check, self.end, passed);
    }

    #[inline]
    fn extracted(&mut self, x: ExtractorId, found: bool) {
        self.stats.extraction(x, self.end, found);
    }
}

/// Everything that happens when a step's exchange is over, besides the latency
/// record: its scenario's count, then the VM resumed with the outcome (its checks,
/// extractors and failure policy run there). Returns what the VU does next. Every
/// engine calls this.
#[inline]
pub(crate) fn after_exchange(
    program: &Program,
    step: StepId,
    view: &View<'_>,
    end: std::time::Instant,
    state: &mut VuState,
    stats: &mut WorkerStats,
) -> Yield {
    let scenario = usize::from(program.step(step).scenario);
    stats.scenario(scenario, end, view.duration, !view.completed());
    program.resume_with(state, &mut Judge { stats, end }, view)
}

/// What of `step`'s responses to keep: what its checks and extractors read, the
/// head for a cookie jar, everything to show with `-v` (verbose.rs), and for an HTTP
/// step everything to decode with `--compressed` (decode.rs).
pub(crate) fn keep_for(step: &kaioken_vm::StepDesc, transport: &TransportPlan) -> Reads {
    let mut keep = step.reads;
    if transport.cookie_jar {
        keep = keep.union(Reads::HEAD);
    }
    let http = step.kind == kaioken_vm::StepKind::Http;
    if (http && transport.compressed) || transport.verbose.is_some() {
        keep = Reads {
            head: true,
            body: true,
        };
    }
    keep
}

/// A capture for a VU of `program`, if its checks or extractors read the head or body,
/// a cookie jar reads `Set-Cookie`, or `--compressed` decodes bodies.
pub(crate) fn capture_for(program: &Program, transport: &TransportPlan) -> Option<Capture> {
    let body = program.capture_body || transport.compressed || transport.verbose.is_some();
    (body || program.capture_head || transport.cookie_jar)
        .then(|| Capture::new(if body { program.body_limit } else { 0 }))
}

#[cfg(test)]
mod tests {
    use kaioken_compiler::{ConfigFile, Input, compile, lower};

    use super::*;

    /// Each step keeps only what its own checks, extractors and the cookie jar read
    /// (and `--compressed` decodes):
    /// a body check on one step does not make every step's body be copied.
    #[test]
    fn keep_is_per_step() {
        let text = r#"
            [target]
            url = "http://127.0.0.1:9/"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/a"
            checks = ['body contains "x"']
            [[scenarios.steps]]
            url = "/b"
            extract = { etag = "header:etag" }
            [[scenarios.steps]]
            url = "/c"
            checks = ["status == 200"]
        "#;
        let input = Input {
            config: Some(ConfigFile {
                name: "keep.toml".into(),
                text: text.into(),
            }),
            ..Input::default()
        };
        let program = compile(&lower(&input).unwrap()).unwrap();
        let keep = |cookie_jar, compressed| {
            let transport = TransportPlan {
                timeout: std::time::Duration::from_secs(1),
                insecure: false,
                cacert_pem: None,
                client_cert: None,
                cookie_jar,
                max_redirects: 0,
                compressed,
                keepalive: true,
                h2_streams: 1,
                connect_to: Vec::new(),
                dns_refresh: None,
                unix_socket: None,
                proxy: None,
                verbose: None,
                trace_sample: 0.0,
            };
            program
                .steps
                .iter()
                .map(|s| {
                    let k = keep_for(s, &transport);
                    (k.head, k.body)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keep(false, false),
            [(false, true), (true, false), (false, false)]
        );
        assert_eq!(
            keep(true, false),
            [(true, true), (true, false), (true, false)]
        );
        // Decoding needs the head's `content-encoding` and the body, for every step.
        assert_eq!(keep(false, true), [(true, true); 3]);
    }
}
