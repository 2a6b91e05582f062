//! Which commit a binary was built from, for `kaioken --version`. Used by the build
//! script (`cli/build.rs`, which passes the answer to the compiler as
//! `KAIOKEN_COMMIT`) and by its tests; it is not part of the binary's own code.

use std::path::Path;
use std::process::Command;

/// The commit to name: `from_env` (the `KAIOKEN_COMMIT` variable, for builds from a
/// source tarball that know their commit) when set and not empty, else the abbreviated
/// hash of `HEAD` in the git repository at `dir`, else `unknown` (no git, or not a
/// repository).
pub fn describe(dir: &Path, from_env: Option<&str>) -> String {
    if let Some(commit) = from_env.map(str::trim).filter(|c| !c.is_empty()) {
        return commit.to_owned();
    }
    git(dir, &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
}

/// What `git ARGS` printed in `dir` (trimmed), when it ran and succeeded.
pub fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
