//! Protobuf to JSON: a reply read for the step's checks (proto_json's second
//! half).

use std::cell::RefCell;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use base64::display::Base64Display;
use base64::prelude::BASE64_STANDARD;
use prost::encoding::{WireType, decode_key, decode_varint};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{Scalar, Unsupported, wire_type};

/// How deep [`reply`] follows messages within messages (prost's own limit is
/// 100): a reply nested deeper is left to prost-reflect.
const DEPTH: u32 = 32;

/// The most fields in its bytes times fields declared [`reply`] reads a message
/// of: it finds each declared field by going through the message's fields (a
/// length-delimited one is skipped whole), so a wide message with many fields in
/// it (a long unpacked list beside many declared fields) is left to
/// prost-reflect, which goes through them once.
const WORK: usize = 1 << 16;

/// Append a reply's `bytes`, a message of `desc` ([`readable`](super::readable)),
/// to `out` as the JSON prost-reflect makes of it (`use_proto_field_name`,
/// default values included), without decoding it into a `DynamicMessage`: each
/// field is read where it lies in the bytes, in the order prost-reflect writes
/// fields (by number), through the same serde_json calls. It gives up on bytes
/// prost would refuse, and on what it does not follow: a group, a message field
/// given twice (prost merges them), two fields of a oneof given (prost keeps the
/// last), a map with a key given twice (found by sorting the keys' hashes in
/// `keys`, room the caller keeps), nesting deeper than [`DEPTH`], a message of
/// more than [`WORK`]. A map's entries come in the reply's order (prost-reflect's in
/// its hash map's, which differs from run to run). On [`Unsupported`], `out`
/// holds part of the JSON.
pub(crate) fn reply(
    desc: &MessageDescriptor,
    bytes: &[u8],
    out: &mut Vec<u8>,
    keys: &mut Vec<u64>,
) -> Result<(), Unsupported> {
    keys.clear();
    let keys_cell = RefCell::new(std::mem::take(keys));
    let mut ser = serde_json::Serializer::new(out);
    let read = Read {
        desc,
        bytes,
        at: Level {
            depth: 0,
            keys: &keys_cell,
        },
    }
    .serialize(&mut ser)
    .map_err(|_| Unsupported);
    *keys = keys_cell.into_inner();
    read
}

/// Where a value is read: how deep in the reply, and the room in which a map's
/// keys are compared (kept by the caller between replies, so that a map of the
/// same size again takes no allocation).
#[derive(Clone, Copy)]
struct Level<'a> {
    depth: u32,
    keys: &'a RefCell<Vec<u64>>,
}

impl Level<'_> {
    fn deeper(self) -> Self {
        Level {
            depth: self.depth + 1,
            ..self
        }
    }
}

/// A field's value as it lies in a message's bytes.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Fixed32([u8; 4]),
    Len(&'a [u8]),
}

impl Wire<'_> {
    fn wire_type(self) -> WireType {
        match self {
            Wire::Varint(_) => WireType::Varint,
            Wire::Fixed64(_) => WireType::SixtyFourBit,
            Wire::Fixed32(_) => WireType::ThirtyTwoBit,
            Wire::Len(_) => WireType::LengthDelimited,
        }
    }
}

/// A message's fields as they lie in its bytes, in order; an error for bytes
/// prost would not read (and for groups, left to prost-reflect).
#[derive(Clone)]
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), Unsupported>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u32, Wire<'a>), Unsupported> {
        let (number, wire) = decode_key(&mut self.rest).map_err(|_| Unsupported)?;
        let value = match wire {
            WireType::Varint => {
                Wire::Varint(decode_varint(&mut self.rest).map_err(|_| Unsupported)?)
            }
            WireType::SixtyFourBit => {
                Wire::Fixed64(self.take(8)?.try_into().map_err(|_| Unsupported)?)
            }
            WireType::ThirtyTwoBit => {
                Wire::Fixed32(self.take(4)?.try_into().map_err(|_| Unsupported)?)
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut self.rest).map_err(|_| Unsupported)?;
                Wire::Len(self.take(usize::try_from(len).map_err(|_| Unsupported)?)?)
            }
            WireType::StartGroup | WireType::EndGroup => return Err(Unsupported),
        };
        Ok((number, value))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Unsupported> {
        if self.rest.len() < n {
            return Err(Unsupported);
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }
}

/// The occurrences of field `number` in `bytes` (already checked), in order.
fn occurrences(bytes: &[u8], number: u32) -> impl Iterator<Item = Wire<'_>> {
    Fields { rest: bytes }
        .filter_map(Result::ok)
        .filter(move |(n, _)| *n == number)
        .map(|(_, w)| w)
}

/// Check a message's bytes as prost reads them: every field well formed, each
/// known field in a wire type it takes, its strings UTF-8; and that nothing in
/// them is what [`reply`] leaves to prost-reflect at this level (a message
/// field or a oneof given twice, more than [`WORK`]).
fn check(desc: &MessageDescriptor, bytes: &[u8]) -> Result<(), Unsupported> {
    let mut fields = 0usize;
    for field in (Fields { rest: bytes }) {
        let (number, wire) = field?;
        fields += 1;
        let Some(f) = desc.get_field(number) else {
            continue;
        };
        let kind = f.kind();
        let packed = f.is_list() && wire_type(&kind) != WireType::LengthDelimited;
        if wire.wire_type() != wire_type(&kind) && !(packed && matches!(wire, Wire::Len(_))) {
            return Err(Unsupported);
        }
        if let (Kind::String, Wire::Len(b)) = (&kind, wire) {
            std::str::from_utf8(b).map_err(|_| Unsupported)?;
        }
    }
    if fields.saturating_mul(desc.fields().len()) > WORK {
        return Err(Unsupported);
    }
    // At most one occurrence of a singular message field, and of any field of
    // a oneof (each oneof checked at its first field).
    let at_most_once = |numbers: &dyn Fn(u32) -> bool| {
        Fields { rest: bytes }
            .filter_map(Result::ok)
            .filter(|(n, _)| numbers(*n))
            .nth(1)
            .is_none()
    };
    for f in desc.fields() {
        let first_of_oneof = f
            .containing_oneof()
            .filter(|o| o.fields().next().is_some_and(|g| g.number() == f.number()));
        if let Some(o) = first_of_oneof
            && !at_most_once(&|n| o.fields().any(|g| g.number() == n))
        {
            return Err(Unsupported);
        }
        let singular_message = !f.is_list() && !f.is_map() && f.kind().as_message().is_some();
        if singular_message && !at_most_once(&|n| n == f.number()) {
            return Err(Unsupported);
        }
    }
    Ok(())
}

fn bad<E: serde::ser::Error>(_: Unsupported) -> E {
    E::custom("")
}

/// A message read from its bytes.
struct Read<'a> {
    desc: &'a MessageDescriptor,
    bytes: &'a [u8],
    at: Level<'a>,
}

impl Serialize for Read<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.at.depth > DEPTH {
            return Err(bad(Unsupported));
        }
        check(self.desc, self.bytes).map_err(bad)?;
        let mut map = s.serialize_map(None)?;
        for field in self.desc.fields() {
            let number = field.number();
            let kind = field.kind();
            let name = field.name();
            if field.is_map() || field.is_list() {
                let list = Repeated {
                    field: &field,
                    kind: &kind,
                    bytes: self.bytes,
                    at: self.at,
                };
                map.serialize_entry(name, &list)?;
                continue;
            }
            let last = occurrences(self.bytes, number).last();
            if field.supports_presence() && last.is_none() {
                continue;
            }
            map.serialize_entry(
                name,
                &One {
                    kind: &kind,
                    wire: last,
                    at: self.at,
                },
            )?;
        }
        map.end()
    }
}

/// A list's or a map's values: every occurrence of its field, each one value
/// (a map's entry) or, packed, several.
struct Repeated<'a> {
    field: &'a FieldDescriptor,
    kind: &'a Kind,
    bytes: &'a [u8],
    at: Level<'a>,
}

impl<'a> Serialize for Repeated<'a> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.field.is_map() {
            self.map(s)
        } else {
            self.list(s)
        }
    }
}

impl<'a> Repeated<'a> {
    /// A map's entries, as an object.
    fn map<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let number = self.field.number();
        let entry = self.kind.as_message().ok_or_else(|| bad(Unsupported))?;
        let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        let (key_kind, value_kind) = (key.kind(), value.kind());
        let key_of = |wire: Wire<'a>| match wire {
            Wire::Len(e) => MapKey::of(&key_kind, occurrences(e, key.number()).last()),
            _ => None,
        };
        // Each entry checked, and no key given twice (prost-reflect keeps
        // each key's last entry; that is left to it): the keys' hashes,
        // sorted, have no two alike (two keys that only hash alike are
        // left to it too).
        {
            let mut keys = self.at.keys.borrow_mut();
            let mine = keys.len();
            for wire in occurrences(self.bytes, number) {
                if let Wire::Len(e) = wire {
                    check(entry, e).map_err(bad)?;
                }
                let k = key_of(wire).ok_or_else(|| bad(Unsupported))?;
                keys.push(BuildHasherDefault::<DefaultHasher>::default().hash_one(k));
            }
            keys[mine..].sort_unstable();
            let twice = keys[mine..].windows(2).any(|w| w[0] == w[1]);
            keys.truncate(mine);
            if twice {
                return Err(bad(Unsupported));
            }
        }
        let mut map = s.serialize_map(None)?;
        for wire in occurrences(self.bytes, number) {
            let (Wire::Len(e), Some(k)) = (wire, key_of(wire)) else {
                return Err(bad(Unsupported));
            };
            map.serialize_entry(
                &k,
                &One {
                    kind: &value_kind,
                    wire: occurrences(e, value.number()).last(),
                    at: self.at,
                },
            )?;
        }
        map.end()
    }

    /// A list's values, as an array.
    fn list<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let number = self.field.number();
        let mut list = s.serialize_seq(None)?;
        for wire in occurrences(self.bytes, number) {
            match (wire, wire_type(self.kind)) {
                (Wire::Len(mut packed), WireType::Varint) => {
                    while !packed.is_empty() {
                        let v = decode_varint(&mut packed).map_err(|_| bad(Unsupported))?;
                        list.serialize_element(&self.one(Wire::Varint(v)))?;
                    }
                }
                (Wire::Len(packed), fixed @ (WireType::ThirtyTwoBit | WireType::SixtyFourBit)) => {
                    let width = if fixed == WireType::ThirtyTwoBit {
                        4
                    } else {
                        8
                    };
                    if packed.len() % width != 0 {
                        return Err(bad(Unsupported));
                    }
                    for v in packed.chunks_exact(width) {
                        let v = match <[u8; 4]>::try_from(v) {
                            Ok(v) => Wire::Fixed32(v),
                            Err(_) => Wire::Fixed64(v.try_into().map_err(|_| bad(Unsupported))?),
                        };
                        list.serialize_element(&self.one(v))?;
                    }
                }
                _ => list.serialize_element(&self.one(wire))?,
            }
        }
        list.end()
    }

    fn one(&self, wire: Wire<'a>) -> One<'a> {
        One {
            kind: self.kind,
            wire: Some(wire),
            at: self.at,
        }
    }
}

/// A map's key, as prost-reflect writes it: a string as it is, a number or a
/// boolean in a string.
#[derive(Debug, Clone, Copy, PartialEq, Hash)]
enum MapKey<'a> {
    Str(&'a str),
    Bool(bool),
    I64(i64),
    U64(u64),
}

impl<'a> MapKey<'a> {
    /// The key `wire` holds (the default when it is missing), or `None` when it
    /// does not hold one of `kind`.
    fn of(kind: &Kind, wire: Option<Wire<'a>>) -> Option<MapKey<'a>> {
        let v = match wire {
            None => {
                return Some(match kind {
                    Kind::String => MapKey::Str(""),
                    Kind::Bool => MapKey::Bool(false),
                    Kind::Uint32 | Kind::Fixed32 | Kind::Uint64 | Kind::Fixed64 => MapKey::U64(0),
                    _ => MapKey::I64(0),
                });
            }
            Some(w) => Value::decode(kind, w)?,
        };
        Some(match v {
            Value::Str(s) => MapKey::Str(s),
            Value::Scalar(Scalar::Bool(b)) => MapKey::Bool(b),
            Value::Scalar(Scalar::I32(v)) => MapKey::I64(v.into()),
            Value::Scalar(Scalar::I64(v)) => MapKey::I64(v),
            Value::Scalar(Scalar::U32(v)) => MapKey::U64(v.into()),
            Value::Scalar(Scalar::U64(v)) => MapKey::U64(v),
            _ => return None,
        })
    }
}

impl Serialize for MapKey<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MapKey::Str(v) => s.serialize_str(v),
            MapKey::Bool(v) => s.collect_str(v),
            MapKey::I64(v) => s.collect_str(v),
            MapKey::U64(v) => s.collect_str(v),
        }
    }
}

/// A singular value read from its bytes, or the default of its kind when it is
/// missing.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Scalar(Scalar),
    Str(&'a str),
    Bytes(&'a [u8]),
    Enum(i32),
}

impl<'a> Value<'a> {
    /// The value of `kind` in `wire`, as prost decodes it (integers cut to their
    /// width, zigzag undone), or `None` for a wire type it does not take.
    fn decode(kind: &Kind, wire: Wire<'a>) -> Option<Value<'a>> {
        let scalar = match (kind, wire) {
            (Kind::Enum(_), Wire::Varint(v)) => return Some(Value::Enum(v as i32)),
            (Kind::String, Wire::Len(b)) => return Some(Value::Str(std::str::from_utf8(b).ok()?)),
            (Kind::Bytes, Wire::Len(b)) => return Some(Value::Bytes(b)),
            (Kind::Bool, Wire::Varint(v)) => Scalar::Bool(v != 0),
            (Kind::Int32, Wire::Varint(v)) => Scalar::I32(v as i32),
            (Kind::Sint32, Wire::Varint(v)) => {
                let v = v as u32;
                Scalar::I32((v >> 1) as i32 ^ -((v & 1) as i32))
            }
            (Kind::Int64, Wire::Varint(v)) => Scalar::I64(v as i64),
            (Kind::Sint64, Wire::Varint(v)) => Scalar::I64((v >> 1) as i64 ^ -((v & 1) as i64)),
            (Kind::Uint32, Wire::Varint(v)) => Scalar::U32(v as u32),
            (Kind::Uint64, Wire::Varint(v)) => Scalar::U64(v),
            (Kind::Fixed32, Wire::Fixed32(b)) => Scalar::U32(u32::from_le_bytes(b)),
            (Kind::Sfixed32, Wire::Fixed32(b)) => Scalar::I32(i32::from_le_bytes(b)),
            (Kind::Float, Wire::Fixed32(b)) => Scalar::F32(f32::from_le_bytes(b)),
            (Kind::Fixed64, Wire::Fixed64(b)) => Scalar::U64(u64::from_le_bytes(b)),
            (Kind::Sfixed64, Wire::Fixed64(b)) => Scalar::I64(i64::from_le_bytes(b)),
            (Kind::Double, Wire::Fixed64(b)) => Scalar::F64(f64::from_le_bytes(b)),
            _ => return None,
        };
        Some(Value::Scalar(scalar))
    }

    /// The default of `kind` (not a message's).
    fn default(kind: &Kind) -> Value<'a> {
        Value::Scalar(match kind {
            Kind::String => return Value::Str(""),
            Kind::Bytes | Kind::Message(_) => return Value::Bytes(&[]),
            Kind::Enum(e) => return Value::Enum(e.default_value().number()),
            Kind::Bool => Scalar::Bool(false),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Scalar::I32(0),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Scalar::I64(0),
            Kind::Uint32 | Kind::Fixed32 => Scalar::U32(0),
            Kind::Uint64 | Kind::Fixed64 => Scalar::U64(0),
            Kind::Float => Scalar::F32(0.0),
            Kind::Double => Scalar::F64(0.0),
        })
    }
}

/// One value of a field's kind, read from `wire` (the default when `None`).
struct One<'a> {
    kind: &'a Kind,
    wire: Option<Wire<'a>>,
    at: Level<'a>,
}

impl Serialize for One<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Kind::Message(desc) = self.kind {
            let bytes = match self.wire {
                Some(Wire::Len(b)) => b,
                None => &[],
                Some(_) => return Err(bad(Unsupported)),
            };
            return Read {
                desc,
                bytes,
                at: self.at.deeper(),
            }
            .serialize(s);
        }
        let value = match self.wire {
            Some(w) => Value::decode(self.kind, w).ok_or_else(|| bad(Unsupported))?,
            None => Value::default(self.kind),
        };
        match value {
            Value::Scalar(Scalar::Bool(v)) => s.serialize_bool(v),
            Value::Scalar(Scalar::I32(v)) => s.serialize_i32(v),
            Value::Scalar(Scalar::I64(v)) => s.collect_str(&v),
            Value::Scalar(Scalar::U32(v)) => s.serialize_u32(v),
            Value::Scalar(Scalar::U64(v)) => s.collect_str(&v),
            Value::Scalar(Scalar::F32(v)) if v.is_finite() => s.serialize_f32(v),
            Value::Scalar(Scalar::F64(v)) if v.is_finite() => s.serialize_f64(v),
            Value::Scalar(Scalar::F32(v)) => s.serialize_str(non_finite(v.into())),
            Value::Scalar(Scalar::F64(v)) => s.serialize_str(non_finite(v)),
            Value::Str(v) => s.serialize_str(v),
            Value::Bytes(v) => s.collect_str(&Base64Display::new(v, &BASE64_STANDARD)),
            Value::Enum(n) => match self.kind.as_enum().and_then(|e| e.get_value(n)) {
                Some(v) => s.serialize_str(v.name()),
                None => s.serialize_i32(n),
            },
        }
    }
}

/// How proto3's JSON spells a float that is not finite.
fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message as _;
    use prost_reflect::{DynamicMessage, MessageDescriptor, SerializeOptions};

    use super::super::testing::{dynamic, inner_with_a_default, message, object};
    use super::super::{Unsupported, readable};
    use super::reply;

    fn ours(desc: &MessageDescriptor, bytes: &[u8]) -> Result<String, Unsupported> {
        let mut out = b"[".to_vec();
        reply(desc, bytes, &mut out, &mut vec![7])?;
        assert_eq!(out.remove(0), b'[', "what was in the buffer stays");
        Ok(String::from_utf8(out).unwrap())
    }

    /// prost-reflect's route, as the driver takes it: the JSON, or `None` where
    /// the bytes are no valid message.
    fn theirs(desc: &MessageDescriptor, bytes: &[u8]) -> Option<String> {
        let m = DynamicMessage::decode(desc.clone(), bytes).ok()?;
        let options = SerializeOptions::new()
            .use_proto_field_name(true)
            .skip_default_fields(false);
        let mut out = Vec::new();
        m.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options)
            .unwrap();
        Some(String::from_utf8(out).unwrap())
    }

    /// The bytes prost-reflect encodes a JSON message into, when it takes it.
    fn encoded(desc: &MessageDescriptor, json: &str) -> Option<Vec<u8>> {
        dynamic(desc, json).map(|m| m.encode_to_vec())
    }

    /// Both routes' JSON as values: a map's entries come in another order in
    /// prost-reflect's.
    fn same_json(a: &str, b: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(a).unwrap()
            == serde_json::from_str::<serde_json::Value>(b).unwrap()
    }

    #[test]
    fn only_proto3_without_well_known_types_is_read() {
        assert!(readable(&message("p.All")));
        assert!(readable(&message("p.Node")));
        assert!(!readable(&message("p.Stamped")));
        assert!(!readable(&message("p.Old")), "proto2");
        // A proto3 default of its own: protoc refuses it, prost-reflect takes it
        // (from server reflection, say) and writes it for an absent field.
        let inner = inner_with_a_default();
        assert_eq!(
            theirs(&inner, &[]).unwrap(),
            r#"{"s":"","i":5,"kids":[],"c":"RED"}"#
        );
        assert!(!readable(&inner));
    }

    #[test]
    fn what_it_does_not_follow_it_gives_up_on() {
        let flat = message("p.Flat");
        let inner = encoded(&flat, r#"{"inner": {"i": 1}}"#).unwrap();
        let oneof = encoded(&flat, r#"{"oS": "a"}"#).unwrap();
        let other = encoded(&flat, r#"{"oI64": 5}"#).unwrap();
        for bytes in [
            [inner.clone(), inner].concat(),
            [oneof.clone(), other].concat(),
            [oneof.clone(), oneof].concat(),
            vec![0x0a],
            vec![0x72, 0x02, 0xc3, 0x28],
            vec![0x18, 0xff],
            vec![0x1b, 0x1c],
            vec![0x00],
        ] {
            assert_eq!(ours(&flat, &bytes), Err(Unsupported), "{bytes:?}");
        }
        // Too many fields to go through once per declared field (2,000 strings
        // of a list, 33 fields declared); a few less are read, and so is a long
        // string, one field however long.
        for (values, read) in [(2_000, false), (1_900, true)] {
            let list = vec![r#""a""#; values].join(",");
            let wide = encoded(&flat, &format!(r#"{{"rS": [{list}]}}"#)).unwrap();
            assert_eq!(ours(&flat, &wide).is_ok(), read, "{values}");
        }
        let long = encoded(&flat, &format!(r#"{{"s": "{}"}}"#, "x".repeat(100_000))).unwrap();
        assert!(ours(&flat, &long).is_ok());
        let all = message("p.All");
        let entry = encoded(&all, r#"{"mS": {"a": 1}}"#).unwrap();
        assert_eq!(
            ours(&all, &[entry.clone(), entry].concat()),
            Err(Unsupported)
        );
    }

    #[test]
    fn its_json_is_prost_reflect_s() {
        let flat = message("p.Flat");
        let long = "x".repeat(300);
        for json in [
            r#"{}"#.to_owned(),
            r#"{"d": "NaN", "f": "-Infinity", "i32": -1, "s32": -1, "s64": "-9223372036854775808"}"#.into(),
            r#"{"opt": 0, "color": 7, "rColor": [0, 99, 2], "u64": "18446744073709551615"}"#.into(),
            r#"{"by": "-_-_", "rBy": ["+/+/", "", "AQ"], "rFx32": [1, 4294967295]}"#.into(),
            format!(r#"{{"inner": {{"kids": [{{"s": "{long}"}}]}}, "oInner": {{}}}}"#),
        ] {
            let bytes = encoded(&flat, &json).unwrap();
            assert_eq!(ours(&flat, &bytes).unwrap(), theirs(&flat, &bytes).unwrap(), "{json}");
        }
        let all = message("p.All");
        let json = r#"{"flat": {"i32": 1}, "flats": [{}, {"b": true}], "n": -2}"#;
        let bytes = encoded(&all, json).unwrap();
        assert_eq!(ours(&all, &bytes).unwrap(), theirs(&all, &bytes).unwrap());
    }

    /// Maps of any size, and maps in a map's values: each map's keys are compared
    /// in room of their own.
    #[test]
    fn big_and_nested_maps_read_as_prost_reflect_reads_them() {
        let all = message("p.All");
        let entries: Vec<String> = (0..300).map(|i| format!(r#""k{i}": {i}"#)).collect();
        let entries = entries.join(", ");
        let json = format!(
            r#"{{"mS": {{{entries}}}, "mAll": {{"a": {{"mS": {{"x": 1, "y": 2}}}}, "b": {{"mAll": {{"a": {{"n": 3}}}}}}}}}}"#
        );
        let bytes = encoded(&all, &json).unwrap();
        let (a, b) = (ours(&all, &bytes).unwrap(), theirs(&all, &bytes).unwrap());
        assert!(same_json(&a, &b), "{a} against {b}");
        // A key given twice in an inner map is found there.
        let inner = encoded(&all, r#"{"mS": {"x": 1}}"#).unwrap();
        let twice = [inner.clone(), inner].concat();
        let value = [vec![0x0a, 0x01, b'a', 0x12, twice.len() as u8], twice].concat();
        let bytes = [vec![0x4a, value.len() as u8], value].concat();
        assert!(theirs(&all, &bytes).is_some());
        assert_eq!(ours(&all, &bytes), Err(Unsupported));
    }

    /// Bytes no encoder of prost-reflect's makes, read alike or refused by both.
    #[test]
    fn bytes_of_other_encoders_read_as_prost_reflect_reads_them() {
        let flat = message("p.Flat");
        for bytes in [
            // Unpacked values of a packed field, and a scalar given twice: the last.
            &[0x90, 0x01, 0x05, 0x90, 0x01, 0x07, 0x18, 0x01, 0x18, 0x02][..],
            // Unknown fields (100, a varint; 101, two bytes), skipped.
            &[0xa0, 0x06, 0x01, 0xaa, 0x06, 0x02, b'h', b'i', 0x18, 0x05],
            // A bool of 2; an int32 in five bytes; one past 32 bits, cut to 5.
            &[0x68, 0x02],
            &[0x18, 0x81, 0x80, 0x80, 0x80, 0x00],
            &[0x18, 0x85, 0x80, 0x80, 0x80, 0x10],
        ] {
            assert_eq!(
                ours(&flat, bytes).unwrap(),
                theirs(&flat, bytes).unwrap(),
                "{bytes:?}"
            );
        }
        let all = message("p.All");
        for bytes in [
            // A map entry with an unknown field; one with no value; an empty one.
            &[0x12, 0x07, 0x0a, 0x01, b'a', 0x10, 0x07, 0x18, 0x09][..],
            &[0x1a, 0x02, 0x08, 0x07],
            &[0x12, 0x00],
        ] {
            let (a, b) = (ours(&all, bytes).unwrap(), theirs(&all, bytes).unwrap());
            assert_eq!(a, b, "{bytes:?}");
        }
        for bytes in [
            // A string that is no UTF-8, given before a valid one.
            &[0x72, 0x01, 0xff, 0x72, 0x01, b'a'][..],
            // Packed fixed32 values in five bytes.
            &[0xca, 0x01, 0x05, 1, 2, 3, 4, 5],
        ] {
            assert_eq!(theirs(&flat, bytes), None, "{bytes:?}");
            assert_eq!(ours(&flat, bytes), Err(Unsupported), "{bytes:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Without maps, prost-reflect's JSON to the byte.
        #[test]
        fn flat_replies_read_as_prost_reflect_reads_them(
            json in object(&message("p.Flat"), 2, false)
        ) {
            let flat = message("p.Flat");
            let Some(bytes) = encoded(&flat, &json) else {
                return Ok(());
            };
            prop_assert_eq!(ours(&flat, &bytes).unwrap(), theirs(&flat, &bytes).unwrap());
        }

        /// With maps, the same JSON values.
        #[test]
        fn any_reply_reads_as_prost_reflect_s(
            json in object(&message("p.All"), 3, true)
        ) {
            let all = message("p.All");
            let Some(bytes) = encoded(&all, &json) else {
                return Ok(());
            };
            let (a, b) = (ours(&all, &bytes).unwrap(), theirs(&all, &bytes).unwrap());
            prop_assert!(same_json(&a, &b), "{a} against {b}");
        }

        /// Two messages one after the other (fields given twice: prost keeps
        /// the last scalar, joins lists, merges messages), cut short, or with a
        /// byte changed: what it reads, prost-reflect reads alike.
        #[test]
        fn bytes_changed_read_as_prost_reflect_s_or_not_at_all(
            a in object(&message("p.All"), 3, true),
            b in object(&message("p.All"), 3, true),
            cut in any::<prop::sample::Index>(),
            flip in any::<Option<(prop::sample::Index, u8)>>(),
        ) {
            let all = message("p.All");
            let (Some(a), Some(b)) = (encoded(&all, &a), encoded(&all, &b)) else {
                return Ok(());
            };
            let mut bytes = [a, b].concat();
            if let Some((at, byte)) = flip.filter(|_| !bytes.is_empty()) {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            if !bytes.is_empty() && cut.index(4) == 0 {
                bytes.truncate(cut.index(bytes.len()));
            }
            if let Ok(a) = ours(&all, &bytes) {
                let b = theirs(&all, &bytes);
                prop_assert!(b.as_ref().is_some_and(|b| same_json(&a, b)), "{a} against {b:?}");
            }
        }
    }
}
