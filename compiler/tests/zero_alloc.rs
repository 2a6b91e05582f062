//! Steady state allocates nothing: interpolating a URL, headers and a body for 10,000
//! iterations of a compiled scenario makes zero heap allocations.
//!
//! The counting allocator counts only on the thread that switched counting on, and
//! per thread, so neither the harness's threads nor the other test disturb a count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use kaioken_compiler::{ConfigFile, Input, compile, lower};
use kaioken_vm::{Host, Program, VuState, Yield};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Per thread, so the two tests, run in parallel, never see each other's counts.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the thread-locals may be gone while a thread exits.
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // `try_with`: the thread-locals may be gone while a thread exits.
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A clock that moves, so `${TIMESTAMP_MS}` grows as it would in a real run.
struct Ticking(u64);
impl Host for Ticking {
    fn unix_ms(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    fn checked(&mut self, _: kaioken_vm::CheckId, _: bool) {}
    fn extracted(&mut self, _: kaioken_vm::ExtractorId, _: bool) {}
}

/// Run `warm` iterations of `program` for `vu`, every response `response`, so its
/// buffers and slots grow to their working size; then assert that 10,000 more
/// allocate nothing on the heap. The requests sent in all.
fn steady_state(
    program: &Program,
    vu: &mut VuState,
    host: &mut Ticking,
    response: &Fixed,
    warm: usize,
) -> u64 {
    let mut sends = 0u64;
    let mut run = |n: usize| {
        for _ in 0..n {
            let mut next = program.resume(vu, host);
            while let Yield::Send(_) = next {
                sends += 1;
                next = program.resume_with(vu, host, response);
            }
        }
    };
    run(warm);
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    run(10_000);
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        ALLOCATIONS.with(Cell::get) - before,
        0,
        "heap allocations in 10,000 steady-state iterations"
    );
    sends
}

#[test]
fn interpolation_allocates_nothing_per_iteration() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/api-post.toml"
    ))
    .unwrap();
    let input = Input {
        config: Some(ConfigFile {
            name: "api-post.toml".into(),
            text,
        }),
        ..Input::default()
    };
    let program = compile(&lower(&input).unwrap()).unwrap();
    assert!(
        program.buf_count >= 3,
        "the scenario interpolates URL, header and body"
    );
    let mut vu = program.create_vu_state(1);
    let mut host = Ticking(1_700_000_000_000);
    let response = Fixed(br#"{"id": 1}"#);
    // Warm up past the widest value the measured loop reaches: iteration numbers
    // get longer digits later.
    let sends = steady_state(&program, &mut vu, &mut host, &response, 100_000);
    assert_eq!(sends, 110_000);

    // The counter itself works: one deliberate allocation is seen.
    COUNTING.with(|c| c.set(true));
    let probe = std::hint::black_box(Vec::<u8>::with_capacity(16));
    COUNTING.with(|c| c.set(false));
    drop(probe);
    assert_eq!(ALLOCATIONS.with(Cell::get), 1);
}

/// The same for a chained scenario: weighted picks, extracted values, `${UUID}` and
/// `${RANDOM}` all interpolate without allocating once the VU's buffers and slots
/// have grown.
#[test]
fn chaining_and_random_builtins_allocate_nothing_per_iteration() {
    let text = r#"
        [target]
        url = "http://127.0.0.1:8080"

        [[scenarios]]
        weight = 2
        [[scenarios.steps]]
        url = "/login?n=${RANDOM(1,1000000)}"
        extract = { token = "json:$.token" }
        [[scenarios.steps]]
        url = "/items/${UUID}?t=${URLENCODE(token)}&raw=${token}"
        headers = { "authorization" = "Bearer ${token}" }
        body = '{"token": "${token}", "vu": ${VU}}'

        [[scenarios]]
        [[scenarios.steps]]
        url = "/health?i=${ITERATION}"
    "#;
    let input = Input {
        config: Some(ConfigFile {
            name: "chain.toml".into(),
            text: text.into(),
        }),
        ..Input::default()
    };
    let program = compile(&lower(&input).unwrap()).unwrap();
    assert_eq!(program.picks.len(), 1);
    assert_eq!(program.slot_count, 1);
    let slot = program.extractors[0].slot;
    let mut vu = program.create_vu_state(3);
    let mut host = Ticking(0);
    // What an extractor would have written after the login response.
    vu.slot_mut(slot)
        .extend_from_slice(b"eyJhbGciOiJIUzI1NiJ9.pay+load/signature==");
    // The login's response: the VM's extractor writes the token into its slot.
    let response = Fixed(br#"{"token": "eyJhbGciOiJIUzI1NiJ9.pay+load/signature=="}"#);
    let sends = steady_state(&program, &mut vu, &mut host, &response, 100_000);
    // Both scenarios ran: two-step iterations and one-step ones.
    assert!(sends > 110_000 && sends < 220_000, "{sends}");
}

/// A response of fixed bytes, as extractors see one.
struct Fixed(&'static [u8]);
impl kaioken_vm::ResponseView for Fixed {
    fn completed(&self) -> bool {
        true
    }
    fn status(&self) -> u16 {
        200
    }
    fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_millis(1)
    }
    fn body(&self) -> &[u8] {
        self.0
    }
    fn header(&self, _: &[u8]) -> Option<&[u8]> {
        None
    }
}

/// JSONPaths of names and indexes take the direct route, which never builds a tree:
/// at most serde_json's one small scratch buffer (for skipping nested containers and
/// unescaping strings) per walk, where a parsed tree costs an allocation per string,
/// array and object in the body.
#[test]
fn direct_json_extraction_allocates_no_tree() {
    let text = r#"
        [target]
        url = "http://127.0.0.1:8080"
        [[scenarios]]
        [[scenarios.steps]]
        url = "/login"
        extract = { token = "json:$.data.token", id = "json:$.items[1].id", note = "json:$.items[1].note", any = "json:$..note" }
    "#;
    let input = Input {
        config: Some(ConfigFile {
            name: "extract.toml".into(),
            text: text.into(),
        }),
        ..Input::default()
    };
    let program = compile(&lower(&input).unwrap()).unwrap();
    let body = Fixed(
        br#"{"meta": {"page": 1, "tags": ["a", "b"]}, "data": {"user": {"id": 48213},
            "token": "eyJhbGciOiJIUzI1NiJ9.payload.signature"},
            "items": [{"id": 7, "note": "x"}, {"id": 123456789, "note": "caf\u00e9 \"quoted\""}]}"#,
    );
    let mut vu = program.create_vu_state(1);
    let mut per_extraction = std::collections::BTreeMap::new();
    for x in &program.extractors {
        for _ in 0..100 {
            assert!(x.extract(&body, vu.slot_mut(x.slot)));
        }
        let before = ALLOCATIONS.with(Cell::get);
        COUNTING.with(|c| c.set(true));
        for _ in 0..1_000 {
            x.extract(&body, vu.slot_mut(x.slot));
        }
        COUNTING.with(|c| c.set(false));
        let n = (ALLOCATIONS.with(Cell::get) - before) as f64 / 1_000.0;
        per_extraction.insert(x.var.as_str(), n);
    }
    // One scratch buffer per deserializer: one walk, and one more to unescape.
    assert!(per_extraction["token"] <= 1.0, "{per_extraction:?}");
    assert!(per_extraction["id"] <= 1.0, "{per_extraction:?}");
    assert!(per_extraction["note"] <= 3.0, "{per_extraction:?}");
    // `$..note` is jsonpath-rust's, over a parsed tree.
    assert!(per_extraction["any"] >= 10.0, "{per_extraction:?}");
    let slot = |var: &str| {
        let x = program.extractors.iter().find(|x| x.var == var).unwrap();
        String::from_utf8(vu.slot(x.slot).to_vec()).unwrap()
    };
    assert_eq!(slot("token"), "eyJhbGciOiJIUzI1NiJ9.payload.signature");
    assert_eq!(slot("id"), "123456789");
    assert_eq!(slot("note"), "café \"quoted\"");
}

/// Reading data sources allocates nothing either: `data.row` picks a row (a shared
/// atomic cursor, a random draw, the VU's own row) and `buf.data` copies cells
/// into buffers that have grown, for each strategy at once.
#[test]
fn data_sources_allocate_nothing_per_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("name,password\n");
    for i in 0..1000 {
        csv.push_str(&format!("\"user {i}\",\"p,{i}\"\n"));
    }
    std::fs::write(dir.path().join("users.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("ids.json"),
        r#"[{"id": 1, "tag": "a b"}, {"id": 22, "tag": "c"}, {"id": 333, "tag": "d/e"}]"#,
    )
    .unwrap();
    let text = r#"
        [target]
        url = "http://127.0.0.1:8080/u/${users.name}?p=${users.password}&id=${ids.id}"

        [request]
        headers = { "x-tag" = "${ids.tag}", "x-me" = "${me.name}" }
        body = '{"name": "${users.name}", "id": ${ids.id}}'

        [[data]]
        name = "users"
        file = "users.csv"

        [[data]]
        name = "ids"
        file = "ids.json"
        strategy = "random"

        [[data]]
        name = "me"
        file = "users.csv"
        strategy = "unique"

        [load]
        vus = 4
    "#;
    let input = Input {
        config: Some(ConfigFile {
            name: dir.path().join("data.toml").display().to_string(),
            text: text.into(),
        }),
        ..Input::default()
    };
    let program = compile(&lower(&input).unwrap()).unwrap();
    assert_eq!(program.data.len(), 3);
    let mut vu = program.create_vu_state(2);
    let mut host = Ticking(0);
    let response = Fixed(b"ok");
    let sends = steady_state(&program, &mut vu, &mut host, &response, 5_000);
    assert_eq!(sends, 15_000);
    // The sequential source went round 15 times, from the one cursor.
    assert_eq!(program.data[0].consumed(), 1000);
}
