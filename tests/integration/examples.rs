//! Every file in `examples/` compiles: `--dry-run` succeeds and sends nothing.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::harness::Test;
use crate::servers::{Behaviour, Server};

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_dry_runs() {
    let files = examples();
    assert!(!files.is_empty(), "examples/ has no .toml files");
    for file in files {
        // Examples may name any host; point them at a local server that counts
        // connections, so "sends nothing" is checked rather than assumed.
        let server = Server::start(Behaviour::Ok);
        Test::new()
            .arg("-f")
            .arg(&file)
            .arg("--dry-run")
            .arg(server.url())
            .run();
        assert_eq!(
            server.counts().connections.load(Ordering::SeqCst),
            0,
            "--dry-run of {} connected to the target",
            file.display()
        );
    }
}

#[test]
fn every_example_dry_runs_with_its_own_target() {
    for file in examples() {
        Test::new().arg("-f").arg(&file).arg("--dry-run").run();
    }
}
