//! `setup` and `teardown`: run once, on the calling thread, before and after the
//! load. They may make HTTP requests when `[scripting] network` grants it, through
//! the [`Fetch`] their caller provides (kaioken's own client, with the scenario's TLS
//! settings). What `setup` returns becomes `${setup.key}` for every VU and the
//! `setup` table in every script.

use std::fmt;

use kaioken_vm::ScriptRole;
use mlua::{Lua, Table, Value};

use crate::engine::{clean_error, load, sandbox, split_location};
use crate::{Runner, SETUP_BUDGET, ScriptDef, stats::FnStats};

/// An HTTP request from `setup` or `teardown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The method, uppercase.
    pub method: String,
    /// The whole URL.
    pub url: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

/// Its response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchResponse {
    /// The status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Makes the HTTP requests of `setup` and `teardown`.
pub trait Fetch {
    /// Send `request` and wait for the whole response.
    ///
    /// # Errors
    ///
    /// No response: the reason, in words.
    fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, String>;
}

/// `setup` or `teardown` failed: the run does not start (setup), or the report says
/// so (teardown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError {
    /// `setup` or `teardown`.
    pub function: &'static str,
    /// The file and line, when Lua named them.
    pub at: Option<(String, u32)>,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some((file, line)) => write!(
                f,
                "{} failed at {file}:{line}: {}",
                self.function, self.message
            ),
            None => write!(f, "{} failed: {}", self.function, self.message),
        }
    }
}

impl std::error::Error for SetupError {}

impl Runner {
    /// Run `setup`, if there is one, and keep what it returns for every VU.
    ///
    /// # Errors
    ///
    /// The function raised an error, ran past its budget, was stopped by
    /// `interrupted` (asked as it runs: the user's Ctrl-C), or returned something
    /// other than a table of values under name keys.
    pub fn setup(
        &self,
        fetch: Option<&dyn Fetch>,
        interrupted: impl Fn() -> bool + 'static,
    ) -> Result<(), SetupError> {
        let Some(def) = self.def("setup") else {
            return Ok(());
        };
        let def = def.clone();
        let values = self.once(ScriptRole::Setup, fetch, interrupted, |lua, f| {
            let result: Value = f.call(())?;
            let mut values = Vec::new();
            match result {
                Value::Nil => {}
                Value::Table(t) => {
                    for pair in t.pairs::<Value, Value>() {
                        let (k, v) = pair?;
                        let key = match &k {
                            Value::String(s) => s.to_str()?.to_owned(),
                            _ => {
                                return Err(mlua::Error::runtime(
                                    "setup must return a table with name keys: { token = … }",
                                ));
                            }
                        };
                        if !kaioken_grammar::is_identifier(&key) {
                            return Err(mlua::Error::runtime(format!(
                                "setup returned the key `{key}`, which `${{setup.{key}}}` cannot name: use letters, digits and `_`"
                            )));
                        }
                        let mut bytes = Vec::new();
                        crate::lib_fns::write_value(lua, &v, &mut bytes)?;
                        values.push((key, bytes));
                    }
                }
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "setup returned a {}: it must return a table, {{ token = … }}, or nothing",
                        other.type_name()
                    )));
                }
            }
            values.sort();
            Ok(values)
        })
        .map_err(|message| located("setup", &def, message))?;
        // A second call keeps the first values: setup runs once per run.
        let _ = self.setup_values.set(values);
        Ok(())
    }

    /// Run `teardown`, if there is one, with the `setup` values as `data`.
    ///
    /// # Errors
    ///
    /// The function raised an error or ran past its budget.
    pub fn teardown(
        &self,
        fetch: Option<&dyn Fetch>,
        interrupted: impl Fn() -> bool + 'static,
    ) -> Result<(), SetupError> {
        let Some(def) = self.def("teardown") else {
            return Ok(());
        };
        let def = def.clone();
        self.once(ScriptRole::Teardown, fetch, interrupted, |lua, f| {
            let data = crate::lib_fns::setup_table(lua, self.setup_values())?;
            f.call::<Value>(data).map(drop)
        })
        .map_err(|message| located("teardown", &def, message))
    }

    /// Run `setup` or `teardown` (`role`) in a state of its own, with `http` when
    /// granted, until it returns, runs past its budget or `interrupted` says so,
    /// and count the call in the report.
    fn once<R>(
        &self,
        role: ScriptRole,
        fetch: Option<&dyn Fetch>,
        interrupted: impl Fn() -> bool + 'static,
        run: impl FnOnce(&Lua, mlua::Function) -> mlua::Result<R>,
    ) -> Result<R, String> {
        let name = role.as_str();
        let def = self
            .def(name)
            .ok_or_else(|| format!("no `{name}` function"))?;
        let stats = FnStats::default();
        stats.call();
        let clock = crate::engine::Budget::interruptible(SETUP_BUDGET, Some(Box::new(interrupted)));
        let result = (|| {
            let lua = sandbox(&self.limits, SETUP_BUDGET, &clock)?;
            lua.globals().raw_set(
                "setup",
                crate::lib_fns::setup_table(&lua, self.setup_values())?,
            )?;
            lua.globals().raw_set(
                "print",
                lua.create_function(move |_, args: mlua::MultiValue| {
                    let line: Vec<String> = args
                        .iter()
                        .map(|v| v.to_string().unwrap_or_default())
                        .collect();
                    eprintln!("[{name}] {}", line.join("\t"));
                    Ok(())
                })?,
            )?;
            let f = load(&lua, def, role)?;
            lua.scope(|scope| {
                if let (true, Some(fetch)) = (self.limits.network, fetch) {
                    lua.globals()
                        .raw_set("http", http_table(&lua, scope, fetch)?)?;
                }
                run(&lua, f)
            })
        })()
        .map_err(|e| clean_error(&e));
        if let Err(message) = &result {
            stats.error(message, clock.over_budget());
        }
        if let Ok(mut reports) = self.setup_report.lock() {
            reports.push(stats.report(name, role));
        }
        result
    }
}

/// A failure's message split into the file and line Lua named.
fn located(function: &'static str, def: &ScriptDef, message: String) -> SetupError {
    let e = split_location(def, &message);
    SetupError {
        function,
        at: e.line.map(|l| (def.file.clone(), l)),
        message: e.message,
    }
}

/// `http.request{…}`, `http.get(url, headers)`, `http.post(url, body, headers)`.
fn http_table<'s>(
    lua: &Lua,
    scope: &'s mlua::Scope<'s, '_>,
    fetch: &'s dyn Fetch,
) -> mlua::Result<Table> {
    let http = lua.create_table()?;
    let send = move |lua: &Lua, request: FetchRequest| -> mlua::Result<Table> {
        let response = fetch
            .fetch(request)
            .map_err(|e| mlua::Error::runtime(format!("http: {e}")))?;
        let t = lua.create_table()?;
        t.raw_set("status", response.status)?;
        t.raw_set("body", lua.create_string(&response.body)?)?;
        let headers = lua.create_table()?;
        for (k, v) in response.headers {
            headers.raw_set(k, v)?;
        }
        t.raw_set("headers", headers)?;
        Ok(t)
    };
    http.raw_set(
        "request",
        scope.create_function(move |lua, t: Table| {
            let method: Option<String> = t.get("method")?;
            let url: String = t
                .get::<Option<String>>("url")?
                .ok_or_else(|| mlua::Error::runtime("http.request: `url` is missing"))?;
            let body: Option<mlua::LuaString> = t.get("body")?;
            let request = FetchRequest {
                method: method.unwrap_or_else(|| "GET".into()).to_ascii_uppercase(),
                url,
                headers: headers(t.get("headers")?)?,
                body: body.map(|b| b.as_bytes().to_vec()).unwrap_or_default(),
            };
            send(lua, request)
        })?,
    )?;
    http.raw_set(
        "get",
        scope.create_function(move |lua, (url, h): (String, Option<Table>)| {
            let request = FetchRequest {
                method: "GET".into(),
                url,
                headers: headers(h)?,
                body: Vec::new(),
            };
            send(lua, request)
        })?,
    )?;
    http.raw_set(
        "post",
        scope.create_function(
            move |lua, (url, body, h): (String, mlua::LuaString, Option<Table>)| {
                let request = FetchRequest {
                    method: "POST".into(),
                    url,
                    headers: headers(h)?,
                    body: body.as_bytes().to_vec(),
                };
                send(lua, request)
            },
        )?,
    )?;
    Ok(http)
}

/// A headers table, `{ ["content-type"] = "…" }`, in name order.
fn headers(t: Option<Table>) -> mlua::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(t) = t {
        for pair in t.pairs::<String, String>() {
            out.push(pair?);
        }
    }
    out.sort();
    Ok(out)
}
