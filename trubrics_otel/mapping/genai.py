"""OpenTelemetry's GenAI semantic conventions, current and older: the `gen_ai.*` keys.

| key | finding |
|---|---|
| `gen_ai.operation.name` | operation; `chat`, `text_completion`, `generate_content`: a model call |
| `gen_ai.operation.name` `embeddings`, `execute_tool`, `invoke_agent`, ... | not a model call |
| `gen_ai.request.model`, `gen_ai.response.model` | request and response model |
| `gen_ai.provider.name`, else `gen_ai.system` | provider |
| `gen_ai.input.messages` | prompt: the last user message that has text |
| `gen_ai.output.messages` | generation: the assistant's text, else its tool calls rendered |
| `gen_ai.prompt.{i}.*`, `gen_ai.completion.{i}.*` | the same, flattened (OpenLLMetry up to 0.47) |
| span events `gen_ai.user.message`, `gen_ai.choice`, ... | the same, when the attributes have none |
| span event `gen_ai.client.inference.operation.details` | the same, when the attributes have none |
| `gen_ai.response.finish_reasons`, else each output's | finish reasons (Logfire's are a JSON string) |
| `gen_ai.usage.input_tokens`, older `prompt_tokens` | input tokens |
| `gen_ai.usage.output_tokens`, older `completion_tokens` | output tokens |
| `gen_ai.usage.total_tokens` | total tokens |
| `gen_ai.usage.cache_read.input_tokens`, `.cache_read_input_tokens` | cached input tokens |
| `gen_ai.usage.reasoning_tokens`, `.reasoning.output_tokens` | reasoning tokens |
| `gen_ai.usage.details.cache_read_tokens`, `.details.reasoning_tokens` | the same (pydantic-ai) |
| `gen_ai.conversation.id` | thread |
| `gen_ai.user` | user: the OpenAI `user=` argument as OpenLLMetry records it |

`gen_ai.aggregated_usage.*`, on pydantic-ai's agent span, totals a run and is never read as a call's.
OpenInference copies its *response* model into `gen_ai.request.model`, so on its spans that key is left
to `openinference`. Content that arrives in log records is not this module's business:
`content_from_events` turns such records into messages for whoever joins them with their span.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from trubrics_otel.mapping._messages import (
    Message,
    ToolCall,
    assistant_answer,
    assistant_text,
    content_text,
    last_user_message_text,
    last_user_text,
    parse_parts_messages,
)
from trubrics_otel.mapping._model import Findings, Kind, SpanData, SpanEventData
from trubrics_otel.mapping._reading import first_int, indexed, load_json, to_int, to_text

__all__ = [
    "CONTENT_EVENTS",
    "MessageContent",
    "content_from_events",
    "finish_reasons",
    "prompt_text",
    "recognise",
]

CALL_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content", "completion"})
"""Operations that are one model call."""

NOT_CALL_OPERATIONS: Final = frozenset(
    {
        "embeddings",
        "embedding",
        "execute_tool",
        "invoke_agent",
        "create_agent",
        "invoke_workflow",
        "retrieval",
        "rerank",
    }
)
"""Operations that wrap model calls or call something else: never an LLM event of their own."""

# Any one of these says the span speaks GenAI; checked before anything costly.
_MARKERS: Final = frozenset(
    {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.conversation.id",
    }
)

_MESSAGE_EVENTS: Final = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_CHOICE_EVENT: Final = "gen_ai.choice"
_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
CONTENT_EVENTS: Final = frozenset({*_MESSAGE_EVENTS, _CHOICE_EVENT, _DETAILS_EVENT})
"""The events (span events or log records) that carry a model call's content: `content_from_events` reads
them, and a log record of one of these names is content to join to its call, not an event of its own."""
_PROMPT_EVENT: Final = "gen_ai.content.prompt"
_COMPLETION_EVENT: Final = "gen_ai.content.completion"


@dataclass(frozen=True)
class MessageContent:
    """Messages read from a span or its events: what went in, what came out, and why the model stopped."""

    inputs: tuple[Message, ...] = ()
    outputs: tuple[Message, ...] = ()
    finish_reasons: tuple[str, ...] = ()

    @property
    def prompt(self) -> str | None:
        """The last user message with text, or None."""
        return prompt_text(self.inputs)

    @property
    def generation(self) -> str | None:
        """The assistant's text, else its tool calls rendered, or None."""
        return assistant_text(self.outputs)


def recognise(span: SpanData) -> Findings | None:
    """Read the `gen_ai.*` keys (and GenAI span events); None when the span has none."""
    attributes = span.attributes
    if attributes.keys().isdisjoint(_MARKERS) and not _has_genai_events(span.events):
        return None
    operation = to_text(attributes.get("gen_ai.operation.name"))
    findings = Findings(
        operation=operation,
        request_model=_request_model(attributes),
        response_model=to_text(attributes.get("gen_ai.response.model")),
        response_id=to_text(attributes.get("gen_ai.response.id")),
        provider=to_text(attributes.get("gen_ai.provider.name")) or to_text(attributes.get("gen_ai.system")),
        thread_id=to_text(attributes.get("gen_ai.conversation.id")),
        user_id=to_text(attributes.get("gen_ai.user")),
    )
    if operation in NOT_CALL_OPERATIONS:
        findings.kind = "other"
        return findings
    _read_usage(attributes, findings)
    _read_content(span, findings)
    findings.kind = _kind(operation, findings)
    return findings


def _request_model(attributes: Mapping[str, object]) -> str | None:
    if "openinference.span.kind" in attributes:
        return None
    return to_text(attributes.get("gen_ai.request.model"))


def _kind(operation: str | None, findings: Findings) -> Kind | None:
    if operation in CALL_OPERATIONS:
        return "llm"
    # Without a known operation, an answer on the span is what makes it a model call.
    if findings.generation is not None:
        return "llm"
    return None


def _read_usage(attributes: Mapping[str, object], findings: Findings) -> None:
    findings.input_tokens = first_int(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    findings.output_tokens = first_int(
        attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"
    )
    findings.total_tokens = to_int(attributes.get("gen_ai.usage.total_tokens"))
    findings.cache_read_tokens = first_int(
        attributes,
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.details.cache_read_tokens",
    )
    findings.cache_creation_tokens = first_int(
        attributes,
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    )
    findings.reasoning_tokens = first_int(
        attributes,
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.details.reasoning_tokens",
    )


def _read_content(span: SpanData, findings: Findings) -> None:
    attributes = span.attributes
    inputs = attributes.get("gen_ai.input.messages")
    outputs = attributes.get("gen_ai.output.messages")
    if inputs is not None or outputs is not None:
        # the current conventions, and nearly every span: read just what is needed
        findings.prompt = last_user_message_text(inputs)
        raw_outputs = load_json(outputs)
        findings.generation = assistant_answer(raw_outputs)
        reasons = finish_reasons(attributes.get("gen_ai.response.finish_reasons")) or _message_finish_reasons(
            raw_outputs
        )
        if findings.prompt is None or findings.generation is None:
            # the current keys carry nothing (LiteLLM's empty `parts`): the older ones may
            older = _attribute_content(span)
            findings.prompt = findings.prompt or older.prompt
            findings.generation = findings.generation or older.generation
    else:
        content = _attribute_content(span)
        findings.prompt = content.prompt
        findings.generation = content.generation
        reasons = finish_reasons(attributes.get("gen_ai.response.finish_reasons")) or content.finish_reasons
    if span.events and (findings.prompt is None or findings.generation is None):
        from_events = content_from_events(_event_payloads(span.events))
        if findings.prompt is None:
            findings.prompt = from_events.prompt
        if findings.generation is None:
            findings.generation = from_events.generation
        reasons = reasons or from_events.finish_reasons
    # anthropic's own tracing writes the stop reason under its own name
    findings.finish_reasons = (
        reasons or finish_reasons(attributes.get("anthropic.message.stop_reason")) or None
    )


def _attribute_content(span: SpanData) -> MessageContent:
    """Read the older flattened `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` messages."""
    attributes = span.attributes
    # the SDK drops the earliest flattened attributes first, so index 0 may be gone: look for any
    if not span.has_key_prefix("gen_ai.prompt.", "gen_ai.completion."):
        return MessageContent()
    completions = indexed(attributes, "gen_ai.completion.")
    return MessageContent(
        tuple(_flat_message(item, "user") for item in indexed(attributes, "gen_ai.prompt.")),
        tuple(_flat_message(item, "assistant") for item in completions),
        _strings(item.get("finish_reason") for item in completions),
    )


def prompt_text(messages: Iterable[Message]) -> str | None:
    """Return the last user message that has text: a turn that only returns tool results is not a prompt."""
    return last_user_text(message for message in messages if message.text)


def finish_reasons(value: object) -> tuple[str, ...]:
    """Return finish reasons from an array, a JSON array string, or a single string."""
    if type(value) is tuple and all(type(item) is str and item for item in value):
        return value  # what the SDK stores: already a tuple of strings
    if isinstance(value, str):
        decoded = load_json(value) if value.startswith("[") else None
        return _strings(decoded) if isinstance(decoded, list) else (value,)
    if isinstance(value, (list, tuple)):
        return _strings(value)
    return ()


def _strings(values: Iterable[object]) -> tuple[str, ...]:
    return tuple(text for value in values if (text := to_text(value)) is not None)


def _message_finish_reasons(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, (list, tuple)):
        return ()
    return _strings(item.get("finish_reason") for item in raw if isinstance(item, Mapping))


def _flat_message(item: Mapping[str, object], default_role: str) -> Message:
    """Read one flattened message: `role`, `content` (or `user` for legacy completions), tool calls."""
    content = item.get("content", item.get("user"))
    if isinstance(content, str) and content.startswith("["):
        # multimodal content was flattened as the JSON text of its parts
        decoded = load_json(content)
        if isinstance(decoded, list):
            content = decoded
    calls = [
        ToolCall(to_text(call.get("name")) or "tool", to_text(call.get("arguments")) or "")
        for call in indexed(item, "tool_calls.")
    ]
    function_name = to_text(item.get("function_call.name"))
    if function_name is not None:
        calls.append(ToolCall(function_name, to_text(item.get("function_call.arguments")) or ""))
    role = to_text(item.get("role")) or default_role
    return Message(role, content_text(content), tuple(calls))


# --- content kept in events (span events here, log records for whoever joins them to spans) -------


def content_from_events(events: Iterable[tuple[str, object]]) -> MessageContent:
    """Read GenAI content events, given as `(event name, payload)` pairs in the order they happened.

    The payload is what carries the content: the body of an older per-message event
    (`gen_ai.user.message`, `gen_ai.choice`, ...), or the attributes of a
    `gen_ai.client.inference.operation.details` event. A JSON string is decoded. Events of other names
    are skipped, so a span's or a trace's whole stream of events can be passed in.
    """
    inputs: list[Message] = []
    outputs: list[Message] = []
    reasons: list[str] = []
    for name, payload in events:
        data = load_json(payload)
        if not isinstance(data, Mapping):
            continue
        role = _MESSAGE_EVENTS.get(name)
        if role is not None:
            inputs.extend(parse_parts_messages({**data, "role": to_text(data.get("role")) or role}))
        elif name == _CHOICE_EVENT:
            outputs.extend(_choice_messages(data))
            reasons.extend(_strings([data.get("finish_reason")]))
        elif name == _DETAILS_EVENT:
            inputs.extend(parse_parts_messages(data.get("gen_ai.input.messages")))
            raw_outputs = load_json(data.get("gen_ai.output.messages"))
            outputs.extend(parse_parts_messages(raw_outputs))
            reasons.extend(
                finish_reasons(data.get("gen_ai.response.finish_reasons"))
                or _message_finish_reasons(raw_outputs)
            )
        elif name == _PROMPT_EVENT:
            inputs.extend(parse_parts_messages(data.get("gen_ai.prompt")))
        elif name == _COMPLETION_EVENT:
            outputs.extend(parse_parts_messages(data.get("gen_ai.completion")))
    return MessageContent(tuple(inputs), tuple(outputs), tuple(reasons))


def _choice_messages(data: Mapping[str, object]) -> list[Message]:
    # span event attributes cannot nest a map, so there the message arrives as JSON text
    message = load_json(data.get("message"))
    message = message if isinstance(message, Mapping) else {}
    # OpenLLMetry puts a choice's tool calls beside its message rather than inside it
    tool_calls = message.get("tool_calls", data.get("tool_calls"))
    flat = {"role": to_text(message.get("role")) or "assistant", "content": message.get("content")}
    return parse_parts_messages({**flat, "tool_calls": tool_calls})


def _has_genai_events(events: Iterable[SpanEventData]) -> bool:
    return any(event.name.startswith("gen_ai.") for event in events)


def _event_payloads(events: Iterable[SpanEventData]) -> Iterable[tuple[str, object]]:
    for event in events:
        attributes = event.attributes
        if event.name == _DETAILS_EVENT or event.name in (_PROMPT_EVENT, _COMPLETION_EVENT):
            yield event.name, attributes
        else:
            # span events hold the body as a JSON attribute (`gen_ai.event.content`, `body`) or as
            # attributes of their own
            yield event.name, attributes.get("gen_ai.event.content", attributes.get("body", attributes))
