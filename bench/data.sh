#!/usr/bin/env bash
# Peak memory of loading a large data source (`--data`): generates a CSV of
# SIZE_MIB mebibytes (default 1024) with three columns, one quoted, then runs
# `kaioken --dry-run --data users=FILE` under /usr/bin/time and prints the file
# size, the peak RSS, and the baseline peak RSS of the same dry run without the
# source, so the difference is what the table costs.
#
#   bench/data.sh                       # 1 GiB, the release binary if built
#   SIZE_MIB=256 KAIOKEN=target/debug/kaioken bench/data.sh
#
# The file is written to a scratch directory (WORK, default a mktemp dir under
# /tmp) and removed at exit.
set -euo pipefail
BENCH_TAG=data
source "$(dirname "$0")/lib.sh"

SIZE_MIB=${SIZE_MIB:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
KAIOKEN=${KAIOKEN:-$TARGET/release/kaioken}
[[ -x $KAIOKEN ]] || die "no binary at $KAIOKEN: cargo build --release -p kaioken, or set KAIOKEN"
WORK=${WORK:-$(mktemp -d /tmp/kaioken-data.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT

FILE=$WORK/users.csv
log "writing ${SIZE_MIB} MiB to $FILE"
# Rows like `user123456,"p,123456",123456` (about 30 bytes each).
python3 - "$FILE" "$SIZE_MIB" <<'PY'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
limit = mib << 20
with open(path, "w", buffering=1 << 20) as f:
    f.write("name,password,id\n")
    written, i, chunk = 0, 0, []
    while written < limit:
        rows = "".join(f'user{n},"p,{n}",{n}\n' for n in range(i, i + 10000))
        f.write(rows)
        written += len(rows)
        i += 10000
PY
BYTES=$(stat -c %s "$FILE")
ROWS=$(( $(wc -l < "$FILE") - 1 ))

peak_kib() {
    /usr/bin/time -f '%M %e' "$@" >/dev/null 2>"$WORK/time" || { cat "$WORK/time" >&2; die "run failed"; }
    tail -1 "$WORK/time"
}
URL='http://127.0.0.1:9/u/${users.name}?p=${users.password}'
read -r BASE BASE_S < <(peak_kib "$KAIOKEN" 'http://127.0.0.1:9/u' --dry-run --no-tui)
read -r PEAK PEAK_S < <(peak_kib "$KAIOKEN" "$URL" --data "users=$FILE" --dry-run --no-tui)
MIB=$(( BYTES >> 20 ))
printf 'file      %d MiB (%d bytes, %d rows)\n' "$MIB" "$BYTES" "$ROWS"
printf 'baseline  peak RSS %d MiB (%ss)\n' $(( BASE >> 10 )) "$BASE_S"
printf 'with data peak RSS %d MiB (%ss): %.2f x the file\n' $(( PEAK >> 10 )) "$PEAK_S" \
    "$(python3 -c "print(($PEAK - $BASE) * 1024 / $BYTES)")"
