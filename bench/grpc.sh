#!/usr/bin/env bash
# gRPC: kaioken's unary calls/s and CPU per call, beside Python and Node clients,
# against a local gRPC server (bench.Bench/Echo in bench/bench.proto, h2c).
#
# The server is Node's @grpc/grpc-js (bench/node/grpc-server.js: one process, one
# thread, pinned to CPU 1) by default, not Python's grpcio: measured here with 50
# calls in flight, grpcio's asyncio server saturates its core near 3,500 calls/s,
# while the grpc-js server answers the Python client's 12,000 calls/s with its core
# a quarter idle. (BENCH_GRPC_SERVER=python runs the grpcio server instead.) The
# server's CPU use is recorded with each run (server_cpu_pct): near 100%, the server
# set the pace, and only CPU per call compares the clients.
#
# Clients, each a closed loop of CONNECTIONS calls in flight for the duration:
#   kaioken grpc://127.0.0.1:PORT --proto bench/bench.proto --call bench.Bench/Echo \
#       -b '{"id": "x"}' -c 50 -d 10s --threads 1 --no-tui --json
#   python3 bench/py/grpc_bench.py client 127.0.0.1:PORT bench/bench.proto 50 10 x
#       (grpcio, grpc.aio: the other runtime's client, the peer)
#   node bench/node/grpc-load.js 127.0.0.1:PORT bench/bench.proto 50 10 x
#       (grpc-js: slower than the Python client here, about 4,500 calls/s, CPU-bound)
# ghz, the usual gRPC load tool, is not installable here. A call counts when it is
# answered with status OK. Each generator runs alone, pinned to CPU 0, under
# /usr/bin/time (user+sys CPU seconds, peak RSS); tools are interleaved round by
# round; the summary is medians and kaioken's ratios to each peer. At the end the
# server's count of calls is set against the tools'. See bench/README.md.
#
# Env knobs: BENCH_DURATION (10s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50: calls
# in flight), BENCH_TOOLS ("kaioken python node"; `kaioken-shared` adds kaioken with
# every call on one connection, --h2-streams, as the Python client's one channel;
# `baseline` and `baseline-shared` run the same with BENCH_BASELINE, another kaioken
# binary, e.g. one built before a change), BENCH_GRPC_SERVER (node | python), BENCH_ID (x: the request's id), BENCH_KAIOKEN (a kaioken binary to use as
# is; default $CARGO_TARGET_DIR/release/kaioken, built first unless
# BENCH_NO_BUILD=1), BENCH_GEN_CPU (0), BENCH_SERVER_CPU (1).
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-50}
TOOLS=${BENCH_TOOLS:-kaioken python node}
SERVER=${BENCH_GRPC_SERVER:-node}
ID=${BENCH_ID:-x}
GEN_CPU=${BENCH_GEN_CPU:-0}
SRV_CPU=${BENCH_SERVER_CPU:-$(($(nproc) >= 2 ? 1 : 0))}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAIOKEN=${BENCH_KAIOKEN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/kaioken}
RESULTS=$ROOT/bench/results
TIME=/usr/bin/time
REPORT=$ROOT/bench/msg_report.py
PROTO=$ROOT/bench/bench.proto

BENCH_TAG=grpc
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

case $DURATION in *[0-9]s) ;; *) die "BENCH_DURATION must be whole seconds like 10s (got '$DURATION')" ;; esac
case $ROUNDS in '' | *[!0-9]*) die "BENCH_ROUNDS must be a number (got '$ROUNDS')" ;; esac
case $CONNS in '' | *[!0-9]*) die "BENCH_CONNECTIONS must be a number (got '$CONNS')" ;; esac
case $SERVER in node | python) ;; *) die "BENCH_GRPC_SERVER must be node or python (got '$SERVER')" ;; esac
case $ID in *[\"\\]*) die "BENCH_ID must not hold a quote or a backslash (it goes into a JSON string)" ;; esac
for t in $TOOLS; do
    case $t in
        kaioken | kaioken-shared | python | node) ;;
        baseline | baseline-shared) [[ -x ${BENCH_BASELINE:-} ]] || die "BENCH_BASELINE is not an executable: '${BENCH_BASELINE:-}'" ;;
        *) die "unknown tool '$t' in BENCH_TOOLS (kaioken, kaioken-shared, baseline, baseline-shared, python, node)" ;;
    esac
done
wants() { [[ " $TOOLS " == *" $1 "* ]]; }
SECONDS_RUN=${DURATION%s}

# ---------------------------------------------------------------- tools --

for c in python3 taskset; do command -v "$c" >/dev/null || die "$c is required"; done
[[ $(nproc) -ge 2 ]] || log "warning: fewer than 2 CPUs; generator and server will share a core"
[[ -x $TIME ]] || apt_install time
if [[ $SERVER == node ]] || wants node; then
    ensure_node
    node_deps "$ROOT/bench/node"
fi
if [[ $SERVER == python ]] || wants python; then
    python3 -c 'import grpc, grpc_tools.protoc' 2>/dev/null || pip_install grpcio grpcio-tools
fi
if wants kaioken || wants kaioken-shared; then
    if [[ -z ${BENCH_KAIOKEN:-} && ${BENCH_NO_BUILD:-0} != 1 ]]; then
        log "cargo build --release -p kaioken"
        (cd "$ROOT" && cargo build --release -p kaioken)
    fi
    [[ -x $KAIOKEN ]] || die "$KAIOKEN is missing"
fi

# --------------------------------------------------------------- server --

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaioken-bench-grpc.XXXXXX")
cleanup() {
    server_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(free_port)
case $SERVER in
    node) server_start "grpc-js server" "$WORK/server.log" node "$ROOT/bench/node/grpc-server.js" "$PORT" "$PROTO" ;;
    python) server_start "grpcio server" "$WORK/server.log" python3 "$ROOT/bench/py/grpc_bench.py" server "$PORT" "$PROTO" ;;
esac
log "$SERVER gRPC server on 127.0.0.1:$PORT (CPU $SRV_CPU), generators on CPU $GEN_CPU"

# ------------------------------------------------------------------ run --

mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CSV=$RESULTS/$STAMP-grpc.csv
RAW=$RESULTS/$STAMP-grpc
mkdir -p "$RAW"
python3 "$REPORT" header >"$CSV"

# run_one ROUND TOOL: run one generator, append one CSV row.
run_one() {
    local round=$1 tool=$2
    local name=unary.$tool.$round
    local out=$WORK/$name.out err=$WORK/$name.err tf=$WORK/$name.time
    local cmd bin=$KAIOKEN
    case $tool in baseline*) bin=$BENCH_BASELINE ;; esac
    case $tool in
        kaioken | baseline) cmd=("$bin" "grpc://127.0.0.1:$PORT" --proto "$PROTO" --call bench.Bench/Echo
            -b "{\"id\": \"$ID\"}" -c "$CONNS" -d "$DURATION" --threads 1 --no-tui --json) ;;
        # Every call on one connection, as the Python client's one channel makes them.
        kaioken-shared | baseline-shared) cmd=("$bin" "grpc://127.0.0.1:$PORT" --proto "$PROTO" --call bench.Bench/Echo
            -b "{\"id\": \"$ID\"}" -c "$CONNS" --h2-streams "$CONNS" -d "$DURATION" --threads 1 --no-tui --json) ;;
        python) cmd=(python3 "$ROOT/bench/py/grpc_bench.py" client "127.0.0.1:$PORT" "$PROTO" "$CONNS" "$SECONDS_RUN" "$ID") ;;
        node) cmd=(node "$ROOT/bench/node/grpc-load.js" "127.0.0.1:$PORT" "$PROTO" "$CONNS" "$SECONDS_RUN" "$ID") ;;
    esac
    local rc=0 cpu0 cpu1
    cpu0=$(cpu_seconds "$SERVER_PID")
    taskset -c "$GEN_CPU" "$TIME" -f '%U %S %M' -o "$tf" "${cmd[@]}" >"$out" 2>"$err" </dev/null || rc=$?
    server_alive
    cpu1=$(cpu_seconds "$SERVER_PID")
    cp "$out" "$tf" "$RAW/"
    [[ -s $err ]] && cp "$err" "$RAW/"
    python3 "$REPORT" row grpc unary "$round" "$tool" "$DURATION" "$CONNS" "$rc" "$out" "$tf" \
        "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" "" >>"$CSV"
    tail -n1 "$CSV" | awk -F, '{printf "[grpc] round %-3s %-8s %9.0f calls/s  %7.2f us CPU/call  %6.1f MiB  server %3s%% CPU  (%s OK of %s calls, %s errors, exit %s)\n", $2, $3, $11, $14, $15/1024, $16, $6, $7, $9, $18}' >&2
}

log "$ROUNDS round(s) of: $TOOLS; $CONNS calls in flight, $DURATION each, bench.Bench/Echo {\"id\": \"$ID\"}"
for round in $(seq "$ROUNDS"); do
    for tool in $TOOLS; do
        run_one "$round" "$tool"
    done
done
server_stop
cp "$WORK/server.log" "$RAW/"

# The server's count against the tools': the peers each make one call to check the
# server before they start, and finish the calls in flight at the stop.
served=$(sed -n 's/^calls //p' "$WORK/server.log")
counted=$(awk -F, 'NR > 1 { n += $7 + ($3 !~ /^(kaioken|baseline)/) } END { print n + 0 }' "$CSV")
log "server answered ${served:-?} calls; the tools made $counted (their calls, and one check call per peer run)"

# -------------------------------------------------------------- summary --

python3 "$REPORT" summary "$CSV" call
