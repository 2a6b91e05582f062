#!/usr/bin/env python3
"""An output plugin for kaioken: every line kaioken sends, written to a file.

    kaioken run https://example.test/ -d 30s -o exec='python3 examples/plugins/output_to_file.py run.jsonl'

kaioken starts this script and writes JSON lines to its stdin (docs/outputs.md,
"exec: your own output plugin"):

    {"type": "start", "schema": 1, ...}      once, before the load: the run's plan
    {"type": "interval", "schema": 1, ...}   every --output-interval: totals and deltas
    {"type": "report", "schema": 1, ...}     once, the final report as -o report.json has it

then closes stdin, and gives the script --metrics-linger (5 s by default) to exit.

This one appends each line, as received, to the file named by its argument and
flushes it, so the file is whole whenever kaioken's run ends. At the end it prints
one line of totals to stderr (kaioken shows it, prefixed with `[exec]`). A forwarder
to statsd, Datadog or a database has the same shape: read stdin line by line,
json.loads each line, look at "type", send what it needs.

A plugin should read its stdin promptly: while it does not, kaioken keeps at most a
few lines waiting and drops interval lines beyond them (counted in the report's
`outputs`). It must exit after stdin ends; kaioken kills it after the linger.
"""

import json
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: output_to_file.py FILE", file=sys.stderr)
        return 2
    counts = {"start": 0, "interval": 0, "report": 0}
    requests = None
    with open(sys.argv[1], "a", encoding="utf-8") as out:
        for line in sys.stdin:
            message = json.loads(line)
            if message.get("schema") != 1:
                print(f"unknown schema {message.get('schema')!r}", file=sys.stderr)
                return 1
            kind = message["type"]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "report":
                requests = message["report"]["requests"]["total"]
            out.write(line if line.endswith("\n") else line + "\n")
            out.flush()
    print(
        f"output_to_file: {counts['start']} start, {counts['interval']} interval, "
        f"{counts['report']} report lines; {requests} requests",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
