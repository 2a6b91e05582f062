//! The scenario file's JSON Schema (`kaioken schema`, derived from the TOML front
//! end's types): the committed copy in `docs/scenario.schema.json` is what the binary
//! prints, every example scenario validates against it, a misspelled or mistyped key
//! does not, and `kaioken init` points editors at it. The key reference,
//! `docs/reference.md`, is `kaioken schema --markdown` of the same schema.
//!
//! The validator is an independent one: Python's `jsonschema` (Draft 2020-12) over
//! `tomllib`, installed by scripts/test.sh; `PYTHON` overrides the interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::Test;
use crate::httpbin::python;

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.toml` file under `dir`, recursively, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Validates each TOML file named after the schema; one line per file: `ok PATH`, or
/// `invalid PATH: MESSAGE at KEY/PATH` for each error.
const VALIDATE: &str = r#"
import json, sys, tomllib
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errors:
        where = "/".join(str(p) for p in e.absolute_path)
        print(f"invalid {path}: {e.message} at /{where}")
    if errors:
        bad += 1
    else:
        print(f"ok {path}")
sys.exit(1 if bad else 0)
"#;

/// What the validator said: its exit code and its stdout and stderr together.
fn validate(files: &[PathBuf]) -> (i32, String) {
    let out = Command::new(python())
        .arg("-c")
        .arg(VALIDATE)
        .arg(root().join("docs/scenario.schema.json"))
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python ({e}); set PYTHON to a Python 3.11+"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("No module named 'jsonschema'"),
        "Python's jsonschema is missing: scripts/test.sh installs it"
    );
    (out.status.code().expect("the validator exited"), text)
}

#[test]
fn the_committed_schema_is_what_kaioken_schema_prints() {
    let printed = Test::new().without_no_tui().arg("schema").run().stdout;
    let committed = std::fs::read_to_string(root().join("docs/scenario.schema.json"))
        .expect("docs/scenario.schema.json");
    assert!(
        printed == committed,
        "docs/scenario.schema.json is out of date: run `kaioken schema > docs/scenario.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&printed).expect("the schema is JSON");
    assert_eq!(schema["$id"], kaioken_compiler::SCHEMA_URL);
    assert_eq!(schema["additionalProperties"], false);
    // Every top-level table the parser knows, and nothing else.
    let mut tables: Vec<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    tables.sort_unstable();
    assert_eq!(
        tables,
        [
            "checks",
            "data",
            "grpc",
            "load",
            "outputs",
            "redact",
            "request",
            "scenarios",
            "scripting",
            "scripts",
            "stages",
            "target",
            "thresholds",
            "websocket"
        ]
    );
}

#[test]
fn the_committed_reference_is_what_kaioken_schema_markdown_prints() {
    let printed = Test::new()
        .without_no_tui()
        .args(["schema", "--markdown"])
        .run()
        .stdout;
    let committed =
        std::fs::read_to_string(root().join("docs/reference.md")).expect("docs/reference.md");
    assert!(
        printed == committed,
        "docs/reference.md is out of date: run `kaioken schema --markdown > docs/reference.md`"
    );
    // Every key of every table in the schema has its row: count them in both.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/scenario.schema.json")).unwrap(),
    )
    .unwrap();
    let top = schema["properties"].as_object().expect("properties").len();
    let target = schema["$defs"]["Target"]["properties"]
        .as_object()
        .expect("Target")
        .len();
    let section = |header: &str| -> usize {
        let start = printed
            .find(&format!("## `{header}`\n"))
            .unwrap_or_else(|| panic!("no {header} section"));
        printed[start..]
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("## "))
            .filter(|l| l.starts_with("| `"))
            .count()
    };
    assert_eq!(section("[target]"), target);
    let top_rows = printed
        .split("## Top level\n")
        .nth(1)
        .expect("a top-level section")
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .count();
    assert_eq!(top_rows, top);
}

#[test]
fn every_example_validates_against_the_schema() {
    let files = toml_files(&root().join("examples"));
    assert!(files.len() >= 14, "only {} examples found", files.len());
    let (code, output) = validate(&files);
    assert_eq!(code, 0, "{output}");
    let ok: Vec<&str> = output.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(ok.len(), files.len(), "{output}");
}

#[test]
fn a_misspelled_or_mistyped_key_fails_validation() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let misspelled = dir.path().join("misspelled.toml");
    std::fs::write(
        &misspelled,
        "[target]\nurl = \"http://127.0.0.1:1/\"\n[load]\nvu = 10\n",
    )
    .unwrap();
    let mistyped = dir.path().join("mistyped.toml");
    std::fs::write(
        &mistyped,
        "[target]\nurl = \"http://127.0.0.1:1/\"\n\n[[scenarios]]\nweight = \"heavy\"\n",
    )
    .unwrap();
    let (code, output) = validate(&[misspelled.clone(), mistyped.clone()]);
    assert_eq!(code, 1, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "invalid {}: Additional properties are not allowed ('vu' was unexpected) at /load",
                misspelled.display()
            ),
            format!(
                "invalid {}: 'heavy' is not of type 'integer' at /scenarios/0/weight",
                mistyped.display()
            ),
        ],
        "{output}"
    );
    // kaioken itself refuses both, as the schema does.
    Test::new()
        .arg("-f")
        .arg(&misspelled)
        .arg("--dry-run")
        .env("RUST_BACKTRACE", "0")
        .status(1)
        .stderr_contains("vu")
        .run();
}

#[test]
fn init_points_editors_at_the_schema_and_validates_against_it() {
    let out = Test::new()
        .without_no_tui()
        .args(["init", "scenario.toml"])
        .run();
    let path = out.dir.path().join("scenario.toml");
    let written = std::fs::read_to_string(&path).expect("init wrote the file");
    assert_eq!(
        written.lines().next(),
        Some(format!("#:schema {}", kaioken_compiler::SCHEMA_URL).as_str())
    );
    assert!(kaioken_compiler::SCHEMA_URL.ends_with("/main/docs/scenario.schema.json"));
    let (code, output) = validate(std::slice::from_ref(&path));
    assert_eq!(code, 0, "{output}");
    assert_eq!(output, format!("ok {}\n", path.display()));
}
