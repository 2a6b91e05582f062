//! What the tests of encode.rs and decode.rs share: a schema with every kind of
//! field, prost-reflect's route to compare with, and messages of the schema as
//! JSON, generated.

use proptest::prelude::*;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
};

/// Every kind of field, by number in declaration order; `Flat` has no maps,
/// so that prost-reflect's bytes (in number order) are comparable with ours.
pub(super) const SCHEMA: &str = r#"
    syntax = "proto3";
    package p;
    import "google/protobuf/timestamp.proto";
    enum Color { RED = 0; GREEN = 1; BLUE = 2; }
    message Inner { string s = 1; int32 i = 2; repeated Inner kids = 3; Color c = 4; }
    message Flat {
      double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5;
      uint64 u64 = 6; sint32 s32 = 7; sint64 s64 = 8; fixed32 fx32 = 9;
      fixed64 fx64 = 10; sfixed32 sf32 = 11; sfixed64 sf64 = 12; bool b = 13;
      string s = 14; bytes by = 15; Color color = 16; Inner inner = 17;
      repeated int32 r_i32 = 18; repeated double r_d = 19; repeated string r_s = 20;
      repeated Inner r_inner = 21; repeated Color r_color = 22;
      repeated sint64 r_s64 = 23; repeated bytes r_by = 24;
      repeated fixed32 r_fx32 = 25; repeated bool r_b = 26;
      optional int32 opt = 27; string renamed = 28 [json_name = "other"];
      oneof choice { string o_s = 29; Inner o_inner = 30; int64 o_i64 = 31; }
      // prost-reflect 0.16 packs it all the same (its is_packed() ignores
      // packed = false in proto3): Old's lists are the unpacked ones.
      repeated int32 r_unpacked = 32 [packed = false];
      uint32 last = 536870911;
    }
    message All {
      Flat flat = 1; map<string, int32> m_s = 2; map<int64, Inner> m_i64 = 3;
      map<bool, string> m_b = 4; map<uint32, Color> m_u32 = 5;
      map<sint32, bytes> m_s32 = 6; repeated Flat flats = 7; int32 n = 8;
      map<string, All> m_all = 9;
    }
    message Stamped { google.protobuf.Timestamp at = 1; }
    message Node { Node next = 1; repeated Node kids = 2; }
"#;

/// proto2: presence for every singular field, a default of its own, lists not
/// packed unless asked, a closed enum, a required field.
pub(super) const OLD: &str = r#"
    syntax = "proto2";
    package p;
    message Old {
      optional int32 a = 1 [default = 5];
      optional string s = 2;
      repeated int32 unpacked = 3;
      repeated sint32 packed = 4 [packed = true];
      required bool r = 5;
      enum E { X = 1; Y = 2; }
      optional E e = 6;
      optional Old next = 7;
    }
"#;

/// A message of [`SCHEMA`] or [`OLD`], compiled once for the tests.
pub(super) fn message(name: &str) -> MessageDescriptor {
    static POOL: std::sync::OnceLock<DescriptorPool> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kaioken-proto-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("p.proto"), SCHEMA).unwrap();
        std::fs::write(dir.join("old.proto"), OLD).unwrap();
        let mut c = protox::Compiler::new([&dir]).unwrap();
        c.include_imports(true)
            .open_files(["p.proto", "old.proto"])
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        c.descriptor_pool()
    });
    pool.get_message_by_name(name).unwrap()
}

/// `p.Inner` with a default of its own for `int32 i` (`5`): protoc refuses that in
/// proto3, prost-reflect takes it (a schema from server reflection is not checked
/// again).
pub(super) fn inner_with_a_default() -> MessageDescriptor {
    let node = message("p.Node");
    let mut file = node.parent_file().file_descriptor_proto().clone();
    let inner = file
        .message_type
        .iter_mut()
        .find(|m| m.name() == "Inner")
        .unwrap();
    inner.field[1].default_value = Some("5".into());
    let mut pool = DescriptorPool::new();
    for import in node.parent_file().dependencies() {
        pool.add_file_descriptor_proto(import.file_descriptor_proto().clone())
            .unwrap();
    }
    pool.add_file_descriptor_proto(file).unwrap();
    pool.get_message_by_name("p.Inner").unwrap()
}

/// prost-reflect's route: the message, or `None` where it refuses the JSON.
pub(super) fn dynamic(desc: &MessageDescriptor, json: &str) -> Option<DynamicMessage> {
    let mut de = serde_json::Deserializer::from_str(json);
    let m =
        DynamicMessage::deserialize_with_options(desc.clone(), &mut de, &DeserializeOptions::new())
            .ok()?;
    de.end().ok().map(|()| m)
}

/// A JSON value for a field of `kind`: mostly valid, sometimes out of range or
/// of the wrong type, so that the two routes' refusals are compared too. A
/// message nests `depth` more levels at most.
fn scalar(kind: &Kind, depth: u32, shuffle: bool) -> BoxedStrategy<String> {
    let int = |min: i128, max: i128| {
        let wide = (min - (1 << 40))..(max + (1 << 40));
        prop_oneof![
            40 => (min..=max).prop_map(|v| v.to_string()),
            20 => (min..=max).prop_map(|v| format!("\"{v}\"")),
            10 => (min..=max).prop_map(|v| format!("{v}.0")),
            1 => wide.prop_map(|v| v.to_string()),
            1 => Just("1.5".to_owned()),
            1 => Just("true".to_owned()),
        ]
        .boxed()
    };
    let words = |w: &[&'static str]| prop::sample::select(w.to_vec()).prop_map(str::to_owned);
    match kind {
        Kind::Double | Kind::Float => prop_oneof![
            40 => any::<f64>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(|v| format!("{v:?}")),
            20 => any::<f32>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(|v| format!("{:?}", f64::from(v))),
            10 => any::<i64>().prop_map(|v| v.to_string()),
            5 => words(&["\"Infinity\"", "\"-Infinity\"", "\"1.25\""]),
            1 => words(&["\"x\"", "1e39"]),
        ]
        .boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => int(i32::MIN.into(), i32::MAX.into()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => int(i64::MIN.into(), i64::MAX.into()),
        Kind::Uint32 | Kind::Fixed32 => int(0, u32::MAX.into()),
        Kind::Uint64 | Kind::Fixed64 => int(0, u64::MAX.into()),
        Kind::Bool => prop_oneof![
            20 => words(&["true", "false"]),
            1 => words(&["\"true\"", "0"]),
        ]
        .boxed(),
        Kind::String => prop_oneof![
            40 => "[a-zé\"\\\\\n]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            1 => Just("7".to_owned()),
        ]
        .boxed(),
        Kind::Bytes => prop_oneof![
            40 => (prop::collection::vec(any::<u8>(), 0..12), any::<bool>(), any::<bool>())
                .prop_map(|(b, url, pad)| {
                    use base64::Engine;
                    use base64::engine::general_purpose as g;
                    let s = match (url, pad) {
                        (false, true) => g::STANDARD.encode(b),
                        (false, false) => g::STANDARD_NO_PAD.encode(b),
                        (true, true) => g::URL_SAFE.encode(b),
                        (true, false) => g::URL_SAFE_NO_PAD.encode(b),
                    };
                    format!("\"{s}\"")
                }),
            1 => Just("\"!!\"".to_owned()),
        ]
        .boxed(),
        Kind::Enum(_) => prop_oneof![
            20 => words(&["\"RED\"", "\"GREEN\"", "\"BLUE\"", "0", "2", "99", "-3"]),
            1 => words(&["\"PURPLE\"", "1.0"]),
        ]
        .boxed(),
        Kind::Message(m) => object(m, depth, shuffle),
    }
}

/// A field's JSON value: a map's object, a list's array, or one value.
fn one(field: &FieldDescriptor, depth: u32, shuffle: bool) -> BoxedStrategy<String> {
    let kind = field.kind();
    if field.is_map() {
        let entry = kind.as_message().unwrap();
        let key = match entry.map_entry_key_field().kind() {
            Kind::String => "[a-z]{0,4}".boxed(),
            Kind::Bool => prop::sample::select(vec!["true", "false"])
                .prop_map(str::to_owned)
                .boxed(),
            Kind::Uint32 | Kind::Fixed32 => any::<u32>().prop_map(|v| v.to_string()).boxed(),
            Kind::Uint64 | Kind::Fixed64 => any::<u64>().prop_map(|v| v.to_string()).boxed(),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                any::<i64>().prop_map(|v| v.to_string()).boxed()
            }
            _ => any::<i32>().prop_map(|v| v.to_string()).boxed(),
        };
        let value = scalar(&entry.map_entry_value_field().kind(), depth, shuffle);
        prop::collection::vec((key, value), 0..3)
            .prop_map(|entries| {
                let entries: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\": {v}"))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            })
            .boxed()
    } else if field.is_list() {
        prop::collection::vec(scalar(&kind, depth, shuffle), 0..4)
            .prop_map(|values| format!("[{}]", values.join(", ")))
            .boxed()
    } else {
        scalar(&kind, depth, shuffle)
    }
}

/// A message of `desc` as a JSON object: some of its fields (those of a
/// message type while `depth` lasts), each by its JSON or its proto name, or
/// `null`; at most one of a oneof; in the schema's order or, with `shuffle`,
/// in any.
pub(super) fn object(desc: &MessageDescriptor, depth: u32, shuffle: bool) -> BoxedStrategy<String> {
    let fields: Vec<_> = desc
        .fields()
        .filter(|f| depth > 0 || !matches!(f.kind(), Kind::Message(_)))
        .map(|f| {
            let names = (f.json_name().to_owned(), f.name().to_owned());
            let oneof = f.containing_oneof().map(|o| o.name().to_owned());
            let value = prop_oneof![
                9 => one(&f, depth.saturating_sub(1), shuffle),
                1 => Just("null".to_owned()),
            ];
            let entry = (any::<bool>(), value).prop_map(move |(json, v)| {
                let name = if json { &names.0 } else { &names.1 };
                (oneof.clone(), format!("\"{name}\": {v}"))
            });
            prop::option::weighted(0.4, entry)
        })
        .collect();
    fields
        .prop_flat_map(move |entries| {
            let mut oneofs = Vec::new();
            let kept: Vec<String> = entries
                .into_iter()
                .flatten()
                .filter(|(o, _)| {
                    o.as_ref().is_none_or(|o| {
                        let first = !oneofs.contains(o);
                        oneofs.push(o.clone());
                        first
                    })
                })
                .map(|(_, e)| e)
                .collect();
            if shuffle {
                Just(kept).prop_shuffle().boxed()
            } else {
                Just(kept).boxed()
            }
        })
        .prop_map(|entries| format!("{{{}}}", entries.join(", ")))
        .boxed()
}
