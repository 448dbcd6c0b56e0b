"""What the gateway's tests send: OTLP/JSON made from the SDK's own protobuf, and a conversation's telemetry.

The Python SDK's OTLP/HTTP exporters speak protobuf only (its JSON exporter pins transport packages that
conflict with the protobuf exporter's), so JSON is made here from the SDK's own encoder: protobuf's JSON
with the ids in hex, as OTLP/JSON asks. `JsonSpanExporter` and `JsonLogExporter` post it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import requests
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

ID_KEYS = ("traceId", "spanId", "parentSpanId")


def otlp_json(message: Message) -> bytes:
    """Return an export request as OTLP/JSON: protobuf's JSON with hex trace and span ids."""
    document = json_format.MessageToDict(message)
    _hex_ids(document)
    return json.dumps(document).encode()


def _hex_ids(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


class JsonSpanExporter(SpanExporter):
    """Posts spans as OTLP/JSON, as an OTLP/HTTP exporter configured for `http/json` does."""

    def __init__(self, endpoint: str, headers: dict[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        answer = requests.post(
            self.endpoint, data=otlp_json(encode_spans(spans)), headers=self.headers, timeout=10
        )
        return SpanExportResult.SUCCESS if answer.status_code == 200 else SpanExportResult.FAILURE


class JsonLogExporter(LogRecordExporter):
    """Posts log records as OTLP/JSON."""

    def __init__(self, endpoint: str, headers: dict[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        answer = requests.post(
            self.endpoint, data=otlp_json(encode_logs(batch)), headers=self.headers, timeout=10
        )
        return LogRecordExportResult.SUCCESS if answer.status_code == 200 else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered."""
        return True

    def shutdown(self) -> None:
        """Nothing to close."""
