//! Extractor specs: where in a response a value is taken from.

use pest::Parser;

use crate::parser::{KaiokenParser, Rule};
use crate::{GrammarError, GrammarErrorKind, Span};

/// A parsed extractor spec. The JSONPath and regex texts are kept as written; the
/// compiler compiles them (once) and reports their own errors at this spec's span.
///
/// # Example
///
/// ```
/// use kaioken_grammar::{parse_extractor, Extractor};
///
/// assert_eq!(parse_extractor("json:$.items[0].id")?, Extractor::Json("$.items[0].id".into()));
/// assert_eq!(parse_extractor("body")?, Extractor::Body);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extractor {
    /// `json:<path>`: a JSONPath into a JSON body.
    Json(String),
    /// `regex:<re>`: in the body's first match, the first capture group that took
    /// part (the whole match when the pattern has no group).
    Regex(String),
    /// `header:<name>`: a response header's value.
    Header(String),
    /// `body`: the whole body.
    Body,
    /// `script:<name>`: what the `[scripts]` function returns.
    Script(String),
}

/// Parse an extractor spec.
///
/// # Errors
///
/// Anything that is not `json:…`, `regex:…`, `header:…` or `body`.
pub fn parse_extractor(input: &str) -> Result<Extractor, GrammarError> {
    let pairs = KaiokenParser::parse(Rule::extractor, input).map_err(|_| GrammarError {
        span: Span::new(0, input.len()),
        kind: GrammarErrorKind::BadExtractor,
    })?;
    for pair in pairs.flatten() {
        let spec = || {
            pair.clone()
                .into_inner()
                .next()
                .map_or(String::new(), |p| p.as_str().to_owned())
        };
        match pair.as_rule() {
            Rule::json_ex => return Ok(Extractor::Json(spec())),
            Rule::regex_ex => return Ok(Extractor::Regex(spec())),
            Rule::header_ex => return Ok(Extractor::Header(spec())),
            Rule::body_ex => return Ok(Extractor::Body),
            Rule::script_ex => return Ok(Extractor::Script(spec())),
            _ => {}
        }
    }
    Err(GrammarError {
        span: Span::new(0, input.len()),
        kind: GrammarErrorKind::BadExtractor,
    })
}

impl std::fmt::Display for Extractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Extractor::Json(p) => write!(f, "json:{p}"),
            Extractor::Regex(r) => write!(f, "regex:{r}"),
            Extractor::Header(h) => write!(f, "header:{h}"),
            Extractor::Body => f.write_str("body"),
            Extractor::Script(name) => write!(f, "script:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_extractors_name_a_function() {
        assert_eq!(
            parse_extractor("script:hmac_of_body").unwrap(),
            Extractor::Script("hmac_of_body".into())
        );
        assert!(parse_extractor("script:a b").is_err());
        assert_eq!(Extractor::Script("f".into()).to_string(), "script:f");
    }

    #[test]
    fn kinds() {
        assert_eq!(
            parse_extractor(r"regex:token=(\w+)").unwrap(),
            Extractor::Regex(r"token=(\w+)".into())
        );
        assert_eq!(
            parse_extractor("header:X-Request-Id").unwrap(),
            Extractor::Header("X-Request-Id".into())
        );
        for text in ["json:$.a.b[0]", "regex:id=(\\d+)", "header:etag", "body"] {
            assert_eq!(parse_extractor(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn errors() {
        for bad in ["", "json:", "xml:/a", "bodyx", "JSON:$.a"] {
            assert_eq!(
                parse_extractor(bad).unwrap_err().kind,
                GrammarErrorKind::BadExtractor,
                "{bad}"
            );
        }
    }
}
