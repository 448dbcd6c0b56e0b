"""What every stack's recording shares: real providers writing what an app emits to a capture file.

A stack script (`tests/record/stacks/<stack>.py`) runs inside that stack's own environment. It builds a
`Recorder`, which installs a real `TracerProvider` (with `trubrics_otel`'s context processor, as
`configure()` does) and a real `LoggerProvider` as the global ones, both writing to memory. Each
`recorder.case(name)` block is one scenario; at its end the spans and log records the block produced are
written to `tests/data/captures/<stack>-<name>.json`, in the format the replay tests load
(`tests/mapping/conftest.py`).

This module imports only the OpenTelemetry SDK and the standard library, so it runs in every stack's
environment, whatever versions that stack pins.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as _InMemoryLogs
except ImportError:  # SDKs before 1.39
    from opentelemetry.sdk._logs.export import InMemoryLogExporter as _InMemoryLogs  # type: ignore

from trubrics_otel._context import install_context_processor

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "data" / "captures"

USER_ID = "user-42"
THREAD_ID = "thread-7"
"""The identity every scenario runs under, inside `trubrics_otel.context(...)`."""

# The scenarios every stack records, so that every capture's expected events read alike. The fake
# endpoints answer "Echo: <last user message>", and a tool call when tools are offered and the message
# mentions the weather.
SYSTEM = "You are a helpful assistant."
CHAT = "Say hello to the team"
"""case `chat`: one plain call, after the system message."""
STREAM = "Count to three"
"""case `stream`: one streaming call."""
TOOL = "What is the weather in Paris?"
"""case `tool`: one call offering the `get_weather(city)` tool, answered with a call to it."""
TURNS = ("My name is Ada", "What is my name?")
"""case `conversation`: two calls, the second sending the first turn's messages as history."""
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class Recorder:
    """Global tracer and logger providers that keep everything in memory, and a writer of captures.

    Args:
        stack: the capture files' prefix, e.g. `"anthropic-openllmetry"`.
    """

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.spans = InMemorySpanExporter()
        self.logs = _InMemoryLogs()
        self.tracer_provider = TracerProvider()
        install_context_processor(self.tracer_provider)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        trace.set_tracer_provider(self.tracer_provider)
        _logs.set_logger_provider(self.logger_provider)
        self.written: list[Path] = []

    @contextlib.contextmanager
    def case(self, name: str) -> Iterator[None]:
        """Record one scenario; write its capture when the block ends without an error."""
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()
        self.spans.clear()
        self.logs.clear()
        yield
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()
        self.write(name)

    def write(self, name: str) -> Path:
        """Write what was recorded since the case began to `<stack>-<name>.json`."""
        spans = sorted(self.spans.get_finished_spans(), key=lambda span: span.end_time or 0)
        logs = [getattr(item, "log_record", item) for item in self.logs.get_finished_logs()]
        capture = {
            "instrumentation": self.stack,
            "case": name,
            "env": {key: value for key, value in sorted(os.environ.items()) if _recorded_env(key)},
            "versions": _versions(),
            "spans": [_span(span) for span in spans],
            "logs": [_log(log) for log in logs],
        }
        CAPTURES.mkdir(parents=True, exist_ok=True)
        path = CAPTURES / f"{self.stack}-{name}.json"
        path.write_text(json.dumps(capture, indent=2, default=_plain) + "\n", encoding="utf-8")
        self.written.append(path)
        print(f"{path.relative_to(REPO)}: {len(spans)} spans, {len(logs)} log records", file=sys.stderr)
        return path


def _recorded_env(key: str) -> bool:
    return key.startswith(("OTEL_", "TRACELOOP_", "OPENINFERENCE_", "LANGFUSE_", "LITELLM_", "ANTHROPIC_"))


def _versions() -> dict[str, str]:
    """The versions of the installed packages that matter to what was recorded."""
    from importlib import metadata

    wanted = (
        "opentelemetry",
        "openinference",
        "openai",
        "anthropic",
        "google-genai",
        "langchain",
        "litellm",
        "llama-index",
        "langfuse",
        "logfire",
        "pydantic-ai",
        "traceloop",
    )
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith(wanted):
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


def _plain(value: object) -> object:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        key: _plain(value) if isinstance(value, tuple) else value for key, value in (attributes or {}).items()
    }


def _hex(number: int | None, width: int) -> str | None:
    return None if not number else f"{number:0{width}x}"


def _span(span: Any) -> dict[str, Any]:
    context = span.context
    parent = span.parent
    scope = span.instrumentation_scope
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": _hex(context.trace_id, 32),
        "span_id": _hex(context.span_id, 16),
        "parent_span_id": _hex(parent.span_id, 16) if parent is not None else None,
        "parent_is_remote": bool(parent is not None and parent.is_remote),
        "start_time": span.start_time,
        "end_time": span.end_time,
        "status": {"status_code": span.status.status_code.name, "description": span.status.description},
        "attributes": _attributes(span.attributes),
        "events": [
            {"name": event.name, "timestamp": event.timestamp, "attributes": _attributes(event.attributes)}
            for event in span.events
        ],
        "links": [
            {"trace_id": _hex(link.context.trace_id, 32), "span_id": _hex(link.context.span_id, 16)}
            for link in span.links
        ],
        "resource": _attributes(span.resource.attributes),
        "instrumentation_scope": {
            "name": scope.name if scope is not None else None,
            "version": scope.version if scope is not None else None,
        },
    }


def _log(log: Any) -> dict[str, Any]:
    body = log.body
    return {
        "event_name": getattr(log, "event_name", None),
        "body": body if not isinstance(body, tuple) else list(body),
        "attributes": _attributes(log.attributes),
        "trace_id": _hex(log.trace_id, 32),
        "span_id": _hex(log.span_id, 16),
        "timestamp": log.timestamp,
        "observed_timestamp": log.observed_timestamp,
        "severity_number": log.severity_number.value if log.severity_number is not None else None,
        "severity_text": log.severity_text,
        "resource": _attributes(log.resource.attributes) if getattr(log, "resource", None) else {},
    }
