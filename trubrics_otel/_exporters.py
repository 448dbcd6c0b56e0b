"""`TrubricsSpanExporter`: the trace SDK's exporter, a thin adapter handing plain spans to a delivery core.

The SDK's `BatchSpanProcessor` hands it finished spans; it turns each into `SpanData` (the only place that
touches SDK span objects) and hands the batch to its core (`trubrics_otel._delivery`), which translates it
(`mapping.Translator`), sends the records through the shared transport, and holds a call whose span lacks
its text for a short, bounded time in the content join, for the log records that carry it. Its sibling for
log records is `TrubricsLogExporter` (`_log_exporter`, re-exported here, where the entry points name it).

Here too is the one registry of which exporter sends a provider's spans (`exporter_of`): the one the
SDK's zero-code set-up built, and the one `configure()` added.

`export()` never raises. It returns SUCCESS when every record was delivered or refused for its own
content, FAILURE when delivery failed.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from trubrics_otel._config import Settings
from trubrics_otel._context import context_processor_of
from trubrics_otel._delivery import ContentJoin, core_for
from trubrics_otel._events import Record
from trubrics_otel._exit_flush import flush_in_multiprocessing_children
from trubrics_otel._log_exporter import TrubricsLogExporter, push_content_logs
from trubrics_otel._transport import TrubricsClient
from trubrics_otel.mapping import MappingOptions, SpanData, SpanEventData

__all__ = [
    "TrubricsLogExporter",
    "TrubricsSpanExporter",
    "configured_exporter",
    "exporter_of",
    "sdk_built_an_exporter",
    "span_data",
]

_STATUS = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


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
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = Settings.resolve(
            with_transport=client is None,
            api_key=api_key,
            host=host,
            default_user_id=default_user_id,
            default_assistant_id=default_assistant_id,
            missing_content=missing_content,
            drop_without_content=drop_without_content,
            content_wait=content_wait,
            copy_attributes=copy_attributes,
        )
        self._core = core_for(settings, client, join, _clock=_clock)
        flush_in_multiprocessing_children(providers=True)  # a child ends through os._exit: no exit hook
        self._shutdown = False
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
        return self._core.client

    @property
    def options(self) -> MappingOptions:
        """How this exporter's spans become records."""
        return self._core.options

    @property
    def join(self) -> ContentJoin:
        """Where calls wait for their content, shared with the log exporter."""
        return self._core.join

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Translate a batch of finished spans and send the records. Never raises.

        A batch of more than 100 spans is translated and sent in parts of 100, each part translated
        while the one before it is with the server.
        """
        if self._shutdown:
            return SpanExportResult.FAILURE
        data: list[SpanData] = []
        for span in spans:
            try:
                data.append(span_data(span))
            except Exception as error:  # noqa: BLE001 - an unreadable span costs itself alone, not the app
                self._core.count_unreadable("span", error)
        if not self._core.send_spans(data):
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send every call still waiting for its content (pushing the log records that may hold it first)."""
        if self._shutdown:
            return True
        if self._core.holds_calls:
            push_content_logs()
        return self._core.flush(timeout_millis / 1000)

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

    def _translate(self, spans: Sequence[ReadableSpan]) -> list[Record]:
        """Return the records a batch of spans becomes, without sending them (what the benchmarks time)."""
        return self._core.translator.spans([span_data(span) for span in spans])

    def shutdown(self) -> None:
        """Release held calls and stop; the last user of a client this exporter made closes it. Idempotent."""
        if self._shutdown:
            return
        if self._core.holds_calls:
            push_content_logs()
        self._shutdown = True
        self._core.release()


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


def _plain(attributes: object) -> Mapping[str, object] | None:
    """Return the SDK's attributes as the plain dict inside them, when they are the SDK's own class.

    Ended spans never change, so the mapping may read that dict directly: every lookup is then a C dict
    lookup instead of a Python `Mapping.get` (the mapping reads dozens of keys per span).
    """
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict:
        return inner
    return attributes if type(attributes) is dict else None


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


# --- which exporter sends a provider's spans --------------------------------------------------------


@dataclass
class _Senders:
    """The Trubrics exporters of one provider: the one the SDK's set-up built, the one configure() added."""

    built: TrubricsSpanExporter | None = None
    configured: TrubricsSpanExporter | None = None


_exporters: weakref.WeakKeyDictionary[object, _Senders] = weakref.WeakKeyDictionary()
_exporters_lock = threading.Lock()


def exporter_of(
    provider: object, candidate: TrubricsSpanExporter | None = None
) -> TrubricsSpanExporter | None:
    """Return the exporter built for a provider by the SDK's zero-code set-up, recording `candidate`.

    `configure()` asks here, when OTEL_TRACES_EXPORTER names trubrics, before adding a second exporter
    that would send every span twice.
    """
    with _exporters_lock:
        senders = _exporters.get(provider)
        existing = senders.built if senders is not None else None
        if existing is None and candidate is not None:
            _exporters.setdefault(provider, _Senders()).built = candidate
        return existing


def sdk_built_an_exporter() -> bool:
    """Whether a span exporter was built for a global TracerProvider, as the zero-code set-up builds one.

    `configure()` asks when OTEL_TRACES_EXPORTER names trubrics: if none was, no OpenTelemetry
    configurator ran (`opentelemetry-instrument` without a distro), and the user is told why.
    """
    with _exporters_lock:
        return any(senders.built is not None for senders in _exporters.values())


def configured_exporter(
    provider: object, make: Callable[[], TrubricsSpanExporter], *, reuse_built: bool
) -> tuple[TrubricsSpanExporter, bool]:
    """Return the exporter `configure()` gives for a provider, and whether `make()` made it now.

    The exporter an earlier `configure()` added comes first; then, when `reuse_built`, the one the SDK's
    zero-code set-up built; else `make()`'s, recorded for the next call.
    """
    with _exporters_lock:
        senders = _exporters.setdefault(provider, _Senders())
        existing = senders.configured
        if existing is None and reuse_built:
            existing = senders.built
        if existing is not None:
            return existing, False
        senders.configured = made = make()
        return made, True
