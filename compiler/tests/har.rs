//! HAR import: every recording in `tests/fixtures/har/` lowers to the same IR whether it
//! is run directly or imported to TOML first; the generated TOML is snapshot-tested;
//! correlation finds exactly the values a login flow hands from response to request.
//!
//! Regenerate the snapshots after an intended change with `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test -p kaioken-compiler --test har`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kaioken_compiler::{
    CompileErrorKind, ConfigFile, HarOptions, Input, Ir, Part, Template, import_har, lower,
};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/har")
}

/// Every fixture, sorted.
fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/har exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "har"))
        .collect();
    files.sort();
    assert!(files.len() >= 11, "fixtures missing: {files:?}");
    files
}

/// The fixtures that hold requests to replay: all but `brokenfile.har`, which is not
/// JSON.
fn replayable() -> Vec<PathBuf> {
    fixtures()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name != "brokenfile.har"
        })
        .collect()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(name)).unwrap()
}

fn lower_file(
    name: &str,
    text: &str,
    har: &HarOptions,
) -> Result<Ir, kaioken_compiler::CompileErrors> {
    lower(&Input {
        config: Some(ConfigFile {
            name: name.to_owned(),
            text: text.to_owned(),
        }),
        har: har.clone(),
        env: BTreeMap::new(),
        ..Input::default()
    })
}

/// The IR without source positions: a HAR and a TOML file put the same values at
/// different places.
fn without_locs(mut ir: Ir) -> Ir {
    for s in &mut ir.scenarios {
        s.loc = None;
        for step in &mut s.steps {
            step.loc = None;
            step.checks.iter_mut().for_each(|c| c.loc = None);
            step.extracts.iter_mut().for_each(|x| x.loc = None);
        }
    }
    ir.checks.iter_mut().for_each(|c| c.loc = None);
    ir.thresholds.iter_mut().for_each(|t| t.loc = None);
    ir
}

fn option_sets() -> Vec<HarOptions> {
    vec![
        HarOptions::default(),
        HarOptions {
            include_assets: true,
            think_time: true,
            ..HarOptions::default()
        },
    ]
}

#[test]
fn har_and_imported_toml_lower_to_the_same_ir() {
    for path in replayable() {
        let name = format!("recordings/{}", path.file_name().unwrap().to_string_lossy());
        let text = std::fs::read_to_string(&path).unwrap();
        for options in option_sets() {
            let direct = lower_file(&name, &text, &options)
                .unwrap_or_else(|e| panic!("{name} ({options:?}) does not lower: {e:?}"));
            let imported = import_har(&name, &text, &options).unwrap();
            let toml_name = name.replace(".har", ".toml");
            let via_toml = lower_file(&toml_name, &imported.toml, &HarOptions::default())
                .unwrap_or_else(|e| {
                    panic!(
                        "the TOML imported from {name} does not lower: {e:?}\n{}",
                        imported.toml
                    )
                });
            assert_eq!(
                without_locs(direct.clone()),
                without_locs(via_toml),
                "{name} ({options:?}): HAR → IR differs from HAR → TOML → IR\n{}",
                imported.toml
            );
            assert_eq!(imported.steps, direct.scenarios[0].steps.len());
            // The dump compares equal too, and the direct IR points into the HAR file.
            assert!(
                kaioken_compiler::dump_ir(&direct, true, &kaioken_compiler::Redact::default())
                    .contains(&format!("; {name}:")),
                "{}",
                kaioken_compiler::dump_ir(&direct, true, &kaioken_compiler::Redact::default())
            );
            // Importing twice gives the same bytes.
            assert_eq!(
                imported.toml,
                import_har(&name, &text, &options).unwrap().toml
            );
        }
    }
}

#[test]
fn imported_toml_snapshots() {
    for (file, options) in [
        (
            "login-flow.har",
            HarOptions {
                think_time: true,
                ..HarOptions::default()
            },
        ),
        ("postdata.har", HarOptions::default()),
        ("head-content-length.har", HarOptions::default()),
        ("error_log.har", HarOptions::default()),
        ("rails-login.har", HarOptions::default()),
    ] {
        let imported = import_har(file, &read(file), &options).unwrap();
        insta::assert_snapshot!(file.replace(['.', '-'], "_"), imported.toml);
    }
}

fn lit(t: &Template) -> String {
    t.parts
        .iter()
        .map(|p| match p {
            Part::Lit(b) => String::from_utf8_lossy(b).into_owned(),
            Part::Extracted(v) => format!("${{{v}}}"),
            Part::UrlEncoded(v) => format!("${{URLENCODE({v})}}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// A step's method, path and extractors (variable, spec).
type StepSummary = (String, String, Vec<(String, String)>);

#[test]
fn login_flow_correlation() {
    let text = read("login-flow.har");
    let imported = import_har("login-flow.har", &text, &HarOptions::default()).unwrap();
    assert_eq!(
        imported.variables,
        [
            "csrf_token",
            "authenticity_token",
            "token",
            "user_id",
            "order_id"
        ]
    );
    let ir = lower_file("login-flow.har", &text, &HarOptions::default()).unwrap();
    assert!(ir.settings.cookie_jar, "the recording set a cookie");
    let steps = &ir.scenarios[0].steps;
    let summary: Vec<StepSummary> = steps
        .iter()
        .map(|s| {
            let extracts = s
                .extracts
                .iter()
                .map(|x| (x.var.clone(), x.extractor.to_string()))
                .collect();
            (s.method.clone(), lit(&s.path), extracts)
        })
        .collect();
    let e = |v: &str, spec: &str| (v.to_owned(), spec.to_owned());
    assert_eq!(
        summary,
        [
            (
                "GET".into(),
                "/login".into(),
                vec![
                    e(
                        "authenticity_token",
                        r#"regex:name="authenticity_token"[^>]*?value="([^"]*)""#
                    ),
                    e(
                        "csrf_token",
                        r#"regex:name="csrf\-token"[^>]*?content="([^"]*)""#
                    ),
                ]
            ),
            (
                "POST".into(),
                "/login".into(),
                vec![
                    e("token", "json:$.data.token"),
                    e("user_id", "json:$.data.user.id")
                ]
            ),
            (
                "GET".into(),
                "/api/orders?status=completed&min=1999".into(),
                vec![e("order_id", "json:$.orders[0].id")]
            ),
            ("GET".into(), "/api/orders/${order_id}".into(), vec![]),
            (
                "GET".into(),
                // The user name was sent by the login request: the client knew it, so
                // it stays as recorded.
                "/api/users/${user_id}?fields=name&login=alice_wonderland".into(),
                vec![]
            ),
            (
                "POST".into(),
                "/api/orders/${order_id}/notes".into(),
                vec![]
            ),
            // The WebSocket connection, replayed as its opening handshake.
            ("GET".into(), "/live".into(), vec![]),
        ]
    );
    let header = |step: usize, name: &str| {
        steps[step]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| lit(v))
    };
    assert_eq!(
        steps[1].body.as_ref().map(lit).as_deref(),
        Some(
            "username=alice_wonderland&password=s3cret-Pa55&authenticity_token=${authenticity_token}"
        )
    );
    assert_eq!(
        header(1, "content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    for step in 2..6 {
        assert_eq!(
            header(step, "authorization").as_deref(),
            Some("Bearer ${token}"),
            "step {step}"
        );
    }
    assert_eq!(header(2, "x-csrf-token").as_deref(), Some("${csrf_token}"));
    // Recorded `${` is text, not a variable; `$5` stays as it is.
    assert_eq!(
        steps[5].body.as_ref().map(lit).as_deref(),
        Some(r#"{"note": "pay $5 later, literal ${not_a_var}", "order": "${order_id}"}"#)
    );
    assert!(
        imported.toml.contains(r#"literal $${not_a_var}"#),
        "{}",
        imported.toml
    );
    // Steps whose response a value is taken from ask for it uncompressed; the others
    // keep the browser's accept-encoding.
    for (i, s) in steps.iter().enumerate() {
        let has = s.headers.iter().any(|(n, _)| n == "accept-encoding");
        assert_eq!(has, s.extracts.is_empty(), "step {i}: {:?}", s.headers);
    }
    // Never replayed: cookies, hop-by-hop headers (but a handshake's `connection:
    // upgrade`), host, content-length, pseudo-headers.
    for s in &steps[..6] {
        for (name, _) in &s.headers {
            assert!(
                !matches!(
                    name.as_str(),
                    "cookie" | "connection" | "host" | "content-length"
                ) && !name.starts_with(':'),
                "{name} in {}",
                s.name
            );
        }
    }
    // The fragment of `/login#top` is gone, the asset is left out, the WebSocket is
    // its handshake.
    assert_eq!(steps.len(), 7);
    assert!(
        imported.toml.contains("1 static asset"),
        "{}",
        imported.toml
    );
    assert!(
        imported
            .toml
            .contains("1 WebSocket connection is replayed as its opening handshake"),
        "{}",
        imported.toml
    );
}

/// A Rails login: the form's hidden `authenticity_token` is base64 (`+`, `/`, `=`), so
/// the form POST and a query string send it percent-encoded, as `%2B`, `%2F`, `%3D`
/// (the query with lowercase hex), while a header sends it as is.
#[test]
fn rails_login_sends_the_token_back_percent_encoded() {
    const TOKEN: &str = "VANSpO/+l+6/2tYmXLgOChepMPf4SRFt1ECtMLuu8ms=";
    let text = read("rails-login.har");
    assert!(text.contains("VANSpO%2F%2Bl%2B6%2F2tYmXLgOChepMPf4SRFt1ECtMLuu8ms%3D"));
    assert!(text.contains("VANSpO%2f%2bl%2b6%2f2tYmXLgOChepMPf4SRFt1ECtMLuu8ms%3d"));
    let imported = import_har("rails-login.har", &text, &HarOptions::default()).unwrap();
    assert_eq!(imported.variables, ["authenticity_token"]);
    let toml = &imported.toml;
    let comment: String = toml
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#'))
        .collect();
    assert!(
        comment.contains("and sent by steps 2, 4, 5 (percent-encoded by 2, 4)."),
        "{toml}"
    );
    for want in [
        r#"extract = { authenticity_token = 'regex:name="authenticity_token"[^>]*?value="([^"]*)"' }"#,
        r#"body = "authenticity_token=${URLENCODE(authenticity_token)}&user%5Bemail%5D=alice%40example.com&user%5Bpassword%5D=s3cret-Pa55&commit=Log+in""#,
        r#"url = "/orders/export?authenticity_token=${URLENCODE(authenticity_token)}&format=csv""#,
        r#"x-csrf-token = "${authenticity_token}""#,
    ] {
        assert!(toml.contains(want), "lacks {want:?}:\n{toml}");
    }

    let ir = lower_file("rails-login.har", &text, &HarOptions::default()).unwrap();
    let steps = &ir.scenarios[0].steps;
    assert_eq!(steps.len(), 5);
    let extracts: Vec<(String, String)> = steps[0]
        .extracts
        .iter()
        .map(|x| (x.var.clone(), x.extractor.to_string()))
        .collect();
    assert_eq!(
        extracts,
        [(
            "authenticity_token".to_owned(),
            r#"regex:name="authenticity_token"[^>]*?value="([^"]*)""#.to_owned()
        )]
    );
    assert!(steps[1..].iter().all(|s| s.extracts.is_empty()));
    assert_eq!(
        steps[1].body.as_ref().map(lit).as_deref(),
        Some(
            "authenticity_token=${URLENCODE(authenticity_token)}&user%5Bemail%5D=alice%40example.com&user%5Bpassword%5D=s3cret-Pa55&commit=Log+in"
        )
    );
    assert!(
        steps[1]
            .body
            .as_ref()
            .unwrap()
            .parts
            .iter()
            .any(|p| matches!(p, Part::UrlEncoded(v) if v == "authenticity_token"))
    );
    assert_eq!(
        lit(&steps[3].path),
        "/orders/export?authenticity_token=${URLENCODE(authenticity_token)}&format=csv"
    );
    let csrf = steps[4].headers.iter().find(|(n, _)| n == "x-csrf-token");
    assert_eq!(
        csrf.map(|(_, v)| lit(v)).as_deref(),
        Some("${authenticity_token}")
    );
    // The recorded token is sent nowhere, in no encoding.
    let dump = kaioken_compiler::dump_ir(&ir, false, &kaioken_compiler::Redact::default());
    for recorded in ["VANSpO", TOKEN] {
        assert!(!dump.contains(recorded), "{recorded} in\n{dump}");
    }
}

#[test]
fn think_time_is_the_gap_between_one_response_and_the_next_request() {
    let text = read("login-flow.har");
    let options = HarOptions {
        think_time: true,
        ..HarOptions::default()
    };
    let ir = lower_file("login-flow.har", &text, &options).unwrap();
    let pauses: Vec<Duration> = ir.scenarios[0].steps.iter().map(|s| s.think_time).collect();
    // /login ends at 0.120 s, POST /login starts at 2.000 s (written with a +02:00
    // offset, and out of order in the file); …; the last step has no pause.
    let ms = Duration::from_millis;
    assert_eq!(
        pauses,
        [
            ms(1880),
            ms(1200),
            ms(420),
            ms(450),
            ms(460),
            ms(440),
            ms(0)
        ]
    );
    let without = lower_file("login-flow.har", &text, &HarOptions::default()).unwrap();
    assert!(
        without.scenarios[0]
            .steps
            .iter()
            .all(|s| s.think_time.is_zero())
    );
}

#[test]
fn recordings_from_every_tool() {
    // chrome.har: HTTP/2 pseudo-headers dropped, a failed request kept, a PNG left out.
    let chrome = lower_file("chrome.har", &read("chrome.har"), &HarOptions::default()).unwrap();
    let steps = &chrome.scenarios[0].steps;
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert!(
        steps
            .iter()
            .flat_map(|s| &s.headers)
            .all(|(n, _)| !n.starts_with(':'))
    );
    assert_eq!(
        steps[1].origin.host, "www.google.com",
        "the failed request is kept"
    );
    assert!(
        steps[1].checks.is_empty(),
        "no status to check for a failed request"
    );
    let with_assets = HarOptions {
        include_assets: true,
        ..HarOptions::default()
    };
    let chrome = lower_file("chrome.har", &read("chrome.har"), &with_assets).unwrap();
    assert_eq!(chrome.scenarios[0].steps.len(), 3);

    // postdata.har: the body kept, content-length left to the runtime.
    let post = lower_file(
        "postdata.har",
        &read("postdata.har"),
        &HarOptions::default(),
    )
    .unwrap();
    let step = &post.scenarios[0].steps[0];
    assert_eq!(step.method, "POST");
    assert!(
        lit(step.body.as_ref().unwrap()).starts_with(r#"{"metadata":{"pageViewId":1689428126308"#)
    );
    assert!(step.headers.iter().all(|(n, _)| n != "content-length"));
    assert!(
        step.headers
            .iter()
            .any(|(n, v)| n == "content-type" && lit(v) == "text/plain;charset=UTF-8")
    );

    // with-bom.har: the same recording behind a byte-order mark.
    let bom = read("with-bom.har");
    assert!(bom.starts_with('\u{feff}'));
    let bom = lower_file("with-bom.har", &bom, &HarOptions::default()).unwrap();
    assert_eq!(
        without_locs(bom).scenarios[0].steps,
        without_locs(post).scenarios[0].steps
    );

    // head-content-length.har: HEAD, its recorded content-length dropped.
    let head = lower_file(
        "head.har",
        &read("head-content-length.har"),
        &HarOptions::default(),
    )
    .unwrap();
    let step = &head.scenarios[0].steps[0];
    assert_eq!(step.method, "HEAD");
    assert!(step.body.is_none());
    assert!(step.headers.iter().all(|(n, _)| n != "content-length"));

    // error_log.har: a request that never got a response is still replayed; the form
    // POST keeps its body.
    let errors = lower_file(
        "error_log.har",
        &read("error_log.har"),
        &HarOptions::default(),
    )
    .unwrap();
    let steps = &errors.scenarios[0].steps;
    assert_eq!(steps.len(), 2);
    assert_eq!(
        lit(steps[1].body.as_ref().unwrap()),
        "key1=value1&key2=value2"
    );

    // firefox.har: 9 images, scripts and the favicon left out; 5 documents and API
    // calls kept, in the order they started.
    let firefox = import_har("firefox.har", &read("firefox.har"), &HarOptions::default()).unwrap();
    assert_eq!((firefox.steps, firefox.entries), (5, 14));
    assert!(firefox.toml.contains("9 static assets"), "{}", firefox.toml);
}

/// Only a `GET` or a `HEAD` is a static asset: an upload to a URL ending in `.png`,
/// a `POST` answered with an image and a `DELETE` of a `.css` change state, and no
/// cache serves them. A recorded type decides over the URL's extension.
#[test]
fn state_changing_requests_are_never_assets() {
    let har = r#"{"log": {"entries": [
      {"startedDateTime": "2024-01-01T00:00:00Z", "time": 5,
       "request": {"method": "GET", "url": "http://app.test/api/me", "headers": []},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "{}"}}},
      {"startedDateTime": "2024-01-01T00:00:01Z", "time": 5,
       "request": {"method": "PUT", "url": "http://app.test/api/users/7/avatar.png",
                   "headers": [{"name": "content-type", "value": "image/png"}],
                   "postData": {"mimeType": "image/png", "text": "fakepng"}},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "{\"ok\":true}"}}},
      {"startedDateTime": "2024-01-01T00:00:02Z", "time": 5,
       "request": {"method": "POST", "url": "http://app.test/api/chart",
                   "headers": [{"name": "content-type", "value": "application/json"}],
                   "postData": {"mimeType": "application/json", "text": "{\"range\":\"7d\"}"}},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "image/png", "text": ""}}},
      {"startedDateTime": "2024-01-01T00:00:03Z", "time": 5,
       "request": {"method": "DELETE", "url": "http://app.test/api/files/report.css", "headers": []},
       "response": {"status": 204, "headers": [], "content": {"mimeType": "", "text": ""}}},
      {"startedDateTime": "2024-01-01T00:00:04Z", "time": 5,
       "request": {"method": "GET", "url": "http://app.test/api/export.js", "headers": []},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "{}"}}},
      {"startedDateTime": "2024-01-01T00:00:05Z", "time": 5,
       "request": {"method": "GET", "url": "http://app.test/static/app.css", "headers": []},
       "response": {"status": 304, "headers": [], "content": {"mimeType": "", "text": ""}}},
      {"startedDateTime": "2024-01-01T00:00:06Z", "time": 5,
       "request": {"method": "GET", "url": "http://app.test/static/logo", "headers": []},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "image/png", "text": ""}}}
    ]}}"#;
    let imported = import_har("put.har", har, &HarOptions::default()).unwrap();
    assert_eq!(
        (imported.steps, imported.entries),
        (5, 7),
        "{}",
        imported.toml
    );
    for want in [
        r#"name = "PUT /api/users/7/avatar.png""#,
        r#"name = "POST /api/chart""#,
        r#"name = "DELETE /api/files/report.css""#,
        r#"name = "GET /api/export.js""#,
        "Left out: 2 static assets",
    ] {
        assert!(
            imported.toml.contains(want),
            "lacks {want:?}:\n{}",
            imported.toml
        );
    }
}

/// A `201`'s relative `Location` is the created order: the later requests to it,
/// or under it, use the one each VU created, whether the recording is run directly
/// or imported first.
#[test]
fn a_relative_location_starts_the_later_urls() {
    let har = r#"{"log": {"entries": [
      {"startedDateTime": "2024-01-01T00:00:00Z", "time": 5,
       "request": {"method": "POST", "url": "http://app.test/orders",
                   "headers": [{"name": "content-type", "value": "application/json"}],
                   "postData": {"mimeType": "application/json", "text": "{\"item\":\"book\"}"}},
       "response": {"status": 201, "headers": [{"name": "Location", "value": "/orders/98765abc"}],
                    "content": {"mimeType": "application/json", "text": "{}"}}},
      {"startedDateTime": "2024-01-01T00:00:01Z", "time": 5,
       "request": {"method": "GET", "url": "http://app.test/orders/98765abc", "headers": []},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "{}"}}},
      {"startedDateTime": "2024-01-01T00:00:02Z", "time": 5,
       "request": {"method": "GET", "url": "http://app.test/orders/98765abc/items",
                   "headers": [{"name": "x-next", "value": "/orders/98765abc"}]},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "{}"}}}
    ]}}"#;
    let imported = import_har("loc.har", har, &HarOptions::default()).unwrap();
    for want in [
        r#"extract = { location = "header:Location" }"#,
        r#"url = "${location}""#,
        r#"url = "${location}/items""#,
        r#"x-next = "${location}""#,
    ] {
        assert!(
            imported.toml.contains(want),
            "lacks {want:?}:\n{}",
            imported.toml
        );
    }
    let direct = lower_file("loc.har", har, &HarOptions::default()).unwrap();
    let via = lower_file("loc.toml", &imported.toml, &HarOptions::default()).unwrap();
    assert_eq!(without_locs(direct.clone()), without_locs(via));
    let steps = &direct.scenarios[0].steps;
    assert_eq!(lit(&steps[2].path), "${location}/items");
    assert_eq!(steps[2].origin.host, "app.test");
}

#[test]
fn include_host_keeps_only_those_hosts() {
    let text = read("firefox.har");
    let only = |hosts: &[&str]| {
        let options = HarOptions {
            include_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..HarOptions::default()
        };
        lower_file("firefox.har", &text, &options).map(|ir| {
            ir.scenarios[0]
                .steps
                .iter()
                .map(|s| s.origin.host.clone())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(only(&["mitmproxy.org"]).unwrap(), ["mitmproxy.org"; 4]);
    assert_eq!(
        only(&["amazonaws.com"]).unwrap(),
        ["s3-us-west-2.amazonaws.com"]
    );
    let err = only(&["example.com"]).unwrap_err();
    let CompileErrorKind::NoRequests { message, help } = &err.errors[0].kind else {
        panic!("{err:?}");
    };
    assert!(message.contains("requests to other hosts"), "{message}");
    assert!(
        help.contains("--include-host") && help.contains("--include-assets"),
        "{help}"
    );
}

#[test]
fn websocket_upgrades_are_replayed_as_handshakes() {
    let imported = import_har(
        "websocket.har",
        &read("websocket.har"),
        &HarOptions::default(),
    )
    .unwrap();
    assert_eq!(imported.steps, 3);
    assert!(
        imported
            .toml
            .contains("3 WebSocket connections are replayed as their opening handshake"),
        "{}",
        imported.toml
    );
    let ir = lower_file(
        "websocket.har",
        &read("websocket.har"),
        &HarOptions::default(),
    )
    .unwrap();
    let steps = &ir.scenarios[0].steps;
    assert_eq!(steps.len(), 3);
    for s in steps {
        assert_eq!(s.method, "GET");
        assert_eq!(s.origin.authority, "demo.piesocket.com");
        let header = |name: &str| {
            s.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| lit(v))
        };
        assert_eq!(header("upgrade").as_deref(), Some("websocket"));
        assert_eq!(header("connection").as_deref(), Some("Upgrade"));
        assert_eq!(header("sec-websocket-version").as_deref(), Some("13"));
        assert!(header("sec-websocket-key").is_some());
        // No extension is spoken after the handshake.
        assert_eq!(header("sec-websocket-extensions"), None);
        assert_eq!(s.checks.len(), 1);
        assert_eq!(s.checks[0].name, "status == 101");
    }
}

#[test]
fn not_json_not_har() {
    let broken = import_har(
        "brokenfile.har",
        &read("brokenfile.har"),
        &HarOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        broken.errors[0].kind,
        CompileErrorKind::JsonSyntax {
            message: "expected `,` or `}`".into()
        }
    );
    let text = miette_text(&broken);
    assert!(text.contains("[brokenfile.har:5:1]"), "{text}");

    for (json, want) in [
        ("{}", "no `log` object at the top level"),
        (
            r#"{"log": {"version": "1.2"}}"#,
            "`log` has no `entries` array",
        ),
        (
            r#"{"log": {"entries": [{"request": {"url": "http://a/"}}]}}"#,
            "a request needs `method` and `url`",
        ),
        (
            r#"{"log": {"entries": {}}}"#,
            "invalid type: map, expected a sequence",
        ),
    ] {
        let err = import_har("x.har", json, &HarOptions::default()).unwrap_err();
        assert_eq!(
            err.errors[0].kind,
            CompileErrorKind::NotHar {
                message: want.into()
            },
            "{json}"
        );
    }
}

/// The errors about `log` and `entries` as a whole point at where they start (found
/// by a second reading made only for them).
#[test]
fn errors_about_the_log_point_at_it() {
    let no_entries = r#"{"log": {"version": "1.2"}}"#;
    let err = import_har("x.har", no_entries, &HarOptions::default()).unwrap_err();
    let text = miette_text(&err);
    assert!(text.contains("[x.har:1:9]"), "{text}");

    let only_assets = r#"{"log": {"version": "1.2",
  "entries": [{"request": {"method": "GET", "url": "http://a/logo.png"},
               "response": {"status": 200, "content": {"mimeType": "image/png"}}}]}}"#;
    let err = import_har("y.har", only_assets, &HarOptions::default()).unwrap_err();
    assert!(
        matches!(err.errors[0].kind, CompileErrorKind::NoRequests { .. }),
        "{err:?}"
    );
    let text = miette_text(&err);
    assert!(text.contains("[y.har:2:14]"), "{text}");
}

fn miette_text(e: &kaioken_compiler::CompileErrors) -> String {
    e.render(false).unwrap()
}

#[test]
fn odd_entries() {
    let har = r#"{"log": {"entries": [
      {"startedDateTime": "later", "time": 5,
       "request": {"method": "POST", "url": "https://user:pw@api.example/up load?q=1#frag",
                   "headers": [{"name": "Accept", "value": "a"}, {"name": "accept", "value": "b"},
                               {"name": "X-Bad", "value": "x\u0001y"}, {"name": "bad name", "value": "v"},
                               {"name": "Cookie", "value": "sid=1"}],
                   "postData": {"mimeType": "multipart/form-data; boundary=x",
                                "params": [{"name": "file", "fileName": "a.png"}]}},
       "response": {"status": 201, "headers": [], "content": {"mimeType": "application/json",
                    "text": "{\"upload_id\": \"up-7731\", \"coupon\": \"x9k2m4p8q1\"}"}}},
      {"startedDateTime": "earlier", "time": 5,
       "request": {"method": "GET", "url": "data:text/plain,hi", "headers": []},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "text/plain"}}},
      {"startedDateTime": "2024-01-01T00:00:00Z", "time": 5,
       "request": {"method": "GET", "url": "wss://api.example/socket", "headers": []},
       "response": {"status": 101, "headers": [], "content": {}}},
      {"startedDateTime": "2024-01-01T00:00:01Z", "time": 5,
       "request": {"method": "GET", "url": "https://api.example/uploads/up-7731?coupon=$x9k2m4p8q1", "headers": []},
       "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "{}"}}}
    ]}}"#;
    let imported = import_har("odd.har", har, &HarOptions::default()).unwrap();
    let toml = &imported.toml;
    for want in [
        // One entry left out, and why; the WebSocket's handshake is a step, with the
        // handshake's own headers added where the recorder left them out.
        "Left out: 1 non-HTTP URL (`data:`).",
        "1 WebSocket connection is replayed as its opening handshake",
        r#"url = "/socket""#,
        r#"sec-websocket-version = "13""#,
        // No readable start for some entries: the file's order is kept.
        "steps keep the file's order",
        "1 multipart body recorded without its text was left out",
        "Headers with invalid names or control characters were dropped: X-Bad, bad name.",
        "Credentials in URLs were removed",
        // The fragment and credentials gone, the space percent-encoded.
        r#"url = "/up%20load?q=1""#,
        // Repeated headers joined, as a server reads them.
        r#"accept = "a, b""#,
        // The id is correlated; the value after a `$` cannot be written as `$${…}`
        // (that is the escape for a literal `${`), so it stays as recorded.
        r#"url = "/uploads/${upload_id}?coupon=$x9k2m4p8q1""#,
        r#"extract = { upload_id = "json:$.upload_id" }"#,
        "cookie_jar = true",
    ] {
        assert!(toml.contains(want), "lacks {want:?}:\n{toml}");
    }
    assert!(!toml.contains("body ="), "{toml}");
    let direct = lower_file("odd.har", har, &HarOptions::default()).unwrap();
    let via = lower_file("odd.toml", toml, &HarOptions::default()).unwrap();
    assert_eq!(without_locs(direct), without_locs(via));
}

/// Recorded times can be anything: out of order, absurdly long, missing. Think time
/// never panics, never goes negative, and never passes the longest allowed pause.
#[test]
fn think_time_survives_odd_timings() {
    let har = r#"{"log": {"entries": [
      {"startedDateTime": "2024-01-01T00:00:10Z", "time": 1e300,
       "request": {"method": "GET", "url": "https://a.example/1", "headers": []},
       "response": {"status": 200, "headers": [], "content": {}}},
      {"startedDateTime": "2024-01-01T00:00:00Z", "time": 5,
       "request": {"method": "GET", "url": "https://a.example/2", "headers": []},
       "response": {"status": 200, "headers": [], "content": {}}},
      {"startedDateTime": "2024-01-01T09:00:00Z", "time": -7,
       "request": {"method": "GET", "url": "https://a.example/3", "headers": []},
       "response": {"status": 200, "headers": [], "content": {}}},
      {"startedDateTime": "not a time", "time": 5,
       "request": {"method": "GET", "url": "https://a.example/4", "headers": []},
       "response": {"status": 200, "headers": [], "content": {}}}
    ]}}"#;
    let options = HarOptions {
        think_time: true,
        ..HarOptions::default()
    };
    let ir = lower_file("odd-times.har", har, &options).unwrap();
    let pauses: Vec<Duration> = ir.scenarios[0].steps.iter().map(|s| s.think_time).collect();
    // File order (one start is unreadable): 1 → 2 goes back in time, 2 → 3 is nine
    // hours (capped at one), 3 → 4 has no readable start.
    assert_eq!(
        pauses,
        [
            Duration::ZERO,
            Duration::from_secs(3600),
            Duration::ZERO,
            Duration::ZERO
        ]
    );
    let imported = import_har("odd-times.har", har, &options).unwrap();
    assert!(
        imported.toml.contains(r#"think_time = "3600s""#),
        "{}",
        imported.toml
    );
}

/// Recordings the fuzz target `har` found importing to scenarios that did not compile:
/// a host holding `${` (legal in a URL's host) was written unescaped as a template, and
/// a WebSocket handshake kept a recorded `connection` that is not `Upgrade`. Each now
/// imports and runs directly to the same IR.
#[test]
fn fuzz_found_recordings_import_to_scenarios_that_compile() {
    let entry = |url: &str, connection: &str| {
        format!(
            r#"{{"startedDateTime": "2024-01-01T00:00:00Z", "time": 5,
               "request": {{"method": "GET", "url": "{url}",
                            "headers": [{{"name": "Connection", "value": "{connection}"}}]}},
               "response": {{"status": 101, "headers": [], "content": {{}}}}}}"#
        )
    };
    for (har, want) in [
        (
            format!(
                r#"{{"log": {{"entries": [{}, {}]}}}}"#,
                entry("http://127.0.0.${1:8080/items", "keep-alive"),
                entry("http://127.0.0.1:8080/a", "keep-alive")
            ),
            r#"url = "http://127.0.0.$${1:8080""#,
        ),
        (
            format!(
                r#"{{"log": {{"entries": [{}]}}}}"#,
                entry("ws://127.0.0.1:8080/socket", "pgUrade")
            ),
            r#"connection = "Upgrade""#,
        ),
    ] {
        let imported = import_har("fuzz.har", &har, &HarOptions::default()).unwrap();
        assert!(
            imported.toml.contains(want),
            "lacks {want:?}:\n{}",
            imported.toml
        );
        let via = lower_file("fuzz.toml", &imported.toml, &HarOptions::default())
            .unwrap_or_else(|e| panic!("{}\n{}", e.render(false).unwrap(), imported.toml));
        let direct = lower_file("fuzz.har", &har, &HarOptions::default())
            .unwrap_or_else(|e| panic!("{}", e.render(false).unwrap()));
        assert_eq!(without_locs(direct), without_locs(via));
    }
}
