//! One request: method, headers, body and think time.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): the
//! same rules serve `[request]` (with flags) and every `[[scenarios.steps]]` entry,
//! so a header kaioken must set itself is refused wherever it is written. The URL
//! has been split already (`url.rs`); the result is one IR [`Step`].

use std::time::Duration;

use kaioken_vm::Origin;

use super::{Lowerer, MAX_THINK_TIME};
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::{BodySource, DraftHeader};
use crate::located::Located;
use crate::{Part, Step, Template};

/// What a request is made of, wherever it was written.
pub(super) struct RequestSpec<'d> {
    pub(super) name: String,
    pub(super) method: Option<&'d Located<String>>,
    pub(super) headers: Vec<&'d DraftHeader>,
    pub(super) body: Option<&'d Located<BodySource>>,
    pub(super) checks: &'d [Located<String>],
    pub(super) think_time: Option<&'d Located<String>>,
}

/// A step's headers: those of `[request]` (and `-H`) that the step does not set
/// itself (names compare case-insensitively), then the step's own.
pub(super) fn step_headers<'d>(
    common: &'d [DraftHeader],
    own: &'d [DraftHeader],
) -> Vec<&'d DraftHeader> {
    let mut headers: Vec<&DraftHeader> = common
        .iter()
        .filter(|h| {
            !own.iter()
                .any(|o| o.name.value.eq_ignore_ascii_case(&h.name.value))
        })
        .collect();
    headers.extend(own.iter());
    headers
}

impl Lowerer<'_> {
    /// The parts of a request common to `[request]` and scenario steps: method,
    /// headers, body, checks, once the URL is split.
    pub(super) fn request(
        &mut self,
        spec: RequestSpec<'_>,
        split: Option<(Origin, Template)>,
        url: &Located<String>,
    ) -> Option<Step> {
        let method = match spec.method {
            Some(m) => {
                let valid = !m.value.is_empty()
                    && m.value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !valid {
                    self.errors
                        .push(CompileError::at(CompileErrorKind::BadMethod, &m.loc, None));
                }
                m.value.clone()
            }
            // As curl does: a body makes the default method POST.
            None if spec.body.is_some() => "POST".into(),
            None => "GET".into(),
        };
        let mut headers = Vec::new();
        let mut has_user_agent = false;
        for h in spec.headers {
            let name = h.name.value.to_ascii_lowercase();
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid {
                let kind = CompileErrorKind::BadHeader {
                    reason: format!("`{}` is not a valid header name", h.name.value),
                };
                self.errors.push(CompileError::at(kind, &h.name.loc, None));
                continue;
            }
            // `connection: upgrade` asks for a protocol switch (a WebSocket handshake);
            // any other `connection` is kaioken's to manage.
            let upgrade = name == "connection" && h.value.value.eq_ignore_ascii_case("upgrade");
            if self.http2 && (upgrade || name == "upgrade") {
                let kind = CompileErrorKind::BadHeader {
                    reason: format!(
                        "`{name}` asks for a protocol switch, which HTTP/2 does not have (drop `http2` or `--http2` to send this handshake over HTTP/1.1)"
                    ),
                };
                self.errors.push(CompileError::at(kind, &h.name.loc, None));
                continue;
            }
            if !upgrade
                && matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                )
            {
                let kind = CompileErrorKind::BadHeader {
                    reason: format!("`{name}` is set by kaioken from the body and connection"),
                };
                self.errors.push(CompileError::at(kind, &h.name.loc, None));
                continue;
            }
            has_user_agent |= name == "user-agent";
            if let Some(value) = self.template(&h.value) {
                if value
                    .parts
                    .iter()
                    .any(|p| matches!(p, Part::Lit(b) if b.contains(&b'\n') || b.contains(&b'\r')))
                {
                    let kind = CompileErrorKind::BadHeader {
                        reason: "a header value cannot contain a line break".into(),
                    };
                    self.errors.push(CompileError::at(kind, &h.value.loc, None));
                }
                headers.push((name, value));
            }
        }
        if !has_user_agent {
            headers.push(("user-agent".into(), Template::literal(crate::USER_AGENT)));
        }
        let body = match spec.body {
            None => None,
            Some(Located {
                value: BodySource::Text(text),
                loc,
            }) => self.template(&Located {
                value: text.clone(),
                loc: loc.clone(),
            }),
            Some(Located {
                value: BodySource::File(path),
                loc,
            }) => {
                let path = self.fold_env(&Located {
                    value: path.clone(),
                    loc: loc.clone(),
                });
                let path = self.resolve_path(&path, loc);
                match std::fs::read(&path) {
                    Ok(bytes) => Some(Template::literal(bytes)),
                    Err(e) => {
                        let kind = CompileErrorKind::Io {
                            path: path.display().to_string(),
                            message: e.to_string(),
                        };
                        self.errors.push(CompileError::at(kind, loc, None));
                        None
                    }
                }
            }
        };
        let checks = spec
            .checks
            .iter()
            .filter_map(|c| self.check(c, None))
            .collect();
        let think_time = match spec.think_time {
            Some(t) => {
                let d = self.duration(&Some(t.clone()), "think_time", Duration::ZERO, false);
                if d > MAX_THINK_TIME {
                    self.out_of_range(t, "think_time", "at most 1h");
                }
                d.min(MAX_THINK_TIME)
            }
            None => Duration::ZERO,
        };
        let (origin, path) = split?;
        Some(Step {
            name: spec.name,
            method,
            origin,
            path,
            headers,
            body,
            checks,
            extracts: Vec::new(),
            think_time,
            loc: url.loc.ir_loc(),
        })
    }
}
