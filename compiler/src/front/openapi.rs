//! The OpenAPI front end: an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON or YAML)
//! into scenario TOML for `kaioken import openapi`, one step per operation.
//!
//! ```text
//!  spec.yaml ─parse─► Docs ─operations, filtered─► Operation ─to_toml─► scenario.toml
//!  (JSON or YAML;    (the root and every       (method, path, parameters,  ─► front::toml
//!   located errors)   file a `$ref` names)      body, documented statuses)   ─► Draft ─► Ir
//! ```
//!
//! Each parameter and body gets the value its author gave (`example`, `examples`,
//! `default`) or one generated from its schema (`schema`); what cannot be made up —
//! a credential, a parameter with no schema — becomes a `${NAME}` placeholder, an
//! environment variable the user sets (or a value they write in). Every step checks
//! that the status is one the operation documents. `$ref`s are resolved within the
//! file and across files (paths relative to the file that holds the `$ref`); a chain
//! of `$ref`s that loops is an error, and a schema that refers to itself is generated
//! down to where it recurses.
//!
//! The documents are read into `serde_json::Value`s (YAML through `serde_norway`):
//! operations and schemas are walked as trees, not typed, since specs in the wild bend
//! the rules (httpbin's writes `type: int`) and the importer should take what it can.

mod order;
mod pattern;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::compile_error::{CompileError, CompileErrorKind, CompileErrors, without_position};
use crate::front::har::to_toml::{key, sentence, string, wrap};
use crate::located::Src;

/// Which operations become steps, and where they are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenApiOptions {
    /// The server's URL, over the spec's `servers` (or `host`, `basePath` and `schemes`).
    pub server: Option<String>,
    /// Keep only the operations with one of these tags. Empty keeps all.
    pub tags: Vec<String>,
    /// Keep only the operations with one of these `operationId`s (or written as
    /// `METHOD /path`). Empty keeps all.
    pub operations: Vec<String>,
}

/// A scenario imported from a spec.
#[derive(Debug, Clone)]
pub struct OpenApiImport {
    /// The scenario as TOML, with a comment header saying where it came from.
    pub toml: String,
    /// How many operations became steps.
    pub steps: usize,
    /// How many operations the spec has.
    pub operations: usize,
    /// The `${NAME}` placeholders the user must supply, each with the steps that use it.
    pub placeholders: Vec<Placeholder>,
    /// What the spec holds that the scenario does not (one line each).
    pub notes: Vec<String>,
}

/// A value the user must supply: an environment variable of this name, or an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The variable, as written in `${…}`.
    pub name: String,
    /// What it stands for, e.g. "path parameter `codes` of GET /status/{codes}".
    pub uses: Vec<String>,
}

/// The HTTP methods an OpenAPI path item may hold, in the order steps are written.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Names the template language gives a meaning of its own.
const BUILTINS: [&str; 7] = [
    "REQUEST_ID",
    "TIMESTAMP_MS",
    "VU",
    "ITERATION",
    "UUID",
    "RANDOM",
    "URLENCODE",
];

/// Import a spec as scenario TOML (`kaioken import openapi`). `name` is the file's
/// path: files named by relative `$ref`s are read from beside it.
///
/// # Example
///
/// ```
/// use kaioken_compiler::{OpenApiOptions, import_openapi};
///
/// let spec = r#"
/// openapi: 3.0.3
/// info: {title: Pets, version: "1"}
/// servers: [{url: "http://127.0.0.1:8080/v1"}]
/// paths:
///   /pets/{id}:
///     get:
///       operationId: getPet
///       parameters:
///         - {name: id, in: path, required: true, schema: {type: integer, minimum: 7}}
///       responses: {"200": {description: ok}, "404": {description: missing}}
/// "#;
/// let imported = import_openapi("pets.yaml", spec, &OpenApiOptions::default())?;
/// assert!(imported.toml.contains(r#"url = "/v1/pets/7""#));
/// assert!(imported.toml.contains(r#"checks = ["status in [200, 404]"]"#));
/// assert_eq!(imported.steps, 1);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The file (or one a `$ref` names) is not JSON or YAML (located at the line and
/// column), not an OpenAPI 3.0/3.1 or Swagger 2.0 document, names a version kaioken
/// does not import, has a `$ref` that does not resolve, or has no operation left once
/// filtered.
pub fn import(
    name: &str,
    text: &str,
    options: &OpenApiOptions,
) -> Result<OpenApiImport, CompileErrors> {
    Ok(convert(name, text, options)?)
}

/// [`import`], one error.
fn convert(
    name: &str,
    text: &str,
    options: &OpenApiOptions,
) -> Result<OpenApiImport, CompileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let src = Src::new(name, text);
    let root = parse(&src)?;
    let order = order::of(&src.text);
    let mut docs = Docs {
        files: vec![Doc {
            path: PathBuf::from(name),
            src: src.clone(),
            value: root,
        }],
    };
    let version = version(&docs.files[0])?;
    docs.load_refs(0)?;
    let spec = Spec::read(&docs, version, &order, options)?;
    Ok(spec.import(options))
}

/// Read a spec given as the scenario (`kaioken spec.yaml`, `kaioken -f openapi.json`)
/// into `draft`: imported as `kaioken import openapi` would, then read as that TOML.
pub(crate) fn read(
    src: &Src,
    options: &OpenApiOptions,
    draft: &mut crate::draft::Draft,
) -> Result<(), CompileError> {
    let imported = convert(&src.name, &src.text, options)?;
    let scenario = Src::new(format!("{} (imported)", src.name), imported.toml);
    super::toml::read(&scenario, draft)
}

/// Whether a scenario file is a spec: a `.yaml` or `.yml` file (kaioken's scenarios are
/// TOML, so YAML can only be a spec; one that is not is told so), or JSON with an
/// `openapi` or `swagger` key at the top level.
pub fn is_spec(name: &str, text: &str) -> bool {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("yaml" | "yml")) {
        return true;
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.trim_start().starts_with('{') {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Head {
        openapi: Option<serde::de::IgnoredAny>,
        swagger: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Head>(text).is_ok_and(|h| h.openapi.is_some() || h.swagger.is_some())
}

/// One file: the spec, or one a `$ref` names.
pub(super) struct Doc {
    path: PathBuf,
    src: Src,
    value: Value,
}

/// The spec and every file its `$ref`s reach; index 0 is the spec.
pub(super) struct Docs {
    files: Vec<Doc>,
}

impl Docs {
    #[cfg(test)]
    fn single(name: &str, value: Value) -> Docs {
        Docs {
            files: vec![Doc {
                path: PathBuf::from(name),
                src: Src::new(name, ""),
                value,
            }],
        }
    }

    /// Read every file reachable through `$ref`s from file `index`, once each.
    fn load_refs(&mut self, index: usize) -> Result<(), CompileError> {
        let mut refs = Vec::new();
        collect_refs(&self.files[index].value, &mut refs);
        for r in refs {
            let file_part = r.split('#').next().unwrap_or("");
            if file_part.is_empty() {
                continue;
            }
            if file_part.contains("://") {
                return Err(self.ref_error(
                    index,
                    &r,
                    &format!("`$ref: {r}` names a remote document; kaioken resolves `$ref`s within the file and to files beside it"),
                ));
            }
            let path = self.path_of(index, file_part);
            if self.files.iter().any(|d| d.path == path) {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                self.ref_error(
                    index,
                    &r,
                    &format!(
                        "`$ref: {r}` names `{}`, which cannot be read: {e}",
                        path.display()
                    ),
                )
            })?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned();
            let src = Src::new(path.display().to_string(), text);
            let value = parse(&src)?;
            self.files.push(Doc { path, src, value });
            let loaded = self.files.len() - 1;
            self.load_refs(loaded)?;
        }
        Ok(())
    }

    /// The path of `file` (as a `$ref` in file `from` writes it).
    fn path_of(&self, from: usize, file: &str) -> PathBuf {
        let file = percent_encoding::percent_decode_str(file).decode_utf8_lossy();
        let dir = self.files[from].path.parent().unwrap_or(Path::new(""));
        normalize(&dir.join(file.as_ref()))
    }

    /// An error about `$ref: r` in file `index`, pointing at the first place the file
    /// writes it.
    fn ref_error(&self, index: usize, r: &str, message: &str) -> CompileError {
        let src = &self.files[index].src;
        let span = src.text.find(r).map(|at| at..at + r.len());
        let kind = CompileErrorKind::SpecRef {
            message: message.to_owned(),
        };
        CompileError::in_source(kind, src, span.or(Some(0..src.text.len().min(1))))
    }

    /// What `$ref: r` in file `from` points at, and the file it is in. A `$ref` to a
    /// `$ref` is followed; one that comes back to itself is an error.
    pub(super) fn resolve_ref(
        &self,
        from: usize,
        r: &str,
    ) -> Result<(usize, &Value), CompileError> {
        let mut seen: Vec<(usize, String)> = Vec::new();
        let (mut file, mut r) = (from, r.to_owned());
        loop {
            if seen.contains(&(file, r.clone())) {
                let chain: Vec<&str> = seen.iter().map(|(_, r)| r.as_str()).collect();
                return Err(self.ref_error(
                    from,
                    &seen[0].1,
                    &format!(
                        "`$ref`s loop without reaching a value: {} → {r}",
                        chain.join(" → ")
                    ),
                ));
            }
            seen.push((file, r.clone()));
            let (file_part, pointer) = r.split_once('#').unwrap_or((&r, ""));
            let target_file = if file_part.is_empty() {
                file
            } else {
                let path = self.path_of(file, file_part);
                self.files
                    .iter()
                    .position(|d| d.path == path)
                    .ok_or_else(|| {
                        self.ref_error(
                            file,
                            &r,
                            &format!("`$ref: {r}` names a file that was not read"),
                        )
                    })?
            };
            let pointer = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
            let value = self.files[target_file]
                .value
                .pointer(&pointer)
                .ok_or_else(|| {
                    self.ref_error(
                        file,
                        &r,
                        &format!(
                            "`$ref: {r}` points at nothing: `{}` has no `{pointer}`",
                            self.files[target_file].path.display()
                        ),
                    )
                })?;
            match value.get("$ref").and_then(Value::as_str) {
                Some(next) => {
                    file = target_file;
                    r = next.to_owned();
                }
                None => return Ok((target_file, value)),
            }
        }
    }

    /// `value` with its `$ref` (if any) followed, and the file it is in.
    pub(super) fn deref<'a>(
        &'a self,
        file: usize,
        value: &'a Value,
    ) -> Result<(usize, &'a Value), CompileError> {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve_ref(file, r),
            None => Ok((file, value)),
        }
    }
}

/// `a/./b/../c` as `a/c`, so one file read twice by different paths is read once.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref")
                && !out.contains(r)
            {
                out.push(r.clone());
            }
            for v in m.values() {
                collect_refs(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// JSON when the file starts with `{` or `[`, YAML otherwise; errors located at the
/// line and column.
fn parse(src: &Src) -> Result<Value, CompileError> {
    let text = &src.text;
    let first = text.trim_start().chars().next();
    if matches!(first, Some('{' | '[')) {
        return serde_json::from_str(text).map_err(|e| {
            let message = without_position(&e.to_string()).to_owned();
            syntax_error(src, "JSON", message, e.line(), e.column())
        });
    }
    serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        let message = without_position(&e.to_string()).to_owned();
        syntax_error(src, "YAML", message, line, column)
    })
}

/// A syntax error at a 1-based line and column (in bytes; 0 at a line's end).
fn syntax_error(
    src: &Src,
    format: &'static str,
    message: String,
    line: usize,
    column: usize,
) -> CompileError {
    CompileError::in_source(
        CompileErrorKind::SpecSyntax { format, message },
        src,
        Some(src.char_at(line, column)),
    )
}

fn not_spec(doc: &Doc, message: String, near: Option<&str>) -> CompileError {
    let span = near
        .and_then(|n| doc.src.text.find(n).map(|at| at..at + n.len()))
        .or(Some(0..doc.src.text.len().min(1)));
    CompileError::in_source(CompileErrorKind::NotSpec { message }, &doc.src, span)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Swagger2,
    OpenApi3,
}

fn version(doc: &Doc) -> Result<Version, CompileError> {
    let Some(top) = doc.value.as_object() else {
        return Err(not_spec(
            doc,
            "not an OpenAPI or Swagger document: the top level is not an object".into(),
            None,
        ));
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(v) = top.get("openapi") {
        let v = text(v);
        return if v.starts_with("3.0") || v.starts_with("3.1") {
            Ok(Version::OpenApi3)
        } else {
            Err(not_spec(
                doc,
                format!(
                    "unsupported OpenAPI version `{v}`: kaioken imports OpenAPI 3.0 and 3.1, and Swagger 2.0"
                ),
                Some("openapi"),
            ))
        };
    }
    if let Some(v) = top.get("swagger") {
        let v = text(v);
        return if v == "2.0" || v == "2" {
            Ok(Version::Swagger2)
        } else {
            Err(not_spec(
                doc,
                format!(
                    "unsupported Swagger version `{v}`: kaioken imports Swagger 2.0, and OpenAPI 3.0 and 3.1"
                ),
                Some("swagger"),
            ))
        };
    }
    Err(not_spec(
        doc,
        "not an OpenAPI or Swagger document: no `openapi` or `swagger` version at the top level"
            .into(),
        None,
    ))
}

/// A value as the request sends it: fixed text, or a placeholder.
#[derive(Debug, Clone)]
enum Filled {
    Text(String),
    Placeholder(String),
}

/// A parameter's value: one, or the items of an array (each as text), which the
/// parameter's `collectionFormat` says how to send.
#[derive(Debug, Clone)]
enum Param {
    One(Filled),
    Items(Vec<String>),
}

impl Param {
    /// As one value: an array's items joined by the parameter's separator.
    fn joined(self, param: &Value) -> Filled {
        match self {
            Param::One(f) => f,
            Param::Items(items) => Filled::Text(items.join(separator(param))),
        }
    }
}

/// One operation, ready to write.
struct Step {
    name: String,
    method: String,
    /// The path with its parameters filled (a template).
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// A `multipart/form-data` body: each field's name and value (a template).
    multipart: Vec<(String, String)>,
    /// The documented statuses: codes, and classes as `2xx`; empty when `default`
    /// documents every status, or when none is documented.
    statuses: Vec<String>,
    /// `default` is documented: every status is expected.
    any_status: bool,
    comment: Vec<String>,
}

struct Spec<'d> {
    docs: &'d Docs,
    version: Version,
    /// The origin (`scheme://host:port`), when the spec or `--server` gives one.
    origin: Option<String>,
    /// The path every operation's path goes under (`basePath`, or the server URL's).
    base_path: String,
    /// `--server` was given: it overrides the servers of paths and operations too.
    server_override: bool,
    steps: Vec<Step>,
    operations: usize,
    /// Each placeholder: what it stands for, and the operations that use it.
    placeholders: BTreeMap<String, Vec<(String, Vec<String>)>>,
    notes: Vec<String>,
    /// The order the spec writes each security requirement's schemes in.
    security_order: order::Security,
}

impl<'d> Spec<'d> {
    fn read(
        docs: &'d Docs,
        version: Version,
        order: &order::Order,
        options: &OpenApiOptions,
    ) -> Result<Spec<'d>, CompileError> {
        let doc = &docs.files[0];
        let mut spec = Spec {
            docs,
            version,
            origin: None,
            base_path: String::new(),
            server_override: false,
            steps: Vec::new(),
            operations: 0,
            placeholders: BTreeMap::new(),
            notes: Vec::new(),
            security_order: order.security.clone(),
        };
        spec.server(options)?;
        let root = &doc.value;
        let Some(paths) = root.get("paths").and_then(Value::as_object) else {
            let message = if root.get("webhooks").is_some() {
                "the spec has no `paths`, only `webhooks` (requests the API sends, not ones it serves): no operations to import"
            } else {
                "the spec has no `paths`: no operations to import"
            };
            return Err(not_spec(doc, message.into(), None));
        };
        // The file's order: paths as written, and each path's operations as written
        // (an item behind a `$ref`, in METHODS' order).
        let mut ordered: Vec<(&String, Vec<&str>)> = Vec::new();
        for (path, keys) in &order.paths {
            if let Some((path, _)) = paths.get_key_value(path) {
                let methods = keys
                    .iter()
                    .filter_map(|k| METHODS.iter().find(|m| **m == k.as_str()).copied())
                    .collect();
                ordered.push((path, methods));
            }
        }
        for path in paths.keys() {
            if !ordered.iter().any(|(p, _)| *p == path) {
                ordered.push((path, Vec::new()));
            }
        }
        // Every operation's names and every tag, for the filters that match none.
        let mut names: Vec<String> = Vec::new();
        let mut all_tags: Vec<String> = Vec::new();
        for (path, written) in ordered {
            let (file, item) = docs.deref(0, &paths[path])?;
            let methods = if paths[path].get("$ref").is_none() && !written.is_empty() {
                written
            } else {
                METHODS.to_vec()
            };
            for method in methods {
                let Some(op) = item.get(method) else { continue };
                spec.operations += 1;
                let id = op.get("operationId").and_then(Value::as_str);
                let label = format!("{} {path}", method.to_ascii_uppercase());
                names.extend(id.map(str::to_owned));
                names.push(label.clone());
                for tag in op
                    .get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(tag) = tag.as_str().filter(|t| !all_tags.iter().any(|a| a == t)) {
                        all_tags.push(tag.to_owned());
                    }
                }
                if !options.operations.is_empty()
                    && !options
                        .operations
                        .iter()
                        .any(|o| Some(o.as_str()) == id || o.eq_ignore_ascii_case(&label))
                {
                    continue;
                }
                let tags: Vec<&str> = op
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|t| t.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if !options.tags.is_empty()
                    && !options.tags.iter().any(|t| tags.contains(&t.as_str()))
                {
                    continue;
                }
                let step =
                    spec.operation(file, path, method, item, op, id.unwrap_or(&label), &label)?;
                spec.steps.push(step);
            }
        }
        // A filter that matches nothing is a typo, even when another one matched.
        let unmatched = |wanted: &[String],
                         known: &[String],
                         what: &str,
                         matches: &dyn Fn(&str, &str) -> bool| {
            let missing = wanted
                .iter()
                .find(|w| !known.iter().any(|k| matches(w, k)))?;
            let mut message = format!("the spec has no {what} `{missing}`");
            match crate::closest(missing, known.iter().map(String::as_str)) {
                Some(meant) => message.push_str(&format!("; did you mean `{meant}`?")),
                None if what == "operation" => message.push_str(
                    " (an operation is its `operationId` or `METHOD /path`, as in `GET /pets/{id}`)",
                ),
                None => {}
            }
            Some(message)
        };
        let same_label =
            |w: &str, k: &str| w == k || (k.contains(' ') && w.eq_ignore_ascii_case(k));
        if let Some(message) = unmatched(&options.operations, &names, "operation", &same_label)
            .or_else(|| unmatched(&options.tags, &all_tags, "tag", &|w, k| w == k))
        {
            return Err(not_spec(doc, message, None));
        }
        if spec.steps.is_empty() {
            let message = if spec.operations == 0 {
                "the spec has no operations under `paths`".to_owned()
            } else {
                let mut filters = Vec::new();
                if !options.tags.is_empty() {
                    filters.push(format!("tag {}", options.tags.join(", ")));
                }
                if !options.operations.is_empty() {
                    filters.push(format!("operation {}", options.operations.join(", ")));
                }
                format!(
                    "none of the spec's {} operations has {}",
                    spec.operations,
                    filters.join(" and ")
                )
            };
            return Err(not_spec(doc, message, None));
        }
        Ok(spec)
    }

    /// The origin and base path: `--server`, else the first of `servers` (its
    /// variables at their defaults), else Swagger's `schemes`, `host` and `basePath`.
    fn server(&mut self, options: &OpenApiOptions) -> Result<(), CompileError> {
        let root = &self.docs.files[0].value;
        let spec_url = match self.version {
            Version::OpenApi3 => server_url(root.get("servers")),
            Version::Swagger2 => {
                let base = root.get("basePath").and_then(Value::as_str).unwrap_or("");
                match root.get("host").and_then(Value::as_str) {
                    Some(host) => {
                        let schemes: Vec<&str> = root
                            .get("schemes")
                            .and_then(Value::as_array)
                            .map(|s| s.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        let scheme = match schemes.first() {
                            Some(first) if !schemes.contains(&"https") => *first,
                            _ => "https",
                        };
                        Some(format!("{scheme}://{host}{base}"))
                    }
                    None => Some(base.to_owned()),
                }
            }
        };
        if let Some(server) = &options.server {
            check_server(server)?;
        }
        self.server_override = options.server.is_some();
        let chosen = options.server.clone().or(spec_url).unwrap_or_default();
        let (origin, base_path) = split_server(&chosen);
        self.origin = origin;
        self.base_path = base_path;
        if self.origin.is_none() {
            self.notes.push(
                "the spec names no server with a scheme and host: give the URL with `--server` when importing, or on the command line when running".into(),
            );
        }
        Ok(())
    }

    /// What an operation's path goes under: the spec's base path (on `[target] url`),
    /// or the operation's own server (OpenAPI 3's `servers` on the operation, else on
    /// its path item) unless `--server` overrides every server. An operation server on
    /// another origin gives an absolute URL; a relative one (`/v2`) is a base path on
    /// the spec's origin.
    fn operation_base(&self, item: &Value, op: &Value, comment: &mut Vec<String>) -> String {
        if self.server_override || self.version != Version::OpenApi3 {
            return self.base_path.clone();
        }
        fn own(v: &Value) -> Option<&Value> {
            v.get("servers")
                .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
        }
        let (place, servers) = match (own(op), own(item)) {
            (Some(s), _) => ("operation's", s),
            (None, Some(s)) => ("path's", s),
            (None, None) => return self.base_path.clone(),
        };
        let Some(url) = server_url(Some(servers)) else {
            return self.base_path.clone();
        };
        comment.push(format!("server: {url} (the {place} own `servers`)"));
        escape(&match split_server(&url) {
            (Some(origin), base) if Some(&origin) == self.origin.as_ref() => base,
            (Some(origin), base) => format!("{origin}{base}"),
            (None, base) => base,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &mut self,
        file: usize,
        path: &str,
        method: &str,
        item: &Value,
        op: &Value,
        name: &str,
        label: &str,
    ) -> Result<Step, CompileError> {
        let docs = self.docs;
        let mut comment = Vec::new();
        if let Some(summary) = op.get("summary").and_then(Value::as_str) {
            comment.push(format!("{label}: {}", summary.trim()));
        } else {
            comment.push(label.to_owned());
        }
        // Path-level parameters, overridden by the operation's of the same name and place.
        let mut params: Vec<(usize, &Value)> = Vec::new();
        for list in [item.get("parameters"), op.get("parameters")] {
            for p in list.and_then(Value::as_array).into_iter().flatten() {
                let (f, p) = docs.deref(file, p)?;
                let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
                params.retain(|(_, q)| key(q) != key(p));
                params.push((f, p));
            }
        }
        let mut path_values: BTreeMap<String, Filled> = BTreeMap::new();
        let mut query: Vec<(String, Filled)> = Vec::new();
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut cookies: Vec<String> = Vec::new();
        let mut form: Vec<(String, Filled)> = Vec::new();
        let mut body: Option<(String, String)> = None;
        let mut multipart: Vec<(String, String)> = Vec::new();
        for (f, p) in &params {
            let pname = p.get("name").and_then(Value::as_str).unwrap_or("");
            let place = p.get("in").and_then(Value::as_str).unwrap_or("");
            if place == "body" {
                if let Some(s) = p.get("schema") {
                    let consumes = self.consumes(op);
                    let value = schema::value(docs, *f, s);
                    let example = docs
                        .deref(*f, s)
                        .ok()
                        .and_then(|(_, s)| s.get("example").cloned());
                    body = Some(self.body_text(&consumes, value, example, label, &mut comment));
                }
                continue;
            }
            let required =
                place == "path" || p.get("required").and_then(Value::as_bool).unwrap_or(false);
            let what = format!("{place} parameter `{pname}`");
            let Some(value) = self.param_value(*f, p, required, &what, label) else {
                continue;
            };
            // Swagger's `collectionFormat: multi`: the parameter once per item
            // (`tag=a&tag=b`), in a query string or a URL-encoded form. A `multipart`
            // table has one value per field: there the items are joined, and said so.
            let multi = p.get("collectionFormat").and_then(Value::as_str) == Some("multi");
            let repeated = match &value {
                Param::Items(_) if multi && place == "formData" && self.multipart_form(op) => {
                    comment.push(format!(
                        "field `{pname}` repeats once per item (`collectionFormat: multi`); a `multipart` table has one value per field, so its items are joined by `,`"
                    ));
                    None
                }
                Param::Items(items) if multi && matches!(place, "query" | "formData") => {
                    Some(items.clone())
                }
                _ => None,
            };
            let value = value.joined(p);
            match place {
                "path" => {
                    path_values.insert(pname.to_owned(), value);
                }
                "query" | "formData" if repeated.is_some() => {
                    let to = if place == "query" {
                        &mut query
                    } else {
                        &mut form
                    };
                    for item in repeated.into_iter().flatten() {
                        to.push((pname.to_owned(), Filled::Text(item)));
                    }
                }
                "query" => query.push((pname.to_owned(), value)),
                "header" => headers.push((pname.to_ascii_lowercase(), render_filled(&value))),
                "cookie" => cookies.push(format!("{pname}={}", render_filled(&value))),
                "formData" => form.push((pname.to_owned(), value)),
                _ => {}
            }
        }
        if !form.is_empty() {
            if self.multipart_form(op) {
                multipart = form
                    .iter()
                    .map(|(k, v)| (k.clone(), literal_part(render_filled(v))))
                    .collect();
                let files: Vec<String> = file_params(&params)
                    .into_iter()
                    .filter(|f| form.iter().any(|(k, _)| k == f))
                    .collect();
                self.file_fields(&files, label, &mut comment);
            } else {
                let pairs: Vec<String> = form
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode_filled(v)))
                    .collect();
                body = Some(("application/x-www-form-urlencoded".into(), pairs.join("&")));
            }
        }
        if let Some(rb) = op.get("requestBody") {
            let (f, rb) = docs.deref(file, rb)?;
            match self.request_body(f, rb, label, &mut comment) {
                Some(RequestBody::Text(ty, text)) => body = Some((ty, text)),
                Some(RequestBody::Multipart(fields)) => multipart = fields,
                None => body = None,
            }
        }
        self.security(
            op,
            (path, method),
            label,
            &mut headers,
            &mut query,
            &mut cookies,
        );
        // One value per header: a parameter or the first credential wins.
        let mut seen = std::collections::HashSet::new();
        headers.retain(|(h, _)| seen.insert(h.clone()));
        if !cookies.is_empty() {
            headers.push(("cookie".into(), cookies.join("; ")));
        }
        if let Some((ty, _)) = &body
            && !headers.iter().any(|(h, _)| h == "content-type")
        {
            headers.push(("content-type".into(), ty.clone()));
        }
        if !multipart.is_empty() {
            // kaioken writes a multipart body's content-type itself, with its boundary.
            headers.retain(|(h, _)| h != "content-type");
        }

        // The path, each `{name}` filled; one the spec does not declare is a placeholder.
        // Some specs tell two operations on one path apart with a `#suffix`, which
        // HTTP never sends.
        let mut url = self.operation_base(item, op, &mut comment);
        let mut rest = path.split_once('#').map_or(path, |(p, _)| p);
        while let Some(open) = rest.find('{') {
            url.push_str(&escape(&rest[..open]));
            let Some(close) = rest[open..].find('}') else {
                url.push_str(&escape(&rest[open..]));
                rest = "";
                break;
            };
            let pname = &rest[open + 1..open + close];
            let value = match path_values.get(pname) {
                Some(v) => v.clone(),
                None => Filled::Placeholder(self.placeholder(
                    pname,
                    format!("path parameter `{pname}` (not declared in the spec)"),
                    label,
                )),
            };
            url.push_str(&match value {
                Filled::Text(t) => escape(&utf8_percent(&t, PATH)),
                Filled::Placeholder(p) => format!("${{{p}}}"),
            });
            rest = &rest[open + close + 1..];
        }
        url.push_str(&escape(rest));
        if url.is_empty() {
            url.push('/');
        }
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", escape(&encode(k)), encode_filled(v)))
                .collect();
            url.push('?');
            url.push_str(&pairs.join("&"));
        }

        let statuses = self.statuses(op, label);
        let any_status = op
            .get("responses")
            .and_then(Value::as_object)
            .is_some_and(|r| r.contains_key("default"));
        Ok(Step {
            name: name.to_owned(),
            method: method.to_ascii_uppercase(),
            url,
            headers,
            body: body.map(|(_, b)| b),
            multipart,
            statuses,
            any_status,
            comment,
        })
    }

    /// A parameter's value: its example, its default, a generated one when it is
    /// required, or a placeholder when it is required and nothing can be generated.
    /// An optional parameter is sent only with an example (the server applies a
    /// default itself).
    fn param_value(
        &mut self,
        file: usize,
        p: &Value,
        required: bool,
        what: &str,
        label: &str,
    ) -> Option<Param> {
        let pname = p.get("name").and_then(Value::as_str).unwrap_or("value");
        // OpenAPI 3: `schema`, or `content` with one media type; Swagger 2: the
        // parameter itself is the schema (`type`, `default`, `enum`, `items`).
        let schema = p
            .get("schema")
            .or_else(|| {
                p.get("content")
                    .and_then(Value::as_object)
                    .and_then(|c| c.values().next())
                    .and_then(|m| m.get("schema"))
            })
            .unwrap_or(p);
        let (sfile, schema) = self.docs.deref(file, schema).unwrap_or((file, schema));
        let example = p
            .get("example")
            .cloned()
            .or_else(|| first_example(self.docs, file, p.get("examples")))
            .or_else(|| schema.get("example").cloned());
        let value = match example {
            Some(v) => Some(v),
            None if !required => return None,
            None => p
                .get("default")
                .cloned()
                .or_else(|| schema::value(self.docs, sfile, schema)),
        };
        if let Some(Value::Array(items)) = &value
            && let Some(items) = items
                .iter()
                .map(|i| scalar_text(i, &Value::Null))
                .collect::<Option<Vec<String>>>()
        {
            return Some(Param::Items(items));
        }
        Some(Param::One(match value.and_then(|v| scalar_text(&v, p)) {
            Some(t) => Filled::Text(t),
            None => Filled::Placeholder(self.placeholder(pname, what.to_owned(), label)),
        }))
    }

    /// The placeholder for a value named `name`: upper case, `_` for anything but
    /// letters and digits, away from the built-ins' names.
    fn placeholder(&mut self, name: &str, what: String, label: &str) -> String {
        let mut var: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        if var.is_empty() || var.starts_with(|c: char| c.is_ascii_digit()) {
            var.insert(0, '_');
        }
        if BUILTINS.contains(&var.as_str()) {
            var.push_str("_VALUE");
        }
        let uses = self.placeholders.entry(var.clone()).or_default();
        match uses.iter_mut().find(|(w, _)| *w == what) {
            Some((_, labels)) => labels.push(label.to_owned()),
            None => uses.push((what, vec![label.to_owned()])),
        }
        var
    }

    /// Whether Swagger 2 `formData` parameters are a `multipart` table: the operation
    /// consumes `multipart/form-data` and not `application/x-www-form-urlencoded`.
    fn multipart_form(&self, op: &Value) -> bool {
        let consumes = self.consumes(op);
        !consumes
            .iter()
            .any(|c| media(c) == "application/x-www-form-urlencoded")
            && consumes.iter().any(|c| media(c) == "multipart/form-data")
    }

    /// The media types an operation consumes (Swagger 2), its own or the spec's.
    fn consumes(&self, op: &Value) -> Vec<String> {
        let list = op
            .get("consumes")
            .or_else(|| self.docs.files[0].value.get("consumes"));
        let list: Vec<String> = list
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if list.is_empty() {
            vec!["application/json".into()]
        } else {
            list
        }
    }

    /// An OpenAPI 3 request body: the first JSON media type, else a URL-encoded form,
    /// else text, else any other single-part type, else a `multipart/form-data` form.
    fn request_body(
        &mut self,
        file: usize,
        rb: &Value,
        label: &str,
        comment: &mut Vec<String>,
    ) -> Option<RequestBody> {
        let content = rb.get("content").and_then(Value::as_object)?;
        let pick = content
            .keys()
            .find(|k| is_json(k))
            .or_else(|| {
                content
                    .keys()
                    .find(|k| media(k) == "application/x-www-form-urlencoded")
            })
            .or_else(|| content.keys().find(|k| media(k).starts_with("text/")))
            .or_else(|| content.keys().find(|k| !media(k).starts_with("multipart/")))
            .or_else(|| content.keys().find(|k| media(k) == "multipart/form-data"));
        let Some(ty) = pick else {
            self.notes.push(format!(
                "{label} takes only multipart bodies other than multipart/form-data: none is generated; write a `multipart` table"
            ));
            return None;
        };
        let media_type = &content[ty];
        let schema = media_type
            .get("schema")
            .and_then(|s| self.docs.deref(file, s).ok());
        let example = media_type
            .get("example")
            .cloned()
            .or_else(|| first_example(self.docs, file, media_type.get("examples")));
        let value = example.clone().or_else(|| {
            let (f, s) = schema?;
            schema::value(self.docs, f, s)
        });
        let example = example.or_else(|| schema.and_then(|(_, s)| s.get("example").cloned()));
        if media(ty) == "multipart/form-data" {
            return Some(self.multipart(schema, value, label, comment));
        }
        let (ty, text) = self.body_text(std::slice::from_ref(ty), value, example, label, comment);
        Some(RequestBody::Text(ty, text))
    }

    /// A `multipart/form-data` body: a field per property of the value (an object),
    /// each a text part. A field the schema says is a file (`format: binary` or
    /// `base64`) is sent as text too, and said so: a file to upload is the user's.
    fn multipart(
        &mut self,
        schema: Option<(usize, &Value)>,
        value: Option<Value>,
        label: &str,
        comment: &mut Vec<String>,
    ) -> RequestBody {
        let fields: Vec<(String, String)> = match value {
            Some(Value::Object(m)) if !m.is_empty() => m
                .iter()
                .map(|(k, v)| {
                    let text = scalar_text(v, &Value::Null).unwrap_or_default();
                    (k.clone(), literal_part(escape(&text)))
                })
                .collect(),
            _ => {
                let var = self.placeholder(
                    "body",
                    "the multipart body's one field `body`".into(),
                    label,
                );
                comment.push(
                    "the multipart body's schema gives no properties: one field `body` is sent"
                        .into(),
                );
                vec![("body".into(), format!("${{{var}}}"))]
            }
        };
        let mut files = Vec::new();
        if let Some((f, s)) = schema
            && let Some(props) = s.get("properties").and_then(Value::as_object)
        {
            for (name, prop) in props {
                let (_, prop) = self.docs.deref(f, prop).unwrap_or((f, prop));
                let format = prop.get("format").and_then(Value::as_str);
                let is_file = matches!(format, Some("binary" | "base64"))
                    || prop.get("contentMediaType").is_some();
                if is_file && fields.iter().any(|(k, _)| k == name) {
                    files.push(name.clone());
                }
            }
        }
        self.file_fields(&files, label, comment);
        RequestBody::Multipart(fields)
    }

    /// Note the fields of a multipart form that take files, which are sent as text.
    fn file_fields(&mut self, files: &[String], label: &str, comment: &mut Vec<String>) {
        if files.is_empty() {
            return;
        }
        let names: Vec<String> = files.iter().map(|f| format!("`{f}`")).collect();
        comment.push(format!(
            "{} a file: sent as text; write `\"@path\"` to upload a file",
            if files.len() == 1 {
                format!("field {} takes", names[0])
            } else {
                format!("fields {} take", names.join(", "))
            }
        ));
        self.notes.push(format!(
            "{label} uploads files ({}): their multipart fields are sent as text; write `\"@path\"` in the step's `multipart` table to send a file",
            names.join(", ")
        ));
    }

    /// A body of the first JSON type of `types` (else the first) from `value` (the
    /// author's `example`, or one generated from the schema). A type kaioken does not
    /// write (XML, a binary type) takes the author's `example` when it is text, else a
    /// placeholder: a value generated from a schema is JSON, which such a body is not.
    fn body_text(
        &mut self,
        types: &[String],
        value: Option<Value>,
        example: Option<Value>,
        label: &str,
        comment: &mut Vec<String>,
    ) -> (String, String) {
        let ty = types
            .iter()
            .find(|t| is_json(t))
            .or_else(|| types.first())
            .cloned()
            .unwrap_or_else(|| "application/json".into());
        let m = media(&ty);
        // JSON and forms are written from any value, text from a string or a number;
        // an object or an array as text would be JSON under another name.
        let written = is_json(&ty)
            || m == "application/x-www-form-urlencoded"
            || (m.starts_with("text/")
                && value
                    .as_ref()
                    .is_none_or(|v| !v.is_object() && !v.is_array()));
        let value = match example {
            _ if written => value,
            Some(Value::String(s)) => Some(Value::String(s)),
            _ => {
                let var = self.placeholder("body", "the request body".into(), label);
                comment.push(format!(
                    "the body is `{ty}`: a value generated from its schema would be JSON, and the spec gives no example of it as text; write the body in"
                ));
                self.notes.push(format!(
                    "{label} sends its body as `{ty}`, and the spec gives no example of it as text: the body is the placeholder `${{{var}}}`"
                ));
                return (ty, format!("${{{var}}}"));
            }
        };
        let Some(value) = value else {
            let var = self.placeholder("body", "the request body".into(), label);
            comment.push("the body's schema gives nothing to generate from".into());
            return (ty, format!("${{{var}}}"));
        };
        let text = if is_json(&ty) {
            value.to_string()
        } else if ty == "application/x-www-form-urlencoded" {
            match &value {
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            encode(k),
                            encode(&scalar_text(v, &Value::Null).unwrap_or_else(|| v.to_string()))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
                v => scalar_text(v, &Value::Null).unwrap_or_else(|| v.to_string()),
            }
        } else {
            match &value {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            }
        };
        (ty, escape(&text))
    }

    /// Credentials for the operation's security (its own, or the spec's): the first
    /// requirement's schemes in the order the spec writes them, each as a placeholder
    /// where it is sent. None when any requirement is empty (`{}`: anonymous access
    /// allowed). A header a parameter or an earlier scheme already sends is not sent
    /// again, and its scheme gets no placeholder; nor does a scheme of a type that
    /// sends nothing kaioken writes (`mutualTLS`).
    fn security(
        &mut self,
        op: &Value,
        (path, method): (&str, &str),
        label: &str,
        headers: &mut Vec<(String, String)>,
        query: &mut Vec<(String, Filled)>,
        cookies: &mut Vec<String>,
    ) {
        let root = &self.docs.files[0].value;
        let Some(reqs) = op
            .get("security")
            .or_else(|| root.get("security"))
            .and_then(Value::as_array)
        else {
            return;
        };
        if reqs
            .iter()
            .any(|r| r.as_object().is_some_and(serde_json::Map::is_empty))
        {
            return;
        }
        let Some(first) = reqs.first().and_then(Value::as_object) else {
            return;
        };
        // The written order (a sorted map has lost it), then any scheme it missed.
        let written = match op.get("security") {
            Some(_) => self
                .security_order
                .operations
                .get(&(path.to_owned(), method.to_owned())),
            None => Some(&self.security_order.root),
        };
        let mut names: Vec<&String> = written
            .and_then(|w| w.first())
            .into_iter()
            .flatten()
            .filter_map(|n| first.get_key_value(n).map(|(k, _)| k))
            .collect();
        for name in first.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let schemes = match self.version {
            Version::OpenApi3 => root.pointer("/components/securitySchemes"),
            Version::Swagger2 => root.get("securityDefinitions"),
        };
        enum Place {
            Header(String, &'static str),
            Query(String),
            Cookie(String),
        }
        for name in names {
            let Some(scheme) = schemes.and_then(|s| s.get(name)) else {
                continue;
            };
            let (_, scheme) = self.docs.deref(0, scheme).unwrap_or((0, scheme));
            let ty = scheme.get("type").and_then(Value::as_str).unwrap_or("");
            let place = match ty {
                "apiKey" => {
                    let key_name = scheme.get("name").and_then(Value::as_str).unwrap_or(name);
                    match scheme.get("in").and_then(Value::as_str) {
                        Some("query") => Place::Query(key_name.to_owned()),
                        Some("cookie") => Place::Cookie(key_name.to_owned()),
                        _ => Place::Header(key_name.to_ascii_lowercase(), ""),
                    }
                }
                "basic" => Place::Header("authorization".into(), "Basic "),
                "http" => {
                    let s = scheme
                        .get("scheme")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    let prefix = match s.as_str() {
                        "basic" => "Basic ",
                        "bearer" => "Bearer ",
                        _ => "",
                    };
                    Place::Header("authorization".into(), prefix)
                }
                "oauth2" | "openIdConnect" => Place::Header("authorization".into(), "Bearer "),
                _ => continue,
            };
            if let Place::Header(h, _) = &place
                && headers.iter().any(|(k, _)| k == h)
            {
                continue;
            }
            let var = self.placeholder(name, format!("credential `{name}` ({ty})"), label);
            match place {
                Place::Header(h, prefix) => headers.push((h, format!("{prefix}${{{var}}}"))),
                Place::Query(k) => query.push((k, Filled::Placeholder(var))),
                Place::Cookie(k) => cookies.push(format!("{k}=${{{var}}}")),
            }
        }
    }

    /// The documented statuses: codes, classes (`2XX` → `2xx`); none when `default`
    /// is documented (any status is then).
    fn statuses(&mut self, op: &Value, label: &str) -> Vec<String> {
        let Some(responses) = op.get("responses").and_then(Value::as_object) else {
            return Vec::new();
        };
        if responses.contains_key("default") {
            return Vec::new();
        }
        let mut out = Vec::new();
        for code in responses.keys() {
            let c = code.to_ascii_lowercase();
            if c.len() == 3
                && (c.parse::<u16>().is_ok()
                    || c.ends_with("xx") && c.starts_with(|d: char| ('1'..='5').contains(&d)))
            {
                out.push(c);
            } else if !code.starts_with("x-") {
                self.notes.push(format!(
                    "{label} documents a response `{code}` that is not a status"
                ));
            }
        }
        out
    }

    fn import(self, options: &OpenApiOptions) -> OpenApiImport {
        let doc = &self.docs.files[0];
        let title = doc
            .value
            .pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or("");
        let file = doc
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("spec")
            .to_owned();
        let mut header = Vec::new();
        let kind = match self.version {
            Version::Swagger2 => "Swagger 2.0",
            Version::OpenApi3 => "OpenAPI 3",
        };
        header.push(format!(
            "Imported from `{file}` ({kind}{}) by `kaioken import openapi`: {} of {} operations became steps.",
            if title.is_empty() { String::new() } else { format!(", \"{title}\"") },
            self.steps.len(),
            self.operations,
        ));
        if let Some(s) = &options.server {
            header.push(format!("Server: {s} (from `--server`)."));
        }
        header.push(
            "Each parameter and body has its example or default, or a value generated from its schema; \
             optional parameters are sent only when the spec gives an example. Each step checks that the \
             status is one the operation documents."
                .into(),
        );
        let redirecting: Vec<&str> = self
            .steps
            .iter()
            .filter(|s| s.statuses.iter().any(|c| c.starts_with('3')))
            .map(|s| s.name.as_str())
            .collect();
        if !redirecting.is_empty() {
            header.push(format!(
                "Redirects are not followed (`follow_redirects = false`): {} {} a 3xx, which a followed \
                 redirect would never show. An operation that documents none and is redirected fails its \
                 check; import it apart (`--operation`) to have its redirects followed.",
                shorten_list(&redirecting),
                if redirecting.len() == 1 { "documents" } else { "document" },
            ));
        }
        for n in &self.notes {
            header.push(sentence(n));
        }
        if !self.placeholders.is_empty() {
            header.push(
                "Placeholders: set these environment variables (or write the values in) before running:".into(),
            );
        }
        let placeholders: Vec<Placeholder> = self
            .placeholders
            .iter()
            .map(|(name, uses)| Placeholder {
                name: name.clone(),
                uses: uses
                    .iter()
                    .map(|(what, labels)| described(what, labels))
                    .collect(),
            })
            .collect();
        let mut out = String::new();
        for paragraph in &header {
            let paragraph = paragraph.replace(|c: char| c.is_control(), " ");
            for line in wrap(&paragraph, 86) {
                out.push_str("# ");
                out.push_str(&line);
                out.push('\n');
            }
        }
        for p in &placeholders {
            let line = format!("  {}: {}", p.name, p.uses.join("; "))
                .replace(|c: char| c.is_control(), " ");
            for (i, l) in wrap(&line, 86).iter().enumerate() {
                out.push_str(if i == 0 { "# " } else { "#     " });
                out.push_str(l);
                out.push('\n');
            }
        }
        out.push_str("\n[target]\n");
        if let Some(origin) = &self.origin {
            out.push_str(&format!("url = {}\n", string(&escape(origin))));
        }
        if !redirecting.is_empty() {
            out.push_str("follow_redirects = false\n");
        }
        let scenario = if title.is_empty() {
            file.clone()
        } else {
            title.to_owned()
        };
        out.push_str(&format!("\n[[scenarios]]\nname = {}\n", string(&scenario)));
        for (i, step) in self.steps.iter().enumerate() {
            out.push('\n');
            for c in &step.comment {
                let c = format!("step {}: {c}", i + 1).replace(|c: char| c.is_control(), " ");
                for l in wrap(&c, 86) {
                    out.push_str("# ");
                    out.push_str(&l);
                    out.push('\n');
                }
            }
            out.push_str("[[scenarios.steps]]\n");
            out.push_str(&format!("name = {}\n", string(&step.name)));
            out.push_str(&format!("method = {}\n", string(&step.method)));
            out.push_str(&format!("url = {}\n", string(&step.url)));
            if let Some(body) = &step.body {
                out.push_str(&format!("body = {}\n", string(body)));
            }
            if !step.multipart.is_empty() {
                let fields: Vec<String> = step
                    .multipart
                    .iter()
                    .map(|(k, v)| format!("{} = {}", key(k), string(v)))
                    .collect();
                out.push_str(&format!("multipart = {{ {} }}\n", fields.join(", ")));
            }
            if step.any_status {
                out.push_str("expected_status = \"100-599\"\n");
            } else if !step.statuses.is_empty() {
                out.push_str(&format!(
                    "expected_status = {}\n",
                    string(&step.statuses.join(","))
                ));
                out.push_str(&format!(
                    "checks = [{}]\n",
                    string(&status_check(&step.statuses))
                ));
            }
            if !step.headers.is_empty() {
                out.push_str("\n[scenarios.steps.headers]\n");
                for (name, value) in &step.headers {
                    out.push_str(&format!("{} = {}\n", key(name), string(value)));
                }
            }
        }
        OpenApiImport {
            toml: out,
            steps: self.steps.len(),
            operations: self.operations,
            placeholders,
            notes: self.notes,
        }
    }
}

/// `--server`: an `http` or `https` URL with a host, and at most a path after it,
/// which every operation's path (and query) is written after; anything else would be
/// written into each step's URL as it is (`127.0.0.1:8080/pets`, `/v2?x=1/pets`).
fn check_server(server: &str) -> Result<(), CompileError> {
    let bad = |why: String| {
        Err(CompileError::unlocated(CompileErrorKind::BadUrl {
            reason: format!("`--server {server}` {why}"),
        }))
    };
    let scheme = server
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => {}
        Some(other) => {
            return bad(format!(
                "has scheme `{other}`; expected `http://` or `https://`"
            ));
        }
        None => {
            return bad(format!(
                "has no scheme; expected `http://` or `https://` (`--server http://{server}`)"
            ));
        }
    }
    let parsed = match url::Url::parse(server) {
        Ok(u) => u,
        Err(e) => return bad(format!("is not a URL: {e}")),
    };
    if parsed.host_str().is_none_or(str::is_empty) {
        return bad("has no host".into());
    }
    if let Some(q) = parsed.query() {
        return bad(format!(
            "has a query (`?{q}`); a server is a scheme, a host and a base path, which each operation's path and query go after"
        ));
    }
    if let Some(f) = parsed.fragment() {
        return bad(format!(
            "has a fragment (`#{f}`), which is never sent to a server"
        ));
    }
    Ok(())
}

/// The first server of an OpenAPI 3 `servers` list, its variables at their defaults.
fn server_url(servers: Option<&Value>) -> Option<String> {
    let s = servers?.as_array()?.first()?;
    let mut url = s.get("url")?.as_str()?.to_owned();
    if let Some(vars) = s.get("variables").and_then(Value::as_object) {
        for (name, var) in vars {
            if let Some(d) = var.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{name}}}"), d);
            }
        }
    }
    Some(url)
}

/// A server URL as its origin (`scheme://host:port`, when it has a scheme) and the
/// base path under it, with no trailing `/` (`http://127.0.0.1:8080/v2/` is the origin
/// and `/v2`).
fn split_server(url: &str) -> (Option<String>, String) {
    let (origin, path) = match url.find("://") {
        Some(at) => {
            let split = url[at + 3..].find('/').map_or(url.len(), |i| at + 3 + i);
            (Some(url[..split].to_owned()), &url[split..])
        }
        None => (None, url),
    };
    (origin, path.trim_end_matches('/').to_owned())
}

/// `a, b, c` or `a, b, c and 4 more`.
fn shorten_list(items: &[&str]) -> String {
    let names: Vec<String> = items.iter().take(3).map(|n| format!("`{n}`")).collect();
    match items.len() {
        0..=3 => names.join(", "),
        n => format!("{} and {} more", names.join(", "), n - 3),
    }
}

/// "path parameter `id` of GET /pets/{id}", "… (and 2 more operations)".
fn described(what: &str, labels: &[String]) -> String {
    match labels {
        [] => what.to_owned(),
        [one] => format!("{what} of {one}"),
        [first, rest @ ..] => format!(
            "{what} of {first} (and {} more operation{})",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

/// `status in [200, 404]`, with `(status >= 200 && status < 300)` for a class.
fn status_check(statuses: &[String]) -> String {
    let codes: Vec<&str> = statuses
        .iter()
        .filter(|s| !s.ends_with("xx"))
        .map(String::as_str)
        .collect();
    let mut parts = Vec::new();
    match codes.as_slice() {
        [] => {}
        [one] => parts.push(format!("status == {one}")),
        many => parts.push(format!("status in [{}]", many.join(", "))),
    }
    for class in statuses.iter().filter(|s| s.ends_with("xx")) {
        let d: u16 = class[..1].parse().unwrap_or(2);
        parts.push(format!(
            "(status >= {} && status < {})",
            d * 100,
            d * 100 + 100
        ));
    }
    parts.join(" || ")
}

/// A multipart field's value as text: one starting with `@` would name a file, so it
/// is written `@@…`.
fn literal_part(value: String) -> String {
    if value.starts_with('@') {
        format!("@{value}")
    } else {
        value
    }
}

/// A media type without its parameters, lower case: `multipart/form-data`.
fn media(ty: &str) -> String {
    ty.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The Swagger 2.0 `formData` parameters of `type: file`.
fn file_params(params: &[(usize, &Value)]) -> Vec<String> {
    params
        .iter()
        .filter(|(_, p)| {
            p.get("in").and_then(Value::as_str) == Some("formData")
                && p.get("type").and_then(Value::as_str) == Some("file")
        })
        .filter_map(|(_, p)| p.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// An OpenAPI 3 request body, ready to write.
enum RequestBody {
    /// A media type and the body's text (a template).
    Text(String, String),
    /// `multipart/form-data` fields.
    Multipart(Vec<(String, String)>),
}

fn is_json(media: &str) -> bool {
    let m = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    m == "application/json" || m.ends_with("+json") || m == "*/*"
}

/// The first of OpenAPI 3's `examples` (a map of Example objects, or of `$ref`s to them).
fn first_example(docs: &Docs, file: usize, examples: Option<&Value>) -> Option<Value> {
    let first = examples?.as_object()?.values().next()?;
    let (_, ex) = docs.deref(file, first).ok()?;
    ex.get("value").cloned()
}

/// A parameter's value as text: strings as they are, numbers and booleans as JSON
/// writes them, arrays joined by the parameter's separator (`,` by default).
fn scalar_text(v: &Value, param: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        Value::Array(items) => {
            let parts: Option<Vec<String>> =
                items.iter().map(|i| scalar_text(i, &Value::Null)).collect();
            Some(parts?.join(separator(param)))
        }
        Value::Object(_) => Some(v.to_string()),
    }
}

/// What joins an array's items in one value, by the parameter's Swagger
/// `collectionFormat` (`,` by default; `multi`, which repeats the parameter instead,
/// where it cannot be repeated).
fn separator(param: &Value) -> &'static str {
    match param.get("collectionFormat").and_then(Value::as_str) {
        Some("ssv") => " ",
        Some("tsv") => "\t",
        Some("pipes") => "|",
        _ => ",",
    }
}

fn render_filled(v: &Filled) -> String {
    match v {
        Filled::Text(t) => escape(t),
        Filled::Placeholder(p) => format!("${{{p}}}"),
    }
}

fn encode_filled(v: &Filled) -> String {
    match v {
        Filled::Text(t) => escape(&encode(t)),
        Filled::Placeholder(p) => format!("${{URLENCODE({p})}}"),
    }
}

/// Characters a path segment keeps as they are: RFC 3986's unreserved and sub-delims,
/// `:` and `@`.
const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// Characters a query key or value keeps: unreserved only.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn utf8_percent(s: &str, set: &'static percent_encoding::AsciiSet) -> String {
    percent_encoding::utf8_percent_encode(s, set).to_string()
}

fn encode(s: &str) -> String {
    utf8_percent(s, QUERY)
}

/// Literal text in a template: `${` written `$${`.
fn escape(s: &str) -> String {
    s.replace("${", "$${")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_checks_cover_codes_and_classes() {
        assert_eq!(status_check(&["200".into()]), "status == 200");
        assert_eq!(
            status_check(&["200".into(), "404".into()]),
            "status in [200, 404]"
        );
        assert_eq!(
            status_check(&["201".into(), "4xx".into()]),
            "status == 201 || (status >= 400 && status < 500)"
        );
    }

    #[test]
    fn paths_normalize() {
        assert_eq!(
            normalize(Path::new("a/./b/../c.yaml")),
            PathBuf::from("a/c.yaml")
        );
        assert_eq!(
            normalize(Path::new("../x.yaml")),
            PathBuf::from("../x.yaml")
        );
    }
}
