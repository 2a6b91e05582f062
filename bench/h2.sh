#!/usr/bin/env bash
# kaioken's client-side cost over HTTP/2 against h2load (nghttp2-client), the same
# nginx answering `200 ok` over h2c (prior knowledge) and over h2 with TLS (ALPN).
#
# nginx runs one worker pinned to BENCH_SERVER_CPU; each generator runs alone,
# pinned to BENCH_GEN_CPU, under /usr/bin/time (user+sys CPU seconds, peak RSS),
# for a fixed number of requests (BENCH_REQUESTS), which gives a steadier CPU per
# request than a fixed duration. Tools are interleaved round by round. Every run's
# request count is checked against nginx's access log (one line per request, the
# protocol logged): a run whose count differs from the log, or with errors, stops
# the benchmark.
#
# Tools (BENCH_TOOLS): `kaioken` and `h2load` over h2c with one stream per connection
# (50 connections: kaioken `-c 50`, h2load `-c 50 -m 1`); `kaioken-m10` and
# `h2load-m10` with 10 streams on each of the 50 connections (kaioken `-c 500
# --h2-streams 10`: 500 VUs, 10 to a connection; h2load `-c 50 -m 10`); the `-tls`
# variants of all four over h2 with TLS (lib.sh's tls_cert, TLS 1.3; kaioken
# verifies it with `--cacert`, h2load does not verify). `baseline…` runs another
# kaioken binary (BENCH_BASELINE, e.g. one built at an earlier commit) as `kaioken…`
# does, so a change's before and after are measured in the same rounds. Each
# kaioken-like tool is set against the h2load of the same variant.
#
# Env knobs: BENCH_REQUESTS (150000), BENCH_ROUNDS (5), BENCH_CONNECTIONS (50),
# BENCH_STREAMS (10, the `-m10` variants' streams per connection), BENCH_TOOLS
# ("kaioken h2load kaioken-m10 h2load-m10"), BENCH_BASELINE, BENCH_NO_BUILD=1,
# BENCH_GEN_CPU (0), BENCH_SERVER_CPU (1), NGINX (/usr/sbin/nginx).
set -euo pipefail

REQUESTS=${BENCH_REQUESTS:-150000}
ROUNDS=${BENCH_ROUNDS:-5}
CONNS=${BENCH_CONNECTIONS:-50}
STREAMS=${BENCH_STREAMS:-10}
BASELINE=${BENCH_BASELINE:-}
TOOLS=${BENCH_TOOLS:-kaioken ${BASELINE:+baseline }h2load kaioken-m10 ${BASELINE:+baseline-m10 }h2load-m10}
GEN_CPU=${BENCH_GEN_CPU:-0}
SRV_CPU=${BENCH_SERVER_CPU:-$(($(nproc) >= 2 ? 1 : 0))}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=$ROOT/bench/results
NGINX=${NGINX:-/usr/sbin/nginx}
TIME=/usr/bin/time

BENCH_TAG=bench-h2
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

case $REQUESTS in '' | *[!0-9]*) die "BENCH_REQUESTS must be a number (got '$REQUESTS')" ;; esac
case $ROUNDS in '' | *[!0-9]*) die "BENCH_ROUNDS must be a number (got '$ROUNDS')" ;; esac
case $STREAMS in '' | *[!0-9]*) die "BENCH_STREAMS must be a number (got '$STREAMS')" ;; esac
for t in $TOOLS; do
    case ${t%-tls} in
        kaioken | kaioken-m10 | h2load | h2load-m10) ;;
        baseline | baseline-m10) [[ -x $BASELINE ]] || die "BENCH_BASELINE is not an executable: '$BASELINE'" ;;
        *) die "unknown tool '$t' in BENCH_TOOLS" ;;
    esac
done
wants() { [[ " $TOOLS " == *" $1"* ]]; }

for c in python3 taskset openssl; do command -v "$c" >/dev/null || die "$c is required"; done
[[ -x $TIME ]] || apt_install time
ensure_nginx
command -v h2load >/dev/null || apt_install nghttp2-client
command -v h2load >/dev/null || die "h2load not found (Debian: nghttp2-client)"
if wants kaioken; then build_kaioken; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaioken-bench-h2.XXXXXX")
cleanup() {
    nginx_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two more nginx servers: h2c and h2 over TLS, each logging one line per request
# (its protocol) so that every run's count can be set against the server's.
tls_cert "$WORK"
H2C_PORT=$(free_port)
TLS_PORT=$(free_port)
while [[ $TLS_PORT == "$H2C_PORT" ]]; do TLS_PORT=$(free_port); done
NGINX_SERVERS="
    log_format proto '\$server_protocol';
    server {
        listen 127.0.0.1:$H2C_PORT http2;
        access_log $WORK/access.log proto buffer=256k flush=100ms;
        location / { return 200 \"ok\"; }
    }
    server {
        listen 127.0.0.1:$TLS_PORT ssl http2;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.3;
        access_log $WORK/access.log proto buffer=256k flush=100ms;
        location / { return 200 \"ok\"; }
    }"
nginx_start
H2C_URL=http://127.0.0.1:$H2C_PORT/
TLS_URL=https://127.0.0.1:$TLS_PORT/
h2load -n 10 -c 1 "$H2C_URL" 2>&1 | grep -q '10 succeeded' || die "nginx does not answer h2c on $H2C_URL"
h2load -n 10 -c 1 "$TLS_URL" 2>&1 | grep -q '10 succeeded' || die "nginx does not answer h2 over TLS on $TLS_URL"
log "h2c on $H2C_URL, h2 over TLS on $TLS_URL; generators on CPU $GEN_CPU"

mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CSV=$RESULTS/h2-$STAMP.csv
echo "round,tool,requests,logged,errors,elapsed_s,rps,user_s,sys_s,cpu_us_per_req,max_rss_kib" >"$CSV"

# log_lines: requests nginx has logged so far (after its buffer's flush).
log_lines() {
    sleep 0.3
    if [[ -f $WORK/access.log ]]; then wc -l <"$WORK/access.log"; else echo 0; fi
}

# run_one ROUND TOOL: run one generator for REQUESTS requests, append one CSV row.
run_one() {
    local round=$1 tool=$2
    local base=${tool%-tls} url=$H2C_URL
    [[ $tool == *-tls ]] && url=$TLS_URL
    local bin=${KAIOKEN:-} streams=1
    [[ $base == baseline* ]] && bin=$BASELINE
    [[ $base == *-m10 ]] && streams=$STREAMS
    local cmd
    case $base in
        kaioken | baseline | kaioken-m10 | baseline-m10)
            cmd=("$bin" "$url" --http2 -c $((CONNS * streams)) --max-requests "$REQUESTS" -d 600s
                --threads 1 --no-tui --json)
            [[ $streams -gt 1 ]] && cmd+=(--h2-streams "$streams")
            [[ $tool == *-tls ]] && cmd+=(--cacert "$WORK/ca.pem") ;;
        h2load | h2load-m10) cmd=(h2load -n "$REQUESTS" -c "$CONNS" -m "$streams" -t 1 "$url") ;;
    esac
    local out=$WORK/out tf=$WORK/time before after
    before=$(log_lines)
    taskset -c "$GEN_CPU" "$TIME" -f '%U %S %M' -o "$tf" "${cmd[@]}" >"$out" 2>"$WORK/err" </dev/null ||
        { cat "$out" "$WORK/err" >&2; die "$tool failed"; }
    after=$(log_lines)
    python3 - "$round" "$tool" "$out" "$tf" $((after - before)) >>"$CSV" <<'EOF'
import json, re, sys
rnd, tool, out, tf, logged = sys.argv[1:]
text = open(out).read()
user, sys_, rss = open(tf).read().split("\n")[-2].split()
user, sys_ = float(user), float(sys_)
if tool.startswith("h2load"):
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    requests, errors = int(m.group(4)), int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    m = re.search(r"finished in ([\d.]+)(ms|s)", text)
    elapsed = float(m.group(1)) * (1e-3 if m.group(2) == "ms" else 1)
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    errors += int(m.group(2)) + int(m.group(3)) + int(m.group(4))
else:
    d = json.loads(text)
    requests, errors, elapsed = d["requests"]["total"], d["requests"]["errors"], d["elapsed_s"]
print(f"{rnd},{tool},{requests},{logged},{errors},{elapsed:.3f},{requests / elapsed:.1f},"
      f"{user:.2f},{sys_:.2f},{(user + sys_) * 1e6 / requests:.3f},{rss}")
EOF
    local row
    row=$(tail -n1 "$CSV")
    IFS=, read -r _ _ n logged errors _ rps _ _ cpu _ <<<"$row"
    log "$(printf 'round %-3s %-17s %8.0f req/s %7.2f us CPU/req  (%s requests, %s logged, %s errors)' "$round" "$tool" "$rps" "$cpu" "$n" "$logged" "$errors")"
    [[ $n == "$REQUESTS" && $logged == "$REQUESTS" && $errors == 0 ]] ||
        die "$tool: $n requests, nginx logged $logged, $errors errors (expected $REQUESTS, $REQUESTS, 0)"
}

log "$ROUNDS round(s) of: $TOOLS; $REQUESTS requests each, $CONNS connections"
for round in $(seq "$ROUNDS"); do
    for tool in $TOOLS; do
        run_one "$round" "$tool"
    done
done

python3 - "$CSV" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tools = list(dict.fromkeys(r["tool"] for r in rows))
by = {t: [r for r in rows if r["tool"] == t] for t in tools}
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
print()
print(f"{'tool':<18} {'runs':>4} {'median req/s':>13} {'median CPU us/req':>18} {'max RSS MiB':>12}")
for t in tools:
    rs = by[t]
    print(f"{t:<18} {len(rs):>4} {med(rs, 'rps'):>13.0f} {med(rs, 'cpu_us_per_req'):>18.2f} "
          f"{max(int(r['max_rss_kib']) for r in rs) / 1024:>12.1f}")
print()
print("CPU per request against h2load of the same variant (median of the per-round ratios, min-max)")
for t in tools:
    if t.startswith("h2load"):
        continue
    peer = "h2load" + t.split("-", 1)[1].join(["-", ""]) if "-" in t else "h2load"
    if peer not in by:
        continue
    ratios = [float(a["cpu_us_per_req"]) / float(b["cpu_us_per_req"])
              for a in by[t] for b in by[peer] if a["round"] == b["round"]]
    print(f"{t:<18} / {peer:<14} {statistics.median(ratios):.3f}  ({min(ratios):.3f}-{max(ratios):.3f}; "
          + " ".join(f"{x:.2f}" for x in ratios) + ")")
print()
print(f"raw results: {sys.argv[1]}")
EOF
