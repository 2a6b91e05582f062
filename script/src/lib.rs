//! Scripts: the scenario's `[scripts]` functions, in Lua 5.4, behind the VM's
//! [`ScriptRunner`] seam.
//!
//! ```text
//!   compiler: [scripts] name = '''…''' ──► check_source (syntax, at compile time,
//!             located in the scenario)  ──► Runner (sources, limits, statistics)
//!                                            └► Program::scripts
//!   worker threads: the VM's check / extract / buf.script instructions
//!             ──► Runner ──► this thread's Engine (one Lua state per worker thread
//!                            and runner, made on first use) ──► the function
//!   cli: Runner::setup before the load (values for `${setup.key}`),
//!        Runner::teardown after it, Runner::report into the run's report
//! ```
//!
//! Each function is written as the body of a Lua function (see docs/plugins.md for
//! what each role is given and returns). Scripts run sandboxed: the string, table,
//! math and utf8 libraries, `os.time`/`os.date`/`os.clock`, and kaioken's `json`,
//! `crypto` and `base64`; no file, process or module access, no `load`. Environment
//! variables are visible only when `[scripting] env` grants them, and HTTP only in
//! `setup` and `teardown` when `[scripting] network` does. Every call has a time
//! budget (an instruction hook checks the clock every 1,000 instructions), every
//! state a memory limit; past either the call fails like any script error: a failed
//! check, a missing value, never a stopped run.

mod engine;
mod lib_fns;
mod setup;
mod stats;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kaioken_vm::{RequestSoFar, ResponseView, ScriptContext, ScriptId, ScriptRole, ScriptRunner};

pub use setup::{Fetch, FetchRequest, FetchResponse, SetupError};
pub use stats::{ScriptMessage, ScriptReport};

use engine::Engine;
use stats::FnStats;

/// The time budget of one call during the load, unless `[scripting] budget` says.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(100);
/// The time budget of `setup` and `teardown` (they may wait on HTTP).
pub const SETUP_BUDGET: Duration = Duration::from_secs(60);
/// The most memory one Lua state may use, unless `[scripting] memory` says.
pub const DEFAULT_MEMORY: usize = 64 << 20;

/// One function as the scenario wrote it: the body of a Lua function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptDef {
    /// Its name in `[scripts]`.
    pub name: String,
    /// The function's body.
    pub source: String,
    /// The file it is written in (the scenario, or a `.lua` file), for messages.
    pub file: String,
    /// The line of `file` where the body's first line is.
    pub line: u32,
    /// The body is written on that one line (a one-line string whose `\n` escapes
    /// make its lines): an error on any of its lines is on `line`.
    pub flat: bool,
}

impl ScriptDef {
    /// The line of `file` that line `line` of the chunk [`engine::load`] makes of
    /// the body is on.
    pub(crate) fn file_line(&self, line: u32) -> u32 {
        if self.flat { self.line } else { line }
    }
}

/// What scripts may use, from `[scripting]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The longest one call may run during the load.
    pub budget: Duration,
    /// The most memory one Lua state may hold.
    pub memory: usize,
    /// The environment variables scripts may read (`env.NAME`), with their values.
    pub env: Vec<(String, String)>,
    /// Whether `setup` and `teardown` may make HTTP requests.
    pub network: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            budget: DEFAULT_BUDGET,
            memory: DEFAULT_MEMORY,
            env: Vec::new(),
            network: false,
        }
    }
}

/// A syntax error in a script, at a line of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// The line of the function's file, when Lua named one.
    pub line: Option<u32>,
    /// Lua's message, without the file and line.
    pub message: String,
}

/// Check that `def` compiles as a function of `role`, without running it.
///
/// # Errors
///
/// Lua's syntax error, at its line in `def.file`.
pub fn check_source(def: &ScriptDef, role: ScriptRole) -> Result<(), ScriptError> {
    let lua =
        mlua::Lua::new_with(mlua::StdLib::NONE, mlua::LuaOptions::default()).map_err(|e| {
            ScriptError {
                line: None,
                message: engine::clean_error(&e),
            }
        })?;
    engine::load(&lua, def, role).map(drop).map_err(|e| {
        let text = engine::clean_error(&e);
        let mut e = engine::split_location(def, &text);
        // The body is wrapped in a function that the user did not write: an error
        // Lua finds at the end of the wrapper is at the end of the body.
        let lines = def.source.trim_end().lines().count().max(1) as u32;
        let last = def.line + lines - 1;
        if let Some(line) = e.line.filter(|&l| l > last) {
            e.line = Some(last.min(line));
        }
        let opened = format!(" (to close 'function' at line {})", def.line);
        e.message = e
            .message
            .replace(&opened, "")
            .replace("near <eof>", "at the end of the script");
        e
    })
}

/// A program's scripts: their sources and limits, the values `setup` returned, and
/// what every call did. Shared by the worker threads; each runs the functions in a
/// Lua state of its own.
#[derive(Debug)]
pub struct Runner {
    /// Tells this runner's per-thread states from another's.
    id: u64,
    defs: Vec<ScriptDef>,
    /// Each function: its definition (by index into `defs`) and role.
    functions: Vec<(usize, ScriptRole)>,
    limits: Limits,
    setup_values: OnceLock<Vec<(String, Vec<u8>)>>,
    stats: Vec<FnStats>,
    setup_report: std::sync::Mutex<Vec<ScriptReport>>,
}

impl Runner {
    /// A runner for `functions`, each a definition of `defs` (by index) in a role.
    pub fn new(
        defs: Vec<ScriptDef>,
        functions: Vec<(usize, ScriptRole)>,
        limits: Limits,
    ) -> Runner {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Runner {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            stats: functions.iter().map(|_| FnStats::default()).collect(),
            defs,
            functions,
            limits,
            setup_values: OnceLock::new(),
            setup_report: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The runner of `program`, if it has scripts.
    pub fn of(program: &kaioken_vm::Program) -> Option<&Runner> {
        program.scripts.as_ref()?.as_any().downcast_ref::<Runner>()
    }

    /// The definition named `name`, if any.
    fn def(&self, name: &str) -> Option<&ScriptDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// Whether the scenario has a `setup` function.
    pub fn has_setup(&self) -> bool {
        self.def("setup").is_some()
    }

    /// Whether the scenario has a `teardown` function.
    pub fn has_teardown(&self) -> bool {
        self.def("teardown").is_some()
    }

    /// What the limits are.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The values `setup` returned, by key (empty before it ran or without one).
    pub fn setup_values(&self) -> &[(String, Vec<u8>)] {
        self.setup_values.get().map_or(&[], Vec::as_slice)
    }

    /// What every function did, in the order the runner lists them, then `setup` and
    /// `teardown` when they ran.
    pub fn report(&self) -> Vec<ScriptReport> {
        let mut out: Vec<ScriptReport> = self
            .functions
            .iter()
            .zip(&self.stats)
            .map(|(&(def, role), stats)| stats.report(&self.defs[def].name, role))
            .collect();
        if let Ok(more) = self.setup_report.lock() {
            out.extend(more.iter().cloned());
        }
        out
    }

    /// Run `f` with this thread's engine for the runner, made on first use. `None`
    /// when no state can be made (counted as an error of `script`).
    fn with_engine<R>(&self, script: ScriptId, f: impl FnOnce(&Engine) -> R) -> Option<R> {
        thread_local! {
            static ENGINES: std::cell::RefCell<Vec<(u64, Engine)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        ENGINES.with(|engines| {
            let mut engines = engines.borrow_mut();
            let at = match engines.iter().position(|(id, _)| *id == self.id) {
                Some(at) => at,
                None => match Engine::new(self) {
                    Ok(engine) => {
                        // A thread that served other runners before (tests) keeps
                        // only the newest few.
                        if engines.len() >= 4 {
                            engines.remove(0);
                        }
                        engines.push((self.id, engine));
                        engines.len() - 1
                    }
                    Err(e) => {
                        self.stats[script.index()].error(&engine::clean_error(&e), false);
                        return None;
                    }
                },
            };
            Some(f(&engines[at].1))
        })
    }
}

impl ScriptRunner for Runner {
    fn check(&self, script: ScriptId, ctx: ScriptContext<'_>, last: &dyn ResponseView) -> bool {
        let stats = &self.stats[script.index()];
        stats.call();
        match self.with_engine(script, |e| e.check(script, ctx, last)) {
            Some(Ok((true, _))) => true,
            Some(Ok((false, message))) => {
                stats.fail(message.as_deref());
                false
            }
            Some(Err(e)) => {
                stats.error(&e.message, e.over_budget);
                false
            }
            None => false,
        }
    }

    fn extract(
        &self,
        script: ScriptId,
        ctx: ScriptContext<'_>,
        last: &dyn ResponseView,
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        let stats = &self.stats[script.index()];
        stats.call();
        match self.with_engine(script, |e| e.extract(script, ctx, last, out)) {
            Some(Ok(found)) => {
                if !found {
                    stats.fail(None);
                }
                found
            }
            Some(Err(e)) => {
                out.clear();
                stats.error(&e.message, e.over_budget);
                false
            }
            None => false,
        }
    }

    fn value(
        &self,
        script: ScriptId,
        ctx: ScriptContext<'_>,
        request: RequestSoFar<'_>,
        out: &mut Vec<u8>,
    ) {
        let stats = &self.stats[script.index()];
        stats.call();
        let len = out.len();
        match self.with_engine(script, |e| e.value(script, ctx, request, out)) {
            Some(Ok(())) | None => {}
            Some(Err(e)) => {
                out.truncate(len);
                stats.error(&e.message, e.over_budget);
            }
        }
    }

    fn setup_value(&self, key: &str) -> Option<Vec<u8>> {
        self.setup_values()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn functions(&self) -> usize {
        self.functions.len()
    }

    fn describe(&self, script: ScriptId) -> (&str, ScriptRole) {
        let (def, role) = self.functions[script.index()];
        (&self.defs[def].name, role)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A runner behind the VM's trait object, as the compiler stores it.
pub fn into_program_runner(runner: Runner) -> Arc<dyn ScriptRunner> {
    Arc::new(runner)
}

#[cfg(test)]
mod tests;
