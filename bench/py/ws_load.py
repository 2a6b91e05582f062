"""WebSocket echo client for bench/ws.sh (the Python peer): N connections, each in a
closed loop (send, wait for the reply, send the next), for a fixed time, on one
asyncio event loop, with the `websockets` package.

    python3 ws_load.py URL CONNECTIONS SECONDS MESSAGE

Prints one JSON line: {"messages", "sent", "received", "errors", "elapsed_s",
"connections"}; exit 1 if no connection opened.
"""

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect


async def main(url: str, n: int, seconds: float, message: str) -> int:
    counts = {"sent": 0, "received": 0, "errors": 0}
    conns = []
    for result in await asyncio.gather(
        *(connect(url, compression=None, max_size=1 << 20, open_timeout=10) for _ in range(n)),
        return_exceptions=True,
    ):
        if isinstance(result, BaseException):
            counts["errors"] += 1
        else:
            conns.append(result)
    if not conns:
        print("ws_load: no connection opened", file=sys.stderr)
        return 1

    deadline = time.monotonic() + seconds

    async def loop(ws) -> None:
        try:
            while time.monotonic() < deadline:
                await ws.send(message)
                counts["sent"] += 1
                await ws.recv()
                counts["received"] += 1
        except Exception:  # a closed connection ends its loop, counted
            counts["errors"] += 1

    start = time.monotonic()
    await asyncio.gather(*(loop(ws) for ws in conns))
    elapsed = time.monotonic() - start
    for ws in conns:
        ws.transport.abort()
    print(json.dumps({"messages": counts["received"], **counts,
                      "elapsed_s": elapsed, "connections": len(conns)}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: python3 ws_load.py URL CONNECTIONS SECONDS MESSAGE")
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])))
