//! `kaioken merge r1.json r2.json … -o merged.json`: the reports of a distributed
//! run's segments made into one report, without loss.
//!
//! ```text
//!  segment reports ─Report::parse─► checked (fingerprint, segments, time) ─► merge ─► Report
//!                                                                                    │
//!                                        thresholds judged again on the merged data ◄┘
//! ```
//!
//! Counts add; every latency section is recomputed from the sum of the parts'
//! serialized HDR histograms (`histogram.data` and `histograms`), so the merged
//! percentiles are those of all the samples. Timelines align on wall-clock seconds,
//! for parts that ran at the same time. A partial merge keeps the pieces it lacks
//! (`segment.missing`), so merging it with them later is merging them all at once.
//! The merged report is an ordinary report: `kaioken report` renders it and
//! `kaioken compare` judges it.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use kaioken_runtime::StopReason;

use crate::args::MergeArgs;
use crate::error::{Error, Outcome};
use crate::report::{self, Report, SegmentJson};

pub fn merge(args: &MergeArgs) -> Result<Outcome, Error> {
    let outputs = crate::outputs(&args.output, args.format)?;
    let parts = args
        .reports
        .iter()
        .map(|path| Ok((path.display().to_string(), read(path)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let merged = merge_reports(&parts, args.partial).map_err(Error::Setup)?;
    let outcome = exit_outcome(&merged);
    // The summary lists the warnings; without it (a report written or printed in
    // another format) they would be in the file alone.
    if !outputs.is_empty() || args.format.is_some() {
        for warning in &merged.warnings {
            eprintln!("warning: {warning}");
        }
    }
    if outputs.is_empty() {
        let text = match args.format {
            Some(format) => crate::render::render(&merged, format, args.serious)?,
            None => crate::summary::render(
                &merged,
                &crate::summary::Options {
                    serious: args.serious,
                    percentiles: &args.percentiles.0,
                },
            ),
        };
        crate::print_stdout(&text)?;
        Ok(outcome)
    } else {
        crate::write_saved(&merged, &outputs, args.serious, outcome)
    }
}

/// The merge's exit code: the verdict its summary prints and its report records
/// (`outcome.exit_code`, what `run` would have exited with over the merged data),
/// so that a distributed test passes or fails on the merge's exit code alone.
fn exit_outcome(merged: &Report) -> Outcome {
    match merged.outcome.exit_code {
        0 => Outcome::Success,
        4 => Outcome::ThresholdsFailed,
        130 => Outcome::Interrupted,
        // 1: too many requests failed, or none finished.
        _ => Outcome::HighErrorRate,
    }
}

fn read(path: &Path) -> Result<Report, Error> {
    let name = path.display().to_string();
    let text = crate::read_text(path)?;
    Report::parse(&text)
        .map_err(|message| Error::Setup(format!("cannot merge `{name}`: {message}")))
}

/// A fraction of the global load, reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fraction {
    num: u128,
    den: u128,
}

impl Fraction {
    const ZERO: Fraction = Fraction { num: 0, den: 1 };
    const ONE: Fraction = Fraction { num: 1, den: 1 };

    fn parse(text: &str) -> Option<Fraction> {
        // Parts of 64 bits, so that comparing two (their cross products) cannot
        // overflow.
        let part = |t: &str| t.trim().parse::<u64>().ok().map(u128::from);
        let (num, den) = match text.split_once('/') {
            Some((n, d)) => (part(n)?, part(d)?),
            None => (part(text)?, 1),
        };
        (den > 0 && num <= den).then_some(Fraction { num, den })
    }

    fn cmp(self, other: Fraction) -> std::cmp::Ordering {
        (self.num * other.den).cmp(&(other.num * self.den))
    }
}

impl std::fmt::Display for Fraction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gcd = |mut a: u128, mut b: u128| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a.max(1)
        };
        let g = gcd(self.num, self.den);
        match (self.num / g, self.den / g) {
            (n, 1) => write!(f, "{n}"),
            (n, d) => write!(f, "{n}/{d}"),
        }
    }
}

/// A report's segment as fractions; a report without one ran the whole load.
fn bounds(name: &str, report: &Report) -> Result<(Fraction, Fraction), String> {
    let Some(s) = &report.segment else {
        return Ok((Fraction::ZERO, Fraction::ONE));
    };
    let bad = |what: &str, text: &str| {
        format!(
            "cannot merge `{name}`: its segment's `{what}` is `{text}`, not a fraction between 0 and 1"
        )
    };
    let from = Fraction::parse(&s.from).ok_or_else(|| bad("from", &s.from))?;
    let to = Fraction::parse(&s.to).ok_or_else(|| bad("to", &s.to))?;
    if from.cmp(to).is_ge() {
        return Err(format!(
            "cannot merge `{name}`: its segment {}:{} is empty",
            s.from, s.to
        ));
    }
    Ok((from, to))
}

/// The pieces of the global load a report ran, in order: its segment, less what
/// a partial merge of segments that are not next to each other left out
/// (`missing`). Merging `merge(0:1/3, 2/3:1)` with `1/3:2/3` is then merging the
/// three.
fn pieces(name: &str, report: &Report) -> Result<Vec<(Fraction, Fraction)>, String> {
    let (from, to) = bounds(name, report)?;
    let Some(s) = &report.segment else {
        return Ok(vec![(from, to)]);
    };
    let mut pieces = Vec::new();
    let mut at = from;
    for gap in &s.missing {
        let hole = gap
            .split_once(':')
            .and_then(|(a, b)| Some((Fraction::parse(a)?, Fraction::parse(b)?)));
        // Each hole lies strictly inside what is left of the segment, after the
        // one before it: every piece has some of the load.
        let Some((a, b)) =
            hole.filter(|&(a, b)| at.cmp(a).is_lt() && a.cmp(b).is_lt() && b.cmp(to).is_lt())
        else {
            return Err(format!(
                "cannot merge `{name}`: its segment's missing `{gap}` is not a piece of {}:{} after the ones before it (the report is damaged)",
                s.from, s.to
            ));
        };
        pieces.push((at, a));
        at = b;
    }
    pieces.push((at, to));
    Ok(pieces)
}

/// The union of the parts' segments, once checked: the same fingerprint, segments
/// that do not overlap and (unless `partial`) cover 0 to 1.
fn check(
    parts: &[(String, Report)],
    partial: bool,
) -> Result<(Option<SegmentJson>, Vec<String>), String> {
    let (first_name, first) = &parts[0];
    for (name, report) in parts {
        if let Some((path, n)) = serde_json::to_value(report)
            .ok()
            .and_then(|json| beyond_counting(&json, ""))
        {
            return Err(format!(
                "cannot merge `{name}`: its `{path}` is {n}, more than any run counts (the report is damaged)"
            ));
        }
        timeline_fits(name, report)?;
        // Thresholds are judged again on the merged data: one that does not read
        // back would be dropped, and its failure with it.
        if let Some(t) = report.thresholds.iter().find(|t| {
            kaioken_compiler::threshold_from_report(&t.scope, &t.metric, &t.threshold).is_none()
        }) {
            return Err(format!(
                "cannot merge `{name}`: its threshold `{} {}` (scope `{}`) cannot be read (the report is damaged)",
                t.metric, t.threshold, t.scope
            ));
        }
        let Some(fingerprint) = &report.fingerprint else {
            return Err(format!(
                "cannot merge `{name}`: it has no `fingerprint` (written by kaioken {}, before reports had one), so nothing tells that it ran the same scenario as the others; run it again with this kaioken ({})",
                report.kaioken_version,
                env!("CARGO_PKG_VERSION")
            ));
        };
        if Some(fingerprint) != first.fingerprint.as_ref() {
            return Err(format!(
                "cannot merge `{name}` with `{first_name}`: they ran different scenarios or loads (fingerprint {} is not {}); every segment must run the same scenario with the same flags",
                short(fingerprint),
                short(first.fingerprint.as_deref().unwrap_or_default())
            ));
        }
    }
    let mut segments = Vec::new();
    for (name, report) in parts {
        for piece in pieces(name, report)? {
            segments.push((piece, name.as_str()));
        }
    }
    segments.sort_by(|((a, _), _), ((b, _), _)| a.cmp(*b));
    // Sorted by start, and none overlapping the one before: disjoint, each
    // ending before the next starts. The holes between them are missing from the
    // union; so are the ends of 0:1 before the first and after the last.
    let mut gaps = Vec::new();
    let mut holes = Vec::new();
    let mut previous: Option<(&str, Fraction, Fraction)> = None;
    for &((from, to), name) in &segments {
        match previous {
            Some((other, other_from, other_to)) if from.cmp(other_to).is_lt() => {
                return Err(format!(
                    "cannot merge `{name}` with `{other}`: their segments overlap ({from}:{to} and {other_from}:{other_to}); each part of the load must be merged once"
                ));
            }
            Some((_, _, other_to)) if other_to.cmp(from).is_lt() => {
                holes.push(format!("{other_to}:{from}"));
                gaps.push(format!("{other_to}:{from}"));
            }
            Some(_) => {}
            None if Fraction::ZERO.cmp(from).is_lt() => gaps.push(format!("0:{from}")),
            None => {}
        }
        previous = Some((name, from, to));
    }
    let reached = previous.map_or(Fraction::ONE, |(_, _, to)| to);
    if reached.cmp(Fraction::ONE).is_lt() {
        gaps.push(format!("{reached}:1"));
    }
    if !gaps.is_empty() && !partial {
        return Err(format!(
            "cannot merge: the reports' segments do not cover the whole run, {} missing; merge every segment's report, or pass --partial to merge these alone",
            gaps.join(", ")
        ));
    }
    if parts.len() == 1 && first.segment.is_none() {
        return Ok((None, gaps));
    }
    let mut sequence: Vec<Fraction> = segments
        .iter()
        .flat_map(|&((from, to), _)| [from, to])
        .chain(parts.iter().flat_map(|(_, r)| {
            r.segment
                .iter()
                .flat_map(|s| s.sequence.iter().filter_map(|b| Fraction::parse(b)))
        }))
        .chain([Fraction::ZERO, Fraction::ONE])
        .collect();
    sequence.sort_by(|a, b| a.cmp(*b));
    sequence.dedup_by(|a, b| a.cmp(*b).is_eq());
    let union = SegmentJson {
        from: segments[0].0.0.to_string(),
        to: reached.to_string(),
        sequence: sequence.iter().map(ToString::to_string).collect(),
        missing: holes,
    };
    Ok((Some(union), gaps))
}

/// The kaioken versions that wrote the parts, each once, oldest first: a merged
/// report's `kaioken_version` is already such a list (`0.1.0,0.2.0`).
fn versions(reports: &[&Report]) -> Vec<String> {
    // Numerically by their numbers (0.10 after 0.9), then as written.
    let key = |v: &str| {
        let numbers: Vec<u64> = v
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap_or(u64::MAX))
            .collect();
        (numbers, v.to_owned())
    };
    let mut versions: Vec<String> = reports
        .iter()
        .flat_map(|r| r.kaioken_version.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    versions.sort_by_cached_key(|v| key(v));
    versions.dedup();
    versions
}

/// Whether a report's timeline is one a run writes: one entry per second from 0
/// (second `i` is entry `i`), none past the time it ran. The merged timeline is
/// dense from the first start to the last end: one damaged `second` (10⁹) would
/// otherwise fill the memory with empty seconds.
fn timeline_fits(name: &str, report: &Report) -> Result<(), String> {
    let elapsed = report.elapsed_s;
    if !(elapsed.is_finite() && elapsed >= 0.0) {
        return Err(format!(
            "cannot merge `{name}`: its `elapsed_s` is {elapsed}, not a time it ran (the report is damaged)"
        ));
    }
    for (i, s) in report.timeline.iter().enumerate() {
        // Second `i` holds what ended in [i, i + 1) s; the run's end is in the last.
        if s.second as f64 > elapsed + 1.0 {
            return Err(format!(
                "cannot merge `{name}`: its timeline's second {} is past the {elapsed:.3} s it ran (`elapsed_s`) (the report is damaged)",
                s.second
            ));
        }
        if s.second != i {
            return Err(format!(
                "cannot merge `{name}`: its timeline's entry {i} is second {}, where a run writes one entry per second from 0 (the report is damaged)",
                s.second
            ));
        }
    }
    Ok(())
}

/// The least time between parts that refuses them, even for the shortest parts:
/// runs a few seconds long started by hand one after the other are merged (with a
/// warning).
const APART_AT_MOST_MS: f64 = 60_000.0;

/// Whether the parts ran at the same time, as the segments of one run do (started
/// together with `--start-at`); the warnings when they did not. A part that
/// started after every part before it had ended leaves a time when none ran: a
/// clock set wrong, or reports of runs made apart. The merged rate then counts
/// over that time too. More apart than the longest part ran (and than a minute)
/// is refused: such a merge describes no run, and its timeline, dense from the
/// first start to the last end, would be mostly empty seconds (ten days apart:
/// 864,000 of them). A merged report counts as one part, from its first start to
/// its last end.
///
/// A part ran from `started_at_unix_ms` for `elapsed_s`, but no further than its
/// timeline reaches ([`timeline_fits`]: an entry a second, and one more for the
/// moments after the last): what bounds the merged timeline is then the size of
/// the reports, not a damaged `elapsed_s`.
fn ran_together(parts: &[(String, Report)]) -> Result<Vec<String>, String> {
    let ran_ms = |r: &Report| r.elapsed_s.min(r.timeline.len() as f64 + 1.0) * 1000.0;
    let ms = |r: &Report| {
        let start = r.started_at_unix_ms as f64;
        (start, start + ran_ms(r))
    };
    let longest_ms = parts.iter().map(|(_, r)| ran_ms(r)).fold(0.0, f64::max);
    let mut by_start: Vec<(&str, (f64, f64))> =
        parts.iter().map(|(n, r)| (n.as_str(), ms(r))).collect();
    by_start.sort_by(|(_, (a, _)), (_, (b, _))| a.total_cmp(b));
    let mut warnings = Vec::new();
    let (mut last, mut last_end) = (by_start[0].0, by_start[0].1.1);
    for &(name, (start, end)) in &by_start[1..] {
        let apart = start - last_end;
        if apart > longest_ms.max(APART_AT_MOST_MS) {
            return Err(format!(
                "cannot merge `{name}` with `{last}`: `{name}` started {} after `{last}` ended, longer than any part ran: they were not parts of one run (is a clock wrong?); the segments of a run run at the same time (--start-at)",
                duration(apart)
            ));
        }
        if apart > 0.0 {
            warnings.push(format!(
                "the parts did not run at the same time: `{name}` started {} after `{last}` ended, and the merged rate counts that time too; start every segment together with --start-at",
                duration(apart)
            ));
        }
        if end > last_end {
            (last, last_end) = (name, end);
        }
    }
    Ok(warnings)
}

/// A time in the largest unit that keeps it readable: `2.5 s`, `3.0 min`, `10.0 days`.
fn duration(ms: f64) -> String {
    let s = ms / 1000.0;
    match s {
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 2.0 * 3600.0 => format!("{:.1} min", s / 60.0),
        s if s < 2.0 * 86_400.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

/// A fingerprint as an error shows it: its first 12 hex digits.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

/// The histogram of `key` (`histograms.<key>`, or the run's `histogram` for `""`)
/// summed over the parts; `None` when no part has it.
fn histogram(parts: &[(String, Report)], key: &str) -> Result<Option<Histogram<u64>>, String> {
    let mut sum: Option<Histogram<u64>> = None;
    for (name, report) in parts {
        let data = if key.is_empty() {
            Some(&report.histogram.data)
        } else {
            report.histograms.get(key)
        };
        let Some(data) = data else {
            if sum.is_some() {
                return Err(missing(name, key));
            }
            continue;
        };
        let h = kaioken_report::hdr::decode(data).ok_or_else(|| {
            format!(
                "cannot merge `{name}`: its histogram `{}` is not an HDR histogram (the report is damaged)",
                if key.is_empty() { "histogram" } else { key }
            )
        })?;
        match &mut sum {
            Some(s) => s
                .add(&h)
                .map_err(|e| format!("cannot merge `{name}`'s histogram `{key}`: {e:?}"))?,
            None if std::ptr::eq(report, &parts[0].1) => {
                let mut h = h;
                h.auto(true);
                sum = Some(h);
            }
            None => return Err(missing(&parts[0].0, key)),
        }
    }
    Ok(sum)
}

/// More than any run counts (2^53: 285 years at a million a second), and few enough
/// that the counts of thousands of parts add up without passing a `u64`.
const MOST_COUNTED: u64 = 1 << 53;

/// The first whole number in `json` above [`MOST_COUNTED`], with its path
/// (`requests.total`).
fn beyond_counting(json: &serde_json::Value, at: &str) -> Option<(String, u64)> {
    let inner = |key: &dyn std::fmt::Display| match at {
        "" => key.to_string(),
        _ => format!("{at}.{key}"),
    };
    match json {
        serde_json::Value::Number(n) => n
            .as_u64()
            .filter(|&n| n > MOST_COUNTED)
            .map(|n| (at.to_owned(), n)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| beyond_counting(v, &inner(&i))),
        serde_json::Value::Object(fields) => fields
            .iter()
            .find_map(|(k, v)| beyond_counting(v, &inner(k))),
        _ => None,
    }
}

fn missing(name: &str, key: &str) -> String {
    format!(
        "cannot merge `{name}`: its `histograms` has no `{key}` where the other reports have one"
    )
}

fn sum_maps(maps: impl IntoIterator<Item = BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for map in maps {
        for (k, n) in map {
            *out.entry(k).or_insert(0) += n;
        }
    }
    out
}

/// The parts merged into one report, thresholds judged again on it.
///
/// # Errors
///
/// Why the parts cannot be merged, naming the file.
pub(crate) fn merge_reports(parts: &[(String, Report)], partial: bool) -> Result<Report, String> {
    let (segment, gaps) = check(parts, partial)?;
    let apart = ran_together(parts)?;
    let reports: Vec<&Report> = parts.iter().map(|(_, r)| r).collect();
    let first = reports[0];
    let mut m = first.clone();
    // Each count is at most `MOST_COUNTED` (`check`): their sum does not overflow.
    let sum =
        |f: &dyn Fn(&Report) -> u64| reports.iter().map(|r| f(r)).fold(0, u64::saturating_add);

    // When: from the first start to the last end.
    let start = reports
        .iter()
        .map(|r| r.started_at_unix_ms)
        .min()
        .unwrap_or(0);
    let end_ms = |r: &Report| r.started_at_unix_ms as f64 + r.elapsed_s * 1000.0;
    let end = reports.iter().map(|r| end_ms(r)).fold(0.0, f64::max);
    m.started_at_unix_ms = start;
    m.elapsed_s = ((end - start as f64) / 1000.0).max(0.0);
    m.segment = segment;
    m.merged_from = parts.iter().map(|(name, _)| name.clone()).collect();
    m.planned_start_unix_ms = reports.iter().filter_map(|r| r.planned_start_unix_ms).min();
    let engines: Vec<&str> = {
        let mut e: Vec<&str> = reports.iter().map(|r| r.settings.engine.as_str()).collect();
        e.sort_unstable();
        e.dedup();
        e
    };
    m.settings.engine = engines.join(",");
    // Every version that measured a part, in order, once (a merged report's is
    // already such a list): the first input's alone made the merged report depend
    // on the order of its inputs, and hid that the parts were measured by
    // different code.
    let versions = versions(&reports);
    m.kaioken_version = versions.join(",");

    // Counts.
    let r = &mut m.requests;
    r.total = sum(&|r| r.requests.total);
    r.responses = sum(&|r| r.requests.responses);
    r.errors = sum(&|r| r.requests.errors);
    r.unexpected_status = sum(&|r| r.requests.unexpected_status);
    r.failed = sum(&|r| r.requests.failed);
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    r.error_rate = share(r.errors, r.total);
    r.failure_rate = share(r.failed, r.total);
    r.rps = if m.elapsed_s > 0.0 {
        r.responses as f64 / m.elapsed_s
    } else {
        0.0
    };
    r.bytes_sent = sum(&|r| r.requests.bytes_sent);
    r.bytes_received = sum(&|r| r.requests.bytes_received);
    r.warmup_requests = sum(&|r| r.requests.warmup_requests);
    r.unfinished = sum(&|r| r.requests.unfinished);
    r.reconnects = sum(&|r| r.requests.reconnects);
    r.decoded = sum(&|r| r.requests.decoded);
    r.decoded_partial = sum(&|r| r.requests.decoded_partial);
    r.bytes_decoded = sum(&|r| r.requests.bytes_decoded);

    // Checks and extractions: the same program, so the same lists, in order.
    for (i, c) in m.checks.iter_mut().enumerate() {
        c.passes = sum(&|r| r.checks.get(i).map_or(0, |c| c.passes));
        c.fails = sum(&|r| r.checks.get(i).map_or(0, |c| c.fails));
        c.pass_rate = (c.passes + c.fails > 0).then(|| share(c.passes, c.passes + c.fails));
    }
    let (passes, evaluations) = m
        .checks
        .iter()
        .fold((0, 0), |(p, a), c| (p + c.passes, a + c.passes + c.fails));
    m.requests.check_pass_rate = (evaluations > 0).then(|| share(passes, evaluations));
    for (i, x) in m.extractions.iter_mut().enumerate() {
        x.ok = sum(&|r| r.extractions.get(i).map_or(0, |x| x.ok));
        x.failed = sum(&|r| r.extractions.get(i).map_or(0, |x| x.failed));
    }
    m.status_codes = sum_maps(reports.iter().map(|r| r.status_codes.clone()));
    m.errors = sum_maps(reports.iter().map(|r| r.errors.clone()));
    // Each class's message from the part that started first (the smallest
    // message of those that started together), whatever the inputs' order.
    let mut details: BTreeMap<&String, (u64, &String)> = BTreeMap::new();
    for r in &reports {
        for (k, v) in &r.error_details {
            let candidate = (r.started_at_unix_ms, v);
            let kept = details.entry(k).or_insert(candidate);
            *kept = (*kept).min(candidate);
        }
    }
    m.error_details = details
        .into_iter()
        .map(|(k, (_, v))| (k.clone(), v.clone()))
        .collect();
    m.connections.opened = sum(&|r| r.connections.opened);
    m.connections.reused = sum(&|r| r.connections.reused);
    m.connections.closed_by_server = sum(&|r| r.connections.closed_by_server);
    m.connections.out_of_sync = sum(&|r| r.connections.out_of_sync);

    // Latencies, from the histograms.
    let overall = histogram(parts, "")?.ok_or_else(|| missing(&parts[0].0, "histogram"))?;
    // The parts' largest latencies are exact: so is the largest of them.
    let largest = |max_ms: &dyn Fn(&Report) -> Option<f64>| {
        parts
            .iter()
            .filter_map(|(_, r)| max_ms(r))
            .map(|ms| (ms * 1000.0).round() as u64)
            .max()
    };
    let exact_max = largest(&|r| r.latency_ms.max);
    m.latency_ms = report::Latency::with_max(&overall, exact_max);
    m.histogram.data = kaioken_report::hdr::encode(&overall);
    let mut histograms = BTreeMap::new();
    let keys: std::collections::BTreeSet<&String> =
        reports.iter().flat_map(|r| r.histograms.keys()).collect();
    for key in keys {
        if let Some(h) = histogram(parts, key)? {
            histograms.insert(key.clone(), kaioken_report::hdr::encode(&h));
        }
    }
    let of = |key: &str| -> report::Latency {
        histograms
            .get(key)
            .and_then(|d| kaioken_report::hdr::decode(d))
            .as_ref()
            .map(report::latency)
            .unwrap_or_default()
    };
    // A group's latencies, with the largest of its parts' exact maxima.
    let of_max = |key: &str, max_ms: &dyn Fn(&Report) -> Option<f64>| -> report::Latency {
        histograms
            .get(key)
            .and_then(|d| kaioken_report::hdr::decode(d))
            .as_ref()
            .map(|h| report::Latency::with_max(h, largest(max_ms)))
            .unwrap_or_default()
    };
    // Without a correction to make, the same latencies: the same maximum.
    m.latency_uncorrected_ms = match histograms
        .get("latency_uncorrected_ms")
        .and_then(|d| kaioken_report::hdr::decode(d))
    {
        Some(h) if h == overall => report::Latency::with_max(&h, exact_max),
        _ => of("latency_uncorrected_ms"),
    };
    m.schedule_lag_ms = histograms
        .get("schedule_lag_ms")
        .and_then(|d| kaioken_report::hdr::decode(d))
        .as_ref()
        .map_or(m.schedule_lag_ms, report::lag);
    for (list, prefix) in [(&mut m.scenarios, "scenarios"), (&mut m.tags, "tags")] {
        for (i, g) in list.iter_mut().enumerate() {
            let pick = |r: &Report| {
                let groups = if prefix == "scenarios" {
                    &r.scenarios
                } else {
                    &r.tags
                };
                groups.get(i).cloned()
            };
            g.requests = sum(&|r| pick(r).map_or(0, |g| g.requests));
            g.errors = sum(&|r| pick(r).map_or(0, |g| g.errors));
            g.failed = sum(&|r| pick(r).map_or(0, |g| g.failed));
            g.latency_ms = of_max(&format!("{prefix}/{}", g.name), &|r| {
                pick(r).and_then(|g| g.latency_ms.max)
            });
        }
    }
    for (i, s) in m.steps.iter_mut().enumerate() {
        s.requests = sum(&|r| r.steps.get(i).map_or(0, |s| s.requests));
        s.errors = sum(&|r| r.steps.get(i).map_or(0, |s| s.errors));
        s.failed = sum(&|r| r.steps.get(i).map_or(0, |s| s.failed));
        s.status_codes = sum_maps(
            reports
                .iter()
                .filter_map(|r| r.steps.get(i).map(|s| s.status_codes.clone())),
        );
        s.latency_ms = of_max(&format!("steps/{i}"), &|r| {
            r.steps.get(i).and_then(|s| s.latency_ms.max)
        });
    }
    let p = &mut m.phases_ms;
    for (name, phase) in [
        ("dns", &mut p.dns),
        ("connect", &mut p.connect),
        ("tls", &mut p.tls),
        ("waiting", &mut p.waiting),
        ("receiving", &mut p.receiving),
    ] {
        let key = format!("phases_ms/{name}");
        phase.latency = of(&key);
        phase.count = histograms
            .get(&key)
            .and_then(|d| kaioken_report::hdr::decode(d))
            .map_or(0, |h| h.len());
    }
    if let Some(g) = &mut m.grpc {
        let grpc = |r: &Report| r.grpc.clone().unwrap_or_default();
        g.calls = sum(&|r| grpc(r).calls);
        g.statuses = sum_maps(reports.iter().map(|r| grpc(r).statuses));
        g.messages_sent = sum(&|r| grpc(r).messages_sent);
        g.messages_received = sum(&|r| grpc(r).messages_received);
        g.bytes_sent = sum(&|r| grpc(r).bytes_sent);
        g.bytes_received = sum(&|r| grpc(r).bytes_received);
        g.connections_opened = sum(&|r| grpc(r).connections_opened);
        g.connections_failed = sum(&|r| grpc(r).connections_failed);
        g.connections_closed_by_server = sum(&|r| grpc(r).connections_closed_by_server);
        g.connect_ms = of("grpc/connect_ms");
        g.streams.count = sum(&|r| grpc(r).streams.count);
        g.streams.first_message_ms = of("grpc/streams/first_message_ms");
        let per_stream = histograms
            .get("grpc/streams/messages")
            .and_then(|d| kaioken_report::hdr::decode(d))
            .filter(|h| !h.is_empty());
        // The histogram counts the streams that had messages exactly, but their
        // messages to three significant digits only: the mean and the max are the
        // parts' exact ones, unless a part of an older kaioken version has none.
        let parts = || reports.iter().filter_map(|r| r.grpc.as_ref());
        let exact = parts().map(|g| g.streams.messages).sum::<Option<u64>>();
        g.streams.messages = exact;
        (g.streams.messages_mean, g.streams.messages_max) = match (&per_stream, exact) {
            (Some(h), Some(total)) => (
                Some(total as f64 / h.len() as f64),
                parts().filter_map(|g| g.streams.messages_max).max(),
            ),
            (Some(h), None) => (Some(h.mean()), Some(h.max())),
            (None, _) => (None, None),
        };
    }
    if let Some(w) = &mut m.websocket {
        let ws = |r: &Report| r.websocket.clone();
        let add = |f: &dyn Fn(&report::WebSocketJson) -> u64| {
            reports
                .iter()
                .filter_map(|r| ws(r))
                .map(|w| f(&w))
                .sum::<u64>()
        };
        w.connections.opened = add(&|w| w.connections.opened);
        w.connections.failed = add(&|w| w.connections.failed);
        w.connections.closed_by_peer = add(&|w| w.connections.closed_by_peer);
        w.handshake_ms = of("websocket/handshake_ms");
        w.rtt_ms = of("websocket/rtt_ms");
        w.messages.sent = add(&|w| w.messages.sent);
        w.messages.received = add(&|w| w.messages.received);
        let window = m.elapsed_s.max(f64::MIN_POSITIVE);
        w.messages.sent_per_s = w.messages.sent as f64 / window;
        w.messages.received_per_s = w.messages.received as f64 / window;
        w.bytes.sent = add(&|w| w.bytes.sent);
        w.bytes.received = add(&|w| w.bytes.received);
        w.close_codes = sum_maps(reports.iter().filter_map(|r| ws(r)).map(|w| w.close_codes));
    }
    m.histograms = histograms;

    // The load model: iterations add; the plan is the global one every part has.
    let all_ran_their_duration = reports
        .iter()
        .all(|r| r.outcome.stop_reason == StopReason::Duration.name());
    m.iterations.started = sum(&|r| r.iterations.started);
    m.iterations.dropped = sum(&|r| r.iterations.dropped);
    m.iterations.window_s = match m.load.duration_s {
        Some(d) if all_ran_their_duration => d,
        _ => m.elapsed_s,
    };
    m.iterations.achieved_rate = if m.iterations.window_s > 0.0 {
        m.iterations.started as f64 / m.iterations.window_s
    } else {
        0.0
    };
    // Each part's share of the planned rate and of the VUs allowed, added up: the
    // first part's alone made the merge depend on the order of its inputs, and
    // judged the whole run's rate against one part's target.
    m.iterations.target_rate = reports
        .iter()
        .map(|r| r.iterations.target_rate)
        .sum::<Option<f64>>();
    m.vus.max_allowed = reports
        .iter()
        .fold(0u32, |n, r| n.saturating_add(r.vus.max_allowed));
    // The busiest moment of each part, together: none had more at once.
    m.vus.max_active = sum(&|r| r.vus.max_active);
    m.timeline = timeline(&reports, start);

    // How it ended: the first part's way unless they differ, then the way of the
    // one that was interrupted, else of the last to end.
    let interrupted = reports.iter().find(|r| r.outcome.interrupted);
    let last = reports
        .iter()
        .copied()
        .max_by(|a, b| end_ms(a).total_cmp(&end_ms(b)))
        .unwrap_or(first);
    m.outcome.stop_reason = interrupted.unwrap_or(&last).outcome.stop_reason.clone();
    m.outcome.interrupted = interrupted.is_some();
    let reason = if all_ran_their_duration {
        StopReason::Duration
    } else {
        StopReason::Completed
    };
    let cap = match (m.load.model.as_str(), m.load.rate) {
        ("closed", Some(cap)) => Some(report::Cap {
            // The parts' shares of the cap, added up (their `target_rate`s): the
            // whole cap unless the merge is partial.
            cap: m.iterations.target_rate.unwrap_or(cap),
            staged: !m.load.stages.is_empty(),
            achieved: m.requests.total as f64 / m.iterations.window_s.max(f64::MIN_POSITIVE),
        }),
        _ => None,
    };
    m.warnings = report::load_warnings(&m.iterations, reason, cap);
    m.warnings.extend(apart);
    if versions.len() > 1 {
        m.warnings.push(format!(
            "the parts were written by different kaioken versions ({}): they may not measure alike; run every segment with the same kaioken",
            versions.join(", ")
        ));
    }
    if !gaps.is_empty() {
        m.warnings.push(format!(
            "a partial merge (--partial): the segments {} are missing from these numbers",
            gaps.join(", ")
        ));
    }
    // In the order the parts started, not the inputs'.
    let mut by_start = reports.clone();
    by_start.sort_by_key(|r| r.started_at_unix_ms);
    m.outputs = by_start.iter().flat_map(|r| r.outputs.clone()).collect();
    m.scripts = kaioken_script::ScriptReport::merge(reports.iter().map(|r| r.scripts.as_slice()));

    m.rejudge_thresholds();
    // What `run` would have exited with, had it measured all of this.
    m.outcome.exit_code = if m.outcome.interrupted {
        130
    } else if !m.thresholds_passed() {
        4
    } else if m.too_many_failed() || m.requests.total == 0 {
        1
    } else {
        0
    };
    Ok(m)
}

/// The parts' timelines on one clock: each part's second `i` goes in the wall-clock
/// second (of the Unix time) that `started_at_unix_ms + i` s falls in, counted from
/// the one the first part started in; the seconds that fall together add. (On
/// whole wall-clock seconds, merging merged reports again bins every second where
/// merging the parts at once does.) A merged second's mean and max latency are
/// exact; its percentiles are the largest of its parts' (an upper bound: a
/// second's samples are not kept).
fn timeline(reports: &[&Report], start: u64) -> Vec<report::Second> {
    let mut seconds: BTreeMap<usize, report::Second> = BTreeMap::new();
    let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    for r in reports {
        for s in &r.timeline {
            let at =
                ((r.started_at_unix_ms + s.second as u64 * 1000) / 1000 - start / 1000) as usize;
            let Some(m) = seconds.get_mut(&at) else {
                seconds.insert(
                    at,
                    report::Second {
                        second: at,
                        ..s.clone()
                    },
                );
                continue;
            };
            let sum_of_latencies = m.latency_mean_ms.unwrap_or(0.0) * m.responses as f64
                + s.latency_mean_ms.unwrap_or(0.0) * s.responses as f64;
            m.requests += s.requests;
            m.responses += s.responses;
            m.errors += s.errors;
            m.unexpected_status += s.unexpected_status;
            m.latency_mean_ms = (m.responses > 0).then(|| sum_of_latencies / m.responses as f64);
            m.latency_p50_ms = max(m.latency_p50_ms, s.latency_p50_ms);
            m.latency_p90_ms = max(m.latency_p90_ms, s.latency_p90_ms);
            m.latency_p99_ms = max(m.latency_p99_ms, s.latency_p99_ms);
            m.latency_max_ms = max(m.latency_max_ms, s.latency_max_ms);
            m.started += s.started;
            m.dropped += s.dropped;
            m.vus += s.vus;
            m.bytes_received += s.bytes_received;
            for (k, n) in &s.status {
                *m.status.entry(k.clone()).or_insert(0) += n;
            }
            let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            };
            m.messages_sent = add(m.messages_sent, s.messages_sent);
            m.messages_received = add(m.messages_received, s.messages_received);
        }
    }
    // Seconds none of the parts had (one started late) are empty, not missing.
    let Some(last) = seconds.keys().next_back().copied() else {
        return Vec::new();
    };
    (0..=last)
        .map(|i| {
            seconds.remove(&i).unwrap_or(report::Second {
                second: i,
                requests: 0,
                responses: 0,
                errors: 0,
                unexpected_status: 0,
                latency_mean_ms: None,
                latency_p50_ms: None,
                latency_p90_ms: None,
                latency_p99_ms: None,
                latency_max_ms: None,
                started: 0,
                dropped: 0,
                vus: 0,
                bytes_received: 0,
                status: BTreeMap::new(),
                messages_sent: None,
                messages_received: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::report::tests::closed_report;

    fn hist(samples_us: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &v in samples_us {
            h.record(v).unwrap();
        }
        h
    }

    /// A segment's report of the closed fixture whose every latency section holds
    /// `samples_us`, `errors` of them failed, over `elapsed_s` from `started`.
    fn part(samples_us: &[u64], errors: u64, segment: (&str, &str), started: u64) -> Report {
        let mut r = closed_report();
        let h = hist(samples_us);
        let data = kaioken_report::hdr::encode(&h);
        r.histogram.data = data.clone();
        r.latency_ms = report::latency(&h);
        for v in r.histograms.values_mut() {
            *v = data.clone();
        }
        let n = samples_us.len() as u64;
        r.requests.total = n + errors;
        r.requests.responses = n;
        r.requests.errors = errors;
        r.requests.failed = errors;
        r.started_at_unix_ms = started;
        r.elapsed_s = 10.0;
        r.segment = Some(SegmentJson {
            from: segment.0.into(),
            to: segment.1.into(),
            sequence: vec!["0".into(), "1/3".into(), "2/3".into(), "1".into()],
            missing: Vec::new(),
        });
        r
    }

    fn named(reports: &[Report]) -> Vec<(String, Report)> {
        reports
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("r{i}.json"), r.clone()))
            .collect()
    }

    fn decode(data: &str) -> Histogram<u64> {
        kaioken_report::hdr::decode(data).unwrap()
    }

    #[test]
    fn merged_histograms_are_those_of_all_the_samples() {
        let a = [120, 340, 341, 900];
        let b = [1_500, 2_700, 45_000];
        let c = [800, 800, 1_200, 3_600_000];
        let merged = merge_reports(
            &named(&[
                part(&a, 1, ("0", "1/3"), 1_900),
                part(&b, 0, ("1/3", "2/3"), 1_400),
                part(&c, 2, ("2/3", "1"), 1_000),
            ]),
            false,
        )
        .unwrap();
        let all = hist(&[a.as_slice(), &b, &c].concat());
        assert_eq!(decode(&merged.histogram.data), all);
        for (key, data) in &merged.histograms {
            assert_eq!(decode(data), all, "{key}");
        }
        let want = report::latency(&all);
        assert_eq!(merged.latency_ms.p99, want.p99);
        assert_eq!(merged.latency_ms.p50, Some(0.9));
        assert_eq!(merged.latency_ms.max, want.max);
        assert_eq!(merged.scenarios[1].latency_ms.p50, want.p50);
        assert_eq!(merged.steps[0].latency_ms.p90, want.p90);
        assert_eq!(merged.phases_ms.waiting.count, 11);
        assert_eq!(merged.requests.total, 14);
        assert_eq!(merged.requests.errors, 3);
        // From the first start (1_000) to the last end (1_900 + 10 s).
        assert_eq!(merged.started_at_unix_ms, 1_000);
        assert_eq!(merged.elapsed_s, 10.9);
        let segment = merged.segment.as_ref().unwrap();
        assert_eq!((segment.from.as_str(), segment.to.as_str()), ("0", "1"));
        assert_eq!(segment.sequence, ["0", "1/3", "2/3", "1"]);
        assert_eq!(merged.merged_from, ["r0.json", "r1.json", "r2.json"]);
        // Three parts' checks, statuses and timelines add.
        let one = closed_report();
        assert_eq!(merged.checks[0].passes, 3 * one.checks[0].passes);
        assert_eq!(merged.status_codes["200"], 3 * one.status_codes["200"]);
        // The parts started within the same wall-clock second: their seconds fall
        // together.
        assert_eq!(merged.timeline.len(), 2);
        assert_eq!(merged.timeline[0].requests, 3 * one.timeline[0].requests);
        assert_eq!(merged.timeline[1].requests, 3 * one.timeline[1].requests);
    }

    /// The gRPC and WebSocket sections add too, their times from their histograms.
    #[test]
    fn message_protocols_add() {
        let parts: Vec<Report> = [("0", "1/2", [300, 900]), ("1/2", "1", [600, 5_000])]
            .into_iter()
            .map(|(from, to, samples)| {
                let mut r = crate::report::tests::messages_report();
                r.segment = part(&[1], 0, (from, to), 0).segment;
                for key in ["grpc/connect_ms", "websocket/rtt_ms"] {
                    r.histograms
                        .insert(key.to_owned(), kaioken_report::hdr::encode(&hist(&samples)));
                }
                r.histograms.insert(
                    "grpc/streams/messages".to_owned(),
                    kaioken_report::hdr::encode(&hist(&[1, 2, samples[0] / 100])),
                );
                r
            })
            .collect();
        let merged = merge_reports(&named(&parts), false).unwrap();
        let one = crate::report::tests::messages_report();
        let (g, w) = (merged.grpc.unwrap(), merged.websocket.unwrap());
        let (g1, w1) = (one.grpc.unwrap(), one.websocket.unwrap());
        assert_eq!(g.calls, 2 * g1.calls);
        assert_eq!(g.statuses["NOT_FOUND"], 2 * g1.statuses["NOT_FOUND"]);
        assert_eq!(g.streams.count, 2 * g1.streams.count);
        // Streams' messages: 1, 2, 3 and 1, 2, 6.
        assert_eq!(g.streams.messages_max, Some(6));
        assert_eq!(g.streams.messages_mean, Some(15.0 / 6.0));
        let all = report::latency(&hist(&[300, 900, 600, 5_000]));
        assert_eq!(g.connect_ms.p50, all.p50);
        assert_eq!(w.rtt_ms.max, all.max);
        assert_eq!(w.messages.sent, 2 * w1.messages.sent);
        assert_eq!(w.close_codes["1011"], 2 * w1.close_codes["1011"]);
        assert_eq!(w.connections.opened, 2 * w1.connections.opened);
        let sent: Vec<Option<u64>> = merged.timeline.iter().map(|s| s.messages_sent).collect();
        assert_eq!(sent, [Some(2_400), Some(1_960)]);
    }

    /// Streams' messages merge exactly: the mean and max are the parts' exact
    /// ones, not the histogram's three significant digits (20,000 is 20,015 there).
    #[test]
    fn long_streams_merge_exactly() {
        let parts: Vec<Report> = [("0", "1/2", 20_000), ("1/2", "1", 30_001)]
            .into_iter()
            .map(|(from, to, messages)| {
                let mut r = crate::report::tests::messages_report();
                r.segment = part(&[1], 0, (from, to), 0).segment;
                r.histograms.insert(
                    "grpc/streams/messages".to_owned(),
                    kaioken_report::hdr::encode(&hist(&[messages])),
                );
                let st = &mut r.grpc.as_mut().unwrap().streams;
                st.messages = Some(messages);
                st.messages_mean = Some(messages as f64);
                st.messages_max = Some(messages);
                r
            })
            .collect();
        let merged = merge_reports(&named(&parts), false).unwrap();
        let st = merged.grpc.unwrap().streams;
        assert_eq!(st.messages, Some(50_001));
        assert_eq!(st.messages_mean, Some(25_000.5));
        assert_eq!(st.messages_max, Some(30_001));
    }

    #[test]
    fn timelines_align_on_wall_clock_seconds() {
        let one = closed_report();
        let merged = merge_reports(
            &named(&[
                part(&[1_000], 0, ("0", "1/2"), 10_000),
                part(&[1_000], 0, ("1/2", "1"), 11_200),
            ]),
            false,
        )
        .unwrap();
        // The second part started 1.2 s later: its seconds are the merged 1 and 2.
        let requests: Vec<u64> = merged.timeline.iter().map(|s| s.requests).collect();
        let (first, second) = (one.timeline[0].requests, one.timeline[1].requests);
        assert_eq!(requests, [first, second + first, second]);
        assert_eq!(merged.timeline[2].second, 2);
    }

    /// A report as JSON with what may differ between equal merges made in other
    /// orders normalized: the inputs' names, histograms' bytes (their values are
    /// kept), and floats' last bits.
    fn normalized(r: &Report) -> Value {
        let mut v = serde_json::to_value(r).unwrap();
        v["merged_from"] = Value::Null;
        let values = |data: &str| -> Value {
            decode(data)
                .iter_recorded()
                .map(|x| serde_json::json!([x.value_iterated_to(), x.count_at_value()]))
                .collect()
        };
        v["histogram"]["data"] = values(&r.histogram.data);
        for (k, data) in &r.histograms {
            v["histograms"][k] = values(data);
        }
        v
    }

    /// Whether `a` and `b` are the same JSON, floats equal to 1e-9 relative (sums
    /// of floats in another order may differ in their last bits).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Merging is associative and does not depend on the order of the parts.
        #[test]
        fn merging_is_associative_and_order_independent(
            samples in proptest::collection::vec(
                proptest::collection::vec(1u64..10_000_000, 1..40), 3),
            // Parts that ran together (3 s each: their timelines' 2 s and the
            // moments after), as `ran_together` sees a merged report: one part,
            // from its first start to its last end.
            starts in proptest::collection::vec(0u64..2_000, 3),
            errors in proptest::collection::vec(0u64..5, 3),
        ) {
            let segments = [("0", "1/3"), ("1/3", "2/3"), ("2/3", "1")];
            let parts: Vec<Report> = (0..3)
                .map(|i| part(&samples[i], errors[i], segments[i], 1_000_000 + starts[i]))
                .collect();
            let all = merge_reports(&named(&parts), false).unwrap();
            let reversed: Vec<Report> = parts.iter().rev().cloned().collect();
            let backwards = merge_reports(&named(&reversed), false).unwrap();
            let ab = merge_reports(&named(&parts[..2]), true).unwrap();
            let left = merge_reports(&named(&[ab, parts[2].clone()]), false).unwrap();
            let bc = merge_reports(&named(&parts[1..]), true).unwrap();
            let right = merge_reports(&named(&[parts[0].clone(), bc]), false).unwrap();
            // Two segments that are not next to each other, then the one between.
            let ac = merge_reports(&named(&[parts[0].clone(), parts[2].clone()]), true).unwrap();
            let around = merge_reports(&named(&[ac, parts[1].clone()]), false).unwrap();
            let want = normalized(&all);
            for other in [&backwards, &left, &right, &around] {
                let got = normalized(other);
                prop_assert!(same(&got, &want), "{got:#}\nis not\n{want:#}");
            }
            let every: Vec<u64> = samples.concat();
            prop_assert_eq!(decode(&all.histogram.data), hist(&every));
        }
    }

    /// A partial merge of a capped closed-model run judges its shortfall against
    /// the cap's share its parts had, not the whole run's cap.
    #[test]
    fn a_partial_merge_says_its_share_of_the_cap() {
        let capped = |segment, share: f64| {
            let mut r = part(&[1_000; 100], 0, segment, 0);
            r.load.rate = Some(100.0);
            r.load.duration_s = Some(10.0);
            r.outcome.stop_reason = StopReason::Duration.name().into();
            r.iterations.started = 100;
            r.iterations.dropped = 0;
            r.iterations.target_rate = Some(100.0 * share);
            r
        };
        let merged = merge_reports(&named(&[capped(("0", "1/4"), 0.25)]), true).unwrap();
        // 100 requests in 10 s: 10/s, 60% below the part's 25/s (not 90% below 100/s).
        assert_eq!(
            merged.warnings[0],
            "achieved 10.0 requests/s, 60.0% below the -r cap of 25/s: the VUs could not keep up; raise -c"
        );
    }

    fn verdict<'a>(r: &'a Report, metric: &str) -> &'a kaioken_compiler::Verdict {
        r.thresholds
            .iter()
            .find(|v| v.scope == "all" && v.metric == metric)
            .unwrap()
    }

    /// `rps > 1000` and `p95 < 2ms` judged on each part and on the merged data: each
    /// part fails one, the merged run passes both, which is right (1,200 responses/s
    /// together; 6 slow responses of 200 are 3%).
    #[test]
    fn thresholds_are_judged_over_the_merged_data() {
        let slow = [[1_000; 94].as_slice(), &[3_000; 6]].concat();
        let fast = [1_000; 100];
        let mut a = part(&slow, 0, ("0", "1/2"), 1_000);
        let mut b = part(&fast, 0, ("1/2", "1"), 1_000);
        for r in [&mut a, &mut b] {
            r.requests.responses = 6_000;
            r.requests.total = 6_000;
            r.rejudge_thresholds();
        }
        assert!(!verdict(&a, "p95").passed);
        let p95 = |samples: &[u64]| Some(report::latency(&hist(samples)).p95.unwrap());
        assert_eq!(verdict(&a, "p95").observed, p95(&slow));
        assert!(verdict(&b, "p95").passed);
        assert!(!verdict(&a, "rps").passed);
        assert!(!verdict(&b, "rps").passed);
        assert_eq!(verdict(&a, "rps").observed, Some(600.0));
        let merged = merge_reports(&named(&[a, b]), false).unwrap();
        assert!(verdict(&merged, "p95").passed);
        assert_eq!(
            verdict(&merged, "p95").observed,
            p95(&[slow.as_slice(), &fast].concat())
        );
        assert!(verdict(&merged, "p95").observed < Some(2.0));
        assert!(verdict(&merged, "rps").passed);
        assert_eq!(verdict(&merged, "rps").observed, Some(1_200.0));
        // The fixture's other thresholds still fail (its check pass rate): exit 4.
        assert!(!merged.thresholds_passed());
        assert_eq!(merged.outcome.exit_code, 4);
    }

    /// A timeline a run cannot have written is damage, named as such: a second
    /// past the time the part ran (one edited to 10⁹ filled the memory with empty
    /// seconds), or seconds that are not one an entry from 0.
    #[test]
    fn a_damaged_timeline_is_refused() {
        let a = part(&[1_000], 0, ("0", "1/2"), 0);
        let err = |b: Report| merge_reports(&named(&[a.clone(), b]), false).unwrap_err();
        let mut far = part(&[1_000], 0, ("1/2", "1"), 0);
        far.timeline[1].second = 1_000_000_000;
        assert_eq!(
            err(far),
            "cannot merge `r1.json`: its timeline's second 1000000000 is past the 10.000 s it ran (`elapsed_s`) (the report is damaged)"
        );
        let mut skipping = part(&[1_000], 0, ("1/2", "1"), 0);
        skipping.timeline[1].second = 5;
        assert_eq!(
            err(skipping),
            "cannot merge `r1.json`: its timeline's entry 1 is second 5, where a run writes one entry per second from 0 (the report is damaged)"
        );
        let mut negative = part(&[1_000], 0, ("1/2", "1"), 0);
        negative.elapsed_s = -3.0;
        assert_eq!(
            err(negative),
            "cannot merge `r1.json`: its `elapsed_s` is -3, not a time it ran (the report is damaged)"
        );
    }

    /// Parts that did not run at the same time: a warning when they are a little
    /// apart (short runs started by hand one after the other), refused when
    /// further apart than they ran (a clock ten days wrong made a merged report of
    /// 864,003 seconds, 330 MB, and a rate of 0.03/s).
    #[test]
    fn parts_run_at_the_same_time() {
        let a = part(&[1_000], 0, ("0", "1/2"), 1_000_000);
        let apart = |ms: u64| {
            let b = part(&[1_000], 0, ("1/2", "1"), 1_000_000 + ms);
            merge_reports(&named(&[b, a.clone()]), false)
        };
        // Each ran 3 s (its timeline's 2 s and the moments after): 8 s later is
        // 5 s after the first ended.
        let late = apart(8_000).unwrap();
        assert_eq!(
            late.warnings.last().unwrap(),
            "the parts did not run at the same time: `r0.json` started 5.0 s after `r1.json` ended, and the merged rate counts that time too; start every segment together with --start-at"
        );
        assert_eq!(late.timeline.len(), 10);
        // Within a minute, however short they ran.
        assert!(apart(63_000).is_ok());
        let days = 10 * 86_400_000;
        assert_eq!(
            apart(days).unwrap_err(),
            "cannot merge `r0.json` with `r1.json`: `r0.json` started 10.0 days after `r1.json` ended, longer than any part ran: they were not parts of one run (is a clock wrong?); the segments of a run run at the same time (--start-at)"
        );
        // Overlapping: nothing to say.
        let together = apart(2_500).unwrap();
        assert!(!together.warnings.iter().any(|w| w.contains("same time")));
    }

    /// A partial merge of segments that are not next to each other says which
    /// piece it lacks, stays partial when merged again, and merged with that piece
    /// is the whole run: the same report as merging the three at once.
    #[test]
    fn a_partial_merge_keeps_its_gap() {
        let segments = [("0", "1/3"), ("1/3", "2/3"), ("2/3", "1")];
        let [a, b, c] = segments.map(|s| part(&[1_000, 2_000], 0, s, 0));
        let ac = merge_reports(&named(&[c.clone(), a.clone()]), true).unwrap();
        let s = ac.segment.as_ref().unwrap();
        assert_eq!((s.from.as_str(), s.to.as_str()), ("0", "1"));
        assert_eq!(s.missing, ["1/3:2/3"]);
        assert!(!s.is_whole());
        assert_eq!(s.measured(), "0:1/3 and 2/3:1");
        let gap =
            "a partial merge (--partial): the segments 1/3:2/3 are missing from these numbers";
        assert_eq!(ac.warnings.last().unwrap(), gap);
        let summary = crate::summary::render(
            &ac,
            &crate::summary::Options {
                serious: true,
                percentiles: &[50.0],
            },
        );
        assert!(
            summary.contains("\n  Segment     0:1/3 and 2/3:1 of 0,1/3,2/3,1\n"),
            "{summary}"
        );
        // Merged again alone: still partial, refused without --partial...
        assert_eq!(
            merge_reports(&named(std::slice::from_ref(&ac)), false).unwrap_err(),
            "cannot merge: the reports' segments do not cover the whole run, 1/3:2/3 missing; merge every segment's report, or pass --partial to merge these alone"
        );
        // ...and with it, the gap and its warning kept.
        let again = merge_reports(&named(std::slice::from_ref(&ac)), true).unwrap();
        assert_eq!(again.segment, ac.segment);
        assert_eq!(again.warnings.last().unwrap(), gap);
        // A report that holds the missing piece's neighbour overlaps.
        let wide = part(&[1_000], 0, ("1/4", "1/2"), 0);
        assert_eq!(
            merge_reports(&named(&[ac.clone(), wide]), true).unwrap_err(),
            "cannot merge `r1.json` with `r0.json`: their segments overlap (1/4:1/2 and 0:1/3); each part of the load must be merged once"
        );
        // With the missing piece: the whole run, as the three merged at once.
        let whole = merge_reports(&named(&[ac, b.clone()]), false).unwrap();
        assert!(whole.segment.as_ref().unwrap().is_whole());
        assert!(!whole.warnings.iter().any(|w| w.contains("partial")));
        let at_once = merge_reports(&named(&[a, b, c]), false).unwrap();
        assert!(same(&normalized(&whole), &normalized(&at_once)));
        // A `missing` that is not a piece inside the segment is damage.
        let mut damaged = part(&[1_000], 0, ("0", "1/2"), 0);
        damaged.segment.as_mut().unwrap().missing = vec!["1/3:2/3".into()];
        assert_eq!(
            merge_reports(&named(&[damaged]), true).unwrap_err(),
            "cannot merge `r0.json`: its segment's missing `1/3:2/3` is not a piece of 0:1/2 after the ones before it (the report is damaged)"
        );
    }

    /// What the first input alone gave (its version, its error messages) no
    /// longer depends on the order of the inputs; different versions are a warning.
    #[test]
    fn versions_and_messages_do_not_depend_on_the_order() {
        let mut a = part(&[1_000], 1, ("0", "1/2"), 2_000);
        let mut b = part(&[1_000], 1, ("1/2", "1"), 1_000);
        a.kaioken_version = "0.10.0".into();
        b.kaioken_version = "0.9.1".into();
        a.error_details
            .insert("timeout".into(), "a: no response within 30s".into());
        b.error_details
            .insert("timeout".into(), "b: no response within 30s".into());
        let ab = merge_reports(&named(&[a.clone(), b.clone()]), false).unwrap();
        let ba = merge_reports(&named(&[b.clone(), a.clone()]), false).unwrap();
        for m in [&ab, &ba] {
            assert_eq!(m.kaioken_version, "0.9.1,0.10.0");
            // From the part that started first.
            assert_eq!(m.error_details["timeout"], "b: no response within 30s");
            assert!(
                m.warnings.contains(&"the parts were written by different kaioken versions (0.9.1, 0.10.0): they may not measure alike; run every segment with the same kaioken".to_owned()),
                "{:?}",
                m.warnings
            );
        }
        assert!(same(&normalized(&ab), &normalized(&ba)));
        // A merged report's list, merged again, is the same list.
        let mut whole = ab.clone();
        whole.segment = None;
        assert_eq!(versions(&[&whole, &a]), ["0.9.1", "0.10.0"]);
        // One version: no warning.
        b.kaioken_version = "0.10.0".into();
        let same_version = merge_reports(&named(&[a, b]), false).unwrap();
        assert_eq!(same_version.kaioken_version, "0.10.0");
        assert!(!same_version.warnings.iter().any(|w| w.contains("versions")));
    }

    /// The merge exits with the verdict its summary prints and its report records:
    /// a failure rate over the limit is 1, an interrupted part 130, a failed
    /// threshold 4 (a distributed test passes or fails on this exit code).
    #[test]
    fn the_exit_code_is_the_merged_verdict() {
        let exits = |parts: &[Report]| {
            let merged = merge_reports(&named(parts), false).unwrap();
            let code = crate::error::exit_code(&Ok(exit_outcome(&merged)));
            assert_eq!(code, merged.outcome.exit_code);
            code
        };
        let passing = |errors, segment| {
            let mut r = part(&[1_000; 10], errors, segment, 0);
            r.thresholds.clear();
            r
        };
        let halves = [("0", "1/2"), ("1/2", "1")];
        assert_eq!(exits(&halves.map(|s| passing(0, s))), 0);
        // 11 of 21 requests failed in each part: above the fixture's `max_error_rate`, 0.5.
        assert_eq!(exits(&halves.map(|s| passing(11, s))), 1);
        let mut stopped = halves.map(|s| passing(0, s));
        stopped[1].outcome.interrupted = true;
        assert_eq!(exits(&stopped), 130);
        // The fixture's thresholds (its check pass rate) fail.
        assert_eq!(exits(&halves.map(|s| part(&[1_000; 10], 0, s, 0))), 4);
    }

    #[test]
    fn refusals_say_which_file_and_why() {
        let err = |parts: &[Report], partial| merge_reports(&named(parts), partial).unwrap_err();
        let a = part(&[1_000], 0, ("0", "1/2"), 0);
        let b = part(&[1_000], 0, ("1/2", "1"), 0);
        let mut other = b.clone();
        other.fingerprint = Some("ab".repeat(32));
        assert_eq!(
            err(&[a.clone(), other], false),
            format!(
                "cannot merge `r1.json` with `r0.json`: they ran different scenarios or loads (fingerprint abababababab is not {}); every segment must run the same scenario with the same flags",
                &a.fingerprint.as_deref().unwrap()[..12]
            )
        );
        let mut old = b.clone();
        old.fingerprint = None;
        assert_eq!(
            err(&[a.clone(), old], false),
            format!(
                "cannot merge `r1.json`: it has no `fingerprint` (written by kaioken {0}, before reports had one), so nothing tells that it ran the same scenario as the others; run it again with this kaioken ({0})",
                env!("CARGO_PKG_VERSION")
            )
        );
        let wide = part(&[1_000], 0, ("1/3", "1"), 0);
        assert_eq!(
            err(&[a.clone(), wide], false),
            "cannot merge `r1.json` with `r0.json`: their segments overlap (1/3:1 and 0:1/2); each part of the load must be merged once"
        );
        let mut whole = b.clone();
        whole.segment = None;
        assert_eq!(
            err(&[whole.clone(), whole], true),
            "cannot merge `r1.json` with `r0.json`: their segments overlap (0:1 and 0:1); each part of the load must be merged once"
        );
        let last = part(&[1_000], 0, ("2/3", "1"), 0);
        let missing = "cannot merge: the reports' segments do not cover the whole run, 1/2:2/3 missing; merge every segment's report, or pass --partial to merge these alone";
        assert_eq!(err(&[a.clone(), last.clone()], false), missing);
        assert_eq!(
            err(std::slice::from_ref(&last), false),
            "cannot merge: the reports' segments do not cover the whole run, 0:2/3 missing; merge every segment's report, or pass --partial to merge these alone"
        );
        let partial = merge_reports(&named(&[last, a.clone()]), true).unwrap();
        let s = partial.segment.unwrap();
        assert_eq!((s.from.as_str(), s.to.as_str()), ("0", "1"));
        assert_eq!(s.missing, ["1/2:2/3"]);
        assert_eq!(
            partial.warnings.last().unwrap(),
            "a partial merge (--partial): the segments 1/2:2/3 are missing from these numbers"
        );
        let mut bad = b.clone();
        bad.segment.as_mut().unwrap().from = "3/2".into();
        assert_eq!(
            err(&[a.clone(), bad], false),
            "cannot merge `r1.json`: its segment's `from` is `3/2`, not a fraction between 0 and 1"
        );
        let mut huge = b.clone();
        huge.segment.as_mut().unwrap().to = format!("{0}/{0}", u128::MAX);
        assert_eq!(
            err(&[a.clone(), huge], false),
            format!(
                "cannot merge `r1.json`: its segment's `to` is `{0}/{0}`, not a fraction between 0 and 1",
                u128::MAX
            )
        );
        let mut unreadable = b.clone();
        unreadable.thresholds[0].threshold = "<<< 4ms".into();
        let t = &unreadable.thresholds[0];
        let want = format!(
            "cannot merge `r1.json`: its threshold `{} <<< 4ms` (scope `{}`) cannot be read (the report is damaged)",
            t.metric, t.scope
        );
        assert_eq!(err(&[a.clone(), unreadable], false), want);
        let mut huge = b.clone();
        huge.requests.total = u64::MAX - 600;
        assert_eq!(
            err(&[a.clone(), huge], false),
            format!(
                "cannot merge `r1.json`: its `requests.total` is {}, more than any run counts (the report is damaged)",
                u64::MAX - 600
            )
        );
        let mut damaged = b;
        damaged.histogram.data = "AAAA".into();
        assert_eq!(
            err(&[a, damaged], false),
            "cannot merge `r1.json`: its histogram `histogram` is not an HDR histogram (the report is damaged)"
        );
    }
}
