//! OpenAPI import: what the scenario holds for specs in `tests/fixtures/openapi/`,
//! checked value by value, and that it compiles.

use std::path::{Path, PathBuf};

use kaioken_compiler::{OpenApiOptions, import_openapi};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openapi")
        .join(name)
}

fn import(name: &str, options: &OpenApiOptions) -> kaioken_compiler::OpenApiImport {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap();
    import_openapi(&path.display().to_string(), &text, options)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// `$ref`s across three files, each relative to the file that holds it: the path
/// parameter from `parameters.yaml` (its minimum), the body from `schemas/pet.yaml`
/// (the `readOnly` id left out, the owner from `../owner.yaml`, the pet's own
/// `friends` generated one level down, then empty).
#[test]
fn refs_across_files() {
    let imported = import("split/api.yaml", &OpenApiOptions::default());
    let scenario: toml::Table = toml::from_str(&imported.toml).unwrap();
    assert_eq!(
        scenario["target"]["url"].as_str(),
        Some("http://127.0.0.1:8080")
    );
    let step = &scenario["scenarios"][0]["steps"][0];
    assert_eq!(step["name"].as_str(), Some("addPet"));
    assert_eq!(step["method"].as_str(), Some("POST"));
    assert_eq!(step["url"].as_str(), Some("/api/owners/10/pets"));
    let body: serde_json::Value = serde_json::from_str(step["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "friends": [{"friends": [], "name": "string", "owner": {"email": "user@example.com"}}],
            "name": "string",
            "owner": {"email": "user@example.com"}
        })
    );
    assert_eq!(step["expected_status"].as_str(), Some("201,4xx"));
    assert_eq!(
        step["checks"][0].as_str(),
        Some("status == 201 || (status >= 400 && status < 500)")
    );
    assert_eq!(
        step["headers"]["content-type"].as_str(),
        Some("application/json")
    );
    assert!(
        imported.placeholders.is_empty(),
        "{:?}",
        imported.placeholders
    );
    assert!(
        !imported.toml.contains("follow_redirects"),
        "{}",
        imported.toml
    );
}

/// The first server's variables at their defaults; `--server` over them, its path
/// before each operation's.
#[test]
fn server_variables_and_override() {
    let imported = import("server-variables.yaml", &OpenApiOptions::default());
    assert!(
        imported
            .toml
            .contains("url = \"https://demo.example.com:443\"\n"),
        "{}",
        imported.toml
    );
    assert!(
        imported.toml.contains("url = \"/v2/global\"\n"),
        "{}",
        imported.toml
    );
    let options = OpenApiOptions {
        server: Some("http://127.0.0.1:9000/base/".into()),
        ..OpenApiOptions::default()
    };
    let imported = import("server-variables.yaml", &options);
    assert!(
        imported.toml.contains("url = \"http://127.0.0.1:9000\"\n"),
        "{}",
        imported.toml
    );
    assert!(
        imported.toml.contains("url = \"/base/global\"\n"),
        "{}",
        imported.toml
    );
}

/// Petstore 2.0: the `api_key` header and the OAuth token as placeholders, listed with
/// the operations that use them; a `{petId}` with no example generated (an integer).
#[test]
fn petstore_placeholders() {
    let imported = import("petstore-2.0.yaml", &OpenApiOptions::default());
    let names: Vec<&str> = imported
        .placeholders
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["API_KEY", "PETSTORE_AUTH"],
        "{:?}",
        imported.placeholders
    );
    assert!(
        imported
            .toml
            .contains("authorization = \"Bearer ${PETSTORE_AUTH}\"\n"),
        "{}",
        imported.toml
    );
    assert!(
        imported.toml.contains("url = \"/v2/pet/1\"\n"),
        "{}",
        imported.toml
    );
    let again = import("petstore-2.0.yaml", &OpenApiOptions::default());
    assert_eq!(
        imported.toml, again.toml,
        "the same spec gives the same file"
    );
}

/// The names of the steps, in the scenario's order.
fn step_names(toml_text: &str) -> Vec<String> {
    let scenario: toml::Table = toml::from_str(toml_text).unwrap();
    scenario["scenarios"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The URL of the step named `name`.
fn step_url(toml_text: &str, name: &str) -> String {
    let scenario: toml::Table = toml::from_str(toml_text).unwrap();
    scenario["scenarios"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no step {name}"))["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Paths and the operations of each come in the order the file writes them (YAML and
/// JSON), not sorted; a path item behind a `$ref` has its operations in the fixed
/// method order.
#[test]
fn operations_in_the_files_order() {
    let yaml = r"openapi: 3.0.3
info: {title: t, version: '1'}
servers: [{url: 'http://127.0.0.1:8080'}]
paths:
  /zebra:
    post: {responses: {'200': {description: ok}}}
    get: {responses: {'200': {description: ok}}}
  /apple:
    $ref: '#/components/pathItems/both'
  /mango:
    delete: {responses: {'204': {description: ok}}}
components:
  pathItems:
    both:
      post: {responses: {'200': {description: ok}}}
      get: {responses: {'200': {description: ok}}}
";
    let imported = import_openapi("order.yaml", yaml, &OpenApiOptions::default()).unwrap();
    assert_eq!(
        step_names(&imported.toml),
        [
            "POST /zebra",
            "GET /zebra",
            "GET /apple",
            "POST /apple",
            "DELETE /mango"
        ]
    );
    let json = r#"{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "host": "127.0.0.1:8080",
      "paths": {"/b": {"put": {"responses": {"200": {"description": "ok"}}}},
                "/a": {"patch": {"responses": {"200": {"description": "ok"}}},
                       "get": {"responses": {"200": {"description": "ok"}}}}}}"#;
    let imported = import_openapi("order.json", json, &OpenApiOptions::default()).unwrap();
    assert_eq!(step_names(&imported.toml), ["PUT /b", "PATCH /a", "GET /a"]);
}

/// OpenAPI 3's `servers` on a path item or an operation (the operation's first)
/// send that operation there, as an absolute URL when the origin differs from the
/// spec's; `--server` overrides them all.
#[test]
fn path_and_operation_servers() {
    let imported = import("server-variables.yaml", &OpenApiOptions::default());
    let t = &imported.toml;
    assert_eq!(
        step_names(t),
        ["POST /global", "POST /operation", "PUT /path", "PUT /combo"]
    );
    assert_eq!(step_url(t, "POST /global"), "/v2/global");
    assert_eq!(
        step_url(t, "POST /operation"),
        "https://httpbin.com/anything/demo/operation"
    );
    assert_eq!(
        step_url(t, "PUT /path"),
        "https://httpbin.com/anything/common/demo/path"
    );
    assert_eq!(
        step_url(t, "PUT /combo"),
        "https://httpbin.com/anything/demo/combo"
    );
    assert!(
        t.contains(
            "# step 2: server: https://httpbin.com/anything/demo (the operation's own `servers`)\n"
        ),
        "{t}"
    );

    let options = OpenApiOptions {
        server: Some("http://127.0.0.1:9000/base".into()),
        ..OpenApiOptions::default()
    };
    let t = import("server-variables.yaml", &options).toml;
    for (name, path) in [
        ("POST /global", "/global"),
        ("POST /operation", "/operation"),
        ("PUT /path", "/path"),
        ("PUT /combo", "/combo"),
    ] {
        assert_eq!(step_url(&t, name), format!("/base{path}"), "{t}");
    }

    // A relative operation server is a base path on the spec's origin; one on the
    // spec's origin stays relative.
    let yaml = r"openapi: 3.1.0
info: {title: t, version: '1'}
servers: [{url: 'http://127.0.0.1:8080/v1'}]
paths:
  /a:
    get:
      servers: [{url: /v2}]
      responses: {'200': {description: ok}}
  /b:
    servers: [{url: 'http://127.0.0.1:8080/v3/'}]
    get: {responses: {'200': {description: ok}}}
";
    let t = import_openapi("s.yaml", yaml, &OpenApiOptions::default())
        .unwrap()
        .toml;
    assert_eq!(step_url(&t, "GET /a"), "/v2/a");
    assert_eq!(step_url(&t, "GET /b"), "/v3/b");
}

/// Swagger 2.0 `formData` parameters: a `multipart` table when the operation consumes
/// only `multipart/form-data` (a `type: file` one noted as sent as text), a URL-encoded
/// body otherwise; no `content-type` header beside a `multipart` table.
#[test]
fn swagger_form_data() {
    let spec = r"swagger: '2.0'
info: {title: t, version: '1'}
host: 127.0.0.1:8080
paths:
  /upload:
    post:
      consumes: [multipart/form-data]
      parameters:
        - {name: title, in: formData, type: string, required: true, example: 'a ${x}'}
        - {name: data, in: formData, type: file, required: true}
        - {name: handle, in: formData, type: string, required: true, example: '@me'}
        - {name: content-type, in: header, type: string, required: true, example: text/plain}
      responses: {'200': {description: ok}}
  /login:
    post:
      consumes: [multipart/form-data, application/x-www-form-urlencoded]
      parameters:
        - {name: user, in: formData, type: string, required: true, example: a b}
      responses: {'200': {description: ok}}
";
    let imported = import_openapi("forms.yaml", spec, &OpenApiOptions::default()).unwrap();
    let scenario: toml::Table = toml::from_str(&imported.toml).unwrap();
    let steps = scenario["scenarios"][0]["steps"].as_array().unwrap();
    let upload = &steps[0];
    assert_eq!(
        upload["multipart"]["title"].as_str(),
        Some("a $${x}"),
        "{}",
        imported.toml
    );
    assert_eq!(upload["multipart"]["data"].as_str(), Some("${DATA}"));
    // Text, not a file to read.
    assert_eq!(upload["multipart"]["handle"].as_str(), Some("@@me"));
    assert!(upload.get("body").is_none(), "{}", imported.toml);
    assert!(upload.get("headers").is_none(), "{}", imported.toml);
    assert!(
        imported
            .notes
            .contains(&"POST /upload uploads files (`data`): their multipart fields are sent as text; write `\"@path\"` in the step's `multipart` table to send a file".to_owned()),
        "{:?}",
        imported.notes
    );
    let login = &steps[1];
    assert_eq!(login["body"].as_str(), Some("user=a%20b"));
    assert_eq!(
        login["headers"]["content-type"].as_str(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(login.get("multipart").is_none());
}

/// Swagger 2.0's `collectionFormat`: `csv`, `ssv`, `tsv` and `pipes` join an array's
/// items with their separator, and `multi` repeats the parameter once per item, in a
/// query string and in a URL-encoded form (a `multipart` table, one value per field,
/// joins them and says so).
#[test]
fn swagger_collection_formats() {
    let spec = r"swagger: '2.0'
info: {title: t, version: '1'}
host: 127.0.0.1:8080
paths:
  /q:
    post:
      consumes: [application/x-www-form-urlencoded]
      parameters:
        - {name: csv, in: query, type: array, items: {type: string}, required: true, example: [a, b]}
        - {name: ssv, in: query, type: array, collectionFormat: ssv, items: {type: string}, required: true, example: [a, b]}
        - {name: pipes, in: query, type: array, collectionFormat: pipes, items: {type: string}, required: true, example: [a, b]}
        - {name: multi, in: query, type: array, collectionFormat: multi, items: {type: string}, required: true, example: [a, 'b c']}
        - {name: f, in: formData, type: array, collectionFormat: multi, items: {type: integer}, required: true, example: [1, 2]}
      responses: {'200': {description: ok}}
  /m:
    post:
      consumes: [multipart/form-data]
      parameters:
        - {name: f, in: formData, type: array, collectionFormat: multi, items: {type: integer}, required: true, example: [1, 2]}
      responses: {'200': {description: ok}}
";
    let imported = import_openapi("formats.yaml", spec, &OpenApiOptions::default()).unwrap();
    let scenario: toml::Table = toml::from_str(&imported.toml).unwrap();
    let steps = scenario["scenarios"][0]["steps"].as_array().unwrap();
    assert_eq!(
        steps[0]["url"].as_str(),
        Some("/q?csv=a%2Cb&ssv=a%20b&pipes=a%7Cb&multi=a&multi=b%20c"),
        "{}",
        imported.toml
    );
    assert_eq!(steps[0]["body"].as_str(), Some("f=1&f=2"));
    assert_eq!(steps[1]["multipart"]["f"].as_str(), Some("1,2"));
    assert!(
        imported.toml.contains("its items are joined by `,`"),
        "{}",
        imported.toml
    );
}

/// `--server` is a scheme, a host and a base path: one without a scheme, or with a
/// query or a fragment, would be written into every step's URL; it is refused.
#[test]
fn server_must_be_an_http_url_with_no_query() {
    let spec = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /c:\n    get:\n      responses: {'200': {description: ok}}\n";
    let with = |server: &str| OpenApiOptions {
        server: Some(server.into()),
        ..OpenApiOptions::default()
    };
    for (server, message) in [
        (
            "127.0.0.1:18080",
            "invalid URL: `--server 127.0.0.1:18080` has no scheme; expected `http://` or `https://` (`--server http://127.0.0.1:18080`)",
        ),
        (
            "ftp://h/",
            "invalid URL: `--server ftp://h/` has scheme `ftp`; expected `http://` or `https://`",
        ),
        (
            "http://h/v2?x=1",
            "invalid URL: `--server http://h/v2?x=1` has a query (`?x=1`); a server is a scheme, a host and a base path, which each operation's path and query go after",
        ),
        (
            "https://h/v2#top",
            "invalid URL: `--server https://h/v2#top` has a fragment (`#top`), which is never sent to a server",
        ),
    ] {
        let e = import_openapi("s.yaml", spec, &with(server)).unwrap_err();
        assert_eq!(e.errors[0].to_string(), message);
    }
    let imported = import_openapi("s.yaml", spec, &with("http://127.0.0.1:18080/v2/")).unwrap();
    assert!(
        imported.toml.contains("url = \"/v2/c\""),
        "{}",
        imported.toml
    );
}

/// A body kaioken does not write from a schema (XML, a binary type) is the spec's
/// example when that is text, and otherwise a placeholder, noted; never JSON labelled
/// as another type. Text is written from a string or a number.
#[test]
fn bodies_of_types_other_than_json_are_examples_or_placeholders() {
    let spec = r#"openapi: 3.0.0
info: {title: t, version: '1'}
servers: [{url: 'http://127.0.0.1:8080'}]
paths:
  /xml:
    post:
      requestBody:
        content:
          application/xml:
            schema: {type: object, properties: {id: {type: integer}}}
      responses: {'200': {description: ok}}
  /xml-example:
    post:
      requestBody:
        content:
          application/xml:
            schema: {type: object, example: '<pet id="1"/>', properties: {id: {type: integer}}}
      responses: {'200': {description: ok}}
  /text:
    post:
      requestBody:
        content:
          text/plain:
            schema: {type: string, minLength: 8}
      responses: {'200': {description: ok}}
"#;
    let imported = import_openapi("bodies.yaml", spec, &OpenApiOptions::default()).unwrap();
    let scenario: toml::Table = toml::from_str(&imported.toml).unwrap();
    let steps = scenario["scenarios"][0]["steps"].as_array().unwrap();
    assert_eq!(
        steps[0]["body"].as_str(),
        Some("${BODY}"),
        "{}",
        imported.toml
    );
    assert_eq!(
        steps[0]["headers"]["content-type"].as_str(),
        Some("application/xml")
    );
    assert_eq!(
        imported.notes,
        [
            "POST /xml sends its body as `application/xml`, and the spec gives no example of it as text: the body is the placeholder `${BODY}`"
        ]
    );
    assert!(
        imported.toml.contains(
            "# step 1: the body is `application/xml`: a value generated from its schema would be\n"
        ),
        "{}",
        imported.toml
    );
    assert_eq!(steps[1]["body"].as_str(), Some(r#"<pet id="1"/>"#));
    assert_eq!(steps[2]["body"].as_str(), Some("stringxx"));
    assert_eq!(
        imported.placeholders.len(),
        1,
        "{:?}",
        imported.placeholders
    );
}

/// A requirement's schemes are taken in the order the spec writes them (its map is
/// not sorted): of two that send `authorization`, the first written is kept, and
/// the other, sending nothing, is no placeholder to set. The same for an operation's
/// own `security`, in YAML and in JSON.
#[test]
fn security_schemes_in_the_written_order_and_only_used_placeholders() {
    let yaml = r"openapi: 3.0.0
info: {title: t, version: '1'}
servers: [{url: 'http://127.0.0.1:8080'}]
security: [{ck: [], hk: [], br: [], qk: []}]
components:
  securitySchemes:
    ck: {type: apiKey, in: cookie, name: session}
    hk: {type: apiKey, in: header, name: Authorization}
    br: {type: http, scheme: bearer}
    qk: {type: apiKey, in: query, name: key}
    tls: {type: mutualTLS}
paths:
  /c:
    get:
      responses: {'200': {description: ok}}
  /o:
    get:
      security: [{tls: [], br: [], hk: []}]
      responses: {'200': {description: ok}}
";
    let json = serde_json::to_string(&serde_norway::from_str::<serde_json::Value>(yaml).unwrap())
        .unwrap()
        // A JSON text whose keys are not sorted: `hk` after `br` in the operation's.
        .replace(
            r#"{"br":[],"hk":[],"tls":[]}"#,
            r#"{"tls":[],"br":[],"hk":[]}"#,
        )
        .replace(
            r#"{"br":[],"ck":[],"hk":[],"qk":[]}"#,
            r#"{"ck":[],"hk":[],"br":[],"qk":[]}"#,
        );
    assert!(json.contains(r#"{"tls":[],"br":[],"hk":[]}"#), "{json}");
    assert!(
        json.contains(r#"{"ck":[],"hk":[],"br":[],"qk":[]}"#),
        "{json}"
    );
    for (name, text) in [("s.yaml", yaml), ("s.json", json.as_str())] {
        let imported = import_openapi(name, text, &OpenApiOptions::default()).unwrap();
        let scenario: toml::Table = toml::from_str(&imported.toml).unwrap();
        let steps = scenario["scenarios"][0]["steps"].as_array().unwrap();
        assert_eq!(
            steps[0]["headers"]["authorization"].as_str(),
            Some("${HK}"),
            "{name}: {}",
            imported.toml
        );
        assert_eq!(
            steps[0]["headers"]["cookie"].as_str(),
            Some("session=${CK}")
        );
        assert_eq!(steps[0]["url"].as_str(), Some("/c?key=${URLENCODE(QK)}"));
        assert_eq!(
            steps[1]["headers"]["authorization"].as_str(),
            Some("Bearer ${BR}"),
            "{name}: {}",
            imported.toml
        );
        let names: Vec<&str> = imported
            .placeholders
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["BR", "CK", "HK", "QK"], "{name}");
        let br = &imported.placeholders[0];
        assert_eq!(br.uses, ["credential `br` (http) of GET /o"], "{name}");
        assert!(!imported.toml.contains("TLS"), "{}", imported.toml);
    }
}
