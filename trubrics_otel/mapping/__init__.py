"""Pure translation of spans into Trubrics records: attributes in, events out.

Each attribute convention has one recogniser (a module of this package) that reads what it knows off a
`SpanData` into `Findings`; `_calls` combines them in the precedence it documents, and `interpret` decides
what a span is: an `LLMCall`, an `Event` (a span carrying `trubrics.event`), or nothing.

One model call may be recorded more than once: nested (`merge_nested_calls`), or in two traces
(`twins`). A call may name its user or thread only on an ancestor (`ancestry`). `spans_to_records` applies
all of it to one batch; the exporters add the memory across batches (`join`).

Nothing here performs I/O or touches SDK objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trubrics_otel._events import Record
from trubrics_otel.mapping._calls import (
    PRECEDENCE,
    RECOGNISERS,
    LLMCall,
    MappingOptions,
    combine,
    findings_properties,
    interpret,
    merge_nested_calls,
    recognise,
    recognise_all,
)
from trubrics_otel.mapping._model import Findings, SpanData, SpanEventData
from trubrics_otel.mapping.ancestry import SpanIdentity, fill_identity, identity_of
from trubrics_otel.mapping.twins import merge_twin_calls

__all__ = [
    "PRECEDENCE",
    "RECOGNISERS",
    "Findings",
    "LLMCall",
    "MappingOptions",
    "SpanData",
    "SpanEventData",
    "combine",
    "findings_properties",
    "interpret",
    "merge_nested_calls",
    "recognise",
    "recognise_all",
    "span_to_records",
    "spans_to_records",
]


def spans_to_records(
    spans: Sequence[SpanData],
    options: MappingOptions | None = None,
    contents: Mapping[str, tuple[str | None, str | None, tuple[str, ...]]] | None = None,
) -> list[Record]:
    """Return the records a batch of spans becomes, one LLM event per model call however many recorded it.

    The batch is taken as the whole telemetry: nested calls are merged, a call takes the user and thread
    it lacks from its ancestors in the batch, and twins in different traces are merged. `contents` holds,
    by span id, the (prompt, generation, finish reasons) found in content log records,
    as the log join would add them. Missing text is replaced by the placeholder, as in `span_to_records`.
    """
    options = options or MappingOptions()
    records: list[Record] = []
    calls: list[LLMCall] = []
    traces: dict[str, dict[str, SpanIdentity]] = {}
    for span in spans:
        found = recognise(span)
        traces.setdefault(span.trace_id, {})[span.span_id] = identity_of(span, found)
        outcome = interpret(span, options, found)
        if isinstance(outcome, LLMCall):
            content = contents.get(span.span_id) if contents else None
            calls.append(outcome if content is None else outcome.with_content(*content))
        elif outcome is not None:
            records.append(outcome)
    calls = merge_nested_calls(calls)[0]
    calls = [fill_identity(c, traces[c.span.trace_id]) if c.needs_identity else c for c in calls]
    for call in merge_twin_calls(calls)[0]:
        event = call.to_event(options)
        if event is not None:
            records.append(event)
    return records


def span_to_records(span: SpanData, options: MappingOptions | None = None) -> list[Record]:
    """Return the records one span becomes on its own (missing text replaced by the placeholder)."""
    options = options or MappingOptions()
    found = interpret(span, options)
    if isinstance(found, LLMCall):
        event = found.to_event(options)
        return [] if event is None else [event]
    return [] if found is None else [found]
