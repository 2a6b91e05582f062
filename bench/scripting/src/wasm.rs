//! wasmi 2.0: a WebAssembly interpreter; one `Store` + `Instance` per worker
//! thread, the compiled `Module` shared. The guest reaches only what the host
//! links, so the sandbox is the import list.
//!
//! The check is hand-written WAT: a guest in any language would be compiled to
//! this by the user's own wasm toolchain (and bring its own substring search
//! and allocator); WAT keeps the module minimal so the engine is what is measured.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmi::{Caller, Config, Engine, Linker, Memory, Module, Store, TypedFunc};

use crate::common::{self, HEADERS, KEY};

/// Memory layout: the WAT's constants at 0..64, the header value at 64..320,
/// the HMAC output at 512..576, the key at 768, the body at 1024.
const KEY_AT: usize = 768;
const BODY_AT: usize = 1024;

const WAT: &str = r#"
(module
  ;; header(name_ptr, name_len, out_ptr, out_cap) -> value length, or -1
  (import "env" "header" (func $header (param i32 i32 i32 i32) (result i32)))
  ;; hmac_sha256_hex(key_ptr, key_len, msg_ptr, msg_len, out_ptr): 64 bytes at out_ptr
  (import "env" "hmac_sha256_hex" (func $hmac (param i32 i32 i32 i32 i32)))
  ;; contains(hay_ptr, hay_len, needle_ptr, needle_len) -> 0/1, the host's memmem
  (import "env" "contains" (func $host_contains (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "content-type")
  (data (i32.const 16) "\"id\":")
  (data (i32.const 32) "json")

  ;; naive substring search: 1 if needle occurs in haystack
  (func $contains (param $h i32) (param $hl i32) (param $n i32) (param $nl i32) (result i32)
    (local $i i32) (local $j i32) (local $end i32)
    (if (i32.gt_u (local.get $nl) (local.get $hl)) (then (return (i32.const 0))))
    (local.set $end (i32.sub (local.get $hl) (local.get $nl)))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (local.get $i) (local.get $end)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (if (i32.eq (local.get $j) (local.get $nl)) (then (return (i32.const 1))))
            (br_if $mismatch
              (i32.ne
                (i32.load8_u (i32.add (local.get $h) (i32.add (local.get $i) (local.get $j))))
                (i32.load8_u (i32.add (local.get $n) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))

  (func (export "check") (param $status i32) (param $body i32) (param $len i32) (result i32)
    (local $hl i32)
    (if (i32.ne (local.get $status) (i32.const 200)) (then (return (i32.const 0))))
    (if (i32.eqz (call $contains (local.get $body) (local.get $len) (i32.const 16) (i32.const 5)))
      (then (return (i32.const 0))))
    (local.set $hl (call $header (i32.const 0) (i32.const 12) (i32.const 64) (i32.const 256)))
    (if (i32.lt_s (local.get $hl) (i32.const 0)) (then (return (i32.const 0))))
    (call $contains (i32.const 64) (local.get $hl) (i32.const 32) (i32.const 4)))

  ;; the same check with the host's substring search
  (func (export "check_host") (param $status i32) (param $body i32) (param $len i32) (result i32)
    (local $hl i32)
    (if (i32.ne (local.get $status) (i32.const 200)) (then (return (i32.const 0))))
    (if (i32.eqz (call $host_contains (local.get $body) (local.get $len) (i32.const 16) (i32.const 5)))
      (then (return (i32.const 0))))
    (local.set $hl (call $header (i32.const 0) (i32.const 12) (i32.const 64) (i32.const 256)))
    (if (i32.lt_s (local.get $hl) (i32.const 0)) (then (return (i32.const 0))))
    (call $host_contains (i32.const 64) (local.get $hl) (i32.const 32) (i32.const 4)))

  (func (export "sign") (param $key i32) (param $kl i32) (param $body i32) (param $len i32) (result i32)
    (call $hmac (local.get $key) (local.get $kl) (local.get $body) (local.get $len) (i32.const 512))
    (i32.const 512))

  (func (export "ok") (param $status i32) (result i32)
    (i32.eq (local.get $status) (i32.const 200)))

  (func (export "spin")
    (loop $forever (br $forever)))
)
"#;

/// A guest that asks for WASI's `path_open`: the host links no such thing.
const WAT_FS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1))
"#;

/// Fuel a call may burn when the budget is on (about one unit per instruction).
const FUEL: u64 = 1_000_000;

/// What the host functions see: the guest's memory, set after instantiation.
struct Host {
    memory: Option<Memory>,
}

struct State {
    store: Store<Host>,
    memory: Memory,
    check: TypedFunc<(i32, i32, i32), i32>,
    check_host: TypedFunc<(i32, i32, i32), i32>,
    sign: TypedFunc<(i32, i32, i32, i32), i32>,
    ok: TypedFunc<i32, i32>,
    spin: TypedFunc<(), ()>,
}

fn linker(engine: &Engine) -> Linker<Host> {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(
            "env",
            "header",
            |mut caller: Caller<'_, Host>, name: i32, len: i32, out: i32, cap: i32| -> i32 {
                let memory = caller.data().memory.expect("memory set");
                let data = memory.data_mut(&mut caller);
                let (name, out, cap) = (name as usize, out as usize, cap as usize);
                let value = match data.get(name..name + len as usize) {
                    Some(n) => common::header(&HEADERS, n),
                    None => None,
                };
                match value {
                    Some(v) if v.len() <= cap => {
                        data[out..out + v.len()].copy_from_slice(v.as_bytes());
                        v.len() as i32
                    }
                    _ => -1,
                }
            },
        )
        .expect("link header");
    linker
        .func_wrap(
            "env",
            "contains",
            |caller: Caller<'_, Host>, h: i32, hl: i32, n: i32, nl: i32| -> i32 {
                let memory = caller.data().memory.expect("memory set");
                let data = memory.data(&caller);
                let (h, n) = (h as usize, n as usize);
                let hay = &data[h..h + hl as usize];
                let needle = &data[n..n + nl as usize];
                i32::from(common::contains_bytes(hay, needle))
            },
        )
        .expect("link contains");
    linker
        .func_wrap(
            "env",
            "hmac_sha256_hex",
            |mut caller: Caller<'_, Host>, key: i32, kl: i32, msg: i32, ml: i32, out: i32| {
                let memory = caller.data().memory.expect("memory set");
                let data = memory.data_mut(&mut caller);
                let (key, msg, out) = (key as usize, msg as usize, out as usize);
                let hex = common::hmac_sha256_hex(
                    &data[key..key + kl as usize],
                    &data[msg..msg + ml as usize],
                );
                data[out..out + 64].copy_from_slice(hex.as_bytes());
            },
        )
        .expect("link hmac");
    linker
}

fn new_state(engine: &Engine, module: &Module, linker: &Linker<Host>) -> State {
    let mut store = Store::new(engine, Host { memory: None });
    let instance = linker
        .instantiate_and_start(&mut store, module)
        .expect("instantiate");
    let memory = instance.get_memory(&store, "memory").expect("memory");
    store.data_mut().memory = Some(memory);
    let check = instance.get_typed_func(&store, "check").expect("check");
    let check_host = instance
        .get_typed_func(&store, "check_host")
        .expect("check_host");
    let sign = instance.get_typed_func(&store, "sign").expect("sign");
    let ok = instance.get_typed_func(&store, "ok").expect("ok");
    let spin = instance.get_typed_func(&store, "spin").expect("spin");
    State {
        store,
        memory,
        check,
        check_host,
        sign,
        ok,
        spin,
    }
}

fn engine(fuel: bool) -> Engine {
    let mut config = Config::default();
    config.consume_fuel(fuel);
    Engine::new(&config)
}

/// Fills the tank before a call when fuel is on (a no-op otherwise).
fn refuel(s: &mut State, fuel: bool) {
    if fuel {
        s.store.set_fuel(FUEL).expect("fuel enabled");
    }
}

pub fn run(body: &str, signed: &str) {
    let t = Instant::now();
    let plain = engine(false);
    let module = Module::new(&plain, WAT).expect("compile module");
    println!("# wasmi: WAT parsed and compiled in {:?}", t.elapsed());
    let link = linker(&plain);
    let per_state = common::rss_per_state(100, || new_state(&plain, &module, &link));
    println!("wasmi.rss_per_state {per_state}");
    println!("# wasmi: linear memory per state: 1 page = 65536 bytes (zeroed, touched on write)");

    let mut s = new_state(&plain, &module, &link);
    measure_check(&mut s, body);

    // The signing hook: key and body copied in, hex copied out.
    let memory = s.memory;
    memory.write(&mut s.store, KEY_AT, KEY).unwrap();
    let hmac = common::median_ns(|| {
        memory
            .write(&mut s.store, BODY_AT, signed.as_bytes())
            .unwrap();
        let args = (
            KEY_AT as i32,
            KEY.len() as i32,
            BODY_AT as i32,
            signed.len() as i32,
        );
        let out = s.sign.call(&mut s.store, args).expect("sign call") as usize;
        let hex = std::str::from_utf8(&memory.data(&s.store)[out..out + 64])
            .expect("hex is utf-8")
            .to_owned();
        hex.len() == 64
    });
    println!("wasmi.hmac_ns {hmac:.1}");
    let out = s
        .sign
        .call(
            &mut s.store,
            (
                KEY_AT as i32,
                KEY.len() as i32,
                BODY_AT as i32,
                signed.len() as i32,
            ),
        )
        .unwrap() as usize;
    assert_eq!(
        &memory.data(&s.store)[out..out + 64],
        common::hmac_sha256_hex(KEY, signed.as_bytes()).as_bytes()
    );

    // Fuel on: a separate engine (fuel is an engine setting), tank refilled per call.
    let fueled = engine(true);
    let module_f = Module::new(&fueled, WAT).expect("compile module");
    let link_f = linker(&fueled);
    let mut f = new_state(&fueled, &module_f, &link_f);
    let (off, on) = common::median_ns_paired(
        || copy_check(&mut s, body, false),
        || copy_check(&mut f, body, true),
    );
    println!("wasmi.check_copy_unhooked_ns {off:.1}");
    println!("wasmi.check_copy_hooked_ns {on:.1}");

    // Sandbox: a guest asking for WASI file access does not instantiate.
    let fs = Module::new(&plain, WAT_FS).expect("compile fs module");
    let mut store = Store::new(&plain, Host { memory: None });
    match link.instantiate_and_start(&mut store, &fs) {
        Ok(_) => println!("# wasmi sandbox: path_open import linked?"),
        Err(e) => {
            println!("# wasmi sandbox: import of wasi path_open -> {e}");
            println!("wasmi.sandbox_io_open_fails true");
        }
    }

    infinite_loop(fueled, module_f, link_f);
}

/// The check with the body copied into linear memory first.
fn copy_check(s: &mut State, body: &str, fuel: bool) -> bool {
    refuel(s, fuel);
    s.memory
        .write(&mut s.store, BODY_AT, body.as_bytes())
        .unwrap();
    s.check
        .call(&mut s.store, (200, BODY_AT as i32, body.len() as i32))
        .expect("check call")
        == 1
}

/// Trivial call, then the check with the body copied into linear memory per
/// call (copy), left there (reused), and with the host's substring search.
fn measure_check(s: &mut State, body: &str) {
    let memory = s.memory;
    let trivial = common::median_ns(|| s.ok.call(&mut s.store, 200).expect("ok call") == 1);
    println!("wasmi.call_trivial_ns {trivial:.1}");
    let copy = common::median_ns(|| copy_check(s, body, false));
    println!("wasmi.check_copy_ns {copy:.1}");
    let reused = common::median_ns(|| {
        s.check
            .call(&mut s.store, (200, BODY_AT as i32, body.len() as i32))
            .expect("check call")
            == 1
    });
    println!("wasmi.check_reused_ns {reused:.1}");
    let host = common::median_ns(|| {
        memory
            .write(&mut s.store, BODY_AT, body.as_bytes())
            .unwrap();
        s.check_host
            .call(&mut s.store, (200, BODY_AT as i32, body.len() as i32))
            .expect("check call")
            == 1
    });
    println!("wasmi.check_copy_hostfind_ns {host:.1}");
}

fn infinite_loop(engine: Engine, module: Module, link: Linker<Host>) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = new_state(&engine, &module, &link);
        s.store.set_fuel(FUEL).unwrap();
        let t = Instant::now();
        let r = s.spin.call(&mut s.store, ());
        let _ = tx.send((t.elapsed(), r.map_err(|e| e.to_string())));
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok((took, Err(e))) => {
            println!("# wasmi: infinite loop stopped after {took:?}: {e}");
            println!("wasmi.loop_stop_ms {:.2}", took.as_secs_f64() * 1e3);
        }
        Ok((took, Ok(()))) => println!("# wasmi: spin returned after {took:?}?"),
        Err(_) => {
            println!("# wasmi: infinite loop NOT stopped within 5 s");
            println!("wasmi.loop_stop_ms never");
            std::process::exit(0);
        }
    }
}
