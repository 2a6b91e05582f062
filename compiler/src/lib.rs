//! kaioken's scenario compiler: every input becomes one IR, and the IR becomes bytecode.
//!
//! ```text
//!  scenario.toml ──► front::toml ──┐
//!  recording.har ──► front::har  ──┼─► Draft ──lower──► Ir ──compile──► vm::Program
//!  CLI flags    ──► front::flags ──┘   (located   (validated,   │            │
//!                                       values)    env folded)  │            ├─ --dump bytecode
//!                                                               └─ --dump ir │
//!                                   plan(): Program + load + transport ──► vm::RunPlan
//!  recording.har ──► front::har ──► scenario.toml   (`kaioken import har`: the same
//!                                                    steps, as a file to edit)
//!  spec.yaml     ──► front::openapi ──► scenario.toml (`kaioken import openapi`: a
//!                                                    step per operation; a run of
//!                                                    the spec reads it with front::toml)
//!  collection.json ─► front::postman ─► scenario.toml (`kaioken import postman`; a run
//!                                       of the collection reads it with front::toml)
//! ```
//!
//! Front ends only collect values and remember where each came from (a byte range in a
//! file, or the flag that gave it). [`lower`] validates the merged values, parses the
//! templates and durations with `kaioken-grammar`, folds `${ENV}` variables into
//! constants and reports every problem as a [`CompileError`] pointing at the exact
//! characters. [`compile`] then turns the [`Ir`] into a `Program`: constants interned
//! once, interpolated parts lowered to buffer instructions, so the VU loop only copies
//! bytes; each step's checks, extractors and failure policy lowered to the judging
//! instructions after its `send`; the result checked by `Program::validate`. [`plan`]
//! adds the load and transport settings: the runtime gets the whole run from here.
//! Nothing here does I/O except reading a body file named in the input and the
//! `cacert` file.
//!
//! Every printer of a scenario — diagnostics, `--dry-run`, the dumps — hides secrets
//! by one rule, [`Redact`] (built for a command by [`redaction`]).

mod compile;
mod compile_error;
mod draft;
mod dump_ir;
pub mod front;
mod ir;
mod judge;
mod located;
mod lower;
mod plan;
mod redaction;
mod snippet;
mod suggest;

pub use compile::compile;
pub use compile_error::{CompileError, CompileErrorKind, CompileErrors};
pub use dump_ir::dump_ir;
pub use front::flags::Flags;
pub use front::har::{HarImport, HarOptions, import as import_har};
pub use front::openapi::{OpenApiImport, OpenApiOptions, Placeholder, import as import_openapi};
pub use front::postman::{PostmanImport, PostmanOptions, import as import_postman};
pub use front::targets::TargetsOrder;
pub use front::toml::{SCHEMA_URL, scenario_schema};
pub use ir::{
    Arrival, GrpcCall, HttpVersion, Ir, IrCheck, IrExtract, IrLoc, IrThreshold, LoadPlan, Metric,
    OutputKind, OutputSpec, Outputs, Part, Scenario, Settings, Stage, Step, StepKind, Template,
    ThresholdScope,
};
pub use judge::{
    Iterations, Measured, PERCENTILES, Verdict, judge_thresholds, threshold_from_report,
};
pub use kaioken_vm::{REDACTED, Redact};
pub use lower::{
    ConfigFile, DEFAULT_INTERVAL, DEFAULT_LINGER, Input, MIN_INTERVAL, ReflectTls, SchemaSource,
    exec_argv, is_stream_output, lower,
};
pub use plan::{PlanError, plan};
pub use redaction::redaction;
pub use suggest::closest;

/// The `user-agent` sent when a request sets none.
pub const USER_AGENT: &str = concat!("kaioken/", env!("CARGO_PKG_VERSION"));

/// The `accept-encoding` a `--compressed` run sends: the codings the runtime decodes.
pub const ACCEPT_ENCODING: &str = "gzip, br, zstd";
