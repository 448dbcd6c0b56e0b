"""Real instrumentation packages, a real OpenAI client and a local fake model, through to the server.

Each test instruments the `openai` client the way that instrumentation documents, makes one plain and
one streaming chat call (and a tool call where it matters), and asserts the exact LLM events the local
server stored: one per call, with prompt, generation, assistant, user, thread, tokens and latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import trubrics_otel
from trubrics_otel import TrubricsSpanExporter
from trubrics_otel._context import install_context_processor
from trubrics_otel._delivery import ContentJoin
from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.server import LocalServer

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(delay=0.01) as fake:
        yield fake


@pytest.fixture
def provider(server: LocalServer, api_key: str) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    install_context_processor(provider)
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=100))
    yield provider
    provider.shutdown()


@pytest.fixture
def client(model: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=model.base_url, api_key="fake", max_retries=0)


@pytest.fixture
def genai_content(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")


def instrumented(instrumentor: Any, provider: TracerProvider, **kwargs: Any) -> Iterator[None]:
    instrumentor.instrument(tracer_provider=provider, **kwargs)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def chat_twice(client: openai.OpenAI, **extra: Any) -> None:
    """One plain call and one streaming call."""
    client.chat.completions.create(
        model="gpt-4o", messages=[SYSTEM, {"role": "user", "content": "Say hello to the team"}], **extra
    )
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Count to three"}],
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    for _ in stream:
        pass


def stored(server: LocalServer, provider: TracerProvider) -> list[dict[str, Any]]:
    provider.force_flush()
    return sorted(server.llm_events(), key=lambda event: event["timestamp"])


def assert_chat_events(
    events: list[dict[str, Any]], user: str, thread: str | None, *, stream_usage: bool = True
) -> None:
    assert [(e["prompt"], e["generation"]) for e in events] == [
        ("Say hello to the team", "Echo: Say hello to the team"),
        ("Count to three", "Echo: Count to three"),
    ]
    for event in events:
        assert event["assistant_id"] == "gpt-4o-2024-08-06"
        assert event["user_id"] == user
        assert event["properties"].get("$thread_id") == thread
        assert event["latency"] > 0
        assert event["properties"]["request_model"] == "gpt-4o"
    assert events[0]["properties"]["input_tokens"] == 10  # the fake model counts words
    assert events[0]["properties"]["output_tokens"] == 6
    if stream_usage:
        assert events[1]["properties"]["output_tokens"] == 4


# --- OpenTelemetry's openai-v2 ------------------------------------------------------------------


@pytest.fixture
def openai_v2(provider: TracerProvider, genai_content: None) -> Iterator[None]:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    yield from instrumented(OpenAIInstrumentor(), provider)


def test_openai_v2_span_content(
    openai_v2: None, client: openai.OpenAI, server: LocalServer, provider: TracerProvider
) -> None:
    """openai-v2 records no user: trubrics_otel.context() says who and which thread."""
    with trubrics_otel.context(user_id="user-42", thread_id="thread-7"):
        chat_twice(client)

    events = stored(server, provider)
    assert_chat_events(events, "user-42", "thread-7")
    assert events[0]["properties"]["provider"] == "openai"
    assert events[0]["properties"]["finish_reasons"] == ["stop"]


def test_openai_v2_tool_call(
    openai_v2: None, client: openai.OpenAI, server: LocalServer, provider: TracerProvider
) -> None:
    """A model that answers with a tool call yields the call rendered as the generation."""
    with trubrics_otel.context(user_id="user-42"):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER_TOOL]
        )

    (event,) = stored(server, provider)
    assert event["prompt"] == "Weather in Paris?"
    assert event["generation"] == 'get_weather({"city": "Paris"})'


# --- OpenLLMetry ----------------------------------------------------------------------------------


def test_openllmetry(client: openai.OpenAI, server: LocalServer, provider: TracerProvider) -> None:
    """OpenLLMetry records the OpenAI `user` parameter; the thread comes from trubrics_otel.context()."""
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    for _ in instrumented(OpenAIInstrumentor(), provider):
        with trubrics_otel.context(thread_id="thread-7"):
            chat_twice(client, user="user-42")

    events = stored(server, provider)
    assert_chat_events(events, "user-42", "thread-7")
    assert events[0]["properties"]["total_tokens"] == 16
    assert events[0]["properties"]["cache_read_tokens"] == 5


# --- OpenInference --------------------------------------------------------------------------------


def test_openinference(client: openai.OpenAI, server: LocalServer, provider: TracerProvider) -> None:
    """OpenInference's using_attributes() gives user, session and metadata."""
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.openai import OpenAIInstrumentor

    for _ in instrumented(OpenAIInstrumentor(), provider):
        with using_attributes(user_id="user-42", session_id="thread-7", metadata={"plan": "pro"}):
            chat_twice(client)

    events = stored(server, provider)
    assert_chat_events(events, "user-42", "thread-7")
    assert events[0]["properties"]["plan"] == "pro"


# --- pydantic-ai ----------------------------------------------------------------------------------


def test_pydantic_ai(model: FakeOpenAI, server: LocalServer, provider: TracerProvider) -> None:
    """An agent run makes exactly one LLM event per model request, not one more for the agent span."""
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    llm = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=model.base_url, api_key="fake"))
    agent = Agent(llm, system_prompt="You are a helpful assistant.")
    agent.instrument = InstrumentationSettings(tracer_provider=provider, include_content=True)

    async def conversation() -> None:
        await agent.run("Say hello to the team", conversation_id="thread-7")
        async with agent.run_stream("Count to three", conversation_id="thread-7") as result:
            await result.get_output()

    with trubrics_otel.context(user_id="user-42"):
        asyncio.run(conversation())

    events = stored(server, provider)
    assert [(e["prompt"], e["generation"]) for e in events] == [
        ("Say hello to the team", "Echo: Say hello to the team"),
        ("Count to three", "Echo: Count to three"),
    ]
    for event in events:
        assert event["assistant_id"] == "gpt-4o-2024-08-06"
        assert (event["user_id"], event["properties"]["$thread_id"]) == ("user-42", "thread-7")
        assert event["latency"] > 0
        assert event["properties"]["input_tokens"] > 0


# --- content in log records: the span and log exporters together ---------------------------------


def test_openai_v2_event_only_joins_content_logs_to_spans(
    client: openai.OpenAI, server: LocalServer, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With content only in log records, each call still makes exactly one complete LLM event."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    from trubrics_otel._exporters import TrubricsLogExporter

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "EVENT_ONLY")
    join = ContentJoin(window=60)
    tracer_provider = TracerProvider()
    install_context_processor(tracer_provider)
    spans = TrubricsSpanExporter(api_key, server.url, join=join, stamp_context=False)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans, max_export_batch_size=100))
    logger_provider = LoggerProvider()
    logs = TrubricsLogExporter(api_key, server.url, join=join)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs))

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    try:
        with trubrics_otel.context(user_id="user-42", thread_id="thread-7"):
            chat_twice(client)
    finally:
        instrumentor.uninstrument()
    logger_provider.force_flush()
    tracer_provider.force_flush()

    events = sorted(server.llm_events(), key=lambda event: event["timestamp"])
    assert_chat_events(events, "user-42", "thread-7")
    assert spans.client.stats().incomplete == 0
    tracer_provider.shutdown()
    logger_provider.shutdown()


def test_pydantic_ai_with_openai_v2_makes_one_event_per_call(
    model: FakeOpenAI, server: LocalServer, provider: TracerProvider, genai_content: None
) -> None:
    """pydantic-ai's request span and openai-v2's client span are one call: one LLM event, in the thread."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    llm = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=model.base_url, api_key="fake"))
    agent = Agent(llm, system_prompt="You are a helpful assistant.")
    agent.instrument = InstrumentationSettings(tracer_provider=provider, include_content=True)

    for _ in instrumented(OpenAIInstrumentor(), provider):
        with trubrics_otel.context(user_id="user-42"):
            asyncio.run(agent.run("Say hello to the team", conversation_id="thread-7"))

    (event,) = stored(server, provider)
    assert (event["prompt"], event["generation"]) == ("Say hello to the team", "Echo: Say hello to the team")
    assert (event["user_id"], event["properties"]["$thread_id"]) == ("user-42", "thread-7")
