//! One Lua state with a runner's functions loaded: made once per worker thread (on
//! its first call) and reused for every call after.
//!
//! A call reuses one table for the response (`r`) and one for the request (`req`);
//! only the body becomes a new Lua string, and only when the script reads it. `r.headers[name]`, `r.header(name)` and
//! `vars.name` read the response and the VU's state in place, through pointers set
//! for the length of the call ([`Current`]).

use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kaioken_vm::{
    Program, RequestSoFar, ResponseView, ScriptContext, ScriptId, ScriptRole, VuState,
};
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};

use crate::{Runner, ScriptDef, ScriptError};

/// How often, in Lua instructions, the budget hook reads the clock.
const HOOK_EVERY: u32 = 1_000;

/// The failure of one call.
pub(crate) struct CallError {
    pub message: String,
    /// Whether it ran past its budget.
    pub over_budget: bool,
}

/// Load `def` as a function of `role`. The chunk starts with as many line breaks as
/// put the body's first line on its line in `def.file`, and is named after the file,
/// so Lua's messages say `file:line:` of the scenario.
pub(crate) fn load(lua: &Lua, def: &ScriptDef, role: ScriptRole) -> mlua::Result<Function> {
    let params = match role {
        ScriptRole::Check | ScriptRole::Extract => "r",
        ScriptRole::Value => "req",
        ScriptRole::Setup => "",
        ScriptRole::Teardown => "data",
    };
    let mut chunk = "\n".repeat(def.line.saturating_sub(1) as usize);
    chunk.push_str("return function(");
    chunk.push_str(params);
    chunk.push_str(") ");
    chunk.push_str(&def.source);
    chunk.push_str("\nend");
    lua.load(chunk)
        .set_name(format!("={}", def.file))
        .eval::<Function>()
}

/// A Lua error as one line of text: no traceback, no "runtime error:" prefix.
pub(crate) fn clean_error(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => return clean_error(cause),
        other => other.to_string(),
    };
    let text = text
        .split("\nstack traceback:")
        .next()
        .unwrap_or_default()
        .trim();
    // `error({code = 1})`: Lua prints the value as its type and address, which
    // differ from call to call, so the same error would never be counted as one.
    let (kind, address) = text.rsplit_once(": 0x").unwrap_or_default();
    let kind = kind.rsplit(": ").next().unwrap_or(kind);
    if matches!(kind, "table" | "function" | "userdata" | "thread")
        && !address.is_empty()
        && address.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let before = &text[..text.len() - kind.len() - address.len() - 4];
        return format!("{before}error() was given a {kind}, not a message (give it a string)");
    }
    text.to_owned()
}

/// [`clean_error`], with the line of `file` a callback's error came from (a Lua
/// error names it; an error from kaioken's functions, `json.decode`, is placed by
/// the traceback's first frame in the file).
pub(crate) fn located_error(e: &mlua::Error, def: &ScriptDef) -> String {
    let file = def.file.as_str();
    let message = clean_error(e);
    if message.starts_with(file) {
        let e = split_location(def, &message);
        return match e.line {
            Some(line) => format!("{file}:{line}: {}", e.message),
            None => message,
        };
    }
    let traceback = match e {
        mlua::Error::CallbackError { traceback, .. } => traceback.as_str(),
        mlua::Error::RuntimeError(m) => m.as_str(),
        _ => "",
    };
    let line = traceback.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(file)?.strip_prefix(':')?;
        rest.split(':').next()?.parse::<u32>().ok()
    });
    match line {
        Some(line) => format!("{file}:{}: {message}", def.file_line(line)),
        None => format!("{file}: {message}"),
    }
}

/// `file:12: message` (of `def`'s file) into line 12 (where it is in the file, see
/// [`ScriptDef::file_line`]) and the message.
pub(crate) fn split_location(def: &ScriptDef, text: &str) -> ScriptError {
    let located = text
        .strip_prefix(def.file.as_str())
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(line, message)| Some((line.parse().ok()?, message.trim())));
    match located {
        Some((line, message)) => ScriptError {
            line: Some(def.file_line(line)),
            message: message.to_owned(),
        },
        None => ScriptError {
            line: None,
            message: text.to_owned(),
        },
    }
}

/// What the call in progress reads: set by [`Current::enter`] for its length.
#[derive(Default)]
pub(crate) struct Current {
    response: Cell<Option<NonNull<dyn ResponseView + 'static>>>,
    program: Cell<Option<NonNull<Program>>>,
    state: Cell<Option<NonNull<VuState>>>,
}

/// Clears [`Current`] when the call is over, however it ends.
pub(crate) struct Entered<'a>(&'a Current);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.response.set(None);
        self.0.program.set(None);
        self.0.state.set(None);
    }
}

impl Current {
    /// Point at `ctx` and `response` until the guard drops.
    pub fn enter<'a>(
        &'a self,
        ctx: Option<ScriptContext<'a>>,
        response: Option<&'a dyn ResponseView>,
    ) -> Entered<'a> {
        // SAFETY: the lifetime is erased only to store the pointer; it is read only
        // through `response()` while the guard lives, and the guard borrows `'a`, so
        // the response outlives every read. The guard clears it on drop.
        let response = response.map(|r| unsafe {
            std::mem::transmute::<NonNull<dyn ResponseView + 'a>, NonNull<dyn ResponseView>>(
                NonNull::from(r),
            )
        });
        self.response.set(response);
        self.program.set(ctx.map(|c| NonNull::from(c.program)));
        self.state.set(ctx.map(|c| NonNull::from(c.state)));
        Entered(self)
    }

    /// The response of the call in progress.
    fn response(&self) -> Option<&dyn ResponseView> {
        // SAFETY: set by `enter` from a reference that outlives the guard, and
        // cleared when the guard drops; Lua calls back only during the call.
        self.response.get().map(|p| unsafe { p.as_ref() })
    }

    /// The VU of the call in progress.
    fn ctx(&self) -> Option<ScriptContext<'_>> {
        // SAFETY: as for `response`.
        let (program, state) = (self.program.get()?, self.state.get()?);
        Some(unsafe {
            ScriptContext {
                program: program.as_ref(),
                state: state.as_ref(),
            }
        })
    }
}

/// Interned field names of `r` and `req`.
struct Keys {
    status: mlua::LuaString,
    body: mlua::LuaString,
    duration_ms: mlua::LuaString,
    method: mlua::LuaString,
    path: mlua::LuaString,
}

/// A call's time budget: when it ends, and whether the hook stopped the call for
/// running past it or for the user's interrupting the run (an error after the
/// deadline may be another: out of memory).
pub(crate) struct Budget {
    deadline: Cell<Instant>,
    stopped: Cell<bool>,
    /// The hook stopped the call for the interruption, not the deadline.
    for_interruption: Cell<bool>,
    /// Whether the user has interrupted the run since the call began (Ctrl-C):
    /// `setup` and `teardown` ask, since they may run for a minute.
    interrupted: Option<Box<dyn Fn() -> bool>>,
}

impl Budget {
    /// A budget ending `after` from now.
    pub fn new(after: Duration) -> Rc<Budget> {
        Budget::interruptible(after, None)
    }

    /// A budget ending `after` from now, or once `interrupted` says so.
    pub fn interruptible(
        after: Duration,
        interrupted: Option<Box<dyn Fn() -> bool>>,
    ) -> Rc<Budget> {
        Rc::new(Budget {
            deadline: Cell::new(Instant::now() + after),
            stopped: Cell::new(false),
            for_interruption: Cell::new(false),
            interrupted,
        })
    }

    /// Start a call that may run `after`.
    pub fn start(&self, after: Duration) {
        self.deadline.set(Instant::now() + after);
        self.stopped.set(false);
        self.for_interruption.set(false);
    }

    /// Whether the hook stopped the call.
    pub fn stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Whether the call's time is up.
    pub fn past(&self) -> bool {
        Instant::now() >= self.deadline.get()
    }

    /// Whether the hook stopped the call for running past its deadline.
    pub fn over_budget(&self) -> bool {
        self.stopped.get() && !self.for_interruption.get()
    }
}

/// A runner's functions in one Lua state.
pub(crate) struct Engine {
    lua: Lua,
    functions: Vec<Function>,
    /// Each function's definition, to place its errors.
    defs: Vec<ScriptDef>,
    r: Table,
    req: Table,
    /// The field names a call sets, made once (a key given as `&str` is hashed and
    /// looked up in Lua's string table on every set).
    keys: Keys,
    current: Rc<Current>,
    clock: Rc<Budget>,
    budget: Duration,
}

impl Engine {
    /// A state with the sandboxed libraries, the runner's limits and every function
    /// loaded.
    pub fn new(runner: &Runner) -> mlua::Result<Engine> {
        let current = Rc::new(Current::default());
        let clock = Budget::new(runner.limits.budget);
        let lua = sandbox(&runner.limits, runner.limits.budget, &clock)?;
        let globals = lua.globals();
        globals.raw_set(
            "setup",
            crate::lib_fns::setup_table(&lua, runner.setup_values())?,
        )?;
        globals.raw_set("vars", vars_table(&lua, &current)?)?;
        let functions = runner
            .functions
            .iter()
            .map(|&(def, role)| load(&lua, &runner.defs[def], role))
            .collect::<mlua::Result<Vec<_>>>()?;
        let defs = runner
            .functions
            .iter()
            .map(|&(def, _)| runner.defs[def].clone())
            .collect();
        let r = lua.create_table()?;
        // `r.body` is made when a script first reads it in a call, not before: a
        // check of the status or a header copies no body into Lua.
        let r_meta = lua.create_table()?;
        let c = Rc::clone(&current);
        let body_key = lua.create_string("body")?;
        r_meta.raw_set(
            "__index",
            lua.create_function(move |lua, (r, key): (Table, Value)| {
                let is_body = matches!(&key, Value::String(k) if *k == body_key);
                match c.response() {
                    Some(resp) if is_body => {
                        let body = lua.create_string(resp.body())?;
                        r.raw_set(key, &body)?;
                        Ok(Value::String(body))
                    }
                    _ => Ok(Value::Nil),
                }
            })?,
        )?;
        r.set_metatable(Some(r_meta))?;
        let headers = lua.create_table()?;
        let meta = lua.create_table()?;
        let c = Rc::clone(&current);
        meta.raw_set(
            "__index",
            lua.create_function(move |lua, (_, name): (Value, mlua::LuaString)| {
                header(lua, &c, &name.as_bytes())
            })?,
        )?;
        headers.set_metatable(Some(meta))?;
        r.raw_set("headers", headers)?;
        let c = Rc::clone(&current);
        r.raw_set(
            "header",
            lua.create_function(move |lua, args: MultiValue| {
                // `r.header(name)` and `r:header(name)` both work.
                let name = args.iter().rev().find_map(|v| v.as_string().cloned());
                match name {
                    Some(name) => header(lua, &c, &name.as_bytes()),
                    None => Ok(Value::Nil),
                }
            })?,
        )?;
        let req = lua.create_table()?;
        let keys = Keys {
            status: lua.create_string("status")?,
            body: lua.create_string("body")?,
            duration_ms: lua.create_string("duration_ms")?,
            method: lua.create_string("method")?,
            path: lua.create_string("path")?,
        };
        Ok(Engine {
            lua,
            functions,
            defs,
            r,
            req,
            keys,
            current,
            clock,
            budget: runner.limits.budget,
        })
    }

    /// Call function `script` with `arg`, within the budget. A call that came back
    /// past it (its time went into one of kaioken's functions, or Lua's own, such
    /// as a `string.find` backtracking, which the hook cannot stop) is over budget
    /// all the same.
    fn call<R: mlua::FromLuaMulti>(&self, script: ScriptId, arg: &Table) -> Result<R, CallError> {
        self.clock.start(self.budget);
        let def = &self.defs[script.index()];
        let out = self.functions[script.index()]
            .call::<R>(arg)
            .map_err(|e| CallError {
                message: located_error(&e, def),
                over_budget: self.clock.stopped(),
            })?;
        if self.clock.past() {
            return Err(CallError {
                message: format!(
                    "{}: ran past its time budget of {:?} (`[scripting] budget`) inside a function the budget cannot stop (a library call such as `json.decode` or `string.find`)",
                    def.file, self.budget
                ),
                over_budget: true,
            });
        }
        Ok(out)
    }

    /// Fill `r` from `last`.
    fn response(&self, last: &dyn ResponseView) -> mlua::Result<()> {
        let k = &self.keys;
        self.r.raw_set(&k.status, last.status())?;
        // Read on demand (see `Engine::new`).
        self.r.raw_set(&k.body, Value::Nil)?;
        self.r
            .raw_set(&k.duration_ms, last.duration().as_secs_f64() * 1000.0)
    }

    /// A check: pass or fail, and the message a failure came with.
    pub fn check(
        &self,
        script: ScriptId,
        ctx: ScriptContext<'_>,
        last: &dyn ResponseView,
    ) -> Result<(bool, Option<String>), CallError> {
        let _in = self.current.enter(Some(ctx), Some(last));
        self.response(last).map_err(internal)?;
        let (verdict, message): (Value, Value) = self.call(script, &self.r)?;
        let passed = !matches!(verdict, Value::Nil | Value::Boolean(false));
        let message = if passed { None } else { text(&message) };
        Ok((passed, message))
    }

    /// An extractor: the value into `out`; `false` when the function returned
    /// nothing.
    pub fn extract(
        &self,
        script: ScriptId,
        ctx: ScriptContext<'_>,
        last: &dyn ResponseView,
        out: &mut Vec<u8>,
    ) -> Result<bool, CallError> {
        let _in = self.current.enter(Some(ctx), Some(last));
        self.response(last).map_err(internal)?;
        match self.call(script, &self.r)? {
            Value::Nil => Ok(false),
            v => {
                crate::lib_fns::write_value(&self.lua, &v, out).map_err(internal)?;
                Ok(true)
            }
        }
    }

    /// A request hook: its value appended to `out`.
    pub fn value(
        &self,
        script: ScriptId,
        ctx: ScriptContext<'_>,
        request: RequestSoFar<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CallError> {
        let _in = self.current.enter(Some(ctx), None);
        let fill = || -> mlua::Result<()> {
            let k = &self.keys;
            self.req.raw_set(&k.method, request.method)?;
            let bytes = |b: Option<&[u8]>| b.map(|b| self.lua.create_string(b)).transpose();
            self.req.raw_set(&k.path, bytes(request.path)?)?;
            self.req.raw_set(&k.body, bytes(request.body)?)
        };
        fill().map_err(internal)?;
        match self.call(script, &self.req)? {
            Value::Nil => Err(CallError {
                message: format!(
                    "{}: returned nothing: a request value is a string, a number, a boolean or a table (as JSON)",
                    self.defs[script.index()].file
                ),
                over_budget: false,
            }),
            v => crate::lib_fns::write_value(&self.lua, &v, out).map_err(internal),
        }
    }
}

fn internal(e: mlua::Error) -> CallError {
    CallError {
        message: clean_error(&e),
        over_budget: false,
    }
}

/// A Lua value as message text: strings and numbers; anything else is no message.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `r.headers[name]`: the response's header, or nil.
fn header(lua: &Lua, current: &Current, name: &[u8]) -> mlua::Result<Value> {
    match current.response().and_then(|r| r.header(name)) {
        Some(v) => Ok(Value::String(lua.create_string(v)?)),
        None => Ok(Value::Nil),
    }
}

/// `vars`: reads the VU's variables by name, and `vars.VU`, `vars.ITERATION`.
fn vars_table(lua: &Lua, current: &Rc<Current>) -> mlua::Result<Table> {
    let vars = lua.create_table()?;
    let meta = lua.create_table()?;
    let c = Rc::clone(current);
    meta.raw_set(
        "__index",
        lua.create_function(move |lua, (_, name): (Value, mlua::LuaString)| {
            let Some(ctx) = c.ctx() else {
                return Ok(Value::Nil);
            };
            let name = name.to_str()?;
            Ok(match &*name {
                "VU" => Value::Integer(i64::from(ctx.vu())),
                "ITERATION" => Value::Integer(ctx.iteration() as i64),
                // A variable no extractor has set (or that one emptied on a
                // failed exchange) is `nil`, as a missing one is.
                name => match ctx.var(name) {
                    Some(v) if !v.is_empty() => Value::String(lua.create_string(v)?),
                    _ => Value::Nil,
                },
            })
        })?,
    )?;
    meta.raw_set(
        "__newindex",
        lua.create_function(|_, _: MultiValue| -> mlua::Result<()> {
            Err(mlua::Error::runtime(
                "`vars` is read-only: an extractor sets a variable",
            ))
        })?,
    )?;
    vars.set_metatable(Some(meta))?;
    Ok(vars)
}

/// A Lua state with only the libraries a sandboxed script may use, kaioken's own,
/// the memory limit, and the budget hook reading `clock`.
pub(crate) fn sandbox(
    limits: &crate::Limits,
    budget: Duration,
    clock: &Rc<Budget>,
) -> mlua::Result<Lua> {
    use mlua::StdLib;
    let libs = StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::UTF8 | StdLib::OS;
    let lua = Lua::new_with(libs, mlua::LuaOptions::default())?;
    let globals = lua.globals();
    // The base library reaches files (`dofile`, `loadfile`), compiles code at run
    // time (`load`) and prints to the terminal the live view draws on.
    for name in [
        "dofile",
        "loadfile",
        "load",
        "loadstring",
        "print",
        "collectgarbage",
        "xpcall",
        "require",
        "module",
    ] {
        globals.raw_set(name, Value::Nil)?;
    }
    // `os` keeps only its clock and calendar.
    let os: Table = globals.raw_get("os")?;
    let safe = lua.create_table()?;
    for name in ["time", "date", "clock", "difftime"] {
        safe.raw_set(name, os.raw_get::<Value>(name)?)?;
    }
    globals.raw_set("os", safe)?;
    crate::lib_fns::install(&lua, limits)?;
    // `pcall` that cannot swallow the budget: past the deadline its error goes on.
    let d = Rc::clone(clock);
    globals.raw_set(
        "pcall",
        lua.create_function(move |lua, (f, args): (Function, MultiValue)| {
            match f.call::<MultiValue>(args) {
                Ok(values) => {
                    let mut out = MultiValue::new();
                    out.push_back(Value::Boolean(true));
                    out.extend(values);
                    Ok(out)
                }
                // Once the hook stopped the call, its error goes on.
                Err(e) if d.stopped() => Err(e),
                Err(e) => {
                    let mut out = MultiValue::new();
                    out.push_back(Value::Boolean(false));
                    out.push_back(Value::String(lua.create_string(clean_error(&e))?));
                    Ok(out)
                }
            }
        })?,
    )?;
    lua.set_memory_limit(limits.memory)?;
    let d = Rc::clone(clock);
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            if Instant::now() >= d.deadline.get() {
                d.stopped.set(true);
                Err(mlua::Error::runtime(format!(
                    "stopped: ran past its time budget of {budget:?} (`[scripting] budget`)"
                )))
            } else if d.interrupted.as_ref().is_some_and(|i| i()) {
                d.stopped.set(true);
                d.for_interruption.set(true);
                Err(mlua::Error::runtime("stopped: the run was interrupted"))
            } else {
                Ok(VmState::Continue)
            }
        },
    )?;
    Ok(lua)
}
