"""The plain data the mapping works on: a span as attributes, ids and times, and what a convention finds.

Nothing here imports the OpenTelemetry SDK or performs I/O: recognisers are pure functions from a
`SpanData` to `Findings`, so they are fast and can be tested with tables of attribute dicts. How they
read values is in `_reading` (text, numbers, JSON, metadata) and `_messages` (chat messages).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Findings", "Kind", "SpanData", "SpanEventData"]

Kind = Literal["llm", "event", "other"]
"""What a span is: a model call (one LLM event), a product event, or something that sends nothing
(a wrapper around a model call, an embedding, a retrieval, a tool run)."""


@dataclass(slots=True)
class SpanEventData:
    """An event recorded on a span (OpenTelemetry's `Span.add_event`)."""

    name: str
    timestamp: int
    attributes: Mapping[str, object]


@dataclass(slots=True)
class SpanData:
    """A finished span as plain data. Ids are lower-case hex; times are epoch nanoseconds.

    Treat it as read-only. It is not frozen only because a frozen dataclass's constructor costs several
    times more, and one is built for every span exported.
    """

    name: str
    trace_id: str
    span_id: str
    start_time: int
    end_time: int
    attributes: Mapping[str, object]
    parent_span_id: str | None = None
    events: Sequence[SpanEventData] = ()
    resource: Mapping[str, object] = field(default_factory=dict)
    status_code: Literal["UNSET", "OK", "ERROR"] = "UNSET"
    status_message: str | None = None
    scope: str | None = None
    parent_is_remote: bool = False
    _key_text: str | None = field(default=None, init=False, repr=False, compare=False)

    def has_key_prefix(self, *prefixes: str) -> bool:
        """Whether any attribute key starts with one of `prefixes`.

        The keys are joined once per span and searched in C: several recognisers ask, and a Python
        loop over every key for each of them would cost more than the rest of their work.
        """
        keys = self._key_text
        if keys is None:
            keys = self._key_text = "\n" + "\n".join(self.attributes)
        return any("\n" + prefix in keys for prefix in prefixes)


@dataclass
class Findings:
    """What one convention reads off a span. `None` means "this convention says nothing about it".

    Recognisers fill what they know; `combine` in `trubrics_otel.mapping` merges them field by field in
    a documented precedence.
    """

    kind: Kind | None = None
    event_name: str | None = None
    prompt: str | None = None
    generation: str | None = None
    assistant_id: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    operation: str | None = None
    user_id: str | None = None
    thread_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reasons: tuple[str, ...] | None = None
    response_id: str | None = None
    latency: float | None = None
    """Seconds the call took, when the span's own times do not say (a zero-length log record)."""
    properties: dict[str, object] = field(default_factory=dict)
