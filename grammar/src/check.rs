//! Check expressions: `status in [200, 201] && !(body contains "error")`.

use std::fmt;
use std::time::Duration;

use pest::Parser;
use pest::iterators::Pair;

use crate::parser::{KaiokenParser, Rule};
use crate::{GrammarError, GrammarErrorKind, MAX_DURATION, Span};

/// A parsed check: a boolean expression over a response.
///
/// # Example
///
/// ```
/// use kaioken_grammar::parse_check;
///
/// let check = parse_check(r#"status in [200, 201] && header("content-type") contains "json""#)?;
/// assert_eq!(check.to_string(), r#"status in [200, 201] && header("content-type") contains "json""#);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Any of the operands holds (`||`).
    Or(Vec<Check>),
    /// All of the operands hold (`&&`).
    And(Vec<Check>),
    /// The operand does not hold (`!`).
    Not(Box<Check>),
    /// A test of one part of the response.
    Compare(Comparison),
    /// `script:name`: the `[scripts]` function `name` decides (a whole check, never
    /// part of an expression).
    Script(String),
}

/// `subject predicate`, e.g. `status == 200`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// What part of the response is tested.
    pub subject: Subject,
    /// The test.
    pub predicate: Predicate,
    /// Where the comparison is, in the parsed string.
    pub span: Span,
}

/// The part of a response a comparison reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The status code (a number).
    Status,
    /// A gRPC call's status code (a number, or written by name: `OK`, `NOT_FOUND`).
    GrpcStatus,
    /// The body (text).
    Body,
    /// The request's duration (a time).
    Duration,
    /// A response header's value (text); the name is matched case-insensitively.
    Header(String),
}

/// The test applied to a subject.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `== != < <= > >=` a value.
    Compare(CmpOp, Value),
    /// `in [a, b, …]`.
    In(Vec<Value>),
    /// `contains "text"`.
    Contains(String),
    /// `matches "regex"`.
    Matches(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A literal in a check or threshold.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A plain number.
    Number(f64),
    /// A number with a time unit (`200ms`).
    Time(Duration),
    /// A number with `%` (kept as the fraction: `1%` is 0.01).
    Percent(f64),
    /// A quoted string.
    Text(String),
    /// A gRPC status written by name (`OK`): its code.
    Code(u8),
}

/// The names `field` may take, for did-you-mean suggestions.
pub const SUBJECTS: [&str; 5] = ["status", "grpc_status", "body", "duration", "header"];

/// gRPC's status codes by name, indexed by code (0 `OK` to 16 `UNAUTHENTICATED`).
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

impl CmpOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Apply the operator.
    pub fn test<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }

    pub(crate) fn from_text(text: &str) -> CmpOp {
        match text {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            _ => CmpOp::Ge,
        }
    }
}

/// Parse a check expression.
///
/// # Errors
///
/// Syntax errors, an unknown subject (with the expected ones), and predicates that do
/// not fit their subject (`status contains "x"`, `body < 3`, `duration == "fast"`).
pub fn parse_check(input: &str) -> Result<Check, GrammarError> {
    let mut pairs =
        KaiokenParser::parse(Rule::check, input).map_err(|e| syntax_error(input, &e))?;
    let check = pairs
        .next()
        .and_then(|p| p.into_inner().next())
        .ok_or_else(|| GrammarError {
            span: Span::new(0, input.len()),
            kind: GrammarErrorKind::BadCheck {
                expected: "an expression".into(),
            },
        })?;
    build(check)
}

/// Turn a pest error into a span and a list of what was expected there.
#[cold]
pub(crate) fn syntax_error(input: &str, e: &pest::error::Error<Rule>) -> GrammarError {
    let at = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let expected = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
            let mut names: Vec<&str> = positives.iter().map(rule_description).collect();
            names.sort_unstable();
            names.dedup();
            names.join(", ")
        }
        _ => "an expression".to_owned(),
    };
    let end = (at
        + input[at.min(input.len())..]
            .chars()
            .next()
            .map_or(0, char::len_utf8))
    .min(input.len());
    GrammarError {
        span: Span::new(at.min(input.len()), end),
        kind: GrammarErrorKind::BadCheck { expected },
    }
}

fn rule_description(rule: &Rule) -> &'static str {
    match rule {
        Rule::or_expr
        | Rule::and_expr
        | Rule::unary
        | Rule::comparison
        | Rule::subject
        | Rule::field => "`status`, `grpc_status`, `body`, `duration` or `header(\"…\")`",
        Rule::cmp_op | Rule::compare => "an operator (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
        Rule::in_list => "`in [...]`",
        Rule::contains => "`contains`",
        Rule::matches => "`matches`",
        Rule::string | Rule::string_body => "a quoted string",
        Rule::quantity | Rule::number => "a number",
        Rule::EOI => "the end of the expression (or `&&`, `||`)",
        _ => "an expression",
    }
}

fn build(pair: Pair<'_, Rule>) -> Result<Check, GrammarError> {
    match pair.as_rule() {
        Rule::script_ref => Ok(Check::Script(
            pair.into_inner()
                .next()
                .map_or(String::new(), |p| p.as_str().to_owned()),
        )),
        Rule::or_expr | Rule::and_expr => {
            let is_or = pair.as_rule() == Rule::or_expr;
            let mut items = pair
                .into_inner()
                .map(build)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if items.len() == 1 {
                items.remove(0)
            } else if is_or {
                Check::Or(items)
            } else {
                Check::And(items)
            })
        }
        Rule::unary => {
            let mut nots = 0;
            let mut inner = None;
            for p in pair.into_inner() {
                if p.as_rule() == Rule::not_op {
                    nots += 1;
                } else {
                    inner = Some(build(p)?);
                }
            }
            let mut check = inner.ok_or_else(|| internal(Span::default()))?;
            for _ in 0..nots {
                check = Check::Not(Box::new(check));
            }
            Ok(check)
        }
        Rule::comparison => comparison(pair).map(Check::Compare),
        _ => Err(internal(Span::from(pair.as_span()))),
    }
}

#[cold]
fn internal(span: Span) -> GrammarError {
    GrammarError {
        span,
        kind: GrammarErrorKind::BadCheck {
            expected: "an expression".into(),
        },
    }
}

fn comparison(pair: Pair<'_, Rule>) -> Result<Comparison, GrammarError> {
    let span = Span::from(pair.as_span());
    let mut inner = pair.into_inner();
    let subject_pair = inner.next().ok_or_else(|| internal(span))?;
    let subject_span = Span::from(subject_pair.as_span());
    let subject_inner = subject_pair
        .into_inner()
        .next()
        .ok_or_else(|| internal(span))?;
    let subject = match subject_inner.as_rule() {
        Rule::header_call => {
            let name = subject_inner
                .into_inner()
                .next()
                .map(string)
                .unwrap_or_default();
            Subject::Header(name)
        }
        _ => match subject_inner.as_str() {
            "status" => Subject::Status,
            "grpc_status" => Subject::GrpcStatus,
            "body" => Subject::Body,
            "duration" => Subject::Duration,
            other => {
                return Err(GrammarError {
                    span: subject_span,
                    kind: GrammarErrorKind::UnknownSubject {
                        found: other.to_owned(),
                    },
                });
            }
        },
    };
    let predicate_pair = inner.next().ok_or_else(|| internal(span))?;
    let predicate_span = Span::from(predicate_pair.as_span());
    let predicate = match predicate_pair.as_rule() {
        Rule::in_list => Predicate::In(
            predicate_pair
                .into_inner()
                .map(value)
                .collect::<Result<_, _>>()?,
        ),
        Rule::contains => Predicate::Contains(
            predicate_pair
                .into_inner()
                .next()
                .map(string)
                .unwrap_or_default(),
        ),
        Rule::matches => Predicate::Matches(
            predicate_pair
                .into_inner()
                .next()
                .map(string)
                .unwrap_or_default(),
        ),
        _ => {
            let mut parts = predicate_pair.into_inner();
            let op = CmpOp::from_text(parts.next().map_or("==", |p| p.as_str()));
            let v = parts.next().map(value).ok_or_else(|| internal(span))??;
            Predicate::Compare(op, v)
        }
    };
    if let Some(problem) = mismatch(&subject, &predicate) {
        return Err(GrammarError {
            span: predicate_span,
            kind: GrammarErrorKind::CheckType { problem },
        });
    }
    Ok(Comparison {
        subject,
        predicate,
        span,
    })
}

/// Why `predicate` cannot apply to `subject`, if it cannot.
fn mismatch(subject: &Subject, predicate: &Predicate) -> Option<String> {
    let values: &[Value] = match predicate {
        Predicate::Compare(_, v) => std::slice::from_ref(v),
        Predicate::In(vs) => vs,
        Predicate::Contains(_) | Predicate::Matches(_) => &[],
    };
    let text_op = matches!(predicate, Predicate::Contains(_) | Predicate::Matches(_));
    match subject {
        Subject::Status => {
            if text_op {
                return Some("`status` is a number; compare it with `==`, `<`, `in [..]`…".into());
            }
            values
                .iter()
                .any(|v| !matches!(v, Value::Number(n) if n.fract() == 0.0))
                .then(|| "`status` is compared with whole numbers, e.g. `status == 200`".into())
        }
        Subject::GrpcStatus => {
            if text_op {
                return Some(
                    "`grpc_status` is a code; compare it with `==`, `!=` or `in [..]`".into(),
                );
            }
            values
                .iter()
                .any(|v| match v {
                    Value::Code(_) => false,
                    Value::Number(n) => n.fract() != 0.0 || !(0.0..=16.0).contains(n),
                    _ => true,
                })
                .then(|| {
                    "`grpc_status` is compared with a status name or code from 0 to 16, e.g. `grpc_status == OK`"
                        .into()
                })
        }
        Subject::Duration => {
            if text_op {
                return Some(
                    "`duration` is a time; compare it with `<`, `<=`…, e.g. `duration < 200ms`"
                        .into(),
                );
            }
            if matches!(predicate, Predicate::In(_)) {
                return Some(
                    "`duration` is not a list's item; for a range write `duration >= 200ms && duration < 1s`"
                        .into(),
                );
            }
            values
                .iter()
                .any(|v| !matches!(v, Value::Time(_)))
                .then(|| {
                    "`duration` is compared with times that have a unit, e.g. `200ms` or `1s`"
                        .into()
                })
        }
        Subject::Body | Subject::Header(_) => {
            let name = if matches!(subject, Subject::Body) {
                "`body`"
            } else {
                "a header"
            };
            match predicate {
                Predicate::Contains(_) | Predicate::Matches(_) => None,
                Predicate::Compare(CmpOp::Eq | CmpOp::Ne, Value::Text(_)) => None,
                _ => Some(format!(
                    "{name} is text; use `contains`, `matches`, `==` or `!=` with a quoted string"
                )),
            }
        }
    }
}

/// The unescaped contents of a `string` pair.
fn string(pair: Pair<'_, Rule>) -> String {
    let body = pair.into_inner().next().map_or("", |p| p.as_str());
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(c @ ('"' | '\\')) => out.push(c),
                // Any other escape is kept as written, so a regex's `\d` or `\s`
                // reaches the regex engine intact.
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn value(pair: Pair<'_, Rule>) -> Result<Value, GrammarError> {
    let span = Span::from(pair.as_span());
    if pair.as_rule() == Rule::string {
        return Ok(Value::Text(string(pair)));
    }
    if pair.as_rule() == Rule::code_name {
        // Only `grpc_status` admits names (`mismatch` says so for the others).
        return match GRPC_CODES.iter().position(|c| *c == pair.as_str()) {
            Some(code) => Ok(Value::Code(code as u8)),
            None => Err(GrammarError {
                span,
                kind: GrammarErrorKind::BadCheck {
                    expected: format!(
                        "a gRPC status name ({}) or number, not `{}`",
                        GRPC_CODES.join(", "),
                        pair.as_str()
                    ),
                },
            }),
        };
    }
    let mut sign = 1.0;
    let mut number = 0.0;
    let mut unit = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::sign => sign = -1.0,
            Rule::number => number = p.as_str().parse::<f64>().map_err(|_| internal(span))?,
            Rule::qty_unit => unit = Some(p.as_str()),
            _ => {}
        }
    }
    let n = sign * number;
    Ok(match unit {
        None => Value::Number(n),
        Some("%") => Value::Percent(n / 100.0),
        Some(u) => {
            if n < 0.0 {
                return Err(GrammarError {
                    span,
                    kind: GrammarErrorKind::BadCheck {
                        expected: "a time of zero or more".into(),
                    },
                });
            }
            let scale = match u {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 1e-3,
                _ => 1e-6,
            };
            match Duration::try_from_secs_f64(n * scale) {
                Ok(d) if d <= MAX_DURATION => Value::Time(d),
                _ => {
                    return Err(GrammarError {
                        span,
                        kind: GrammarErrorKind::DurationTooLong,
                    });
                }
            }
        }
    })
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            // In the largest unit that writes it whole: `1s`, not `1000ms`.
            Value::Time(d) => {
                let us = d.as_micros();
                let (n, unit) = [
                    (3_600_000_000, "h"),
                    (60_000_000, "m"),
                    (1_000_000, "s"),
                    (1000, "ms"),
                ]
                .into_iter()
                .find(|(scale, _)| us > 0 && us % scale == 0)
                .map_or((us, if us == 0 { "ms" } else { "us" }), |(scale, unit)| {
                    (us / scale, unit)
                });
                write!(f, "{n}{unit}")
            }
            Value::Percent(p) => write!(f, "{}%", p * 100.0),
            Value::Text(s) => write_string(f, s),
            Value::Code(c) => match GRPC_CODES.get(usize::from(*c)) {
                Some(name) => f.write_str(name),
                None => write!(f, "{c}"),
            },
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Status => f.write_str("status"),
            Subject::GrpcStatus => f.write_str("grpc_status"),
            Subject::Body => f.write_str("body"),
            Subject::Duration => f.write_str("duration"),
            Subject::Header(name) => {
                f.write_str("header(")?;
                write_string(f, name)?;
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Compare(op, v) => write!(f, "{} {v}", op.as_str()),
            Predicate::In(vs) => {
                f.write_str("in [")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Predicate::Contains(s) => {
                f.write_str("contains ")?;
                write_string(f, s)
            }
            Predicate::Matches(s) => {
                f.write_str("matches ")?;
                write_string(f, s)
            }
        }
    }
}

/// Canonical text: operands of `&&` inside `||` are not bracketed, anything else
/// nested is, and `!` always brackets its operand, so printing and parsing again
/// gives the same tree (a property test checks this).
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(
            f: &mut fmt::Formatter<'_>,
            items: &[Check],
            op: &str,
            parent_is_or: bool,
        ) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                let bracket = match item {
                    Check::Or(_) => true,
                    Check::And(_) => !parent_is_or,
                    _ => false,
                };
                if bracket {
                    write!(f, "({item})")?
                } else {
                    write!(f, "{item}")?
                }
            }
            Ok(())
        }
        match self {
            Check::Or(items) => join(f, items, "||", true),
            Check::And(items) => join(f, items, "&&", false),
            Check::Not(inner) => match **inner {
                Check::Not(_) => write!(f, "!{inner}"),
                _ => write!(f, "!({inner})"),
            },
            Check::Compare(c) => write!(f, "{} {}", c.subject, c.predicate),
            Check::Script(name) => write!(f, "script:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The tree without spans, for comparing a parsed tree with a generated one.
    fn strip(c: &Check) -> Check {
        match c {
            Check::Or(items) => Check::Or(items.iter().map(strip).collect()),
            Check::And(items) => Check::And(items.iter().map(strip).collect()),
            Check::Not(inner) => Check::Not(Box::new(strip(inner))),
            Check::Compare(cmp) => Check::Compare(Comparison {
                span: Span::default(),
                ..cmp.clone()
            }),
            Check::Script(name) => Check::Script(name.clone()),
        }
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex(r#"[a-z0-9 "\\/{}.*^$-]{0,12}"#).unwrap()
    }

    fn op() -> impl Strategy<Value = CmpOp> {
        prop_oneof![
            Just(CmpOp::Eq),
            Just(CmpOp::Ne),
            Just(CmpOp::Lt),
            Just(CmpOp::Le),
            Just(CmpOp::Gt),
            Just(CmpOp::Ge)
        ]
    }

    fn comparison() -> impl Strategy<Value = Check> {
        let status = prop_oneof![
            (op(), 100u16..600).prop_map(|(op, n)| (
                Subject::Status,
                Predicate::Compare(op, Value::Number(f64::from(n)))
            )),
            proptest::collection::vec(100u16..600, 1..4).prop_map(|ns| {
                (
                    Subject::Status,
                    Predicate::In(
                        ns.into_iter()
                            .map(|n| Value::Number(f64::from(n)))
                            .collect(),
                    ),
                )
            }),
        ];
        let duration = (op(), 0u64..5_000_000).prop_map(|(op, us)| {
            (
                Subject::Duration,
                Predicate::Compare(op, Value::Time(Duration::from_micros(us))),
            )
        });
        let textual = (
            prop_oneof![
                Just(Subject::Body),
                "[a-z-]{1,12}".prop_map(Subject::Header)
            ],
            prop_oneof![
                text().prop_map(Predicate::Contains),
                text().prop_map(Predicate::Matches),
                text().prop_map(|t| Predicate::Compare(CmpOp::Eq, Value::Text(t))),
                text().prop_map(|t| Predicate::Compare(CmpOp::Ne, Value::Text(t))),
            ],
        );
        prop_oneof![status, duration, textual].prop_map(|(subject, predicate)| {
            Check::Compare(Comparison {
                subject,
                predicate,
                span: Span::default(),
            })
        })
    }

    fn check() -> impl Strategy<Value = Check> {
        comparison().prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Check::Or),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Check::And),
                inner.prop_map(|c| Check::Not(Box::new(c))),
            ]
        })
    }

    proptest! {
        /// Printing a tree and parsing the text gives the same tree back.
    #[test]
        fn print_then_parse_is_identity(c in check()) {
            let text = c.to_string();
            let parsed = parse_check(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(strip(&parsed), c, "text: {}", text);
        }
    }

    fn round_trip(text: &str) {
        let check = parse_check(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(check.to_string(), text);
    }

    #[test]
    fn canonical_forms_round_trip() {
        round_trip("status == 200");
        round_trip("status in [200, 201, 204]");
        round_trip("status >= 200 && status < 300");
        round_trip(r#"body contains "ok" || status == 204"#);
        round_trip(r#"!(body contains "error") && header("content-type") contains "json""#);
        round_trip("!!(status == 1)");
        round_trip(r#"body matches "^\\{.*\\}$""#);
        round_trip("duration < 200ms");
        round_trip(r#"(status == 200 || status == 201) && body != "" "#.trim_end());
    }

    #[test]
    fn regex_escapes_reach_the_regex() {
        let c = parse_check(r#"body matches "\"id\":\s*\d+" && body == "a\\b\n""#).unwrap();
        let Check::And(items) = c else {
            panic!("{c:?}")
        };
        let Check::Compare(m) = &items[0] else {
            panic!()
        };
        assert_eq!(m.predicate, Predicate::Matches(r#""id":\s*\d+"#.into()));
        let Check::Compare(eq) = &items[1] else {
            panic!()
        };
        assert_eq!(
            eq.predicate,
            Predicate::Compare(CmpOp::Eq, Value::Text("a\\b\n".into()))
        );
    }

    #[test]
    fn precedence() {
        let c = parse_check("status == 1 || status == 2 && status == 3").unwrap();
        assert!(
            matches!(&c, Check::Or(items) if items.len() == 2 && matches!(items[1], Check::And(_)))
        );
        let c = parse_check("!status == 1").unwrap();
        assert!(matches!(c, Check::Not(_)));
    }

    #[test]
    fn spans_and_values() {
        let c = parse_check("  status in [200, 201]").unwrap();
        let Check::Compare(cmp) = c else { panic!() };
        assert_eq!(cmp.span, Span::new(2, 22));
        assert_eq!(
            cmp.predicate,
            Predicate::In(vec![Value::Number(200.0), Value::Number(201.0)])
        );
        let Check::Compare(cmp) = parse_check("duration <= 1.5s").unwrap() else {
            panic!()
        };
        assert_eq!(
            cmp.predicate,
            Predicate::Compare(CmpOp::Le, Value::Time(Duration::from_millis(1500)))
        );
    }

    #[test]
    fn errors_are_located() {
        let e = parse_check("latency < 200ms").unwrap_err();
        assert_eq!(
            e.kind,
            GrammarErrorKind::UnknownSubject {
                found: "latency".into()
            }
        );
        assert_eq!(e.span, Span::new(0, 7));
        let e = parse_check(r#"status contains "2""#).unwrap_err();
        assert!(matches!(e.kind, GrammarErrorKind::CheckType { .. }));
        assert_eq!(e.span, Span::new(7, 19));
        let e = parse_check("body < 3").unwrap_err();
        assert!(matches!(e.kind, GrammarErrorKind::CheckType { .. }));
        let e = parse_check("duration < 200").unwrap_err();
        assert!(matches!(e.kind, GrammarErrorKind::CheckType { .. }));
        // A time is not a list's item: a range is two comparisons.
        let e = parse_check("duration in [200ms, 1s]").unwrap_err();
        assert!(
            matches!(&e.kind, GrammarErrorKind::CheckType { problem } if problem.contains("duration >= 200ms && duration < 1s")),
            "{e:?}"
        );
        assert!(parse_check("duration >= 2m && duration < 1h").is_ok());
        let e = parse_check("status ==").unwrap_err();
        assert!(matches!(e.kind, GrammarErrorKind::BadCheck { .. }));
        assert_eq!(e.span.start, 9);
        let e = parse_check("status == 200 &&").unwrap_err();
        assert!(matches!(e.kind, GrammarErrorKind::BadCheck { .. }));
    }

    /// A time past `MAX_DURATION` (or past what a `Duration` holds at all) is an error
    /// at the value, not a panic converting it.
    #[test]
    fn times_are_at_most_the_maximum() {
        let c = parse_check("duration < 8640000s").unwrap();
        let Check::Compare(cmp) = c else { panic!() };
        assert_eq!(
            cmp.predicate,
            Predicate::Compare(CmpOp::Lt, Value::Time(MAX_DURATION))
        );
        let long = format!("duration < {}s", "9".repeat(400));
        for text in [
            "duration < 8640001s",
            "duration < 18446744073709551615s",
            "duration < 18446744073709551615000000us",
            long.as_str(),
        ] {
            let e = parse_check(text).unwrap_err();
            assert_eq!(e.kind, GrammarErrorKind::DurationTooLong, "{text}");
            assert_eq!(e.span, Span::new(11, text.len()), "{text}");
        }
    }

    #[test]
    fn cmp_op_tests() {
        assert!(CmpOp::Lt.test(1, 2));
        assert!(!CmpOp::Ge.test(1, 2));
        assert!(CmpOp::Ne.test("a", "b"));
    }
}

#[cfg(test)]
mod grpc_status_tests {
    use super::*;

    #[test]
    fn grpc_status_takes_names_and_codes() {
        let c = parse_check("grpc_status == OK || grpc_status in [NOT_FOUND, 14]").unwrap();
        assert_eq!(
            c.to_string(),
            "grpc_status == OK || grpc_status in [NOT_FOUND, 14]"
        );
        let Check::Or(items) = &c else {
            panic!("{c:?}")
        };
        let Check::Compare(cmp) = &items[0] else {
            panic!("{c:?}")
        };
        assert_eq!(cmp.subject, Subject::GrpcStatus);
        assert_eq!(cmp.predicate, Predicate::Compare(CmpOp::Eq, Value::Code(0)));
        let e = parse_check("grpc_status == NOPE").unwrap_err();
        assert!(e.to_string().contains("a gRPC status name"), "{e}");
        let e = parse_check("grpc_status == 17").unwrap_err();
        assert!(
            e.to_string().contains("a status name or code from 0 to 16"),
            "{e}"
        );
        // Names are for gRPC statuses only.
        assert!(parse_check("status == OK").is_err());
    }

    /// `script:name` is a whole check: it does not combine with others, and its
    /// name is an identifier.
    #[test]
    fn a_script_check_is_the_whole_expression() {
        assert_eq!(
            parse_check("script:valid_order").unwrap(),
            Check::Script("valid_order".into())
        );
        assert_eq!(Check::Script("x".into()).to_string(), "script:x");
        for bad in [
            "script:",
            "script:1x",
            "script:a && status == 200",
            "!script:a",
        ] {
            assert!(parse_check(bad).is_err(), "{bad}");
        }
    }
}
