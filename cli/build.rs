//! Names the commit the binary is built from, for `kaioken --version`: sets
//! `KAIOKEN_COMMIT` for the compiler (see `src/commit.rs` for where it comes from).

#[path = "src/commit.rs"]
mod commit;

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let from_env = std::env::var("KAIOKEN_COMMIT").ok();
    println!("cargo:rerun-if-env-changed=KAIOKEN_COMMIT");
    // Build again when HEAD moves: HEAD itself, the branch it names, packed refs.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = commit::git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        let args = ["rev-parse", "--path-format=absolute", "--git-path", &name];
        if let Some(path) = commit::git(dir, &args)
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if from_env.as_deref().is_some_and(|c| !c.trim().is_empty()) {
        // Tells the tests that the commit was given rather than read from git.
        println!("cargo:rustc-env=KAIOKEN_COMMIT_SET=1");
    }
    let commit = commit::describe(dir, from_env.as_deref());
    println!("cargo:rustc-env=KAIOKEN_COMMIT={commit}");
}
