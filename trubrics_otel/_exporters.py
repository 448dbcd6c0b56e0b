"""OpenTelemetry exporters that send what the mapping recognises to Trubrics.

`TrubricsSpanExporter` is a `SpanExporter`: the SDK's `BatchSpanProcessor` hands it finished spans, it
converts each into plain `SpanData` (the only place that touches SDK span objects), asks the mapping
what the span is, and sends the resulting records through the shared transport. A model call whose span
lacks its text waits a short, bounded time in the content join for log records that carry it.

`TrubricsLogExporter` is the logs SDK's `LogRecordExporter`: log records whose attributes carry
recognised keys become events and LLM events, and GenAI content records (`gen_ai.user.message`,
`gen_ai.choice`, `gen_ai.client.inference.operation.details`, ...) complete the call of the span they
name, through the same process-wide content join. A record OpenTelemetry's logging handler made from a
stdlib record is left to the structlog processor or a `TrubricsHandler` when one of them sends it
(`trubrics_otel._handler.sent_by_another_door`): each record reaches Trubrics once.

`export()` never raises. It returns SUCCESS when every record was delivered or refused for its own
content, FAILURE when delivery failed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from opentelemetry import _logs, trace

try:
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
except ImportError:  # SDKs before 1.39 name them LogExporter and LogExportResult, and pass LogData
    from opentelemetry.sdk._logs.export import (
        LogExporter as LogRecordExporter,
    )
    from opentelemetry.sdk._logs.export import (  # type: ignore[assignment]
        LogExportResult as LogRecordExportResult,
    )
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from trubrics_otel import _config
from trubrics_otel._context import context_processor_of
from trubrics_otel._events import MAX_BATCH_SIZE, Record
from trubrics_otel._handler import STRUCTLOG_KEYS, note_log_exporter, sent_by_another_door, warn_unusable
from trubrics_otel._reporting import report
from trubrics_otel._threads import start_daemon
from trubrics_otel._transport import TrubricsClient
from trubrics_otel.mapping import (
    LLMCall,
    MappingOptions,
    SpanData,
    SpanEventData,
    interpret,
    merge_nested_calls,
    recognise,
)
from trubrics_otel.mapping.ancestry import SpanIdentity, fill_identity, identity_of
from trubrics_otel.mapping.genai import content_from_events
from trubrics_otel.mapping.join import Content, ContentJoin
from trubrics_otel.mapping.logs import interpret_log
from trubrics_otel.mapping.twins import merge_twin_calls, merged, richer

__all__ = ["TrubricsLogExporter", "TrubricsSpanExporter", "exporter_of", "sdk_built_an_exporter", "span_data"]

_logger = logging.getLogger("trubrics_otel.exporters")

_STATUS = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


def span_data(span: ReadableSpan) -> SpanData:
    """Return an SDK span as the plain data the mapping reads."""
    context = span.context
    parent = span.parent
    resource = span.resource
    scope = span.instrumentation_scope
    status = span.status
    start = span.start_time or 0
    # ids formatted as `format_trace_id` and `format_span_id` do, without a call each
    return SpanData(
        name=span.name,
        trace_id=f"{context.trace_id:032x}" if context else "",
        span_id=f"{context.span_id:016x}" if context else "",
        start_time=start,
        end_time=span.end_time or start,
        attributes=_plain(getattr(span, "_attributes", None)) or span.attributes or {},
        parent_span_id=f"{parent.span_id:016x}" if parent else None,
        events=tuple(SpanEventData(e.name, e.timestamp, _plain(e.attributes) or {}) for e in span.events)
        if getattr(span, "_events", True)
        else (),
        resource=resource.attributes if resource is not None else {},
        status_code=_STATUS.get(status.status_code, "UNSET"),  # type: ignore[arg-type]
        status_message=status.description,
        scope=scope.name if scope is not None else None,
        parent_is_remote=bool(parent is not None and parent.is_remote),
    )


def _related_span_ids(spans: Sequence[ReadableSpan]) -> set[str]:
    """Return the ids of the spans whose parent, or one of whose children, is in the batch."""
    ids = {span.context.span_id for span in spans if span.context is not None}
    related: set[str] = set()
    for span in spans:
        parent = span.parent
        if parent is not None and parent.span_id in ids and span.context is not None:
            related.add(format_span_id(parent.span_id))
            related.add(format_span_id(span.context.span_id))
    return related


def _plain(attributes: object) -> Mapping[str, object] | None:
    """Return the SDK's attributes as the plain dict inside them, when they are the SDK's own class.

    Ended spans never change, so the mapping may read that dict directly: every lookup is then a C dict
    lookup instead of a Python `Mapping.get` (the mapping reads dozens of keys per span).
    """
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict:
        return inner
    return attributes if type(attributes) is dict else None


class TrubricsSpanExporter(SpanExporter):
    """Sends LLM spans as Trubrics LLM events and spans marked `trubrics.event` as events.

    Every argument is optional: without any, everything comes from `TRUBRICS_*` environment variables,
    which is how `OTEL_TRACES_EXPORTER=trubrics` builds it.

    Args:
        api_key: the project's API key (`TRUBRICS_API_KEY`).
        host: the API's base URL (`TRUBRICS_HOST`).
        client: a `TrubricsClient` to share with other exporters; `api_key` and `host` are then unused.
        default_user_id: the user of a span that names none (`TRUBRICS_DEFAULT_USER_ID`).
        default_assistant_id: the assistant of a call that names no model (`TRUBRICS_DEFAULT_ASSISTANT_ID`).
        missing_content: placeholder for text the span lacks (`TRUBRICS_MISSING_CONTENT`).
        drop_without_content: drop calls without text instead (`TRUBRICS_DROP_WITHOUT_CONTENT`).
        content_wait: seconds a call without text waits for its content logs (`TRUBRICS_CONTENT_WAIT`).
        copy_attributes: more attributes to copy into properties (`TRUBRICS_COPY_ATTRIBUTES`).
        join: the content join to share with a `TrubricsLogExporter`; by default the process-wide one.
        stamp_context: add the span processor that stamps `trubrics_otel.context()` and baggage onto
            spans to the global TracerProvider (what zero-code set-up needs).
        clock: a monotonic clock in seconds; tests pass a fake one.
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        *,
        client: TrubricsClient | None = None,
        default_user_id: str | None = None,
        default_assistant_id: str | None = None,
        missing_content: str | None = None,
        drop_without_content: bool | None = None,
        content_wait: float | None = None,
        copy_attributes: Sequence[str] | None = None,
        join: ContentJoin | None = None,
        stamp_context: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = MappingOptions(
            **_config.mapping_settings(
                default_user_id, default_assistant_id, missing_content, drop_without_content, copy_attributes
            )
        )
        wait = _config.CONTENT_WAIT.resolve(content_wait)
        if client is None:
            client = TrubricsClient(api_key, host)
            client.close_when_unused = True
        client.retain()
        self._client = client
        self._join = join if join is not None else shared_join(wait)
        self._clock = clock
        self._shutdown = False
        self._warned_default_user = False
        self._releaser = _Releaser(self._join, self._release, clock)
        self._recent_parents: OrderedDict[str, None] = OrderedDict()
        self._flushed_with: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
        if stamp_context:
            # the SDK builds it for OTEL_TRACES_EXPORTER=trubrics after setting the global provider, and
            # adds its batch processor next: the flusher must come after that, so at the first span
            provider = trace.get_tracer_provider()
            processor = context_processor_of(provider)
            if processor is not None and isinstance(provider, TracerProvider):
                exporter_of(provider, self)
                processor.on_first_span(lambda: self.flush_with(provider))

    @property
    def client(self) -> TrubricsClient:
        """The transport this exporter sends through; `client.stats()` tells what happened."""
        return self._client

    @property
    def join(self) -> ContentJoin:
        """Where calls wait for their content, shared with the log exporter."""
        return self._join

    def events_of(self, calls: Sequence[LLMCall]) -> list[Record]:
        """Return the LLM events of calls released by the join, counting those sent without text."""
        events = self._llm_events(calls)
        if len(self._join):
            self._releaser.wake()
        return events

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Translate a batch of finished spans and send the records. Never raises.

        A batch of more than 100 spans is translated and sent in parts of 100, each part translated
        while the one before it is with the server.
        """
        if self._shutdown:
            return SpanExportResult.FAILURE
        if len(spans) <= _PART_SIZE:
            records = self._translate_safely(spans)
            return _result(records is not None and (not records or self._client.send(records).ok))
        failed: list[int] = []
        delivered = self._client.send_batches(self._parts_safely(spans, failed)).ok
        return _result(delivered and not failed)

    def _translate_safely(self, spans: Sequence[ReadableSpan]) -> list[Record] | None:
        try:
            return self._translate(spans)
        except Exception:  # noqa: BLE001 - a mapping bug must cost the batch's records, never the app
            report(
                _logger,
                logging.ERROR,
                f"Trubrics: could not translate a batch of {len(spans)} spans",
                key="translate-spans",
                exc_info=True,
            )
            self._client.ledger.dropped("mapping_error", len(spans), "the span mapping failed")
            return None

    def _parts_safely(self, spans: Sequence[ReadableSpan], failed: list[int]) -> Iterator[list[Record]]:
        """Yield the parts of `_parts`; if the mapping fails, count the spans not yet sent into `failed`."""
        done = 0
        try:
            for part, settled in self._parts(spans, _PART_SIZE):
                done += settled
                yield part
        except Exception:  # noqa: BLE001 - a bug costs the untranslated rest, never the app
            failed.append(len(spans) - done)
            report(
                _logger,
                logging.ERROR,
                f"Trubrics: could not translate {len(spans) - done} of a batch's spans",
                key="translate-spans",
                exc_info=True,
            )
            self._client.ledger.dropped("mapping_error", len(spans) - done, "the span mapping failed")

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send every call still waiting for its content (pushing the log records that may hold it first)."""
        if self._shutdown:
            return True
        if len(self._join):
            _flush_content_logs()
        return self._release(self._join.drain(), timeout_millis / 1000)

    def flush_with(self, provider: TracerProvider) -> None:
        """Make `provider.force_flush()` send the calls this exporter holds, too. Idempotent.

        Call it after adding the processor that exports to this exporter: the SDK's BatchSpanProcessor
        exports its queue on `force_flush()` but never asks its exporter to flush, so without this a call
        waiting for its content or its user would stay held for up to `content_wait` seconds after the
        application flushed (a serverless function may be frozen by then).
        """
        if provider in self._flushed_with:
            return
        self._flushed_with.add(provider)
        provider.add_span_processor(_HeldCallsFlusher(self))

    def shutdown(self) -> None:
        """Release held calls and stop; the last user of a client this exporter made closes it. Idempotent."""
        if self._shutdown:
            return
        if len(self._join):
            _flush_content_logs()
        self.force_flush()
        self._shutdown = True
        self._releaser.stop()
        self._client.release()

    def _translate(self, spans: Sequence[ReadableSpan]) -> list[Record]:
        """Return the records a batch of spans becomes, translated all at once."""
        return [record for part, _ in self._parts(spans, max(len(spans), 1)) for record in part]

    def _parts(self, spans: Sequence[ReadableSpan], size: int) -> Iterator[tuple[list[Record], int]]:
        """Yield the records of the spans translated `size` at a time, with the number of spans settled.

        A model call recorded by two nested spans is merged once both have been read (`_one_per_call`):
        calls whose span has a parent or a child in the batch wait for the last part.
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
                ready.extend(self._join.add_spans(identities))
                ready.extend(self._join.expired(now))
                settled += len(waiting)
                if len(self._join):
                    self._releaser.wake()
            else:
                ready.extend(self._join.add_spans(identities[-len(part) :]))
            records.extend(self._llm_events(ready))
            self._warn_default_user(records)
            yield records, settled

    def _interpret(
        self, spans: Sequence[ReadableSpan], identities: list[SpanIdentity]
    ) -> tuple[list[Record], list[LLMCall]]:
        """Return the spans' events and model calls, adding each span's identity to `identities`.

        A span the mapping fails on is dropped alone.
        """
        records: list[Record] = []
        calls: list[LLMCall] = []
        for span in spans:
            try:
                data = span_data(span)
                found = recognise(data)
                outcome = interpret(data, self.options, found)
            except Exception as error:  # noqa: BLE001 - a mapping bug costs this span alone, not the app
                self._client.ledger.dropped("mapping_error", 1, f"the span mapping failed: {error!r}")
                continue
            identities.append(identity_of(data, found))
            if isinstance(outcome, LLMCall):
                calls.append(outcome)
            elif outcome is not None:
                records.append(outcome)
        return records, calls

    def _joined(self, calls: list[LLMCall], now: float, identities: list[SpanIdentity]) -> list[LLMCall]:
        """Return the calls ready to send; those lacking their text or their identity wait in the join.

        Without a window nothing waits: a call takes what its ancestors exported so far with it name.
        """
        if self._join.window <= 0:
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
            twin = self._join.take_twin(offered) if offered.has_content else None
            if twin is not None:
                self._count_twins(1)
            call = offered if twin is None else merged(*richer(offered, twin))
            ready.extend(self._join.add_call(call, now))
        return ready

    def _one_per_call(self, calls: list[LLMCall]) -> list[LLMCall]:
        """Merge a model call recorded by two instrumentations (nested spans, or twins in two traces).

        The inner span ends first, so an outer one may come in a later batch than the call it wraps: the
        parents of recent calls are remembered (a bounded number) to recognise it then too.
        """
        if not calls:
            return calls
        kept, outer = merge_nested_calls(calls)
        recent = self._recent_parents
        late = [call for call in kept if call.span.span_id in recent]
        if late:
            kept = [call for call in kept if call.span.span_id not in recent]
            outer.extend(late)
        for call in kept:
            if call.span.parent_span_id:
                recent[call.span.parent_span_id] = None
        while len(recent) > _RECENT_PARENTS:
            recent.popitem(last=False)
        if outer:
            self._client.ledger.dropped(
                "duplicate",
                len(outer),
                "one model call was recorded by two instrumentations; it is sent once, as the inner span",
            )
        kept, twins = merge_twin_calls(kept)
        self._count_twins(len(twins))
        return kept

    def _llm_events(self, calls: Sequence[LLMCall]) -> list[Record]:
        """Return the events of calls ready to send, once each however many traces recorded the call."""
        if not calls:
            return []
        calls, twins = self._join.twins.settle(calls, self._clock())
        self._count_twins(len(twins))
        events: list[Record] = []
        for call in calls:
            event = call.to_event(self.options)
            if event is not None:
                events.append(event)
            else:
                self._client.ledger.dropped(
                    "no_content", 1, "the model call carried no prompt or generation (drop_without_content)"
                )
            if not call.has_content and event is not None:
                self._client.ledger.incomplete(1)
        return events

    def _count_twins(self, count: int) -> None:
        if count:
            self._client.ledger.dropped(
                "duplicate",
                count,
                "one model call was recorded by two instrumentations in different traces; it is sent once",
            )

    def _release(self, calls: Sequence[LLMCall], deadline: float | None = None) -> bool:
        events = self._llm_events(calls)
        return not events or self._client.send(events, deadline=deadline).ok

    def _warn_default_user(self, records: Sequence[Record]) -> None:
        if self._warned_default_user:
            return
        if any(record.user_id == self.options.default_user_id for record in records):
            self._warned_default_user = True
            report(
                _logger,
                logging.WARNING,
                f"Trubrics: some spans name no user, so their events are sent as user "
                f"{self.options.default_user_id!r}. Wrap each request in "
                "`with trubrics_otel.context(user_id=...)`, set baggage `user.id`, or set the `user.id` "
                "span attribute; TRUBRICS_DEFAULT_USER_ID changes the fallback.",
                key="default-user",
            )


_exporters: weakref.WeakKeyDictionary[object, TrubricsSpanExporter] = weakref.WeakKeyDictionary()
_exporters_lock = threading.Lock()


def exporter_of(
    provider: object, candidate: TrubricsSpanExporter | None = None
) -> TrubricsSpanExporter | None:
    """Return the exporter built for a provider by the SDK's zero-code set-up, recording `candidate`.

    `configure()` asks here, when OTEL_TRACES_EXPORTER names trubrics, before adding a second exporter
    that would send every span twice.
    """
    with _exporters_lock:
        existing = _exporters.get(provider)
        if existing is None and candidate is not None:
            _exporters[provider] = candidate
        return existing


def sdk_built_an_exporter() -> bool:
    """Whether a span exporter was built for a global TracerProvider, as the zero-code set-up builds one.

    `configure()` asks when OTEL_TRACES_EXPORTER names trubrics: if none was, no OpenTelemetry
    configurator ran (`opentelemetry-instrument` without a distro), and the user is told why.
    """
    with _exporters_lock:
        return len(_exporters) > 0


_RECENT_PARENTS: Final = 10_000
"""How many parents of recent model calls an exporter remembers, to merge an outer span that comes late."""
_PART_SIZE: Final = MAX_BATCH_SIZE
"""Spans translated per part of a larger batch: one request's worth."""


def _flush_content_logs() -> None:
    """Push the log records the global LoggerProvider still queues, so held calls get their content.

    A TracerProvider shut down before the LoggerProvider would otherwise release its calls while their
    content records still wait in the log queue. A provider already shut down ignores the flush.
    """
    flush = getattr(_logs.get_logger_provider(), "force_flush", None)
    if callable(flush):
        try:
            flush()
        except Exception:  # noqa: BLE001 - the logs pipeline's failure must not stop this exporter's shutdown
            report(
                _logger,
                logging.ERROR,
                "Trubrics: could not flush the log records of held model calls",
                key="flush-content-logs",
                exc_info=True,
            )


class _HeldCallsFlusher(SpanProcessor):
    """A span processor after the batch processor: the provider's `force_flush()` flushes held calls."""

    def __init__(self, exporter: TrubricsSpanExporter) -> None:
        self._exporter = weakref.ref(exporter)

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do when a span ends."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send the calls the exporter holds."""
        exporter = self._exporter()
        return exporter is None or exporter.force_flush(timeout_millis)


def _result(ok: bool) -> SpanExportResult:
    return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE


class _Releaser:
    """Sends held calls when their window closes, even when no new spans arrive to trigger it."""

    def __init__(
        self, join: ContentJoin, release: Callable[[Sequence[LLMCall]], bool], clock: Callable[[], float]
    ) -> None:
        self._join = join
        self._release = release
        self._clock = clock
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        _releasers.add(self)

    def _renew_after_fork(self) -> None:
        # the child has none of the parent's threads, and a lock held at the fork would stay held
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = start_daemon(self._run, "trubrics-content-join")
                if self._thread is None:
                    return  # the shutdown that follows releases what waits
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            deadline = self._join.next_deadline()
            if deadline is None:
                self._wake.clear()
                if self._join.next_deadline() is None:
                    self._wake.wait()
                continue
            delay = deadline - self._clock()
            if delay > 0:
                self._wake.clear()
                self._wake.wait(delay)
                continue
            try:
                self._release(self._join.expired(self._clock()))
            except Exception:  # noqa: BLE001 - the releaser must outlive any single bad call
                report(
                    _logger,
                    logging.ERROR,
                    "Trubrics: could not send held model calls",
                    key="release-held-calls",
                    exc_info=True,
                )


_releasers: weakref.WeakSet[_Releaser] = weakref.WeakSet()
_shared_joins: dict[float, ContentJoin] = {}
_shared_lock = threading.Lock()


def _renew_after_fork() -> None:
    global _shared_lock  # noqa: PLW0603 - a lock held at the fork would stay held in the child
    _shared_lock = threading.Lock()
    for releaser in list(_releasers):
        releaser._renew_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_after_fork)


def shared_join(window: float) -> ContentJoin:
    """Return the process-wide content join, so exporters built apart (zero-code) still meet."""
    with _shared_lock:
        join = _shared_joins.get(window)
        if join is None:
            join = _shared_joins[window] = ContentJoin(window)
        return join


CONTENT_EVENTS: Final = frozenset(
    {
        "gen_ai.client.inference.operation.details",
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
    }
)
"""Log records that carry a model call's content rather than an event of their own."""


class TrubricsLogExporter(LogRecordExporter):
    """Sends log records with recognised keys as events, and joins GenAI content records to their calls.

    Takes the same arguments as `TrubricsSpanExporter` (all optional, all from `TRUBRICS_*` when absent),
    which is how `OTEL_LOGS_EXPORTER=trubrics` builds it. In one process it shares the content join with
    the span exporter, so a call whose span and content records arrive apart still makes one LLM event.
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        *,
        client: TrubricsClient | None = None,
        join: ContentJoin | None = None,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        # the span exporter owns option resolution; reuse it so both read the same settings
        self._spans = TrubricsSpanExporter(
            api_key, host, client=client, join=join, stamp_context=False, clock=clock, **options
        )
        self._clock = clock
        self._shutdown = False
        note_log_exporter()

    @property
    def client(self) -> TrubricsClient:
        """The transport this exporter sends through."""
        return self._spans.client

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        """Translate a batch of log records (or `LogData` from SDKs before 1.39) and send. Never raises."""
        if self._shutdown:
            return LogRecordExportResult.FAILURE
        try:
            records = self._translate(batch)
        except Exception:  # noqa: BLE001 - a mapping bug must cost the batch's records, never the app
            report(
                _logger,
                logging.ERROR,
                f"Trubrics: could not translate a batch of {len(batch)} log records",
                key="translate-logs",
                exc_info=True,
            )
            self.client.ledger.dropped("mapping_error", len(batch), "the log mapping failed")
            return LogRecordExportResult.FAILURE
        ok = not records or self.client.send(records).ok
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send every call still waiting for its content."""
        return self._spans.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Release held calls and stop. Idempotent."""
        if not self._shutdown:
            self._shutdown = True
            self._spans.shutdown()

    def _translate(self, batch: Sequence[Any]) -> list[Record]:
        options = self._spans.options
        records: list[Record] = []
        contents: dict[tuple[str, str], list[tuple[str, object]]] = {}
        for item in batch:
            try:
                record = self._translate_one(item, options, contents)
            except Exception as error:  # noqa: BLE001 - a mapping bug costs this record alone, not the app
                self.client.ledger.dropped("mapping_error", 1, f"the log mapping failed: {error!r}")
                continue
            if record is not None:
                records.append(record)
        now = self._clock()
        ready: list[LLMCall] = []
        for key, events in contents.items():
            found = content_from_events(events)
            ready.extend(
                self._spans.join.add_content(
                    key, Content(found.prompt, found.generation, found.finish_reasons), now
                )
            )
        ready.extend(self._spans.join.expired(now))
        records.extend(self._spans.events_of(ready))
        return records

    def _translate_one(
        self, item: Any, options: MappingOptions, contents: dict[tuple[str, str], list[tuple[str, object]]]
    ) -> Record | None:
        """Return the record one log record is, or gather it into `contents` when it is a call's content."""
        log = getattr(item, "log_record", item)
        attributes = dict(log.attributes or {})
        name = getattr(log, "event_name", None) or attributes.get("event.name")
        if name in CONTENT_EVENTS:
            if log.span_id:
                key = (format_trace_id(log.trace_id), format_span_id(log.span_id))
                payload = log.body if log.body is not None else attributes
                contents.setdefault(key, []).append((str(name), payload))
            else:
                self.client.ledger.dropped(
                    "unjoinable_content", 1, "a GenAI content record names no span to join it to"
                )
            return None
        body = log.body
        if name is None and _sent_by_another_door(item, log):
            return None  # not a loss: the structlog processor or a TrubricsHandler sends this record
        if isinstance(body, Mapping) and isinstance(body.get("event"), str):
            # structlog's ProcessorFormatter.wrap_for_formatter: the stdlib record's message, so the log
            # record's body, is the event dict itself, as TrubricsHandler reads it too
            attributes.update((key, value) for key, value in body.items() if key not in STRUCTLOG_KEYS)
            body = body["event"]
        message = body if isinstance(body, str) else str(name or "")
        outcome = interpret_log(message, attributes, log.timestamp or log.observed_timestamp, options)
        if outcome.unusable:
            warn_unusable(outcome)
        if outcome.missing_content:
            if outcome.record is None:
                self.client.ledger.dropped(
                    "no_content", 1, "the model call carried no prompt or generation (drop_without_content)"
                )
            else:
                self.client.ledger.incomplete(1)
        return outcome.record


def _sent_by_another_door(item: Any, log: Any) -> bool:
    """Whether a log record, made from a stdlib record by OpenTelemetry's logging handler, is sent elsewhere.

    Those handlers name the instrumentation scope after the stdlib logger, and always set the level's
    name and the record's time; a record made through the Logs API by an instrumentation rarely has the
    time and never names a stdlib logger's scope together with them. The handler module decides.
    """
    scope = getattr(item, "instrumentation_scope", None)
    timestamp = log.timestamp
    if scope is None or timestamp is None or not log.severity_text:
        return False
    return sent_by_another_door(scope.name, _stdlib_level(log), timestamp, log.body)


def _stdlib_level(log: Any) -> int:
    """The stdlib level a log record was made at: from its level's name, else the lowest its severity allows.

    OpenTelemetry's logging handlers keep the level's name (WARN for WARNING, FATAL for CRITICAL, both
    names stdlib knows too); custom levels have their registered name, or `Level 25`.
    """
    text = str(log.severity_text)
    level = logging.getLevelName(text)
    if isinstance(level, int):
        return level
    if text.startswith("Level ") and text[6:].isdigit():
        return int(text[6:])
    number = int(getattr(log.severity_number, "value", log.severity_number) or 0)
    if number < _DEBUG_SEVERITY:
        return logging.NOTSET
    group, step = divmod(min(number, 24) - _DEBUG_SEVERITY, 4)
    return logging.DEBUG * (group + 1) + step  # DEBUG is 5, DEBUG2 6, ... INFO 9, ... FATAL4 24


_DEBUG_SEVERITY: Final = 5
"""OpenTelemetry's severity number of DEBUG; each stdlib level's step of ten spans four numbers."""
