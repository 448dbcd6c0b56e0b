"""Langfuse's span keys: its SDK's `langfuse.*` attributes, and what its ingestion accepts from others.

| key | finding |
|---|---|
| `langfuse.observation.type` | `generation`: a model call; `span`, `event`, `agent`, `tool`, ...: not |
| `langfuse.observation.model.name` | response model (what the integrations write) |
| `langfuse.observation.input` (messages, `{"messages": ...}`, `{"args": [...]}`, text) | prompt |
| `langfuse.observation.output` (a message, messages, or a string) | generation |
| `langfuse.observation.usage_details` (JSON) | token counts, cached input and reasoning tokens |
| metadata `finish_reason` | finish reasons |
| `langfuse.user.id`, else metadata `langfuse_user_id` | user |
| `langfuse.session.id`, else metadata `langfuse_session_id` | thread |
| `langfuse.observation.metadata`, `langfuse.trace.metadata` | properties (short scalar values only) |
| `langfuse.observation.prompt.name`, `.version` | properties `prompt_name`, `prompt_version` |
| `langfuse.trace.name`, `langfuse.trace.tags` | properties `trace_name`, `tags` |
| `langfuse.environment`, `langfuse.release` | properties `environment`, `release` |

Metadata is one JSON object in current SDKs and one attribute per key (`.metadata.<key>`) in SDK 3.x;
SDK 5.x JSON-encodes each such value (a string arrives with its quotes), which is decoded. An
observation's keys win over its trace's. The SDK also writes `user.id` and `session.id`, which
`otel_general` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from trubrics_otel.mapping._messages import assistant_text, last_user_text, parse_parts_messages
from trubrics_otel.mapping._model import Findings, SpanData
from trubrics_otel.mapping._reading import first_int, load_json, metadata_properties, to_text

__all__ = ["recognise"]

OBSERVATION_METADATA: Final = "langfuse.observation.metadata"
TRACE_METADATA: Final = "langfuse.trace.metadata"

_PROPERTY_KEYS: Final = {
    "langfuse.observation.prompt.name": "prompt_name",
    "langfuse.observation.prompt.version": "prompt_version",
    "langfuse.trace.name": "trace_name",
    "langfuse.trace.tags": "tags",
    "langfuse.environment": "environment",
    "langfuse.release": "release",
}
_INPUT_KEYS: Final = ("input", "input_tokens", "prompt_tokens")
_OUTPUT_KEYS: Final = ("output", "output_tokens", "completion_tokens")
_TOTAL_KEYS: Final = ("total", "total_tokens")
_CACHE_READ_KEYS: Final = (
    "input_cached_tokens",
    "input_cache_read",
    "cache_read_input_tokens",
    "cached_tokens",
)
_REASONING_KEYS: Final = ("output_reasoning_tokens", "output_reasoning", "reasoning_tokens")


def recognise(span: SpanData) -> Findings | None:
    """Read Langfuse's keys; None when the span has no `langfuse.*` key."""
    attributes = span.attributes
    if not span.has_key_prefix("langfuse."):
        return None
    # an observation's metadata is more specific than its trace's, so it wins
    metadata = _metadata(attributes, TRACE_METADATA)
    metadata.update(_metadata(attributes, OBSERVATION_METADATA))
    user_id = to_text(metadata.pop("langfuse_user_id", None))
    thread_id = to_text(metadata.pop("langfuse_session_id", None))
    findings = Findings(
        user_id=to_text(attributes.get("langfuse.user.id")) or user_id,
        thread_id=to_text(attributes.get("langfuse.session.id")) or thread_id,
        properties=_properties(attributes, metadata),
    )
    observation_type = to_text(attributes.get("langfuse.observation.type"))
    if observation_type is None:
        return findings
    if observation_type != "generation":
        findings.kind = "other"
        return findings
    findings.kind = "llm"
    findings.response_model = to_text(attributes.get("langfuse.observation.model.name"))
    reason = to_text(findings.properties.pop("finish_reason", None))
    if reason is not None:
        findings.finish_reasons = (reason,)
    findings.prompt = _prompt(attributes.get("langfuse.observation.input"))
    findings.generation = _generation(attributes.get("langfuse.observation.output"))
    usage = load_json(attributes.get("langfuse.observation.usage_details"))
    if isinstance(usage, Mapping):
        findings.input_tokens = first_int(usage, *_INPUT_KEYS)
        findings.output_tokens = first_int(usage, *_OUTPUT_KEYS)
        findings.total_tokens = first_int(usage, *_TOTAL_KEYS)
        findings.cache_read_tokens = first_int(usage, *_CACHE_READ_KEYS) or _nested(
            usage, "prompt_tokens_details", "cached_tokens"
        )
        findings.reasoning_tokens = first_int(usage, *_REASONING_KEYS)
        if findings.reasoning_tokens is None:
            findings.reasoning_tokens = _nested(usage, "completion_tokens_details", "reasoning_tokens")
    return findings


def _nested(usage: Mapping[str, object], details: str, key: str) -> int | None:
    """Return a count OpenAI nests in its usage (`prompt_tokens_details.cached_tokens`), maybe flattened."""
    inner = load_json(usage.get(details))
    if isinstance(inner, Mapping):
        return first_int(inner, key)
    return first_int(usage, f"{details}.{key}")


def _metadata(attributes: Mapping[str, object], key: str) -> dict[str, object]:
    """Return metadata written as one JSON object (current SDKs) or one attribute per key (SDK 3.x)."""
    whole = load_json(attributes.get(key))
    found: dict[str, object] = dict(whole) if isinstance(whole, Mapping) else {}
    prefix = key + "."
    for name, value in attributes.items():
        if name.startswith(prefix):
            found[name[len(prefix) :]] = _json_string(value)
    return found


def _json_string(value: object) -> object:
    """Return a JSON-encoded string decoded (SDK 5.x writes `"stop"` with its quotes); anything else as is."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        decoded = load_json(value)
        if isinstance(decoded, str):
            return decoded
    return value


def _properties(attributes: Mapping[str, object], metadata: Mapping[str, object]) -> dict[str, object]:
    properties = metadata_properties(metadata)
    for key, name in _PROPERTY_KEYS.items():
        value = attributes.get(key)
        if value is not None:
            properties[name] = list(value) if isinstance(value, (list, tuple)) else value
    return properties


def _decoded(value: object) -> object:
    # Langfuse writes strings as they are and everything else as JSON, so text that is not JSON is text.
    if isinstance(value, str):
        decoded = load_json(value)
        return value if decoded is None else decoded
    return value


def _prompt(value: object) -> str | None:
    data = _decoded(value)
    if isinstance(data, str):
        return to_text(data)
    if isinstance(data, Mapping):
        if "messages" in data:
            data = data["messages"]
        elif isinstance(data.get("args"), list):
            # `@observe`'s record of a call: the decorated function's arguments; the messages are the
            # last argument that is a list
            lists = [argument for argument in data["args"] if isinstance(argument, list)]
            data = lists[-1] if lists else data.get("args")
        else:
            for key in ("prompt", "input", "query", "question"):
                if isinstance(data.get(key), str):
                    return to_text(data.get(key))
    if isinstance(data, (list, Mapping)):
        return last_user_text(message for message in parse_parts_messages(data) if message.text)
    return None


def _generation(value: object) -> str | None:
    data = _decoded(value)
    if isinstance(data, str):
        return to_text(data)
    if isinstance(data, Mapping) and isinstance(data.get("choices"), list):
        data = [choice.get("message") for choice in data["choices"] if isinstance(choice, Mapping)]
    if isinstance(data, (list, Mapping)):
        return assistant_text(parse_parts_messages(data))
    return None
