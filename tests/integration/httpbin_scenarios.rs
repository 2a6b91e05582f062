//! The scenario language against httpbin, a real application: checks on status, body
//! and headers, JSON, header and regex extraction chained into later steps, the cookie
//! jar, thresholds, and counts compared with httpbin's access log. httpbin echoes what
//! it was sent (`/anything`, `/headers`, `/cookies`), so each test can see both what
//! kaioken reported and what actually went over the wire.
//!
//! The redirect tests at the end describe following redirects (on by default, at most
//! 10 hops, every hop a counted request, checks on the final response).

use std::collections::{BTreeMap, BTreeSet};

use crate::harness::{Report, Test};
use crate::httpbin::{Httpbin, LogLine};

/// `(ok, failed)` of the extractor into `var`.
fn extraction(report: &Report, var: &str) -> (u64, u64) {
    let all = report
        .get("extractions")
        .as_array()
        .expect("extractions is an array");
    let x = all
        .iter()
        .find(|x| x["var"] == var)
        .unwrap_or_else(|| panic!("no extraction into {var:?}:\n{report}"));
    (
        x["ok"].as_u64().expect("ok"),
        x["failed"].as_u64().expect("failed"),
    )
}

/// Status → count, from the access log.
fn log_status_codes(lines: &[LogLine]) -> Vec<(u16, u64)> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.status).or_insert(0u64) += 1;
    }
    m.into_iter().collect()
}

/// A version-4 UUID in lowercase hex, as httpbin's `/uuid` makes them.
fn is_uuid4(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let hex = |g: &str| g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| hex(g))
        && groups[2].starts_with('4')
        && groups[3].starts_with(['8', '9', 'a', 'b'])
}

#[test]
fn httpbin_status_checks_count_passes_and_failures() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [request]
            checks = ["status == 418", "status == 200"]
            expected_status = "418"
            "#,
        )
        .arg(httpbin.url("/status/418"))
        .args(["-c", "2", "--max-requests", "40", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    // The teapot was expected: no request failed.
    assert_eq!(report.u64("requests.failed"), 0, "{report}");
    assert_eq!(report.str("settings.expected_status"), "418");
    assert_eq!(report.check("status == 418"), (40, 0), "{report}");
    assert_eq!(report.check("status == 200"), (0, 40), "{report}");
    assert!(
        (report.f64("requests.check_pass_rate") - 0.5).abs() < 1e-9,
        "{report}"
    );
    assert_eq!(report.status_codes(), vec![(418, 40)], "{report}");
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 40, "{report}\n{}", httpbin.logs());
    assert!(
        lines
            .iter()
            .all(|l| l.status == 418 && l.method == "GET" && l.path == "/status/418"),
        "{lines:?}"
    );
}

#[test]
fn httpbin_json_body_checks_and_extraction() {
    let httpbin = Httpbin::start();
    // `/json` is a fixed document; its author and the second slide's title are sent
    // back in a header to `/headers`, which echoes it as JSON.
    let report = Test::new()
        .scenario(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/json"
            checks = ['body contains "slideshow"', 'header("content-type") == "application/json"']
            extract = { author = "json:$.slideshow.author", title = "json:$.slideshow.slides[1].title" }

            [[scenarios.steps]]
            url = "/headers"
            headers = { x-kaioken-test = "${author}|${title}" }
            checks = ['body contains "\"X-Kaioken-Test\": \"Yours Truly|Overview\""']
            extract = { echoed = "json:$.headers['X-Kaioken-Test']" }
            "#,
        )
        .arg(httpbin.url("/"))
        .args(["-c", "2", "--max-requests", "40", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let by_path = httpbin.requests_by_path();
    let (json, headers) = (by_path["/json"], by_path["/headers"]);
    assert_eq!(json + headers, 40, "{by_path:?}\n{report}");
    // A VU may stop between its steps when the request budget runs out.
    assert!(headers >= 19, "{by_path:?}");
    assert_eq!(report.check("body contains \"slideshow\""), (json, 0));
    assert_eq!(
        report.check("header(\"content-type\") == \"application/json\""),
        (json, 0)
    );
    assert_eq!(
        report.check(r#"body contains "\"X-Kaioken-Test\": \"Yours Truly|Overview\"""#),
        (headers, 0),
        "{report}"
    );
    assert_eq!(extraction(&report, "author"), (json, 0), "{report}");
    assert_eq!(extraction(&report, "title"), (json, 0), "{report}");
    assert_eq!(extraction(&report, "echoed"), (headers, 0), "{report}");
    // What httpbin was sent, not only what kaioken says it sent.
    for l in httpbin.access_log_lines() {
        if l.path == "/headers" {
            assert_eq!(l.x_kaioken_test, "Yours Truly|Overview", "{l:?}");
        } else {
            assert_eq!(l.x_kaioken_test, "-", "{l:?}");
        }
    }
}

#[test]
fn httpbin_a_fresh_uuid_is_extracted_sent_and_echoed() {
    let httpbin = Httpbin::start();
    // Step 1 gets a new random UUID; step 2 sends it in the path and the query and
    // takes it back from httpbin's echo of the query; step 3 sends that in a header.
    let report = Test::new()
        .scenario(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/uuid"
            extract = { id = "json:$.uuid" }

            [[scenarios.steps]]
            url = "/anything/${id}?u=${id}"
            checks = ['body matches "\"u\": \"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\""']
            extract = { echoed = "json:$.args.u", in_url = 'regex:"url": "[^"]*/anything/([0-9a-f-]+)[?]' }

            [[scenarios.steps]]
            url = "/anything"
            headers = { x-kaioken-test = "${echoed}" }
            checks = ['body matches "\"X-Kaioken-Test\": \"[0-9a-f-]{36}\""']
            "#,
        )
        .arg(httpbin.url("/"))
        .args(["-c", "2", "--max-requests", "60", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 60, "{report}\n{}", httpbin.logs());
    let uuids = lines.iter().filter(|l| l.path == "/uuid").count() as u64;
    let step2: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.path.starts_with("/anything/"))
        .collect();
    let step3: Vec<&LogLine> = lines.iter().filter(|l| l.path == "/anything").collect();
    assert!(step2.len() >= 19 && step3.len() >= 18, "{lines:?}");
    // Each step 2 sent the UUID it got, the same in the path and the query, and a
    // different one every iteration: a stale or empty value would show here.
    let mut sent = BTreeSet::new();
    for l in &step2 {
        let id = l.path.strip_prefix("/anything/").expect("prefix");
        assert!(is_uuid4(id), "not a fresh UUID in the path: {l:?}");
        assert_eq!(l.query_param("u"), Some(id), "{l:?}");
        assert!(sent.insert(id), "UUID {id} sent twice: {step2:?}");
    }
    // Step 3 sent back what httpbin echoed in step 2, i.e. one of those UUIDs.
    let echoed: BTreeSet<&str> = step3.iter().map(|l| l.x_kaioken_test.as_str()).collect();
    assert_eq!(echoed.len(), step3.len(), "{step3:?}");
    assert!(echoed.is_subset(&sent), "{echoed:?} vs {sent:?}");
    assert_eq!(extraction(&report, "id"), (uuids, 0), "{report}");
    assert_eq!(
        extraction(&report, "echoed"),
        (step2.len() as u64, 0),
        "{report}"
    );
    assert_eq!(
        extraction(&report, "in_url"),
        (step2.len() as u64, 0),
        "{report}"
    );
    let checks = report.get("checks").as_array().expect("checks").clone();
    let evaluations: Vec<(u64, u64)> = checks
        .iter()
        .map(|c| (c["passes"].as_u64().unwrap(), c["fails"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        evaluations,
        vec![(step2.len() as u64, 0), (step3.len() as u64, 0)],
        "{report}"
    );
}

#[test]
fn httpbin_chained_values_are_echoed_back() {
    let httpbin = Httpbin::start();
    // A token made by kaioken goes out in a JSON body, comes back in httpbin's echo of
    // it (JSONPath), goes out in a query that httpbin turns into a response header
    // (`header:`), and comes back from that into the last step's query.
    let report = Test::new()
        .scenario(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/anything"
            method = "POST"
            headers = { content-type = "application/json" }
            body = '{"token": "t-${REQUEST_ID}"}'
            extract = { token = "json:$.json.token" }

            [[scenarios.steps]]
            url = "/response-headers?x-token=${token}"
            extract = { hdr = "header:X-Token" }

            [[scenarios.steps]]
            url = "/anything?tok=${hdr}"
            checks = ['body matches "\"tok\": \"t-[0-9]+-[0-9]+\""']
            "#,
        )
        .arg(httpbin.url("/"))
        .args(["-c", "3", "--max-requests", "90", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 90, "{report}\n{}", httpbin.logs());
    let posts = lines.iter().filter(|l| l.method == "POST").count();
    let tokens: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l.path == "/response-headers")
        .map(|l| l.query_param("x-token").expect("x-token"))
        .collect();
    let last: Vec<&str> = lines
        .iter()
        .filter(|l| l.path == "/anything" && l.method == "GET")
        .map(|l| l.query_param("tok").expect("tok"))
        .collect();
    assert!(last.len() >= 27, "{lines:?}");
    // REQUEST_ID is unique per request, so every token is distinct and of its shape.
    assert!(tokens.len() >= last.len(), "{tokens:?}");
    for t in &tokens {
        let id = t
            .strip_prefix("t-")
            .unwrap_or_else(|| panic!("token {t:?}"));
        let (vu, n) = id.split_once('-').unwrap_or_else(|| panic!("token {t:?}"));
        assert!(
            vu.parse::<u64>().is_ok() && n.parse::<u64>().is_ok(),
            "token {t:?}"
        );
    }
    let distinct: BTreeSet<&str> = last.iter().copied().collect();
    assert_eq!(distinct.len(), last.len(), "{last:?}");
    assert!(distinct.is_subset(&tokens), "{last:?} vs {tokens:?}");
    assert_eq!(extraction(&report, "token"), (posts as u64, 0), "{report}");
    assert_eq!(
        extraction(&report, "hdr"),
        (tokens.len() as u64, 0),
        "{report}"
    );
    assert_eq!(
        report.check(r#"body matches "\"tok\": \"t-[0-9]+-[0-9]+\"""#),
        (last.len() as u64, 0),
        "{report}"
    );
}

#[test]
fn httpbin_cookie_jar_keeps_each_vus_session() {
    // Each VU sets its own cookie value; the jar must send it back, and only its own.
    // Only step 2 sends `x-kaioken-test`, which tells its requests apart in the log.
    const SCENARIO: &str = r#"
        [[scenarios]]
        [[scenarios.steps]]
        url = "/cookies/set?k=v${VU}"

        [[scenarios.steps]]
        url = "/cookies"
        headers = { x-kaioken-test = "${VU}" }
        checks = ['body matches "\"k\": \"v[0-9]+\""']
    "#;
    const JAR_IN_FILE: &str = "[target]\ncookie_jar = true\n";
    for (how, jar) in [
        ("[target] cookie_jar = true", true),
        ("--cookie-jar on tokio", true),
        ("no jar", false),
    ] {
        let httpbin = Httpbin::start();
        let mut test = Test::new()
            .arg(httpbin.url("/"))
            .args(["-c", "2", "--max-requests", "40", "-d", "60s"])
            .report();
        test = match how {
            "[target] cookie_jar = true" => test.scenario(&format!("{JAR_IN_FILE}{SCENARIO}")),
            "--cookie-jar on tokio" => test
                .scenario(SCENARIO)
                .arg("--cookie-jar")
                .env("KAIOKEN_NO_IO_URING", "1"),
            _ => test.scenario(SCENARIO),
        };
        let report = test.run().report();
        report.check_invariants(0);
        let lines = httpbin.access_log_lines();
        let step2: Vec<&LogLine> = lines
            .iter()
            .filter(|l| l.path == "/cookies" && l.x_kaioken_test != "-")
            .collect();
        assert!(step2.len() >= 9, "{how}: {lines:?}");
        let (passes, fails) = report.check(r#"body matches "\"k\": \"v[0-9]+\"""#);
        assert_eq!(passes + fails, step2.len() as u64, "{how}\n{report}");
        if jar {
            assert_eq!(fails, 0, "{how}: every /cookies has the cookie\n{report}");
            for l in &step2 {
                assert_eq!(
                    l.cookie,
                    format!("k=v{}", l.x_kaioken_test),
                    "{how}: a VU sent another's cookie, or none: {l:?}"
                );
            }
        } else {
            assert_eq!(passes, 0, "{how}: no cookie without the jar\n{report}");
            assert!(
                lines.iter().all(|l| l.cookie == "-"),
                "{how}: a cookie was sent without the jar: {lines:?}"
            );
        }
    }
}

/// A step's own `cookie` header and the jar's cookies go out as one `Cookie`
/// header (RFC 6265 §5.4): two would reach the application as one value joined
/// with a comma, the jar's session lost.
#[test]
fn a_steps_cookie_header_and_the_jars_are_one_header() {
    const SCENARIO: &str = r#"
        [target]
        cookie_jar = true

        [[scenarios]]
        [[scenarios.steps]]
        url = "/cookies/set?sid=abc${VU}"

        [[scenarios.steps]]
        url = "/cookies"
        headers = { cookie = "mine=1", x-kaioken-test = "2" }
        checks = ['body contains "\"mine\": \"1\""', 'body matches "\"sid\": \"abc[0-9]+\""']
    "#;
    let mine = r#"body contains "\"mine\": \"1\"""#;
    let sid = r#"body matches "\"sid\": \"abc[0-9]+\"""#;
    for engine in ["io_uring", "tokio"] {
        let httpbin = Httpbin::start();
        let report = Test::new()
            .arg(httpbin.url("/"))
            .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
            .scenario(SCENARIO)
            .on_engine(engine)
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        // Step 1's redirect to `/cookies` is not step 2: only step 2 sends
        // `x-kaioken-test`.
        let sent: Vec<String> = httpbin
            .access_log_lines()
            .into_iter()
            .filter(|l| l.path == "/cookies" && l.x_kaioken_test == "2")
            .map(|l| l.cookie)
            .collect();
        let step2 = sent.len() as u64;
        assert!(step2 >= 5, "{engine}: {sent:?}");
        assert_eq!(report.check(mine), (step2, 0), "{engine}\n{report}");
        assert_eq!(report.check(sid), (step2, 0), "{engine}\n{report}");
        assert!(
            sent.iter().all(|c| c.starts_with("mine=1; sid=abc")),
            "{engine}: {sent:?}"
        );
    }
}

#[test]
fn httpbin_headers_from_request_defaults_and_steps_are_echoed() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [request]
            headers = { x-kaioken-test = "vu-${VU}", x-default = "d" }

            [[scenarios]]
            [[scenarios.steps]]
            url = "/headers?step=1"
            headers = { x-step = "one" }
            checks = ['body matches "\"X-Kaioken-Test\": \"vu-[12]\""', 'body contains "\"X-Step\": \"one\""', 'body contains "\"X-Default\": \"d\""']

            [[scenarios.steps]]
            url = "/headers?step=2"
            headers = { x-kaioken-test = "override-${ITERATION}" }
            checks = ['body matches "\"X-Kaioken-Test\": \"override-[0-9]+\""', 'body matches "\"X-Default\": \"d\""', '!(body contains "X-Step")']
            "#,
        )
        .arg(httpbin.url("/"))
        .args(["-c", "2", "--max-requests", "40", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let checks = report.get("checks").as_array().expect("checks").clone();
    assert_eq!(checks.len(), 6, "{report}");
    for c in &checks {
        assert_eq!(c["fails"], 0, "{report}");
        assert!(c["passes"].as_u64().unwrap() >= 19, "{report}");
    }
    let lines = httpbin.access_log_lines();
    assert_eq!(lines.len(), 40, "{}", httpbin.logs());
    let mut vus = BTreeSet::new();
    for l in &lines {
        match l.query_param("step") {
            Some("1") => {
                vus.insert(l.x_kaioken_test.clone());
            }
            Some("2") => assert!(l.x_kaioken_test.starts_with("override-"), "{l:?}"),
            _ => panic!("unexpected request {l:?}"),
        }
        assert!(l.user_agent.starts_with("kaioken/"), "{l:?}");
    }
    assert_eq!(
        vus,
        BTreeSet::from(["vu-1".to_owned(), "vu-2".to_owned()]),
        "{lines:?}"
    );

    // `-H` on the command line reaches the server too.
    let report = Test::new()
        .scenario(
            r#"
            [request]
            checks = ['body contains "\"X-Kaioken-Test\": \"from-flag\""']
            "#,
        )
        .arg(httpbin.url("/headers"))
        .args(["-H", "X-Kaioken-Test: from-flag"])
        .args(["-c", "1", "--max-requests", "5", "-d", "60s"])
        .report()
        .run()
        .report();
    assert_eq!(report.get("checks")[0]["passes"], 5, "{report}");
}

#[test]
fn httpbin_thresholds_pass_with_exit_0_and_fail_with_exit_4() {
    const SCENARIO: &str = r#"
        [[checks]]
        expr = "status == 200"

        [thresholds]
        p95 = "< 5s"
        error_rate = "< 1%"
        check_pass_rate = "> 0.99"
    "#;
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(SCENARIO)
        .arg(httpbin.url("/get"))
        .args(["-c", "2", "--max-requests", "50", "-d", "60s"])
        .stdout_contains("Thresholds  all passed")
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let thresholds = report.get("thresholds").as_array().unwrap().clone();
    assert_eq!(thresholds.len(), 3, "{report}");
    assert!(thresholds.iter().all(|t| t["passed"] == true), "{report}");

    // A 503 is a response, not an error: the error rate holds, the checks do not.
    let report = Test::new()
        .scenario(SCENARIO)
        .arg(httpbin.url("/status/503"))
        .args(["-c", "2", "--max-requests", "50", "-d", "60s"])
        .status(4)
        .report()
        .run()
        .report();
    report.check_invariants(4);
    assert_eq!(report.status_codes(), vec![(503, 50)], "{report}");
    let failed: Vec<(&str, f64)> = report
        .get("thresholds")
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["passed"] == false)
        .map(|t| {
            (
                t["metric"].as_str().unwrap(),
                t["observed"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(failed, vec![("check_pass_rate", 0.0)], "{report}");
    assert_eq!(
        httpbin.requests_by_path(),
        BTreeMap::from([("/get".to_owned(), 50), ("/status/503".to_owned(), 50)])
    );
}

/// Two weighted scenarios, `-n`: kaioken's totals, status codes and per-scenario
/// counts equal what httpbin logged, on both engines.
#[test]
fn httpbin_counts_equal_the_access_log() {
    for env in [None, Some("1")] {
        let httpbin = Httpbin::start();
        let mut test = Test::new()
            .scenario(
                r#"
                [[scenarios]]
                name = "a"
                weight = 3
                [[scenarios.steps]]
                url = "/status/200"
                [[scenarios.steps]]
                url = "/anything/a?n=${REQUEST_ID}"

                [[scenarios]]
                name = "b"
                [[scenarios.steps]]
                url = "/status/201"
                "#,
            )
            .arg(httpbin.url("/"))
            .args(["-c", "4", "--max-requests", "300", "-d", "60s"])
            .report();
        if let Some(v) = env {
            test = test.env("KAIOKEN_NO_IO_URING", v);
        }
        let report = test.run().report();
        report.check_invariants(0);
        let lines = httpbin.access_log_lines();
        let context = format!("{report}\n{}", httpbin.logs());
        assert_eq!(report.u64("requests.total"), 300, "{context}");
        assert_eq!(report.u64("requests.errors"), 0, "{context}");
        assert_eq!(lines.len(), 300, "{context}");
        assert_eq!(report.status_codes(), log_status_codes(&lines), "{context}");
        let by_path = httpbin.requests_by_path();
        let scenario = |name: &str| {
            report
                .get("scenarios")
                .as_array()
                .expect("scenarios")
                .iter()
                .find(|s| s["name"] == name)
                .unwrap_or_else(|| panic!("no scenario {name}:\n{report}"))["requests"]
                .as_u64()
                .expect("requests")
        };
        assert_eq!(
            scenario("a"),
            by_path["/status/200"] + by_path["/anything/a"],
            "{by_path:?}\n{context}"
        );
        assert_eq!(scenario("b"), by_path["/status/201"], "{by_path:?}");
        // Weights 3:1 over about 170 iterations.
        assert!(by_path["/status/201"] > 10, "{by_path:?}");
        assert!(
            by_path["/status/200"] > by_path["/status/201"],
            "{by_path:?}"
        );
    }
}

// ---------------------------------------------------------------------------------
// Redirects: followed by default (`[target] follow_redirects = true`, at most
// `max_redirects = 10` hops; `--no-follow-redirects`, `--max-redirects N`). Every hop
// is a counted request (`max_requests` counts hops too), and checks and extractors see
// the final response. httpbin's `/redirect/3` answers 302 to `/relative-redirect/2`,
// then `/relative-redirect/1`, then `/get` (200): four requests.
// ---------------------------------------------------------------------------------

/// The paths of one `/redirect/3` chain, in order.
const CHAIN_OF_3: [&str; 4] = [
    "/redirect/3",
    "/relative-redirect/2",
    "/relative-redirect/1",
    "/get",
];

#[test]
fn httpbin_redirects_are_followed_by_default() {
    let httpbin = Httpbin::start();
    // One VU, eight requests: exactly two chains of four hops.
    let report = Test::new()
        .scenario(
            r#"
            [request]
            checks = ["status == 200"]
            "#,
        )
        .arg(httpbin.url("/redirect/3"))
        .args(["-c", "1", "--max-requests", "8", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let lines = httpbin.access_log_lines();
    let paths: Vec<&str> = lines.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(paths, [CHAIN_OF_3, CHAIN_OF_3].concat(), "{report}");
    assert_eq!(
        report.u64("requests.total"),
        8,
        "every hop counts\n{report}"
    );
    assert_eq!(
        report.str("outcome.stop_reason"),
        "max_requests",
        "{report}"
    );
    assert_eq!(
        report.status_codes(),
        log_status_codes(&lines),
        "status codes as httpbin served them\n{report}"
    );
    assert_eq!(log_status_codes(&lines), vec![(200, 2), (302, 6)]);
    // The check sees the final response of each chain, once.
    assert_eq!(report.check("status == 200"), (2, 0), "{report}");
}

#[test]
fn httpbin_redirects_are_not_followed_when_turned_off() {
    for how in ["toml", "flag"] {
        let httpbin = Httpbin::start();
        let mut scenario = String::new();
        if how == "toml" {
            scenario.push_str("[target]\nfollow_redirects = false\n");
        }
        scenario.push_str(
            "[request]\nchecks = ['status == 302', 'header(\"location\") == \"/relative-redirect/2\"']\n",
        );
        let mut test = Test::new()
            .scenario(&scenario)
            .arg(httpbin.url("/redirect/3"))
            .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
            .report();
        if how == "flag" {
            test = test.arg("--no-follow-redirects");
        }
        let report = test.run().report();
        report.check_invariants(0);
        assert_eq!(report.check("status == 302"), (20, 0), "{how}\n{report}");
        assert_eq!(
            report.check("header(\"location\") == \"/relative-redirect/2\""),
            (20, 0),
            "{how}\n{report}"
        );
        assert_eq!(report.status_codes(), vec![(302, 20)], "{how}\n{report}");
        assert_eq!(
            httpbin.requests_by_path(),
            BTreeMap::from([("/redirect/3".to_owned(), 20)]),
            "{how}: a redirect was followed"
        );
    }
}

#[test]
fn httpbin_max_redirects_bounds_the_hops() {
    for how in ["toml", "flag"] {
        let httpbin = Httpbin::start();
        let mut scenario = String::new();
        if how == "toml" {
            scenario.push_str("[target]\nmax_redirects = 2\n");
        }
        scenario.push_str("[request]\nchecks = ['status == 200']\n");
        let mut test = Test::new()
            .scenario(&scenario)
            .arg(httpbin.url("/redirect/3"))
            .args(["-c", "1", "--max-requests", "6", "-d", "60s"])
            .report();
        if how == "flag" {
            test = test.args(["--max-redirects", "2"]);
        }
        // Whether running out of hops is an error or hands the last 302 to the checks,
        // the exit code stays 0 only if it is under the error-rate limit: allow both.
        let test = test.arg("--max-error-rate").arg("1");
        let report = test.run().report();
        report.check_invariants(0);
        // The request and two hops, never the third hop to /get.
        let lines = httpbin.access_log_lines();
        let paths: Vec<&str> = lines.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            paths,
            [&CHAIN_OF_3[..3], &CHAIN_OF_3[..3]].concat(),
            "{how}\n{report}"
        );
        assert_eq!(
            report.u64("requests.total"),
            lines.len() as u64,
            "{how}: every hop counts, none invented\n{report}"
        );
        let (passes, _) = report.check("status == 200");
        assert_eq!(passes, 0, "{how}: the chain never reached 200\n{report}");
    }
}

#[test]
fn httpbin_ten_redirects_are_within_the_limit() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [target]
            follow_redirects = true
            max_redirects = 10

            [request]
            checks = ["status == 200"]
            "#,
        )
        .arg(httpbin.url("/redirect/10"))
        .args(["-c", "1", "--max-requests", "22", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let by_path = httpbin.requests_by_path();
    assert_eq!(by_path.values().sum::<u64>(), 22, "{by_path:?}");
    assert_eq!(by_path["/get"], 2, "{by_path:?}");
    assert_eq!(report.check("status == 200"), (2, 0), "{report}");
    // One more hop than the default limit allows never reaches /get.
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario("[request]\nchecks = ['status == 200']\n")
        .arg(httpbin.url("/redirect/11"))
        .args(["-c", "1", "--max-requests", "11", "-d", "60s"])
        .args(["--max-error-rate", "1"])
        .report()
        .run()
        .report();
    assert!(
        !httpbin.requests_by_path().contains_key("/get"),
        "followed more than 10 redirects\n{report}"
    );
    assert_eq!(report.check("status == 200").0, 0, "{report}");
}

#[test]
fn httpbin_absolute_redirects_are_followed() {
    let httpbin = Httpbin::start();
    // `/absolute-redirect/2` answers with `Location: http://127.0.0.1:PORT/…`.
    let report = Test::new()
        .scenario("[request]\nchecks = ['status == 200']\n")
        .arg(httpbin.url("/absolute-redirect/2"))
        .args(["-c", "1", "--max-requests", "6", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let paths: Vec<String> = httpbin
        .access_log_lines()
        .into_iter()
        .map(|l| l.path)
        .collect();
    let chain = ["/absolute-redirect/2", "/absolute-redirect/1", "/get"];
    assert_eq!(paths, [chain, chain].concat(), "{report}");
    assert_eq!(report.check("status == 200"), (2, 0), "{report}");
}

#[test]
fn httpbin_extractors_see_the_final_response_of_a_redirected_step() {
    let httpbin = Httpbin::start();
    // `/redirect-to?url=…` answers 302 to the given URL; the echo of `/anything` is
    // only in the final response, so the extractor finds `x` only if it sees that one.
    let report = Test::new()
        .scenario(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/redirect-to?url=%2Fanything%3Fx%3Dv${REQUEST_ID}"
            checks = ["status == 200"]
            extract = { x = "json:$.args.x" }

            [[scenarios.steps]]
            url = "/anything/next?got=${x}"
            "#,
        )
        .arg(httpbin.url("/"))
        .args(["-c", "1", "--max-requests", "9", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    let lines = httpbin.access_log_lines();
    let paths: Vec<&str> = lines.iter().map(|l| l.path.as_str()).collect();
    let iteration = ["/redirect-to", "/anything", "/anything/next"];
    assert_eq!(paths, [iteration; 3].concat(), "{report}");
    assert_eq!(report.check("status == 200"), (3, 0), "{report}");
    assert_eq!(extraction(&report, "x"), (3, 0), "{report}");
    for pair in lines.chunks(3) {
        let sent = pair[1].query_param("x").expect("x");
        assert!(sent.starts_with('v'), "{pair:?}");
        assert_eq!(pair[2].query_param("got"), Some(sent), "{pair:?}");
    }
}

#[test]
fn httpbin_the_cookie_jar_applies_on_every_hop() {
    // `/cookies/set?k=v` answers 302 to `/cookies` with `Set-Cookie`; as in a browser,
    // the jar stores the cookie from the 302 and sends it on the next hop, so the
    // step's final response (httpbin's view of the cookies) holds it.
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [target]
            cookie_jar = true

            [[scenarios]]
            [[scenarios.steps]]
            url = "/cookies/set?k=v${ITERATION}"
            checks = ["status == 200", 'body matches "\"k\": \"v[0-9]+\""']
            "#,
        )
        .arg(httpbin.url("/"))
        .args(["-c", "1", "--max-requests", "10", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.check("status == 200"), (5, 0), "{report}");
    assert_eq!(
        report.check(r#"body matches "\"k\": \"v[0-9]+\"""#),
        (5, 0),
        "{report}"
    );
    let lines = httpbin.access_log_lines();
    for (i, pair) in lines.chunks(2).enumerate() {
        assert_eq!(
            (pair[0].path.as_str(), pair[1].path.as_str()),
            ("/cookies/set", "/cookies")
        );
        assert_eq!(pair[1].cookie, format!("k=v{i}"), "{lines:?}");
    }
}

/// `${URLENCODE(v)}` sends a value with `+`, `/` and `=` through a query string
/// intact; sent raw, the `+` arrives as a space. httpbin's `/base64/…` answers with
/// the decoded text, and `/anything` echoes the query it understood.
#[test]
fn httpbin_url_encoded_values_arrive_intact() {
    let httpbin = Httpbin::start();
    let report = Test::new()
        .scenario(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "/base64/YSsvPWI="
            extract = { v = "body" }

            [[scenarios.steps]]
            url = "/anything?t=${URLENCODE(v)}"
            checks = ['body contains "\"t\": \"a+/=b\""']

            [[scenarios.steps]]
            url = "/anything?t=${v}"
            checks = ['body contains "\"t\": \"a /=b\""']
            "#,
        )
        .arg(httpbin.url("/"))
        .args(["-n", "9", "-c", "1"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(
        report.check(r#"body contains "\"t\": \"a+/=b\"""#),
        (3, 0),
        "{report}"
    );
    assert_eq!(
        report.check(r#"body contains "\"t\": \"a /=b\"""#),
        (3, 0),
        "{report}"
    );
    let queries: Vec<String> = httpbin
        .access_log_lines()
        .iter()
        .filter(|l| l.path == "/anything")
        .map(|l| l.query.clone())
        .collect();
    assert_eq!(queries.len(), 6, "{queries:?}");
    assert!(
        queries.iter().filter(|q| *q == "t=a%2B%2F%3Db").count() == 3,
        "{queries:?}"
    );
}
