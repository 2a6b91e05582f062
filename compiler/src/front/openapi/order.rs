//! The order a spec writes its paths and operations in, which the importer's
//! `serde_json::Value` (a sorted map) does not keep: read apart, from the same text,
//! with a visitor that keeps the keys of the root's `paths` and of each path item
//! and skips every value below them.
//!
//! Kept local rather than turning on `serde_json/preserve_order`, a feature that would
//! change the key order of every JSON document the workspace writes (reports, dumps).

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// Each path of `paths`, with the keys of its item (methods and others), in the
/// file's order.
#[derive(Debug, Default)]
pub(super) struct Order {
    pub(super) paths: Vec<(String, Vec<String>)>,
}

/// The order in `text` (JSON when it starts with `{` or `[`, YAML otherwise); empty
/// when the text does not read (the importer reports that error itself).
pub(super) fn of(text: &str) -> Order {
    let root = if matches!(text.trim_start().chars().next(), Some('{' | '[')) {
        serde_json::from_str::<Root>(text).ok()
    } else {
        serde_norway::from_str::<Root>(text).ok()
    };
    Order {
        paths: root.map(|r| r.0).unwrap_or_default(),
    }
}

/// A map key as text: YAML keys may be numbers or booleans.
fn key_text(key: serde_norway::Value) -> Option<String> {
    match key {
        serde_norway::Value::String(s) => Some(s),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The root: only `paths` is read.
struct Root(Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Root;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a spec")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Root, A::Error> {
                let mut paths = Vec::new();
                while let Some(key) = map.next_key::<serde_norway::Value>()? {
                    if key_text(key).as_deref() == Some("paths") {
                        paths = map.next_value::<Paths>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Root(paths))
            }
        }
        d.deserialize_map(V)
    }
}

/// `paths`: each path and its item's keys.
struct Paths(Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for Paths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Paths;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the paths")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Paths, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<serde_norway::Value>()? {
                    let keys = map.next_value::<Keys>()?.0;
                    if let Some(path) = key_text(key) {
                        out.push((path, keys));
                    }
                }
                Ok(Paths(out))
            }
            fn visit_unit<E>(self) -> Result<Paths, E> {
                Ok(Paths(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A map's keys, its values skipped; nothing for anything but a map.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a path item")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<serde_norway::Value>()? {
                    map.next_value::<IgnoredAny>()?;
                    out.extend(key_text(key));
                }
                Ok(Keys(out))
            }
            fn visit_unit<E>(self) -> Result<Keys, E> {
                Ok(Keys(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_keep_the_file_order() {
        let yaml = "openapi: 3.0.0\npaths:\n  /z:\n    post: {}\n    get: {}\n  /a:\n    delete: {}\ninfo: {}\n";
        assert_eq!(
            of(yaml).paths,
            [
                ("/z".to_owned(), vec!["post".to_owned(), "get".to_owned()]),
                ("/a".to_owned(), vec!["delete".to_owned()]),
            ]
        );
        let json = r#"{"paths": {"/z": {"put": {}, "$ref": "x"}, "/a": {}}, "openapi": "3.0.0"}"#;
        assert_eq!(
            of(json).paths,
            [
                ("/z".to_owned(), vec!["put".to_owned(), "$ref".to_owned()]),
                ("/a".to_owned(), vec![]),
            ]
        );
        assert!(of("{").paths.is_empty());
    }
}
