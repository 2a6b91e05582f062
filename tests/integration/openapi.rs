//! OpenAPI specs: `kaioken import openapi`, against httpbin's own spec and real specs
//! from public projects (`tests/fixtures/openapi/`, their licences in its README).
//!
//! The fixtures name internet hosts, so they are only imported and `--dry-run`;
//! httpbin's spec (served at `/spec.json` when `flasgger` is installed beside it) is
//! imported and every GET operation run against the same httpbin, and what was sent
//! is compared with its access log.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use serde_json::Value;

use crate::harness::Test;
use crate::httpbin::Httpbin;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openapi")
        .join(name)
}

/// The spec read independently of the importer: JSON, or YAML.
fn spec_value(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).unwrap()
    } else {
        serde_norway::from_str(&text).unwrap()
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `METHOD /path` of every operation.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_ascii_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// The placeholders the import listed on stderr: `  NAME: what`.
fn placeholders(stderr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut listing = false;
    for line in stderr.lines() {
        if line.starts_with("placeholders to set") {
            listing = true;
        } else if listing {
            match line.strip_prefix("  ").and_then(|l| l.split_once(": ")) {
                Some((name, _)) => names.push(name.to_owned()),
                None => listing = false,
            }
        }
    }
    names
}

/// A GET over HTTP/1.0 on loopback, the body.
fn get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(head.split(' ').nth(1), Some("200"), "{head}");
    body.to_owned()
}

/// httpbin's own Swagger 2.0 spec, imported with `--server` pointing at the httpbin
/// that served it, and every GET operation run once: each request in the access log,
/// each documented-status check passed.
///
/// The six operations that document a 3xx are imported apart from the others: their
/// scenario does not follow redirects (a followed redirect would never show the 3xx),
/// while three of the others (`/cookies/set`, …) document 200 and answer with a
/// redirect that a client follows. The three placeholders (`CODES` for
/// `/status/{codes}`, and `ANYTHING` and `ETAG` for path parameters the spec does not
/// declare) are set as environment variables, as docs/openapi.md says to.
#[test]
fn httpbin_spec_get_operations_run_against_httpbin() {
    let httpbin = Httpbin::start();
    let spec_text = get(&httpbin.url("/spec.json"));
    let spec: Value = serde_json::from_str(&spec_text).unwrap_or_else(|e| {
        panic!("/spec.json is not JSON ({e}): is flasgger installed? scripts/test.sh installs it\n{spec_text}")
    });
    assert_eq!(spec["swagger"], "2.0");
    assert_eq!(spec["host"], "httpbin.org");

    // Without --server, the spec's own host.
    let out = Test::new()
        .file("spec.json", &spec_text)
        .args(["import", "openapi", "spec.json", "--operation", "GET /get"])
        .without_no_tui()
        .run();
    assert!(
        out.stdout.contains("url = \"https://httpbin.org\"\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("url = \"/get\"\n"), "{}", out.stdout);

    let gets: Vec<(String, String, Value)> = operations(&spec)
        .into_iter()
        .filter(|(m, _, _)| m == "GET")
        .collect();
    assert!(gets.len() >= 45, "{}", gets.len());
    let (redirecting, direct): (Vec<_>, Vec<_>) = gets.iter().partition(|(_, _, op)| {
        op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with('3'))
    });
    assert_eq!(redirecting.len(), 6, "{redirecting:?}");

    let env = [("ANYTHING", "any"), ("CODES", "200"), ("ETAG", "etag-1")];
    // The fetch of `/spec.json` is in the log already.
    let mut seen = httpbin.access_log_lines().len();
    assert_eq!(seen, 1);
    for (group, follows) in [(&redirecting, false), (&direct, true)] {
        let mut args: Vec<String> = ["import", "openapi", "spec.json", "-o", "s.toml", "--server"]
            .map(String::from)
            .into();
        args.push(httpbin.url(""));
        for (m, p, _) in group.iter() {
            args.push("--operation".into());
            args.push(format!("{m} {p}"));
        }
        let out = Test::new()
            .file("spec.json", &spec_text)
            .args(&args)
            .without_no_tui()
            .stderr_contains(format!(
                "wrote s.toml ({} of {} operations as steps)",
                group.len(),
                operations(&spec).len()
            ))
            .run();
        let toml = std::fs::read_to_string(out.dir.path().join("s.toml")).unwrap();
        assert_eq!(
            toml.contains("follow_redirects = false"),
            !follows,
            "{toml}"
        );
        let mut vars = placeholders(&out.stderr);
        vars.sort();
        let expected: Vec<&str> = if follows {
            vec!["ANYTHING", "ETAG"]
        } else {
            vec!["CODES"]
        };
        assert_eq!(vars, expected, "{}", out.stderr);

        // One iteration: one VU, as many requests as steps plus the redirects it follows.
        let mut run = Test::in_dir(out.dir).args(["-f", "s.toml", "-c", "1", "-n"]);
        let redirected = if follows { 3 } else { 0 };
        run = run.arg((group.len() + redirected).to_string());
        for (k, v) in env {
            run = run.env(k, v);
        }
        let out = run.report().run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(
            report.u64("requests.total"),
            (group.len() + redirected) as u64,
            "{report}"
        );
        assert_eq!(report.u64("requests.failed"), 0, "{report}");
        for (m, p, op) in group.iter() {
            let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            let check = match codes.as_slice() {
                [one] => format!("status == {one}"),
                many => format!(
                    "status in [{}]",
                    many.iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let step = format!("{m} {p}");
            let found: Vec<(u64, u64)> = report
                .get("checks")
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["step"] == step.as_str() && c["name"] == check.as_str())
                .map(|c| (c["passes"].as_u64().unwrap(), c["fails"].as_u64().unwrap()))
                .collect();
            assert_eq!(found, [(1, 0)], "{step}: {check}\n{report}");
        }
        let lines = httpbin.access_log_lines();
        let context = format!("{report}\n{}", httpbin.logs());
        assert_eq!(
            lines.len() - seen,
            group.len() + redirected,
            "{lines:#?}\n{context}"
        );
        let mut by_path: BTreeMap<&str, u64> = BTreeMap::new();
        for l in &lines[seen..] {
            *by_path.entry(l.path.as_str()).or_default() += 1;
            assert_eq!(l.method, "GET", "{l:?}");
        }
        if follows {
            // The three cookie operations redirect to `/cookies`, which is a step too.
            assert_eq!(by_path.get("/cookies"), Some(&4), "{by_path:?}");
            assert_eq!(by_path.get("/anything/any"), Some(&1), "{by_path:?}");
            assert_eq!(by_path.get("/etag/etag-1"), Some(&1), "{by_path:?}");
        } else {
            assert_eq!(by_path.get("/redirect/1"), Some(&1), "{by_path:?}");
            assert_eq!(by_path.get("/redirect-to"), Some(&1), "{by_path:?}");
            assert_eq!(by_path.get("/status/200"), Some(&1), "{by_path:?}");
        }
        seen = lines.len();

        // The spec run directly, with the same server and filters: the same requests.
        let mut run = Test::new()
            .file("spec.json", &spec_text)
            .args(["spec.json", "--server"])
            .arg(httpbin.url(""));
        for (m, p, _) in group.iter() {
            run = run.arg("--operation").arg(format!("{m} {p}"));
        }
        run = run
            .args(["-c", "1", "-n"])
            .arg((group.len() + redirected).to_string());
        for (k, v) in env {
            run = run.env(k, v);
        }
        let direct = run.report().run().report();
        direct.check_invariants(0);
        assert_eq!(
            direct.u64("requests.total"),
            (group.len() + redirected) as u64,
            "{direct}"
        );
        assert_eq!(direct.u64("requests.failed"), 0, "{direct}");
        // The same checks, each passed once; only their locations differ.
        let unlocated = |r: &crate::harness::Report| -> Vec<Value> {
            let mut checks = r.get("checks").as_array().unwrap().clone();
            for c in &mut checks {
                c.as_object_mut().unwrap().remove("location");
            }
            checks
        };
        assert_eq!(unlocated(&direct), unlocated(&report));
        let lines = httpbin.access_log_lines();
        let mut direct_paths: BTreeMap<&str, u64> = BTreeMap::new();
        for l in &lines[seen..] {
            *direct_paths.entry(l.path.as_str()).or_default() += 1;
        }
        assert_eq!(lines.len() - seen, group.len() + redirected);
        assert_eq!(direct_paths, by_path);
        seen = lines.len();
    }
}

/// A spec is a scenario too: `kaioken spec.yaml`, `kaioken run spec.json` and
/// `kaioken -f spec.yaml` import it and run what the import would write, with
/// `--server`, `--operation` and `--operation-tag` as the import's options.
#[test]
fn specs_run_directly() {
    let petstore = std::fs::read_to_string(fixture("petstore-3.0.yaml")).unwrap();
    let ops = operations(&spec_value(&fixture("petstore-3.0.yaml"))).len();
    for args in [
        vec!["pets.yaml"],
        vec!["run", "pets.yaml"],
        vec!["-f", "pets.yaml"],
    ] {
        let out = Test::new()
            .file("pets.yaml", &petstore)
            .args(args)
            .args(["--server", "http://127.0.0.1:9/v3", "--dry-run"])
            .env("API_KEY", "k")
            .env("PETSTORE_AUTH", "t")
            .stdout_contains("dry run: valid scenario")
            .run();
        let steps = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("  step s"))
            .count();
        assert_eq!(steps, ops, "{}", out.stdout);
        assert!(
            out.stdout.contains("o0 = origin http://127.0.0.1:9\n"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("GET o0 \"/v3/pet/findByStatus?status=available\""),
            "{}",
            out.stdout
        );
    }
    // The filters, and the IR equal to the imported file's.
    let filtered = [
        "--server",
        "http://127.0.0.1:9/v3",
        "--operation-tag",
        "store",
        "--operation",
        "getInventory",
    ];
    let direct = Test::new()
        .file("pets.yaml", &petstore)
        .args(["pets.yaml", "--dump", "ir"])
        .args(filtered)
        .env("API_KEY", "k")
        .run();
    let imported = Test::new()
        .file("pets.yaml", &petstore)
        .args(["import", "openapi", "pets.yaml", "-o", "s.toml"])
        .args(["--server", "http://127.0.0.1:9/v3", "--tag", "store"])
        .args(["--operation", "getInventory"])
        .without_no_tui()
        .run();
    let imported = Test::in_dir(imported.dir)
        .args(["-f", "s.toml", "--dump", "ir"])
        .env("API_KEY", "k")
        .run();
    // The dumps differ only in where each line came from (`; file:line:col`).
    let unlocated = |ir: &str| -> Vec<String> {
        ir.lines()
            .map(|l| l.split(" ; ").next().unwrap_or(l).trim_end().to_owned())
            .collect()
    };
    assert_eq!(unlocated(&direct.stdout), unlocated(&imported.stdout));
    assert!(
        direct
            .stdout
            .contains("step s0 \"getInventory\" GET o0 \"/v3/store/inventory\""),
        "{}",
        direct.stdout
    );
    assert_eq!(
        direct.stdout.matches("  step s").count(),
        1,
        "{}",
        direct.stdout
    );

    // Malformed YAML and JSON run directly are located as when imported.
    Test::new()
        .file("bad.yaml", "openapi: 3.0.0\npaths:\n  /a: {get: [}\n")
        .args(["bad.yaml", "--dry-run"])
        .env("RUST_BACKTRACE", "0")
        .status(1)
        .stderr_contains("invalid YAML")
        .stderr_contains("bad.yaml:3:")
        .run();
    Test::new()
        .file("bad.json", "{\"openapi\": \"3.0.0\",\n \"paths\": {,}}")
        .args(["run", "bad.json", "--dry-run"])
        .env("RUST_BACKTRACE", "0")
        .status(1)
        .stderr_contains("invalid JSON: key must be a string")
        .stderr_contains("bad.json:2:12]")
        .run();

    // YAML that is not a spec, and a placeholder left unset, are errors.
    Test::new()
        .file(
            "x.yaml",
            "name: not a spec
",
        )
        .args(["x.yaml", "--dry-run"])
        .env("RUST_BACKTRACE", "0")
        .status(1)
        .stderr_contains("no `openapi` or `swagger` version at the top level")
        .run();
    Test::new()
        .file("pets.yaml", &petstore)
        .args(["pets.yaml", "--operation", "getInventory", "--dry-run"])
        .env_remove("API_KEY")
        .env("RUST_BACKTRACE", "0")
        .status(1)
        .stderr_contains("API_KEY")
        .run();
}

/// Real specs from public projects: each imports, one step per operation, and the
/// scenario passes `--dry-run` once its placeholders are set.
#[test]
fn public_specs_import_and_dry_run() {
    let files = [
        "petstore-3.0.yaml",
        "petstore-3.1.json",
        "petstore-2.0.yaml",
        "schema-circular.yaml",
        "security-multiple.yaml",
        "server-variables.yaml",
        "parameters-style.yaml",
        "uspto.yaml",
        "split/api.yaml",
    ];
    for name in files {
        let path = fixture(name);
        let ops = operations(&spec_value(&path)).len();
        let out = Test::new()
            .args(["import", "openapi"])
            .arg(&path)
            .args(["-o", "s.toml"])
            .without_no_tui()
            .stderr_contains(format!("({ops} of {ops} operations as steps)"))
            .run();
        let vars = placeholders(&out.stderr);
        let mut run =
            Test::in_dir(out.dir).args(["-f", "s.toml", "http://127.0.0.1:9", "--dry-run"]);
        for v in &vars {
            run = run.env(v, "placeholder-value");
        }
        let out = run.stdout_contains("dry run: valid scenario").run();
        let steps = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("  step s"))
            .count();
        assert_eq!(steps, ops, "{name}\n{}", out.stdout);
    }
}

/// Petstore's credentials are placeholders where the spec sends them, and the filters
/// keep what they name.
#[test]
fn petstore_filters_and_credentials() {
    let out = Test::new()
        .args(["import", "openapi"])
        .arg(fixture("petstore-3.0.yaml"))
        .args(["--tag", "store", "--server", "http://127.0.0.1:8080/v3"])
        .without_no_tui()
        .run();
    let steps = out.stdout.matches("[[scenarios.steps]]").count();
    let store_ops = operations(&spec_value(&fixture("petstore-3.0.yaml")))
        .iter()
        .filter(|(_, _, op)| {
            op["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "store"))
        })
        .count();
    assert_eq!(steps, store_ops, "{}", out.stdout);
    assert!(
        out.stdout.contains("url = \"http://127.0.0.1:8080\"\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("url = \"/v3/store/inventory\"\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("api_key = \"${API_KEY}\"\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("  API_KEY: credential `api_key` (apiKey) of GET /store/inventory"),
        "{}",
        out.stderr
    );

    let out = Test::new()
        .args(["import", "openapi"])
        .arg(fixture("petstore-3.0.yaml"))
        .args([
            "--operation",
            "getPetById",
            "--operation",
            "DELETE /user/{username}",
        ])
        .without_no_tui()
        .run();
    assert_eq!(
        out.stdout.matches("[[scenarios.steps]]").count(),
        2,
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("name = \"getPetById\"\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("name = \"deleteUser\"\n"),
        "{}",
        out.stdout
    );
}

/// A filter that matches no operation is named, with the name meant, even when
/// another filter matched; filters that each match but not together are told so.
#[test]
fn a_filter_that_matches_nothing_is_an_error() {
    let spec = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /pets:\n    get:\n      operationId: listPets\n      tags: [pets]\n      responses: {'200': {description: ok}}\n  /store:\n    get:\n      operationId: getInventory\n      tags: [store]\n      responses: {'200': {description: ok}}\n";
    let import = |args: &[&str]| {
        Test::new()
            .file("s.yaml", spec)
            .args(["import", "openapi", "s.yaml"])
            .args(args.iter().copied())
            .env("RUST_BACKTRACE", "0")
            .without_no_tui()
    };
    import(&["--operation", "listPets", "--operation", "getInventroy"])
        .status(1)
        .stderr_contains("the spec has no operation `getInventroy`; did you mean `getInventory`?")
        .run();
    import(&["--operation", "get /pet"])
        .status(1)
        .stderr_contains("the spec has no operation `get /pet`; did you mean `GET /pets`?")
        .run();
    import(&["--operation", "deleteEverything"])
        .status(1)
        .stderr_contains("(an operation is its `operationId`")
        .run();
    import(&["--tag", "pets", "--tag", "stroe"])
        .status(1)
        .stderr_contains("the spec has no tag `stroe`; did you mean `store`?")
        .run();
    import(&["--tag", "pets", "--operation", "getInventory"])
        .status(1)
        .stderr_contains("none of the spec's 2 operations has tag pets and operation getInventory")
        .run();
    // A label in another case is the same operation.
    import(&["--operation", "get /store"])
        .status(0)
        .stdout_contains("name = \"getInventory\"")
        .run();
}

#[test]
fn bad_specs_are_located_errors() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "bad.yaml",
            "openapi: 3.0.0\npaths:\n  /a: {get: [}\n",
            "invalid YAML",
        ),
        (
            "bad.json",
            "{\"openapi\": \"3.0.0\",\n \"paths\": {,}}",
            "invalid JSON: key must be a string",
        ),
        (
            "old.json",
            "{\"swagger\": \"1.2\", \"apis\": []}",
            "unsupported Swagger version `1.2`",
        ),
        (
            "new.yaml",
            "openapi: 4.0.0\npaths: {}\n",
            "unsupported OpenAPI version `4.0.0`",
        ),
        (
            "list.json",
            "{\"name\": \"x\", \"items\": [1]}",
            "no `openapi` or `swagger` version at the top level",
        ),
        (
            "none.yaml",
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      tags: [a]\n      responses: {'200': {description: ok}}\n",
            "the spec has no tag `b`",
        ),
    ];
    for (name, text, message) in cases {
        let mut test = Test::new()
            .file(name, text)
            .args(["import", "openapi", name])
            .env("RUST_BACKTRACE", "0")
            .without_no_tui()
            .status(1)
            .stderr_contains(message);
        if name == "none.yaml" {
            test = test.args(["--tag", "b"]);
        }
        test.run();
    }
    // Located: the file, line and column.
    Test::new()
        .file("bad.yaml", "openapi: 3.0.0\npaths:\n  /a: {get: [}\n")
        .args(["import", "openapi", "bad.yaml"])
        .env("RUST_BACKTRACE", "0")
        .without_no_tui()
        .status(1)
        .stderr_contains("bad.yaml:3:")
        .run();
    Test::new()
        .file("bad.json", "{\"openapi\": \"3.0.0\",\n \"paths\": {,}}")
        .args(["import", "openapi", "bad.json"])
        .env("RUST_BACKTRACE", "0")
        .without_no_tui()
        .status(1)
        .stderr_contains("bad.json:2:12]")
        .run();
    Test::new()
        .args(["import", "openapi"])
        .arg(fixture("missing-ref.yaml"))
        .env("RUST_BACKTRACE", "0")
        .without_no_tui()
        .status(1)
        .stderr_contains("`$ref: common/params.yaml#/limit` names")
        .stderr_contains("which cannot be read")
        .stderr_contains("missing-ref.yaml:7:18]")
        .run();
    Test::new()
        .args(["import", "openapi"])
        .arg(fixture("ref-loop.json"))
        .env("RUST_BACKTRACE", "0")
        .without_no_tui()
        .status(1)
        .stderr_contains(
            "`$ref`s loop without reaching a value: #/parameters/first → #/parameters/second → #/",
        )
        .run();
}

/// Form bodies against httpbin, which parses them and echoes the fields under `form`:
/// a `multipart/form-data` body (a `multipart` table: a text field from its example,
/// an integer at its minimum, a file field sent as text) and a URL-encoded one (its
/// example's array joined with `,`, `&` and spaces percent-encoded).
#[test]
fn form_bodies_reach_httpbin() {
    let httpbin = Httpbin::start();
    let out = Test::new()
        .args(["import", "openapi"])
        .arg(fixture("forms.yaml"))
        .args(["-o", "s.toml", "--server"])
        .arg(httpbin.url(""))
        .without_no_tui()
        .stderr_contains("wrote s.toml (2 of 2 operations as steps)")
        .run();
    let toml = std::fs::read_to_string(out.dir.path().join("s.toml")).unwrap();
    assert!(
        toml.contains("multipart = { count = \"3\", name = \"kai\", upload = \"string\" }\n"),
        "{toml}"
    );
    assert!(
        toml.contains("# step 1: field `upload` takes a file: sent as text; write `\"@path\"` to upload a file\n"),
        "{toml}"
    );
    assert!(
        toml.contains("body = \"plan=p%26q&tags=x%2Cy&user=a%20b\"\n"),
        "{toml}"
    );
    assert!(
        toml.contains("content-type = \"application/x-www-form-urlencoded\"\n"),
        "{toml}"
    );
    assert_eq!(toml.matches("content-type").count(), 1, "{toml}");

    // What httpbin read, checked by the scenario itself.
    let with_checks = |toml: &str, step: &str, checks: &[&str]| -> String {
        let at = toml.find(&format!("name = \"{step}\"\n")).unwrap();
        let line = at + toml[at..].find("checks = [").unwrap();
        let end = line + toml[line..].find('\n').unwrap();
        let mut list = vec!["'status == 200'".to_owned()];
        list.extend(checks.iter().map(|c| format!("'{c}'")));
        format!(
            "{}checks = [{}]{}",
            &toml[..line],
            list.join(", "),
            &toml[end..]
        )
    };
    let upload_checks = [
        r#"body contains "\"name\": \"kai\"""#,
        r#"body contains "\"count\": \"3\"""#,
        r#"body contains "\"upload\": \"string\"""#,
        r#"body contains "multipart/form-data; boundary=""#,
    ];
    let signup_checks = [
        r#"body contains "\"user\": \"a b\"""#,
        r#"body contains "\"tags\": \"x,y\"""#,
        r#"body contains "\"plan\": \"p&q\"""#,
    ];
    let toml = with_checks(&toml, "upload", &upload_checks);
    let toml = with_checks(&toml, "signup", &signup_checks);
    std::fs::write(out.dir.path().join("s.toml"), &toml).unwrap();
    let report = Test::in_dir(out.dir)
        .args(["-f", "s.toml", "-c", "1", "-n", "4"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), vec![(200, 4)], "{report}");
    for c in upload_checks.iter().chain(&signup_checks) {
        assert_eq!(report.check(c), (2, 0), "{c}\n{report}");
    }
    let by_path = httpbin.requests_by_path();
    assert_eq!(by_path.get("/post"), Some(&2), "{by_path:?}");
    assert_eq!(by_path.get("/anything/signup"), Some(&2), "{by_path:?}");
}

/// An operation that documents `default` expects any status; one that documents
/// only `200` fails on another. Run directly against httpbin's `/status/…`.
#[test]
fn a_default_response_expects_any_status() {
    let httpbin = Httpbin::start();
    let spec = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /status/404:\n    get:\n      operationId: anything\n      responses: {default: {description: any}}\n  /status/418:\n    get:\n      operationId: only200\n      responses: {'200': {description: ok}}\n";
    let report = Test::new()
        .file("s.yaml", spec)
        .args(["s.yaml", "--server"])
        .arg(httpbin.url(""))
        .args(["-c", "1", "-n", "4"])
        .report()
        .status(1)
        .run()
        .report();
    report.check_invariants(1);
    assert_eq!(report.status_codes(), vec![(404, 2), (418, 2)], "{report}");
    assert_eq!(report.u64("requests.failed"), 2, "{report}");
    assert_eq!(report.u64("requests.unexpected_status"), 2, "{report}");
    assert_eq!(report.check("status == 200"), (0, 2), "{report}");
    let by_path = httpbin.requests_by_path();
    assert_eq!(by_path.get("/status/404"), Some(&2), "{by_path:?}");
}

/// String parameters with a `pattern` get a value the pattern matches (`AA000`,
/// `inv-aaaaaa`, within `minLength`); a pattern kaioken cannot read (a lookahead)
/// becomes a placeholder. Run directly against httpbin: the paths it logged are those.
#[test]
fn patterns_generate_matching_values() {
    let httpbin = Httpbin::start();
    let out = Test::new()
        .args(["import", "openapi"])
        .arg(fixture("patterns.yaml"))
        .without_no_tui()
        .run();
    assert!(
        out.stdout
            .contains("url = \"/anything/AA000?ref=inv-aaaaaa\"\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("url = \"/anything/lookahead/${TOKEN}\"\n"),
        "{}",
        out.stdout
    );
    assert_eq!(placeholders(&out.stderr), ["TOKEN"], "{}", out.stderr);
    let report = Test::new()
        .args(["run"])
        .arg(fixture("patterns.yaml"))
        .arg("--server")
        .arg(httpbin.url(""))
        .args(["-c", "1", "-n", "4"])
        .env("TOKEN", "abcd1234")
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), vec![(200, 4)], "{report}");
    let lines = httpbin.access_log_lines();
    let mut seen: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
    for l in &lines {
        *seen
            .entry((l.path.clone(), l.query_param("ref").map(str::to_owned)))
            .or_default() += 1;
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            (("/anything/AA000".into(), Some("inv-aaaaaa".into())), 2),
            (("/anything/lookahead/abcd1234".into(), None), 2),
        ]),
        "{lines:?}"
    );
}
