"""LiteLLM's own OpenTelemetry callback (`litellm.callbacks = ["otel"]`): what its GenAI keys leave out.

Its `litellm_request` span carries the current GenAI keys, which the `genai` recogniser reads, but no
cache or reasoning token counts: those are only inside `metadata.usage_object`, the provider's usage as a
Python dict's repr (`{'prompt_tokens_details': {'cached_tokens': 5}, ...}`), read here with
`ast.literal_eval`, which evaluates literals only.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Final

from trubrics_otel.mapping._model import Findings, SpanData
from trubrics_otel.mapping._reading import is_mapping, to_int

__all__ = ["recognise"]

SCOPE: Final = "litellm"
_MAX_USAGE_TEXT: Final = 4096
"""A usage repr longer than this is not LiteLLM's usage: it is not evaluated."""


def recognise(span: SpanData) -> Findings | None:
    """Read the cache and reasoning tokens of a LiteLLM request span; None for any other span."""
    if span.scope != SCOPE:
        return None
    usage = _usage(span.attributes.get("metadata.usage_object"))
    if usage is None:
        return None
    inputs = usage.get("prompt_tokens_details")
    outputs = usage.get("completion_tokens_details")
    return Findings(
        cache_read_tokens=to_int(inputs.get("cached_tokens")) if is_mapping(inputs) else None,
        cache_creation_tokens=to_int(usage.get("cache_creation_input_tokens")),
        reasoning_tokens=to_int(outputs.get("reasoning_tokens")) if is_mapping(outputs) else None,
    )


def _usage(value: object) -> Mapping[str, object] | None:
    if is_mapping(value):
        return value
    if not isinstance(value, str) or not value.startswith("{") or len(value) > _MAX_USAGE_TEXT:
        return None
    try:
        usage = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return usage if isinstance(usage, dict) else None
