//! `-o prometheus=ADDRESS`: `/metrics` in the Prometheus text format (0.0.4), or
//! OpenMetrics 1.0 when the scraper's `Accept` asks for it, served from the outputs
//! thread (outputs/mod.rs) while the run goes and for `--metrics-linger` after it.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::watch;

use super::Counts;
use super::metrics::{BUCKETS, Kind, Metrics, Value};

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Accept scrapers on `listener` until `stopped` changes (or its sender is gone).
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    latest: watch::Receiver<Option<Arc<Metrics>>>,
    counts: Arc<Counts>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stopped.changed() => return,
        };
        let latest = latest.clone();
        let counts = counts.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let answer = answer(&req, latest.borrow().as_deref());
                if answer.status() == StatusCode::OK {
                    counts.exports.fetch_add(1, Ordering::Relaxed);
                }
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

/// The answer to one request: the metrics on `GET /metrics`, else a 404 or 405.
fn answer(req: &Request<Incoming>, metrics: Option<&Metrics>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if req.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "kaioken serves /metrics\n".into(),
        );
    }
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET /metrics\n".into(),
        );
    }
    let openmetrics = req
        .headers()
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let empty;
    let metrics = match metrics {
        Some(m) => m,
        None => {
            empty = Metrics {
                time_unix_ms: 0,
                last: false,
                families: Vec::new(),
            };
            &empty
        }
    };
    if openmetrics {
        reply(StatusCode::OK, OPENMETRICS, render(metrics, true))
    } else {
        reply(StatusCode::OK, TEXT, render(metrics, false))
    }
}

/// The exposition of `metrics`: the text format, or OpenMetrics (`# EOF`-terminated,
/// counters' families named without `_total`, `_info` gauges as `info`).
pub fn render(metrics: &Metrics, openmetrics: bool) -> String {
    let mut out = String::with_capacity(4096);
    for family in &metrics.families {
        let (declared, kind) = match family.kind {
            Kind::Counter if openmetrics => (
                family.name.strip_suffix("_total").unwrap_or(family.name),
                "counter",
            ),
            Kind::Counter => (family.name, "counter"),
            Kind::Gauge if openmetrics && family.name.ends_with("_info") => (
                family.name.strip_suffix("_info").unwrap_or(family.name),
                "info",
            ),
            Kind::Gauge => (family.name, "gauge"),
            Kind::Histogram => (family.name, "histogram"),
        };
        let _ = writeln!(out, "# HELP {declared} {}", escape_help(family.help));
        let _ = writeln!(out, "# TYPE {declared} {kind}");
        for series in &family.series {
            match &series.value {
                Value::Number(n) => {
                    sample(&mut out, family.name, &series.labels, None, *n);
                }
                Value::Histogram(h) => {
                    let name = format!("{}_bucket", family.name);
                    for (le, count) in BUCKETS.iter().zip(&h.cumulative) {
                        let le = format_number(*le);
                        sample(&mut out, &name, &series.labels, Some(&le), *count as f64);
                    }
                    sample(
                        &mut out,
                        &name,
                        &series.labels,
                        Some("+Inf"),
                        h.count as f64,
                    );
                    let sum = format!("{}_sum", family.name);
                    sample(&mut out, &sum, &series.labels, None, h.sum);
                    let count = format!("{}_count", family.name);
                    sample(&mut out, &count, &series.labels, None, h.count as f64);
                }
            }
        }
    }
    if openmetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// One sample line: `name{labels,le="…"} value`.
fn sample(out: &mut String, name: &str, labels: &[(String, String)], le: Option<&str>, value: f64) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        let extra = le.map(|le| ("le", le));
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra)
        {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", format_number(value));
}

/// A number as both formats write it: integers without a fraction, `+Inf`, `NaN`.
fn format_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::metrics::{Buckets, Family, Series};

    fn metrics() -> Metrics {
        let labels = vec![("env".to_owned(), "c\"i".to_owned())];
        Metrics {
            time_unix_ms: 0,
            last: true,
            families: vec![
                Family {
                    name: "kaioken_run_info",
                    help: "The run.",
                    kind: Kind::Gauge,
                    series: vec![Series {
                        labels: labels.clone(),
                        value: Value::Number(1.0),
                    }],
                },
                Family {
                    name: "kaioken_requests_total",
                    help: "Finished requests.",
                    kind: Kind::Counter,
                    series: vec![Series {
                        labels: vec![
                            ("env".to_owned(), "c\"i".to_owned()),
                            ("status".to_owned(), "200".to_owned()),
                        ],
                        value: Value::Number(97.0),
                    }],
                },
                Family {
                    name: "kaioken_request_duration_seconds",
                    help: "Latency.",
                    kind: Kind::Histogram,
                    series: vec![Series {
                        labels,
                        value: Value::Histogram(Buckets {
                            cumulative: vec![1; BUCKETS.len()],
                            count: 2,
                            sum: 0.5,
                        }),
                    }],
                },
            ],
        }
    }

    #[test]
    fn text_format() {
        let text = render(&metrics(), false);
        assert!(
            text.contains("# TYPE kaioken_requests_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("kaioken_requests_total{env=\"c\\\"i\",status=\"200\"} 97\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE kaioken_run_info gauge\n"), "{text}");
        assert!(
            text.contains(
                "kaioken_request_duration_seconds_bucket{env=\"c\\\"i\",le=\"0.0005\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "kaioken_request_duration_seconds_bucket{env=\"c\\\"i\",le=\"+Inf\"} 2\n"
            ),
            "{text}"
        );
        assert!(text.contains("kaioken_request_duration_seconds_sum{env=\"c\\\"i\"} 0.5\n"));
        assert!(text.contains("kaioken_request_duration_seconds_count{env=\"c\\\"i\"} 2\n"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn openmetrics_names_families_without_suffixes() {
        let text = render(&metrics(), true);
        assert!(text.contains("# TYPE kaioken_requests counter\n"), "{text}");
        assert!(text.contains("kaioken_requests_total{"), "{text}");
        assert!(text.contains("# TYPE kaioken_run info\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
