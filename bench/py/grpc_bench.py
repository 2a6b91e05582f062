"""gRPC server and closed-loop client for bench/grpc.sh, with grpcio's asyncio API
(grpc.aio) on one event loop. bench/bench.proto is compiled at start with
grpcio-tools into a scratch directory (nothing generated is kept).

    python3 grpc_bench.py server PORT PROTO
        bench.Bench/Echo answered with the request's fields, h2c on 127.0.0.1:PORT.
        Prints "listening PORT" when ready and, on SIGTERM, "calls N".
    python3 grpc_bench.py client TARGET PROTO CONCURRENCY SECONDS ID
        CONCURRENCY loops, each calling Echo({"id": ID}) and waiting for the reply
        before the next call, over one channel (one HTTP/2 connection, as
        grpc-js and kaioken use per connection), for SECONDS. Prints one JSON line:
        {"calls", "ok", "errors", "elapsed_s"}.
"""

import asyncio
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc


def load(proto: str):
    """Compile PROTO into a scratch directory, import its message and stub modules,
    and remove the directory (the modules stay loaded)."""
    out = tempfile.mkdtemp(prefix="kaioken-bench-proto.")
    try:
        return compile_and_import(proto, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def compile_and_import(proto: str, out: str):
    proto = os.path.abspath(proto)
    inc = os.path.dirname(proto)
    # grpc_tools ships the well-known types; protoc's main wants argv[0] too
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{inc}", f"-I{wkt}", f"--python_out={out}",
                      f"--grpc_python_out={out}", proto])
    if rc != 0:
        sys.exit(f"grpc_bench: protoc failed on {proto}")
    sys.path.insert(0, out)
    try:
        name = os.path.splitext(os.path.basename(proto))[0]
        return importlib.import_module(f"{name}_pb2"), importlib.import_module(f"{name}_pb2_grpc")
    finally:
        sys.path.remove(out)


async def server(port: int, proto: str) -> int:
    pb2, pb2_grpc = load(proto)
    calls = 0

    class Bench(pb2_grpc.BenchServicer):
        async def Echo(self, request, context):
            nonlocal calls
            calls += 1
            return pb2.EchoReply(id=request.id, payload=request.payload)

    srv = grpc.aio.server()
    pb2_grpc.add_BenchServicer_to_server(Bench(), srv)
    if srv.add_insecure_port(f"127.0.0.1:{port}") == 0:
        sys.exit(f"grpc_bench: cannot bind 127.0.0.1:{port}")
    await srv.start()
    print(f"listening {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"calls {calls}", flush=True)
    await srv.stop(0)
    return 0


async def client(target: str, proto: str, concurrency: int, seconds: float, ident: str) -> int:
    pb2, pb2_grpc = load(proto)
    counts = {"calls": 0, "ok": 0, "errors": 0}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb2_grpc.BenchStub(channel)
        request = pb2.EchoRequest(id=ident)
        try:
            await stub.Echo(request, timeout=10)
        except grpc.aio.AioRpcError as e:
            print(f"grpc_bench: first call to {target} failed: {e.code().name} {e.details()}",
                  file=sys.stderr)
            return 1
        deadline = time.monotonic() + seconds

        async def loop() -> None:
            while time.monotonic() < deadline:
                try:
                    await stub.Echo(request, timeout=10)
                    counts["ok"] += 1
                except grpc.aio.AioRpcError:
                    counts["errors"] += 1
                counts["calls"] += 1

        start = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.monotonic() - start
    print(json.dumps({**counts, "elapsed_s": elapsed}))
    return 0


def main() -> int:
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "server":
        return asyncio.run(server(int(args[1]), args[2]))
    if len(args) == 6 and args[0] == "client":
        return asyncio.run(client(args[1], args[2], int(args[3]), float(args[4]), args[5]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
