use std::fmt;

use std::collections::BTreeMap;

use crate::{ConstId, Op, Operand, Origin, Pc, Redact, StepDesc, StepId, UrlPiece, VuState};

/// A line and column in the scenario's source, for dumps and run-time reports.
///
/// Instructions carry no spans; this side table maps a pc to where it came from and
/// is read only when something is printed or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLoc {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// A compiled scenario: instructions, constants and step layouts. Immutable and shared
/// by every VU behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// The instruction stream. The iteration starts at [`Program::entry`].
    pub code: Vec<Op>,
    /// Interned literal bytes, indexed by [`ConstId`].
    pub consts: Vec<Box<[u8]>>,
    /// Request step layouts, indexed by [`StepId`].
    pub steps: Vec<StepDesc>,
    /// Target origins, indexed by [`crate::OriginId`].
    pub origins: Vec<Origin>,
    /// How many per-VU buffers the code uses.
    pub buf_count: u16,
    /// Where each iteration begins.
    pub entry: Pc,
    /// Side table: source location of instructions that have one, sorted by pc.
    pub locs: Vec<(Pc, SourceLoc)>,
    /// The name of the file those locations are in (empty when no instruction has
    /// one, as for a run from flags alone).
    pub source: String,
    /// Checks, indexed by [`crate::CheckId`]; `check` instructions name them.
    pub checks: Vec<crate::CompiledCheck>,
    /// Whether some check reads the body (the engines then keep it, up to
    /// `body_limit` bytes).
    pub capture_body: bool,
    /// Whether some check reads a header (the engines then keep the head).
    pub capture_head: bool,
    /// Most body bytes kept per response for checks.
    pub body_limit: usize,
    /// Weighted scenario choices, indexed by [`crate::PickId`].
    pub picks: Vec<PickTable>,
    /// Extractors, indexed by [`crate::ExtractorId`]; `extract` instructions name them.
    pub extractors: Vec<crate::CompiledExtractor>,
    /// How many per-VU slots the extractors fill.
    pub slot_count: u16,
    /// Inclusive ranges of `${RANDOM(min,max)}`, indexed by [`crate::RangeId`].
    pub ranges: Vec<(i64, i64)>,
    /// The scenarios' names and tags, for per-scenario results.
    pub scenarios: Vec<ScenarioInfo>,
    /// The gRPC methods steps call (`package.Service/Method`), indexed by
    /// [`crate::GrpcStep::method`].
    pub grpc_methods: Vec<String>,
    /// The schema of the gRPC methods: an encoded `google.protobuf.FileDescriptorSet`
    /// (compiled from a `.proto` or fetched by server reflection), decoded once per
    /// run by the runtime; empty when no step is a gRPC call.
    pub grpc_schema: Vec<u8>,
    /// The runner of the scenario's `[scripts]`; `None` without scripts.
    pub scripts: Option<std::sync::Arc<dyn crate::ScriptRunner>>,
    /// `${script:name}` call sites, indexed by [`crate::ScriptCallId`].
    pub script_calls: Vec<crate::ScriptCall>,
    /// The variable each slot holds, indexed by [`crate::SlotId`] (scripts read
    /// variables by name).
    pub slot_names: Vec<String>,
    /// Slots a VU starts with filled: `(slot, key)` takes the value `setup` returned
    /// for `key` (`${setup.key}`).
    pub seeds: Vec<(crate::SlotId, String)>,
    /// Data sources (`[[data]]`), indexed by [`crate::DataId`]: loaded once, shared
    /// by every VU (and every worker's copy of the program).
    pub data: Vec<std::sync::Arc<crate::DataTable>>,
    /// The columns `buf.data` instructions read, indexed by [`crate::ColumnId`].
    pub data_columns: Vec<crate::DataColumn>,
}

/// A scenario's name and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioInfo {
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its weight.
    pub weight: u32,
}

/// A weighted choice: each entry is a running total of weights and where that
/// scenario's code starts. A draw below `total` finds its entry by binary search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PickTable {
    /// `(cumulative weight, start)`, in scenario order.
    pub entries: Vec<(u64, Pc)>,
}

impl PickTable {
    /// The sum of the weights.
    pub fn total(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.0)
    }

    /// The start for a draw in `0..total()`.
    pub fn target(&self, draw: u64) -> Pc {
        let i = self.entries.partition_point(|&(upto, _)| upto <= draw);
        self.entries
            .get(i)
            .or(self.entries.last())
            .map_or(Pc(0), |e| e.1)
    }
}

impl Program {
    /// A fresh VU state for VU number `vu` (from 1), with one empty buffer per
    /// buffer id the code uses.
    pub fn create_vu_state(&self, vu: u32) -> VuState {
        VuState::new(self, vu)
    }

    /// The bytes an operand refers to, in `state` for buffers.
    #[inline(always)]
    pub fn bytes<'a>(&'a self, state: &'a VuState, operand: Operand) -> &'a [u8] {
        match operand {
            Operand::Const(k) => &self.consts[k],
            Operand::Buf(b) => state.buf(b),
        }
    }

    /// The bytes of constant `k`.
    #[inline(always)]
    pub fn constant(&self, k: ConstId) -> &[u8] {
        &self.consts[k]
    }

    /// Whether any step pauses after its response or paces its start (a `sleep` or
    /// `pace` instruction).
    pub fn has_think_time(&self) -> bool {
        self.code
            .iter()
            .any(|op| matches!(op, Op::Sleep { .. } | Op::Pace { .. }))
    }

    /// The layout of step `id`.
    #[inline(always)]
    pub fn step(&self, id: StepId) -> &StepDesc {
        &self.steps[id]
    }

    /// Where check `id` was written, as `file:line:column`: the location of its first
    /// `check` instruction (every instruction of one check carries the check's own
    /// location). `None` for checks from flags.
    #[cold]
    pub fn check_location(&self, id: crate::CheckId) -> Option<String> {
        let pc = self
            .code
            .iter()
            .position(|op| *op == Op::Check { check: id })?;
        let loc = self.loc_at(Pc::from_index(pc))?;
        Some(format!("{}:{}:{}", self.source, loc.line, loc.column))
    }

    /// The step whose responses check `id` judges, or `None` when it judges several
    /// steps' (a `[[checks]]` entry runs after every step) or none.
    pub fn check_step(&self, id: crate::CheckId) -> Option<crate::StepId> {
        let mut step = None;
        let mut found = None;
        for op in &self.code {
            match *op {
                Op::Send { step: s } => step = Some(s),
                Op::Check { check } if check == id => match (found, step) {
                    (None, Some(s)) => found = Some(s),
                    (Some(f), Some(s)) if f == s => {}
                    _ => return None,
                },
                _ => {}
            }
        }
        found
    }

    /// Where instruction `pc` came from, if recorded.
    #[cold]
    #[inline(never)]
    pub fn loc_at(&self, pc: Pc) -> Option<SourceLoc> {
        self.locs
            .binary_search_by_key(&pc, |(p, _)| *p)
            .ok()
            .map(|i| self.locs[i].1)
    }
}

impl Program {
    /// How each constant that holds a secret under `rule` prints, by index: the
    /// constants of a secret header's value (its constant, or those pushed into its
    /// buffer since the buffer was last cleared before the step's `send`) as
    /// [`crate::REDACTED`], with no length; a path's and a body's constants with
    /// their secret query (or form) values hidden (the query is followed across the
    /// pieces a path is pushed in). Constants not listed print as they are.
    fn redacted_consts(&self, rule: &Redact) -> BTreeMap<usize, String> {
        let mut shown = BTreeMap::new();
        let mut pushed: Vec<Vec<Pushed>> = vec![Vec::new(); usize::from(self.buf_count)];
        for op in &self.code {
            match *op {
                Op::BufClear { buf } => pushed[buf.index()].clear(),
                Op::PushConst { buf, k } => pushed[buf.index()].push(Pushed::Const(k.index())),
                Op::PushBuiltin { buf, .. }
                | Op::PushSlot { buf, .. }
                | Op::PushSlotEncoded { buf, .. }
                | Op::PushSlotUrl { buf, .. }
                | Op::PushRandom { buf, .. }
                | Op::PushData { buf, .. }
                | Op::PushDataUrl { buf, .. }
                | Op::PushDataEncoded { buf, .. }
                | Op::PushScript { buf, .. } => pushed[buf.index()].push(Pushed::Value),
                Op::Send { step } => {
                    let step = &self.steps[step];
                    let parts = |o: Operand| match o {
                        Operand::Const(k) => vec![Pushed::Const(k.index())],
                        Operand::Buf(b) => pushed[b.index()].clone(),
                    };
                    let mut query = |pushed: Vec<Pushed>, form: bool| {
                        let texts: Vec<String> = pushed
                            .iter()
                            .map(|p| match p {
                                Pushed::Const(k) => {
                                    String::from_utf8_lossy(&self.consts[*k]).into()
                                }
                                Pushed::Value => String::new(),
                            })
                            .collect();
                        let pieces: Vec<UrlPiece<'_>> = pushed
                            .iter()
                            .zip(&texts)
                            .map(|(p, t)| match p {
                                Pushed::Const(_) => UrlPiece::Text(t),
                                Pushed::Value => UrlPiece::Var(""),
                            })
                            .collect();
                        let shown_pieces = if form {
                            rule.form_pieces(&pieces)
                        } else {
                            rule.url_pieces(&pieces)
                        };
                        for (p, out) in pushed.iter().zip(shown_pieces) {
                            if let (Pushed::Const(k), std::borrow::Cow::Owned(text)) = (p, out) {
                                shown.entry(*k).or_insert(format!("{text:?}"));
                            }
                        }
                    };
                    query(parts(step.path), false);
                    if let Some(body) = step.body {
                        query(parts(body), true);
                    }
                    for h in &step.headers {
                        if rule.is_secret_header(self.constant(h.name)) {
                            for p in parts(h.value) {
                                if let Pushed::Const(k) = p {
                                    shown.insert(k, crate::REDACTED.to_owned());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        shown
    }

    /// The multi-line bytecode listing of `--dump bytecode`, with what `rule` calls
    /// secret hidden (see `Program::redacted_consts`). `Display` is the listing
    /// under the built-in rule.
    pub fn listing<'a>(&'a self, rule: &'a Redact) -> Listing<'a> {
        Listing {
            program: self,
            rule,
        }
    }
}

/// What a buffer was filled with, for the listing.
#[derive(Debug, Clone, Copy)]
enum Pushed {
    Const(usize),
    /// A value known only at run time.
    Value,
}

/// The bytecode listing: the constant pool, the origins and steps, then the code with
/// the pc on the left and the entry marked `>`. Made by [`Program::listing`].
pub struct Listing<'a> {
    program: &'a Program,
    rule: &'a Redact,
}

/// The listing under the built-in redaction rule.
impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.listing(&Redact::default()), f)
    }
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = self.program;
        writeln!(
            f,
            "program consts={} steps={} bufs={}",
            this.consts.len(),
            this.steps.len(),
            this.buf_count
        )?;
        let redacted = this.redacted_consts(self.rule);
        for (i, k) in this.consts.iter().enumerate() {
            if let Some(shown) = redacted.get(&i) {
                writeln!(f, "  {} = {shown}", ConstId::from_index(i))?;
            } else {
                writeln!(
                    f,
                    "  {} = {:?}",
                    ConstId::from_index(i),
                    String::from_utf8_lossy(k)
                )?;
            }
        }
        for (i, o) in this.origins.iter().enumerate() {
            let scheme = match o.scheme {
                crate::Scheme::Http => "http",
                crate::Scheme::Https => "https",
            };
            writeln!(
                f,
                "  {} = origin {scheme}://{} host={:?} port={}",
                crate::OriginId::from_index(i),
                o.authority,
                o.host,
                o.port
            )?;
        }
        for (i, s) in this.steps.iter().enumerate() {
            write!(
                f,
                "  {} = step {:?} {} {} {} path={}",
                StepId::from_index(i),
                s.name,
                s.method,
                s.origin,
                s.protocol.name(),
                operand(s.path)
            )?;
            for h in &s.headers {
                write!(f, " header({}: {})", h.name, operand(h.value))?;
            }
            if let Some(body) = s.body {
                write!(f, " body={}", operand(body))?;
            }
            if let crate::StepKind::WebSocket(ws) = s.kind {
                let mode = match ws.mode {
                    crate::WsMode::Echo => "echo",
                    crate::WsMode::FireAndForget => "fire_and_forget",
                };
                write!(f, " mode={mode} expect={}", ws.expect)?;
            }
            match (s.reads.head, s.reads.body) {
                (true, true) => write!(f, " reads=head+body")?,
                (true, false) => write!(f, " reads=head")?,
                (false, true) => write!(f, " reads=body")?,
                (false, false) => {}
            }
            writeln!(f)?;
        }
        for (i, t) in this.picks.iter().enumerate() {
            let mut previous = 0;
            let choices: Vec<String> = t
                .entries
                .iter()
                .map(|&(upto, pc)| {
                    let weight = upto - previous;
                    previous = upto;
                    format!("{weight}->{}", pc.0)
                })
                .collect();
            writeln!(
                f,
                "  {} = pick {}",
                crate::PickId::from_index(i),
                choices.join(" ")
            )?;
        }
        for (i, (lo, hi)) in this.ranges.iter().enumerate() {
            writeln!(f, "  {} = range {lo}..={hi}", crate::RangeId::from_index(i))?;
        }
        for (i, x) in this.extractors.iter().enumerate() {
            writeln!(
                f,
                "  {} = extract {} <- {}",
                crate::ExtractorId::from_index(i),
                x.slot,
                x.spec
            )?;
        }
        for (i, c) in this.checks.iter().enumerate() {
            writeln!(
                f,
                "  {} = check {:?} {}",
                crate::CheckId::from_index(i),
                c.name,
                c.text
            )?;
        }
        if let Some(runner) = &this.scripts {
            for i in 0..runner.functions() {
                let id = crate::ScriptId::from_index(i);
                let (name, role) = runner.describe(id);
                writeln!(f, "  {id} = script {name:?} {}", role.as_str())?;
            }
        }
        for (i, c) in this.script_calls.iter().enumerate() {
            let sees = match (c.sees_body, c.sees_path) {
                (true, true) => " sees=body+path",
                (true, false) => " sees=body",
                (false, true) => " sees=path",
                (false, false) => "",
            };
            writeln!(
                f,
                "  {} = call {} in {}{sees}",
                crate::ScriptCallId::from_index(i),
                c.script,
                c.step
            )?;
        }
        for (i, t) in this.data.iter().enumerate() {
            writeln!(
                f,
                "  {} = data {:?} {} rows={} strategy={}{}",
                crate::DataId::from_index(i),
                t.name,
                t.path,
                t.rows(),
                t.strategy.name(),
                match t.strategy {
                    crate::DataStrategy::Sequential { wrap: true } => " wrap",
                    _ => "",
                }
            )?;
        }
        for (i, c) in this.data_columns.iter().enumerate() {
            writeln!(
                f,
                "  {} = column {}.{:?}",
                crate::ColumnId::from_index(i),
                c.data,
                this.data[c.data].columns[c.column as usize]
            )?;
        }
        for (slot, key) in &this.seeds {
            writeln!(f, "  {slot} = setup.{key}")?;
        }
        writeln!(f, "code:")?;
        for (i, op) in this.code.iter().enumerate() {
            let pc = Pc::from_index(i);
            let mark = if pc == this.entry { '>' } else { ' ' };
            let text = format!("{mark}{:>4}  {op}", pc.0);
            match this.locs.binary_search_by_key(&pc, |(p, _)| *p) {
                Ok(j) => writeln!(
                    f,
                    "{text:<40}; {}:{}",
                    this.locs[j].1.line, this.locs[j].1.column
                )?,
                Err(_) => writeln!(f, "{}", text.trim_end())?,
            }
        }
        Ok(())
    }
}

fn operand(o: Operand) -> String {
    match o {
        Operand::Const(k) => k.to_string(),
        Operand::Buf(b) => b.to_string(),
    }
}
