//! The report's formats (`-o run.csv -o run.md -o run.html`) written by real runs
//! against nginx and parsed back by other programs: Python's `csv`, a Markdown table
//! check, and a headless Chromium rendering the HTML from a `file://` URL; then
//! `kaioken report` rendering the saved JSON again, and its bad inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Test, kaioken};
use crate::nginx::{Nginx, Variant};

/// Where test artifacts (the HTML report's screenshot) are kept for CI:
/// `KAIOKEN_ARTIFACTS`, else `target/artifacts` in the workspace.
fn artifacts() -> PathBuf {
    let dir = std::env::var_os("KAIOKEN_ARTIFACTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir
}

/// The two scenarios the run has, so that the CSV has scenario rows too.
const SCENARIO: &str = r#"
[[scenarios]]
name = "home"
weight = 2
[[scenarios.steps]]
url = "/"
checks = ["status == 200"]

[[scenarios]]
name = "missing"
weight = 1
[[scenarios.steps]]
url = "/no-such-page"
"#;

/// Column count of a Markdown table row, `\|` not counting.
fn md_cells(line: &str) -> usize {
    line.replace("\\|", "").matches('|').count() - 1
}

/// Every table: a header, an alignment row of `:--`/`--:`, rows as wide.
fn assert_md_tables_well_formed(md: &str) -> usize {
    let lines: Vec<&str> = md.lines().collect();
    let mut tables = 0;
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with('|') {
            tables += 1;
            let width = md_cells(lines[i]);
            let align = lines[i + 1];
            assert!(
                align
                    .trim_matches('|')
                    .split('|')
                    .all(|c| matches!(c.trim(), ":--" | "--:")),
                "{align}"
            );
            while i < lines.len() && lines[i].starts_with('|') {
                assert_eq!(md_cells(lines[i]), width, "{}\n{md}", lines[i]);
                i += 1;
            }
            assert!(i == lines.len() || lines[i].is_empty(), "{md}");
        }
        i += 1;
    }
    tables
}

#[test]
fn one_run_writes_every_format_and_each_reads_back() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .scenario(SCENARIO)
        .arg(nginx.url("/"))
        .args(["-c", "2", "-d", "3s", "--rate", "60"])
        .args(["-o", "run.csv", "-o", "run.md", "-o", "run.html"])
        .args(["-o", "run.page", "--format", "html"])
        .args(["--expect-status", "200,404"])
        .report()
        .run();
    let report = out.report();
    let dir = out.dir.path();
    // One run: nginx served what the JSON report counted, no more.
    let total = report.u64("requests.total");
    let warmup = report.u64("requests.warmup_requests");
    assert_eq!(nginx.access_log_lines().len() as u64, total + warmup);
    assert!(total >= 100, "{}", report.0);
    let timeline = report.get("timeline").as_array().unwrap();
    let seconds = timeline.len();
    let timeline_requests: u64 = timeline
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();

    // CSV, by Python's csv module: a row per second and per scenario, sums that
    // match the JSON report.
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import csv, sys\n\
             rows = list(csv.DictReader(open(sys.argv[1], newline='')))\n\
             run = [r for r in rows if r['scope'] == 'run']\n\
             scen = sorted(r['scope'] for r in rows if r['scope'].startswith('scenario:'))\n\
             steps = [r for r in rows if r['scope'].startswith('step:')]\n\
             print(len(run), sum(int(r['requests']) for r in run), sum(int(r['bytes_received']) for r in run), ' '.join(scen), sum(int(r['requests']) for r in rows if r['scope'].startswith('scenario:')), len(steps), sum(int(r['requests']) for r in steps))",
        )
        .arg(dir.join("run.csv"))
        .output()
        .expect("run python3");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let bytes = report.u64("requests.bytes_received");
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        format!(
            "{seconds} {timeline_requests} {bytes} scenario:home scenario:missing {total} {} {total}",
            report.get("steps").as_array().unwrap().len()
        )
    );

    // Markdown: well-formed tables, with the run's numbers.
    let md = std::fs::read_to_string(dir.join("run.md")).unwrap();
    assert!(assert_md_tables_well_formed(&md) >= 5, "{md}");
    let total_text = kaioken_tui::thousands(total);
    assert!(md.contains(&format!("\n| {total_text} | ")), "{md}");
    assert!(md.contains("| 404 | "), "{md}");
    assert!(md.contains("| home | "), "{md}");

    // HTML: the same page under both names; no URL but the run's own targets (the
    // target's and its steps', as text).
    let html = std::fs::read_to_string(dir.join("run.html")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("run.page")).unwrap(), html);
    let target = report.str("target.url").to_owned();
    let steps: Vec<String> = report
        .get("steps")
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["url"].as_str().unwrap().replace('&', "&amp;"))
        .collect();
    let rest = steps
        .iter()
        .fold(html.replace(&target, ""), |html, url| html.replace(url, ""));
    assert!(
        !rest.contains("http://") && !rest.contains("https://"),
        "{rest}"
    );
    assert!(!rest.contains("<script"), "no script");

    // A real browser renders it offline, charts and all.
    let page = format!("file://{}", dir.join("run.html").display());
    let chromium = |extra: &[&str]| {
        let out = Command::new(chromium_binary())
            .args(["--headless", "--no-sandbox", "--disable-gpu"])
            .args(extra)
            .arg(&page)
            .output()
            .expect("run chromium (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium(&["--dump-dom"]);
    for id in [
        "chart-rps",
        "chart-latency",
        "chart-spectrum",
        "chart-status",
        "chart-vus",
        "chart-scenarios",
        "chart-checks",
    ] {
        assert!(
            dom.contains(&format!("<svg class=\"chart\" id=\"{id}\"")),
            "{id} not rendered:\n{dom}"
        );
    }
    // Lines drawn: responses, errors and unexpected statuses over the seconds.
    assert!(
        dom.matches("<polyline class=\"series\"").count() >= 10,
        "{dom}"
    );
    assert!(dom.contains(&format!("<b>{total_text}</b><span>requests</span>")));
    let shot = artifacts().join("report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        "--window-size=1200,3000",
        &format!("--screenshot={}", shot.display()),
    ]);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a blank page is smaller: {} bytes",
        png.len()
    );

    // The saved JSON renders again to the same files: it is the source of truth.
    let (_, stderr) = report_command(
        dir,
        &[
            "report.json",
            "-o",
            "again.md",
            "-o",
            "again.csv",
            "-o",
            "again.html",
        ],
    );
    assert_eq!(
        stderr,
        "wrote again.md\nwrote again.csv\nwrote again.html\n"
    );
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(read("again.md"), md);
    assert_eq!(read("again.html"), html);
    assert_eq!(read("again.csv"), read("run.csv"));
}

/// `kaioken report` gives back exactly what the run wrote, in every format.
#[test]
fn a_saved_report_renders_the_same_as_the_run() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "1", "-n", "40", "-d", "30s"])
        .args([
            "-o",
            "run.md",
            "-o",
            "run.csv",
            "-o",
            "run.html",
            "--serious",
        ])
        .report()
        .run();
    assert_eq!(out.report().u64("requests.total"), 40);
    let dir = out.dir.path();
    report_command(
        dir,
        &[
            "report.json",
            "--serious",
            "-o",
            "a.md",
            "-o",
            "a.csv",
            "-o",
            "a.html",
            "-o",
            "a.json",
        ],
    );
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(read("a.md"), read("run.md"));
    assert_eq!(read("a.csv"), read("run.csv"));
    assert_eq!(read("a.html"), read("run.html"));
    assert_eq!(read("a.json"), read("report.json"));
    // Without -o: the summary, or --format on stdout.
    let (stdout, _) = report_command(dir, &["report.json", "--format", "md"]);
    assert_eq!(stdout, read("run.md"));
    let (stdout, _) = report_command(dir, &["report.json", "--serious"]);
    assert!(stdout.starts_with("kaioken results\n"), "{stdout}");
}

/// `kaioken report ARGS` in `dir`, which must succeed: its stdout and stderr.
fn report_command(dir: &Path, args: &[&str]) -> (String, String) {
    let out = kaioken()
        .current_dir(dir)
        .arg("report")
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run kaioken report");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

fn chromium_binary() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

#[test]
fn report_of_a_file_that_is_not_a_report_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("package.json", r#"{"name": "web", "version": "1.0.0"}"#);
    write(
        "newer.json",
        r#"{"schema": "kaioken.run/v2", "requests": {}}"#,
    );
    write(
        "cut.json",
        r#"{"schema": "kaioken.run/v1", "kaioken_version": "0.1"#,
    );
    let version = env!("CARGO_PKG_VERSION");
    for (file, message) in [
        (
            "package.json",
            "not a kaioken report: no `schema` field (a run report has `\"schema\": \"kaioken.run/v1\"`)".to_owned(),
        ),
        (
            "newer.json",
            format!("it is a `kaioken.run/v2` report, written by a newer kaioken; this kaioken ({version}) reads `kaioken.run/v1`"),
        ),
        (
            "cut.json",
            "the JSON ends early (EOF while parsing a string at line 1 column 52): the file is truncated".to_owned(),
        ),
    ] {
        let out = kaioken()
            .current_dir(dir.path())
            .args(["report", file, "-o", "out.html"])
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("error: cannot read the report `{file}`: {message}\n")
        );
        assert!(!dir.path().join("out.html").exists());
    }
}

/// An `-o` that cannot be written, or whose format cannot be told, is an error
/// before any request is sent.
#[test]
fn unwritable_or_unknown_outputs_fail_before_the_run() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args([
            "-c",
            "2",
            "-d",
            "30s",
            "-o",
            "ok.json",
            "-o",
            "missing/run.html",
        ])
        .status(1)
        .stderr("error: cannot access `missing/run.html`: the directory `missing` does not exist\n")
        .run();
    assert!(out.elapsed.as_secs() < 10, "{:?}", out.elapsed);
    assert!(!out.dir.path().join("ok.json").exists());
    // A dry run fails on it as the run does; the run's is checked below.
    let run = |dry_run: bool| {
        Test::new()
            .arg(nginx.url("/"))
            .args(["-c", "2", "-d", "30s", "-o", "run.txt"])
            .args(dry_run.then_some("--dry-run"))
            .status(1)
            .stderr("error: cannot tell the format of `run.txt` from its name: the formats are json, csv, md, html; end the name in .json, .csv, .md or .html, or give --format\n")
            .run()
    };
    run(true);
    let out = run(false);
    assert!(out.elapsed.as_secs() < 10, "{:?}", out.elapsed);
    assert_eq!(nginx.access_log_lines().len(), 0);
    // No partial file left behind.
    let left: Vec<_> = std::fs::read_dir(out.dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // A file given twice (however spelled), or a directory, fails before the run too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("runs.json")).unwrap();
    let out = Test::in_dir(dir)
        .arg(nginx.url("/"))
        .args(["-c", "2", "-d", "30s", "-o", "run.md", "-o", "./run.md"])
        .status(1)
        .stderr("error: `-o ./run.md` is given twice: each output is a file of its own\n")
        .run();
    let out = Test::in_dir(out.dir)
        .arg(nginx.url("/"))
        .args(["-c", "2", "-d", "30s", "-o", "runs.json"])
        .status(1)
        .stderr("error: cannot access `runs.json`: it is a directory; name a file in it\n")
        .run();
    assert!(out.elapsed.as_secs() < 10, "{:?}", out.elapsed);
    // A `--format` that nothing would be written in is refused, not ignored.
    let out = Test::in_dir(out.dir)
        .arg(nginx.url("/"))
        .args(["-c", "2", "-d", "30s", "-o", "run.csv", "--format", "md"])
        .status(1)
        .stderr("error: `--format md` is the format of an `-o` file whose name says none, or of stdout without `-o`; `run.csv` names its own\n")
        .run();
    let out = Test::in_dir(out.dir)
        .arg(nginx.url("/"))
        .args(["-c", "2", "-d", "30s", "--json", "--format", "html"])
        .status(1)
        .stderr("error: `--json` and `--format html` both name what goes on stdout: give one (with `-o`, `--format` is the format of a file whose name says none)\n")
        .run();
    assert!(out.elapsed.as_secs() < 10, "{:?}", out.elapsed);
    assert_eq!(nginx.access_log_lines().len(), 0);
    let left: Vec<_> = std::fs::read_dir(out.dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

/// An `-o` file that cannot be written at the end (its directory was removed
/// during the run) loses nothing else: the other reports are written and the
/// summary printed, and then its error is told, exit 1.
#[test]
fn an_output_that_cannot_be_written_at_the_end_loses_nothing_else() {
    let nginx = Nginx::start(Variant::Http1);
    unwritten_at_the_end(&nginx, false);
    // A run that failed on its own (a threshold) keeps its exit code, 4, the one
    // its written reports record; the write error is still told.
    let md = unwritten_at_the_end(&nginx, true);
    assert!(md.contains("exit code 4"), "{md}");
}

/// A run whose `sub/run.json` cannot be written at the end, beside a `run.md`
/// that can, with a threshold that fails if `failing`: the Markdown report.
fn unwritten_at_the_end(nginx: &Nginx, failing: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    // Removed once the run has made its temporary file there (before the run).
    let remover = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::read_dir(&sub).is_ok_and(|mut d| d.next().is_none()) {
            assert!(std::time::Instant::now() < deadline, "no temporary file");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::fs::remove_dir_all(&sub).unwrap();
    });
    let before = nginx.access_log_lines().len() as u64;
    let out = Test::in_dir(dir)
        .scenario(if failing {
            "[thresholds]\nmax = \"< 1us\"\n"
        } else {
            "[thresholds]\nmax = \"< 60s\"\n"
        })
        .arg(nginx.url("/"))
        .args(["-c", "2", "-d", "2s", "--rate", "100"])
        .args(["-o", "sub/run.json", "-o", "run.md"])
        .status(if failing { 4 } else { 1 })
        .stdout_contains("Status")
        .stderr_contains("error: cannot access `sub/run.json`: No such file or directory")
        .report()
        .run();
    remover.join().unwrap();
    let report = out.report();
    report.check_invariants(if failing { 4 } else { 0 });
    let total = report.u64("requests.total");
    let seen = nginx.access_log_lines().len() as u64 - before;
    assert_eq!(total, seen, "{report}");
    // The Markdown report's status table: every request a 200.
    let md = std::fs::read_to_string(out.dir.path().join("run.md")).unwrap();
    assert!(md.contains(&format!("\n| 200 | {total} |\n")), "{md}");
    md
}
