//! `lower`: front ends → [`Draft`] → validated [`Ir`].

use std::collections::BTreeMap;
use std::time::Duration;

use kaioken_grammar::{TemplatePart, parse_duration, parse_template};
use kaioken_vm::{Builtin, Origin, Scheme};

use crate::compile_error::{CompileError, CompileErrorKind, CompileErrors};
use crate::draft::{BodySource, Draft, DraftHeader};
use crate::located::Loc;
use crate::located::{Located, Src};
use crate::{
    Arrival, Flags, Ir, IrCheck, IrExtract, IrThreshold, LoadPlan, Metric, Part, Scenario,
    Settings, Stage, Step, Template, ThresholdScope, front,
};

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
    /// The scenario file, if any (`-f`): TOML, or a HAR recording when its name
    /// ends in `.har`.
    pub config: Option<ConfigFile>,
    /// How a HAR recording becomes a scenario (ignored for TOML).
    pub har: crate::HarOptions,
    /// Command-line values; they override the file's.
    pub flags: Flags,
    /// Environment variables for `${NAME}` folding. The CLI passes the process
    /// environment; tests pass a fixed map so results do not depend on the machine.
    pub env: BTreeMap<String, String>,
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
    if let Some(config) = &input.config {
        // Editors sometimes write a UTF-8 BOM; TOML has no place for it.
        let text = config.text.strip_prefix('\u{feff}').unwrap_or(&config.text);
        let src = Src::new(config.name.as_str(), text);
        if front::har::is_har(&config.name) {
            front::har::read(&src, &input.har, &mut draft)
        } else {
            front::toml::read(&src, &mut draft)
        }
        .map_err(CompileErrors::from)?;
        file_src = Some(src);
    }
    input.flags.apply(&mut draft, &mut errors);
    let base_dir = input.config.as_ref().and_then(|c| {
        std::path::Path::new(&c.name)
            .parent()
            .map(|p| p.to_path_buf())
    });
    let mut lowerer = Lowerer {
        env: &input.env,
        errors,
        base_dir,
        extracted: Default::default(),
        extracted_later: Default::default(),
        http2: draft.http2.unwrap_or(false),
    };
    let ir = lowerer.lower(&draft, file_src.as_ref());
    if lowerer.errors.is_empty() {
        ir.ok_or_else(|| CompileErrors { errors: vec![] })
    } else {
        Err(CompileErrors {
            errors: lowerer.errors,
        })
    }
}

/// What a request is made of, wherever it was written.
struct RequestSpec<'d> {
    name: String,
    method: Option<&'d Located<String>>,
    headers: Vec<&'d DraftHeader>,
    body: Option<&'d Located<BodySource>>,
    checks: &'d [Located<String>],
    think_time: Option<&'d Located<String>>,
}

/// What a `${name}` resolves to.
enum Resolved {
    Extracted(String),
    Builtin(Builtin),
    Env(String),
}

struct Lowerer<'a> {
    env: &'a BTreeMap<String, String>,
    errors: Vec<CompileError>,
    /// The scenario file's folder: relative paths written in the file start there.
    base_dir: Option<std::path::PathBuf>,
    /// Variables extracted by the steps before the one being lowered (same scenario).
    extracted: std::collections::BTreeSet<String>,
    /// Variables extracted only by later steps: using one is an error, not an
    /// environment lookup.
    extracted_later: std::collections::BTreeSet<String>,
    /// The run speaks HTTP/2, which has no protocol switch.
    http2: bool,
}

impl Lowerer<'_> {
    fn lower(&mut self, d: &Draft, file: Option<&Src>) -> Option<Ir> {
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
        let timeout = self.duration(&d.timeout, "timeout", DEFAULT_TIMEOUT, false);
        let max_error_rate = match &d.max_error_rate {
            Some(r) if !(0.0..=1.0).contains(&r.value) => {
                self.out_of_range(r, "max_error_rate", "a fraction from 0 to 1");
                DEFAULT_MAX_ERROR_RATE
            }
            Some(r) => r.value,
            None => DEFAULT_MAX_ERROR_RATE,
        };
        let load = self.load(d);
        let cacert = d.cacert.as_ref().map(|c| {
            let path = self.fold_env(c);
            let path = self.resolve_path(&path, &c.loc);
            // Checked now so that a typo is a located error before any load is sent;
            // the certificates themselves are parsed when the run starts.
            if let Err(e) = std::fs::File::open(&path) {
                let kind = CompileErrorKind::Io {
                    path: path.display().to_string(),
                    message: e.to_string(),
                };
                self.errors.push(CompileError::at(kind, &c.loc, None));
            }
            path
        });
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
        let max_redirects = if d.follow_redirects == Some(false) {
            0
        } else {
            max_redirects
        };
        let settings = Settings {
            timeout,
            http2: d.http2.unwrap_or(false),
            insecure: d.insecure.unwrap_or(false),
            cacert,
            max_error_rate,
            body_limit,
            cookie_jar: d.cookie_jar.unwrap_or(false),
            max_redirects,
        };
        let mut checks = Vec::new();
        for c in &d.checks {
            let Some(expr) = &c.expr else {
                self.conflict(
                    &c.loc,
                    "a check needs `expr`, e.g. `expr = \"status == 200\"`",
                );
                continue;
            };
            if let Some(check) = self.check(expr, c.name.as_ref().map(|n| n.value.clone())) {
                checks.push(check);
            }
        }
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
            let t = self.template(url)?;
            self.split_origin(url, t).map(|(origin, _)| origin)
        });
        let mut out = Vec::new();
        let mut ok = true;
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
            let mut steps = Vec::new();
            self.extracted.clear();
            self.extracted_later = sc
                .steps
                .iter()
                .flat_map(|st| st.extracts.iter().map(|(var, _)| var.clone()))
                .collect();
            for (j, st) in sc.steps.iter().enumerate() {
                let Some(url) = &st.url else {
                    self.conflict(&st.loc, "a step needs a `url`");
                    ok = false;
                    continue;
                };
                let split = self.template(url).and_then(|t| {
                    let relative =
                        matches!(t.parts.first(), Some(Part::Lit(b)) if b.starts_with(b"/"));
                    if !relative {
                        return self.split_origin(url, t);
                    }
                    match &base {
                        Some(origin) => Some((origin.clone(), t)),
                        None => {
                            let kind = CompileErrorKind::BadUrl {
                                reason:
                                    "a relative URL needs `url` in `[target]` to be relative to"
                                        .into(),
                            };
                            self.errors.push(CompileError::at(kind, &url.loc, None));
                            None
                        }
                    }
                });
                let mut headers: Vec<&DraftHeader> = d
                    .headers
                    .iter()
                    .filter(|h| {
                        !st.headers
                            .iter()
                            .any(|o| o.name.value.eq_ignore_ascii_case(&h.name.value))
                    })
                    .collect();
                headers.extend(st.headers.iter());
                let spec = RequestSpec {
                    name: st.name.clone().unwrap_or_else(|| format!("step{j}")),
                    method: st.method.as_ref(),
                    headers,
                    body: st.body.as_ref(),
                    checks: &st.checks,
                    think_time: st.think_time.as_ref().or(d.think_time.as_ref()),
                };
                let extracts = self.extracts(&st.extracts);
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

    /// Validate a step's extractors: the variable name, the spec, its JSONPath or regex.
    fn extracts(&mut self, specs: &[(String, Located<String>)]) -> Vec<IrExtract> {
        let mut out = Vec::new();
        for (var, spec) in specs {
            let valid_name = var
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name || Builtin::from_name(var).is_some() {
                let message = if valid_name {
                    format!("`{var}` is a built-in; extract into another name")
                } else {
                    format!(
                        "`{var}` is not a variable name (letters, digits and `_`, not starting with a digit)"
                    )
                };
                self.conflict(&spec.loc, &message);
                continue;
            }
            let extractor = match kaioken_grammar::parse_extractor(&spec.value) {
                Ok(e) => e,
                Err(e) => {
                    self.parse_error(&e, &spec.loc);
                    continue;
                }
            };
            let problem = match &extractor {
                kaioken_grammar::Extractor::Json(path) => {
                    jsonpath_rust::parser::parse_json_path(path)
                        .err()
                        .map(|e| format!("invalid JSONPath `{path}`: {e}"))
                }
                kaioken_grammar::Extractor::Regex(re) => regex::bytes::Regex::new(re)
                    .err()
                    .map(|e| format!("invalid regular expression: {e}")),
                _ => None,
            };
            if let Some(message) = problem {
                self.grammar_error(message, None, &spec.loc, None);
                continue;
            }
            out.push(IrExtract {
                var: var.clone(),
                extractor,
                loc: spec.loc.ir_loc(),
            });
        }
        out
    }

    fn conflict(&mut self, loc: &Loc, message: &str) {
        let kind = CompileErrorKind::Conflict {
            message: message.to_owned(),
        };
        self.errors.push(CompileError::at(kind, loc, None));
    }

    /// The load model: closed or open, stages, and their limits.
    fn load(&mut self, d: &Draft) -> LoadPlan {
        let max_requests = match &d.max_requests {
            Some(m) if m.value < 1 => {
                self.out_of_range(m, "max_requests", "at least 1");
                None
            }
            m => m.as_ref().map(|m| m.value as u64),
        };
        let rate = match &d.rate {
            Some(r) if !(r.value.is_finite() && r.value > 0.0) => {
                self.out_of_range(r, "rate", "a positive number of requests per second");
                None
            }
            r => r.as_ref().map(|r| r.value),
        };
        let open = d.arrival_rate.is_some() || d.stages.iter().any(|s| s.target_rate.is_some());
        if open {
            if let Some(v) = &d.vus {
                self.conflict(&v.loc, "`vus` is for the closed model; with `arrival_rate`, VUs are started as needed up to `max_vus`");
            }
            if let Some(r) = &d.rate {
                self.conflict(
                    &r.loc,
                    "`rate` caps the closed model; with `arrival_rate` the schedule sets the rate",
                );
            }
            if let Some(r) = &d.ramp_up {
                self.conflict(&r.loc, "`ramp_up` is for the closed model; ramp an arrival rate with `[[stages]]` and `target_rate`");
            }
        } else {
            let open_only = [
                d.max_vus.as_ref().map(|v| (&v.loc, "max_vus")),
                d.pre_allocated_vus
                    .as_ref()
                    .map(|v| (&v.loc, "pre_allocated_vus")),
                d.queue_size.as_ref().map(|v| (&v.loc, "queue_size")),
                d.queue_timeout.as_ref().map(|v| (&v.loc, "queue_timeout")),
            ];
            for (loc, key) in open_only.into_iter().flatten() {
                self.conflict(loc, &format!("`{key}` applies to the arrival-rate model; set `arrival_rate` too, or use `vus` for the closed model"));
            }
        }

        let mut stages = Vec::new();
        for stage in &d.stages {
            let duration = match &stage.duration {
                Some(_) => self.duration(&stage.duration, "duration", Duration::from_secs(1), true),
                None => {
                    self.conflict(&stage.loc, "a stage needs a `duration`");
                    Duration::from_secs(1)
                }
            };
            let target = match (&stage.target, &stage.target_rate) {
                (Some(t), None) if open => {
                    self.conflict(&t.loc, "stages mix `target` (VUs) with `target_rate` (iterations per second); use one kind");
                    t.value
                }
                (Some(t), None) => {
                    if !(t.value.is_finite() && (0.0..=MAX_VUS as f64).contains(&t.value)) {
                        self.out_of_range(t, "target", "from 0 to 1000000 VUs");
                    }
                    t.value
                }
                (None, Some(t)) => {
                    if !(t.value.is_finite() && t.value >= 0.0) {
                        self.out_of_range(t, "target_rate", "zero or more iterations per second");
                    }
                    t.value
                }
                (Some(t), Some(_)) => {
                    self.conflict(&t.loc, "a stage has either `target` (VUs) or `target_rate` (iterations per second), not both");
                    t.value
                }
                (None, None) => {
                    self.conflict(
                        &stage.loc,
                        "a stage needs `target` (VUs) or `target_rate` (iterations per second)",
                    );
                    0.0
                }
            };
            stages.push(Stage {
                duration,
                target: target.max(0.0),
            });
        }
        if let (Some(dur), false) = (&d.duration, stages.is_empty()) {
            self.conflict(
                &dur.loc,
                "`duration` cannot be set with `[[stages]]`: the run lasts as long as its stages",
            );
        }
        let duration = if !stages.is_empty() {
            Some(stages.iter().map(|s| s.duration).sum())
        } else {
            match (&d.duration, max_requests) {
                (None, Some(_)) => None,
                _ => Some(self.duration(&d.duration, "duration", DEFAULT_DURATION, true)),
            }
        };
        let ramp_up = self.duration(&d.ramp_up, "ramp_up", Duration::ZERO, false);
        let warmup = self.duration(&d.warmup, "warmup", Duration::ZERO, false);
        if let (Some(ramp), Some(total)) = (&d.ramp_up, duration) {
            if ramp_up > total + warmup {
                self.conflict(&ramp.loc, "`ramp_up` is longer than the whole run");
            }
        }
        let peak =
            |start: f64, stages: &[Stage]| stages.iter().map(|s| s.target).fold(start, f64::max);

        if !open {
            let vus = match &d.vus {
                Some(v) if !(1..=MAX_VUS).contains(&v.value) => {
                    self.out_of_range(v, "vus", "from 1 to 1000000");
                    1
                }
                Some(v) => v.value,
                None if stages.is_empty() => DEFAULT_VUS,
                None => 0,
            };
            let start = vus as f64;
            let most = peak(start, &stages).ceil() as u32;
            if most == 0 {
                if let Some(loc) = &d.stages_loc {
                    self.conflict(
                        loc,
                        "these stages never start a VU; give a stage a `target` above 0",
                    );
                }
            }
            return LoadPlan {
                vus: most.max(1),
                duration,
                max_requests,
                rate,
                ramp_up,
                warmup,
                start,
                stages,
                arrival: None,
            };
        }

        let rate = match &d.arrival_rate {
            Some(r) if !(r.value.is_finite() && r.value > 0.0) => {
                self.out_of_range(
                    r,
                    "arrival_rate",
                    "a positive number of iterations per second",
                );
                1.0
            }
            Some(r) => r.value,
            None => 0.0,
        };
        if peak(rate, &stages) <= 0.0 {
            if let Some(loc) = &d.stages_loc {
                self.conflict(
                    loc,
                    "these stages never start an iteration; give a stage a `target_rate` above 0",
                );
            }
        }
        let max_vus = match &d.max_vus {
            Some(v) if !(1..=MAX_VUS).contains(&v.value) => {
                self.out_of_range(v, "max_vus", "from 1 to 1000000");
                1
            }
            Some(v) => v.value as u32,
            None => DEFAULT_MAX_VUS,
        };
        // Enough VUs for 50 ms responses at the peak rate, so the first second does
        // not pay for starting VUs; more are added when needed.
        let pre_allocated_vus = match &d.pre_allocated_vus {
            Some(v) if v.value < 1 || v.value > i64::from(max_vus) => {
                self.out_of_range(v, "pre_allocated_vus", "from 1 to `max_vus`");
                1
            }
            Some(v) => v.value as u32,
            None => ((peak(rate, &stages) / 20.0).ceil() as u32).clamp(1, max_vus),
        };
        let queue_size = match &d.queue_size {
            Some(q) if !(1..=10_000_000).contains(&q.value) => {
                self.out_of_range(q, "queue_size", "from 1 to 10000000");
                1
            }
            Some(q) => q.value as u32,
            None => DEFAULT_QUEUE_SIZE,
        };
        let queue_timeout = self.duration(
            &d.queue_timeout,
            "queue_timeout",
            DEFAULT_QUEUE_TIMEOUT,
            true,
        );
        let arrival = Arrival {
            rate,
            pre_allocated_vus,
            latency_correction: d.latency_correction.unwrap_or(true),
            queue_size,
            queue_timeout,
        };
        LoadPlan {
            vus: max_vus,
            duration,
            max_requests,
            rate: None,
            ramp_up,
            warmup,
            start: rate,
            stages,
            arrival: Some(arrival),
        }
    }

    /// Parse a threshold and check that its bound fits the metric.
    fn threshold(
        &mut self,
        scope: &ThresholdScope,
        key: &str,
        value: &Located<String>,
        d: &Draft,
    ) -> Option<IrThreshold> {
        let metric = Metric::from_key(key)?;
        // A scope must name a scenario or tag the run has.
        let names: Vec<String> = match scope {
            ThresholdScope::All => Vec::new(),
            ThresholdScope::Scenario(_) => d
                .scenarios
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.name
                        .as_ref()
                        .map_or(format!("scenario{i}"), |n| n.value.clone())
                })
                .collect(),
            ThresholdScope::Tag(_) => d
                .scenarios
                .iter()
                .flat_map(|s| s.tags.iter().cloned())
                .collect(),
        };
        if let ThresholdScope::Scenario(name) | ThresholdScope::Tag(name) = scope {
            if !names.iter().any(|n| n == name) {
                let what = if matches!(scope, ThresholdScope::Scenario(_)) {
                    "scenario"
                } else {
                    "tag"
                };
                let mut message = format!("thresholds for {what} `{name}`, which no scenario has");
                if let Some(s) = crate::suggest::closest(name, names.iter().map(String::as_str)) {
                    message.push_str(&format!("; did you mean `{s}`?"));
                }
                self.conflict(&value.loc, &message);
                return None;
            }
            if metric == Metric::CheckPassRate {
                self.conflict(&value.loc, "`check_pass_rate` is measured for the whole run only; put it in `[thresholds]`");
                return None;
            }
        }
        let threshold = match kaioken_grammar::parse_threshold(&value.value) {
            Ok(t) => t,
            Err(e) => {
                self.parse_error(&e, &value.loc);
                return None;
            }
        };
        let is_time = matches!(threshold.bound, kaioken_grammar::Value::Time(_));
        let problem = if metric.is_time() && !is_time {
            Some(format!(
                "`{key}` is a latency: give the bound a unit, e.g. `< 200ms`"
            ))
        } else if !metric.is_time() && is_time {
            Some(format!(
                "`{key}` is not a time: write a number{}",
                if metric == Metric::Rps {
                    ""
                } else {
                    " (0.95) or a percentage (95%)"
                }
            ))
        } else if metric == Metric::Rps
            && matches!(threshold.bound, kaioken_grammar::Value::Percent(_))
        {
            Some("`rps` is requests per second: write a number, e.g. `> 1000`".to_owned())
        } else {
            None
        };
        if let Some(message) = problem {
            self.grammar_error(
                format!("invalid threshold: {message}"),
                None,
                &value.loc,
                None,
            );
            return None;
        }
        Some(IrThreshold {
            scope: scope.clone(),
            metric,
            threshold,
            loc: value.loc.ir_loc(),
        })
    }

    /// Parse a check (and compile its regexes, to report them here) into the IR.
    fn check(&mut self, expr: &Located<String>, name: Option<String>) -> Option<IrCheck> {
        let parsed = match kaioken_grammar::parse_check(&expr.value) {
            Ok(c) => c,
            Err(e) => {
                self.parse_error(&e, &expr.loc);
                return None;
            }
        };
        let mut bad_regex = None;
        visit_regexes(&parsed, &mut |pattern, span| {
            if let Err(e) = regex::bytes::Regex::new(pattern) {
                bad_regex.get_or_insert((span, e.to_string()));
            }
        });
        if let Some((span, message)) = bad_regex {
            self.grammar_error(
                format!("invalid regular expression: {message}"),
                None,
                &expr.loc,
                Some(span),
            );
            return None;
        }
        Some(IrCheck {
            name: name.unwrap_or_else(|| parsed.to_string()),
            expr: parsed,
            loc: expr.loc.ir_loc(),
        })
    }

    /// A path written in the scenario file is relative to the file; one given as a
    /// flag is relative to the working directory.
    fn resolve_path(&self, path: &str, loc: &crate::located::Loc) -> std::path::PathBuf {
        match &self.base_dir {
            Some(base) if loc.is_file && std::path::Path::new(path).is_relative() => {
                base.join(path)
            }
            _ => path.into(),
        }
    }

    fn out_of_range<T>(&mut self, v: &Located<T>, what: &'static str, expected: &'static str) {
        self.errors.push(CompileError::at(
            CompileErrorKind::OutOfRange { what, expected },
            &v.loc,
            None,
        ));
    }

    /// A duration setting: env-folded, parsed; must be non-zero when `positive`.
    fn duration(
        &mut self,
        value: &Option<Located<String>>,
        what: &'static str,
        default: Duration,
        positive: bool,
    ) -> Duration {
        let Some(value) = value else { return default };
        let text = self.fold_env(value);
        match parse_duration(&text) {
            Ok(d) if positive && d.is_zero() => {
                self.out_of_range(value, what, "a duration above zero");
                default
            }
            Ok(d) => d,
            Err(e) => {
                let inner = (text == value.value).then_some(e.span);
                self.grammar_error(
                    format!("invalid duration `{text}` for `{what}`"),
                    e.help(),
                    &value.loc,
                    inner,
                );
                default
            }
        }
    }

    /// A string where only environment variables may appear.
    fn fold_env(&mut self, value: &Located<String>) -> String {
        match self.template(value) {
            Some(t) => {
                let mut out = Vec::new();
                for part in &t.parts {
                    match part {
                        Part::Lit(bytes) => out.extend_from_slice(bytes),
                        Part::Builtin(b) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed {
                                name: b.name().into(),
                            };
                            self.errors.push(CompileError::at(kind, &value.loc, None));
                        }
                        Part::Extracted(var) | Part::UrlEncoded(var) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed { name: var.clone() };
                            self.errors.push(CompileError::at(kind, &value.loc, None));
                        }
                        Part::Random(..) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed {
                                name: "RANDOM".into(),
                            };
                            self.errors.push(CompileError::at(kind, &value.loc, None));
                        }
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            }
            None => value.value.clone(),
        }
    }

    /// Parse a template, fold environment variables, keep built-ins.
    fn template(&mut self, value: &Located<String>) -> Option<Template> {
        let parsed = match parse_template(&value.value) {
            Ok(t) => t,
            Err(e) => {
                self.parse_error(&e, &value.loc);
                return None;
            }
        };
        let mut out = Template::default();
        let mut ok = true;
        for part in parsed.parts {
            match part {
                TemplatePart::Literal { text, .. } => out.push_lit(text.as_bytes()),
                TemplatePart::Var {
                    name,
                    args,
                    of,
                    span,
                } => {
                    if name == "RANDOM" && of.is_none() {
                        match args.as_slice() {
                            &[lo, hi] if lo <= hi => out.parts.push(Part::Random(lo, hi)),
                            _ => {
                                let kind = CompileErrorKind::BadBuiltinArgs {
                                    name,
                                    expected: "two integers, the smallest first: `${RANDOM(1,100)}`",
                                };
                                self.errors
                                    .push(CompileError::at(kind, &value.loc, Some(span)));
                                ok = false;
                            }
                        }
                        continue;
                    }
                    let (name, encode) = match (name.as_str(), of) {
                        ("URLENCODE", Some(of)) if args.is_empty() => (of, true),
                        (_, None) if args.is_empty() && name != "URLENCODE" => (name, false),
                        _ => {
                            let expected = match name.as_str() {
                                "URLENCODE" => "the name of a value: `${URLENCODE(token)}`",
                                "RANDOM" => "two integers, the smallest first: `${RANDOM(1,100)}`",
                                _ => "no arguments",
                            };
                            let kind = CompileErrorKind::BadBuiltinArgs { name, expected };
                            self.errors
                                .push(CompileError::at(kind, &value.loc, Some(span)));
                            ok = false;
                            continue;
                        }
                    };
                    match self.resolve(name, &value.loc, span) {
                        Some(Resolved::Extracted(var)) if encode => {
                            out.parts.push(Part::UrlEncoded(var));
                        }
                        Some(Resolved::Extracted(var)) => out.parts.push(Part::Extracted(var)),
                        // Built-ins write only letters, digits and `-`: nothing to encode.
                        Some(Resolved::Builtin(b)) => out.parts.push(Part::Builtin(b)),
                        Some(Resolved::Env(v)) if encode => {
                            let mut encoded = Vec::new();
                            kaioken_vm::push_url_encoded(&mut encoded, v.as_bytes());
                            out.push_lit(&encoded);
                        }
                        Some(Resolved::Env(v)) => out.push_lit(v.as_bytes()),
                        None => ok = false,
                    }
                }
            }
        }
        ok.then_some(out)
    }

    /// What the name in a `${name}` stands for, in order: a value an earlier step
    /// extracted, a built-in, an environment variable. A name only later steps
    /// extract, or no name at all, is an error (with the closest known name).
    fn resolve(
        &mut self,
        name: String,
        loc: &Loc,
        span: kaioken_grammar::Span,
    ) -> Option<Resolved> {
        if self.extracted.contains(&name) {
            return Some(Resolved::Extracted(name));
        }
        if let Some(b) = Builtin::from_name(&name) {
            return Some(Resolved::Builtin(b));
        }
        if self.extracted_later.contains(&name) {
            let kind = CompileErrorKind::UseBeforeExtract { name };
            self.errors.push(CompileError::at(kind, loc, Some(span)));
            return None;
        }
        if let Some(v) = self.env.get(&name) {
            return Some(Resolved::Env(v.clone()));
        }
        let candidates = Builtin::ALL
            .iter()
            .map(|b| b.name())
            .chain(["RANDOM", "URLENCODE"])
            .chain(self.extracted.iter().map(String::as_str))
            .chain(self.env.keys().map(String::as_str));
        let suggestion = crate::suggest::closest(&name, candidates).map(str::to_owned);
        let kind = CompileErrorKind::UnknownVariable { name, suggestion };
        self.errors.push(CompileError::at(kind, loc, Some(span)));
        None
    }

    fn step(&mut self, d: &Draft, file: Option<&Src>) -> Option<Step> {
        let Some(url) = &d.url else {
            let err = match file {
                Some(src) => CompileError::in_source(CompileErrorKind::MissingUrl, src, None),
                None => CompileError::unlocated(CompileErrorKind::MissingUrl),
            };
            self.errors.push(err);
            return None;
        };
        let url_template = self.template(url);
        let split = url_template.and_then(|t| self.split_origin(url, t));
        let spec = RequestSpec {
            name: "request".into(),
            method: d.method.as_ref(),
            headers: d.headers.iter().collect(),
            body: d.body.as_ref(),
            checks: &d.request_checks,
            think_time: d.think_time.as_ref(),
        };
        self.request(spec, split, url)
    }

    /// The parts of a request common to `[request]` and scenario steps: method,
    /// headers, body, checks, once the URL is split.
    fn request(
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

    /// Split a URL template into its fixed origin and its path template.
    fn split_origin(&mut self, url: &Located<String>, t: Template) -> Option<(Origin, Template)> {
        let bad = |this: &mut Self, reason: String| {
            this.errors.push(CompileError::at(
                CompileErrorKind::BadUrl { reason },
                &url.loc,
                None,
            ));
            None
        };
        let Some(Part::Lit(first)) = t.parts.first() else {
            return bad(
                self,
                "the scheme and host must be fixed, not a built-in".into(),
            );
        };
        let first = String::from_utf8_lossy(first).into_owned();
        let Some(scheme_end) = first.find("://") else {
            return bad(
                self,
                format!("`{first}` has no scheme; expected `http://` or `https://`"),
            );
        };
        let after = scheme_end + 3;
        let authority_end = first[after..].find(['/', '?', '#']).map(|i| after + i);
        if authority_end.is_none() && t.parts.len() > 1 {
            return bad(
                self,
                "the scheme and host must be fixed; a built-in cannot be part of them".into(),
            );
        }
        let authority_end = authority_end.unwrap_or(first.len());
        let origin_text = &first[..authority_end];
        let parsed = match url::Url::parse(origin_text) {
            Ok(u) => u,
            Err(e) => return bad(self, format!("`{origin_text}`: {e}")),
        };
        let scheme = match parsed.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return bad(
                    self,
                    format!("scheme `{other}` is not supported; expected `http` or `https`"),
                );
            }
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return bad(
                self,
                "credentials in the URL are not supported; send an `Authorization` header".into(),
            );
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return bad(self, "no host".into()),
        };
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let port = parsed.port().unwrap_or(default_port);
        let host_text = parsed.host_str().unwrap_or_default();
        let authority = if port == default_port {
            host_text.to_owned()
        } else {
            format!("{host_text}:{port}")
        };
        let mut path = Template::default();
        let rest = &first[authority_end..];
        if !rest.starts_with('/') {
            path.push_lit(b"/");
        }
        path.push_lit(rest.as_bytes());
        for part in &t.parts[1..] {
            match part {
                Part::Lit(bytes) => path.push_lit(bytes),
                Part::Builtin(_) | Part::Extracted(_) | Part::UrlEncoded(_) | Part::Random(..) => {
                    path.parts.push(part.clone())
                }
            }
        }
        // Anywhere in the path, after a `${…}` too.
        let fragment = path.parts.iter().find_map(|p| match p {
            Part::Lit(b) => b
                .iter()
                .position(|&c| c == b'#')
                .map(|i| String::from_utf8_lossy(&b[i..]).into_owned()),
            _ => None,
        });
        if let Some(fragment) = fragment {
            return bad(
                self,
                format!("fragment `{fragment}` is never sent to a server; remove it"),
            );
        }
        let has_space = path.parts.iter().any(|p| matches!(p, Part::Lit(b) if b.iter().any(|c| c.is_ascii_whitespace() || c.is_ascii_control())));
        if has_space {
            return bad(
                self,
                "the path contains a space or control character; percent-encode it (`%20`)".into(),
            );
        }
        Some((
            Origin {
                scheme,
                host,
                port,
                authority,
            },
            path,
        ))
    }
}

/// Call `f` with each `matches` pattern in a check and the span of its comparison.
fn visit_regexes(check: &kaioken_grammar::Check, f: &mut impl FnMut(&str, kaioken_grammar::Span)) {
    use kaioken_grammar::{Check, Predicate};
    match check {
        Check::Or(items) | Check::And(items) => items.iter().for_each(|c| visit_regexes(c, f)),
        Check::Not(inner) => visit_regexes(inner, f),
        Check::Compare(cmp) => {
            if let Predicate::Matches(pattern) = &cmp.predicate {
                f(pattern, cmp.span);
            }
        }
    }
}
