"""LiteLLM's own OpenTelemetry callback (`litellm.callbacks = ["otel"]`) replayed from real captures.

Each call gives two spans of scope `litellm`: `litellm_request`, which carries the `gen_ai.*` attributes,
and its child `raw_gen_ai_request`, which carries the provider's raw response as `llm.openai.*`. The
fake endpoint answers with the response model `gpt-4o-2024-08-06` and always reports cached and
reasoning tokens; LiteLLM keeps those two counts only inside `metadata.usage_object` (a Python `repr`
of the usage, `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens`)
and `llm.openai.usage`, never as `gen_ai.usage.*` attributes.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import replay

STACK = "litellm-otel"


def event(
    prompt: str,
    generation: str,
    tokens: tuple[int, int, int],
    cached: int,
    finish: str = "stop",
    model: str = "gpt-4o-2024-08-06",
) -> dict[str, Any]:
    """Return the event one call to `openai/gpt-4o` should give, as the API receives it."""
    return {
        "user_id": "user-42",
        "assistant_id": model,
        "prompt": prompt,
        "generation": generation,
        "latency": True,
        "properties": {
            "provider": "openai",
            "operation": "chat",
            "request_model": "gpt-4o",
            "response_model": model,
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "total_tokens": tokens[2],
            "cache_read_tokens": cached,
            "reasoning_tokens": 0,
            "finish_reasons": [finish],
            "service_name": "unknown_service:python",
            "$thread_id": "thread-7",
        },
    }


def test_chat_is_one_event_with_every_token_count() -> None:
    """A plain call is one event, its cached and reasoning tokens included."""
    expected = [event("Say hello to the team", "Echo: Say hello to the team", (10, 6, 16), cached=5)]
    assert replay(f"{STACK}-chat") == expected


def test_stream_is_one_event_without_the_user_litellm_loses() -> None:
    """A streamed call is one event, but without its user and thread: a limit of LiteLLM itself.

    LiteLLM starts a stream's spans in its logging worker without the caller's context
    (`streaming_handler`'s `executor.submit`), so no span of the call, nor any ancestor, names them.
    It also reports only the request model.
    """
    (expected,) = [event("Count to three", "Echo: Count to three", (3, 4, 7), cached=1, model="gpt-4o")]
    expected["user_id"] = "anonymous"
    del expected["properties"]["$thread_id"]

    assert replay(f"{STACK}-stream") == [expected]


def test_tool_call_is_rendered_as_the_generation() -> None:
    """A call answered with a tool call renders that call as the generation."""
    expected = [
        event(
            "What is the weather in Paris?",
            'get_weather({"city": "Paris"})',
            (6, 2, 8),
            cached=3,
            finish="tool_calls",
        )
    ]
    assert replay(f"{STACK}-tool") == expected


def test_conversation_is_one_event_per_turn() -> None:
    """Two calls sharing a history are two events, each prompted by its own last user message."""
    expected = [
        event("My name is Ada", "Echo: My name is Ada", (9, 5, 14), cached=4),
        event("What is my name?", "Echo: What is my name?", (18, 5, 23), cached=9),
    ]
    assert replay(f"{STACK}-conversation") == expected


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("chat", [("Say hello to the team", "Echo: Say hello to the team")]),
        ("stream", [("Count to three", "Echo: Count to three")]),
        (
            "conversation",
            [("My name is Ada", "Echo: My name is Ada"), ("What is my name?", "Echo: What is my name?")],
        ),
    ],
)
def test_texts_come_from_the_request_span_alone(case: str, expected: list[tuple[str, str]]) -> None:
    """The raw_gen_ai_request child adds no event: each call's texts come once, from litellm_request."""
    assert [(event["prompt"], event["generation"]) for event in replay(f"{STACK}-{case}")] == expected
