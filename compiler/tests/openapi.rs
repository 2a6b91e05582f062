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
