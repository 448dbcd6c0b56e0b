"""What pydantic-ai and Logfire write beyond the GenAI keys (current versions' are read by `genai`).

| key | finding |
|---|---|
| `gen_ai.operation.name=invoke_agent`, `agent_name`, `final_result`, ... | the agent run: not a call |
| `metadata` (JSON) on the agent run span: `user_id`, `session_id` / `thread_id` | user and thread |
| `metadata` (JSON) on the agent run span, other keys | properties (short scalar values only) |
| `events` (JSON list of GenAI events) on a model request span | prompt, generation (pydantic-ai < 1.0) |
| `tool_arguments`, `tool_response` | an older tool run span, not a model call |
| Logfire `request_data` / `response_data` (JSON) | a call traced by `logfire.instrument_openai` & co |
| Logfire `logfire.span_type=log` "streaming response ..." | the streamed call: answer, latency (`duration`) |
| Logfire request span whose `request_data` has `"stream": true` | not the call (see above) |

`gen_ai.aggregated_usage.*` on the agent run span totals the whole run and is never read as a call's.
pydantic-ai 2.x puts a streamed answer on the model request span itself; only Logfire's own client
integrations still split a streamed call into a request span and a zero-length "streaming response"
record, and only the latter carries the answer and usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from trubrics_otel.mapping._messages import assistant_text, content_text, parse_parts_messages
from trubrics_otel.mapping._model import Findings, SpanData
from trubrics_otel.mapping._reading import (
    MetadataKeys,
    load_json,
    to_int,
    to_text,
)
from trubrics_otel.mapping.genai import content_from_events, prompt_text

__all__ = ["recognise"]

_AGENT_KEYS: Final = frozenset(
    {"agent_name", "pydantic_ai.all_messages", "all_messages_events", "final_result"}
)
_TOOL_KEYS: Final = frozenset({"tool_arguments", "tool_response"})
_STREAM_LOG_TEMPLATE: Final = "streaming response"
_METADATA_KEYS: Final = MetadataKeys(user=("user_id",), thread=("session_id", "thread_id"))
# Any one of these, or an `invoke_agent` operation, says the span is pydantic-ai's or Logfire's.
_MARKERS: Final = frozenset({*_AGENT_KEYS, *_TOOL_KEYS, "request_data", "events"})


def recognise(span: SpanData) -> Findings | None:
    """Read pydantic-ai's and Logfire's own keys; None when the span has none."""
    attributes = span.attributes
    if attributes.keys().isdisjoint(_MARKERS) and attributes.get("gen_ai.operation.name") != "invoke_agent":
        return None
    if _is_agent_run(attributes):
        return _agent_run(attributes)
    if "request_data" in attributes:
        return _logfire_call(attributes)
    if "events" in attributes:
        return _model_request(attributes)
    if not attributes.keys().isdisjoint(_TOOL_KEYS):
        return Findings(kind="other")
    return None


def _is_agent_run(attributes: Mapping[str, object]) -> bool:
    return attributes.get("gen_ai.operation.name") == "invoke_agent" or not attributes.keys().isdisjoint(
        _AGENT_KEYS
    )


def _agent_run(attributes: Mapping[str, object]) -> Findings:
    metadata = load_json(attributes.get("metadata"))
    findings = _METADATA_KEYS.findings(metadata) if isinstance(metadata, Mapping) else Findings()
    findings.kind = "other"
    return findings


def _model_request(attributes: Mapping[str, object]) -> Findings | None:
    events = load_json(attributes.get("events"))
    if not isinstance(events, list):
        return None
    content = content_from_events(_named(events))
    if not content.inputs and not content.outputs:
        return None
    return Findings(
        kind="llm",
        prompt=content.prompt,
        generation=content.generation,
        finish_reasons=content.finish_reasons or None,
    )


def _named(events: Iterable[object]) -> Iterable[tuple[str, object]]:
    # pydantic-ai flattened each event into one dict: its body's keys plus `event.name`
    for event in events:
        if isinstance(event, Mapping):
            name = to_text(event.get("event.name"))
            if name is not None:
                yield name, event


def _logfire_call(attributes: Mapping[str, object]) -> Findings:
    request = load_json(attributes.get("request_data"))
    request = request if isinstance(request, Mapping) else {}
    if request.get("stream") is True and not _is_stream_log(attributes):
        # a stream's answer and usage arrive on the "streaming response" record, which is the call
        return Findings(kind="other")
    findings = Findings(kind="llm", request_model=to_text(request.get("model")))
    if _is_stream_log(attributes):
        # a zero-length record written when the stream ended; the time it took is an attribute
        duration = attributes.get("duration")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration >= 0:
            findings.latency = float(duration)
    messages = request.get("messages")
    if isinstance(messages, list):
        findings.prompt = prompt_text(parse_parts_messages(messages))
    elif isinstance(request.get("prompt"), str):
        findings.prompt = to_text(request.get("prompt"))
    response = load_json(attributes.get("response_data"))
    if isinstance(response, Mapping):
        _read_response(response, findings)
    return findings


def _is_stream_log(attributes: Mapping[str, object]) -> bool:
    template = attributes.get("logfire.msg_template")
    return (
        attributes.get("logfire.span_type") == "log"
        and isinstance(template, str)
        and template.startswith(_STREAM_LOG_TEMPLATE)
    )


def _read_response(response: Mapping[str, object], findings: Findings) -> None:
    message = response.get("message")
    if isinstance(message, Mapping):
        findings.generation = assistant_text(parse_parts_messages({"role": "assistant", **message}))
    elif isinstance(response.get("combined_chunk_content"), str):
        findings.generation = to_text(response.get("combined_chunk_content"))
    elif "content" in response:
        findings.generation = content_text(response.get("content")) or None
    elif isinstance(response.get("text"), str):
        findings.generation = to_text(response.get("text"))
    reason = to_text(response.get("finish_reason")) or to_text(response.get("stop_reason"))
    if reason is not None:
        findings.finish_reasons = (reason,)
    usage = response.get("usage")
    if isinstance(usage, Mapping):
        findings.input_tokens = to_int(usage.get("prompt_tokens", usage.get("input_tokens")))
        findings.output_tokens = to_int(usage.get("completion_tokens", usage.get("output_tokens")))
        findings.total_tokens = to_int(usage.get("total_tokens"))
