//! Scripting engine prototype: what a plugin check, a signing hook, one
//! interpreter state and an instruction budget cost in each candidate engine.
//!
//! This sits outside kaioken's pipeline: it measures the candidates for the
//! `script:` checks, extractors and hooks of issue 18 so the choice rests on
//! numbers. Each engine is a cargo feature (`lua54`, `luajit`, `rhai`, `wasmi`)
//! and a build carries one of them; with none it measures only the engine-free
//! baselines (plain Rust check and HMAC), which also give the empty binary that
//! the size deltas are taken against. `run.sh` builds each, runs it and prints
//! the table. Output is one `key value` line per measurement, `#` lines are notes.

use std::hint::black_box;

mod common;
#[cfg(any(feature = "lua54", feature = "luajit"))]
mod lua;
#[cfg(feature = "rhai")]
mod rhai_engine;
#[cfg(feature = "wasmi")]
mod wasm;

fn main() {
    let body = common::body_1k();
    assert_eq!(body.len(), 1024, "the check body must be 1 KiB");
    let signed = common::body_256();
    assert_eq!(signed.len(), 256);

    // Engine-free references: the same check and HMAC written in Rust.
    let rust_check = common::median_ns(|| {
        common::rust_check(black_box(200), black_box(&body), &common::HEADERS)
    });
    println!("rust.check_ns {rust_check:.1}");
    let rust_hmac = common::median_ns(|| {
        common::hmac_sha256_hex(black_box(common::KEY), black_box(signed.as_bytes())).len() == 64
    });
    println!("rust.hmac_ns {rust_hmac:.1}");

    #[cfg(any(feature = "lua54", feature = "luajit"))]
    lua::run(&body, &signed);
    #[cfg(feature = "rhai")]
    rhai_engine::run(&body, &signed);
    #[cfg(feature = "wasmi")]
    wasm::run(&body, &signed);
}
