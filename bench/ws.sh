#!/usr/bin/env bash
# WebSocket: kaioken's messages/s and CPU per message, beside Node and Python clients,
# against a local WebSocket server.
#
# The server is Node's `ws` (bench/node/ws-server.js: one process, one thread, pinned
# to CPU 1), not Python's `websockets`: measured here with 50 connections, a
# `websockets` echo server saturates its core near 14,000 messages/s, while the `ws`
# server echoes 70,000 to 90,000 messages/s from one Node client. Against the Python
# server every client would measure the server. The `ws` server too nears its core's
# limit under a fast client, so its CPU use is recorded with each run
# (server_cpu_pct): near 100%, the server set the pace, and only CPU per message
# compares the clients.
#
# Modes (BENCH_MODES):
#   echo  the server sends every message back; a message counts when its reply
#         comes (a closed loop per connection):
#           kaioken ws://127.0.0.1:PORT/ -c 50 -d 10s --threads 1 --no-tui --json -b hello
#           node bench/node/ws-load.js URL 50 10 hello echo
#           python3 bench/py/ws_load.py URL 50 10 hello
#   fire  fire-and-forget: the server counts and drops what it receives; a message
#         counts when sent (kaioken: --ws-fire-and-forget; node: the next message as
#         soon as the last is written to the socket; no Python peer). The server's
#         count (server_received) is set against the tool's `sent`.
# Each generator runs alone, pinned to CPU 0, under /usr/bin/time (user+sys CPU
# seconds, peak RSS); tools are interleaved round by round; the summary is medians
# and kaioken's ratios to each peer. See bench/README.md.
#
# Env knobs: BENCH_DURATION (10s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50),
# BENCH_TOOLS ("kaioken node python"), BENCH_MODES ("echo fire"), BENCH_MESSAGE
# (hello), BENCH_KAIOKEN (a kaioken binary to use as is; default
# $CARGO_TARGET_DIR/release/kaioken, built first unless BENCH_NO_BUILD=1),
# BENCH_GEN_CPU (0), BENCH_SERVER_CPU (1).
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-50}
TOOLS=${BENCH_TOOLS:-kaioken node python}
MODES=${BENCH_MODES:-echo fire}
MESSAGE=${BENCH_MESSAGE:-hello}
GEN_CPU=${BENCH_GEN_CPU:-0}
SRV_CPU=${BENCH_SERVER_CPU:-$(($(nproc) >= 2 ? 1 : 0))}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAIOKEN=${BENCH_KAIOKEN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/kaioken}
RESULTS=$ROOT/bench/results
TIME=/usr/bin/time
REPORT=$ROOT/bench/msg_report.py

BENCH_TAG=ws
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

case $DURATION in *[0-9]s) ;; *) die "BENCH_DURATION must be whole seconds like 10s (got '$DURATION')" ;; esac
case $ROUNDS in '' | *[!0-9]*) die "BENCH_ROUNDS must be a number (got '$ROUNDS')" ;; esac
case $CONNS in '' | *[!0-9]*) die "BENCH_CONNECTIONS must be a number (got '$CONNS')" ;; esac
for t in $TOOLS; do
    case $t in kaioken | node | python) ;; *) die "unknown tool '$t' in BENCH_TOOLS (kaioken, node, python)" ;; esac
done
for m in $MODES; do
    case $m in echo | fire) ;; *) die "unknown mode '$m' in BENCH_MODES (echo, fire)" ;; esac
done
wants() { [[ " $TOOLS " == *" $1 "* ]]; }
SECONDS_RUN=${DURATION%s}

# ---------------------------------------------------------------- tools --

for c in python3 taskset; do command -v "$c" >/dev/null || die "$c is required"; done
[[ $(nproc) -ge 2 ]] || log "warning: fewer than 2 CPUs; generator and server will share a core"
[[ -x $TIME ]] || apt_install time
ensure_node
node_deps "$ROOT/bench/node"
if wants python && ! python3 -c 'import websockets.asyncio.client' 2>/dev/null; then
    pip_install 'websockets>=13'
fi
if wants kaioken; then
    if [[ -z ${BENCH_KAIOKEN:-} && ${BENCH_NO_BUILD:-0} != 1 ]]; then
        log "cargo build --release -p kaioken"
        (cd "$ROOT" && cargo build --release -p kaioken)
    fi
    [[ -x $KAIOKEN ]] || die "$KAIOKEN is missing"
fi

# ------------------------------------------------------------------ run --

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaioken-bench-ws.XXXXXX")
cleanup() {
    server_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CSV=$RESULTS/$STAMP-ws.csv
RAW=$RESULTS/$STAMP-ws
mkdir -p "$RAW"
python3 "$REPORT" header >"$CSV"

PORT=
# server_received: the server's count of messages received so far.
server_received() {
    python3 - "$PORT" <<'EOF' || die "the server did not answer GET /stats on port $PORT"
import json, sys, urllib.request
print(json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/stats", timeout=5))["received"])
EOF
}

# run_one MODE ROUND TOOL: run one generator against the running server, append a CSV row.
run_one() {
    local mode=$1 round=$2 tool=$3
    local name=$mode.$tool.$round
    local out=$WORK/$name.out err=$WORK/$name.err tf=$WORK/$name.time
    local url=ws://127.0.0.1:$PORT/
    local cmd
    case $tool in
        kaioken)
            cmd=("$KAIOKEN" "$url" -c "$CONNS" -d "$DURATION" --threads 1 --no-tui --json -b "$MESSAGE")
            [[ $mode == fire ]] && cmd+=(--ws-fire-and-forget)
            ;;
        node) cmd=(node "$ROOT/bench/node/ws-load.js" "$url" "$CONNS" "$SECONDS_RUN" "$MESSAGE" "$mode") ;;
        python) cmd=(python3 "$ROOT/bench/py/ws_load.py" "$url" "$CONNS" "$SECONDS_RUN" "$MESSAGE") ;;
    esac
    local rc=0 cpu0 cpu1 got0 got1
    cpu0=$(cpu_seconds "$SERVER_PID")
    got0=$(server_received)
    taskset -c "$GEN_CPU" "$TIME" -f '%U %S %M' -o "$tf" "${cmd[@]}" >"$out" 2>"$err" </dev/null || rc=$?
    server_alive
    cpu1=$(cpu_seconds "$SERVER_PID")
    got1=$(server_received)
    cp "$out" "$tf" "$RAW/"
    [[ -s $err ]] && cp "$err" "$RAW/"
    python3 "$REPORT" row ws "$mode" "$round" "$tool" "$DURATION" "$CONNS" "$rc" "$out" "$tf" \
        "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" "$((got1 - got0))" >>"$CSV"
    tail -n1 "$CSV" | awk -F, '{printf "[ws] %-4s round %-3s %-8s %9.0f msg/s  %6.2f us CPU/msg  %6.1f MiB  server %3s%% CPU  (%s messages, %s sent, %s received, server got %s, %s errors, exit %s)\n", $1, $2, $3, $11, $14, $15/1024, $16, $6, $7, $8, $17, $9, $18}' >&2
}

log "$ROUNDS round(s) of: $TOOLS; modes: $MODES; $CONNS connections, $DURATION each, message '$MESSAGE'"
log "generators on CPU $GEN_CPU, server on CPU $SRV_CPU"
for mode in $MODES; do
    tools=
    for t in $TOOLS; do
        if [[ $mode == fire && $t == python ]]; then
            log "fire: no Python peer (its client is an echo loop); skipping python"
            continue
        fi
        tools+=" $t"
    done
    [[ -n $tools ]] || { log "$mode: no tool to run"; continue; }
    server_mode=echo
    [[ $mode == fire ]] && server_mode=sink
    PORT=$(free_port)
    server_start "ws-server ($server_mode)" "$WORK/server-$mode.log" node "$ROOT/bench/node/ws-server.js" "$PORT" "$server_mode"
    log "$mode: node ws-server $server_mode on ws://127.0.0.1:$PORT/"
    for round in $(seq "$ROUNDS"); do
        for tool in $tools; do
            run_one "$mode" "$round" "$tool"
        done
    done
    server_stop
    cp "$WORK/server-$mode.log" "$RAW/"
done

# -------------------------------------------------------------- summary --

python3 "$REPORT" summary "$CSV" msg
