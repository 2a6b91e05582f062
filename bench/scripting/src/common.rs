//! What every engine shares: the fixed 1 KiB response body, its headers, the
//! HMAC host function, the timing loop and the RSS probe.
// The engine-free build uses none of the RSS helpers.
#![cfg_attr(
    not(any(
        feature = "lua54",
        feature = "luajit",
        feature = "rhai",
        feature = "wasmi"
    )),
    allow(dead_code)
)]

use std::hint::black_box;
use std::time::Instant;

/// Calls per timed run and timed runs per measurement (plus one warm-up run).
pub const CALLS: u32 = 200_000;
pub const RUNS: usize = 5;

/// The signing key every hook gets (32 bytes, as an HMAC-SHA256 key should be).
pub const KEY: &[u8] = b"k6-kaioken-signing-key-32-bytes!";

/// The response's headers, as the check's `header(name)` host function sees them.
pub const HEADERS: [(&str, &str); 6] = [
    ("Server", "nginx/1.22.1"),
    ("Date", "Tue, 01 Dec 2026 00:00:00 GMT"),
    ("Content-Type", "application/json; charset=utf-8"),
    ("Content-Length", "1024"),
    ("Connection", "keep-alive"),
    ("X-Request-Id", "5f1c2a9e-8d3b-4c1e-9a7f-2b6d0e4c8a13"),
];

/// A realistic order as an API returns it, padded to exactly 1024 bytes. Its
/// top-level `"id":` comes last, so `contains("\"id\":")` reads the whole body
/// (the line items have `sku`, not `id`): the check's worst case.
pub fn body_1k() -> String {
    let mut items = String::new();
    for (i, (sku, name, qty, cents)) in [
        ("SKU-10441", "Espresso beans, 1 kg", 2, 2490),
        ("SKU-20817", "Ceramic pour-over dripper", 1, 3200),
        ("SKU-33012", "Paper filters, 100 pack", 3, 650),
        ("SKU-47730", "Burr grinder, manual", 1, 8900),
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            items.push(',');
        }
        items.push_str(&format!(
            r#"{{"sku":"{sku}","name":"{name}","quantity":{qty},"unit_price":{{"amount":{cents},"currency":"EUR"}}}}"#
        ));
    }
    let head = format!(
        r#"{{"status":"confirmed","created_at":"2026-12-01T00:00:00Z","customer":{{"email":"ana.silva@example.com","name":"Ana Silva","tier":"gold"}},"shipping":{{"street":"Rua Augusta 100","city":"Lisboa","postcode":"1100-053","country":"PT","method":"express"}},"items":[{items}],"total":{{"amount":25560,"currency":"EUR"}},"note":""#
    );
    let tail = r#"","id":"ord_8f14e45fceea167a"}"#;
    let pad = 1024 - head.len() - tail.len();
    let mut body = head;
    body.extend(std::iter::repeat_n('x', pad));
    body.push_str(tail);
    body
}

/// The 256-byte body the signing hook signs.
pub fn body_256() -> String {
    let mut s =
        String::from(r#"{"order":"ord_8f14e45fceea167a","amount":25560,"currency":"EUR","note":""#);
    let tail = r#""}"#;
    let pad = 256 - s.len() - tail.len();
    s.extend(std::iter::repeat_n('y', pad));
    s.push_str(tail);
    s
}

/// Case-insensitive header lookup, the host side of every engine's `header(name)`.
pub fn header<'h>(headers: &'h [(&str, &str)], name: &[u8]) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Substring search on bytes: `str::contains` (two-way, vectorised) when both
/// are UTF-8, a plain window scan otherwise.
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    match (std::str::from_utf8(hay), std::str::from_utf8(needle)) {
        (Ok(h), Ok(n)) => h.contains(n),
        _ => needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle),
    }
}

/// The check, written in Rust: the floor the engines are compared with.
pub fn rust_check(status: u16, body: &str, headers: &[(&str, &str)]) -> bool {
    status == 200
        && contains_bytes(body.as_bytes(), b"\"id\":")
        && header(headers, b"content-type").is_some_and(|v| v.contains("json"))
}

/// Hex HMAC-SHA256 with `ring`, the host function every engine's hook calls.
pub fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, msg);
    let mut out = String::with_capacity(64);
    for b in tag.as_ref() {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Median over `RUNS` timed runs of `CALLS` calls each, in ns per call. Every
/// call must return true: a check that fails would measure an early exit.
pub fn median_ns(mut f: impl FnMut() -> bool) -> f64 {
    for _ in 0..CALLS / 10 {
        assert!(f(), "the measured call must pass");
    }
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..CALLS {
                if !black_box(f()) {
                    panic!("the measured call must pass");
                }
            }
            t.elapsed().as_nanos() as f64 / f64::from(CALLS)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

/// Like [`median_ns`] for two variants, their timed runs interleaved (a, b,
/// a, b, ...) so that the machine's slow spells hit both alike: for an
/// overhead (b against a) measured on a noisy machine.
pub fn median_ns_paired(mut a: impl FnMut() -> bool, mut b: impl FnMut() -> bool) -> (f64, f64) {
    for _ in 0..CALLS / 10 {
        assert!(a() && b(), "the measured calls must pass");
    }
    let time = |f: &mut dyn FnMut() -> bool| {
        let t = Instant::now();
        for _ in 0..CALLS {
            if !black_box(f()) {
                panic!("the measured call must pass");
            }
        }
        t.elapsed().as_nanos() as f64 / f64::from(CALLS)
    };
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ra.push(time(&mut a));
        rb.push(time(&mut b));
    }
    ra.sort_by(f64::total_cmp);
    rb.sort_by(f64::total_cmp);
    (ra[RUNS / 2], rb[RUNS / 2])
}

/// Resident set size of this process in bytes (`/proc/self/statm`, 4 KiB pages).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm's second field is the resident page count");
    pages * 4096
}

/// Bytes of RSS each of `n` states adds: creates them all, keeps them alive
/// while measuring, and reports (after - before) / n.
pub fn rss_per_state<S>(n: usize, mut make: impl FnMut() -> S) -> usize {
    let before = rss_bytes();
    let states: Vec<S> = (0..n).map(|_| make()).collect();
    let after = rss_bytes();
    drop(black_box(states));
    after.saturating_sub(before) / n
}
