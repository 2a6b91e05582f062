//! The seam between the VM and scripts (`[scripts]`): what a script-backed check,
//! extractor or `${script:name}` needs from the VM, and the trait that runs them.
//!
//! ```text
//!   compiler: [scripts] ──► kaioken-script's Runner (implements ScriptRunner)
//!                             └► Program::scripts (shared, Send + Sync)
//!   interpreter: check c ─► CheckExpr::Script(f)  ─► runner.check(f, ctx, last)
//!                extract x ─► ExtractKind::Script(f) ─► runner.extract(f, ctx, last, slot)
//!                buf.script b call ─► runner.value(f, ctx, request so far, buffer)
//! ```
//!
//! The VM knows nothing of the language: a runner gets the VU's state (its variables
//! by name, its number and iteration) and the response or the request built so far,
//! and answers with a verdict or bytes. A script that fails or runs past its budget
//! is the runner's to count; the VM sees a failed check, a missing value or an empty
//! one, never an error.

use std::fmt;

use crate::{Program, ResponseView, ScriptId, SlotId, StepId, VuState};

/// What a script function is for, which decides what it is given and returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScriptRole {
    /// `checks = ["script:name"]`: given the response `r`, returns pass or fail and
    /// an optional message.
    Check,
    /// `extract = { v = "script:name" }`: given the response `r`, returns the value
    /// (or nothing: not found).
    Extract,
    /// `${script:name}` in a template: given the request `req` built so far, returns
    /// the text to insert.
    Value,
    /// `setup`: run once before the load; returns the values `${setup.key}` reads.
    Setup,
    /// `teardown`: run once after the load.
    Teardown,
}

impl ScriptRole {
    /// The role as reports and dumps name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptRole::Check => "check",
            ScriptRole::Extract => "extract",
            ScriptRole::Value => "value",
            ScriptRole::Setup => "setup",
            ScriptRole::Teardown => "teardown",
        }
    }
}

/// A `${script:name}` in a request part: the function and what of its step's request
/// exists when it runs. A step's body is built first, then its path, then its
/// headers, so a header's script sees the body and the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptCall {
    /// The function.
    pub script: ScriptId,
    /// The step being built.
    pub step: StepId,
    /// Whether the step's body is built before this call.
    pub sees_body: bool,
    /// Whether the step's path is built before this call.
    pub sees_path: bool,
    /// Whether the value goes into the path: what a request target cannot carry is
    /// percent-encoded, as for extracted values.
    pub url: bool,
}

/// Who is asking: the program (for variable names) and the VU's state.
#[derive(Clone, Copy)]
pub struct ScriptContext<'a> {
    /// The program being run.
    pub program: &'a Program,
    /// The VU's state: its variables, number and iteration.
    pub state: &'a VuState,
}

impl<'a> ScriptContext<'a> {
    /// The VU's value of variable `name` (an extracted value or a setup value), if
    /// the program has one by that name.
    pub fn var(&self, name: &str) -> Option<&'a [u8]> {
        let i = self.program.slot_names.iter().position(|n| n == name)?;
        Some(self.state.slot(SlotId::from_index(i)))
    }

    /// Every variable the program has, by name, with the VU's value.
    pub fn vars(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let (program, state) = (self.program, self.state);
        program
            .slot_names
            .iter()
            .enumerate()
            .map(move |(i, n)| (n.as_str(), state.slot(SlotId::from_index(i))))
    }

    /// The VU's number (from 1).
    pub fn vu(&self) -> u32 {
        self.state.vu
    }

    /// The VU's iterations finished so far, completed or abandoned: the number of
    /// the one under way.
    pub fn iteration(&self) -> u64 {
        self.state.iteration
    }
}

/// The request a `${script:name}` is part of, as far as it is built.
#[derive(Debug, Clone, Copy)]
pub struct RequestSoFar<'a> {
    /// The method.
    pub method: &'a str,
    /// The path and query, when built before the call.
    pub path: Option<&'a [u8]>,
    /// The body, when the step has one and it is built before the call.
    pub body: Option<&'a [u8]>,
}

/// Runs a program's scripts. Implemented by kaioken-script (Lua); the VM calls it
/// from its judging and template instructions. Calls come from any worker thread, so
/// an implementation keeps its interpreters per thread.
pub trait ScriptRunner: Send + Sync + fmt::Debug {
    /// Judge `last` with check function `script`. An error in the script is a
    /// failed check (the runner keeps its message).
    fn check(&self, script: ScriptId, ctx: ScriptContext<'_>, last: &dyn ResponseView) -> bool;

    /// Run extractor function `script` on `last`, writing its value into `out`
    /// (emptied first). Returns whether it found a value.
    fn extract(
        &self,
        script: ScriptId,
        ctx: ScriptContext<'_>,
        last: &dyn ResponseView,
        out: &mut Vec<u8>,
    ) -> bool;

    /// Append the value of function `script` for `request` to `out`. An error
    /// appends nothing (the runner counts it).
    fn value(
        &self,
        script: ScriptId,
        ctx: ScriptContext<'_>,
        request: RequestSoFar<'_>,
        out: &mut Vec<u8>,
    );

    /// The value `setup` returned for `key`, once setup has run.
    fn setup_value(&self, key: &str) -> Option<Vec<u8>>;

    /// How many functions there are: [`ScriptId`]s run from 0 to this.
    fn functions(&self) -> usize;

    /// Function `script`'s name and role, for dumps and reports.
    fn describe(&self, script: ScriptId) -> (&str, ScriptRole);

    /// The runner itself, for its owner to reach what the VM does not use (setup,
    /// teardown, statistics).
    fn as_any(&self) -> &dyn std::any::Any;
}
