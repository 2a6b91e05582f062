//! Extractors compiled for the response: a JSONPath parsed once, a regex compiled
//! once, a header name, or the whole body. Each writes its value into a VU slot that
//! later requests interpolate with `${name}`.
//!
//! JSONPaths made only of member names and indexes (`$.data.token`,
//! `$.items[0].id`), nearly all that request chaining uses, take a direct route: the
//! body is walked with serde_json without building a tree, skipping every member and
//! element off the path: at most serde_json's small scratch buffer per walk (to skip
//! nested containers, to unescape a string), where a tree costs an allocation per
//! string, array and object in the body. Measured against jsonpath-rust over a parsed `serde_json::Value` (release
//! build, a token two levels down, this machine): 1.1 µs vs 0.7 µs on a 125-byte body,
//! 7.5 µs vs 2.5 µs at 850 bytes, 71 µs vs 17 µs at 7.7 KB; the tree costs more than
//! the path. Other paths (`..`, wildcards, filters, slices, negative indexes) go to
//! jsonpath-rust. Both give the same value: strings without their quotes, anything
//! else as its JSON text in the body, without the whitespace between tokens
//! ([`push_json_text`]): `1.10` stays `1.10` and `12345678901234567890123` stays
//! whole, where a `serde_json::Value` would make them `1.1` and
//! `1.2345678901234568e22`. jsonpath-rust finds the value in a tree, so its text is
//! taken from the body by walking the normalized path of what it found (a path of
//! names and indexes) the direct way.
//!
//! A `regex:` pattern ([`Pattern`]) is searched with its capture slots on the stack,
//! so an extraction allocates nothing either.

use std::fmt;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternID, meta};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::{ResponseView, SlotId};

/// A named extractor, ready to run.
#[derive(Debug, Clone)]
pub struct CompiledExtractor {
    /// The variable it sets.
    pub var: String,
    /// The VU slot holding the variable.
    pub slot: SlotId,
    /// The spec as written (`json:$.token`), for reports.
    pub spec: String,
    /// How to extract.
    pub kind: ExtractKind,
}

/// Where the value comes from.
#[derive(Debug, Clone)]
pub enum ExtractKind {
    /// The first match of a JSONPath in a JSON body; strings without their quotes,
    /// anything else as its JSON text in the body.
    Json(Box<JpQuery>),
    /// A JSONPath of member names and indexes only, walked directly (see the module
    /// docs); the same value as [`ExtractKind::Json`] would give.
    JsonDirect(Box<[PathStep]>),
    /// The first group that took part in the first match in the body (the whole
    /// match when the pattern has no group; nothing when it has groups and none took
    /// part).
    Regex(Pattern),
    /// A response header's value (lowercase name).
    Header(Box<[u8]>),
    /// The whole body (up to the body limit).
    Body,
    /// `script:name`: the program's script runner finds the value (the interpreter
    /// calls it; [`CompiledExtractor::extract`] cannot, and finds nothing).
    Script(crate::ScriptId),
}

/// A `regex:` extractor's pattern, compiled as `regex::bytes::Regex::new` compiles
/// one (regex-automata's meta regex, which `regex` is built on, with its settings:
/// leftmost-first, matching bytes rather than only UTF-8, its size limits), and
/// searched with the slots of the whole match and the first group on the stack:
/// `regex`'s `captures` allocates a vector of slots per search, which would be an
/// allocation per request. The search's scratch space is the regex's own pool, made
/// once per thread.
#[derive(Debug, Clone)]
pub struct Pattern(meta::Regex);

impl Pattern {
    /// Compile `pattern`; the error is the message `regex` gives for it.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let config = meta::Config::new()
            .match_kind(MatchKind::LeftmostFirst)
            .utf8_empty(false)
            .nfa_size_limit(Some(10 << 20))
            .hybrid_cache_capacity(2 << 20);
        meta::Builder::new()
            .configure(config)
            .syntax(syntax::Config::new().utf8(false))
            .build(pattern)
            .map(Pattern)
            .map_err(|e| {
                e.syntax_error()
                    .map_or_else(|| e.to_string(), ToString::to_string)
            })
    }

    /// The value of the first match in `haystack`: the whole match when the pattern
    /// has no group, else the first group that took part in it. A pattern with groups
    /// none of which took part (`id=(\d+)|name=(\w+)` where only the second matched
    /// counts as taking part; `a(x)?bc` on `abc` has none) finds nothing: the whole
    /// match is not what such a pattern asks for.
    pub fn first_group<'h>(&self, haystack: &'h [u8]) -> Option<&'h [u8]> {
        let input = Input::new(haystack);
        let mut slots: [Option<NonMaxUsize>; 4] = [None; 4];
        self.0.search_slots(&input, &mut slots)?;
        let span = |s: &[Option<NonMaxUsize>]| Some(&haystack[s[0]?.get()..s[1]?.get()]);
        let groups = self.0.group_info().group_len(PatternID::ZERO);
        if groups == 1 {
            return span(&slots[..2]);
        }
        if let Some(first) = span(&slots[2..]) {
            return Some(first);
        }
        if groups == 2 {
            return None;
        }
        // The first group took no part but others may have: search again for every
        // group's slots. This second search is the rare case (an alternation of
        // groups); the slots fit on the stack up to 32 groups, beyond which they are
        // allocated for that search.
        let mut stack: [Option<NonMaxUsize>; 64] = [None; 64];
        let mut heap = Vec::new();
        let all = if groups * 2 <= stack.len() {
            &mut stack[..groups * 2]
        } else {
            heap.resize(groups * 2, None);
            &mut heap[..]
        };
        self.0.search_slots(&input, all)?;
        all[2..].chunks(2).find_map(span)
    }
}

/// One step of a direct JSONPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An object member: `.name` or `['name']`.
    Member(Box<str>),
    /// An array element: `[3]`.
    Index(usize),
}

impl ExtractKind {
    /// The extractor for a parsed JSONPath: the direct route when the path is only
    /// member names and non-negative indexes, jsonpath-rust otherwise.
    pub fn json(query: JpQuery) -> ExtractKind {
        let direct: Option<Box<[PathStep]>> = query
            .segments
            .iter()
            .map(|s| match s {
                Segment::Selector(Selector::Name(n)) => Some(PathStep::Member(n.as_str().into())),
                Segment::Selector(Selector::Index(i)) => {
                    usize::try_from(*i).ok().map(PathStep::Index)
                }
                _ => None,
            })
            .collect();
        match direct {
            Some(steps) => ExtractKind::JsonDirect(steps),
            None => ExtractKind::Json(Box::new(query)),
        }
    }
}

impl CompiledExtractor {
    /// What of the response it reads: the head for a header, the body otherwise.
    pub fn reads(&self) -> crate::Reads {
        match self.kind {
            ExtractKind::Header(_) => crate::Reads::HEAD,
            ExtractKind::Script(_) => crate::Reads {
                head: true,
                body: true,
            },
            _ => crate::Reads::BODY,
        }
    }

    /// Write the value into `out` (cleared first). `false` when nothing matched (the
    /// body is not JSON, the path or regex found nothing, the header is absent); `out`
    /// is then empty.
    pub fn extract(&self, r: &impl ResponseView, out: &mut Vec<u8>) -> bool {
        out.clear();
        match &self.kind {
            ExtractKind::Body => {
                out.extend_from_slice(r.body());
                true
            }
            ExtractKind::Script(_) => false,
            ExtractKind::Header(name) => match r.header(name) {
                Some(v) => {
                    out.extend_from_slice(v);
                    true
                }
                None => false,
            },
            ExtractKind::Regex(pattern) => match pattern.first_group(r.body()) {
                Some(value) => {
                    out.extend_from_slice(value);
                    true
                }
                None => false,
            },
            ExtractKind::JsonDirect(steps) => {
                let found = walk(r.body(), steps, out).is_some();
                if !found {
                    out.clear();
                }
                found
            }
            ExtractKind::Json(query) => {
                let Ok(value) = serde_json::from_slice::<serde_json::Value>(r.body()) else {
                    return false;
                };
                let Ok(found) = jsonpath_rust::query::js_path_process(query, &value) else {
                    return false;
                };
                let Some(found) = found.into_iter().next() else {
                    return false;
                };
                if let serde_json::Value::String(s) = found.val {
                    out.extend_from_slice(s.as_bytes());
                    return true;
                }
                // The value's text as the body has it: the tree holds numbers as
                // `f64`s. Its normalized path (`$['items'][1]`) is names and indexes,
                // the direct route's.
                let steps = jsonpath_rust::parser::parse_json_path(&found.path)
                    .ok()
                    .map(ExtractKind::json);
                match steps {
                    Some(ExtractKind::JsonDirect(steps))
                        if walk(r.body(), &steps, out).is_some() => {}
                    _ => {
                        out.clear();
                        out.extend_from_slice(found.val.to_string().as_bytes());
                    }
                }
                true
            }
        }
    }
}

/// The direct route: follow `steps` through `body` and write the value into `out`.
/// `None` when the body is not JSON or the path leads nowhere (`out` is then empty).
fn walk(body: &[u8], steps: &[PathStep], out: &mut Vec<u8>) -> Option<()> {
    let found = match steps.split_first() {
        None => serde_json::from_slice::<&RawValue>(body).ok()?,
        Some((first, rest)) => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let mut raw = Step(first).deserialize(&mut de).ok()??;
            de.end().ok()?;
            for step in rest {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                raw = Step(step).deserialize(&mut de).ok()??;
            }
            raw
        }
    };
    write_value(found.get(), out)
}

/// Write a JSON value as extractors give it: a string unescaped, anything else as
/// its text ([`push_json_text`]). `json` is one whole, valid JSON value.
fn write_value(json: &str, out: &mut Vec<u8>) -> Option<()> {
    let json = json.trim_ascii_start();
    if json.starts_with('"') {
        let mut de = serde_json::Deserializer::from_str(json);
        de.deserialize_str(Unescape(out)).ok()?;
        return de.end().ok();
    }
    push_json_text(out, json);
    Some(())
}

/// Append the text of a valid JSON value without the whitespace between its tokens:
/// numbers, strings (escapes and all) and the order of members as written.
/// Numbers are what this keeps that a `serde_json::Value` would not: an `f64`
/// rewrites `1.10` as `1.1`, `1e2` as `100.0`, and rounds an integer beyond 2^53
/// or a `u64`; an order id or a price must reach the next request as the server
/// wrote it. (serde_json's `arbitrary_precision` feature keeps numbers' text too,
/// but for the whole build: it changes how every `Value` number deserializes
/// through other formats, Lua's and gRPC's among them, and allocates a string per
/// number.) Allocates nothing beyond `out`'s growth.
///
/// # Example
///
/// ```
/// let mut out = Vec::new();
/// kaioken_vm::push_json_text(&mut out, r#"{ "price": 19.90, "id": 12345678901234567890123,
///     "name": "a b", "tags": [ 1e2 ] }"#);
/// assert_eq!(out, br#"{"price":19.90,"id":12345678901234567890123,"name":"a b","tags":[1e2]}"#);
/// ```
pub fn push_json_text(out: &mut Vec<u8>, json: &str) {
    let bytes = json.trim_ascii().as_bytes();
    let (mut in_string, mut escaped) = (false, false);
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.extend_from_slice(&bytes[run..i]);
            run = i + 1;
        }
    }
    out.extend_from_slice(&bytes[run..]);
}

/// Finds one step's value in an object or array, skipping everything else (but
/// reading it, so a body that is not JSON is still found out). The last of repeated
/// members wins, as it does in a parsed `serde_json::Value`.
struct Step<'p>(&'p PathStep);

impl<'de> DeserializeSeed<'de> for Step<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.0 {
            PathStep::Member(_) => d.deserialize_map(self),
            PathStep::Index(_) => d.deserialize_seq(self),
        }
    }
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or an array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let PathStep::Member(name) = self.0 else {
            return Err(de::Error::custom("an object where an array was expected"));
        };
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyIs(name))? {
            if matches {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let PathStep::Index(index) = *self.0 else {
            return Err(de::Error::custom("an array where an object was expected"));
        };
        for _ in 0..index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(None);
            }
        }
        let found = seq.next_element::<&'de RawValue>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(found)
    }
}

/// Whether an object's key is `.0`, compared as it is read (escaped keys included).
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// Appends a JSON string's unescaped text.
struct Unescape<'o>(&'o mut Vec<u8>);

impl Visitor<'_> for Unescape<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct Body(&'static [u8]);
    impl ResponseView for Body {
        fn completed(&self) -> bool {
            true
        }
        fn status(&self) -> u16 {
            200
        }
        fn duration(&self) -> Duration {
            Duration::ZERO
        }
        fn body(&self) -> &[u8] {
            self.0
        }
        fn header(&self, name: &[u8]) -> Option<&[u8]> {
            (name == b"etag").then_some(b"\"v1\"".as_slice())
        }
    }

    fn ex(kind: ExtractKind) -> CompiledExtractor {
        CompiledExtractor {
            var: "v".into(),
            slot: SlotId(0),
            spec: String::new(),
            kind,
        }
    }

    #[test]
    fn every_kind() {
        let json = Body(br#"{"token": "abc", "items": [{"id": 7}, {"id": 8}]}"#);
        let mut out = Vec::new();
        let q = |p: &str| ExtractKind::json(jsonpath_rust::parser::parse_json_path(p).unwrap());
        assert!(ex(q("$.token")).extract(&json, &mut out));
        assert_eq!(out, b"abc");
        assert!(ex(q("$.items[1].id")).extract(&json, &mut out));
        assert_eq!(out, b"8");
        assert!(!ex(q("$.missing")).extract(&json, &mut out));
        assert!(out.is_empty());
        assert!(!ex(q("$.token")).extract(&Body(b"not json"), &mut out));
        assert!(
            ex(ExtractKind::Regex(
                Pattern::new(r#""token": "(\w+)""#).unwrap()
            ))
            .extract(&json, &mut out)
        );
        assert_eq!(out, b"abc");
        assert!(ex(ExtractKind::Regex(Pattern::new(r"id\W+\d").unwrap())).extract(&json, &mut out));
        assert_eq!(out, b"id\": 7");
        assert!(!ex(ExtractKind::Regex(Pattern::new("nope").unwrap())).extract(&json, &mut out));
        // The first group that took part gives the value; when the pattern has groups
        // and none took part, nothing is found (not the whole match).
        let optional = Pattern::new(r"a(x)?bc").unwrap();
        assert_eq!(optional.first_group(b"abc"), None);
        assert_eq!(optional.first_group(b"axbc"), Some(&b"x"[..]));
        assert!(!ex(ExtractKind::Regex(optional)).extract(&Body(b"abc"), &mut out));
        assert!(out.is_empty());
        let either = Pattern::new(r"id=(\d+)|name=(\w+)").unwrap();
        assert_eq!(either.first_group(b"name=bob"), Some(&b"bob"[..]));
        assert_eq!(either.first_group(b"id=7"), Some(&b"7"[..]));
        let none = Pattern::new(r"(x)?(y)?z").unwrap();
        assert_eq!(none.first_group(b"z"), None);
        assert_eq!(none.first_group(b"yz"), Some(&b"y"[..]));
        // More groups than the stack's slots hold: the last one still counts.
        let many = format!("{}(b)", "(x)?".repeat(40));
        assert_eq!(
            Pattern::new(&many).unwrap().first_group(b"b"),
            Some(&b"b"[..])
        );
        // Bytes, not only UTF-8, as `regex::bytes` matches them.
        let bytes = Pattern::new(r"(?-u:a(\xff+))").unwrap();
        assert_eq!(bytes.first_group(b"\x00a\xff\xffb"), Some(&b"\xff\xff"[..]));
        let unclosed = String::from("(unclosed");
        assert_eq!(
            Pattern::new(&unclosed).unwrap_err(),
            regex::bytes::Regex::new(&unclosed).unwrap_err().to_string(),
            "the error is the message regex gives"
        );
        assert!(ex(ExtractKind::Header(b"etag".as_slice().into())).extract(&json, &mut out));
        assert_eq!(out, b"\"v1\"");
        assert!(!ex(ExtractKind::Header(b"x".as_slice().into())).extract(&json, &mut out));
        assert!(ex(ExtractKind::Body).extract(&Body(b"all of it"), &mut out));
        assert_eq!(out, b"all of it");
    }

    /// Numbers keep the text the body gives them, alone or inside an array or
    /// object, on both routes; only the whitespace between tokens goes.
    #[test]
    fn numbers_keep_their_text() {
        let body = Body(
            br#"{"a": 1e2, "o": { "x": 1.0, "y": 12345678901234567890123, "s": "a  b" },
                "p": 19.90, "l": [ -0.0, 1E+3 ]}"#,
        );
        for (path, want) in [
            ("$.a", "1e2"),
            ("$.p", "19.90"),
            ("$.o", r#"{"x":1.0,"y":12345678901234567890123,"s":"a  b"}"#),
            ("$.l", "[-0.0,1E+3]"),
            ("$.o.y", "12345678901234567890123"),
            ("$..y", "12345678901234567890123"),
            ("$.l[*]", "-0.0"),
            (
                "$..o",
                r#"{"x":1.0,"y":12345678901234567890123,"s":"a  b"}"#,
            ),
        ] {
            let query = jsonpath_rust::parser::parse_json_path(path).unwrap();
            let mut out = Vec::new();
            assert!(
                ex(ExtractKind::json(query)).extract(&body, &mut out),
                "{path}"
            );
            assert_eq!(String::from_utf8_lossy(&out), want, "{path}");
        }
    }

    /// The direct route gives what jsonpath-rust over a parsed tree gives, whatever
    /// the body: found or not, strings unescaped, everything else as its text.
    #[test]
    fn direct_paths_agree_with_jsonpath_rust() {
        let bodies: &[&[u8]] = &[
            br#"{"token": "abc", "items": [{"id": 7}, {"id": 8.50, "tags": ["x", "y"]}]}"#,
            br#"{"a": {"b": [1, {"c": "d\"e\u00e9"}]}, "a b": true, "n": null}"#,
            br#"{"a": 1, "a": 2, "k\u0065y": "escaped key"}"#,
            br#" [ {"a": [ ] }, 3 ] "#,
            br#"{"a": {"b": 1}} trailing"#,
            br#"{"a": [1, 2,"#,
            b"not json",
            b"",
            br#""just a string""#,
        ];
        let paths = [
            "$",
            "$.token",
            "$.items[1].id",
            "$.items[1]",
            "$.items[1].tags",
            "$.items[5]",
            "$.a.b[1].c",
            "$['a b']",
            "$.n",
            "$.a",
            "$.key",
            "$[0].a",
            "$[1]",
            "$[0]",
            "$.a.b[0]",
            "$.a.b.c",
            "$.token.x",
            "$[0].a[0]",
        ];
        for body in bodies {
            for path in paths {
                let query = jsonpath_rust::parser::parse_json_path(path).unwrap();
                let direct = ExtractKind::json(query.clone());
                assert!(
                    matches!(direct, ExtractKind::JsonDirect(_)),
                    "{path} takes the direct route"
                );
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let got = ex(direct).extract(&Body(body), &mut a);
                let want = ex(ExtractKind::Json(Box::new(query))).extract(&Body(body), &mut b);
                assert_eq!(
                    (got, String::from_utf8_lossy(&a)),
                    (want, String::from_utf8_lossy(&b)),
                    "{path} on {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        for general in ["$..id", "$.items[*].id", "$.items[-1]", "$.items[0:1]"] {
            let query = jsonpath_rust::parser::parse_json_path(general).unwrap();
            assert!(
                matches!(ExtractKind::json(query), ExtractKind::Json(_)),
                "{general} goes to jsonpath-rust"
            );
        }
    }
}
