//! JSON to protobuf: a request message written from its JSON (proto_json's
//! first half).
//!
//! [`Writer::encode`] takes what prost-reflect's JSON mapping takes, with the
//! same conversions (numbers from strings and floats, `"NaN"`, enum names, base64
//! in either alphabet), and gives up on a message with a field named twice, two
//! fields of one oneof, a key with escapes, or anything invalid. Fields go out in
//! the JSON's order rather than by number (a decoder takes any order), and a
//! field without presence is left out at its default value, as prost-reflect
//! does.

use std::fmt;

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Scalar, Unsupported, wire_type};

/// What [`Writer::encode`] keeps between calls: the numbers of the fields set
/// in each message being written, innermost last, to find a field named twice.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    set: Vec<u32>,
}

impl Writer {
    /// Append `json`, a message of `desc` ([`writable`](super::writable)), to
    /// `out` in protobuf's wire format. On [`Unsupported`], `out` holds part of a
    /// message.
    pub(crate) fn encode(
        &mut self,
        json: &[u8],
        desc: &MessageDescriptor,
        out: &mut Vec<u8>,
    ) -> Result<(), Unsupported> {
        self.set.clear();
        let mut de = serde_json::Deserializer::from_slice(json);
        let message = Message {
            desc,
            out,
            set: &mut self.set,
        };
        message
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|_| Unsupported)
    }
}

/// The error every give-up is: its text is never read.
fn give_up<E: de::Error>() -> E {
    E::custom("")
}

/// Open a length-delimited value: a one-byte length to be set by [`close`].
fn open(out: &mut Vec<u8>) -> usize {
    out.push(0);
    out.len()
}

/// Set the length of the value opened at `start`, moving it on when the length
/// takes more than one byte.
fn close(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    let width = encoded_len_varint(len as u64);
    if width > 1 {
        let end = out.len();
        out.resize(end + width - 1, 0);
        out.copy_within(start..end, start + width - 1);
    }
    let mut at = &mut out[start - 1..start - 1 + width];
    encode_varint(len as u64, &mut at);
}

/// One message: a JSON object, written as its fields.
struct Message<'a> {
    desc: &'a MessageDescriptor,
    out: &'a mut Vec<u8>,
    set: &'a mut Vec<u32>,
}

impl<'de> DeserializeSeed<'de> for Message<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Message<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let level = self.set.len();
        while let Some(key) = map.next_key_seed(Key)? {
            let field = self
                .desc
                .get_field_by_json_name(key)
                .or_else(|| self.desc.get_field_by_name(key))
                .ok_or_else(give_up)?;
            // Named twice: prost-reflect keeps the last (or, in a oneof, refuses).
            if self.set[level..].contains(&field.number()) {
                return Err(give_up());
            }
            let wrote = map.next_value_seed(Field {
                field: &field,
                out: self.out,
                set: self.set,
            })?;
            if !wrote {
                continue;
            }
            // A second field of its oneof set (a `null` one is not).
            let set = &self.set[level..];
            if let Some(o) = field.containing_oneof()
                && o.fields().any(|f| set.contains(&f.number()))
            {
                return Err(give_up());
            }
            self.set.push(field.number());
        }
        self.set.truncate(level);
        Ok(())
    }
}

/// An object's key, when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'de str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'de str, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = &'de str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<&'de str, E> {
        Ok(v)
    }
}

/// A message's field: `null` (the field is not set: `false`), a list, a map or
/// one value (`true`, whether or not a default left it out).
struct Field<'a> {
    field: &'a FieldDescriptor,
    out: &'a mut Vec<u8>,
    set: &'a mut Vec<u32>,
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Field<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field's value")
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        let kind = self.field.kind();
        let number = self.field.number();
        if self.field.is_map() {
            let entry = kind.as_message().ok_or_else(give_up)?;
            d.deserialize_map(Map {
                number,
                key: entry.map_entry_key_field(),
                value: entry.map_entry_value_field(),
                out: self.out,
                set: self.set,
            })?;
        } else if self.field.is_list() {
            d.deserialize_seq(List {
                number,
                kind: &kind,
                packed: self.field.is_packed(),
                out: self.out,
                set: self.set,
            })?;
        } else {
            Value {
                number,
                kind: &kind,
                tagged: true,
                omit_default: !self.field.supports_presence(),
                out: self.out,
                set: self.set,
            }
            .deserialize(d)?;
        }
        Ok(true)
    }
}

/// A repeated field: a JSON array, its values packed into one field or each a
/// field of its own. An empty array writes nothing.
struct List<'a> {
    number: u32,
    kind: &'a Kind,
    packed: bool,
    out: &'a mut Vec<u8>,
    set: &'a mut Vec<u32>,
}

impl<'de> Visitor<'de> for List<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let before = self.out.len();
        let start = self.packed.then(|| {
            encode_key(self.number, WireType::LengthDelimited, self.out);
            open(self.out)
        });
        let mut values = 0;
        while let Some(()) = seq.next_element_seed(Value {
            number: self.number,
            kind: self.kind,
            tagged: !self.packed,
            omit_default: false,
            out: self.out,
            set: self.set,
        })? {
            values += 1;
        }
        match start {
            _ if values == 0 => self.out.truncate(before),
            Some(start) => close(self.out, start),
            None => {}
        }
        Ok(())
    }
}

/// A map field: a JSON object, each of its entries a message of a key and a
/// value. An empty object writes nothing.
struct Map<'a> {
    number: u32,
    key: FieldDescriptor,
    value: FieldDescriptor,
    out: &'a mut Vec<u8>,
    set: &'a mut Vec<u32>,
}

impl<'de> Visitor<'de> for Map<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (key_kind, value_kind) = (self.key.kind(), self.value.kind());
        while let Some(key) = map.next_key_seed(Key)? {
            encode_key(self.number, WireType::LengthDelimited, self.out);
            let start = open(self.out);
            let omit_default = !self.key.supports_presence();
            let number = self.key.number();
            let scalar = match key_kind {
                Kind::String => {
                    if !(omit_default && key.is_empty()) {
                        encode_key(number, WireType::LengthDelimited, self.out);
                        encode_varint(key.len() as u64, self.out);
                        self.out.extend_from_slice(key.as_bytes());
                    }
                    None
                }
                // A map's bool key is a string, as no bool value may be.
                Kind::Bool => Some(Scalar::Bool(key.parse().map_err(|_| give_up())?)),
                // Integers, as a value's number in a string (a key is no float
                // or enum).
                _ => Some(Scalar::from_str(&key_kind, key).ok_or_else(give_up)?),
            };
            if let Some(s) = scalar.filter(|s| !(omit_default && s.is_zero())) {
                s.write(number, &key_kind, true, self.out);
            }
            map.next_value_seed(Value {
                number: self.value.number(),
                kind: &value_kind,
                tagged: true,
                omit_default: !self.value.supports_presence(),
                out: self.out,
                set: self.set,
            })?;
            close(self.out, start);
        }
        Ok(())
    }
}

/// One value of a field's kind, with its key (`tagged`) or bare (packed), left
/// out at its default when `omit_default`.
struct Value<'a> {
    number: u32,
    kind: &'a Kind,
    tagged: bool,
    omit_default: bool,
    out: &'a mut Vec<u8>,
    set: &'a mut Vec<u32>,
}

impl<'de> DeserializeSeed<'de> for Value<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.kind {
            Kind::Message(desc) => {
                encode_key(self.number, WireType::LengthDelimited, self.out);
                let start = open(self.out);
                d.deserialize_map(Message {
                    desc,
                    out: self.out,
                    set: self.set,
                })?;
                close(self.out, start);
                Ok(())
            }
            Kind::String => d.deserialize_string(self),
            Kind::Bytes => d.deserialize_str(self),
            _ => d.deserialize_any(self),
        }
    }
}

impl Value<'_> {
    /// Write a string's or bytes' value: `write` appends it (or fails), and it is
    /// taken back when it came out empty and the default is left out.
    fn length_delimited<E: de::Error>(
        self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let before = self.out.len();
        encode_key(self.number, WireType::LengthDelimited, self.out);
        let start = open(self.out);
        write(self.out)?;
        if self.omit_default && self.out.len() == start {
            self.out.truncate(before);
        } else {
            close(self.out, start);
        }
        Ok(())
    }

    fn scalar<E: de::Error>(self, s: Option<Scalar>) -> Result<(), E> {
        let s = s.ok_or_else(give_up)?;
        if !(self.omit_default && s.is_zero()) {
            s.write(self.number, self.kind, self.tagged, self.out);
        }
        Ok(())
    }
}

impl Visitor<'_> for Value<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        let s = matches!(self.kind, Kind::Bool).then_some(Scalar::Bool(v));
        self.scalar(s)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let s = Scalar::from_int(self.kind, v.into());
        self.scalar(s)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let s = Scalar::from_int(self.kind, v.into());
        self.scalar(s)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let s = Scalar::from_float(self.kind, v);
        self.scalar(s)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.kind {
            Kind::String => self.length_delimited(|out| {
                out.extend_from_slice(v.as_bytes());
                Ok(())
            }),
            Kind::Bytes => self.length_delimited(|out| base64(v, out).ok_or_else(give_up)),
            kind => {
                let s = Scalar::from_str(kind, v);
                self.scalar(s)
            }
        }
    }
}

/// Append the bytes `v` spells in base64, standard or URL-safe, padded or not.
fn base64(v: &str, out: &mut Vec<u8>) -> Option<()> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::{DecodeError, Engine, alphabet};

    const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);

    let start = out.len();
    match STANDARD.decode_vec(v, out) {
        Ok(()) => Some(()),
        Err(DecodeError::InvalidByte(_, b'-' | b'_')) => {
            out.truncate(start);
            URL_SAFE.decode_vec(v, out).ok()
        }
        Err(_) => None,
    }
}

/// A scalar from JSON, converted as prost-reflect converts it, and written.
impl Scalar {
    /// From a JSON integer: in range for an integer kind, any for a float.
    fn from_int(kind: &Kind, v: i128) -> Option<Scalar> {
        Some(match kind {
            Kind::Double => Scalar::F64(v as f64),
            Kind::Float => Scalar::F32(v as f32),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Enum(_) => {
                Scalar::I32(v.try_into().ok()?)
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Scalar::I64(v.try_into().ok()?),
            Kind::Uint32 | Kind::Fixed32 => Scalar::U32(v.try_into().ok()?),
            Kind::Uint64 | Kind::Fixed64 => Scalar::U64(v.try_into().ok()?),
            _ => return None,
        })
    }

    /// From a JSON number with a fraction or exponent: an integer kind takes it
    /// when it is a whole number in range (checked against the type's bounds as
    /// floats, as prost-reflect does), a float kind when it fits.
    fn from_float(kind: &Kind, v: f64) -> Option<Scalar> {
        let whole = |min: f64, max: f64| (v.fract() == 0.0 && v >= min && v <= max).then_some(v);
        Some(match kind {
            Kind::Double => Scalar::F64(v),
            Kind::Float => {
                if v < f32::MIN as f64 || v > f32::MAX as f64 {
                    return None;
                }
                Scalar::F32(v as f32)
            }
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                Scalar::I32(whole(i32::MIN as f64, i32::MAX as f64)? as i32)
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                Scalar::I64(whole(i64::MIN as f64, i64::MAX as f64)? as i64)
            }
            Kind::Uint32 | Kind::Fixed32 => Scalar::U32(whole(0.0, u32::MAX as f64)? as u32),
            Kind::Uint64 | Kind::Fixed64 => Scalar::U64(whole(0.0, u64::MAX as f64)? as u64),
            _ => return None,
        })
    }

    /// From a JSON string: a number in decimal (or a float's `NaN`, `Infinity`
    /// and `-Infinity`), or an enum's value by name.
    fn from_str(kind: &Kind, v: &str) -> Option<Scalar> {
        let special = |inf: f64, nan: f64| match v {
            "Infinity" => Some(inf),
            "-Infinity" => Some(-inf),
            "NaN" => Some(nan),
            _ => None,
        };
        Some(match kind {
            Kind::Double => Scalar::F64(
                v.parse()
                    .ok()
                    .or_else(|| special(f64::INFINITY, f64::NAN))?,
            ),
            Kind::Float => Scalar::F32(match v.parse() {
                Ok(f) => f,
                Err(_) => special(f64::INFINITY, f64::NAN)? as f32,
            }),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Scalar::I32(v.parse().ok()?),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Scalar::I64(v.parse().ok()?),
            Kind::Uint32 | Kind::Fixed32 => Scalar::U32(v.parse().ok()?),
            Kind::Uint64 | Kind::Fixed64 => Scalar::U64(v.parse().ok()?),
            Kind::Enum(e) => Scalar::I32(e.get_value_by_name(v)?.number()),
            _ => return None,
        })
    }

    /// Write the value as `kind` encodes it, after its key when `tagged`.
    fn write(self, number: u32, kind: &Kind, tagged: bool, out: &mut Vec<u8>) {
        if tagged {
            encode_key(number, wire_type(kind), out);
        }
        match (self, kind) {
            (Scalar::I32(v), Kind::Sint32) => {
                encode_varint(u64::from(v.wrapping_shl(1) as u32 ^ (v >> 31) as u32), out)
            }
            (Scalar::I64(v), Kind::Sint64) => {
                encode_varint(v.wrapping_shl(1) as u64 ^ (v >> 63) as u64, out)
            }
            (Scalar::I32(v), Kind::Sfixed32) => out.extend_from_slice(&v.to_le_bytes()),
            (Scalar::I64(v), Kind::Sfixed64) => out.extend_from_slice(&v.to_le_bytes()),
            (Scalar::U32(v), Kind::Fixed32) => out.extend_from_slice(&v.to_le_bytes()),
            (Scalar::U64(v), Kind::Fixed64) => out.extend_from_slice(&v.to_le_bytes()),
            (Scalar::F32(v), _) => out.extend_from_slice(&v.to_le_bytes()),
            (Scalar::F64(v), _) => out.extend_from_slice(&v.to_le_bytes()),
            (Scalar::Bool(v), _) => encode_varint(u64::from(v), out),
            // `int32` and enums are sign-extended to ten bytes when negative.
            (Scalar::I32(v), _) => encode_varint(i64::from(v) as u64, out),
            (Scalar::I64(v), _) => encode_varint(v as u64, out),
            (Scalar::U32(v), _) => encode_varint(u64::from(v), out),
            (Scalar::U64(v), _) => encode_varint(v, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message as _;
    use prost_reflect::{DynamicMessage, MessageDescriptor};

    use super::super::testing::{dynamic, inner_with_a_default, message, object};
    use super::super::{Unsupported, writable};
    use super::Writer;

    fn direct(desc: &MessageDescriptor, json: &str) -> Result<Vec<u8>, Unsupported> {
        let mut out = vec![9];
        Writer::default().encode(json.as_bytes(), desc, &mut out)?;
        assert_eq!(out.remove(0), 9, "what was in the buffer stays");
        Ok(out)
    }

    /// A message as a decoder reads it from `bytes`, compared whatever the order of
    /// its fields and map entries (a field the bytes give at its default is set,
    /// and so unlike one they leave out).
    fn decoded(desc: &MessageDescriptor, bytes: &[u8]) -> DynamicMessage {
        DynamicMessage::decode(desc.clone(), bytes).unwrap()
    }

    #[test]
    fn well_known_types_and_groups_are_left_to_prost_reflect() {
        assert!(writable(&message("p.All")));
        assert!(writable(&message("p.Node")), "a recursive message");
        let stamped = message("p.Stamped");
        assert!(!writable(&stamped));
        assert!(!writable(
            &stamped
                .parent_pool()
                .get_message_by_name("google.protobuf.Timestamp")
                .unwrap()
        ));
        // prost-reflect leaves out a field at its own default (5), not at 0.
        let inner = inner_with_a_default();
        let theirs = dynamic(&inner, r#"{"i": 5}"#).unwrap().encode_to_vec();
        assert!(theirs.is_empty(), "{theirs:?}");
        assert!(!writable(&inner));
    }

    #[test]
    fn what_it_does_not_follow_it_gives_up_on() {
        let flat = message("p.Flat");
        for json in [
            r#"{"i32": 1, "i32": 2}"#,
            r#"{"i32": 1, "i32": null, "i32": 2}"#,
            r#"{"i32": 1, "i_32": 2}"#,
            r#"{"oS": "a", "oI64": 1}"#,
            r#"{"oS": "a", "o_s": "b"}"#,
            r#"{"opt": 1, "opt": 2}"#,
            r#"{"\u0069\u0033\u0032": 1}"#,
            r#"{"nope": 1}"#,
            r#"{"i32": "x"}"#,
            r#"{"i32": 1.5}"#,
            r#"{"i32": 2147483648}"#,
            r#"{"u32": -1}"#,
            r#"{"b": "true"}"#,
            r#"{"color": "PURPLE"}"#,
            r#"{"color": 1.0}"#,
            r#"{"by": "!!"}"#,
            r#"{"s": 1}"#,
            r#"{"f": 1e39}"#,
            r#"{"rI32": [1, null]}"#,
            r#"{"rI32": 1}"#,
            r#"{"inner": 1}"#,
            r#"{"inner": {"kids": [null]}}"#,
            r#"{} {}"#,
            r#"[]"#,
            r#"null"#,
        ] {
            assert_eq!(direct(&flat, json), Err(Unsupported), "{json}");
        }
        let all = message("p.All");
        for json in [
            r#"{"mB": {"yes": "a"}}"#,
            r#"{"mI64": {"1.5": {}}}"#,
            r#"{"mI64": {"1": null}}"#,
            r#"{"mS": {"a\n": 1}}"#,
        ] {
            assert_eq!(direct(&all, json), Err(Unsupported), "{json}");
        }
    }

    #[test]
    fn its_bytes_are_prost_reflect_s_in_number_order() {
        let flat = message("p.Flat");
        let long = "x".repeat(20_000);
        for json in [
            r#"{}"#.to_owned(),
            r#"{"d": "NaN", "f": "-Infinity", "i32": -1, "s32": -1, "s64": "-9223372036854775808"}"#.into(),
            r#"{"i32": 0, "s": "", "by": "", "b": false, "color": "RED", "rI32": [], "opt": 0}"#.into(),
            r#"{"d": -0.0, "i64": 3e2, "u64": 18446744073709551615, "fx64": "7"}"#.into(),
            r#"{"by": "-_-_", "rColor": ["BLUE", 0, 7], "rBy": ["+/+/", "", "AQ"]}"#.into(),
            r#"{"inner": {}, "rInner": [{}, {"kids": [{"s": "é\"\\"}]}]}"#.into(),
            format!(r#"{{"inner": {{"i": 5, "kids": [{{"s": "{long}"}}]}}, "other": "{long}"}}"#),
            r#"{"oInner": {"c": "GREEN"}, "last": 1}"#.into(),
            r#"{"oS": "a", "oI64": null}"#.into(),
            r#"{"oI64": null, "oS": "a"}"#.into(),
        ] {
            let slow = dynamic(&flat, &json).unwrap().encode_to_vec();
            assert!(direct(&flat, &json).unwrap() == slow, "{json}");
        }
    }

    /// `json`'s bytes are prost-reflect's, or both routes refuse it.
    fn written_alike(desc: &MessageDescriptor, json: &str) -> Result<(), TestCaseError> {
        match (direct(desc, json), dynamic(desc, json)) {
            (Ok(ours), Some(theirs)) => prop_assert_eq!(ours, theirs.encode_to_vec()),
            (Err(Unsupported), None) => {}
            (ours, theirs) => prop_assert!(false, "{json}: {ours:?} against {theirs:?}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Without maps and in the schema's order, the bytes are prost-reflect's,
        /// and each route refuses what the other does.
        #[test]
        fn flat_messages_are_written_as_prost_reflect_writes_them(
            json in object(&message("p.Flat"), 2, false)
        ) {
            written_alike(&message("p.Flat"), &json)?;
        }

        /// proto2's presence, defaults and unpacked lists, byte for byte.
        #[test]
        fn proto2_messages_are_written_as_prost_reflect_writes_them(
            json in object(&message("p.Old"), 1, false)
        ) {
            written_alike(&message("p.Old"), &json)?;
        }

        /// With maps and in any order, a decoder reads the same message from
        /// either route's bytes.
        #[test]
        fn any_message_decodes_as_prost_reflect_s(
            json in object(&message("p.All"), 3, true)
        ) {
            let all = message("p.All");
            match (direct(&all, &json), dynamic(&all, &json)) {
                (Ok(ours), Some(theirs)) => prop_assert_eq!(
                    decoded(&all, &ours),
                    decoded(&all, &theirs.encode_to_vec())
                ),
                (Err(Unsupported), None) => {}
                (ours, theirs) => prop_assert!(false, "{json}: {ours:?} against {theirs:?}"),
            }
        }
    }
}
