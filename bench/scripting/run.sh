#!/usr/bin/env bash
# Scripting-engine prototype: build the bench once per engine (a cargo feature
# each: lua54, luajit, rhai, wasmi, and none for the engine-free baseline), run
# each pinned to one CPU, and print one table. See BENCHMARKS.md, "Scripting
# engine (plugins)", for what each column measures.
#
# Usage: bench/scripting/run.sh [--cold]
#   --cold  time a cold `cargo build --release` of each feature in its own empty
#           target dir (the build-time column; a few minutes on 2 cores). Without
#           it the builds are incremental and the column is blank.
# Env knobs: ENGINES ("lua54 luajit rhai wasmi"), CARGO_TARGET_DIR (target),
# CARGO_LOCK (/tmp/cargo.lock: every build runs under `flock` on it, so one build
# at a time on a shared machine), BENCH_CPU (0; empty to not pin).
# Raw output: bench/results/<time>-scripting-<engine>.txt (gitignored).
set -euo pipefail

COLD=0
[[ ${1:-} == --cold ]] && COLD=1
ENGINES=${ENGINES:-lua54 luajit rhai wasmi}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGET=${CARGO_TARGET_DIR:-$HERE/target}
LOCK=${CARGO_LOCK:-/tmp/cargo.lock}
CPU=${BENCH_CPU-0}
RESULTS=$HERE/../results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS" "$TARGET"
cd "$HERE"

flock "$LOCK" cargo fetch --locked >/dev/null

# build FEATURE: leaves the binary at $TARGET/scripting-bench-FEATURE and, with
# --cold, the build's wall-clock seconds in $RESULTS/$STAMP-scripting-FEATURE.build
build() {
    local feat=$1 dir=$TARGET args=(build --release --locked --offline --quiet)
    [[ $feat != none ]] && args+=(--features "$feat")
    if ((COLD)); then
        dir=$TARGET/cold-$feat
        rm -rf "$dir"
        # The clock starts once the lock is held: waiting for others is not build time.
        flock "$LOCK" bash -c 'start=$(date +%s.%N); cargo "${@:2}" --target-dir "$1"; end=$(date +%s.%N);
            echo "$end - $start" | bc' _ "$dir" "${args[@]}" >"$RESULTS/$STAMP-scripting-$feat.build"
    else
        flock "$LOCK" cargo "${args[@]}" --target-dir "$dir"
    fi
    cp "$dir/release/scripting-bench" "$TARGET/scripting-bench-$feat"
}

for feat in none $ENGINES; do
    echo "== $feat" >&2
    build "$feat"
    out=$RESULTS/$STAMP-scripting-$feat.txt
    if [[ -n $CPU ]]; then
        taskset -c "$CPU" "$TARGET/scripting-bench-$feat" >"$out"
    else
        "$TARGET/scripting-bench-$feat" >"$out"
    fi
    stat -c %s "$TARGET/scripting-bench-$feat" >"$RESULTS/$STAMP-scripting-$feat.size"
    grep '^#' "$out" >&2 || true
done

python3 - "$RESULTS" "$STAMP" none $ENGINES <<'EOF'
import sys
results, stamp, engines = sys.argv[1], sys.argv[2], sys.argv[3:]

def read(feat, ext):
    try:
        with open(f"{results}/{stamp}-scripting-{feat}.{ext}") as f:
            return f.read()
    except FileNotFoundError:
        return ""

def metrics(feat):
    m = {}
    for line in read(feat, "txt").splitlines():
        if line and not line.startswith("#"):
            key, value = line.split(None, 1)
            m[key.split(".", 1)[1] if "." in key else key] = value
    return m

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

base = metrics("none")
base_size = num(read("none", "size"))
base_build = num(read("none", "build"))
print(f"Rust floor: check {base['check_ns']} ns, HMAC {base['hmac_ns']} ns; "
      f"empty binary {base_size / 1024:.0f} KiB" + (f", built cold in {base_build:.0f} s" if base_build else ""))
cols = ["engine", "trivial call ns", "check ns (copy)", "check ns (reused)", "check ns (host find)",
        "check ns, budget off / on (paired)", "HMAC hook ns", "state bytes", "RSS/state bytes", "loop stopped ms",
        "io.open refused", "cold build s (Δ)", "stripped size KiB (Δ)"]
rows = []
for feat in engines[1:]:
    m = metrics(feat)
    size, build = num(read(feat, "size")), num(read(feat, "build"))
    rows.append([
        feat, m.get("call_trivial_ns", "-"), m.get("check_copy_ns", "-"), m.get("check_reused_ns", "-"),
        m.get("check_copy_hostfind_ns", "-"), f'{m.get("check_copy_unhooked_ns", "-")} / {m.get("check_copy_hooked_ns", "-")}', m.get("hmac_ns", "-"),
        m.get("state_bytes", "-"), m.get("rss_per_state", "-"), m.get("loop_stop_ms", "-"),
        m.get("sandbox_io_open_fails", "-"),
        f"{build:.0f} (+{build - base_build:.0f})" if build and base_build else "-",
        f"{size / 1024:.0f} (+{(size - base_size) / 1024:.0f})" if size and base_size else "-",
    ])
print("| " + " | ".join(cols) + " |")
print("|" + "|".join("---" for _ in cols) + "|")
for r in rows:
    print("| " + " | ".join(r) + " |")
EOF
