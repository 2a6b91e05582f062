//! The deployment examples, checked offline by the tools that know their formats: the
//! Kubernetes manifests in `examples/k8s/` against the Kubernetes JSON schemas
//! (kubernetes-validate, strict: an unknown field is an error), the GitHub Actions
//! workflow in `examples/ci/` and the release workflow in `.github/workflows/` with
//! actionlint (which runs shellcheck on their scripts),
//! and the `Dockerfile` with hadolint. Each checker is also shown a broken copy, so a
//! checker that passes everything fails here. The scenarios the examples carry
//! compile (`--dry-run`), and the segment count agrees wherever it is written.
//!
//! scripts/test.sh installs the checkers with pip; `KUBERNETES_VALIDATE`,
//! `ACTIONLINT` and `HADOLINT` name other binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::harness::{Test, unindent};

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files in `dir` (relative to the root) whose names end with `suffix`, sorted.
fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let dir = root().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no {suffix} files", dir.display());
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// What a checker said: its exit code and its stdout and stderr together.
struct Checked {
    code: i32,
    output: String,
}

/// Run the checker `tool` (or the binary the environment variable `var` names) on
/// `args`.
fn check(tool: &str, var: &str, args: &[&str], files: &[PathBuf]) -> Checked {
    let binary = std::env::var_os(var).map_or_else(|| PathBuf::from(tool), PathBuf::from);
    let out = Command::new(&binary)
        .args(args)
        .args(files)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); install it (scripts/test.sh does) or set {var}",
                binary.display()
            )
        });
    Checked {
        code: out.status.code().expect("the checker exited"),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn kubernetes_validate(files: &[PathBuf]) -> Checked {
    check(
        "kubernetes-validate",
        "KUBERNETES_VALIDATE",
        &["--strict"],
        files,
    )
}

fn actionlint(files: &[PathBuf]) -> Checked {
    check("actionlint", "ACTIONLINT", &["-no-color"], files)
}

fn hadolint(files: &[PathBuf]) -> Checked {
    check("hadolint", "HADOLINT", &["--no-color"], files)
}

/// A copy of the file at `path` (relative to the root) in `dir`, with `from`
/// (which must occur) replaced by `to`.
fn broken(dir: &TempDir, path: &str, from: &str, to: &str) -> PathBuf {
    let text = read(&root().join(path));
    assert!(text.contains(from), "{path} has no {from:?} to break");
    let copy = dir
        .path()
        .join(Path::new(path).file_name().expect("a file name"));
    std::fs::write(&copy, text.replacen(from, to, 1)).expect("write the broken copy");
    copy
}

#[test]
fn k8s_manifests_match_the_kubernetes_schemas() {
    let manifests = files("examples/k8s", ".yaml");
    let checked = kubernetes_validate(&manifests);
    assert_eq!(checked.code, 0, "{}", checked.output);
    let mut passed: Vec<&str> = checked
        .output
        .lines()
        .filter_map(|l| l.split(" passed for resource ").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    passed.sort_unstable();
    assert_eq!(
        passed,
        [
            "configmap/kaioken-scenario",
            "job/kaioken-merge",
            "job/kaioken-segments",
            "persistentvolumeclaim/kaioken-reports",
            "pod/kaioken-reports",
        ],
        "{}",
        checked.output
    );
}

#[test]
fn a_manifest_with_an_unknown_or_mistyped_field_is_refused() {
    let dir = TempDir::new().expect("a temporary directory");
    let job = "examples/k8s/segments-job.yaml";
    let unknown = broken(&dir, job, "  parallelism: 4", "  paralelism: 4");
    let checked = kubernetes_validate(&[unknown]);
    assert_eq!(checked.code, 1, "{}", checked.output);
    assert!(
        checked
            .output
            .contains("Additional properties are not allowed ('paralelism' was unexpected)"),
        "{}",
        checked.output
    );

    let mistyped = broken(&dir, job, "  completions: 4", "  completions: four");
    let checked = kubernetes_validate(&[mistyped]);
    assert_eq!(checked.code, 1, "{}", checked.output);
    assert!(
        checked
            .output
            .contains("spec.completions: 'four' is not of type 'integer'"),
        "{}",
        checked.output
    );
}

#[test]
fn ci_workflow_passes_actionlint() {
    // The GitHub workflows (the GitLab file is checked in ci_templates.rs).
    let workflows: Vec<PathBuf> = files("examples/ci", ".yml")
        .into_iter()
        .filter(|p| !p.ends_with(".gitlab-ci.yml"))
        .collect();
    assert_eq!(workflows.len(), 2, "{workflows:?}");
    let checked = actionlint(&workflows);
    assert_eq!(
        (checked.code, checked.output.as_str()),
        (0, ""),
        "{}",
        checked.output
    );
}

#[test]
fn a_workflow_with_a_wrong_job_or_an_unquoted_variable_is_refused() {
    let dir = TempDir::new().expect("a temporary directory");
    let workflow = "examples/ci/load-test-segments.yml";
    let wrong_job = broken(&dir, workflow, "needs: segment\n", "needs: segments\n");
    let checked = actionlint(&[wrong_job]);
    assert_eq!(checked.code, 1, "{}", checked.output);
    assert!(
        checked
            .output
            .contains(r#"job "merge" needs job "segments" which does not exist in this workflow"#),
        "{}",
        checked.output
    );

    // actionlint hands the `run:` scripts to shellcheck.
    let unquoted = broken(
        &dir,
        workflow,
        r#"-o "part-$INDEX.json""#,
        "-o part-$INDEX.json",
    );
    let checked = actionlint(&[unquoted]);
    assert_eq!(checked.code, 1, "{}", checked.output);
    assert!(
        checked.output.contains("SC2086"),
        "shellcheck did not run: {}",
        checked.output
    );
}

/// The release workflow: actionlint-clean, building every platform the README names,
/// checksummed, published on version tags only.
#[test]
fn release_workflow_passes_actionlint_and_builds_every_platform() {
    let path = ".github/workflows/release.yml";
    let checked = actionlint(&[root().join(path)]);
    assert_eq!(
        (checked.code, checked.output.as_str()),
        (0, ""),
        "{}",
        checked.output
    );
    let text = read(&root().join(path));
    let targets: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- target: "))
        .collect();
    assert_eq!(
        targets,
        [
            "x86_64-unknown-linux-musl",
            "aarch64-unknown-linux-musl",
            "x86_64-apple-darwin",
            "aarch64-apple-darwin",
            "x86_64-pc-windows-msvc",
        ]
    );
    // Every build must succeed for a release (scripts/cross-check.sh keeps Windows
    // compiling).
    assert!(!text.contains("continue-on-error"), "{text}");
    assert!(text.contains("\n    tags: [\"v*\"]\n"), "{text}");
    assert!(text.contains("sha256sum -- * > SHA256SUMS"), "{text}");
    assert!(text.contains("cargo build --release --locked -p kaioken --target \"$TARGET\""));

    let dir = TempDir::new().expect("a temporary directory");
    let wrong_job = broken(&dir, path, "needs: build\n", "needs: builds\n");
    let checked = actionlint(&[wrong_job]);
    assert_eq!(checked.code, 1, "{}", checked.output);
    assert!(
        checked
            .output
            .contains(r#"job "release" needs job "builds" which does not exist in this workflow"#),
        "{}",
        checked.output
    );
}

#[test]
fn dockerfile_passes_hadolint() {
    let checked = hadolint(&[root().join("Dockerfile")]);
    assert_eq!(
        (checked.code, checked.output.as_str()),
        (0, ""),
        "{}",
        checked.output
    );

    let dir = TempDir::new().expect("a temporary directory");
    let latest = broken(&dir, "Dockerfile", "FROM rust:1-alpine", "FROM rust:latest");
    let checked = hadolint(&[latest]);
    assert_eq!(checked.code, 1, "{}", checked.output);
    assert!(checked.output.contains("DL3007"), "{}", checked.output);
}

/// The scenario in the ConfigMap's `s.toml: |` block, unindented.
fn configmap_scenario() -> String {
    let text = read(&root().join("examples/k8s/scenario.yaml"));
    let mut lines = text.lines().skip_while(|l| l.trim() != "s.toml: |").skip(1);
    let indent = |l: &str| l.len() - l.trim_start().len();
    let first = lines
        .clone()
        .find(|l| !l.trim().is_empty())
        .expect("the ConfigMap has an s.toml block");
    let block: Vec<&str> = lines
        .by_ref()
        .take_while(|l| l.trim().is_empty() || indent(l) >= indent(first))
        .collect();
    unindent(&(block.join("\n") + "\n"))
}

#[test]
fn the_examples_scenarios_compile() {
    let k8s = Test::new()
        .scenario(&configmap_scenario())
        .arg("--dry-run")
        .stdout_contains("threshold t2 achieved_rate > 95%")
        .stdout_contains("would run 2000 iterations/s on up to 400 VUs for 2m")
        .run();
    assert!(
        k8s.stdout
            .starts_with("dry run: valid scenario, nothing sent")
    );
    Test::new()
        .arg("-f")
        .arg(root().join("examples/ci/scenario.toml"))
        .arg("--dry-run")
        .stdout_contains("threshold t2 failure_rate < 1%")
        .stdout_contains("would run up to 40 VUs in 3 stages for 3m")
        .run();
    // What one of the examples' four segments runs.
    Test::new()
        .arg("-f")
        .arg(root().join("examples/ci/scenario.toml"))
        .args(["--dry-run", "--segment-index", "1", "--segment-count", "4"])
        .stdout_contains(
            "as segment 1/4:1/2 of 0,1/4,1/2,3/4,1, this instance runs:\n  10 of 40 VUs (numbers 11–20)",
        )
        .run();
    Test::new()
        .scenario(&configmap_scenario())
        .args(["--dry-run", "--segment-index", "3", "--segment-count", "4"])
        .stdout_contains("as segment 3/4:1 of 0,1/4,1/2,3/4,1, this instance runs:")
        .run();
}

/// The value of the first line of `text` that starts with `key` (after indentation).
fn value_of<'t>(text: &'t str, key: &str) -> &'t str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key}"))
        .trim()
        .trim_matches('"')
}

#[test]
fn the_segment_count_agrees_wherever_it_is_written() {
    let job = read(&root().join("examples/k8s/segments-job.yaml"));
    let count: usize = value_of(&job, "completions:").parse().expect("a count");
    assert_eq!(value_of(&job, "parallelism:"), count.to_string());
    let mut args = job.lines().map(str::trim);
    args.find(|l| *l == "- --segment-count")
        .expect("the Job passes --segment-count");
    assert_eq!(args.next(), Some(format!("- \"{count}\"").as_str()));

    let merge = read(&root().join("examples/k8s/merge-job.yaml"));
    let parts: Vec<&str> = merge
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- /reports/part-"))
        .collect();
    let expected: Vec<String> = (0..count).map(|i| format!("{i}.json")).collect();
    assert_eq!(parts, expected, "merge-job.yaml merges every segment once");

    let workflow = read(&root().join("examples/ci/load-test-segments.yml"));
    let segments: usize = value_of(&workflow, "SEGMENTS:").parse().expect("a count");
    let matrix = value_of(&workflow, "index:");
    let expected: Vec<String> = (0..segments).map(|i| i.to_string()).collect();
    assert_eq!(
        matrix,
        format!("[{}]", expected.join(", ")),
        "the matrix runs every segment of SEGMENTS once"
    );
}
