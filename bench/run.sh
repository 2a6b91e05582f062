#!/usr/bin/env bash
# Compare kaioken's client-side cost with wrk and oha against a local nginx.
#
# nginx runs with one worker pinned to CPU 1; each load generator runs alone,
# pinned to CPU 0, under /usr/bin/time (user+sys CPU seconds, peak RSS). Tools
# are interleaved round by round (kaioken, wrk, oha, kaioken, ...) so that
# background noise on the machine hits all of them alike; the summary is medians
# and kaioken's ratios to each peer. See bench/README.md.
#
# Env knobs: BENCH_DURATION (5s), BENCH_ROUNDS (5), BENCH_CONNECTIONS (50),
# BENCH_TOOLS ("kaioken wrk oha"), BENCH_LONG (unset; e.g. 30s adds one kaioken
# run of that length at the end, for the flat-memory check), BENCH_NO_BUILD=1
# (use the existing target/release/kaioken), BENCH_GEN_CPU (0), BENCH_SERVER_CPU (1),
# BENCH_BASELINE (unset; the path of another kaioken binary, e.g. one built at an
# earlier commit: it runs as the tool `baseline`, interleaved with the others, so a
# change's before and after are measured in the same rounds). The tool `kaioken-tui`
# (add it to BENCH_TOOLS) runs kaioken with its live view drawing into a 160x48
# pseudo-terminal (`script`), to measure what the view costs against `kaioken`.
# The tool `kaioken-outputs` runs kaioken with every streaming output on: /metrics
# served, and remote write, InfluxDB and OTLP pushed each second to the same nginx
# (which answers every POST with 200), and 1% of requests traced (spans to OTLP),
# to measure what exporting costs the load.
# The tools `kaioken-check` and `kaioken-script` judge every response with one
# check: the built-in `status == 200`, and the same test as a Lua script
# (`script:ok`, docs/plugins.md), to measure what a script call costs the load.
# The tool `kaioken-realistic` runs what a real scenario does to each request:
# `${REQUEST_ID}` in the URL and a header, two checks (status, body contains) and
# one JSON extraction, against nginx's `/json`; its CPU per request set against
# `kaioken`'s is what the VM's per-request work costs.
# The tool `kaioken-extra` runs kaioken with the words of BENCH_KAIOKEN_ARGS added
# (e.g. "-r 20000" or "-f think.toml") and, with BENCH_KAIOKEN_HOST (e.g. localhost),
# that host in the URL instead of 127.0.0.1: a variant measured against the plain
# `kaioken` in the same rounds.
# BENCH_TLS=1 makes nginx serve HTTPS (TLS 1.3, ECDSA P-256; lib.sh's
# nginx_start) and every tool keep-alive connections over it: kaioken and oha
# verify the certificate against the run's CA (--cacert), wrk does not verify.
# BENCH_UNIX=1 has nginx listen on a Unix socket too, and kaioken (every variant)
# and oha connect to it (--unix-socket; the URL still gives Host); wrk cannot, so
# BENCH_TOOLS must leave it out. Combines with BENCH_TLS=1.
set -euo pipefail

DURATION=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-5}
CONNS=${BENCH_CONNECTIONS:-50}
BASELINE=${BENCH_BASELINE:-}
if [[ ${BENCH_UNIX:-0} == 1 ]]; then
    TOOLS=${BENCH_TOOLS:-kaioken ${BASELINE:+baseline }oha}
else
    TOOLS=${BENCH_TOOLS:-kaioken ${BASELINE:+baseline }wrk oha}
fi
LONG=${BENCH_LONG:-}
GEN_CPU=${BENCH_GEN_CPU:-0}
SRV_CPU=${BENCH_SERVER_CPU:-$(($(nproc) >= 2 ? 1 : 0))}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=$ROOT/bench/results
NGINX=${NGINX:-/usr/sbin/nginx}
TIME=/usr/bin/time

BENCH_TAG=bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

case $DURATION in *[0-9]s) ;; *) die "BENCH_DURATION must be whole seconds like 10s (got '$DURATION')" ;; esac
case $ROUNDS in '' | *[!0-9]*) die "BENCH_ROUNDS must be a number (got '$ROUNDS')" ;; esac
for t in $TOOLS; do
    case $t in kaioken | kaioken-tui | kaioken-outputs | kaioken-check | kaioken-script | kaioken-realistic | kaioken-extra | wrk | oha) ;; baseline) [[ -x $BASELINE ]] || die "BENCH_BASELINE is not an executable: '$BASELINE'" ;; *) die "unknown tool '$t' in BENCH_TOOLS" ;; esac
done
wants() { [[ " $TOOLS " == *" $1 "* ]]; }
if [[ ${BENCH_UNIX:-0} == 1 ]] && wants wrk; then
    die "wrk cannot connect to a Unix socket: leave it out of BENCH_TOOLS with BENCH_UNIX=1"
fi

# ---------------------------------------------------------------- tools --

need_cmds=(python3 taskset)
for c in "${need_cmds[@]}"; do command -v "$c" >/dev/null || die "$c is required"; done
[[ $(nproc) -ge 2 ]] || log "warning: fewer than 2 CPUs; generator and server will share a core"

[[ -x $TIME ]] || apt_install time
ensure_nginx
if wants wrk && ! command -v wrk >/dev/null; then apt_install wrk; fi
if wants oha; then ensure_oha; fi

if wants kaioken || wants kaioken-tui || wants kaioken-outputs || wants kaioken-check || wants kaioken-script || wants kaioken-realistic || wants kaioken-extra || [[ -n $LONG ]]; then
    build_kaioken
fi

# ---------------------------------------------------------------- nginx --

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaioken-bench.XXXXXX")
cleanup() {
    nginx_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Connection options of kaioken and oha: the certificate for the tools that verify
# it (made by nginx_start), the Unix socket.
KOPTS=()
OOPTS=()
if [[ ${BENCH_TLS:-0} == 1 ]]; then
    export NGINX_TLS=1
    KOPTS=(--cacert "$WORK/ca.pem")
    OOPTS=(--cacert "$WORK/ca.pem")
fi
if [[ ${BENCH_UNIX:-0} == 1 ]]; then
    export NGINX_UNIX=1
    KOPTS+=(--unix-socket "$WORK/nginx.sock")
    OOPTS+=(--unix-socket "$WORK/nginx.sock")
fi
nginx_start
log "generators on CPU $GEN_CPU"

# ------------------------------------------------------------------ run --

mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CSV=$RESULTS/$STAMP.csv
RAW=$RESULTS/$STAMP
mkdir -p "$RAW"
echo "round,tool,duration,connections,requests,errors,elapsed_s,rps,user_s,sys_s,cpu_us_per_req,max_rss_kib,exit_code" >"$CSV"

# run_one ROUND TOOL DURATION: run one generator, append one CSV row.
run_one() {
    local round=$1 tool=$2 dur=$3
    local out=$WORK/$tool.$round.out err=$WORK/$tool.$round.err tf=$WORK/$tool.$round.time
    local cmd
    case $tool in
        kaioken) cmd=("$KAIOKEN" "$URL" -c "$CONNS" -d "$dur" --threads 1 --no-tui --json "${KOPTS[@]}") ;;
        baseline) cmd=("$BASELINE" "$URL" -c "$CONNS" -d "$dur" --threads 1 --no-tui --json "${KOPTS[@]}") ;;
        # The live view draws only on a terminal, and not with --json: the report goes
        # to a file, copied to the tool's output afterwards.
        kaioken-tui) cmd=(script -qfec "stty cols 160 rows 48; exec '$KAIOKEN' '$URL' -c $CONNS -d $dur --threads 1 -o '$WORK/tui.json' ${KOPTS[*]}" /dev/null) ;;
        kaioken-outputs) cmd=("$KAIOKEN" "$URL" -c "$CONNS" -d "$dur" --threads 1 --no-tui --json
            -o "prometheus=127.0.0.1:$(free_port)" --metrics-linger 0s
            -o "prometheus-rw=${URL}api/v1/write" -o "influxdb=${URL}bench" -o "otlp=${URL%/}"
            --trace-sample 0.01 "${KOPTS[@]}") ;;
        kaioken-check | kaioken-script)
            local check='status == 200'
            [[ $tool == kaioken-script ]] && check='script:ok'
            printf '[scripts]\nok = "return r.status == 200"\n[request]\nchecks = ["%s"]\n' "$check" >"$WORK/$tool.toml"
            cmd=("$KAIOKEN" -f "$WORK/$tool.toml" "$URL" -c "$CONNS" -d "$dur" --threads 1 --no-tui --json "${KOPTS[@]}") ;;
        kaioken-realistic)
            printf '%s\n' '[target]' "url = \"${URL%/}\"" '[[scenarios]]' 'name = "api"' \
                '[[scenarios.steps]]' 'url = "/json?r=${REQUEST_ID}"' \
                'headers = { x-request-id = "${REQUEST_ID}" }' \
                'checks = ["status == 200", '"'"'body contains "kaioken"'"'"']' \
                'extract = { id = "json:$.id" }' >"$WORK/$tool.toml"
            cmd=("$KAIOKEN" -f "$WORK/$tool.toml" -c "$CONNS" -d "$dur" --threads 1 --no-tui --json "${KOPTS[@]}") ;;
        kaioken-extra)
            local extra
            read -ra extra <<<"${BENCH_KAIOKEN_ARGS:-}"
            cmd=("$KAIOKEN" "${URL/127.0.0.1/${BENCH_KAIOKEN_HOST:-127.0.0.1}}" -c "$CONNS" -d "$dur" --threads 1 --no-tui --json "${KOPTS[@]}" "${extra[@]}") ;;
        wrk) cmd=(wrk -t1 -c"$CONNS" -d"$dur" "$URL") ;;
        # oha's tokio runtime defaults to one worker per core; one thread keeps it
        # comparable with kaioken --threads 1 and wrk -t1 on a single pinned CPU.
        oha) cmd=(oha -z "$dur" -c "$CONNS" --worker-threads 1 --no-tui --output-format json "${OOPTS[@]}" "$URL") ;;
    esac
    local rc=0
    taskset -c "$GEN_CPU" "$TIME" -f '%U %S %M' -o "$tf" "${cmd[@]}" >"$out" 2>"$err" </dev/null || rc=$?
    if [[ $tool == kaioken-tui ]]; then mv "$WORK/tui.json" "$out" 2>/dev/null || true; fi
    # keep the raw output next to the CSV
    cp "$out" "$RAW/$tool.$round.out"
    cp "$tf" "$RAW/$tool.$round.time"
    [[ -s $err ]] && cp "$err" "$RAW/$tool.$round.err"
    python3 - "$tool" "$out" "$tf" "$round" "$dur" "$CONNS" "$rc" >>"$CSV" <<'EOF'
import json, re, sys
tool, out, tf, rnd, dur, conns, rc = sys.argv[1:]
text = open(out).read()
# /usr/bin/time writes "Command exited with non-zero status N" first on failure.
user, sys_, rss = open(tf).read().split("\n")[-2].split()
user, sys_, rss = float(user), float(sys_), int(rss)
requests = errors = 0
elapsed = rps = float("nan")
try:
    if tool in ("kaioken", "kaioken-tui", "kaioken-outputs", "kaioken-check", "kaioken-script", "kaioken-realistic", "kaioken-extra", "baseline"):
        d = json.loads(text)
        requests = d["requests"]["total"]
        errors = d["requests"]["errors"]
        rps = d["requests"]["rps"]
        elapsed = d["elapsed_s"]
        # An output that failed to export did not cost what a working one does.
        errors += sum(o["failed"] for o in d.get("outputs", []))
    elif tool == "wrk":
        m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", text)
        requests = int(m.group(1))
        elapsed = float(m.group(2)) * {"ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
        rps = float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        if m:
            errors += sum(int(x) for x in m.groups())
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        if m:
            errors += int(m.group(1))
    elif tool == "oha":
        d = json.loads(text)
        # Completed responses; requests cut off at the deadline ("aborted due to
        # deadline", one per connection) are not counted, nor in req/s.
        requests = sum(d["statusCodeDistribution"].values())
        errors = sum(v for k, v in d["errorDistribution"].items() if "deadline" not in k)
        errors += sum(v for k, v in d["statusCodeDistribution"].items() if not k.startswith("2"))
        elapsed = d["summary"]["total"]
        rps = requests / elapsed
except Exception as e:  # keep the row, mark it unusable
    print(f"[bench] could not parse {tool} output: {e!r}", file=sys.stderr)
cpu_per_req = (user + sys_) * 1e6 / requests if requests else float("nan")
print(f"{rnd},{tool},{dur},{conns},{requests},{errors},{elapsed:.3f},{rps:.1f},"
      f"{user:.2f},{sys_:.2f},{cpu_per_req:.3f},{rss},{rc}")
EOF
    tail -n1 "$CSV" | awk -F, '{printf "[bench] round %-4s %-8s %9.0f req/s  %6.2f us CPU/req  %6.1f MiB  (%s requests, %s errors, exit %s)\n", $1, $2, $8, $11, $12/1024, $5, $6, $13}' >&2
}

log "$ROUNDS round(s) of: $TOOLS; $CONNS connections, $DURATION each, keep-alive"
for round in $(seq "$ROUNDS"); do
    for tool in $TOOLS; do
        run_one "$round" "$tool" "$DURATION"
    done
done
if [[ -n $LONG ]]; then
    log "flat-memory check: one kaioken run of $LONG"
    run_one long kaioken "$LONG"
fi

cp "$WORK/nginx.conf" "$WORK/error.log" "$RAW/" 2>/dev/null || true

# -------------------------------------------------------------- summary --

python3 - "$CSV" <<'EOF'
import csv, math, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    if r["round"] == "long":
        continue
    by.setdefault(r["tool"], []).append(r)
def med(rs, k):
    xs = [float(r[k]) for r in rs if not math.isnan(float(r[k]))]
    return statistics.median(xs) if xs else float("nan")
summary = {}
print()
print(f"{'tool':<8} {'runs':>4} {'median req/s':>13} {'median CPU us/req':>18} {'max RSS MiB':>12} {'errors':>7}")
for tool, rs in by.items():
    s = dict(rps=med(rs, "rps"), cpu=med(rs, "cpu_us_per_req"),
             rss=max(int(r["max_rss_kib"]) for r in rs) / 1024,
             errors=sum(int(r["errors"]) for r in rs))
    summary[tool] = s
    print(f"{tool:<8} {len(rs):>4} {s['rps']:>13.0f} {s['cpu']:>18.2f} {s['rss']:>12.1f} {s['errors']:>7}")
rounds = sorted({r["round"] for r in rows if r["round"] != "long"}, key=int)
for subject in ("kaioken", "baseline"):
    if subject not in summary:
        continue
    k = summary[subject]
    # kaioken is set against every other tool (the baseline included); the baseline
    # against the peers, for its own ratios.
    peers = [t for t in summary if t != subject and not (subject == "baseline" and t == "kaioken")]
    if not peers:
        continue
    print()
    print(f"{subject} vs peer (medians; req/s > 1 is faster, CPU/req < 1 is cheaper)")
    print(f"{'peer':<8} {'req/s ratio':>12} {'CPU/req ratio':>14} {'RSS ratio':>10}")
    for p in peers:
        s = summary[p]
        print(f"{p:<8} {k['rps'] / s['rps']:>12.3f} {k['cpu'] / s['cpu']:>14.3f} {k['rss'] / s['rss']:>10.2f}")
    # per-round ratios show how much the noise moves them
    if len(rounds) > 1:
        print(f"per-round CPU/req ratio ({subject} / peer): " + "; ".join(
            p + " " + " ".join(
                f"{float(kr['cpu_us_per_req']) / float(pr['cpu_us_per_req']):.3f}"
                for rd in rounds
                for kr in [r for r in by[subject] if r['round'] == rd]
                for pr in [r for r in by[p] if r['round'] == rd])
            for p in peers))
longs = [r for r in rows if r["round"] == "long"]
if longs:
    l = longs[0]
    print()
    line = (f"kaioken peak RSS: {l['duration']} run {int(l['max_rss_kib']) / 1024:.1f} MiB "
            f"({int(l['requests'])} requests, {l['rps']} req/s, {l['cpu_us_per_req']} us CPU/req)")
    if "kaioken" in by:
        short = [int(r["max_rss_kib"]) / 1024 for r in by["kaioken"]]
        line += f" vs {by['kaioken'][0]['duration']} runs {min(short):.1f}-{max(short):.1f} MiB"
    print(line)
print()
print(f"raw results: {sys.argv[1]} (tool outputs in {sys.argv[1][:-4]}/)")
EOF
