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
    /// Where requests go and how connections behave.
    target: Option<Target>,
    /// What every request sends: defaults that steps inherit.
    request: Option<Request>,
    /// How much load, for how long: the closed (VUs) or open (arrival rate) model.
    load: Option<Load>,
    /// Load levels in time: each stage moves linearly to its target.
    stages: Option<Vec<Spanned<StageTable>>>,
    /// Checks on every response: named expressions, counted in the report.
    checks: Option<Vec<Spanned<CheckTable>>>,
    /// Pass or fail: bounds on the run's metrics (exit code 4 when one fails).
    thresholds: Option<Thresholds>,
    /// Weighted scenarios of ordered steps (request chaining between them).
    scenarios: Option<Vec<Spanned<ScenarioTable>>>,
    /// The message exchange of a `ws://` target.
    websocket: Option<Spanned<WebSocketTable>>,
    /// More header names and query keys whose values every printout hides.
    // Read by `crate::redaction`; checked here.
    redact: Option<Vec<Spanned<String>>>,
    /// The schema and call of a `grpc://` target and of gRPC steps.
    grpc: Option<GrpcTable>,
    /// Where metrics stream while the run goes on.
    outputs: Option<OutputsTable>,
    /// Lua functions: checks, extractors, request hooks, `setup` and `teardown`.
    scripts: Option<BTreeMap<String, Spanned<ScriptValue>>>,
    /// What scripts may do: environment variables, network in setup, time and memory.
    scripting: Option<ScriptingTable>,
    /// Data sources (CSV or JSON files) read as `${source.column}`.
    data: Option<Vec<Spanned<DataSourceTable>>>,
}

/// A `[[data]]` entry.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DataSourceTable {
    /// The source's name, as templates use it: letters, digits and `_`, not starting with a
    /// digit, neither `setup` nor `script`.
    name: Option<Spanned<String>>,
    /// A `.csv` file (header row, RFC 4180 quoting) or a `.json` array of objects, relative
    /// to the scenario's folder.
    file: Option<Spanned<String>>,
    /// `sequential`: the next row, one cursor shared by all VUs; `random`: a row drawn at
    /// random; `unique`: VU *n* reads row *n − 1* (more VUs than rows is an error).
    strategy: Option<Spanned<String>>,
    /// For a `sequential` source: `wrap` starts again from the first row; `stop` stops the
    /// run (`stop_reason` `data_exhausted`, report written).
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
    /// The Lua file holding the function's body, relative to the scenario file.
    file: String,
}

/// `[scripting]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScriptingTable {
    /// The longest one call may run during the load, at most `60s`.
    budget: Option<Spanned<String>>,
    /// The most memory one Lua state may hold (there is one per worker thread).
    memory_mib: Option<Spanned<i64>>,
    /// Environment variables scripts may read as `env.NAME`.
    env: Option<Vec<Spanned<String>>>,
    /// `setup` and `teardown` may make HTTP requests (`http.get`, `http.post`,
    /// `http.request`).
    network: Option<bool>,
}

/// `[outputs]`: where the metrics stream, and what they all share.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OutputsTable {
    /// `HOST:PORT` to serve `/metrics` on (`:9464` means 127.0.0.1).
    prometheus: Option<Spanned<String>>,
    /// A Prometheus remote-write URL.
    #[serde(rename = "prometheus-rw")]
    prometheus_rw: Option<Spanned<String>>,
    /// `http://HOST:PORT/DATABASE` (1.x) or `http://HOST:PORT?org=…&bucket=…` (2.x, token
    /// from `KAIOKEN_INFLUXDB_TOKEN`).
    influxdb: Option<Spanned<String>>,
    /// An OTLP/HTTP base URL (`/v1/metrics`, `/v1/traces`).
    otlp: Option<Spanned<String>>,
    /// A command to start and write the run to as JSON lines (see
    /// [outputs.md](outputs.md#exec-your-own-output-plugin)).
    exec: Option<Spanned<String>>,
    /// How long `/metrics` is still served after the run, and an `exec` command has to
    /// exit.
    linger: Option<Spanned<String>>,
    /// How often push outputs send (at least 250ms).
    interval: Option<Spanned<String>>,
    /// Labels on every series; names are letters, digits and `_`.
    tags: Option<BTreeMap<String, Spanned<String>>>,
}

/// `[grpc]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrpcTable {
    /// The `.proto` declaring the service (relative to the scenario file); its folder is
    /// where its `import`s are looked up first (Google's well-known types are built in).
    proto: Option<Spanned<String>>,
    /// More folders its `import`s are looked up in.
    import_paths: Option<Vec<Spanned<String>>>,
    /// Fetch the schema by server reflection instead (from the first call's server, before
    /// the run).
    reflection: Option<Spanned<bool>>,
    /// The method of a `grpc://` target; required with one.
    call: Option<Spanned<String>>,
    /// Its request message (`--body` / `-b` on the command line).
    message: Option<Spanned<String>>,
    /// Its metadata, over `[request] headers` and `-H`.
    metadata: Option<BTreeMap<String, Spanned<String>>>,
}

/// A step's `grpc = { … }`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrpcStepTable {
    /// The server (default: `[target] url`'s origin).
    url: Option<Spanned<String>>,
    /// The method, `package.Service/Method`; required.
    call: Option<Spanned<String>>,
    /// The request message as JSON (a template).
    message: Option<Spanned<String>>,
    /// The call's metadata.
    metadata: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScenarioTable {
    /// The scenario's name.
    name: Option<Spanned<String>>,
    /// Its share of the iterations (a weight of 0 is an error: it would never run).
    weight: Option<Spanned<i64>>,
    /// Labels, shown in `--dump ir`.
    tags: Option<Vec<String>>,
    /// The scenario's requests, run in order in every iteration; at least one.
    steps: Option<Vec<Spanned<StepTable>>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StepTable {
    /// The step's name in the summary and the report (default: method and URL).
    name: Option<String>,
    /// Where the request goes: absolute, or starting with `/` (relative to `[target] url`);
    /// required unless the step has `grpc` or `ws`.
    url: Option<Spanned<String>>,
    /// Any HTTP token (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, …).
    method: Option<Spanned<String>>,
    /// Request headers, over the `[request]` defaults.
    headers: Option<BTreeMap<String, Spanned<String>>>,
    /// The request body; `content-length` is computed per request.
    body: Option<Spanned<String>>,
    /// The body from a file, sent byte for byte (no interpolation).
    body_file: Option<Spanned<String>>,
    /// A `multipart/form-data` body (RFC 7578), one part per field, in name order (`-F`: in
    /// the order given).
    multipart: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    /// Checks run on every response to this step, e.g. `["status == 200"]`.
    checks: Option<Vec<Spanned<String>>>,
    /// Values taken from the response for later steps, as `${name}`: `json:PATH`,
    /// `regex:RE`, `header:NAME`, `body` or `script:NAME`.
    extract: Option<BTreeMap<String, Spanned<String>>>,
    /// The pause after this step (default: the `[request]` one).
    think_time: Option<Spanned<String>>,
    /// The statuses that are successes (default: the `[request]` one).
    expected_status: Option<Spanned<String>>,
    /// Make the step a gRPC call instead of an HTTP request.
    grpc: Option<Spanned<GrpcStepTable>>,
    /// Make the step a WebSocket exchange instead of an HTTP request.
    ws: Option<Spanned<WsTable>>,
}

/// `[websocket]`: the message exchange of a `ws://` target.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WebSocketTable {
    /// The message each exchange sends: text when it is UTF-8, else binary.
    message: Option<Spanned<String>>,
    /// `"echo"` (the default: send, then wait for `expect` replies) or `"fire_and_forget"`.
    mode: Option<Spanned<String>>,
    /// Each connection sends at most one message per interval, start to start.
    message_interval: Option<Spanned<String>>,
    /// Replies an echo exchange waits for (an error with `fire_and_forget`).
    expect: Option<Spanned<i64>>,
}

/// A step's `ws = { … }`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WsTable {
    /// The WebSocket URL: `ws://`, `wss://`, or starting with `/` (relative to `[target]
    /// url`).
    url: Option<Spanned<String>>,
    /// The message the exchange sends (a template): text when it is UTF-8, else binary.
    send: Option<Spanned<String>>,
    /// `"echo"` (the default: send, then wait for `expect` replies) or `"fire_and_forget"`.
    mode: Option<Spanned<String>>,
    /// Each connection sends at most one message per interval, start to start.
    message_interval: Option<Spanned<String>>,
    /// Replies an echo exchange waits for (default 1).
    expect: Option<Spanned<i64>>,
}

/// `[thresholds]`: one optional key per metric, in report order.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Thresholds {
    /// Latency percentile: a time bound (`< 200ms`, `<= 1s`).
    p50: Option<Spanned<String>>,
    /// Latency percentile: a time bound (`< 200ms`, `<= 1s`).
    p75: Option<Spanned<String>>,
    /// Latency percentile: a time bound (`< 200ms`, `<= 1s`).
    p90: Option<Spanned<String>>,
    /// Latency percentile: a time bound (`< 200ms`, `<= 1s`).
    p95: Option<Spanned<String>>,
    /// Latency percentile: a time bound (`< 200ms`, `<= 1s`).
    p99: Option<Spanned<String>>,
    /// Latency percentile: a time bound (`< 200ms`, `<= 1s`).
    p99_9: Option<Spanned<String>>,
    /// The mean latency: a time bound.
    mean: Option<Spanned<String>>,
    /// The largest latency: a time bound.
    max: Option<Spanned<String>>,
    /// Requests without a response (errors) / all requests: a fraction (`0.01`) or a
    /// percentage (`1%`).
    error_rate: Option<Spanned<String>>,
    /// Failed requests (errors and unexpected statuses) / all requests: a fraction or a
    /// percentage.
    failure_rate: Option<Spanned<String>>,
    /// Responses per second: a number.
    rps: Option<Spanned<String>>,
    /// Passed check evaluations / all: a fraction or a percentage.
    check_pass_rate: Option<Spanned<String>>,
    /// Iterations due but dropped (open model: no VU free in time): a count (`< 10`), or a
    /// percentage of the iterations due.
    dropped_iterations: Option<Spanned<String>>,
    /// Iterations started per second: a rate (`> 950`), or a percentage of the planned rate
    /// (`> 95%`).
    achieved_rate: Option<Spanned<String>>,
    /// `[thresholds.scenarios.NAME]`: the same keys for one scenario.
    scenarios: Option<BTreeMap<String, Thresholds>>,
    /// `[thresholds.tags.NAME]`: the same keys for the scenarios with a tag.
    tags: Option<BTreeMap<String, Thresholds>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CheckTable {
    /// The check's name in the summary and the report (default: the expression).
    name: Option<Spanned<String>>,
    /// The check expression, e.g. `status in [200, 201]`; required.
    expr: Option<Spanned<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StageTable {
    /// How long the stage lasts.
    duration: Option<Spanned<String>>,
    /// Closed model: VUs active at the end of the stage; VUs above the level finish their
    /// iteration and wait.
    target: Option<Spanned<f64>>,
    /// Open model: iterations per second at the end of the stage.
    target_rate: Option<Spanned<f64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Target {
    /// Where requests go: `http://` or `https://` (`ws://` or `wss://` for WebSocket,
    /// `grpc://` or `grpcs://` for gRPC), host, optional port, path and query.
    url: Option<Spanned<String>>,
    /// Per request: connecting, sending and reading the whole response.
    timeout: Option<Spanned<String>>,
    /// Speak HTTP/2: prior knowledge on `http://`, ALPN `h2` on `https://` (a server that
    /// does not agree to `h2` gives `tls` errors when it refuses the handshake, as one that
    /// offers only `http/1.1` does (`NoApplicationProtocol`), and `protocol` errors when it
    /// completes the handshake without choosing a protocol).
    http2: Option<bool>,
    /// The HTTP version of every HTTP step: `"1.1"`, `"2"` (as `http2 = true`) or `"3"`.
    http: Option<Spanned<String>>,
    /// Do not verify TLS certificates.
    insecure: Option<bool>,
    /// A PEM file of extra root certificates to trust (beside the built-in web roots).
    cacert: Option<Spanned<String>>,
    /// A PEM file with the client certificate chain to offer a server that asks for one
    /// (mutual TLS), leaf first; it may hold the private key too, as curl's `--cert` may.
    cert: Option<Spanned<String>>,
    /// A PEM file with the private key of `cert` (PKCS#8, PKCS#1 or SEC1); not needed when
    /// `cert` holds it.
    key: Option<Spanned<String>>,
    /// When more than this share of requests fail, the exit code is 1.
    max_error_rate: Option<Spanned<f64>>,
    /// The share of requests traced, drawn at random per request (each redirect hop too): a
    /// sampled request carries a W3C `traceparent` header, `00-<trace id>-<span id>-01`,
    /// with fresh random ids, and becomes a span (its step, start, duration, status or
    /// error class, phases) that `-o otlp=…` exports.
    trace_sample: Option<Spanned<f64>>,
    /// Most body bytes kept per response for checks (every byte is still read and counted).
    body_limit: Option<Spanned<i64>>,
    /// Keep cookies per VU, like a browser session: `Set-Cookie` from every response is
    /// stored (domain, path, expiry and `Secure` matched by the `cookie_store` crate) and
    /// the matching cookies are sent as `Cookie` on each request.
    cookie_jar: Option<bool>,
    /// Ask for compressed responses (`accept-encoding: gzip, br, zstd`, unless a header of
    /// your own sets `accept-encoding`) and decode bodies encoded with `gzip`, `deflate`,
    /// `br` or `zstd` before checks, extractors and the cookie jar see them (up to
    /// `body_limit` bytes kept, as for any body).
    compressed: Option<bool>,
    /// Whether a connection carries more than one request. `false` (`--no-keepalive`) opens
    /// a new connection for every request: HTTP/1.1 requests say `connection: close`, and
    /// kaioken closes the connection after the response even when the server keeps it open.
    keepalive: Option<bool>,
    /// HTTP/2 and gRPC only (needs `http2`, or gRPC calls): the VUs of each worker thread
    /// share connections to the scenario's origins, N VUs to a connection, each request on
    /// its own stream (h2load's `-m`).
    h2_streams: Option<Spanned<i64>>,
    /// Connections to the URL's `HOST:PORT` go to `TO_HOST:TO_PORT` instead, as with curl's
    /// and oha's flag; `Host` (HTTP/2 and HTTP/3: `:authority`), the TLS server name and
    /// the certificate check keep the URL's host.
    connect_to: Option<Vec<Spanned<String>>>,
    /// As `connect_to` with the same port: connections to `HOST:PORT` go to `ADDRESS` (an
    /// IP address, not a name) without a DNS lookup.
    resolve: Option<Vec<Spanned<String>>>,
    /// How long a name's DNS answer is used.
    dns_refresh: Option<Spanned<String>>,
    /// Every connection (of every origin, redirects' too) goes to this Unix socket; the URL
    /// still gives `Host`, the path and, for `https://` and `wss://`, the TLS server name
    /// the certificate is checked against (TLS over the socket works as over TCP).
    unix_socket: Option<Spanned<String>>,
    /// Connect through a proxy. `http://HOST:PORT`: requests to `http://` origins over
    /// HTTP/1.1 go to the proxy in absolute form (`GET http://host/path HTTP/1.1`);
    /// everything else (`https://`, HTTP/2 including h2c, gRPC, WebSocket) goes through a
    /// `CONNECT` tunnel, TLS with the origin inside it.
    proxy: Option<Spanned<String>>,
    /// Use the environment's proxies, as curl does: `http_proxy` for `http://`/`ws://`
    /// origins, `https_proxy` for `https://`/`wss://` (each lowercase first, then
    /// uppercase), and `no_proxy` (comma-separated host names, which cover their
    /// subdomains, a leading `.` allowed; IP addresses; optional `:port`; `*` for all) for
    /// the hosts that go direct.
    proxy_from_env: Option<bool>,
    /// Follow `301`, `302`, `303`, `307` and `308` responses to their `Location` (relative
    /// or absolute, to any `http(s)` origin; each VU keeps connections to up to 8 origins
    /// redirects led to).
    follow_redirects: Option<bool>,
    /// Most redirects followed per request; past it, the last 3xx is the response.
    max_redirects: Option<Spanned<i64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Any HTTP token (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, …).
    method: Option<Spanned<String>>,
    /// Request headers. Names are sent lowercase.
    headers: Option<BTreeMap<String, Spanned<String>>>,
    /// The request body; `content-length` is computed per request.
    body: Option<Spanned<String>>,
    /// The body from a file, sent byte for byte (no interpolation).
    body_file: Option<Spanned<String>>,
    /// A `multipart/form-data` body (RFC 7578), one part per field, in name order (`-F`: in
    /// the order given).
    multipart: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    /// Checks run on every response to this request, e.g. `["status == 200"]`.
    checks: Option<Vec<Spanned<String>>>,
    /// Think time: after each response the VU pauses this long before its next request, as
    /// a user reading a page would (k6's `sleep`).
    think_time: Option<Spanned<String>>,
    /// The statuses that are successes: codes (`404`), ranges (`200-299`) and classes
    /// (`2xx`), separated by commas.
    expected_status: Option<Spanned<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Load {
    /// Closed model: concurrent VUs; each has its own connection.
    vus: Option<Spanned<i64>>,
    /// How long to measure, after the warm-up.
    duration: Option<Spanned<String>>,
    /// Stop after exactly this many requests (warm-up included).
    max_requests: Option<Spanned<i64>>,
    /// Closed model: cap on requests per second across all VUs: a token bucket with a burst
    /// of one, each worker thread pacing its share, its VUs among those active at the
    /// time (while a ramp-up or stages have started only some, their threads take the
    /// whole cap).
    rate: Option<Spanned<f64>>,
    /// Closed model: VU start times are spread evenly over this time.
    ramp_up: Option<Spanned<String>>,
    /// Run this long first without recording, at the starting level: connections open,
    /// caches warm.
    warmup: Option<Spanned<String>>,
    /// Open model: iterations started per second.
    arrival_rate: Option<Spanned<f64>>,
    /// Open model: the most VUs (connections) that may run at once.
    max_vus: Option<Spanned<i64>>,
    /// Open model: VUs started up front; more are added on demand, and VUs idle for a
    /// second retire down to this number.
    pre_allocated_vus: Option<Spanned<i64>>,
    /// Open model: measure each iteration's latency from its scheduled start, so time spent
    /// waiting for a free VU (coordinated omission) counts.
    latency_correction: Option<Spanned<bool>>,
    /// Open model: most iterations waiting for a free VU; one more is dropped and counted.
    queue_size: Option<Spanned<i64>>,
    /// Open model: an iteration that waited this long for a free VU is dropped and counted
    /// instead of being sent late.
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
        draft.cert = t.cert.map(string);
        draft.key = t.key.map(string);
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
        draft.latency_correction = l.latency_correction.map(|c| Located {
            loc: Loc::toml(src, c.span(), None),
            value: c.into_inner(),
        });
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
                Box::new(DraftWsStep {
                    url: ws.url.map(string),
                    send: ws.send.map(string),
                    mode: ws.mode.map(string),
                    expect: ws.expect.map(int),
                    interval: ws.message_interval.map(string),
                    loc,
                })
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
                    Box::new(DraftGrpcStep {
                        url: g.url.map(string),
                        call: g.call.map(string),
                        message: g.message.map(string),
                        metadata: metadata(g.metadata),
                        loc,
                    })
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
