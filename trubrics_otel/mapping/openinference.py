"""OpenInference (Arize Phoenix) keys: `openinference.span.kind`, `llm.*`, `input.value` / `output.value`.

| key | finding |
|---|---|
| `openinference.span.kind` | `LLM`: a model call; `CHAIN`, `AGENT`, `TOOL`, `EMBEDDING`, ...: not |
| `llm.request.model_name`, else `model` in `llm.invocation_parameters` | request model |
| `llm.response.model_name`, else `llm.model_name` | response model (see below) |
| `llm.provider`, else `llm.system` | provider |
| `llm.input_messages.{i}.message.content` (or `.contents.{j}.message_content.text`) | prompt |
| `llm.output_messages.{i}.message.*`, with `.tool_calls.{k}.tool_call.function.*` | generation |
| `llm.prompts.{i}.prompt.text`, `llm.choices.{i}.completion.text` | the same, for completion calls |
| `input.value`, `output.value` (JSON request and response, or plain text) | the same, as a last resort |
| `llm.token_count.prompt` / `completion` / `total` | token counts |
| `llm.token_count.prompt_details.cache_read` | cached input tokens |
| `llm.token_count.completion_details.reasoning` | reasoning tokens |
| `llm.finish_reason` | finish reason |
| `metadata` (JSON) `user_id`, `session_id` | user and thread |
| `metadata` (JSON), other keys | properties (short scalar values only) |
| `tag.tags` | property `tags` |

OpenAI's instrumentation puts the *response* model in `llm.model_name` (and in `gen_ai.request.model`
when it also writes GenAI keys); the request model is only in `llm.invocation_parameters`. `user.id` and
`session.id`, which `using_attributes` sets, are general keys read by `otel_general`. A value hidden by
`OPENINFERENCE_HIDE_*` reads `__REDACTED__` and counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

from trubrics_otel.mapping._messages import (
    Message,
    ToolCall,
    assistant_text,
    content_text,
    last_user_text,
    parse_parts_messages,
)
from trubrics_otel.mapping._model import Findings, SpanData
from trubrics_otel.mapping._reading import (
    MetadataKeys,
    first_text,
    indexed,
    is_mapping,
    load_json,
    to_int,
    to_text,
)

__all__ = ["recognise"]

REDACTED: Final = "__REDACTED__"
"""What OpenInference writes in place of a value it was told to hide."""

_ANSWER_KEYS: Final = frozenset({"choices", "content", "output"})
"""Keys of a response that holds an answer (a completion, a message, a Responses-API object)."""
_AGENTS_PLACEHOLDER_ID: Final = "__fake_id__"
"""The Responses id the OpenAI Agents SDK writes for a call through its chat-completions model."""

_METADATA_KEYS: Final = MetadataKeys(user=("user_id",), thread=("session_id",))

_NOT_CALL_KINDS: Final = frozenset(
    {"CHAIN", "AGENT", "TOOL", "EMBEDDING", "RETRIEVER", "RERANKER", "GUARDRAIL", "EVALUATOR", "PROMPT"}
)


def recognise(span: SpanData) -> Findings | None:
    """Read OpenInference's keys; None when the span has no `openinference.span.kind`."""
    attributes = span.attributes
    span_kind = attributes.get("openinference.span.kind")
    if span_kind is None:
        return None
    findings = _metadata_findings(attributes)
    span_kind = str(span_kind).upper()
    if span_kind in _NOT_CALL_KINDS:
        findings.kind = "other"
        return findings
    if span_kind != "LLM":
        return findings
    if _prepares_a_request(span):
        findings.kind = "other"
        return findings
    findings.kind = "llm"
    findings.request_model = to_text(attributes.get("llm.request.model_name")) or _invocation_model(
        attributes.get("llm.invocation_parameters")
    )
    findings.response_model = to_text(attributes.get("llm.response.model_name")) or to_text(
        attributes.get("llm.model_name")
    )
    findings.provider = to_text(attributes.get("llm.provider")) or to_text(attributes.get("llm.system"))
    findings.input_tokens = to_int(attributes.get("llm.token_count.prompt"))
    findings.output_tokens = to_int(attributes.get("llm.token_count.completion"))
    findings.total_tokens = to_int(attributes.get("llm.token_count.total"))
    findings.cache_read_tokens = to_int(attributes.get("llm.token_count.prompt_details.cache_read"))
    findings.cache_creation_tokens = to_int(attributes.get("llm.token_count.prompt_details.cache_write"))
    findings.reasoning_tokens = to_int(attributes.get("llm.token_count.completion_details.reasoning"))
    reason = attributes.get("llm.finish_reason")
    if isinstance(reason, (list, tuple)):
        findings.finish_reasons = tuple(str(item) for item in reason) or None
    elif (text := to_text(reason)) is not None:
        findings.finish_reasons = (text,)
    findings.prompt = _prompt(attributes)
    findings.generation = _generation(attributes)
    if (
        findings.generation is None
        or findings.response_model in (None, findings.request_model)
        or (findings.cache_read_tokens is None and _output_is_a_list(attributes))
    ):
        # what the flattened keys lack may be in the response itself (streams, the Agents SDK)
        _read_response(_output_json(attributes), findings)
    if findings.response_id is None:
        findings.response_id = _leading_id(attributes.get("output.value"))
    return findings


_LEADING_ID: Final = re.compile(r'\{\s*"id"\s*:\s*"([^"]+)"')


def _leading_id(value: object) -> str | None:
    """Return the `id` a provider's response JSON starts with (`{"id":"msg_...`), without decoding it all.

    The id is what recognises one call recorded in two traces, and a span's output can be long.
    """
    if not isinstance(value, str):
        return None
    found = _LEADING_ID.match(value, 0, 200)
    return found.group(1) if found is not None and found.group(1) != _AGENTS_PLACEHOLDER_ID else None


def _prepares_a_request(span: SpanData) -> bool:
    """Whether an `LLM` span only prepared a request it never sent.

    llama-index's `_prepare_chat_with_tools` is such a span: no tokens, no answer, and an output that is
    the request's messages and tools.
    """
    if span.has_key_prefix("llm.token_count.", "llm.output_messages.", "llm.choices."):
        return False
    output = _output_json(span.attributes)
    return (
        is_mapping(output) and "messages" in output and not output.keys() & {"choices", "content", "output"}
    )


def _output_is_a_list(attributes: Mapping[str, object]) -> bool:
    value = attributes.get("output.value")
    return isinstance(value, str) and value.startswith("[")


def _output_json(attributes: Mapping[str, object]) -> object:
    value = to_text(attributes.get("output.value"))
    return None if value is None else _json_value(value, attributes.get("output.mime_type"))


def _read_response(response: object, findings: Findings) -> None:
    """Fill what the flattened keys lacked from the response in `output.value`.

    The response is an OpenAI completion, a Responses-API object (alone or in a list, as the Agents SDK
    streams it), or LangChain's `LLMResult`.
    """
    if isinstance(response, list) and response:
        response = response[-1]
    if not is_mapping(response):
        return
    model, response_id = _response_identity(response)
    if model is not None and findings.response_model in (None, findings.request_model):
        findings.response_model = model
    findings.response_id = findings.response_id or response_id
    if findings.generation is None:
        findings.generation = _response_text(response)
    usage = response.get("usage")
    if is_mapping(usage):
        inputs = usage.get("input_tokens_details") or usage.get("prompt_tokens_details")
        outputs = usage.get("output_tokens_details") or usage.get("completion_tokens_details")
        if findings.cache_read_tokens is None and is_mapping(inputs):
            findings.cache_read_tokens = to_int(inputs.get("cached_tokens"))
        if findings.reasoning_tokens is None and is_mapping(outputs):
            findings.reasoning_tokens = to_int(outputs.get("reasoning_tokens"))


def _response_identity(response: Mapping[str, object]) -> tuple[str | None, str | None]:
    """Return the response model and id a response names, wherever its shape keeps them."""
    generations = response.get("generations")
    if isinstance(generations, list):  # LangChain's LLMResult: the first generation's metadata
        first = (
            generations[0][0] if generations and isinstance(generations[0], list) and generations[0] else {}
        )
        info = first.get("generation_info") if is_mapping(first) else None
        message = first.get("message") if is_mapping(first) else None
        kwargs = message.get("kwargs") if is_mapping(message) else None
        metadata = kwargs.get("response_metadata") if is_mapping(kwargs) else None
        output = response.get("llm_output")
        model = first_text(metadata, "model_name") if is_mapping(metadata) else None
        model = model or (first_text(info, "model_name") if is_mapping(info) else None)
        model = model or (first_text(output, "model_name") if is_mapping(output) else None)
        response_id = first_text(metadata, "id") if is_mapping(metadata) else None
        return model, response_id or (first_text(output, "id") if is_mapping(output) else None)
    response_id = to_text(response.get("id"))
    if response_id == _AGENTS_PLACEHOLDER_ID:
        # the Agents SDK's chat-completions model fakes the Responses id; the real one is in provider_data
        output = response.get("output")
        items = output if isinstance(output, list) else []
        data = [item.get("provider_data") for item in items if is_mapping(item)]
        response_id = next((first_text(d, "response_id") for d in data if is_mapping(d)), None)
    return to_text(response.get("model")), response_id


def _metadata_findings(attributes: Mapping[str, object]) -> Findings:
    metadata = load_json(attributes.get("metadata"))
    findings = _METADATA_KEYS.findings(metadata) if isinstance(metadata, Mapping) else Findings()
    tags = attributes.get("tag.tags")
    if isinstance(tags, (list, tuple)) and tags:
        findings.properties["tags"] = [str(tag) for tag in tags]
    return findings


def _invocation_model(value: object) -> str | None:
    parameters = load_json(value)
    if not isinstance(parameters, Mapping):
        return None
    return to_text(parameters.get("model")) or to_text(parameters.get("model_name"))


def _prompt(attributes: Mapping[str, object]) -> str | None:
    messages = _messages(indexed(attributes, "llm.input_messages."))
    if messages:
        return _visible(last_user_text(message for message in messages if message.text))
    plain = attributes.get("llm.prompts")
    if isinstance(plain, (list, tuple)) and plain:
        # llama-index's `complete()`: the prompts as a list of strings
        return _visible(to_text(plain[-1]))
    prompts = [to_text(item.get("prompt.text")) for item in indexed(attributes, "llm.prompts.")]
    if prompts and prompts[-1] is not None:
        return _visible(prompts[-1])
    value = _visible(to_text(attributes.get("input.value")))
    if value is None:
        return None
    request = _json_value(value, attributes.get("input.mime_type"))
    if request is None:
        return value
    if isinstance(request, Mapping):
        if "messages" in request:
            return last_user_text(
                message for message in parse_parts_messages(request["messages"]) if message.text
            )
        return to_text(request.get("prompt")) if isinstance(request.get("prompt"), str) else None
    return None


def _generation(attributes: Mapping[str, object]) -> str | None:
    messages = _messages(indexed(attributes, "llm.output_messages."))
    if messages:
        return _visible(assistant_text(messages))
    choices = [to_text(item.get("completion.text")) for item in indexed(attributes, "llm.choices.")]
    if any(choices):
        return "\n".join(choice for choice in choices if choice)
    value = _visible(to_text(attributes.get("output.value")))
    if value is None:
        return None
    response = _json_value(value, attributes.get("output.mime_type"))
    if response is None:
        return value
    return _response_text(response)


def _json_value(value: str, mime_type: object) -> object:
    """Return a JSON value decoded, or None when the value is plain text."""
    if mime_type == "application/json" or (mime_type is None and value.startswith(("[", "{"))):
        return load_json(value)
    return None


def _response_text(response: object) -> str | None:
    if not isinstance(response, Mapping):
        return None
    choices = response.get("choices")
    if isinstance(choices, list):
        # a chat completion: each choice holds a message; a text completion holds `text`
        messages = [choice.get("message") for choice in choices if isinstance(choice, Mapping)]
        answer = assistant_text(parse_parts_messages([m for m in messages if isinstance(m, Mapping)]))
        if answer is not None:
            return answer
        texts = [choice.get("text") for choice in choices if isinstance(choice, Mapping)]
        return "\n".join(text for text in texts if isinstance(text, str)) or None
    if "content" in response:
        # an Anthropic message: content blocks
        return content_text(response["content"]) or None
    output = response.get("output")
    if isinstance(output, list):
        # a Responses-API object: message items hold `output_text` parts, function calls stand alone
        texts = [
            content_text(item.get("content")) for item in output if is_mapping(item) and "content" in item
        ]
        calls = [
            ToolCall(to_text(item.get("name")) or "tool", to_text(item.get("arguments")) or "").render()
            for item in output
            if is_mapping(item) and item.get("type") == "function_call"
        ]
        return "\n".join([text for text in texts if text] + calls) or None
    return None


def _visible(text: str | None) -> str | None:
    return None if text == REDACTED else text


def _messages(items: Iterable[Mapping[str, object]]) -> list[Message]:
    return [_message(item) for item in items]


def _message(item: Mapping[str, object]) -> Message:
    role = to_text(item.get("message.role")) or ""
    text = to_text(item.get("message.content"))
    if len(item) <= 2 and text is not None:
        # the common message is a role and a content: nothing more to gather
        return Message(role, text)
    if text is None:
        parts = indexed(item, "message.contents.")
        texts = [
            str(part["message_content.text"])
            for part in parts
            if part.get("message_content.type", "text") == "text"
            and part.get("message_content.text") is not None
        ]
        text = "\n".join(texts)
    calls = tuple(
        ToolCall(
            to_text(call.get("tool_call.function.name")) or "tool",
            to_text(call.get("tool_call.function.arguments")) or "",
        )
        for call in indexed(item, "message.tool_calls.")
    )
    return Message(role, text, calls)
