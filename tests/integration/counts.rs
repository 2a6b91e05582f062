//! The core promise: what kaioken reports is what the server served. Each test
//! runs against nginx and compares the report with nginx's access log.

use std::collections::BTreeSet;

use crate::harness::{Output, Report, Test};
use crate::nginx::{LogLine, Nginx, Variant, distinct_connections, log_status_codes};

/// The protocols nginx saw.
fn log_protocols(lines: &[LogLine]) -> BTreeSet<String> {
    lines.iter().map(|l| l.protocol.clone()).collect()
}

/// Compare a clean run's report with nginx's log: no errors, every response logged
/// once, status codes equal, and every request over `protocol`.
fn assert_matches_log(out: &Output, nginx: &Nginx, protocol: &str) -> (Report, Vec<LogLine>) {
    let report = out.report();
    report.check_invariants(out.exit_code);
    let lines = nginx.access_log_lines();
    let context = format!("{report}\n{}\n--- stdout\n{}", nginx.logs(), out.stdout);
    assert_eq!(
        report.u64("requests.errors"),
        0,
        "errors against a healthy nginx: {:?}\n{context}",
        report.error_classes()
    );
    assert!(
        report.u64("requests.responses") > 0,
        "no responses\n{context}"
    );
    assert_eq!(
        report.u64("requests.responses"),
        lines.len() as u64,
        "kaioken's responses != nginx's access log lines\n{context}"
    );
    assert_eq!(
        report.status_codes(),
        log_status_codes(&lines),
        "status codes differ\n{context}"
    );
    assert_eq!(
        log_protocols(&lines),
        BTreeSet::from([protocol.to_owned()]),
        "nginx saw other protocols\n{context}"
    );
    assert_eq!(report.u64("requests.unfinished"), 0, "{context}");
    (report, lines)
}

/// Plain HTTP/1.1 in the closed model runs on the io_uring engine where the kernel
/// allows it, and on the tokio engine otherwise or when `KAIOKEN_NO_IO_URING` is set:
/// both must count exactly.
#[test]
fn http1_duration_run_matches_access_log() {
    http1_duration_run(None, "io_uring");
}

#[test]
fn http1_duration_run_matches_access_log_on_tokio() {
    http1_duration_run(Some("1"), "tokio");
}

fn http1_duration_run(no_io_uring: Option<&str>, engine: &str) {
    let nginx = Nginx::start(Variant::Http1);
    let mut test = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "8", "-d", "2s"])
        .report();
    if let Some(v) = no_io_uring {
        test = test.env("KAIOKEN_NO_IO_URING", v);
    }
    let out = test.run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/1.1");
    assert_eq!(report.str("settings.engine"), engine, "{report}");
    assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
    assert!(!report.bool("outcome.interrupted"), "{report}");
    assert_eq!(report.u64("load.vus"), 8, "{report}");
    assert_eq!(report.str("target.http_version"), "1.1", "{report}");
    assert!(!report.bool("settings.http2"), "{report}");
    assert!(
        lines.iter().all(|l| l.method == "GET" && l.uri == "/"),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l.user_agent.starts_with("kaioken/")),
        "user agent: {:?}",
        lines.first()
    );
    // A 2s run: the measured window is about 2s, and the timeline covers it.
    let elapsed = report.f64("elapsed_s");
    assert!(
        (1.5..10.0).contains(&elapsed),
        "elapsed_s {elapsed}\n{report}"
    );
    let timeline = report
        .get("timeline")
        .as_array()
        .expect("timeline is an array");
    assert!(!timeline.is_empty(), "empty timeline\n{report}");
    let per_second: u64 = timeline
        .iter()
        .map(|s| s["responses"].as_u64().expect("timeline responses"))
        .sum();
    assert_eq!(
        per_second,
        report.u64("requests.responses"),
        "the timeline does not add up to the responses\n{report}"
    );
    assert_eq!(
        report.str("histogram.encoding"),
        "hdr-v2-deflate+base64",
        "{report}"
    );
    assert!(!report.str("histogram.data").is_empty(), "{report}");
}

/// A 404 is a response, not a transport error — but it is not a success either: by
/// default only 200–399 are expected, so every 404 is a failed request, and a run of
/// nothing but 404s fails (exit 1) with the reason in words, on both engines.
#[test]
fn http1_not_found_is_a_failed_response() {
    for engine in [None, Some("1")] {
        let nginx = Nginx::start(Variant::Http1);
        let mut test = Test::new()
            .arg(nginx.url("/status/404"))
            .args(["-c", "4", "--max-requests", "200", "-d", "60s"])
            .status(1)
            .report();
        if let Some(v) = engine {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let out = test.run();
        let (report, _) = assert_matches_log(&out, &nginx, "HTTP/1.1");
        assert_eq!(report.status_codes(), vec![(404, 200)], "{report}");
        assert_eq!(report.u64("requests.unexpected_status"), 200, "{report}");
        assert_eq!(report.u64("requests.failed"), 200, "{report}");
        assert_eq!(report.f64("requests.failure_rate"), 1.0, "{report}");
        assert_eq!(report.f64("requests.error_rate"), 0.0, "{report}");
        assert_eq!(report.str("settings.expected_status"), "200-399");
        let per_second: u64 = report
            .get("timeline")
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["unexpected_status"].as_u64().unwrap())
            .sum();
        assert_eq!(per_second, 200, "{report}");
        assert!(
            out.stdout
                .contains("200 total · 200 responses · 200 failed (100.00%)"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("200 had a status outside 200-399"),
            "{}",
            out.stdout
        );
        assert!(!out.stdout.contains("OVER 9000"), "{}", out.stdout);
    }
}

/// `--expect-status` says which statuses are successes: the same 404s then pass.
#[test]
fn expected_statuses_are_not_failures() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/status/404"))
        .args(["-c", "2", "--max-requests", "100", "-d", "60s"])
        .args(["--expect-status", "2xx,404"])
        .report()
        .run();
    let (report, _) = assert_matches_log(&out, &nginx, "HTTP/1.1");
    assert_eq!(report.u64("requests.failed"), 0, "{report}");
    assert_eq!(report.str("settings.expected_status"), "200-299,404");
}

#[test]
fn http1_max_requests_is_exact() {
    http1_max_requests(None);
}

#[test]
fn http1_max_requests_is_exact_on_tokio() {
    http1_max_requests(Some("1"));
}

fn http1_max_requests(no_io_uring: Option<&str>) {
    let nginx = Nginx::start(Variant::Http1);
    let mut test = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "8", "--max-requests", "1000", "-d", "120s"])
        .report();
    if let Some(v) = no_io_uring {
        test = test.env("KAIOKEN_NO_IO_URING", v);
    }
    let out = test.run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/1.1");
    assert_eq!(lines.len(), 1000, "{report}");
    assert_eq!(report.u64("requests.total"), 1000, "{report}");
    assert_eq!(
        report.str("outcome.stop_reason"),
        "max_requests",
        "{report}"
    );
    assert_eq!(report.u64("load.max_requests"), 1000, "{report}");
}

#[test]
fn h2c_duration_run_matches_access_log() {
    let nginx = Nginx::start(Variant::H2c);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["--http2", "-c", "8", "-d", "2s"])
        .report()
        .run();
    let (report, _) = assert_matches_log(&out, &nginx, "HTTP/2.0");
    assert!(report.bool("settings.http2"), "{report}");
    assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
}

/// nginx takes 2 streams at once on a connection (`http2_max_concurrent_streams
/// 2`) and 10 VUs share one (`--h2-streams 10`, one thread): no stream may go
/// above that limit before nginx's settings say it, or nginx refuses it
/// (`RST_STREAM` REFUSED_STREAM) in the run's first moments. None fails, and
/// nginx logged every request counted. The VUs take turns at the two streams: each
/// VU's requests are about a tenth of them (the VU whose stream ended used to take
/// the freed one straight back: two VUs sent every request, and the other eight
/// waited out the run).
#[test]
fn h2c_streams_wait_for_the_server_s_limit() {
    let nginx = Nginx::start_with(Variant::H2c, "http2_max_concurrent_streams 2;");
    let out = Test::new()
        .arg(nginx.url("/?vu=${VU}"))
        .args([
            "--http2",
            "-c",
            "10",
            "--h2-streams",
            "10",
            "--threads",
            "1",
        ])
        .args(["-d", "1s"])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/2.0");
    let mut per_vu = std::collections::BTreeMap::new();
    for line in &lines {
        *per_vu.entry(line.uri.clone()).or_insert(0u64) += 1;
    }
    let total = lines.len() as u64;
    assert_eq!(per_vu.len(), 10, "{per_vu:?}\n{report}");
    assert!(
        per_vu.values().all(|&n| n * 40 >= total),
        "a VU sent under a quarter of its share: {per_vu:?}\n{report}"
    );
}

#[test]
fn h2c_max_requests_is_exact() {
    let nginx = Nginx::start(Variant::H2c);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["--http2", "-c", "8", "--max-requests", "1000", "-d", "120s"])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/2.0");
    assert_eq!(lines.len(), 1000, "{report}");
    assert_eq!(report.u64("requests.total"), 1000, "{report}");
    assert_eq!(
        report.str("outcome.stop_reason"),
        "max_requests",
        "{report}"
    );
}

/// Headers HTTP/2 forbids that a step may name (`keep-alive`, `proxy-connection`, a
/// `te` other than `trailers`) are left out of an HTTP/2 request rather than failing
/// it, the others kept, and a constant body goes out whole with its `content-length`
/// on every request.
#[test]
fn h2c_leaves_out_connection_headers_and_sends_the_body() {
    let nginx = Nginx::start(Variant::H2c);
    let body = r#"{"name":"kaioken","items":[1,2,3]}"#;
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["--http2", "-c", "2", "--max-requests", "200", "-d", "60s"])
        .args(["-m", "POST", "-b", body])
        .args([
            "-H",
            "keep-alive: timeout=5",
            "-H",
            "proxy-connection: keep-alive",
        ])
        .args(["-H", "te: gzip", "-H", "x-kaioken-test: kept"])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/2.0");
    assert_eq!(lines.len(), 200, "{report}");
    for line in &lines {
        assert_eq!(line.method, "POST");
        assert_eq!(line.content_length, body.len().to_string());
        assert_eq!(line.x_kaioken_test, "kept");
    }
}

/// HTTPS with HTTP/1.1 runs on the io_uring engine (rustls over its buffers) and
/// on the tokio engine (tokio-rustls), with the same counts as nginx's log.
#[test]
fn tls_http1_with_cacert_matches_access_log() {
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Tls);
        let out = Test::new()
            .arg(nginx.url("/"))
            .arg("--cacert")
            .arg(nginx.ca_path())
            .args(["-c", "4", "-d", "2s"])
            .on_engine(engine)
            .report()
            .run();
        let (report, _) = assert_matches_log(&out, &nginx, "HTTP/1.1");
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("errors.tls"), 0, "{report}");
    }
}

/// Over TLS on the io_uring engine, a response of many records (300,000 bytes: many
/// receive buffers, records cut across them) and a request body of many records
/// (100,000 bytes) arrive whole: every response's size is counted, and every
/// body went out whole (nginx read each next request on the same connection, which
/// it could not have with a body cut short).
#[test]
fn tls_http1_large_bodies_on_io_uring() {
    const FILE: usize = 300_000;
    const BODY: usize = 100_000;
    let nginx = Nginx::start(Variant::Tls);
    let file: Vec<u8> = (0..FILE).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(nginx.files_dir().join("big"), &file).expect("write the file");
    let download = Test::new()
        .arg(nginx.url("/files/big"))
        .arg("--cacert")
        .arg(nginx.ca_path())
        .args(["-c", "3", "--max-requests", "60", "-d", "60s"])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&download, &nginx, "HTTP/1.1");
    assert_eq!(report.str("settings.engine"), "io_uring", "{report}");
    assert_eq!(lines.len(), 60, "{report}");
    assert!(
        report.u64("requests.bytes_received") >= 60 * FILE as u64,
        "{report}"
    );
    let body = "x".repeat(BODY);
    let upload = Test::new()
        .arg(nginx.url("/echo"))
        .arg("--cacert")
        .arg(nginx.ca_path())
        .args(["-m", "POST", "-b", &body])
        .args(["-c", "3", "--max-requests", "30", "-d", "60s"])
        .report()
        .run();
    let report = upload.report();
    assert_eq!(report.str("settings.engine"), "io_uring", "{report}");
    assert_eq!(report.u64("requests.responses"), 30, "{report}");
    let lines = nginx.access_log_lines();
    let posts: Vec<_> = lines.into_iter().filter(|l| l.method == "POST").collect();
    assert_eq!(posts.len(), 30, "{posts:?}");
    for line in &posts {
        assert_eq!(line.status, 200, "{line:?}");
        assert_eq!(line.content_length, BODY.to_string(), "{line:?}");
    }
    assert!(
        report.u64("requests.bytes_sent") >= 30 * BODY as u64,
        "{report}"
    );
    assert_eq!(
        distinct_connections(&posts),
        report.keepalive_connections(3),
        "{posts:?}"
    );
}

#[test]
fn tls_http2_with_cacert_negotiates_h2() {
    let nginx = Nginx::start(Variant::Tls);
    let out = Test::new()
        .arg(nginx.url("/"))
        .arg("--cacert")
        .arg(nginx.ca_path())
        .args(["--http2", "-c", "4", "-d", "2s"])
        .report()
        .run();
    assert_matches_log(&out, &nginx, "HTTP/2.0");
}

#[test]
fn tls_max_requests_is_exact() {
    let nginx = Nginx::start(Variant::Tls);
    let out = Test::new()
        .arg(nginx.url("/"))
        .arg("--cacert")
        .arg(nginx.ca_path())
        .args(["--http2", "-c", "8", "--max-requests", "1000", "-d", "120s"])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/2.0");
    assert_eq!(lines.len(), 1000, "{report}");
    assert_eq!(report.u64("requests.total"), 1000, "{report}");
}

#[test]
fn tls_self_signed_certificate_as_cacert() {
    let nginx = Nginx::start(Variant::TlsSelfSigned);
    let out = Test::new()
        .arg(nginx.url("/"))
        .arg("--cacert")
        .arg(nginx.ca_path())
        .args(["--http2", "-c", "2", "--max-requests", "100", "-d", "60s"])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/2.0");
    assert_eq!(lines.len(), 100, "{report}");
}

#[test]
fn tls_untrusted_certificate_fails_with_tls_errors() {
    for engine in ["io_uring", "tokio"] {
        untrusted_certificate_fails_on(engine);
    }
}

fn untrusted_certificate_fails_on(engine: &str) {
    let nginx = Nginx::start(Variant::Tls);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "2", "--max-requests", "20", "-d", "10s"])
        .on_engine(engine)
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.str("settings.engine"), engine, "{report}");
    assert!(report.u64("errors.tls") > 0, "{report}");
    assert_eq!(
        report.error_classes(),
        vec![("tls".to_owned(), report.u64("requests.total"))],
        "every request should fail the handshake\n{report}"
    );
    assert_eq!(report.u64("requests.responses"), 0, "{report}");
    assert_opened_none(&report);
    let why = report.str("error_details.tls");
    assert!(
        why.to_ascii_lowercase().contains("certificate"),
        "error_details.tls does not say the certificate is the problem: {why}"
    );
    assert!(
        nginx.access_log_lines().is_empty(),
        "nginx served requests\n{}",
        nginx.logs()
    );
}

/// A connection whose TLS handshake failed was never open (`connections.opened` is
/// "TCP connected, TLS handshaken"): neither counted nor timed as a connect, on
/// either engine.
fn assert_opened_none(report: &Report) {
    assert_eq!(report.u64("connections.opened"), 0, "{report}");
    assert_eq!(report.u64("phases_ms.connect.count"), 0, "{report}");
    assert_eq!(report.u64("phases_ms.tls.count"), 0, "{report}");
}

/// `https://` to a port that speaks plain HTTP: every handshake fails, and no
/// connection counts as opened.
#[test]
fn tls_to_a_plain_http_port_opens_no_connection() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/").replacen("http://", "https://", 1);
    for engine in ["io_uring", "tokio"] {
        let report = Test::new()
            .arg(&url)
            .args(["-c", "2", "--max-requests", "20", "-d", "10s"])
            .on_engine(engine)
            .status(1)
            .report()
            .run()
            .report();
        report.check_invariants(1);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.responses"), 0, "{report}");
        assert_eq!(
            report.error_classes(),
            vec![("tls".to_owned(), report.u64("requests.total"))],
            "{engine}: every request should fail the handshake\n{report}"
        );
        assert_opened_none(&report);
    }
}

#[test]
fn tls_insecure_skips_verification() {
    let nginx = Nginx::start(Variant::Tls);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args([
            "--insecure",
            "-c",
            "2",
            "--max-requests",
            "100",
            "-d",
            "60s",
        ])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/1.1");
    assert_eq!(lines.len(), 100, "{report}");
    assert!(report.bool("settings.insecure"), "{report}");
}

#[test]
fn method_headers_and_body_reach_the_server() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/echo"))
        .args([
            "-m",
            "POST",
            "-H",
            "X-Kaioken-Test: hello",
            "-b",
            "twelve bytes",
        ])
        .args(["-c", "2", "--max-requests", "50", "-d", "60s"])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/1.1");
    assert_eq!(lines.len(), 50, "{report}");
    assert_eq!(report.str("target.method"), "POST", "{report}");
    for l in &lines {
        assert_eq!(
            (
                l.method.as_str(),
                l.content_length.as_str(),
                l.x_kaioken_test.as_str()
            ),
            ("POST", "12", "hello"),
            "{l:?}"
        );
    }
    assert!(report.u64("requests.bytes_sent") > 50 * 12, "{report}");
}

#[test]
fn scenario_file_with_body_file_and_builtins() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .file("body.json", r#"{"hello": "world"}"#)
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [request]
            method = "PUT"
            body_file = "body.json"
            headers = {{ X-Kaioken-Test = "r${{REQUEST_ID}}-vu${{VU}}" }}

            [load]
            vus = 3
            max_requests = 60
            duration = "60s"
            "#,
            nginx.url("/echo")
        ))
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/1.1");
    assert_eq!(lines.len(), 60, "{report}");
    let ids: BTreeSet<&str> = lines.iter().map(|l| l.x_kaioken_test.as_str()).collect();
    assert_eq!(
        ids.len(),
        60,
        "REQUEST_ID is not unique per request: {ids:?}"
    );
    for l in &lines {
        assert_eq!(l.method, "PUT", "{l:?}");
        assert_eq!(l.content_length, "18", "the body file has 18 bytes: {l:?}");
        assert!(
            l.x_kaioken_test.starts_with('r') && !l.x_kaioken_test.contains('$'),
            "not interpolated: {l:?}"
        );
    }
}

#[test]
fn json_flag_prints_the_report_on_stdout() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["--json", "-c", "2", "--max-requests", "100", "-d", "60s"])
        .run();
    let report = out.stdout_report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.responses"), 100, "{report}");
    assert_eq!(nginx.access_log_lines().len(), 100, "{}", nginx.logs());
}

/// Warm-up requests are counted apart, and their checks and extractions not at
/// all: every count of the report is the measured window's.
#[test]
fn warmup_requests_are_counted_apart() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .scenario(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/"
            checks = ["status == 200"]
            extract = { server = "header:Server" }
            "#,
        )
        .arg(nginx.url("/"))
        .args(["-c", "2", "--warmup", "1s", "-d", "1s"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    let warmup = report.u64("requests.warmup_requests");
    let measured = report.u64("requests.responses");
    let check = &report.get("checks")[0];
    assert_eq!(check["passes"].as_u64(), Some(measured), "{report}");
    assert_eq!(check["fails"].as_u64(), Some(0), "{report}");
    let extraction = &report.get("extractions")[0];
    assert_eq!(extraction["ok"].as_u64(), Some(measured), "{report}");
    assert!(warmup > 0, "no warm-up requests\n{report}");
    assert!(measured > 0, "no measured requests\n{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    // nginx served both phases; kaioken reports them in separate counts.
    assert_eq!(
        warmup + measured,
        nginx.access_log_lines().len() as u64,
        "warm-up + measured != nginx's access log lines\n{report}\n{}",
        nginx.logs()
    );
    // `elapsed_s` is the measured window only: from the warm-up's end to when the
    // workers finished, at the 1 s deadline or after it (finishing the requests in
    // flight, which a loaded machine can delay). The warm-up's second went before it
    // in the process's wall time, so the window is at most that time less a second;
    // counting the warm-up in would pass that by a second less the process's start
    // and exit (tens of milliseconds). A fixed bound (this test had 1.9 s) cannot
    // tell a late end from the warm-up.
    let elapsed = report.f64("elapsed_s");
    let most = out.elapsed.as_secs_f64() - 1.0;
    assert!(
        (1.0..=most).contains(&elapsed),
        "elapsed_s {elapsed}, the process took {:?}\n{report}",
        out.elapsed
    );
}

#[test]
fn rate_limits_throughput() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "4", "-r", "100", "-d", "2s"])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/1.1");
    // 100 req/s for 2s, with room for the bucket's first fill and a slow machine;
    // unlimited, this loop does thousands per second.
    assert!(
        (140..=240).contains(&lines.len()),
        "{} requests at -r 100 for 2s\n{report}",
        lines.len()
    );
    assert!((report.f64("load.rate") - 100.0).abs() < 1e-9, "{report}");
}

/// A low cap over many worker threads: the workers' schedules interleave, so the
/// cap holds from the first second. Each worker starting its first slot at once
/// sent one request per worker in second 0 and again in second 1 (32 at `-r 10`
/// for 2 s on 16 threads).
#[test]
fn a_low_rate_over_many_threads_holds_the_cap() {
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Http1);
        let out = Test::new()
            .arg(nginx.url("/"))
            .args(["-c", "16", "--threads", "16", "-r", "10", "-d", "2s"])
            .on_engine(engine)
            .report()
            .run();
        let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/1.1");
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        // 10 a second for 2 s: slots at 0, 0.1 s, … 1.9 s, and one at 2 s at most.
        assert!(
            (19..=21).contains(&lines.len()),
            "{engine}: {} requests at -r 10 for 2 s on 16 threads\n{report}",
            lines.len()
        );
        let first = report.get("timeline").as_array().unwrap()[0]["requests"]
            .as_u64()
            .unwrap();
        assert!(
            first <= 11,
            "{engine}: {first} requests in the first second\n{report}"
        );
    }
}

#[test]
fn one_worker_thread_still_counts_exactly() {
    let nginx = Nginx::start(Variant::H2c);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args([
            "--http2",
            "--threads",
            "1",
            "-c",
            "16",
            "--max-requests",
            "500",
            "-d",
            "60s",
        ])
        .report()
        .run();
    let (report, lines) = assert_matches_log(&out, &nginx, "HTTP/2.0");
    assert_eq!(lines.len(), 500, "{report}");
}
