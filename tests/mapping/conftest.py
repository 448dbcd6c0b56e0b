"""Real telemetry captured from the instrumentation packages, loaded as the mapping's `SpanData`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trubrics_otel.events import LLMEvent
from trubrics_otel.mapping import SpanData, SpanEventData, spans_to_records

CAPTURES = Path(__file__).parent.parent / "data" / "captures"


def load_capture(name: str) -> list[SpanData]:
    """Return the spans of `tests/data/captures/<name>.json`, in the order they were recorded."""
    data = json.loads((CAPTURES / f"{name}.json").read_text())
    return [_span(span) for span in data["spans"]]


def load_logs(name: str) -> list[tuple[str | None, str, object]]:
    """Return the log records of a capture as `(span id, event name, payload)`.

    The payload is the body when there is one (older per-message events), else the attributes
    (`gen_ai.client.inference.operation.details`), which is what `genai.content_from_events` reads.
    """
    data = json.loads((CAPTURES / f"{name}.json").read_text())
    records = []
    for log in data["logs"]:
        attributes = log.get("attributes") or {}
        event_name = log.get("event_name") or attributes.get("event.name") or ""
        payload = log["body"] if log.get("body") is not None else attributes
        records.append((log.get("span_id"), event_name, payload))
    return records


def llm_events(spans: list[SpanData]) -> list[LLMEvent]:
    """Map the spans as one export batch; return the LLM events, failing if any other record comes out."""
    records = spans_to_records(spans)
    assert all(isinstance(record, LLMEvent) for record in records), records
    return [record for record in records if isinstance(record, LLMEvent)]


def as_json(event: LLMEvent) -> dict[str, Any]:
    """Return the event as the API receives it."""
    payload: dict[str, Any] = event.to_json()
    return payload


def texts(events: list[LLMEvent]) -> list[tuple[str, str]]:
    """Return each event's (prompt, generation)."""
    return [(event.prompt, event.generation) for event in events]


def _span(raw: dict[str, Any]) -> SpanData:
    return SpanData(
        name=raw["name"],
        trace_id=raw["trace_id"],
        span_id=raw["span_id"],
        start_time=raw["start_time"],
        end_time=raw["end_time"],
        attributes=raw["attributes"],
        parent_span_id=raw["parent_span_id"],
        events=tuple(SpanEventData(e["name"], e["timestamp"], e["attributes"]) for e in raw["events"]),
        resource=raw["resource"],
        status_code=raw["status"]["status_code"],
        status_message=raw["status"]["description"],
        scope=raw["instrumentation_scope"]["name"],
    )


def make_span(attributes: Mapping[str, object], name: str = "span", **fields: Any) -> SpanData:
    """Return a span with these attributes and placeholder ids and times."""
    return SpanData(name, "0" * 31 + "1", "0" * 15 + "2", 1_000_000_000, 3_000_000_000, attributes, **fields)
