"""The Langfuse Python SDK's real spans (3.x and 5.x), recorded against the fake OpenAI endpoint, replayed.

The captures are `tests/data/captures/langfuse-<v3|v5>-<case>.json`, written by
`tests/record/stacks/langfuse-v3.py` and `langfuse-v5.py`. Every case runs under an outermost `@observe()`
function (a `span` observation) that sets the user and session: 3.x with `update_current_trace`, which
writes `user.id` and `session.id` on that root span only; 5.x with `propagate_attributes`, which writes
them on every span below. The model calls are `OpenAI-generation` observations of `langfuse.openai`, or,
in `observe-generation`, an `@observe(as_type="generation")` function around a plain client call. All spans
are of the scope `langfuse-sdk`.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import replay

SERVICE = "unknown_service:python"
VERSIONS = ("v3", "v5")


def expected_call(
    prompt: str,
    generation: str,
    tokens: tuple[int, int, int],
    *,
    reasoning: bool = True,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """Return the event of one model call: its (input, output, cached input) tokens.

    `reasoning` is whether the usage reports reasoning tokens (0 here); `finish_reason` is given when the
    span records one (streamed calls only).
    """
    input_tokens, output_tokens, cached = tokens
    properties: dict[str, Any] = {
        "response_model": "gpt-4o-2024-08-06",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "cache_read_tokens": cached,
    }
    if reasoning:
        properties["reasoning_tokens"] = 0
    if finish_reason is not None:
        properties["finish_reasons"] = [finish_reason]
    properties["service_name"] = SERVICE
    properties["$thread_id"] = "thread-7"
    return {
        "user_id": "user-42",
        "assistant_id": "gpt-4o-2024-08-06",
        "prompt": prompt,
        "generation": generation,
        "latency": True,
        "properties": properties,
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_openai_chat(version: str) -> None:
    """A `langfuse.openai` call is one event; the `@observe` span around it gives none."""
    assert replay(f"langfuse-{version}-chat") == [
        expected_call("Say hello to the team", "Echo: Say hello to the team", (10, 6, 5))
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_openai_stream(version: str) -> None:
    """A streamed call is one event with the joined text and the finish reason its metadata records."""
    assert replay(f"langfuse-{version}-stream") == [
        expected_call("Count to three", "Echo: Count to three", (8, 4, 4), finish_reason="stop")
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_openai_tool_call(version: str) -> None:
    """A call answered with a tool call is one event rendering the call, not the offered tools."""
    assert replay(f"langfuse-{version}-tool") == [
        expected_call("What is the weather in Paris?", 'get_weather({"city": "Paris"})', (11, 2, 5))
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_openai_conversation(version: str) -> None:
    """Two calls under one root are two events, each prompt its call's last user message."""
    assert replay(f"langfuse-{version}-conversation") == [
        expected_call("My name is Ada", "Echo: My name is Ada", (9, 5, 4)),
        expected_call("What is my name?", "Echo: What is my name?", (18, 5, 9)),
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_observe_functions(version: str) -> None:
    """Nested `@observe()` functions around a call give no event of their own: one event, the call's."""
    assert replay(f"langfuse-{version}-observe") == [
        expected_call("Say hello to the team", "Echo: Say hello to the team", (10, 6, 5))
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_observe_generation(version: str) -> None:
    """An `@observe(as_type="generation")` function is one event, its prompt the last user message passed."""
    assert replay(f"langfuse-{version}-observe-generation") == [
        expected_call("Say hello to the team", "Echo: Say hello to the team", (10, 6, 5), reasoning=False)
    ]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("case", "calls"),
    [
        ("chat", [("Say hello to the team", "Echo: Say hello to the team")]),
        ("stream", [("Count to three", "Echo: Count to three")]),
        ("tool", [("What is the weather in Paris?", 'get_weather({"city": "Paris"})')]),
        (
            "conversation",
            [("My name is Ada", "Echo: My name is Ada"), ("What is my name?", "Echo: What is my name?")],
        ),
        ("observe", [("Say hello to the team", "Echo: Say hello to the team")]),
    ],
)
def test_calls_texts_and_identity(version: str, case: str, calls: list[tuple[str, str]]) -> None:
    """Each model call is one event with its texts, the user and the thread, whichever span names them."""
    events = replay(f"langfuse-{version}-{case}")

    assert [
        (event["user_id"], event["prompt"], event["generation"], event["properties"].get("$thread_id"))
        for event in events
    ] == [("user-42", prompt, generation, "thread-7") for prompt, generation in calls]
