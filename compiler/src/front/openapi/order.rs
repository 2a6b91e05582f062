//! The order a spec writes its paths, operations and security requirements in,
//! which the importer's `serde_json::Value` (a sorted map) does not keep: read apart,
//! from the same text, with a visitor that keeps the keys of the root's `paths`, of
//! each path item, and of each security requirement (the root's `security`, and each
//! operation's), and skips every other value.
//!
//! Kept local rather than turning on `serde_json/preserve_order`, a feature that would
//! change the key order of every JSON document the workspace writes (reports, dumps).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Each path of `paths`, with the keys of its item (methods and others), in the
/// file's order; and the schemes of each security requirement, in the file's order.
#[derive(Debug, Default)]
pub(super) struct Order {
    pub(super) paths: Vec<(String, Vec<String>)>,
    pub(super) security: Security,
}

/// The scheme names of each requirement of a `security` list, as written: the
/// root's, and each operation's (by path and method) that has one of its own. An
/// operation in a path item behind a `$ref` is not read.
#[derive(Debug, Clone, Default)]
pub(super) struct Security {
    pub(super) root: Vec<Vec<String>>,
    pub(super) operations: BTreeMap<(String, String), Vec<Vec<String>>>,
}

/// The order in `text` (JSON when it starts with `{` or `[`, YAML otherwise); empty
/// when the text does not read (the importer reports that error itself).
pub(super) fn of(text: &str) -> Order {
    let root = if matches!(text.trim_start().chars().next(), Some('{' | '[')) {
        serde_json::from_str::<Root>(text).ok()
    } else {
        serde_norway::from_str::<Root>(text).ok()
    };
    let Some(root) = root else {
        return Order::default();
    };
    let mut operations = BTreeMap::new();
    let paths = root
        .paths
        .into_iter()
        .map(|(path, item)| {
            let keys = item
                .into_iter()
                .map(|(key, security)| {
                    if let Some(security) = security {
                        operations.insert((path.clone(), key.clone()), security);
                    }
                    key
                })
                .collect();
            (path, keys)
        })
        .collect();
    Order {
        paths,
        security: Security {
            root: root.security,
            operations,
        },
    }
}

/// What any visitor here makes of a value it does not read: nothing, with the value
/// skipped (a string where a map was expected is the importer's to report).
macro_rules! skip_others {
    ($none:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i128<E>(self, _: i128) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u128<E>(self, _: u128) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
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

/// A path item: each key, with the operation's own security requirements (`None`
/// for a key that is not an operation, or an operation with no `security`).
type Item = Vec<(String, Option<Vec<Vec<String>>>)>;

/// The root: only `paths` and `security` are read.
struct Root {
    paths: Vec<(String, Item)>,
    security: Vec<Vec<String>>,
}

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
                let mut security = Vec::new();
                while let Some(key) = map.next_key::<serde_norway::Value>()? {
                    match key_text(key).as_deref() {
                        Some("paths") => paths = map.next_value::<Paths>()?.0,
                        Some("security") => {
                            security = map.next_value::<Requirements>()?.0.unwrap_or_default();
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Root { paths, security })
            }
        }
        d.deserialize_map(V)
    }
}

/// `paths`: each path and its item.
struct Paths(Vec<(String, Item)>);

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
                    let item = map.next_value::<PathItem>()?.0;
                    if let Some(path) = key_text(key) {
                        out.push((path, item));
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

/// A path item's keys, each operation's security requirements with its key;
/// nothing for anything but a map.
struct PathItem(Item);

impl<'de> Deserialize<'de> for PathItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PathItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a path item")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PathItem, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<serde_norway::Value>()? {
                    let Some(key) = key_text(key) else {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    };
                    let security = if super::METHODS.contains(&key.as_str()) {
                        map.next_value::<Operation>()?.0
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        None
                    };
                    out.push((key, security));
                }
                Ok(PathItem(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PathItem, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(PathItem(Vec::new()))
            }
            skip_others!(PathItem(Vec::new()));
        }
        d.deserialize_any(V)
    }
}

/// An operation's own `security`, if it has one.
struct Operation(Option<Vec<Vec<String>>>);

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Operation;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an operation")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Operation, A::Error> {
                let mut security = None;
                while let Some(key) = map.next_key::<serde_norway::Value>()? {
                    if key_text(key).as_deref() == Some("security") {
                        security = map.next_value::<Requirements>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Operation(security))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Operation, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Operation(None))
            }
            skip_others!(Operation(None));
        }
        d.deserialize_any(V)
    }
}

/// A `security` list: each requirement's scheme names; `None` for anything but a list.
struct Requirements(Option<Vec<Vec<String>>>);

impl<'de> Deserialize<'de> for Requirements {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Requirements;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("security requirements")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Requirements, A::Error> {
                let mut out = Vec::new();
                while let Some(keys) = seq.next_element::<Keys>()? {
                    out.push(keys.0);
                }
                Ok(Requirements(Some(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Requirements, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Requirements(None))
            }
            skip_others!(Requirements(None));
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
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<serde_norway::Value>()? {
                    map.next_value::<IgnoredAny>()?;
                    out.extend(key_text(key));
                }
                Ok(Keys(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Keys(Vec::new()))
            }
            skip_others!(Keys(Vec::new()));
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

    #[test]
    fn security_requirements_keep_the_file_order() {
        let yaml = "security:\n  - {zk: [], ak: []}\n  - {}\npaths:\n  /a:\n    parameters: [x]\n    get:\n      security: [{hk: [], br: [read]}]\n    put: {}\n    post: 7\n";
        let order = of(yaml);
        assert_eq!(
            order.paths,
            [(
                "/a".to_owned(),
                vec![
                    "parameters".to_owned(),
                    "get".to_owned(),
                    "put".to_owned(),
                    "post".to_owned()
                ]
            )]
        );
        assert_eq!(
            order.security.root,
            [vec!["zk".to_owned(), "ak".to_owned()], vec![]]
        );
        assert_eq!(
            order.security.operations.into_iter().collect::<Vec<_>>(),
            [(
                ("/a".to_owned(), "get".to_owned()),
                vec![vec!["hk".to_owned(), "br".to_owned()]]
            )]
        );
        let json = r#"{"paths": {"/a": {"get": {"security": [{"q": [], "b": []}]}}}, "security": [{"y": [], "x": []}]}"#;
        let order = of(json);
        assert_eq!(order.security.root, [vec!["y".to_owned(), "x".to_owned()]]);
        assert_eq!(
            order.security.operations[&("/a".to_owned(), "get".to_owned())],
            [vec!["q".to_owned(), "b".to_owned()]]
        );
    }
}
