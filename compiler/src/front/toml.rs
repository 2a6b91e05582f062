//! The TOML front end: a scenario file into a located [`Draft`].
//!
//! The schema is documented key by key in `docs/scenario.md`. Unknown keys are errors
//! (`deny_unknown_fields`), with a "did you mean" drawn from the keys allowed there.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::ThresholdScope;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::{
    BodySource, Draft, DraftCheck, DraftGrpc, DraftGrpcStep, DraftHeader, DraftOutput,
    DraftScenario, DraftStage, DraftStep, DraftWsStep, MultipartField,
};
use crate::located::{Loc, Located, Src};

/// A kaioken scenario file (see docs/scenario.md).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "kaioken scenario")]
struct File {
    target: Option<Target>,
    request: Option<Request>,
    load: Option<Load>,
    stages: Option<Vec<Spanned<StageTable>>>,
    checks: Option<Vec<Spanned<CheckTable>>>,
    thresholds: Option<Thresholds>,
    scenarios: Option<Vec<Spanned<ScenarioTable>>>,
    websocket: Option<Spanned<WebSocketTable>>,
    /// Header names and query keys whose values printers hide (read by
    /// `crate::redaction`; checked here).
    redact: Option<Vec<Spanned<String>>>,
    grpc: Option<GrpcTable>,
    outputs: Option<OutputsTable>,
    scripts: Option<BTreeMap<String, Spanned<ScriptValue>>>,
    scripting: Option<ScriptingTable>,
    data: Option<Vec<Spanned<DataSourceTable>>>,
}

/// A `[[data]]` entry.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DataSourceTable {
    name: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    strategy: Option<Spanned<String>>,
    on_exhausted: Option<Spanned<String>>,
}

/// A `[scripts]` entry: the function's body, or the file it is in.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum ScriptValue {
    Inline(String),
    File(ScriptFile),
}

/// `name = { file = "sign.lua" }`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    file: String,
}

/// `[scripting]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScriptingTable {
    budget: Option<Spanned<String>>,
    memory_mib: Option<Spanned<i64>>,
    env: Option<Vec<Spanned<String>>>,
    network: Option<bool>,
}

/// `[outputs]`: where the metrics stream, and what they all share.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OutputsTable {
    prometheus: Option<Spanned<String>>,
    #[serde(rename = "prometheus-rw")]
    prometheus_rw: Option<Spanned<String>>,
    influxdb: Option<Spanned<String>>,
    otlp: Option<Spanned<String>>,
    exec: Option<Spanned<String>>,
    linger: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    tags: Option<BTreeMap<String, Spanned<String>>>,
}

/// `[grpc]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrpcTable {
    proto: Option<Spanned<String>>,
    import_paths: Option<Vec<Spanned<String>>>,
    reflection: Option<Spanned<bool>>,
    call: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    metadata: Option<BTreeMap<String, Spanned<String>>>,
}

/// A step's `grpc = { … }`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrpcStepTable {
    url: Option<Spanned<String>>,
    call: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    metadata: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScenarioTable {
    name: Option<Spanned<String>>,
    weight: Option<Spanned<i64>>,
    tags: Option<Vec<String>>,
    steps: Option<Vec<Spanned<StepTable>>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StepTable {
    name: Option<String>,
    url: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    headers: Option<BTreeMap<String, Spanned<String>>>,
    body: Option<Spanned<String>>,
    body_file: Option<Spanned<String>>,
    multipart: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    checks: Option<Vec<Spanned<String>>>,
    extract: Option<BTreeMap<String, Spanned<String>>>,
    think_time: Option<Spanned<String>>,
    expected_status: Option<Spanned<String>>,
    grpc: Option<Spanned<GrpcStepTable>>,
    ws: Option<Spanned<WsTable>>,
}

/// `[websocket]`: the message exchange of a `ws://` target.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WebSocketTable {
    message: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    message_interval: Option<Spanned<String>>,
    expect: Option<Spanned<i64>>,
}

/// A step's `ws = { … }`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WsTable {
    url: Option<Spanned<String>>,
    send: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    message_interval: Option<Spanned<String>>,
    expect: Option<Spanned<i64>>,
}

/// `[thresholds]`: one optional key per metric, in report order.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Thresholds {
    p50: Option<Spanned<String>>,
    p75: Option<Spanned<String>>,
    p90: Option<Spanned<String>>,
    p95: Option<Spanned<String>>,
    p99: Option<Spanned<String>>,
    p99_9: Option<Spanned<String>>,
    mean: Option<Spanned<String>>,
    max: Option<Spanned<String>>,
    error_rate: Option<Spanned<String>>,
    failure_rate: Option<Spanned<String>>,
    rps: Option<Spanned<String>>,
    check_pass_rate: Option<Spanned<String>>,
    dropped_iterations: Option<Spanned<String>>,
    achieved_rate: Option<Spanned<String>>,
    /// `[thresholds.scenarios.NAME]`: the same keys for one scenario.
    scenarios: Option<BTreeMap<String, Thresholds>>,
    /// `[thresholds.tags.NAME]`: the same keys for the scenarios with a tag.
    tags: Option<BTreeMap<String, Thresholds>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CheckTable {
    name: Option<Spanned<String>>,
    expr: Option<Spanned<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StageTable {
    duration: Option<Spanned<String>>,
    target: Option<Spanned<f64>>,
    target_rate: Option<Spanned<f64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Target {
    url: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    http2: Option<bool>,
    http: Option<Spanned<String>>,
    insecure: Option<bool>,
    cacert: Option<Spanned<String>>,
    max_error_rate: Option<Spanned<f64>>,
    trace_sample: Option<Spanned<f64>>,
    body_limit: Option<Spanned<i64>>,
    cookie_jar: Option<bool>,
    compressed: Option<bool>,
    keepalive: Option<bool>,
    h2_streams: Option<Spanned<i64>>,
    connect_to: Option<Vec<Spanned<String>>>,
    resolve: Option<Vec<Spanned<String>>>,
    dns_refresh: Option<Spanned<String>>,
    unix_socket: Option<Spanned<String>>,
    proxy: Option<Spanned<String>>,
    proxy_from_env: Option<bool>,
    follow_redirects: Option<bool>,
    max_redirects: Option<Spanned<i64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Request {
    method: Option<Spanned<String>>,
    headers: Option<BTreeMap<String, Spanned<String>>>,
    body: Option<Spanned<String>>,
    body_file: Option<Spanned<String>>,
    multipart: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    checks: Option<Vec<Spanned<String>>>,
    think_time: Option<Spanned<String>>,
    expected_status: Option<Spanned<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Load {
    vus: Option<Spanned<i64>>,
    duration: Option<Spanned<String>>,
    max_requests: Option<Spanned<i64>>,
    rate: Option<Spanned<f64>>,
    ramp_up: Option<Spanned<String>>,
    warmup: Option<Spanned<String>>,
    arrival_rate: Option<Spanned<f64>>,
    max_vus: Option<Spanned<i64>>,
    pre_allocated_vus: Option<Spanned<i64>>,
    latency_correction: Option<bool>,
    queue_size: Option<Spanned<i64>>,
    queue_timeout: Option<Spanned<String>>,
}

/// A value with where it was in the file: [`toml::Spanned`], whose JSON Schema is its
/// value's (the position is the parser's, not the file's to write).
#[derive(Deserialize)]
#[serde(transparent)]
struct Spanned<T>(toml::Spanned<T>);

impl<T> Spanned<T> {
    fn span(&self) -> std::ops::Range<usize> {
        self.0.span()
    }

    fn get_ref(&self) -> &T {
        self.0.get_ref()
    }

    fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// The JSON Schema of a scenario file, derived from the structs above (so it names
/// exactly the keys the parser accepts), for editors: Taplo and Even Better TOML read
/// it from a `#:schema` comment and complete and check keys as they are typed.
/// `kaioken schema` prints it; `docs/scenario.schema.json` is a copy.
pub fn scenario_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(File);
    schema.insert(
        "$id".to_owned(),
        serde_json::Value::String(SCHEMA_URL.to_owned()),
    );
    let mut schema = schema.to_value();
    without_null(&mut schema);
    schema
}

/// `schema` without the `null` that schemars allows for an `Option`: TOML has no
/// null, an absent key is how a value is left out.
fn without_null(schema: &mut serde_json::Value) {
    use serde_json::Value;
    match schema {
        Value::Object(object) => {
            if let Some(Value::Array(types)) = object.get_mut("type") {
                types.retain(|t| t != "null");
                if let [one] = types.as_slice() {
                    let one = one.clone();
                    object.insert("type".to_owned(), one);
                }
            }
            if let Some(Value::Array(any)) = object.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if let [Value::Object(one)] = any.as_slice() {
                    let one = one.clone();
                    object.remove("anyOf");
                    object.extend(one);
                }
            }
            object.values_mut().for_each(without_null);
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}

/// Where the published schema is: the repository's `docs/scenario.schema.json`.
pub const SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/kaioken-rs/kaioken/main/docs/scenario.schema.json";

/// Read `src` (a scenario file) into `draft`.
pub(crate) fn read(src: &Src, draft: &mut Draft) -> Result<(), CompileError> {
    let file: File = toml::from_str(&src.text).map_err(|e| toml_error(src, &e))?;
    let string = |s: Spanned<String>| {
        let loc = Loc::toml(src, s.span(), Some(s.get_ref()));
        Located {
            value: s.into_inner(),
            loc,
        }
    };
    let number = |s: Spanned<f64>| Located {
        loc: Loc::toml(src, s.span(), None),
        value: s.into_inner(),
    };
    let int = |s: Spanned<i64>| Located {
        loc: Loc::toml(src, s.span(), None),
        value: s.into_inner(),
    };

    for name in file.redact.unwrap_or_default() {
        let name = string(name);
        let token = !name.value.is_empty()
            && name
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(CompileError::at(
                CompileErrorKind::InvalidValue {
                    message: format!(
                        "`redact` takes header names and query keys; `{}` is neither",
                        name.value
                    ),
                },
                &name.loc,
                None,
            ));
        }
    }
    if let Some(o) = file.outputs {
        let kinds = [
            ("prometheus", o.prometheus),
            ("prometheus-rw", o.prometheus_rw),
            ("influxdb", o.influxdb),
            ("otlp", o.otlp),
            ("exec", o.exec),
        ];
        for (kind, address) in kinds {
            if let Some(address) = address {
                let address = string(address);
                draft.outputs.push(DraftOutput {
                    kind: Located {
                        value: kind.to_owned(),
                        loc: address.loc.clone(),
                    },
                    address,
                });
            }
        }
        draft.metrics_linger = o.linger.map(string);
        draft.output_interval = o.interval.map(string);
        for (name, value) in o.tags.unwrap_or_default() {
            let value = string(value);
            let name = Located {
                value: name,
                loc: value.loc.clone(),
            };
            draft.tags.push((name, value));
        }
    }
    for (name, value) in file.scripts.unwrap_or_default() {
        let loc = Loc::toml(src, value.span(), None);
        let name = Located {
            value: name,
            loc: loc.clone(),
        };
        let body = match value.into_inner() {
            ScriptValue::Inline(text) => {
                crate::draft::ScriptBody::Inline(Located { value: text, loc })
            }
            ScriptValue::File(f) => crate::draft::ScriptBody::File(Located { value: f.file, loc }),
        };
        draft.scripts.push(crate::draft::DraftScript { name, body });
    }
    if let Some(s) = file.scripting {
        draft.scripting = crate::draft::DraftScripting {
            budget: s.budget.map(string),
            memory_mib: s.memory_mib.map(int),
            env: s.env.unwrap_or_default().into_iter().map(string).collect(),
            network: s.network,
        };
    }
    if let Some(t) = file.target {
        draft.url = t.url.map(string);
        draft.timeout = t.timeout.map(string);
        draft.http2 = t.http2;
        draft.http = t.http.map(string);
        draft.insecure = t.insecure;
        draft.cacert = t.cacert.map(string);
        draft.max_error_rate = t.max_error_rate.map(number);
        draft.trace_sample = t.trace_sample.map(number);
        draft.body_limit = t.body_limit.map(int);
        draft.cookie_jar = t.cookie_jar;
        draft.compressed = t.compressed;
        draft.keepalive = t.keepalive;
        draft.h2_streams = t.h2_streams.map(int);
        draft.connect_to = t
            .connect_to
            .unwrap_or_default()
            .into_iter()
            .map(string)
            .collect();
        draft.resolve = t
            .resolve
            .unwrap_or_default()
            .into_iter()
            .map(string)
            .collect();
        draft.dns_refresh = t.dns_refresh.map(string);
        draft.unix_socket = t.unix_socket.map(string);
        draft.proxy = t.proxy.map(string);
        draft.proxy_from_env = t.proxy_from_env;
        draft.follow_redirects = t.follow_redirects;
        draft.max_redirects = t.max_redirects.map(int);
    }
    let metadata = |table: Option<BTreeMap<String, Spanned<String>>>| -> Vec<DraftHeader> {
        table
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| {
                let value = string(value);
                DraftHeader {
                    name: Located {
                        value: name,
                        loc: value.loc.clone(),
                    },
                    value,
                }
            })
            .collect()
    };
    if let Some(g) = file.grpc {
        draft.grpc = DraftGrpc {
            proto: g.proto.map(string),
            import_paths: g
                .import_paths
                .unwrap_or_default()
                .into_iter()
                .map(string)
                .collect(),
            reflection: g.reflection.map(|r| Located {
                loc: Loc::toml(src, r.span(), None),
                value: r.into_inner(),
            }),
            call: g.call.map(string),
            message: g.message.map(string),
            metadata: metadata(g.metadata),
        };
    }
    if let Some(r) = file.request {
        draft.method = r.method.map(string);
        draft.think_time = r.think_time.map(string);
        draft.expected_status = r.expected_status.map(string);
        draft.request_checks = r
            .checks
            .unwrap_or_default()
            .into_iter()
            .map(string)
            .collect();
        for (name, value) in r.headers.unwrap_or_default() {
            let value = string(value);
            let name = Located {
                value: name,
                loc: value.loc.clone(),
            };
            draft.set_header(DraftHeader { name, value });
        }
        if let Some(body) = body(r.body, r.body_file, r.multipart, src, &string)? {
            draft.body = Some(body);
        }
    }
    if let Some(l) = file.load {
        draft.vus = l.vus.map(int);
        draft.duration = l.duration.map(string);
        draft.max_requests = l.max_requests.map(int);
        draft.rate = l.rate.map(number);
        draft.ramp_up = l.ramp_up.map(string);
        draft.warmup = l.warmup.map(string);
        draft.arrival_rate = l.arrival_rate.map(number);
        draft.max_vus = l.max_vus.map(int);
        draft.pre_allocated_vus = l.pre_allocated_vus.map(int);
        draft.latency_correction = l.latency_correction;
        draft.queue_size = l.queue_size.map(int);
        draft.queue_timeout = l.queue_timeout.map(string);
    }
    if let Some(w) = file.websocket {
        let section = Loc::toml(src, w.span(), None);
        let w = w.into_inner();
        draft.websocket.section = Some(section);
        draft.websocket.message = w.message.map(string);
        draft.websocket.mode = w.mode.map(string);
        draft.websocket.interval = w.message_interval.map(string);
        draft.websocket.expect = w.expect.map(int);
    }
    if let Some(t) = file.thresholds {
        thresholds(t, ThresholdScope::All, &mut draft.thresholds, &string);
    }
    for scenario in file.scenarios.unwrap_or_default() {
        let loc = Loc::toml(src, scenario.span(), None);
        let scenario = scenario.into_inner();
        let mut steps = Vec::new();
        for step in scenario.steps.unwrap_or_default() {
            let loc = Loc::toml(src, step.span(), None);
            let step = step.into_inner();
            let headers = step
                .headers
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| {
                    let value = string(value);
                    DraftHeader {
                        name: Located {
                            value: name,
                            loc: value.loc.clone(),
                        },
                        value,
                    }
                })
                .collect();
            let body = body(step.body, step.body_file, step.multipart, src, &string)?;
            let ws = step.ws.map(|ws| {
                let loc = Loc::toml(src, ws.span(), None);
                let ws = ws.into_inner();
                DraftWsStep {
                    url: ws.url.map(string),
                    send: ws.send.map(string),
                    mode: ws.mode.map(string),
                    expect: ws.expect.map(int),
                    interval: ws.message_interval.map(string),
                    loc,
                }
            });
            steps.push(DraftStep {
                name: step.name,
                url: step.url.map(string),
                method: step.method.map(string),
                headers,
                body,
                checks: step
                    .checks
                    .unwrap_or_default()
                    .into_iter()
                    .map(string)
                    .collect(),
                extracts: step
                    .extract
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(var, spec)| (var, string(spec)))
                    .collect(),
                think_time: step.think_time.map(string),
                expected_status: step.expected_status.map(string),
                grpc: step.grpc.map(|g| {
                    let loc = Loc::toml(src, g.span(), None);
                    let g = g.into_inner();
                    DraftGrpcStep {
                        url: g.url.map(string),
                        call: g.call.map(string),
                        message: g.message.map(string),
                        metadata: metadata(g.metadata),
                        loc,
                    }
                }),
                ws,
                loc,
            });
        }
        draft.scenarios.push(DraftScenario {
            name: scenario.name.map(string),
            weight: scenario.weight.map(int),
            tags: scenario.tags.unwrap_or_default(),
            steps,
            loc,
        });
    }
    for entry in file.data.unwrap_or_default() {
        let loc = Loc::toml(src, entry.span(), None);
        let entry = entry.into_inner();
        let Some(name) = entry.name.map(string) else {
            let kind = CompileErrorKind::InvalidValue {
                message: "a `[[data]]` entry needs a `name`, as `name = \"users\"`".into(),
            };
            return Err(CompileError::at(kind, &loc, None));
        };
        draft.data.push(crate::draft::DraftData {
            name,
            file: entry.file.map(string),
            strategy: entry.strategy.map(string),
            on_exhausted: entry.on_exhausted.map(string),
            loc,
        });
    }
    for check in file.checks.unwrap_or_default() {
        let loc = Loc::toml(src, check.span(), None);
        let check = check.into_inner();
        draft.checks.push(DraftCheck {
            name: check.name.map(string),
            expr: check.expr.map(string),
            loc,
        });
    }
    if let Some(stages) = file.stages {
        if let Some(first) = stages.first() {
            draft.stages_loc = Some(Loc::toml(src, first.span(), None));
        }
        for stage in stages {
            let loc = Loc::toml(src, stage.span(), None);
            let stage = stage.into_inner();
            draft.stages.push(DraftStage {
                duration: stage.duration.map(string),
                target: stage.target.map(number),
                target_rate: stage.target_rate.map(number),
                loc,
            });
        }
    }
    Ok(())
}

/// Turn a toml/serde error into a located diagnostic, recognising serde's
/// "unknown field" message so that we can suggest the intended key.
fn toml_error(src: &Src, e: &toml::de::Error) -> CompileError {
    let message = match e.message().trim() {
        // The parser says nothing about a character it does not expect (a control
        // character in a comment): say what it is.
        "" => match e
            .span()
            .and_then(|s| src.text.get(s.start..)?.chars().next())
        {
            Some(c) if c.is_control() => {
                format!(
                    "control character U+{:04X} is not allowed here",
                    u32::from(c)
                )
            }
            Some(c) => format!("unexpected `{c}`"),
            None => "unexpected end of file".to_owned(),
        },
        message => message.to_owned(),
    };
    let kind = if let Some(rest) = message.strip_prefix("unknown field `") {
        let (found, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = tail
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        CompileErrorKind::UnknownKey {
            found: found.to_owned(),
            expected,
        }
    } else if message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("missing field")
        || message.starts_with("duplicate")
    {
        CompileErrorKind::InvalidValue { message }
    } else {
        CompileErrorKind::TomlSyntax { message }
    };
    CompileError::in_source(kind, src, e.span())
}

/// Collect a `[thresholds]` table (and its scoped sub-tables) in report order.
fn thresholds(
    t: Thresholds,
    scope: ThresholdScope,
    out: &mut Vec<(ThresholdScope, &'static str, Located<String>)>,
    string: &dyn Fn(Spanned<String>) -> Located<String>,
) {
    let all = [
        ("p50", t.p50),
        ("p75", t.p75),
        ("p90", t.p90),
        ("p95", t.p95),
        ("p99", t.p99),
        ("p99_9", t.p99_9),
        ("mean", t.mean),
        ("max", t.max),
        ("error_rate", t.error_rate),
        ("failure_rate", t.failure_rate),
        ("rps", t.rps),
        ("check_pass_rate", t.check_pass_rate),
        ("dropped_iterations", t.dropped_iterations),
        ("achieved_rate", t.achieved_rate),
    ];
    for (metric, value) in all {
        if let Some(value) = value {
            out.push((scope.clone(), metric, string(value)));
        }
    }
    // Scopes nest one level: `[thresholds.scenarios.x.tags.y]` means nothing.
    if scope == ThresholdScope::All {
        for (name, set) in t.scenarios.unwrap_or_default() {
            thresholds(set, ThresholdScope::Scenario(name), out, string);
        }
        for (name, set) in t.tags.unwrap_or_default() {
            thresholds(set, ThresholdScope::Tag(name), out, string);
        }
    }
}

/// A request's body from `body` (text, a template), `body_file` or `multipart`; more
/// than one is an error.
fn body(
    text: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    multipart: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    src: &Src,
    string: &dyn Fn(Spanned<String>) -> Located<String>,
) -> Result<Option<Located<BodySource>>, CompileError> {
    let multipart = multipart.map(|m| {
        let loc = Loc::toml(src, m.span(), None);
        let fields = m
            .into_inner()
            .into_iter()
            .map(|(name, value)| {
                let value = string(value);
                MultipartField {
                    name: Located {
                        value: name,
                        loc: value.loc.clone(),
                    },
                    value,
                }
            })
            .collect();
        Located {
            value: BodySource::Multipart(fields),
            loc,
        }
    });
    let text = text.map(|t| {
        let t = string(t);
        Located {
            value: BodySource::Text(t.value),
            loc: t.loc,
        }
    });
    let file = file.map(|f| {
        let f = string(f);
        Located {
            value: BodySource::File(f.value),
            loc: f.loc,
        }
    });
    let mut given = [text, file, multipart].into_iter().flatten();
    let first = given.next();
    if let Some(second) = given.next() {
        let message =
            "`body`, `body_file` and `multipart` cannot be used together: give one".into();
        return Err(CompileError::at(
            CompileErrorKind::Conflict { message },
            &second.loc,
            None,
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use crate::lower::tests::errors;

    /// The TOML parser gives no message for a control character in a comment; the
    /// diagnostic still says what is wrong (found by fuzzing: it said `invalid TOML: `).
    #[test]
    fn an_unexpected_character_is_named() {
        assert_eq!(
            errors("# a \u{0} b\n[target]\nurl = \"http://h/\"\n"),
            ["1:5 [\u{0}] invalid TOML: control character U+0000 is not allowed here"]
        );
    }
}
