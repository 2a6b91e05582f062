//! The plain model between a HAR file and its two outputs: the steps a recording
//! becomes, before they are written as a [`crate::draft::Draft`] or as TOML text.
//!
//! Request text is kept as [`Text`]: literal runs and `${var}` uses, so that
//! correlation can cut a recorded value out of a literal without ever mistaking
//! recorded `${` for a variable. Escaping for the template grammar happens once, in
//! [`Text::render`].

use std::ops::Range;
use std::time::Duration;

/// A piece of request text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// Recorded text, sent as is.
    Lit(String),
    /// A variable an earlier step extracts.
    Var(String),
    /// The same, percent-encoded: `${URLENCODE(var)}`, where the recording sent the
    /// value encoded (a form body, a query string).
    Encoded(String),
}

impl Seg {
    /// The variable a `${…}` uses, if this is one.
    pub fn var_mut(&mut self) -> Option<&mut String> {
        match self {
            Seg::Lit(_) => None,
            Seg::Var(name) | Seg::Encoded(name) => Some(name),
        }
    }
}

/// Request text: recorded literals and extracted variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text {
    pub segs: Vec<Seg>,
}

impl Text {
    /// Recorded text without variables.
    pub fn literal(text: impl Into<String>) -> Text {
        let text = text.into();
        Text {
            segs: if text.is_empty() {
                Vec::new()
            } else {
                vec![Seg::Lit(text)]
            },
        }
    }

    /// As a template: literals with every `${` escaped as `$${`, variables as `${name}`
    /// or `${URLENCODE(name)}`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for seg in &self.segs {
            match seg {
                Seg::Lit(text) if !text.contains("${") => out.push_str(text),
                Seg::Lit(text) => out.push_str(&literal(text)),
                Seg::Var(name) => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                }
                Seg::Encoded(name) => {
                    out.push_str("${URLENCODE(");
                    out.push_str(name);
                    out.push_str(")}");
                }
            }
        }
        out
    }

    /// [`Text::render`], keeping a lone literal's own string when it has nothing to
    /// escape (most recorded text).
    pub fn into_rendered(mut self) -> String {
        match self.segs.as_mut_slice() {
            [Seg::Lit(text)] if !text.contains("${") => std::mem::take(text),
            _ => self.render(),
        }
    }

    /// Whether `value` occurs in a literal as a whole token (see [`occurrences`]), at
    /// byte `min_start` of the text or later.
    pub fn has_token(&self, value: &str, min_start: usize) -> bool {
        let mut at = 0;
        for seg in &self.segs {
            if let Seg::Lit(text) = seg {
                let skip = min_start.saturating_sub(at);
                if occurrences(text, value).any(|r| r.start >= skip && !in_escape(text, r.start)) {
                    return true;
                }
                at += text.len();
            }
        }
        false
    }

    /// Replace each whole-token occurrence of `value` at byte `min_start` or later
    /// with `with` (a `${var}` or `${URLENCODE(var)}`); returns how many were replaced.
    ///
    /// An occurrence right after a literal `$` is left alone: `$${` is the grammar's
    /// escape for a literal `${`, so `$` followed by a variable cannot be written.
    /// Nor is one that starts inside a percent escape (`2Bx…` in `%2Bx…`).
    pub fn replace(&mut self, value: &str, with: &Seg, min_start: usize) -> usize {
        let mut out = Vec::with_capacity(self.segs.len());
        let mut count = 0;
        let mut at = 0;
        for seg in std::mem::take(&mut self.segs) {
            let Seg::Lit(text) = seg else {
                out.push(seg);
                continue;
            };
            let skip = min_start.saturating_sub(at);
            at += text.len();
            let mut last = 0;
            for r in occurrences(&text, value) {
                if r.start < skip
                    || r.start < last
                    || text[..r.start].ends_with('$')
                    || in_escape(&text, r.start)
                {
                    continue;
                }
                if r.start > last {
                    out.push(Seg::Lit(text[last..r.start].to_owned()));
                }
                out.push(with.clone());
                last = r.end;
                count += 1;
            }
            if last < text.len() {
                out.push(Seg::Lit(text[last..].to_owned()));
            }
        }
        self.segs = out;
        count
    }
}

/// Where `value` occurs in `text` as a whole token: not glued to a letter or digit on
/// a side where `value` itself starts or ends with one, so that `12345` is not found
/// inside `9123456`.
pub(crate) fn occurrences<'t>(
    text: &'t str,
    value: &'t str,
) -> impl Iterator<Item = Range<usize>> + 't {
    let first_alnum = value.chars().next().is_some_and(char::is_alphanumeric);
    let last_alnum = value.chars().next_back().is_some_and(char::is_alphanumeric);
    text.match_indices(value)
        .filter(move |_| !value.is_empty())
        .map(move |(i, _)| i..i + value.len())
        .filter(move |r| {
            let before = text[..r.start].chars().next_back();
            let after = text[r.end..].chars().next();
            let glued_before = first_alnum && before.is_some_and(char::is_alphanumeric);
            let glued_after = last_alnum && after.is_some_and(char::is_alphanumeric);
            !glued_before && !glued_after
        })
}

/// Whether byte `at` of `text` is inside a percent escape: right after its `%`, or
/// after its first hex digit. A value found there is not what the server decodes.
fn in_escape(text: &str, at: usize) -> bool {
    let before = &text.as_bytes()[..at];
    match before {
        [.., b'%'] => true,
        [.., b'%', h] => h.is_ascii_hexdigit(),
        _ => false,
    }
}

/// A recording made plain: what `kaioken import har` writes and `kaioken run x.har`
/// lowers.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    /// The file as the user named it.
    pub file: String,
    /// The scenario's name: the file's stem.
    pub name: String,
    /// The origin most steps use (`https://host[:port]`): `[target] url`, with those
    /// steps' URLs written relative to it.
    pub base: Option<String>,
    /// The recording sent or received cookies: replay with a per-VU jar instead.
    pub cookie_jar: bool,
    /// The steps, in the order the requests started.
    pub steps: Vec<RecordedStep>,
    /// How many entries the file had.
    pub entries: usize,
    /// What was left out or changed, one sentence each, for the comment header.
    pub notes: Vec<String>,
    /// The extractors generated, for the comment header: variable, spec, the step that
    /// extracts it and the steps that use it (0-based).
    pub correlations: Vec<Correlation>,
}

impl Recording {
    /// Whether a kept step was answered by a redirect. The recording then holds the
    /// request it led to as an entry of its own, so the replay must not follow it too.
    pub fn has_redirects(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.response.status, 301 | 302 | 303 | 307 | 308))
    }
}

/// A value one response produced and later requests send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Correlation {
    pub var: String,
    pub spec: String,
    pub from: usize,
    pub used_by: Vec<usize>,
    /// The steps of `used_by` that send it percent-encoded, `${URLENCODE(var)}`.
    pub encoded_by: Vec<usize>,
}

/// One request of the recording.
#[derive(Debug, Clone)]
pub(crate) struct RecordedStep {
    pub name: String,
    pub method: String,
    /// `scheme://authority`, never templated: a VU keeps its connection to it.
    pub origin: String,
    /// Path and query, starting with `/`.
    pub path: Text,
    /// Lowercase names, sorted, one entry per name (repeated headers joined by `, `).
    pub headers: Vec<(String, Text)>,
    pub body: Option<Text>,
    /// `extract = { var = "spec" }`, sorted by variable.
    pub extracts: Vec<(String, String)>,
    /// `status == N`, from the recorded response.
    pub checks: Vec<String>,
    /// The default expected statuses plus the recorded one, when that is outside them
    /// (a recorded 404 or 101 is what the replay should get, not a failure).
    pub expected_status: Option<String>,
    pub think_time: Option<Duration>,
    /// What the recording saw, for correlation and the comment.
    pub response: RecordedResponse,
    /// Byte ranges in the HAR file, for diagnostics and `--dump ir` positions.
    pub spans: StepSpans,
}

impl RecordedStep {
    /// The URL as written in the scenario (a template): relative to `base` when on
    /// that origin.
    pub fn url(&self, base: Option<&str>) -> String {
        if base == Some(self.origin.as_str()) {
            self.path.render()
        } else {
            format!("{}{}", literal(&self.origin), self.path.render())
        }
    }
}

/// `text` as a template that means exactly it: every `${` escaped as `$${` (a URL's
/// host may hold one).
pub(super) fn literal(text: &str) -> String {
    text.replace("${", "$${")
}

/// The recorded response of a step.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordedResponse {
    /// 0 when the request failed.
    pub status: u16,
    /// Names lowercase, in recorded order.
    pub headers: Vec<(String, String)>,
    /// The body as text, when the recording kept it and it is text.
    pub body: Option<String>,
    pub mime_type: String,
}

/// Where a step's parts are in the HAR file.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepSpans {
    pub entry: Range<usize>,
    pub url: Option<Range<usize>>,
    pub method: Option<Range<usize>>,
    pub body: Option<Range<usize>>,
    /// Per header name (lowercase), the first recorded header of that name.
    pub headers: Vec<(String, Range<usize>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_escapes_recorded_templates() {
        let t = Text::literal("price $5, ${not_a_var}, $${x}");
        assert_eq!(t.render(), "price $5, $${not_a_var}, $$${x}");
        assert_eq!(t.clone().into_rendered(), t.render());
        assert_eq!(Text::literal("/a?b=$1").into_rendered(), "/a?b=$1");
        let mut v = Text::literal("/a/tok12345678/${b}");
        v.replace("tok12345678", &Seg::Var("t".into()), 0);
        assert_eq!(v.clone().into_rendered(), "/a/${t}/$${b}");
        assert_eq!(Text::default().into_rendered(), "");
        let parsed = kaioken_grammar::parse_template(&t.render()).unwrap();
        let text: String = parsed
            .parts
            .iter()
            .map(|p| match p {
                kaioken_grammar::TemplatePart::Literal { text, .. } => text.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(text, "price $5, ${not_a_var}, $${x}");
    }

    #[test]
    fn replace_whole_tokens_only() {
        let mut t = Text::literal("/orders/12345?x=9123456&id=12345");
        assert_eq!(t.replace("12345", &Seg::Var("id".into()), 0), 2);
        assert_eq!(t.render(), "/orders/${id}?x=9123456&id=${id}");
    }

    #[test]
    fn replace_skips_after_dollar_and_before_min_start() {
        let mut t = Text::literal("$abcdefgh abcdefgh");
        assert_eq!(t.replace("abcdefgh", &Seg::Var("v".into()), 0), 1);
        assert_eq!(t.render(), "$abcdefgh ${v}");
        let mut t = Text::literal("/abc/abc");
        assert_eq!(t.replace("/abc", &Seg::Var("v".into()), 1), 1);
        assert_eq!(t.render(), "/abc${v}");
    }

    #[test]
    fn encoded_uses_render_as_urlencode() {
        let mut t = Text::literal("token=ab%2Bc%2Fd%3D%3D&raw=ab+c/d==");
        let encoded = Seg::Encoded("token".into());
        assert_eq!(t.replace("ab%2Bc%2Fd%3D%3D", &encoded, 0), 1);
        assert_eq!(t.replace("ab+c/d==", &Seg::Var("token".into()), 0), 1);
        assert_eq!(t.render(), "token=${URLENCODE(token)}&raw=${token}");
        let parsed = kaioken_grammar::parse_template(&t.render()).unwrap();
        assert!(
            parsed.parts.iter().any(|p| matches!(
                p,
                kaioken_grammar::TemplatePart::Var { name, of: Some(of), .. }
                    if name == "URLENCODE" && of == "token"
            )),
            "{parsed:?}"
        );
        // A value is not found where it starts inside a percent escape: `%2B1234abcd`
        // is `+1234abcd` to the server.
        let mut t = Text::literal("a=%2B1234abcd&b=2B1234abcd");
        assert!(t.has_token("2B1234abcd", 0));
        assert_eq!(t.replace("2B1234abcd", &Seg::Var("v".into()), 0), 1);
        assert_eq!(t.render(), "a=%2B1234abcd&b=${v}");
        assert!(!Text::literal("a=%2B1234abcd").has_token("2B1234abcd", 0));
    }

    #[test]
    fn percent_escapes() {
        assert!(in_escape("%2B", 1));
        assert!(in_escape("%2B", 2));
        assert!(!in_escape("%2B", 3));
        assert!(!in_escape("%zz", 2));
        assert!(!in_escape("a", 0));
    }
}
