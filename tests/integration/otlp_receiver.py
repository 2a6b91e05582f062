"""An OTLP/HTTP receiver for kaioken's integration tests (tests/integration/otlp.rs).

Accepts POST /v1/metrics and /v1/traces with protobuf bodies, decodes them with the
official `opentelemetry-proto` messages, answers 200 with an empty Export*Response,
and appends one JSON line per request to OUT:

    {"path": "/v1/traces", "content_type": "...", "content_encoding": null,
     "body": {...MessageToDict of the request...}, "error": null}

Trace and span ids (bytes, which MessageToDict renders as base64) are rewritten as
lowercase hex, as W3C `traceparent` headers carry them. A body that does not decode
is answered 400 and logged with its error. Once listening, it creates OUT.ready.
With STALL > 0 every request is logged
when it arrives, then answered only after STALL seconds: a stalled collector.

Usage: otlp_receiver.py PORT OUT [STALL]
"""

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

PORT, OUT = int(sys.argv[1]), sys.argv[2]
STALL = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0

MESSAGES = {
    "/v1/metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    "/v1/traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
    ),
}
ID_KEYS = ("traceId", "spanId", "parentSpanId")
lock = threading.Lock()


def hex_ids(value):
    """Rewrite base64 ids as hex, everywhere in a MessageToDict result."""
    if isinstance(value, dict):
        return {
            k: base64.b64decode(v).hex() if k in ID_KEYS and isinstance(v, str) else hex_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [hex_ids(v) for v in value]
    return value


def record(entry):
    with lock, open(OUT, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        entry = {
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "content_encoding": self.headers.get("Content-Encoding"),
            "body": None,
            "error": None,
        }
        messages = MESSAGES.get(self.path)
        response = None
        if messages is None:
            entry["error"] = "unknown path %s" % self.path
        else:
            request_type, response_type = messages
            try:
                message = request_type()
                message.ParseFromString(raw)
                entry["body"] = hex_ids(MessageToDict(message))
                response = response_type().SerializeToString()
            except Exception as e:  # a body that does not decode is the test's finding
                entry["error"] = "%s: %s" % (type(e).__name__, e)
        record(entry)
        if STALL > 0:
            time.sleep(STALL)
        if response is None:
            self.reply(404 if messages is None else 400, b"", "text/plain")
        else:
            self.reply(200, response, "application/x-protobuf")

    def reply(self, status, body, content_type):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a stalled receiver's usual end)

    def log_message(self, format, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", PORT), Handler)
# Bound: tell the harness, which waits for this file rather than for the port (which
# another process could hold).
open(OUT + ".ready", "w").close()
server.serve_forever()
