//! `compile`: [`Ir`] → [`Program`].
//!
//! Every literal is interned once in the constant pool. A template that is entirely
//! literal becomes an `Operand::Const` and costs nothing per request; one with
//! built-ins gets a buffer and a short run of `buf.*` instructions. Buffers are numbered
//! per step and reused by the next step, so `buf_count` is the widest step's need.
//!
//! Judging is code too: after each `send` come the step's `check`s (the global ones,
//! then its own), its `extract`s, and a `jump.failed` to the program's one
//! `iter.abort`, which abandons the iteration when the exchange got no response. Each
//! `check` carries its check's source location, so a failing check names its line.

use std::collections::HashMap;

use kaioken_grammar::{Check, Predicate, Subject, Value};
use kaioken_vm::{
    BufId, CheckExpr, CheckId, CmpOp, ColumnId, CompiledCheck, CompiledExtractor, ConstId,
    DataColumn, DataId, ExtractKind, ExtractorId, GrpcStep, HeaderDesc, InvalidProgram, Method, Op,
    Operand, OriginId, Pattern, Pc, PickId, PickTable, Program, Protocol, RangeId, Reads,
    ScenarioInfo, ScriptCall, ScriptCallId, ScriptId, ScriptRole, SlotId, SourceLoc, StepDesc,
    StepId, StepKind, TextTest,
};

use memchr::memmem::Finder;
use regex::bytes::Regex;

use crate::{Ir, IrCheck, IrExtract, IrLoc, Part, Template};

/// Compile validated IR to bytecode.
///
/// # Example
///
/// ```
/// use kaioken_compiler::{compile, lower, Flags, Input};
///
/// let input = Input {
///     flags: Flags { url: Some("http://127.0.0.1:8080/r/${REQUEST_ID}".into()), ..Flags::default() },
///     ..Input::default()
/// };
/// let program = compile(&lower(&input)?)?;
/// assert_eq!(program.steps.len(), 1);
/// assert_eq!(program.buf_count, 1);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Only a compiler bug: IR that `lower` should have rejected (a pattern that does not
/// compile), or a program that fails [`Program::validate`].
pub fn compile(ir: &Ir) -> Result<Program, InvalidProgram> {
    let mut c = Compiler {
        script_defs: ir.scripts.defs.iter().map(|d| d.name.clone()).collect(),
        data: ir.data.clone(),
        ..Compiler::default()
    };
    let global: Vec<(CheckId, Option<&IrLoc>)> = ir
        .checks
        .iter()
        .map(|check| Ok((c.check(check)?, check.loc.as_ref())))
        .collect::<Result<_, InvalidProgram>>()?;
    // `jump.failed` instructions, patched to the `iter.abort` at the end.
    let mut to_abort = Vec::new();
    // Several scenarios: the entry is a `pick` that jumps to one, drawn by weight;
    // each scenario's steps end with `iter.end`, back to the entry.
    let mut picks = Vec::new();
    if ir.scenarios.len() > 1 {
        c.emit(Op::Pick { table: PickId(0) }, None);
        picks.push(PickTable::default());
    }
    let mut total = 0u64;
    for (scenario_index, scenario) in ir.scenarios.iter().enumerate() {
        total += u64::from(scenario.weight);
        if let Some(table) = picks.first_mut() {
            table.entries.push((total, Pc::from_index(c.code.len())));
        }
        // The scenario's data sources first: one row of each per iteration, so
        // `${users.name}` and `${users.password}` in it read the same row.
        for data in c.sources_used(scenario)? {
            c.emit(Op::DataRow { data }, None);
        }
        for step in &scenario.steps {
            let loc = step.loc.as_ref();
            let mut bufs = 0u16;
            // A `${script:…}` in the path or a header may read the body (a
            // signature over it): the body is built first then, and the path before
            // the headers. Otherwise the parts are built in the order they are sent.
            let id = StepId::from_index(c.steps.len());
            let hooks = step.path.has_script() || step.headers.iter().any(|(_, v)| v.has_script());
            let mut site = Site {
                step: id,
                sees_body: false,
                sees_path: false,
            };
            let mut body = None;
            if hooks {
                body = step
                    .body
                    .as_ref()
                    .map(|b| c.operand(b, Context::Text, &mut bufs, loc, site))
                    .transpose()?;
                site.sees_body = true;
            }
            let path = c.operand(&step.path, Context::Url, &mut bufs, loc, site)?;
            site.sees_path = true;
            let headers = step
                .headers
                .iter()
                .map(|(name, value)| {
                    Ok(HeaderDesc {
                        name: c.intern(name.as_bytes()),
                        value: c.operand(value, Context::Text, &mut bufs, loc, site)?,
                    })
                })
                .collect::<Result<_, InvalidProgram>>()?;
            if !hooks {
                body = step
                    .body
                    .as_ref()
                    .map(|b| c.operand(b, Context::Text, &mut bufs, loc, site))
                    .transpose()?;
            }
            let origin = match c.origins.iter().position(|o| *o == step.origin) {
                Some(i) => OriginId::from_index(i),
                None => {
                    c.origins.push(step.origin.clone());
                    OriginId::from_index(c.origins.len() - 1)
                }
            };
            let mut checks = global.clone();
            for check in &step.checks {
                checks.push((c.check(check)?, check.loc.as_ref()));
            }
            let extracts = step
                .extracts
                .iter()
                .map(|x| Ok((c.extractor(x)?, x.loc.as_ref())))
                .collect::<Result<Vec<_>, InvalidProgram>>()?;
            let reads = checks
                .iter()
                .map(|&(id, _)| c.checks[id.index()].expr.reads())
                .chain(
                    extracts
                        .iter()
                        .map(|&(id, _)| c.extractors[id.index()].reads()),
                )
                .fold(Reads::default(), Reads::union);
            let (protocol, kind) = match &step.kind {
                crate::StepKind::Http => {
                    let protocol = match ir.settings.http {
                        crate::HttpVersion::Http1 => Protocol::Http1,
                        crate::HttpVersion::Http2 => Protocol::Http2,
                        crate::HttpVersion::Http3 => Protocol::Http3,
                    };
                    (protocol, StepKind::Http)
                }
                crate::StepKind::WebSocket(ws) => (Protocol::WebSocket, StepKind::WebSocket(*ws)),
                crate::StepKind::Grpc(call) => {
                    let method = match c.grpc_methods.iter().position(|m| *m == call.method) {
                        Some(i) => i,
                        None => {
                            c.grpc_methods.push(call.method.clone());
                            c.grpc_methods.len() - 1
                        }
                    };
                    let grpc = GrpcStep {
                        method: method as u32,
                        server_streaming: call.server_streaming,
                    };
                    (Protocol::Grpc, StepKind::Grpc(grpc))
                }
            };
            c.steps.push(StepDesc {
                name: step.name.clone(),
                method: Method::new(&step.method),
                origin,
                protocol,
                path,
                path_from_value: matches!(step.path.parts.first(), Some(Part::Extracted(_))),
                headers,
                body,
                reads,
                scenario: scenario_index as u16,
                expected: step.expected_status.clone(),
                kind,
            });
            if let crate::StepKind::WebSocket(ws) = &step.kind
                && ws.interval_micros > 0
            {
                c.emit(
                    Op::Pace {
                        micros: ws.interval_micros,
                    },
                    None,
                );
            }
            c.emit(Op::Send { step: id }, loc);
            for (check, loc) in checks {
                c.emit(Op::Check { check }, loc);
            }
            for (x, loc) in extracts {
                c.emit(Op::Extract { x }, loc);
            }
            to_abort.push(c.code.len());
            c.emit(Op::JumpIfFailed { to: Pc(0) }, None);
            if !step.think_time.is_zero() {
                // Microseconds in a u32: up to 71 minutes, far past any think time.
                let micros = u32::try_from(step.think_time.as_micros()).unwrap_or(u32::MAX);
                c.emit(Op::Sleep { micros }, None);
            }
            c.buf_count = c.buf_count.max(bufs);
        }
        c.emit(Op::IterEnd {}, None);
    }
    let abort = Pc::from_index(c.code.len());
    c.emit(Op::IterAbort {}, None);
    for pc in to_abort {
        c.code[pc] = Op::JumpIfFailed { to: abort };
    }
    let mut slot_names = vec![String::new(); c.slots.len()];
    for (name, slot) in &c.slots {
        slot_names[slot.index()].clone_from(name);
    }
    let scripts = (!ir.scripts.defs.is_empty()).then(|| {
        let runner = kaioken_script::Runner::new(
            ir.scripts.defs.clone(),
            std::mem::take(&mut c.script_fns),
            ir.scripts.limits.clone(),
        );
        std::sync::Arc::new(runner) as std::sync::Arc<dyn kaioken_vm::ScriptRunner>
    });
    let capture_head = c.steps.iter().any(|s| s.reads.head);
    let capture_body = c.steps.iter().any(|s| s.reads.body);
    let program = Program {
        code: c.code,
        consts: c.consts,
        steps: c.steps,
        origins: c.origins,
        buf_count: c.buf_count,
        entry: Pc(0),
        locs: c.locs,
        source: c.source,
        checks: c.checks,
        capture_body,
        capture_head,
        body_limit: ir.settings.body_limit,
        picks,
        extractors: c.extractors,
        slot_count: c.slots.len() as u16,
        ranges: c.ranges,
        grpc_methods: c.grpc_methods,
        grpc_schema: ir.grpc_schema.clone(),
        scripts,
        script_calls: c.script_calls,
        slot_names,
        seeds: c.seeds,
        data: c.data,
        data_columns: c.data_columns,
        scenarios: ir
            .scenarios
            .iter()
            .map(|s| ScenarioInfo {
                name: s.name.clone(),
                tags: s.tags.clone(),
                weight: s.weight,
            })
            .collect(),
    };
    program.validate()?;
    Ok(program)
}

/// The error for IR that `lower` should have rejected.
/// How the VM runs a built-in extractor (`json:`, `regex:`, `header:`, `body`), or
/// what in it does not compile: a JSONPath or a regex, its text and the error. A
/// `script:` extractor needs a program's script table: it is refused here.
pub(crate) fn builtin_extract_kind(
    extractor: &kaioken_grammar::Extractor,
) -> Result<ExtractKind, (&'static str, &str, String)> {
    use kaioken_grammar::Extractor;
    Ok(match extractor {
        Extractor::Json(path) => match jsonpath_rust::parser::parse_json_path(path) {
            Ok(q) => ExtractKind::json(q),
            Err(e) => return Err(("the JSONPath", path, e.to_string())),
        },
        Extractor::Regex(re) => match Pattern::new(re) {
            Ok(compiled) => ExtractKind::Regex(compiled),
            Err(e) => return Err(("the regex", re, e)),
        },
        Extractor::Header(name) => {
            ExtractKind::Header(name.to_ascii_lowercase().into_bytes().into())
        }
        Extractor::Body => ExtractKind::Body,
        Extractor::Script(name) => {
            return Err((
                "the script extractor",
                name,
                "needs a program's scripts".to_owned(),
            ));
        }
    })
}

fn unlowered(what: &str, text: &str, error: impl std::fmt::Display) -> InvalidProgram {
    InvalidProgram {
        pc: None,
        message: format!("{what} `{text}` reached the compiler unchecked: {error}"),
    }
}

/// A parsed check as an evaluable tree: literals as bytes, substring finders and
/// regexes built once here.
fn lower_check(check: &Check) -> Result<CheckExpr, InvalidProgram> {
    Ok(match check {
        Check::Or(items) => CheckExpr::Or(items.iter().map(lower_check).collect::<Result<_, _>>()?),
        Check::And(items) => {
            CheckExpr::And(items.iter().map(lower_check).collect::<Result<_, _>>()?)
        }
        Check::Not(inner) => CheckExpr::Not(Box::new(lower_check(inner)?)),
        Check::Compare(cmp) => {
            let status = |v: &Value| match v {
                Value::Number(n) => n.clamp(0.0, f64::from(u16::MAX)) as u16,
                Value::Code(c) => u16::from(*c),
                _ => 0,
            };
            let text = || match &cmp.subject {
                Subject::Header(name) => {
                    Some(name.to_ascii_lowercase().into_bytes().into_boxed_slice())
                }
                _ => None,
            };
            match (&cmp.subject, &cmp.predicate) {
                // A gRPC step's status is its call's code: `grpc_status` reads it
                // as `status` does (lowering allows it on gRPC steps only).
                (Subject::Status | Subject::GrpcStatus, Predicate::Compare(op, v)) => {
                    CheckExpr::Status(*op, status(v))
                }
                (Subject::Status | Subject::GrpcStatus, Predicate::In(values)) => {
                    let mut set: Vec<u16> = values.iter().map(status).collect();
                    set.sort_unstable();
                    set.dedup();
                    CheckExpr::StatusIn(set.into())
                }
                (Subject::Duration, Predicate::Compare(op, Value::Time(d))) => {
                    CheckExpr::Duration(*op, *d)
                }
                (_, Predicate::Contains(needle)) => CheckExpr::Text(
                    text(),
                    TextTest::Contains(Box::new(Finder::new(needle.as_bytes()).into_owned())),
                ),
                // `lower` compiled every pattern already and reported the bad ones.
                (_, Predicate::Matches(pattern)) => match Regex::new(pattern) {
                    Ok(re) => CheckExpr::Text(text(), TextTest::Matches(re)),
                    Err(e) => return Err(unlowered("the check pattern", pattern, e)),
                },
                (_, Predicate::Compare(op, Value::Text(want))) => CheckExpr::Text(
                    text(),
                    TextTest::Equals(*op == CmpOp::Eq, want.as_bytes().into()),
                ),
                // The grammar rejects every other pairing.
                _ => return Err(unlowered("the check", &check.to_string(), "no such test")),
            }
        }
        // A whole check only: `Compiler::check` compiles it.
        Check::Script(name) => {
            return Err(unlowered("the script check", name, "inside an expression"));
        }
    })
}

/// Where a template's bytes go in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// The path and query, in the request line.
    Url,
    /// A header value or a body.
    Text,
}

#[derive(Default)]
struct Compiler {
    code: Vec<Op>,
    consts: Vec<Box<[u8]>>,
    /// Each constant's id, by its bytes: looked up for every literal of every step
    /// (a 10,000-entry recording's are tens of thousands of short strings, hashed
    /// with FNV: SipHash's rounds cost more than the lookups; its defence against
    /// chosen collisions is moot for the user's own scenario).
    interned: HashMap<Vec<u8>, ConstId, fnv::FnvBuildHasher>,
    /// Built-in extractors compiled, by their text: a recording's correlation
    /// repeats one JSONPath on thousands of steps, and parsing it is most of the
    /// cost of compiling an extractor.
    extract_kinds: HashMap<String, ExtractKind, fnv::FnvBuildHasher>,
    steps: Vec<StepDesc>,
    origins: Vec<kaioken_vm::Origin>,
    locs: Vec<(Pc, SourceLoc)>,
    /// The file the locations are in.
    source: String,
    buf_count: u16,
    checks: Vec<CompiledCheck>,
    extractors: Vec<CompiledExtractor>,
    /// Slot of each extracted variable, by name: steps that extract the same name
    /// share its slot.
    slots: HashMap<String, SlotId>,
    ranges: Vec<(i64, i64)>,
    /// gRPC methods steps call, `package.Service/Method`, each once.
    grpc_methods: Vec<String>,
    /// The script functions used, each once: a definition (by index into the IR's
    /// `scripts.defs`) in a role, indexed by [`ScriptId`].
    script_fns: Vec<(usize, ScriptRole)>,
    /// The IR's script names, by definition index.
    script_defs: Vec<String>,
    /// `${script:…}` call sites.
    script_calls: Vec<ScriptCall>,
    /// Slots filled from `setup`'s values.
    seeds: Vec<(SlotId, String)>,
    /// The IR's data sources.
    data: Vec<std::sync::Arc<kaioken_vm::DataTable>>,
    /// The columns `buf.data` reads, each once.
    data_columns: Vec<DataColumn>,
}

/// Where in a step a template is built: what of its request exists by then.
#[derive(Debug, Clone, Copy)]
struct Site {
    step: StepId,
    sees_body: bool,
    sees_path: bool,
}

impl Compiler {
    /// The id of function `name` in `role`, allocated on first use.
    fn script(&mut self, name: &str, role: ScriptRole) -> Result<ScriptId, InvalidProgram> {
        let def = self
            .script_defs
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| unlowered("the script", name, "no such function"))?;
        let at = match self.script_fns.iter().position(|f| *f == (def, role)) {
            Some(at) => at,
            None => {
                self.script_fns.push((def, role));
                self.script_fns.len() - 1
            }
        };
        Ok(ScriptId::from_index(at))
    }

    /// The id of data source `name`.
    fn source(&self, name: &str) -> Result<DataId, InvalidProgram> {
        self.data
            .iter()
            .position(|t| t.name == name)
            .map(DataId::from_index)
            .ok_or_else(|| unlowered("the data source", name, "no such source"))
    }

    /// The data sources a scenario's requests read, in id order.
    fn sources_used(&self, scenario: &crate::Scenario) -> Result<Vec<DataId>, InvalidProgram> {
        let mut used = std::collections::BTreeSet::new();
        for step in &scenario.steps {
            let templates = std::iter::once(&step.path)
                .chain(step.headers.iter().map(|(_, v)| v))
                .chain(&step.body);
            for t in templates {
                for part in &t.parts {
                    if let Part::Data(source, _) | Part::DataEncoded(source, _) = part {
                        used.insert(self.source(source)?);
                    }
                }
            }
        }
        Ok(used.into_iter().collect())
    }

    /// The id of column `column` of source `source`, allocated on first use.
    fn column(&mut self, source: &str, column: &str) -> Result<ColumnId, InvalidProgram> {
        let data = self.source(source)?;
        let Some(column) = self.data[data].column(column) else {
            return Err(unlowered("the data column", column, "no such column"));
        };
        let want = DataColumn { data, column };
        let at = match self.data_columns.iter().position(|c| *c == want) {
            Some(at) => at,
            None => {
                self.data_columns.push(want);
                self.data_columns.len() - 1
            }
        };
        Ok(ColumnId::from_index(at))
    }

    fn slot(&mut self, var: &str) -> SlotId {
        let next = SlotId::from_index(self.slots.len());
        *self.slots.entry(var.to_owned()).or_insert(next)
    }

    /// The slot of `${setup.key}`, seeded from what `setup` returns.
    fn setup_slot(&mut self, key: &str) -> SlotId {
        let slot = self.slot(&format!("setup.{key}"));
        if !self.seeds.iter().any(|(s, _)| *s == slot) {
            self.seeds.push((slot, key.to_owned()));
        }
        slot
    }

    fn extractor(&mut self, x: &IrExtract) -> Result<ExtractorId, InvalidProgram> {
        use kaioken_grammar::Extractor;
        let spec = x.extractor.to_string();
        let kind = match &x.extractor {
            Extractor::Script(name) => ExtractKind::Script(self.script(name, ScriptRole::Extract)?),
            builtin => match self.extract_kinds.get(&spec) {
                Some(kind) => kind.clone(),
                // `lower` parsed the path and compiled the regex already and
                // reported the bad ones.
                None => {
                    let kind = builtin_extract_kind(builtin)
                        .map_err(|(what, text, e)| unlowered(what, text, e))?;
                    self.extract_kinds.insert(spec.clone(), kind.clone());
                    kind
                }
            },
        };
        let slot = self.slot(&x.var);
        self.extractors.push(CompiledExtractor {
            var: x.var.clone(),
            slot,
            spec,
            kind,
        });
        Ok(ExtractorId::from_index(self.extractors.len() - 1))
    }

    fn check(&mut self, check: &IrCheck) -> Result<CheckId, InvalidProgram> {
        let expr = match &check.expr {
            Check::Script(name) => CheckExpr::Script(self.script(name, ScriptRole::Check)?),
            expr => lower_check(expr)?,
        };
        self.checks.push(CompiledCheck {
            name: check.name.clone(),
            text: check.expr.to_string(),
            expr,
        });
        Ok(CheckId::from_index(self.checks.len() - 1))
    }

    fn intern(&mut self, bytes: &[u8]) -> ConstId {
        if let Some(&id) = self.interned.get(bytes) {
            return id;
        }
        let id = ConstId::from_index(self.consts.len());
        self.consts.push(bytes.into());
        self.interned.insert(bytes.to_vec(), id);
        id
    }

    fn emit(&mut self, op: Op, loc: Option<&IrLoc>) {
        let pc = Pc::from_index(self.code.len());
        if let Some(loc) = loc {
            if self.source.is_empty() {
                self.source.push_str(&loc.file);
            }
            self.locs.push((
                pc,
                SourceLoc {
                    line: loc.line,
                    column: loc.column,
                },
            ));
        }
        self.code.push(op);
    }

    /// The operand of a request part: a constant, or a buffer the instructions
    /// emitted here fill. In a URL, extracted values are percent-encoded where the
    /// request line could not carry them (`buf.sloturl`); header values are checked
    /// by the runtime before sending, and bodies carry any bytes.
    fn operand(
        &mut self,
        t: &Template,
        context: Context,
        bufs: &mut u16,
        loc: Option<&IrLoc>,
        site: Site,
    ) -> Result<Operand, InvalidProgram> {
        if let Some(bytes) = t.as_literal() {
            return Ok(Operand::Const(self.intern(bytes)));
        }
        let buf = BufId(*bufs);
        *bufs += 1;
        self.emit(Op::BufClear { buf }, loc);
        for part in &t.parts {
            let op = match part {
                Part::Lit(bytes) => Op::PushConst {
                    buf,
                    k: self.intern(bytes),
                },
                Part::Builtin(builtin) => Op::PushBuiltin {
                    buf,
                    builtin: *builtin,
                },
                Part::Extracted(var) if context == Context::Url => Op::PushSlotUrl {
                    buf,
                    slot: self.slot(var),
                },
                Part::Extracted(var) => Op::PushSlot {
                    buf,
                    slot: self.slot(var),
                },
                Part::UrlEncoded(var) => Op::PushSlotEncoded {
                    buf,
                    slot: self.slot(var),
                },
                Part::Random(lo, hi) => {
                    self.ranges.push((*lo, *hi));
                    Op::PushRandom {
                        buf,
                        range: RangeId::from_index(self.ranges.len() - 1),
                    }
                }
                Part::Script(name) => {
                    let script = self.script(name, ScriptRole::Value)?;
                    self.script_calls.push(ScriptCall {
                        script,
                        step: site.step,
                        sees_body: site.sees_body,
                        sees_path: site.sees_path,
                        url: context == Context::Url,
                    });
                    Op::PushScript {
                        buf,
                        call: ScriptCallId::from_index(self.script_calls.len() - 1),
                    }
                }
                Part::Data(source, column) if context == Context::Url => Op::PushDataUrl {
                    buf,
                    col: self.column(source, column)?,
                },
                Part::Data(source, column) => Op::PushData {
                    buf,
                    col: self.column(source, column)?,
                },
                Part::DataEncoded(source, column) => Op::PushDataEncoded {
                    buf,
                    col: self.column(source, column)?,
                },
                Part::Setup(key) => {
                    let slot = self.setup_slot(key);
                    if context == Context::Url {
                        Op::PushSlotUrl { buf, slot }
                    } else {
                        Op::PushSlot { buf, slot }
                    }
                }
                Part::SetupEncoded(key) => Op::PushSlotEncoded {
                    buf,
                    slot: self.setup_slot(key),
                },
            };
            self.emit(op, None);
        }
        Ok(Operand::Buf(buf))
    }
}

#[cfg(test)]
mod tests {
    use kaioken_vm::Builtin;

    use super::*;
    use crate::{Flags, Input, lower};

    fn program(flags: Flags) -> Program {
        compile(
            &lower(&Input {
                flags,
                ..Input::default()
            })
            .unwrap(),
        )
        .unwrap()
    }

    /// A data source: one `data.row` at the scenario's start, then each column
    /// read where it is used (`buf.dataurl` in the path, `buf.data` in a header),
    /// the column interned once.
    #[test]
    fn data_columns_read_the_iterations_row() {
        use kaioken_vm::{ColumnId, DataId};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        std::fs::write(&path, "name,id\nann,1\nbob,2\n").unwrap();
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/u/${u.name}".into()),
            headers: vec!["x-id: ${u.id}-${u.name}".into()],
            data: vec![format!("u={}", path.display())],
            ..Flags::default()
        });
        let (b0, b1) = (BufId(0), BufId(1));
        let (dc0, dc1) = (ColumnId(0), ColumnId(1));
        assert_eq!(
            p.code[..9],
            [
                Op::DataRow { data: DataId(0) },
                Op::BufClear { buf: b0 },
                Op::PushConst {
                    buf: b0,
                    k: ConstId(0)
                },
                Op::PushDataUrl { buf: b0, col: dc0 },
                Op::BufClear { buf: b1 },
                Op::PushData { buf: b1, col: dc1 },
                Op::PushConst {
                    buf: b1,
                    k: ConstId(2)
                },
                Op::PushData { buf: b1, col: dc0 },
                Op::Send { step: StepId(0) },
            ]
        );
        assert_eq!(p.data_columns.len(), 2);
        assert_eq!(p.data[0].rows(), 2);
    }

    /// `${URLENCODE(source.column)}` reads the column percent-encoded
    /// (`buf.dataenc`), in the URL as in the body, and the source's row is picked.
    #[test]
    fn url_encoded_data_columns() {
        use kaioken_vm::{ColumnId, DataId};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        std::fs::write(&path, "name\na+b&c\n").unwrap();
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/u?n=${URLENCODE(u.name)}".into()),
            body: Some("n=${URLENCODE( u.name )}".into()),
            data: vec![format!("u={}", path.display())],
            ..Flags::default()
        });
        let (b0, b1, dc0) = (BufId(0), BufId(1), ColumnId(0));
        assert_eq!(
            p.code[..8],
            [
                Op::DataRow { data: DataId(0) },
                Op::BufClear { buf: b0 },
                Op::PushConst {
                    buf: b0,
                    k: ConstId(0)
                },
                Op::PushDataEncoded { buf: b0, col: dc0 },
                Op::BufClear { buf: b1 },
                Op::PushConst {
                    buf: b1,
                    k: ConstId(3)
                },
                Op::PushDataEncoded { buf: b1, col: dc0 },
                Op::Send { step: StepId(0) },
            ]
        );
    }

    #[test]
    fn literal_request_is_one_send() {
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/".into()),
            ..Flags::default()
        });
        assert_eq!(
            p.code,
            [
                Op::Send { step: StepId(0) },
                Op::JumpIfFailed { to: Pc(3) },
                Op::IterEnd {},
                Op::IterAbort {},
            ]
        );
        assert_eq!(p.buf_count, 0);
    }

    /// `--dump bytecode` hides secrets by the redaction rule: a secret header's
    /// constants whole and without their length, a secret query value (or form
    /// field) even when the path is pushed in pieces around a run-time value.
    #[test]
    fn the_listing_hides_secrets_by_the_rule() {
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/x?page=1&token=ab${VU}cd&z=2".into()),
            headers: vec![
                "Authorization: Bearer AUTHSECRET".into(),
                "X-Custom: CUSTOMSECRET-${VU}".into(),
                "Accept: text/plain".into(),
            ],
            body: Some("user=u&password=PWSECRET".into()),
            ..Flags::default()
        });
        let listing = p
            .listing(&kaioken_vm::Redact::new(["x-custom"]))
            .to_string();
        let consts: Vec<&str> = listing.lines().filter(|l| l.starts_with("  k")).collect();
        assert_eq!(
            consts,
            [
                r#"  k0 = "/x?page=1&token=<redacted>""#,
                r#"  k1 = "<redacted>&z=2""#,
                r#"  k2 = "authorization""#,
                "  k3 = <redacted>",
                r#"  k4 = "x-custom""#,
                "  k5 = <redacted>",
                r#"  k6 = "accept""#,
                r#"  k7 = "text/plain""#,
                r#"  k8 = "user-agent""#,
                &format!("  k9 = {:?}", crate::USER_AGENT),
                r#"  k10 = "user=u&password=<redacted>""#,
            ],
            "{listing}"
        );
        // Without the name, the custom header shows; `Display` is the built-in rule.
        assert!(p.to_string().contains("CUSTOMSECRET-"));
        assert!(!p.to_string().contains("AUTHSECRET"));
    }

    #[test]
    fn interpolated_parts_get_buffers() {
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/r/${REQUEST_ID}".into()),
            headers: vec!["x-ts: ${TIMESTAMP_MS}".into()],
            body: Some("vu=${VU}".into()),
            ..Flags::default()
        });
        let k = |s: &[u8]| ConstId::from_index(p.consts.iter().position(|c| &**c == s).unwrap());
        let (b0, b1, b2) = (BufId(0), BufId(1), BufId(2));
        assert_eq!(
            p.code,
            [
                Op::BufClear { buf: b0 },
                Op::PushConst {
                    buf: b0,
                    k: k(b"/r/")
                },
                Op::PushBuiltin {
                    buf: b0,
                    builtin: Builtin::RequestId
                },
                Op::BufClear { buf: b1 },
                Op::PushBuiltin {
                    buf: b1,
                    builtin: Builtin::TimestampMs
                },
                Op::BufClear { buf: b2 },
                Op::PushConst {
                    buf: b2,
                    k: k(b"vu=")
                },
                Op::PushBuiltin {
                    buf: b2,
                    builtin: Builtin::Vu
                },
                Op::Send { step: StepId(0) },
                Op::JumpIfFailed { to: Pc(11) },
                Op::IterEnd {},
                Op::IterAbort {},
            ]
        );
        assert_eq!(p.buf_count, 3);
        assert_eq!(p.steps[0].method, Method::Post);
    }

    #[test]
    fn constants_are_interned_once() {
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/same".into()),
            headers: vec!["x-a: /same".into(), "x-b: /same".into()],
            ..Flags::default()
        });
        assert_eq!(p.consts.iter().filter(|c| &***c == b"/same").count(), 1);
    }
}
