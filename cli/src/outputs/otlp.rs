//! OpenTelemetry (`-o otlp=http://HOST:4318`): the latest metrics and the sampled
//! requests' spans as OTLP/HTTP protobuf.
//!
//! ```text
//!   Metrics ─► Otlp::requests ─► ExportMetricsServiceRequest ─► POST /v1/metrics
//!   Spans   ─┘                 └► ExportTraceServiceRequest  ─► POST /v1/traces
//!                                  (only when there are spans)
//! ```
//!
//! Metrics: counters are cumulative monotonic sums since the run's start, gauges
//! gauges, the latency histogram an explicit-bounds histogram; named as the
//! families without `_total` (OTLP names carry no Prometheus suffix), under a
//! resource `service.name=kaioken` with the run's tags. Spans: one CLIENT span a
//! sampled request, with the ids its `traceparent` header carried, so the server's
//! own spans hang under it.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as pt;
use prost::Message;

use super::metrics::{BUCKETS, Kind, Metrics, Value};
use super::push::{Push, PushRequest, basic_auth, http_url, take_credentials};
use kaioken_runtime::Span;
use kaioken_vm::Status;

const EXAMPLE: &str = "http://HOST:4318 (the receiver's base address)";

/// What a span names of the step its request belongs to (`Span::step` indexes a
/// list of these).
#[derive(Debug, Clone, PartialEq)]
pub struct StepNames {
    /// The step's name, as the report has it.
    pub name: String,
    /// The request's method (`GET`, …).
    pub method: String,
    /// The URL as the script writes it, before templates are filled in: no
    /// secrets, and one value for all the requests of a step.
    pub url: String,
}

/// The OTLP encoder.
#[derive(Debug)]
pub struct Otlp {
    metrics_url: String,
    traces_url: String,
    authorization: Option<String>,
    start_unix_ns: u64,
    tags: Vec<(String, String)>,
    resource: Resource,
    steps: Vec<StepNames>,
}

impl Otlp {
    /// The output for `address`, the receiver's base URL (`/v1/metrics` and
    /// `/v1/traces` are added; a `user:password` in it is sent as HTTP basic
    /// authentication). `start_unix_ns` is when the run started (the counters'
    /// start), `tags` the run's labels (resource attributes), `steps` the names of
    /// the program's steps, by index.
    pub fn new(
        address: &str,
        start_unix_ns: u64,
        tags: &[(String, String)],
        steps: Vec<StepNames>,
    ) -> Result<Otlp, String> {
        let mut url = http_url("otlp", address, EXAMPLE)?;
        if url.query().is_some() {
            return Err(format!(
                "otlp output: the address has a query; write it as {EXAMPLE}"
            ));
        }
        let authorization = take_credentials(&mut url).map(|(u, p)| basic_auth(&u, &p));
        let base = url.as_str().trim_end_matches('/').to_owned();
        for signal in ["/v1/metrics", "/v1/traces"] {
            if base.ends_with(signal) {
                return Err(format!(
                    "otlp output: the address ends in {signal}, which kaioken adds itself; write it as {EXAMPLE}"
                ));
            }
        }
        let resource = Resource {
            attributes: std::iter::once(("service.name", "kaioken"))
                .chain(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map(|(k, v)| string(k, v))
                .collect(),
            ..Resource::default()
        };
        Ok(Otlp {
            metrics_url: format!("{base}/v1/metrics"),
            traces_url: format!("{base}/v1/traces"),
            authorization,
            start_unix_ns,
            tags: tags.to_vec(),
            resource,
            steps,
        })
    }

    fn request(&self, url: &str, body: Vec<u8>) -> PushRequest {
        let mut headers = vec![("Content-Type", "application/x-protobuf".to_owned())];
        if let Some(authorization) = &self.authorization {
            headers.push(("Authorization", authorization.clone()));
        }
        PushRequest {
            url: url.to_owned(),
            headers,
            body,
        }
    }

    fn scope() -> InstrumentationScope {
        InstrumentationScope {
            name: "kaioken".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..InstrumentationScope::default()
        }
    }

    /// `metrics` as OTLP metrics.
    fn metrics(&self, metrics: &Metrics) -> ExportMetricsServiceRequest {
        let time = metrics.time_unix_ms.saturating_mul(1_000_000);
        let start = self.start_unix_ns;
        let metrics = metrics
            .families
            .iter()
            .map(|family| {
                let attributes = |labels: &[(String, String)]| -> Vec<KeyValue> {
                    // The run's tags are the resource's; the rest are the point's.
                    let own = labels.strip_prefix(self.tags.as_slice()).unwrap_or(labels);
                    own.iter().map(|(k, v)| string(k, v)).collect()
                };
                let number = |value: &Value| match value {
                    Value::Number(n) => Some(*n),
                    Value::Histogram(_) => None,
                };
                // Counters count (whole numbers from the run's start); gauges are a
                // value now.
                let points = |start_time_unix_nano: u64, whole: bool| -> Vec<_> {
                    family
                        .series
                        .iter()
                        .filter_map(|s| {
                            let n = number(&s.value)?;
                            Some(pm::NumberDataPoint {
                                attributes: attributes(&s.labels),
                                start_time_unix_nano,
                                time_unix_nano: time,
                                value: Some(if whole {
                                    pm::number_data_point::Value::AsInt(n as i64)
                                } else {
                                    pm::number_data_point::Value::AsDouble(n)
                                }),
                                ..pm::NumberDataPoint::default()
                            })
                        })
                        .collect()
                };
                let data = match family.kind {
                    Kind::Counter => pm::metric::Data::Sum(pm::Sum {
                        data_points: points(start, true),
                        aggregation_temporality: pm::AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    }),
                    Kind::Gauge => pm::metric::Data::Gauge(pm::Gauge {
                        data_points: points(0, false),
                    }),
                    Kind::Histogram => pm::metric::Data::Histogram(pm::Histogram {
                        data_points: family
                            .series
                            .iter()
                            .filter_map(|s| {
                                let Value::Histogram(h) = &s.value else {
                                    return None;
                                };
                                Some(pm::HistogramDataPoint {
                                    attributes: attributes(&s.labels),
                                    start_time_unix_nano: start,
                                    time_unix_nano: time,
                                    count: h.count,
                                    sum: Some(h.sum),
                                    bucket_counts: per_bucket(&h.cumulative, h.count),
                                    explicit_bounds: BUCKETS.to_vec(),
                                    ..pm::HistogramDataPoint::default()
                                })
                            })
                            .collect(),
                        aggregation_temporality: pm::AggregationTemporality::Cumulative as i32,
                    }),
                };
                pm::Metric {
                    name: family
                        .name
                        .strip_suffix("_total")
                        .unwrap_or(family.name)
                        .to_owned(),
                    description: family.help.to_owned(),
                    unit: unit(family.name).to_owned(),
                    data: Some(data),
                    ..pm::Metric::default()
                }
            })
            .collect();
        ExportMetricsServiceRequest {
            resource_metrics: vec![pm::ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![pm::ScopeMetrics {
                    scope: Some(Otlp::scope()),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// `spans` as OTLP spans.
    fn traces(&self, spans: &[Span]) -> ExportTraceServiceRequest {
        let spans = spans.iter().map(|span| self.span(span)).collect();
        ExportTraceServiceRequest {
            resource_spans: vec![pt::ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![pt::ScopeSpans {
                    scope: Some(Otlp::scope()),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn span(&self, span: &Span) -> pt::Span {
        let step = self.steps.get(span.step as usize);
        let mut attributes = Vec::with_capacity(6 + span.phases_us.len());
        let name = match step {
            Some(step) => {
                attributes.push(string("http.request.method", &step.method));
                attributes.push(string("url.full", &step.url));
                attributes.push(string("kaioken.step", &step.name));
                format!("{} {}", step.method, step.url)
            }
            None => format!("step {}", span.step),
        };
        let failed = match span.status {
            Some(Status::Http(code)) => {
                attributes.push(int("http.response.status_code", i64::from(code)));
                code >= 400
            }
            Some(Status::Grpc(code)) => {
                attributes.push(int("rpc.grpc.status_code", i64::from(code)));
                code != 0
            }
            Some(Status::Ws(code)) => {
                attributes.push(int("kaioken.ws.close_code", i64::from(code)));
                code != 1000
            }
            None => false,
        };
        // As the semantic conventions have it: the error's class, else the failed
        // status's code.
        let error = match (span.error, span.status) {
            (Some(kind), _) => Some(kind.name().to_owned()),
            (None, Some(status)) if failed => Some(status.code().to_string()),
            _ => None,
        };
        if let Some(error) = &error {
            attributes.push(string("error.type", error));
        }
        for (phase, us) in &span.phases_us {
            attributes.push(int(
                &format!("kaioken.phase.{phase}_us"),
                i64::try_from(*us).unwrap_or(i64::MAX),
            ));
        }
        let status = match error {
            Some(message) => pt::Status {
                message,
                code: pt::status::StatusCode::Error as i32,
            },
            None => pt::Status::default(),
        };
        pt::Span {
            trace_id: span.trace_id.to_vec(),
            span_id: span.span_id.to_vec(),
            // The W3C flags the `traceparent` header carried: sampled.
            flags: 1,
            name,
            kind: pt::span::SpanKind::Client as i32,
            start_time_unix_nano: span.start_unix_ns,
            end_time_unix_nano: span.start_unix_ns.saturating_add(span.duration_ns),
            attributes,
            status: Some(status),
            ..pt::Span::default()
        }
    }
}

impl Push for Otlp {
    fn requests(&mut self, metrics: &Metrics, spans: &[Span]) -> Vec<PushRequest> {
        let mut requests =
            vec![self.request(&self.metrics_url, self.metrics(metrics).encode_to_vec())];
        if !spans.is_empty() {
            requests.push(self.request(&self.traces_url, self.traces(spans).encode_to_vec()));
        }
        requests
    }

    fn wants_spans(&self) -> bool {
        true
    }
}

/// A family's unit, in UCUM as OTLP has them, from its name's suffix.
fn unit(name: &str) -> &'static str {
    let name = name.strip_suffix("_total").unwrap_or(name);
    if name.ends_with("_seconds") {
        "s"
    } else if name.ends_with("_bytes") {
        "By"
    } else {
        "1"
    }
}

/// Cumulative bucket counts (each of [`BUCKETS`], then `count` for `+Inf`) as OTLP
/// has them: the observations in each bucket alone, one more than the bounds.
fn per_bucket(cumulative: &[u64], count: u64) -> Vec<u64> {
    let mut below = 0;
    cumulative
        .iter()
        .chain(std::iter::once(&count))
        .map(|&upto| {
            let n = upto.saturating_sub(below);
            below = below.max(upto);
            n
        })
        .collect()
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::metrics::{Buckets, Family, Series};
    use kaioken_runtime::ErrorKind;

    const START: u64 = 1_700_000_000_000_000_000;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn tags() -> Vec<(String, String)> {
        labels(&[("env", "ci")])
    }

    fn steps() -> Vec<StepNames> {
        vec![
            StepNames {
                name: "login".to_owned(),
                method: "POST".to_owned(),
                url: "http://127.0.0.1:8080/login".to_owned(),
            },
            StepNames {
                name: "item".to_owned(),
                method: "GET".to_owned(),
                url: "http://127.0.0.1:8080/items/{{id}}".to_owned(),
            },
        ]
    }

    fn output() -> Otlp {
        Otlp::new("http://127.0.0.1:4318", START, &tags(), steps()).unwrap()
    }

    fn metrics() -> Metrics {
        let with = |extra: &[(&str, &str)]| {
            let mut l = tags();
            l.extend(labels(extra));
            l
        };
        let mut cumulative = vec![0; BUCKETS.len()];
        // 2 under 1 ms, 1 more under 5 ms, 1 under 2.5 s; 1 over 60 s.
        cumulative[1..].fill(2);
        cumulative[3..].fill(3);
        cumulative[11..].fill(4);
        Metrics {
            time_unix_ms: 1_700_000_002_500,
            last: false,
            families: vec![
                Family {
                    name: "kaioken_requests_total",
                    help: "Finished requests.",
                    kind: Kind::Counter,
                    series: vec![
                        Series {
                            labels: with(&[("status", "200")]),
                            value: Value::Number(90.0),
                        },
                        Series {
                            labels: with(&[("status", "error")]),
                            value: Value::Number(3.0),
                        },
                    ],
                },
                Family {
                    name: "kaioken_vus",
                    help: "VUs.",
                    kind: Kind::Gauge,
                    series: vec![Series {
                        labels: with(&[]),
                        value: Value::Number(7.0),
                    }],
                },
                Family {
                    name: "kaioken_data_received_bytes_total",
                    help: "Bytes.",
                    kind: Kind::Counter,
                    series: vec![Series {
                        labels: with(&[]),
                        value: Value::Number(4096.0),
                    }],
                },
                Family {
                    name: "kaioken_request_duration_seconds",
                    help: "Latency.",
                    kind: Kind::Histogram,
                    series: vec![Series {
                        labels: with(&[]),
                        value: Value::Histogram(Buckets {
                            cumulative,
                            count: 5,
                            sum: 63.0,
                        }),
                    }],
                },
            ],
        }
    }

    fn span(step: u32, status: Option<Status>, error: Option<ErrorKind>) -> Span {
        Span {
            trace_id: [0x4b; 16],
            span_id: [7, 6, 5, 4, 3, 2, 1, 0],
            start_unix_ns: START + 1_000,
            duration_ns: 2_500_000,
            step,
            status,
            error,
            phases_us: vec![("connect", 120), ("waiting", 2_000)],
        }
    }

    fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        let found: Vec<_> = attributes.iter().filter(|a| a.key == key).collect();
        assert!(found.len() <= 1, "{key} twice");
        found
            .first()
            .map(|a| a.value.as_ref().unwrap().value.as_ref().unwrap())
    }

    fn text(s: &str) -> any_value::Value {
        any_value::Value::StringValue(s.to_owned())
    }

    fn decode_metrics(request: &PushRequest) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest::decode(request.body.as_slice()).unwrap()
    }

    fn decode_traces(request: &PushRequest) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(request.body.as_slice()).unwrap()
    }

    #[test]
    fn metrics_decode_to_sums_gauges_and_histograms() {
        let mut output = output();
        let requests = output.requests(&metrics(), &[]);
        // No spans: the metrics alone.
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].url, "http://127.0.0.1:4318/v1/metrics");
        assert_eq!(
            requests[0].headers,
            vec![("Content-Type", "application/x-protobuf".to_owned())]
        );
        let decoded = decode_metrics(&requests[0]);
        let [resource_metrics] = decoded.resource_metrics.as_slice() else {
            panic!("{decoded:?}")
        };
        let resource = resource_metrics.resource.as_ref().unwrap();
        assert_eq!(
            attribute(&resource.attributes, "service.name"),
            Some(&text("kaioken"))
        );
        assert_eq!(attribute(&resource.attributes, "env"), Some(&text("ci")));
        let [scope] = resource_metrics.scope_metrics.as_slice() else {
            panic!()
        };
        assert_eq!(scope.scope.as_ref().unwrap().name, "kaioken");
        let names: Vec<(&str, &str)> = scope
            .metrics
            .iter()
            .map(|m| (m.name.as_str(), m.unit.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("kaioken_requests", "1"),
                ("kaioken_vus", "1"),
                ("kaioken_data_received_bytes", "By"),
                ("kaioken_request_duration_seconds", "s"),
            ]
        );

        let Some(pm::metric::Data::Sum(requests)) = &scope.metrics[0].data else {
            panic!("{:?}", scope.metrics[0])
        };
        assert!(requests.is_monotonic);
        assert_eq!(
            requests.aggregation_temporality,
            pm::AggregationTemporality::Cumulative as i32
        );
        assert_eq!(scope.metrics[0].description, "Finished requests.");
        let points: Vec<_> = requests
            .data_points
            .iter()
            .map(|p| {
                assert_eq!(p.start_time_unix_nano, START);
                assert_eq!(p.time_unix_nano, 1_700_000_002_500_000_000);
                // The tags are the resource's, not repeated on each point.
                assert_eq!(attribute(&p.attributes, "env"), None);
                (attribute(&p.attributes, "status").cloned(), p.value)
            })
            .collect();
        assert_eq!(
            points,
            [
                (
                    Some(text("200")),
                    Some(pm::number_data_point::Value::AsInt(90))
                ),
                (
                    Some(text("error")),
                    Some(pm::number_data_point::Value::AsInt(3))
                ),
            ]
        );

        let Some(pm::metric::Data::Gauge(vus)) = &scope.metrics[1].data else {
            panic!()
        };
        assert_eq!(
            vus.data_points[0].value,
            Some(pm::number_data_point::Value::AsDouble(7.0))
        );
        assert!(vus.data_points[0].attributes.is_empty());

        let Some(pm::metric::Data::Histogram(latency)) = &scope.metrics[3].data else {
            panic!()
        };
        assert_eq!(
            latency.aggregation_temporality,
            pm::AggregationTemporality::Cumulative as i32
        );
        let point = &latency.data_points[0];
        assert_eq!(point.start_time_unix_nano, START);
        assert_eq!(point.count, 5);
        assert_eq!(point.sum, Some(63.0));
        assert_eq!(point.explicit_bounds, BUCKETS);
        // Per bucket, not cumulative: one more bucket than bounds, adding to count.
        assert_eq!(
            point.bucket_counts,
            [0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        );
        assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
    }

    #[test]
    fn spans_decode_with_their_ids_names_and_attributes() {
        let mut output = output();
        let spans = [
            span(1, Some(Status::Http(200)), None),
            span(0, Some(Status::Http(503)), None),
            span(1, None, Some(ErrorKind::Timeout)),
            span(0, Some(Status::Grpc(5)), None),
        ];
        let requests = output.requests(&metrics(), &spans);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].url, "http://127.0.0.1:4318/v1/traces");
        let decoded = decode_traces(&requests[1]);
        let resource = decoded.resource_spans[0].resource.as_ref().unwrap();
        assert_eq!(
            attribute(&resource.attributes, "service.name"),
            Some(&text("kaioken"))
        );
        let decoded = &decoded.resource_spans[0].scope_spans[0].spans;
        assert_eq!(decoded.len(), 4);

        let ok = &decoded[0];
        assert_eq!(ok.trace_id, [0x4b; 16]);
        assert_eq!(ok.span_id, [7, 6, 5, 4, 3, 2, 1, 0]);
        assert!(ok.parent_span_id.is_empty());
        assert_eq!(ok.name, "GET http://127.0.0.1:8080/items/{{id}}");
        assert_eq!(ok.kind, pt::span::SpanKind::Client as i32);
        assert_eq!(ok.start_time_unix_nano, START + 1_000);
        assert_eq!(ok.end_time_unix_nano, START + 1_000 + 2_500_000);
        let expect = [
            ("http.request.method", text("GET")),
            ("url.full", text("http://127.0.0.1:8080/items/{{id}}")),
            ("kaioken.step", text("item")),
            ("http.response.status_code", any_value::Value::IntValue(200)),
            ("kaioken.phase.connect_us", any_value::Value::IntValue(120)),
            (
                "kaioken.phase.waiting_us",
                any_value::Value::IntValue(2_000),
            ),
        ];
        assert_eq!(ok.attributes.len(), expect.len());
        for (key, value) in &expect {
            assert_eq!(attribute(&ok.attributes, key), Some(value), "{key}");
        }
        assert_eq!(attribute(&ok.attributes, "error.type"), None);
        assert_eq!(
            ok.status.as_ref().unwrap().code,
            pt::status::StatusCode::Unset as i32
        );

        let failed = &decoded[1];
        assert_eq!(failed.name, "POST http://127.0.0.1:8080/login");
        assert_eq!(
            attribute(&failed.attributes, "http.response.status_code"),
            Some(&any_value::Value::IntValue(503))
        );
        assert_eq!(
            attribute(&failed.attributes, "error.type"),
            Some(&text("503"))
        );
        assert_eq!(
            failed.status.as_ref().unwrap().code,
            pt::status::StatusCode::Error as i32
        );

        let timeout = &decoded[2];
        assert_eq!(
            attribute(&timeout.attributes, "http.response.status_code"),
            None
        );
        assert_eq!(
            attribute(&timeout.attributes, "error.type"),
            Some(&text("timeout"))
        );
        assert_eq!(
            timeout.status,
            Some(pt::Status {
                message: "timeout".to_owned(),
                code: pt::status::StatusCode::Error as i32,
            })
        );

        let grpc = &decoded[3];
        assert_eq!(
            attribute(&grpc.attributes, "rpc.grpc.status_code"),
            Some(&any_value::Value::IntValue(5))
        );
        assert_eq!(
            grpc.status.as_ref().unwrap().code,
            pt::status::StatusCode::Error as i32
        );
    }

    #[test]
    fn the_address_is_the_receivers_base() {
        let output = Otlp::new("http://u:p@127.0.0.1:4318/otel/", START, &[], vec![]).unwrap();
        assert_eq!(output.metrics_url, "http://127.0.0.1:4318/otel/v1/metrics");
        assert_eq!(output.traces_url, "http://127.0.0.1:4318/otel/v1/traces");
        // base64("u:p")
        assert_eq!(output.authorization.as_deref(), Some("Basic dTpw"));
        assert_eq!(
            Otlp::new("http://127.0.0.1:4318/v1/traces", START, &[], vec![]).unwrap_err(),
            format!(
                "otlp output: the address ends in /v1/traces, which kaioken adds itself; write it as {EXAMPLE}"
            )
        );
        assert_eq!(
            Otlp::new("grpc://127.0.0.1:4317", START, &[], vec![]).unwrap_err(),
            format!(
                "otlp output: the address's scheme is `grpc`, not http or https; write it as {EXAMPLE}"
            )
        );
    }

    #[test]
    fn cumulative_buckets_become_per_bucket_counts() {
        assert_eq!(per_bucket(&[1, 1, 4], 6), [1, 0, 3, 2]);
        assert_eq!(per_bucket(&[0, 0, 0], 0), [0, 0, 0, 0]);
    }
}
