//! Running a step's checks and extractors on each response, for every engine.

use std::time::Duration;

use kaioken_vm::{ExtractKind, Program, ResponseView, StepDesc, StepId, VuState};

use crate::http1::Keep;

use crate::response_parser::Capture;
use crate::stats::{Outcome, WorkerStats};

/// A response as checks see it: the status, the time it took, and what the engine
/// kept of the head and body.
struct View<'a> {
    status: u16,
    duration: Duration,
    capture: Option<&'a Capture>,
}

impl ResponseView for View<'_> {
    fn status(&self) -> u16 {
        self.status
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

/// Evaluate `step`'s checks on a finished request and count each pass or failure. A
/// request that got no response fails all of its checks: none of them held.
#[inline]
pub(crate) fn run_checks(
    program: &Program,
    step: StepId,
    outcome: Outcome,
    duration: Duration,
    capture: Option<&Capture>,
    stats: &mut WorkerStats,
) {
    let ids = &program.step(step).checks;
    if ids.is_empty() {
        return;
    }
    match outcome {
        Outcome::Response { status, .. } => {
            let view = View {
                status,
                duration,
                capture,
            };
            for &id in ids {
                stats.check(id, program.checks[id.index()].expr.eval(&view));
            }
        }
        Outcome::Error(_) => {
            for &id in ids {
                stats.check(id, false);
            }
        }
    }
}

/// Run `step`'s extractors on a finished request: each writes its variable's slot
/// (emptied when nothing matched, or when the request got no response) and is counted
/// as a success or a failure. Runs after the checks.
#[inline]
pub(crate) fn run_extracts(
    program: &Program,
    step: StepId,
    outcome: Outcome,
    duration: Duration,
    capture: Option<&Capture>,
    state: &mut VuState,
    stats: &mut WorkerStats,
) {
    let ids = &program.step(step).extracts;
    if ids.is_empty() {
        return;
    }
    for &id in ids {
        let x = &program.extractors[id.index()];
        let ok = match outcome {
            Outcome::Response { status, .. } => x.extract(
                &View {
                    status,
                    duration,
                    capture,
                },
                state.slot_mut(x.slot),
            ),
            Outcome::Error(_) => {
                state.slot_mut(x.slot).clear();
                false
            }
        };
        stats.extraction(id, ok);
    }
}

/// Everything that happens after a request finishes besides the latency record: the
/// per-scenario count, the step's checks, then its extractors. Every engine calls this.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn per_response(
    program: &Program,
    step: StepId,
    outcome: Outcome,
    end: std::time::Instant,
    took: Duration,
    capture: Option<&Capture>,
    state: &mut VuState,
    stats: &mut WorkerStats,
) {
    let scenario = usize::from(program.step(step).scenario);
    stats.scenario(scenario, end, took, matches!(outcome, Outcome::Error(_)));
    run_checks(program, step, outcome, took, capture, stats);
    run_extracts(program, step, outcome, took, capture, state, stats);
}

/// What `step`'s checks and extractors (and a cookie jar) read of its responses.
pub(crate) fn keep_for(program: &Program, step: &StepDesc, cookie_jar: bool) -> Keep {
    let mut keep = Keep {
        head: cookie_jar,
        body: false,
    };
    for id in &step.checks {
        let (body, head) = program.checks[id.index()].expr.needs();
        keep.body |= body;
        keep.head |= head;
    }
    for id in &step.extracts {
        match program.extractors[id.index()].kind {
            ExtractKind::Header(_) => keep.head = true,
            _ => keep.body = true,
        }
    }
    keep
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
        let program = compile(&lower(&input).unwrap());
        let keep = |jar| {
            program
                .steps
                .iter()
                .map(|s| {
                    let k = keep_for(&program, s, jar);
                    (k.head, k.body)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(keep(false), [(false, true), (true, false), (false, false)]);
        assert_eq!(keep(true), [(true, true), (true, false), (true, false)]);
    }
}
