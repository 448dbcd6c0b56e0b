"""The Vercel AI SDK's real spans, recorded against the fake OpenAI endpoint, as the API receives them.

The captures are `tests/data/captures/vercel-ai-<case>.json`, written by `tests/record/vercel/record.mjs`
(AI SDK 6, `@ai-sdk/openai` chat completions, `experimental_telemetry` with `userId` and `sessionId`
metadata). Each `generateText` or `streamText` call is an outer `ai.generateText`/`ai.streamText` span
around one provider call span (`ai.generateText.doGenerate`, `ai.streamText.doStream`); a tool run is an
`ai.toolCall` span. Only the provider call spans are model calls.
"""

from __future__ import annotations

from typing import Any

from .conftest import replay

SERVICE = "unknown_service:/usr/bin/node"


def expected_call(
    prompt: str,
    generation: str,
    tokens: tuple[int, int, int],
    finish_reason: str = "stop",
    operation: str = "ai.generateText.doGenerate",
) -> dict[str, Any]:
    """Return the event of one provider call: (input, output, cached input) tokens, its finish reason."""
    input_tokens, output_tokens, cached = tokens
    return {
        "user_id": "user-42",
        "assistant_id": "gpt-4o-2024-08-06",
        "prompt": prompt,
        "generation": generation,
        "latency": True,
        "properties": {
            "provider": "openai.chat",
            "operation": operation,
            "request_model": "gpt-4o",
            "response_model": "gpt-4o-2024-08-06",
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "cache_read_tokens": cached,
            "reasoning_tokens": 0,
            "finish_reasons": [finish_reason],
            "service_name": SERVICE,
            "$thread_id": "thread-7",
        },
    }


def test_generate_text() -> None:
    """A `generateText` call is one event, from its `doGenerate` span, with the user and thread metadata."""
    assert replay("vercel-ai-chat") == [
        expected_call("Say hello to the team", "Echo: Say hello to the team", (10, 6, 5))
    ]


def test_stream_text() -> None:
    """A `streamText` call is one event, from its `doStream` span, with the streamed text."""
    assert replay("vercel-ai-stream") == [
        expected_call("Count to three", "Echo: Count to three", (8, 4, 4), operation="ai.streamText.doStream")
    ]


def test_tool_call() -> None:
    """A call answered with a tool call is one event rendering it; the `ai.toolCall` span gives none."""
    assert replay("vercel-ai-tool") == [
        expected_call(
            "What is the weather in Paris?",
            'get_weather({"city": "Paris"})',
            (11, 2, 5),
            finish_reason="tool-calls",
        )
    ]


def test_conversation() -> None:
    """Two calls are two events, the second's prompt its last user message, not the history."""
    assert replay("vercel-ai-conversation") == [
        expected_call("My name is Ada", "Echo: My name is Ada", (9, 5, 4)),
        expected_call("What is my name?", "Echo: What is my name?", (18, 5, 9)),
    ]
