#!/usr/bin/env bash
# Open-model accuracy: does the generator start requests at the rate it is asked
# for, and what does coordinated-omission correction do to the latency it reports?
#
# Against the same local nginx as run.sh (one worker pinned to CPU 1), with the
# generator pinned to CPU 0, for each target rate:
#   kaioken URL --arrival-rate R -d 10s --max-vus 200 --threads 1 --no-tui --json
#   oha URL -q R -z 10s -c 50 --worker-threads 1 [--latency-correction]
# (oha again with -c 200 when 50 connections miss the rate by more than 2%).
# Rates: 1000, 10000, and ~90% of and 100% of the ceiling, which is kaioken's
# closed-model throughput (-c 50 --threads 1, 5 s) measured at the start.
# kaioken runs once per engine in BENCH_ENGINES (tokio with KAIOKEN_NO_IO_URING=1;
# its rows are the tool `kaioken-tokio`), and the whole set BENCH_ROUNDS times,
# interleaved; with several rounds the summary ends with each tool's medians and
# the CPU ratios to `oha -q` (raw) per round.
#
# Env knobs: BENCH_DURATION (10s), BENCH_RATES ("1000 10000 auto"; "auto" adds
# 90% and 100% of the ceiling), BENCH_CEILING (req/s; skips measuring it),
# BENCH_CEILING_DURATION (5s), BENCH_MAX_VUS (200), BENCH_OHA_CONNS (50),
# BENCH_OHA_RETRY_CONNS (200; empty to skip the retry), BENCH_GEN_CPU (0),
# BENCH_SERVER_CPU (1), NGINX (/usr/sbin/nginx), BENCH_ENGINES ("io_uring
# tokio"), BENCH_ROUNDS (1), BENCH_OHA_CORRECTION ("off on"), BENCH_WARMUP (none;
# e.g. 1s: kaioken runs `--warmup` first, which opens its connections before
# anything is recorded; without one the first second's connecting is in the lag
# and latency. oha has no warm-up, so it then runs the warm-up's time longer, and
# both tools' CPU covers the same time). Builds the release binary first (under
# CARGO_TARGET_DIR when set) unless BENCH_NO_BUILD=1.
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
RATES=${BENCH_RATES:-1000 10000 auto}
CEILING=${BENCH_CEILING:-}
CEIL_DURATION=${BENCH_CEILING_DURATION:-5s}
MAX_VUS=${BENCH_MAX_VUS:-200}
OHA_CONNS=${BENCH_OHA_CONNS:-50}
OHA_RETRY_CONNS=${BENCH_OHA_RETRY_CONNS-200}
GEN_CPU=${BENCH_GEN_CPU:-0}
SRV_CPU=${BENCH_SERVER_CPU:-$(($(nproc) >= 2 ? 1 : 0))}
ENGINES=${BENCH_ENGINES:-io_uring tokio}
ROUNDS=${BENCH_ROUNDS:-1}
OHA_CORRECTION=${BENCH_OHA_CORRECTION:-off on}
WARMUP=${BENCH_WARMUP:-}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=$ROOT/bench/results
NGINX=${NGINX:-/usr/sbin/nginx}
TIME=/usr/bin/time

BENCH_TAG=accuracy
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

case $DURATION in *[0-9]s) ;; *) die "BENCH_DURATION must be whole seconds like 10s (got '$DURATION')" ;; esac
case $CEIL_DURATION in *[0-9]s) ;; *) die "BENCH_CEILING_DURATION must be whole seconds like 5s" ;; esac
case $WARMUP in '' | *[0-9]s) ;; *) die "BENCH_WARMUP must be whole seconds like 1s (got '$WARMUP')" ;; esac
# oha's run is as long as kaioken's warm-up and run together.
WARMUP_S=${WARMUP:-0s}
OHA_DURATION=$((${DURATION%s} + ${WARMUP_S%s}))s
for r in $RATES; do
    case $r in auto) ;; '' | *[!0-9]*) die "BENCH_RATES: '$r' is neither a whole number nor 'auto'" ;; esac
done
case $CEILING in *[!0-9]*) die "BENCH_CEILING must be a whole number of req/s" ;; esac
case $ROUNDS in '' | *[!0-9]* | 0) die "BENCH_ROUNDS must be a whole number of rounds, 1 or more" ;; esac
for e in $ENGINES; do
    case $e in io_uring | tokio) ;; *) die "BENCH_ENGINES: '$e' is neither io_uring nor tokio" ;; esac
done
for c in $OHA_CORRECTION; do
    case $c in on | off) ;; *) die "BENCH_OHA_CORRECTION: '$c' is neither on nor off" ;; esac
done

for c in python3 taskset; do command -v "$c" >/dev/null || die "$c is required"; done
[[ $(nproc) -ge 2 ]] || log "warning: fewer than 2 CPUs; generator and server will share a core"
[[ -x $TIME ]] || apt_install time
ensure_nginx
PATH=$HOME/.cargo/bin:$PATH
if ! command -v oha >/dev/null; then
    log "installing oha with cargo (takes several minutes, cached afterwards)"
    cargo install oha --locked
fi
# As run.sh: measure the checked-out code, not a release binary left from before.
build_kaioken

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaioken-accuracy.XXXXXX")
cleanup() {
    nginx_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nginx_start
log "generator on CPU $GEN_CPU; kaioken $("$KAIOKEN" --version | awk '{print $NF}'), $(oha --version)"

mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CSV=$RESULTS/accuracy-$STAMP.csv
RAW=$RESULTS/accuracy-$STAMP
mkdir -p "$RAW"
echo "tool,correction,connections,target_rps,duration,planned,sent,sent_ratio,started,achieved_rate,requests,errors,elapsed_s,req_rate,ratio,error_pct,dropped,sched_lag_p99_ms,sched_lag_max_ms,lat_p50_ms,lat_p99_ms,unc_p50_ms,unc_p99_ms,vus_max_active,user_s,sys_s,exit_code,round,engine" >"$CSV"

# run_gen NAME CMD...: run one generator pinned to the generator CPU under
# /usr/bin/time; raw stdout/stderr/time land in $RAW/NAME.{out,err,time}.
run_gen() {
    local name=$1
    shift
    local rc=0
    taskset -c "$GEN_CPU" "$TIME" -f '%U %S %M' -o "$RAW/$name.time" "$@" >"$RAW/$name.out" 2>"$RAW/$name.err" || rc=$?
    [[ -s $RAW/$name.err ]] || rm -f "$RAW/$name.err"
    return $rc
}

# ------------------------------------------------------------- ceiling --

CEILING_FROM="kaioken closed model, -c 50 --threads 1, $CEIL_DURATION"
if [[ -n $CEILING ]]; then
    CEILING_FROM="BENCH_CEILING"
else
    log "ceiling: kaioken -c 50 --threads 1 for $CEIL_DURATION (closed model)"
    run_gen ceiling "$KAIOKEN" "$URL" -c 50 -d "$CEIL_DURATION" --threads 1 --no-tui --json ||
        die "ceiling run failed (exit $?); see $RAW/ceiling.*"
    CEILING=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["requests"]["rps"]))' "$RAW/ceiling.out")
    log "ceiling: $CEILING req/s"
fi
TARGETS=()
for r in $RATES; do
    if [[ $r == auto ]]; then
        # ~90% and 100% of the ceiling, rounded down to a thousand
        TARGETS+=("$((CEILING * 9 / 10 / 1000 * 1000))" "$((CEILING / 1000 * 1000))")
    else
        TARGETS+=("$r")
    fi
done
log "target rates: ${TARGETS[*]} iterations/s, $DURATION each"

# ------------------------------------------------------------------ run --

# record TOOL CORRECTION CONNS TARGET NAME RC: parse $RAW/NAME.out, append a CSV
# row, print it on stderr; prints the achieved/target ratio on stdout.
# planned = target x duration; sent = iterations started (kaioken) or requests
# sent, including those cut off at the deadline (oha). achieved_rate and ratio:
# kaioken's iterations.achieved_rate (iterations started over the planned
# duration), oha's responses over its own elapsed time.
record() {
    local planned=$DURATION
    [[ $1 == oha ]] && planned=$OHA_DURATION
    python3 - "$@" "$RAW" "$planned" >>"$CSV" <<'EOF'
import json, sys
tool, corr, conns, target, name, rc, rnd, raw, dur = sys.argv[1:]
target = float(target)
nan = float("nan")
user = sys_ = nan
try:
    user, sys_, _ = open(f"{raw}/{name}.time").read().split("\n")[-2].split()
    user, sys_ = float(user), float(sys_)
except Exception:
    pass
row = dict(sent=nan, started=nan, achieved=nan, requests=0, errors=0, elapsed=nan, dropped=nan,
           lag99=nan, lagmax=nan, p50=nan, p99=nan, up50=nan, up99=nan, vus=nan, engine="")
try:
    d = json.load(open(f"{raw}/{name}.out"))
    if tool.startswith("kaioken"):
        it, rq = d["iterations"], d["requests"]
        row.update(sent=it["started"], started=it["started"], achieved=it["achieved_rate"], dropped=it["dropped"],
                   requests=rq["total"], errors=rq["errors"], elapsed=d["elapsed_s"],
                   lag99=d["schedule_lag_ms"]["p99"], lagmax=d["schedule_lag_ms"]["max"],
                   p50=d["latency_ms"]["p50"], p99=d["latency_ms"]["p99"],
                   up50=d["latency_uncorrected_ms"]["p50"], up99=d["latency_uncorrected_ms"]["p99"],
                   vus=d["vus"]["max_active"], engine=d["settings"]["engine"])
    else:
        # Completed responses over oha's own elapsed time; requests cut off at the
        # deadline ("aborted due to deadline", at most one per connection) are not
        # counted. oha has no notion of started/dropped iterations or schedule lag.
        responses = sum(d["statusCodeDistribution"].values())
        errs = sum(v for k, v in d["errorDistribution"].items() if "deadline" not in k)
        aborted = sum(v for k, v in d["errorDistribution"].items() if "deadline" in k)
        errs += sum(v for k, v in d["statusCodeDistribution"].items() if not k.startswith("2"))
        el = d["summary"]["total"]
        lp = d["latencyPercentiles"]
        row.update(sent=responses + errs + aborted, requests=responses + errs, errors=errs, elapsed=el,
                   achieved=(responses + errs) / el,
                   p50=lp["p50"] * 1e3, p99=lp["p99"] * 1e3)
except Exception as e:  # keep the row, mark it unusable
    print(f"[accuracy] could not parse {name}: {e!r}", file=sys.stderr)
req_rate = row["requests"] / row["elapsed"] if row["elapsed"] == row["elapsed"] else nan
ratio = row["achieved"] / target
planned = target * float(dur.rstrip("s"))
f = lambda x, p=3: "" if x != x else f"{x:.{p}f}"
i = lambda x: "" if x != x else str(int(x))
print(",".join([tool, corr, conns, i(target), dur, i(planned), i(row["sent"]),
                f(row["sent"] / planned, 4), i(row["started"]), f(row["achieved"], 1),
                str(row["requests"]), str(row["errors"]), f(row["elapsed"]), f(req_rate, 1),
                f(ratio, 4), f((ratio - 1) * 100, 2), i(row["dropped"]), f(row["lag99"]),
                f(row["lagmax"]), f(row["p50"]), f(row["p99"]), f(row["up50"]), f(row["up99"]),
                i(row["vus"]), f(user, 2), f(sys_, 2), rc, rnd, row["engine"]]))
print(f"[accuracy] {tool:<13} {'corr' if corr == 'on' else 'raw ':<4} c={conns:<4} target {target:>8.0f}/s "
      f"achieved {row['achieved']:>9.1f}/s ({(ratio - 1) * 100:+.2f}%)  dropped {i(row['dropped']) or '-'}  "
      f"errors {row['errors']}  p50 {row['p50']:.3f} p99 {row['p99']:.3f} ms  "
      f"lag p99 {row['lag99']:.3f} ms  cpu {user + sys_:.2f}s  exit {rc}", file=sys.stderr)
EOF
    tail -n1 "$CSV" | cut -d, -f15
}

# run_kaioken RATE ENGINE ROUND
run_kaioken() {
    local rate=$1 engine=$2 round=$3 rc=0 tool=kaioken env=() extra=()
    [[ $engine == tokio ]] && tool=kaioken-tokio env=(KAIOKEN_NO_IO_URING=1)
    local name=$tool.$rate.r$round
    if [[ -n $WARMUP ]]; then extra=(--warmup "$WARMUP"); fi
    run_gen "$name" env "${env[@]}" "$KAIOKEN" "$URL" --arrival-rate "$rate" -d "$DURATION" \
        "${extra[@]}" --max-vus "$MAX_VUS" --threads 1 --no-tui --json || rc=$?
    record "$tool" on "$MAX_VUS" "$rate" "$name" "$rc" "$round" >/dev/null
}

# run_oha RATE CONNS on|off ROUND: prints the achieved/target ratio.
run_oha() {
    local rate=$1 conns=$2 corr=$3 round=$4 rc=0 name=oha.$1.c$2.$3.r$4 extra=()
    [[ $corr == on ]] && extra=(--latency-correction)
    run_gen "$name" oha "$URL" -q "$rate" -z "$OHA_DURATION" -c "$conns" --worker-threads 1 \
        "${extra[@]}" --no-tui --output-format json || rc=$?
    record oha "$corr" "$conns" "$rate" "$name" "$rc" "$round"
}

short() { python3 -c 'import sys; print(int(float(sys.argv[1]) < 0.98))' "${1:-0}"; }

for round in $(seq 1 "$ROUNDS"); do
    [[ $ROUNDS == 1 ]] || log "round $round of $ROUNDS"
    for rate in "${TARGETS[@]}"; do
        for engine in $ENGINES; do run_kaioken "$rate" "$engine" "$round"; done
        missed=0
        for corr in $OHA_CORRECTION; do
            ratio=$(run_oha "$rate" "$OHA_CONNS" "$corr" "$round")
            [[ $(short "$ratio") == 1 ]] && missed=1
        done
        if [[ $missed == 1 && -n $OHA_RETRY_CONNS && $OHA_RETRY_CONNS != "$OHA_CONNS" ]]; then
            log "oha -c $OHA_CONNS missed $rate/s by more than 2%; again with -c $OHA_RETRY_CONNS"
            for corr in $OHA_CORRECTION; do run_oha "$rate" "$OHA_RETRY_CONNS" "$corr" "$round" >/dev/null; done
        fi
    done
done

cp "$WORK/nginx.conf" "$WORK/error.log" "$RAW/" 2>/dev/null || true

# -------------------------------------------------------------- summary --

python3 - "$CSV" "$CEILING" "$CEILING_FROM" <<'EOF' | tee "$RAW/summary.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print()
print(f"ceiling ({sys.argv[3]}): {sys.argv[2]} req/s")
print("achieved = iterations started / duration (kaioken) or responses / elapsed (oha); ratio = achieved / target;")
print("sent/plan = iterations started (kaioken) or requests sent (oha) / (target x duration)")
hdr = (f"{'target/s':>9} {'tool':<15} {'achieved/s':>11} {'ratio':>7} {'err %':>7} {'sent/plan':>9} "
       f"{'dropped':>8} {'errors':>6} {'lag p99':>8} {'p50':>8} {'p99':>9} {'raw p50':>8} {'raw p99':>8} {'cpu s':>6}")
print(hdr)
print("-" * len(hdr))
for r in rows:
    label = r["tool"] if r["tool"].startswith("kaioken") else f"oha -c{r['connections']} {'corr' if r['correction'] == 'on' else 'raw'}"
    dash = lambda k: r[k] if r[k] != "" else "-"
    cpu = lambda r: f"{float(r['user_s']) + float(r['sys_s']):.2f}" if r["user_s"] and r["sys_s"] else "-"
    print(f"{r['target_rps']:>9} {label:<15} {dash('achieved_rate'):>11} {dash('ratio'):>7} "
          f"{dash('error_pct'):>7} {dash('sent_ratio'):>9} {dash('dropped'):>8} {r['errors']:>6} "
          f"{dash('sched_lag_p99_ms'):>8} {dash('lat_p50_ms'):>8} {dash('lat_p99_ms'):>9} "
          f"{dash('unc_p50_ms'):>8} {dash('unc_p99_ms'):>8} {cpu(r):>6}"
          + ("" if r["exit_code"] == "0" else f"  exit {r['exit_code']}"))
print()
print("latency in ms. kaioken p50/p99: corrected (from the scheduled start); raw: from the actual send.")
print("cpu s = user + sys CPU seconds of the generator process for the whole run (/usr/bin/time).")
print("oha: 'corr' = --latency-correction, 'raw' = without; oha reports no schedule lag or drops.")
print(f"raw results: {sys.argv[1]} (tool outputs in {sys.argv[1][:-4]}/)")

# Several rounds: each tool's medians per target, and its CPU over oha -q's (raw,
# the first connection count) in the same round: median and range.
rounds = sorted({r["round"] for r in rows})
if len(rounds) > 1:
    from statistics import median
    cpu = lambda r: float(r["user_s"]) + float(r["sys_s"]) if r["user_s"] and r["sys_s"] else None
    num = lambda v: float(v) if v not in ("", None) else None
    oha_conns = min((int(r["connections"]) for r in rows if r["tool"] == "oha"), default=None)
    print()
    print(f"medians over {len(rounds)} rounds; cpu/oha = CPU over oha -c{oha_conns} raw's in the same round")
    hdr = (f"{'target/s':>9} {'tool':<15} {'engine':<9} {'ratio':>7} {'lag p99':>8} {'cpu s':>6} "
           f"{'cpu/oha':>8} {'cpu/oha range':>14}")
    print(hdr)
    print("-" * len(hdr))
    targets = sorted({int(r["target_rps"]) for r in rows})
    tools = [t for t in dict.fromkeys(r["tool"] for r in rows) if t.startswith("kaioken")] + ["oha"]
    for t in targets:
        for tool in tools:
            mine = [r for r in rows if int(r["target_rps"]) == t and r["tool"] == tool
                    and (tool != "oha" or (r["correction"] == "off" and int(r["connections"]) == oha_conns))]
            if not mine:
                continue
            ratios = []
            for r in mine:
                o = [x for x in rows if x["tool"] == "oha" and x["round"] == r["round"]
                     and int(x["target_rps"]) == t and x["correction"] == "off"
                     and int(x["connections"]) == oha_conns]
                if o and cpu(r) is not None and cpu(o[0]):
                    ratios.append(cpu(r) / cpu(o[0]))
            vals = lambda k: [v for v in (num(r[k]) for r in mine) if v is not None]
            med = lambda xs, p=3: f"{median(xs):.{p}f}" if xs else "-"
            cpus = [c for c in (cpu(r) for r in mine) if c is not None]
            rng = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
            engines = ",".join(sorted({r["engine"] for r in mine})) or "-"
            print(f"{t:>9} {tool:<15} {engines:<9} {med(vals('ratio'), 4):>7} {med(vals('sched_lag_p99_ms')):>8} "
                  f"{med(cpus, 2):>6} {med(ratios, 2):>8} {rng:>14}")
EOF
