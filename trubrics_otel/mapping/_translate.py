"""The one translation path: plain span and log data in, records out, with the state of other batches given.

`Translator` is what the delivery core runs for every exporter, and what the mapping tests run through
`spans_to_records` with fresh state. For a batch of spans:

1. each span is recognised and interpreted (`interpret`): a product event, a model call, or nothing. A
   span the mapping fails on costs only itself (counted as a mapping error);
2. one call recorded by nested spans is merged into the innermost (`merge_nested_calls`), also when the
   outer span comes in a later batch (`Parents` remembers the parents of recent calls); twins in other
   traces of the batch are merged (`twins.merge_twin_calls`);
3. calls wait in the content join (`Waiting`) for the text their span lacks and for the user and thread
   their ancestors name; without a window nothing waits, and a call takes what its batch's ancestors name;
4. calls that leave the join become LLM events, once each however many traces recorded them (`Sent`).

A log record is a model call's content (`CONTENT_EVENTS`, joined to the call of the span it names) or a
record of its own (`logs.interpret_log`).

The state is given, never made here: its classes (`trubrics_otel._delivery`) hold the locks and forget
what they hold in a forked child. Losses and warnings go to the `Tally` given. No I/O, no SDK object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from trubrics_otel._events import Record
from trubrics_otel._stats import DUPLICATE, MAPPING_ERROR, NO_CONTENT, UNJOINABLE_CONTENT
from trubrics_otel.mapping._calls import LLMCall, MappingOptions, interpret, merge_nested_calls, recognise
from trubrics_otel.mapping._model import SpanData
from trubrics_otel.mapping.ancestry import SpanIdentity, fill_identity, identity_of
from trubrics_otel.mapping.genai import CONTENT_EVENTS, content_from_events
from trubrics_otel.mapping.logs import LogOutcome, interpret_log
from trubrics_otel.mapping.twins import merge_twin_calls, merged, richer

__all__ = [
    "CONTENT_EVENTS",
    "Content",
    "LogData",
    "Parents",
    "Sent",
    "SpanKey",
    "Tally",
    "Translator",
    "Waiting",
]

SpanKey = tuple[str, str]
"""(trace id, span id), both lower-case hex."""


@dataclass(frozen=True)
class Content:
    """Text found outside a span (in content log records) for that span's call."""

    prompt: str | None = None
    generation: str | None = None
    finish_reasons: tuple[str, ...] = ()

    def merge(self, later: Content) -> Content:
        """Return this content followed by `later`: the later prompt wins, the first generation stays.

        Message records are emitted in the order of the conversation, so the last user message seen is the
        call's prompt; the answer comes after every input message, and its first choice is the generation.
        """
        return Content(
            later.prompt if later.prompt is not None else self.prompt,
            self.generation if self.generation is not None else later.generation,
            self.finish_reasons or later.finish_reasons,
        )


class LogData(NamedTuple):
    """A log record as the translator reads it: plain values, whatever door it came in by."""

    event_name: str | None
    body: object
    attributes: Mapping[str, object]
    timestamp: int | None
    """Nanoseconds since the epoch; None when the record has no time."""
    span: SpanKey | None = None
    """The (trace id, span id) of the span the record was made in, if any."""


class Waiting(Protocol):
    """Where calls wait for their content and their ancestors' identity (`_delivery.join.ContentJoin`)."""

    @property
    def window(self) -> float:
        """Seconds a call or a content waits for its other half; 0 or less: nothing waits."""

    def __len__(self) -> int: ...
    def add_call(self, call: LLMCall, now: float) -> list[LLMCall]: ...
    def take_twin(self, call: LLMCall) -> LLMCall | None: ...
    def add_spans(self, spans: Iterable[SpanIdentity]) -> list[LLMCall]: ...
    def add_content(self, key: SpanKey, content: Content, now: float) -> list[LLMCall]: ...
    def expired(self, now: float) -> list[LLMCall]: ...


class Sent(Protocol):
    """The calls sent recently, to send a twin from another trace once (`_delivery.memory.TwinMemory`)."""

    def settle(self, calls: Sequence[LLMCall], now: float) -> tuple[list[LLMCall], list[LLMCall]]: ...


class Parents(Protocol):
    """The parents of recent calls, to merge an outer span that comes late (`_delivery.memory`)."""

    def __contains__(self, span_id: object) -> bool: ...
    def add(self, span_ids: Iterable[str]) -> None: ...


class Tally(Protocol):
    """Where the translator counts what it does not send as it came (a client's ledger, mostly)."""

    def dropped(self, reason: str, count: int, explanation: str) -> None: ...
    def incomplete(self, count: int) -> None: ...
    def unusable(self, outcome: LogOutcome) -> None: ...


class Translator:
    """Turns spans and log records into records, with the state that outlives one batch given to it.

    Args:
        options: how recognised calls and events become records.
        waiting: the content join (shared by every door that must meet the same content).
        sent: the memory of calls sent, shared likewise.
        parents: the parents of recent calls.
        tally: where losses, calls without text and unreadable log values are counted.
        clock: monotonic seconds, the time the join's windows are measured in.
    """

    def __init__(
        self,
        options: MappingOptions,
        *,
        waiting: Waiting,
        sent: Sent,
        parents: Parents,
        tally: Tally,
        clock: Callable[[], float],
    ) -> None:
        self.options = options
        self._waiting = waiting
        self._sent = sent
        self._parents = parents
        self._tally = tally
        self._clock = clock

    def spans(self, spans: Sequence[SpanData]) -> list[Record]:
        """Return the records a batch of spans becomes, translated all at once."""
        return [record for part, _ in self.span_parts(spans, max(len(spans), 1)) for record in part]

    def span_parts(self, spans: Sequence[SpanData], size: int) -> Iterator[tuple[list[Record], int]]:
        """Yield the records of the spans translated `size` at a time, with the number of spans settled.

        A call recorded by two nested spans is merged once both have been read: calls whose span has a
        parent or a child in the batch wait for the last part.
        """
        related = _related_span_ids(spans) if len(spans) > size else None
        waiting: list[LLMCall] = []
        identities: list[SpanIdentity] = []
        for start in range(0, max(len(spans), 1), size):
            now = self._clock()  # a part may come long after the one before, if that one was retried
            part = spans[start : start + size]
            settled = len(part)
            records, calls = self._interpret(part, identities)
            held: list[LLMCall] = []
            if related is None:  # the batch is one part
                held, calls = calls, []
            elif related:
                held = [call for call in calls if call.span.span_id in related]
                calls = [call for call in calls if call.span.span_id not in related]
            waiting.extend(held)
            settled -= len(held)
            ready = self._joined(self._one_per_call(calls), now, identities) if calls else []
            if start + size >= len(spans):
                ready.extend(self._joined(self._one_per_call(waiting), now, identities))
                # the calls held back for this last part may have their ancestors in an earlier one
                ready.extend(self._waiting.add_spans(identities))
                ready.extend(self._waiting.expired(now))
                settled += len(waiting)
            else:
                ready.extend(self._waiting.add_spans(identities[-len(part) :]))
            records.extend(self.released(ready))
            yield records, settled

    def logs(self, logs: Sequence[LogData], *, extras_as_properties: bool = True) -> list[Record]:
        """Return the records a batch of log records becomes; content records complete their calls.

        A record the mapping fails on costs only itself. `extras_as_properties` is `interpret_log`'s.
        """
        records: list[Record] = []
        contents: dict[SpanKey, list[tuple[str, object]]] = {}
        for log in logs:
            try:
                record = self._log(log, contents, extras_as_properties)
            except Exception as error:  # noqa: BLE001 - a mapping bug costs this record alone, not the app
                self._tally.dropped(MAPPING_ERROR, 1, f"the log mapping failed: {error!r}")
                continue
            if record is not None:
                records.append(record)
        now = self._clock()
        ready: list[LLMCall] = []
        for key, events in contents.items():
            found = content_from_events(events)
            content = Content(found.prompt, found.generation, found.finish_reasons)
            ready.extend(self._waiting.add_content(key, content, now))
        ready.extend(self._waiting.expired(now))
        records.extend(self.released(ready))
        return records

    def released(self, calls: Sequence[LLMCall]) -> list[Record]:
        """Return the LLM events of calls that left the join, once each however many traces recorded them.

        Calls without their text are counted: sent with the placeholder, or dropped.
        """
        if not calls:
            return []
        calls, twins = self._sent.settle(calls, self._clock())
        self._count_twins(len(twins))
        events: list[Record] = []
        for call in calls:
            event = call.to_event(self.options)
            if event is None:
                self._tally.dropped(
                    NO_CONTENT, 1, "the model call carried no prompt or generation (drop_without_content)"
                )
            else:
                events.append(event)
                if not call.has_content:
                    self._tally.incomplete(1)
        return events

    def _interpret(
        self, spans: Sequence[SpanData], identities: list[SpanIdentity]
    ) -> tuple[list[Record], list[LLMCall]]:
        """Return the spans' events and model calls, adding each span's identity to `identities`."""
        records: list[Record] = []
        calls: list[LLMCall] = []
        for span in spans:
            try:
                found = recognise(span)
                outcome = interpret(span, self.options, found)
            except Exception as error:  # noqa: BLE001 - a mapping bug costs this span alone, not the app
                self._tally.dropped(MAPPING_ERROR, 1, f"the span mapping failed: {error!r}")
                continue
            identities.append(identity_of(span, found))
            if isinstance(outcome, LLMCall):
                calls.append(outcome)
            elif outcome is not None:
                records.append(outcome)
        return records, calls

    def _one_per_call(self, calls: list[LLMCall]) -> list[LLMCall]:
        """Merge a model call recorded by two instrumentations (nested spans, or twins in two traces).

        The inner span ends first, so an outer one may come in a later batch than the call it wraps: the
        parents of recent calls are remembered to recognise it then too.
        """
        if not calls:
            return calls
        kept, outer = merge_nested_calls(calls)
        parents = self._parents
        late = [call for call in kept if call.span.span_id in parents]
        if late:
            kept = [call for call in kept if call.span.span_id not in parents]
            outer.extend(late)
        parents.add(parent for call in kept if (parent := call.span.parent_span_id))
        if outer:
            self._tally.dropped(
                DUPLICATE,
                len(outer),
                "one model call was recorded by two instrumentations; it is sent once, as the inner span",
            )
        kept, twins = merge_twin_calls(kept)
        self._count_twins(len(twins))
        return kept

    def _joined(self, calls: list[LLMCall], now: float, identities: list[SpanIdentity]) -> list[LLMCall]:
        """Return the calls ready to send; those lacking their text or their identity wait in the join.

        Without a window nothing waits: a call takes what its ancestors exported so far name.
        """
        join = self._waiting
        if join.window <= 0:
            if not any(call.needs_identity for call in calls):
                return calls
            traces: dict[str, dict[str, SpanIdentity]] = {}
            for identity in identities:
                traces.setdefault(identity.trace_id, {})[identity.span_id] = identity
            return [
                fill_identity(call, traces.get(call.span.trace_id, {})) if call.needs_identity else call
                for call in calls
            ]
        ready: list[LLMCall] = []
        for offered in calls:
            twin = join.take_twin(offered) if offered.has_content else None
            if twin is not None:
                self._count_twins(1)
            call = offered if twin is None else merged(*richer(offered, twin))
            ready.extend(join.add_call(call, now))
        return ready

    def _log(
        self, log: LogData, contents: dict[SpanKey, list[tuple[str, object]]], extras_as_properties: bool
    ) -> Record | None:
        """Return the record one log record is, or gather it into `contents` when it is a call's content."""
        name = log.event_name
        if name in CONTENT_EVENTS:
            if log.span is None:
                self._tally.dropped(
                    UNJOINABLE_CONTENT, 1, "a GenAI content record names no span to join it to"
                )
            else:
                payload = log.body if log.body is not None else log.attributes
                contents.setdefault(log.span, []).append((name, payload))
            return None
        message = log.body if isinstance(log.body, str) else str(name or "")
        outcome = interpret_log(
            message, log.attributes, log.timestamp, self.options, extras_as_properties=extras_as_properties
        )
        if outcome.unusable:
            self._tally.unusable(outcome)
        if outcome.missing_content:
            if outcome.record is None:
                self._tally.dropped(
                    NO_CONTENT, 1, "the model call carried no prompt or generation (drop_without_content)"
                )
            else:
                self._tally.incomplete(1)
        return outcome.record

    def _count_twins(self, count: int) -> None:
        if count:
            self._tally.dropped(
                DUPLICATE,
                count,
                "one model call was recorded by two instrumentations in different traces; it is sent once",
            )


def _related_span_ids(spans: Sequence[SpanData]) -> set[str]:
    """Return the ids of the spans whose parent, or one of whose children, is in the batch."""
    ids = {span.span_id for span in spans}
    related: set[str] = set()
    for span in spans:
        parent = span.parent_span_id
        if parent is not None and parent in ids:
            related.add(parent)
            related.add(span.span_id)
    return related
