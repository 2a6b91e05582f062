//! The command-line front end. The CLI crate parses argv with clap and fills a
//! [`Flags`]; this module turns it into draft values located at the flag that gave them.

use crate::CompileError;
use crate::compile_error::CompileErrorKind;
use crate::draft::{BodySource, Draft, DraftHeader, DraftOutput, MultipartField};
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
    /// `-a`: `user:password` for HTTP basic authentication.
    pub basic_auth: Option<String>,
    /// `--bearer`: a token (a template) for `Authorization: Bearer …`.
    pub bearer: Option<String>,
    /// `-b`: body text.
    pub body: Option<String>,
    /// `--body-file`: path.
    pub body_file: Option<String>,
    /// `-F`: multipart fields, `name=value` or `name=@path`.
    pub form: Vec<String>,
    /// `--max-requests`.
    pub max_requests: Option<u64>,
    /// `--http2`.
    pub http2: bool,
    /// `--http3`.
    pub http3: bool,
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
    /// `--cert` path.
    pub cert: Option<String>,
    /// `--key` path.
    pub key: Option<String>,
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
    /// `--compressed`.
    pub compressed: bool,
    /// `--trace-sample`: the share of requests traced.
    pub trace_sample: Option<f64>,
    /// `--no-keepalive`.
    pub no_keepalive: bool,
    /// `--h2-streams`.
    pub h2_streams: Option<u64>,
    /// `--connect-to` (repeatable): `HOST:PORT:TO_HOST:TO_PORT`.
    pub connect_to: Vec<String>,
    /// `--resolve` (repeatable): `HOST:PORT:ADDRESS`.
    pub resolve: Vec<String>,
    /// `--dns-refresh` text.
    pub dns_refresh: Option<String>,
    /// `--unix-socket` path.
    pub unix_socket: Option<String>,
    /// `--proxy` URL.
    pub proxy: Option<String>,
    /// `--proxy-from-env`.
    pub proxy_from_env: bool,
    /// `--no-follow-redirects`.
    pub no_follow_redirects: bool,
    /// `--max-redirects`.
    pub max_redirects: Option<u64>,
    /// `--redact`: header names and query keys whose values printers hide, besides
    /// the built-in ones (read by [`crate::redaction`], not by the scenario).
    pub redact: Vec<String>,
    /// `--proto`: the `.proto` file of a gRPC target.
    pub proto: Option<String>,
    /// `--reflect`: fetch a gRPC target's schema by server reflection.
    pub reflect: bool,
    /// `--call`: the gRPC method, `package.Service/Method`.
    pub call: Option<String>,
    /// `--ws-message-interval` text.
    pub ws_message_interval: Option<String>,
    /// `--ws-fire-and-forget`.
    pub ws_fire_and_forget: bool,
    /// `-o KIND=ADDRESS` (the values [`crate::is_stream_output`] picks; the others
    /// are report files), added to the file's `[outputs]`.
    pub outputs: Vec<String>,
    /// `--tag key=value` (repeatable).
    pub tags: Vec<String>,
    /// `--data name=path` (repeatable): a data source added, or the file of the
    /// scenario's source of that name replaced.
    pub data: Vec<String>,
    /// `--targets FILE`: a list of requests (vegeta's format), each a step.
    pub targets: Option<String>,
    /// `--targets-order`: how the list's requests are taken.
    pub targets_order: crate::TargetsOrder,
    /// `--metrics-linger` text.
    pub metrics_linger: Option<String>,
    /// `--output-interval` text.
    pub output_interval: Option<String>,
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
        // `--cert` gives a new identity: a scenario's `key` belongs to its own `cert`,
        // so it goes too (a `--cert` file that holds its key needs no `--key`).
        if self.cert.is_some() {
            draft.cert = text("--cert", &self.cert);
            draft.key = text("--key", &self.key);
        }
        or(text("--key", &self.key), &mut draft.key);
        or(text("--proto", &self.proto), &mut draft.grpc.proto);
        or(
            text("--metrics-linger", &self.metrics_linger),
            &mut draft.metrics_linger,
        );
        or(
            text("--output-interval", &self.output_interval),
            &mut draft.output_interval,
        );
        self.apply_outputs(draft, errors);
        or(text("--call", &self.call), &mut draft.grpc.call);
        if self.reflect {
            draft.grpc.reflection = Some(located("--reflect", "--reflect", true));
        }
        or(
            text("--expect-status", &self.expect_status),
            &mut draft.expected_status,
        );
        // A load model's flag overrides the file's model, as any flag its key:
        // `--arrival-rate` on a closed-model file, `-c` on an open-model one. The
        // file's stages are the one part a flag cannot replace.
        let vu_stages = draft.stages.iter().any(|s| s.target.is_some());
        let rate_stages = draft.stages.iter().any(|s| s.target_rate.is_some());
        if let (Some(rate), None) = (self.arrival_rate, self.vus) {
            draft.vus = None;
            if self.rate.is_none() {
                draft.rate = None;
            }
            if self.ramp_up.is_none() {
                draft.ramp_up = None;
            }
            if vu_stages {
                errors.push(CompileError::at(
                    CompileErrorKind::Conflict {
                        message: "the scenario's `[[stages]]` set VUs (`target`): they \
                                  cannot ramp an arrival rate; give `-c`, or stages with \
                                  `target_rate`"
                            .into(),
                    },
                    &Loc::flag("--arrival-rate", &rate.to_string()),
                    None,
                ));
                draft.stages.clear();
            }
        }
        if let (Some(vus), None, None) = (self.vus, self.arrival_rate, self.max_vus) {
            draft.arrival_rate = None;
            draft.max_vus = None;
            draft.pre_allocated_vus = None;
            draft.queue_size = None;
            draft.queue_timeout = None;
            draft.latency_correction = None;
            if rate_stages {
                errors.push(CompileError::at(
                    CompileErrorKind::Conflict {
                        message: "the scenario's `[[stages]]` set an arrival rate \
                                  (`target_rate`): they cannot ramp VUs; give \
                                  `--arrival-rate`, or stages with `target`"
                            .into(),
                    },
                    &Loc::flag("--concurrency", &vus.to_string()),
                    None,
                ));
                draft.stages.clear();
            }
        }
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
        if let Some(v) = self.trace_sample {
            draft.trace_sample = Some(located("--trace-sample", &v.to_string(), v));
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
            let flag = "--no-latency-correction";
            draft.latency_correction = Some(located(flag, flag, false));
        }
        // A flag picks the version whatever the file said.
        if self.http2 {
            draft.http2 = Some(true);
            draft.http = None;
        }
        if self.http3 {
            draft.http2 = None;
            draft.http = Some(located("--http3", "--http3", "3".into()));
        }
        if self.cookie_jar {
            draft.cookie_jar = Some(true);
        }
        if self.compressed {
            draft.compressed = Some(true);
        }
        if self.no_keepalive {
            draft.keepalive = Some(false);
        }
        if let Some(n) = self.h2_streams {
            draft.h2_streams = Some(located(
                "--h2-streams",
                &n.to_string(),
                i64::try_from(n).unwrap_or(i64::MAX),
            ));
        }
        // Given on the command line, the lists replace the file's.
        if !self.connect_to.is_empty() {
            draft.connect_to = self
                .connect_to
                .iter()
                .map(|c| located("--connect-to", c, c.clone()))
                .collect();
        }
        if !self.resolve.is_empty() {
            draft.resolve = self
                .resolve
                .iter()
                .map(|r| located("--resolve", r, r.clone()))
                .collect();
        }
        or(
            text("--dns-refresh", &self.dns_refresh),
            &mut draft.dns_refresh,
        );
        or(
            text("--unix-socket", &self.unix_socket),
            &mut draft.unix_socket,
        );
        or(text("--proxy", &self.proxy), &mut draft.proxy);
        if self.proxy_from_env {
            draft.proxy_from_env = Some(true);
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
            (Some(_), None) | (None, Some(_)) if !self.form.is_empty() => {
                errors.push(CompileError::at(
                    CompileErrorKind::Conflict {
                        message: "`--form` makes the body: it cannot be used with `--body` or \
                              `--body-file`"
                            .into(),
                    },
                    &Loc::flag("--form", &self.form[0]),
                    None,
                ))
            }
            (Some(body), None) => {
                draft.body = Some(located("--body", body, BodySource::Text(body.clone())))
            }
            (None, Some(file)) => {
                draft.body = Some(located("--body-file", file, BodySource::File(file.clone())))
            }
            (None, None) => self.apply_form(draft, errors),
        }
        self.apply_auth(draft, errors);
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

impl Flags {
    /// `-F name=value` (repeatable): the fields of a multipart body, in order.
    /// `-o KIND=ADDRESS` and `--tag key=value`: each split at its first `=`, both
    /// halves located in the flag's text.
    fn apply_outputs(&self, draft: &mut Draft, errors: &mut Vec<CompileError>) {
        let split = |flag: &str, value: &str, errors: &mut Vec<CompileError>| {
            let Some((name, rest)) = value.split_once('=') else {
                errors.push(CompileError::at(
                    CompileErrorKind::InvalidValue {
                        message: format!("`{flag} {value}` has no `=`; expected KEY=VALUE"),
                    },
                    &Loc::flag(flag, value),
                    None,
                ));
                return None;
            };
            let src = Src::new(format!("{flag} {value:?}"), value);
            let at = |start: usize, text: &str| Located {
                value: text.to_owned(),
                loc: Loc {
                    src: src.clone(),
                    contents_at: Some(start),
                    span: start..start + text.len(),
                    is_file: false,
                },
            };
            Some((at(0, name), at(name.len() + 1, rest)))
        };
        for value in &self.outputs {
            if let Some((kind, address)) = split("-o", value, errors) {
                draft.outputs.push(DraftOutput { kind, address });
            }
        }
        for value in &self.tags {
            if let Some(tag) = split("--tag", value, errors) {
                draft.tags.push(tag);
            }
        }
        for value in &self.data {
            if let Some((name, file)) = split("--data", value, errors) {
                match draft.data.iter_mut().find(|d| d.name.value == name.value) {
                    Some(source) => source.file = Some(file),
                    None => draft.data.push(crate::draft::DraftData {
                        loc: name.loc.clone(),
                        name,
                        file: Some(file),
                        strategy: None,
                        on_exhausted: None,
                    }),
                }
            }
        }
    }

    fn apply_form(&self, draft: &mut Draft, errors: &mut Vec<CompileError>) {
        let Some(first) = self.form.first() else {
            return;
        };
        let mut fields = Vec::new();
        for field in &self.form {
            let src = Src::new(format!("--form {field:?}"), field.as_str());
            let sub = |span: std::ops::Range<usize>| Loc {
                src: src.clone(),
                contents_at: Some(span.start),
                span,
                is_file: false,
            };
            match field.split_once('=') {
                Some((name, value)) if !name.is_empty() => fields.push(MultipartField {
                    name: Located {
                        value: name.to_owned(),
                        loc: sub(0..name.len()),
                    },
                    value: Located {
                        value: value.to_owned(),
                        loc: sub(name.len() + 1..field.len()),
                    },
                }),
                _ => errors.push(CompileError::at(
                    CompileErrorKind::InvalidValue {
                        message: "expected `name=value` or `name=@path`".into(),
                    },
                    &sub(0..field.len()),
                    None,
                )),
            }
        }
        draft.body = Some(located("--form", first, BodySource::Multipart(fields)));
    }

    /// `-a` and `--bearer`: an `Authorization` header, as if given with `-H` before
    /// the others (so an `-H 'Authorization: …'` replaces it). The diagnostics name
    /// the flag without quoting the credentials.
    fn apply_auth(&self, draft: &mut Draft, errors: &mut Vec<CompileError>) {
        let header = |flag: &str, value: String| {
            let loc = Loc {
                src: Src::new(flag.to_owned(), value.as_str()),
                span: 0..value.len(),
                contents_at: Some(0),
                is_file: false,
            };
            DraftHeader {
                name: Located {
                    value: "Authorization".into(),
                    loc: loc.clone(),
                },
                value: Located { value, loc },
            }
        };
        match (&self.basic_auth, &self.bearer) {
            (Some(_), Some(_)) => {
                errors.push(CompileError::unlocated(CompileErrorKind::Conflict {
                    message: "`--basic-auth` and `--bearer` both set `Authorization`; give one"
                        .into(),
                }))
            }
            (Some(credentials), None) => {
                if credentials.contains(':') {
                    use base64::Engine;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                    draft.set_header(header("--basic-auth", format!("Basic {encoded}")));
                } else {
                    errors.push(CompileError::unlocated(CompileErrorKind::InvalidValue {
                        message: "`--basic-auth` expects `user:password` (the password may be \
                                 empty: `user:`)"
                            .into(),
                    }));
                }
            }
            (None, Some(token)) => draft.set_header(header("--bearer", format!("Bearer {token}"))),
            (None, None) => {}
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
