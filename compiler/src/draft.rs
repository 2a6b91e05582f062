//! Values collected by the front ends, each with its location, before validation.

use crate::located::Located;

/// A request body as given: text (a template), a file (raw bytes), or the fields of
/// a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub(crate) enum BodySource {
    Text(String),
    File(String),
    Multipart(Vec<MultipartField>),
}

/// One field of a multipart body: its name and its value (a template, or `@path` for
/// a file).
#[derive(Debug, Clone)]
pub(crate) struct MultipartField {
    pub name: Located<String>,
    pub value: Located<String>,
}

/// A header as given.
#[derive(Debug, Clone)]
pub(crate) struct DraftHeader {
    pub name: Located<String>,
    pub value: Located<String>,
}

/// Everything the front ends collected. Later front ends overwrite earlier ones
/// field by field: the TOML file first, then command-line flags.
/// A streaming output as written.
#[derive(Debug, Clone)]
pub(crate) struct DraftOutput {
    pub kind: Located<String>,
    pub address: Located<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    pub url: Option<Located<String>>,
    pub method: Option<Located<String>>,
    pub headers: Vec<DraftHeader>,
    pub body: Option<Located<BodySource>>,
    /// `[request] think_time`: the pause after each request, inherited by steps.
    pub think_time: Option<Located<String>>,
    /// `[request] expected_status` or `--expect-status`, inherited by steps.
    pub expected_status: Option<Located<String>>,
    pub timeout: Option<Located<String>>,
    pub http2: Option<bool>,
    /// `[target] http` (`"1.1"`, `"2"`, `"3"`), or `--http3`.
    pub http: Option<Located<String>>,
    pub insecure: Option<bool>,
    pub cookie_jar: Option<bool>,
    pub compressed: Option<bool>,
    pub keepalive: Option<bool>,
    pub h2_streams: Option<Located<i64>>,
    /// `connect_to` / `--connect-to`: `HOST:PORT:TO_HOST:TO_PORT` specs.
    pub connect_to: Vec<Located<String>>,
    /// `resolve` / `--resolve`: `HOST:PORT:ADDRESS` specs.
    pub resolve: Vec<Located<String>>,
    /// `[[outputs]]` and `-o KIND=ADDRESS`.
    pub outputs: Vec<DraftOutput>,
    /// `[tags]` and `--tag key=value`, in order (a later one of a name wins).
    pub tags: Vec<(Located<String>, Located<String>)>,
    /// `[run] metrics_linger` / `--metrics-linger`.
    pub metrics_linger: Option<Located<String>>,
    /// `[run] output_interval` / `--output-interval`.
    pub output_interval: Option<Located<String>>,
    /// `dns_refresh` / `--dns-refresh`: a duration.
    pub dns_refresh: Option<Located<String>>,
    /// `unix_socket` / `--unix-socket`: a path.
    pub unix_socket: Option<Located<String>>,
    /// `proxy` / `--proxy`: a proxy URL.
    pub proxy: Option<Located<String>>,
    /// `proxy_from_env` / `--proxy-from-env`.
    pub proxy_from_env: Option<bool>,
    pub follow_redirects: Option<bool>,
    pub max_redirects: Option<Located<i64>>,
    pub cacert: Option<Located<String>>,
    /// `cert` / `--cert`: a PEM file with the client certificate chain (and the key,
    /// when `key` is not given).
    pub cert: Option<Located<String>>,
    /// `key` / `--key`: a PEM file with the client certificate's private key.
    pub key: Option<Located<String>>,
    pub max_error_rate: Option<Located<f64>>,
    /// `trace_sample` / `--trace-sample`: the share of requests traced.
    pub trace_sample: Option<Located<f64>>,
    pub vus: Option<Located<i64>>,
    pub duration: Option<Located<String>>,
    pub max_requests: Option<Located<i64>>,
    pub rate: Option<Located<f64>>,
    pub ramp_up: Option<Located<String>>,
    pub warmup: Option<Located<String>>,
    pub arrival_rate: Option<Located<f64>>,
    pub max_vus: Option<Located<i64>>,
    pub pre_allocated_vus: Option<Located<i64>>,
    pub latency_correction: Option<Located<bool>>,
    pub queue_size: Option<Located<i64>>,
    pub queue_timeout: Option<Located<String>>,
    pub stages: Vec<DraftStage>,
    /// `[[checks]]`: run on every response.
    pub checks: Vec<DraftCheck>,
    /// `[request] checks`: run on this request's responses.
    pub request_checks: Vec<Located<String>>,
    pub body_limit: Option<Located<i64>>,
    /// `[[scenarios]]`, in order.
    pub scenarios: Vec<DraftScenario>,
    /// `[thresholds]`: scope, metric name and expression, in report order.
    pub thresholds: Vec<(crate::ThresholdScope, &'static str, Located<String>)>,
    /// Where `[[stages]]` begins, for errors about the list as a whole.
    pub stages_loc: Option<crate::located::Loc>,
    /// `[grpc]` and the gRPC flags.
    pub grpc: DraftGrpc,
    /// `[websocket]` and the `--ws-*` flags.
    pub websocket: DraftWebSocket,
    /// `[scripts]`, in name order.
    pub scripts: Vec<DraftScript>,
    /// `[scripting]`.
    pub scripting: DraftScripting,
    /// `[[data]]` and `--data name=path`, in order (a flag naming a source of the
    /// file replaces its file).
    pub data: Vec<DraftData>,
}

/// A data source as written: `[[data]]` or `--data name=path`.
#[derive(Debug, Clone)]
pub(crate) struct DraftData {
    pub name: Located<String>,
    /// The CSV or JSON file.
    pub file: Option<Located<String>>,
    /// `sequential` (the default), `random` or `unique`.
    pub strategy: Option<Located<String>>,
    /// `wrap` (the default) or `stop`, for a `sequential` source.
    pub on_exhausted: Option<Located<String>>,
    /// The whole entry.
    pub loc: crate::located::Loc,
}

/// A `[scripts]` function as written: its name and where its body is.
#[derive(Debug, Clone)]
pub(crate) struct DraftScript {
    pub name: Located<String>,
    pub body: ScriptBody,
}

/// Where a function's body is.
#[derive(Debug, Clone)]
pub(crate) enum ScriptBody {
    /// In the scenario, a string.
    Inline(Located<String>),
    /// In a file, `{ file = "sign.lua" }`: the path as written.
    File(Located<String>),
}

/// `[scripting]`: what scripts may use.
#[derive(Debug, Clone, Default)]
pub(crate) struct DraftScripting {
    /// The time budget of one call: a duration.
    pub budget: Option<Located<String>>,
    /// The memory limit of one Lua state, in MiB.
    pub memory_mib: Option<Located<i64>>,
    /// Environment variables scripts may read.
    pub env: Vec<Located<String>>,
    /// Whether setup and teardown may make HTTP requests.
    pub network: Option<bool>,
}

/// `[grpc]` as written (with `--proto`, `--reflect`, `--call` over it): the schema,
/// and the call of a run whose target is a `grpc://` URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct DraftGrpc {
    pub proto: Option<Located<String>>,
    /// More folders `import`s are looked up in, after the proto's own.
    pub import_paths: Vec<Located<String>>,
    pub reflection: Option<Located<bool>>,
    pub call: Option<Located<String>>,
    pub message: Option<Located<String>>,
    pub metadata: Vec<DraftHeader>,
}

/// A step's `grpc = { … }`.
#[derive(Debug, Clone)]
pub(crate) struct DraftGrpcStep {
    pub url: Option<Located<String>>,
    pub call: Option<Located<String>>,
    pub message: Option<Located<String>>,
    pub metadata: Vec<DraftHeader>,
    /// The whole table.
    pub loc: crate::located::Loc,
}

/// `[websocket]` (and `--ws-message-interval`, `--ws-fire-and-forget`): the message
/// exchange of a `ws://` target, and the defaults of `ws` steps.
#[derive(Debug, Clone, Default)]
pub(crate) struct DraftWebSocket {
    /// The `[websocket]` table itself, when the file has one.
    pub section: Option<crate::located::Loc>,
    pub message: Option<Located<String>>,
    pub mode: Option<Located<String>>,
    pub interval: Option<Located<String>>,
    pub expect: Option<Located<i64>>,
}

/// A step's `ws = { … }`: a WebSocket message.
#[derive(Debug, Clone)]
pub(crate) struct DraftWsStep {
    pub url: Option<Located<String>>,
    pub send: Option<Located<String>>,
    pub mode: Option<Located<String>>,
    pub expect: Option<Located<i64>>,
    pub interval: Option<Located<String>>,
    /// The whole table.
    pub loc: crate::located::Loc,
}

/// One `[[stages]]` entry as written.
#[derive(Debug, Clone)]
pub(crate) struct DraftStage {
    pub duration: Option<Located<String>>,
    pub target: Option<Located<f64>>,
    pub target_rate: Option<Located<f64>>,
    /// The whole entry.
    pub loc: crate::located::Loc,
}

impl Draft {
    /// Add a header, replacing any earlier one of the same name (names are
    /// case-insensitive), so a flag overrides the file.
    pub fn set_header(&mut self, header: DraftHeader) {
        self.headers
            .retain(|h| !h.name.value.eq_ignore_ascii_case(&header.name.value));
        self.headers.push(header);
    }
}

/// One `[[checks]]` entry as written.
#[derive(Debug, Clone)]
pub(crate) struct DraftCheck {
    pub name: Option<Located<String>>,
    pub expr: Option<Located<String>>,
    /// The whole entry.
    pub loc: crate::located::Loc,
}

/// One `[[scenarios]]` entry as written.
#[derive(Debug, Clone)]
pub(crate) struct DraftScenario {
    pub name: Option<Located<String>>,
    pub weight: Option<Located<i64>>,
    pub tags: Vec<String>,
    pub steps: Vec<DraftStep>,
    /// The whole entry.
    pub loc: crate::located::Loc,
}

/// One `[[scenarios.steps]]` entry as written.
#[derive(Debug, Clone)]
pub(crate) struct DraftStep {
    pub name: Option<String>,
    pub url: Option<Located<String>>,
    pub method: Option<Located<String>>,
    pub headers: Vec<DraftHeader>,
    pub body: Option<Located<BodySource>>,
    pub checks: Vec<Located<String>>,
    /// `extract = { var = "spec" }`, in name order.
    pub extracts: Vec<(String, Located<String>)>,
    /// The pause after this step's response, before the VU goes on.
    pub think_time: Option<Located<String>>,
    /// The statuses this step's responses may have.
    pub expected_status: Option<Located<String>>,
    /// `grpc = { … }`: the step is a gRPC call. Boxed, as `ws`: most steps are
    /// neither, and a recording's thousands of steps each carried room for both.
    pub grpc: Option<Box<DraftGrpcStep>>,
    /// `ws = { … }`: the step is a WebSocket message.
    pub ws: Option<Box<DraftWsStep>>,
    /// The whole entry.
    pub loc: crate::located::Loc,
}
