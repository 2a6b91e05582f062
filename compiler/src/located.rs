//! Where a value came from, so that any error about it can point at it.

use std::ops::Range;
use std::sync::Arc;

use kaioken_grammar::Span;
use miette::SourceSpan;

use crate::IrLoc;

/// A source text: a scenario file, or the value of one command-line flag.
#[derive(Debug, Clone)]
pub(crate) struct Src {
    pub name: Arc<str>,
    pub text: Arc<str>,
}

impl Src {
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Src {
        Src {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line as u32, column as u32)
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
                file: self.src.name.to_string(),
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
