"""OpenLLMetry (Traceloop) keys beyond GenAI's: its `llm.*` request facts and traceloop-sdk's context.

| key | finding |
|---|---|
| `llm.request.type` | operation; `chat`, `completion`: a model call; `embedding`, `rerank`: not |
| `traceloop.span.kind` `workflow`, `task`, `agent`, `tool` | a wrapper around model calls, not one |
| `llm.usage.total_tokens` | total tokens |
| `llm.response.finish_reason`, `llm.response.stop_reason` | finish reason |
| `traceloop.association.properties.user_id` | user |
| `traceloop.association.properties.session_id` | thread (also `thread_id`, `chat_id`, `conversation_id`) |
| `traceloop.association.properties.<name>` | property `<name>` (short scalar values only) |
| `traceloop.workflow.name` | property `workflow_name` |
| `llm.user` | user: the OpenAI `user=` argument, before OpenLLMetry wrote `gen_ai.user` |

The indexed `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` content and `gen_ai.usage.prompt_tokens` that
OpenLLMetry wrote until 0.47 are GenAI keys, read by `genai`. `traceloop.entity.input` / `output` on
workflow and task spans repeat the calls inside them and are never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from trubrics_otel.mapping._model import (
    Findings,
    Kind,
    SpanData,
    first_text,
    metadata_properties,
    to_int,
    to_text,
)

__all__ = ["recognise"]

ASSOCIATION_PREFIX: Final = "traceloop.association.properties."

_REQUEST_KINDS: Final[Mapping[str, Kind]] = {
    "chat": "llm",
    "completion": "llm",
    "embedding": "other",
    "rerank": "other",
}
_WRAPPER_SPAN_KINDS: Final = frozenset({"workflow", "task", "agent", "tool"})
_USER_KEYS: Final = ("user_id",)
_THREAD_KEYS: Final = ("session_id", "thread_id", "chat_id", "conversation_id")
_TAKEN: Final = frozenset({*_USER_KEYS, *_THREAD_KEYS})
_MARKERS: Final = frozenset({"llm.request.type", "llm.user"})


def recognise(span: SpanData) -> Findings | None:
    """Read OpenLLMetry's `llm.*` and `traceloop.*` keys; None when the span has none."""
    attributes = span.attributes
    traceloop = span.has_key_prefix("traceloop.")
    if not traceloop and attributes.keys().isdisjoint(_MARKERS):
        return None
    request_type = to_text(attributes.get("llm.request.type"))
    llm_user = to_text(attributes.get("llm.user"))
    if not traceloop and request_type is None and llm_user is None:
        return None
    association = _association(attributes) if traceloop else {}
    findings = Findings(
        operation=request_type,
        user_id=first_text(association, *_USER_KEYS) or llm_user,
        thread_id=first_text(association, *_THREAD_KEYS),
        total_tokens=to_int(attributes.get("llm.usage.total_tokens")),
        properties=_properties(association),
    )
    reason = to_text(attributes.get("llm.response.finish_reason")) or to_text(
        attributes.get("llm.response.stop_reason")
    )
    if reason is not None:
        findings.finish_reasons = (reason,)
    workflow = to_text(attributes.get("traceloop.workflow.name"))
    if workflow is not None:
        findings.properties["workflow_name"] = workflow
    if attributes.get("traceloop.span.kind") in _WRAPPER_SPAN_KINDS:
        findings.kind = "other"
    elif request_type is not None:
        findings.kind = _REQUEST_KINDS.get(request_type)
    return findings


def _association(attributes: Mapping[str, object]) -> dict[str, object]:
    size = len(ASSOCIATION_PREFIX)
    return {key[size:]: value for key, value in attributes.items() if key.startswith(ASSOCIATION_PREFIX)}


def _properties(association: Mapping[str, object]) -> dict[str, object]:
    return metadata_properties(association, _TAKEN)
