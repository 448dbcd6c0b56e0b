"""Pure translation of spans and log records into Trubrics records: attributes in, events out.

Each attribute convention has one recogniser (a module of this package) that reads what it knows off a
`SpanData` into `Findings`; `_calls` combines them in the precedence it documents, and `interpret` decides
what a span is: an `LLMCall`, an `Event` (a span carrying `trubrics.event`), or nothing. `logs` does the
same for a log record's attributes.

One model call may be recorded more than once: nested (`merge_nested_calls`), or in two traces
(`twins`). A call may name its user or thread only on an ancestor (`ancestry`). `Translator` (`_translate`)
applies all of it in one order, for production and tests alike, with the state that outlives a batch
given to it: the delivery core gives it the process's (`trubrics_otel._delivery`), `spans_to_records`
fresh state that remembers one batch.

Nothing here performs I/O, starts a thread, or touches SDK objects.
"""

from __future__ import annotations

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
from trubrics_otel.mapping._records import span_to_records, spans_to_records
from trubrics_otel.mapping._translate import CONTENT_EVENTS, Content, LogData, Translator

__all__ = [
    "CONTENT_EVENTS",
    "PRECEDENCE",
    "RECOGNISERS",
    "Content",
    "Findings",
    "LLMCall",
    "LogData",
    "MappingOptions",
    "SpanData",
    "SpanEventData",
    "Translator",
    "combine",
    "findings_properties",
    "interpret",
    "merge_nested_calls",
    "recognise",
    "recognise_all",
    "span_to_records",
    "spans_to_records",
]
