//! The Postman front end: a Postman Collection (v2.0 or v2.1, as Postman exports
//! it) into scenario TOML for `kaioken import postman`, or into a `Draft` for
//! `kaioken run collection.json`.
//!
//! ```text
//!  collection.json ─parse─► items, depth first ─► steps (method, URL, headers, body,
//!  (+ environment,          (folders flattened,    auth as headers, `{{var}}` as
//!     globals)               in runner order)       `${var}` or its value, test-script
//!                                                   `pm.*.set` lines as extractors)
//!                                                               │
//!                                    ┌──────────────────────────┴────────┐
//!                        `kaioken run` ▼                `kaioken import` ▼
//!                 scenario TOML ─► front::toml ─► Draft          scenario.toml
//! ```
//!
//! Both outputs are the same text: `kaioken run collection.json` reads the scenario
//! that `kaioken import postman` would write, so the two lower to the same IR, and
//! a problem that only lowering finds is shown in that scenario's text (named
//! `collection.json (imported)`), which `kaioken import postman` prints for editing.
//!
//! The collection is one scenario whose steps are its requests in the order the
//! Postman runner sends them (depth first through folders), so a value one folder's
//! request sets is there for the next folder's: folders name their steps
//! (`Folder / Request`) rather than becoming scenarios of their own, which would
//! split the iterations between them and lose the values set across them.
//!
//! Variables: a scenario file has no variables table, so a `{{var}}` with a value in
//! the collection, the environment or the globals (Postman's precedence: environment
//! over collection over globals) is written in as that value; one set by an earlier
//! request's test script is `${var}`, the extracted value; any other is `${var}`, an
//! environment variable when the scenario is compiled, and listed as unknown.
//! Dynamic variables become built-ins: `{{$guid}}` and `{{$randomUUID}}` are
//! `${UUID}`, `{{$randomInt}}` is `${RANDOM(0,1000)}` (Postman's range), and
//! `{{$timestamp}}` is `${TIMESTAMP_MS}` — milliseconds, where Postman sends seconds
//! (there is no seconds built-in); the others are left as written and listed.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::har::json_error_as;
use super::har::recording::{Seg, Text};
use super::har::to_toml::{key, push_checks, push_extracts, sentence, string, wrap};
use crate::compile_error::{CompileError, CompileErrorKind, CompileErrors};
use crate::draft::Draft;
use crate::located::{Src, shorten};

/// A Postman environment or globals file, for `--environment` and `--globals`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostmanOptions {
    /// `--environment env.json`: its name and text.
    pub environment: Option<(String, String)>,
    /// `--globals globals.json`: its name and text.
    pub globals: Option<(String, String)>,
}

/// A scenario imported from a collection.
#[derive(Debug, Clone)]
pub struct PostmanImport {
    /// The scenario as TOML, with a comment header saying what was converted.
    pub toml: String,
    /// How many steps (requests) it has.
    pub steps: usize,
    /// The variables test scripts set that became extractors.
    pub extracted: Vec<String>,
    /// `{{var}}`s with no value anywhere: `${var}`, environment variables.
    pub unknown: Vec<String>,
    /// What was not converted, one sentence each (also in the comment header).
    pub not_converted: Vec<String>,
}

/// The schema URLs Postman writes in `info.schema`, by version.
const SCHEMA_HOST: &str = "schema.getpostman.com/json/collection/";

/// Whether `text` is a Postman collection: a JSON object whose `info.schema` is one
/// of Postman's collection schemas (any version: an unsupported one is then
/// reported as such rather than as a TOML error).
pub fn is_postman(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.trim_start().starts_with('{') {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Head {
        info: Option<Info>,
    }
    #[derive(serde::Deserialize)]
    struct Info {
        schema: Option<String>,
    }
    serde_json::from_str::<Head>(text)
        .ok()
        .and_then(|h| h.info?.schema)
        .is_some_and(|s| s.contains(SCHEMA_HOST))
}

/// Import a collection as scenario TOML (`kaioken import postman`).
///
/// # Example
///
/// ```
/// use kaioken_compiler::{PostmanOptions, import_postman};
///
/// let collection = r#"{
///   "info": {"name": "demo", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
///   "variable": [{"key": "base", "value": "http://127.0.0.1:8080"}],
///   "item": [{"name": "ping", "request": {"method": "GET", "url": "{{base}}/ping?id={{$guid}}"}}]
/// }"#;
/// let imported = import_postman("c.json", collection, &PostmanOptions::default())?;
/// assert!(imported.toml.contains(r#"url = "http://127.0.0.1:8080/ping?id=${UUID}""#));
/// assert_eq!(imported.steps, 1);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A file that is not JSON (located at the line and column), not a collection, of
/// an unsupported version (v1), or with no request; an environment or globals file
/// that is not one.
pub fn import(
    name: &str,
    text: &str,
    options: &PostmanOptions,
) -> Result<PostmanImport, CompileErrors> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let src = Src::new(name, text);
    convert(&src, options).map_err(CompileErrors::from)
}

/// Read a collection into `draft` (`kaioken run collection.json`): the scenario
/// [`import`] writes, read by the TOML front end.
pub(crate) fn read(
    src: &Src,
    options: &PostmanOptions,
    draft: &mut Draft,
) -> Result<(), CompileError> {
    let imported = convert(src, options)?;
    let scenario = Src::new(format!("{} (imported)", src.name), imported.toml);
    super::toml::read(&scenario, draft)
}

fn not_postman(src: &Src, message: impl Into<String>, span: Option<Range<usize>>) -> CompileError {
    let kind = CompileErrorKind::NotPostman {
        message: message.into(),
    };
    CompileError::in_source(kind, src, span.or(Some(0..src.text.len().min(1))))
}

/// Where the first `"name"` key of the file is, to point an error at it.
fn span_of_key(src: &Src, name: &str) -> Option<Range<usize>> {
    let quoted = format!("\"{name}\"");
    src.text.find(&quoted).map(|i| i..i + quoted.len())
}

/// Parse a JSON file, syntax errors located.
fn parse(src: &Src) -> Result<Value, CompileError> {
    serde_json::from_str::<Value>(&src.text)
        .map_err(|e| json_error_as(src, &e, |message| CompileErrorKind::NotPostman { message }))
}

/// The collection's version, from `info.schema`, or why it cannot be read.
fn check_version(src: &Src, root: &Value) -> Result<(), CompileError> {
    let Some(obj) = root.as_object() else {
        return Err(not_postman(
            src,
            "the file is JSON but not an object; a collection is `{\"info\": …, \"item\": […]}`",
            None,
        ));
    };
    let v1 = obj.contains_key("requests") && obj.contains_key("order") && !obj.contains_key("item");
    let schema = obj
        .get("info")
        .and_then(|i| i.get("schema"))
        .and_then(Value::as_str);
    let at = span_of_key(src, "schema");
    match schema {
        Some(s) if s.contains("/v2.1") || s.contains("/v2.0") => Ok(()),
        Some(s) if s.contains(SCHEMA_HOST) => {
            let version = s
                .split(SCHEMA_HOST)
                .nth(1)
                .and_then(|v| v.split('/').next())
                .unwrap_or(s);
            Err(not_postman(
                src,
                format!(
                    "Postman Collection {version} is not supported (v2.0 and v2.1 are); export it again from Postman as Collection v2.1"
                ),
                at,
            ))
        }
        _ if v1 => Err(not_postman(
            src,
            "Postman Collection v1 (`requests` and `order`) is not supported (v2.0 and v2.1 are); export it again from Postman as Collection v2.1",
            span_of_key(src, "requests"),
        )),
        Some(s) => Err(not_postman(
            src,
            format!(
                "`info.schema` is `{}`, not a Postman collection schema",
                shorten(s, 80)
            ),
            at,
        )),
        None => Err(not_postman(
            src,
            "no `info.schema` naming a Postman collection schema (`https://schema.getpostman.com/json/collection/v2.1.0/collection.json`)",
            None,
        )),
    }
}

/// The enabled `key`/`value` pairs of a variable list (collection `variable`, an
/// environment's or globals' `values`).
fn variables(list: Option<&Value>, into: &mut BTreeMap<String, String>) {
    for v in list.and_then(Value::as_array).into_iter().flatten() {
        let Some(k) = v.get("key").and_then(Value::as_str) else {
            continue;
        };
        if v.get("disabled").and_then(Value::as_bool) == Some(true)
            || v.get("enabled").and_then(Value::as_bool) == Some(false)
        {
            continue;
        }
        if let Some(value) = v.get("value") {
            into.insert(k.to_owned(), scalar(value));
        }
    }
}

/// A JSON scalar as the text Postman would substitute.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Read an environment or globals file's `values` into `into`.
fn read_values(
    (name, text): &(String, String),
    into: &mut BTreeMap<String, String>,
) -> Result<(), CompileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let src = Src::new(name.as_str(), text);
    let root = parse(&src)?;
    let Some(values) = root.get("values").filter(|v| v.is_array()) else {
        return Err(not_postman(
            &src,
            "no `values` array: not a Postman environment or globals file",
            None,
        ));
    };
    variables(Some(values), into);
    Ok(())
}

/// The conversion's state: the variables known, what test scripts extract, and
/// what could not be converted.
struct Ctx {
    values: BTreeMap<String, String>,
    /// Set by an earlier request's test script: `${var}` from here on.
    extracted: BTreeSet<String>,
    unknown: BTreeSet<String>,
    /// Dynamic variables with no built-in.
    dynamic: BTreeSet<String>,
    /// The variables whose values are being written in, outermost first: one of
    /// them met again is a cycle.
    expanding: Vec<String>,
    /// Variables whose values lead back to themselves.
    cyclic: BTreeSet<String>,
    /// Variables used before the test script that sets them, and the environment
    /// variable those uses read instead ([`read_before_set`]).
    before_set: BTreeMap<String, String>,
    timestamp: bool,
    not_converted: Vec<String>,
    /// How many requests the walk has met, left out or not.
    requests: usize,
    /// The requests left out: their number in the walk's order (from 0), and why.
    left_out: Vec<(usize, String)>,
    /// Test-script lines that are neither a `set` nor a status check (assertions,
    /// logging), and in how many steps.
    other_lines: usize,
    other_steps: usize,
}

impl Ctx {
    /// A conversion that starts knowing `values`.
    fn new(values: BTreeMap<String, String>) -> Ctx {
        Ctx {
            values,
            extracted: BTreeSet::new(),
            unknown: BTreeSet::new(),
            dynamic: BTreeSet::new(),
            expanding: Vec::new(),
            cyclic: BTreeSet::new(),
            before_set: BTreeMap::new(),
            timestamp: false,
            not_converted: Vec::new(),
            requests: 0,
            left_out: Vec::new(),
            other_lines: 0,
            other_steps: 0,
        }
    }

    /// Postman text with `{{…}}`s, as request text.
    fn text(&mut self, s: &str) -> Text {
        let mut out = Text::default();
        self.append(s, &mut out, 0);
        out
    }

    fn append(&mut self, s: &str, out: &mut Text, depth: usize) {
        let mut rest = s;
        while let Some(open) = rest.find("{{") {
            let Some(len) = rest[open + 2..].find("}}") else {
                break;
            };
            push_lit(out, &rest[..open]);
            let whole = &rest[open..open + 2 + len + 2];
            let name = rest[open + 2..open + 2 + len].trim();
            rest = &rest[open + 2 + len + 2..];
            if let Some(dynamic) = name.strip_prefix('$') {
                match dynamic {
                    "guid" | "randomUUID" => out.segs.push(Seg::Var("UUID".into())),
                    "randomInt" => out.segs.push(Seg::Var("RANDOM(0,1000)".into())),
                    "timestamp" => {
                        self.timestamp = true;
                        out.segs.push(Seg::Var("TIMESTAMP_MS".into()));
                    }
                    _ => {
                        self.dynamic.insert(whole.to_owned());
                        push_lit(out, whole);
                    }
                }
            } else if self.extracted.contains(name) {
                out.segs.push(Seg::Var(name.to_owned()));
            } else if self.expanding.iter().any(|e| e == name) {
                // Its value leads back to it: it has none, as an unknown one.
                self.cyclic.insert(name.to_owned());
                self.unknown.insert(name.to_owned());
                if kaioken_grammar::is_identifier(name) {
                    out.segs.push(Seg::Var(name.to_owned()));
                } else {
                    push_lit(out, whole);
                }
            } else if let Some(value) = self.values.get(name).cloned() {
                // A value may use other variables; a cycle stops at a depth, and values
                // that multiply each other at a size.
                let size: usize = out
                    .segs
                    .iter()
                    .map(|s| match s {
                        Seg::Lit(l) => l.len(),
                        _ => 0,
                    })
                    .sum();
                if depth < 8 && size < 1 << 20 {
                    self.expanding.push(name.to_owned());
                    self.append(&value, out, depth + 1);
                    self.expanding.pop();
                } else {
                    push_lit(out, &value);
                }
            } else {
                self.unknown.insert(name.to_owned());
                if kaioken_grammar::is_identifier(name) {
                    out.segs.push(Seg::Var(name.to_owned()));
                } else {
                    push_lit(out, whole);
                }
            }
        }
        push_lit(out, rest);
    }
}

fn push_lit(out: &mut Text, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Seg::Lit(last)) = out.segs.last_mut() {
        last.push_str(s);
    } else {
        out.segs.push(Seg::Lit(s.to_owned()));
    }
}

/// One request, converted.
struct Step {
    name: String,
    method: String,
    url: Text,
    headers: Vec<(String, Text)>,
    body: Option<Text>,
    multipart: Vec<(String, Text)>,
    checks: Vec<String>,
    extracts: Vec<(String, String)>,
}

/// The whole conversion.
fn convert(src: &Src, options: &PostmanOptions) -> Result<PostmanImport, CompileError> {
    let root = parse(src)?;
    check_version(src, &root)?;
    let mut values = BTreeMap::new();
    if let Some(globals) = &options.globals {
        read_values(globals, &mut values)?;
    }
    variables(root.get("variable"), &mut values);
    if let Some(env) = &options.environment {
        read_values(env, &mut values)?;
    }
    let mut ctx = Ctx::new(values);
    let Some(items) = root.get("item").and_then(Value::as_array) else {
        return Err(not_postman(
            src,
            "no `item` array: a collection's requests are in `item`",
            span_of_key(src, "info"),
        ));
    };
    for listen in scripted_events(&root) {
        ctx.not_converted.push(format!(
            "the collection's {listen} script (it runs around every request)"
        ));
    }
    let mut steps = Vec::new();
    walk(items, &[], root.get("auth"), &mut ctx, &mut steps);
    if steps.is_empty() {
        return Err(no_requests(src, &ctx));
    }
    let name = root
        .get("info")
        .and_then(|i| i.get("name"))
        .and_then(Value::as_str)
        .map_or_else(|| "collection".to_owned(), str::to_owned);
    let extracted: Vec<String> = ctx.extracted.iter().cloned().collect();
    read_before_set(&mut steps, &mut ctx);
    // Only what the scenario uses: an auth overridden by the request's own header, or
    // one not converted, read its variables all the same.
    let used = used_variables(&steps);
    ctx.unknown.retain(|u| used.contains(u));
    ctx.cyclic.retain(|c| used.contains(c));
    let unknown: Vec<String> = ctx.unknown.iter().cloned().collect();
    let mut not_converted = std::mem::take(&mut ctx.not_converted);
    if ctx.other_lines > 0 {
        not_converted.push(format!(
            "{} test-script {} of {} {} that neither set a variable nor check the status (assertions, logging)",
            ctx.other_lines,
            if ctx.other_lines == 1 { "line" } else { "lines" },
            ctx.other_steps,
            if ctx.other_steps == 1 { "request" } else { "requests" },
        ));
    }
    if !ctx.cyclic.is_empty() {
        let list: Vec<String> = ctx
            .cyclic
            .iter()
            .map(|c| format!("`{{{{{c}}}}}`"))
            .collect();
        not_converted.push(format!(
            "variables whose values lead back to themselves, left without a value: {}",
            list.join(", ")
        ));
    }
    if !ctx.dynamic.is_empty() {
        let list: Vec<&str> = ctx.dynamic.iter().map(String::as_str).collect();
        not_converted.push(format!(
            "dynamic variables without a built-in, left as written: {}",
            list.join(", ")
        ));
    }
    let toml = write(src, &name, &steps, &ctx, &unknown, &not_converted);
    Ok(PostmanImport {
        toml,
        steps: steps.len(),
        extracted,
        unknown,
        not_converted,
    })
}

/// A collection with no request that can be sent: none at all, or (located at the
/// first) each one left out, and why.
fn no_requests(src: &Src, ctx: &Ctx) -> CompileError {
    let Some((first, why)) = ctx.left_out.first() else {
        return CompileError::in_source(
            CompileErrorKind::NoPostmanRequests {
                message: "the collection has no request".to_owned(),
                help: "add a request to the collection in Postman and export it again".to_owned(),
            },
            src,
            span_of_key(src, "item"),
        );
    };
    let message = match ctx.left_out.len() {
        1 => format!("the collection's only request cannot be sent: {why}"),
        n => format!(
            "none of the collection's {n} requests can be sent: {why} (and {} more)",
            n - 1
        ),
    };
    let span = request_spans(&src.text)
        .into_iter()
        .nth(*first)
        .or_else(|| span_of_key(src, "item"));
    CompileError::in_source(
        CompileErrorKind::NoPostmanRequests {
            message,
            help:
                "give the request a URL (and a method such as `GET`) in Postman and export it again"
                    .to_owned(),
        },
        src,
        span,
    )
}

/// Where each request of the collection is, in the order [`walk`] meets them: its
/// `url`'s value, or the `request`'s when it has none. Only for an error's label, so
/// read again, as raw values, rather than carried through the conversion.
fn request_spans(text: &str) -> Vec<Range<usize>> {
    use serde_json::value::RawValue;
    type Object<'a> = BTreeMap<String, &'a RawValue>;
    fn span(raw: &RawValue, text: &str) -> Range<usize> {
        let start = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        start..start + raw.get().len()
    }
    fn items(list: &RawValue, text: &str, out: &mut Vec<Range<usize>>) {
        let Ok(list) = serde_json::from_str::<Vec<&RawValue>>(list.get()) else {
            return;
        };
        for item in list {
            let Ok(item) = serde_json::from_str::<Object<'_>>(item.get()) else {
                continue;
            };
            if let Some(children) = item.get("item").filter(|c| c.get().starts_with('[')) {
                items(children, text, out);
            } else if let Some(request) = item.get("request") {
                let url = serde_json::from_str::<Object<'_>>(request.get())
                    .ok()
                    .and_then(|r| r.get("url").copied());
                out.push(span(url.unwrap_or(request), text));
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(root) = serde_json::from_str::<Object<'_>>(text)
        && let Some(list) = root.get("item")
    {
        items(list, text, &mut out);
    }
    out
}

/// The variables the steps use: each `${var}`, and each `{{name}}` left as written
/// (a name that cannot be a `${name}`).
/// A variable with no value that a later request's test script sets (`Bearer
/// {{token}}` on the requests up to Login's): Postman sends the environment's value
/// until the script sets it, but a kaioken `${token}` is the extracted value, an
/// error where no step has extracted it yet. Up to the step that extracts it, the
/// uses read the environment variable `token_initial` instead.
fn read_before_set(steps: &mut [Step], ctx: &mut Ctx) {
    for name in ctx.unknown.clone() {
        let Some(first) = steps
            .iter()
            .position(|s| s.extracts.iter().any(|(v, _)| *v == name))
        else {
            continue;
        };
        let initial = format!("{name}_initial");
        let mut read = false;
        for step in &mut steps[..=first] {
            let texts = std::iter::once(&mut step.url)
                .chain(step.body.iter_mut())
                .chain(step.headers.iter_mut().map(|h| &mut h.1))
                .chain(step.multipart.iter_mut().map(|m| &mut m.1));
            for seg in texts.flat_map(|t| &mut t.segs) {
                if let Seg::Var(v) | Seg::Encoded(v) = seg
                    && *v == name
                {
                    v.clone_from(&initial);
                    read = true;
                }
            }
        }
        if read {
            ctx.unknown.remove(&name);
            ctx.unknown.insert(initial.clone());
            ctx.before_set.insert(name, initial);
        }
    }
}

fn used_variables(steps: &[Step]) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let texts = steps.iter().flat_map(|s| {
        std::iter::once(&s.url)
            .chain(s.body.iter())
            .chain(s.headers.iter().map(|h| &h.1))
            .chain(s.multipart.iter().map(|m| &m.1))
    });
    for seg in texts.flat_map(|t| &t.segs) {
        match seg {
            Seg::Var(v) | Seg::Encoded(v) => {
                used.insert(v.clone());
            }
            Seg::Lit(l) => {
                // A URL's `{{` is sent encoded.
                let l = percent_encoding::percent_decode_str(l).decode_utf8_lossy();
                let mut rest = &*l;
                while let Some(open) = rest.find("{{") {
                    let Some(len) = rest[open + 2..].find("}}") else {
                        break;
                    };
                    used.insert(rest[open + 2..open + 2 + len].trim().to_owned());
                    rest = &rest[open + 2 + len + 2..];
                }
            }
        }
    }
    used
}

/// Items depth first, in the order the Postman runner sends them.
fn walk(
    items: &[Value],
    folders: &[String],
    auth: Option<&Value>,
    ctx: &mut Ctx,
    steps: &mut Vec<Step>,
) {
    for item in items {
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("request")
            .to_owned();
        if let Some(children) = item.get("item").and_then(Value::as_array) {
            let mut path = folders.to_vec();
            path.push(name.clone());
            for listen in scripted_events(item) {
                ctx.not_converted
                    .push(format!("folder `{}`'s {listen} script", path.join(" / ")));
            }
            let auth = item.get("auth").or(auth);
            walk(children, &path, auth, ctx, steps);
        } else if let Some(request) = item.get("request") {
            let mut label = folders.to_vec();
            label.push(name);
            let label = shorten(&label.join(" / "), 80);
            match request_step(label, item, request, auth, ctx, steps.len() + 1) {
                Ok(step) => steps.push(step),
                Err(why) => {
                    ctx.not_converted.push(format!("{why}; left out"));
                    ctx.left_out.push((ctx.requests, why));
                }
            }
            ctx.requests += 1;
        }
    }
}

/// The `listen` names (`prerequest`, `test`) of a collection's or folder's events
/// that have a script: scripts there run around every request below, and are not
/// converted.
fn scripted_events(node: &Value) -> impl Iterator<Item = &str> {
    node.get("event")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|event| !script_lines(event).is_empty())
        .map(|event| event.get("listen").and_then(Value::as_str).unwrap_or(""))
}

/// The lines of an event's script (`exec` is an array of lines, or one string).
fn script_lines(event: &Value) -> Vec<String> {
    let exec = event.get("script").and_then(|s| s.get("exec"));
    let mut lines = Vec::new();
    match exec {
        Some(Value::Array(a)) => {
            for l in a.iter().filter_map(Value::as_str) {
                lines.extend(l.lines().map(str::to_owned));
            }
        }
        Some(Value::String(s)) => lines.extend(s.lines().map(str::to_owned)),
        _ => {}
    }
    lines.retain(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"));
    lines
}

const HEADERS_SET_BY_KAIOKEN: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

fn request_step(
    name: String,
    item: &Value,
    request: &Value,
    inherited_auth: Option<&Value>,
    ctx: &mut Ctx,
    number: usize,
) -> Result<Step, String> {
    // In v2 a request may be its URL alone.
    let empty = Map::new();
    let (req, url_value) = match request {
        Value::String(_) => (&empty, Some(request)),
        Value::Object(o) => (o, o.get("url")),
        other => {
            return Err(format!(
                "request `{name}` is `{}`, neither its URL nor an object",
                shorten(&other.to_string(), 40)
            ));
        }
    };
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(format!(
            "request `{name}`: its method `{method}` is not an HTTP token"
        ));
    }
    let raw_url = match url_value {
        None => return Err(format!("request `{name}`: no URL")),
        Some(u @ (Value::String(_) | Value::Object(_))) => url_of(u),
        Some(other) => {
            return Err(format!(
                "request `{name}`: its `url` is `{}`, neither a string nor an object",
                shorten(&other.to_string(), 40)
            ));
        }
    };
    if raw_url.trim().is_empty() {
        return Err(format!("request `{name}`: its URL is empty"));
    }
    let mut headers: Vec<(String, Text)> = Vec::new();
    let add_header = |headers: &mut Vec<(String, Text)>, name: String, value: Text| match headers
        .iter_mut()
        .find(|h| h.0 == name)
    {
        Some(h) => {
            push_lit(&mut h.1, ", ");
            h.1.segs.extend(value.segs);
        }
        None => headers.push((name, value)),
    };
    match req.get("header") {
        Some(Value::Array(list)) => {
            for h in list {
                if h.get("disabled").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                let Some(k) = h.get("key").and_then(Value::as_str) else {
                    continue;
                };
                let k = k.trim().to_ascii_lowercase();
                if k.is_empty() || HEADERS_SET_BY_KAIOKEN.contains(&k.as_str()) {
                    continue;
                }
                let v = h.get("value").map(scalar).unwrap_or_default();
                let v = ctx.text(&v);
                add_header(&mut headers, k, v);
            }
        }
        Some(Value::String(block)) => {
            for line in block.lines() {
                if let Some((k, v)) = line.split_once(':') {
                    let k = k.trim().to_ascii_lowercase();
                    if k.is_empty() || HEADERS_SET_BY_KAIOKEN.contains(&k.as_str()) {
                        continue;
                    }
                    let v = ctx.text(v.trim());
                    add_header(&mut headers, k, v);
                }
            }
        }
        _ => {}
    }
    let has = |headers: &[(String, Text)], n: &str| headers.iter().any(|h| h.0 == n);

    let mut query_auth: Option<(Text, Text)> = None;
    let auth = req.get("auth").or(inherited_auth);
    if let Some(auth) = auth {
        match auth_header(auth, ctx, &name) {
            // A header of the request's own wins over its auth.
            Some(AuthOut::Header(k, v)) if !has(&headers, &k) => headers.push((k, v)),
            Some(AuthOut::Query(k, v)) => query_auth = Some((k, v)),
            Some(AuthOut::Header(..)) | None => {}
        }
    }

    let mut url = target_encoded(ctx.text(&raw_url));
    if let Some((k, v)) = query_auth {
        let sep = if url.render().contains('?') { "&" } else { "?" };
        push_lit(&mut url, sep);
        url.segs.extend(encode(&k).segs);
        push_lit(&mut url, "=");
        url.segs.extend(encode(&v).segs);
    }
    // Postman sends a URL without a scheme over http.
    let rendered = url.render();
    if !rendered.contains("://") && !rendered.starts_with("${") {
        url.segs.insert(0, Seg::Lit("http://".into()));
        if let [Seg::Lit(a), Seg::Lit(b), ..] = url.segs.as_slice() {
            let joined = format!("{a}{b}");
            url.segs.splice(0..2, [Seg::Lit(joined)]);
        }
    }

    let (body, multipart, content_type) = body_of(req.get("body"), ctx, &name);
    if !multipart.is_empty() {
        // kaioken writes the boundary: a content-type of Postman's would be wrong.
        headers.retain(|h| h.0 != "content-type");
    } else if let Some(ct) = content_type
        && body.is_some()
        && !has(&headers, "content-type")
    {
        headers.push(("content-type".into(), Text::literal(ct)));
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));

    let mut checks = Vec::new();
    let mut extracts = Vec::new();
    for event in item
        .get("event")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let lines = script_lines(event);
        if lines.is_empty() {
            continue;
        }
        match event.get("listen").and_then(Value::as_str) {
            Some("test") => {
                let found = test_script(&lines);
                for (var, spec) in found.extracts {
                    if !extracts.iter().any(|(v, _)| *v == var) {
                        extracts.push((var, spec));
                    }
                }
                checks.extend(found.checks);
                for line in found.not_converted {
                    ctx.not_converted.push(format!(
                        "step {number} (`{name}`), test script: `{}`",
                        shorten(line.trim(), 100)
                    ));
                }
                if found.other > 0 {
                    ctx.other_lines += found.other;
                    ctx.other_steps += 1;
                }
            }
            Some(listen) => ctx.not_converted.push(format!(
                "step {number} (`{name}`): its {listen} script ({} {})",
                lines.len(),
                if lines.len() == 1 { "line" } else { "lines" }
            )),
            None => {}
        }
    }
    extracts.sort();
    for (var, _) in &extracts {
        ctx.extracted.insert(var.clone());
    }
    Ok(Step {
        name,
        method,
        url,
        headers,
        body,
        multipart,
        checks,
        extracts,
    })
}

/// A URL's literal text as Postman sends it: what a request target cannot carry as
/// it is (a space, `"`, `<`, `{`, non-ASCII, a `#` a variable's value brought in, …)
/// percent-encoded, `%XX` escapes already there kept. Postman encodes these itself
/// when it sends the request, so `?q={{name}}` with `name = "John Doe"` goes out as
/// `?q=John%20Doe`; a scenario must carry the encoded form, as the lowerer refuses a
/// space in a path. The set is the one the VM encodes run-time values into a URL
/// with, so that the literal text and the `${…}` around it agree; the `${…}` uses
/// themselves are left to the VM.
fn target_encoded(url: Text) -> Text {
    let segs = url
        .segs
        .into_iter()
        .map(|seg| match seg {
            Seg::Lit(l) if !l.bytes().all(kaioken_vm::target_allows) => {
                let mut encoded = Vec::with_capacity(l.len() + 8);
                kaioken_vm::push_target_encoded(&mut encoded, l.as_bytes());
                // Only ASCII comes out of percent-encoding.
                Seg::Lit(String::from_utf8_lossy(&encoded).into_owned())
            }
            other => other,
        })
        .collect();
    Text { segs }
}

/// The URL without its fragment: Postman never sends one (a `#` in a variable's
/// value is not one: values are filled in after the URL is split, and encoded).
fn without_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(before, _)| before)
}

/// A request's URL as Postman sends it: `raw`, with the enabled `query` items (when
/// the URL lists them) and the `:name` path variables filled in, and no fragment.
fn url_of(url: &Value) -> String {
    let obj = match url {
        Value::String(s) => return without_fragment(s).to_owned(),
        Value::Object(o) => o,
        _ => return String::new(),
    };
    let raw = match obj.get("raw").and_then(Value::as_str) {
        Some(r) => r.to_owned(),
        None => {
            let mut s = String::new();
            if let Some(p) = obj.get("protocol").and_then(Value::as_str) {
                s.push_str(p);
                s.push_str("://");
            }
            match obj.get("host") {
                Some(Value::Array(parts)) => {
                    let parts: Vec<String> = parts.iter().map(scalar).collect();
                    s.push_str(&parts.join("."));
                }
                Some(Value::String(h)) => s.push_str(h),
                _ => {}
            }
            if let Some(port) = obj.get("port") {
                s.push(':');
                s.push_str(&scalar(port));
            }
            match obj.get("path") {
                Some(Value::Array(parts)) => {
                    for p in parts {
                        s.push('/');
                        s.push_str(&p.get("value").map_or_else(|| scalar(p), scalar));
                    }
                }
                Some(Value::String(p)) => {
                    if !p.starts_with('/') {
                        s.push('/');
                    }
                    s.push_str(p);
                }
                _ => {}
            }
            s
        }
    };
    let raw = without_fragment(&raw);
    let (mut base, raw_query) = match raw.split_once('?') {
        Some((b, q)) => (b.to_owned(), Some(q.to_owned())),
        None => (raw.to_owned(), None),
    };
    for var in obj
        .get("variable")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(k), Some(v)) = (var.get("key").and_then(Value::as_str), var.get("value")) {
            let pattern = format!(":{k}");
            let value = scalar(v);
            let mut out = String::new();
            let mut rest = base.as_str();
            while let Some(i) = rest.find(&pattern) {
                let end = i + pattern.len();
                let whole = rest[end..]
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
                out.push_str(&rest[..i]);
                out.push_str(if whole { &value } else { &pattern });
                rest = &rest[end..];
            }
            out.push_str(rest);
            base = out;
        }
    }
    let query = match obj.get("query").and_then(Value::as_array) {
        Some(items) => {
            let pairs: Vec<String> = items
                .iter()
                .filter(|q| q.get("disabled").and_then(Value::as_bool) != Some(true))
                .filter_map(|q| {
                    let k = q.get("key").map(scalar)?;
                    Some(match q.get("value") {
                        Some(Value::Null) | None => k,
                        Some(v) => format!("{k}={}", scalar(v)),
                    })
                })
                .collect();
            (!pairs.is_empty()).then(|| pairs.join("&"))
        }
        None => raw_query,
    };
    match query {
        Some(q) if !q.is_empty() => format!("{base}?{q}"),
        _ => base,
    }
}

enum AuthOut {
    Header(String, Text),
    Query(Text, Text),
}

/// A parameter of an auth method: v2.1 writes `[{key, value}]`, v2.0 `{key: value}`.
fn auth_param(auth: &Value, kind: &str, key: &str) -> Option<String> {
    match auth.get(kind)? {
        Value::Array(list) => list
            .iter()
            .find(|p| p.get("key").and_then(Value::as_str) == Some(key))
            .and_then(|p| p.get("value"))
            .map(scalar),
        Value::Object(o) => o.get(key).map(scalar),
        _ => None,
    }
}

/// Basic, bearer, API key (and an OAuth 2.0 access token) as a header or a query
/// parameter; other methods are listed as not converted.
fn auth_header(auth: &Value, ctx: &mut Ctx, name: &str) -> Option<AuthOut> {
    let kind = auth.get("type").and_then(Value::as_str)?;
    match kind {
        "noauth" => None,
        "basic" => {
            let user = ctx.text(&auth_param(auth, kind, "username").unwrap_or_default());
            let password = ctx.text(&auth_param(auth, kind, "password").unwrap_or_default());
            match (literal_of(&user), literal_of(&password)) {
                (Some(u), Some(p)) => {
                    let token =
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                    Some(AuthOut::Header(
                        "authorization".into(),
                        Text::literal(format!("Basic {token}")),
                    ))
                }
                _ => {
                    ctx.not_converted.push(format!(
                        "request `{name}`: basic auth whose user or password has no value (it must be known to be encoded); set `authorization` by hand"
                    ));
                    None
                }
            }
        }
        "bearer" => {
            let token = ctx.text(&auth_param(auth, kind, "token").unwrap_or_default());
            let mut value = Text::literal("Bearer ");
            value.segs.extend(token.segs);
            Some(AuthOut::Header("authorization".into(), value))
        }
        "apikey" => {
            let k = auth_param(auth, kind, "key").unwrap_or_else(|| "x-api-key".into());
            let v = ctx.text(&auth_param(auth, kind, "value").unwrap_or_default());
            if auth_param(auth, kind, "in").as_deref() == Some("query") {
                Some(AuthOut::Query(ctx.text(&k), v))
            } else {
                Some(AuthOut::Header(k.trim().to_ascii_lowercase(), v))
            }
        }
        "oauth2"
            if auth_param(auth, kind, "accessToken").is_some()
                && auth_param(auth, kind, "addTokenTo").as_deref() != Some("queryParams") =>
        {
            let token = ctx.text(&auth_param(auth, kind, "accessToken").unwrap_or_default());
            let mut value = Text::literal("Bearer ");
            value.segs.extend(token.segs);
            Some(AuthOut::Header("authorization".into(), value))
        }
        other => {
            ctx.not_converted.push(format!(
                "request `{name}`: `{other}` auth (basic, bearer, API key and an OAuth 2.0 access token are converted)"
            ));
            None
        }
    }
}

/// The text, if it has no variable.
fn literal_of(t: &Text) -> Option<String> {
    t.segs
        .iter()
        .map(|s| match s {
            Seg::Lit(l) => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

/// Percent-encoded for a form body or a query string: literals encoded here,
/// variables as `${URLENCODE(var)}` (built-ins need no encoding).
fn encode(t: &Text) -> Text {
    let mut out = Text::default();
    for seg in &t.segs {
        match seg {
            Seg::Lit(l) => push_lit(
                &mut out,
                &url::form_urlencoded::byte_serialize(l.as_bytes()).collect::<String>(),
            ),
            Seg::Var(v) if kaioken_grammar::is_identifier(v) && !is_builtin(v) => {
                out.segs.push(Seg::Encoded(v.clone()))
            }
            other => out.segs.push(other.clone()),
        }
    }
    out
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "UUID" | "TIMESTAMP_MS" | "REQUEST_ID" | "VU" | "ITERATION"
    )
}

/// JSON-string content: literals escaped here, variables as they are.
fn json_escaped(t: &Text) -> Text {
    let mut out = Text::default();
    for seg in &t.segs {
        match seg {
            Seg::Lit(l) => {
                let quoted = serde_json::to_string(l).unwrap_or_default();
                push_lit(&mut out, &quoted[1..quoted.len() - 1]);
            }
            other => out.segs.push(other.clone()),
        }
    }
    out
}

/// The request body: a templated body, or multipart fields, and the content type
/// Postman would add.
fn body_of(
    body: Option<&Value>,
    ctx: &mut Ctx,
    name: &str,
) -> (Option<Text>, Vec<(String, Text)>, Option<&'static str>) {
    let Some(body) = body.filter(|b| b.get("disabled").and_then(Value::as_bool) != Some(true))
    else {
        return (None, Vec::new(), None);
    };
    let enabled = |list: Option<&Value>| -> Vec<Value> {
        list.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p.get("disabled").and_then(Value::as_bool) != Some(true))
            .cloned()
            .collect()
    };
    match body.get("mode").and_then(Value::as_str) {
        Some("raw") => {
            let raw = body.get("raw").map(scalar).unwrap_or_default();
            if raw.is_empty() {
                return (None, Vec::new(), None);
            }
            let language = body
                .get("options")
                .and_then(|o| o.get("raw"))
                .and_then(|r| r.get("language"))
                .and_then(Value::as_str);
            let ct = match language {
                Some("json") => Some("application/json"),
                Some("xml") => Some("application/xml"),
                Some("html") => Some("text/html"),
                Some("javascript") => Some("application/javascript"),
                Some("text") => Some("text/plain"),
                _ => None,
            };
            (Some(ctx.text(&raw)), Vec::new(), ct)
        }
        Some("urlencoded") => {
            let mut out = Text::default();
            for (i, p) in enabled(body.get("urlencoded")).iter().enumerate() {
                if i > 0 {
                    push_lit(&mut out, "&");
                }
                let k = ctx.text(&p.get("key").map(scalar).unwrap_or_default());
                let v = ctx.text(&p.get("value").map(scalar).unwrap_or_default());
                out.segs.extend(encode(&k).segs);
                push_lit(&mut out, "=");
                out.segs.extend(encode(&v).segs);
            }
            (
                Some(out),
                Vec::new(),
                Some("application/x-www-form-urlencoded"),
            )
        }
        Some("formdata") => {
            let mut fields: Vec<(String, Text)> = Vec::new();
            for p in enabled(body.get("formdata")) {
                let Some(k) = p.get("key").map(scalar) else {
                    continue;
                };
                let value = if p.get("type").and_then(Value::as_str) == Some("file") {
                    let src = match p.get("src") {
                        Some(Value::Array(a)) => a.first().map(scalar),
                        Some(Value::String(s)) => Some(s.clone()),
                        _ => None,
                    };
                    match src {
                        Some(path) if !path.is_empty() => Text::literal(format!("@{path}")),
                        _ => {
                            ctx.not_converted.push(format!("request `{name}`: form-data file field `{k}` names no file; left out"));
                            continue;
                        }
                    }
                } else {
                    let v = ctx.text(&p.get("value").map(scalar).unwrap_or_default());
                    let mut v = v;
                    if let Some(Seg::Lit(first)) = v.segs.first_mut()
                        && first.starts_with('@')
                    {
                        first.insert(0, '@');
                    }
                    v
                };
                if fields.iter().any(|f| f.0 == k) {
                    ctx.not_converted.push(format!(
                        "request `{name}`: form-data field `{k}` repeated; the first is kept"
                    ));
                    continue;
                }
                fields.push((k, value));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            (None, fields, None)
        }
        Some("graphql") => {
            let g = body.get("graphql");
            let query = ctx.text(
                &g.and_then(|g| g.get("query"))
                    .map(scalar)
                    .unwrap_or_default(),
            );
            let variables = g
                .and_then(|g| g.get("variables"))
                .map(scalar)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "{}".to_owned());
            let mut out = Text::literal("{\"query\":\"");
            out.segs.extend(json_escaped(&query).segs);
            push_lit(&mut out, "\",\"variables\":");
            let variables = ctx.text(&variables);
            out.segs.extend(variables.segs);
            push_lit(&mut out, "}");
            (Some(out), Vec::new(), Some("application/json"))
        }
        Some(mode) => {
            ctx.not_converted.push(format!(
                "request `{name}`: its `{mode}` body (a file); add it with `body_file`"
            ));
            (None, Vec::new(), None)
        }
        None => (None, Vec::new(), None),
    }
}

/// What a test script holds that a scenario can say.
#[derive(Default)]
struct TestScript {
    extracts: Vec<(String, String)>,
    checks: Vec<String>,
    /// Lines that set a variable in a way not converted.
    not_converted: Vec<String>,
    /// Other lines (assertions, logging, …).
    other: usize,
}

/// Read the common pattern of a test script:
///
/// ```js
/// var jsonData = pm.response.json();            // or JSON.parse(responseBody)
/// pm.environment.set("token", jsonData.auth.token);
/// pm.collectionVariables.set("id", jsonData.items[0].id);
/// pm.response.to.have.status(200);
/// ```
///
/// Each `set` of a value read from the response body by a path becomes an
/// extractor `json:$.path`; `pm.response.to.have.status(N)` a check.
fn test_script(lines: &[String]) -> TestScript {
    use std::sync::LazyLock;
    static JSON_VAR: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"^\s*(?:var|let|const)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:pm\.response\.json\(\)|JSON\.parse\(\s*(?:responseBody|pm\.response\.text\(\))\s*\))\s*;?\s*$",
        )
        .expect("a valid regex")
    });
    static SET: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"^\s*(?:pm\.(?:environment|collectionVariables|globals|variables)\.set|postman\.set(?:Environment|Global)Variable)\s*\(\s*["']([^"']+)["']\s*,\s*(.+?)\s*\)\s*;?\s*$"#,
        )
        .expect("a valid regex")
    });
    static STATUS: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^\s*pm\.response\.to\.have\.status\(\s*(\d{3})\s*\)\s*;?\s*$")
            .expect("a valid regex")
    });
    let (json_var, set, status) = (&*JSON_VAR, &*SET, &*STATUS);
    let mut names: Vec<String> = Vec::new();
    let mut out = TestScript::default();
    for line in lines {
        if let Some(c) = json_var.captures(line) {
            names.push(c[1].to_owned());
        } else if let Some(c) = set.captures(line) {
            let var = c[1].to_owned();
            match json_path(&c[2], &names) {
                Some(path) if kaioken_grammar::is_identifier(&var) => {
                    out.extracts.push((var, format!("json:{path}")))
                }
                _ => out.not_converted.push(line.clone()),
            }
        } else if let Some(c) = status.captures(line) {
            out.checks.push(format!("status == {}", &c[1]));
        } else if line.contains(".set(")
            || line.contains("setEnvironmentVariable")
            || line.contains("setGlobalVariable")
        {
            out.not_converted.push(line.clone());
        } else {
            out.other += 1;
        }
    }
    out
}

/// `jsonData.a.b[0]["c d"]` (with `jsonData` one of `names`, or
/// `pm.response.json()`) as the JSONPath `$.a.b[0]['c d']`.
fn json_path(expr: &str, names: &[String]) -> Option<String> {
    let rest = expr.strip_prefix("pm.response.json()").or_else(|| {
        names.iter().find_map(|n| {
            expr.strip_prefix(n.as_str())
                .filter(|r| r.is_empty() || r.starts_with(['.', '[']))
        })
    })?;
    let mut path = String::from("$");
    let mut rest = rest;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            path.push('.');
            path.push_str(&r[..end]);
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            if inner.parse::<u64>().is_ok() {
                path.push_str(&format!("[{inner}]"));
            } else {
                let key = inner
                    .strip_prefix('"')
                    .and_then(|k| k.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))?;
                if key.contains(['\'', '"', '\\']) {
                    return None;
                }
                path.push_str(&format!("['{key}']"));
            }
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(path)
}

/// The scenario file.
fn write(
    src: &Src,
    name: &str,
    steps: &[Step],
    ctx: &Ctx,
    unknown: &[String],
    not_converted: &[String],
) -> String {
    let file = std::path::Path::new(&*src.name).file_name().map_or_else(
        || src.name.to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut comment = vec![format!(
        "Imported from `{file}` by `kaioken import postman`: {} {} in the Postman runner's order (folders name the steps, `Folder / Request`).",
        steps.len(),
        if steps.len() == 1 {
            "request"
        } else {
            "requests"
        },
    )];
    comment.push(
        "Variables with a value in the collection, environment or globals are written in; those a test script sets are extracted."
            .to_owned(),
    );
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|u| format!("`{u}`")).collect();
        comment.push(format!(
            "Variables with no value (set each as an environment variable, or edit them here): {}.",
            list.join(", ")
        ));
    }
    if ctx.timestamp {
        comment.push(
            "`{{$timestamp}}` became `${TIMESTAMP_MS}`: milliseconds, where Postman sends seconds."
                .to_owned(),
        );
    }
    for (i, s) in steps.iter().enumerate() {
        for (var, spec) in &s.extracts {
            let before = ctx.before_set.get(var).map_or_else(String::new, |initial| {
                format!(
                    "; up to it, where Postman sends the environment's value, the steps send `${{{initial}}}`, an environment variable"
                )
            });
            comment.push(format!(
                "`{var}` is extracted from step {}'s response (`{spec}`){before}.",
                i + 1
            ));
        }
    }
    comment.push(
        "Review before sharing: credentials (auth, API keys, tokens with values) are written in as they were."
            .to_owned(),
    );
    if !not_converted.is_empty() {
        comment.push("Not converted:".to_owned());
        comment.extend(not_converted.iter().map(|n| format!("- {}", sentence(n))));
    }
    let mut out = String::new();
    for paragraph in &comment {
        let paragraph = paragraph.replace(|c: char| c.is_control(), " ");
        for line in wrap(&paragraph, 86) {
            out.push_str("# ");
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push_str(&format!("\n[[scenarios]]\nname = {}\n", string(name)));
    for (i, step) in steps.iter().enumerate() {
        out.push_str(&format!("\n# step {}\n[[scenarios.steps]]\n", i + 1));
        out.push_str(&format!("name = {}\n", string(&step.name)));
        out.push_str(&format!("method = {}\n", string(&step.method)));
        out.push_str(&format!("url = {}\n", string(&step.url.render())));
        if let Some(body) = &step.body {
            out.push_str(&format!("body = {}\n", string(&body.render())));
        }
        push_checks(&mut out, &step.checks);
        push_extracts(&mut out, &step.extracts);
        if !step.headers.is_empty() {
            out.push_str("\n[scenarios.steps.headers]\n");
            for (name, value) in &step.headers {
                out.push_str(&format!("{} = {}\n", key(name), string(&value.render())));
            }
        }
        if !step.multipart.is_empty() {
            out.push_str("\n[scenarios.steps.multipart]\n");
            for (name, value) in &step.multipart {
                out.push_str(&format!("{} = {}\n", key(name), string(&value.render())));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        let names = vec!["jsonData".to_owned()];
        assert_eq!(
            json_path("jsonData.token", &names).as_deref(),
            Some("$.token")
        );
        assert_eq!(
            json_path("jsonData.items[0][\"the id\"]", &names).as_deref(),
            Some("$.items[0]['the id']")
        );
        assert_eq!(
            json_path("pm.response.json().a", &names).as_deref(),
            Some("$.a")
        );
        assert_eq!(json_path("jsonDataX.a", &names), None);
        assert_eq!(json_path("jsonData.a + 1", &names), None);
        assert_eq!(json_path("other.a", &names), None);
    }

    #[test]
    fn test_scripts() {
        let lines: Vec<String> = [
            "var jsonData = pm.response.json();",
            "pm.environment.set(\"token\", jsonData.auth.token);",
            "pm.collectionVariables.set('id', jsonData.items[0].id)",
            "pm.globals.set(\"when\", Date.now());",
            "pm.response.to.have.status(201);",
            "pm.test(\"ok\", function () {",
            "});",
        ]
        .map(str::to_owned)
        .to_vec();
        let t = test_script(&lines);
        assert_eq!(
            t.extracts,
            [
                ("token".to_owned(), "json:$.auth.token".to_owned()),
                ("id".to_owned(), "json:$.items[0].id".to_owned())
            ]
        );
        assert_eq!(t.checks, ["status == 201"]);
        assert_eq!(t.not_converted, ["pm.globals.set(\"when\", Date.now());"]);
        assert_eq!(t.other, 2);
    }

    #[test]
    fn urls() {
        let url: Value = serde_json::from_str(
            r#"{"raw": "{{url}}/a/:id?x=1", "query": [{"key": "x", "value": "1"}, {"key": "off", "value": "2", "disabled": true}, {"key": "flag", "value": null}],
                "variable": [{"key": "id", "value": "7"}]}"#,
        )
        .unwrap();
        assert_eq!(url_of(&url), "{{url}}/a/7?x=1&flag");
        let url: Value = serde_json::from_str(
            r#"{"protocol": "http", "host": ["127", "0", "0", "1"], "port": "8080", "path": ["get"]}"#,
        )
        .unwrap();
        assert_eq!(url_of(&url), "http://127.0.0.1:8080/get");
    }

    /// The scenario `text` imports to, lowered (with `who` in the environment): it
    /// must compile.
    fn lowered(text: &str) -> String {
        let imported = import("c.json", text, &PostmanOptions::default()).unwrap();
        let input = crate::Input {
            config: Some(crate::ConfigFile {
                name: "c.toml".into(),
                text: imported.toml.clone(),
            }),
            env: [("who".to_owned(), "x".to_owned())].into_iter().collect(),
            ..crate::Input::default()
        };
        if let Err(e) = crate::lower(&input) {
            panic!("{e:?}\n{}", imported.toml);
        }
        imported.toml
    }

    /// Postman percent-encodes what a URL cannot carry (a space a variable brings in,
    /// a path variable's `a b`) and never sends the fragment: the scenario says the
    /// same, and compiles.
    #[test]
    fn urls_are_encoded_and_lose_their_fragment_as_postman_sends_them() {
        let toml = lowered(
            r#"{"info": {"name": "Q", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
               "variable": [{"key": "name", "value": "John Doe"}, {"key": "hash", "value": "a#b"}],
               "item": [
                 {"name": "S", "request": {"method": "GET", "url": "http://127.0.0.1:18080/s?q={{name}}&e=%C3%A9&u={{who}}"}},
                 {"name": "H", "request": {"method": "GET", "url": "http://127.0.0.1:18080/h?x=1#frag"}},
                 {"name": "P", "request": {"method": "GET", "url": {
                   "raw": "http://127.0.0.1:18080/c/:cid?h={{hash}}&é=<1>#top",
                   "variable": [{"key": "cid", "value": "a b/c"}]}}},
                 {"name": "O", "request": {"method": "GET", "url": {
                   "raw": "http://127.0.0.1:18080/o#x",
                   "query": [{"key": "q", "value": "{{name}}"}]}}}
               ]}"#,
        );
        let urls: Vec<&str> = toml.lines().filter(|l| l.starts_with("url = ")).collect();
        assert_eq!(
            urls,
            [
                r#"url = "http://127.0.0.1:18080/s?q=John%20Doe&e=%C3%A9&u=${who}""#,
                r#"url = "http://127.0.0.1:18080/h?x=1""#,
                r#"url = "http://127.0.0.1:18080/c/a%20b/c?h=a%23b&%C3%A9=%3C1%3E""#,
                r#"url = "http://127.0.0.1:18080/o?q=John%20Doe""#,
            ],
            "{toml}"
        );
    }

    /// A collection whose requests are all left out says why, at the first of them,
    /// in Postman's words (not a HAR recording's).
    #[test]
    fn a_collection_with_no_request_that_can_be_sent_says_why() {
        use miette::Diagnostic;
        let head = r#""info": {"name": "c", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}"#;
        let cases = [
            (
                format!(
                    r#"{{{head}, "item": [{{"name": "S", "request": {{"method": "GET", "url": 42}}}}]}}"#
                ),
                "the collection's only request cannot be sent: request `S`: its `url` is `42`, neither a string nor an object",
                "42",
            ),
            (
                format!(
                    r#"{{{head}, "item": [{{"name": "F", "item": [{{"name": "A", "request": {{"method": "G T", "url": "http://h/"}}}}]}}, {{"name": "B", "request": {{"method": "GET"}}}}]}}"#
                ),
                "none of the collection's 2 requests can be sent: request `F / A`: its method `G T` is not an HTTP token (and 1 more)",
                r#""http://h/""#,
            ),
            (
                format!(r#"{{{head}, "item": []}}"#),
                "the collection has no request",
                r#""item""#,
            ),
        ];
        for (text, message, at) in cases {
            let e = import("c.json", &text, &PostmanOptions::default()).unwrap_err();
            let e = &e.errors[0];
            assert_eq!(e.to_string(), message);
            assert_eq!(
                e.code().map(|c| c.to_string()).as_deref(),
                Some("kaioken::postman::no_requests")
            );
            let label = e.labels().and_then(|mut l| l.next()).unwrap();
            assert_eq!(
                &text[label.offset()..label.offset() + label.len()],
                at,
                "{message}"
            );
        }
    }

    /// The variables listed as having no value are those the scenario uses: not
    /// those of an auth a request's own header overrides, or of one not converted.
    #[test]
    fn only_variables_the_scenario_uses_are_listed_as_having_no_value() {
        let text = r#"{"info": {"name": "c", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
            "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}"}]},
            "item": [
              {"name": "own", "request": {"method": "GET", "url": "http://127.0.0.1:9/a?k={{bad-name}}",
                "header": [{"key": "Authorization", "value": "Bearer {{mine}}"}]}},
              {"name": "basic", "request": {"method": "GET", "url": "http://127.0.0.1:9/b",
                "auth": {"type": "basic", "basic": [{"key": "username", "value": "{{user}}"}, {"key": "password", "value": "p"}]}}}
            ]}"#;
        let imported = import("c.json", text, &PostmanOptions::default()).unwrap();
        assert_eq!(imported.unknown, ["bad-name", "mine"]);
        assert!(
            imported
                .toml
                .contains("Variables with no value (set each as an environment variable, or edit them here):\n# `bad-name`, `mine`."),
            "{}",
            imported.toml
        );
    }

    #[test]
    fn variables_and_dynamic_ones() {
        let mut ctx = Ctx::new(
            [
                ("base".to_owned(), "http://h{{port}}".to_owned()),
                ("port".to_owned(), ":81".to_owned()),
                ("loop".to_owned(), "{{loop}}".to_owned()),
            ]
            .into_iter()
            .collect(),
        );
        ctx.extracted = ["token".to_owned()].into_iter().collect();
        let t = ctx.text("{{base}}/x/{{ token }}/{{$guid}}/{{$randomInt}}/{{$timestamp}}/{{$randomEmail}}/{{missing}}/{{bad-name}}/${lit}/{{loop}}");
        assert_eq!(
            t.render(),
            "http://h:81/x/${token}/${UUID}/${RANDOM(0,1000)}/${TIMESTAMP_MS}/{{$randomEmail}}/${missing}/{{bad-name}}/$${lit}/${loop}"
        );
        assert!(ctx.timestamp);
        assert_eq!(
            ctx.unknown.iter().collect::<Vec<_>>(),
            ["bad-name", "loop", "missing"]
        );
        assert_eq!(ctx.cyclic.iter().collect::<Vec<_>>(), ["loop"]);

        assert_eq!(ctx.dynamic.iter().collect::<Vec<_>>(), ["{{$randomEmail}}"]);
        // Two that lead to each other: each has no value, wherever it is met.
        let mut pair = Ctx::new(
            [
                ("a".to_owned(), "{{b}}".to_owned()),
                ("b".to_owned(), "{{a}}".to_owned()),
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!(pair.text("/{{a}}{{b}}").render(), "/${a}${b}");
        assert_eq!(pair.cyclic.iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn form_bodies_are_encoded_around_variables() {
        let t = Text {
            segs: vec![
                Seg::Lit("a b&".into()),
                Seg::Var("tok".into()),
                Seg::Var("UUID".into()),
            ],
        };
        assert_eq!(encode(&t).render(), "a+b%26${URLENCODE(tok)}${UUID}");
    }

    /// Values that use each other many times over stop growing at a size instead of
    /// taking the machine's memory.
    #[test]
    fn values_that_multiply_stop_at_a_size() {
        let mut values = BTreeMap::new();
        for i in 0..8 {
            values.insert(format!("v{i}"), format!("{{{{v{}}}}}", i + 1).repeat(64));
        }
        values.insert("v8".to_owned(), "x".repeat(64));
        let mut ctx = Ctx::new(values);
        let text = ctx.text("{{v0}}").render();
        assert!(text.len() < 4 << 20, "{}", text.len());
        assert!(text.len() >= 1 << 20, "{}", text.len());
    }

    /// Scripts on the collection and on a folder run around every request below them:
    /// each is listed as not converted, named by where it is and when it runs; an
    /// event without a script is not.
    #[test]
    fn collection_and_folder_scripts_are_listed_as_not_converted() {
        let text = r#"{
            "info": {"name": "c", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
            "event": [
                {"listen": "prerequest", "script": {"exec": ["pm.variables.set('a', 1);"]}},
                {"listen": "test", "script": {"exec": []}}
            ],
            "item": [{
                "name": "users",
                "event": [{"listen": "test", "script": {"exec": "pm.test('ok', () => {});"}}],
                "item": [{"name": "get", "request": {"method": "GET", "url": "http://127.0.0.1:9/u"}}]
            }]
        }"#;
        let import = import("c.json", text, &PostmanOptions::default()).unwrap();
        let scripts: Vec<&String> = import
            .not_converted
            .iter()
            .filter(|n| n.contains("script"))
            .collect();
        assert_eq!(
            scripts,
            [
                "the collection's prerequest script (it runs around every request)",
                "folder `users`'s test script"
            ],
            "{:?}",
            import.not_converted
        );
    }

    /// Every prefix of a collection, and the collection with any one value of another
    /// type, is an error or a scenario: never a panic.
    #[test]
    fn broken_and_oddly_typed_collections_never_panic() {
        let text = include_str!("../../../tests/fixtures/postman/httpbin.postman_collection.json");
        for end in (0..text.len()).step_by(37) {
            let _ = import("c.json", &text[..end], &PostmanOptions::default());
        }
        let root: Value = serde_json::from_str(text).unwrap();
        let mut paths = Vec::new();
        fn collect(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            out.push(path.clone());
            match v {
                Value::Object(o) => {
                    for (k, child) in o {
                        path.push(k.clone());
                        collect(child, path, out);
                        path.pop();
                    }
                }
                Value::Array(a) => {
                    for (i, child) in a.iter().enumerate() {
                        path.push(i.to_string());
                        collect(child, path, out);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        collect(&root, &mut Vec::new(), &mut paths);
        assert!(paths.len() > 150, "{}", paths.len());
        for path in paths
            .iter()
            .filter(|p| p.first().is_some_and(|k| k != "info"))
        {
            for odd in [
                Value::from(7),
                Value::Array(vec![Value::Null]),
                Value::Object(Map::new()),
                Value::from("{{"),
            ] {
                let mut doc = root.clone();
                let mut at = &mut doc;
                for key in path {
                    at = match at {
                        Value::Object(o) => o.get_mut(key).unwrap(),
                        Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
                        _ => unreachable!(),
                    };
                }
                *at = odd;
                let _ = import("c.json", &doc.to_string(), &PostmanOptions::default());
            }
        }
    }
}
