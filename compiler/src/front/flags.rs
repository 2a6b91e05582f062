//! The command-line front end. The CLI crate parses argv with clap and fills a
//! [`Flags`]; this module turns it into draft values located at the flag that gave them.

use crate::CompileError;
use crate::compile_error::CompileErrorKind;
use crate::draft::{BodySource, Draft, DraftHeader};
use crate::located::{Loc, Located, Src};

/// Scenario settings given on the command line. `None` means "not given": the
/// scenario file's value, or the default, applies.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// Target URL.
    pub url: Option<String>,
    /// `-c`: concurrent VUs.
    pub vus: Option<u64>,
    /// `-d`: duration text.
    pub duration: Option<String>,
    /// `--timeout` text.
    pub timeout: Option<String>,
    /// `-m`: method.
    pub method: Option<String>,
    /// `-H`: headers, `Name: value`.
    pub headers: Vec<String>,
    /// `-b`: body text.
    pub body: Option<String>,
    /// `--body-file`: path.
    pub body_file: Option<String>,
    /// `--max-requests`.
    pub max_requests: Option<u64>,
    /// `--http2`.
    pub http2: bool,
    /// `-r`: requests per second.
    pub rate: Option<f64>,
    /// `--ramp-up` text.
    pub ramp_up: Option<String>,
    /// `--warmup` text.
    pub warmup: Option<String>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--cacert` path.
    pub cacert: Option<String>,
    /// `--max-error-rate`.
    pub max_error_rate: Option<f64>,
    /// `--expect-status`: the statuses that are not failures.
    pub expect_status: Option<String>,
    /// `--arrival-rate`: iterations per second (the open model).
    pub arrival_rate: Option<f64>,
    /// `--max-vus`.
    pub max_vus: Option<u64>,
    /// `--no-latency-correction`.
    pub no_latency_correction: bool,
    /// `--cookie-jar`.
    pub cookie_jar: bool,
    /// `--no-follow-redirects`.
    pub no_follow_redirects: bool,
    /// `--max-redirects`.
    pub max_redirects: Option<u64>,
    /// `--redact`: header names and query keys whose values printers hide, besides
    /// the built-in ones (read by [`crate::redaction`], not by the scenario).
    pub redact: Vec<String>,
    /// `--ws-message-interval` text.
    pub ws_message_interval: Option<String>,
    /// `--ws-fire-and-forget`.
    pub ws_fire_and_forget: bool,
}

fn located<T>(flag: &str, text: &str, value: T) -> Located<T> {
    Located {
        value,
        loc: Loc::flag(flag, text),
    }
}

fn text(flag: &str, value: &Option<String>) -> Option<Located<String>> {
    value.as_ref().map(|v| located(flag, v, v.clone()))
}

impl Flags {
    /// Write the given flags over `draft`.
    pub(crate) fn apply(&self, draft: &mut Draft, errors: &mut Vec<CompileError>) {
        let or = |new: Option<Located<String>>, old: &mut Option<Located<String>>| {
            if new.is_some() {
                *old = new;
            }
        };
        or(text("url", &self.url), &mut draft.url);
        or(text("--duration", &self.duration), &mut draft.duration);
        or(text("--timeout", &self.timeout), &mut draft.timeout);
        or(text("--method", &self.method), &mut draft.method);
        or(text("--ramp-up", &self.ramp_up), &mut draft.ramp_up);
        or(text("--warmup", &self.warmup), &mut draft.warmup);
        or(text("--cacert", &self.cacert), &mut draft.cacert);
        or(
            text("--expect-status", &self.expect_status),
            &mut draft.expected_status,
        );
        if let Some(v) = self.vus {
            draft.vus = Some(located(
                "--concurrency",
                &v.to_string(),
                i64::try_from(v).unwrap_or(i64::MAX),
            ));
        }
        if let Some(v) = self.max_requests {
            draft.max_requests = Some(located(
                "--max-requests",
                &v.to_string(),
                i64::try_from(v).unwrap_or(i64::MAX),
            ));
        }
        if let Some(v) = self.rate {
            draft.rate = Some(located("--rate", &v.to_string(), v));
        }
        if let Some(v) = self.max_error_rate {
            draft.max_error_rate = Some(located("--max-error-rate", &v.to_string(), v));
        }
        if let Some(v) = self.arrival_rate {
            draft.arrival_rate = Some(located("--arrival-rate", &v.to_string(), v));
        }
        if let Some(v) = self.max_vus {
            draft.max_vus = Some(located(
                "--max-vus",
                &v.to_string(),
                i64::try_from(v).unwrap_or(i64::MAX),
            ));
        }
        if self.no_latency_correction {
            draft.latency_correction = Some(false);
        }
        if self.http2 {
            draft.http2 = Some(true);
        }
        if self.cookie_jar {
            draft.cookie_jar = Some(true);
        }
        if self.no_follow_redirects {
            draft.follow_redirects = Some(false);
        }
        if let Some(n) = self.max_redirects {
            let text = n.to_string();
            draft.max_redirects = Some(located(
                "--max-redirects",
                &text,
                i64::try_from(n).unwrap_or(i64::MAX),
            ));
        }
        if self.insecure {
            draft.insecure = Some(true);
        }
        or(
            text("--ws-message-interval", &self.ws_message_interval),
            &mut draft.websocket.interval,
        );
        if self.ws_fire_and_forget {
            let text = "--ws-fire-and-forget";
            draft.websocket.mode = Some(located(text, "", "fire_and_forget".into()));
        }
        match (&self.body, &self.body_file) {
            (Some(_), Some(file)) => errors.push(CompileError::at(
                CompileErrorKind::Conflict {
                    message: "`--body` and `--body-file` cannot be used together".into(),
                },
                &Loc::flag("--body-file", file),
                None,
            )),
            (Some(body), None) => {
                draft.body = Some(located("--body", body, BodySource::Text(body.clone())))
            }
            (None, Some(file)) => {
                draft.body = Some(located("--body-file", file, BodySource::File(file.clone())))
            }
            (None, None) => {}
        }
        for header in &self.headers {
            match split_header(header) {
                Some(h) => draft.set_header(h),
                None => errors.push(CompileError::at(
                    CompileErrorKind::BadHeader {
                        reason: "expected `Name: value`".into(),
                    },
                    &Loc::flag("--header", header),
                    None,
                )),
            }
        }
    }
}

/// Split `Name: value` into two located parts of the same flag source.
fn split_header(header: &str) -> Option<DraftHeader> {
    let colon = header.find(':')?;
    let src = Src::new(format!("--header {header:?}"), header);
    let name_end = header[..colon].trim_end().len();
    let value_start =
        colon + 1 + (header[colon + 1..].len() - header[colon + 1..].trim_start().len());
    let sub = |start: usize, end: usize| Loc {
        src: src.clone(),
        span: start..end,
        contents_at: Some(start),
        is_file: false,
    };
    Some(DraftHeader {
        name: Located {
            value: header[..name_end].to_owned(),
            loc: sub(0, name_end),
        },
        value: Located {
            value: header[value_start..].trim_end().to_owned(),
            loc: sub(value_start, header.len()),
        },
    })
}
