#!/usr/bin/env bash
# How fast kaioken gets going: the time from process start to its first request on
# the wire for a URL run, beside oha's; and how long a 10,000-entry HAR recording
# takes to compile (`--dry-run`, the whole process, so an upper bound).
#
# The first-request time is taken by one Python process that listens on loopback,
# notes the monotonic clock, starts the tool, and notes the clock again when the
# request's first bytes arrive (so Python's fork and exec are inside the number).
# The HAR is generated here: 10,000 entries to 127.0.0.1, a fifth of them POSTs
# with JSON bodies, each response with an id and a token (the correlator's work).
#
# Env knobs: BENCH_RUNS (20 first-request runs per tool, 5 HAR runs),
# BENCH_TOOLS ("kaioken oha"), BENCH_NO_BUILD=1 (use target/release/kaioken).
set -euo pipefail

RUNS=${BENCH_RUNS:-20}
TOOLS=${BENCH_TOOLS:-kaioken oha}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_TAG=startup
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

case $RUNS in '' | *[!0-9]*) die "BENCH_RUNS must be a number (got '$RUNS')" ;; esac
for t in $TOOLS; do
    case $t in kaioken | oha) ;; *) die "unknown tool '$t' in BENCH_TOOLS" ;; esac
done
if [[ " $TOOLS " == *" oha "* ]]; then ensure_oha; fi
build_kaioken

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaioken-startup.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

python3 - "$KAIOKEN" "$RUNS" "$WORK" $TOOLS <<'EOF'
import json, os, socket, statistics, subprocess, sys, threading, time

kaioken, runs, work, tools = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]

def first_request_ms(cmd_for):
    """Start the tool against a fresh listener; ms from before the spawn to the
    first bytes of its first request."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    url = f"http://127.0.0.1:{srv.getsockname()[1]}/"
    arrived = []

    def serve():
        conn, _ = srv.accept()
        data = conn.recv(4096)
        arrived.append(time.monotonic())
        while b"\r\n\r\n" not in data:
            more = conn.recv(4096)
            if not more:
                break
            data += more
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    start = time.monotonic()
    p = subprocess.run(cmd_for(url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    t.join(5)
    srv.close()
    if p.returncode != 0 or not arrived:
        sys.exit(f"[startup] {cmd_for(url)[0]} failed (exit {p.returncode}): {p.stderr.decode()[-500:]}")
    return (arrived[0] - start) * 1e3

commands = {
    "kaioken": lambda url: [kaioken, url, "-n", "1", "-c", "1", "--no-tui", "--json"],
    "oha": lambda url: ["oha", "-n", "1", "-c", "1", "--no-tui", url],
}
times = {t: [] for t in tools}
for _ in range(runs):  # interleaved, so noise falls on every tool alike
    for t in tools:
        times[t].append(first_request_ms(commands[t]))

print()
print(f"first request on the wire, ms from spawn ({runs} runs each)")
print(f"{'tool':<8} {'median':>8} {'p90':>8} {'min':>8}")
for t, xs in times.items():
    xs.sort()
    print(f"{t:<8} {statistics.median(xs):>8.2f} {xs[int(0.9 * (len(xs) - 1))]:>8.2f} {xs[0]:>8.2f}")
if "kaioken" in times and "oha" in times:
    print(f"kaioken / oha (medians): {statistics.median(times['kaioken']) / statistics.median(times['oha']):.3f}")

# A 10,000-entry recording.
entries = []
for i in range(10000):
    method = "POST" if i % 5 == 0 else "GET"
    req = {
        "method": method,
        "url": f"http://127.0.0.1:8080/api/items/{i}?page={i % 7}&q=x{i}",
        "httpVersion": "HTTP/1.1",
        "headers": [{"name": "Accept", "value": "application/json"},
                    {"name": "X-Req", "value": str(i)}],
        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1,
    }
    if method == "POST":
        req["postData"] = {"mimeType": "application/json",
                           "text": json.dumps({"prev": f"tok{i - 1:08d}abcdef", "n": i})}
    body = json.dumps({"id": i, "token": f"tok{i:08d}abcdef"})
    entries.append({
        "startedDateTime": "2026-11-30T10:00:00.000Z", "time": 12, "request": req,
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                     "headers": [{"name": "Content-Type", "value": "application/json"}],
                     "cookies": [], "content": {"size": len(body), "mimeType": "application/json", "text": body},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(body)},
        "cache": {}, "timings": {"send": 0, "wait": 10, "receive": 2},
    })
har = os.path.join(work, "big.har")
with open(har, "w") as f:
    json.dump({"log": {"version": "1.2", "creator": {"name": "bench", "version": "1"}, "entries": entries}}, f)
walls = []
for _ in range(max(3, runs // 4)):
    start = time.monotonic()
    p = subprocess.run([kaioken, har, "--dry-run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    walls.append((time.monotonic() - start) * 1e3)
    if p.returncode != 0:
        sys.exit(f"[startup] kaioken --dry-run of the HAR failed: {p.stderr.decode()[-500:]}")
steps = p.stdout.decode().count("\n  step ")
print()
print(f"10,000-entry HAR ({os.path.getsize(har) / 1e6:.1f} MB, {steps} steps), `kaioken big.har --dry-run`, whole process:")
print(f"median {statistics.median(walls):.0f} ms, min {min(walls):.0f} ms ({len(walls)} runs)")
EOF
