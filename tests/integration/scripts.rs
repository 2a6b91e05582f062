//! `[scripts]` end to end against httpbin: Lua checks, extractors, request hooks
//! (`${script:name}`), `setup` and `teardown`, and what happens when a script is
//! wrong (a syntax error at compile time, a run-time error, a loop past its budget, a
//! call outside the sandbox). Each test compares the report's `checks`,
//! `extractions` and `scripts` sections with what httpbin's access log says it
//! served, and the examples in `examples/plugins/` run here against a test's httpbin.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Report, Test};
use crate::httpbin::{Httpbin, LogLine};
use crate::servers::{Behaviour, Server};

/// The `scripts` entry of the function `name`.
fn script<'a>(report: &'a Report, name: &str) -> &'a Value {
    report
        .get("scripts")
        .as_array()
        .unwrap_or_else(|| panic!("`scripts` is not an array:\n{report}"))
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no script {name:?} in the report:\n{report}"))
}

/// `(role, calls, failed, errors, over_budget)` of the function `name`.
fn script_counts(report: &Report, name: &str) -> (String, u64, u64, u64, u64) {
    let s = script(report, name);
    let n = |k: &str| {
        s[k].as_u64()
            .unwrap_or_else(|| panic!("scripts[{name}].{k}:\n{report}"))
    };
    (
        s["role"].as_str().expect("role").to_owned(),
        n("calls"),
        n("failed"),
        n("errors"),
        n("over_budget"),
    )
}

/// The `(text, count)` messages of the function `name`.
fn script_messages(report: &Report, name: &str) -> Vec<(String, u64)> {
    script(report, name)
        .get("messages")
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .map(|m| {
                    (
                        m["text"].as_str().expect("text").to_owned(),
                        m["count"].as_u64().expect("count"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `(ok, failed)` of the extractor into `var`.
fn extraction(report: &Report, var: &str) -> (u64, u64) {
    let x = report
        .get("extractions")
        .as_array()
        .expect("extractions is an array")
        .iter()
        .find(|x| x["var"] == var)
        .unwrap_or_else(|| panic!("no extraction into {var:?}:\n{report}"));
    (
        x["ok"].as_u64().expect("ok"),
        x["failed"].as_u64().expect("failed"),
    )
}

/// A version-4 UUID in lowercase hex, as httpbin's `/uuid` makes them.
fn is_uuid4(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let hex = |g: &str| g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| hex(g))
        && groups[2].starts_with('4')
}

/// HMAC-SHA256 of `message` under `key`, in lowercase hex (what `crypto.hmac_sha256`
/// returns by default), computed here rather than by the code under test.
fn hmac_hex(key: &str, message: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let tag = ring::hmac::sign(&key, message.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The request hook `name` ran for each of the `sent` requests, without a failure or
/// an error. When `--max-requests` ends the run, a VU may have built its next
/// request (hooks included) before finding the budget spent: at most one more call
/// per VU.
fn assert_hook_calls(report: &Report, name: &str, sent: u64, vus: u64) {
    let (role, calls, failed, errors, over_budget) = script_counts(report, name);
    assert_eq!(
        (role.as_str(), failed, errors, over_budget),
        ("value", 0, 0, 0),
        "{report}"
    );
    assert!(
        (sent..=sent + vus).contains(&calls),
        "{calls} calls for {sent} requests:\n{report}"
    );
}

/// The warnings of a report.
fn warnings(report: &Report) -> Vec<String> {
    report
        .get("warnings")
        .as_array()
        .expect("warnings is an array")
        .iter()
        .map(|w| w.as_str().expect("a warning is a string").to_owned())
        .collect()
}

#[test]
fn script_check_passes_and_fails_by_the_body_httpbin_echoed() {
    let httpbin = Httpbin::start();
    // `/anything` echoes the query: the check passes when the coin came up 1, and
    // fails with a message naming what it saw otherwise.
    let report = Test::new()
        .scenario(
            r#"
            [scripts]
            heads = '''
            local o = json.decode(r.body)
            if r.status ~= 200 then return false, "status " .. r.status end
            if o.args.coin == "1" then return true end
            return false, "coin is " .. o.args.coin
            '''

            [request]
            checks = ["status == 200", "script:heads"]
            "#,
        )
        .arg(httpbin.url("/anything?coin=${RANDOM(0,1)}"))
        .args(["-c", "2", "--max-requests", "60", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 60, "{}", httpbin.logs());
    let heads = lines
        .iter()
        .filter(|l| l.query_param("coin") == Some("1"))
        .count() as u64;
    let tails = lines
        .iter()
        .filter(|l| l.query_param("coin") == Some("0"))
        .count() as u64;
    assert_eq!(heads + tails, 60, "{lines:?}");
    assert_eq!(report.check("status == 200"), (60, 0), "{report}");
    assert_eq!(report.check("script:heads"), (heads, tails), "{report}");
    assert_eq!(
        script_counts(&report, "heads"),
        ("check".to_owned(), 60, tails, 0, 0),
        "{report}"
    );
    let want: Vec<(String, u64)> = if tails == 0 {
        Vec::new()
    } else {
        vec![("coin is 0".to_owned(), tails)]
    };
    assert_eq!(script_messages(&report, "heads"), want, "{report}");
    // A failing check is not an error: no warning.
    assert!(
        warnings(&report).iter().all(|w| !w.contains("heads")),
        "{report}"
    );
}

#[test]
fn script_extractor_chains_a_uuid_into_the_next_url() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [scripts]
            uuid_of = "return json.decode(r.body).uuid"
            missing = "return json.decode(r.body).nope"
            echoes_id = 'return json.decode(r.body).url:sub(-#vars.id) == vars.id'

            [[scenarios]]
            [[scenarios.steps]]
            url = "/uuid"
            extract = { id = "script:uuid_of", none = "script:missing" }

            [[scenarios.steps]]
            url = "/anything/${id}"
            checks = ["script:echoes_id"]
            "#,
        )
        .arg(httpbin.url("/"))
        .args(["-c", "2", "--max-requests", "40", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let lines = httpbin.access_log_lines();
    let uuids = lines.iter().filter(|l| l.path == "/uuid").count() as u64;
    let chained: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.path.starts_with("/anything/"))
        .collect();
    assert_eq!(uuids + chained.len() as u64, 40, "{lines:?}");
    // A VU may stop between its steps when the request budget runs out.
    assert!(chained.len() >= 19, "{lines:?}");
    let ids: BTreeSet<&str> = chained
        .iter()
        .map(|l| l.path.trim_start_matches("/anything/"))
        .collect();
    assert_eq!(ids.len(), chained.len(), "every id differs: {lines:?}");
    assert!(ids.iter().all(|id| is_uuid4(id)), "{ids:?}");
    assert_eq!(extraction(&report, "id"), (uuids, 0), "{report}");
    assert_eq!(extraction(&report, "none"), (0, uuids), "{report}");
    assert_eq!(
        script_counts(&report, "uuid_of"),
        ("extract".to_owned(), uuids, 0, 0, 0),
        "{report}"
    );
    // An extractor that finds nothing is a "no", not an error.
    assert_eq!(
        script_counts(&report, "missing"),
        ("extract".to_owned(), uuids, uuids, 0, 0),
        "{report}"
    );
    assert_eq!(
        report.check("script:echoes_id"),
        (chained.len() as u64, 0),
        "{report}"
    );
}

#[test]
fn signing_hook_signs_method_path_and_body_with_a_key_from_the_environment() {
    let httpbin = Httpbin::start();
    let key = "s3cret-signing-key";
    // The signature goes in `X-Kaioken-Test`, which httpbin's access log records;
    // the body is made of the query's values, so the test can rebuild it from the log.
    let report = Test::new()
        .scenario(
            r#"
            [scripting]
            env = ["SIGNING_KEY"]

            [scripts]
            sign = '''
            return crypto.hmac_sha256(env.SIGNING_KEY, req.method .. req.path .. req.body)
            '''
            echoed = '''
            local o = json.decode(r.body)
            local path = o.url:match("^https?://[^/]+(.*)$")
            local want = crypto.hmac_sha256(env.SIGNING_KEY, o.method .. path .. o.data)
            if o.headers["X-Kaioken-Test"] == want then return true end
            return false, "signature " .. tostring(o.headers["X-Kaioken-Test"]) .. " for " .. path
            '''

            [request]
            method = "POST"
            headers = { content-type = "application/json", x-kaioken-test = "${script:sign}" }
            body = '{"vu":${VU},"it":${ITERATION}}'
            checks = ["status == 200", "script:echoed"]
            "#,
        )
        .arg(httpbin.url("/anything/orders?vu=${VU}&it=${ITERATION}"))
        .args(["-c", "3", "--max-requests", "45", "-d", "60s"])
        .env("SIGNING_KEY", key)
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 45, "{}", httpbin.logs());
    let mut seen = BTreeSet::new();
    for l in &lines {
        assert_eq!(
            (l.method.as_str(), l.path.as_str()),
            ("POST", "/anything/orders")
        );
        let (vu, it) = (
            l.query_param("vu").expect("vu"),
            l.query_param("it").expect("it"),
        );
        let body = format!(r#"{{"vu":{vu},"it":{it}}}"#);
        let message = format!("POST/anything/orders?{}{body}", l.query);
        assert_eq!(l.x_kaioken_test, hmac_hex(key, &message), "{l:?}");
        seen.insert(l.x_kaioken_test.clone());
    }
    assert_eq!(seen.len(), 45, "each request signed its own body");
    assert_eq!(report.check("script:echoed"), (45, 0), "{report}");
    assert_hook_calls(&report, "sign", 45, 3);
    // The key is in no printout.
    assert!(!report.to_string().contains(key), "{report}");
}

/// The access log's lines of a run with a setup and a teardown script, but
/// those two: the only line `setup` matches and the only one `teardown` matches,
/// the setup's logged before the teardown's (a whole run apart). gunicorn logs a
/// request once it has answered it, from the thread that served it, so the lines
/// of requests served at once land in either order: the setup's may come after
/// those of the first requests its answer let the VUs send, and the teardown's
/// before those of the last ones.
fn around_setup_and_teardown(
    lines: &[LogLine],
    setup: impl Fn(&LogLine) -> bool,
    teardown: impl Fn(&LogLine) -> bool,
) -> Vec<&LogLine> {
    let only = |what: &str, matches: &dyn Fn(&LogLine) -> bool| {
        let found: Vec<usize> = (0..lines.len()).filter(|&i| matches(&lines[i])).collect();
        assert_eq!(found.len(), 1, "one {what}: {lines:?}");
        found[0]
    };
    let (setup, teardown) = (only("setup", &setup), only("teardown", &teardown));
    assert!(setup < teardown, "{lines:?}");
    (lines.iter().enumerate())
        .filter(|&(i, _)| i != setup && i != teardown)
        .map(|(_, l)| l)
        .collect()
}

#[test]
fn setup_logs_in_once_and_every_vu_sends_its_token_teardown_runs_once_after() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [scripting]
            env = ["HTTPBIN"]
            network = true

            [scripts]
            setup = '''
            local r = http.post(env.HTTPBIN .. "/post", '{"user":"alice"}',
              { ["content-type"] = "application/json", ["x-kaioken-test"] = "setup" })
            if r.status ~= 200 then error("login refused: " .. r.status) end
            return { token = json.decode(r.body).json.user .. "-token" }
            '''
            teardown = '''
            local r = http.get(env.HTTPBIN .. "/get?logout=" .. data.token, { ["x-kaioken-test"] = "teardown" })
            if r.status ~= 200 then error("logout refused: " .. r.status) end
            '''
            token_seen = '''
            return json.decode(r.body).token == setup.token
            '''

            [request]
            headers = { authorization = "Bearer ${setup.token}", x-kaioken-test = "${setup.token}" }
            checks = ["status == 200", "script:token_seen"]
            "#,
        )
        .arg(httpbin.url("/bearer"))
        .args(["-c", "4", "--max-requests", "40", "-d", "60s"])
        .env("HTTPBIN", httpbin.url(""))
        .report()
        .run()
        .report();
    report.check_invariants(0);
    // The setup came first: every request carries its token; the teardown ran
    // once, after: its query carries the token, and the report counts one run.
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 42, "{lines:?}");
    let requests = around_setup_and_teardown(
        &lines,
        |l| {
            (
                l.method.as_str(),
                l.path.as_str(),
                l.x_kaioken_test.as_str(),
            ) == ("POST", "/post", "setup")
        },
        |l| {
            (
                l.method.as_str(),
                l.path.as_str(),
                l.query.as_str(),
                l.x_kaioken_test.as_str(),
            ) == ("GET", "/get", "logout=alice-token", "teardown")
        },
    );
    for l in requests {
        assert_eq!(
            (l.status, l.path.as_str(), l.x_kaioken_test.as_str()),
            (200, "/bearer", "alice-token"),
            "{l:?}"
        );
    }
    assert_eq!(report.status_codes(), vec![(200, 40)], "{report}");
    assert_eq!(report.check("script:token_seen"), (40, 0), "{report}");
    assert_eq!(
        script_counts(&report, "setup"),
        ("setup".to_owned(), 1, 0, 0, 0),
        "{report}"
    );
    assert_eq!(
        script_counts(&report, "teardown"),
        ("teardown".to_owned(), 1, 0, 0, 0),
        "{report}"
    );
    assert!(warnings(&report).is_empty(), "{report}");
}

#[test]
fn teardown_failure_is_a_warning_in_the_report() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [scripts]
            teardown = '''
            error("cleanup went wrong")
            '''
            "#,
        )
        .arg(httpbin.url("/status/200"))
        .args(["-c", "1", "--max-requests", "5", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.status_codes(), vec![(200, 5)], "{report}");
    assert_eq!(
        script_counts(&report, "teardown"),
        ("teardown".to_owned(), 1, 0, 1, 0),
        "{report}"
    );
    assert_eq!(
        warnings(&report),
        // Once: the failure is not warned again as a script error.
        vec!["teardown failed at scenario.toml:3: cleanup went wrong".to_owned()],
        "{report}"
    );
}

#[test]
fn setup_failure_stops_the_run_before_any_request_naming_its_line() {
    let httpbin = Httpbin::start();
    let out = Test::new()
        .scenario(
            r#"
            [scripting]
            env = ["HTTPBIN"]
            network = true

            [scripts]
            setup = '''
            local r = http.get(env.HTTPBIN .. "/status/401")
            if r.status ~= 200 then
              error("login refused: " .. r.status)
            end
            return { token = "never" }
            '''

            [request]
            headers = { authorization = "Bearer ${setup.token}" }
            "#,
        )
        .arg(httpbin.url("/bearer"))
        .args(["-c", "2", "-d", "2s"])
        .env("HTTPBIN", httpbin.url(""))
        .status(1)
        .stderr_contains("setup failed at scenario.toml:9: login refused: 401")
        .run();
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    let lines = httpbin.access_log_lines();
    // Only setup's own request reached httpbin: no load was sent.
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (lines[0].status, lines[0].path.as_str()),
        (401, "/status/401")
    );
}

#[test]
fn setup_that_does_not_return_a_key_a_template_reads_stops_the_run() {
    let httpbin = Httpbin::start();
    Test::new()
        .scenario(
            r#"
            [scripts]
            setup = "return { user = 'alice' }"

            [request]
            headers = { authorization = "Bearer ${setup.token}" }
            "#,
        )
        .arg(httpbin.url("/bearer"))
        .args(["-c", "2", "-d", "2s"])
        .status(1)
        .stderr_contains(
            "setup returned no `token`, which `${setup.token}` reads (it returned `user`)",
        )
        .run();
    assert_eq!(httpbin.access_log_lines(), Vec::new());
    // A key close to one it returned: most likely a typo in the template.
    Test::new()
        .scenario(
            r#"
            [scripts]
            setup = "return { token = 'x' }"

            [request]
            headers = { authorization = "Bearer ${setup.tokn}" }
            "#,
        )
        .arg(httpbin.url("/bearer"))
        .args(["-c", "1", "-d", "2s"])
        .status(1)
        .stderr_contains(
            "setup returned no `tokn`, which `${setup.tokn}` reads (it returned `token`); did you mean `${setup.token}` for `${setup.tokn}`?",
        )
        .run();
    assert_eq!(httpbin.access_log_lines(), Vec::new());
}

#[test]
fn a_check_that_loops_forever_is_stopped_by_its_budget_every_call() {
    let httpbin = Httpbin::start();
    let out = Test::new()
        .scenario(
            r#"
            [scripting]
            budget = "20ms"

            [scripts]
            spin = '''
            local n = 0
            while true do n = n + 1 end
            '''

            [request]
            checks = ["status == 200", "script:spin"]
            "#,
        )
        .arg(httpbin.url("/status/200"))
        .args(["-c", "2", "-d", "2s"])
        .report()
        .run();
    // A check script runs on its VU's worker thread, so a call its budget did not
    // stop would hold that thread, and the run's end, for good. The counts below
    // say each call was stopped by the budget; this bound catches a run held up,
    // with room for a machine busy with the whole suite (2 s of load once took
    // 6.1 s there).
    assert!(out.elapsed < Duration::from_secs(30), "{:?}", out.elapsed);
    let report = out.report();
    report.check_invariants(0);
    // Every request finished before the run ended: none was cut off at its end.
    assert_eq!(report.u64("requests.unfinished"), 0, "{report}");
    let responses = report.u64("requests.responses");
    assert!(responses >= 10, "{report}");
    assert_eq!(httpbin.access_log_lines().len() as u64, responses);
    assert_eq!(report.check("status == 200"), (responses, 0), "{report}");
    assert_eq!(report.check("script:spin"), (0, responses), "{report}");
    assert_eq!(
        script_counts(&report, "spin"),
        ("check".to_owned(), responses, 0, responses, responses),
        "{report}"
    );
    let messages = script_messages(&report, "spin");
    assert_eq!(messages.len(), 1, "{report}");
    assert_eq!(messages[0].1, responses, "{report}");
    assert!(
        messages[0].0.starts_with("error: ") && messages[0].0.contains("20ms"),
        "{report}"
    );
    assert!(
        warnings(&report).iter().any(|w| w.starts_with(&format!(
            "script `spin` (check): {responses} of {responses} calls failed with an error"
        ))),
        "{report}"
    );
}

#[test]
fn a_check_past_its_memory_limit_fails_and_the_state_goes_on() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [scripting]
            memory_mib = 2
            # Past the memory, not the time: a loaded machine must not stop it first.
            budget = "10s"

            [scripts]
            hog = '''
            local t = {}
            for i = 1, 1000000 do t[i] = string.rep("x", 64) .. i end
            return true
            '''
            small = "return #r.body > 0"

            [request]
            checks = ["script:hog", "script:small"]
            "#,
        )
        .arg(httpbin.url("/get"))
        .args(["-c", "1", "--max-requests", "6", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(httpbin.access_log_lines().len(), 6);
    assert_eq!(report.check("script:hog"), (0, 6), "{report}");
    // The same Lua state runs the next function after each failure.
    assert_eq!(report.check("script:small"), (6, 0), "{report}");
    assert_eq!(
        script_counts(&report, "hog"),
        ("check".to_owned(), 6, 0, 6, 0),
        "{report}"
    );
    assert_eq!(
        script_messages(&report, "hog"),
        // Lua gives no line for it: the file is named.
        vec![("error: scenario.toml: not enough memory".to_owned(), 6)],
        "{report}"
    );
}

#[test]
fn a_syntax_error_is_a_located_diagnostic_before_any_request() {
    let httpbin = Httpbin::start();
    Test::new()
        .scenario(
            r#"
            [scripts]
            valid = '''
            local o = json.decode(r.body)
            if o.id = nil then return false end
            return true
            '''

            [request]
            checks = ["script:valid"]
            "#,
        )
        .arg(httpbin.url("/json"))
        .args(["-c", "1", "-d", "2s"])
        .status(1)
        .stderr_contains("scenario.toml:4")
        .stderr_contains("if o.id = nil then return false end")
        .stderr_contains("╰── here")
        .run();
    assert_eq!(httpbin.access_log_lines(), Vec::new());
}

#[test]
fn a_syntax_error_in_a_script_file_names_the_file_and_line() {
    let httpbin = Httpbin::start();
    let out = Test::new()
        .file(
            "checks.lua",
            "
            local o = json.decode(r.body)
            return o.slideshow ~= nil and
            ",
        )
        .scenario(
            r#"
            [scripts]
            valid = { file = "checks.lua" }

            [request]
            checks = ["script:valid"]
            "#,
        )
        .arg(httpbin.url("/json"))
        .args(["-c", "1", "-d", "2s"])
        .status(1)
        .stderr_contains("checks.lua:2")
        .stderr_contains("return o.slideshow ~= nil and")
        .run();
    assert!(!out.stderr.contains("stack backtrace"), "{}", out.stderr);
    assert_eq!(httpbin.access_log_lines(), Vec::new());
}

#[test]
fn the_sandbox_has_no_io_a_check_that_tries_fails_with_the_reason() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [scripts]
            reads_a_file = '''
            local f = io.open("/etc/passwd")
            return f ~= nil
            '''
            runs_a_command = '''
            return os.execute("true")
            '''

            [request]
            checks = ["script:reads_a_file", "script:runs_a_command"]
            "#,
        )
        .arg(httpbin.url("/status/200"))
        .args(["-c", "1", "--max-requests", "8", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(httpbin.access_log_lines().len(), 8);
    for name in ["reads_a_file", "runs_a_command"] {
        assert_eq!(report.check(&format!("script:{name}")), (0, 8), "{report}");
        assert_eq!(
            script_counts(&report, name),
            ("check".to_owned(), 8, 0, 8, 0),
            "{report}"
        );
    }
    let io = script_messages(&report, "reads_a_file");
    assert_eq!(io.len(), 1, "{report}");
    assert_eq!(io[0].1, 8);
    assert!(
        io[0].0.starts_with("error: scenario.toml:3:") && io[0].0.contains("'io'"),
        "{report}"
    );
    let os = script_messages(&report, "runs_a_command");
    assert_eq!(os.len(), 1, "{report}");
    assert_eq!(os[0].1, 8);
    assert!(
        os[0].0.starts_with("error: scenario.toml:7:") && os[0].0.contains("execute"),
        "{report}"
    );
}

/// The `examples/plugins/` folder.
fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins")
}

/// Run `examples/plugins/NAME` against `httpbin` (its URL in `HTTPBIN`), with `args`.
fn run_example(httpbin: &Httpbin, name: &str, args: &[&str]) -> Report {
    let out = Test::new()
        .arg("-f")
        .arg(plugins_dir().join(name))
        .args(args)
        .env("HTTPBIN", httpbin.url(""))
        .env("SIGNING_KEY", "example-key")
        .report()
        .run();
    let report = out.report();
    report.check_invariants(0);
    report
}

/// Every scenario in `examples/plugins/` is one the tests below run, and compiles:
/// `--dry-run` sends nothing, not even `setup`'s request.
#[test]
fn every_plugin_example_dry_runs_without_sending_anything() {
    let mut files: Vec<String> = std::fs::read_dir(plugins_dir())
        .expect("read examples/plugins")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".toml"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "custom_check.toml",
            "extractor.toml",
            "setup_teardown.toml",
            "signing.toml"
        ],
        "a new example needs a test here that runs it"
    );
    for name in files {
        let server = Server::start(Behaviour::Ok);
        let url = server.url();
        Test::new()
            .arg("-f")
            .arg(plugins_dir().join(&name))
            .arg("--dry-run")
            .env("HTTPBIN", url.trim_end_matches('/'))
            .env("SIGNING_KEY", "example-key")
            .stdout_contains("dry run: valid scenario, nothing sent")
            .run();
        assert_eq!(
            server.counts().connections.load(Ordering::SeqCst),
            0,
            "--dry-run of {name} connected to the target"
        );
    }
}

#[test]
fn example_custom_check_passes_against_httpbin() {
    let httpbin = Httpbin::start();
    let report = run_example(&httpbin, "custom_check.toml", &["--max-requests", "20"]);
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 20, "{lines:?}");
    assert_eq!(report.check("script:valid_slideshow"), (20, 0), "{report}");
    assert_eq!(report.check("script:fast_enough"), (20, 0), "{report}");
    assert_eq!(
        script_counts(&report, "valid_slideshow"),
        ("check".to_owned(), 20, 0, 0, 0)
    );
}

#[test]
fn example_extractor_passes_against_httpbin() {
    let httpbin = Httpbin::start();
    let report = run_example(&httpbin, "extractor.toml", &["--max-requests", "20"]);
    let by_path = httpbin.requests_by_path();
    let uuids = by_path.get("/uuid").copied().unwrap_or(0);
    let orders: u64 = by_path
        .iter()
        .filter(|(p, _)| p.starts_with("/anything/orders/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(uuids + orders, 20, "{by_path:?}");
    // Each of the example's 4 VUs alternates /uuid and its order; when the 20th
    // request is sent, each may have fetched one uuid whose order is never sent.
    assert!(uuids >= orders && uuids - orders <= 4, "{by_path:?}");
    assert_eq!(extraction(&report, "order_id"), (uuids, 0), "{report}");
    assert_eq!(report.check("script:same_order"), (orders, 0), "{report}");
}

#[test]
fn example_signing_hook_passes_against_httpbin() {
    let httpbin = Httpbin::start();
    let report = run_example(&httpbin, "signing.toml", &["--max-requests", "20"]);
    assert_eq!(httpbin.access_log_lines().len(), 20);
    assert_eq!(
        report.check("script:signature_matches"),
        (20, 0),
        "{report}"
    );
    assert_hook_calls(&report, "sign", 20, 4);
}

#[test]
fn example_setup_teardown_passes_against_httpbin() {
    let httpbin = Httpbin::start();
    let report = run_example(&httpbin, "setup_teardown.toml", &["--max-requests", "20"]);
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 22, "{lines:?}");
    let requests = around_setup_and_teardown(&lines, |l| l.path == "/post", |l| l.path == "/get");
    assert!(
        requests
            .iter()
            .all(|l| l.path == "/bearer" && l.status == 200),
        "{lines:?}"
    );
    assert_eq!(report.check("script:authenticated"), (20, 0), "{report}");
    for f in ["setup", "teardown"] {
        assert_eq!(
            script_counts(&report, f),
            (f.to_owned(), 1, 0, 0, 0),
            "{report}"
        );
    }
}

/// A check stuck in a library call that no budget can stop (Lua's pattern
/// matching, backtracking for far longer than the run) does not hold the run: a
/// while after the hard stop its worker is not waited for, and the report is
/// written with a warning saying so, naming the engine the worker ran.
#[test]
fn a_worker_stuck_in_a_library_call_does_not_hold_the_run() {
    a_worker_stuck_in_a_library_call_does_not_hold_the_run_on("io_uring");
}

#[test]
fn a_worker_stuck_in_a_library_call_does_not_hold_the_run_on_tokio() {
    a_worker_stuck_in_a_library_call_does_not_hold_the_run_on("tokio");
}

fn a_worker_stuck_in_a_library_call_does_not_hold_the_run_on(engine: &str) {
    let nginx = crate::nginx::Nginx::start(crate::nginx::Variant::Http1);
    let out = Test::new()
        .on_engine(engine)
        .scenario(
            r#"
            [scripts]
            stuck = 'return string.rep("a", 5000):find(".-.-.-b") == nil'
            [request]
            checks = ["script:stuck"]
            "#,
        )
        .arg(nginx.url("/"))
        .args(["-c", "1", "-d", "1s", "--timeout", "1s"])
        .status(1)
        .report()
        .run();
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
    let report = out.report();
    let warnings = warnings(&report);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("1 worker thread did not stop when the run ended")),
        "{warnings:?}"
    );
    assert_eq!(report.str("settings.engine"), engine, "{report}");
}
