//! `lower`: front ends → [`Draft`] → validated [`Ir`].
//!
//! ```text
//!  front::toml  ─┐
//!  front::har   ─┼─► Draft ──lower──► Ir ──compile──► vm::Program
//!  front::flags ─┘   (located          (validated,
//!                     values)           env folded)
//! ```
//!
//! One [`Lowerer`] walks the merged draft and collects every problem it finds, so a
//! file with three mistakes reports three errors. Its methods are spread over one
//! file per job:
//!
//! - this file: the entry point, the run-wide settings and the walk over scenarios
//!   and steps, plus the helpers every job reports errors through;
//! - `load.rs`: the load plan (closed or open model, stages, limits) and durations;
//! - `request.rs`: one request: method, headers, body, think time;
//! - `url.rs`: a URL template into its fixed origin and its path;
//! - `template.rs`: `${…}` templates, what a name resolves to, environment folding;
//! - `check.rs`: checks and extractors, with their regexes and JSONPaths compiled once
//!   to report them here;
//! - `threshold.rs`: pass/fail bounds on the run's metrics;
//! - `websocket.rs`: WebSocket targets and `ws` steps.

mod check;
mod client_cert;
mod data;
mod grpc;
mod load;
mod multipart;
mod net;
mod outputs;

pub use outputs::{DEFAULT_INTERVAL, DEFAULT_LINGER, MIN_INTERVAL, exec_argv, is_stream_output};
mod request;
mod scripts;
mod template;
mod threshold;
mod url;
mod websocket;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::compile_error::{CompileError, CompileErrorKind, CompileErrors};
use crate::draft::Draft;
use crate::located::{Loc, Located, Src};
use crate::{Flags, HttpVersion, Ir, Scenario, Settings, Step, front};
pub use grpc::{ReflectTls, SchemaSource};
use request::RequestSpec;

/// A scenario file's name and contents.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// The path as the user wrote it; diagnostics show it.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// Everything a run is built from.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The scenario file, if any (`-f`): TOML, a HAR recording when its name
    /// ends in `.har`, an OpenAPI spec (`.yaml`, `.yml`, or JSON with an `openapi` or
    /// `swagger` key), or a Postman collection (by its `info.schema`).
    pub config: Option<ConfigFile>,
    /// How a HAR recording becomes a scenario (ignored for TOML).
    pub har: crate::HarOptions,
    /// The environment and globals of a Postman collection (ignored otherwise).
    pub postman: crate::PostmanOptions,
    /// The server and filters of an OpenAPI spec run as the scenario (ignored
    /// otherwise).
    pub openapi: crate::OpenApiOptions,
    /// Command-line values; they override the file's.
    pub flags: Flags,
    /// Environment variables for `${NAME}` folding. The CLI passes the process
    /// environment; tests pass a fixed map so results do not depend on the machine.
    pub env: BTreeMap<String, String>,
    /// Fetches a gRPC schema by server reflection (`--reflect`); the CLI's does the
    /// network I/O. Without it, reflection is an error.
    pub schema_source: Option<std::sync::Arc<dyn SchemaSource>>,
}

/// Defaults, in one place (also documented in `docs/scenario.md`).
const DEFAULT_VUS: i64 = 50;
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_ERROR_RATE: f64 = 0.1;
const MAX_VUS: i64 = 1_000_000;
const DEFAULT_MAX_VUS: u32 = 1000;
const DEFAULT_QUEUE_SIZE: u32 = 10_000;
const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);
/// Body bytes kept per response for checks: enough for typical JSON answers, and a
/// bounded 64 KiB per VU whatever the server sends.
const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// The longest `think_time`: a pause is an instruction operand in microseconds (a
/// `u32`, about 71 minutes), and an hour is more than any user thinks.
pub(crate) const MAX_THINK_TIME: Duration = Duration::from_secs(3600);
/// Redirects followed per request unless `max_redirects` says otherwise (as curl -L and
/// browsers: enough for any sane chain, few enough to stop a loop).
const DEFAULT_MAX_REDIRECTS: u32 = 10;

/// How the scenario file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Toml,
    Har,
    Spec,
    Collection,
}

impl Front {
    /// What such a file is, for a message.
    fn what(self) -> &'static str {
        match self {
            Front::Toml => "a TOML scenario",
            Front::Har => "a recording (`.har`)",
            Front::Spec => "an OpenAPI spec",
            Front::Collection => "a Postman collection",
        }
    }
}

/// The flags given that only one kind of scenario file reads, with that kind.
fn foreign_flags(input: &Input) -> Vec<(&'static str, Front)> {
    let (har, spec, postman) = (&input.har, &input.openapi, &input.postman);
    [
        ("--include-assets", Front::Har, har.include_assets),
        ("--include-host", Front::Har, !har.include_hosts.is_empty()),
        ("--think-time", Front::Har, har.think_time),
        ("--server", Front::Spec, spec.server.is_some()),
        ("--operation-tag", Front::Spec, !spec.tags.is_empty()),
        ("--operation", Front::Spec, !spec.operations.is_empty()),
        (
            "--environment",
            Front::Collection,
            postman.environment.is_some(),
        ),
        ("--globals", Front::Collection, postman.globals.is_some()),
    ]
    .into_iter()
    .filter(|&(_, _, given)| given)
    .map(|(flag, front, _)| (flag, front))
    .collect()
}

/// Build the [`Ir`] from the input: read the file, apply flags, validate everything.
///
/// # Example
///
/// ```
/// use kaioken_compiler::{lower, Flags, Input};
///
/// let input = Input {
///     flags: Flags { url: Some("http://127.0.0.1:8080/a/${VU}".into()), vus: Some(4), ..Flags::default() },
///     ..Input::default()
/// };
/// let ir = lower(&input)?;
/// assert_eq!(ir.load.vus, 4);
/// assert_eq!(ir.scenarios[0].steps[0].origin.port, 8080);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Every problem found, each located in the file or at the flag that caused it.
pub fn lower(input: &Input) -> Result<Ir, CompileErrors> {
    let mut draft = Draft::default();
    let mut errors = Vec::new();
    let mut file_src = None;
    let mut front_end = None;
    if let Some(config) = &input.config {
        // Editors sometimes write a UTF-8 BOM; TOML has no place for it.
        let text = config.text.strip_prefix('\u{feff}').unwrap_or(&config.text);
        let src = Src::new(config.name.as_str(), text);
        let (front, read) = if front::har::is_har(&config.name) {
            (Front::Har, front::har::read(&src, &input.har, &mut draft))
        } else if front::openapi::is_spec(&config.name, text) {
            let read = front::openapi::read(&src, &input.openapi, &mut draft);
            (Front::Spec, read)
        } else if front::postman::is_postman(text) {
            let read = front::postman::read(&src, &input.postman, &mut draft);
            (Front::Collection, read)
        } else if is_json(&config.name) {
            // A `.json` scenario can only be a collection: one that is not is told
            // so, and one of kaioken's reports is told what it is.
            let read = not_a_report(&src)
                .and_then(|()| front::postman::read(&src, &input.postman, &mut draft));
            (Front::Collection, read)
        } else {
            (Front::Toml, front::toml::read(&src, &mut draft))
        };
        read.map_err(CompileErrors::from)?;
        front_end = Some(front);
        file_src = Some(src);
    }
    // A recording's, a spec's or a collection's flags on a run of something else
    // would be ignored without a word.
    for (flag, front) in foreign_flags(input) {
        if front_end != Some(front) {
            let message = format!(
                "`{flag}` applies to {}: this run's scenario is not one",
                front.what()
            );
            errors.push(CompileError::unlocated(CompileErrorKind::Conflict {
                message,
            }));
        }
    }
    if let Some(path) = &input.flags.targets
        && !draft.scenarios.is_empty()
    {
        // The list is the run's scenarios: a file's own would be run beside it.
        let message = "`--targets` makes the run's scenarios from its list; the scenario file has `[[scenarios]]` of its own: give one or the other".to_owned();
        return Err(CompileErrors::from(CompileError::at(
            CompileErrorKind::Conflict { message },
            &Loc::flag("--targets", path),
            None,
        )));
    }
    if let Some(path) = &input.flags.targets {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let src = Src::new(path.as_str(), text);
                front::targets::read(&src, input.flags.targets_order, &mut draft)
                    .map_err(CompileErrors::from)?;
            }
            Err(e) => {
                let kind = CompileErrorKind::Io {
                    path: path.clone(),
                    message: e.to_string(),
                };
                return Err(CompileErrors::from(CompileError::at(
                    kind,
                    &Loc::flag("--targets", path),
                    None,
                )));
            }
        }
    }
    input.flags.apply(&mut draft, &mut errors);
    let mut lowerer = Lowerer {
        env: &input.env,
        errors,
        extracted: Default::default(),
        extracted_later: Default::default(),
        http: HttpVersion::Http1,
        compressed: draft.compressed.unwrap_or(false),
        keepalive: draft.keepalive.unwrap_or(true),
        schema_source: input.schema_source.clone(),
        grpc_schema: None,
        grpc_tried: false,
        script_names: Default::default(),
        data: Vec::new(),
        data_failed: Default::default(),
        checks_parsed: Default::default(),
        extracts_parsed: Default::default(),
    };
    lowerer.http = lowerer.http_version(&draft);
    let ir = lowerer.lower(&draft, file_src.as_ref());
    if lowerer.errors.is_empty() {
        ir.ok_or_else(|| CompileErrors { errors: vec![] })
    } else {
        Err(CompileErrors {
            errors: lowerer.errors,
        })
    }
}

/// An error when `src`, a `.json` file given as a scenario, is one of kaioken's
/// reports (its `schema` is `kaioken.run/…`), naming the commands that read one.
fn not_a_report(src: &Src) -> Result<(), CompileError> {
    #[derive(serde::Deserialize)]
    struct Head {
        schema: Option<String>,
    }
    let Some(schema) = serde_json::from_str::<Head>(&src.text)
        .ok()
        .and_then(|h| h.schema)
        .filter(|s| s.starts_with("kaioken.run/"))
    else {
        return Ok(());
    };
    let message = format!(
        "`{0}` is a kaioken report (`{schema}`), not a scenario: show it with `kaioken report {0}`, or compare it with `kaioken compare`",
        src.name
    );
    let span = src.text.find(&schema).map(|i| i..i + schema.len());
    Err(CompileError::in_source(
        CompileErrorKind::Conflict { message },
        src,
        span,
    ))
}

/// Whether `pem` holds certificates, each readable: a `cacert` file of something
/// else (a key) is refused where it is given, before any load.
fn check_certificates(pem: &[u8]) -> Result<(), String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut found = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| format!("a certificate in it cannot be read: {e}"))?;
        found += 1;
    }
    if found == 0 {
        return Err(
            "it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): give the CA's certificate, or the server's own"
                .to_owned(),
        );
    }
    Ok(())
}

/// Whether a file's name ends in `.json`.
fn is_json(name: &str) -> bool {
    std::path::Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// The state of one lowering: the environment, the errors found so far, and what the
/// scenario being lowered has extracted. Each `*.rs` file of this module adds the
/// methods for its job.
struct Lowerer<'a> {
    env: &'a BTreeMap<String, String>,
    errors: Vec<CompileError>,
    /// Variables extracted by the steps before the one being lowered (same scenario).
    extracted: std::collections::BTreeSet<String>,
    /// Variables extracted only by later steps: using one is an error, not an
    /// environment lookup.
    extracted_later: std::collections::BTreeSet<String>,
    /// The HTTP version of the run's HTTP steps (HTTP/2 and HTTP/3 have no protocol
    /// switch; HTTP/3 has no `http://`).
    http: HttpVersion,
    /// `--compressed`: requests ask for compressed bodies.
    compressed: bool,
    /// `--no-keepalive` turns it off: HTTP steps' HTTP/1.1 requests say
    /// `connection: close` (a WebSocket handshake keeps its upgrade).
    keepalive: bool,
    schema_source: Option<std::sync::Arc<dyn SchemaSource>>,
    /// The gRPC schema, once the first gRPC step needed it.
    grpc_schema: Option<grpc::Schema>,
    /// Whether it was looked for (an error is reported once).
    grpc_tried: bool,
    /// The `[scripts]` functions' names, for `script:name` and `${script:name}`.
    script_names: std::collections::BTreeSet<String>,
    /// The data sources, loaded, for `${source.column}`.
    data: Vec<std::sync::Arc<kaioken_vm::DataTable>>,
    /// Sources that failed to load (reported once): their `${…}` say nothing more.
    data_failed: std::collections::BTreeSet<String>,
    /// Checks already parsed and found valid, by their text, with the name a check
    /// written without one gets: a recording repeats `status == 200` on every one of
    /// its thousands of steps.
    checks_parsed: std::collections::HashMap<String, (kaioken_grammar::Check, String)>,
    /// Built-in extractors already parsed and found valid, by their text: a
    /// recording's correlation repeats `json:$.token` on thousands of steps.
    extracts_parsed: std::collections::HashMap<String, kaioken_grammar::Extractor>,
}

impl Lowerer<'_> {
    /// The whole draft: the scenarios (or the one request of a run without
    /// `[[scenarios]]`), the run-wide settings, the load plan, `[[checks]]` and the
    /// thresholds. Errors are reported in the order of these calls, and the first is
    /// the headline, so the order is kept as it is.
    fn lower(&mut self, d: &Draft, file: Option<&Src>) -> Option<Ir> {
        let scripts = self.scripts(d);
        self.data_sources(d);
        let scenarios = if d.scenarios.is_empty() {
            self.step(d, file).map(|step| {
                vec![Scenario {
                    name: "default".into(),
                    weight: 1,
                    tags: Vec::new(),
                    steps: vec![step],
                    loc: file.and(d.url.as_ref()).and_then(|u| u.loc.ir_loc()),
                }]
            })
        } else {
            self.scenarios(d)
        };
        let timeout = self.duration(&d.timeout, "timeout", DEFAULT_TIMEOUT, true);
        let max_error_rate = match &d.max_error_rate {
            Some(r) if !(0.0..=1.0).contains(&r.value) => {
                self.out_of_range(r, "max_error_rate", "a fraction from 0 to 1");
                DEFAULT_MAX_ERROR_RATE
            }
            Some(r) => r.value,
            None => DEFAULT_MAX_ERROR_RATE,
        };
        let trace_sample = match &d.trace_sample {
            Some(r) if !(0.0..=1.0).contains(&r.value) => {
                self.out_of_range(r, "trace_sample", "a fraction from 0 to 1");
                0.0
            }
            Some(r) => r.value,
            None => 0.0,
        };
        let load = self.load(d);
        self.check_unique(d, u64::from(load.vus));
        let cacert = d.cacert.as_ref().map(|c| {
            let path = self.fold_env(c);
            let path = self.resolve_path(&path, &c.loc);
            // Checked now, so that a typo or a file of something else (a key) is a
            // located error before any load is sent.
            let checked = std::fs::read(&path).map_err(|e| CompileErrorKind::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            });
            let checked = checked.and_then(|pem| {
                check_certificates(&pem).map_err(|why| {
                    let message = format!("`{}`: {why}", path.display());
                    CompileErrorKind::InvalidValue { message }
                })
            });
            if let Err(kind) = checked {
                self.errors.push(CompileError::at(kind, &c.loc, None));
            }
            path
        });
        let (cert, key) = self.client_cert(d);
        let body_limit = match &d.body_limit {
            Some(b) if !(0..=1 << 30).contains(&b.value) => {
                self.out_of_range(b, "body_limit", "from 0 to 1073741824 bytes");
                DEFAULT_BODY_LIMIT
            }
            Some(b) => b.value as usize,
            None => DEFAULT_BODY_LIMIT,
        };
        let max_redirects = match &d.max_redirects {
            Some(m) if !(0..=100).contains(&m.value) => {
                self.out_of_range(m, "max_redirects", "from 0 to 100");
                DEFAULT_MAX_REDIRECTS
            }
            Some(m) => m.value as u32,
            None => DEFAULT_MAX_REDIRECTS,
        };
        let h2_streams = match &d.h2_streams {
            Some(n) if !(1..=1000).contains(&n.value) => {
                self.out_of_range(n, "h2_streams", "from 1 to 1000");
                1
            }
            // gRPC calls are HTTP/2 whatever the run's HTTP version.
            Some(n) if self.http != HttpVersion::Http2 && !speaks_grpc(d) => {
                self.errors.push(CompileError::at(
                    CompileErrorKind::Conflict {
                        message: "`h2_streams` shares HTTP/2 connections: it needs `http2` \
                                  (`--http2`) or gRPC calls"
                            .into(),
                    },
                    &n.loc,
                    None,
                ));
                1
            }
            Some(n) => n.value as u32,
            None => 1,
        };
        let max_redirects = if d.follow_redirects == Some(false) {
            0
        } else {
            max_redirects
        };
        let net = self.net(d);
        let settings = Settings {
            timeout,
            http: self.http,
            insecure: d.insecure.unwrap_or(false),
            cacert,
            cert,
            key,
            max_error_rate,
            body_limit,
            cookie_jar: d.cookie_jar.unwrap_or(false),
            max_redirects,
            compressed: d.compressed.unwrap_or(false),
            keepalive: d.keepalive.unwrap_or(true),
            h2_streams,
            connect_to: net.connect_to,
            dns_refresh: net.dns_refresh,
            unix_socket: net.unix_socket,
            proxy: net.proxy,
            trace_sample,
        };
        let checks = self.run_checks(&d.checks);
        let outputs = self.outputs(d);
        let thresholds = d
            .thresholds
            .iter()
            .filter_map(|(scope, key, value)| self.threshold(scope, key, value, d))
            .collect();
        Some(Ir {
            scenarios: scenarios?,
            load,
            settings,
            checks,
            thresholds,
            grpc_schema: self
                .grpc_schema
                .as_ref()
                .map(|s| s.encoded.clone())
                .unwrap_or_default(),
            outputs,
            scripts,
            data: self.data.clone(),
        })
    }

    /// `[[scenarios]]`: each a weighted, tagged list of steps. Step URLs starting with
    /// `/` are relative to `[target] url`; headers from `[request]` and `-H` apply to
    /// every step unless the step sets the same header.
    fn scenarios(&mut self, d: &Draft) -> Option<Vec<Scenario>> {
        if let Some(m) = &d.method {
            self.conflict(
                &m.loc,
                "with `[[scenarios]]`, each step sets its own `method`",
            );
        }
        if let Some(b) = &d.body {
            self.conflict(
                &b.loc,
                "with `[[scenarios]]`, each step sets its own `body`",
            );
        }
        if let Some(c) = d.request_checks.first() {
            self.conflict(
                &c.loc,
                "with `[[scenarios]]`, put checks in the steps or in `[[checks]]`",
            );
        }
        let base = d.url.as_ref().and_then(|url| {
            let t = self.url_template(url)?;
            self.split_origin(url, t).map(|(origin, _)| origin)
        });
        let has_ws = d
            .scenarios
            .iter()
            .any(|sc| sc.steps.iter().any(|st| st.ws.is_some()));
        if has_ws {
            self.ws_scenario_settings(&d.websocket);
        } else {
            self.ws_settings_unused(&d.websocket, d.url.as_ref().map(|u| u.value.as_str()));
        }
        if speaks_grpc(d) {
            self.grpc_scenario_settings(&d.grpc);
        } else {
            self.grpc_settings_unused(&d.grpc, d.url.as_ref().map(|u| u.value.as_str()));
        }
        let mut out = Vec::new();
        let mut ok = true;
        // A scenario's name keys its thresholds, its report section and its
        // histogram: two of one name would be judged and merged as one.
        let mut named = std::collections::HashSet::new();
        for sc in &d.scenarios {
            if let Some(name) = &sc.name
                && !named.insert(name.value.as_str())
            {
                self.conflict(
                    &name.loc,
                    &format!(
                        "two scenarios are named `{}`; give each its own name",
                        name.value
                    ),
                );
            }
        }
        for (i, sc) in d.scenarios.iter().enumerate() {
            let weight = match &sc.weight {
                Some(w) if !(1..=1_000_000).contains(&w.value) => {
                    self.out_of_range(
                        w,
                        "weight",
                        "from 1 to 1000000 (a scenario of weight 0 would never run)",
                    );
                    1
                }
                Some(w) => w.value as u32,
                None => 1,
            };
            if sc.steps.is_empty() {
                self.conflict(
                    &sc.loc,
                    "a scenario needs at least one `[[scenarios.steps]]`",
                );
                ok = false;
            }
            let mut steps = Vec::with_capacity(sc.steps.len());
            self.extracted.clear();
            self.extracted_later = sc
                .steps
                .iter()
                .flat_map(|st| st.extracts.iter().map(|(var, _)| var.clone()))
                .collect();
            for (j, st) in sc.steps.iter().enumerate() {
                if st.grpc.is_some() || st.ws.is_some() {
                    let name = st.name.clone().unwrap_or_else(|| format!("step{j}"));
                    let made = match (&st.grpc, &st.ws) {
                        (Some(_), Some(ws)) => {
                            self.conflict(
                                &ws.loc,
                                "a step is one exchange: `grpc` or `ws`, not both",
                            );
                            None
                        }
                        (Some(g), None) => self.grpc_step(d, st, g, name, base.as_ref()),
                        _ => self.ws_step(d, st, name, base.as_ref()),
                    };
                    match made {
                        Some(mut step) => {
                            step.extracts = self.extracts(&st.extracts);
                            steps.push(step);
                        }
                        None => ok = false,
                    }
                    self.extracted
                        .extend(st.extracts.iter().map(|(var, _)| var.clone()));
                    continue;
                }
                if let Some(url) = st.url.as_ref().filter(|u| websocket::is_ws_url(&u.value)) {
                    self.conflict(
                        &url.loc,
                        "a `ws://` URL makes a WebSocket step: write it as \
                         `ws = { url = \"…\", send = \"…\" }`",
                    );
                    ok = false;
                    continue;
                }
                let Some(url) = &st.url else {
                    self.conflict(&st.loc, "a step needs a `url`");
                    ok = false;
                    continue;
                };
                let split = self.step_url(url, base.as_ref());
                let spec = RequestSpec {
                    name: st.name.clone().unwrap_or_else(|| format!("step{j}")),
                    method: st.method.as_ref(),
                    headers: request::step_headers(&d.headers, &st.headers),
                    body: st.body.as_ref(),
                    checks: &st.checks,
                    think_time: st.think_time.as_ref().or(d.think_time.as_ref()),
                    expected_status: st.expected_status.as_ref().or(d.expected_status.as_ref()),
                    http: true,
                };
                let extracts = self.extracts(&st.extracts);
                self.grpc_status_on_http(&st.checks);
                match self.request(spec, split, url) {
                    Some(mut step) => {
                        step.extracts = extracts;
                        steps.push(step);
                    }
                    None => ok = false,
                }
                // Later steps see what this one extracts.
                self.extracted
                    .extend(st.extracts.iter().map(|(var, _)| var.clone()));
            }
            out.push(Scenario {
                name: sc
                    .name
                    .as_ref()
                    .map_or_else(|| format!("scenario{i}"), |n| n.value.clone()),
                weight,
                tags: sc.tags.clone(),
                steps,
                loc: sc.loc.ir_loc(),
            });
        }
        ok.then_some(out)
    }

    /// The one request of a run without `[[scenarios]]`: the URL from `[target]` or
    /// the command line, with `[request]` and the flags.
    fn step(&mut self, d: &Draft, file: Option<&Src>) -> Option<Step> {
        let Some(url) = &d.url else {
            let err = match file {
                Some(src) => CompileError::in_source(CompileErrorKind::MissingUrl, src, None),
                None => CompileError::unlocated(CompileErrorKind::MissingUrl),
            };
            self.errors.push(err);
            return None;
        };
        let url_template = self.url_template(url);
        let split = url_template.and_then(|t| self.split_origin(url, t));
        if is_grpc(&url.value) {
            self.ws_settings_unused(&d.websocket, Some(&url.value));
            return self.grpc_target(d, url, split);
        }
        self.grpc_settings_unused(&d.grpc, Some(&url.value));
        if websocket::is_ws_url(&url.value) {
            return self.ws_target(d, url, split);
        }
        self.grpc_status_on_http(&d.request_checks);
        self.ws_settings_unused(&d.websocket, Some(&url.value));
        let spec = RequestSpec {
            name: "request".into(),
            method: d.method.as_ref(),
            headers: d.headers.iter().collect(),
            body: d.body.as_ref(),
            checks: &d.request_checks,
            think_time: d.think_time.as_ref(),
            expected_status: d.expected_status.as_ref(),
            http: true,
        };
        self.request(spec, split, url)
    }

    /// The one call of a run whose target is a `grpc://` URL: `[grpc] call` (or
    /// `--call`), its message from `[grpc] message` or `--body`, its metadata from
    /// `[grpc] metadata`, `[request] headers` and `-H`.
    fn grpc_target(
        &mut self,
        d: &Draft,
        url: &Located<String>,
        split: Option<(kaioken_vm::Origin, crate::Template)>,
    ) -> Option<Step> {
        let Some(call) = &d.grpc.call else {
            self.conflict(
                &url.loc,
                "a `grpc://` target needs the method to call: `call` in `[grpc]` (or `--call package.Service/Method`)",
            );
            return None;
        };
        if let Some(m) = &d.method {
            self.conflict(&m.loc, "a gRPC call has no HTTP method");
        }
        let message = match (&d.grpc.message, &d.body) {
            (Some(m), _) => Some(m.clone()),
            (None, Some(b)) => match &b.value {
                crate::draft::BodySource::Text(t) => Some(Located {
                    value: t.clone(),
                    loc: b.loc.clone(),
                }),
                crate::draft::BodySource::File(_) => {
                    self.conflict(&b.loc, "a gRPC message is written as JSON text, not a file");
                    None
                }
                crate::draft::BodySource::Multipart(_) => {
                    self.conflict(
                        &b.loc,
                        "a gRPC message is written as JSON text, not multipart fields",
                    );
                    None
                }
            },
            (None, None) => None,
        };
        let body = message.as_ref().map(|m| Located {
            value: crate::draft::BodySource::Text(m.value.clone()),
            loc: m.loc.clone(),
        });
        let headers = request::step_headers(&d.headers, &d.grpc.metadata);
        let spec = RequestSpec {
            name: "request".into(),
            method: None,
            headers,
            body: body.as_ref(),
            checks: &d.request_checks,
            think_time: d.think_time.as_ref(),
            expected_status: None,
            http: false,
        };
        let origin = split.as_ref().map(|(o, _)| o.clone());
        let mut step = self.request(spec, split, url)?;
        let schema = self.schema_for(d, origin.as_ref(), &url.loc)?;
        let made = self.grpc_call(&mut step, call, message.as_ref(), &schema);
        self.grpc_schema = Some(schema);
        made?;
        Some(step)
    }

    /// A `[[scenarios.steps]]` entry with `grpc = { … }`: a call to its `url` (by
    /// default the target's origin).
    fn grpc_step(
        &mut self,
        d: &Draft,
        st: &crate::draft::DraftStep,
        g: &crate::draft::DraftGrpcStep,
        name: String,
        base: Option<&kaioken_vm::Origin>,
    ) -> Option<Step> {
        if let Some(u) = &st.url {
            self.conflict(
                &u.loc,
                "a gRPC step gives its server as `url` in `grpc = { … }`",
            );
        }
        if let Some(b) = &st.body {
            self.conflict(
                &b.loc,
                "a gRPC step's message is `message` in `grpc = { … }`",
            );
        }
        if let Some(e) = &st.expected_status {
            self.conflict(
                &e.loc,
                "`expected_status` is for HTTP statuses; a gRPC call fails on any status but `OK` \
                 (judge others with a check, e.g. `grpc_status == NOT_FOUND`)",
            );
        }
        let Some(call) = &g.call else {
            self.conflict(
                &g.loc,
                "a gRPC step needs `call = \"package.Service/Method\"`",
            );
            return None;
        };
        let (split, url) = match &g.url {
            Some(u) => (self.step_url(u, base), u.clone()),
            None => match base {
                Some(o) => (
                    Some((o.clone(), crate::Template::literal("/"))),
                    call.clone(),
                ),
                None => {
                    self.conflict(
                        &g.loc,
                        "a gRPC step needs `url = \"grpc://host:port\"`, or a `[target] url` to call",
                    );
                    return None;
                }
            },
        };
        let body = g.message.as_ref().map(|m| Located {
            value: crate::draft::BodySource::Text(m.value.clone()),
            loc: m.loc.clone(),
        });
        let spec = RequestSpec {
            name,
            method: None,
            headers: request::step_headers(&d.headers, &g.metadata),
            body: body.as_ref(),
            checks: &st.checks,
            think_time: st.think_time.as_ref().or(d.think_time.as_ref()),
            expected_status: None,
            http: false,
        };
        let origin = split.as_ref().map(|(o, _)| o.clone());
        let mut step = self.request(spec, split, &url)?;
        let schema = self.schema_for(d, origin.as_ref(), &g.loc)?;
        let made = self.grpc_call(&mut step, call, g.message.as_ref(), &schema);
        self.grpc_schema = Some(schema);
        made?;
        Some(step)
    }

    /// Refuse `grpc_status` in an HTTP step's checks: it has no gRPC status.
    fn grpc_status_on_http(&mut self, checks: &[Located<String>]) {
        fn uses(c: &kaioken_grammar::Check) -> bool {
            match c {
                kaioken_grammar::Check::Or(items) | kaioken_grammar::Check::And(items) => {
                    items.iter().any(uses)
                }
                kaioken_grammar::Check::Not(inner) => uses(inner),
                kaioken_grammar::Check::Compare(cmp) => {
                    cmp.subject == kaioken_grammar::Subject::GrpcStatus
                }
                kaioken_grammar::Check::Script(_) => false,
            }
        }
        // Only a check that says `grpc_status` can use it: the others are not
        // parsed twice.
        for c in checks.iter().filter(|c| c.value.contains("grpc_status")) {
            if kaioken_grammar::parse_check(&c.value).is_ok_and(|parsed| uses(&parsed)) {
                self.conflict(
                    &c.loc,
                    "`grpc_status` is a gRPC call's status; this step is an HTTP request (check `status`)",
                );
            }
        }
    }

    /// The run's gRPC schema, found the first time a step needs it.
    fn schema_for(
        &mut self,
        d: &Draft,
        origin: Option<&kaioken_vm::Origin>,
        at: &Loc,
    ) -> Option<grpc::Schema> {
        if let Some(s) = self.grpc_schema.take() {
            return Some(s);
        }
        if self.grpc_tried {
            return None;
        }
        self.grpc_tried = true;
        let source = self.schema_source.clone();
        let tls = grpc::ReflectTls {
            insecure: d.insecure.unwrap_or(false),
            cacert: d.cacert.as_ref().map(|c| {
                let path = self.fold_env(c);
                self.resolve_path(&path, &c.loc)
            }),
            cert: d.cert.as_ref().map(|c| {
                let path = self.fold_env(c);
                self.resolve_path(&path, &c.loc)
            }),
            key: d.key.as_ref().map(|k| {
                let path = self.fold_env(k);
                self.resolve_path(&path, &k.loc)
            }),
        };
        self.grpc_schema(&d.grpc, &tls, origin, source.as_ref(), at)
    }

    /// Report text that does not parse, underlining `span` inside the value when the
    /// value maps onto the source byte for byte.
    fn grammar_error(
        &mut self,
        message: String,
        help: Option<&'static str>,
        loc: &Loc,
        span: Option<kaioken_grammar::Span>,
    ) {
        self.errors.push(CompileError::at(
            CompileErrorKind::Grammar { message, help },
            loc,
            span,
        ));
    }

    /// Report a grammar error at its own span.
    fn parse_error(&mut self, e: &kaioken_grammar::GrammarError, loc: &Loc) {
        self.grammar_error(e.to_string(), e.help(), loc, Some(e.span));
    }

    /// Report settings that cannot go together, or a required one that is missing.
    fn conflict(&mut self, loc: &Loc, message: &str) {
        let kind = CompileErrorKind::Conflict {
            message: message.to_owned(),
        };
        self.errors.push(CompileError::at(kind, loc, None));
    }

    /// A path written in a file is relative to that file's folder (the scenario's, or
    /// the `--targets` list's, as vegeta reads `@body` lines); one given as a flag is
    /// relative to the working directory. A scenario imported from a recording, a
    /// collection or a spec (`dir/x.json (imported)`) is in the folder of the file it
    /// came from.
    fn resolve_path(&self, path: &str, loc: &crate::located::Loc) -> std::path::PathBuf {
        if !loc.is_file || !std::path::Path::new(path).is_relative() {
            return path.into();
        }
        match std::path::Path::new(&*loc.src.name).parent() {
            Some(dir) => dir.join(path),
            None => path.into(),
        }
    }

    /// Report a number outside the range `expected` describes.
    /// The HTTP version: `[target] http` (or `--http3`), else `http2`; both given
    /// must agree.
    fn http_version(&mut self, d: &Draft) -> HttpVersion {
        let Some(http) = &d.http else {
            return if d.http2 == Some(true) {
                HttpVersion::Http2
            } else {
                HttpVersion::Http1
            };
        };
        let version = match http.value.as_str() {
            "1.1" | "1" => HttpVersion::Http1,
            "2" => HttpVersion::Http2,
            "3" => HttpVersion::Http3,
            _ => {
                let kind = CompileErrorKind::InvalidValue {
                    message: format!(
                        "`http` is the HTTP version, \"1.1\", \"2\" or \"3\"; `{}` is none of them",
                        http.value
                    ),
                };
                self.errors.push(CompileError::at(kind, &http.loc, None));
                return HttpVersion::Http1;
            }
        };
        if d.http2 == Some(true) && version != HttpVersion::Http2 {
            let kind = CompileErrorKind::InvalidValue {
                message: format!(
                    "`http2 = true` and `http = \"{}\"` disagree; keep one of them",
                    http.value
                ),
            };
            self.errors.push(CompileError::at(kind, &http.loc, None));
        }
        version
    }

    fn out_of_range<T>(&mut self, v: &Located<T>, what: &'static str, expected: &'static str) {
        self.errors.push(CompileError::at(
            CompileErrorKind::OutOfRange { what, expected },
            &v.loc,
            None,
        ));
    }
}

/// Whether the run makes gRPC calls: a `grpc(s)://` target, or a `grpc` step.
fn speaks_grpc(d: &Draft) -> bool {
    d.url.as_ref().is_some_and(|u| is_grpc(&u.value))
        || d.scenarios
            .iter()
            .any(|sc| sc.steps.iter().any(|st| st.grpc.is_some()))
}

/// Whether a URL names a gRPC server (`grpc://`, `grpcs://`).
fn is_grpc(url: &str) -> bool {
    url.starts_with("grpc://") || url.starts_with("grpcs://")
}

#[cfg(test)]
pub(crate) mod tests {
    //! The walk over scenarios and steps and the run-wide settings, plus the helpers
    //! the other files' tests lower their inputs with.

    use std::time::Duration;

    use miette::Diagnostic;

    use super::*;
    use crate::{CompileErrorKind, Part, Template};

    /// The file name every test scenario is lowered under.
    pub(super) const FILE: &str = "test.toml";

    /// Lower `text` as the scenario file [`FILE`], with `env` as the environment. A
    /// leading newline is dropped, so that line 1 is the raw string's first line.
    pub(super) fn lower_env(text: &str, env: &[(&str, &str)]) -> Result<Ir, CompileErrors> {
        lower(&Input {
            config: Some(ConfigFile {
                name: FILE.into(),
                text: text.strip_prefix('\n').unwrap_or(text).into(),
            }),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Input::default()
        })
    }

    /// Lower `text` (see [`lower_env`]), which must have no errors.
    pub(super) fn ok(text: &str) -> Ir {
        lower_env(text, &[]).unwrap_or_else(|e| panic!("{:?}", located_all(&e)))
    }

    /// Lower `text` (see [`lower_env`]), which must fail: its errors, located.
    pub(crate) fn errors(text: &str) -> Vec<String> {
        errors_env(text, &[])
    }

    /// The errors of `text` lowered with `env`, located (see [`located`]).
    pub(super) fn errors_env(text: &str, env: &[(&str, &str)]) -> Vec<String> {
        match lower_env(text, env) {
            Ok(ir) => panic!("expected errors, lowered to {ir:#?}"),
            Err(e) => located_all(&e),
        }
    }

    fn located_all(e: &CompileErrors) -> Vec<String> {
        e.errors.iter().map(located).collect()
    }

    /// An error as `line:column [underlined text] message`, as the diagnostic would
    /// show it (1-based; the column counts bytes, which is characters in these ASCII
    /// tests). An error without a label is its message alone.
    pub(super) fn located(e: &CompileError) -> String {
        let (Some(src), Some(label)) = (e.source_code(), e.labels().and_then(|mut l| l.next()))
        else {
            return e.to_string();
        };
        let at = src.read_span(label.inner(), 0, 0).unwrap();
        format!(
            "{}:{} [{}] {e}",
            at.line() + 1,
            at.column() + 1,
            String::from_utf8_lossy(at.data())
        )
    }

    /// A template as a scenario would write it.
    pub(super) fn text(t: &Template) -> String {
        t.parts.iter().map(Part::to_string).collect()
    }

    #[test]
    fn a_file_without_scenarios_is_one_request() {
        let ir = ok(r#"
[target]
url = "http://127.0.0.1:8080/health"
"#);
        assert_eq!(ir.scenarios.len(), 1);
        let sc = &ir.scenarios[0];
        assert_eq!((sc.name.as_str(), sc.weight), ("default", 1));
        let loc = sc.loc.as_ref().unwrap();
        assert_eq!((&*loc.file, loc.line, loc.column), (FILE, 2, 7));
        assert_eq!(sc.steps.len(), 1);
        assert_eq!(sc.steps[0].name, "request");
        assert_eq!(text(&sc.steps[0].path), "/health");
    }

    #[test]
    fn two_scenarios_of_one_name_are_refused() {
        assert_eq!(
            errors(
                "[target]\nurl = \"http://h/\"\n[[scenarios]]\nname = \"x\"\n[[scenarios.steps]]\nurl = \"/a\"\n[[scenarios]]\nname = \"x\"\n[[scenarios.steps]]\nurl = \"/b\"\n"
            ),
            ["8:9 [x] two scenarios are named `x`; give each its own name"]
        );
    }

    #[test]
    fn flags_alone_make_a_request_with_no_file_location() {
        let ir = lower(&Input {
            flags: Flags {
                url: Some("http://127.0.0.1:8080/".into()),
                ..Flags::default()
            },
            ..Input::default()
        })
        .unwrap();
        assert_eq!(ir.scenarios[0].loc, None);
        assert_eq!(ir.scenarios[0].steps[0].loc, None);
    }

    #[test]
    fn no_url_anywhere() {
        let e = lower(&Input::default()).unwrap_err();
        assert_eq!(located_all(&e), ["no target URL"]);
        assert_eq!(e.errors[0].kind, CompileErrorKind::MissingUrl);
        assert_eq!(errors("[load]\nvus = 2\n"), ["no target URL"]);
    }

    #[test]
    fn scenarios_name_steps_and_share_the_target_origin() {
        let ir = ok(r#"
[target]
url = "http://api.test:8080"

[request]
headers = { "Accept" = "text/html", "x-common" = "1" }

[[scenarios]]
weight = 3
tags = ["web"]

[[scenarios.steps]]
url = "/a"
headers = { "accept" = "application/json" }

[[scenarios.steps]]
name = "other"
url = "https://elsewhere.test/b"

[[scenarios]]
name = "second"

[[scenarios.steps]]
url = "/c"
"#);
        let names: Vec<_> = ir.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["scenario0", "second"]);
        assert_eq!(ir.scenarios[0].weight, 3);
        assert_eq!(ir.scenarios[0].tags, ["web"]);
        let steps = &ir.scenarios[0].steps;
        assert_eq!(steps[0].name, "step0");
        assert_eq!(steps[1].name, "other");
        assert_eq!(steps[0].origin.authority, "api.test:8080");
        assert_eq!(steps[1].origin.authority, "elsewhere.test");
        // The step's own `accept` replaces the common one; `x-common` stays.
        let headers: Vec<_> = steps[0]
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", text(v)))
            .collect();
        assert_eq!(
            headers,
            [
                "x-common: 1",
                "accept: application/json",
                &format!("user-agent: {}", crate::USER_AGENT),
            ]
        );
        let loc = ir.scenarios[1].steps[0].loc.as_ref().unwrap();
        assert_eq!((loc.line, loc.column), (23, 7));
    }

    #[test]
    fn scenarios_refuse_request_wide_method_body_and_checks() {
        let errors = errors(
            r#"
[target]
url = "http://h/"

[request]
method = "POST"
body = "x"
checks = ["status == 200"]

[[scenarios]]
weight = 0

[[scenarios.steps]]
method = "GET"

[[scenarios]]
"#,
        );
        assert_eq!(
            errors,
            [
                "5:11 [POST] with `[[scenarios]]`, each step sets its own `method`",
                "6:9 [x] with `[[scenarios]]`, each step sets its own `body`",
                "7:12 [status == 200] with `[[scenarios]]`, put checks in the steps or in `[[checks]]`",
                "10:10 [0] `weight` is out of range; expected from 1 to 1000000 (a scenario of weight 0 would never run)",
                "12:1 [[[scenarios.steps]]\nmethod = \"GET\"] a step needs a `url`",
                "15:1 [[[scenarios]]] a scenario needs at least one `[[scenarios.steps]]`",
            ]
        );
    }

    #[test]
    fn settings_defaults() {
        let ir = ok("[target]\nurl = \"http://h/\"\n");
        let s = &ir.settings;
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.max_error_rate, 0.1);
        assert_eq!(s.body_limit, 64 * 1024);
        assert_eq!(s.max_redirects, 10);
        assert!(s.http == HttpVersion::Http1 && !s.insecure && !s.cookie_jar);
        assert_eq!(s.cacert, None);
    }

    /// `trace_sample` (TOML) is a share from 0 to 1; traced nothing by default.
    #[test]
    fn trace_sample_is_a_share() {
        let sample = |line: &str| {
            ok(&format!("[target]\nurl = \"http://h/\"\n{line}\n"))
                .settings
                .trace_sample
        };
        assert_eq!(sample(""), 0.0);
        assert_eq!(sample("trace_sample = 0.01"), 0.01);
        assert_eq!(sample("trace_sample = 1.0"), 1.0);
        for bad in ["-0.5", "1.01", "nan"] {
            assert_eq!(
                errors(&format!(
                    "[target]\nurl = \"http://h/\"\ntrace_sample = {bad}\n"
                )),
                [format!(
                    "3:16 [{bad}] `trace_sample` is out of range; expected a fraction from 0 to 1"
                )]
            );
        }
    }

    #[test]
    fn the_http_version_comes_from_http_http2_or_a_flag() {
        let version = |target: &str| ok(&format!("[target]\n{target}\n")).settings.http;
        assert_eq!(
            version("url = \"https://h/\"\nhttp = \"3\""),
            HttpVersion::Http3
        );
        assert_eq!(
            version("url = \"http://h/\"\nhttp = \"2\""),
            HttpVersion::Http2
        );
        assert_eq!(
            version("url = \"http://h/\"\nhttp = \"1.1\""),
            HttpVersion::Http1
        );
        assert_eq!(
            version("url = \"http://h/\"\nhttp2 = true"),
            HttpVersion::Http2
        );
        assert_eq!(
            version("url = \"http://h/\"\nhttp2 = true\nhttp = \"2\""),
            HttpVersion::Http2
        );

        // A flag wins over the file.
        let with_flags = |file: &str, flags: Flags| {
            lower(&Input {
                config: Some(ConfigFile {
                    name: FILE.into(),
                    text: format!("[target]\nurl = \"https://h/\"\n{file}"),
                }),
                flags,
                ..Input::default()
            })
            .unwrap()
            .settings
            .http
        };
        let http3 = Flags {
            http3: true,
            ..Flags::default()
        };
        let http2 = Flags {
            http2: true,
            ..Flags::default()
        };
        assert_eq!(with_flags("http2 = true\n", http3), HttpVersion::Http3);
        assert_eq!(with_flags("http = \"3\"\n", http2), HttpVersion::Http2);
    }

    #[test]
    fn http3_needs_https_and_a_known_version() {
        assert_eq!(
            errors("[target]\nurl = \"http://h/\"\nhttp = \"3\"\n"),
            [
                "2:8 [http://h/] HTTP/3 runs on QUIC, which is always TLS: use an `https://` URL (or drop `--http3` / `http = \"3\"`)"
            ]
        );
        assert_eq!(
            errors("[target]\nurl = \"https://h/\"\nhttp = \"4\"\n"),
            [
                "3:9 [4] invalid value: `http` is the HTTP version, \"1.1\", \"2\" or \"3\"; `4` is none of them"
            ]
        );
        assert_eq!(
            errors("[target]\nurl = \"https://h/\"\nhttp2 = true\nhttp = \"3\"\n"),
            ["4:9 [3] invalid value: `http2 = true` and `http = \"3\"` disagree; keep one of them"]
        );
        // `http` is the version of HTTP steps: a `ws://` step's handshake is HTTP/1.1
        // on TCP, so it needs no TLS.
        ok(
            "[target]\nurl = \"https://h/\"\nhttp = \"3\"\n[[scenarios]]\n[[scenarios.steps]]\nws = { url = \"ws://h:8765/\", send = \"hi\" }\n",
        );
        // An HTTP step's path relative to a `ws://` target is on a cleartext origin.
        assert_eq!(
            errors(
                "[target]\nurl = \"ws://h/\"\nhttp = \"3\"\n[[scenarios]]\n[[scenarios.steps]]\nurl = \"/x\"\n"
            ),
            [
                "6:8 [/x] HTTP/3 runs on QUIC, which is always TLS: use an `https://` URL (or drop `--http3` / `http = \"3\"`)"
            ]
        );
        // HTTP/3 has no protocol switch (a WebSocket handshake), as HTTP/2 has none.
        assert_eq!(
            errors(
                "[target]\nurl = \"https://h/\"\nhttp = \"3\"\n[request]\nheaders = { \"Upgrade\" = \"websocket\" }\n"
            ),
            [
                "5:26 [websocket] `upgrade` asks for a protocol switch, which HTTP/3 does not have (drop `http = \"3\"` or `--http3` to send this handshake over HTTP/1.1)"
            ]
        );
    }

    #[test]
    fn settings_values_and_limits() {
        let ir = ok(r#"
[target]
url = "http://h/"
timeout = "2s"
max_redirects = 3
follow_redirects = false
body_limit = 0
cookie_jar = true
"#);
        assert_eq!(ir.settings.timeout, Duration::from_secs(2));
        // Not following redirects wins over a count.
        assert_eq!(ir.settings.max_redirects, 0);
        assert_eq!(ir.settings.body_limit, 0);
        assert!(ir.settings.cookie_jar);

        let errors = errors(
            r#"
[target]
url = "http://h/"
max_error_rate = 1.5
body_limit = -1
max_redirects = 101
cacert = "no-such-ca.pem"
"#,
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(
            errors[..3],
            [
                "3:18 [1.5] `max_error_rate` is out of range; expected a fraction from 0 to 1",
                // The cacert error comes with the load plan's, before these two.
                "6:11 [no-such-ca.pem] cannot read `no-such-ca.pem`: No such file or directory (os error 2)",
                "4:14 [-1] `body_limit` is out of range; expected from 0 to 1073741824 bytes",
            ]
        );
        assert_eq!(
            errors[3],
            "5:17 [101] `max_redirects` is out of range; expected from 0 to 100"
        );
    }

    #[test]
    fn errors_come_in_the_order_of_the_jobs() {
        // Scenarios, timeout, load, checks, thresholds: the first one is the headline.
        let errors = errors(
            r#"
[target]
url = "http://h/${NOPE}"
timeout = "soon"

[load]
vus = 0

[[checks]]
name = "no expr"

[thresholds]
p95 = "< 200"
"#,
        );
        let kinds: Vec<_> = errors.iter().map(|e| &e[..e.find(' ').unwrap()]).collect();
        assert_eq!(kinds, ["2:17", "3:12", "6:7", "8:1", "12:8"], "{errors:#?}");
    }
}
