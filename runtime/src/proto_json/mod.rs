//! JSON and protobuf without a `DynamicMessage`: how the gRPC driver turns a
//! call's request message from JSON into protobuf, and its reply back.
//!
//! Where it sits: the VM writes a gRPC step's message as JSON into the body
//! buffer, and the driver (grpc.rs) turns it into the call's frame with the
//! method's input descriptor; when a check or an extractor reads a reply, the
//! driver turns the reply into JSON with the output descriptor. prost-reflect's
//! route goes through a `DynamicMessage` either way: every field a heap value, on
//! every call whose message has an interpolated part (`${REQUEST_ID}`), and on
//! every reply that differs from the last. [`Writer::encode`] (encode.rs) instead
//! walks the JSON with serde_json's deserializer and writes the wire format
//! straight into the frame, and [`reply`] (decode.rs) reads each field where it
//! lies in the reply's bytes and writes it through serde_json's serializer. Both
//! allocate nothing once their buffers have grown to the messages' size (a
//! request string with JSON escapes still takes serde_json's scratch buffer).
//!
//! Each follows prost-reflect's JSON mapping, with the same conversions, and
//! gives up ([`Unsupported`]) where it does not: a schema with well-known types
//! or groups (checked once per method, [`writable`] and [`readable`]), and
//! whatever of a message is rare or invalid (each side says which). The driver
//! then takes prost-reflect's route, which does the work or says what is wrong,
//! so an error a user reads is always prost-reflect's.

use prost::encoding::WireType;
use prost_reflect::{Kind, MessageDescriptor};

mod decode;
mod encode;
#[cfg(test)]
mod testing;

pub(crate) use decode::reply;
pub(crate) use encode::Writer;

/// A value of a field of a number kind or `bool`, as JSON spells it and the wire
/// holds it: made from JSON and written in encode.rs, read and written as JSON in
/// decode.rs.
#[derive(Debug, Clone, Copy)]
enum Scalar {
    Bool(bool),
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    F32(f32),
    F64(f64),
}

impl Scalar {
    /// The value a field without presence leaves out, its kind's default
    /// (`-0.0` is one, as it equals `0.0`).
    fn is_zero(self) -> bool {
        match self {
            Scalar::Bool(v) => !v,
            Scalar::I32(v) => v == 0,
            Scalar::I64(v) => v == 0,
            Scalar::U32(v) => v == 0,
            Scalar::U64(v) => v == 0,
            Scalar::F32(v) => v == 0.0,
            Scalar::F64(v) => v == 0.0,
        }
    }
}

/// The wire type of a field of `kind` not packed.
fn wire_type(kind: &Kind) -> WireType {
    match kind {
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => WireType::ThirtyTwoBit,
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => WireType::SixtyFourBit,
        Kind::String | Kind::Bytes | Kind::Message(_) => WireType::LengthDelimited,
        _ => WireType::Varint,
    }
}

/// The JSON or the reply is one this module does not handle; prost-reflect's
/// route decides what it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unsupported;

/// Whether [`Writer::encode`] can write messages of `desc`: none of the types
/// it reaches is a well-known type (their JSON forms are their own), has a group,
/// or a field without presence with a default of its own (prost-reflect leaves
/// that value out, not the type's zero; protoc refuses such a field, but a schema
/// from server reflection may carry one).
pub(crate) fn writable(desc: &MessageDescriptor) -> bool {
    let well_known = |name: &str| name.starts_with("google.protobuf.");
    every_type(desc, &|m| {
        !well_known(m.full_name())
            && m.fields().all(|f| {
                !f.is_group()
                    && f.kind()
                        .as_enum()
                        .is_none_or(|e| !well_known(e.full_name()))
                    && (f.supports_presence() || f.field_descriptor_proto().default_value.is_none())
            })
    })
}

/// Whether [`reply`] can read messages of `desc`: [`writable`], and every type it
/// reaches is proto3's, with no extensions (proto2's closed enums, groups and
/// extensions are prost-reflect's) and no field with a default of its own (which
/// protoc refuses in proto3, but a schema from server reflection may carry).
pub(crate) fn readable(desc: &MessageDescriptor) -> bool {
    writable(desc)
        && every_type(desc, &|m| {
            m.parent_file().syntax() == prost_reflect::Syntax::Proto3
                && m.extensions().len() == 0
                && m.fields()
                    .all(|f| f.field_descriptor_proto().default_value.is_none())
        })
}

/// Whether `ok` holds of `desc` and of every message type its fields reach.
fn every_type(desc: &MessageDescriptor, ok: &dyn Fn(&MessageDescriptor) -> bool) -> bool {
    fn walk(
        desc: &MessageDescriptor,
        ok: &dyn Fn(&MessageDescriptor) -> bool,
        seen: &mut Vec<MessageDescriptor>,
    ) -> bool {
        if seen.contains(desc) {
            return true;
        }
        seen.push(desc.clone());
        ok(desc)
            && desc.fields().all(|f| match f.kind() {
                Kind::Message(m) => walk(&m, ok, seen),
                _ => true,
            })
    }
    walk(desc, ok, &mut Vec::new())
}
