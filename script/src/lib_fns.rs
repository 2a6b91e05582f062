//! kaioken's library for scripts: `json`, `crypto`, `base64`, `env` and the
//! `setup` table, and how a Lua value becomes request or variable bytes.

use base64::Engine as _;
use mlua::{Lua, LuaSerdeExt, Table, Value};

use crate::Limits;

/// Install `json`, `crypto`, `base64` and `env` (the granted variables only).
pub(crate) fn install(lua: &Lua, limits: &Limits) -> mlua::Result<()> {
    let globals = lua.globals();

    let json = lua.create_table()?;
    json.raw_set(
        "decode",
        lua.create_function(|lua, text: mlua::LuaString| {
            let value: serde_json::Value = serde_json::from_slice(&text.as_bytes())
                .map_err(|e| mlua::Error::runtime(format!("json.decode: {e}")))?;
            lua.to_value(&value)
        })?,
    )?;
    json.raw_set(
        "encode",
        lua.create_function(|lua, value: Value| {
            let value: serde_json::Value = lua
                .from_value(value)
                .map_err(|e| mlua::Error::runtime(format!("json.encode: {e}")))?;
            Ok(value.to_string())
        })?,
    )?;
    json.raw_set("null", lua.null())?;
    globals.raw_set("json", json)?;

    let crypto = lua.create_table()?;
    crypto.raw_set(
        "sha256",
        lua.create_function(|lua, (data, encoding): (mlua::LuaString, Option<String>)| {
            let digest = ring::digest::digest(&ring::digest::SHA256, &data.as_bytes());
            encode(lua, digest.as_ref(), encoding.as_deref())
        })?,
    )?;
    crypto.raw_set(
        "hmac_sha256",
        lua.create_function(
            |lua, (key, data, encoding): (mlua::LuaString, mlua::LuaString, Option<String>)| {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key.as_bytes());
                let tag = ring::hmac::sign(&key, &data.as_bytes());
                encode(lua, tag.as_ref(), encoding.as_deref())
            },
        )?,
    )?;
    globals.raw_set("crypto", crypto)?;

    let b64 = lua.create_table()?;
    b64.raw_set(
        "encode",
        lua.create_function(|_, data: mlua::LuaString| {
            Ok(base64::engine::general_purpose::STANDARD.encode(data.as_bytes()))
        })?,
    )?;
    b64.raw_set(
        "decode",
        lua.create_function(|lua, data: mlua::LuaString| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.as_bytes())
                .map_err(|e| mlua::Error::runtime(format!("base64.decode: {e}")))?;
            lua.create_string(bytes)
        })?,
    )?;
    globals.raw_set("base64", b64)?;

    let env = lua.create_table()?;
    for (name, value) in &limits.env {
        env.raw_set(name.as_str(), value.as_str())?;
    }
    globals.raw_set("env", env)?;
    Ok(())
}

/// Bytes as `hex` (the default), `base64` or `raw`.
fn encode(lua: &Lua, bytes: &[u8], encoding: Option<&str>) -> mlua::Result<mlua::LuaString> {
    match encoding.unwrap_or("hex") {
        "hex" => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let hex: Vec<u8> = bytes
                .iter()
                .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
                .collect();
            lua.create_string(hex)
        }
        "base64" => lua.create_string(base64::engine::general_purpose::STANDARD.encode(bytes)),
        "raw" => lua.create_string(bytes),
        other => Err(mlua::Error::runtime(format!(
            "unknown encoding `{other}`: use \"hex\", \"base64\" or \"raw\""
        ))),
    }
}

/// The `setup` table: the values setup returned, as strings.
pub(crate) fn setup_table(lua: &Lua, values: &[(String, Vec<u8>)]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (k, v) in values {
        t.raw_set(k.as_str(), lua.create_string(v)?)?;
    }
    Ok(t)
}

/// Append `v` to `out` as a request part or variable holds it: a string as is, a
/// number or boolean as text, a table as compact JSON.
pub(crate) fn write_value(lua: &Lua, v: &Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => out.extend_from_slice(&s.as_bytes()),
        Value::Integer(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Table(_) => {
            let json: serde_json::Value = lua.from_value(v.clone())?;
            out.extend_from_slice(json.to_string().as_bytes());
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "returned a {}: a value must be a string, a number, a boolean or a table",
                other.type_name()
            )));
        }
    }
    Ok(())
}
