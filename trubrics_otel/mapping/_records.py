"""The mapping's entry functions: one span, or one batch taken as the whole telemetry, into records.

Both run the production path (`Translator`), the batch with fresh state: what production remembers across
batches is, here, the batch itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from trubrics_otel._events import Record
from trubrics_otel.mapping._calls import LLMCall, MappingOptions, interpret
from trubrics_otel.mapping._model import SpanData
from trubrics_otel.mapping._translate import Content, Translator
from trubrics_otel.mapping.logs import LogOutcome

__all__ = ["span_to_records", "spans_to_records"]


def spans_to_records(
    spans: Sequence[SpanData],
    options: MappingOptions | None = None,
    contents: Mapping[str, tuple[str | None, str | None, tuple[str, ...]]] | None = None,
) -> list[Record]:
    """Return the records a batch of spans becomes, one LLM event per model call however many recorded it.

    The batch is taken as the whole telemetry: nested calls are merged, a call takes the user and thread
    it lacks from its ancestors in the batch, and twins in different traces are merged. `contents` holds,
    by span id, the (prompt, generation, finish reasons) found in content log records, as the log join
    would add them. Missing text is replaced by the placeholder, as in `span_to_records`.
    """
    # the state's classes hold locks for the delivery core; fresh ones here remember this batch only
    from trubrics_otel._delivery.join import ContentJoin  # noqa: PLC0415 - delivery imports mapping
    from trubrics_otel._delivery.memory import RecentParents, TwinMemory  # noqa: PLC0415 - likewise

    join = ContentJoin(window=math.inf)  # every call waits for its content and its ancestors: all arrive
    if contents:
        traces = {span.span_id: span.trace_id for span in spans}
        for span_id, (prompt, generation, reasons) in contents.items():
            if span_id in traces:
                join.add_content((traces[span_id], span_id), Content(prompt, generation, reasons), 0.0)
    translator = Translator(
        options or MappingOptions(),
        waiting=join,
        sent=TwinMemory(),
        parents=RecentParents(),
        tally=_Uncounted(),
        clock=lambda: 0.0,
    )
    records = translator.spans(spans)
    records.extend(translator.released(join.drain()))
    return records


def span_to_records(span: SpanData, options: MappingOptions | None = None) -> list[Record]:
    """Return the records one span becomes on its own (missing text replaced by the placeholder)."""
    options = options or MappingOptions()
    found = interpret(span, options)
    if isinstance(found, LLMCall):
        event = found.to_event(options)
        return [] if event is None else [event]
    return [] if found is None else [found]


class _Uncounted:
    """A tally that counts nothing: a batch mapped on its own reports no losses."""

    def dropped(self, reason: str, count: int, explanation: str) -> None:
        """Nothing to count."""

    def incomplete(self, count: int) -> None:
        """Nothing to count."""

    def unusable(self, outcome: LogOutcome) -> None:
        """Nothing to warn about."""
