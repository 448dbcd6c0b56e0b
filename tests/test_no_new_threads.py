"""When the interpreter starts no new thread, everything is still delivered, from the caller's thread.

Python 3.12.0 and 3.12.1 refuse to start a thread from an exit hook, which is where OpenTelemetry's
providers and `logging.shutdown()` flush the exporters and handlers. These tests make `Thread.start`
refuse the same way, only while the test body runs (the local server's thread is already started).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trubrics_otel import TrubricsHandler, TrubricsSpanExporter
from trubrics_otel._delivery import ContentJoin
from trubrics_otel.server import Fault, LocalServer

CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]',
    "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]',
}


@pytest.fixture
def refuse_new_threads(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it once what the test needs is set up: from then on our threads do not start, as at exit.

    The local server goes on starting a thread per request.
    """
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name.startswith("trubrics-"):
            raise RuntimeError("can't create new thread at interpreter shutdown")
        original(self)

    return lambda: monkeypatch.setattr(threading.Thread, "start", start)


def llm_spans(count: int, content: bool = True) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for index in range(count):
        attributes = CALL if content else {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
        with tracer.start_as_current_span(f"chat {index}", attributes=attributes):
            pass
    return list(memory.get_finished_spans())


def test_a_large_export_is_sent_from_the_callers_thread(
    server: LocalServer, api_key: str, refuse_new_threads: Callable[[], None]
) -> None:
    """An export of 250 spans, sent in parts, is delivered whole without its sending thread."""
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    spans = llm_spans(250)
    refuse_new_threads()

    assert exporter.export(spans) is SpanExportResult.SUCCESS

    assert len(server.llm_events()) == 250
    exporter.shutdown()


def test_a_call_waiting_for_its_content_is_released_by_shutdown(
    server: LocalServer, api_key: str, refuse_new_threads: Callable[[], None]
) -> None:
    """The join's release thread cannot start: export() still succeeds and shutdown() sends the call."""
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    spans = llm_spans(1, content=False)
    refuse_new_threads()

    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert server.llm_events() == []
    exporter.shutdown()

    (event,) = server.llm_events()
    assert event["prompt"] == "[content not recorded]"
    assert exporter.client.stats().incomplete == 1


@pytest.mark.parametrize("ending", ["flush", "close"])
def test_the_handler_delivers_from_flush_or_close(
    server: LocalServer, api_key: str, refuse_new_threads: Callable[[], None], ending: str
) -> None:
    """Records logged when no delivery thread can start go out when the handler is flushed or closed."""
    handler = TrubricsHandler(api_key=api_key, host=server.url, flush_interval=60)
    logger = logging.getLogger("app.no_threads")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    refuse_new_threads()
    try:
        for number in range(3):
            logger.info("signed up", extra={"user_id": f"u{number}", "event": "Sign up"})
        assert server.events() == []
        getattr(handler, ending)()

        assert sorted(event["user_id"] for event in server.events()) == ["u0", "u1", "u2"]
        assert handler.client.stats().sent == 3
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        handler.close()


def test_the_handler_delivering_from_flush_keeps_to_its_timeout(
    server: LocalServer, api_key: str, refuse_new_threads: Callable[[], None]
) -> None:
    """flush(timeout) from the caller's thread stops when its time is up, however much is queued."""
    for _ in range(5):
        server.faults.script(Fault(status=200, delay=0.3))
    handler = TrubricsHandler(api_key=api_key, host=server.url, flush_interval=60)
    logger = logging.getLogger("app.no_threads")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    refuse_new_threads()
    try:
        for number in range(500):
            logger.info("signed up", extra={"user_id": f"u{number}", "event": "Sign up"})
        started = time.monotonic()

        assert handler.flush(timeout=0.2) is None
        assert time.monotonic() - started < 0.6  # one slow request cut short, not five in full
        assert handler.stats().sent == 0
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        handler.close(timeout=0.1)
