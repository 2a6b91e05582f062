//! Rhai 1.x: a Rust-native interpreter walking its AST; one `Engine` + `AST`
//! per worker thread, sandboxed by its defaults plus no module resolver.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rhai::module_resolvers::DummyModuleResolver;
use rhai::{CallFnOptions, Dynamic, Engine, ImmutableString, Scope, AST};

use crate::common::{self, HEADERS, KEY};

const SCRIPT: &str = r#"
fn check(status, body) {
    status == 200 && body.contains("\"id\":") && header("content-type").contains("json")
}

fn sign(key, body) {
    hmac_sha256_hex(key, body)
}

fn ok(status) {
    status == 200
}

fn spin() {
    loop { }
}
"#;

/// Operations a call may take when the budget is on (Lua's is 100 hooks of
/// 10,000 instructions).
const MAX_OPERATIONS: u64 = 1_000_000;

/// An engine with the host functions, no file module resolver and no `eval`,
/// and the scripts compiled. `budget` turns the operation limit on.
fn new_state(budget: bool) -> (Engine, AST) {
    let mut engine = Engine::new();
    // By default `import "x"` reads x.rhai from the file system.
    engine.set_module_resolver(DummyModuleResolver::new());
    engine.disable_symbol("eval");
    // `print` and `debug` write to stdout/stderr by default.
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.set_max_operations(if budget { MAX_OPERATIONS } else { 0 });
    // A missing header is "", so the script needs no unit check.
    engine.register_fn("header", |name: &str| -> ImmutableString {
        common::header(&HEADERS, name.as_bytes())
            .map(ImmutableString::from)
            .unwrap_or_default()
    });
    engine.register_fn("hmac_sha256_hex", |key: &str, body: &str| -> String {
        common::hmac_sha256_hex(key.as_bytes(), body.as_bytes())
    });
    let ast = engine.compile(SCRIPT).expect("compile scripts");
    (engine, ast)
}

/// Calls `name` without re-running the AST's top level (only `fn`s there).
fn call(
    engine: &Engine,
    ast: &AST,
    scope: &mut Scope,
    name: &str,
    args: impl rhai::FuncArgs,
) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
    engine.call_fn_with_options(options, scope, ast, name, args)
}

pub fn run(body: &str, signed: &str) {
    let per_state = common::rss_per_state(100, || new_state(true));
    println!("rhai.rss_per_state {per_state}");

    let (engine, ast) = new_state(false);
    let mut scope = Scope::new();
    let trivial = common::median_ns(|| {
        call(&engine, &ast, &mut scope, "ok", (200_i64,))
            .expect("ok call")
            .as_bool()
            .expect("bool")
    });
    println!("rhai.call_trivial_ns {trivial:.1}");
    let copy = common::median_ns(|| {
        let b = ImmutableString::from(body);
        call(&engine, &ast, &mut scope, "check", (200_i64, b))
            .expect("check call")
            .as_bool()
            .expect("bool")
    });
    println!("rhai.check_copy_ns {copy:.1}");
    let reused_body = ImmutableString::from(body);
    let reused = common::median_ns(|| {
        call(
            &engine,
            &ast,
            &mut scope,
            "check",
            (200_i64, reused_body.clone()),
        )
        .expect("check call")
        .as_bool()
        .expect("bool")
    });
    println!("rhai.check_reused_ns {reused:.1}");

    let key = ImmutableString::from(std::str::from_utf8(KEY).unwrap());
    let hmac = common::median_ns(|| {
        let b = ImmutableString::from(signed);
        let hex = call(&engine, &ast, &mut scope, "sign", (key.clone(), b))
            .expect("sign call")
            .into_immutable_string()
            .expect("string");
        hex.len() == 64
    });
    println!("rhai.hmac_ns {hmac:.1}");
    let got = call(
        &engine,
        &ast,
        &mut scope,
        "sign",
        (key.clone(), ImmutableString::from(signed)),
    )
    .unwrap()
    .into_string()
    .unwrap();
    assert_eq!(got, common::hmac_sha256_hex(KEY, signed.as_bytes()));

    // Operation limit on against off, runs interleaved.
    let (budgeted, ast_b) = new_state(true);
    let mut scope_b = Scope::new();
    let (off, on) = common::median_ns_paired(
        || {
            let b = ImmutableString::from(body);
            call(&engine, &ast, &mut scope, "check", (200_i64, b))
                .expect("check call")
                .as_bool()
                .expect("bool")
        },
        || {
            let b = ImmutableString::from(body);
            call(&budgeted, &ast_b, &mut scope_b, "check", (200_i64, b))
                .expect("check call")
                .as_bool()
                .expect("bool")
        },
    );
    println!("rhai.check_copy_unhooked_ns {off:.1}");
    println!("rhai.check_copy_hooked_ns {on:.1}");

    sandbox(&budgeted);
    infinite_loop();
}

fn sandbox(engine: &Engine) {
    // Engine::new() resolves `import` from files: a module on disk is read.
    let dir = std::env::temp_dir().join(format!("scripting-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("secret.rhai");
    std::fs::write(&file, "export const SECRET = \"from disk\";").expect("write module");
    let stem = file.with_extension("");
    let code = format!("import \"{}\" as m; m::SECRET", stem.display());
    let by_default = Engine::new().eval::<String>(&code);
    println!("# rhai: Engine::new() import of a file -> {by_default:?}");
    let err = engine
        .eval::<String>(&code)
        .expect_err("no resolver: no files");
    println!("# rhai sandbox: import of the same file -> {err}");
    let _ = std::fs::remove_dir_all(&dir);
    for (what, code) in [
        ("io.open", r#"io.open("/etc/passwd")"#),
        ("open", r#"open("/etc/passwd")"#),
        ("import", r#"import "/etc/passwd" as m;"#),
        ("eval", r#"eval("1")"#),
    ] {
        let err = engine.run(code).expect_err("the sandbox must refuse");
        println!("# rhai sandbox: {what} -> {err}");
    }
    println!("rhai.sandbox_io_open_fails true");
}

fn infinite_loop() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (engine, ast) = new_state(true);
        let mut scope = Scope::new();
        let t = Instant::now();
        let r = call(&engine, &ast, &mut scope, "spin", ()).map(|_| ());
        let _ = tx.send((t.elapsed(), r.map_err(|e| e.to_string())));
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok((took, Err(e))) => {
            println!("# rhai: infinite loop stopped after {took:?}: {e}");
            println!("rhai.loop_stop_ms {:.2}", took.as_secs_f64() * 1e3);
        }
        Ok((took, Ok(()))) => println!("# rhai: spin returned after {took:?}?"),
        Err(_) => {
            println!("# rhai: infinite loop NOT stopped within 5 s");
            println!("rhai.loop_stop_ms never");
            std::process::exit(0);
        }
    }
}
