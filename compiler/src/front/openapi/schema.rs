//! A value for a schema: the one its author gave (`example`, `examples`, `default`,
//! `const`, the first of `enum`), or one generated from its type and constraints.
//! Deterministic (the same schema always gives the same value) and valid against the
//! schema for the keywords it reads: `type`, `format`, `minimum`/`maximum` (and their
//! exclusive forms), `minLength`/`maxLength`, `minItems`/`maxItems`, `required`,
//! `properties`, `items`, `allOf`/`oneOf`/`anyOf`, and `pattern` ([`super::pattern`]:
//! a string it matches, or none when it cannot make one).
//!
//! Part of the OpenAPI importer ([`super`]): parameters and request bodies.

use serde_json::{Map, Value};

use super::Docs;

/// How deep generation goes into nested objects and arrays before it stops adding
/// optional properties.
const MAX_DEPTH: usize = 12;

/// A value for `schema` (in file `file`), or `None` when the schema says too little
/// to make one (no type, a `file`, a recursion that is required all the way down).
pub(super) fn value(docs: &Docs, file: usize, schema: &Value) -> Option<Value> {
    let mut stack = Vec::new();
    generate(docs, file, schema, &mut stack, 0)
}

/// The value its author gave a schema, if any.
pub(super) fn given(schema: &Value) -> Option<Value> {
    if let Some(v) = schema.get("example") {
        return Some(v.clone());
    }
    // OpenAPI 3.1 (JSON Schema): `examples` is an array of values.
    if let Some(v) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return Some(v.clone());
    }
    if let Some(v) = schema.get("default") {
        return Some(v.clone());
    }
    if let Some(v) = schema.get("const") {
        return Some(v.clone());
    }
    schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .cloned()
}

fn generate(
    docs: &Docs,
    file: usize,
    schema: &Value,
    stack: &mut Vec<(usize, String)>,
    depth: usize,
) -> Option<Value> {
    // A `$ref` already being generated is a cycle: this branch gives up, and the
    // caller leaves the property out (or the array empty).
    let (file, schema, pushed) = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let (f, target) = docs.resolve_ref(file, r).ok()?;
            let key = (f, r.to_owned());
            if stack.contains(&key) {
                return None;
            }
            stack.push(key);
            (f, target, true)
        }
        None => (file, schema, false),
    };
    let out = generate_resolved(docs, file, schema, stack, depth);
    if pushed {
        stack.pop();
    }
    out
}

fn generate_resolved(
    docs: &Docs,
    file: usize,
    schema: &Value,
    stack: &mut Vec<(usize, String)>,
    depth: usize,
) -> Option<Value> {
    if let Some(v) = given(schema) {
        return Some(v);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        let mut other = None;
        for part in all {
            match generate(docs, file, part, stack, depth)? {
                Value::Object(m) => merged.extend(m),
                v => other = Some(v),
            }
        }
        // The object's own properties, beside `allOf`.
        if schema.get("properties").is_some()
            && let Some(Value::Object(m)) = object(docs, file, schema, stack, depth)
        {
            merged.extend(m);
        }
        return Some(match other {
            Some(v) if merged.is_empty() => v,
            _ => Value::Object(merged),
        });
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema.get(key).and_then(Value::as_array).and_then(|a| {
            // A branch that is only `null` says nothing useful: prefer another.
            a.iter()
                .find(|s| s.get("type").and_then(Value::as_str) != Some("null"))
                .or_else(|| a.first())
        }) {
            return generate(docs, file, first, stack, depth);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        // OpenAPI 3.1: a list of types; the first that is not `null`.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(Some("null")),
        _ => None,
    };
    let ty = ty.or_else(|| {
        if schema.get("properties").is_some() || schema.get("additionalProperties").is_some() {
            Some("object")
        } else if schema.get("items").is_some() {
            Some("array")
        } else {
            None
        }
    })?;
    match ty {
        "object" => object(docs, file, schema, stack, depth),
        "array" => {
            let max = schema.get("maxItems").and_then(Value::as_u64);
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            if max == Some(0) || depth >= MAX_DEPTH {
                return (min == 0).then(|| Value::Array(Vec::new()));
            }
            let items = schema.get("items").unwrap_or(&Value::Null);
            match generate(docs, file, items, stack, depth + 1) {
                Some(item) => {
                    let n = min.max(1) as usize;
                    Some(Value::Array(vec![item; n]))
                }
                None if min == 0 => Some(Value::Array(Vec::new())),
                None => None,
            }
        }
        "string" => string(schema).map(Value::String),
        // `int` is not a JSON Schema type, but Flasgger specs (httpbin's among them)
        // write it for integers.
        "integer" | "int" => Some(integer(schema)),
        "number" => Some(number(schema)),
        "boolean" => Some(Value::Bool(true)),
        "null" => Some(Value::Null),
        _ => None,
    }
}

/// The required properties and every other one that is not `readOnly` (a request
/// does not send those), while not too deep and not recursing.
fn object(
    docs: &Docs,
    file: usize,
    schema: &Value,
    stack: &mut Vec<(usize, String)>,
    depth: usize,
) -> Option<Value> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Some(Value::Object(out));
    };
    for (name, prop) in props {
        let is_required = required.contains(&name.as_str());
        let prop_resolved = docs.deref(file, prop).ok().map(|(_, p)| p);
        let read_only = prop_resolved
            .and_then(|p| p.get("readOnly"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !is_required && (read_only || depth >= MAX_DEPTH) {
            continue;
        }
        match generate(docs, file, prop, stack, depth + 1) {
            Some(v) => {
                out.insert(name.clone(), v);
            }
            None if is_required => return None,
            None => {}
        }
    }
    Some(Value::Object(out))
}

/// A string for the schema's `pattern` when it has one (`None` when none can be
/// generated), else for its `format`; within its length bounds.
fn string(schema: &Value) -> Option<String> {
    let min = schema.get("minLength").and_then(Value::as_u64);
    let max = schema.get("maxLength").and_then(Value::as_u64);
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        return super::pattern::generate(pattern, min.map_or(0, as_usize), max.map(as_usize));
    }
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let base = match format {
        "date" => "2024-01-01",
        "date-time" => "2024-01-01T00:00:00Z",
        "time" => "00:00:00Z",
        "email" => "user@example.com",
        "uuid" => "00000000-0000-4000-8000-000000000000",
        "uri" | "url" => "https://example.com/",
        "hostname" => "example.com",
        "ipv4" => "192.0.2.1",
        "ipv6" => "2001:db8::1",
        // base64 of "string"
        "byte" => "c3RyaW5n",
        _ => "string",
    };
    let mut s = base.to_owned();
    if let Some(min) = min {
        while (s.chars().count() as u64) < min {
            s.push('x');
        }
    }
    if let Some(max) = max {
        s = s.chars().take(max as usize).collect();
    }
    Some(s)
}

/// 1, or the smallest value the bounds allow, then the next multiple of
/// `multipleOf`. In integer arithmetic: a bound such as 9007199254740993 is past
/// what an `f64` holds exactly, and would give a value outside it.
fn integer(schema: &Value) -> Value {
    let (lo, lo_excl, hi, hi_excl) = bound_values(schema);
    let mut n: i128 = 1;
    if let Some(lo) = lo.and_then(|lo| whole(lo, lo_excl, f64::floor, f64::ceil)) {
        n = n.max(if lo_excl { lo.saturating_add(1) } else { lo });
    }
    if let Some(hi) = hi.and_then(|hi| whole(hi, hi_excl, f64::ceil, f64::floor)) {
        n = n.min(if hi_excl { hi.saturating_sub(1) } else { hi });
    }
    if let Some(m) = schema
        .get("multipleOf")
        .and_then(|m| m.as_u64().map(i128::from))
        .filter(|m| *m > 0)
        && n.rem_euclid(m) != 0
    {
        n = n.saturating_add(m - n.rem_euclid(m));
    }
    i64::try_from(n)
        .map(Value::from)
        .or_else(|_| u64::try_from(n).map(Value::from))
        .unwrap_or_else(|_| Value::from(if n < 0 { i64::MIN } else { i64::MAX }))
}

/// An integer bound as an `i128`: exact when the spec writes an integer; a fraction
/// rounded inwards (`exclusive` rounds the other way first, so that the caller's
/// `± 1` lands on the first integer inside).
fn whole(v: &Value, exclusive: bool, excl: fn(f64) -> f64, incl: fn(f64) -> f64) -> Option<i128> {
    if let Some(i) = v.as_i64() {
        return Some(i.into());
    }
    if let Some(u) = v.as_u64() {
        return Some(u.into());
    }
    let f = v.as_f64()?;
    // `as` saturates at i128's bounds, far beyond any bound an f64 holds exactly.
    Some(if exclusive { excl(f) } else { incl(f) } as i128)
}

/// 1, or a value inside the bounds (the lower one, or halfway between the two), then
/// a multiple of `multipleOf` inside them when there is one. Worked out in decimal,
/// with the places the spec writes its numbers with (and one more, for halfway), so
/// that `minimum: 0.1, maximum: 0.2` gives `0.15`, not `0.15000000000000002`; in
/// `f64` when a number has too many places for that.
fn number(schema: &Value) -> Value {
    let from_f64 = |n: f64| serde_json::Number::from_f64(n).map_or(Value::from(1), Value::Number);
    match exact_number(schema) {
        Some(text) => text.parse::<f64>().map_or(Value::from(1), from_f64),
        None => from_f64(float_number(schema)),
    }
}

/// [`number`] in decimal: its digits as text, or `None` when a number of the schema
/// has too many places (or digits) to be worked out exactly in an `i128`.
fn exact_number(schema: &Value) -> Option<String> {
    let (lo, lo_excl, hi, hi_excl) = bound_values(schema);
    let multiple = schema.get("multipleOf");
    // An absent number is fine; one that cannot be worked out exactly is not.
    fn each<T, U>(v: Option<T>, f: impl Fn(T) -> Option<U>) -> Option<Option<U>> {
        v.map_or(Some(None), |v| f(v).map(Some))
    }
    let (lo, hi, multiple) = (
        each(lo, Decimal::of)?,
        each(hi, Decimal::of)?,
        each(multiple, Decimal::of)?,
    );
    let places = [lo, hi, multiple]
        .iter()
        .flatten()
        .map(|d| d.places)
        .max()
        .unwrap_or(0)
        + 1;
    let scaled = |d: Option<Decimal>| each(d, |d| d.scaled(places));
    let (lo, hi, multiple) = (scaled(lo)?, scaled(hi)?, scaled(multiple)?);
    let one = 10i128.checked_pow(places)?;
    let inside = |n: i128| {
        lo.is_none_or(|lo| if lo_excl { n > lo } else { n >= lo })
            && hi.is_none_or(|hi| if hi_excl { n < hi } else { n <= hi })
    };
    let mut n = one;
    if let Some(lo) = lo
        && (n < lo || (lo_excl && n <= lo))
    {
        n = if lo_excl { lo.checked_add(one)? } else { lo };
    }
    if let Some(hi) = hi
        && (n > hi || (hi_excl && n >= hi))
    {
        n = match lo {
            // Exact: both end in 0 at `places`, so their sum is even.
            Some(lo) => lo.checked_add(hi)? / 2,
            None if hi_excl => hi.checked_sub(one)?,
            None => hi,
        };
    }
    if let Some(m) = multiple.filter(|m| *m > 0)
        && n.rem_euclid(m) != 0
    {
        let down = n - n.rem_euclid(m);
        let up = down.checked_add(m)?;
        if inside(up) {
            n = up;
        } else if inside(down) {
            n = down;
        }
    }
    let sign = if n < 0 { "-" } else { "" };
    let (int, frac) = (
        n.unsigned_abs() / one as u128,
        n.unsigned_abs() % one as u128,
    );
    let frac = format!("{frac:0width$}", width = places as usize);
    let frac = frac.trim_end_matches('0');
    Some(if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

/// A number as the spec writes it, exactly: `units × 10^-places`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    units: i128,
    places: u32,
}

impl Decimal {
    /// The number `v` as written (`0.05`, `1e-7`, `12`), if it is one with at most
    /// 18 places and 30 digits.
    fn of(v: &Value) -> Option<Decimal> {
        let text = v.as_number()?.to_string();
        let (mantissa, exp) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().ok()?),
            None => (text.as_str(), 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.len() + frac.len() > 30 {
            return None;
        }
        let units: i128 = format!("{int}{frac}").parse().ok()?;
        let exp = exp.checked_sub(i32::try_from(frac.len()).ok()?)?;
        let decimal = if exp >= 0 {
            Decimal {
                units: units.checked_mul(10i128.checked_pow(exp.unsigned_abs())?)?,
                places: 0,
            }
        } else {
            Decimal {
                units,
                places: exp.unsigned_abs(),
            }
        };
        (decimal.places <= 18).then_some(decimal)
    }

    /// Its units at `places` (at least its own).
    fn scaled(self, places: u32) -> Option<i128> {
        self.units
            .checked_mul(10i128.checked_pow(places.checked_sub(self.places)?)?)
    }
}

/// [`number`] in `f64`, for numbers written with too many places to work out
/// exactly.
fn float_number(schema: &Value) -> f64 {
    let (lo, lo_excl, hi, hi_excl) = bounds(schema);
    let mut n = 1.0f64;
    if let Some(lo) = lo
        && (n < lo || (lo_excl && n <= lo))
    {
        n = if lo_excl { lo + 1.0 } else { lo };
    }
    if let Some(hi) = hi
        && (n > hi || (hi_excl && n >= hi))
    {
        n = match lo {
            Some(lo) => (lo + hi) / 2.0,
            None if hi_excl => hi - 1.0,
            None => hi,
        };
    }
    n
}

/// Lower and upper bounds, and whether each is exclusive: OpenAPI 3.0 writes
/// `exclusiveMinimum: true` beside `minimum`, 3.1 a number of its own.
fn bound_values(schema: &Value) -> (Option<&Value>, bool, Option<&Value>, bool) {
    let num = |k: &str| schema.get(k).filter(|v| v.is_number());
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (lo, lo_excl) = match num("exclusiveMinimum") {
        Some(v) => (Some(v), true),
        None => (num("minimum"), flag("exclusiveMinimum")),
    };
    let (hi, hi_excl) = match num("exclusiveMaximum") {
        Some(v) => (Some(v), true),
        None => (num("maximum"), flag("exclusiveMaximum")),
    };
    (lo, lo_excl, hi, hi_excl)
}

/// [`bound_values`] as `f64`s.
fn bounds(schema: &Value) -> (Option<f64>, bool, Option<f64>, bool) {
    let (lo, lo_excl, hi, hi_excl) = bound_values(schema);
    (
        lo.and_then(Value::as_f64),
        lo_excl,
        hi.and_then(Value::as_f64),
        hi_excl,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docs(root: Value) -> Docs {
        Docs::single("spec.json", root)
    }

    #[test]
    fn values_follow_types_and_bounds() {
        let d = docs(json!({}));
        let v = |s: Value| value(&d, 0, &s);
        assert_eq!(v(json!({"type": "integer", "minimum": 5})), Some(json!(5)));
        assert_eq!(
            v(json!({"type": "integer", "exclusiveMinimum": 5})),
            Some(json!(6))
        );
        assert_eq!(v(json!({"type": "integer", "maximum": 0})), Some(json!(0)));
        assert_eq!(
            v(json!({"type": "integer", "minimum": 3, "multipleOf": 4})),
            Some(json!(4))
        );
        assert_eq!(
            v(json!({"type": "number", "minimum": 0.5, "maximum": 0.7})),
            Some(json!(0.6))
        );
        assert_eq!(
            v(json!({"type": "integer", "minimum": 9007199254740993_u64})),
            Some(json!(9007199254740993_u64))
        );
        assert_eq!(
            v(
                json!({"type": "integer", "exclusiveMinimum": 9007199254740993_u64, "multipleOf": 2})
            ),
            Some(json!(9007199254740994_u64))
        );
        assert_eq!(
            v(json!({"type": "integer", "maximum": -9007199254740993_i64})),
            Some(json!(-9007199254740993_i64))
        );
        assert_eq!(
            v(json!({"type": "integer", "minimum": 2.5, "maximum": 7.5})),
            Some(json!(3))
        );
        assert_eq!(
            v(json!({"type": "number", "minimum": 0.1, "maximum": 0.2, "multipleOf": 0.05})),
            Some(json!(0.15))
        );
        assert_eq!(
            v(json!({"type": "number", "minimum": 0.1, "maximum": 0.2})),
            Some(json!(0.15))
        );
        assert_eq!(
            v(json!({"type": "number", "minimum": 1.01, "multipleOf": 0.1})),
            Some(json!(1.1))
        );
        assert_eq!(
            v(
                json!({"type": "number", "exclusiveMinimum": 0.3, "maximum": 0.35, "multipleOf": 0.01})
            ),
            Some(json!(0.33))
        );
        assert_eq!(
            v(json!({"type": "number", "minimum": 1e-7, "maximum": 3e-7})),
            Some(json!(2e-7))
        );
        assert_eq!(
            v(json!({"type": "string", "minLength": 8})),
            Some(json!("stringxx"))
        );
        assert_eq!(
            v(json!({"type": "string", "maxLength": 3})),
            Some(json!("str"))
        );
        assert_eq!(
            v(json!({"type": "string", "format": "uuid"})),
            Some(json!("00000000-0000-4000-8000-000000000000"))
        );
        assert_eq!(v(json!({"type": ["null", "boolean"]})), Some(json!(true)));
        assert_eq!(
            v(json!({"type": "string", "enum": ["b", "a"]})),
            Some(json!("b"))
        );
        assert_eq!(
            v(json!({"type": "string", "default": "d", "example": "e"})),
            Some(json!("e"))
        );
        assert_eq!(
            v(json!({"type": "array", "items": {"type": "integer"}, "minItems": 2})),
            Some(json!([1, 1]))
        );
        assert_eq!(v(json!({})), None);
        assert_eq!(v(json!({"type": "file"})), None);
    }

    #[test]
    fn objects_leave_out_read_only_and_merge_all_of() {
        let d = docs(json!({}));
        let s = json!({"allOf": [
            {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer", "readOnly": true}}},
            {"properties": {"name": {"type": "string"}, "seen": {"type": "boolean", "readOnly": true}}}
        ]});
        assert_eq!(value(&d, 0, &s), Some(json!({"id": 1, "name": "string"})));
    }

    #[test]
    fn recursion_stops_at_the_cycle() {
        let d = docs(json!({"definitions": {"Node": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "child": {"$ref": "#/definitions/Node"},
                           "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}}
        }}}));
        let s = json!({"$ref": "#/definitions/Node"});
        assert_eq!(
            value(&d, 0, &s),
            Some(json!({"children": [], "name": "string"}))
        );
    }
}
