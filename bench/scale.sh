#!/usr/bin/env bash
# What an idle VU costs: kaioken with 100 and then 10,000 VUs (one keep-alive
# connection each) against a local nginx, each VU pausing between requests
# (think_time), so nearly all of them sit idle at any moment, as a crowd of users
# reading pages does. The difference in peak RSS over the 9,900 extra VUs is the
# user-space memory per idle VU (k6 reports 1-5 MB per VU).
#
# The soft limit on open files is raised to the hard limit for both nginx and
# kaioken (kaioken raises its own; a run that cannot fit is refused up front).
#
# Env knobs: BENCH_DURATION (10s), BENCH_ROUNDS (3), BENCH_VUS ("100 10000"),
# BENCH_THINK (1s), BENCH_NO_BUILD=1 (use target/release/kaioken), BENCH_TLS=1
# (nginx serves HTTPS and every VU keeps a TLS connection, verified with --cacert:
# what a TLS session adds per idle VU).
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
VUS=${BENCH_VUS:-100 10000}
THINK=${BENCH_THINK:-1s}
GEN_CPU=${BENCH_GEN_CPU:-0}
SRV_CPU=${BENCH_SERVER_CPU:-$(($(nproc) >= 2 ? 1 : 0))}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
TIME=/usr/bin/time
BENCH_TAG=scale
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

case $ROUNDS in '' | *[!0-9]*) die "BENCH_ROUNDS must be a number (got '$ROUNDS')" ;; esac
MAX_VUS=0
for v in $VUS; do
    case $v in '' | *[!0-9]*) die "BENCH_VUS must be numbers (got '$VUS')" ;; esac
    ((v > MAX_VUS)) && MAX_VUS=$v
done
[[ -x $TIME ]] || apt_install time
ensure_nginx
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) > MAX_VUS + 256)) || die "the hard limit on open files ($(ulimit -Hn)) is too low for $MAX_VUS connections"
build_kaioken

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaioken-scale.XXXXXX")
trap 'nginx_stop; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
# nginx warns that its connections are not enough, and closes idle ones, with
# little more than one per VU: give it twice as many.
NGINX_CONNECTIONS=$((2 * MAX_VUS + 256))
KTLS=()
if [[ ${BENCH_TLS:-0} == 1 ]]; then
    export NGINX_TLS=1
    KTLS=(--cacert "$WORK/ca.pem")
fi
nginx_start
printf '[request]\nthink_time = "%s"\n' "$THINK" >"$WORK/think.toml"

CSV=$WORK/scale.csv
echo "round,vus,requests,errors,engine,user_s,sys_s,max_rss_kib,exit_code" >"$CSV"
for round in $(seq "$ROUNDS"); do
    for v in $VUS; do
        rc=0
        taskset -c "$GEN_CPU" "$TIME" -f '%U %S %M' -o "$WORK/time" \
            "$KAIOKEN" -f "$WORK/think.toml" "$URL" -c "$v" -d "$DURATION" --threads 1 --no-tui --json "${KTLS[@]}" \
            >"$WORK/out.json" 2>"$WORK/err" </dev/null || rc=$?
        python3 - "$round" "$v" "$WORK/out.json" "$WORK/time" "$rc" >>"$CSV" <<'EOF'
import json, sys
rnd, vus, out, tf, rc = sys.argv[1:]
user, sys_, rss = open(tf).read().split("\n")[-2].split()
try:
    d = json.load(open(out))
    req, err, engine = d["requests"]["total"], d["requests"]["errors"], d["settings"]["engine"]
except Exception as e:
    print(f"[scale] could not read the report: {e!r}", file=sys.stderr)
    req, err, engine = 0, 0, "?"
print(f"{rnd},{vus},{req},{err},{engine},{user},{sys_},{rss},{rc}")
EOF
        tail -n1 "$CSV" | awk -F, '{printf "[scale] round %s  %6s VUs  %8s requests  %s errors  engine %s  %.1f MiB  exit %s\n", $1, $2, $3, $4, $5, $8/1024, $9}' >&2
        [[ $rc -eq 0 ]] || { cat "$WORK/err" >&2; die "kaioken exited with $rc"; }
    done
done

python3 - "$CSV" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    by.setdefault(int(r["vus"]), []).append(r)
print()
print(f"{'VUs':>7} {'median peak RSS MiB':>20} {'median requests':>16} {'errors':>7}  engine")
med = {}
for v in sorted(by):
    rs = by[v]
    med[v] = statistics.median(int(r["max_rss_kib"]) for r in rs)
    print(f"{v:>7} {med[v] / 1024:>20.1f} {statistics.median(int(r['requests']) for r in rs):>16.0f} "
          f"{sum(int(r['errors']) for r in rs):>7}  {rs[0]['engine']}")
lo, hi = min(med), max(med)
if hi > lo:
    print(f"\nuser-space memory per idle VU: {(med[hi] - med[lo]) / (hi - lo):.2f} KiB "
          f"(peak RSS at {hi} minus at {lo}, over {hi - lo} VUs)")
EOF
