//! The intermediate representation every front end lowers to.
//!
//! The IR is validated and fully resolved: environment variables are folded into
//! literals, durations are `Duration`s, URLs are split into an origin (fixed, so a
//! VU can keep its connection) and a path template. `compile` turns it into bytecode;
//! `dump_ir` prints it.

use std::path::PathBuf;
use std::time::Duration;

pub use kaioken_vm::{Arrival, LoadPlan, Stage};
use kaioken_vm::{Builtin, ExpectedStatus, Origin};

/// A whole run: what to send, how hard, and with which connection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Ir {
    /// The scenarios; each iteration runs one. The foundation has exactly one.
    pub scenarios: Vec<Scenario>,
    /// The load model.
    pub load: LoadPlan,
    /// Connection and protocol settings.
    pub settings: Settings,
    /// Checks run on every response (`[[checks]]`).
    pub checks: Vec<IrCheck>,
    /// Pass/fail criteria evaluated when the run ends (`[thresholds]`).
    pub thresholds: Vec<IrThreshold>,
    /// The gRPC schema, an encoded `FileDescriptorSet`; empty without gRPC steps.
    pub grpc_schema: Vec<u8>,
    /// Where the run's metrics stream while it goes (`-o KIND=ADDRESS`).
    pub outputs: Outputs,
    /// The `[scripts]` functions and what they may use.
    pub scripts: Scripts,
    /// The data sources (`[[data]]`, `--data`), loaded; `${source.column}` parts
    /// name them.
    pub data: Vec<std::sync::Arc<kaioken_vm::DataTable>>,
}

/// The scenario's `[scripts]`: each function's body (syntax checked) and the
/// `[scripting]` limits. Empty without scripts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scripts {
    /// The functions, in name order.
    pub defs: Vec<kaioken_script::ScriptDef>,
    /// What they may use.
    pub limits: kaioken_script::Limits,
}

/// The streaming outputs of a run, and what they all share.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outputs {
    /// Each output, in the order given.
    pub specs: Vec<OutputSpec>,
    /// `--tag key=value` and `[tags]`: labels on every series.
    pub tags: Vec<(String, String)>,
    /// How long `/metrics` is still served after the run.
    pub linger: Duration,
    /// How often push outputs send.
    pub interval: Duration,
}

/// One streaming output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// The system.
    pub kind: OutputKind,
    /// A socket address to listen on (`prometheus`), a command line (`exec`), else
    /// the endpoint's URL.
    pub address: String,
}

/// The systems kaioken streams metrics to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Serve `/metrics` for Prometheus to scrape.
    Prometheus,
    /// Push with Prometheus remote write.
    PrometheusRemoteWrite,
    /// Write InfluxDB line protocol (v1 or v2 API).
    Influxdb,
    /// Push OTLP/HTTP metrics and traces.
    Otlp,
    /// Start a command and write JSON lines to its stdin (an output plugin).
    Exec,
}

/// A threshold: a metric of the run (or of a scenario or tag) and the bound it must
/// meet.
#[derive(Debug, Clone, PartialEq)]
pub struct IrThreshold {
    /// Which requests it measures.
    pub scope: ThresholdScope,
    /// The metric.
    pub metric: Metric,
    /// The comparison and bound, in the metric's unit.
    pub threshold: kaioken_grammar::Threshold,
    /// Where it was written.
    pub loc: Option<IrLoc>,
}

/// The requests a threshold measures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThresholdScope {
    /// Every request.
    All,
    /// The requests of one scenario.
    Scenario(String),
    /// The requests of every scenario with a tag.
    Tag(String),
}

impl std::fmt::Display for ThresholdScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThresholdScope::All => f.write_str("all"),
            ThresholdScope::Scenario(name) => write!(f, "scenario:{name}"),
            ThresholdScope::Tag(name) => write!(f, "tag:{name}"),
        }
    }
}

/// A run metric a threshold can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A latency percentile (per mille: 500 is p50, 999 is p99.9).
    LatencyPercentile(u16),
    /// Mean latency.
    LatencyMean,
    /// Largest latency.
    LatencyMax,
    /// Requests without a response (transport errors) over all requests.
    ErrorRate,
    /// Failed requests (transport errors and unexpected statuses) over all requests.
    FailureRate,
    /// Responses per second.
    Rps,
    /// Passed check evaluations over all.
    CheckPassRate,
    /// Iterations due but dropped: a count, or with a percentage bound, a share of
    /// the iterations due (open model; a rate-capped closed model drops none).
    DroppedIterations,
    /// Iterations started per second: a rate, or with a percentage bound, a share of
    /// the planned rate.
    AchievedRate,
}

impl Metric {
    /// The metric for a `[thresholds]` key.
    pub fn from_key(key: &str) -> Option<Metric> {
        Some(match key {
            "p50" => Metric::LatencyPercentile(500),
            "p75" => Metric::LatencyPercentile(750),
            "p90" => Metric::LatencyPercentile(900),
            "p95" => Metric::LatencyPercentile(950),
            "p99" => Metric::LatencyPercentile(990),
            "p99_9" => Metric::LatencyPercentile(999),
            "mean" => Metric::LatencyMean,
            "max" => Metric::LatencyMax,
            "error_rate" => Metric::ErrorRate,
            "failure_rate" => Metric::FailureRate,
            "rps" => Metric::Rps,
            "check_pass_rate" => Metric::CheckPassRate,
            "dropped_iterations" => Metric::DroppedIterations,
            "achieved_rate" => Metric::AchievedRate,
            _ => return None,
        })
    }

    /// The key, as written in `[thresholds]` and shown in reports.
    pub fn key(self) -> &'static str {
        match self {
            Metric::LatencyPercentile(500) => "p50",
            Metric::LatencyPercentile(750) => "p75",
            Metric::LatencyPercentile(900) => "p90",
            Metric::LatencyPercentile(950) => "p95",
            Metric::LatencyPercentile(990) => "p99",
            Metric::LatencyPercentile(_) => "p99_9",
            Metric::LatencyMean => "mean",
            Metric::LatencyMax => "max",
            Metric::ErrorRate => "error_rate",
            Metric::FailureRate => "failure_rate",
            Metric::Rps => "rps",
            Metric::CheckPassRate => "check_pass_rate",
            Metric::DroppedIterations => "dropped_iterations",
            Metric::AchievedRate => "achieved_rate",
        }
    }

    /// Whether the metric is measured for the whole run only (not per scenario or tag).
    pub fn whole_run_only(self) -> bool {
        matches!(
            self,
            Metric::CheckPassRate | Metric::DroppedIterations | Metric::AchievedRate
        )
    }

    /// Whether the metric is a time (its bound needs a time unit).
    pub fn is_time(self) -> bool {
        matches!(
            self,
            Metric::LatencyPercentile(_) | Metric::LatencyMean | Metric::LatencyMax
        )
    }
}

/// An extractor: a variable and where in the response its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrExtract {
    /// The variable later steps use as `${var}`.
    pub var: String,
    /// Where the value comes from.
    pub extractor: kaioken_grammar::Extractor,
    /// Where it was written.
    pub loc: Option<IrLoc>,
}

/// A check: a named boolean expression over a response.
#[derive(Debug, Clone, PartialEq)]
pub struct IrCheck {
    /// Its name in reports.
    pub name: String,
    /// The parsed expression.
    pub expr: kaioken_grammar::Check,
    /// Where it was written.
    pub loc: Option<IrLoc>,
}

/// A named, weighted sequence of request steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The scenario's name.
    pub name: String,
    /// Relative weight when several scenarios share the load.
    pub weight: u32,
    /// Labels for filtering reports.
    pub tags: Vec<String>,
    /// Steps, run in order each iteration.
    pub steps: Vec<Step>,
    /// Where it was declared.
    pub loc: Option<IrLoc>,
}

/// One request.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step's name, for reports.
    pub name: String,
    /// The HTTP method.
    pub method: String,
    /// Scheme, host and port.
    pub origin: Origin,
    /// Path and query, starting with `/`.
    pub path: Template,
    /// Headers in order, names lowercase.
    pub headers: Vec<(String, Template)>,
    /// The body, if any.
    pub body: Option<Template>,
    /// Checks run on this step's responses, besides the global ones.
    pub checks: Vec<IrCheck>,
    /// Values taken from this step's responses for later steps.
    pub extracts: Vec<IrExtract>,
    /// How long the VU pauses after the response before going on (zero: no pause).
    pub think_time: Duration,
    /// The statuses a response may have without the request counting as failed.
    pub expected_status: ExpectedStatus,
    /// What kind of exchange it is (HTTP, a WebSocket message, a gRPC call).
    pub kind: StepKind,
    /// Where the step's URL was given.
    pub loc: Option<IrLoc>,
}

/// What kind of exchange a step is. For every kind the path, headers and body are
/// templates: the handshake's path and headers and the message (WebSocket), the
/// method's path, the metadata and the request message as JSON (gRPC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StepKind {
    /// An HTTP request.
    #[default]
    Http,
    /// A WebSocket message on the VU's connection.
    WebSocket(kaioken_vm::WsStep),
    /// A gRPC call.
    Grpc(GrpcCall),
}

/// A gRPC step's call, as the compiler resolves it against the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCall {
    /// `package.Service/Method`.
    pub method: String,
    /// Whether the server answers with a stream of messages.
    pub server_streaming: bool,
}

/// Literal bytes and run-time built-ins, in order. Environment variables are gone:
/// they were folded into literals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    /// The parts; adjacent literals are merged.
    pub parts: Vec<Part>,
}

/// One part of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Fixed bytes.
    Lit(Vec<u8>),
    /// A value computed per request.
    Builtin(Builtin),
    /// A value an earlier step of the iteration extracted, by variable name.
    Extracted(String),
    /// `${URLENCODE(name)}`: an extracted value, percent-encoded.
    UrlEncoded(String),
    /// `${RANDOM(min,max)}`: a random integer in the inclusive range.
    Random(i64, i64),
    /// `${script:name}`: what a `[scripts]` function returns for the request.
    Script(String),
    /// `${setup.key}`: a value the `setup` script returned.
    Setup(String),
    /// `${source.column}`: a column of the iteration's row of a data source.
    Data(String, String),
    /// `${URLENCODE(source.column)}`: a data source's column, percent-encoded.
    DataEncoded(String, String),
    /// `${URLENCODE(setup.key)}`: a value the `setup` script returned,
    /// percent-encoded.
    SetupEncoded(String),
}

/// A part as a scenario writes it: literal text as is (lossy UTF-8), the others as
/// `${…}`.
impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Lit(bytes) => f.write_str(&String::from_utf8_lossy(bytes)),
            Part::Builtin(b) => write!(f, "${{{b}}}"),
            Part::Extracted(var) => write!(f, "${{{var}}}"),
            Part::UrlEncoded(var) => write!(f, "${{URLENCODE({var})}}"),
            Part::Random(lo, hi) => write!(f, "${{RANDOM({lo},{hi})}}"),
            Part::Script(name) => write!(f, "${{script:{name}}}"),
            Part::Setup(key) => write!(f, "${{setup.{key}}}"),
            Part::Data(source, column) => write!(f, "${{{source}.{column}}}"),
            Part::DataEncoded(source, column) => write!(f, "${{URLENCODE({source}.{column})}}"),
            Part::SetupEncoded(key) => write!(f, "${{URLENCODE(setup.{key})}}"),
        }
    }
}

impl Template {
    /// A template of fixed bytes.
    pub fn literal(bytes: impl Into<Vec<u8>>) -> Template {
        let bytes = bytes.into();
        Template {
            parts: if bytes.is_empty() {
                vec![]
            } else {
                vec![Part::Lit(bytes)]
            },
        }
    }

    /// Append fixed bytes, merging with a literal before them.
    pub fn push_lit(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Part::Lit(prev)) = self.parts.last_mut() {
            prev.extend_from_slice(bytes);
        } else {
            self.parts.push(Part::Lit(bytes.to_vec()));
        }
    }

    /// Whether a `${script:…}` is part of it.
    pub fn has_script(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Script(_)))
    }

    /// The bytes, if the template has no built-ins.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(&[]),
            [Part::Lit(bytes)] => Some(bytes),
            _ => None,
        }
    }
}

/// The HTTP version of a run's HTTP steps (`--http2`, `--http3`, `[target] http`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1 on TCP, or TLS with ALPN `http/1.1`.
    #[default]
    Http1,
    /// HTTP/2: prior knowledge on `http://`, ALPN `h2` on `https://`.
    Http2,
    /// HTTP/3: QUIC (always TLS, so `https://` only), ALPN `h3`.
    Http3,
}

impl HttpVersion {
    /// As reports and `[target] http` write it: `1.1`, `2`, `3`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
            HttpVersion::Http3 => "3",
        }
    }
}

/// Connection and protocol settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Per-request timeout (connect, send and the whole response).
    pub timeout: Duration,
    /// The HTTP version every HTTP step speaks.
    pub http: HttpVersion,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Extra PEM root certificates to trust.
    pub cacert: Option<PathBuf>,
    /// The client certificate to offer (mutual TLS), a PEM file; its key is in `key`,
    /// or in this same file when `key` is `None`.
    pub cert: Option<PathBuf>,
    /// The private key of `cert`, a PEM file.
    pub key: Option<PathBuf>,
    /// Stop with exit code 1 when the share of failed requests exceeds this.
    pub max_error_rate: f64,
    /// Most body bytes kept per response for checks.
    pub body_limit: usize,
    /// Keep cookies per VU and send them back (`--cookie-jar`).
    pub cookie_jar: bool,
    /// Most redirects followed per request; 0 when redirects are not followed.
    pub max_redirects: u32,
    /// `--compressed`: ask for `gzip, br, zstd` and decode bodies for checks.
    pub compressed: bool,
    /// Connections carry more than one request (`--no-keepalive` turns it off).
    pub keepalive: bool,
    /// HTTP/2: how many VUs share a connection, each with its own stream.
    pub h2_streams: u32,
    /// `--connect-to` and `--resolve`, in order.
    pub connect_to: Vec<kaioken_vm::ConnectTo>,
    /// `--dns-refresh`: how long a name's answer is used.
    pub dns_refresh: Option<Duration>,
    /// `--unix-socket`: every connection goes to this socket.
    pub unix_socket: Option<PathBuf>,
    /// `--proxy`, `--proxy-from-env`: the proxies connections go through.
    pub proxy: Option<kaioken_vm::Proxies>,
    /// `--trace-sample`: the share of requests sent with a `traceparent` header and
    /// kept as spans (0: none, 1: all).
    pub trace_sample: f64,
}

/// A source position, for dumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrLoc {
    /// The file's name as given, shared by every place in the file (a
    /// 10,000-entry recording has tens of thousands).
    pub file: std::sync::Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}
