//! Where a value came from, so that any error about it can point at it.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use kaioken_grammar::Span;
use miette::SourceSpan;

use crate::IrLoc;

/// A source text: a scenario file, or the value of one command-line flag. Every
/// place in it holds one (a recording's are hundreds of thousands): a clone is one
/// reference count, shared by all.
#[derive(Debug, Clone)]
pub(crate) struct Src(Arc<SrcText>);

/// What a [`Src`] shares.
#[derive(Debug)]
pub(crate) struct SrcText {
    pub name: Arc<str>,
    pub text: Arc<str>,
    /// Built on the first [`Src::line_col`]: a 10,000-entry recording asks for tens
    /// of thousands of places, and counting from the start of the text each time
    /// made lowering quadratic in its size.
    index: OnceLock<LineIndex>,
    /// For a text with secrets hidden: where a diagnostic's place (at this offset
    /// of the hidden text) is in the file as written, 0-based line and column,
    /// which a diagnostic names rather than its place in the hidden text (a
    /// hidden value is not as long as the value).
    pub written_at: Option<(usize, usize, usize)>,
}

impl std::ops::Deref for Src {
    type Target = SrcText;

    fn deref(&self) -> &SrcText {
        &self.0
    }
}

/// Where lines start, and how many characters come before each block of bytes, so
/// a place is found in O(log lines + BLOCK) whatever the text's shape (a minified
/// HAR is one line of megabytes).
#[derive(Debug)]
struct LineIndex {
    line_starts: Vec<usize>,
    /// `chars_before[i]`: characters in `text[..i * BLOCK]`.
    chars_before: Vec<usize>,
}

const BLOCK: usize = 1024;

/// Whether `b` starts a character (is not a UTF-8 continuation byte).
fn starts_char(b: &u8) -> bool {
    b & 0xC0 != 0x80
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let line_starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1))
            .collect();
        let mut chars_before = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut total = 0;
        for block in bytes.chunks(BLOCK) {
            chars_before.push(total);
            // `is_ascii` reads a word at a time; most blocks are ASCII.
            total += if block.is_ascii() {
                block.len()
            } else {
                block.iter().filter(|b| starts_char(b)).count()
            };
        }
        chars_before.push(total);
        LineIndex {
            line_starts,
            chars_before,
        }
    }

    /// Characters in `text[..offset]`.
    fn chars(&self, bytes: &[u8], offset: usize) -> usize {
        let block = offset / BLOCK;
        let before = self.chars_before[block];
        // A whole block of ASCII (most of a recording) has a character per byte:
        // nothing to count.
        if self
            .chars_before
            .get(block + 1)
            .is_some_and(|&after| after - before == BLOCK)
        {
            return before + (offset - block * BLOCK);
        }
        before
            + bytes[block * BLOCK..offset]
                .iter()
                .filter(|b| starts_char(b))
                .count()
    }
}

impl Src {
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Src {
        Src(Arc::new(SrcText {
            name: name.into(),
            text: text.into(),
            index: OnceLock::new(),
            written_at: None,
        }))
    }

    /// `text` (this source with secrets hidden), named `name`, whose `offset` is at
    /// `line` and `column` (0-based) of the file as written ([`SrcText::written_at`]).
    pub fn hidden(
        name: impl Into<Arc<str>>,
        text: impl Into<Arc<str>>,
        offset: usize,
        (line, column): (usize, usize),
    ) -> Src {
        Src(Arc::new(SrcText {
            name: name.into(),
            text: text.into(),
            index: OnceLock::new(),
            written_at: Some((offset, line, column)),
        }))
    }

    /// The span of the one character at 1-based `line` and `column` (a parser's
    /// column, in bytes), or the empty span at the end of the text: where a JSON or
    /// YAML parser stopped. A column inside a character is moved back to its start.
    pub fn char_at(&self, line: usize, column: usize) -> Range<usize> {
        let line_start: usize = self
            .text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let mut offset = (line_start + column.saturating_sub(1)).min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let end = self.text[offset..]
            .chars()
            .next()
            .map_or(offset, |c| offset + c.len_utf8());
        offset..end
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let index = self.index.get_or_init(|| LineIndex::new(&self.text));
        let line = index.line_starts.partition_point(|&start| start <= offset);
        let start = index.line_starts[line - 1];
        let bytes = self.text.as_bytes();
        let column = index.chars(bytes, offset) - index.chars(bytes, start);
        (line as u32, column as u32 + 1)
    }
}

/// At most `max` characters, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// The place of one value inside a [`Src`].
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    pub src: Src,
    /// The whole value as written, quotes included for a TOML string.
    pub span: Range<usize>,
    /// Where the string's contents start, when they map byte for byte onto the source
    /// (no escapes, single line). Then a grammar span inside the value can be
    /// underlined exactly; otherwise the whole value is.
    pub contents_at: Option<usize>,
    /// Whether this is a file (shown in dumps) rather than a flag.
    pub is_file: bool,
}

impl Loc {
    /// A whole flag value: the source is the value itself, named by the flag and (the
    /// start of) the value.
    pub fn flag(flag: &str, value: &str) -> Loc {
        Loc {
            src: Src::new(format!("{flag} {:?}", shorten(value, 60)), value),
            span: 0..value.len(),
            contents_at: Some(0),
            is_file: false,
        }
    }

    /// A TOML value at `span`; `value` is its parsed string, if it is one.
    pub fn toml(src: &Src, span: Range<usize>, value: Option<&str>) -> Loc {
        let raw = src.text.get(span.clone()).unwrap_or_default();
        let contents_at = value.and_then(|value| {
            let simple = |q: &str| {
                raw.len() >= 2 * q.len()
                    && raw.starts_with(q)
                    && !raw.starts_with(&q.repeat(3))
                    && raw.ends_with(q)
                    && &raw[q.len()..raw.len() - q.len()] == value
            };
            (simple("\"") || simple("'")).then_some(span.start + 1)
        });
        Loc {
            src: src.clone(),
            span,
            contents_at,
            is_file: true,
        }
    }

    /// The source span for the part `inner` of the value, or the whole value (inside
    /// its quotes, when they can be told apart).
    pub fn source_span(&self, inner: Option<Span>) -> SourceSpan {
        match (inner, self.contents_at) {
            (Some(inner), Some(at)) => SourceSpan::new((at + inner.start).into(), inner.len()),
            (None, Some(at)) => {
                let quote = at - self.span.start;
                SourceSpan::new(at.into(), self.span.len().saturating_sub(2 * quote))
            }
            _ => SourceSpan::new(self.span.start.into(), self.span.len()),
        }
    }

    /// Line and column for dumps, for file values only.
    pub fn ir_loc(&self) -> Option<IrLoc> {
        self.is_file.then(|| {
            let (line, column) = self.src.line_col(self.span.start);
            IrLoc {
                file: Arc::clone(&self.src.name),
                line,
                column,
            }
        })
    }
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting from the start, as the index must agree with.
    fn naive(text: &str, offset: usize) -> (u32, u32) {
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line as u32, column as u32)
    }

    #[test]
    fn line_col_agrees_with_counting_at_every_char() {
        let long_line = "é€x".repeat(900);
        let texts = [
            String::new(),
            "a".to_owned(),
            "\n\n".to_owned(),
            "one\ntwo\r\nthree é\n€uro\n".to_owned(),
            format!("{long_line}\n{long_line}\nend"),
            format!("[\"{}\"]", "ü".repeat(3000)),
        ];
        for text in texts {
            let src = Src::new("t", text.as_str());
            for offset in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                assert_eq!(src.line_col(offset), naive(&text, offset), "{offset}");
            }
            assert_eq!(src.line_col(text.len() + 5), naive(&text, text.len()));
        }
    }
}
