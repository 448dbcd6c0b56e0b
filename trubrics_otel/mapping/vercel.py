"""The Vercel AI SDK's telemetry keys: `ai.*` (`experimental_telemetry` in `generateText`, `streamText`, ...).

| key | finding |
|---|---|
| `ai.operationId` (else the span name) | operation; see below for which are model calls |
| `ai.model.id`, `ai.response.model` | request and response model |
| `ai.model.provider` | provider (for example `openai.chat`) |
| `ai.prompt.messages`, else `ai.prompt` (JSON) | prompt: the last user message with text |
| `ai.response.text`, else `ai.response.object`, else `ai.response.toolCalls` | generation |
| `ai.response.finishReason` | finish reason |
| `ai.usage.inputTokens` / `outputTokens` (AI SDK 5+), `promptTokens` / `completionTokens` (4) | tokens |
| `ai.usage.totalTokens`, `ai.usage.cachedInputTokens`, `ai.usage.reasoningTokens` | tokens |
| `ai.telemetry.metadata.userId` | user |
| `ai.telemetry.metadata.sessionId`, else `threadId` | thread |
| `ai.telemetry.metadata.<name>` (others) | property `<name>` (short scalar values only) |
| `ai.telemetry.functionId` | property `function_id` |

`ai.generateText.doGenerate`, `ai.streamText.doStream`, `ai.generateObject.doGenerate` and
`ai.streamObject.doStream` are the model calls. The outer `ai.generateText`, `ai.streamText`, ... spans
wrap them (and repeat their text), and `ai.embed*` and `ai.toolCall` are not model calls. The call spans
also carry some `gen_ai.*` keys (models, usage), which `genai` reads first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from trubrics_otel.mapping._messages import ToolCall, last_user_text, parse_parts_messages
from trubrics_otel.mapping._model import Findings, SpanData
from trubrics_otel.mapping._reading import (
    MetadataKeys,
    first_int,
    load_json,
    prefixed,
    to_int,
    to_text,
)

__all__ = ["recognise"]

METADATA_PREFIX: Final = "ai.telemetry.metadata."

CALL_OPERATIONS: Final = frozenset(
    {
        "ai.generateText.doGenerate",
        "ai.streamText.doStream",
        "ai.generateObject.doGenerate",
        "ai.streamObject.doStream",
    }
)
"""The spans around one provider call; every other `ai.*` span wraps them or is not a model call."""

_METADATA_KEYS: Final = MetadataKeys(
    user=("userId", "user_id"), thread=("sessionId", "threadId", "session_id", "thread_id")
)


def recognise(span: SpanData) -> Findings | None:
    """Read the AI SDK's `ai.*` keys; None when the span is not the AI SDK's."""
    attributes = span.attributes
    operation = to_text(attributes.get("ai.operationId"))
    if operation is None:
        if not span.name.startswith("ai.") or "ai.model.id" not in attributes:
            return None
        operation = span.name
    findings = _METADATA_KEYS.findings(prefixed(attributes, METADATA_PREFIX))
    findings.operation = operation
    function_id = to_text(attributes.get("ai.telemetry.functionId"))
    if function_id is not None:
        findings.properties["function_id"] = function_id
    if operation not in CALL_OPERATIONS:
        findings.kind = "other"
        return findings
    findings.kind = "llm"
    findings.request_model = to_text(attributes.get("ai.model.id"))
    findings.response_model = to_text(attributes.get("ai.response.model"))
    findings.response_id = to_text(attributes.get("ai.response.id"))
    findings.provider = to_text(attributes.get("ai.model.provider"))
    findings.input_tokens = first_int(attributes, "ai.usage.inputTokens", "ai.usage.promptTokens")
    findings.output_tokens = first_int(attributes, "ai.usage.outputTokens", "ai.usage.completionTokens")
    findings.total_tokens = to_int(attributes.get("ai.usage.totalTokens"))
    findings.cache_read_tokens = to_int(attributes.get("ai.usage.cachedInputTokens"))
    findings.reasoning_tokens = to_int(attributes.get("ai.usage.reasoningTokens"))
    reason = to_text(attributes.get("ai.response.finishReason"))
    if reason is not None:
        findings.finish_reasons = (reason,)
    findings.prompt = _prompt(attributes)
    findings.generation = (
        to_text(attributes.get("ai.response.text"))
        or to_text(attributes.get("ai.response.object"))
        or _tool_calls(attributes.get("ai.response.toolCalls"))
    )
    return findings


def _prompt(attributes: Mapping[str, object]) -> str | None:
    messages = attributes.get("ai.prompt.messages")
    if messages is None:
        # the outer call's prompt: `{"system": ..., "prompt": "...", "messages": [...]}`
        prompt = load_json(attributes.get("ai.prompt"))
        if not isinstance(prompt, Mapping):
            return None
        if isinstance(prompt.get("prompt"), str):
            return to_text(prompt["prompt"])
        messages = prompt.get("messages")
    return last_user_text(message for message in parse_parts_messages(messages) if message.text)


def _tool_calls(value: object) -> str | None:
    calls = load_json(value)
    if not isinstance(calls, list):
        return None
    rendered = []
    for call in calls:
        if not isinstance(call, Mapping):
            continue
        # AI SDK 4 names the arguments `args`, 5 and later `input`; either may be a JSON string already
        arguments = call.get("input", call.get("args"))
        if arguments is not None and not isinstance(arguments, str):
            arguments = json.dumps(arguments, sort_keys=True, default=str)
        rendered.append(ToolCall(to_text(call.get("toolName")) or "tool", arguments or "").render())
    return "\n".join(rendered) or None
