//! Postman collections: `kaioken import postman` and running a collection directly.
//!
//! The collections in `tests/fixtures/postman/` are imported and `--dry-run` with
//! their environment files (which point at a closed port); the hand-written
//! `httpbin.postman_collection.json` is then run against a local httpbin, and what
//! kaioken counted is compared with httpbin's access log.

use std::path::PathBuf;

use crate::harness::Test;
use crate::httpbin::Httpbin;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/postman")
        .join(name)
}

/// Each collection of the fixtures folder, its environment and its request count.
fn collections() -> Vec<(PathBuf, PathBuf, usize, &'static str)> {
    vec![
        (
            fixture("httpbin.postman_collection.json"),
            fixture("httpbin.postman_environment.json"),
            8,
            "httpbin tour",
        ),
        (
            fixture("pmpact-hub-services.postman_collection.json"),
            fixture("pmpact-hub-services.postman_environment.json"),
            61,
            "Pact - 10ft - Hub Services Discovery",
        ),
    ]
}

#[test]
fn every_collection_imports_and_dry_runs() {
    for (collection, environment, requests, name) in collections() {
        let out = Test::new()
            .without_no_tui()
            .args(["import", "postman"])
            .arg(&collection)
            .arg("--environment")
            .arg(&environment)
            .args(["-o", "imported.toml"])
            .stderr_contains(format!("wrote imported.toml ({requests} requests as steps"))
            .run();
        let toml = std::fs::read_to_string(out.dir.path().join("imported.toml")).unwrap();
        let file = collection
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            toml.starts_with(&format!("# Imported from `{file}` by `kaioken import")),
            "{toml}"
        );
        assert_eq!(
            toml.matches("\n[[scenarios.steps]]\n").count(),
            requests,
            "{toml}"
        );
        let dry = Test::in_dir(out.dir)
            .args(["-f", "imported.toml", "--dry-run"])
            .stdout_contains("dry run: valid scenario, nothing sent")
            .run();
        // Run directly, in each of the ways the command line accepts it: the same
        // scenario.
        for args in [vec!["run"], vec![], vec!["-f"]] {
            let direct = Test::new()
                .args(args.clone())
                .arg(&collection)
                .arg("--environment")
                .arg(&environment)
                .arg("--dry-run")
                .stdout_contains(format!("scenario {name:?}"))
                .run();
            assert_eq!(direct.stdout, dry.stdout);
        }
    }
}

#[test]
fn imported_collection_runs_against_httpbin_matching_its_access_log() {
    let httpbin = Httpbin::start();
    let env = format!(
        r#"{{"name": "here", "values": [{{"key": "baseUrl", "value": "{}", "enabled": true}}]}}"#,
        httpbin.url("")
    );
    let out = Test::new()
        .without_no_tui()
        .file("env.json", &env)
        .args(["import", "postman"])
        .arg(fixture("httpbin.postman_collection.json"))
        .args(["--environment", "env.json", "-o", "tour.toml"])
        .stderr_contains("extracted: api_key_seen, created_id")
        .run();
    let toml = std::fs::read_to_string(out.dir.path().join("tour.toml")).unwrap();
    for expected in [
        r#"authorization = "Basic a2Fpb2tlbjpzM2NyZXQ=""#,
        r#"authorization = "Bearer t0ken-kaioken""#,
        r#"x-api-key = "k-${RANDOM(0,1000)}""#,
        r#"extract = { api_key_seen = "json:$.headers['X-Api-Key']" }"#,
        r#"extract = { created_id = "json:$.json.id" }"#,
        r#"body = "name=a+b%26c&id=${URLENCODE(created_id)}""#,
        r#"at = "@@home""#,
        "- Step 3 (`Auth / API key`), test script: `pm.globals.set(\"checked_at\", Date.now());`.",
        "`{{$timestamp}}` became `${TIMESTAMP_MS}`",
    ] {
        assert!(toml.contains(expected), "{expected}\n{toml}");
    }
    assert!(
        !toml.contains("X-Off") && !toml.contains("off=2") && !toml.contains("skip"),
        "{toml}"
    );

    let out = Test::in_dir(out.dir)
        .args(["-f", "tour.toml", "-c", "1", "-n", "16"])
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.total"), 16, "{report}");
    assert_eq!(report.status_codes(), [(200, 16)], "{report}");
    let checks = report.get("checks").as_array().unwrap();
    let passes: u64 = checks.iter().map(|c| c["passes"].as_u64().unwrap()).sum();
    let fails: u64 = checks.iter().map(|c| c["fails"].as_u64().unwrap()).sum();
    assert_eq!((passes, fails), (4, 0), "{report}");

    let lines = httpbin.access_log_lines();
    let context = format!("{report}\n{}", httpbin.logs());
    assert_eq!(lines.len(), 16, "{lines:#?}\n{context}");
    let paths: Vec<String> = lines
        .iter()
        .map(|l| {
            let path = if l.path.starts_with("/anything/items/") {
                "/anything/items/<id>"
            } else {
                &l.path
            };
            format!("{} {path} {}", l.method, l.status)
        })
        .collect();
    let iteration = [
        "GET /basic-auth/kaioken/s3cret 200",
        "GET /bearer 200",
        "GET /headers 200",
        "POST /anything/create 200",
        "GET /anything/items/<id> 200",
        "POST /post 200",
        "POST /post 200",
        "POST /anything/graphql 200",
    ];
    assert_eq!(paths, [iteration, iteration].concat(), "{context}");
    // Each read-back sends the id its iteration's create was answered with, and the
    // API key the headers step saw.
    let ids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.path.strip_prefix("/anything/items/"))
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "a fresh {{$guid}} per iteration");
    for (id, line) in ids.iter().zip(
        lines
            .iter()
            .filter(|l| l.path.starts_with("/anything/items/")),
    ) {
        assert_eq!(id.len(), 36, "{id}");
        let seen = line.query_param("seen").unwrap_or_default();
        let n: u32 = seen
            .strip_prefix("k-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(9999);
        assert!(n <= 1000, "{line:?}");
    }

    // The collection run directly sends the same requests.
    Test::new()
        .file("env.json", &env)
        .arg(fixture("httpbin.postman_collection.json"))
        .args(["--environment", "env.json", "-c", "1", "-n", "8"])
        .run();
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 24, "{lines:#?}");
    assert!(lines.iter().all(|l| l.status == 200), "{lines:#?}");
}

/// Postman percent-encodes a space a variable brings into a URL and never sends a
/// fragment: the imported scenario does the same, so it compiles and dry-runs.
#[test]
fn urls_with_spaces_and_fragments_import_and_dry_run() {
    let collection = r#"{"info":{"name":"Q","schema":"https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},"variable":[{"key":"name","value":"John Doe"}],"item":[{"name":"S","request":{"method":"GET","url":"http://127.0.0.1:18080/s?q={{name}}"}},{"name":"H","request":{"method":"GET","url":"http://127.0.0.1:18080/h?x=1#frag"}}]}"#;
    let out = Test::new()
        .without_no_tui()
        .file("q.json", collection)
        .args(["import", "postman", "q.json", "-o", "out.toml"])
        .run();
    let toml = std::fs::read_to_string(out.dir.path().join("out.toml")).unwrap();
    assert!(
        toml.contains(r#"url = "http://127.0.0.1:18080/s?q=John%20Doe""#),
        "{toml}"
    );
    assert!(
        toml.contains(r#"url = "http://127.0.0.1:18080/h?x=1""#),
        "{toml}"
    );
    Test::in_dir(out.dir)
        .args(["-f", "out.toml", "--dry-run"])
        .stdout_contains("dry run: valid scenario, nothing sent")
        .run();
}

#[test]
fn broken_collection_is_a_located_error() {
    for command in [&["import", "postman"][..], &["run"][..]] {
        let mut test = Test::new()
            .file(
                "c.json",
                "{\n  \"info\": {\"schema\": \"https://schema.getpostman.com/json/collection/v2.1.0/collection.json\"},\n  \"item\": [\n    {\"name\": \"a\" \"request\": \"http://127.0.0.1:9/\"}\n  ]\n}\n",
            )
            .args(command)
            .arg("c.json");
        if command[0] == "import" {
            test = test.without_no_tui();
        }
        let out = test
            .status(1)
            .stderr_contains("invalid JSON: expected `,` or `}`")
            .stderr_contains("kaioken::json::syntax")
            .stderr_contains("c.json:4:18")
            .run();
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
}

#[test]
fn json_that_is_not_a_usable_collection_is_told_so() {
    let v1 = r#"{"id": "1", "name": "old", "order": ["r1"], "requests": [{"id": "r1", "url": "http://127.0.0.1:9/", "method": "GET"}]}"#;
    let cases = [
        (
            r#"{"info": {"name": "x"}, "item": []}"#,
            "not a usable Postman file: no `info.schema` naming a Postman collection schema",
        ),
        (
            v1,
            "not a usable Postman file: Postman Collection v1 (`requests` and `order`) is not supported",
        ),
        (
            r#"{"info": {"schema": "https://schema.getpostman.com/json/collection/v1.0.0/collection.json"}, "requests": []}"#,
            "not a usable Postman file: Postman Collection v1.0.0 is not supported",
        ),
        (
            r#"{"info": {"schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}, "item": []}"#,
            "the collection has no request",
        ),
        (
            "[1, 2]",
            "not a usable Postman file: the file is JSON but not an object",
        ),
    ];
    for (text, message) in cases {
        Test::new()
            .file("c.json", text)
            .args(["c.json", "--dry-run"])
            .status(1)
            .stderr_contains(message)
            .stderr_contains("c.json:1:")
            .run();
        Test::new()
            .without_no_tui()
            .file("c.json", text)
            .args(["import", "postman", "c.json"])
            .status(1)
            .stderr_contains(message)
            .run();
    }
    // A collection whose only request cannot be sent says why, in its own words.
    let bad_url = r#"{"info": {"schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}, "item": [{"name": "S", "request": {"method": "GET", "url": 42}}]}"#;
    let out = Test::new()
        .env("RUST_BACKTRACE", "0")
        .file("c.json", bad_url)
        .args(["c.json", "--dry-run"])
        .status(1)
        .stderr_contains(
            "the collection's only request cannot be sent: request `S`: its `url` is `42`",
        )
        .stderr_contains("kaioken::postman::no_requests")
        .stderr_contains("c.json:1:")
        .run();
    assert!(!out.stderr.contains("recording"), "{}", out.stderr);
    // `requests` alone is not Collection v1 (which has `order` too); and one of
    // kaioken's own reports, given as a scenario, is said to be one.
    Test::new()
        .file("c.json", r#"{"requests": {"total": 3}}"#)
        .args(["c.json", "--dry-run"])
        .status(1)
        .stderr_contains("no `info.schema` naming a Postman collection schema")
        .run();
    Test::new()
        .file(
            "run.json",
            "{\n  \"schema\": \"kaioken.run/v1\",\n  \"requests\": {}\n}\n",
        )
        .args(["run.json", "--dry-run"])
        .status(1)
        .stderr_contains("`run.json` is a kaioken report (`kaioken.run/v1`), not a scenario")
        .stderr_contains("run.json:2:14")
        .run();
    // An environment file that is not one names itself.
    Test::new()
        .file("env.json", r#"{"name": "x", "variables": []}"#)
        .arg(fixture("httpbin.postman_collection.json"))
        .args(["--environment", "env.json", "--dry-run"])
        .status(1)
        .stderr_contains("not a usable Postman file: no `values` array: not a Postman environment")
        .stderr_contains("env.json:1:1")
        .run();
}

#[test]
fn variables_without_a_value_are_listed_and_read_from_the_environment() {
    let collection = r#"{
  "info": {"name": "env", "schema": "https://schema.getpostman.com/json/collection/v2.0.0/collection.json"},
  "auth": {"type": "bearer", "bearer": {"token": "{{token}}"}},
  "item": [{"name": "one", "request": {"url": "{{host}}/get", "method": "GET"}}]
}"#;
    let out = Test::new()
        .without_no_tui()
        .file("c.json", collection)
        .args(["import", "postman", "c.json"])
        .stderr_contains("variables with no value (environment variables when run): host, token")
        .run();
    assert!(
        out.stdout.contains(r#"url = "${host}/get""#),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(r#"authorization = "Bearer ${token}""#),
        "{}",
        out.stdout
    );
    Test::new()
        .file("c.json", collection)
        .args(["c.json", "--dry-run"])
        .env("host", "http://127.0.0.1:9")
        .env("token", "abc")
        .stdout_contains(r#"GET o0 "/get""#)
        .stdout_contains("origin http://127.0.0.1:9")
        .run();
}

/// A variable used before the request whose test script sets it (the folder's
/// `Bearer {{token}}` on the request before Login): Postman sends the
/// environment's value until then. The earlier uses read `${token_initial}`, the
/// later ones the extracted value; run against httpbin, each request carried its
/// token. Before, the import made a scenario that could not compile.
#[test]
fn a_variable_used_before_its_script_sets_it_reads_the_environment() {
    let httpbin = Httpbin::start();
    let collection = r#"{
  "info": {"name": "login", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
  "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
  "item": [
    {"name": "Me", "request": {"method": "GET", "url": "{{base}}/anything/{{token}}"}},
    {"name": "Login", "event": [{"listen": "test", "script": {"exec": ["pm.environment.set(\"token\", pm.response.json().token);"]}}],
     "request": {"method": "GET", "url": "{{base}}/response-headers?token=second"}},
    {"name": "Again", "request": {"method": "GET", "url": "{{base}}/anything/{{token}}"}}
  ]
}"#;
    let out = Test::new()
        .without_no_tui()
        .file("c.json", collection)
        .args(["import", "postman", "c.json", "-o", "c.toml"])
        .stderr_contains("token_initial")
        .run();
    let toml = std::fs::read_to_string(out.dir.path().join("c.toml")).unwrap();
    assert_eq!(toml.matches("Bearer ${token_initial}").count(), 2, "{toml}");
    assert_eq!(toml.matches("Bearer ${token}\"").count(), 1, "{toml}");
    assert!(toml.contains("the steps send `${token_initial}`"), "{toml}");
    // httpbin's /response-headers answers its query as JSON: Login extracts
    // `second`, which Again sends.
    let report = Test::in_dir(out.dir)
        .args(["-f", "c.toml", "-c", "1", "-n", "3"])
        .env("base", httpbin.url(""))
        .env("token_initial", "first")
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), [(200, 3)], "{report}");
    let paths: Vec<String> = httpbin
        .access_log_lines()
        .into_iter()
        .map(|l| l.path)
        .collect();
    assert_eq!(
        paths,
        ["/anything/first", "/response-headers", "/anything/second"],
        "{report}"
    );
}

#[test]
fn import_help_lists_the_postman_options() {
    Test::new()
        .without_no_tui()
        .args(["import", "postman", "--help"])
        .stdout_contains("--environment <ENV.json>")
        .stdout_contains("--globals <GLOBALS.json>")
        .stdout_contains("--output")
        .run();
}

/// Postman's precedence: the environment over the collection over the globals.
#[test]
fn environment_wins_over_collection_over_globals() {
    let collection = r#"{
  "info": {"name": "p", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
  "variable": [{"key": "who", "value": "collection"}, {"key": "base", "value": "http://127.0.0.1:9"}],
  "item": [{"name": "one", "request": {"method": "GET",
    "url": "{{base}}/{{who}}/{{only_global}}/{{env_and_global}}"}}]
}"#;
    let values = |pairs: &[(&str, &str)]| {
        let list: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!(r#"{{"key": "{k}", "value": "{v}", "enabled": true}}"#))
            .collect();
        format!(r#"{{"name": "x", "values": [{}]}}"#, list.join(", "))
    };
    let out = Test::new()
        .without_no_tui()
        .file("c.json", collection)
        .file(
            "globals.json",
            &values(&[
                ("who", "global"),
                ("only_global", "g"),
                ("env_and_global", "g2"),
            ]),
        )
        .file(
            "env.json",
            &values(&[("who", "env"), ("env_and_global", "e")]),
        )
        .args(["import", "postman", "c.json", "--globals", "globals.json"])
        .args(["--environment", "env.json"])
        .run();
    assert!(
        out.stdout.contains(r#"url = "http://127.0.0.1:9/env/g/e""#),
        "{}",
        out.stdout
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}
