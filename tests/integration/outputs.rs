//! Streaming outputs (`-o KIND=ADDRESS`) against the real systems, each started here
//! on loopback: Prometheus scraping `/metrics` and receiving remote writes
//! ([`crate::prometheus`]), InfluxDB 1.x ([`crate::influx`]), an OTLP/HTTP receiver
//! built on `opentelemetry-proto` ([`crate::otlp`]), with nginx as the target so its
//! access log is a third count. What each system ends up holding must equal the
//! JSON report's totals; an output whose endpoint refuses, stalls or rejects what
//! it is sent must not slow the run, and the report's `outputs` says how it failed;
//! bad `-o` values are errors before anything is sent.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::client;
use crate::harness::{Report, Test};
use crate::influx::{Auth, Influx};
use crate::load_models::{END_CUT, assert_accounted, assert_no_drops_before};
use crate::nginx::{Nginx, Variant, free_port};
use crate::otlp::{self, OtlpReceiver};
use crate::prometheus::{Prometheus, exposition_sum, promtool_check};
use crate::trace::{logged, nginx_logging_traceparent, parse_traceparent};

/// One test at a time: each starts real servers and measures a run's timing, which
/// two at once on a small machine would blur.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The report's entry for the output of `kind` (`prometheus`, `influxdb`, …).
pub(crate) fn output<'r>(report: &'r Report, kind: &str) -> &'r Value {
    report
        .get("outputs")
        .as_array()
        .unwrap_or_else(|| panic!("`outputs` is not an array:\n{report}"))
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no `{kind}` in `outputs`:\n{report}"))
}

/// An unsigned count of an `outputs` entry.
pub(crate) fn count(entry: &Value, field: &str, report: &Report) -> u64 {
    entry[field]
        .as_u64()
        .unwrap_or_else(|| panic!("outputs[].{field} is not a count in {entry}:\n{report}"))
}

/// An `outputs` entry's `last_error`, lowercased; panics when there is none.
pub(crate) fn last_error(entry: &Value, report: &Report) -> String {
    entry["last_error"]
        .as_str()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| panic!("no last_error in {entry}:\n{report}"))
        .to_lowercase()
}

/// An entry that exported without a single failure.
fn assert_clean(entry: &Value, report: &Report, min_exports: u64) {
    let exports = count(entry, "exports", report);
    assert!(
        exports >= min_exports,
        "{exports} exports, expected at least {min_exports}: {entry}\n{report}"
    );
    assert_eq!(
        (
            count(entry, "failed", report),
            count(entry, "dropped", report)
        ),
        (0, 0),
        "failed, dropped: {entry}\n{report}"
    );
    assert!(entry["last_error"].is_null(), "{entry}\n{report}");
}

/// The report's total, after checking that nginx logged exactly that many requests.
pub(crate) fn total_served(report: &Report, nginx: &Nginx) -> u64 {
    report.check_invariants(0);
    let total = report.u64("requests.total");
    assert!(total > 0, "nothing was sent:\n{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    let served = nginx.access_log_lines().len() as u64;
    assert_eq!(served, total, "nginx served {served}:\n{report}");
    total
}

/// What a [`Poller`] last fetched from `/metrics`.
#[derive(Default)]
struct Fetched {
    /// The last 200 answer in the text format, and how many there were.
    text: Option<client::Response>,
    text_count: u64,
    /// The last 200 answer when OpenMetrics was asked for.
    openmetrics: Option<client::Response>,
}

/// Fetches `/metrics` (the text format, then OpenMetrics) every 200 ms on a thread
/// until stopped, keeping the last answer of each: once kaioken has exited, that is
/// one from its linger, after the run's last snapshot.
struct Poller {
    stop: Arc<AtomicBool>,
    fetched: Arc<Mutex<Fetched>>,
    thread: JoinHandle<()>,
}

impl Poller {
    fn start(addr: &str) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let fetched = Arc::new(Mutex::new(Fetched::default()));
        let (stopped, into) = (Arc::clone(&stop), Arc::clone(&fetched));
        let addr = addr.to_owned();
        let thread = std::thread::spawn(move || {
            let openmetrics = [(
                "Accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )];
            while !stopped.load(Ordering::SeqCst) {
                if let Ok(r) = client::get(&addr, "/metrics", &[])
                    && r.status == 200
                {
                    let mut f = into.lock().expect("the poller's results");
                    f.text = Some(r);
                    f.text_count += 1;
                }
                if let Ok(r) = client::get(&addr, "/metrics", &openmetrics)
                    && r.status == 200
                {
                    into.lock().expect("the poller's results").openmetrics = Some(r);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Poller {
            stop,
            fetched,
            thread,
        }
    }

    fn finish(self) -> Fetched {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the poller thread");
        std::mem::take(&mut *self.fetched.lock().expect("the poller's results"))
    }
}

/// `-o prometheus=…`: Prometheus scrapes `/metrics` every second during a run and
/// its linger; its final `kaioken_requests_total` is the report's total and nginx's
/// count. The last exposition fetched (during the linger) has that total too and
/// passes `promtool check metrics`; OpenMetrics is served when asked for.
#[test]
fn prometheus_scrapes_the_final_total() {
    let _serial = serial();
    let nginx = Nginx::start(Variant::Http1);
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::start(std::slice::from_ref(&metrics_addr));
    // Scraped (and failing) before the run, so every second of it is scraped.
    prometheus
        .wait_scraping(&metrics_addr, Duration::from_secs(20))
        .unwrap();
    let poller = Poller::start(&metrics_addr);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "4", "-d", "3s", "--rate", "500"])
        .args(["-o", &format!("prometheus={metrics_addr}")])
        .args(["--metrics-linger", "3s"])
        .report()
        .run();
    let fetched = poller.finish();
    let report = out.report();
    let total = total_served(&report, &nginx);

    // Served for the run and then the linger.
    assert!(
        out.elapsed >= Duration::from_secs(6),
        "the run and its 3s linger took {:?}",
        out.elapsed
    );
    let entry = output(&report, "prometheus");
    assert_eq!(entry["address"], metrics_addr.as_str(), "{report}");

    // Prometheus's last sample of every series (the scrapes after kaioken exited
    // failed and marked them stale, so an instant query at "now" is empty).
    let scraped = prometheus.query("sum(last_over_time(kaioken_requests_total[5m]))");
    assert_eq!(
        scraped,
        Ok(Some(total as f64)),
        "Prometheus's final kaioken_requests_total vs the report's {total}\n{}\n{report}",
        prometheus.logs()
    );
    // `up` is 1 for each scrape that succeeded.
    let scrapes = prometheus.query(&format!(
        "sum_over_time(up{{instance=\"{metrics_addr}\"}}[5m])"
    ));
    assert!(
        scrapes.as_ref().is_ok_and(|n| n.is_some_and(|n| n >= 4.0)),
        "fewer than 4 scrapes of a 3s run and its 3s linger at 1s: {scrapes:?}\n{}",
        prometheus.logs()
    );
    // `exports` counts the scrapes served during the run.
    assert!(
        count(entry, "exports", &report) >= 2,
        "a 3s run scraped every 1s: {entry}\n{report}"
    );
    assert_eq!(count(entry, "failed", &report), 0, "{entry}\n{report}");

    let text = fetched
        .text
        .unwrap_or_else(|| panic!("/metrics never answered 200 on {metrics_addr}\n{report}"));
    assert!(
        text.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain") && t.contains("version=0.0.4")),
        "content-type {:?}",
        text.header("content-type")
    );
    assert_eq!(
        exposition_sum(&text.body, "kaioken_requests_total"),
        Some(total as f64),
        "the last /metrics fetched (during the linger) vs the report's {total}:\n{}",
        text.body
    );
    promtool_check(&text.body).unwrap_or_else(|e| panic!("{e}\n--- /metrics\n{}", text.body));
    assert!(fetched.text_count >= 10, "{} fetches", fetched.text_count);

    let om = fetched
        .openmetrics
        .expect("/metrics never answered 200 when OpenMetrics was asked for");
    assert!(
        om.header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "content-type {:?}",
        om.header("content-type")
    );
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
}

/// The same outputs from a scenario's `[outputs]` table: Prometheus scrapes the
/// address given there, for the linger given there, and every series carries the
/// table's tags.
#[test]
fn prometheus_from_the_outputs_table() {
    let _serial = serial();
    let nginx = Nginx::start(Variant::Http1);
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::start(std::slice::from_ref(&metrics_addr));
    prometheus
        .wait_scraping(&metrics_addr, Duration::from_secs(20))
        .unwrap();
    let out = Test::new()
        .scenario(&format!(
            r#"
            [load]
            vus = 2
            duration = "2s"
            rate = 300

            [outputs]
            prometheus = "{metrics_addr}"
            linger = "3s"
            tags = {{ run = "toml-test" }}
            "#
        ))
        .arg(nginx.url("/"))
        .report()
        .run();
    let report = out.report();
    let total = total_served(&report, &nginx);
    assert!(
        out.elapsed >= Duration::from_secs(5),
        "the run and its 3s linger took {:?}",
        out.elapsed
    );
    assert_eq!(
        output(&report, "prometheus")["address"],
        metrics_addr.as_str(),
        "{report}"
    );
    let scraped =
        prometheus.query("sum(last_over_time(kaioken_requests_total{run=\"toml-test\"}[5m]))");
    assert_eq!(
        scraped,
        Ok(Some(total as f64)),
        "Prometheus's final kaioken_requests_total{{run=\"toml-test\"}} vs the report's \
         {total}\n{}\n{report}",
        prometheus.logs()
    );
}

/// `-o prometheus-rw=…`: Prometheus's remote write receiver gets the pushed series,
/// with the `--tag` label, and its final `kaioken_requests_total` is the report's.
#[test]
fn prometheus_remote_write_has_the_final_total() {
    let _serial = serial();
    let nginx = Nginx::start(Variant::Http1);
    let prometheus = Prometheus::start(&[]);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "4", "-d", "3s", "--rate", "500"])
        .args([
            "-o",
            &format!("prometheus-rw={}", prometheus.remote_write_url()),
        ])
        .args(["--tag", "run=rw-test"])
        .report()
        .run();
    let report = out.report();
    let total = total_served(&report, &nginx);
    let entry = output(&report, "prometheus-rw");
    assert_clean(entry, &report, 2);

    let written = prometheus.query_eventually(
        "sum(kaioken_requests_total{run=\"rw-test\"})",
        Duration::from_secs(10),
    );
    assert_eq!(
        written,
        Ok(Some(total as f64)),
        "remote-written kaioken_requests_total vs the report's {total}\n{}\n{report}",
        prometheus.logs()
    );
}

/// `-o influxdb=http://…/DB`: the `count` fields of `kaioken_requests` add up to the
/// report's total, and every point carries the `--tag`.
#[test]
fn influxdb_sums_to_the_report_total() {
    let _serial = serial();
    let nginx = Nginx::start(Variant::Http1);
    let influx = Influx::start(None);
    influx.create_database("kaioken");
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "4", "-d", "3s", "--rate", "500"])
        .args(["-o", &format!("influxdb=http://{}/kaioken", influx.addr())])
        .args(["--tag", "run=influx-test"])
        .report()
        .run();
    let report = out.report();
    let total = total_served(&report, &nginx);
    let entry = output(&report, "influxdb");
    assert_clean(entry, &report, 2);

    for q in [
        "SELECT sum(\"count\") FROM kaioken_requests",
        "SELECT sum(\"count\") FROM kaioken_requests WHERE \"run\" = 'influx-test'",
    ] {
        assert_eq!(
            influx.query("kaioken", q),
            Ok(Some(total as f64)),
            "{q} vs the report's {total}\n{}\n{report}",
            influx.logs()
        );
    }
}

/// A 3 s run writing to `address` on an InfluxDB that refuses every write: the run
/// completes, and its report counts the failures and gives the last one's status and
/// InfluxDB's message (both in `expected`). Returns the report.
fn refused_influx_writes(nginx: &Nginx, address: &str, expected: [&str; 2]) -> Report {
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "2", "-d", "3s", "--rate", "200"])
        .args(["-o", &format!("influxdb={address}")])
        .report()
        .run();
    let report = out.report();
    total_served(&report, nginx);
    let entry = output(&report, "influxdb");
    assert_eq!(count(entry, "exports", &report), 0, "{entry}\n{report}");
    assert!(
        count(entry, "failed", &report) >= 2,
        "a 3s run at 1s intervals: {entry}\n{report}"
    );
    let error = last_error(entry, &report);
    assert!(
        expected.iter().all(|e| error.contains(e)),
        "last_error should give the status and InfluxDB's message {expected:?}: {error:?}\n{report}"
    );
    report
}

/// Wrong credentials: every write is refused (401), the run goes on and completes
/// with its report, which counts the failures, says why, and does not show the
/// password; nothing was written.
#[test]
fn influxdb_bad_credentials_are_reported() {
    let _serial = serial();
    let nginx = Nginx::start(Variant::Http1);
    let influx = Influx::start(Some(Auth {
        user: "admin",
        password: "s3cret",
    }));
    influx.create_database("kaioken");
    let address = format!("http://admin:wrong-password@{}/kaioken", influx.addr());
    let report = refused_influx_writes(&nginx, &address, ["401", "authorization failed"]);
    let entry = output(&report, "influxdb");
    let address = entry["address"].as_str().unwrap_or_default();
    assert!(
        address.contains(&influx.addr()) && !address.contains("wrong-password"),
        "address {address:?} must name the server and hide the password\n{report}"
    );
    assert!(
        !report.to_string().contains("wrong-password"),
        "the password is in the report:\n{report}"
    );
    assert_eq!(
        influx.query("kaioken", "SELECT count(*) FROM /.*/"),
        Ok(None),
        "something was written"
    );
}

/// A database that does not exist: every write is refused (404), the run completes
/// and its report says so.
#[test]
fn influxdb_missing_database_is_reported() {
    let _serial = serial();
    let nginx = Nginx::start(Variant::Http1);
    let influx = Influx::start(None);
    let address = format!("http://{}/nowhere", influx.addr());
    refused_influx_writes(&nginx, &address, ["404", "database not found"]);
}

/// `-o otlp=…` with `--trace-sample`: the receiver gets metrics (the requests
/// counter ends at the report's total, the `--tag` is a resource attribute) and one
/// span per sampled request, whose trace and span ids are exactly the `traceparent`
/// headers nginx logged; the report's `spans_sent` counts them.
#[test]
fn otlp_spans_match_the_traceparents_nginx_logged() {
    let _serial = serial();
    let (nginx, log_dir) = nginx_logging_traceparent(Variant::Http1);
    let receiver = OtlpReceiver::start();
    let requests = 400u64;
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "4", "-n", &requests.to_string(), "-d", "60s"])
        .args(["--trace-sample", "0.25"])
        .args(["-o", &format!("otlp={}", receiver.url())])
        .args(["--tag", "run=otlp-test"])
        .report()
        .run();
    let report = out.report();
    let total = total_served(&report, &nginx);
    assert_eq!(total, requests, "{report}");

    let lines = logged(&log_dir);
    let logged = lines.join("\n");
    assert_eq!(lines.len() as u64, total, "{logged}");
    let headers: BTreeSet<(String, String)> = lines
        .iter()
        .filter(|l| **l != "-")
        .map(|l| parse_traceparent(l))
        .collect();
    let sampled = lines.iter().filter(|l| **l != "-").count();
    assert_eq!(headers.len(), sampled, "ids repeat:\n{logged}");
    // A quarter of 400: 100 expected, and far outside 40..=170 only by a bug.
    assert!(
        (40..=170).contains(&sampled),
        "{sampled} of {total} requests sampled at 0.25"
    );

    let spans = receiver.all_spans();
    let ids: BTreeSet<(String, String)> = spans
        .iter()
        .map(|s| {
            (
                s["traceId"].as_str().unwrap_or_default().to_owned(),
                s["spanId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(ids.len(), spans.len(), "span ids repeat: {spans:?}");
    assert_eq!(
        ids,
        headers,
        "span (trace id, span id) vs the traceparent headers nginx logged\n{}",
        receiver.logs()
    );
    for span in &spans {
        let values: Vec<String> = otlp::attributes(&span["attributes"])
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert!(
            values.iter().any(|v| v == "GET") && values.iter().any(|v| v == "200"),
            "a span without its method and status among its attributes: {span}"
        );
    }

    let entry = output(&report, "otlp");
    assert_clean(entry, &report, 1);
    assert_eq!(
        (
            count(entry, "spans_sent", &report),
            count(entry, "spans_dropped", &report)
        ),
        (spans.len() as u64, 0),
        "spans_sent, spans_dropped vs the {} spans received\n{report}",
        spans.len()
    );

    let received = receiver.requests();
    for r in &received {
        assert_eq!(r["content_type"], "application/x-protobuf", "{r}");
    }
    let bodies = receiver.bodies("/v1/metrics");
    assert!(!bodies.is_empty(), "no metrics\n{}", receiver.logs());
    for body in &bodies {
        let attributes = otlp::resource_attributes(body);
        assert!(
            attributes.contains(&("run".to_owned(), "otlp-test".to_owned())),
            "no run=otlp-test resource attribute: {attributes:?}"
        );
    }
    let is_requests = |m: &&Value| {
        let name = m["name"].as_str().unwrap_or_default().replace('.', "_");
        name == "kaioken_requests" || name == "kaioken_requests_total"
    };
    let last = bodies
        .iter()
        .rev()
        .find_map(|b| otlp::metrics(b).into_iter().find(is_requests))
        .unwrap_or_else(|| panic!("no kaioken requests counter\n{}", receiver.logs()));
    let points = otlp::array(&last["sum"]["dataPoints"]);
    assert!(!points.is_empty(), "not a sum: {last}");
    assert_eq!(
        points.iter().map(otlp::point_value).sum::<f64>(),
        total as f64,
        "the last requests counter received vs the report's {total}: {last}"
    );
}

/// Warm-up requests are not measured, so they are not traced either: no
/// `traceparent` on the wire, no span; the measured requests are, on either engine.
#[test]
fn warmup_requests_are_not_traced() {
    let _serial = serial();
    for engine in ["tokio", "io_uring"] {
        let (nginx, log_dir) = nginx_logging_traceparent(Variant::Http1);
        let receiver = OtlpReceiver::start();
        let vus = 2;
        let out = Test::new()
            .arg(nginx.url("/"))
            .args([
                "-c",
                &vus.to_string(),
                "-r",
                "100",
                "-d",
                "1s",
                "--warmup",
                "1s",
            ])
            .on_engine(engine)
            .args(["--trace-sample", "1"])
            .args(["-o", &format!("otlp={}", receiver.url())])
            .report()
            .run();
        let report = out.report();
        let measured = report.u64("requests.total");
        let warmup = report.u64("requests.warmup_requests");
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert!(warmup >= 50 && measured >= 50, "{report}");
        let lines = logged(&log_dir);
        assert_eq!(lines.len() as u64, measured + warmup, "{report}");
        let traced = lines.iter().filter(|l| **l != "-").count() as u64;
        let spans = receiver.all_spans().len() as u64;
        assert_eq!(
            spans, traced,
            "{engine}: spans vs traceparents nginx logged"
        );
        // Every measured request, but one per VU sent in the warm-up and answered
        // after it.
        assert!(
            (measured - vus..=measured).contains(&traced),
            "{engine}: {traced} traced of {measured} measured and {warmup} warm-up requests"
        );
    }
}

/// An OTLP endpoint that takes requests and never answers in time: the open-model
/// run still starts every iteration it planned, on time, and ends on time; the
/// report counts the failed exports and says they timed out.
#[test]
fn a_stalled_exporter_does_not_slow_the_run() {
    let _serial = serial();
    let nginx = Nginx::start(Variant::Http1);
    let receiver = OtlpReceiver::start_stalling(Duration::from_secs(30));
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["--arrival-rate", "200", "--max-vus", "50", "-d", "3s"])
        .args(["-o", &format!("otlp={}", receiver.url())])
        .report()
        .run();
    let report = out.report();
    total_served(&report, &nginx);
    assert_full_speed(&report, out.elapsed);
    let entry = output(&report, "otlp");
    assert!(count(entry, "failed", &report) >= 1, "{entry}\n{report}");
    let error = last_error(entry, &report);
    assert!(
        ["timed out", "timeout", "no answer within"]
            .iter()
            .any(|t| error.contains(t)),
        "last_error should say the export was not answered in time: {error:?}\n{report}"
    );
    assert!(
        !receiver.requests().is_empty(),
        "the receiver got nothing (it logs each request on arrival)\n{}",
        receiver.logs()
    );
}

/// A remote write endpoint where nothing listens: the run goes at full speed and
/// every export is counted as failed, with the connection error.
#[test]
fn a_refused_exporter_does_not_slow_the_run() {
    let _serial = serial();
    let nginx = Nginx::start(Variant::Http1);
    let nowhere = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["--arrival-rate", "200", "--max-vus", "50", "-d", "3s"])
        .args(["-o", &format!("prometheus-rw={nowhere}")])
        .report()
        .run();
    let report = out.report();
    total_served(&report, &nginx);
    assert_full_speed(&report, out.elapsed);
    let entry = output(&report, "prometheus-rw");
    assert_eq!(count(entry, "exports", &report), 0, "{entry}\n{report}");
    assert!(
        count(entry, "failed", &report) >= 2,
        "a 3s run at 1s intervals: {entry}\n{report}"
    );
    let error = last_error(entry, &report);
    assert!(
        error.contains("refused") || error.contains("connect"),
        "last_error should say the connection failed: {error:?}\n{report}"
    );
}

/// 200 iterations a second for 3 s: each of the 600 planned started or dropped,
/// all started but what the run's end may cut on a loaded machine ([`END_CUT`]) and
/// none dropped before its last second, the measured window ended soon after the
/// deadline, and the process gone within the 10 s the final push may take
/// (docs/outputs.md) and a little more.
///
/// An exporter that held up the workers (a stalled send waits 5 s) would have them
/// drop what fell due meanwhile and end the window late; one that held up the end
/// of the run would keep the process past its time limit.
fn assert_full_speed(report: &Report, elapsed: Duration) {
    assert_accounted(report, 600, END_CUT);
    assert_no_drops_before(report, 2);
    // The window ends at the deadline, never before, once the workers have finished
    // the requests in flight: a moment, but a loaded machine can keep them off the
    // CPU. A second is room for that and well short of a send's 5 s timeout.
    let measured = report.f64("elapsed_s");
    assert!(
        (3.0..4.0).contains(&measured),
        "a 3s run measured {measured}s:\n{report}"
    );
    assert!(
        elapsed < Duration::from_secs(3 + 10 + 3),
        "a 3s run took {elapsed:?} in all:\n{report}"
    );
}

/// Bad `-o` values: exit 1 with `message`, before anything is sent; and a dry run
/// fails on them as the run does.
fn refused_before_any_load(output: &str, message: &str) {
    let nginx = Nginx::start(Variant::Http1);
    for dry_run in [true, false] {
        Test::new()
            .arg(nginx.url("/"))
            .args(["-d", "5s", "-o", output])
            .args(dry_run.then_some("--dry-run"))
            .status(1)
            .stderr_contains(message)
            .run();
    }
    assert_eq!(nginx.access_log_lines(), Vec::new());
}

/// A misspelt kind gets a did-you-mean.
#[test]
fn an_unknown_output_kind_suggests_the_closest() {
    refused_before_any_load(
        "prometeus=127.0.0.1:9464",
        "unknown output kind `prometeus`; did you mean `prometheus`?",
    );
}

/// An address of the wrong shape for its kind is named.
#[test]
fn a_malformed_output_address_is_an_error() {
    refused_before_any_load(
        "otlp=127.0.0.1:4318",
        "`127.0.0.1:4318` is not a URL for `otlp`",
    );
}

/// An address its kind cannot use (what only the output's own parsing finds) is
/// named, with the secret in it hidden.
#[test]
fn an_address_its_kind_cannot_use_is_an_error() {
    refused_before_any_load(
        "otlp=http://127.0.0.1:4318/?token=secret",
        "error: -o otlp=http://127.0.0.1:4318/?token=<redacted>: otlp output: the address has a query",
    );
    refused_before_any_load(
        "influxdb=http://127.0.0.1:8086/k6?x=1",
        "influxdb output: the address's query names `x`",
    );
}

/// `/metrics` on a port something else holds: exit 1 naming the address, before
/// the run starts.
#[test]
fn a_metrics_port_in_use_is_an_error_before_the_run() {
    let nginx = Nginx::start(Variant::Http1);
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = holder.local_addr().expect("its address").to_string();
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-d", "5s", "-o", &format!("prometheus={addr}")])
        .status(1)
        .stderr_contains(addr.as_str())
        .stderr_contains("in use")
        .run();
    assert!(
        out.elapsed < Duration::from_secs(5),
        "exited after {:?}: the run started",
        out.elapsed
    );
    assert_eq!(nginx.access_log_lines(), Vec::new());
    drop(holder);
}

/// The traceparent log itself: a request with the header logs it, one without logs
/// `-`, beside nginx's usual access log.
#[test]
fn nginx_logs_traceparent_headers() {
    let (nginx, log_dir) = nginx_logging_traceparent(Variant::Http1);
    let addr = nginx.url("").trim_start_matches("http://").to_owned();
    let header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for headers in [vec![("traceparent", header)], vec![]] {
        let response = client::get(&addr, "/", &headers).unwrap();
        assert_eq!(response.status, 200);
    }
    assert_eq!(nginx.access_log_lines().len(), 2, "{}", nginx.logs());
    let logged = logged(&log_dir);
    assert_eq!(logged, [header, "-"], "{}", nginx.logs());
    assert_eq!(
        parse_traceparent(&logged[0]),
        (
            "0af7651916cd43dd8448eb211c80319c".to_owned(),
            "b7ad6b7169203331".to_owned()
        )
    );
}
