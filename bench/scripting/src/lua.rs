//! mlua with a vendored Lua 5.4 (`lua54`) or LuaJIT (`luajit`): one state per
//! worker thread, sandboxed by loading only the pure libraries.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, VmState};

use crate::common::{self, HEADERS, KEY};

#[cfg(feature = "lua54")]
const NAME: &str = "lua54";
#[cfg(feature = "luajit")]
const NAME: &str = "luajit";

/// The scripts as a user would write them in `[scripts]`.
const SCRIPT: &str = r#"
function check(status, body)
  return status == 200
    and body:find('"id":', 1, true) ~= nil
    and (header("content-type") or ""):find("json", 1, true) ~= nil
end

function sign(key, body)
  return hmac_sha256_hex(key, body)
end

function check_host(status, body)
  return status == 200
    and contains(body, '"id":')
    and contains(header("content-type") or "", "json")
end

function find_only(body)
  return body:find('"id":', 1, true) ~= nil
end

function header_only()
  return header("content-type") ~= nil
end

function ok(status)
  return status == 200
end

function spin()
  while true do end
end
"#;

/// Instructions between two budget hooks, and hooks a call may take.
const HOOK_EVERY: u32 = 10_000;
const HOOK_BUDGET: u32 = 100;

/// The libraries a script gets: no io, os, package, debug (nor ffi, jit).
fn libs() -> StdLib {
    #[cfg(feature = "lua54")]
    return StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::UTF8;
    #[cfg(feature = "luajit")]
    return StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::BIT;
}

/// A sandboxed state with the host functions and the scripts loaded.
fn new_state() -> Lua {
    let lua = Lua::new_with(libs(), LuaOptions::new()).expect("create Lua state");
    let g = lua.globals();
    // The base library is always there; these of its functions read files
    // (dofile, loadfile), compile code at run time (load: binary chunks too),
    // or reach the process (print to stdout, collectgarbage).
    for name in ["dofile", "loadfile", "load", "print", "collectgarbage"] {
        g.set(name, mlua::Nil).expect("remove base function");
    }
    let header = lua
        .create_function(|lua, name: mlua::LuaString| {
            match common::header(&HEADERS, &name.as_bytes()) {
                Some(v) => Ok(Some(lua.create_string(v)?)),
                None => Ok(None),
            }
        })
        .expect("header function");
    g.set("header", header).expect("set header");
    let hmac = lua
        .create_function(|_, (key, body): (mlua::LuaString, mlua::LuaString)| {
            Ok(common::hmac_sha256_hex(&key.as_bytes(), &body.as_bytes()))
        })
        .expect("hmac function");
    g.set("hmac_sha256_hex", hmac).expect("set hmac");
    let contains = lua
        .create_function(|_, (hay, needle): (mlua::LuaString, mlua::LuaString)| {
            Ok(common::contains_bytes(&hay.as_bytes(), &needle.as_bytes()))
        })
        .expect("contains function");
    g.set("contains", contains).expect("set contains");
    lua.load(SCRIPT)
        .set_name("scripts")
        .exec()
        .expect("load scripts");
    lua
}

/// Installs the instruction budget: every `HOOK_EVERY` instructions the hook
/// counts, and past `HOOK_BUDGET` it fails the call. The caller resets the
/// returned counter before each call.
fn install_budget(lua: &Lua) -> Rc<Cell<u32>> {
    let used = Rc::new(Cell::new(0u32));
    let counter = used.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            let n = counter.get() + 1;
            counter.set(n);
            if n > HOOK_BUDGET {
                Err(mlua::Error::runtime("instruction budget exceeded"))
            } else {
                Ok(VmState::Continue)
            }
        },
    )
    .expect("set hook");
    used
}

pub fn run(body: &str, signed: &str) {
    // Memory first, before the timing loops have grown the heap.
    let lua = new_state();
    lua.gc_collect().expect("gc");
    lua.gc_collect().expect("gc");
    println!("{NAME}.state_bytes {}", lua.used_memory());
    let per_state = common::rss_per_state(100, new_state);
    println!("{NAME}.rss_per_state {per_state}");

    let check: mlua::Function = lua.globals().get("check").expect("check");

    // A call that does nothing but compare the status: the fixed cost.
    let ok: mlua::Function = lua.globals().get("ok").expect("ok");
    let trivial = common::median_ns(|| ok.call::<bool>(200).expect("ok call"));
    println!("{NAME}.call_trivial_ns {trivial:.1}");
    // Where the check's time goes: string.find on the body, one header() call.
    let find_only: mlua::Function = lua.globals().get("find_only").expect("find_only");
    let reused_body = lua.create_string(body).expect("body string");
    let find = common::median_ns(|| find_only.call::<bool>(&reused_body).expect("find call"));
    println!("{NAME}.find_only_ns {find:.1}");
    let header_only: mlua::Function = lua.globals().get("header_only").expect("header_only");
    let header = common::median_ns(|| header_only.call::<bool>(()).expect("header call"));
    println!("{NAME}.header_only_ns {header:.1}");
    let copy_only = common::median_ns(|| {
        let b = lua.create_string(body).expect("body string");
        ok.call::<bool>((200, b)).expect("ok call")
    });
    println!("{NAME}.body_copy_call_ns {copy_only:.1}");
    // (a) a fresh Lua string per call: the response's body is copied in.
    let copy = common::median_ns(|| {
        let b = lua.create_string(body).expect("body string");
        check.call::<bool>((200, b)).expect("check call")
    });
    println!("{NAME}.check_copy_ns {copy:.1}");
    // (a') the same with the host's substring search instead of string.find.
    let check_host: mlua::Function = lua.globals().get("check_host").expect("check_host");
    let host = common::median_ns(|| {
        let b = lua.create_string(body).expect("body string");
        check_host.call::<bool>((200, b)).expect("check call")
    });
    println!("{NAME}.check_copy_hostfind_ns {host:.1}");
    // (b) the body string made once and reused: the call alone.
    let reused = common::median_ns(|| check.call::<bool>((200, &reused_body)).expect("check call"));
    println!("{NAME}.check_reused_ns {reused:.1}");
    // (c) `header` as a scoped function borrowing this response's headers (no
    // 'static context), made per call: what borrowing per response costs.
    let response_headers: Vec<(&str, &str)> = HEADERS.to_vec();
    let scoped = common::median_ns(|| {
        lua.scope(|scope| {
            let h = scope.create_function(|lua, name: mlua::LuaString| {
                match common::header(&response_headers, &name.as_bytes()) {
                    Some(v) => Ok(Some(lua.create_string(v)?)),
                    None => Ok(None),
                }
            })?;
            lua.globals().set("header", h)?;
            let b = lua.create_string(body)?;
            check.call::<bool>((200, b))
        })
        .expect("scoped check")
    });
    println!("{NAME}.check_scope_ns {scoped:.1}");
    // The scoped `header` is gone once its scope ends: a fresh state for the rest.
    let lua = new_state();
    let check: mlua::Function = lua.globals().get("check").expect("check");
    let sign: mlua::Function = lua.globals().get("sign").expect("sign");

    // The signing hook: key and body in, hex out as a Rust String.
    let key = lua.create_string(KEY).expect("key");
    let hmac = common::median_ns(|| {
        let b = lua.create_string(signed).expect("body");
        let hex: String = sign.call((&key, b)).expect("sign call");
        hex.len() == 64
    });
    println!("{NAME}.hmac_ns {hmac:.1}");
    let expected = common::hmac_sha256_hex(KEY, signed.as_bytes());
    let got: String = sign
        .call((&key, lua.create_string(signed).unwrap()))
        .unwrap();
    assert_eq!(got, expected, "the hook's HMAC matches ring's");

    // Budget hook overhead on the check (copy variant): two identical states,
    // the second with the hook, their runs interleaved.
    let hooked_lua = new_state();
    let hooked_check: mlua::Function = hooked_lua.globals().get("check").expect("check");
    let used = install_budget(&hooked_lua);
    let (off, on) = common::median_ns_paired(
        || {
            let b = lua.create_string(body).expect("body string");
            check.call::<bool>((200, b)).expect("check call")
        },
        || {
            used.set(0);
            let b = hooked_lua.create_string(body).expect("body string");
            hooked_check.call::<bool>((200, b)).expect("check call")
        },
    );
    println!("{NAME}.check_copy_unhooked_ns {off:.1}");
    println!("{NAME}.check_copy_hooked_ns {on:.1}");

    sandbox(&lua);
    drop(lua);
    infinite_loop();
}

/// What a script can reach: `io.open`, `os.execute`, `require`, `dofile`.
fn sandbox(lua: &Lua) {
    let default = Lua::new();
    let open = default
        .load(r#"return type(io) == "table" and type(io.open) == "function" and type(os.execute) == "function""#)
        .eval::<bool>()
        .unwrap();
    println!("# {NAME}: Lua::new() exposes io.open and os.execute: {open}");
    for (what, code) in [
        ("io.open", r#"return io.open("/etc/passwd")"#),
        ("os.execute", r#"return os.execute("true")"#),
        ("require", r#"return require("socket")"#),
        ("dofile", r#"return dofile("/etc/passwd")"#),
        ("load", r#"return load("return 1")"#),
    ] {
        let err = lua.load(code).exec().expect_err("the sandbox must refuse");
        let first = err.to_string();
        let first = first.lines().next().unwrap_or_default();
        println!("# {NAME} sandbox: {what} -> {first}");
    }
    println!("{NAME}.sandbox_io_open_fails true");
}

/// `while true do end` under the budget, on its own thread: a budget that
/// never fires must not hang the benchmark.
fn infinite_loop() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lua = new_state();
        let used = install_budget(&lua);
        used.set(0);
        let spin: mlua::Function = lua.globals().get("spin").unwrap();
        let t = Instant::now();
        let r = spin.call::<()>(());
        let _ = tx.send((t.elapsed(), r.map_err(|e| e.to_string())));
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok((took, Err(e))) => {
            let first = e.lines().next().unwrap_or_default().to_string();
            println!("# {NAME}: infinite loop stopped after {took:?}: {first}");
            println!("{NAME}.loop_stop_ms {:.2}", took.as_secs_f64() * 1e3);
        }
        Ok((took, Ok(()))) => println!("# {NAME}: spin returned after {took:?}?"),
        Err(_) => {
            println!("# {NAME}: infinite loop NOT stopped by the count hook within 5 s");
            println!("{NAME}.loop_stop_ms never");
            // The spinning thread cannot be stopped; end the process here.
            std::process::exit(0);
        }
    }
}
