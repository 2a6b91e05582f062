//! The command line, with clap's derive. `help` is one line; `long_help` (from the
//! rest of each doc comment) is shown by `--help`, so `-h` stays short.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::render::Format;

/// A load tester for HTTP/1.1, HTTP/2 and HTTP/3 that tells the truth.
///
/// Run `kaioken URL` for a quick test, `kaioken -f scenario.toml` for a scenario,
/// `kaioken recording.har` to replay a browser recording, or `kaioken demo` to see it
/// work against a built-in server.
#[derive(Debug, Parser)]
#[command(
    name = "kaioken",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("KAIOKEN_COMMIT"), ")"),
    args_conflicts_with_subcommands = true,
    arg_required_else_help = true,
    // `-r -10` is a rate of -10, told as such, not an unknown flag `-1`.
    allow_negative_numbers = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a load test (the default command).
    Run(Box<RunArgs>),
    /// Load-test a built-in server on loopback for a few seconds.
    ///
    /// Starts a small HTTP server on 127.0.0.1 with an ephemeral port and runs an
    /// interpolated request against it, so you can see kaioken work with one command.
    Demo(DemoArgs),
    /// Write a starter scenario file.
    ///
    /// The file is commented key by key and valid as written: try it with
    /// `kaioken -f kaioken.toml --dry-run`, then point `url` at your target.
    Init(InitArgs),
    /// Print the JSON Schema of the scenario file.
    ///
    /// Derived from the parser's own types, so it knows exactly the keys a scenario
    /// may have. Editors with Taplo (Even Better TOML in VS Code) complete and check
    /// keys from it; `kaioken init` writes a `#:schema` line pointing at the published
    /// copy. Example: `kaioken schema > scenario.schema.json`, then
    /// `#:schema ./scenario.schema.json` at the top of a scenario.
    Schema {
        /// Print the scenario key reference (docs/reference.md) as Markdown instead:
        /// every table and key, with its type and description.
        #[arg(long)]
        markdown: bool,
    },
    /// Print a shell completion script.
    ///
    /// Example, for bash: `kaioken completions bash > ~/.local/share/bash-completion/completions/kaioken`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Compare JSON reports and flag regressions (exit code 3).
    ///
    /// `kaioken compare BASELINE.json... CURRENT.json`: the last report is judged
    /// against the others. Throughput, latency percentiles (exact, from the reports'
    /// histograms) and the failure rate, side by side. With several baselines their
    /// run-to-run noise is estimated per metric, and a metric regresses only when it
    /// is worse beyond its tolerance and outside the baselines' 95% prediction
    /// interval for one more run. Runs made with different load models are not
    /// compared (exit code 5) unless --force. The current report's thresholds are
    /// judged again from its data (exit code 4 when one fails and nothing regressed).
    Compare(CompareArgs),
    /// Render a saved JSON report again: as CSV, Markdown, HTML or the summary.
    ///
    /// Example: `kaioken report run.json -o run.html -o run.md`. Each file's format
    /// follows its extension (.json, .csv, .md, .html), or --format. Without -o, the
    /// summary (or the --format) goes to stdout.
    Report(ReportArgs),
    /// Merge the JSON reports of a distributed run's segments into one report.
    ///
    /// Example: `kaioken merge seg0.json seg1.json -o merged.json`. Counts add,
    /// latency histograms merge exactly, timelines align on wall-clock seconds, and
    /// the scenario's thresholds are judged over the merged data (exit code 4 when
    /// one fails). The reports must share a fingerprint (one scenario, one load) and
    /// their segments must cover 0 to 1 without overlapping, unless --partial.
    Merge(MergeArgs),
    /// Turn a recording into a scenario file.
    ///
    /// Example: `kaioken import har recording.har -o scenario.toml`, then
    /// `kaioken -f scenario.toml --dry-run`.
    Import(ImportArgs),
    /// Print the man page (roff) on stdout.
    ///
    /// Example: `kaioken man | man -l -`.
    Man,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// One or more baseline reports (`-o` of earlier runs), then the report to judge.
    #[arg(required = true, num_args = 2.., value_name = "REPORT")]
    pub reports: Vec<std::path::PathBuf>,

    /// A drop in requests/s larger than this fraction is a regression.
    #[arg(long, default_value_t = 0.10, value_parser = parse_tolerance)]
    pub max_rps_drop: f64,

    /// A rise in a latency percentile larger than this fraction is a regression...
    #[arg(long, default_value_t = 0.10, value_parser = parse_tolerance)]
    pub max_latency_increase: f64,

    /// ...if it is also larger than this many milliseconds.
    #[arg(long, default_value_t = 0.1, value_parser = parse_tolerance)]
    pub latency_floor_ms: f64,

    /// A rise in the failure rate (errors and unexpected statuses) larger than this
    /// (absolute, 0.01 = one point).
    #[arg(long, default_value_t = 0.01, value_parser = parse_tolerance)]
    pub max_error_rate_increase: f64,

    /// Compare even when the load models differ.
    #[arg(long)]
    pub force: bool,

    /// Also hide this header's or query key's values in the URLs shown (repeatable).
    #[arg(long, value_name = "NAME")]
    pub redact: Vec<String>,

    /// Print the comparison as JSON on stdout (shape in docs/compare.md).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// The comparison's format: on stdout, or in the -o file whatever its extension.
    #[arg(long, value_enum)]
    pub format: Option<CompareFormat>,

    /// Also write the comparison to this file; its format follows the extension
    /// (`.md`, `.json`, `.txt`) unless --format.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// How `kaioken compare` writes its comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// The table, as on a terminal.
    Text,
    /// A GitHub-flavoured Markdown table, for a pull request comment.
    Md,
    /// JSON (docs/compare.md).
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The JSON report (`-o run.json` of an earlier run).
    pub report: PathBuf,

    /// Write the report to this file, in the format its extension names
    /// (repeatable).
    #[arg(short, long)]
    pub output: Vec<PathBuf>,

    /// The format of an -o file without a known extension, or of stdout without -o.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Plain wording, without the power levels.
    #[arg(long)]
    pub serious: bool,

    /// The latency percentiles the summary shows, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        default_value = DEFAULT_PERCENTILES,
        value_parser = parse_percentiles
    )]
    pub percentiles: Percentiles,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JSON reports of the segments (`-o` of each instance).
    #[arg(required = true, num_args = 1.., value_name = "REPORT")]
    pub reports: Vec<PathBuf>,

    /// Write the merged report to this file, in the format its extension names
    /// (repeatable).
    #[arg(short, long)]
    pub output: Vec<PathBuf>,

    /// The format of an -o file without a known extension, or of stdout without -o.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Merge segments that do not cover the whole run (0 to 1); overlapping ones
    /// are refused still.
    #[arg(long)]
    pub partial: bool,

    /// Plain wording, without the power levels.
    #[arg(long)]
    pub serious: bool,

    /// The latency percentiles the summary shows, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        default_value = DEFAULT_PERCENTILES,
        value_parser = parse_percentiles
    )]
    pub percentiles: Percentiles,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub format: ImportFormat,
}

#[derive(Debug, Subcommand)]
pub enum ImportFormat {
    /// A HAR recording, from a browser's developer tools or a proxy.
    ///
    /// Chrome, Firefox, Charles, Insomnia and mitmproxy all save HAR files. Each
    /// request becomes a step, in the order they started; static assets, other hosts
    /// (with --include-host) are left out, WebSocket connections become their
    /// opening handshakes; session tokens,
    /// CSRF tokens and ids that a response produced and a later request sends back
    /// become extractors and `${var}`s. The scenario goes to stdout unless -o.
    ///
    /// Example: `kaioken import har checkout.har --include-host shop.example -o checkout.toml`.
    Har(HarImportArgs),
    /// An OpenAPI 3.0/3.1 or Swagger 2.0 spec, in JSON or YAML.
    ///
    /// Each operation becomes a step, with its parameters and body from the spec's
    /// examples and defaults or generated from their schemas, and a check that the
    /// status is one the operation documents. Values that cannot be made up
    /// (credentials, parameters with no schema) become `${NAME}` placeholders:
    /// environment variables to set before running. The scenario goes to stdout
    /// unless -o.
    ///
    /// Example: `kaioken import openapi petstore.yaml --server http://127.0.0.1:8080/v3 --tag pet -o pets.toml`.
    Openapi(OpenApiImportArgs),
    /// A Postman collection (v2.0 or v2.1, as Postman exports it).
    ///
    /// Each request becomes a step, in the order the Postman runner sends them
    /// (folders name their steps); `{{var}}`s with a value in the collection,
    /// --environment or --globals are written in, the others become `${var}`s and are
    /// listed; dynamic variables become built-ins ({{$guid}} is ${UUID}); basic,
    /// bearer and API-key auth become headers; `pm.environment.set("x",
    /// jsonData.y)` lines of test scripts become extractors. The scenario goes to
    /// stdout unless -o.
    ///
    /// Example: `kaioken import postman api.postman_collection.json --environment dev.json -o api.toml`.
    Postman(PostmanImportArgs),
}

#[derive(Debug, Args)]
pub struct OpenApiImportArgs {
    /// The spec (.json, .yaml or .yml). `$ref`s to other files are read from beside it.
    pub spec: PathBuf,

    /// Write the scenario to this file instead of stdout (`-` is stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,

    /// Send the requests to this URL (with the base path, if any), not to the spec's
    /// `servers` (or `host` and `basePath`).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,

    /// Keep only the operations with this tag; repeatable.
    #[arg(long = "tag", visible_alias = "operation-tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Keep only this operation, by `operationId` or as `"GET /path"`; repeatable.
    #[arg(long = "operation", value_name = "ID")]
    pub operations: Vec<String>,
}

/// The server and filters of an OpenAPI spec run directly (`kaioken spec.yaml`).
#[derive(Debug, Args, Default, Clone)]
pub struct SpecFlags {
    /// Send a spec's requests to this URL (with its path before each operation's),
    /// not to the servers the spec names.
    #[arg(long, value_name = "URL", help_heading = "Spec (OpenAPI)")]
    pub server: Option<String>,

    /// Run only a spec's operations with this tag; repeatable.
    #[arg(
        long = "operation-tag",
        value_name = "TAG",
        help_heading = "Spec (OpenAPI)"
    )]
    pub spec_tags: Vec<String>,

    /// Run only this operation of a spec, by `operationId` or as `"GET /path"`;
    /// repeatable.
    #[arg(long = "operation", value_name = "ID", help_heading = "Spec (OpenAPI)")]
    pub spec_operations: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PostmanImportArgs {
    /// The collection (a .json file exported from Postman).
    pub collection: PathBuf,

    /// Write the scenario to this file instead of stdout (`-` is stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub postman: PostmanFlags,
}

/// The variables of a Postman collection, for `import postman` and for running one.
#[derive(Debug, Args, Default, Clone)]
pub struct PostmanFlags {
    /// A Postman environment file (exported from Environments): its variables fill
    /// a collection's `{{var}}`s, over the collection's own.
    #[arg(long, value_name = "ENV.json", help_heading = "Collection (Postman)")]
    pub environment: Option<PathBuf>,

    /// A Postman globals file: its variables fill the `{{var}}`s that neither the
    /// environment nor the collection sets.
    #[arg(
        long,
        value_name = "GLOBALS.json",
        help_heading = "Collection (Postman)"
    )]
    pub globals: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HarImportArgs {
    /// The recording (a .har file).
    pub recording: PathBuf,

    /// Write the scenario to this file instead of stdout (`-` is stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub har: HarFlags,
}

/// How a HAR recording becomes a scenario, for `import har` and for running a .har.
#[derive(Debug, Args, Default, Clone)]
pub struct HarFlags {
    /// Keep images, fonts, style sheets, scripts and media from a recording.
    ///
    /// They are left out by default: a CDN or a browser cache serves them, and
    /// they would drown the requests that load-test the application. Only a GET
    /// or a HEAD counts as an asset; an upload or any other request that changes
    /// state is kept whatever its URL or its response's type.
    #[arg(long, help_heading = "Recording (.har)")]
    pub include_assets: bool,

    /// Keep only a recording's requests to this host (repeatable).
    ///
    /// `example.com` also keeps `api.example.com`; `127.0.0.1:8080` keeps that port
    /// only.
    #[arg(
        long = "include-host",
        value_name = "HOST",
        help_heading = "Recording (.har)"
    )]
    pub include_hosts: Vec<String>,

    /// Replay the pauses between a recording's requests as `think_time`.
    ///
    /// The pause is the time from one response's end to the next request's start,
    /// as recorded.
    #[arg(long, help_heading = "Recording (.har)")]
    pub think_time: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the scenario.
    #[arg(default_value = "kaioken.toml")]
    pub path: std::path::PathBuf,

    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dump {
    /// The validated intermediate representation.
    Ir,
    /// The compiled bytecode program.
    Bytecode,
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Target URL, e.g. http://127.0.0.1:8080/, or a recording.har to replay.
    ///
    /// A path ending in `.har` is read as a recording, as with -f; an existing
    /// `.json`, `.yaml` or `.yml` file as a Postman collection or an OpenAPI spec
    /// (with --server to send its requests elsewhere). A URL may contain
    /// `${REQUEST_ID}`, `${TIMESTAMP_MS}`, `${VU}`, `${ITERATION}` and `${ENV_VAR}` in
    /// its path and query. Overrides `[target] url` of a scenario (and the base of
    /// its relative step URLs).
    #[arg(help_heading = "Target")]
    pub url: Option<String>,

    /// HTTP method [default: GET, or POST with a body].
    #[arg(short, long, help_heading = "Target")]
    pub method: Option<String>,

    /// Add a header, `Name: value` (repeatable).
    ///
    /// Example: -H 'Authorization: Bearer ${TOKEN}' -H 'Accept: application/json'.
    #[arg(short = 'H', long = "header", help_heading = "Target")]
    pub headers: Vec<String>,

    /// HTTP basic authentication, `user:password` (sent as `Authorization: Basic …`).
    #[arg(
        short = 'a',
        long,
        value_name = "USER:PASSWORD",
        help_heading = "Target"
    )]
    pub basic_auth: Option<String>,

    /// Send `Authorization: Bearer TOKEN` (a template, e.g. '${API_TOKEN}').
    #[arg(long, value_name = "TOKEN", help_heading = "Target")]
    pub bearer: Option<String>,

    /// Request body (a template).
    #[arg(short, long, help_heading = "Target")]
    pub body: Option<String>,

    /// Request body from a file, sent as is.
    #[arg(long, help_heading = "Target")]
    pub body_file: Option<String>,

    /// A multipart/form-data field, `name=value` (a template) or `name=@path` (a
    /// file, sent as is); repeatable, sent in order.
    #[arg(short = 'F', long, value_name = "NAME=VALUE", help_heading = "Target")]
    pub form: Vec<String>,

    /// Per-request timeout, e.g. 5s [default: 30s].
    #[arg(long, help_heading = "Target")]
    pub timeout: Option<String>,

    /// Speak HTTP/2 (prior knowledge on http://, ALPN h2 on https://).
    #[arg(long, help_heading = "Target")]
    pub http2: bool,

    /// Speak HTTP/3 over QUIC (https:// only, ALPN h3; one QUIC connection per VU).
    /// A server that does not answer QUIC fails the handshake as a `connect` error
    /// within min(--timeout, 5s).
    #[arg(long, help_heading = "Target", conflicts_with = "http2")]
    pub http3: bool,

    /// Do not verify TLS certificates.
    #[arg(long, help_heading = "Target")]
    pub insecure: bool,

    /// Ask for compressed responses (accept-encoding: gzip, br, zstd) and decode them
    /// for checks and extractors; the report counts bytes on the wire and decoded.
    #[arg(long, help_heading = "Target")]
    pub compressed: bool,

    /// Print the first exchange of each step to stderr (request and response,
    /// secrets redacted, bodies cut at 1 KiB); the live view is not shown.
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,

    /// HTTP/2: VUs share connections, N to a connection, each request on its own
    /// stream (h2load's -m): `-c 100 --h2-streams 10` opens 10 connections per
    /// worker thread's share of VUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000), help_heading = "Target")]
    pub h2_streams: Option<u64>,

    /// Connect to TO_HOST:TO_PORT for the URL's HOST:PORT, keeping its host for
    /// `Host`, SNI and certificate checks (repeatable, like curl's). TO_HOST may be a
    /// name, resolved once when the run starts.
    #[arg(
        long,
        value_name = "HOST:PORT:TO_HOST:TO_PORT",
        help_heading = "Target"
    )]
    pub connect_to: Vec<String>,

    /// Use ADDRESS for HOST:PORT instead of resolving HOST (repeatable, like curl's).
    #[arg(long, value_name = "HOST:PORT:ADDRESS", help_heading = "Target")]
    pub resolve: Vec<String>,

    /// Resolve host names again when their answer is this old: a VU's next new
    /// connection uses the fresh answer (for DNS-balanced targets). Without it, each
    /// name is resolved once per run.
    #[arg(long, value_name = "DURATION", help_heading = "Target")]
    pub dns_refresh: Option<String>,

    /// Send every connection to this Unix socket; the URL still gives the Host,
    /// the path and, for https://, the TLS server name. Not with --http3.
    #[arg(long, value_name = "PATH", help_heading = "Target")]
    pub unix_socket: Option<String>,

    /// Connect through a proxy: http://HOST:PORT (CONNECT tunnels; plain HTTP/1.1
    /// requests in absolute form), socks5://HOST:PORT or socks5h://HOST:PORT (the
    /// proxy resolves names); USER:PASSWORD@ before the host if it needs them.
    #[arg(long, value_name = "URL", help_heading = "Target")]
    pub proxy: Option<String>,

    /// Use the proxies of HTTP_PROXY, HTTPS_PROXY and NO_PROXY (lowercase too).
    #[arg(long, conflicts_with = "proxy", help_heading = "Target")]
    pub proxy_from_env: bool,

    /// Open a new connection for every request (HTTP/1.1 sends `connection:
    /// close`); the report's connection counts and phases show the cost.
    #[arg(long, help_heading = "Target")]
    pub no_keepalive: bool,

    /// Keep cookies per VU and send them back, like a browser session.
    #[arg(long, help_heading = "Target")]
    pub cookie_jar: bool,

    /// Do not follow redirects: a 3xx is the response.
    #[arg(long, help_heading = "Target")]
    pub no_follow_redirects: bool,

    /// Follow at most this many redirects per request [default: 10].
    #[arg(long, value_name = "N", help_heading = "Target")]
    pub max_redirects: Option<u64>,

    /// Trust the PEM certificates in this file too.
    #[arg(long, help_heading = "Target")]
    pub cacert: Option<String>,

    /// Client certificate for mutual TLS: a PEM file (chain, leaf first; may hold the key).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Target",
        long_help = "Offer this client certificate to servers that ask for one (mutual TLS), \
                     on every TLS connection: HTTPS, HTTP/2, HTTP/3, wss:// and grpcs://. A PEM \
                     file with the certificate first and its chain after it; it may hold the \
                     private key too, as curl's --cert may, or give the key with --key. Checked \
                     before the run: a file without a certificate, without a key, or with the \
                     key of another certificate is an error.\n\n\
                     Example: kaioken https://api.internal/ --cert client.pem --key client.key"
    )]
    pub cert: Option<String>,

    /// The private key of --cert: a PEM file (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", help_heading = "Target")]
    pub key: Option<String>,

    /// The gRPC method to call on a grpc:// or grpcs:// target: package.Service/Method.
    #[arg(long, value_name = "METHOD", help_heading = "gRPC")]
    pub call: Option<String>,

    /// The .proto file that declares the gRPC service (compiled at start).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "gRPC",
        conflicts_with = "reflect"
    )]
    pub proto: Option<String>,

    /// Fetch the gRPC schema from the server by server reflection.
    #[arg(long, help_heading = "gRPC")]
    pub reflect: bool,
    /// WebSocket: each connection sends a message at most this often, start to start,
    /// e.g. 100ms [default: as fast as the mode allows].
    #[arg(long, value_name = "DURATION", help_heading = "WebSocket")]
    pub ws_message_interval: Option<String>,

    /// WebSocket: send only; the message is done once written (replies that come
    /// are still counted) [default: echo, wait for the reply].
    #[arg(long, help_heading = "WebSocket")]
    pub ws_fire_and_forget: bool,

    /// Concurrent virtual users (connections) [default: 50].
    #[arg(short = 'c', long = "concurrency", help_heading = "Load")]
    pub vus: Option<u64>,

    /// How long to measure, e.g. 30s, 5m, 1h30m [default: 10s].
    #[arg(short, long, help_heading = "Load")]
    pub duration: Option<String>,

    /// Stop after this many requests (warm-up included).
    #[arg(short = 'n', long, help_heading = "Load")]
    pub max_requests: Option<u64>,

    /// Cap the rate at this many requests per second (all VUs together).
    #[arg(short, long, help_heading = "Load")]
    pub rate: Option<f64>,

    /// Start VUs evenly over this time, e.g. 5s.
    #[arg(long, help_heading = "Load")]
    pub ramp_up: Option<String>,

    /// Run this long first without recording, to open connections and warm caches.
    #[arg(long, help_heading = "Load")]
    pub warmup: Option<String>,

    /// Open model: start this many iterations per second, whatever the latency.
    ///
    /// VUs are started as needed, up to --max-vus. An iteration that finds no free
    /// VU waits in a bounded queue, and past that bound is dropped and counted.
    /// Latency is measured from each iteration's scheduled start (coordinated-omission
    /// correction) unless --no-latency-correction is given.
    #[arg(long, help_heading = "Load")]
    pub arrival_rate: Option<f64>,

    /// Open model: the most VUs that may run at once [default: 1000].
    #[arg(long, help_heading = "Load")]
    pub max_vus: Option<u64>,

    /// Open model: time latency from the actual send, not the scheduled start.
    #[arg(long, help_heading = "Load")]
    pub no_latency_correction: bool,

    /// Worker threads [default: one per CPU, at most one per VU].
    #[arg(long, help_heading = "Load", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Run only this part of the load, e.g. 0:1/4, 1/4:1/2, 50%:100% (k6's syntax).
    ///
    /// Several instances given the parts of one sequence together run exactly the
    /// whole: their VUs and stage targets add up, the open model's iterations are
    /// shared out, --max-requests is split and ${VU}/${REQUEST_ID} stay unique.
    #[arg(long, value_name = "FROM:TO", help_heading = "Distributed")]
    pub execution_segment: Option<String>,

    /// The bounds of all the instances' parts, e.g. 0,1/4,1/2,1 [default: 0,FROM,TO,1].
    #[arg(long, value_name = "LIST", help_heading = "Distributed")]
    pub execution_segment_sequence: Option<String>,

    /// Run part INDEX (from 0) of --segment-count equal parts [default:
    /// $JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job sets it].
    #[arg(long, value_name = "INDEX", help_heading = "Distributed")]
    pub segment_index: Option<u64>,

    /// Split the load into this many equal parts (with --segment-index).
    #[arg(long, value_name = "COUNT", help_heading = "Distributed")]
    pub segment_count: Option<u64>,

    /// Start the load at this time (RFC 3339, e.g. 2026-11-30T12:00:00Z), after every
    /// check, so that instances launched apart begin together.
    #[arg(
        long,
        value_name = "TIME",
        help_heading = "Distributed",
        conflicts_with = "start_after"
    )]
    pub start_at: Option<String>,

    /// Start the load this long after kaioken starts, e.g. 30s.
    #[arg(long, value_name = "DURATION", help_heading = "Distributed")]
    pub start_after: Option<String>,

    /// Treat a --start-at already past as an error rather than a warning.
    #[arg(long, help_heading = "Distributed")]
    pub strict: bool,

    /// Read the scenario from this TOML file (or .har recording, OpenAPI spec, or
    /// Postman collection); flags override it.
    #[arg(short = 'f', long = "config", help_heading = "Scenario")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub har: HarFlags,

    #[command(flatten)]
    pub postman: PostmanFlags,

    #[command(flatten)]
    pub spec: SpecFlags,

    /// Validate and show what would run, without sending anything.
    #[arg(long, help_heading = "Scenario")]
    pub dry_run: bool,

    /// Read rows of test data from a CSV or JSON file, NAME=PATH (repeatable).
    ///
    /// Templates read a column of the iteration's row as ${NAME.COLUMN}. A NAME the
    /// scenario's `[[data]]` defines gets this file instead (its strategy kept);
    /// another NAME is a new source, read sequentially (shared by all VUs, from the
    /// first row again after the last). CSV files have a header row; JSON files are
    /// an array of objects. See docs/data.md. Example:
    /// kaioken 'http://127.0.0.1:8080/users/${users.name}' --data users=users.csv
    #[arg(long, value_name = "NAME=PATH", help_heading = "Scenario")]
    pub data: Vec<String>,

    /// Send the requests listed in a file, vegeta's target format.
    ///
    /// Each target is a line `METHOD URL`, then optional `Name: value` header lines
    /// and an optional `@path` line whose file is the body; blank lines and `#`
    /// comments are skipped. See --targets-order. Example: kaioken --targets
    /// targets.txt -c 10 -d 30s
    #[arg(long, value_name = "FILE", help_heading = "Scenario")]
    pub targets: Option<String>,

    /// How --targets are taken: round-robin (in order, per VU) or random.
    #[arg(
        long,
        value_enum,
        default_value = "round-robin",
        help_heading = "Scenario"
    )]
    pub targets_order: TargetsOrderArg,

    /// Print a compiled form of the scenario and exit.
    #[arg(long, value_enum, help_heading = "Scenario")]
    pub dump: Option<Dump>,

    /// Write the report to this file, or stream metrics to KIND=ADDRESS (repeatable).
    ///
    /// A file (.json, .csv, .md or .html) takes its format from its extension, or
    /// --format for a name without a known one; each is replaced whole only when
    /// written, and a path that cannot be written is an error before the run.
    /// Streaming outputs (see docs/outputs.md): prometheus=127.0.0.1:9464 serves
    /// /metrics; prometheus-rw=URL pushes remote write; influxdb=URL/DATABASE writes
    /// line protocol; otlp=URL pushes OTLP/HTTP metrics (and traces with
    /// --trace-sample); exec='COMMAND ARGS' starts a command and writes the run to
    /// its stdin as JSON lines. Example: -o run.json -o prometheus=:9464.
    #[arg(short, long, help_heading = "Output")]
    pub output: Vec<PathBuf>,

    /// A label on every streamed series, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", help_heading = "Output")]
    pub tags: Vec<String>,

    /// How long /metrics is still served after the run, for a last scrape, and an
    /// exec output has to exit [default: 5s].
    #[arg(long, value_name = "DURATION", help_heading = "Output")]
    pub metrics_linger: Option<String>,

    /// How often push outputs and exec plugins send, at least 250ms [default: 1s].
    #[arg(long, value_name = "DURATION", help_heading = "Output")]
    pub output_interval: Option<String>,

    /// The format of an -o file without a known extension: json, csv, md or html.
    ///
    /// Without -o, the report in this format goes to stdout instead of the summary.
    #[arg(long, value_enum, help_heading = "Output")]
    pub format: Option<Format>,

    /// Print the JSON report on stdout instead of the summary.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Exit with code 1 when more than this share of requests fail [default: 0.1].
    ///
    /// A request fails when it gets no response (a transport error) or a response
    /// whose status is not expected (see --expect-status).
    #[arg(long, help_heading = "Output")]
    pub max_error_rate: Option<f64>,

    /// The share of requests traced, from 0 to 1 [default: 0, none]: each sampled
    /// request carries a W3C `traceparent` header with fresh ids, and becomes a span
    /// in the live snapshots (exported with `-o otlp=…`).
    #[arg(long, value_name = "SHARE", help_heading = "Output")]
    pub trace_sample: Option<f64>,

    /// The response statuses that are not failures [default: 200-399].
    ///
    /// Codes, ranges and classes separated by commas: `200-299,404`, `2xx,3xx`.
    /// Any other status counts as a failed request (`failed`, `failure_rate` in the
    /// report), in --max-error-rate and in the `failure_rate` threshold; redirects
    /// that are followed are not judged. `100-599` counts every response as a
    /// success.
    #[arg(long, value_name = "LIST", help_heading = "Output")]
    pub expect_status: Option<String>,

    /// Plain wording, without the power levels.
    #[arg(long, help_heading = "Output")]
    pub serious: bool,

    /// The latency percentiles the summary shows, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        default_value = DEFAULT_PERCENTILES,
        value_parser = parse_percentiles,
        help_heading = "Output"
    )]
    pub percentiles: Percentiles,

    /// Also hide this header's or query key's values in all output (repeatable).
    ///
    /// Diagnostics, --dry-run, --dump, the report, the summary and the live view
    /// hide the values of `authorization`, `cookie`, `x-api-key` and other
    /// credential headers, of query keys such as `token`, `api_key` and `password`,
    /// and URL passwords (the README lists them all). NAME adds a header name or a
    /// query key, either case; `redact = [...]` in a scenario does the same.
    /// Example: --redact X-Session --redact tenant_secret.
    #[arg(long, value_name = "NAME", help_heading = "Output")]
    pub redact: Vec<String>,

    /// Print a plain progress line instead of the live view.
    ///
    /// The live view is shown when stdout is a terminal, unless --no-tui, --json or
    /// the environment variable CI=true says otherwise; without it, a progress line
    /// goes to stderr once a second: redrawn in place on a terminal, a plain line
    /// each second otherwise.
    #[arg(long, help_heading = "TUI")]
    pub no_tui: bool,

    /// Redraw the live view this many times a second [default: 10].
    ///
    /// At least 1; values above 60 draw 60 frames a second.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "TUI"
    )]
    pub fps: Option<i64>,

    /// The live view's colours: kaioken, super-saiyan, super-saiyan-blue, …
    ///
    /// One of kaioken (red, the default), super-saiyan (gold), super-saiyan-blue,
    /// ultra-instinct (silver), namek (green), frieza (purple) or plain. `t` cycles
    /// through them while the view is shown. NO_COLOR and --serious give plain.
    #[arg(long, value_name = "NAME", help_heading = "TUI")]
    pub theme: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to run.
    #[arg(short, long, default_value = "5s")]
    pub duration: String,

    /// Concurrent virtual users.
    #[arg(short = 'c', long = "concurrency", default_value_t = 16)]
    pub vus: u64,

    /// Plain wording, without the power levels.
    #[arg(long)]
    pub serious: bool,

    /// Print the JSON report on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Write the report to this file (repeatable): .json, .csv, .md or .html.
    #[arg(short, long)]
    pub output: Vec<PathBuf>,

    /// Print a plain progress line instead of the live view.
    #[arg(long)]
    pub no_tui: bool,
}

/// The summary's latency percentiles unless `--percentiles` says otherwise.
const DEFAULT_PERCENTILES: &str = "50,75,90,95,99,99.9";

/// `--percentiles`: each above 0 and at most 100, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Percentiles(pub Vec<f64>);

impl Default for Percentiles {
    fn default() -> Percentiles {
        parse_percentiles(DEFAULT_PERCENTILES).expect("the default list parses")
    }
}

fn parse_percentiles(text: &str) -> Result<Percentiles, String> {
    let list = text
        .split(',')
        .map(|p| {
            let p = p.trim();
            match p.parse::<f64>() {
                Ok(v) if v > 0.0 && v <= 100.0 => Ok(v),
                _ => Err(format!(
                    "`{p}` is not a percentile: write numbers above 0 and at most 100, e.g. 50,90,99.9"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Shown in order, each once.
    let mut list = list;
    list.sort_by(f64::total_cmp);
    list.dedup();
    Ok(Percentiles(list))
}

/// A `compare` tolerance: a finite number, 0 or more. NaN compares false with
/// everything, so a gate given `nan` (an empty or garbled CI variable) would find
/// no regression at all; a negative or infinite one is no tolerance either.
fn parse_tolerance(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{text}` is not a tolerance: write a finite number, 0 or more, e.g. 0.1"
        )),
    }
}

/// How `--targets` are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TargetsOrderArg {
    /// In order: each VU sends the list's requests in turn, one scenario of steps.
    #[default]
    RoundRobin,
    /// One drawn at random per iteration, with equal weights.
    Random,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, parse_percentiles};

    #[test]
    fn percentiles_are_shown_in_order_each_once() {
        assert_eq!(
            parse_percentiles("99, 50,50,100,99.9").unwrap().0,
            [50.0, 99.0, 99.9, 100.0]
        );
        assert!(parse_percentiles("50,101").is_err());
    }

    /// A tolerance that is not a finite number, 0 or more, is a usage error: `nan`
    /// turned the regression gate off, a negative one made every run a change.
    #[test]
    fn compare_tolerances_are_finite_and_not_negative() {
        let parse = |flag: &str, value: &str| {
            Cli::try_parse_from([
                "kaioken",
                "compare",
                "a.json",
                "b.json",
                &format!("{flag}={value}"),
            ])
        };
        for flag in [
            "--max-rps-drop",
            "--max-latency-increase",
            "--latency-floor-ms",
            "--max-error-rate-increase",
        ] {
            for bad in ["nan", "NaN", "inf", "-inf", "1e400", "-0.5", "", "ten"] {
                let err = parse(flag, bad).unwrap_err();
                assert_eq!(
                    err.kind(),
                    clap::error::ErrorKind::ValueValidation,
                    "{flag}={bad}"
                );
                assert!(
                    err.to_string().contains(&format!(
                        "`{bad}` is not a tolerance: write a finite number, 0 or more, e.g. 0.1"
                    )),
                    "{err}"
                );
            }
            for good in ["0", "0.25", "3"] {
                assert!(parse(flag, good).is_ok(), "{flag}={good}");
            }
        }
    }
}
