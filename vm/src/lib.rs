//! kaioken's bytecode, the interpreter that runs it one VU at a time, and the run plan
//! the compiler hands the runtime.
//!
//! ```text
//!  toml / har / flags ──► Ir ──► compile ──► Program ──┬─► VuState (one per VU)
//!                         (compiler crate: plan() adds │   LoadPlan, TransportPlan
//!                          them into a RunPlan)        ▼
//!   runtime (the VU machine):
//!     program.resume(&mut state, &mut host)          at an iteration's start
//!     program.resume_with(&mut state, &mut host, &outcome)   after an exchange
//!       ─► Yield::Send(step)          perform the step's exchange (its protocol's driver)
//!        | Yield::Sleep(d)            pause (think time)
//!        | Yield::Pace(d)             wait until d after the last exchange began
//!        | Yield::IterationDone       the iteration is complete
//!        | Yield::IterationAborted    an exchange it needed failed (jump.failed)
//!        | Yield::DataExhausted       a `sequential` data source ran out: stop the run
//! ```
//!
//! The VM knows nothing of sockets, clocks or tokio: it writes interpolated request parts
//! into buffers the VU owns and yields effects whose descriptors live in side tables of
//! the [`Program`] (steps: method, origin, protocol, parts). It also judges: after each
//! `send`, `check`, `extract` and `jump.failed` instructions read the outcome the runtime
//! resumes it with (a [`ResponseView`]) and report to the [`Host`], so a new check or
//! extractor kind needs no runtime change, and the failure policy is compiled code.
//! Everything immutable (constants, steps, origins, checks, extractors) sits in the
//! [`Program`], checked by [`Program::validate`] and shared by every VU; everything
//! mutable (buffers, extracted values, counters, the program counter) sits in
//! [`VuState`], reused across iterations so that the steady state allocates nothing.

mod builtin;
mod check;
mod data;
mod expected;
mod extract;
mod host;
mod ids;
mod method;
mod op;
mod plan;
mod program;
mod redact;
mod script;
mod segment;
mod status;
mod step_desc;
mod validate;
mod vm;
mod vu_state;
mod wire;

pub use builtin::{Builtin, push_url_encoded};
pub use check::{CheckExpr, CompiledCheck, ResponseView, TextTest};
pub use data::{DataColumn, DataStrategy, DataTable};
pub use expected::ExpectedStatus;
pub use extract::{CompiledExtractor, ExtractKind, Pattern, push_json_text};
pub use host::{Host, SystemHost, system_unix_ms};
pub use ids::{
    BufId, CheckId, ColumnId, ConstId, DataId, ExtractorId, OriginId, Pc, PickId, RangeId,
    ScriptCallId, ScriptId, SlotId, StepId,
};
pub use kaioken_grammar::CmpOp;
pub use method::Method;
pub use op::Op;
pub use plan::{
    Arrival, ClientCert, ConnectTo, LoadPlan, Proxies, Proxy, ProxyKind, RunPlan, Stage,
    TransportPlan,
};
pub use program::{PickTable, Program, ScenarioInfo, SourceLoc};
pub use redact::{REDACTED, Redact, Redacted, SECRET_HEADERS, SECRET_QUERY_KEYS, UrlPiece};
pub use script::{RequestSoFar, ScriptCall, ScriptContext, ScriptRole, ScriptRunner};
pub use segment::{Fraction, Segment};
pub use status::Status;
pub use step_desc::{
    GrpcStep, HeaderDesc, Operand, Origin, Protocol, Reads, Scheme, StepDesc, StepKind, WsMode,
    WsStep,
};
pub use validate::InvalidProgram;
pub use vm::Yield;
pub use vu_state::VuState;
pub use wire::{HeaderFault, header_value_fault, push_target_encoded, target_allows};
