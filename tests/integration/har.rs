//! HAR recordings: `kaioken import har` and running a `.har` directly.
//!
//! The recordings in `tests/fixtures/har/` name internet hosts, so they are only ever
//! imported and `--dry-run`; the runs that send load use recordings written here with
//! URLs on a local nginx or httpbin, and compare what was replayed with the server's
//! access log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::harness::Test;
use crate::httpbin::{Httpbin, LogLine};
use crate::nginx::{Nginx, Variant};
use crate::websocket::WsEcho;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/har")
        .join(name)
}

/// The recordings with requests to replay: all but `brokenfile.har` (not JSON).
fn replayable() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .expect("tests/fixtures/har exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "har"))
        .filter(|p| !p.ends_with("brokenfile.har"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "fixtures missing: {files:?}");
    files
}

#[test]
fn every_recording_imports_and_dry_runs() {
    for file in replayable() {
        // Imported, then the scenario file compiles.
        let out = Test::new()
            .without_no_tui()
            .args(["import", "har"])
            .arg(&file)
            .args(["-o", "imported.toml"])
            .stderr_contains("wrote imported.toml")
            .run();
        let toml = std::fs::read_to_string(out.dir.path().join("imported.toml")).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            toml.starts_with(&format!("# Imported from `{name}` by `kaioken import har`")),
            "{toml}"
        );
        Test::in_dir(out.dir)
            .args(["-f", "imported.toml", "--dry-run"])
            .stdout_contains("dry run: valid scenario, nothing sent")
            .run();
        // Run directly, in each of the ways the command line accepts it.
        for args in [vec!["run"], vec![], vec!["-f"]] {
            Test::new()
                .args(args.clone())
                .arg(&file)
                .arg("--dry-run")
                .stdout_contains("dry run: valid scenario, nothing sent")
                .stdout_contains(format!("scenario {:?}", name.trim_end_matches(".har")))
                .run();
        }
    }
}

#[test]
fn import_without_output_prints_the_scenario() {
    let out = Test::new()
        .without_no_tui()
        .args(["import", "har"])
        .arg(fixture("postdata.har"))
        .run();
    assert!(
        out.stdout.starts_with("# Imported from `postdata.har`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\n[[scenarios.steps]]\n"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

/// `-o -` is stdout, as for a file argument in a shell pipeline, for every import
/// format: no file named `-` is written.
#[test]
fn import_to_dash_prints_the_scenario() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    for (format, file) in [
        ("har", fixture("postdata.har")),
        ("openapi", fixtures.join("openapi/petstore-3.0.yaml")),
        (
            "postman",
            fixtures.join("postman/httpbin.postman_collection.json"),
        ),
    ] {
        let out = Test::new()
            .without_no_tui()
            .args(["import", format])
            .arg(&file)
            .args(["-o", "-"])
            .run();
        assert!(
            out.stdout.starts_with("# Imported from `")
                && out.stdout.contains("[[scenarios.steps]]"),
            "{format}: {}",
            out.stdout
        );
        assert!(!out.stderr.contains("wrote"), "{format}: {}", out.stderr);
        assert!(
            !out.dir.path().join("-").exists(),
            "{format} wrote a file named `-`"
        );
    }
}

#[test]
fn broken_recording_is_a_located_error() {
    for command in [&["import", "har"][..], &["run"][..]] {
        let mut test = Test::new().args(command).arg(fixture("brokenfile.har"));
        if command[0] == "import" {
            test = test.without_no_tui();
        }
        let out = test
            .status(1)
            .stderr_contains("invalid JSON: expected `,` or `}`")
            .stderr_contains("brokenfile.har:5:1")
            .stderr_contains(r#"5 │ "request:"}"#)
            .stderr_contains("┬")
            .run();
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
}

#[test]
fn recordings_that_are_not_har_or_have_nothing_to_replay() {
    Test::new()
        .file("empty.har", r#"{"log": {"version": "1.2"}}"#)
        .arg("empty.har")
        .status(1)
        .stderr_contains("not a HAR recording: `log` has no `entries` array")
        .stderr_contains("empty.har:1:")
        .run();
    Test::new()
        .without_no_tui()
        .args(["import", "har"])
        .arg(fixture("firefox.har"))
        .args(["--include-host", "example.com"])
        .status(1)
        .stderr_contains("left out: requests to other hosts")
        .stderr_contains("`s3-us-west-2.amazonaws.com`")
        .stderr_contains("--include-host")
        .run();
}

#[test]
fn a_recording_and_a_scenario_file_are_one_too_many() {
    Test::new()
        .file("s.toml", "[target]\nurl = \"http://127.0.0.1:9/\"\n")
        .arg(fixture("postdata.har"))
        .args(["-f", "s.toml", "--dry-run"])
        .status(1)
        .stderr_contains("give one")
        .run();
}

#[test]
fn import_help_lists_the_har_options() {
    Test::new()
        .without_no_tui()
        .args(["import", "har", "--help"])
        .stdout_contains("--include-assets")
        .stdout_contains("--include-host <HOST>")
        .stdout_contains("--think-time")
        .stdout_contains("--output")
        .run();
}

/// A HAR entry; `start_ms` is milliseconds after a fixed instant.
fn entry(
    start_ms: u64,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    status: u16,
    mime: &str,
    body: Option<&str>,
) -> Value {
    let started = format!(
        "2024-05-02T08:00:{:02}.{:03}Z",
        start_ms / 1000,
        start_ms % 1000
    );
    let headers: Vec<Value> = headers
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    let mut content = json!({"size": 0, "mimeType": mime});
    if let Some(body) = body {
        content["text"] = json!(body);
    }
    json!({
        "startedDateTime": started,
        "time": 10,
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": headers,
                    "cookies": [], "queryString": [], "headersSize": -1, "bodySize": -1},
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [],
                     "cookies": [], "content": content, "redirectURL": "", "headersSize": -1, "bodySize": -1},
        "cache": {},
        "timings": {"send": 0, "wait": 10, "receive": 0}
    })
}

fn har(entries: Vec<Value>) -> String {
    serde_json::to_string_pretty(&json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": entries}}))
        .unwrap()
}

/// A recording of nginx, replayed: nginx serves exactly the requests the recording
/// made, minus the asset and the other host, with bodies and lengths recomputed.
#[test]
fn recording_replayed_against_nginx_matches_its_access_log() {
    let nginx = Nginx::start(Variant::Http1);
    let port = nginx.url("").rsplit(':').next().unwrap().to_owned();
    let mut post = entry(
        300,
        "POST",
        &nginx.url("/echo?step=3"),
        &[
            ("Content-Length", "999"),
            ("Content-Type", "text/plain"),
            ("X-Kaioken-Test", "har"),
        ],
        200,
        "text/plain",
        Some("POST /echo?step=3"),
    );
    post["request"]["postData"] = json!({"mimeType": "text/plain", "text": "hello=world"});
    let recording = har(vec![
        entry(
            0,
            "GET",
            &nginx.url("/"),
            &[
                (":authority", "127.0.0.1"),
                ("Host", "127.0.0.1"),
                ("Connection", "keep-alive"),
                ("Accept", "text/html"),
            ],
            200,
            "text/plain",
            Some("ok"),
        ),
        entry(
            100,
            "GET",
            &nginx.url("/static/app.css"),
            &[],
            200,
            "text/css",
            None,
        ),
        entry(
            200,
            "GET",
            &format!("http://localhost:{port}/echo"),
            &[],
            200,
            "text/plain",
            None,
        ),
        post,
        entry(
            400,
            "GET",
            &nginx.url("/status/404"),
            &[],
            404,
            "text/plain",
            Some("not found"),
        ),
        entry(
            500,
            "HEAD",
            &nginx.url("/"),
            &[("Content-Length", "2")],
            200,
            "text/plain",
            None,
        ),
    ]);
    let out = Test::new()
        .file("recording.har", &recording)
        .args([
            "run",
            "recording.har",
            "--include-host",
            "127.0.0.1",
            "-c",
            "1",
            "-n",
            "40",
        ])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.total"), 40, "{report}");
    assert_eq!(report.status_codes(), [(200, 30), (404, 10)], "{report}");
    let lines = nginx.access_log_lines();
    let context = format!("{report}\n{}", nginx.logs());
    assert_eq!(lines.len(), 40, "{lines:#?}\n{context}");
    let mut by_request: BTreeMap<(String, String), u64> = BTreeMap::new();
    for l in &lines {
        *by_request
            .entry((l.method.clone(), l.uri.clone()))
            .or_default() += 1;
    }
    let want: BTreeMap<(String, String), u64> = [
        (("GET", "/"), 10),
        (("POST", "/echo?step=3"), 10),
        (("GET", "/status/404"), 10),
        (("HEAD", "/"), 10),
    ]
    .into_iter()
    .map(|((m, u), n)| ((m.to_owned(), u.to_owned()), n))
    .collect();
    assert_eq!(by_request, want, "{context}");
    for l in lines.iter().filter(|l| l.method == "POST") {
        assert_eq!(
            l.content_length, "11",
            "content-length is the body's, not the recorded 999"
        );
        assert_eq!(l.x_kaioken_test, "har");
    }
    for l in lines.iter().filter(|l| l.method != "POST") {
        assert_eq!(l.content_length, "-", "{l:?}");
    }
}

/// A browser records each redirect hop as an entry of its own: the replay sends the
/// recorded entries and does not follow the redirects a second time.
#[test]
fn recorded_redirects_are_replayed_hop_by_hop() {
    let nginx = Nginx::start(Variant::Http1);
    let recording = har(vec![
        entry(0, "GET", &nginx.url("/hop/1"), &[], 307, "text/html", None),
        entry(
            100,
            "GET",
            &nginx.url("/echo"),
            &[],
            200,
            "text/plain",
            Some("GET /echo"),
        ),
    ]);
    let out = Test::new()
        .file("recording.har", &recording)
        .args(["run", "recording.har", "-c", "1", "-n", "10"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("settings.max_redirects"), 0, "{report}");
    assert_eq!(report.status_codes(), [(200, 5), (307, 5)], "{report}");
    let checks = report.get("checks").as_array().expect("checks").clone();
    assert!(
        checks.iter().all(|c| c["fails"] == 0 && c["passes"] == 5),
        "the recorded statuses are checked: {report}"
    );
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 10, "{lines:?}");
    assert_eq!(
        lines.iter().filter(|l| l.uri == "/echo").count(),
        5,
        "{lines:?}"
    );
    let imported = Test::new()
        .without_no_tui()
        .file("recording.har", &recording)
        .args(["import", "har", "recording.har"])
        .run();
    assert!(
        imported.stdout.contains("follow_redirects = false"),
        "{}",
        imported.stdout
    );
}

/// A recorded WebSocket connection is replayed as its opening handshake over HTTP/1.1:
/// a real WebSocket server (Python's `websockets`) accepts every one, on both engines.
#[test]
fn websocket_handshakes_are_accepted_by_a_websocket_server() {
    for (env, engine) in [(None, "io_uring"), (Some("1"), "tokio")] {
        let server = WsEcho::start();
        let recording = har(vec![entry(
            0,
            "GET",
            &format!("ws://127.0.0.1:{}/chat?room=7", server.port),
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw=="),
                ("Sec-WebSocket-Version", "13"),
                (
                    "Sec-WebSocket-Extensions",
                    "permessage-deflate; client_max_window_bits",
                ),
            ],
            101,
            "",
            None,
        )]);
        let mut test = Test::new()
            .file("recording.har", &recording)
            .args(["run", "recording.har", "-c", "2", "-n", "12"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.status_codes(), [(101, 12)], "{report}");
        let checks = report.get("checks").as_array().expect("checks").clone();
        assert_eq!(checks.len(), 1, "{report}");
        assert_eq!(
            (checks[0]["passes"].as_u64(), checks[0]["fails"].as_u64()),
            (Some(12), Some(0))
        );
        let handshakes = server.handshakes();
        assert_eq!(handshakes.len(), 12, "{handshakes:?}");
        assert!(
            handshakes.iter().all(|p| p == "/chat?room=7"),
            "{handshakes:?}"
        );
    }
}

/// Correlation against a real application: httpbin's `/uuid` gives a fresh value each
/// time, and the imported scenario sends it back to `/anything/<uuid>`; the recording's
/// own value is never replayed. Recorded cookies are dropped and the jar sends the
/// session the replay itself was given.
#[test]
fn correlated_recording_sends_back_fresh_values_to_httpbin() {
    let httpbin = Httpbin::start();
    const RECORDED: &str = "9b2d3c6e-1f4a-4b8e-9c7d-2a5f6e8b0c1d";
    let mut set_cookie = entry(
        200,
        "GET",
        &httpbin.url("/response-headers?Set-Cookie=session%3Dabc12345"),
        &[],
        200,
        "application/json",
        None,
    );
    set_cookie["response"]["headers"] =
        json!([{"name": "Set-Cookie", "value": "session=abc12345"}]);
    let recording = har(vec![
        entry(
            0,
            "GET",
            &httpbin.url("/uuid"),
            &[("Accept", "application/json"), ("Accept-Encoding", "gzip")],
            200,
            "application/json",
            Some(&format!("{{\n  \"uuid\": \"{RECORDED}\"\n}}\n")),
        ),
        entry(
            100,
            "GET",
            &httpbin.url(&format!("/anything/{RECORDED}?again={RECORDED}")),
            &[("X-Correlation", RECORDED)],
            200,
            "application/json",
            None,
        ),
        set_cookie,
        entry(
            300,
            "GET",
            &httpbin.url("/cookies"),
            &[("Cookie", "session=abc12345; tracking=old-visit-1")],
            200,
            "application/json",
            None,
        ),
    ]);
    let out = Test::new()
        .file("recording.har", &recording)
        .args(["import", "har", "recording.har", "-o", "replay.toml"])
        .without_no_tui()
        .stderr_contains("correlated: uuid")
        .run();
    let toml = std::fs::read_to_string(out.dir.path().join("replay.toml")).unwrap();
    assert!(
        toml.contains(r#"extract = { uuid = "json:$.uuid" }"#),
        "{toml}"
    );
    assert!(
        toml.contains(r#"url = "/anything/${uuid}?again=${uuid}""#),
        "{toml}"
    );
    assert!(toml.contains(r#"x-correlation = "${uuid}""#), "{toml}");
    assert!(toml.contains("cookie_jar = true"), "{toml}");

    let out = Test::in_dir(out.dir)
        .args(["-f", "replay.toml", "-c", "1", "-n", "20"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.total"), 20, "{report}");
    let lines = httpbin.access_log_lines();
    let context = format!("{report}\n{}", httpbin.logs());
    assert_eq!(lines.len(), 20, "{lines:#?}\n{context}");
    let echoed: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.path.strip_prefix("/anything/"))
        .collect();
    assert_eq!(echoed.len(), 5, "{context}");
    let distinct: BTreeSet<&str> = echoed.iter().copied().collect();
    assert_eq!(distinct.len(), 5, "a fresh value per iteration: {echoed:?}");
    for l in lines.iter().filter(|l| l.path.starts_with("/anything/")) {
        let value = &l.path["/anything/".len()..];
        assert_ne!(value, RECORDED, "the recorded value was replayed");
        assert_eq!(value.len(), 36, "{value}");
        assert_eq!(l.query_param("again"), Some(value), "{l:?}");
    }
    let cookies: Vec<&str> = lines
        .iter()
        .filter(|l| l.path == "/cookies")
        .map(|l| l.cookie.as_str())
        .collect();
    assert_eq!(cookies, ["session=abc12345"; 5], "{context}");
}

/// A value sent back percent-encoded: httpbin's `/base64/…` serves a form whose hidden
/// `authenticity_token` has `+`, `/` and `=`, and the imported scenario sends the token
/// it was given, not the recorded one, as `${URLENCODE(authenticity_token)}` in a query
/// string (recorded with lowercase hex) and in a form body. httpbin decodes both back
/// to the token, as `/anything` echoes.
#[test]
fn percent_encoded_token_is_sent_back_fresh_to_httpbin() {
    let httpbin = Httpbin::start();
    const RECORDED: &str = "Rec0rded+t0ken/value==";
    const LIVE: &str = "L1ve+t0ken/from/httpbin==";
    let page = |token: &str| {
        format!(
            r#"<form method="post" action="/anything"><input type="hidden" name="authenticity_token" value="{token}"></form>"#
        )
    };
    // `page(LIVE)` in URL-safe base64, which `/base64/` decodes and serves.
    const LIVE_PAGE: &str = "PGZvcm0gbWV0aG9kPSJwb3N0IiBhY3Rpb249Ii9hbnl0aGluZyI-PGlucHV0IHR5cGU9ImhpZGRlbiIgbmFtZT0iYXV0aGVudGljaXR5X3Rva2VuIiB2YWx1ZT0iTDF2ZSt0MGtlbi9mcm9tL2h0dHBiaW49PSI-PC9mb3JtPg==";
    let mut post = entry(
        200,
        "POST",
        &httpbin.url("/anything"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        200,
        "application/json",
        None,
    );
    post["request"]["postData"] = json!({
        "mimeType": "application/x-www-form-urlencoded",
        "text": "authenticity_token=Rec0rded%2Bt0ken%2Fvalue%3D%3D&commit=Log+in",
    });
    let recording = har(vec![
        entry(
            0,
            "GET",
            &httpbin.url(&format!("/base64/{LIVE_PAGE}")),
            &[],
            200,
            "text/html",
            Some(&page(RECORDED)),
        ),
        entry(
            100,
            "GET",
            &httpbin.url("/anything?t=Rec0rded%2bt0ken%2fvalue%3d%3d&n=1"),
            &[],
            200,
            "application/json",
            None,
        ),
        post,
    ]);
    let out = Test::new()
        .file("recording.har", &recording)
        .args(["import", "har", "recording.har", "-o", "replay.toml"])
        .without_no_tui()
        .stderr_contains("correlated: authenticity_token")
        .run();
    let toml = std::fs::read_to_string(out.dir.path().join("replay.toml")).unwrap();
    for want in [
        r#"url = "/anything?t=${URLENCODE(authenticity_token)}&n=1""#,
        r#"body = "authenticity_token=${URLENCODE(authenticity_token)}&commit=Log+in""#,
    ] {
        assert!(toml.contains(want), "lacks {want:?}:\n{toml}");
    }
    let comment: Vec<&str> = toml.lines().map_while(|l| l.strip_prefix("# ")).collect();
    assert!(
        comment
            .join(" ")
            .contains("sent percent-encoded by steps 2, 3."),
        "{toml}"
    );
    // Each `/anything` step checks that httpbin decoded the live token, and that the
    // recorded one was not sent.
    let checked = format!(
        r#"checks = ["status == 200", 'body contains "{LIVE}"', '!(body contains "Rec0rded")']"#
    );
    let toml: String = toml
        .split_inclusive("[[scenarios.steps]]")
        .map(|step| {
            if step.contains(r#"url = "/anything"#) {
                step.replace(r#"checks = ["status == 200"]"#, &checked)
            } else {
                step.to_owned()
            }
        })
        .collect();
    assert_eq!(toml.matches(&checked).count(), 2, "{toml}");
    std::fs::write(out.dir.path().join("replay.toml"), &toml).unwrap();

    let out = Test::in_dir(out.dir)
        .args(["-f", "replay.toml", "-c", "1", "-n", "30"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.total"), 30, "{report}");
    let checks = report.get("checks").as_array().expect("checks").clone();
    assert!(
        checks.iter().all(|c| c["fails"] == 0),
        "every check passes: {report}"
    );
    let live_passes: u64 = checks
        .iter()
        .filter(|c| {
            [&c["name"], &c["expr"]]
                .iter()
                .any(|v| v.as_str().is_some_and(|e| e.contains(LIVE)))
        })
        .map(|c| c["passes"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(live_passes, 20, "{report}");
    let lines = httpbin.access_log_lines();
    let context = format!("{report}\n{}", httpbin.logs());
    assert_eq!(lines.len(), 30, "{lines:#?}\n{context}");
    let queries: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.method == "GET" && l.path == "/anything")
        .collect();
    assert_eq!(queries.len(), 10, "{context}");
    for l in queries {
        // Sent as `${URLENCODE}` writes it: uppercase hex, whatever the recording had.
        assert_eq!(
            l.query_param("t"),
            Some("L1ve%2Bt0ken%2Ffrom%2Fhttpbin%3D%3D"),
            "{l:?}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.method == "POST" && l.path == "/anything")
            .count(),
        10,
        "{context}"
    );
}
