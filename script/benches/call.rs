//! The cost of one script call as kaioken makes it: the runner, its per-thread
//! state, the response table and the budget hook, for the check, extractor and
//! hook that BENCHMARKS.md ("Scripting engine") compares engines on.
//!
//! `cargo bench -p kaioken-script`: prints the median ns per call of 5 rounds of
//! 200,000 calls each, for each kind, beside a built-in check for scale.

use std::time::{Duration, Instant};

use kaioken_script::{Limits, Runner, ScriptDef};
use kaioken_vm::{
    Program, RequestSoFar, ResponseView, ScriptContext, ScriptId, ScriptRole, ScriptRunner,
};

const CALLS: u32 = 200_000;
const ROUNDS: usize = 5;

struct Resp {
    body: Vec<u8>,
}

impl ResponseView for Resp {
    fn completed(&self) -> bool {
        true
    }
    fn status(&self) -> u16 {
        200
    }
    fn duration(&self) -> Duration {
        Duration::from_millis(3)
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        name.eq_ignore_ascii_case(b"content-type")
            .then_some(b"application/json".as_slice())
    }
}

/// A 1 KiB order as an API returns it, its top-level `"id":` last (the search reads
/// the whole body), padded by a note: the body the engine comparison in
/// BENCHMARKS.md checks.
fn body() -> Vec<u8> {
    let items: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"{{"sku":"SKU-{i:05}","name":"Item number {i}","quantity":{i},"unit_price":{{"amount":{},"currency":"EUR"}}}}"#,
                1000 + i
            )
        })
        .collect();
    let head = format!(
        r#"{{"status":"confirmed","customer":{{"email":"ana@example.com","name":"Ana Silva"}},"items":[{}],"note":""#,
        items.join(",")
    );
    let tail = r#"","id":"ord_8f14e45fceea167a"}"#;
    let mut b = head;
    b.extend(std::iter::repeat_n('x', 1024 - b.len() - tail.len()));
    b.push_str(tail);
    b.into_bytes()
}

/// One measured call.
type Bench<'a> = Box<dyn FnMut() + 'a>;

fn median(mut f: Bench<'_>) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CALLS {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(CALLS)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn main() {
    // `BENCH_ONLY=find` runs the rows whose name holds `find` (to profile one).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let def = |name: &str, source: &str| ScriptDef {
        name: name.into(),
        source: source.into(),
        file: "bench.toml".into(),
        line: 1,
        flat: false,
    };
    let runner = Runner::new(
        vec![
            def(
                "check",
                r#"return r.status == 200 and r.body:find('"id":', 1, true) ~= nil
                   and r.headers["content-type"]:find("json", 1, true) ~= nil"#,
            ),
            def("extract", r#"return r.body:match('"id":"([^"]+)"')"#),
            def("sign", "return crypto.hmac_sha256('key', req.body)"),
            def("trivial", "return true"),
            def("status", "return r.status == 200"),
            def("header", r#"return r.headers["content-type"] ~= nil"#),
            def("find", r#"return r.body:find('"id":', 1, true) ~= nil"#),
        ],
        vec![
            (0, ScriptRole::Check),
            (1, ScriptRole::Extract),
            (2, ScriptRole::Value),
            (3, ScriptRole::Check),
            (4, ScriptRole::Check),
            (5, ScriptRole::Check),
            (6, ScriptRole::Check),
        ],
        Limits::default(),
    );
    let program = Program::default();
    let state = program.create_vu_state(1);
    let ctx = ScriptContext {
        program: &program,
        state: &state,
    };
    let r = Resp { body: body() };
    let signed = vec![b'x'; 256];
    let builtin = kaioken_vm::CheckExpr::And(vec![
        kaioken_vm::CheckExpr::Status(kaioken_vm::CmpOp::Eq, 200),
        kaioken_vm::CheckExpr::Text(
            None,
            kaioken_vm::TextTest::Contains(Box::new(
                memchr::memmem::Finder::new(b"\"id\":").into_owned(),
            )),
        ),
    ]);
    assert!(runner.check(ScriptId(0), ctx, &r));
    let (mut extracted, mut signature) = (Vec::with_capacity(64), Vec::with_capacity(128));
    let rows: Vec<(&str, Bench<'_>)> = vec![
        (
            "built-in check (status, body contains)",
            Box::new(|| {
                assert!(builtin.eval(&r));
            }),
        ),
        (
            "script: trivial check (`return true`)",
            Box::new(|| {
                assert!(runner.check(ScriptId(3), ctx, &r));
            }),
        ),
        (
            "script: `r.status == 200`",
            Box::new(|| {
                assert!(runner.check(ScriptId(4), ctx, &r));
            }),
        ),
        (
            "script: one header read",
            Box::new(|| {
                assert!(runner.check(ScriptId(5), ctx, &r));
            }),
        ),
        (
            "script: plain find in the 1 KiB body",
            Box::new(|| {
                assert!(runner.check(ScriptId(6), ctx, &r));
            }),
        ),
        (
            "script: check on a 1 KiB body",
            Box::new(|| {
                assert!(runner.check(ScriptId(0), ctx, &r));
            }),
        ),
        (
            "script: extractor (pattern match)",
            Box::new(|| {
                assert!(runner.extract(ScriptId(1), ctx, &r, &mut extracted));
            }),
        ),
        (
            "script: HMAC-SHA256 hook over 256 bytes",
            Box::new(|| {
                signature.clear();
                let request = RequestSoFar {
                    method: "POST",
                    path: Some(b"/post"),
                    body: Some(&signed),
                };
                runner.value(ScriptId(2), ctx, request, &mut signature);
            }),
        ),
    ];
    for (what, f) in rows {
        if !what.contains(only.as_str()) {
            continue;
        }
        let ns = median(f);
        println!("{what:<44} {ns:>8.0} ns/call");
    }
}
