"""The anthropic SDK alone and beside OpenLLMetry's and OpenInference's instrumentations: the events.

The captures (`tests/record/stacks/anthropic-*.py`) run five scenarios against the fake Anthropic endpoint,
inside `trubrics_otel.context(user_id="user-42", thread_id="thread-7")`. anthropic 2.x traces every call
itself (`anthropic.messages.create`, scope `com.anthropic.sdk.python`), so beside an instrumentation each
call has two spans: in two traces under OpenLLMetry, nested under OpenInference's `messages.create` (but in
two traces for `messages.stream`). The events below are written from the scenarios, not from today's
output: one event per model call; the prompt is the last user message; the generation is the answer, and
a tool call rendered `get_weather({"city": "Paris"})`, after the text on its own line when the answer has
both; the assistant is the response model (the fake dates it).

Tokens: the fake counts words, and reports 4 tokens read from the cache and 2 written to it beside the
uncached `input_tokens`. `input_tokens` is every input token, cached or not (as the GenAI semantic
conventions and every instrumentation here count them), `cache_creation_tokens` the tokens written to the
cache. Finish reasons are the words of the span that gives them: Anthropic's `end_turn` and `tool_use`
(the SDK's `anthropic.message.stop_reason`, OpenInference's `llm.finish_reason`), OpenLLMetry's
semantic-convention `stop` and `tool_call`.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import replay

REQUEST_MODEL = "claude-haiku-4-5"
DATED = "claude-haiku-4-5-20251001"
"""The fake's response model for a request for `claude-haiku-4-5`."""
CACHE_READ = 4
CACHE_CREATION = 2
PREAMBLE = "I will look up the weather in Paris."
"""The text the fake answers before its tool call."""
WEATHER_CALL = 'get_weather({"city": "Paris"})'

# Each scenario's model calls: (last user message, answer, uncached input tokens, output tokens). The
# uncached input is the words of the system prompt "You are a helpful assistant." (5) and of every message.
CALLS: dict[str, list[tuple[str, str, int, int]]] = {
    "chat": [("Say hello to the team", "Echo: Say hello to the team", 5 + 5, 6)],
    "stream": [("Count to three", "Echo: Count to three", 5 + 3, 4)],
    "stream-helper": [("Count to three", "Echo: Count to three", 5 + 3, 4)],
    # The answer is the preamble (8 words) and a tool_use block whose input `{"city": "Paris"}` is 2 words.
    "tool": [("What is the weather in Paris?", f"{PREAMBLE}\n{WEATHER_CALL}", 5 + 6, 8 + 2)],
    "conversation": [
        ("My name is Ada", "Echo: My name is Ada", 5 + 4, 5),
        # The second call sends the first turn back: user, assistant, then the new question.
        ("What is my name?", "Echo: What is my name?", 5 + 4 + 5 + 4, 5),
    ],
}
CASES = tuple(CALLS)


def expected(
    case: str, *, finish: tuple[str, str] = ("end_turn", "tool_use"), **overrides: Any
) -> list[dict[str, Any]]:
    """Return the events a scenario's calls should give; `finish`: the words for an answer and a tool call."""
    events = []
    for prompt, generation, uncached, output_tokens in CALLS[case]:
        input_tokens = uncached + CACHE_READ + CACHE_CREATION
        events.append(
            {
                "user_id": "user-42",
                "assistant_id": DATED,
                "prompt": prompt,
                "generation": generation,
                "latency": True,
                "properties": {
                    "provider": "anthropic",
                    "operation": "chat",
                    "request_model": REQUEST_MODEL,
                    "response_model": DATED,
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                    "cache_read_tokens": CACHE_READ,
                    "cache_creation_tokens": CACHE_CREATION,
                    "finish_reasons": [finish[1] if WEATHER_CALL in generation else finish[0]],
                    "service_name": "unknown_service:python",
                    "$thread_id": "thread-7",
                    **overrides,
                },
            }
        )
    return events


@pytest.mark.parametrize("case", CASES)
def test_anthropic_sdk(case: str) -> None:
    """Each call gives one event from the SDK's own span, its content recorded in content mode."""
    events = expected(case)
    if case == "stream":
        # The SDK records no output content for a stream read without its helper (it says so): the
        # placeholder is the most any mapping can give.
        events[0]["generation"] = "[content not recorded]"

    assert replay(f"anthropic-sdk-{case}") == events


@pytest.mark.parametrize("case", CASES)
def test_anthropic_openllmetry(case: str) -> None:
    """OpenLLMetry's `anthropic.chat` span and the SDK's span, in two traces, give one event per call."""
    assert replay(f"anthropic-openllmetry-{case}") == expected(case, finish=("stop", "tool_call"))


@pytest.mark.parametrize("case", CASES)
def test_anthropic_openinference(case: str) -> None:
    """OpenInference's span and the SDK's, nested or in two traces, make one event per call."""
    assert replay(f"anthropic-openinference-{case}") == expected(case)


@pytest.mark.parametrize("stack", ["anthropic-sdk", "anthropic-openllmetry", "anthropic-openinference"])
def test_one_event_per_model_call_of_a_stream_helper(stack: str) -> None:
    """`messages.stream()` makes one model call, so one event, with the prompt, model, user and thread."""
    events = replay(f"{stack}-stream-helper")

    assert [(e["prompt"], e["assistant_id"], e["user_id"]) for e in events] == [
        ("Count to three", DATED, "user-42")
    ]
    assert events[0]["properties"]["$thread_id"] == "thread-7"


@pytest.mark.parametrize("stack", ["anthropic-sdk", "anthropic-openllmetry", "anthropic-openinference"])
@pytest.mark.parametrize("case", [case for case in CASES if case != "stream-helper"])
def test_one_event_per_model_call(stack: str, case: str) -> None:
    """Whatever else is wrong, the other captures give one event per call, with prompt, tokens and thread."""
    events = replay(f"{stack}-{case}")

    assert [event["prompt"] for event in events] == [call[0] for call in CALLS[case]]
    assert [event["properties"]["input_tokens"] for event in events] == [
        call[2] + CACHE_READ + CACHE_CREATION for call in CALLS[case]
    ]
    assert {event["properties"]["cache_read_tokens"] for event in events} == {CACHE_READ}
    assert {event["properties"]["$thread_id"] for event in events} == {"thread-7"}
