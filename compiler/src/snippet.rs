//! The source text a diagnostic shows, cut to a window when a line is too long.
//!
//! Sits between a [`CompileError`](crate::CompileError) and miette's report handler:
//! the error hands its [`Src`] to miette as the source code, and miette reads the lines
//! around each label through [`SourceCode::read_span`]. Lines of ordinary length are
//! read exactly as miette reads any string. A line longer than [`LONG_LINE`] bytes
//! (HAR recordings put a whole response body on one line; a URL flag can be any
//! length) is shown as a window of about [`WIDTH`] bytes around the label instead,
//! without the neighbouring lines: miette cannot underline past column 65,535, and a
//! 130 KB line is no help to read anyway. The window keeps the source's own offsets,
//! line and column, so the report still names `file:line:column` of the label.

use std::ops::Range;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use crate::located::Src;

/// Longest line shown whole, in bytes.
pub(crate) const LONG_LINE: usize = 400;
/// How much of a long line is shown, in bytes.
pub(crate) const WIDTH: usize = 120;
/// How much of a long line is shown before the label, in bytes, when the line goes on
/// long enough after it.
const BEFORE: usize = 40;

fn is_newline(b: &u8) -> bool {
    matches!(b, b'\n' | b'\r')
}

/// Where the line holding byte `at` starts.
fn line_start(text: &[u8], at: usize) -> usize {
    text[..at].iter().rposition(is_newline).map_or(0, |i| i + 1)
}

/// Where the line holding byte `at` ends (its newline, or the end of the text).
fn line_end(text: &[u8], at: usize) -> usize {
    text[at..]
        .iter()
        .position(is_newline)
        .map_or(text.len(), |i| at + i)
}

/// The 0-based line of byte `at`, counted as miette counts lines (`\n`, `\r\n` or a
/// lone `\r` ends one), so the window's line numbers match the header's.
fn line_index(text: &[u8], at: usize) -> usize {
    let before = &text[..at];
    before.iter().filter(|b| is_newline(b)).count()
        - before.windows(2).filter(|w| w == b"\r\n").count()
}

/// The label's bytes, within the text.
fn bounds(text: &str, span: SourceSpan) -> Range<usize> {
    let start = span.offset().min(text.len());
    let end = span
        .offset()
        .saturating_add(span.len())
        .clamp(start, text.len());
    start..end
}

/// The part of `text` to show for `span` when a line it touches is longer than
/// [`LONG_LINE`]: at most [`WIDTH`] bytes of its first line, from a little before the
/// span. `None` when every line it touches is short enough to show whole.
pub(crate) fn window(text: &str, span: SourceSpan) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let Range { start, end } = bounds(text, span);
    let first = line_start(bytes, start);
    let last = line_end(bytes, end);
    if !bytes[first..last]
        .split(is_newline)
        .any(|line| line.len() > LONG_LINE)
    {
        return None;
    }
    let first_end = line_end(bytes, start);
    // Fill the window with what comes before when the line ends soon after the span.
    let mut from = start
        .saturating_sub(BEFORE)
        .min(first_end.saturating_sub(WIDTH))
        .max(first);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (from + WIDTH).min(first_end);
    while !text.is_char_boundary(to) {
        to += 1;
    }
    Some(from..to)
}

/// `span` cut to the part [`window`] shows, so the underline ends where the shown text
/// does.
pub(crate) fn clip(text: &str, span: SourceSpan) -> SourceSpan {
    match window(text, span) {
        Some(shown) => {
            let Range { start, end } = bounds(text, span);
            SourceSpan::new(start.into(), end.min(shown.end).max(start) - start)
        }
        None => span,
    }
}

impl SourceCode for Src {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let bytes = self.text.as_bytes();
        let plain = bytes.read_span(span, context_lines_before, context_lines_after)?;
        let (data, shown, line, column, line_count) =
            if plain.data().split(is_newline).all(|l| l.len() <= LONG_LINE) {
                (
                    plain.data(),
                    *plain.span(),
                    plain.line(),
                    plain.column(),
                    plain.line_count(),
                )
            } else {
                // A long line: the window of it, or, when only a neighbouring line is
                // long, the span's own lines without their neighbours.
                let range = window(&self.text, *span).unwrap_or_else(|| {
                    let Range { start, end } = bounds(&self.text, *span);
                    line_start(bytes, start)..line_end(bytes, end)
                });
                let data = &bytes[range.clone()];
                let lines = data.split(is_newline).count();
                (
                    data,
                    SourceSpan::new(range.start.into(), range.len()),
                    line_index(bytes, range.start),
                    range.start - line_start(bytes, range.start),
                    lines,
                )
            };
        // The place a diagnostic names (its span alone, no context) is the file's
        // as written, when secrets are hidden in this text.
        let (line, column) = match self.written_at {
            Some((at, line, column))
                if context_lines_before == 0 && context_lines_after == 0 && span.offset() == at =>
            {
                (line, column)
            }
            _ => (line, column),
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            data,
            shown,
            line,
            column,
            line_count,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(r: Range<usize>) -> SourceSpan {
        SourceSpan::new(r.start.into(), r.len())
    }

    #[test]
    fn short_lines_are_shown_whole() {
        let text = "[target]\nurl = \"http://h/${NOPE}\"\n";
        assert_eq!(window(text, span(22..29)), None);
        assert_eq!(clip(text, span(22..29)), span(22..29));
    }

    #[test]
    fn a_long_line_is_a_window_around_the_span() {
        let text = format!(
            "a = 1\nurl = \"{}${{NOPE}}{}\"\nb = 2\n",
            "x".repeat(70_000),
            "y".repeat(500)
        );
        let at = text.find("${NOPE}").unwrap();
        let shown = window(&text, span(at..at + 7)).unwrap();
        assert_eq!(shown, at - BEFORE..at - BEFORE + WIDTH);
        // Near the line's end the window fills up with what comes before.
        let end = text.find("\"\nb").unwrap();
        assert_eq!(
            window(&text, span(end..end + 1)).unwrap(),
            end + 1 - WIDTH..end + 1
        );
    }

    #[test]
    fn a_long_span_is_clipped_to_the_window() {
        let text = "x".repeat(100_000);
        let clipped = clip(&text, span(50_000..90_000));
        assert_eq!(clipped, span(50_000..50_000 - BEFORE + WIDTH));
    }

    #[test]
    fn windows_end_on_character_boundaries() {
        let text = "é".repeat(1_000);
        for at in [0, 1, 2, 3, 1_001, 1_998] {
            let shown = window(&text, span(at..at + 1)).unwrap();
            assert!(text.is_char_boundary(shown.start) && text.is_char_boundary(shown.end));
            assert!(
                shown.start <= at && at < shown.end.max(at + 1),
                "{at}: {shown:?}"
            );
        }
    }

    #[test]
    fn the_window_keeps_the_real_line_and_column() {
        let text = format!("one\r\ntwo\n{}", "z".repeat(1_000));
        let src = Src::new("f", text.as_str());
        let at = 9 + 700;
        let contents = src.read_span(&span(at..at + 3), 2, 2).unwrap();
        assert_eq!(contents.line(), 2);
        assert_eq!(contents.column(), 700 - BEFORE);
        assert_eq!(contents.span().offset(), at - BEFORE);
        assert_eq!(contents.data().len(), WIDTH);
        assert_eq!(contents.name(), Some("f"));
    }

    #[test]
    fn a_long_neighbour_is_left_out() {
        let text = format!("{}\nshort = 1\n", "z".repeat(1_000));
        let src = Src::new("f", text.as_str());
        let contents = src.read_span(&span(1_001..1_006), 2, 2).unwrap();
        assert_eq!(contents.data(), b"short = 1");
        assert_eq!((contents.line(), contents.column()), (1, 0));
    }
}
