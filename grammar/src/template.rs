use pest::Parser;

use crate::parser::{KaiokenParser, Rule};
use crate::{GrammarError, GrammarErrorKind, Span};

/// A parsed `${…}` template: literal text and variable references, in order.
///
/// # Example
///
/// ```
/// use kaioken_grammar::{parse_template, TemplatePart};
///
/// let t = parse_template("/items/${REQUEST_ID}?x=1")?;
/// assert_eq!(t.parts.len(), 3);
/// assert!(matches!(&t.parts[1], TemplatePart::Var { name, .. } if name == "REQUEST_ID"));
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    /// The parts in source order. Adjacent literals are merged.
    pub parts: Vec<TemplatePart>,
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Text copied as is (with `$${` already turned into `${`).
    Literal {
        /// The text.
        text: String,
        /// Where it came from.
        span: Span,
    },
    /// `${name}`, `${name(args)}` or `${name(of)}`.
    Var {
        /// The variable's name, without `${` and `}`.
        name: String,
        /// Arguments, for built-ins that take them (`${RANDOM(1,100)}`).
        args: Vec<i64>,
        /// The value a built-in applies to (`${URLENCODE(token)}`,
        /// `${URLENCODE(users.name)}`).
        of: Option<String>,
        /// The span of the whole `${name}`.
        span: Span,
    },
}

impl Template {
    /// Whether the template has no variables.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, TemplatePart::Literal { .. }))
    }
}

/// Parse a template string.
///
/// # Errors
///
/// An unterminated `${` or a variable name that is not an identifier.
pub fn parse_template(input: &str) -> Result<Template, GrammarError> {
    // Most texts of a scenario, and nearly all of a recording's, hold no `${` at all
    // (nor `$${`): they are one literal, as the grammar would say, without its cost.
    if !input.contains("${") {
        let parts = if input.is_empty() {
            Vec::new()
        } else {
            vec![TemplatePart::Literal {
                text: input.to_owned(),
                span: Span::new(0, input.len()),
            }]
        };
        return Ok(Template { parts });
    }
    parse_with_grammar(input)
}

fn parse_with_grammar(input: &str) -> Result<Template, GrammarError> {
    let pairs = KaiokenParser::parse(Rule::template, input).map_err(|_| locate_error(input))?;
    let mut parts: Vec<TemplatePart> = Vec::new();
    for pair in pairs.flatten() {
        let span = Span::from(pair.as_span());
        let text = match pair.as_rule() {
            Rule::literal => pair.as_str().to_owned(),
            Rule::escape => "${".to_owned(),
            Rule::var => {
                let mut inner = pair.into_inner();
                let name = inner
                    .next()
                    .map(|p| p.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let arg = inner.next();
                let of = arg
                    .as_ref()
                    .filter(|a| a.as_rule() == Rule::name_arg)
                    .and_then(|a| a.clone().into_inner().next())
                    .map(|i| i.as_str().to_owned());
                let args = arg
                    .filter(|a| a.as_rule() == Rule::args)
                    .map(|a| {
                        // Out-of-range integers saturate; the compiler checks ranges.
                        a.into_inner()
                            .map(|i| {
                                let t = i.as_str();
                                t.parse::<i64>().unwrap_or(if t.starts_with('-') {
                                    i64::MIN
                                } else {
                                    i64::MAX
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                parts.push(TemplatePart::Var {
                    name,
                    args,
                    of,
                    span,
                });
                continue;
            }
            _ => continue,
        };
        if let Some(TemplatePart::Literal {
            text: prev,
            span: prev_span,
        }) = parts.last_mut()
        {
            prev.push_str(&text);
            prev_span.end = span.end;
        } else {
            parts.push(TemplatePart::Literal { text, span });
        }
    }
    Ok(Template { parts })
}

/// pest reports a failure position; we turn it into the span of the offending `${…`.
#[cold]
fn locate_error(input: &str) -> GrammarError {
    let mut search = 0;
    while let Some(found) = input[search..].find("${") {
        let start = search + found;
        if start > 0 && input[..start].ends_with('$') && input[start - 1..].starts_with("$${") {
            search = start + 2;
            continue;
        }
        let rest = &input[start + 2..];
        match rest.find('}') {
            None => {
                return GrammarError {
                    span: Span::new(start, input.len()),
                    kind: GrammarErrorKind::UnterminatedVariable,
                };
            }
            Some(close) => {
                let name = &rest[..close];
                let valid = crate::is_identifier(name);
                if !valid {
                    return GrammarError {
                        span: Span::new(start, start + 2 + close + 1),
                        kind: GrammarErrorKind::BadVariableName,
                    };
                }
                search = start + 2 + close + 1;
            }
        }
    }
    GrammarError {
        span: Span::new(0, input.len()),
        kind: GrammarErrorKind::BadVariableName,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts without `${` skip the grammar; they must come out as it would say.
    #[test]
    fn texts_without_a_variable_parse_as_the_grammar_does() {
        for text in [
            "",
            "/",
            "/items/1?q=a b&x=$",
            "$",
            "$$",
            "{}",
            "$ {x}",
            "}{$",
            "naïve €uro \u{1F600}\n\t",
            "a$b{c}",
        ] {
            assert_eq!(parse_template(text), parse_with_grammar(text), "{text:?}");
        }
    }

    fn lit(text: &str, start: usize, end: usize) -> TemplatePart {
        TemplatePart::Literal {
            text: text.into(),
            span: Span::new(start, end),
        }
    }

    fn var(name: &str, start: usize, end: usize) -> TemplatePart {
        TemplatePart::Var {
            name: name.into(),
            args: vec![],
            of: None,
            span: Span::new(start, end),
        }
    }

    /// `URLENCODE`'s name may be qualified as a variable's may:
    /// `${URLENCODE(users.name)}`.
    #[test]
    fn qualified_name_args() {
        let t = parse_template("${URLENCODE(users.name)}${URLENCODE( t )}").unwrap();
        let ofs: Vec<Option<&str>> = t
            .parts
            .iter()
            .map(|p| match p {
                TemplatePart::Var { of, .. } => of.as_deref(),
                TemplatePart::Literal { .. } => None,
            })
            .collect();
        assert_eq!(ofs, [Some("users.name"), Some("t")]);
        for bad in [
            "${URLENCODE(a.b.c)}",
            "${URLENCODE(a.)}",
            "${URLENCODE(.a)}",
        ] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
    }

    /// A name may be qualified once, with `:` or `.`: `${script:sign}`,
    /// `${setup.token}`.
    #[test]
    fn qualified_names() {
        let t = parse_template("a${script:sign}b${setup.token}").unwrap();
        let names: Vec<&str> = t
            .parts
            .iter()
            .filter_map(|p| match p {
                TemplatePart::Var { name, .. } => Some(name.as_str()),
                TemplatePart::Literal { .. } => None,
            })
            .collect();
        assert_eq!(names, ["script:sign", "setup.token"]);
        for bad in ["${a:}", "${a.b.c}", "${:a}", "${a:b:c}"] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_only() {
        let t = parse_template("http://127.0.0.1:8080/").unwrap();
        assert_eq!(t.parts, vec![lit("http://127.0.0.1:8080/", 0, 22)]);
        assert!(t.is_literal());
    }

    #[test]
    fn empty_is_no_parts() {
        assert_eq!(parse_template("").unwrap().parts, vec![]);
    }

    #[test]
    fn vars_and_spans() {
        let t = parse_template("${BASE}/a/${REQUEST_ID}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                var("BASE", 0, 7),
                lit("/a/", 7, 10),
                var("REQUEST_ID", 10, 23)
            ]
        );
        assert!(!t.is_literal());
    }

    #[test]
    fn builtin_arguments() {
        let t = parse_template("/n/${RANDOM(1, -100)}").unwrap();
        assert_eq!(
            t.parts[1],
            TemplatePart::Var {
                name: "RANDOM".into(),
                args: vec![1, -100],
                of: None,
                span: Span::new(3, 21)
            }
        );
        assert!(parse_template("${RANDOM(1,)}").is_err());
        assert!(parse_template("${RANDOM(a b)}").is_err());
        let t = parse_template("?t=${URLENCODE( token )}").unwrap();
        assert_eq!(
            t.parts[1],
            TemplatePart::Var {
                name: "URLENCODE".into(),
                args: vec![],
                of: Some("token".into()),
                span: Span::new(3, 24)
            }
        );
        assert!(parse_template("${URLENCODE(1x)}").is_err());
    }

    #[test]
    fn escape_merges_into_literal() {
        let t = parse_template("a$${b}c").unwrap();
        assert_eq!(t.parts, vec![lit("a${b}c", 0, 7)]);
    }

    #[test]
    fn lone_dollar_is_literal() {
        let t = parse_template("cost: $5 {x}").unwrap();
        assert_eq!(t.parts, vec![lit("cost: $5 {x}", 0, 12)]);
    }

    #[test]
    fn unterminated() {
        let e = parse_template("/a/${REQUEST_ID").unwrap_err();
        assert_eq!(e.kind, GrammarErrorKind::UnterminatedVariable);
        assert_eq!(e.span, Span::new(3, 15));
    }

    #[test]
    fn bad_name() {
        let e = parse_template("/a/${1x}/b").unwrap_err();
        assert_eq!(e.kind, GrammarErrorKind::BadVariableName);
        assert_eq!(e.span, Span::new(3, 8));
        let e = parse_template("${}").unwrap_err();
        assert_eq!(e.kind, GrammarErrorKind::BadVariableName);
    }
}
