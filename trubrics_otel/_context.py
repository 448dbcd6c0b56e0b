"""Say who the user is once, and have every span started inside say it too.

Children do not inherit their parents' attributes, so an app that knows the user at its request handler
wraps the work in `trubrics_otel.context(user_id=..., thread_id=...)`; `TrubricsContextSpanProcessor`
stamps `trubrics.user_id`, `trubrics.thread_id` and `trubrics.properties.*` onto every span started
inside. OpenTelemetry baggage `user.id` and `session.id` are honoured the same way.

It never overwrites a value the instrumentation or the app set on the span itself.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from trubrics_otel._events import json_safe

__all__ = ["TrubricsContextSpanProcessor", "context", "context_processor_of", "install_context_processor"]

_USER: Final = otel_context.create_key("trubrics.user_id")
_THREAD: Final = otel_context.create_key("trubrics.thread_id")
_PROPERTIES: Final = otel_context.create_key("trubrics.properties")

_BAGGAGE_KEYS: Final = (("user.id", "trubrics.user_id"), ("session.id", "trubrics.thread_id"))
_BAGGAGE: Final = getattr(baggage, "_BAGGAGE_KEY", None)
"""The context key baggage lives under: a context without it has none (`baggage.get_all` reads it)."""


@contextlib.contextmanager
def context(
    user_id: object = None,
    thread_id: object = None,
    properties: Mapping[str, object] | None = None,
) -> Iterator[None]:
    """Attach a user, a thread and properties to every span started inside the block.

    Nested blocks add to the outer ones: an inner `user_id` replaces the outer one, properties merge.

    Args:
        user_id: the distinct id of the signed-in user.
        thread_id: the conversation these calls belong to (Trubrics' `$thread_id`).
        properties: custom properties for every event made from these spans.
    """
    ctx = otel_context.get_current()
    if user_id is not None:
        ctx = otel_context.set_value(_USER, str(user_id), ctx)
    if thread_id is not None:
        ctx = otel_context.set_value(_THREAD, str(thread_id), ctx)
    if properties:
        outer = otel_context.get_value(_PROPERTIES, ctx)
        merged = {**(outer if isinstance(outer, dict) else {}), **properties}
        ctx = otel_context.set_value(_PROPERTIES, merged, ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


class TrubricsContextSpanProcessor(SpanProcessor):
    """Stamps the user, thread and properties of `trubrics_otel.context` (or baggage) onto new spans."""

    def __init__(self) -> None:
        self._first_span_actions: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def on_first_span(self, action: Callable[[], None]) -> None:
        """Run `action` once, when the provider starts its next span: its set-up is complete by then."""
        with self._lock:
            self._first_span_actions.append(action)

    def _run_first_span_actions(self) -> None:
        with self._lock:
            actions, self._first_span_actions = self._first_span_actions, []
        for action in actions:
            action()

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        """Set `trubrics.*` attributes the span does not have yet.

        It runs in the application's thread for every span started: a span started outside any
        `trubrics_otel.context()` and without baggage, most of them, costs four dict lookups.
        """
        if self._first_span_actions:
            self._run_first_span_actions()
        ctx = parent_context if parent_context is not None else otel_context.get_current()
        user = ctx.get(_USER)
        thread = ctx.get(_THREAD)
        properties = ctx.get(_PROPERTIES)
        entries = baggage.get_all(ctx) if _BAGGAGE is None or _BAGGAGE in ctx else None
        if user is None and thread is None and properties is None and not entries:
            return
        stamps: dict[str, object] = {}
        if user is not None:
            stamps["trubrics.user_id"] = user
        if thread is not None:
            stamps["trubrics.thread_id"] = thread
        if entries:
            for baggage_key, attribute in _BAGGAGE_KEYS:
                if attribute not in stamps:
                    value = entries.get(baggage_key)
                    if value is not None:
                        stamps[attribute] = str(value)
        if isinstance(properties, dict):
            for name, value in properties.items():
                stamps[f"trubrics.properties.{name}"] = _attribute_value(value)
        existing = span.attributes or {}
        for key, value in stamps.items():
            if key not in existing:
                span.set_attribute(key, value)  # type: ignore[arg-type]

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do when a span ends."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered."""
        return True


def _attribute_value(value: object) -> object:
    """Return a value OpenTelemetry accepts as an attribute: primitives as they are, the rest as JSON."""
    if isinstance(value, (str, bool, int, float)):
        return value
    import json  # noqa: PLC0415 - only structured properties need it

    return json.dumps(json_safe(value), sort_keys=True)


_installed: weakref.WeakKeyDictionary[TracerProvider, TrubricsContextSpanProcessor] = (
    weakref.WeakKeyDictionary()
)
_installed_lock = threading.Lock()


def install_context_processor(provider: object) -> bool:
    """Add one `TrubricsContextSpanProcessor` to an SDK TracerProvider; return whether it is there now.

    Idempotent: a provider gets at most one, however many exporters or `configure()` calls ask for it.
    """
    return context_processor_of(provider) is not None


def context_processor_of(provider: object) -> TrubricsContextSpanProcessor | None:
    """Return the provider's `TrubricsContextSpanProcessor`, added now if it has none; None if not SDK."""
    if not isinstance(provider, TracerProvider):
        return None
    with _installed_lock:
        processor = _installed.get(provider)
        if processor is not None:
            return processor
        processor = _installed[provider] = TrubricsContextSpanProcessor()
    provider.add_span_processor(processor)
    return processor
