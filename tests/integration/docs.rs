//! Every ```toml code block in `docs/*.md`, `docs/tutorials/*.md` and `README.md`
//! compiles: `kaioken --dry-run` runs it (nothing is sent), so a sample cannot drift
//! from the parser.
//!
//! The fence's info string says how a block is run:
//!
//! - ```` ```toml ````: a whole scenario, run as written.
//! - ```` ```toml fragment ````: a table or two out of a scenario. The test completes
//!   it: a `[target]` pointing at a local server when the block has none, a
//!   `[[scenarios]]` before a leading `[[scenarios.steps]]`, and a scenario with one
//!   step around loose keys (the keys of a step, shown without their table).
//! - ```` ```toml error ````: deliberately invalid, to show a diagnostic; it must be
//!   refused with exit code 1.
//! - ```` ```toml no-run ````: cannot run here; each one is listed in [`NO_RUN`]
//!   with the reason, so exceptions stay few and visible.
//!
//! Files the blocks name (`users.csv` with 60 rows, `api.proto`, `checks.lua`) are written beside the block,
//! and the environment variables they read are set.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::harness::Test;
use crate::servers::{Behaviour, Server};

/// The ```toml no-run blocks, by file and first line, with why they cannot run.
const NO_RUN: &[(&str, &str, &str)] = &[
    (
        "docs/scenario.md",
        "[[scenarios.steps]]",
        "a gRPC step out of a scenario: `${id}` and `${token}` come from earlier steps",
    ),
    (
        "docs/scenario.md",
        "[thresholds.scenarios.browse]",
        "scoped thresholds name a scenario and a tag of a scenario file around them",
    ),
];

/// Files a block may name, written into its working directory.
const FILES: &[(&str, &str)] = &[
    (
        "api.proto",
        "syntax = \"proto3\";\npackage shop.v1;\n\
         message GetRequest { string id = 1; }\n\
         message Order { string id = 1; repeated Item items = 2; }\n\
         message Item { string sku = 1; }\n\
         service Orders { rpc Get(GetRequest) returns (Order); }\n",
    ),
    (
        "checks.lua",
        "return function(r) return r.status == 200, \"not 200\" end\n",
    ),
];

/// Environment variables the blocks read.
const ENV: &[(&str, &str)] = &[
    ("TOKEN", "t0ken"),
    ("SIGNING_KEY", "k3y"),
    ("API", "http://127.0.0.1:9"),
];

/// How a block is run, from its fence's info string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Whole,
    Fragment,
    Error,
    NoRun,
}

/// One ```toml block: where it is, how to run it, and its text.
#[derive(Debug)]
struct Block {
    file: PathBuf,
    line: usize,
    kind: Kind,
    text: String,
}

impl Block {
    fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folders of the book whose pages are chapters: `docs/` and `docs/tutorials/`.
const BOOK_DIRS: &[&str] = &["docs", "docs/tutorials"];

/// The Markdown files whose samples are run: `README.md` and the book's pages
/// (`docs/*.md`, `docs/tutorials/*.md`), sorted.
fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = BOOK_DIRS
        .iter()
        .flat_map(|d| {
            let dir = root().join(d);
            std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
                .map(|e| e.expect("directory entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect::<Vec<_>>()
        })
        .collect();
    files.sort();
    files.insert(0, root().join("README.md"));
    files
}

/// The book's pages, as paths relative to `docs/` (`scenario.md`,
/// `tutorials/chaining.md`), `SUMMARY.md` left out, sorted.
fn book_pages() -> Vec<String> {
    let docs = root().join("docs");
    let mut pages: Vec<String> = markdown_files()
        .iter()
        .filter_map(|p| p.strip_prefix(&docs).ok())
        .filter_map(|p| Some(p.to_str()?.to_owned()))
        .filter(|name| name != "SUMMARY.md")
        .collect();
    pages.sort();
    pages
}

/// The ```toml blocks of one Markdown file. Panics on an info string it does not know,
/// so a typo (```toml fragmnet) does not silently skip a block.
fn toml_blocks(path: &Path) -> Vec<Block> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    let mut in_other_fence = false;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (Some(_), Some("")) => blocks.push(open.take().expect("an open block")),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, Some(_)) if in_other_fence => in_other_fence = false,
            (None, Some(info)) => {
                let mut words = info.split_whitespace();
                if words.next() != Some("toml") {
                    in_other_fence = true;
                    continue;
                }
                let kind = match words.next() {
                    None => Kind::Whole,
                    Some("fragment") => Kind::Fragment,
                    Some("error") => Kind::Error,
                    Some("no-run") => Kind::NoRun,
                    Some(other) => panic!(
                        "{}:{}: unknown ```toml info {other:?} (fragment, error or no-run)",
                        path.display(),
                        i + 1
                    ),
                };
                open = Some(Block {
                    file: path.strip_prefix(root()).unwrap_or(path).to_path_buf(),
                    line: i + 1,
                    kind,
                    text: String::new(),
                });
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{}: unclosed ```toml block", path.display());
    blocks
}

/// A fragment made a whole scenario: a target at `url` when it has none, and the
/// scenario around steps shown alone.
fn complete(fragment: &str, url: &str) -> String {
    let first_header = fragment
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let body = match first_header {
        Some(l) if l.starts_with("[[scenarios.steps]]") => format!("[[scenarios]]\n{fragment}"),
        Some(l) if !l.starts_with('[') => {
            format!("[[scenarios]]\n[[scenarios.steps]]\nurl = \"/\"\n{fragment}")
        }
        _ => fragment.to_owned(),
    };
    if body.lines().any(|l| l.trim() == "[target]") {
        body
    } else {
        format!("[target]\nurl = \"{url}\"\n\n{body}")
    }
}

#[test]
fn every_toml_sample_in_the_docs_dry_runs() {
    let blocks: Vec<Block> = markdown_files()
        .iter()
        .flat_map(|f| toml_blocks(f))
        .collect();
    assert!(
        blocks.len() >= 18,
        "only {} ```toml blocks found",
        blocks.len()
    );
    let server = Server::start(Behaviour::Ok);
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for block in &blocks {
        let text = match block.kind {
            Kind::NoRun => {
                skipped.push((block.file.display().to_string(), block.text.lines().next()));
                continue;
            }
            Kind::Fragment => complete(&block.text, &server.url()),
            Kind::Whole | Kind::Error => block.text.clone(),
        };
        // 60 users: enough for a `unique` source under the default 50 VUs.
        let users: String = std::iter::once("name,password\n".to_owned())
            .chain((1..=60).map(|i| format!("user{i},secret{i}\n")))
            .collect();
        let mut test = Test::new().file("users.csv", &users);
        for (name, contents) in FILES {
            test = test.file(name, contents);
        }
        for (name, value) in ENV {
            test = test.env(*name, *value);
        }
        test = test
            .scenario(&text)
            .arg("--dry-run")
            .env("RUST_BACKTRACE", "0");
        let place = block.place();
        let kind = block.kind;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            if kind == Kind::Error {
                let out = test.status(1).run();
                assert!(
                    out.stderr.contains("scenario.toml:"),
                    "{place}: the error is not located:\n{}",
                    out.stderr
                );
            } else {
                let out = test.run();
                assert!(
                    out.stdout.contains("dry run"),
                    "{place}: no dry-run plan:\n{}",
                    out.stdout
                );
            }
        }));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}:\n{message}", block.place()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} ```toml blocks failed:\n\n{}",
        failures.len(),
        blocks.len(),
        failures.join("\n\n")
    );
    assert_eq!(
        server.counts().connections.load(Ordering::SeqCst),
        0,
        "a --dry-run connected to the target"
    );
    // Every no-run block is one of the listed exceptions, and every exception is used.
    let listed: Vec<(String, Option<&str>)> = NO_RUN
        .iter()
        .map(|(file, first, _why)| ((*file).to_owned(), Some(*first)))
        .collect();
    assert_eq!(skipped, listed, "```toml no-run blocks differ from NO_RUN");
}

#[test]
fn fragments_are_completed_into_scenarios() {
    let url = "http://127.0.0.1:9/";
    assert_eq!(
        complete("[load]\nvus = 2\n", url),
        "[target]\nurl = \"http://127.0.0.1:9/\"\n\n[load]\nvus = 2\n"
    );
    assert_eq!(
        complete("[[scenarios.steps]]\nurl = \"/a\"\n", url),
        "[target]\nurl = \"http://127.0.0.1:9/\"\n\n[[scenarios]]\n[[scenarios.steps]]\nurl = \"/a\"\n"
    );
    assert_eq!(
        complete("checks = [\"status == 201\"]\n", url),
        "[target]\nurl = \"http://127.0.0.1:9/\"\n\n[[scenarios]]\n[[scenarios.steps]]\nurl = \"/\"\nchecks = [\"status == 201\"]\n"
    );
    assert_eq!(
        complete("[target]\nurl = \"http://127.0.0.1:1/\"\n", url),
        "[target]\nurl = \"http://127.0.0.1:1/\"\n"
    );
}

#[test]
fn the_book_lists_every_page() {
    let summary = std::fs::read_to_string(root().join("docs/SUMMARY.md")).expect("SUMMARY.md");
    let mut listed: Vec<String> = summary
        .lines()
        .filter_map(|l| l.split("](").nth(1)?.split(')').next().map(str::to_owned))
        .collect();
    listed.sort();
    let pages = book_pages();
    assert_eq!(
        listed, pages,
        "docs/SUMMARY.md and docs/*.md, docs/tutorials/*.md differ"
    );
}

/// `mdbook build docs` (mdBook 0.4, installed by scripts/test.sh; `MDBOOK` overrides
/// the command) renders every chapter, the generated reference included.
#[test]
fn the_book_builds() {
    let out_dir = tempfile::TempDir::new().expect("a temporary directory");
    let mdbook = std::env::var("MDBOOK").unwrap_or_else(|_| "mdbook".to_owned());
    let out = std::process::Command::new(&mdbook)
        .arg("build")
        .arg(root().join("docs"))
        .arg("--dest-dir")
        .arg(out_dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {mdbook} ({e}): scripts/test.sh installs it"));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mdbook build failed:\n{log}");
    assert!(!log.contains("[WARN]") && !log.contains("[ERROR]"), "{log}");
    let pages = book_pages();
    assert!(pages.len() >= 15, "{pages:?}");
    for page in &pages {
        let html = out_dir.path().join(Path::new(page).with_extension("html"));
        assert!(html.is_file(), "no {}", html.display());
    }
    let reference = std::fs::read_to_string(out_dir.path().join("reference.html")).unwrap();
    assert!(
        reference.contains("<code>[[scenarios.steps]]</code>"),
        "the reference page lacks its sections"
    );
}
