//! The compiled program against a reference evaluator.
//!
//! The reference says what a scenario means the plainest way: checks walk the parsed
//! tree (text as strings, regexes compiled on the spot, headers searched one by one);
//! templates are rendered from the pieces they were generated from; extractors walk
//! the JSON value by hand. The properties: for generated checks, templates,
//! extractors and responses, what went the whole way (printed into a scenario file,
//! parsed, lowered, compiled, run by the VM) gives the same answer.

use std::collections::BTreeMap;
use std::time::Duration;

use kaioken_compiler::{ConfigFile, Input, compile, lower};
use kaioken_grammar::{Check, CmpOp, Comparison, Predicate, Span, Subject, Value};
use kaioken_vm::{Host, ResponseView, Yield};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Response {
    status: u16,
    duration: Duration,
    body: String,
    headers: BTreeMap<String, String>,
}

impl ResponseView for Response {
    fn completed(&self) -> bool {
        true
    }
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
        // The generated checks are expressions; scripts have tests of their own.
        Check::Script(name) => unreachable!("no script `{name}` is generated"),
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
    let program = compile(&lower(&input).unwrap_or_else(|e| panic!("{check}: {e}"))).unwrap();
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

/// One piece of a generated template, as written and as the reference renders it.
#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    Vu,
    Iteration,
    RequestId,
    Timestamp,
    /// `${v}`: the value step 1 extracted.
    Var,
    /// `${URLENCODE(v)}`: the same, percent-encoded.
    EncodedVar,
    Random(i64, i64),
    Uuid,
    /// `$${x}`: the escape for a literal `${x}`.
    Escaped,
}

impl Piece {
    fn source(&self) -> String {
        match self {
            Piece::Lit(s) => s.clone(),
            Piece::Vu => "${VU}".into(),
            Piece::Iteration => "${ITERATION}".into(),
            Piece::RequestId => "${REQUEST_ID}".into(),
            Piece::Timestamp => "${TIMESTAMP_MS}".into(),
            Piece::Var => "${v}".into(),
            Piece::EncodedVar => "${URLENCODE(v)}".into(),
            // The `~` keeps two numbers apart, so the matcher can split them.
            Piece::Random(lo, hi) => format!("${{RANDOM({lo},{hi})}}~"),
            Piece::Uuid => "${UUID}".into(),
            Piece::Escaped => "$${x}".into(),
        }
    }
}

fn piece(escapes: bool) -> impl Strategy<Value = Piece> {
    let random = (-20i64..20, 0i64..30).prop_map(|(lo, span)| Piece::Random(lo, lo + span));
    prop_oneof![
        "[a-z0-9_-]{1,3}".prop_map(Piece::Lit),
        Just(Piece::Vu),
        Just(Piece::Iteration),
        Just(Piece::RequestId),
        Just(Piece::Timestamp),
        Just(Piece::Var),
        Just(Piece::EncodedVar),
        random,
        Just(Piece::Uuid),
        Just(if escapes { Piece::Escaped } else { Piece::Vu }),
    ]
}

fn template(escapes: bool) -> impl Strategy<Value = Vec<Piece>> {
    proptest::collection::vec(piece(escapes), 0..6)
}

/// Where step 1's `v` comes from, with the reference's reading of it.
#[derive(Debug, Clone)]
enum Source {
    /// A JSONPath of object keys and array indexes.
    Json(Vec<Result<&'static str, usize>>),
    Regex(&'static str),
    Header,
    Body,
}

impl Source {
    fn spec(&self) -> String {
        match self {
            Source::Json(segments) => {
                let mut p = "json:$".to_owned();
                for s in segments {
                    match s {
                        Ok(key) => p += &format!(".{key}"),
                        Err(i) => p += &format!("[{i}]"),
                    }
                }
                p
            }
            Source::Regex(re) => format!("regex:{re}"),
            Source::Header => "header:X-A".into(),
            Source::Body => "body".into(),
        }
    }

    /// The reference: what `v` is for `r`; empty when nothing matched.
    fn extract(&self, r: &Response) -> String {
        match self {
            Source::Body => r.body.clone(),
            Source::Header => r
                .headers
                .iter()
                .find(|(k, _)| k.to_lowercase() == "x-a")
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            Source::Regex(re) => regex::Regex::new(re)
                .expect("generated regexes are valid")
                .captures(&r.body)
                .and_then(|c| {
                    // The whole match without groups; else the first group that
                    // took part, and nothing when none did.
                    if c.len() == 1 {
                        c.get(0)
                    } else {
                        c.iter().skip(1).flatten().next()
                    }
                })
                .map_or_else(String::new, |m| m.as_str().to_owned()),
            Source::Json(segments) => {
                let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&r.body) else {
                    return String::new();
                };
                for s in segments {
                    let next = match (s, &v) {
                        (Ok(key), serde_json::Value::Object(m)) => m.get(*key).cloned(),
                        (Err(i), serde_json::Value::Array(a)) => a.get(*i).cloned(),
                        _ => None,
                    };
                    let Some(next) = next else {
                        return String::new();
                    };
                    v = next;
                }
                match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }
            }
        }
    }
}

fn source() -> impl Strategy<Value = Source> {
    let segment = prop_oneof![
        prop_oneof![Just("a"), Just("b")].prop_map(Ok),
        (0usize..2).prop_map(Err),
    ];
    prop_oneof![
        proptest::collection::vec(segment, 1..4).prop_map(Source::Json),
        prop_oneof![
            Just("a(b*)"),
            Just("\\d+"),
            Just("\"a\":\\s*(\\w+)"),
            // Groups that may take no part: the first that does, or nothing.
            Just("a(z)?"),
            Just("(z)|a(b*)"),
        ]
        .prop_map(Source::Regex),
        Just(Source::Header),
        Just(Source::Body),
    ]
}

/// Small JSON documents over the keys the paths use, or text that is not JSON.
fn json_body() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        // Quotes, backslashes and non-ASCII, which JSON escapes.
        "[xyb\"\\\\é\n]{0,3}".prop_map(serde_json::Value::from),
        (0i64..1000).prop_map(serde_json::Value::from),
        prop_oneof![Just(1.5e300), Just(-0.0), Just(0.1), Just(-2.5e-7)]
            .prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
    ];
    let value = leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(prop_oneof![Just("a"), Just("b")], inner, 0..3)
                .prop_map(|m| {
                    serde_json::Value::Object(
                        m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    )
                }),
        ]
    });
    prop_oneof![
        2 => value.clone().prop_map(|v| v.to_string()),
        // Whitespace between the tokens, as many servers write it.
        1 => value.prop_map(|v| serde_json::to_string_pretty(&v).unwrap()),
        1 => "[ab0-9]{0,4}",
    ]
}

/// `value` with `leaf` set at `path`, making the objects and arrays on the way.
fn plant(
    value: serde_json::Value,
    path: &[Result<&'static str, usize>],
    leaf: serde_json::Value,
) -> serde_json::Value {
    let Some((first, rest)) = path.split_first() else {
        return leaf;
    };
    match first {
        Ok(key) => {
            let mut m = match value {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            let inner = m.remove(*key).unwrap_or(serde_json::Value::Null);
            m.insert((*key).to_owned(), plant(inner, rest, leaf));
            serde_json::Value::Object(m)
        }
        Err(i) => {
            let mut a = match value {
                serde_json::Value::Array(a) => a,
                _ => Vec::new(),
            };
            a.resize(a.len().max(i + 1), serde_json::Value::Null);
            a[*i] = plant(a[*i].take(), rest, leaf);
            serde_json::Value::Array(a)
        }
    }
}

/// Responses for extracting from `from`: for a JSONPath, mostly bodies that hold a
/// value at that path, so extraction succeeds as often as it fails.
fn extraction_response(from: Source) -> impl Strategy<Value = Response> {
    let planted =
        (json_body(), "[xyb\"\\\\é]{0,3}", any::<bool>()).prop_map(move |(body, text, string)| {
            let Source::Json(path) = &from else {
                return body;
            };
            let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
            let leaf = if string {
                serde_json::Value::from(text)
            } else {
                serde_json::Value::from(text.len())
            };
            plant(value, path, leaf).to_string()
        });
    (
        prop_oneof![1 => json_body(), 2 => planted],
        proptest::option::of("[a-z0-9]{0,4}"),
    )
        .prop_map(|(body, a)| Response {
            status: 200,
            duration: Duration::from_millis(1),
            body,
            headers: a.map(|a| ("X-A".to_owned(), a)).into_iter().collect(),
        })
}

fn extraction() -> impl Strategy<Value = (Source, Vec<Response>)> {
    source().prop_flat_map(|from| {
        (
            Just(from.clone()),
            proptest::collection::vec(extraction_response(from), 1..4),
        )
    })
}

struct FixedClock(u64);

impl Host for FixedClock {
    fn unix_ms(&mut self) -> u64 {
        self.0
    }
    fn checked(&mut self, _: kaioken_vm::CheckId, _: bool) {}
    fn extracted(&mut self, _: kaioken_vm::ExtractorId, _: bool) {}
}

/// The reference rendering of `pieces` as an anchored regex (random parts can only
/// be checked for shape and range), and the ranges of its numeric captures in order.
fn expected(
    pieces: &[Piece],
    in_url: bool,
    vu: u32,
    iteration: u64,
    request: u64,
    now: u64,
    v: &str,
) -> (regex::Regex, Vec<(i64, i64)>) {
    let mut re = String::from("^");
    let mut ranges = Vec::new();
    for p in pieces {
        match p {
            Piece::Lit(s) => re += &regex::escape(s),
            Piece::Vu => re += &vu.to_string(),
            Piece::Iteration => re += &iteration.to_string(),
            Piece::RequestId => re += &format!("{vu}-{request}"),
            Piece::Timestamp => re += &now.to_string(),
            Piece::Var if in_url => re += &regex::escape(&target_encoded(v)),
            Piece::Var => re += &regex::escape(v),
            Piece::EncodedVar => re += &regex::escape(&url_encoded(v)),
            Piece::Random(lo, hi) => {
                re += "(-?[0-9]+)~";
                ranges.push((*lo, *hi));
            }
            Piece::Uuid => {
                re += "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";
            }
            Piece::Escaped => re += &regex::escape("${x}"),
        }
    }
    re.push('$');
    (
        regex::Regex::new(&re).expect("the reference builds valid regexes"),
        ranges,
    )
}

/// RFC 3986 percent-encoding, byte by byte: unreserved characters stay.
fn url_encoded(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A value as a request target carries it: printable ASCII stays, except the
/// characters RFC 3986 allows nowhere in a URI and `#`; every other byte is `%XX`.
fn target_encoded(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if (b'!'..=b'~').contains(&b) && !b"\"#<>\\^`{|}".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn agrees(actual: &[u8], (re, ranges): (regex::Regex, Vec<(i64, i64)>)) -> Result<(), String> {
    let actual = std::str::from_utf8(actual).map_err(|e| e.to_string())?;
    let caps = re
        .captures(actual)
        .ok_or_else(|| format!("{actual:?} does not match the reference {re}"))?;
    for (i, (lo, hi)) in ranges.into_iter().enumerate() {
        let n: i64 = caps[i + 1]
            .parse()
            .map_err(|e| format!("{actual:?}: {e}"))?;
        if !(lo..=hi).contains(&n) {
            return Err(format!("{actual:?}: {n} is outside RANDOM({lo},{hi})"));
        }
    }
    Ok(())
}

fn source_text(pieces: &[Piece]) -> String {
    pieces.iter().map(Piece::source).collect()
}

proptest! {
    #[test]
    fn compiled_templates_and_extractors_agree_with_the_reference(
        path in template(false),
        header in template(true),
        body in template(true),
        (from, responses) in extraction(),
        vu in 1u32..50,
        now in 0u64..2_000_000_000_000,
    ) {
        let text = format!(
            "[target]\nurl = \"http://127.0.0.1:9/\"\n\
             [[scenarios]]\nname = \"s\"\n\
             [[scenarios.steps]]\nurl = \"/first\"\nextract = {{ v = '{}' }}\n\
             [[scenarios.steps]]\nurl = \"/p/{}\"\nheaders = {{ \"x-t\" = '{}' }}\nbody = '{}'\n",
            from.spec(),
            source_text(&path),
            source_text(&header),
            source_text(&body),
        );
        let input = Input {
            config: Some(ConfigFile { name: "generated.toml".into(), text: text.clone() }),
            ..Input::default()
        };
        let program = compile(&lower(&input).unwrap_or_else(|e| panic!("{text}\n{e}"))).unwrap();
        let mut state = program.create_vu_state(vu);
        let mut clock = FixedClock(now);
        for (iteration, r) in responses.iter().enumerate() {
            let iteration = iteration as u64;
            let Yield::Send(_) = program.resume(&mut state, &mut clock) else {
                panic!("expected step 1")
            };
            let v = from.extract(r);
            // The VM's own `extract` instruction judges the first step's response.
            let Yield::Send(second) = program.resume_with(&mut state, &mut clock, r) else {
                panic!("expected step 2")
            };
            let desc = program.step(second);
            // Step 2 is the iteration's second request.
            let request = 2 * iteration + 1;
            let path_bytes = program.bytes(&state, desc.path);
            let path_bytes = path_bytes.strip_prefix(b"/p/").expect("the path starts with /p/");
            let got = agrees(path_bytes, expected(&path, true, vu, iteration, request, now, &v));
            prop_assert!(got.is_ok(), "path: {:?}\n{}", got, text);
            let h = desc.headers.iter().find(|h| program.constant(h.name) == b"x-t").expect("x-t");
            let got = agrees(program.bytes(&state, h.value), expected(&header, false, vu, iteration, request, now, &v));
            prop_assert!(got.is_ok(), "header: {:?}\n{}", got, text);
            let b = desc.body.expect("a body");
            let got = agrees(program.bytes(&state, b), expected(&body, false, vu, iteration, request, now, &v));
            prop_assert!(got.is_ok(), "body: {:?}\n{}", got, text);
            prop_assert_eq!(program.resume_with(&mut state, &mut clock, r), Yield::IterationDone);
        }
    }
}
