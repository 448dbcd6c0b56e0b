"""Trubrics' own span and log keys: `trubrics.*`. They always win over every other convention.

| key | meaning |
|---|---|
| `trubrics.event` | the span (or record) is a product event of this name |
| `trubrics.prompt`, `trubrics.generation` | the span is an LLM call with this text |
| `trubrics.user_id`, `trubrics.thread_id` | who, and which conversation |
| `trubrics.assistant_id` | which assistant |
| `trubrics.properties.<name>` | a custom property `<name>` |
"""

from __future__ import annotations

from trubrics_otel.mapping._model import Findings, SpanData
from trubrics_otel.mapping._reading import to_text

__all__ = ["PROPERTY_PREFIX", "recognise"]

PROPERTY_PREFIX = "trubrics.properties."


def recognise(span: SpanData) -> Findings | None:
    """Read `trubrics.*` keys; None when the span has none."""
    attributes = span.attributes
    if not span.has_key_prefix("trubrics."):
        return None
    findings = Findings(
        event_name=to_text(attributes.get("trubrics.event")),
        prompt=to_text(attributes.get("trubrics.prompt")),
        generation=to_text(attributes.get("trubrics.generation")),
        assistant_id=to_text(attributes.get("trubrics.assistant_id")),
        user_id=to_text(attributes.get("trubrics.user_id")),
        thread_id=to_text(attributes.get("trubrics.thread_id")),
        properties={
            key[len(PROPERTY_PREFIX) :]: value
            for key, value in attributes.items()
            if key.startswith(PROPERTY_PREFIX)
        },
    )
    if findings.event_name is not None:
        findings.kind = "event"
    elif findings.prompt is not None or findings.generation is not None:
        findings.kind = "llm"
    return findings
