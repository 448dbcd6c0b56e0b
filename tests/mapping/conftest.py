"""Real telemetry captured from the instrumentation packages, loaded as the mapping's `SpanData`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trubrics_otel._events import LLMEvent, Record
from trubrics_otel.mapping import MappingOptions, SpanData, SpanEventData, spans_to_records
from trubrics_otel.mapping.genai import content_from_events

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
        parent_is_remote=raw.get("parent_is_remote", False),
    )


def make_span(attributes: Mapping[str, object], name: str = "span", **fields: Any) -> SpanData:
    """Return a span with these attributes and placeholder ids and times."""
    return SpanData(name, "0" * 31 + "1", "0" * 15 + "2", 1_000_000_000, 3_000_000_000, attributes, **fields)


_VOLATILE_PROPERTIES = ("trace_id", "span_id", "parent_span_id")


def replay(name: str, options: MappingOptions | None = None) -> list[dict[str, Any]]:
    """Return what a whole capture becomes, as the API would receive it, less what varies per recording.

    The spans are mapped as one export batch, with the content their log records carry joined to them.
    Each record is its JSON payload without `timestamp` and the trace, span and parent ids; `latency` is
    replaced by whether it is above zero (a capture's own span times give it).
    """
    grouped: dict[str, list[tuple[str, object]]] = {}
    for span_id, event_name, payload in load_logs(name):
        if span_id:
            grouped.setdefault(span_id, []).append((event_name, payload))
    contents = {}
    for span_id, events in grouped.items():
        found = content_from_events(events)
        contents[span_id] = (found.prompt, found.generation, found.finish_reasons)
    records = spans_to_records(load_capture(name), options, contents)
    return [stable(record) for record in records]


def stable(record: Record) -> dict[str, Any]:
    """Return a record's payload without the values that differ between two recordings of one scenario."""
    payload: dict[str, Any] = dict(record.to_json())
    payload.pop("timestamp", None)
    payload["properties"] = {
        key: value for key, value in payload["properties"].items() if key not in _VOLATILE_PROPERTIES
    }
    if "latency" in payload:
        payload["latency"] = payload["latency"] > 0
    return payload
