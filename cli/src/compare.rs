//! `kaioken compare BASELINE... CURRENT`: JSON reports side by side, and a verdict.
//!
//! This reads the files, prints and writes; the comparison itself, with its
//! statistics, is the library's [`kaioken_report::comparison`]. A regression is exit
//! code 3; runs with different load models are exit code 5 unless `--force`; a
//! current report that failed its own `[thresholds]`, judged again from its data, is
//! exit code 4 (a regression, 3, wins).

use std::path::Path;

use kaioken_report::comparison::{self, Comparison, RunReport, Tolerances};

use crate::args::{CompareArgs, CompareFormat};
use crate::error::{Error, Outcome};

fn load(path: &Path) -> Result<RunReport, Error> {
    let text = crate::read_text(path)?;
    RunReport::parse(&text)
        .map_err(|message| Error::Setup(format!("cannot compare `{}`: {message}", path.display())))
}

/// The format of the `-o` file: `--format`, else its extension.
fn output_format(path: &Path, format: Option<CompareFormat>) -> Result<CompareFormat, Error> {
    if let Some(format) = format {
        return Ok(format);
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("md" | "markdown") => Ok(CompareFormat::Md),
        Some("json") => Ok(CompareFormat::Json),
        Some("txt" | "text") => Ok(CompareFormat::Text),
        _ => Err(Error::Setup(format!(
            "cannot tell the format of `{}` from its extension; name it .md, .json or .txt, or pass --format md|json|text",
            path.display()
        ))),
    }
}

pub fn compare(args: &CompareArgs) -> Result<Outcome, Error> {
    let Some((current_path, baseline_paths)) = args.reports.split_last() else {
        return Err(Error::Setup(
            "compare needs a baseline report and a current report".to_owned(),
        ));
    };
    let output = match &args.output {
        Some(path) => Some((path, output_format(path, args.format)?)),
        None => None,
    };
    let bases = baseline_paths
        .iter()
        .map(|p| load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let cur = load(current_path)?;
    let names: Vec<String> = baseline_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let tolerances = Tolerances {
        max_rps_drop: args.max_rps_drop,
        max_latency_increase: args.max_latency_increase,
        latency_floor_ms: args.latency_floor_ms,
        max_error_rate_increase: args.max_error_rate_increase,
    };
    let found = comparison::compare_many(
        &bases,
        &cur,
        &tolerances,
        &current_path.display().to_string(),
    );
    // Reports hide the secrets of the rule their run had; one written before that,
    // or under another rule, is shown with this one.
    let rule = kaioken_compiler::Redact::new(&args.redact);
    let show = |value: &str| rule.text(value);
    // With several baselines, say which one differs.
    let which = |baseline: usize| {
        if names.len() > 1 {
            format!("{}: ", names[baseline])
        } else {
            String::new()
        }
    };
    for warning in &found.warnings {
        eprintln!(
            "warning: {}{}",
            which(warning.baseline),
            warning.describe(show)
        );
    }
    if !found.mismatched.is_empty() {
        for m in &found.mismatched {
            eprintln!(
                "{}: {}load model {}",
                if args.force { "warning" } else { "error" },
                which(m.baseline),
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
    let stdout_format = if args.json {
        CompareFormat::Json
    } else if output.is_none() {
        args.format.unwrap_or(CompareFormat::Text)
    } else {
        CompareFormat::Text
    };
    if let Some((path, format)) = output {
        std::fs::write(path, render(&found, format, &names, show)).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    }
    crate::print_stdout(&render(&found, stdout_format, &names, show))?;
    // A segment's thresholds are its share's (`rps > 1000` fails on every quarter
    // of a run that makes 2,000/s): as in its own run, they are not a verdict.
    let segment = cur.segment();
    if let Some(measured) = &segment {
        eprintln!(
            "note: `{}` measured the segment {measured} of its run alone: its thresholds are not the run's verdict; compare the merged report (kaioken merge) for it",
            current_path.display()
        );
    }
    Ok(if !found.regressions.is_empty() {
        Outcome::Regression
    } else if segment.is_none() && found.verdicts.iter().any(|v| !v.passed) {
        Outcome::ThresholdsFailed
    } else {
        Outcome::Success
    })
}

fn render(
    found: &Comparison,
    format: CompareFormat,
    names: &[String],
    show: impl Fn(&str) -> String,
) -> String {
    match format {
        CompareFormat::Text => found.text.clone(),
        CompareFormat::Md => found.markdown(names, show),
        CompareFormat::Json => format!("{:#}\n", found.json(names, show)),
    }
}
