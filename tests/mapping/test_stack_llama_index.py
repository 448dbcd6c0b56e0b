"""LlamaIndex's OpenAI LLM traced by OpenInference's llama-index instrumentation, replayed from real captures.

Every model call is one span of kind LLM named after the method (`OpenAI.chat`, `OpenAI.stream_chat`,
`OpenAI.complete`). `chat_with_tools` and `predict_and_call` add `OpenAI._prepare_chat_with_tools`, also of
kind LLM but sending no request (no token counts, no output messages: its `output.value` is the prepared
request), and `predict_and_call` its own LLM span and two TOOL spans around the real call. LlamaIndex
records the configured model only (`llm.model_name` gpt-4o; the response model is nowhere), and a stream
gets no usage.
"""

from __future__ import annotations

from typing import Any

from .conftest import replay

STACK = "llama-index-openinference"


def event(
    prompt: str,
    generation: str,
    tokens: tuple[int, int, int] | None = None,
    cached: int = 0,
    finish: str = "stop",
) -> dict[str, Any]:
    """Return the event one call to gpt-4o should give, as the API receives it."""
    counts: dict[str, int] = {}
    if tokens is not None:
        counts = {
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "total_tokens": tokens[2],
            "cache_read_tokens": cached,
            "reasoning_tokens": 0,
        }
    return {
        "user_id": "user-42",
        "assistant_id": "gpt-4o",
        "prompt": prompt,
        "generation": generation,
        "latency": True,
        "properties": {
            "provider": "openai",
            "request_model": "gpt-4o",
            "response_model": "gpt-4o",
            **counts,
            "finish_reasons": [finish],
            "service_name": "unknown_service:python",
            "$thread_id": "thread-7",
        },
    }


TOOL_CALL = event(
    "What is the weather in Paris?",
    'get_weather({"city": "Paris"})',
    (6, 2, 8),
    cached=3,
    finish="tool_calls",
)


def test_chat_is_one_event() -> None:
    """A chat call is one event with every token count the usage reports."""
    assert replay(f"{STACK}-chat") == [
        event("Say hello to the team", "Echo: Say hello to the team", (10, 6, 16), cached=5)
    ]


def test_stream_chat_is_one_event_without_usage() -> None:
    """A streamed chat is one event, its answer joined; LlamaIndex asks for no usage, so none is sent."""
    assert replay(f"{STACK}-stream") == [event("Count to three", "Echo: Count to three")]


def test_complete_reads_the_prompt_from_llm_prompts() -> None:
    """A completion's prompt is its one entry in `llm.prompts`."""
    assert replay(f"{STACK}-complete") == [
        event("Say hello to the team", "Echo: Say hello to the team", (5, 6, 11), cached=2)
    ]


def test_chat_with_tools_is_one_event() -> None:
    """Preparing the tools sends nothing, so `chat_with_tools` is the one event of its tool call."""
    assert replay(f"{STACK}-tool") == [TOOL_CALL]


def test_predict_and_call_is_one_event() -> None:
    """`predict_and_call` makes one call: its own span, the preparation and the tool's spans give none."""
    assert replay(f"{STACK}-predict_and_call") == [TOOL_CALL]


def test_conversation_is_one_event_per_turn() -> None:
    """Two chats sharing a history are two events, each prompted by its own last user message."""
    assert replay(f"{STACK}-conversation") == [
        event("My name is Ada", "Echo: My name is Ada", (9, 5, 14), cached=4),
        event("What is my name?", "Echo: What is my name?", (18, 5, 23), cached=9),
    ]
