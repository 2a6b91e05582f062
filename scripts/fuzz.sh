#!/usr/bin/env bash
# Fuzz every target in fuzz/ for a bounded time and fail on any crash.
#
# Each target starts from its seed corpus in fuzz/corpus/<target>/ (read only: what
# the run finds goes to a temporary directory) and runs for FUZZ_SECONDS (default 20)
# seconds, with debug assertions on, so an arithmetic overflow is a crash too.
# Targets run side by side, FUZZ_JOBS at a time (default: one per CPU; a fuzzer
# uses one), so each still gets its whole time. A crash leaves its input in
# fuzz/artifacts/<target>/ and its log on stderr; every target still runs, and the
# script exits 1 at the end.
#
# Needs a nightly toolchain (FUZZ_TOOLCHAIN, default `nightly`) and cargo-fuzz,
# which it installs when missing (`--install` installs it and fuzzes nothing).
# Reproduce a crash with
#   cargo +nightly fuzz run -s none -a <target> fuzz/artifacts/<target>/<file>
set -euo pipefail

case "$*" in
  "" | --install) ;;
  *)
    echo "usage: scripts/fuzz.sh [--install]" >&2
    exit 1
    ;;
esac

cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
parallel="${FUZZ_JOBS:-$(nproc)}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
fuzz=(cargo "+$toolchain" fuzz)
# No sanitizer: the targets are safe Rust, and it builds and runs faster without.
flags=(--sanitizer none --debug-assertions)

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "error: fuzzing needs the $toolchain toolchain (rustup toolchain install $toolchain)" >&2
  exit 1
fi
if ! "${fuzz[@]}" --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  # Unoptimized: it only runs cargo, and compiles in half the time.
  cargo install cargo-fuzz --debug --locked
fi
"${fuzz[@]}" --version
if [[ "${1:-}" == --install ]]; then
  exit 0
fi

mapfile -t targets < <("${fuzz[@]}" list)
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "error: cargo fuzz list found no fuzz target" >&2
  exit 1
fi

echo "==> building ${#targets[@]} fuzz targets"
"${fuzz[@]}" build "${flags[@]}"

for target in "${targets[@]}"; do
  if [[ ! -d "fuzz/corpus/$target" ]]; then
    echo "error: fuzz target $target has no seed corpus in fuzz/corpus/$target" >&2
    exit 1
  fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Fuzz one target; its exit status goes to $work/<target>.status.
fuzz_one() {
  local target=$1 status=0
  mkdir -p "$work/$target"
  "${fuzz[@]}" run "${flags[@]}" "$target" "$work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    >"$work/$target.log" 2>&1 || status=$?
  echo "$status" >"$work/$target.status"
}

echo "==> fuzzing ${#targets[@]} targets for ${seconds}s each, $parallel at a time"
for target in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do
    wait -n || true
  done
  fuzz_one "$target" &
done
wait

crashed=()
for target in "${targets[@]}"; do
  # No status at all (the job itself was killed) counts as a crash too.
  if [[ "$(cat "$work/$target.status" 2>/dev/null)" == 0 ]]; then
    echo "$target: $(grep -a '^Done [0-9]* runs' "$work/$target.log" || echo 'no summary')"
  else
    tail -n 80 "$work/$target.log" >&2
    echo "error: fuzz target $target crashed; its input is in fuzz/artifacts/$target/" >&2
    crashed+=("$target")
  fi
done

if [[ ${#crashed[@]} -gt 0 ]]; then
  echo "error: ${#crashed[@]} of ${#targets[@]} fuzz targets crashed: ${crashed[*]}" >&2
  exit 1
fi
echo "fuzzed ${#targets[@]} targets for ${seconds}s each: no crash"
