//! The JSON report (schema `kaioken.run/v1`, documented in `docs/json.md`).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use kaioken_compiler::{Ir, Measured, Redact, Verdict, judge_thresholds};
use kaioken_runtime::{RunStats, StopReason};
use serde::{Deserialize, Serialize};

use kaioken_report::SCHEMA;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub kaioken_version: String,
    pub started_at_unix_ms: u64,
    pub target: Target,
    pub load: Load,
    pub settings: Settings,
    pub outcome: OutcomeJson,
    pub elapsed_s: f64,
    pub requests: Requests,
    pub latency_ms: Latency,
    pub latency_uncorrected_ms: Latency,
    pub schedule_lag_ms: Lag,
    pub iterations: Iterations,
    /// What the run did not deliver of its plan, in words: dropped iterations, a
    /// rate short of the target.
    #[serde(default)]
    pub warnings: Vec<String>,
    pub vus: Vus,
    pub checks: Vec<CheckJson>,
    pub extractions: Vec<ExtractionJson>,
    /// Per scenario, when the run has several; empty otherwise.
    pub scenarios: Vec<GroupJson>,
    /// Per tag (the union of the scenarios that carry it).
    pub tags: Vec<GroupJson>,
    /// Per step (redirects it followed included).
    #[serde(default)]
    pub steps: Vec<StepJson>,
    pub thresholds: Vec<Verdict>,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub error_details: BTreeMap<String, String>,
    pub timeline: Vec<Second>,
    pub histogram: HistogramJson,
    /// Request anatomy: where requests' time went, phase by phase.
    #[serde(default)]
    pub phases_ms: PhasesJson,
    /// How requests used connections.
    #[serde(default)]
    pub connections: ConnectionsJson,
    /// gRPC calls, when a step makes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcJson>,
    /// The streaming outputs (`-o KIND=ADDRESS`) and how each fared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<crate::outputs::OutputJson>,
    /// WebSocket connections and messages, when a step speaks WebSocket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WebSocketJson>,
    /// What each `[scripts]` function did: calls, failures, errors and their
    /// messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<kaioken_script::ScriptReport>,
    /// The share of the global load this instance ran (`--execution-segment`);
    /// absent for a whole run, the union of the parts in a merged report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentJson>,
    /// The planned start (`--start-at`, `--start-after`), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_start_unix_ms: Option<u64>,
    /// What the instances of one distributed run must share: a SHA-256 of the
    /// compiled program and the global load plan ([`fingerprint`]). `kaioken merge`
    /// merges only reports that have the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The reports a merged report was made from (`kaioken merge`), as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Every other latency section's histogram, encoded like `histogram.data` and
    /// keyed by where its statistics are (`latency_uncorrected_ms`,
    /// `scenarios/<name>`, `steps/<index>`, `phases_ms/dns`, …): what lets
    /// `kaioken merge` merge them exactly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub histograms: BTreeMap<String, String>,
}

/// An execution segment: `from` and `to` as reduced fractions (`"1/4"`, with `"0"`
/// and `"1"` for the ends), and the sequence of bounds it was cut from, 0 and 1
/// included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentJson {
    pub from: String,
    pub to: String,
    /// The bounds of every instance's part, from `0` to `1`.
    pub sequence: Vec<String>,
    /// A partial merge of segments that are not next to each other: the pieces
    /// between `from` and `to` that none of its parts ran (`"1/3:2/3"`), in order.
    /// `from` and `to` alone would call `0:1/3` and `2/3:1` the whole run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl SegmentJson {
    pub fn of(segment: &kaioken_vm::Segment) -> SegmentJson {
        SegmentJson {
            from: segment.from.to_string(),
            to: segment.to.to_string(),
            sequence: segment.sequence.iter().map(ToString::to_string).collect(),
            missing: Vec::new(),
        }
    }

    /// Whether this is the whole run: `0:1` with nothing missing.
    pub fn is_whole(&self) -> bool {
        self.from == "0" && self.to == "1" && self.missing.is_empty()
    }

    /// What of the run this measured, in words: `1/4:1/2`, or
    /// `0:1/3 and 2/3:1` for a partial merge with a piece missing.
    pub fn measured(&self) -> String {
        let mut pieces = Vec::new();
        let mut at = self.from.as_str();
        for gap in &self.missing {
            let (from, to) = gap.split_once(':').unwrap_or((gap, gap));
            pieces.push(format!("{at}:{from}"));
            at = to;
        }
        pieces.push(format!("{at}:{}", self.to));
        pieces.join(" and ")
    }
}

/// Why a segment's part of the load is nothing: a closed model's VUs (`vus`) or a
/// request budget split finer than one each. Its run sends nothing, and that is no
/// failure: the run's warning, and the summary's headline, say so.
pub(crate) fn empty_part(
    vus: u32,
    open_model: bool,
    max_requests: Option<u64>,
    segment: &kaioken_vm::Segment,
) -> Option<String> {
    if !open_model && segment.part_u32(vus) == 0 {
        return Some(format!(
            "segment {segment}'s part of {vus} VUs is none: this instance sent nothing"
        ));
    }
    match max_requests {
        Some(n) if segment.part(n) == 0 => Some(format!(
            "segment {segment}'s part of {n} requests is none: this instance sent nothing"
        )),
        _ => None,
    }
}

impl Report {
    /// [`empty_part`] of this report's segment and load: why it had nothing to send.
    /// `None` for a whole run, or a segment whose bounds do not parse (a report from
    /// elsewhere).
    pub(crate) fn empty_part(&self) -> Option<String> {
        let s = self.segment.as_ref()?;
        let segment = kaioken_vm::Segment::parse(
            &format!("{}:{}", s.from, s.to),
            Some(&s.sequence.join(",")),
        )
        .ok()?;
        empty_part(
            self.load.vus,
            self.load.arrival_rate.is_some(),
            self.load.max_requests,
            &segment,
        )
    }
}

/// gRPC calls: statuses by name, messages, connections and server streams.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GrpcJson {
    /// Calls that got a status (transport failures are in `errors`).
    pub calls: u64,
    /// Calls by status name (`OK`, `NOT_FOUND`, …; an undefined code as its number).
    pub statuses: BTreeMap<String, u64>,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Message payload bytes, without gRPC's framing or HTTP/2's.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub connections_opened: u64,
    pub connections_failed: u64,
    pub connections_closed_by_server: u64,
    /// Connection set-up (TCP, TLS): ms.
    pub connect_ms: Latency,
    pub streams: StreamsJson,
}

/// Server streams.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamsJson {
    /// Server-streaming calls that ended (with or without messages).
    pub count: u64,
    /// The messages of every stream, exactly: with the histogram's count of
    /// streams that had any, what `kaioken merge` takes the mean from (`None` in
    /// reports of older kaioken versions, whose mean and max were read from the
    /// histogram, exact up to 2,047 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<u64>,
    /// Messages per stream that had any.
    pub messages_mean: Option<f64>,
    pub messages_max: Option<u64>,
    /// From a call's start to its first message, ms.
    pub first_message_ms: Latency,
}

/// The WebSocket section: connections, handshakes, messages, close codes. Each
/// exchange (a message, with its replies in echo mode) is also a request of the
/// sections above; `rtt_ms` is the latency of the WebSocket steps' exchanges.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebSocketJson {
    pub connections: WsConnectionsJson,
    /// From the TCP connect to the upgrade's completion (TLS included).
    pub handshake_ms: Latency,
    /// Echo: from the message's send to its last expected reply (fire-and-forget:
    /// the time to write it). The first exchange of a connection includes its
    /// handshake.
    pub rtt_ms: Latency,
    pub messages: WsMessagesJson,
    /// Payload bytes each way (without framing).
    pub bytes: WsBytesJson,
    /// Exchanges by close code: 1000 for those that completed, else the code the
    /// server closed with before they did.
    pub close_codes: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WsConnectionsJson {
    pub opened: u64,
    pub failed: u64,
    pub closed_by_peer: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WsMessagesJson {
    pub sent: u64,
    pub received: u64,
    pub sent_per_s: f64,
    pub received_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WsBytesJson {
    pub sent: u64,
    pub received: u64,
}

/// One phase of the request anatomy: how many requests went through it, and its
/// statistics in ms (`null` when it never happened).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseJson {
    pub count: u64,
    #[serde(flatten)]
    pub latency: Latency,
}

/// The request anatomy (runtime/src/stats/phases.rs says what each engine times).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhasesJson {
    pub dns: PhaseJson,
    pub connect: PhaseJson,
    pub tls: PhaseJson,
    /// Time to first byte: from the request written to the response's first byte.
    pub waiting: PhaseJson,
    /// From the response's first byte to its last.
    pub receiving: PhaseJson,
}

/// Connections opened, requests on a connection already used, connections the
/// server ended, and connections closed because the server sent bytes no request
/// asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectionsJson {
    pub opened: u64,
    pub reused: u64,
    pub closed_by_server: u64,
    /// Absent from reports of older kaioken versions.
    #[serde(default)]
    pub out_of_sync: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub url: String,
    pub method: String,
    pub http_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Load {
    pub model: String,
    pub vus: u32,
    pub arrival_rate: Option<f64>,
    pub max_vus: Option<u32>,
    pub pre_allocated_vus: Option<u32>,
    pub latency_correction: bool,
    pub stages: Vec<StageJson>,
    pub duration_s: Option<f64>,
    pub max_requests: Option<u64>,
    pub rate: Option<f64>,
    pub ramp_up_s: f64,
    pub warmup_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageJson {
    pub duration_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckJson {
    pub name: String,
    /// The step whose responses it judges; `null` for a check of every step.
    pub step: Option<String>,
    pub expr: String,
    /// Where it was written (`file:line:column`), when it was written in a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub passes: u64,
    pub fails: u64,
    pub pass_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupJson {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    pub requests: u64,
    pub errors: u64,
    /// Errors and responses with an unexpected status.
    #[serde(default)]
    pub failed: u64,
    pub latency_ms: Latency,
}

/// One step's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepJson {
    pub name: String,
    /// The name of its scenario.
    pub scenario: String,
    pub method: String,
    /// Its URL as written (variables as `${name}`), secrets hidden like the target's.
    pub url: String,
    pub requests: u64,
    pub errors: u64,
    /// Errors and responses with an unexpected status.
    pub failed: u64,
    pub latency_ms: Latency,
    /// Responses by status class (`2xx`, …, `other`); classes without one left out.
    pub status_codes: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractionJson {
    pub var: String,
    pub spec: String,
    pub ok: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Iterations {
    pub started: u64,
    pub dropped: u64,
    pub target_rate: Option<f64>,
    pub achieved_rate: f64,
    /// The window the rate is over, in seconds.
    #[serde(skip)]
    pub window_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vus {
    pub max_active: u64,
    pub max_allowed: u32,
}

/// The schedule lag in ms; `null` fields when no iteration was scheduled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lag {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub engine: String,
    pub timeout_s: f64,
    pub http2: bool,
    pub insecure: bool,
    pub max_error_rate: f64,
    pub cookie_jar: bool,
    pub max_redirects: u32,
    /// The statuses that are not failures (`200-399`), or, when steps differ, each
    /// step's as `name=list`.
    #[serde(default)]
    pub expected_status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeJson {
    pub stop_reason: String,
    pub interrupted: bool,
    pub exit_code: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Requests {
    pub total: u64,
    pub responses: u64,
    /// Requests without a response (transport errors, by kind in `errors`).
    pub errors: u64,
    pub error_rate: f64,
    /// Responses whose status their step did not expect.
    #[serde(default)]
    pub unexpected_status: u64,
    /// Failed requests: `errors` plus `unexpected_status`.
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub failure_rate: f64,
    pub rps: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub warmup_requests: u64,
    pub unfinished: u64,
    /// Requests sent again on a new connection because their reused one was closed
    /// before any of a response came; each counts once above, by its final outcome.
    #[serde(default)]
    pub reconnects: u64,
    /// `--compressed`: responses whose body was decoded, those that did not decode
    /// whole, and the bytes they decoded to (`bytes_received` is the wire's).
    #[serde(default)]
    pub decoded: u64,
    #[serde(default)]
    pub decoded_partial: u64,
    #[serde(default)]
    pub bytes_decoded: u64,
    /// Passed evaluations over all evaluations of every check; `null` without checks.
    pub check_pass_rate: Option<f64>,
}

/// Latency statistics in ms; every field is `null` when nothing was measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub stdev: Option<f64>,
    pub p50: Option<f64>,
    pub p75: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p99_9: Option<f64>,
    pub max: Option<f64>,
}

impl Latency {
    /// `h`'s statistics with the exact largest latency (µs), where one was kept
    /// beside it: the histogram's max and percentiles are their bucket's highest
    /// value, which may be above it (a max of 43.263 ms for 43.251 ms). Taken only
    /// when it is in the histogram's largest bucket, as the same latencies' max is.
    pub fn with_max(h: &Histogram<u64>, max_us: Option<u64>) -> Latency {
        let mut l = latency(h);
        if let Some(exact) = max_us.filter(|&m| !h.is_empty() && h.equivalent(m, h.max())) {
            l.clamp_to(ms(exact));
        }
        l
    }

    fn clamp_to(&mut self, exact: f64) {
        self.max = Some(exact);
        for p in [
            &mut self.p50,
            &mut self.p75,
            &mut self.p90,
            &mut self.p95,
            &mut self.p99,
            &mut self.p99_9,
        ] {
            *p = p.map(|v| v.min(exact));
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Second {
    pub second: usize,
    pub requests: u64,
    pub responses: u64,
    pub errors: u64,
    /// Responses in this second with a status their step did not expect.
    #[serde(default)]
    pub unexpected_status: u64,
    /// `null` in a second without responses, like the other latencies.
    pub latency_mean_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p90_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub started: u64,
    pub dropped: u64,
    pub vus: u64,
    /// Bytes of the responses that ended in this second.
    #[serde(default)]
    pub bytes_received: u64,
    /// Responses by status in this second.
    pub status: BTreeMap<String, u64>,
    /// Messages of the message protocols (WebSocket) sent in this second, when a
    /// step speaks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_sent: Option<u64>,
    /// Messages received in this second, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_received: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistogramJson {
    pub encoding: String,
    pub unit: String,
    pub data: String,
}

/// Whether the run was interrupted and how it stopped, decided by the caller.
pub struct RunEnd {
    pub reason: StopReason,
    /// Interrupted: the reason itself, or a signal while the run was stopping
    /// for another reason, or during teardown.
    pub interrupted: bool,
    pub exit_code: u8,
    pub started_at_unix_ms: u64,
}

impl Report {
    /// The report of a finished run, section by section. `thresholds` stays empty
    /// until [`Report::evaluate_thresholds`].
    /// Secrets are hidden by `rule` (the target URL's, any in an error's message).
    pub fn new(
        ir: &Ir,
        program: &kaioken_vm::Program,
        stats: &RunStats,
        end: &RunEnd,
        rule: &Redact,
    ) -> Report {
        let exact_max = exact_max_us(stats);
        Report {
            schema: SCHEMA.into(),
            kaioken_version: env!("CARGO_PKG_VERSION").into(),
            started_at_unix_ms: end.started_at_unix_ms,
            target: target(ir, rule),
            load: load(&ir.load),
            settings: settings(ir, stats.engine.name().into()),
            outcome: outcome(end),
            elapsed_s: stats.elapsed.as_secs_f64(),
            requests: requests(stats),
            latency_ms: Latency::with_max(&stats.latency, exact_max),
            latency_uncorrected_ms: uncorrected_latency(stats, exact_max),
            schedule_lag_ms: lag(&stats.schedule_lag),
            iterations: iterations(&ir.load, stats, Some(end.reason)),
            warnings: Vec::new(),
            vus: Vus {
                max_active: stats.max_vus,
                max_allowed: ir.load.vus,
            },
            checks: checks(program, stats),
            extractions: extractions(program, stats),
            scenarios: scenario_groups(program, stats),
            tags: tag_groups(program, stats),
            steps: steps(ir, stats, rule),
            // Filled in by `evaluate_thresholds`, which reads the sections above.
            thresholds: Vec::new(),
            status_codes: status_codes(stats),
            errors: stats
                .errors_by_kind()
                .map(|(k, n)| (k.name().to_owned(), n))
                .collect(),
            error_details: error_details(stats, rule),
            timeline: timeline(stats),
            histogram: histogram(&stats.latency),
            phases_ms: phases(&stats.phases),
            connections: ConnectionsJson {
                opened: stats.phases.opened,
                reused: stats.phases.reused,
                closed_by_server: stats.phases.closed_by_server,
                out_of_sync: stats.phases.out_of_sync,
            },
            grpc: grpc(stats),
            outputs: Vec::new(),
            scripts: kaioken_script::Runner::of(program)
                .map(kaioken_script::Runner::report)
                .unwrap_or_default(),
            websocket: websocket(ir, stats),
            segment: None,
            planned_start_unix_ms: None,
            fingerprint: Some(fingerprint(ir, program, rule)),
            merged_from: Vec::new(),
            histograms: histograms(ir, program, stats),
        }
        .with_warnings(end.reason, 1.0)
    }

    /// The report of one instance of a split run: its segment and its planned start
    /// recorded, its targets (planned rate, VUs allowed) its own part of the whole
    /// run's `load` (which stays the whole run's, as every instance shares it), and the
    /// warnings judged against them.
    pub fn with_segment(
        mut self,
        segment: Option<&kaioken_vm::Segment>,
        planned_start_unix_ms: Option<u64>,
        reason: StopReason,
    ) -> Report {
        self.planned_start_unix_ms = planned_start_unix_ms;
        let Some(segment) = segment else {
            return self;
        };
        self.segment = Some(SegmentJson::of(segment));
        let share = segment.share();
        self.iterations.target_rate = self.iterations.target_rate.map(|r| r * share);
        self.vus.max_allowed = segment.part_u32(self.vus.max_allowed);
        self.with_warnings(reason, share)
    }

    /// Add the warnings about what the run fell short of (`share`: the part of the
    /// whole run's `-r` cap this run had).
    fn with_warnings(mut self, reason: StopReason, share: f64) -> Report {
        // The closed model's cap is on requests: it is said in requests.
        let cap = match (self.load.model.as_str(), self.load.rate) {
            ("closed", Some(cap)) => Some(Cap {
                cap: cap * share,
                achieved: self.requests.total as f64
                    / self.iterations.window_s.max(f64::MIN_POSITIVE),
                staged: !self.load.stages.is_empty(),
            }),
            _ => None,
        };
        self.warnings = load_warnings(&self.iterations, reason, cap);
        if reason == StopReason::Duration {
            self.warnings.extend(self.stalled());
        }
        self
    }

    /// A run that ended at its duration whose target stopped answering: its last
    /// seconds up to the duration finished no request, and requests were still
    /// waiting when it ended (the summary's "cut off"). The grace after the
    /// duration is quiet by design (nothing starts then), so the quiet is counted up
    /// to the duration; and seconds without a response are usual where one takes
    /// seconds, so the quiet must outlast twice the slowest response the run saw.
    fn stalled(&self) -> Option<String> {
        let cut_off = self.requests.unfinished;
        if cut_off == 0 {
            return None;
        }
        let quiet_from = self
            .timeline
            .iter()
            .filter(|s| s.requests > 0)
            .map(|s| s.second + 1)
            .max()
            .unwrap_or(0);
        let end = self
            .load
            .duration_s
            .map_or(self.elapsed_s, |d| d.min(self.elapsed_s));
        let quiet = end - quiet_from as f64;
        let slowest = self.latency_ms.max.unwrap_or(0.0) / 1000.0;
        (quiet >= STALL.max(2.0 * slowest)).then(|| {
            format!(
                "no request finished in the last {quiet:.1}s of the run (from second {quiet_from}), and {} cut off at the end: the target stopped answering",
                crate::summary::counted(cut_off, "request was", "requests were")
            )
        })
    }
}

/// How long a run's end may go without a finished request before the report
/// says its target stopped answering.
const STALL: f64 = 2.0;

/// The report's `fingerprint`: a SHA-256, in hex, of the report schema, the IR's
/// text (`--dump ir`, without source positions: the same scenario from another path
/// is the same run) and the bytecode listing (`--dump bytecode`), both with secrets
/// hidden by `rule` so that no secret's value goes into it. The IR holds the global
/// load plan and the thresholds and no segment, so every instance of one
/// distributed run has the same fingerprint, and a different body, URL, load or
/// threshold makes another.
pub(crate) fn fingerprint(ir: &Ir, program: &kaioken_vm::Program, rule: &Redact) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let mut hash = sha2::Sha256::new();
    hash.update(SCHEMA.as_bytes());
    hash.update(b"\n");
    hash.update(kaioken_compiler::dump_ir(ir, false, rule).as_bytes());
    hash.update(program.listing(rule).to_string().as_bytes());
    hash.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// The serialized histograms of the latency sections other than the run's own
/// (`histogram.data`), keyed as in [`Report::histograms`].
fn histograms(
    ir: &Ir,
    program: &kaioken_vm::Program,
    stats: &RunStats,
) -> BTreeMap<String, String> {
    let encode = kaioken_report::hdr::encode;
    let mut out = BTreeMap::new();
    out.insert(
        "latency_uncorrected_ms".to_owned(),
        encode(&stats.latency_uncorrected),
    );
    out.insert("schedule_lag_ms".to_owned(), encode(&stats.schedule_lag));
    for (info, s) in program.scenarios.iter().zip(&stats.scenarios) {
        out.insert(format!("scenarios/{}", info.name), encode(&s.latency));
    }
    for (tag, s) in tag_stats(program, stats) {
        out.insert(format!("tags/{tag}"), encode(&s.latency));
    }
    let steps: usize = ir.scenarios.iter().map(|s| s.steps.len()).sum();
    if steps == 1 {
        out.insert("steps/0".to_owned(), encode(&stats.latency_uncorrected));
    } else {
        for (i, s) in stats.steps.iter().take(steps).enumerate() {
            out.insert(format!("steps/{i}"), encode(&s.totals.latency));
        }
    }
    let p = &stats.phases;
    for (name, h) in [
        ("dns", &p.dns),
        ("connect", &p.connect),
        ("tls", &p.tls),
        ("waiting", &p.waiting),
        ("receiving", &p.receiving),
    ] {
        out.insert(format!("phases_ms/{name}"), encode(h));
    }
    let messages = |protocol| stats.messages[kaioken_runtime::messages_index(protocol)?].as_deref();
    if let (Some(m), Some(_)) = (messages(kaioken_vm::Protocol::Grpc), grpc(stats)) {
        out.insert("grpc/connect_ms".to_owned(), encode(&m.open_time));
        out.insert(
            "grpc/streams/first_message_ms".to_owned(),
            encode(&m.first_message),
        );
        out.insert(
            "grpc/streams/messages".to_owned(),
            encode(&m.stream_messages),
        );
    }
    if let Some(m) = messages(kaioken_vm::Protocol::WebSocket) {
        out.insert("websocket/handshake_ms".to_owned(), encode(&m.open_time));
        if let Some(rtt) = ws_rtt(ir, stats) {
            out.insert("websocket/rtt_ms".to_owned(), encode(&rtt));
        }
    }
    out
}

/// A closed model's `-r` cap on requests, and the request rate achieved.
pub(crate) struct Cap {
    pub cap: f64,
    pub achieved: f64,
    /// The VUs follow stages: `-c` is only where they start.
    pub staged: bool,
}

/// How far below its planned rate a run may fall before it is told: 5%.
pub const RATE_MARGIN: f64 = 0.05;

/// What a run fell short of: dropped iterations, and an achieved rate more than
/// [`RATE_MARGIN`] below the plan and at least two iterations short of it (judged
/// only on runs that lasted their planned duration: a stopped run's plan was cut
/// short; and a plan of 0.4 iterations is not missed by starting none).
pub(crate) fn load_warnings(it: &Iterations, reason: StopReason, cap: Option<Cap>) -> Vec<String> {
    let mut warnings = Vec::new();
    if it.dropped > 0 {
        let due = it.started + it.dropped;
        warnings.push(format!(
            "{} iterations dropped ({:.1}% of {} due): no VU was free in time; raise --max-vus or make the target faster",
            kaioken_tui::thousands(it.dropped),
            it.dropped as f64 * 100.0 / due as f64,
            kaioken_tui::thousands(due)
        ));
    }
    if let Some(target) = it.target_rate {
        let short = 1.0 - it.achieved_rate / target;
        let missing = (target - it.achieved_rate) * it.window_s;
        if reason == StopReason::Duration && target > 0.0 && short > RATE_MARGIN && missing >= 2.0 {
            warnings.push(match cap {
                Some(Cap {
                    cap,
                    achieved,
                    staged,
                }) => format!(
                    "achieved {achieved:.1} requests/s, {:.1}% below the -r cap of {cap}/s: the VUs could not keep up; {}",
                    (1.0 - achieved / cap) * 100.0,
                    match staged {
                        true => "the stages' VUs set the rate while they were few: raise their `target`s",
                        false => "raise -c",
                    }
                ),
                None => format!(
                    "achieved {:.1} iterations/s, {:.1}% below the planned {:.1}/s: the VUs could not keep up; raise --max-vus or make the target faster",
                    it.achieved_rate,
                    short * 100.0,
                    target
                ),
            });
        }
    }
    warnings
}

/// The latencies from the actual send. Without a correction to make, they are the
/// run's latencies, of the same exact maximum (`exact_max`, [`exact_max_us`]).
/// With one, each is at most its corrected latency: none is above the run's exact
/// maximum, where the histogram's bucket may reach.
fn uncorrected_latency(stats: &RunStats, exact_max: Option<u64>) -> Latency {
    if stats.latency_uncorrected == stats.latency {
        Latency::with_max(&stats.latency_uncorrected, exact_max)
    } else {
        let mut l = latency(&stats.latency_uncorrected);
        if let Some(exact) = exact_max.map(ms)
            && l.max.is_some_and(|max| max > exact)
        {
            l.clamp_to(exact);
        }
        l
    }
}

/// The largest latency (µs), exact: each second of the timeline keeps its own.
pub(crate) fn exact_max_us(stats: &RunStats) -> Option<u64> {
    stats
        .timeline
        .iter()
        .filter(|s| s.responses > 0)
        .map(|s| s.latency_max_us)
        .max()
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The run's target as the report (and the live view) names it: the first step of
/// the first scenario, its URL's secrets hidden by `rule`.
pub(crate) fn target(ir: &Ir, rule: &Redact) -> Target {
    let step = &ir.scenarios[0].steps[0];
    let grpc = matches!(step.kind, kaioken_compiler::StepKind::Grpc(_));
    Target {
        url: step_url(step, rule),
        method: step.method.clone(),
        // gRPC is HTTP/2 whatever the run's HTTP version says.
        http_version: if grpc { "2" } else { ir.settings.http.as_str() }.into(),
    }
}

/// The WebSocket section, when a step speaks WebSocket.
fn websocket(ir: &Ir, stats: &RunStats) -> Option<WebSocketJson> {
    let index = kaioken_runtime::messages_index(kaioken_vm::Protocol::WebSocket)?;
    let m = stats.messages[index].as_deref()?;
    let rtt = ws_rtt(ir, stats);
    let window = stats.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    Some(WebSocketJson {
        connections: WsConnectionsJson {
            opened: m.opened,
            failed: m.open_failed,
            closed_by_peer: m.closed_by_peer,
        },
        handshake_ms: latency(&m.open_time),
        rtt_ms: rtt.as_ref().map(latency).unwrap_or_default(),
        messages: WsMessagesJson {
            sent: m.sent,
            received: m.received,
            sent_per_s: m.sent as f64 / window,
            received_per_s: m.received as f64 / window,
        },
        bytes: WsBytesJson {
            sent: m.bytes_sent,
            received: m.bytes_received,
        },
        close_codes: stats
            .status
            .iter()
            .filter_map(|&(status, n)| match status {
                kaioken_vm::Status::Ws(code) => Some((code.to_string(), n)),
                _ => None,
            })
            .collect(),
    })
}

/// The latency of the WebSocket steps' exchanges. One step: the run's latency is its
/// own (timed from the actual send, like a step's); several: the WebSocket steps'
/// kept histograms together.
fn ws_rtt(ir: &Ir, stats: &RunStats) -> Option<Histogram<u64>> {
    let is_ws =
        |s: &kaioken_compiler::Step| matches!(s.kind, kaioken_compiler::StepKind::WebSocket(_));
    let steps: Vec<&kaioken_compiler::Step> = ir.scenarios.iter().flat_map(|s| &s.steps).collect();
    if let [only] = steps[..] {
        is_ws(only).then(|| stats.latency_uncorrected.clone())
    } else {
        let mut rtt: Option<Histogram<u64>> = None;
        for (step, s) in steps.iter().zip(&stats.steps) {
            match &mut rtt {
                _ if !is_ws(step) => {}
                Some(h) => {
                    let _ = h.add(&s.totals.latency);
                }
                None => rtt = Some(s.totals.latency.clone()),
            }
        }
        rtt
    }
}

/// A step's URL as written, its secrets hidden by `rule`.
pub fn step_url(step: &kaioken_compiler::Step, rule: &Redact) -> String {
    let tls = step.origin.scheme == kaioken_vm::Scheme::Https;
    let scheme = match (&step.kind, tls) {
        (kaioken_compiler::StepKind::Http, false) => "http",
        (kaioken_compiler::StepKind::Http, true) => "https",
        (kaioken_compiler::StepKind::WebSocket(_), false) => "ws",
        (kaioken_compiler::StepKind::WebSocket(_), true) => "wss",
        (kaioken_compiler::StepKind::Grpc(_), false) => "grpc",
        (kaioken_compiler::StepKind::Grpc(_), true) => "grpcs",
    };
    let path: String = step.path.parts.iter().map(ToString::to_string).collect();
    rule.url(&format!("{scheme}://{}{path}", step.origin.authority))
}

/// Per-step results. With one step the run's totals are its results (the runtime
/// keeps none apart); with several, those the runtime kept (the first
/// [`kaioken_runtime::MAX_STEPS`]).
fn steps(ir: &Ir, stats: &RunStats, rule: &Redact) -> Vec<StepJson> {
    let all: Vec<(&str, &kaioken_compiler::Step)> = ir
        .scenarios
        .iter()
        .flat_map(|s| s.steps.iter().map(move |step| (s.name.as_str(), step)))
        .collect();
    let json = |(scenario, step): (&str, &kaioken_compiler::Step),
                requests,
                errors,
                failed,
                latency_ms,
                status_codes| StepJson {
        name: step.name.clone(),
        scenario: scenario.to_owned(),
        method: step.method.clone(),
        url: step_url(step, rule),
        requests,
        errors,
        failed,
        latency_ms,
        status_codes,
    };
    let classes = |counts: &[u64]| -> BTreeMap<String, u64> {
        kaioken_runtime::STATUS_CLASSES
            .into_iter()
            .zip(counts.iter().copied())
            .filter(|(_, n)| *n > 0)
            .map(|(class, n)| (class.to_owned(), n))
            .collect()
    };
    if let [only] = all[..] {
        let mut counts = [0; kaioken_runtime::STATUS_CLASSES.len()];
        for &(status, n) in &stats.status {
            counts[kaioken_runtime::status_class(status)] += n;
        }
        return vec![json(
            only,
            stats.total(),
            stats.error_count(),
            stats.failed(),
            // Like a step's when there are several: timed from the actual send.
            uncorrected_latency(stats, exact_max_us(stats)),
            classes(&counts),
        )];
    }
    all.into_iter()
        .zip(&stats.steps)
        .map(|(step, s)| {
            let t = &s.totals;
            json(
                step,
                t.requests,
                t.errors,
                t.errors + t.unexpected,
                Latency::with_max(&t.latency, Some(t.latency_max_us)),
                classes(&s.status_classes),
            )
        })
        .collect()
}

/// The request anatomy's phases.
fn phases(p: &kaioken_runtime::Phases) -> PhasesJson {
    let phase = |h: &Histogram<u64>| PhaseJson {
        count: h.len(),
        latency: latency(h),
    };
    PhasesJson {
        dns: phase(&p.dns),
        connect: phase(&p.connect),
        tls: phase(&p.tls),
        waiting: phase(&p.waiting),
        receiving: phase(&p.receiving),
    }
}

fn load(load: &kaioken_compiler::LoadPlan) -> Load {
    let arrival = load.arrival.as_ref();
    let open = arrival.is_some();
    Load {
        model: if open { "arrival_rate" } else { "closed" }.into(),
        vus: load.vus,
        arrival_rate: arrival.map(|a| a.rate),
        max_vus: arrival.map(|_| load.vus),
        pre_allocated_vus: arrival.map(|a| a.pre_allocated_vus),
        latency_correction: arrival.is_some_and(|a| a.latency_correction),
        // A stage's target is VUs in the closed model, iterations/s in the open one.
        stages: load
            .stages
            .iter()
            .map(|s| StageJson {
                duration_s: s.duration.as_secs_f64(),
                target: (!open).then_some(s.target),
                target_rate: open.then_some(s.target),
            })
            .collect(),
        duration_s: load.duration.map(|d| d.as_secs_f64()),
        max_requests: load.max_requests,
        rate: load.rate,
        ramp_up_s: load.ramp_up.as_secs_f64(),
        warmup_s: load.warmup.as_secs_f64(),
    }
}

/// The settings the run was planned with, and the engine that ran it.
fn settings(ir: &Ir, engine: String) -> Settings {
    let s = &ir.settings;
    Settings {
        engine,
        timeout_s: s.timeout.as_secs_f64(),
        http2: s.http == kaioken_compiler::HttpVersion::Http2,
        insecure: s.insecure,
        max_error_rate: s.max_error_rate,
        cookie_jar: s.cookie_jar,
        max_redirects: s.max_redirects,
        expected_status: expected_status(ir),
    }
}

/// The statuses the run's steps expect: one list when they agree, else each step's.
pub(crate) fn expected_status(ir: &Ir) -> String {
    // A gRPC call expects `OK` and a WebSocket exchange `ws:1000`, whatever
    // `expected_status` says (it is HTTP's).
    let expected = |s: &kaioken_compiler::Step| match s.kind {
        kaioken_compiler::StepKind::Http => s.expected_status.to_string(),
        kaioken_compiler::StepKind::Grpc(_) => "OK".to_owned(),
        kaioken_compiler::StepKind::WebSocket(_) => "ws:1000".to_owned(),
    };
    let steps: Vec<_> = ir.scenarios.iter().flat_map(|s| &s.steps).collect();
    let first = expected(steps[0]);
    if steps.iter().all(|s| expected(s) == first) {
        return first;
    }
    steps
        .iter()
        .map(|s| format!("{}={}", s.name, expected(s)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn outcome(end: &RunEnd) -> OutcomeJson {
    OutcomeJson {
        stop_reason: end.reason.name().into(),
        interrupted: end.interrupted,
        exit_code: end.exit_code,
    }
}

fn requests(stats: &RunStats) -> Requests {
    let total = stats.total();
    let errors = stats.error_count();
    let failed = stats.failed();
    let elapsed = stats.elapsed.as_secs_f64();
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    let (passes, evaluations) = stats
        .checks
        .iter()
        .fold((0, 0), |(p, a), c| (p + c[0], a + c[0] + c[1]));
    Requests {
        total,
        responses: stats.counts.responses,
        errors,
        error_rate: share(errors),
        unexpected_status: stats.counts.unexpected,
        failed,
        failure_rate: share(failed),
        // Throughput is responses: a refused connection is no throughput.
        rps: if elapsed > 0.0 {
            stats.counts.responses as f64 / elapsed
        } else {
            0.0
        },
        bytes_sent: stats.counts.bytes_out,
        bytes_received: stats.counts.bytes_in,
        warmup_requests: stats.counts.warmup_requests,
        unfinished: stats.counts.unfinished,
        reconnects: stats.counts.reconnects,
        decoded: stats.counts.decoded,
        decoded_partial: stats.counts.decoded_partial,
        bytes_decoded: stats.counts.bytes_decoded,
        check_pass_rate: (evaluations > 0).then(|| passes as f64 / evaluations as f64),
    }
}

/// A histogram's statistics; all `None` when it is empty (no response: no latency,
/// rather than a latency of 0).
pub(crate) fn latency(h: &Histogram<u64>) -> Latency {
    let any = !h.is_empty();
    let q = |q: f64| any.then(|| ms(h.value_at_quantile(q)));
    Latency {
        min: any.then(|| ms(h.min())),
        mean: any.then(|| h.mean() / 1000.0),
        stdev: any.then(|| h.stdev() / 1000.0),
        p50: q(0.50),
        p75: q(0.75),
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
        p99_9: q(0.999),
        max: any.then(|| ms(h.max())),
    }
}

/// The schedule lag: fewer quantiles than a latency, and no minimum.
pub(crate) fn lag(h: &Histogram<u64>) -> Lag {
    let l = latency(h);
    Lag {
        mean: l.mean,
        p50: l.p50,
        p90: l.p90,
        p99: l.p99,
        max: l.max,
    }
}

/// What the load model achieved; `reason` is how the run stopped (`None` while it
/// goes on).
fn iterations(
    load: &kaioken_compiler::LoadPlan,
    stats: &RunStats,
    reason: Option<StopReason>,
) -> Iterations {
    // Over the planned window when the run lasted it: the last requests' finishing
    // times do not move the rate either way.
    let window = match load.duration {
        Some(d) if reason == Some(StopReason::Duration) => d.as_secs_f64(),
        _ => stats.elapsed.as_secs_f64(),
    };
    // The closed model's cap is on requests; an iteration of several steps (or one
    // that follows redirects) is several requests. In iterations, the cap is worth
    // what the run's requests per iteration make of it, so that a met cap is a met
    // target whatever the scenario.
    let requests = stats.total();
    let target_rate = match target_rate(load) {
        Some(cap) if load.arrival.is_none() && requests > 0 && stats.counts.started > 0 => {
            Some(cap * stats.counts.started as f64 / requests as f64)
        }
        other => other,
    };
    Iterations {
        started: stats.counts.started,
        dropped: stats.counts.dropped,
        target_rate,
        achieved_rate: if window > 0.0 {
            stats.counts.started as f64 / window
        } else {
            0.0
        },
        window_s: window,
    }
}

/// The planned average iterations per second over the measured window, if the load
/// model plans one.
pub(crate) fn target_rate(load: &kaioken_compiler::LoadPlan) -> Option<f64> {
    let Some(a) = load.arrival.as_ref() else {
        // The closed model plans a rate only when one caps it.
        return load.rate;
    };
    if load.stages.is_empty() {
        return Some(a.rate);
    }
    let profile = kaioken_runtime::Profile::of(load)?;
    let total = load.duration?;
    Some(profile.count_until(total) / total.as_secs_f64().max(f64::MIN_POSITIVE))
}

/// Per check, in id order (`[[checks]]` first, then each request's own).
fn checks(program: &kaioken_vm::Program, stats: &RunStats) -> Vec<CheckJson> {
    program
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let [passes, fails] = stats.checks.get(i).copied().unwrap_or([0, 0]);
            let id = kaioken_vm::CheckId::from_index(i);
            CheckJson {
                name: c.name.clone(),
                step: program.check_step(id).map(|s| program.step(s).name.clone()),
                expr: c.text.clone(),
                location: program.check_location(id),
                passes,
                fails,
                pass_rate: (passes + fails > 0).then(|| passes as f64 / (passes + fails) as f64),
            }
        })
        .collect()
}

/// Per extractor, in id order.
fn extractions(program: &kaioken_vm::Program, stats: &RunStats) -> Vec<ExtractionJson> {
    program
        .extractors
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let [ok, failed] = stats.extractions.get(i).copied().unwrap_or([0, 0]);
            ExtractionJson {
                var: x.var.clone(),
                spec: x.spec.clone(),
                ok,
                failed,
            }
        })
        .collect()
}

/// Per-scenario results (none with a single scenario: the runtime keeps no
/// per-scenario stats then).
fn scenario_groups(program: &kaioken_vm::Program, stats: &RunStats) -> Vec<GroupJson> {
    program
        .scenarios
        .iter()
        .zip(&stats.scenarios)
        .map(|(info, s)| GroupJson {
            name: info.name.clone(),
            tags: info.tags.clone(),
            weight: Some(info.weight),
            requests: s.requests,
            errors: s.errors,
            failed: s.errors + s.unexpected,
            latency_ms: Latency::with_max(&s.latency, Some(s.latency_max_us)),
        })
        .collect()
}

/// Per-tag results: each tag's scenarios merged (histograms add exactly).
fn tag_groups(program: &kaioken_vm::Program, stats: &RunStats) -> Vec<GroupJson> {
    tag_stats(program, stats)
        .into_iter()
        .map(|(tag, s)| GroupJson {
            name: tag.to_owned(),
            tags: Vec::new(),
            weight: None,
            requests: s.requests,
            errors: s.errors,
            failed: s.errors + s.unexpected,
            latency_ms: Latency::with_max(&s.latency, Some(s.latency_max_us)),
        })
        .collect()
}

/// Each tag's scenarios' statistics together, by tag.
fn tag_stats<'a>(
    program: &'a kaioken_vm::Program,
    stats: &RunStats,
) -> BTreeMap<&'a str, kaioken_runtime::ScenarioStats> {
    let mut tags: BTreeMap<&str, kaioken_runtime::ScenarioStats> = BTreeMap::new();
    for (info, s) in program.scenarios.iter().zip(&stats.scenarios) {
        for tag in &info.tags {
            match tags.get_mut(tag.as_str()) {
                Some(t) => {
                    let _ = t.latency.add(&s.latency);
                    t.latency_max_us = t.latency_max_us.max(s.latency_max_us);
                    t.requests += s.requests;
                    t.errors += s.errors;
                    t.unexpected += s.unexpected;
                }
                None => {
                    tags.insert(tag, s.clone());
                }
            }
        }
    }
    tags
}

/// Responses by status, keyed by its report spelling (`200`, `grpc:14`, …).
fn status_codes(stats: &RunStats) -> BTreeMap<String, u64> {
    stats
        .status
        .iter()
        .map(|(code, n)| (code.to_string(), *n))
        .collect()
}

/// The gRPC section, when a step made calls.
fn grpc(stats: &RunStats) -> Option<GrpcJson> {
    let m =
        stats.messages[kaioken_runtime::messages_index(kaioken_vm::Protocol::Grpc)?].as_deref()?;
    let mut statuses = BTreeMap::new();
    let mut calls = 0;
    for (status, n) in &stats.status {
        if let kaioken_vm::Status::Grpc(code) = status {
            let name = status
                .grpc_name()
                .map_or_else(|| code.to_string(), str::to_owned);
            *statuses.entry(name).or_insert(0) += n;
            calls += n;
        }
    }
    let per_stream = m.stream_messages_mean_max();
    Some(GrpcJson {
        calls,
        statuses,
        messages_sent: m.sent,
        messages_received: m.received,
        bytes_sent: m.bytes_sent,
        bytes_received: m.bytes_received,
        connections_opened: m.opened,
        connections_failed: m.open_failed,
        connections_closed_by_server: m.closed_by_peer,
        connect_ms: latency(&m.open_time),
        streams: StreamsJson {
            count: m.streams,
            messages: Some(m.stream_messages_sum),
            messages_mean: per_stream.map(|(mean, _)| mean),
            messages_max: per_stream.map(|(_, max)| max),
            first_message_ms: latency(&m.first_message),
        },
    })
}

/// The first message recorded for each error kind that has one.
/// The first message of each error class the measured window counted. A failure
/// in the warm-up leaves a message but no count: its class is not listed.
fn error_details(stats: &RunStats, rule: &Redact) -> BTreeMap<String, String> {
    kaioken_runtime::ErrorKind::ALL
        .iter()
        .zip(&stats.error_details)
        .filter(|(k, _)| stats.counts.errors[**k as usize] > 0)
        .filter_map(|(k, d)| Some((k.name().to_owned(), rule.text(d.as_deref()?))))
        .collect()
}

fn timeline(stats: &RunStats) -> Vec<Second> {
    let messages = stats.messages.iter().any(Option::is_some);
    stats
        .timeline
        .iter()
        .enumerate()
        .map(|(i, s)| Second {
            second: i,
            requests: s.requests,
            responses: s.responses,
            errors: s.errors,
            unexpected_status: s.unexpected,
            latency_mean_ms: (s.responses > 0)
                .then(|| s.latency_sum_us as f64 / s.responses as f64 / 1000.0),
            latency_p50_ms: (s.responses > 0).then(|| ms(s.latency_p50_us)),
            latency_p90_ms: (s.responses > 0).then(|| ms(s.latency_p90_us)),
            latency_p99_ms: (s.responses > 0).then(|| ms(s.latency_p99_us)),
            latency_max_ms: (s.responses > 0).then(|| ms(s.latency_max_us)),
            started: s.started,
            dropped: s.dropped,
            vus: s.vus,
            bytes_received: s.bytes_in,
            status: stats
                .timeline_status
                .get(i)
                .into_iter()
                .flatten()
                .map(|(code, n)| (code.to_string(), *n))
                .collect(),
            messages_sent: messages.then_some(s.messages_sent),
            messages_received: messages.then_some(s.messages_received),
        })
        .collect()
}

/// The whole latency histogram, losslessly: HDR V2, deflated, in base64. Empty if it
/// cannot be serialized.
fn histogram(h: &Histogram<u64>) -> HistogramJson {
    HistogramJson {
        encoding: "hdr-v2-deflate+base64".into(),
        unit: "us".into(),
        data: kaioken_report::hdr::encode(h),
    }
}

/// The thresholds judged on the statistics of a run still going, for the live view:
/// the same sections and the same judging as [`Report::evaluate_thresholds`], built
/// from the snapshot's statistics.
pub fn judge_live(ir: &Ir, program: &kaioken_vm::Program, stats: &RunStats) -> Vec<Verdict> {
    judge(
        &ir.thresholds,
        &latency(&stats.latency),
        &requests(stats),
        &iterations(&ir.load, stats, None),
        stats.elapsed.as_secs_f64(),
        &scenario_groups(program, stats),
        &tag_groups(program, stats),
    )
}

/// Judge `thresholds` on a run's sections: every request's latency and counts,
/// and each scenario's and tag's.
fn judge(
    thresholds: &[kaioken_compiler::IrThreshold],
    all: &Latency,
    counts: &Requests,
    iterations: &Iterations,
    elapsed_s: f64,
    scenarios: &[GroupJson],
    tags: &[GroupJson],
) -> Vec<Verdict> {
    use kaioken_compiler::ThresholdScope;
    let measured = |scope: &ThresholdScope| {
        let group = match scope {
            ThresholdScope::All => None,
            ThresholdScope::Scenario(name) => Some(scenarios.iter().find(|g| &g.name == name)?),
            ThresholdScope::Tag(name) => Some(tags.iter().find(|g| &g.name == name)?),
        };
        let (l, requests, errors, failed) = match group {
            Some(g) => (&g.latency_ms, g.requests, g.errors, g.failed),
            None => (all, counts.total, counts.errors, counts.failed),
        };
        let ms = |v: Option<f64>| v.unwrap_or(0.0);
        Some(Measured {
            requests,
            responses: requests.saturating_sub(errors),
            errors,
            failed,
            elapsed_s,
            percentiles_ms: [l.p50, l.p75, l.p90, l.p95, l.p99, l.p99_9].map(ms),
            mean_ms: ms(l.mean),
            max_ms: ms(l.max),
            check_pass_rate: counts.check_pass_rate,
            iterations: kaioken_compiler::Iterations {
                started: iterations.started,
                dropped: iterations.dropped,
                achieved_rate: iterations.achieved_rate,
                target_rate: iterations.target_rate,
            },
        })
    };
    judge_thresholds(thresholds, measured)
}

impl Report {
    /// How long second `second` of the timeline lasted, in seconds: one, but for
    /// the run's last, cut short by its end (`elapsed_s`).
    pub fn second_length(&self, second: usize) -> f64 {
        let left = self.elapsed_s - second as f64;
        if left > 0.0 && left < 1.0 { left } else { 1.0 }
    }

    /// `n` events in second `second` as a rate: over what the second lasted, and
    /// none for a last second shorter than a quarter of one. That fragment holds
    /// the requests that were in flight at the end; over a few milliseconds, their
    /// count is not a rate (one late response in 0.3 ms read 3,021/s in a run
    /// that never did more than 102/s).
    pub fn second_rate(&self, n: u64, second: usize) -> Option<f64> {
        let length = self.second_length(second);
        (length >= 0.25).then(|| n as f64 / length)
    }

    /// A saved report read back, for rendering again (`kaioken report`).
    ///
    /// # Errors
    ///
    /// What is wrong, in words: JSON that ends early (a truncated file), text that
    /// is not JSON, JSON without a `schema` or of another one (a newer kaioken's
    /// `kaioken.run/v2` is named as such), or a report missing a section.
    pub fn parse(text: &str) -> Result<Report, String> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            if e.is_eof() {
                format!("the JSON ends early ({e}): the file is truncated")
            } else {
                format!("not JSON: {e}")
            }
        })?;
        match json.get("schema").and_then(serde_json::Value::as_str) {
            Some(SCHEMA) => {}
            Some(other) => {
                let newer = other
                    .strip_prefix("kaioken.run/v")
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|v| v > 1);
                return Err(if newer {
                    format!(
                        "it is a `{other}` report, written by a newer kaioken; this kaioken ({}) reads `{SCHEMA}`",
                        env!("CARGO_PKG_VERSION")
                    )
                } else {
                    format!("its schema is `{other}`, not `{SCHEMA}`: not a kaioken run report")
                });
            }
            None => {
                return Err(format!(
                    "not a kaioken report: no `schema` field (a run report has `\"schema\": \"{SCHEMA}\"`)"
                ));
            }
        }
        let report: Report = serde_json::from_value(json)
            .map_err(|e| format!("not a complete `{SCHEMA}` report: {e}"))?;
        // Rendered without it, the report would lose its distribution unsaid.
        let data = &report.histogram.data;
        if !data.is_empty() && kaioken_report::hdr::decode(data).is_none() {
            return Err(format!(
                "not a complete `{SCHEMA}` report: `histogram.data` is not a histogram kaioken wrote"
            ));
        }
        Ok(report)
    }

    /// Evaluate the run's thresholds against this report and record them. A threshold
    /// with nothing to measure (no requests; no check evaluated) fails: a gate that
    /// passes on no data would let a broken run through CI.
    pub fn evaluate_thresholds(&mut self, ir: &Ir) {
        self.thresholds = judge(
            &ir.thresholds,
            &self.latency_ms,
            &self.requests,
            &self.iterations,
            self.elapsed_s,
            &self.scenarios,
            &self.tags,
        );
    }

    /// Judge this report's thresholds again, on its own sections (a merged report's:
    /// the merged data), as `compare` does: each verdict read back into its
    /// threshold.
    pub fn rejudge_thresholds(&mut self) {
        let thresholds: Vec<_> = self
            .thresholds
            .iter()
            .filter_map(|v| {
                kaioken_compiler::threshold_from_report(&v.scope, &v.metric, &v.threshold)
            })
            .collect();
        self.thresholds = judge(
            &thresholds,
            &self.latency_ms,
            &self.requests,
            &self.iterations,
            self.elapsed_s,
            &self.scenarios,
            &self.tags,
        );
    }

    /// Whether every threshold passed (true without thresholds).
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// Whether more requests failed than `--max-error-rate` allows (exit code 1's
    /// reason, which a run decides from its statistics before its report exists).
    pub fn too_many_failed(&self) -> bool {
        self.requests.failure_rate > self.settings.max_error_rate
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Reports built from fixed statistics, compared with golden JSON.
    //!
    //! Regenerate after an intended change with `cargo insta review` (or
    //! `INSTA_UPDATE=always cargo test -p kaioken --bins`).

    use std::time::Duration;

    use hdrhistogram::Histogram;
    use kaioken_compiler::{ConfigFile, Input};
    use kaioken_runtime::{Counts, ErrorKind, ScenarioStats, StepStats};
    use kaioken_vm::Status;

    use super::*;

    /// The exact largest latency replaces the histogram's bucket value, and caps
    /// the percentiles; one outside the histogram's largest bucket is not taken.
    #[test]
    fn the_exact_max_caps_the_histograms_values() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        h.record(900).unwrap();
        h.record(43_251).unwrap();
        let plain = latency(&h);
        assert!(plain.max.unwrap() > 43.251, "{plain:?}");
        let exact = Latency::with_max(&h, Some(43_251));
        assert_eq!(exact.max, Some(43.251));
        assert_eq!(exact.p99, Some(43.251));
        assert_eq!(exact.p50, plain.p50);
        assert_eq!(Latency::with_max(&h, Some(40_000)).max, plain.max);
        assert_eq!(Latency::with_max(&h, None).max, plain.max);
    }

    /// Two weighted scenarios sharing a tag, global and per-step checks, an
    /// extractor and thresholds of every scope, in the closed model.
    const CLOSED: &str = r#"
[target]
url = "https://127.0.0.1:8443"
timeout = "5s"
http2 = true
insecure = true
cookie_jar = true
max_error_rate = 0.5
max_redirects = 3

[[checks]]
name = "ok"
expr = "status in [200, 201]"

[[scenarios]]
name = "browse"
weight = 3
tags = ["web", "read"]

[[scenarios.steps]]
url = "/items/${ITERATION}?q=1"
checks = ["status == 200"]
extract = { item_id = "json:$.id" }

[[scenarios]]
name = "order"
weight = 1
tags = ["web"]

[[scenarios.steps]]
url = "/orders"
method = "POST"
body = "{}"
extract = { order = 'regex:id=(\d+)' }

[load]
vus = 20
duration = "10s"
rate = 500
ramp_up = "2s"
warmup = "1s"

[thresholds]
p95 = "< 2ms"
error_rate = "< 1%"
rps = "> 1000"
check_pass_rate = "> 0.95"

[thresholds.scenarios.order]
p99 = "< 500ms"

[thresholds.tags.read]
max = "< 1s"
"#;

    /// Ramping arrival rate with latency correction, no checks, and failures.
    const OPEN: &str = r#"
[target]
url = "http://127.0.0.1:8080/health"

[load]
arrival_rate = 50
max_vus = 200
pre_allocated_vus = 10

[[stages]]
duration = "2s"
target_rate = 100

[[stages]]
duration = "1s"
target_rate = 0
"#;

    fn lower(name: &str, text: &str) -> (Ir, kaioken_vm::Program) {
        let ir = kaioken_compiler::lower(&Input {
            config: Some(ConfigFile {
                name: name.to_owned(),
                text: text.to_owned(),
            }),
            env: BTreeMap::new(),
            ..Input::default()
        })
        .unwrap();
        let program = kaioken_compiler::compile(&ir).unwrap();
        (ir, program)
    }

    fn histogram(values_us: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &v in values_us {
            h.record(v).unwrap();
        }
        h
    }

    fn second(requests: u64, errors: u64, latency_sum_us: u64) -> kaioken_runtime::Second {
        kaioken_runtime::Second {
            requests,
            responses: requests - errors,
            errors,
            unexpected: errors,
            latency_sum_us,
            latency_max_us: latency_sum_us / requests.max(1) * 3,
            started: requests,
            dropped: errors / 2,
            vus: 7,
            latency_p50_us: latency_sum_us / requests.max(1),
            latency_p90_us: latency_sum_us / requests.max(1) * 2,
            latency_p99_us: latency_sum_us / requests.max(1) * 3,
            bytes_in: requests * 150,
            messages_sent: 0,
            messages_received: 0,
        }
    }

    fn stats(latency: Histogram<u64>) -> RunStats {
        RunStats {
            latency_uncorrected: latency.clone(),
            latency,
            engine: kaioken_runtime::Engine::IoUring,
            ..RunStats::default()
        }
    }

    /// The closed-model fixture, thresholds evaluated.
    pub(crate) fn closed_report() -> Report {
        let (ir, program) = lower("fixture.toml", CLOSED);
        let browse = histogram(&[120, 340, 341, 900, 1_500, 2_700]);
        let order = histogram(&[800, 1_200, 45_000]);
        let mut all = browse.clone();
        all.add(&order).unwrap();
        let mut stats = stats(all);
        stats.status = vec![
            (Status::Http(200), 5),
            (Status::Http(201), 2),
            (Status::Grpc(14), 1),
        ];
        stats.counts = Counts {
            responses: 8,
            bytes_in: 12_345,
            bytes_out: 2_048,
            warmup_requests: 3,
            unfinished: 1,
            started: 7,
            // The gRPC 14: not `OK`.
            unexpected: 1,
            reconnects: 2,
            ..Counts::default()
        };
        stats.counts.errors[ErrorKind::Timeout as usize] = 1;
        stats.error_details[ErrorKind::Timeout as usize] = Some("no response within 5s".into());
        stats.timeline = vec![second(4, 0, 2_000), second(5, 1, 49_000)];
        stats.timeline_status = vec![
            vec![(Status::Http(200), 4)],
            vec![(Status::Http(200), 3), (Status::Grpc(14), 1)],
        ];
        stats.max_vus = 20;
        stats.checks = vec![[7, 1], [5, 0]];
        stats.extractions = vec![[5, 1]];
        stats.scenarios = vec![
            ScenarioStats {
                latency_max_us: browse.max(),
                latency: browse,
                requests: 6,
                errors: 0,
                unexpected: 0,
            },
            ScenarioStats {
                latency_max_us: order.max(),
                latency: order,
                requests: 3,
                errors: 1,
                unexpected: 1,
            },
        ];
        // One step per scenario: the steps' results are the scenarios'.
        stats.steps = stats
            .scenarios
            .iter()
            .zip([[0, 6, 0, 0, 0, 0], [0, 1, 0, 0, 0, 1]])
            .map(|(s, status_classes)| StepStats {
                totals: s.clone(),
                status_classes,
            })
            .collect();
        stats.elapsed = Duration::from_millis(9_870);
        let end = RunEnd {
            reason: StopReason::Duration,
            interrupted: false,
            exit_code: 0,
            started_at_unix_ms: 1_764_262_800_000,
        };
        let mut report = Report::new(
            &ir,
            &program,
            &stats,
            &end,
            &kaioken_compiler::Redact::default(),
        );
        report.evaluate_thresholds(&ir);
        report
    }

    /// The open-model fixture: interrupted, mostly failed.
    pub(crate) fn open_report() -> Report {
        let (ir, program) = lower("open.toml", OPEN);
        let mut stats = stats(histogram(&[2_000, 3_000, 250_000, 1_200_000]));
        stats.latency_uncorrected = histogram(&[1_000, 1_500, 40_000, 900_000]);
        stats.schedule_lag = histogram(&[10, 25, 800, 200_000]);
        stats.engine = kaioken_runtime::Engine::Tokio;
        stats.status = vec![(Status::Http(503), 1), (Status::Ws(1000), 1)];
        stats.counts = Counts {
            responses: 2,
            bytes_in: 300,
            bytes_out: 400,
            started: 5,
            dropped: 2,
            // The 503.
            unexpected: 1,
            ..Counts::default()
        };
        stats.counts.errors[ErrorKind::ConnectRefused as usize] = 2;
        stats.counts.errors[ErrorKind::Reset as usize] = 1;
        stats.error_details[ErrorKind::ConnectRefused as usize] =
            Some("connecting to 127.0.0.1:8080: Connection refused (os error 111)".into());
        stats.timeline = vec![
            second(3, 2, 1_205_000),
            second(0, 0, 0),
            second(2, 1, 250_000),
        ];
        stats.max_vus = 4;
        stats.elapsed = Duration::from_millis(1_500);
        let end = RunEnd {
            reason: StopReason::Interrupted,
            interrupted: true,
            exit_code: 130,
            started_at_unix_ms: 1_764_262_900_000,
        };
        Report::new(
            &ir,
            &program,
            &stats,
            &end,
            &kaioken_compiler::Redact::default(),
        )
    }

    /// The closed-model fixture with a WebSocket and a gRPC section, and messages
    /// counted per second, for the report formats that show them.
    pub(crate) fn messages_report() -> Report {
        let mut report = closed_report();
        let ms = |p50: f64| Latency {
            min: Some(p50 / 2.0),
            mean: Some(p50 * 1.2),
            stdev: Some(p50 / 4.0),
            p50: Some(p50),
            p75: Some(p50 * 1.5),
            p90: Some(p50 * 2.0),
            p95: Some(p50 * 2.5),
            p99: Some(p50 * 4.0),
            p99_9: Some(p50 * 6.0),
            max: Some(p50 * 8.0),
        };
        for (s, (sent, received)) in report.timeline.iter_mut().zip([(1_200, 1_190), (980, 975)]) {
            s.messages_sent = Some(sent);
            s.messages_received = Some(received);
        }
        report.websocket = Some(WebSocketJson {
            connections: WsConnectionsJson {
                opened: 10,
                failed: 1,
                closed_by_peer: 2,
            },
            handshake_ms: ms(0.41),
            rtt_ms: ms(0.35),
            messages: WsMessagesJson {
                sent: 1_700,
                received: 1_690,
                sent_per_s: 172.24,
                received_per_s: 171.23,
            },
            bytes: WsBytesJson {
                sent: 54_400,
                received: 54_080,
            },
            close_codes: BTreeMap::from([("1000".to_owned(), 1_688), ("1011".to_owned(), 2)]),
        });
        report.grpc = Some(GrpcJson {
            calls: 400,
            statuses: BTreeMap::from([("NOT_FOUND".to_owned(), 100), ("OK".to_owned(), 300)]),
            messages_sent: 480,
            messages_received: 475,
            bytes_sent: 1_200,
            bytes_received: 9_000,
            connections_opened: 4,
            connections_failed: 0,
            connections_closed_by_server: 1,
            connect_ms: ms(0.2),
            streams: StreamsJson {
                count: 100,
                // As a report of an older version has it.
                messages: None,
                messages_mean: Some(1.75),
                messages_max: Some(5),
                first_message_ms: ms(0.8),
            },
        });
        report
    }

    /// The report as JSON, with the histogram checked against `latency` and its bytes
    /// left out (they depend on the deflate implementation, not on this file).
    fn json(report: &Report, latency: &Histogram<u64>) -> String {
        let back = kaioken_report::hdr::decode(&report.histogram.data).unwrap();
        assert_eq!(&back, latency);
        let mut shown = report.clone();
        shown.histogram.data = "<checked above>".to_owned();
        // The other histograms by their number of values (their sections' own
        // statistics, in the snapshot, come from the same histograms).
        for data in shown.histograms.values_mut() {
            let h = kaioken_report::hdr::decode(data).unwrap();
            *data = format!("<{} values>", h.len());
        }
        serde_json::to_string_pretty(&shown).unwrap()
    }

    /// A failure in the warm-up leaves a first message but no count: the report does
    /// not list a class that did not occur in the measured window.
    #[test]
    fn error_details_only_for_counted_classes() {
        let mut stats = stats(histogram(&[1_000]));
        stats.error_details[ErrorKind::Reset as usize] = Some("reset in the warm-up".into());
        stats.error_details[ErrorKind::Timeout as usize] = Some("no response".into());
        stats.counts.errors[ErrorKind::Timeout as usize] = 2;
        let details = error_details(&stats, &Redact::default());
        assert_eq!(
            details.keys().map(String::as_str).collect::<Vec<_>>(),
            ["timeout"]
        );
    }

    /// The same scenario gives the same fingerprint, wherever it is read from; a
    /// different body, URL, load or threshold another; a secret's value none of it.
    #[test]
    fn fingerprints_tell_scenarios_apart() {
        let of = |name: &str, text: &str| {
            let (ir, program) = lower(name, text);
            fingerprint(&ir, &program, &Redact::default())
        };
        let same = of("fixture.toml", CLOSED);
        assert_eq!(same.len(), 64);
        assert_eq!(of("elsewhere/fixture.toml", CLOSED), same);
        for (from, to) in [
            ("body = \"{}\"", "body = \"{\\\"a\\\": 1}\""),
            ("/orders", "/orders/new"),
            ("vus = 20", "vus = 21"),
            ("rate = 500", "rate = 600"),
            ("p95 = \"< 2ms\"", "p95 = \"< 3ms\""),
        ] {
            assert!(CLOSED.contains(from), "{from}");
            assert_ne!(of("fixture.toml", &CLOSED.replace(from, to)), same, "{to}");
        }
        // A secret header's value is hidden before hashing: another value, the same
        // fingerprint.
        let secret = |token: &str| {
            CLOSED.replace(
                "method = \"POST\"",
                &format!("method = \"POST\"\nheaders = {{ Authorization = \"Bearer {token}\" }}"),
            )
        };
        assert_eq!(
            of("fixture.toml", &secret("one")),
            of("fixture.toml", &secret("two"))
        );
    }

    /// A capped run short of its cap says what to raise: `-c`, or with stages (which
    /// `-c` only starts), the stages' targets.
    #[test]
    fn a_shortfall_under_the_cap_names_what_to_raise() {
        let it = Iterations {
            started: 900,
            dropped: 0,
            target_rate: Some(200.0),
            achieved_rate: 180.0,
            window_s: 5.0,
        };
        let said = |staged| {
            let cap = Cap {
                cap: 200.0,
                achieved: 180.0,
                staged,
            };
            load_warnings(&it, StopReason::Duration, Some(cap))
        };
        assert_eq!(
            said(false),
            [
                "achieved 180.0 requests/s, 10.0% below the -r cap of 200/s: the VUs could not keep up; raise -c"
            ]
        );
        assert_eq!(
            said(true),
            [
                "achieved 180.0 requests/s, 10.0% below the -r cap of 200/s: the VUs could not keep up; the stages' VUs set the rate while they were few: raise their `target`s"
            ]
        );
    }

    /// Requests cut off at the end after seconds in which none finished: the target
    /// stopped answering, which "0 failed" alone would not say.
    #[test]
    fn a_target_that_stopped_answering_is_warned_of() {
        let mut report = closed_report();
        assert_eq!(report.timeline.len(), 2);
        (report.requests.unfinished, report.elapsed_s) = (2, 5.0);
        assert_eq!(
            report.stalled().as_deref(),
            Some(
                "no request finished in the last 3.0s of the run (from second 2), and 2 requests were cut off at the end: the target stopped answering"
            )
        );
        report.elapsed_s = 3.5;
        assert_eq!(report.stalled(), None);
        // A target whose responses take seconds is slow, not gone.
        report.elapsed_s = 5.0;
        report.latency_ms.max = Some(1_600.0);
        assert_eq!(report.stalled(), None);
        (report.requests.unfinished, report.elapsed_s) = (0, 5.0);
        assert_eq!(report.stalled(), None);
    }

    #[test]
    fn closed_model_report() {
        let report = closed_report();
        let mut latency = histogram(&[120, 340, 341, 900, 1_500, 2_700]);
        latency.add(histogram(&[800, 1_200, 45_000])).unwrap();
        insta::assert_snapshot!(json(&report, &latency));
    }

    #[test]
    fn open_model_report() {
        let report = open_report();
        let latency = histogram(&[2_000, 3_000, 250_000, 1_200_000]);
        insta::assert_snapshot!(json(&report, &latency));
    }

    /// A saved report reads back to the same report: every format renders the
    /// same from it as from the run's own.
    #[test]
    fn saved_report_reads_back_the_same() {
        for report in [closed_report(), open_report()] {
            let text = serde_json::to_string_pretty(&report).unwrap();
            let back = Report::parse(&text).unwrap();
            assert_eq!(serde_json::to_string_pretty(&back).unwrap(), text);
        }
    }

    #[test]
    fn bad_saved_reports_say_what_is_wrong() {
        let text = serde_json::to_string(&closed_report()).unwrap();
        let err = |t: &str| Report::parse(t).unwrap_err();
        assert!(
            err(&text[..text.len() / 2]).starts_with("the JSON ends early (EOF while parsing"),
            "{}",
            err(&text[..text.len() / 2])
        );
        assert!(err(&text[..text.len() / 2]).ends_with("the file is truncated"));
        assert_eq!(
            err(r#"{"name": "package.json"}"#),
            r#"not a kaioken report: no `schema` field (a run report has `"schema": "kaioken.run/v1"`)"#
        );
        assert_eq!(
            err(&text.replace("kaioken.run/v1", "kaioken.run/v2")),
            format!(
                "it is a `kaioken.run/v2` report, written by a newer kaioken; this kaioken ({}) reads `kaioken.run/v1`",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(
            err(r#"{"schema": "kaioken.run/v1"}"#),
            "not a complete `kaioken.run/v1` report: missing field `kaioken_version`"
        );
        assert!(err("<html>").starts_with("not JSON: expected value at line 1 column 1"));
        let mut garbled = closed_report();
        garbled.histogram.data = "AAAA".to_owned();
        assert_eq!(
            err(&serde_json::to_string(&garbled).unwrap()),
            "not a complete `kaioken.run/v1` report: `histogram.data` is not a histogram kaioken wrote"
        );
    }
}
