"""google-genai under OpenTelemetry's and OpenInference's Google GenAI instrumentations: the events.

The captures (`tests/record/stacks/gemini-*.py`) run four scenarios against the fake Gemini endpoint,
inside `trubrics_otel.context(user_id="user-42", thread_id="thread-7")`. The events below are written
from the scenarios, not from today's output: one event per model call; the prompt is the last user turn;
the generation is the answer, or its `functionCall` rendered `get_weather({"city": "Paris"})`; the
assistant is the response's `modelVersion` (the fake adds `-001`).

Tokens: the fake counts words; `promptTokenCount` includes the cached tokens, half the prompt's, as in
the real API. Gemini reports no tokens written to a cache, so there is no `cache_creation_tokens`.
Provider and finish reasons are each instrumentation's words: OpenTelemetry's `gemini` and `stop`,
OpenInference's `google` and Gemini's own `STOP`.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import replay

REQUEST_MODEL = "gemini-2.5-flash"
VERSION = "gemini-2.5-flash-001"
"""The fake's `modelVersion` for a request for `gemini-2.5-flash`."""
WEATHER_CALL = 'get_weather({"city": "Paris"})'

# Each scenario's model calls: (last user turn, answer, prompt tokens, output tokens). The prompt is the
# words of the system instruction "You are a helpful assistant." (5) and of every turn.
CALLS: dict[str, list[tuple[str, str, int, int]]] = {
    "chat": [("Say hello to the team", "Echo: Say hello to the team", 5 + 5, 6)],
    "stream": [("Count to three", "Echo: Count to three", 5 + 3, 4)],
    # The answer is a function call whose arguments `{"city": "Paris"}` are 2 words.
    "tool": [("What is the weather in Paris?", WEATHER_CALL, 5 + 6, 2)],
    "conversation": [
        ("My name is Ada", "Echo: My name is Ada", 5 + 4, 5),
        # The second call sends the first turn back: user, model, then the new question.
        ("What is my name?", "Echo: What is my name?", 5 + 4 + 5 + 4, 5),
    ],
}
CASES = tuple(CALLS)


def expected(case: str, **properties: Any) -> list[dict[str, Any]]:
    """Return the events a scenario's calls should give: `properties` are the stack's own ones."""
    events = []
    for prompt, generation, input_tokens, output_tokens in CALLS[case]:
        events.append(
            {
                "user_id": "user-42",
                "assistant_id": VERSION,
                "prompt": prompt,
                "generation": generation,
                "latency": True,
                "properties": {
                    "response_model": VERSION,
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                    "cache_read_tokens": input_tokens // 2,
                    "service_name": "unknown_service:python",
                    "$thread_id": "thread-7",
                    **properties,
                },
            }
        )
    return events


@pytest.mark.parametrize("case", CASES)
def test_gemini_opentelemetry(case: str) -> None:
    """Each `generate_content` span, its messages on the span (SPAN_ONLY), gives one event."""
    events = expected(
        case,
        provider="gemini",
        operation="generate_content",
        request_model=REQUEST_MODEL,
        finish_reasons=["stop"],
    )

    assert replay(f"gemini-genai-{case}") == events


@pytest.mark.parametrize("case", CASES)
def test_gemini_openinference(case: str) -> None:
    """Each `GenerateContent` span gives one event; it records no request model, so none is sent."""
    events = expected(case, provider="google", finish_reasons=["STOP"])

    assert replay(f"gemini-openinference-{case}") == events
