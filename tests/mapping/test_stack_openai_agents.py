"""The OpenAI Agents SDK traced by OpenInference's openai-agents instrumentation, replayed from real captures.

The agents use the SDK's chat-completions model, since the fake endpoint does not serve the Responses
API. Each model call is one `generation` span of kind LLM, under `turn` (CHAIN), the agent's span (AGENT)
and two `Agent workflow` spans; a function tool is a TOOL span. None of them but `generation` is a call.
The SDK records the request model only (`llm.model_name` gpt-4o: the response model is nowhere), no
finish reason, and the instrumentation keeps only `input_tokens` and `output_tokens` of a non-streamed
call's usage, so cached tokens appear only in a stream's `output.value`.
"""

from __future__ import annotations

from typing import Any

from .conftest import replay

STACK = "openai-agents-openinference"


def event(prompt: str, generation: str, tokens: tuple[int, int, int], **counts: int) -> dict[str, Any]:
    """Return the event one model call of an agent should give, as the API receives it."""
    return {
        "user_id": "user-42",
        "assistant_id": "gpt-4o",
        "prompt": prompt,
        "generation": generation,
        "latency": True,
        "properties": {
            "provider": "openai",
            "response_model": "gpt-4o",
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "total_tokens": tokens[2],
            **counts,
            "service_name": "unknown_service:python",
            "$thread_id": "thread-7",
        },
    }


def test_chat_is_one_event_for_the_generation_span() -> None:
    """An agent's one model call is one event; the agent, turn and workflow spans give none."""
    assert replay(f"{STACK}-chat") == [
        event("Say hello to the team", "Echo: Say hello to the team", (10, 6, 16))
    ]


def test_stream_answer_is_read_from_the_response_object() -> None:
    """A streamed run's answer and usage are read from the Response object the span's output holds."""
    assert replay(f"{STACK}-stream") == [
        event("Count to three", "Echo: Count to three", (8, 4, 12), cache_read_tokens=4, reasoning_tokens=0)
    ]


def test_tool_run_is_one_event_per_model_call() -> None:
    """A run that calls a tool is two events, the tool call then the answer; the tool's span gives none."""
    assert replay(f"{STACK}-tool") == [
        event("What is the weather in Paris?", 'get_weather({"city": "Paris"})', (11, 2, 13)),
        event("What is the weather in Paris?", "Tool result: Sunny in Paris", (14, 5, 19)),
    ]


def test_conversation_is_one_event_per_run() -> None:
    """A second run sent the first one's items as history is prompted by its own last user message."""
    assert replay(f"{STACK}-conversation") == [
        event("My name is Ada", "Echo: My name is Ada", (9, 5, 14)),
        event("What is my name?", "Echo: What is my name?", (18, 5, 23)),
    ]
