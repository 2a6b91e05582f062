//! kaioken's bytecode and the interpreter that runs it, one VU at a time.
//!
//! ```text
//!  toml / har / flags ──► Ir ──► compile ──► Program ──┬─► VuState (one per VU)
//!                                   (compiler crate)   │
//!                                                      ▼
//!            runtime:  loop { match program.resume(&mut state, &mut host) {
//!                           Yield::Send(step)    → driver sends step's bytes
//!                           Yield::Sleep(d)      → the VU pauses (think time)
//!                           Yield::IterationDone → count, check stop conditions
//!                       } }
//! ```
//!
//! The VM knows nothing of sockets, clocks or tokio: it writes interpolated request parts
//! into buffers the VU owns and yields. Everything immutable (constants, step layouts,
//! origins) sits in the [`Program`], shared behind an `Arc` by every VU; everything
//! mutable (buffers, counters, the program counter) sits in [`VuState`], which is reused
//! across iterations so that the steady state allocates nothing.

mod builtin;
mod check;
mod extract;
mod host;
mod ids;
mod method;
mod op;
mod plan;
mod program;
mod step_desc;
mod validate;
mod vm;
mod vu_state;

pub use builtin::{Builtin, push_url_encoded};
pub use check::{CheckExpr, CompiledCheck, ResponseView, TextTest};
pub use extract::{CompiledExtractor, ExtractKind};
pub use host::{Host, SystemHost, system_unix_ms};
pub use ids::{
    BufId, CheckId, ConstId, ExtractorId, OriginId, Pc, PickId, RangeId, SlotId, StepId,
};
pub use kaioken_grammar::CmpOp;
pub use method::Method;
pub use op::Op;
pub use plan::{Arrival, LoadPlan, RunPlan, Stage, TransportPlan};
pub use program::{PickTable, Program, ScenarioInfo, SourceLoc};
pub use step_desc::{
    HeaderDesc, Operand, Origin, Protocol, Reads, Scheme, StepDesc, is_secret_header,
};
pub use validate::InvalidProgram;
pub use vm::Yield;
pub use vu_state::VuState;
