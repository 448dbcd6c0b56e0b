"""LangChain's `ChatOpenAI` under OpenInference and OpenLLMetry: what each recorded capture becomes.

The captures (`tests/record/stacks/langchain-*.py`) run five scenarios against the fake OpenAI endpoint,
inside `trubrics_otel.context(user_id="user-42", thread_id="thread-7")`. The events below are written
from the scenarios, not from today's output: one event per model call, none for chain, prompt or parser
spans; the prompt is the last user message, the generation the answer or its tool call; the assistant is
the response model (the fake dates it) wherever a span of the call carries it. The fake counts words as
tokens, reports half the prompt's as cached, and LangChain's own `ls_*` and `lc_versions` metadata is not
the app's and must not become properties.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import replay

DATED = "gpt-4o-2024-08-06"
"""The fake's response model for a request for `gpt-4o`."""
WEATHER_CALL = 'get_weather({"city": "Paris"})'

# Each scenario's model calls: (last user message, answer, prompt tokens, completion tokens). Prompt
# tokens are the words of every message sent: the system message "You are a helpful assistant." is 5.
CALLS: dict[str, list[tuple[str, str, int, int]]] = {
    "chat": [("Say hello to the team", "Echo: Say hello to the team", 5 + 5, 6)],
    "stream": [("Count to three", "Echo: Count to three", 5 + 3, 4)],
    # The answer is a tool call; its arguments `{"city": "Paris"}` are 2 words.
    "tool": [("What is the weather in Paris?", WEATHER_CALL, 5 + 6, 2)],
    "conversation": [
        ("My name is Ada", "Echo: My name is Ada", 5 + 4, 5),
        # The second call sends the first turn back: system, user, assistant, then the new question.
        ("What is my name?", "Echo: What is my name?", 5 + 4 + 5 + 4, 5),
    ],
    # A prompt template | the model | a string parser, invoked with the chat scenario's question.
    "chain": [("Say hello to the team", "Echo: Say hello to the team", 5 + 5, 6)],
}
CASES = tuple(CALLS)


def expected(case: str, *, model: str = DATED, **properties: Any) -> list[dict[str, Any]]:
    """Return the events a scenario's calls should give: `properties` are the stack's own extra ones."""
    events = []
    for prompt, generation, input_tokens, output_tokens in CALLS[case]:
        finish = "tool_calls" if generation == WEATHER_CALL else "stop"
        events.append(
            {
                "user_id": "user-42",
                "assistant_id": model,
                "prompt": prompt,
                "generation": generation,
                "latency": True,
                "properties": {
                    "provider": "openai",
                    "request_model": "gpt-4o",
                    "response_model": model,
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                    "cache_read_tokens": input_tokens // 2,
                    "finish_reasons": [finish],
                    "service_name": "unknown_service:python",
                    "$thread_id": "thread-7",
                    **properties,
                },
            }
        )
    return events


def openinference(case: str) -> list[dict[str, Any]]:
    """OpenInference flattens LangChain's usage, reasoning tokens included, except when streaming."""
    if case == "stream":
        return expected(case)
    return expected(case, reasoning_tokens=0)


def openllmetry(case: str) -> list[dict[str, Any]]:
    """OpenLLMetry names the operation, writes no reasoning tokens and the semantic conventions' `tool_call`.

    Its streaming span's `gen_ai.response.model` is the request model and no attribute holds the dated
    one, so `gpt-4o` is the most any mapping can say. The chain's spans carry the workflow's name.
    """
    events = expected(
        case,
        model="gpt-4o" if case == "stream" else DATED,
        operation="chat",
        **({"workflow_name": "RunnableSequence"} if case == "chain" else {}),
    )
    for event in events:
        if event["properties"]["finish_reasons"] == ["tool_calls"]:
            event["properties"]["finish_reasons"] = ["tool_call"]
    return events


def cases(*wrong: str, stream: str | None = None) -> list[Any]:
    """Return the cases, each marked as failing today for the reasons given (and `stream` for the stream)."""
    params = []
    for case in CASES:
        reasons = [*wrong, *([stream] if stream and case == "stream" else [])]
        marks = [pytest.mark.xfail(strict=True, reason="; and ".join(reasons))] if reasons else []
        params.append(pytest.param(case, marks=marks))
    return params


@pytest.mark.parametrize("case", cases())
def test_openinference_langchain(case: str) -> None:
    """Each call gives one event, read from the LangChain `LLM` span; prompt and parser spans give none."""
    assert replay(f"langchain-openinference-{case}") == openinference(case)


@pytest.mark.parametrize("case", cases())
def test_openinference_langchain_beside_openai(case: str) -> None:
    """The LangChain span and the OpenAI span of one call, in two traces, give one event with both's facts."""
    events = openinference(case)
    for event in events:
        # The OpenAI span has the dated model and the reasoning tokens the streaming LangChain span lacks.
        event["properties"]["reasoning_tokens"] = 0

    assert replay(f"langchain-openinference+openai-{case}") == events


@pytest.mark.parametrize("case", cases())
def test_openllmetry_langchain(case: str) -> None:
    """Each call gives one event, read from the `ChatOpenAI.chat` span; task and workflow spans give none."""
    assert replay(f"langchain-openllmetry-{case}") == openllmetry(case)


@pytest.mark.parametrize("case", cases())
def test_openllmetry_langchain_beside_openai(case: str) -> None:
    """OpenLLMetry's LangChain span suppresses its OpenAI instrumentation's, so the events are the same."""
    assert replay(f"langchain-openllmetry+openai-{case}") == openllmetry(case)


@pytest.mark.parametrize(
    "stack",
    [
        "langchain-openinference",
        "langchain-openinference+openai",
        "langchain-openllmetry",
        "langchain-openllmetry+openai",
    ],
)
@pytest.mark.parametrize("case", CASES)
def test_one_event_per_model_call(stack: str, case: str) -> None:
    """Whatever else is wrong, every capture gives exactly one event per model call, each for its prompt."""
    events = replay(f"{stack}-{case}")

    assert [event["prompt"] for event in events] == [call[0] for call in CALLS[case]]
