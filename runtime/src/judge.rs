//! Where an exchange's outcome goes back into the VM, for every engine.
//!
//! The runtime does not judge responses: the step's `check`, `extract` and
//! `jump.failed` instructions do, when the engine resumes the VU with the outcome.
//! This module is the runtime's half of that meeting: a [`View`] of what the engine
//! kept of the response, and a [`Judge`], the VM host that counts each check and
//! extraction into the worker's statistics.

use std::time::Duration;

use kaioken_vm::{CheckId, ExtractorId, Host, Program, ResponseView, StepId, VuState, Yield};

use crate::response_parser::Capture;
use crate::stats::{Outcome, WorkerStats};

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

/// The VM host of a worker: the system clock, and its statistics for judgements.
pub(crate) struct Judge<'a> {
    pub stats: &'a mut WorkerStats,
}

impl Host for Judge<'_> {
    fn unix_ms(&mut self) -> u64 {
        kaioken_vm::system_unix_ms()
    }

    #[inline]
    fn checked(&mut self, check: CheckId, passed: bool) {
        self.stats.check(check, passed);
    }

    #[inline]
    fn extracted(&mut self, x: ExtractorId, found: bool) {
        self.stats.extraction(x, found);
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
    program.resume_with(state, &mut Judge { stats }, view)
}

/// What of `step`'s responses to keep: what its checks and extractors read, and the
/// head for a cookie jar.
pub(crate) fn keep_for(step: &kaioken_vm::StepDesc, cookie_jar: bool) -> kaioken_vm::Reads {
    if cookie_jar {
        step.reads.union(kaioken_vm::Reads::HEAD)
    } else {
        step.reads
    }
}

/// A capture for a VU of `program`, if its checks or extractors read the head or body,
/// or a cookie jar reads `Set-Cookie`.
pub(crate) fn capture_for(program: &Program, cookie_jar: bool) -> Option<Capture> {
    (program.capture_body || program.capture_head || cookie_jar).then(|| {
        Capture::new(if program.capture_body {
            program.body_limit
        } else {
            0
        })
    })
}

#[cfg(test)]
mod tests {
    use kaioken_compiler::{ConfigFile, Input, compile, lower};

    use super::*;

    /// Each step keeps only what its own checks, extractors and the cookie jar read:
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
        let keep = |jar| {
            program
                .steps
                .iter()
                .map(|s| {
                    let k = keep_for(s, jar);
                    (k.head, k.body)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(keep(false), [(false, true), (true, false), (false, false)]);
        assert_eq!(keep(true), [(true, true), (true, false), (true, false)]);
    }
}
