//! An OTLP/HTTP receiver on loopback, started per test: what `-o otlp=http://…`
//! posts metrics and spans to. No collector is packaged, so it is a small Python
//! server ([`otlp_receiver.py`](otlp_receiver.py)) that decodes each request with the
//! official `opentelemetry-proto` messages and logs it as one JSON line, which
//! [`OtlpReceiver::requests`] reads back.
//!
//! [`OtlpReceiver::start_stalling`] gives a receiver that takes every request and
//! answers only after a delay: a collector that has stopped keeping up.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::httpbin::{interpreter, stop};
use crate::nginx::free_port;

const RECEIVER: &str = include_str!("otlp_receiver.py");

/// The log the receiver appends to, in its directory.
const LOG: &str = "requests.jsonl";

/// A running receiver; stopped on drop.
pub struct OtlpReceiver {
    dir: TempDir,
    child: Child,
    port: u16,
}

impl OtlpReceiver {
    /// A receiver that answers every request at once.
    pub fn start() -> OtlpReceiver {
        OtlpReceiver::start_with(Duration::ZERO)
    }

    /// A receiver that logs every request when it arrives and answers it only after
    /// `stall`.
    pub fn start_stalling(stall: Duration) -> OtlpReceiver {
        OtlpReceiver::start_with(stall)
    }

    fn start_with(stall: Duration) -> OtlpReceiver {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let script = dir.path().join("otlp_receiver.py");
        std::fs::write(&script, RECEIVER).expect("write otlp_receiver.py");
        let mut last_error = String::new();
        // A port picked by binding :0 and closing can be taken before the receiver
        // binds it; then it exits, and we try another.
        for _ in 0..5 {
            let port = free_port();
            let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
            let mut child = Command::new(interpreter())
                .arg(&script)
                .arg(port.to_string())
                .arg(dir.path().join(LOG))
                .arg(stall.as_secs_f64().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(stderr))
                .spawn()
                .expect("start the OTLP receiver");
            let ready = dir.path().join(format!("{LOG}.ready"));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if ready.exists() {
                    return OtlpReceiver { dir, child, port };
                }
                let log =
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                if log.contains("No module named") {
                    stop(&mut child);
                    panic!(
                        "opentelemetry-proto is not installed: run scripts/test.sh, which \
                         installs it\n{log}"
                    );
                }
                if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                    stop(&mut child);
                    last_error = log;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("the OTLP receiver did not start:\n{last_error}");
    }

    /// `http://127.0.0.1:PORT`, the base URL `-o otlp=` takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request received so far, in order, once the log has settled: objects
    /// with `path`, `content_type`, `content_encoding`, `body` (the decoded request,
    /// as protobuf's JSON mapping, ids in hex) and `error` (why it did not decode).
    pub fn requests(&self) -> Vec<Value> {
        crate::harness::settled(&self.dir.path().join(LOG))
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("receiver log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// The decoded bodies of the requests to `path` (`/v1/metrics`, `/v1/traces`);
    /// panics, with the log, if any request there did not decode.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        let requests = self.requests();
        requests
            .iter()
            .filter(|r| r["path"] == path)
            .map(|r| {
                assert!(
                    r["error"].is_null(),
                    "a request to {path} did not decode: {r}\n{}",
                    self.logs()
                );
                r["body"].clone()
            })
            .collect()
    }

    /// Every span received, across requests, resources and scopes.
    pub fn all_spans(&self) -> Vec<Value> {
        self.bodies("/v1/traces").iter().flat_map(spans).collect()
    }

    /// The script and its stderr, for failure messages.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- {LOG}\n{}--- receiver stderr\n{}---",
            read(LOG),
            read("stderr.log")
        )
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A JSON array's elements; an absent field (protobuf's JSON mapping leaves empty
/// repeated fields out) is empty.
pub fn array(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// The spans of one decoded `ExportTraceServiceRequest`, across resources and
/// scopes.
pub fn spans(body: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for resource in array(&body["resourceSpans"]) {
        for scope in array(&resource["scopeSpans"]) {
            out.extend(array(&scope["spans"]).iter().cloned());
        }
    }
    out
}

/// The metrics of one decoded `ExportMetricsServiceRequest`, across resources and
/// scopes.
pub fn metrics(body: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for resource in array(&body["resourceMetrics"]) {
        for scope in array(&resource["scopeMetrics"]) {
            out.extend(array(&scope["metrics"]));
        }
    }
    out
}

/// The resource attributes of a decoded request (metrics or traces) as
/// (key, value as text) pairs.
pub fn resource_attributes(body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["resourceMetrics", "resourceSpans"] {
        for resource in array(&body[key]) {
            out.extend(attributes(&resource["resource"]["attributes"]));
        }
    }
    out
}

/// `KeyValue`s as (key, value as text): strings as they are, numbers and booleans
/// as their JSON text (int64s are already strings in protobuf's JSON mapping).
pub fn attributes(list: &Value) -> Vec<(String, String)> {
    array(list)
        .iter()
        .map(|kv| {
            let key = kv["key"].as_str().unwrap_or_default().to_owned();
            let value = kv["value"]
                .as_object()
                .and_then(|v| v.values().next())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_default();
            (key, value)
        })
        .collect()
}

/// A number data point's value (`asInt`, a string in protobuf's JSON mapping, or
/// `asDouble`).
pub fn point_value(point: &Value) -> f64 {
    if let Some(text) = point["asInt"].as_str() {
        return text
            .parse()
            .unwrap_or_else(|_| panic!("asInt {text:?} is not an integer"));
    }
    point["asDouble"]
        .as_f64()
        .or_else(|| point["asInt"].as_f64())
        .unwrap_or_else(|| panic!("no value in the data point {point}"))
}

/// The harness itself: requests built with the same Python package, posted here,
/// come back decoded with their ids in hex; an undecodable body is answered 400 and
/// logged as such.
#[test]
fn otlp_receiver_decodes_what_it_is_sent() {
    let receiver = OtlpReceiver::start();
    let build = r#"
import sys
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as t
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as m
req = t.ExportTraceServiceRequest()
span = req.resource_spans.add().scope_spans.add().spans.add()
span.trace_id = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
span.span_id = bytes.fromhex("b7ad6b7169203331")
span.name = "GET /"
open(sys.argv[1] + "/traces.bin", "wb").write(req.SerializeToString())
req = m.ExportMetricsServiceRequest()
rm = req.resource_metrics.add()
attr = rm.resource.attributes.add()
attr.key, attr.value.string_value = "run", "harness"
metric = rm.scope_metrics.add().metrics.add()
metric.name = "harness.probes"
metric.sum.is_monotonic = True
metric.sum.data_points.add().as_int = 42
open(sys.argv[1] + "/metrics.bin", "wb").write(req.SerializeToString())
"#;
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let out = Command::new(interpreter())
        .args(["-c", build])
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "building the requests failed (scripts/test.sh installs opentelemetry-proto):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let protobuf = [("Content-Type", "application/x-protobuf")];
    for (path, file) in [("/v1/traces", "traces.bin"), ("/v1/metrics", "metrics.bin")] {
        let body = std::fs::read(dir.path().join(file)).expect("read the built request");
        let response = crate::client::post(&receiver.addr(), path, &protobuf, &body).unwrap();
        // An empty Export*ServiceResponse is zero bytes of protobuf.
        assert_eq!(
            (response.status, response.body.as_str()),
            (200, ""),
            "{}",
            receiver.logs()
        );
    }
    let garbage =
        crate::client::post(&receiver.addr(), "/v1/traces", &protobuf, b"\xff\xff").unwrap();
    assert_eq!(garbage.status, 400, "{}", receiver.logs());

    // The spans of the requests that decoded (`all_spans` refuses the garbage).
    let decoded: Vec<Value> = receiver
        .requests()
        .iter()
        .filter(|r| r["path"] == "/v1/traces" && r["error"].is_null())
        .flat_map(|r| spans(&r["body"]))
        .collect();
    assert_eq!(decoded.len(), 1, "{}", receiver.logs());
    assert_eq!(decoded[0]["traceId"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(decoded[0]["spanId"], "b7ad6b7169203331");
    assert_eq!(decoded[0]["name"], "GET /");

    let metrics_bodies = receiver.bodies("/v1/metrics");
    assert_eq!(metrics_bodies.len(), 1);
    let found = metrics(&metrics_bodies[0]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "harness.probes");
    let points = array(&found[0]["sum"]["dataPoints"]);
    assert_eq!(points.iter().map(point_value).sum::<f64>(), 42.0);
    assert_eq!(
        resource_attributes(&metrics_bodies[0]),
        vec![("run".to_owned(), "harness".to_owned())]
    );

    let requests = receiver.requests();
    let errors: Vec<&Value> = requests.iter().filter(|r| !r["error"].is_null()).collect();
    assert_eq!(errors.len(), 1, "{}", receiver.logs());
    assert_eq!(errors[0]["path"], "/v1/traces");
    assert_eq!(errors[0]["content_type"], "application/x-protobuf");
}
