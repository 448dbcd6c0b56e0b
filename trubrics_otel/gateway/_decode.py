"""OTLP export requests, protobuf or JSON, as the mapping's plain data: `SpanData` and `LogData`.

The in-process exporters build the same values from SDK objects (`_exporters.span_data`,
`_log_exporter.log_data`); this module builds them from the wire, so that a span that crossed a network
becomes exactly what it would have been in the process that made it: ids as lower-case hex, times in epoch
nanoseconds, attribute arrays as tuples (the SDK keeps them so), maps and arrays inside a value as dicts
and lists, bytes as bytes, an empty status message or scope name as None.

Both encodings go through OpenTelemetry's own protobuf classes (`opentelemetry-proto`). OTLP/JSON differs
from protobuf's canonical JSON in one way that matters here: trace and span ids are hex, not base64, so
they are rewritten before `json_format.ParseDict` reads the document.

An item that cannot be read (an id of the wrong length) is counted, not raised: the gateway answers it as
the `partial_success` OTLP defines. A body that cannot be decoded at all raises `UndecodableBodyError`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from trubrics_otel._log_pipeline import STRUCTLOG_KEYS
from trubrics_otel.mapping import CONTENT_EVENTS, LogData, SpanData, SpanEventData

__all__ = ["Decoded", "UndecodableBodyError", "decode_logs", "decode_spans"]

T = TypeVar("T")

_STATUS: Final = {
    Status.STATUS_CODE_UNSET: "UNSET",
    Status.STATUS_CODE_OK: "OK",
    Status.STATUS_CODE_ERROR: "ERROR",
}
_REMOTE_PARENT: Final = 0x100 | 0x200
"""SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK: the parent is known remote."""
_UNDECODABLE: Final = (
    DecodeError,
    json_format.ParseError,
    ValueError,
    TypeError,
    AttributeError,
    RecursionError,
)
"""What protobuf and json raise on a body that is not a request (JSON that is not an object, say)."""
_ID_KEYS: Final = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class UndecodableBodyError(ValueError):
    """The request body is not an OTLP export request in the encoding its content type names."""


@dataclass
class Decoded(Generic[T]):
    """The items of one export request that could be read, and how many could not, with the first reason."""

    items: list[T] = field(default_factory=list)
    rejected: int = 0
    problem: str = ""

    def reject(self, reason: str) -> None:
        """Count one item that could not be read."""
        self.rejected += 1
        if not self.problem:
            self.problem = reason


def decode_spans(body: bytes, *, json_encoded: bool) -> Decoded[SpanData]:
    """Return the spans of an OTLP trace export request, as the span exporter would have made them.

    Raises:
        UndecodableBodyError: the body is not an `ExportTraceServiceRequest` in that encoding.
    """
    request = _parse(ExportTraceServiceRequest, body, json_encoded)
    decoded: Decoded[SpanData] = Decoded()
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for span in scope_spans.spans:
                problem = _span_problem(span)
                if problem:
                    decoded.reject(problem)
                    continue
                decoded.items.append(_span(span, resource, scope))
    return decoded


def decode_logs(body: bytes, *, json_encoded: bool) -> Decoded[LogData]:
    """Return the log records of an OTLP logs export request, as the log exporter would have made them.

    Raises:
        UndecodableBodyError: the body is not an `ExportLogsServiceRequest` in that encoding.
    """
    request = _parse(ExportLogsServiceRequest, body, json_encoded)
    decoded: Decoded[LogData] = Decoded()
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                problem = _log_problem(record)
                if problem:
                    decoded.reject(problem)
                    continue
                decoded.items.append(_log(record))
    return decoded


# --- the request ---------------------------------------------------------------------------------


_Request = TypeVar("_Request", ExportTraceServiceRequest, ExportLogsServiceRequest)


def _parse(kind: Callable[[], _Request], body: bytes, json_encoded: bool) -> _Request:
    request = kind()
    encoding = "JSON" if json_encoded else "protobuf"
    try:
        if json_encoded:
            document = json.loads(body)
        else:
            request.ParseFromString(body)
    except _UNDECODABLE as error:
        raise UndecodableBodyError(f"not an OTLP {encoding} export request: {error}") from None
    if not json_encoded:
        return request
    if not isinstance(document, dict):
        raise UndecodableBodyError(
            f"not an OTLP JSON export request: a {type(document).__name__}, not an object"
        )
    try:
        json_format.ParseDict(_ids_as_base64(document), request, ignore_unknown_fields=True)
    except _UNDECODABLE as error:
        raise UndecodableBodyError(f"not an OTLP JSON export request: {error}") from None
    return request


def _ids_as_base64(node: Any) -> Any:
    """Rewrite OTLP/JSON's hex ids as the base64 protobuf's JSON reads for bytes fields, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = _hex_as_base64(value)
            elif isinstance(value, (dict, list)):
                _ids_as_base64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _ids_as_base64(item)
    return node


def _hex_as_base64(value: str) -> str:
    """An id in hex as base64; a value that is not hex is left to protobuf (some senders send base64)."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return value
    return base64.b64encode(raw).decode("ascii")


# --- spans ---------------------------------------------------------------------------------------


def _span_problem(span: Span) -> str:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"span {span.name!r} has no valid trace id (16 bytes, not all zero)"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"span {span.name!r} has no valid span id (8 bytes, not all zero)"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"span {span.name!r} has a parent span id that is not 8 bytes"
    return ""


def _span(span: Span, resource: Mapping[str, object], scope: str | None) -> SpanData:
    start = span.start_time_unix_nano
    return SpanData(
        name=span.name,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        start_time=start,
        end_time=span.end_time_unix_nano or start,
        attributes=_attributes(span.attributes),
        parent_span_id=span.parent_span_id.hex() if any(span.parent_span_id) else None,
        events=tuple(
            SpanEventData(event.name, event.time_unix_nano, _attributes(event.attributes))
            for event in span.events
        ),
        resource=resource,
        status_code=_STATUS.get(span.status.code, "UNSET"),  # type: ignore[arg-type]
        status_message=span.status.message or None,
        scope=scope,
        parent_is_remote=bool(span.parent_span_id) and span.flags & _REMOTE_PARENT == _REMOTE_PARENT,
    )


# --- log records ---------------------------------------------------------------------------------


def _log_problem(record: LogRecord) -> str:
    if record.span_id and len(record.span_id) != 8:
        return "a log record's span id is not 8 bytes"
    if record.trace_id and len(record.trace_id) != 16:
        return "a log record's trace id is not 16 bytes"
    return ""


def _log(record: LogRecord) -> LogData:
    """The log exporter's `log_data`, from the wire: a structlog event dict body gives its keys."""
    attributes = _attributes(record.attributes)
    name = record.event_name or attributes.get("event.name")
    body = _value(record.body) if record.HasField("body") else None
    if name not in CONTENT_EVENTS and isinstance(body, dict) and isinstance(body.get("event"), str):
        attributes.update((key, value) for key, value in body.items() if key not in STRUCTLOG_KEYS)
        body = body["event"]
    span = (record.trace_id.hex(), record.span_id.hex()) if any(record.span_id) else None
    return LogData(
        None if name is None else str(name),
        body,
        attributes,
        record.time_unix_nano or record.observed_time_unix_nano or None,
        span,
    )


# --- values --------------------------------------------------------------------------------------


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, object]:
    """Attributes as the SDK keeps them: arrays as tuples, everything else as `_value` gives it."""
    result: dict[str, object] = {}
    for pair in pairs:
        value = _value(pair.value)
        result[pair.key] = tuple(value) if isinstance(value, list) else value
    return result


def _value(value: AnyValue) -> object:
    """An OTLP value as the Python value it was made from: a map as a dict, an array as a list."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: _value(pair.value) for pair in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value
    return None
