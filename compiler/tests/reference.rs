//! The compiled checks against a reference evaluator.
//!
//! The reference walks the parsed tree the plainest way (text as strings, regexes
//! compiled on the spot, headers searched one by one). The property: for generated
//! checks and responses, a check that went the whole way (printed, parsed from a
//! scenario file, lowered, compiled to finders and regexes) gives the same answer.

use std::collections::BTreeMap;
use std::time::Duration;

use kaioken_compiler::{ConfigFile, Input, compile, lower};
use kaioken_grammar::{Check, CmpOp, Comparison, Predicate, Span, Subject, Value};
use kaioken_vm::ResponseView;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Response {
    status: u16,
    duration: Duration,
    body: String,
    headers: BTreeMap<String, String>,
}

impl ResponseView for Response {
    fn status(&self) -> u16 {
        self.status
    }
    fn duration(&self) -> Duration {
        self.duration
    }
    fn body(&self) -> &[u8] {
        self.body.as_bytes()
    }
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        let name = std::str::from_utf8(name).ok()?;
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

/// The reference: the meaning of a check, written as directly as possible.
fn reference(check: &Check, r: &Response) -> bool {
    match check {
        Check::Or(items) => items.iter().any(|c| reference(c, r)),
        Check::And(items) => items.iter().all(|c| reference(c, r)),
        Check::Not(inner) => !reference(inner, r),
        Check::Compare(cmp) => {
            let text: Option<String> = match &cmp.subject {
                Subject::Body => Some(r.body.clone()),
                Subject::Header(name) => r
                    .headers
                    .iter()
                    .find(|(k, _)| k.to_lowercase() == name.to_lowercase())
                    .map(|(_, v)| v.clone()),
                _ => None,
            };
            match (&cmp.subject, &cmp.predicate) {
                (Subject::Status, Predicate::Compare(op, Value::Number(n))) => {
                    op.test(f64::from(r.status), *n)
                }
                (Subject::Status, Predicate::In(values)) => {
                    values.contains(&Value::Number(f64::from(r.status)))
                }
                (Subject::Duration, Predicate::Compare(op, Value::Time(d))) => {
                    op.test(r.duration, *d)
                }
                (_, Predicate::Contains(needle)) => {
                    text.is_some_and(|t| t.contains(needle.as_str()))
                }
                (_, Predicate::Matches(re)) => {
                    text.is_some_and(|t| regex::Regex::new(re).unwrap().is_match(&t))
                }
                (_, Predicate::Compare(CmpOp::Eq, Value::Text(want))) => {
                    text.as_deref() == Some(want.as_str())
                }
                (_, Predicate::Compare(CmpOp::Ne, Value::Text(want))) => {
                    text.as_deref() != Some(want.as_str())
                }
                other => panic!("the generator made an invalid pairing: {other:?}"),
            }
        }
    }
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

/// Short texts over a small alphabet, so that `contains` and `==` sometimes hold.
fn text() -> impl Strategy<Value = String> {
    "[ab\"]{0,3}"
}

/// Regexes that are always valid: atoms, some starred, optionally anchored.
fn pattern() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        proptest::collection::vec(("[ab.]", any::<bool>()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(start, atoms, end)| {
            let mut p = String::new();
            if start {
                p.push('^');
            }
            for (atom, star) in atoms {
                p.push_str(&atom);
                if star {
                    p.push('*');
                }
            }
            if end {
                p.push('$');
            }
            p
        })
}

fn comparison() -> impl Strategy<Value = Check> {
    let status = prop_oneof![
        (op(), 198u16..203).prop_map(|(op, n)| (
            Subject::Status,
            Predicate::Compare(op, Value::Number(f64::from(n)))
        )),
        proptest::collection::vec(198u16..203, 1..3).prop_map(|ns| (
            Subject::Status,
            Predicate::In(
                ns.into_iter()
                    .map(|n| Value::Number(f64::from(n)))
                    .collect()
            )
        )),
    ];
    let duration = (op(), 8u64..12).prop_map(|(op, ms)| {
        (
            Subject::Duration,
            Predicate::Compare(op, Value::Time(Duration::from_millis(ms))),
        )
    });
    let textual = (
        prop_oneof![
            Just(Subject::Body),
            prop_oneof![Just("x-a"), Just("X-B")].prop_map(|h| Subject::Header(h.to_owned()))
        ],
        prop_oneof![
            text().prop_map(Predicate::Contains),
            pattern().prop_map(Predicate::Matches),
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
    comparison().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Check::Or),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Check::And),
            inner.prop_map(|c| Check::Not(Box::new(c))),
        ]
    })
}

fn response() -> impl Strategy<Value = Response> {
    (
        198u16..203,
        8u64..12,
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(|(status, ms, body, a, b)| {
            let mut headers = BTreeMap::new();
            if let Some(a) = a {
                headers.insert("X-A".to_owned(), a);
            }
            if let Some(b) = b {
                headers.insert("x-b".to_owned(), b);
            }
            Response {
                status,
                duration: Duration::from_millis(ms),
                body,
                headers,
            }
        })
}

/// Compile `check` the way a user's scenario is compiled: printed into a file,
/// parsed, lowered, compiled.
fn compiled(check: &Check) -> kaioken_vm::CheckExpr {
    // TOML literal strings hold any text but `'` and newlines; checks print neither.
    let text = format!("[target]\nurl = \"http://127.0.0.1:9/\"\n[[checks]]\nexpr = '{check}'\n");
    let input = Input {
        config: Some(ConfigFile {
            name: "generated.toml".into(),
            text,
        }),
        ..Input::default()
    };
    let program = compile(&lower(&input).unwrap_or_else(|e| panic!("{check}: {e}")));
    program.checks[0].expr.clone()
}

proptest! {
    #[test]
    fn compiled_checks_agree_with_the_reference(c in check(), responses in proptest::collection::vec(response(), 1..6)) {
        let expr = compiled(&c);
        for r in &responses {
            prop_assert_eq!(expr.eval(r), reference(&c, r), "check {} on {:?}", c, r);
        }
    }
}
