//! The target-list front end (`--targets FILE`): a list of requests in vegeta's
//! format into a located `Draft`, lowered like any scenario.
//!
//! ```text
//!   GET http://127.0.0.1:8080/users
//!   x-api-key: ${API_KEY}
//!
//!   POST http://127.0.0.1:8080/orders
//!   content-type: application/json
//!   @order.json
//! ```
//!
//! A target is a `METHOD URL` line, then optional `Name: value` header lines and at
//! most one `@path` line whose file is the body;
//! blank lines and `#` comments are skipped. A body's path is relative to the list's
//! folder, as vegeta reads it (an absolute one is taken as it is). `round-robin`
//! (the default) makes one scenario whose steps are the targets in order, so each
//! VU sends them in turn; `random` makes one scenario per target, of equal weight,
//! drawn per iteration.

use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::{BodySource, Draft, DraftHeader, DraftScenario, DraftStep};
use crate::located::{Loc, Located, Src};

/// How the targets of a list are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetsOrder {
    /// In order, each VU going round the list.
    #[default]
    RoundRobin,
    /// One drawn at random, with equal weights, per iteration.
    Random,
}

/// Read the list in `src` into `draft`'s scenarios.
pub(crate) fn read(src: &Src, order: TargetsOrder, draft: &mut Draft) -> Result<(), CompileError> {
    let at = |span: std::ops::Range<usize>| Loc {
        src: src.clone(),
        contents_at: Some(span.start),
        span,
        is_file: true,
    };
    let located = |text: &str, start: usize| Located {
        value: text.to_owned(),
        loc: at(start..start + text.len()),
    };
    let mut steps: Vec<DraftStep> = Vec::new();
    let mut offset = 0;
    for raw in src.text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        let start = start + (line.len() - trimmed.len());
        let line = trimmed.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |message: String| {
            CompileError::at(
                CompileErrorKind::Targets { message },
                &at(start..start + line.len()),
                None,
            )
        };
        if let Some(path) = line.strip_prefix('@') {
            let Some(step) = steps.last_mut() else {
                return Err(error(
                    "a body line `@file` comes before any `METHOD URL` line".into(),
                ));
            };
            if step.body.is_some() {
                return Err(error(
                    "a target has one body; this is its second `@file` line".into(),
                ));
            }
            step.body = Some(Located {
                value: BodySource::File(path.trim().to_owned()),
                loc: at(start + 1..start + line.len()),
            });
            continue;
        }
        let method_end = line.find(' ').unwrap_or(line.len());
        let (method, rest) = line.split_at(method_end);
        let is_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
        let url = rest.trim_start();
        if is_method && (url.starts_with("http://") || url.starts_with("https://")) {
            let url_at = start + method_end + (rest.len() - url.len());
            steps.push(DraftStep {
                name: Some(format!("{method} {url}")),
                url: Some(located(url, url_at)),
                method: Some(located(method, start)),
                headers: Vec::new(),
                body: None,
                checks: Vec::new(),
                extracts: Vec::new(),
                think_time: None,
                expected_status: None,
                grpc: None,
                ws: None,
                loc: at(start..start + line.len()),
            });
            continue;
        }
        match (line.split_once(':'), steps.last_mut()) {
            (Some((name, value)), Some(step)) if !name.is_empty() && !name.contains(' ') => {
                let value_text = value.trim();
                let value_at = start + name.len() + 1 + (value.len() - value.trim_start().len());
                step.headers.push(DraftHeader {
                    name: located(name, start),
                    value: located(value_text, value_at),
                });
            }
            (_, None) => {
                return Err(error(
                    "expected a target, `METHOD URL` (e.g. `GET http://127.0.0.1:8080/`)".into(),
                ));
            }
            _ => {
                return Err(error(
                    "expected `METHOD URL`, a header `Name: value`, or a body `@file`".into(),
                ));
            }
        }
    }
    if steps.is_empty() {
        let kind = CompileErrorKind::Targets {
            message: format!("the target list `{}` has no `METHOD URL` line", src.name),
        };
        return Err(CompileError::in_source(kind, src, None));
    }
    match order {
        TargetsOrder::RoundRobin => {
            let loc = steps[0].loc.clone();
            draft.scenarios.push(DraftScenario {
                name: Some(located("targets", 0)),
                weight: None,
                tags: Vec::new(),
                steps,
                loc,
            });
        }
        TargetsOrder::Random => {
            for (i, step) in steps.into_iter().enumerate() {
                let loc = step.loc.clone();
                draft.scenarios.push(DraftScenario {
                    name: Some(Located {
                        value: format!("target {}", i + 1),
                        loc: loc.clone(),
                    }),
                    weight: None,
                    tags: Vec::new(),
                    steps: vec![step],
                    loc,
                });
            }
        }
    }
    Ok(())
}
