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

from trubrics_otel.mapping._model import Findings, Kind, SpanData
from trubrics_otel.mapping._reading import (
    MetadataKeys,
    prefixed,
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
_ASSOCIATION_KEYS: Final = MetadataKeys(
    user=("user_id",), thread=("session_id", "thread_id", "chat_id", "conversation_id")
)
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
    findings = _ASSOCIATION_KEYS.findings(prefixed(attributes, ASSOCIATION_PREFIX) if traceloop else {})
    findings.operation = request_type
    findings.user_id = findings.user_id or llm_user
    findings.total_tokens = to_int(attributes.get("llm.usage.total_tokens"))
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
