"""The fake Anthropic endpoint, driven by the real `anthropic` client: plain, streamed, tools, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from trubrics_otel.demo.fake_anthropic import FakeAnthropic

MODEL = "claude-haiku-4-5"
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def client(fake: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="fake", max_retries=0, open_telemetry=False)


def ask(client: anthropic.Anthropic, text: str, **options: Any) -> Any:
    return client.messages.create(
        model=MODEL,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": text}],
        **options,
    )


def test_plain_message(client: anthropic.Anthropic, fake: FakeAnthropic) -> None:
    """A message echoes the last user message, dated model, `end_turn`, and word counts as usage."""
    message = ask(client, "Say hello")

    assert message.id == "msg_fake000001"
    assert message.model == "claude-haiku-4-5-20251001"
    assert [(block.type, block.text) for block in message.content] == [("text", "Echo: Say hello")]
    assert message.stop_reason == "end_turn"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (4, 3)  # "Be brief." + "Say hello"; the echo
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (4, 2)
    (request,) = fake.requests
    assert (request.method, request.path, request.body["model"]) == ("POST", "/v1/messages", MODEL)


def test_dated_model_is_kept(client: anthropic.Anthropic) -> None:
    """A request model that already ends with a date is answered as it is."""
    message = client.messages.create(
        model="claude-haiku-4-5-20251001", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
    )

    assert message.model == "claude-haiku-4-5-20251001"


def test_raw_stream_events(client: anthropic.Anthropic) -> None:
    """`stream=True` yields the API's event sequence, the text in deltas and the usage in `message_delta`."""
    events = list(ask(client, "Count to three", stream=True))

    assert [event.type for event in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "Echo: Count to three"
    assert events[0].message.usage.output_tokens == 1
    end = events[-2]
    assert end.delta.stop_reason == "end_turn"
    assert (end.usage.input_tokens, end.usage.output_tokens, end.usage.cache_read_input_tokens) == (5, 4, 4)


def test_stream_helper(client: anthropic.Anthropic) -> None:
    """The `messages.stream()` helper accumulates the same message a plain call returns."""
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Count to three"}]
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()

    assert text == "Echo: Count to three"
    assert (message.stop_reason, message.usage.output_tokens) == ("end_turn", 4)
    assert message.usage.cache_creation_input_tokens == 2


def test_tool_use(client: anthropic.Anthropic) -> None:
    """Tools offered and the weather asked: a text block, then a `tool_use` block, stopping for `tool_use`."""
    message = ask(client, "What is the weather in Paris?", tools=TOOLS)

    text, tool_use = message.content
    assert text.text == "I will look up the weather in Paris."
    assert (tool_use.type, tool_use.id, tool_use.name, tool_use.input) == (
        "tool_use",
        "toolu_fake000001",
        "get_weather",
        {"city": "Paris"},
    )
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == 8 + 2


def test_streamed_tool_use(client: anthropic.Anthropic) -> None:
    """The helper rebuilds the tool input from the `input_json_delta` events."""
    with client.messages.stream(
        model=MODEL, max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": "Weather in Rome?"}]
    ) as stream:
        message = stream.get_final_message()

    assert message.content[1].input == {"city": "Rome"}
    assert message.stop_reason == "tool_use"


def test_tool_result_is_answered(client: anthropic.Anthropic) -> None:
    """A conversation ending with a `tool_result` is answered with its content."""
    message = client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Sunny"}]},
        ],
    )

    assert message.content[0].text == "Tool result: Sunny"
    assert message.stop_reason == "end_turn"


def test_queued_errors(client: anthropic.Anthropic, fake: FakeAnthropic) -> None:
    """Queued errors answer the next requests, one each, in Anthropic's error format."""
    fake.queue_error(429, "Slow down.")
    fake.queue_error(400, "Bad.", "invalid_request_error")

    with pytest.raises(anthropic.RateLimitError) as limited:
        ask(client, "Hi")
    with pytest.raises(anthropic.BadRequestError) as bad:
        ask(client, "Hi")

    assert limited.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down."},
    }
    assert bad.value.status_code == 400
    assert ask(client, "Hi").content[0].text == "Echo: Hi"


def test_invalid_requests(client: anthropic.Anthropic) -> None:
    """A missing `max_tokens`, no messages or an unknown path is refused the API's way."""
    one = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.post("/v1/messages", cast_to=object, body={"model": MODEL, "messages": one})
    with pytest.raises(anthropic.BadRequestError, match="messages"):
        client.post("/v1/messages", cast_to=object, body={"model": MODEL, "max_tokens": 5, "messages": []})
    with pytest.raises(anthropic.NotFoundError):
        client.get("/v1/nothing", cast_to=object)


def test_request_id_and_delay() -> None:
    """Each response carries a `request-id`; the delay holds every response back."""
    with FakeAnthropic(delay=0.05) as fake:
        client = anthropic.Anthropic(
            base_url=fake.base_url, api_key="fake", max_retries=0, open_telemetry=False
        )
        raw = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )

    assert raw.headers["request-id"] == "req_fake000001"
    assert raw.elapsed.total_seconds() >= 0.05
    assert json.loads(raw.http_response.text)["type"] == "message"
