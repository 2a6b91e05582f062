#!/usr/bin/env bash
# kaioken's client-side cost over HTTP/3 beside HTTP/2 and HTTP/1.1, against one
# local Caddy that speaks all three on the same port (TLS from its internal CA).
#
# No HTTP/3 peer tool installs here (wrk has no HTTP/3, oha has it only behind a
# build feature, Debian's h2load is built without QUIC), so this compares kaioken
# with itself across versions: the server, the port, the certificate and the
# handler are the same, only the protocol changes. Caddy runs with GOMAXPROCS=1 pinned to CPU 1; kaioken with one thread
# pinned to CPU 0 under /usr/bin/time. Modes are interleaved round by round (h1, h2,
# h3, h1, ...); the summary is medians and the ratios h3/h2 and h3/h1.
#
# Env knobs: BENCH_DURATION (5s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50),
# BENCH_NO_BUILD=1 (use the existing target/release/kaioken), BENCH_GEN_CPU (0),
# BENCH_SERVER_CPU (1), CADDY (/usr/bin/caddy).
set -euo pipefail

DURATION=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-50}
GEN_CPU=${BENCH_GEN_CPU:-0}
SRV_CPU=${BENCH_SERVER_CPU:-$(($(nproc) >= 2 ? 1 : 0))}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAIOKEN=${KAIOKEN:-$ROOT/target/release/kaioken}
CADDY=${CADDY:-/usr/bin/caddy}
TIME=/usr/bin/time

BENCH_TAG=bench-h3
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

case $DURATION in *[0-9]s) ;; *) die "BENCH_DURATION must be whole seconds like 5s (got '$DURATION')" ;; esac
case $ROUNDS in '' | *[!0-9]*) die "BENCH_ROUNDS must be a number (got '$ROUNDS')" ;; esac
for c in python3 taskset; do command -v "$c" >/dev/null || die "$c is required"; done
[[ -x $TIME ]] || apt_install time
[[ -x $CADDY ]] || apt_install caddy
[[ -x $CADDY ]] || die "caddy not found at $CADDY"
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p kaioken"
    (cd "$ROOT" && cargo build --release -p kaioken)
fi
[[ -x $KAIOKEN ]] || die "$KAIOKEN is missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaioken-bench-h3.XXXXXX")
CADDY_PID=
cleanup() {
    if [[ -n $CADDY_PID ]] && kill -0 "$CADDY_PID" 2>/dev/null; then
        kill -TERM "$CADDY_PID" 2>/dev/null || true
        wait "$CADDY_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=https://127.0.0.1:$PORT/
cat >"$WORK/Caddyfile" <<EOF
{
	admin off
	auto_https disable_redirects
	skip_install_trust
	default_sni 127.0.0.1
	servers {
		protocols h1 h2 h3
	}
}
https://127.0.0.1:$PORT {
	tls internal
	respond / "ok" 200
}
EOF
GOMAXPROCS=1 XDG_DATA_HOME=$WORK/data XDG_CONFIG_HOME=$WORK/config HOME=$WORK \
    taskset -c "$SRV_CPU" "$CADDY" run --adapter caddyfile --config "$WORK/Caddyfile" \
    >"$WORK/caddy.log" 2>&1 &
CADDY_PID=$!
CA=$WORK/data/caddy/pki/authorities/local/root.crt
# Caddy listens before it has its certificate: ready when a TLS request passes.
for _ in $(seq 200); do
    kill -0 "$CADDY_PID" 2>/dev/null || { cat "$WORK/caddy.log" >&2; die "caddy exited"; }
    if [[ -f $CA ]] && "$KAIOKEN" "$URL" --cacert "$CA" -c 1 -n 1 --no-tui >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done
"$KAIOKEN" "$URL" --http3 --cacert "$CA" -c 1 -n 1 --no-tui >/dev/null 2>&1 ||
    { cat "$WORK/caddy.log" >&2; die "caddy does not answer HTTP/3 on $URL"; }
log "caddy $("$CADDY" version | cut -d' ' -f1) on $URL (h1, h2, h3), GOMAXPROCS=1 on CPU $SRV_CPU"

# One run: prints "mode rps cpu_us_per_request rss_kib".
run() {
    local mode=$1 flag=() out=$WORK/run.json
    case $mode in h2) flag=(--http2) ;; h3) flag=(--http3) ;; esac
    taskset -c "$GEN_CPU" "$TIME" -f '%U %S %M' -o "$WORK/time" \
        "$KAIOKEN" "$URL" "${flag[@]}" --cacert "$CA" -c "$CONNS" -d "$DURATION" \
        --threads 1 --no-tui --json --max-error-rate 0 >"$out" 2>"$WORK/stderr" ||
        { cat "$WORK/stderr" >&2; die "kaioken $mode failed"; }
    python3 - "$mode" "$out" "$WORK/time" <<'EOF'
import json, sys
mode, out, timing = sys.argv[1:]
r = json.load(open(out))
user, sys_, rss = open(timing).read().split()
n = r["requests"]["responses"]
print(mode, round(n / r["elapsed_s"]), round((float(user) + float(sys_)) * 1e6 / n, 2), rss)
EOF
}

log "$ROUNDS rounds of $DURATION each, $CONNS connections, kaioken on CPU $GEN_CPU"
for round in $(seq "$ROUNDS"); do
    for mode in h1 h2 h3; do
        line=$(run "$mode")
        log "round $round: $line"
        echo "$line" >>"$WORK/results"
    done
done

python3 - "$WORK/results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for mode in ("h1", "h2", "h3"):
    rs = [r for r in rows if r[0] == mode]
    med[mode] = (statistics.median(float(r[1]) for r in rs),
                 statistics.median(float(r[2]) for r in rs),
                 statistics.median(float(r[3]) for r in rs) / 1024)
print("| mode | requests/s | CPU µs/request | peak RSS MiB |")
print("|---|---:|---:|---:|")
for mode, (rps, cpu, rss) in med.items():
    print(f"| {mode} | {rps:,.0f} | {cpu:.1f} | {rss:.1f} |")
h1, h2, h3 = med["h1"], med["h2"], med["h3"]
print()
print(f"CPU per request: h3/h2 = {h3[1] / h2[1]:.2f}x, h3/h1 = {h3[1] / h1[1]:.2f}x; "
      f"requests/s: h3/h2 = {h3[0] / h2[0]:.2f}x, h3/h1 = {h3[0] / h1[0]:.2f}x")
EOF
