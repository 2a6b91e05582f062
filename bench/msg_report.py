"""CSV rows and the summary for bench/ws.sh and bench/grpc.sh (run by them, not alone).

    python3 msg_report.py header
        the CSV's header line.
    python3 msg_report.py row KIND MODE ROUND TOOL DURATION CONNS RC OUT TIMEFILE SRV_CPU_S SRV_MSGS
        one CSV row for a run: KIND is ws or grpc, MODE echo, fire or unary; OUT the
        tool's stdout, TIMEFILE /usr/bin/time's "%U %S %M", SRV_CPU_S the server's CPU
        seconds during the run, SRV_MSGS the messages the server received during the
        run (empty when the server does not say).
    python3 msg_report.py summary CSV UNIT
        medians per mode and tool, and kaioken's ratios to each peer.

A row's `messages` is what the run completed: echo, a message whose reply came
back; fire-and-forget, a message sent; gRPC, a call answered with status OK.
CPU µs per message is the generator's user+sys CPU over those.
"""

import csv
import json
import math
import statistics
import sys

HEADER = ("mode,round,tool,duration,connections,messages,sent,received,errors,elapsed_s,"
          "msgs_per_s,user_s,sys_s,cpu_us_per_msg,max_rss_kib,server_cpu_pct,server_received,exit_code")


SENT = ("sent", "messages_sent")
RECEIVED = ("received", "messages_received")


def find_section(d, name):
    """The shallowest dict under key `name` anywhere in the report that holds a
    message count: where the counts sit in the JSON report is read, not assumed
    (a settings section of the same name, without counts, is passed over)."""
    queue = [d]
    while queue:
        x = queue.pop(0)
        if isinstance(x, dict):
            v = x.get(name)
            if isinstance(v, dict) and find_count(v, SENT + RECEIVED) is not None:
                return v
            queue.extend(x.values())
        elif isinstance(x, list):
            queue.extend(x)
    return None


def find_count(section, names):
    """The first whole number under one of `names` in `section` (nested dicts
    searched too: {"messages": {"sent": N}} as well as {"messages_sent": N})."""
    if not isinstance(section, dict):
        return None
    for n in names:
        v = section.get(n)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    for v in section.values():
        if isinstance(v, dict):
            c = find_count(v, names)
            if c is not None:
                return c
    return None


def parse_kaioken(kind, mode, d):
    req = d["requests"]
    responses = req.get("responses", req["total"] - req["errors"])
    ok = responses - req.get("unexpected_status", 0)
    errors = req.get("failed", req["errors"])
    section = find_section(d, "websocket" if kind == "ws" else "grpc")
    sent = find_count(section, SENT)
    received = find_count(section, RECEIVED)
    if mode == "fire":
        # fire-and-forget: a message counts when sent; an exchange is a send there
        messages = sent if sent is not None else req["total"] - req["errors"]
    else:
        # echo: an exchange answered; gRPC: a call answered with an expected status
        messages = ok
    if sent is None:
        sent = req["total"]
    if received is None:
        received = responses if mode != "fire" else 0
    return messages, sent, received, errors, float(d["elapsed_s"])


def parse_peer(kind, d):
    # the peers' scripts print one JSON line (bench/node/*.js, bench/py/*.py)
    if kind == "ws":
        return d["messages"], d["sent"], d["received"], d["errors"], float(d["elapsed_s"])
    return d["ok"], d["calls"], d["ok"], d["errors"], float(d["elapsed_s"])


def row(args):
    kind, mode, rnd, tool, dur, conns, rc, out, tf, srv_cpu, srv_msgs = args
    text = open(out).read()
    # /usr/bin/time writes "Command exited with non-zero status N" first on failure.
    user, sys_, rss = open(tf).read().split("\n")[-2].split()
    user, sys_, rss = float(user), float(sys_), int(rss)
    messages = sent = received = errors = 0
    elapsed = rate = float("nan")
    try:
        if tool.startswith("kaioken") or tool.startswith("baseline"):
            d = json.loads(text)
            messages, sent, received, errors, elapsed = parse_kaioken(kind, mode, d)
        else:
            d = json.loads(text.strip().splitlines()[-1])
            messages, sent, received, errors, elapsed = parse_peer(kind, d)
        rate = messages / elapsed if elapsed > 0 else float("nan")
    except Exception as e:  # keep the row, mark it unusable
        print(f"[bench] could not parse {tool} output: {e!r}", file=sys.stderr)
    cpu_per = (user + sys_) * 1e6 / messages if messages else float("nan")
    srv_pct = float(srv_cpu) * 100 / elapsed if elapsed > 0 else float("nan")
    print(f"{mode},{rnd},{tool},{dur},{conns},{messages},{sent},{received},{errors},"
          f"{elapsed:.3f},{rate:.1f},{user:.2f},{sys_:.2f},{cpu_per:.3f},{rss},"
          f"{srv_pct:.0f},{srv_msgs},{rc}")


def med(rs, k):
    xs = [float(r[k]) for r in rs if not math.isnan(float(r[k]))]
    return statistics.median(xs) if xs else float("nan")


def ratio(a, b):
    return a / b if b and not math.isnan(b) else float("nan")


def summary(args):
    path, unit = args
    rows = list(csv.DictReader(open(path)))
    for mode in dict.fromkeys(r["mode"] for r in rows):
        by = {}
        for r in rows:
            if r["mode"] == mode:
                by.setdefault(r["tool"], []).append(r)
        print()
        print(f"mode {mode}: {unit}s completed per second, generator CPU per {unit}")
        print(f"{'tool':<10} {'runs':>4} {'median ' + unit + '/s':>16} {'median CPU us/' + unit:>20}"
              f" {'max RSS MiB':>12} {'errors':>7} {'server CPU %':>13}")
        s = {}
        for tool, rs in by.items():
            s[tool] = dict(rate=med(rs, "msgs_per_s"), cpu=med(rs, "cpu_us_per_msg"),
                           rss=max(int(r["max_rss_kib"]) for r in rs) / 1024,
                           errors=sum(int(r["errors"]) for r in rs), srv=med(rs, "server_cpu_pct"))
            t = s[tool]
            print(f"{tool:<10} {len(rs):>4} {t['rate']:>16.0f} {t['cpu']:>20.2f} {t['rss']:>12.1f}"
                  f" {t['errors']:>7} {t['srv']:>13.0f}")
        if "kaioken" in s and len(s) > 1:
            k = s["kaioken"]
            print(f"kaioken vs peer (medians; {unit}/s > 1 is faster, CPU/{unit} < 1 is cheaper)")
            print(f"{'peer':<10} {unit + '/s ratio':>16} {'CPU/' + unit + ' ratio':>20} {'RSS ratio':>10}")
            for p, t in s.items():
                if p != "kaioken":
                    print(f"{p:<10} {ratio(k['rate'], t['rate']):>16.3f}"
                          f" {ratio(k['cpu'], t['cpu']):>20.3f} {ratio(k['rss'], t['rss']):>10.2f}")
    print()
    print(f"server CPU % near 100 means the server, not the generator, set the pace: compare "
          f"CPU per {unit} then, not {unit}s/s")
    print(f"raw results: {path} (tool outputs in {path[:-4]}/)")


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "header":
        print(HEADER)
    elif cmd == "row" and len(rest) == 11:
        row(rest)
    elif cmd == "summary" and len(rest) == 2:
        summary(rest)
    else:
        sys.exit(__doc__)
