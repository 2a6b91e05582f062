//! Extractors compiled for the response: a JSONPath parsed once, a regex compiled
//! once, a header name, or the whole body. Each writes its value into a VU slot that
//! later requests interpolate with `${name}`.

use jsonpath_rust::parser::model::JpQuery;
use regex::bytes::Regex;

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
    /// anything else as JSON text.
    Json(Box<JpQuery>),
    /// The first capture group of the first match in the body (the whole match when
    /// the pattern has no group).
    Regex(Regex),
    /// A response header's value (lowercase name).
    Header(Box<[u8]>),
    /// The whole body (up to the body limit).
    Body,
}

impl CompiledExtractor {
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
            ExtractKind::Header(name) => match r.header(name) {
                Some(v) => {
                    out.extend_from_slice(v);
                    true
                }
                None => false,
            },
            ExtractKind::Regex(re) => match re.captures(r.body()) {
                Some(caps) => {
                    let m = caps.get(1).or_else(|| caps.get(0));
                    out.extend_from_slice(m.map_or(&[][..], |m| m.as_bytes()));
                    true
                }
                None => false,
            },
            ExtractKind::Json(query) => {
                let Ok(value) = serde_json::from_slice::<serde_json::Value>(r.body()) else {
                    return false;
                };
                let Ok(found) = jsonpath_rust::query::js_path_process(query, &value) else {
                    return false;
                };
                match found.first().map(|f| f.val) {
                    Some(serde_json::Value::String(s)) => out.extend_from_slice(s.as_bytes()),
                    Some(other) => out.extend_from_slice(other.to_string().as_bytes()),
                    None => return false,
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct Body(&'static [u8]);
    impl ResponseView for Body {
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
        let q = |p: &str| {
            ExtractKind::Json(Box::new(jsonpath_rust::parser::parse_json_path(p).unwrap()))
        };
        assert!(ex(q("$.token")).extract(&json, &mut out));
        assert_eq!(out, b"abc");
        assert!(ex(q("$.items[1].id")).extract(&json, &mut out));
        assert_eq!(out, b"8");
        assert!(!ex(q("$.missing")).extract(&json, &mut out));
        assert!(out.is_empty());
        assert!(!ex(q("$.token")).extract(&Body(b"not json"), &mut out));
        assert!(
            ex(ExtractKind::Regex(
                Regex::new(r#""token": "(\w+)""#).unwrap()
            ))
            .extract(&json, &mut out)
        );
        assert_eq!(out, b"abc");
        assert!(ex(ExtractKind::Regex(Regex::new(r"id\W+\d").unwrap())).extract(&json, &mut out));
        assert_eq!(out, b"id\": 7");
        assert!(!ex(ExtractKind::Regex(Regex::new("nope").unwrap())).extract(&json, &mut out));
        assert!(ex(ExtractKind::Header(b"etag".as_slice().into())).extract(&json, &mut out));
        assert_eq!(out, b"\"v1\"");
        assert!(!ex(ExtractKind::Header(b"x".as_slice().into())).extract(&json, &mut out));
        assert!(ex(ExtractKind::Body).extract(&Body(b"all of it"), &mut out));
        assert_eq!(out, b"all of it");
    }
}
