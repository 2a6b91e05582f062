//! `kaioken compare BASELINE CURRENT`: two JSON reports side by side, and a verdict.
//!
//! This reads the two files and prints; the comparison itself is the library's
//! [`kaioken_cli::comparison`]. A regression is exit code 3; runs with different load
//! models are exit code 5 unless `--force`; a current report that failed its own
//! `[thresholds]`, judged again from its data, is exit code 4 (a regression, 3, wins).

use std::path::Path;

use kaioken_cli::comparison::{self, RunReport, Tolerances};

use crate::args::CompareArgs;
use crate::error::{Error, Outcome};

fn load(path: &Path) -> Result<RunReport, Error> {
    let io = |message: String| Error::Io {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?;
    RunReport::parse(&text).map_err(io)
}

pub fn compare(args: &CompareArgs) -> Result<Outcome, Error> {
    let base = load(&args.baseline)?;
    let cur = load(&args.current)?;
    let tolerances = Tolerances {
        max_rps_drop: args.max_rps_drop,
        max_latency_increase: args.max_latency_increase,
        latency_floor_ms: args.latency_floor_ms,
        max_error_rate_increase: args.max_error_rate_increase,
    };
    let found = comparison::compare(
        &base,
        &cur,
        &tolerances,
        &args.current.display().to_string(),
    );
    // Reports hide the secrets of the rule their run had; one written before that,
    // or under another rule, is shown with this one.
    let rule = kaioken_compiler::Redact::new(&args.redact);
    let show = |value: &str| rule.text(value);
    for warning in &found.warnings {
        eprintln!("warning: {}", warning.describe(show));
    }
    if !found.mismatched.is_empty() {
        for m in &found.mismatched {
            eprintln!(
                "{}: load model {}",
                if args.force { "warning" } else { "error" },
                m.describe(show)
            );
        }
        if !args.force {
            eprintln!(
                "the runs used different load models, so their numbers are not comparable; pass --force to compare anyway"
            );
            return Ok(Outcome::LoadModelMismatch);
        }
    }
    crate::print_stdout(&found.text)?;
    Ok(if !found.regressions.is_empty() {
        Outcome::Regression
    } else if found.verdicts.iter().any(|v| !v.passed) {
        Outcome::ThresholdsFailed
    } else {
        Outcome::Success
    })
}
