//! The metrics every streaming output exports, taken from one live snapshot.
//!
//! ```text
//!   runtime::Snapshot (controller thread, 4 a second)
//!        └─► Metrics::of (outputs thread) ─► Prometheus text · remote write ·
//!                                            InfluxDB lines · OTLP metrics
//! ```
//!
//! One neutral model, so every system sees the same numbers under the names its
//! conventions want: counters are cumulative over the measured window (the report's
//! totals once the run is over), gauges are the value now, the latency histogram has
//! fixed buckets in seconds. Every series carries the run's labels (`--tag`).

use kaioken_runtime::{ErrorKind, Snapshot};

/// The latency buckets' upper bounds, seconds (`+Inf` is implied).
pub const BUCKETS: [f64; 16] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// What a family measures, as every system tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows during a run (`_total`).
    Counter,
    /// A value now.
    Gauge,
    /// Counts of observations under each of [`BUCKETS`], their sum and count.
    Histogram,
}

/// A histogram's value: cumulative bucket counts as [`BUCKETS`] has them, then the
/// count and sum of all observations.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// Observations at or under each of [`BUCKETS`], in order.
    pub cumulative: Vec<u64>,
    /// All observations (the `+Inf` bucket).
    pub count: u64,
    /// Their sum, in seconds (from the histogram's recorded values, to its
    /// precision of three significant digits).
    pub sum: f64,
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's or gauge's.
    Number(f64),
    /// A histogram's.
    Histogram(Buckets),
}

/// One series: its labels (the run's labels first) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    pub value: Value,
}

/// A metric: its name (Prometheus style, `kaioken_…`; counters end in `_total`), a
/// line of help, its kind and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub series: Vec<Series>,
}

/// All the metrics of one moment of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// When the snapshot was taken, milliseconds since the Unix epoch.
    pub time_unix_ms: u64,
    /// Whether this is the run's last snapshot: the counters are the report's.
    pub last: bool,
    pub families: Vec<Family>,
}

/// What the metrics name that a snapshot does not carry: the run's labels and the
/// names of its checks and scenarios.
#[derive(Debug, Clone, Default)]
pub struct RunLabels {
    /// `--tag key=value` and `[outputs] tags`, on every series.
    pub tags: Vec<(String, String)>,
    /// On `kaioken_run_info` only: the target, the load plan, kaioken's version.
    pub info: Vec<(String, String)>,
    /// The checks' names, by id.
    pub checks: Vec<String>,
    /// The scenarios' names, by index.
    pub scenarios: Vec<String>,
}

impl Metrics {
    /// The metrics of `snapshot`, taken at `time_unix_ms`.
    pub fn of(snapshot: &Snapshot, labels: &RunLabels, time_unix_ms: u64) -> Metrics {
        let stats = &snapshot.total;
        let with = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
            labels
                .tags
                .iter()
                .cloned()
                .chain(
                    extra
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                )
                .collect()
        };
        let number = |extra: &[(&str, &str)], value: f64| Series {
            labels: with(extra),
            value: Value::Number(value),
        };
        let counter = |name, help, value: u64| Family {
            name,
            help,
            kind: Kind::Counter,
            series: vec![number(&[], value as f64)],
        };
        let gauge = |name, help, value: f64| Family {
            name,
            help,
            kind: Kind::Gauge,
            series: vec![number(&[], value)],
        };

        let mut requests: Vec<Series> = stats
            .status
            .iter()
            .map(|(status, n)| number(&[("status", &status.to_string())], *n as f64))
            .collect();
        let errors = stats.error_count();
        if errors > 0 {
            requests.push(number(&[("status", "error")], errors as f64));
        }
        let mut families = vec![
            Family {
                name: "kaioken_run_info",
                help: "The run: its target, load plan and kaioken's version (always 1).",
                kind: Kind::Gauge,
                series: vec![Series {
                    labels: labels.tags.iter().chain(&labels.info).cloned().collect(),
                    value: Value::Number(1.0),
                }],
            },
            Family {
                name: "kaioken_requests_total",
                help: "Finished requests by status; status=\"error\" for those without a response.",
                kind: Kind::Counter,
                series: requests,
            },
            Family {
                name: "kaioken_errors_total",
                help: "Requests without a response, by error class.",
                kind: Kind::Counter,
                series: ErrorKind::ALL
                    .into_iter()
                    .zip(stats.counts.errors)
                    .map(|(kind, n)| number(&[("class", kind.name())], n as f64))
                    .collect(),
            },
            counter(
                "kaioken_failed_requests_total",
                "Failed requests: errors, and responses with a status their step did not expect.",
                stats.failed(),
            ),
            Family {
                name: "kaioken_request_duration_seconds",
                help: "Latency of the responses (corrected for coordinated omission in the open model).",
                kind: Kind::Histogram,
                series: vec![Series {
                    labels: with(&[]),
                    value: Value::Histogram(buckets(&stats.latency)),
                }],
            },
            gauge("kaioken_vus", "VUs active now.", stats.active_vus as f64),
            gauge(
                "kaioken_vus_max",
                "The most VUs active at once so far.",
                stats.max_vus as f64,
            ),
            counter(
                "kaioken_iterations_total",
                "Iterations started.",
                stats.counts.started,
            ),
            counter(
                "kaioken_dropped_iterations_total",
                "Iterations the open model could not start in time.",
                stats.counts.dropped,
            ),
            counter(
                "kaioken_data_received_bytes_total",
                "Response bytes read, head and body.",
                stats.counts.bytes_in,
            ),
            counter(
                "kaioken_data_sent_bytes_total",
                "Request bytes written.",
                stats.counts.bytes_out,
            ),
        ];
        if let Some(level) = snapshot.level {
            families.push(gauge(
                "kaioken_target_level",
                "What the load plan asks for now: VUs, or iterations per second in the open model.",
                level,
            ));
        }
        if !stats.checks.is_empty() {
            let mut series = Vec::with_capacity(stats.checks.len() * 2);
            for (i, [pass, fail]) in stats.checks.iter().enumerate() {
                let name = labels.checks.get(i).map_or("", String::as_str);
                series.push(number(&[("check", name), ("result", "pass")], *pass as f64));
                series.push(number(&[("check", name), ("result", "fail")], *fail as f64));
            }
            families.push(Family {
                name: "kaioken_checks_total",
                help: "Checks run, by check and result.",
                kind: Kind::Counter,
                series,
            });
        }
        if stats.scenarios.len() > 1 {
            let mut requests = Vec::new();
            let mut latency = Vec::new();
            for (i, s) in stats.scenarios.iter().enumerate() {
                let name = labels.scenarios.get(i).map_or("", String::as_str);
                requests.push(number(&[("scenario", name)], s.requests as f64));
                latency.push(Series {
                    labels: with(&[("scenario", name)]),
                    value: Value::Histogram(buckets(&s.latency)),
                });
            }
            families.push(Family {
                name: "kaioken_scenario_requests_total",
                help: "Finished requests, by scenario.",
                kind: Kind::Counter,
                series: requests,
            });
            families.push(Family {
                name: "kaioken_scenario_request_duration_seconds",
                help: "Latency of the responses, by scenario.",
                kind: Kind::Histogram,
                series: latency,
            });
        }
        let mut messages = Vec::new();
        for (protocol, m) in ["websocket", "grpc"].iter().zip(&stats.messages) {
            if let Some(m) = m {
                messages.push(number(
                    &[("protocol", protocol), ("direction", "sent")],
                    m.sent as f64,
                ));
                messages.push(number(
                    &[("protocol", protocol), ("direction", "received")],
                    m.received as f64,
                ));
            }
        }
        if !messages.is_empty() {
            families.push(Family {
                name: "kaioken_messages_total",
                help: "WebSocket messages and gRPC messages, by direction.",
                kind: Kind::Counter,
                series: messages,
            });
        }
        Metrics {
            time_unix_ms,
            last: snapshot.last,
            families,
        }
    }

    /// The family named `name`.
    #[cfg(test)]
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }
}

/// A latency histogram (µs) in [`BUCKETS`], in one pass over its recorded values.
fn buckets(latency: &hdrhistogram::Histogram<u64>) -> Buckets {
    let bounds = BUCKETS.map(|le| (le * 1e6) as u64);
    let mut cumulative = vec![0u64; BUCKETS.len()];
    let mut sum = 0.0;
    let mut first = 0;
    for v in latency.iter_recorded() {
        // As Prometheus counts: an observation is in every bucket whose bound it
        // does not exceed (its value as the histogram stores it).
        let value = latency.highest_equivalent(v.value_iterated_to());
        let n = v.count_at_value();
        sum += value as f64 * n as f64;
        while first < bounds.len() && value > bounds[first] {
            first += 1;
        }
        if first < bounds.len() {
            cumulative[first] += n;
        }
    }
    for i in 1..cumulative.len() {
        cumulative[i] += cumulative[i - 1];
    }
    Buckets {
        cumulative,
        count: latency.len(),
        sum: sum / 1e6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaioken_runtime::{Interval, RunStats};
    use kaioken_vm::Status;
    use std::time::Duration;

    fn snapshot(stats: RunStats) -> Snapshot {
        let mut latency = stats.latency.clone();
        latency.reset();
        Snapshot {
            elapsed: Duration::from_secs(2),
            warming_up: false,
            planned: None,
            max_requests: None,
            level: None,
            total: stats,
            interval: Interval {
                length: Duration::from_millis(250),
                requests: 0,
                responses: 0,
                errors: 0,
                latency,
                messages: [[0; 2]; 2],
            },
            last: true,
            spans: Vec::new(),
            spans_dropped: 0,
        }
    }

    #[test]
    fn requests_add_up_to_the_reports_total() {
        let mut stats = RunStats {
            status: vec![(Status::Http(200), 90), (Status::Http(503), 7)],
            ..RunStats::default()
        };
        stats.counts.responses = 97;
        stats.counts.errors[0] = 3;
        for v in [300, 800, 4_000, 40_000, 2_000_000] {
            stats.latency.record(v).unwrap();
        }
        let labels = RunLabels {
            tags: vec![("env".into(), "ci".into())],
            ..RunLabels::default()
        };
        let m = Metrics::of(&snapshot(stats.clone()), &labels, 0);
        let requests = m.family("kaioken_requests_total").unwrap();
        let sum: f64 = requests
            .series
            .iter()
            .map(|s| match s.value {
                Value::Number(n) => n,
                Value::Histogram(_) => unreachable!(),
            })
            .sum();
        // What the report calls the total.
        assert_eq!(sum as u64, stats.total());
        assert!(
            requests
                .series
                .iter()
                .all(|s| s.labels[0] == ("env".to_owned(), "ci".to_owned()))
        );
        let Value::Histogram(h) =
            &m.family("kaioken_request_duration_seconds").unwrap().series[0].value
        else {
            panic!("not a histogram")
        };
        assert_eq!(h.count, 5);
        // 300 µs and 800 µs are under 1 ms; 4 ms under 5 ms; 2 s under 2.5 s.
        assert_eq!(h.cumulative[0], 1);
        assert_eq!(h.cumulative[1], 2);
        assert_eq!(h.cumulative[3], 3);
        assert_eq!(h.cumulative[10], 4);
        assert_eq!(h.cumulative[11], 5);
        assert!((h.sum - 2.045_1).abs() < 0.01, "{}", h.sum);
    }
}
