"""OTLP protobuf and JSON decode to the very values the in-process exporters make from the SDK's objects."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from trubrics_otel._exporters import span_data
from trubrics_otel._log_exporter import log_data
from trubrics_otel.gateway import UndecodableBodyError, decode_logs, decode_spans

from .otlp import otlp_json

ATTRIBUTES = {
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.request.temperature": 0.25,
    "stream": True,
    "gen_ai.response.finish_reasons": ("stop", "length"),
    "scores": (1, 2, 3),
    "weights": (0.5, 1.5),
    "flags": (True, False),
}


def finished_spans() -> list:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc", "deployment": "eu"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("scope.of.test", "2.0")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    parent = trace.set_span_in_context(NonRecordingSpan(remote))
    with (
        tracer.start_as_current_span("outer", context=parent),
        tracer.start_as_current_span("chat gpt-4o", attributes=ATTRIBUTES) as span,
    ):
        span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": "hi", "n": 2})
        span.set_status(Status(StatusCode.ERROR, "it broke"))
    with tracer.start_as_current_span("root") as span:
        span.set_status(Status(StatusCode.OK))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def emitted_logs() -> list:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("opentelemetry.instrumentation.openai_v2")
    tracer_provider = TracerProvider()
    with tracer_provider.get_tracer("t").start_as_current_span("call"):
        logger.emit(event_name="gen_ai.user.message", body={"content": "hi", "parts": [1, {"a": b"x"}]})
        logger.emit(
            event_name="gen_ai.choice",
            body={"index": 0, "message": {"role": "assistant", "content": "hello"}},
            attributes={"gen_ai.system": "openai"},
        )
    logger.emit(body={"event": "Sign up", "user_id": "u1", "plan": "pro"}, timestamp=1_000)
    logger.emit(body="plain message", attributes={"trubrics.event": "Clicked", "count": 3}, timestamp=2_000)
    provider.shutdown()
    return list(exporter.get_finished_logs())


@pytest.mark.parametrize("json_encoded", [False, True], ids=["protobuf", "json"])
def test_spans_decode_to_what_the_span_exporter_makes(json_encoded: bool) -> None:
    """Ids, times, attributes of every type, events, status, scope, resource and a remote parent all agree."""
    spans = finished_spans()
    request = encode_spans(spans)
    body = otlp_json(request) if json_encoded else request.SerializeToString()
    decoded = decode_spans(body, json_encoded=json_encoded)
    assert decoded.rejected == 0
    expected = [span_data(span) for span in spans]
    assert decoded.items == expected
    chat = next(item for item in decoded.items if item.name == "chat gpt-4o")
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert chat.status_code == "ERROR"
    assert chat.status_message == "it broke"
    outer = next(item for item in decoded.items if item.name == "outer")
    assert outer.parent_is_remote
    assert outer.parent_span_id == f"{0xDEF:016x}"
    assert chat.scope == "scope.of.test"


@pytest.mark.parametrize("json_encoded", [False, True], ids=["protobuf", "json"])
def test_log_records_decode_to_what_the_log_exporter_makes(json_encoded: bool) -> None:
    """Bodies (maps, arrays, bytes), event names, span keys, times and structlog event dicts all agree."""
    logs = emitted_logs()
    request = encode_logs(logs)
    body = otlp_json(request) if json_encoded else request.SerializeToString()
    decoded = decode_logs(body, json_encoded=json_encoded)
    assert decoded.rejected == 0
    assert decoded.items == [log_data(log) for log in logs]
    assert decoded.items[0].body == {"content": "hi", "parts": [1, {"a": b"x"}]}
    assert decoded.items[0].span is not None
    assert decoded.items[2].body == "Sign up"
    assert decoded.items[2].attributes["plan"] == "pro"


def test_a_span_with_a_malformed_id_is_rejected_alone() -> None:
    """A span whose span id is not 8 bytes is counted as rejected, with a reason; the others are kept."""
    request = encode_spans(finished_spans())
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02"
    decoded = decode_spans(request.SerializeToString(), json_encoded=False)
    assert decoded.rejected == 1
    assert "span id" in decoded.problem
    assert len(decoded.items) == 2


@pytest.mark.parametrize(
    ("body", "json_encoded"),
    [(b"\xff\xff\xff\xff", False), (b"{not json", True), (b"[1, 2]", True), (b'{"resourceSpans": 3}', True)],
)
def test_a_body_that_is_not_a_request_is_undecodable(body: bytes, json_encoded: bool) -> None:
    """Garbage in either encoding raises UndecodableBodyError, which the app answers 400."""
    with pytest.raises(UndecodableBodyError, match="not an OTLP"):
        decode_spans(body, json_encoded=json_encoded)


def test_an_empty_request_has_nothing() -> None:
    """An empty export (a sender's keep-alive) decodes to no items and no rejection."""
    decoded = decode_spans(ExportTraceServiceRequest().SerializeToString(), json_encoded=False)
    assert decoded.items == []
    assert decoded.rejected == 0
