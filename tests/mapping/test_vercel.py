"""The Vercel AI SDK recogniser: which `ai.*` spans are calls, their prompt, answer, usage and metadata."""

from __future__ import annotations

import json

import pytest

from trubrics_otel._events import LLMEvent
from trubrics_otel.mapping import Findings, span_to_records
from trubrics_otel.mapping.vercel import recognise

from .conftest import as_json, make_span

# what AI SDK 5 writes on the provider call span of `generateText` (keys from its telemetry docs)
DO_GENERATE = {
    "operation.name": "ai.generateText.doGenerate chat-handler",
    "ai.operationId": "ai.generateText.doGenerate",
    "ai.telemetry.functionId": "chat-handler",
    "ai.telemetry.metadata.userId": "user-42",
    "ai.telemetry.metadata.sessionId": "thread-7",
    "ai.telemetry.metadata.plan": "pro",
    "ai.model.provider": "openai.chat",
    "ai.model.id": "gpt-4o",
    "ai.prompt.messages": json.dumps(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Say hello"}]},
        ]
    ),
    "ai.response.finishReason": "stop",
    "ai.response.text": "Hello!",
    "ai.response.id": "resp_1",
    "ai.response.model": "gpt-4o-2024-08-06",
    "ai.usage.inputTokens": 11,
    "ai.usage.outputTokens": 7,
    "ai.usage.totalTokens": 18,
    "gen_ai.system": "openai.chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.usage.input_tokens": 11,
    "gen_ai.usage.output_tokens": 7,
}

# ... and on the `generateText` span around it
GENERATE_TEXT = {
    "operation.name": "ai.generateText chat-handler",
    "ai.operationId": "ai.generateText",
    "ai.telemetry.functionId": "chat-handler",
    "ai.telemetry.metadata.userId": "user-42",
    "ai.model.provider": "openai.chat",
    "ai.model.id": "gpt-4o",
    "ai.prompt": json.dumps({"system": "Be brief.", "prompt": "Say hello"}),
    "ai.response.text": "Hello!",
    "ai.usage.inputTokens": 11,
    "ai.usage.outputTokens": 7,
}


def test_do_generate_span() -> None:
    """The provider call span is the model call, with everything the AI SDK records about it."""
    findings = recognise(make_span(DO_GENERATE, name="ai.generateText.doGenerate"))

    assert findings == Findings(
        kind="llm",
        prompt="Say hello",
        generation="Hello!",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        response_id="resp_1",
        provider="openai.chat",
        operation="ai.generateText.doGenerate",
        user_id="user-42",
        thread_id="thread-7",
        input_tokens=11,
        output_tokens=7,
        total_tokens=18,
        finish_reasons=("stop",),
        properties={"plan": "pro", "function_id": "chat-handler"},
    )


@pytest.mark.parametrize(
    "operation",
    [
        "ai.generateText",
        "ai.streamText",
        "ai.generateObject",
        "ai.embed",
        "ai.embed.doEmbed",
        "ai.embedMany",
        "ai.toolCall",
    ],
)
def test_wrapper_embedding_and_tool_spans_are_other(operation: str) -> None:
    """Only the provider call spans are model calls; the outer call, embeddings and tool runs are not."""
    findings = recognise(make_span({**GENERATE_TEXT, "ai.operationId": operation}, name=operation))

    assert findings == Findings(
        kind="other", operation=operation, user_id="user-42", properties={"function_id": "chat-handler"}
    )


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(
            {"ai.operationId": "ai.streamText.doStream", "ai.model.id": "m", "ai.response.text": "streamed"},
            {"kind": "llm", "generation": "streamed"},
            id="stream-call",
        ),
        pytest.param(
            {"ai.operationId": "ai.generateObject.doGenerate", "ai.response.object": '{"name": "Ada"}'},
            {"kind": "llm", "generation": '{"name": "Ada"}'},
            id="object-call-answers-with-its-json",
        ),
        pytest.param(
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.response.toolCalls": json.dumps(
                    [
                        {
                            "toolCallType": "function",
                            "toolCallId": "c1",
                            "toolName": "get_weather",
                            "args": '{"city":"Paris"}',
                        }
                    ]
                ),
            },
            {"generation": 'get_weather({"city":"Paris"})'},
            id="ai-sdk-4-tool-calls",
        ),
        pytest.param(
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.response.text": "",
                "ai.response.toolCalls": json.dumps(
                    [{"toolCallId": "c1", "toolName": "get_weather", "input": {"city": "Paris"}}]
                ),
            },
            {"generation": 'get_weather({"city": "Paris"})'},
            id="ai-sdk-5-tool-calls-when-the-text-is-empty",
        ),
        pytest.param(
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.usage.promptTokens": 4,
                "ai.usage.completionTokens": 2,
                "ai.usage.cachedInputTokens": 1,
                "ai.usage.reasoningTokens": 3,
            },
            {"input_tokens": 4, "output_tokens": 2, "cache_read_tokens": 1, "reasoning_tokens": 3},
            id="ai-sdk-4-usage-and-details",
        ),
        pytest.param(
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.prompt": json.dumps({"prompt": "Only outer"}),
            },
            {"prompt": "Only outer"},
            id="prompt-from-ai-prompt-when-messages-are-missing",
        ),
        pytest.param(
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.prompt": json.dumps({"messages": [{"role": "user", "content": "From messages"}]}),
            },
            {"prompt": "From messages"},
            id="prompt-from-ai-prompt-messages",
        ),
        pytest.param(
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.telemetry.metadata.threadId": "t9",
                "ai.telemetry.metadata.tags": ["a"],
                "ai.telemetry.metadata.long": "x" * 1000,
            },
            {"thread_id": "t9", "properties": {}},
            id="thread-id-metadata-and-only-short-scalar-properties",
        ),
    ],
)
def test_recognise_reads_ai_sdk_keys(attributes: dict[str, object], expected: dict[str, object]) -> None:
    """Each convention case gives the expected findings."""
    findings = recognise(make_span(attributes))

    assert findings is not None
    assert {name: getattr(findings, name) for name in expected} == expected


def test_spans_that_are_not_the_ai_sdks() -> None:
    """Without `ai.operationId`, only an `ai.*` span name with `ai.model.id` is the AI SDK's."""
    assert recognise(make_span({"gen_ai.operation.name": "chat"}, name="chat gpt-4o")) is None
    assert recognise(make_span({"ai.foo": 1}, name="ai.custom")) is None
    findings = recognise(make_span({"ai.model.id": "m"}, name="ai.generateText.doGenerate"))
    assert findings is not None
    assert findings.kind == "llm"


def test_generate_text_becomes_one_llm_event() -> None:
    """Through the whole mapping a `generateText` call (outer span plus call span) is one LLM event."""
    outer = make_span(GENERATE_TEXT, name="ai.generateText")
    call = make_span(DO_GENERATE, name="ai.generateText.doGenerate")

    assert span_to_records(outer) == []
    (record,) = span_to_records(call)
    assert isinstance(record, LLMEvent)
    payload = as_json(record)
    assert (payload["user_id"], payload["assistant_id"]) == ("user-42", "gpt-4o-2024-08-06")
    assert (payload["prompt"], payload["generation"]) == ("Say hello", "Hello!")
    assert payload["properties"]["$thread_id"] == "thread-7"
    assert payload["properties"]["plan"] == "pro"
    assert payload["properties"]["finish_reasons"] == ["stop"]
