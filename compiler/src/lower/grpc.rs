//! gRPC calls: the schema, the method, and the request message checked against it.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): the
//! schema comes from a `.proto` compiled here with protox (`[grpc] proto`,
//! `--proto`), or from the server by reflection (`[grpc] reflection`, `--reflect`)
//! through the [`SchemaSource`] the caller gives (the CLI does the network I/O, so
//! this crate stays free of it). Each gRPC step is an ordinary request lowered by
//! `request.rs` (metadata as headers, the message as the body template), then made a
//! call here: its method looked up (did-you-mean over the service's methods), its
//! path `/package.Service/Method`, and its message checked as JSON of the method's
//! input type with every `${…}` replaced by `0` outside strings, and each string
//! holding one by a value its field's kind reads (an enum's name, a timestamp).
//! The schema goes into the IR encoded, for the runtime to decode once per run.

use std::sync::Arc;

use kaioken_vm::Origin;
use miette::Diagnostic as _;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::Value;

use super::Lowerer;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::DraftGrpc;
use crate::located::{Loc, Located};
use crate::{GrpcCall, Part, Step, StepKind, Template};

/// Where a run's gRPC schema comes from when it is fetched from the server.
pub trait SchemaSource: std::fmt::Debug + Send + Sync {
    /// The services `origin` serves, by server reflection: an encoded
    /// `google.protobuf.FileDescriptorSet` holding every file they need, or why not.
    /// The connection is made as the run's will be, with `tls`.
    fn reflect(&self, origin: &Origin, tls: &ReflectTls) -> Result<Vec<u8>, String>;
}

/// How server reflection verifies a `grpcs://` server, and what it shows it: the
/// run's `insecure`, `cacert`, `cert` and `key` (from the scenario or the flags,
/// whichever gave them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReflectTls {
    /// Skip certificate verification.
    pub insecure: bool,
    /// Extra trusted roots, a PEM file (resolved against the scenario's folder).
    pub cacert: Option<std::path::PathBuf>,
    /// The client certificate (mutual TLS), a PEM file that holds the key too when
    /// `key` is `None`.
    pub cert: Option<std::path::PathBuf>,
    /// The client certificate's private key, a PEM file.
    pub key: Option<std::path::PathBuf>,
}

/// A run's schema: the descriptors, and their encoding for the program.
pub(super) struct Schema {
    pool: DescriptorPool,
    pub(super) encoded: Vec<u8>,
}

impl Lowerer<'_> {
    /// The schema of `[grpc]`, for a run that makes gRPC calls to `origin` (the first
    /// call's, for reflection); `None` after reporting why there is none.
    pub(super) fn grpc_schema(
        &mut self,
        g: &DraftGrpc,
        tls: &ReflectTls,
        origin: Option<&Origin>,
        source: Option<&Arc<dyn SchemaSource>>,
        at: &Loc,
    ) -> Option<Schema> {
        let reflection = g.reflection.as_ref().filter(|r| r.value);
        match (&g.proto, reflection) {
            (Some(_), Some(r)) => {
                self.conflict(
                    &r.loc,
                    "a gRPC schema comes from `proto` or from `reflection`, not both",
                );
                None
            }
            (Some(proto), None) => self.compile_proto(proto, &g.import_paths),
            (None, Some(r)) => {
                let (Some(origin), Some(source)) = (origin, source) else {
                    self.conflict(&r.loc, "server reflection needs a gRPC call to a server");
                    return None;
                };
                match source.reflect(origin, tls) {
                    Ok(encoded) => match DescriptorPool::decode(encoded.as_slice()) {
                        Ok(pool) => Some(Schema { pool, encoded }),
                        Err(e) => {
                            self.grpc_error(
                                &r.loc,
                                format!(
                                    "the schema {} sent by reflection is not usable: {e}",
                                    origin.authority
                                ),
                            );
                            None
                        }
                    },
                    Err(message) => {
                        self.grpc_error(&r.loc, message);
                        None
                    }
                }
            }
            (None, None) => {
                self.conflict(
                    at,
                    "a gRPC call needs its schema: `proto = \"api.proto\"` or `reflection = true` in `[grpc]` (`--proto` or `--reflect`)",
                );
                None
            }
        }
    }

    /// Compile the `.proto` named by `proto` (relative to the scenario file when
    /// written there), its own folder the include path, then `import_paths`.
    fn compile_proto(
        &mut self,
        proto: &Located<String>,
        import_paths: &[Located<String>],
    ) -> Option<Schema> {
        let path = self.fold_env(proto);
        let path = self.resolve_path(&path, &proto.loc);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf();
        let file = path.file_name().map(std::path::PathBuf::from)?;
        if let Err(e) = std::fs::File::open(&path) {
            let kind = CompileErrorKind::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            };
            self.errors.push(CompileError::at(kind, &proto.loc, None));
            return None;
        }
        let mut includes = vec![dir.clone()];
        for p in import_paths {
            let path = self.fold_env(p);
            let path = self.resolve_path(&path, &p.loc);
            if !path.is_dir() {
                let kind = CompileErrorKind::Io {
                    path: path.display().to_string(),
                    message: "not a folder".into(),
                };
                self.errors.push(CompileError::at(kind, &p.loc, None));
                return None;
            }
            includes.push(path);
        }
        let compiled = protox::Compiler::new(includes).and_then(|mut c| {
            c.include_imports(true).open_file(&file)?;
            Ok(c)
        });
        match compiled {
            Ok(c) => Some(Schema {
                pool: c.descriptor_pool(),
                encoded: c.encode_file_descriptor_set(),
            }),
            Err(e) => {
                let message = format!(
                    "`{}` does not compile: {}",
                    proto.value,
                    protox_message(&e, &dir)
                );
                self.grpc_error(&proto.loc, message);
                None
            }
        }
    }

    /// Make `step` (an ordinary request, lowered) a call of `call`: its path, its
    /// kind, and its body (the request message) checked against the method's input.
    pub(super) fn grpc_call(
        &mut self,
        step: &mut Step,
        call: &Located<String>,
        message: Option<&Located<String>>,
        schema: &Schema,
    ) -> Option<()> {
        let Some((service_name, method_name)) = call.value.split_once('/') else {
            self.grpc_error(
                &call.loc,
                format!(
                    "`{}` is not a method; write `package.Service/Method`",
                    call.value
                ),
            );
            return None;
        };
        let Some(service) = schema.pool.get_service_by_name(service_name) else {
            let services: Vec<String> = schema
                .pool
                .services()
                .map(|s| s.full_name().to_owned())
                .collect();
            let hint =
                match crate::suggest::closest(service_name, services.iter().map(String::as_str)) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => format!("; it has {}", list(&services)),
                };
            self.grpc_error(
                &call.loc,
                format!("the schema has no service `{service_name}`{hint}"),
            );
            return None;
        };
        let Some(method) = service.methods().find(|m| m.name() == method_name) else {
            let methods: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
            let hint =
                match crate::suggest::closest(method_name, methods.iter().map(String::as_str)) {
                    Some(m) => format!("; did you mean `{m}`?"),
                    None => format!("; it has {}", list(&methods)),
                };
            self.grpc_error(
                &call.loc,
                format!("service `{service_name}` has no method `{method_name}`{hint}"),
            );
            return None;
        };
        if method.is_client_streaming() {
            self.grpc_error(
                &call.loc,
                format!(
                    "`{}` streams requests from the client; kaioken makes unary and server-streaming calls",
                    call.value
                ),
            );
            return None;
        }
        if let (Some(body), Some(message)) = (&step.body, message) {
            let (json, rewritten) = with_samples(body, &method.input());
            let mut de = serde_json::Deserializer::from_slice(&json);
            let checked =
                DynamicMessage::deserialize(method.input(), &mut de).and_then(|_| de.end());
            if let Err(e) = checked {
                let mut why = e.to_string();
                // A place in the rewritten text is none of the template's.
                if rewritten {
                    let at = format!(" at line {} column {}", e.line(), e.column());
                    why.truncate(why.strip_suffix(&at).map_or(why.len(), str::len));
                }
                self.grpc_error(
                    &message.loc,
                    format!(
                        "the message is not a valid `{}` in JSON: {why}",
                        method.input().full_name()
                    ),
                );
                return None;
            }
        }
        step.method = "POST".into();
        step.path = Template::literal(format!("/{service_name}/{method_name}"));
        step.kind = StepKind::Grpc(GrpcCall {
            method: call.value.clone(),
            server_streaming: method.is_server_streaming(),
        });
        Some(())
    }

    /// `[grpc]`, `--call`, `--proto` or `--reflect` on a run that makes no gRPC
    /// call: refused, not ignored without a word.
    pub(super) fn grpc_settings_unused(&mut self, g: &DraftGrpc, url: Option<&str>) {
        let first = [
            g.call.as_ref().map(|v| &v.loc),
            g.message.as_ref().map(|v| &v.loc),
            g.metadata.first().map(|h| &h.name.loc),
            g.proto.as_ref().map(|v| &v.loc),
            g.import_paths.first().map(|v| &v.loc),
            g.reflection.as_ref().map(|v| &v.loc),
        ];
        if let Some(loc) = first.into_iter().flatten().next() {
            let target = url.map_or(String::new(), |u| format!("; the target is `{u}`"));
            let message = format!(
                "this applies to gRPC calls: a `grpc://` or `grpcs://` target, or `grpc` \
                 steps{target}"
            );
            self.conflict(loc, &message);
        }
    }

    /// `[grpc]` with `[[scenarios]]`: its schema (`proto`, `import_paths`,
    /// `reflection`) serves the `grpc` steps; the call, its message and its metadata
    /// are each step's own.
    pub(super) fn grpc_scenario_settings(&mut self, g: &DraftGrpc) {
        let own = [
            g.call.as_ref().map(|v| (&v.loc, "call", "")),
            g.message.as_ref().map(|v| (&v.loc, "message", "")),
            g.metadata.first().map(|h| {
                let shared = " (metadata for every call goes in `[request] headers`)";
                (&h.name.loc, "metadata", shared)
            }),
        ];
        for (loc, key, hint) in own.into_iter().flatten() {
            let message =
                format!("with `[[scenarios]]`, each `grpc` step sets its own `{key}`{hint}");
            self.conflict(loc, &message);
        }
    }

    fn grpc_error(&mut self, loc: &Loc, message: String) {
        let kind = CompileErrorKind::Grpc { message };
        self.errors.push(CompileError::at(kind, loc, None));
    }
}

/// `a`, `b` or `c`, quoted.
fn list(names: &[String]) -> String {
    match names {
        [] => "none".into(),
        [one] => format!("`{one}`"),
        [init @ .., last] => format!(
            "{} and `{last}`",
            init.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Where a run-time value stands inside a JSON string of a message template: a
/// private-use character, which JSON strings may hold as it is.
const MARK: &str = "\u{e000}";

/// A message template's text with every run-time value replaced by one its place
/// takes, so that the check of the message judges only what the template fixes:
/// `0` outside strings (a number), and a string holding one becomes a value its
/// field's kind reads (an enum's first name, a timestamp, base64, a number).
/// Also whether the text was rewritten from its JSON (its places are not the
/// template's then).
fn with_samples(t: &Template, input: &MessageDescriptor) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let (mut in_string, mut escaped, mut marked) = (false, false, false);
    for p in &t.parts {
        match p {
            Part::Lit(b) => {
                for &c in b {
                    match (in_string, escaped, c) {
                        (true, true, _) => escaped = false,
                        (true, false, b'\\') => escaped = true,
                        (_, _, b'"') => in_string = !in_string,
                        _ => {}
                    }
                }
                out.extend_from_slice(b);
            }
            _ if in_string => {
                out.extend_from_slice(MARK.as_bytes());
                marked = true;
            }
            _ => out.push(b'0'),
        }
    }
    if !marked {
        return (out, false);
    }
    match serde_json::from_slice::<Value>(&out) {
        Ok(mut json) => {
            fill_message(&mut json, input);
            match serde_json::to_vec(&json) {
                Ok(text) => (text, true),
                Err(_) => (out, false),
            }
        }
        // Not JSON: its error is the template's, read with `0` for the marks (one
        // byte for three: a place after one moves, as a `${…}`'s did before).
        Err(_) => {
            let text = String::from_utf8_lossy(&out).replace(MARK, "0");
            (text.into_bytes(), false)
        }
    }
}

/// Whether `v` is a string a run-time value stands in.
fn is_marked(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains(MARK))
}

/// `v`, a message of `desc` in JSON, with each marked string made a value of its
/// field's kind.
fn fill_message(v: &mut Value, desc: &MessageDescriptor) {
    if let Some(sample) = well_known_sample(desc.full_name()) {
        match sample {
            Some(sample) if is_marked(v) => *v = Value::String(sample.into()),
            _ => unmark(v),
        }
        return;
    }
    let Value::Object(fields) = v else {
        return unmark(v);
    };
    for (name, value) in fields.iter_mut() {
        match desc
            .get_field_by_json_name(name)
            .or_else(|| desc.get_field_by_name(name))
        {
            Some(field) => fill_field(value, &field),
            None => unmark(value),
        }
    }
}

/// A field's JSON value: a map's values, a list's items, or the one value.
fn fill_field(v: &mut Value, field: &FieldDescriptor) {
    match (v, field.kind()) {
        (Value::Object(entries), Kind::Message(entry)) if field.is_map() => {
            let kind = entry.map_entry_value_field().kind();
            let old = std::mem::take(entries);
            for (key, mut value) in old {
                fill_kind(&mut value, &kind);
                entries.insert(key.replace(MARK, "0"), value);
            }
        }
        (Value::Array(items), kind) if field.is_list() => {
            for item in items {
                fill_kind(item, &kind);
            }
        }
        (v, kind) => fill_kind(v, &kind),
    }
}

/// One value of `kind`.
fn fill_kind(v: &mut Value, kind: &Kind) {
    match kind {
        Kind::Message(m) => fill_message(v, m),
        _ if !is_marked(v) => unmark(v),
        Kind::Enum(e) => {
            let first = e.values().next().map(|x| x.name().to_owned());
            *v = Value::String(first.unwrap_or_default());
        }
        Kind::Bytes => *v = Value::String(String::new()),
        // A quoted bool is refused whatever it holds; a string takes anything.
        Kind::Bool | Kind::String => unmark(v),
        _ => *v = Value::String("0".into()),
    }
}

/// A well-known type (`Some`) read from a JSON string: `Some(sample)` of what it
/// reads, or `None` for one whose string is judged as written; `None` for any
/// other type.
fn well_known_sample(name: &str) -> Option<Option<&'static str>> {
    Some(match name.strip_prefix("google.protobuf.")? {
        "Timestamp" => Some("1970-01-01T00:00:00Z"),
        "Duration" => Some("0s"),
        "FieldMask" | "BytesValue" => Some(""),
        "Int64Value" | "UInt64Value" | "Int32Value" | "UInt32Value" | "DoubleValue"
        | "FloatValue" => Some("0"),
        "StringValue" | "BoolValue" | "Value" | "Struct" | "ListValue" | "Any" | "Empty" => None,
        _ => return None,
    })
}

/// `v` with every mark, in its strings and keys, read as `0`.
fn unmark(v: &mut Value) {
    match v {
        Value::String(s) if s.contains(MARK) => *s = s.replace(MARK, "0"),
        Value::Array(items) => items.iter_mut().for_each(unmark),
        Value::Object(fields) => {
            let old = std::mem::take(fields);
            for (key, mut value) in old {
                unmark(&mut value);
                fields.insert(key.replace(MARK, "0"), value);
            }
        }
        _ => {}
    }
}

/// protox's error as `file:line:column: message` when it points into a file.
fn protox_message(e: &protox::Error, dir: &std::path::Path) -> String {
    let text = e.to_string();
    let (Some(source), Some(label)) = (e.source_code(), e.labels().and_then(|mut l| l.next()))
    else {
        return text;
    };
    let Ok(at) = source.read_span(label.inner(), 0, 0) else {
        return text;
    };
    let name = at
        .name()
        .map(|n| match dir == std::path::Path::new(".") {
            true => n.to_owned(),
            false => dir.join(n).display().to_string(),
        })
        .or_else(|| e.file().map(str::to_owned))
        .unwrap_or_default();
    format!("{name}:{}:{}: {text}", at.line() + 1, at.column() + 1)
}

#[cfg(test)]
mod tests {
    use crate::lower::tests::{errors, ok, text};
    use crate::{GrpcCall, StepKind};

    const PROTO: &str = r#"syntax = "proto3";
package shop.v1;
service Orders {
  rpc Get(GetOrder) returns (Order);
  rpc Watch(GetOrder) returns (stream Order);
  rpc Upload(stream Order) returns (Order);
}
message GetOrder { string id = 1; int32 limit = 2; }
message Order { string id = 1; }
"#;

    /// A `.proto` in a fresh folder: its absolute path.
    fn proto(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("kaioken-grpc-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api.proto");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn a_grpc_target_is_one_call() {
        let path = proto("target", PROTO);
        let ir = ok(&format!(
            r#"
[target]
url = "grpc://127.0.0.1:50051"
[grpc]
proto = "{path}"
call = "shop.v1.Orders/Watch"
message = '{{"id": "${{REQUEST_ID}}", "limit": ${{VU}}}}'
metadata = {{ "x-token" = "t" }}
"#
        ));
        let step = &ir.scenarios[0].steps[0];
        assert_eq!(
            step.kind,
            StepKind::Grpc(GrpcCall {
                method: "shop.v1.Orders/Watch".into(),
                server_streaming: true,
            })
        );
        assert_eq!(text(&step.path), "/shop.v1.Orders/Watch");
        assert_eq!(step.method, "POST");
        assert_eq!(step.origin.authority, "127.0.0.1:50051");
        assert_eq!(
            text(step.body.as_ref().unwrap()),
            r#"{"id": "${REQUEST_ID}", "limit": ${VU}}"#
        );
        assert_eq!(text(&step.headers[0].1), "t");
        assert!(!ir.grpc_schema.is_empty());
    }

    #[test]
    fn a_grpc_step_calls_the_target_origin_and_checks_its_status() {
        let path = proto("step", PROTO);
        let ir = ok(&format!(
            r#"
[target]
url = "grpcs://api.test:8443"
[grpc]
proto = "{path}"
[[scenarios]]
[[scenarios.steps]]
grpc = {{ call = "shop.v1.Orders/Get", message = '{{"id": "1"}}' }}
checks = ["grpc_status == NOT_FOUND", "grpc_status in [OK, 5]"]
extract = {{ id = "json:$.id" }}
[[scenarios.steps]]
url = "http://api.test/orders/${{id}}"
"#
        ));
        let steps = &ir.scenarios[0].steps;
        assert_eq!(steps[0].origin.scheme, kaioken_vm::Scheme::Https);
        assert_eq!(steps[0].origin.port, 8443);
        assert_eq!(
            steps[0].checks[0].expr.to_string(),
            "grpc_status == NOT_FOUND"
        );
        assert_eq!(steps[1].kind, StepKind::Http);
    }

    #[test]
    fn a_grpc_step_refuses_expected_status() {
        let path = proto("expect", PROTO);
        let errs = errors(&format!(
            r#"
[target]
url = "grpc://127.0.0.1:50051"
[grpc]
proto = "{path}"
[[scenarios]]
[[scenarios.steps]]
grpc = {{ call = "shop.v1.Orders/Get", message = '{{"id": "1"}}' }}
expected_status = "NOT_FOUND"
"#
        ));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("8:20 [NOT_FOUND] `expected_status` is for HTTP statuses"),
            "{errs:?}"
        );
    }

    #[test]
    fn bad_calls_and_messages_are_located() {
        let path = proto("bad", PROTO);
        let file = |call: &str, message: &str| {
            format!(
                "[target]\nurl = \"grpc://h:1\"\n[grpc]\nproto = \"{path}\"\ncall = \"{call}\"\nmessage = '{message}'\n"
            )
        };
        assert_eq!(
            errors(&file("shop.v1.Orders/Gte", "{}")),
            [
                "5:9 [shop.v1.Orders/Gte] service `shop.v1.Orders` has no method `Gte`; did you mean `Get`?"
            ]
        );
        assert_eq!(
            errors(&file("shop.v1.Order/Get", "{}")),
            [
                "5:9 [shop.v1.Order/Get] the schema has no service `shop.v1.Order`; did you mean `shop.v1.Orders`?"
            ]
        );
        assert_eq!(
            errors(&file("shop.v1.Orders/Upload", "{}")),
            [
                "5:9 [shop.v1.Orders/Upload] `shop.v1.Orders/Upload` streams requests from the client; kaioken makes unary and server-streaming calls"
            ]
        );
        assert_eq!(
            errors(&file("shop.v1.Orders/Get", r#"{"limit": "many"}"#)),
            [
                r#"6:12 [{"limit": "many"}] the message is not a valid `shop.v1.GetOrder` in JSON: invalid digit found in string at line 1 column 16"#
            ]
        );
        assert_eq!(
            errors("[target]\nurl = \"grpc://h:1\"\n[grpc]\ncall = \"a.B/C\"\n"),
            [
                "2:8 [grpc://h:1] a gRPC call needs its schema: `proto = \"api.proto\"` or `reflection = true` in `[grpc]` (`--proto` or `--reflect`)"
            ]
        );
        assert_eq!(
            errors(&format!(
                "[target]\nurl = \"grpc://h:1\"\n[grpc]\nproto = \"{path}\"\n"
            )),
            [
                "2:8 [grpc://h:1] a `grpc://` target needs the method to call: `call` in `[grpc]` (or `--call package.Service/Method`)"
            ]
        );
    }

    #[test]
    fn imports_are_found_in_import_paths() {
        let common = proto(
            "common",
            "syntax = \"proto3\";\npackage c;\nmessage Id { string v = 1; }\n",
        );
        let common_dir = std::path::Path::new(&common)
            .parent()
            .unwrap()
            .display()
            .to_string();
        let path = proto(
            "importer",
            "syntax = \"proto3\";\npackage i;\nimport \"api.proto\";\nservice S { rpc Get(c.Id) returns (c.Id); }\n",
        );
        // `api.proto` is the importer's own name too: its folder is searched first.
        let renamed = std::path::Path::new(&path).with_file_name("main.proto");
        std::fs::rename(&path, &renamed).unwrap();
        let renamed = renamed.display().to_string();
        let ir = ok(&format!(
            "[target]\nurl = \"grpc://h:1\"\n[grpc]\nproto = \"{renamed}\"\nimport_paths = [\"{common_dir}\"]\ncall = \"i.S/Get\"\nmessage = '{{\"v\": \"x\"}}'\n"
        ));
        assert!(matches!(ir.scenarios[0].steps[0].kind, StepKind::Grpc(_)));
        assert_eq!(
            errors(&format!(
                "[target]\nurl = \"grpc://h:1\"\n[grpc]\nproto = \"{renamed}\"\nimport_paths = [\"/no/such/dir\"]\ncall = \"i.S/Get\"\n"
            )),
            ["5:18 [/no/such/dir] cannot read `/no/such/dir`: not a folder"]
        );
    }

    #[test]
    fn grpc_status_is_for_grpc_steps() {
        assert_eq!(
            errors("[target]\nurl = \"http://h/\"\n[request]\nchecks = [\"grpc_status == OK\"]\n"),
            [
                "4:12 [grpc_status == OK] `grpc_status` is a gRPC call's status; this step is an HTTP request (check `status`)"
            ]
        );
    }

    /// A run-time value inside a string is checked as a value of its field's kind
    /// reads (the template fixes only its place): an enum's name, a timestamp, a
    /// duration, base64, a 64-bit number, in lists and maps and nested messages.
    /// What the template fixes is still checked.
    #[test]
    fn templated_strings_stand_for_their_fields_kind() {
        let path = proto(
            "kinds",
            r#"syntax = "proto3";
package k;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
service S { rpc Put(Thing) returns (Thing); }
enum Color { RED = 0; GREEN = 1; }
message Inner { Color color = 1; bytes blob = 2; }
message Thing {
  Color color = 1;
  google.protobuf.Timestamp at = 2;
  google.protobuf.Duration took = 3;
  bytes blob = 4;
  int64 big = 5;
  repeated Color colors = 6;
  map<int32, Inner> inner = 7;
  google.protobuf.Int64Value wrapped = 8;
  string name = 9;
  bool on = 10;
}
"#,
        );
        let file = |message: &str| {
            format!(
                "[target]\nurl = \"grpc://h:1\"\n[grpc]\nproto = \"{path}\"\ncall = \"k.S/Put\"\nmessage = '{message}'\n"
            )
        };
        ok(&file(
            r#"{"color": "${VU}", "at": "${VU}", "took": "${VU}s", "blob": "${VU}", "big": "${VU}", "colors": ["GREEN", "${VU}"], "inner": {"${VU}": {"color": "${VU}", "blob": "${VU}"}}, "wrapped": "${VU}", "name": "a${VU}\"b", "on": true}"#,
        ));
        // What the template fixes is checked as before.
        assert_eq!(
            errors(&file(r#"{"color": "${VU}", "colr": 1}"#)),
            [
                r#"6:12 [{"color": "${VU}", "colr": 1}] the message is not a valid `k.Thing` in JSON: unrecognized field name 'colr'"#
            ]
        );
        assert_eq!(
            errors(&file(r#"{"color": "BLUE", "at": "${VU}"}"#)),
            [
                r#"6:12 [{"color": "BLUE", "at": "${VU}"}] the message is not a valid `k.Thing` in JSON: unrecognized enum value 'BLUE'"#
            ]
        );
        assert_eq!(
            errors(&file(r#"{"on": "${VU}"}"#)).len(),
            1,
            "a quoted bool is refused"
        );
    }

    #[test]
    fn grpc_settings_are_refused_where_no_call_uses_them() {
        let unused =
            "this applies to gRPC calls: a `grpc://` or `grpcs://` target, or `grpc` steps";
        assert_eq!(
            errors("[target]\nurl = \"http://h/\"\n[grpc]\ncall = \"a.B/C\"\n"),
            [format!("4:9 [a.B/C] {unused}; the target is `http://h/`")]
        );
        assert_eq!(
            errors(
                "[target]\nurl = \"ws://h/\"\n[websocket]\nmessage = \"hi\"\n[grpc]\nreflection = true\n"
            ),
            [format!("6:14 [true] {unused}; the target is `ws://h/`")]
        );
        assert_eq!(
            errors(
                "[grpc]\nproto = \"a.proto\"\n[[scenarios]]\n[[scenarios.steps]]\nurl = \"http://h/\"\n"
            ),
            [format!("2:10 [a.proto] {unused}")]
        );
        let path = proto("scenario-settings", PROTO);
        assert_eq!(
            errors(&format!(
                "[grpc]\nproto = \"{path}\"\ncall = \"shop.v1.Orders/Get\"\nmetadata = {{ k = \"v\" }}\n\
                 [[scenarios]]\n[[scenarios.steps]]\n\
                 grpc = {{ url = \"grpc://h:1\", call = \"shop.v1.Orders/Get\" }}\n"
            )),
            [
                "3:9 [shop.v1.Orders/Get] with `[[scenarios]]`, each `grpc` step sets its own `call`",
                "4:19 [v] with `[[scenarios]]`, each `grpc` step sets its own `metadata` (metadata for every call goes in `[request] headers`)",
            ]
        );
    }

    #[test]
    fn a_proto_that_does_not_parse_names_its_line() {
        let path = proto(
            "syntax",
            "syntax = \"proto3\";\nmessage A {\n  int32 x = 1\n}\n",
        );
        let e = errors(&format!(
            "[target]\nurl = \"grpc://h:1\"\n[grpc]\nproto = \"{path}\"\ncall = \"a.B/C\"\n"
        ));
        assert_eq!(
            e,
            [format!(
                "4:10 [{path}] `{path}` does not compile: {path}:4:1: expected ';' or '[', but found '}}'"
            )]
        );
    }
}
