"""The loopback sink every pipeline of the suite sends to, in a process of its own.

It answers any POST with 200 and counts what the body carries, by path: a JSON array counts its items
(Trubrics' `/publish_events` and `/publish_llm_events`, the official SDK's too), an OTLP protobuf body
its log records or spans (`/v1/logs`, `/v1/traces`), a msgpack array (logtail) its items. `GET /counts`
returns the counts as JSON, so the runner reads what a pipeline delivered as the difference of two reads.

Every pipeline pays the same for the sink: it parses what it is sent, as a real collector would, and
stores nothing. It speaks HTTP/1.1, so clients keep their connections.

Run: `python benchmarks/sink.py` prints `sink listening on http://127.0.0.1:PORT` and serves until killed.
"""

# ruff: noqa: PLC0415 - the decoders are imported by the first request that needs them

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def _items(path: str, content_type: str, body: bytes) -> int:
    """How many records a request body carries."""
    if "protobuf" in content_type:
        if path.endswith("/v1/traces"):
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

            traces = ExportTraceServiceRequest.FromString(body)
            return sum(len(scope.spans) for rs in traces.resource_spans for scope in rs.scope_spans)
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

        logs = ExportLogsServiceRequest.FromString(body)
        return sum(len(scope.log_records) for rl in logs.resource_logs for scope in rl.scope_logs)
    if "msgpack" in content_type:
        import msgpack  # type: ignore[import-not-found,unused-ignore]

        value = msgpack.unpackb(body)
    else:
        value = json.loads(body) if body else []
    return len(value) if isinstance(value, list) else 1


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        try:
            count = _items(path, self.headers.get("Content-Type", ""), body)
        except ValueError:  # cut short: a log job's process ends without waiting for its delivery
            return
        with _lock:
            _counts[path] += count
        self._answer(b'{"status": "success"}', "application/json")

    def do_GET(self) -> None:
        with _lock:
            body = json.dumps(dict(_counts)).encode()
        self._answer(body, "application/json")

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-request (a log job ends without waiting): nothing to count


def main() -> None:
    server = _Server(("127.0.0.1", 0), _Sink)
    print(f"sink listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
