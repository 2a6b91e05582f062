//! The flags that make one kaioken one instance of a split run: which part of the
//! load it carries out (`--execution-segment`, `--segment-index/--segment-count`,
//! `JOB_COMPLETION_INDEX`) and when it starts (`--start-at`, `--start-after`).
//!
//! ```text
//!  RunArgs ─► segment() ─► RunPlan.segment (the runtime takes its part)
//!         └─► planned_start() ─► wait_until() just before the run; both in the report
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kaioken_runtime::Control;
use kaioken_vm::Segment;

use crate::args::RunArgs;
use crate::error::Error;

/// How far in the past a `--start-at` may be before it is told (a warning, or an
/// error with `--strict`): instances launched a moment late still start at once.
const PAST_TOLERANCE: Duration = Duration::from_secs(5);

/// The part of the load the flags give this instance; `None` for the whole run.
/// `job_index` is `JOB_COMPLETION_INDEX`, read when `--segment-count` comes
/// without `--segment-index`.
///
/// # Errors
///
/// Malformed or contradictory flags, named.
pub fn segment(args: &RunArgs, job_index: Option<&str>) -> Result<Option<Segment>, Error> {
    let setup = Error::Setup;
    match (
        &args.execution_segment,
        &args.execution_segment_sequence,
        args.segment_index,
        args.segment_count,
    ) {
        (None, None, None, None) => Ok(None),
        (Some(_), _, Some(_), _) | (Some(_), _, _, Some(_)) => Err(setup(
            "give either --execution-segment or --segment-index/--segment-count, not both".into(),
        )),
        (None, Some(_), _, _) => Err(setup(
            "--execution-segment-sequence needs --execution-segment (this instance's part of it)"
                .into(),
        )),
        (Some(segment), sequence, None, None) => Segment::parse(segment, sequence.as_deref())
            .map(Some)
            .map_err(setup),
        (None, None, Some(_), None) => Err(setup(
            "--segment-index needs --segment-count (how many parts there are)".into(),
        )),
        (None, None, index, Some(count)) => {
            let index = match (index, job_index) {
                (Some(i), _) => i,
                (None, Some(text)) => text.trim().parse().map_err(|_| {
                    setup(format!(
                        "JOB_COMPLETION_INDEX `{text}` is not a segment index (a whole number from 0)"
                    ))
                })?,
                (None, None) => {
                    return Err(setup(format!(
                        "--segment-count {count} needs --segment-index, or JOB_COMPLETION_INDEX in the environment"
                    )));
                }
            };
            Segment::equal(index, count).map(Some).map_err(setup)
        }
    }
}

/// The instant the load is to start, ms since the Unix epoch, from `--start-at` or
/// `--start-after` (counted from `now`); a warning for a `--start-at` more than a
/// few seconds past (an error with `--strict`).
///
/// # Errors
///
/// A time or duration that does not parse, or a past `--start-at` with `--strict`.
pub fn planned_start(
    args: &RunArgs,
    now: SystemTime,
) -> Result<(Option<u64>, Option<String>), Error> {
    let now_ms = unix_ms(now);
    if let Some(after) = &args.start_after {
        let delay = kaioken_grammar::parse_duration(after)
            .map_err(|e| Error::Setup(format!("--start-after `{after}`: {e}")))?;
        return Ok((Some(now_ms.saturating_add(delay.as_millis() as u64)), None));
    }
    let Some(at) = &args.start_at else {
        return Ok((None, None));
    };
    let time = chrono::DateTime::parse_from_rfc3339(at.trim()).map_err(|e| {
        Error::Setup(format!(
            "--start-at `{at}` is not an RFC 3339 time ({e}); write e.g. 2026-11-30T12:00:00Z"
        ))
    })?;
    let ms = u64::try_from(time.timestamp_millis())
        .map_err(|_| Error::Setup(format!("--start-at `{at}` is before 1970")))?;
    let late = Duration::from_millis(now_ms.saturating_sub(ms));
    if late <= PAST_TOLERANCE {
        return Ok((Some(ms), None));
    }
    let message = format!(
        "--start-at {at} is {} in the past",
        kaioken_grammar::format_duration(Duration::from_secs(late.as_secs()))
    );
    if args.strict {
        return Err(Error::Setup(format!(
            "{message} (--strict allows at most {})",
            kaioken_grammar::format_duration(PAST_TOLERANCE)
        )));
    }
    Ok((Some(ms), Some(format!("{message}; starting now"))))
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sleep until `at` (ms since the Unix epoch) on the wall clock, or until the run is
/// told to stop (Ctrl-C while waiting: the run then ends at once, with its report).
pub fn wait_until(at: u64, control: &Control) {
    loop {
        let now = unix_ms(SystemTime::now());
        if now >= at || control.is_stopping() {
            return;
        }
        std::thread::sleep(Duration::from_millis((at - now).min(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RunArgs {
        RunArgs::default()
    }

    fn error(r: Result<Option<Segment>, Error>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn segments_from_the_flags() {
        assert_eq!(segment(&args(), Some("3")).ok().flatten(), None);
        let a = RunArgs {
            segment_count: Some(4),
            ..args()
        };
        let s = segment(&a, Some("2")).ok().flatten().map(|s| s.to_string());
        assert_eq!(s.as_deref(), Some("1/2:3/4"));
        assert_eq!(
            error(segment(&a, None)),
            "--segment-count 4 needs --segment-index, or JOB_COMPLETION_INDEX in the environment"
        );
        assert_eq!(
            error(segment(&a, Some("x"))),
            "JOB_COMPLETION_INDEX `x` is not a segment index (a whole number from 0)"
        );
        let a = RunArgs {
            segment_count: Some(4),
            segment_index: Some(0),
            ..args()
        };
        let s = segment(&a, Some("2")).ok().flatten().map(|s| s.to_string());
        assert_eq!(s.as_deref(), Some("0:1/4"));
        let a = RunArgs {
            execution_segment_sequence: Some("0,1/2,1".into()),
            ..args()
        };
        assert_eq!(
            error(segment(&a, None)),
            "--execution-segment-sequence needs --execution-segment (this instance's part of it)"
        );
        let a = RunArgs {
            execution_segment: Some("0:1/2".into()),
            segment_count: Some(2),
            ..args()
        };
        assert_eq!(
            error(segment(&a, None)),
            "give either --execution-segment or --segment-index/--segment-count, not both"
        );
    }

    #[test]
    fn planned_starts() {
        let now = UNIX_EPOCH + Duration::from_secs(1_764_540_000);
        let a = RunArgs {
            start_after: Some("2s".into()),
            ..args()
        };
        assert_eq!(
            planned_start(&a, now).ok(),
            Some((Some(1_764_540_002_000), None))
        );
        let at = |t: &str, strict: bool| RunArgs {
            start_at: Some(t.into()),
            strict,
            ..args()
        };
        // 2025-11-30T22:00:00Z is 1_764_540_000 s.
        assert_eq!(
            planned_start(&at("2025-11-30T23:00:10+01:00", false), now).ok(),
            Some((Some(1_764_540_010_000), None))
        );
        assert_eq!(
            planned_start(&at("2025-11-30T21:59:57Z", true), now).ok(),
            Some((Some(1_764_539_997_000), None))
        );
        assert_eq!(
            planned_start(&at("2025-11-30T21:59:00Z", false), now).ok(),
            Some((
                Some(1_764_539_940_000),
                Some("--start-at 2025-11-30T21:59:00Z is 1m in the past; starting now".into())
            ))
        );
        assert_eq!(
            planned_start(&at("2025-11-30T21:59:00Z", true), now)
                .err()
                .map(|e| e.to_string()),
            Some(
                "--start-at 2025-11-30T21:59:00Z is 1m in the past (--strict allows at most 5s)"
                    .into()
            )
        );
        assert!(
            planned_start(&at("tomorrow", false), now)
                .err()
                .is_some_and(|e| e
                    .to_string()
                    .starts_with("--start-at `tomorrow` is not an RFC 3339 time ("))
        );
    }
}
