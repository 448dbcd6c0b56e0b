"""The span exporter with a real TracerProvider, sending to the real local server."""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Iterator

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

import trubrics_otel
from trubrics_otel import TrubricsSpanExporter, configure
from trubrics_otel._context import install_context_processor
from trubrics_otel._delivery import ContentJoin
from trubrics_otel.server import LocalServer

INPUT = json.dumps(
    [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Hello there"}]},
    ]
)
OUTPUT = json.dumps(
    [{"role": "assistant", "parts": [{"type": "text", "content": "Hi!"}], "finish_reason": "stop"}]
)


def genai_attributes(content: bool = True) -> dict[str, object]:
    attributes: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.response.finish_reasons": ("stop",),
    }
    if content:
        attributes["gen_ai.input.messages"] = INPUT
        attributes["gen_ai.output.messages"] = OUTPUT
    return attributes


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    install_context_processor(provider)
    yield provider
    provider.shutdown()


@pytest.fixture
def memory(provider: TracerProvider) -> InMemorySpanExporter:
    """Keeps every span the provider finishes, for a test to hand to the exporter itself."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture
def exporter(server: LocalServer, api_key: str) -> Iterator[TrubricsSpanExporter]:
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    yield exporter
    exporter.shutdown()


def finished_spans(provider: TracerProvider, count: int, content: bool = True) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for index in range(count):
        with tracer.start_as_current_span(f"chat gpt-4o {index}", attributes=genai_attributes(content)):
            pass
    return list(memory.get_finished_spans())


def test_an_llm_span_becomes_one_llm_event(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer
) -> None:
    """The span's prompt, answer, model, tokens, latency and ids arrive at the server."""
    (span,) = finished_spans(provider, 1)

    assert exporter.export([span]) is SpanExportResult.SUCCESS

    (event,) = server.llm_events()
    assert event["prompt"] == "Hello there"
    assert event["generation"] == "Hi!"
    assert event["assistant_id"] == "gpt-4o-2024-08-06"
    assert event["user_id"] == "anonymous"
    assert event["latency"] == pytest.approx((span.end_time - span.start_time) / 1e9)
    properties = event["properties"]
    assert properties["input_tokens"] == 11
    assert properties["output_tokens"] == 7
    assert properties["total_tokens"] == 18
    assert properties["provider"] == "openai"
    assert properties["service_name"] == "checkout"
    assert properties["span_id"] == f"{span.context.span_id:016x}"
    assert properties["finish_reasons"] == ["stop"]


def test_1000_spans_arrive_as_1000_events_in_requests_of_100(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer
) -> None:
    """A large batch is re-chunked: exactly one event per span, no request over 100."""
    spans = finished_spans(provider, 1000)

    assert exporter.export(spans[:600]) is SpanExportResult.SUCCESS
    assert exporter.export(spans[600:]) is SpanExportResult.SUCCESS

    assert len(server.llm_events()) == 1000
    assert len({e["properties"]["span_id"] for e in server.llm_events()}) == 1000
    counts = [r.item_count for r in server.requests if r.method == "POST"]
    assert max(counts) == 100
    assert sum(counts) == 1000


def test_through_a_batch_span_processor(server: LocalServer, api_key: str) -> None:
    """configure() adds a batch processor whose exports hold at most 100 spans."""
    provider = TracerProvider()
    exporter = configure(api_key, server.url, tracer_provider=provider, join=ContentJoin(window=60))
    tracer = provider.get_tracer("test")
    for _ in range(250):
        with tracer.start_as_current_span("chat", attributes=genai_attributes()):
            pass
    provider.force_flush()

    assert len(server.llm_events()) == 250
    assert all(r.item_count <= 100 for r in server.requests)
    assert exporter.client.stats().sent == 250
    provider.shutdown()


def test_a_span_marked_as_an_event_becomes_an_event(
    provider: TracerProvider,
    memory: InMemorySpanExporter,
    exporter: TrubricsSpanExporter,
    server: LocalServer,
) -> None:
    """trubrics.event makes a product event with the user, thread and properties of the span."""
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "signup",
        attributes={
            "trubrics.event": "Sign up",
            "trubrics.user_id": "u7",
            "trubrics.thread_id": "th",
            "trubrics.properties.plan": "pro",
        },
    ):
        pass

    exporter.export(memory.get_finished_spans())

    (event,) = server.events()
    assert (event["user_id"], event["event"]) == ("u7", "Sign up")
    assert event["properties"]["plan"] == "pro"
    assert event["properties"]["$thread_id"] == "th"
    assert server.llm_events() == []


def test_other_spans_send_nothing(
    provider: TracerProvider,
    memory: InMemorySpanExporter,
    exporter: TrubricsSpanExporter,
    server: LocalServer,
) -> None:
    """HTTP, database and agent spans produce no request at all."""
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /", attributes={"http.request.method": "GET"}):
        pass
    with tracer.start_as_current_span("invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent"}):
        pass

    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    assert server.requests == []


def test_context_stamps_user_thread_and_properties_on_every_span(
    provider: TracerProvider,
    memory: InMemorySpanExporter,
    exporter: TrubricsSpanExporter,
    server: LocalServer,
) -> None:
    """Spans started inside trubrics_otel.context() carry its user, thread and properties."""
    tracer = provider.get_tracer("test")
    with (
        trubrics_otel.context(user_id="u1", thread_id="t1", properties={"plan": "pro"}),
        tracer.start_as_current_span("handler"),
        trubrics_otel.context(properties={"step": 2}),
        tracer.start_as_current_span("chat", attributes=genai_attributes()),
    ):
        pass

    exporter.export(memory.get_finished_spans())

    (event,) = server.llm_events()
    assert event["user_id"] == "u1"
    assert event["properties"]["$thread_id"] == "t1"
    assert event["properties"]["plan"] == "pro"
    assert event["properties"]["step"] == 2


def test_baggage_user_and_session_are_honoured(
    provider: TracerProvider,
    memory: InMemorySpanExporter,
    exporter: TrubricsSpanExporter,
    server: LocalServer,
) -> None:
    """Baggage user.id and session.id reach the event like trubrics_otel.context() does."""
    tracer = provider.get_tracer("test")
    ctx = baggage.set_baggage("session.id", "s9", baggage.set_baggage("user.id", "b1"))
    token = otel_context.attach(ctx)
    try:
        with tracer.start_as_current_span("chat", attributes=genai_attributes()):
            pass
    finally:
        otel_context.detach(token)

    exporter.export(memory.get_finished_spans())

    (event,) = server.llm_events()
    assert (event["user_id"], event["properties"]["$thread_id"]) == ("b1", "s9")


def test_context_wins_over_baggage_which_fills_what_context_leaves(
    provider: TracerProvider,
    memory: InMemorySpanExporter,
    exporter: TrubricsSpanExporter,
    server: LocalServer,
) -> None:
    """A user from trubrics_otel.context() beats baggage user.id; baggage session.id still names a thread."""
    tracer = provider.get_tracer("test")
    ctx = baggage.set_baggage("session.id", "s9", baggage.set_baggage("user.id", "b1"))
    token = otel_context.attach(ctx)
    try:
        with (
            trubrics_otel.context(user_id="u1"),
            tracer.start_as_current_span("chat", attributes=genai_attributes()),
        ):
            pass
    finally:
        otel_context.detach(token)

    exporter.export(memory.get_finished_spans())

    (event,) = server.llm_events()
    assert (event["user_id"], event["properties"]["$thread_id"]) == ("u1", "s9")


def test_a_call_without_content_waits_then_goes_with_a_placeholder(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer
) -> None:
    """With no text on the span, the call is held, and flush sends it with the placeholder."""
    spans = finished_spans(provider, 1, content=False)

    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert server.llm_events() == []

    assert exporter.force_flush()
    (event,) = server.llm_events()
    assert event["prompt"] == event["generation"] == "[content not recorded]"
    assert event["properties"]["input_tokens"] == 11
    assert exporter.client.stats().incomplete == 1


def test_calls_without_content_can_be_dropped(
    provider: TracerProvider, server: LocalServer, api_key: str
) -> None:
    """drop_without_content drops such calls and counts each drop."""
    exporter = TrubricsSpanExporter(
        api_key, server.url, content_wait=0, drop_without_content=True, stamp_context=False
    )
    exporter.export(finished_spans(provider, 3, content=False))

    assert server.requests == []
    assert exporter.client.stats().dropped == {"no_content": 3}
    exporter.shutdown()


def test_failed_delivery_returns_failure(provider: TracerProvider, server: LocalServer, api_key: str) -> None:
    """When the host keeps failing and there is no spool, export says FAILURE instead of raising."""
    from trubrics_otel import TrubricsClient

    client = TrubricsClient(api_key, server.url, retry_deadline=0.05, spool=False)
    exporter = TrubricsSpanExporter(client=client, join=ContentJoin(window=60), stamp_context=False)
    server.faults.fail_rate = 1.0

    assert exporter.export(finished_spans(provider, 2)) is SpanExportResult.FAILURE
    assert client.stats().failed == 2


def test_spooled_delivery_is_a_success(provider: TracerProvider, server: LocalServer, api_key: str) -> None:
    """Spans kept in the spool are not lost: export says SUCCESS, and stats() counts them as spooled."""
    from trubrics_otel import TrubricsClient

    client = TrubricsClient(api_key, server.url, retry_deadline=0.05)
    exporter = TrubricsSpanExporter(client=client, join=ContentJoin(window=60), stamp_context=False)
    server.faults.fail_rate = 1.0
    try:
        assert exporter.export(finished_spans(provider, 2)) is SpanExportResult.SUCCESS
        assert (client.stats().spooled, client.stats().failed, client.stats().lost) == (2, 0, 0)
    finally:
        client.shutdown()


def test_shutdown_is_idempotent_and_final(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer
) -> None:
    """After shutdown, export fails fast and a second shutdown does nothing."""
    spans = finished_spans(provider, 1, content=False)
    exporter.export(spans)
    exporter.shutdown()
    exporter.shutdown()

    assert len(server.llm_events()) == 1  # the held call was released on shutdown
    assert exporter.export(spans) is SpanExportResult.FAILURE


def test_default_user_warning_is_given_once(
    provider: TracerProvider, exporter: TrubricsSpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """Spans without a user are sent as the default user, with one warning saying how to fix it."""
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        exporter.export(finished_spans(provider, 2))
        exporter.export(finished_spans(provider, 2))

    warnings = [r for r in caplog.records if "name no user" in r.getMessage()]
    assert len(warnings) == 1
    assert "trubrics_otel.context(user_id=...)" in warnings[0].getMessage()


def test_error_status_is_a_property(
    provider: TracerProvider,
    memory: InMemorySpanExporter,
    exporter: TrubricsSpanExporter,
    server: LocalServer,
) -> None:
    """A failed call carries error and error_message."""
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("chat", attributes=genai_attributes()) as span:
        span.set_status(Status(StatusCode.ERROR, "rate limited"))

    exporter.export(memory.get_finished_spans())

    properties = server.llm_events()[0]["properties"]
    assert (properties["error"], properties["error_message"]) == (True, "rate limited")


def test_batch_processor_delivers_in_exports_of_at_most_100(server: LocalServer, api_key: str) -> None:
    """Even when the processor's batches are larger, no request carries more than 100 events."""
    provider = TracerProvider()
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=512))
    tracer = provider.get_tracer("test")
    for _ in range(300):
        with tracer.start_as_current_span("chat", attributes=genai_attributes()):
            pass
    provider.shutdown()

    assert len(server.llm_events()) == 300
    assert max(r.item_count or 0 for r in server.requests) == 100


def test_a_forked_child_does_not_send_the_calls_its_parent_holds(
    provider: TracerProvider, server: LocalServer, api_key: str
) -> None:
    """A call waiting for its content is sent once, by the parent, not again by a forked worker."""
    import os

    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    exporter.export(finished_spans(provider, 1, content=False))
    assert len(exporter.join) == 1

    pid = os.fork()
    if pid == 0:  # the child shuts down as a worker process would at its exit
        exporter.shutdown()
        os._exit(0)
    os.waitpid(pid, 0)
    exporter.shutdown()

    assert len(server.llm_events()) == 1


def test_configure_twice_installs_one_exporter(server: LocalServer, api_key: str) -> None:
    """A second configure() on the same provider returns the first exporter instead of adding another."""
    provider = TracerProvider()
    first = configure(api_key, server.url, tracer_provider=provider, join=ContentJoin(window=60))
    second = configure(api_key, server.url, tracer_provider=provider, join=ContentJoin(window=60))
    with provider.get_tracer("test").start_as_current_span("chat", attributes=genai_attributes()):
        pass
    provider.force_flush()

    assert second is first
    assert len(server.llm_events()) == 1
    provider.shutdown()


def test_configure_warns_once_when_the_zero_code_set_up_did_not_run(
    server: LocalServer, api_key: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_TRACES_EXPORTER=trubrics, yet no configurator built an exporter: one warning; spans still go."""
    from trubrics_otel import _config, _exporters

    monkeypatch.setattr(_config, "_warned", set())
    monkeypatch.setattr(_exporters, "_exporters", weakref.WeakKeyDictionary())  # no configurator ran here
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "trubrics")
    provider = TracerProvider()
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        exporter = configure(api_key, server.url, tracer_provider=provider, join=ContentJoin(window=60))
        configure(api_key, server.url, tracer_provider=TracerProvider(), join=ContentJoin(window=60))
    with provider.get_tracer("test").start_as_current_span("chat", attributes=genai_attributes()):
        pass
    provider.force_flush()
    provider.shutdown()

    warnings = [
        record.getMessage() for record in caplog.records if "OTEL_TRACES_EXPORTER" in record.getMessage()
    ]
    assert len(warnings) == 1
    assert "zero-code set-up did not run" in warnings[0]
    assert "pip install 'trubrics-otel[zero-code]'" in warnings[0]
    assert "opentelemetry-distro" in warnings[0]
    assert exporter.client.stats().sent == 1
    assert len(server.llm_events()) == 1


def test_configure_does_not_warn_when_a_configurator_built_the_exporter(
    server: LocalServer, api_key: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the exporter a zero-code set-up built for the provider, configure() returns it, and no warning."""
    from trubrics_otel import _config, _exporters

    monkeypatch.setattr(_config, "_warned", set())
    monkeypatch.setattr(_exporters, "_exporters", weakref.WeakKeyDictionary())
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "trubrics")
    provider = TracerProvider()
    built = TrubricsSpanExporter(api_key, server.url, stamp_context=False)
    _exporters.exporter_of(provider, built)  # what the SDK's configurator leaves behind
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        returned = configure(api_key, server.url, tracer_provider=provider)
        other = configure(api_key, server.url, tracer_provider=TracerProvider())

    assert returned is built
    assert other is not built
    assert [record for record in caplog.records if record.name.startswith("trubrics_otel")] == []
    built.shutdown()
    other.shutdown()


def test_one_bad_span_costs_only_itself(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer
) -> None:
    """A span the mapping cannot read is counted as a mapping error; the rest of the batch goes."""
    good = finished_spans(provider, 2)

    class Broken:
        name = "broken"

        @property
        def context(self) -> None:
            raise RuntimeError("unreadable span")

    assert exporter.export([good[0], Broken(), good[1]]) is SpanExportResult.SUCCESS  # type: ignore[list-item]

    assert len(server.llm_events()) == 2
    assert exporter.client.stats().dropped == {"mapping_error": 1}


def test_a_client_shared_with_another_user_stays_open_until_the_last_one_is_done(
    server: LocalServer, api_key: str
) -> None:
    """An exporter that made its client leaves it open while a log exporter still sends through it."""
    from trubrics_otel import Event
    from trubrics_otel._exporters import TrubricsLogExporter

    spans = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    logs = TrubricsLogExporter(client=spans.client, join=ContentJoin(window=60))
    spans.shutdown()

    assert logs.client.send([Event("u", "after the span exporter")]).sent == 1
    logs.shutdown()
    assert spans.client.is_shutdown


def test_named_attributes_are_copied_into_properties(
    provider: TracerProvider, memory: InMemorySpanExporter, server: LocalServer, api_key: str
) -> None:
    """copy_attributes takes exact names and prefixes (ending in `.` or `*`)."""
    exporter = TrubricsSpanExporter(
        api_key, server.url, copy_attributes=["app.", "region", "tenant*"], stamp_context=False
    )
    tracer = provider.get_tracer("test")
    extra = {"app.version": "1.2", "region": "eu", "tenant_id": "t9", "other": "no"}
    with tracer.start_as_current_span("chat", attributes={**genai_attributes(), **extra}):
        pass

    exporter.export(memory.get_finished_spans())
    exporter.shutdown()

    properties = server.llm_events()[0]["properties"]
    assert {k: properties.get(k) for k in extra} == {
        "app.version": "1.2",
        "region": "eu",
        "tenant_id": "t9",
        "other": None,
    }


def nested_call_spans(provider: TracerProvider) -> list[ReadableSpan]:
    """A model call seen twice: an outer request span (with the thread) around a client span."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    outer = {**genai_attributes(), "gen_ai.conversation.id": "thread-7"}
    with (
        tracer.start_as_current_span("chat outer", attributes=outer),
        tracer.start_as_current_span("chat inner", attributes=genai_attributes()),
    ):
        pass
    return list(memory.get_finished_spans())  # the inner span ends, and comes, first


@pytest.mark.parametrize("batches", ["one batch", "two batches"])
def test_a_call_recorded_by_two_instrumentations_is_sent_once(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer, batches: str
) -> None:
    """Nested LLM spans are one call: the inner one is sent, with the thread only the outer one knew."""
    inner, outer = nested_call_spans(provider)

    if batches == "one batch":
        exporter.export([inner, outer])
    else:
        exporter.export([inner])
        exporter.export([outer])

    (event,) = server.llm_events()
    assert event["properties"]["span_id"] == f"{inner.context.span_id:016x}"
    assert exporter.client.stats().dropped == {"duplicate": 1}
    if batches == "one batch":
        assert event["properties"]["$thread_id"] == "thread-7"


def test_a_large_batch_is_sent_in_parts_with_nested_calls_merged_across_them(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer
) -> None:
    """250 spans go in parts of 100; a call recorded twice, its spans 200 apart, is still sent once."""
    inner, outer = nested_call_spans(provider)
    others = finished_spans(provider, 248)

    assert exporter.export([inner, *others, outer]) is SpanExportResult.SUCCESS

    events = server.llm_events()
    assert len(events) == 249
    (merged,) = [e for e in events if e["properties"]["span_id"] == f"{inner.context.span_id:016x}"]
    assert merged["properties"]["$thread_id"] == "thread-7"
    assert exporter.client.stats().dropped == {"duplicate": 1}
    assert [r.item_count for r in server.requests if r.method == "POST"] == [99, 100, 50]


def test_a_mapping_failure_in_a_later_part_costs_only_the_spans_not_yet_sent(
    provider: TracerProvider,
    exporter: TrubricsSpanExporter,
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first part is delivered; the 150 spans after it are counted as mapping errors; FAILURE."""
    spans = finished_spans(provider, 250)
    parts = 0
    translator = exporter._core.translator  # the one translation path, which the core runs
    one_per_call = translator._one_per_call

    def failing_after_the_first_part(calls: list[trubrics_otel.mapping.LLMCall]) -> object:
        nonlocal parts
        parts += 1
        if parts > 1:
            raise RuntimeError("a mapping bug")
        return one_per_call(calls)

    monkeypatch.setattr(translator, "_one_per_call", failing_after_the_first_part)

    assert exporter.export(spans) is SpanExportResult.FAILURE

    assert len(server.llm_events()) == 100
    assert exporter.client.stats().dropped == {"mapping_error": 150}


def twin_spans(provider: TracerProvider) -> tuple[ReadableSpan, ReadableSpan]:
    """One call recorded in two traces: the client library's own span without content, and an
    instrumentation's span with it, both naming the response id."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    own = {**genai_attributes(content=False), "gen_ai.response.id": "msg_1"}
    instrumented = {**genai_attributes(), "gen_ai.response.id": "msg_1"}
    with trubrics_otel.context(user_id="user-42"):
        outer = provider.get_tracer("com.anthropic.sdk.python").start_span("chat", attributes=own)
        # not its child: the instrumentation starts a trace of its own around the same request
        provider.get_tracer("instrumentation").start_span("chat", attributes=instrumented, context=None).end()
        outer.end()
    complete, sdk = memory.get_finished_spans()
    assert sdk.context.trace_id != complete.context.trace_id
    return sdk, complete


@pytest.mark.parametrize("order", ["placeholder first", "text first"])
@pytest.mark.parametrize("batches", ["one batch", "two batches"])
def test_a_call_recorded_in_two_traces_is_sent_once_with_its_text(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer, order: str, batches: str
) -> None:
    """Twins in two traces give one event, the one with real text, in either order and batching."""
    sdk, complete = twin_spans(provider)
    spans = [sdk, complete] if order == "placeholder first" else [complete, sdk]

    if batches == "one batch":
        exporter.export(spans)
    else:
        exporter.export(spans[:1])
        exporter.export(spans[1:])
    exporter.force_flush()

    (event,) = server.llm_events()
    assert event["properties"]["span_id"] == f"{complete.context.span_id:016x}"
    assert (event["prompt"], event["generation"]) == ("Hello there", "Hi!")
    assert exporter.client.stats().dropped == {"duplicate": 1}


def test_two_users_asking_the_same_at_once_are_two_events(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer
) -> None:
    """The same exchange at the same time by two users, without response ids, is never merged."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with trubrics_otel.context(user_id="ada"):
        ada = tracer.start_span("chat", attributes=genai_attributes())
    with trubrics_otel.context(user_id="bob"):
        tracer.start_span("chat", attributes=genai_attributes()).end()
    ada.end()

    exporter.export(memory.get_finished_spans())

    assert sorted(event["user_id"] for event in server.llm_events()) == ["ada", "bob"]
    assert exporter.client.stats().dropped == {}


def test_a_call_takes_its_user_and_thread_from_an_ancestor_exported_later(
    provider: TracerProvider, exporter: TrubricsSpanExporter, server: LocalServer
) -> None:
    """A call naming no user waits for its trace's root, which names the user and the session."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("agent run") as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes=genai_attributes()):
            pass
        root.set_attributes({"user.id": "user-42", "session.id": "thread-7"})
    call, agent = memory.get_finished_spans()

    exporter.export([call])
    assert server.llm_events() == []
    exporter.export([agent])

    (event,) = server.llm_events()
    assert (event["user_id"], event["properties"]["$thread_id"]) == ("user-42", "thread-7")


def test_without_a_window_a_call_takes_the_identity_its_batch_names(
    provider: TracerProvider, server: LocalServer, api_key: str
) -> None:
    """With content_wait=0 nothing waits, and an ancestor in the same export still names the user."""
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=0), stamp_context=False)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("agent run", attributes={"user.id": "user-42"}),
        tracer.start_as_current_span("chat gpt-4o", attributes=genai_attributes()),
    ):
        pass

    exporter.export(memory.get_finished_spans())
    exporter.shutdown()

    (event,) = server.llm_events()
    assert event["user_id"] == "user-42"


def test_a_held_call_is_sent_when_its_window_closes_without_another_export(
    provider: TracerProvider, server: LocalServer, api_key: str
) -> None:
    """The releaser sends a call held for its text once the window closes, with no flush and no new span."""
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=0.05), stamp_context=False)
    exporter.export(finished_spans(provider, 1, content=False))

    deadline = time.monotonic() + 5
    while not server.llm_events() and time.monotonic() < deadline:
        time.sleep(0.01)
    events = server.llm_events()
    exporter.shutdown()

    assert [event["prompt"] for event in events] == ["[content not recorded]"]


def test_the_providers_force_flush_sends_calls_held_for_their_content(
    server: LocalServer, api_key: str
) -> None:
    """provider.force_flush() sends a call still waiting for its content, not content_wait seconds later."""
    provider = TracerProvider()
    configure(api_key, server.url, tracer_provider=provider, join=ContentJoin(window=60), content_wait=60)
    with provider.get_tracer("test").start_as_current_span(
        "chat", attributes=genai_attributes(content=False)
    ):
        pass

    provider.force_flush()

    (event,) = server.llm_events()
    assert event["prompt"] == "[content not recorded]"
    provider.shutdown()
