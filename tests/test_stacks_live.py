"""The real anthropic client, alone and with real Anthropic instrumentations, through to the local server.

Each test traces the `anthropic` client against the fake Anthropic endpoint the way that stack documents,
exports with the real `TrubricsSpanExporter` to the real `LocalServer`, and asserts the exact LLM events
stored: one per model call, with prompt, generation, assistant, user, thread, tokens and finish reasons.
anthropic 2.x traces every call itself once it has a tracer provider, so beside an instrumentation each
call has two spans (in two traces under OpenLLMetry), which must still make one event.

The fake counts words as tokens and reports 4 tokens read from the cache and 2 written to it; the
system prompt "You are a helpful assistant." is 5 words.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import trubrics_otel
from trubrics_otel import TrubricsSpanExporter
from trubrics_otel._context import install_context_processor
from trubrics_otel._delivery import ContentJoin
from trubrics_otel.demo.fake_anthropic import FakeAnthropic
from trubrics_otel.server import LocalServer

SYSTEM = "You are a helpful assistant."
MODEL = "claude-haiku-4-5"
DATED = "claude-haiku-4-5-20251001"
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
TOOL_ANSWER = 'I will look up the weather in Paris.\nget_weather({"city": "Paris"})'


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(delay=0.01) as running:
        yield running


@pytest.fixture
def provider(server: LocalServer, api_key: str) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    install_context_processor(provider)
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=100))
    yield provider
    provider.shutdown()


def client_for(
    fake: FakeAnthropic, provider: TracerProvider, *, content: bool = False
) -> anthropic.Anthropic:
    """A client whose own tracing uses `provider`, with content when asked (it has none by default)."""
    traces: Any = {"content_mode": "content"} if content else {}
    return anthropic.Anthropic(
        base_url=fake.base_url,
        api_key="fake",
        max_retries=0,
        open_telemetry={"tracer_provider": provider, "traces": traces},
    )


def instrumented(instrumentor: Any, provider: TracerProvider) -> Iterator[None]:
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def chat_and_tool(client: anthropic.Anthropic) -> None:
    """One plain call and one answered with a tool call, as user-42 in thread-7."""
    with trubrics_otel.context(user_id="user-42", thread_id="thread-7"):
        client.messages.create(
            model=MODEL,
            max_tokens=256,
            system=SYSTEM,
            messages=[{"role": "user", "content": "Say hello to the team"}],
        )
        client.messages.create(
            model=MODEL,
            max_tokens=256,
            system=SYSTEM,
            tools=TOOLS,
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        )


def stream_helper(client: anthropic.Anthropic) -> None:
    """One call through the `messages.stream()` helper, as user-42 in thread-7."""
    with (
        trubrics_otel.context(user_id="user-42", thread_id="thread-7"),
        client.messages.stream(
            model=MODEL,
            max_tokens=256,
            system=SYSTEM,
            messages=[{"role": "user", "content": "Count to three"}],
        ) as stream,
    ):
        for _ in stream.text_stream:
            pass


def stored(server: LocalServer, provider: TracerProvider) -> list[dict[str, Any]]:
    """The stored events in time order, less what differs between runs (ids, the interpreter's service name).

    Latency is replaced by whether it is above zero.
    """
    provider.force_flush()
    events = []
    for event in sorted(server.llm_events(), key=lambda event: event["timestamp"]):
        properties = {
            key: value
            for key, value in event["properties"].items()
            if key not in ("trace_id", "span_id", "parent_span_id", "service_name")
        }
        events.append(
            {
                "user_id": event["user_id"],
                "assistant_id": event["assistant_id"],
                "prompt": event["prompt"],
                "generation": event["generation"],
                "latency": event["latency"] > 0,
                "properties": properties,
            }
        )
    return events


def event(
    prompt: str, generation: str, uncached: int, output: int, finish: str, **properties: Any
) -> dict[str, Any]:
    """The event one call should make; `uncached` is the fake's uncached input tokens."""
    input_tokens = uncached + 4 + 2
    return {
        "user_id": "user-42",
        "assistant_id": DATED,
        "prompt": prompt,
        "generation": generation,
        "latency": True,
        "properties": {
            "provider": "anthropic",
            "operation": "chat",
            "request_model": MODEL,
            "response_model": DATED,
            "input_tokens": input_tokens,
            "output_tokens": output,
            "total_tokens": input_tokens + output,
            "cache_read_tokens": 4,
            "cache_creation_tokens": 2,
            "finish_reasons": [finish],
            "$thread_id": "thread-7",
            **properties,
        },
    }


def chat_and_tool_events(stop: str, tool_use: str) -> list[dict[str, Any]]:
    return [
        event("Say hello to the team", "Echo: Say hello to the team", 5 + 5, 6, stop),
        event("What is the weather in Paris?", TOOL_ANSWER, 5 + 6, 8 + 2, tool_use),
    ]


def stream_events(stop: str) -> list[dict[str, Any]]:
    return [event("Count to three", "Echo: Count to three", 5 + 3, 4, stop)]


# --- the SDK's own tracing alone ------------------------------------------------------------------


def test_anthropic_sdk_alone(fake: FakeAnthropic, server: LocalServer, provider: TracerProvider) -> None:
    """The SDK's own spans, in content mode, make one complete event per call."""
    client = client_for(fake, provider, content=True)
    chat_and_tool(client)
    stream_helper(client)

    assert stored(server, provider) == [
        *chat_and_tool_events("end_turn", "tool_use"),
        *stream_events("end_turn"),
    ]


# --- OpenLLMetry ----------------------------------------------------------------------------------


def test_anthropic_openllmetry(fake: FakeAnthropic, server: LocalServer, provider: TracerProvider) -> None:
    """OpenLLMetry's span and the SDK's, in two traces, make one event per call."""
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

    for _ in instrumented(AnthropicInstrumentor(), provider):
        chat_and_tool(client_for(fake, provider))

    assert stored(server, provider) == chat_and_tool_events("stop", "tool_call")


def test_anthropic_openllmetry_stream_helper(
    fake: FakeAnthropic, server: LocalServer, provider: TracerProvider
) -> None:
    """A streamed call through the helper makes one event with the stream's usage."""
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

    for _ in instrumented(AnthropicInstrumentor(), provider):
        stream_helper(client_for(fake, provider))

    assert stored(server, provider) == stream_events("stop")


# --- OpenInference --------------------------------------------------------------------------------


def test_anthropic_openinference(fake: FakeAnthropic, server: LocalServer, provider: TracerProvider) -> None:
    """OpenInference's span with the SDK's nested under it makes one event per call."""
    from openinference.instrumentation.anthropic import AnthropicInstrumentor

    for _ in instrumented(AnthropicInstrumentor(), provider):
        chat_and_tool(client_for(fake, provider))

    assert stored(server, provider) == chat_and_tool_events("end_turn", "tool_use")


def test_anthropic_openinference_stream_helper(
    fake: FakeAnthropic, server: LocalServer, provider: TracerProvider
) -> None:
    """A streamed call through the helper makes one event, though its two spans are in two traces."""
    from openinference.instrumentation.anthropic import AnthropicInstrumentor

    for _ in instrumented(AnthropicInstrumentor(), provider):
        stream_helper(client_for(fake, provider))

    assert stored(server, provider) == stream_events("end_turn")
