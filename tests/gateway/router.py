"""A trace-id routing proxy: a small stand-in for the Collector's `loadbalancing` exporter.

`TraceRouter(replicas)` listens on 127.0.0.1 and takes OTLP/HTTP protobuf exports; it splits each request by
trace id, sends each trace's spans or log records to one replica (the trace id's hash modulo the replicas
it has), and answers 200 only when every part was answered 200, else 503: the sender retries what was
not accepted. A replica that cannot be reached is taken out of the ring and its part goes to the next
one, as the Collector's resolver does when a replica leaves (`routing_key: traceID`).
"""

from __future__ import annotations

import threading
import zlib
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class TraceRouter:
    """Routes OTLP protobuf exports to gateway replicas by trace id."""

    def __init__(self, replicas: list[str]) -> None:
        self.replicas = list(replicas)
        self.alive = list(replicas)
        self.lock = threading.Lock()
        self.session = requests.Session()
        self.routed: dict[str, int] = defaultdict(int)
        router = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = router.route(self.path, body, dict(self.headers.items()))
                self.send_response(status)
                if status != 200:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TraceRouter:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def replica_of(self, trace_id: bytes) -> str:
        with self.lock:
            return self.alive[zlib.crc32(trace_id) % len(self.alive)]

    def route(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        forward = {k: v for k, v in headers.items() if k.lower() in ("x-api-key", "authorization")}
        forward["Content-Type"] = "application/x-protobuf"
        for _ in range(len(self.replicas)):
            parts = dict(self._split(path, body))
            failed = False
            for replica, part in parts.items():
                try:
                    answer = self.session.post(f"{replica}{path}", data=part, headers=forward, timeout=30)
                except requests.ConnectionError:
                    with self.lock:  # the replica is gone: the ring shrinks, and the request is routed again
                        if replica in self.alive and len(self.alive) > 1:
                            self.alive.remove(replica)
                    failed = True
                    break
                if answer.status_code != 200:
                    return 503
                with self.lock:
                    self.routed[replica] += 1
            if not failed:
                return 200
        return 503

    def _split(self, path: str, body: bytes) -> Iterator[tuple[str, bytes]]:
        """Yield (replica, request body) with each trace's items at one replica."""
        if path == "/v1/traces":
            traces = ExportTraceServiceRequest.FromString(body)
            out: dict[str, Any] = defaultdict(ExportTraceServiceRequest)
            for resource_spans in traces.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        request = out[self.replica_of(span.trace_id)]
                        target = request.resource_spans.add()
                        target.resource.CopyFrom(resource_spans.resource)
                        scope = target.scope_spans.add()
                        scope.scope.CopyFrom(scope_spans.scope)
                        scope.spans.append(span)
        else:
            logs = ExportLogsServiceRequest.FromString(body)
            out = defaultdict(ExportLogsServiceRequest)
            for resource_logs in logs.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        request = out[self.replica_of(record.trace_id)]
                        target = request.resource_logs.add()
                        target.resource.CopyFrom(resource_logs.resource)
                        scope = target.scope_logs.add()
                        scope.scope.CopyFrom(scope_logs.scope)
                        scope.log_records.append(record)
        for replica, request in out.items():
            yield replica, request.SerializeToString()
