"""One model call recorded by two instrumentations in two traces: send it once, as the richer record.

Two instrumentations of one call do not always nest. anthropic's client traces every call itself while an
anthropic instrumentation records it too, each in a trace of its own; OpenInference's LangChain spans are
never made current, so the OpenAI instrumentation under them starts a new trace. Both spans describe one
request, and counting both would double every figure.

The rule (`are_twins`):

- two calls of different users are never twins;
- when both carry a response id (`gen_ai.response.id`, `ai.response.id`, the id in OpenInference's
  `output.value`), they are twins exactly when the ids are equal and their spans overlap in time (both
  wrap the one request): a server that reuses ids (a fake, a proxy) does not merge calls made apart;
- otherwise they are twins when both have the same prompt and the same generation, their models agree
  (one names the other, or the other with a date suffix), and their spans overlap in time. The same
  question asked twice, one answer after the other, is two calls.

Of two twins the richer is kept (`richer`): real text beats a placeholder, an instrumentation's span beats
a client library's own tracing, then whichever knows more fields; it is filled with what only the other
knows (a response model, cache tokens) by `merged`. Token counts are the exception: a client library's
own tracing reports its API's usage as it came, where instrumentations sum stream events (OpenLLMetry
counts the output of Anthropic's `message_start` twice), so its counts win. `merge_twin_calls` does
this within one batch, purely; `trubrics_otel._delivery.memory.TwinMemory` remembers the signatures of
the calls sent, so a twin that comes in a later batch, or leaves the content join later, is sent once too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final, NamedTuple

from trubrics_otel.mapping._calls import LLMCall

__all__ = [
    "NATIVE_SCOPES",
    "Signature",
    "are_twins",
    "merge_twin_calls",
    "merged",
    "richer",
]

NATIVE_SCOPES: Final = frozenset({"com.anthropic.sdk.python"})
"""Instrumentation scopes of a client library tracing its own calls (without content by default)."""


class Signature(NamedTuple):
    """What the twin rule compares of a call, small enough to remember thousands."""

    user_id: str | None
    response_id: str | None
    texts: int | None
    """A hash of (prompt, generation) when both are known."""
    models: frozenset[str]
    start: int
    end: int

    @classmethod
    def of(cls, call: LLMCall) -> Signature:
        """Return the signature of a call."""
        found = call.findings
        texts = None
        if found.prompt is not None and found.generation is not None:
            texts = hash((found.prompt, found.generation))
        models = frozenset(
            model
            for model in (found.assistant_id, found.request_model, found.response_model)
            if model is not None
        )
        return cls(found.user_id, found.response_id, texts, models, call.span.start_time, call.span.end_time)


def are_twins(first: Signature, second: Signature) -> bool:
    """Whether two calls are one model call recorded twice (see the module's rule)."""
    if first.user_id is not None and second.user_id is not None and first.user_id != second.user_id:
        return False
    overlap = first.start <= second.end and second.start <= first.end
    if first.response_id is not None and second.response_id is not None:
        return first.response_id == second.response_id and overlap
    return (
        first.texts is not None
        and first.texts == second.texts
        and _models_agree(first.models, second.models)
        and overlap
    )


def _models_agree(first: frozenset[str], second: frozenset[str]) -> bool:
    if not first or not second:
        return True
    return any(a == b or a.startswith(b + "-") or b.startswith(a + "-") for a in first for b in second)


def richer(first: LLMCall, second: LLMCall) -> tuple[LLMCall, LLMCall]:
    """Return (the call to keep, its twin): real text, then an instrumentation's span, then more fields."""
    return (first, second) if _richness(first) >= _richness(second) else (second, first)


_USAGE_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)


def merged(kept: LLMCall, twin: LLMCall) -> LLMCall:
    """Return the kept twin filled with what only the other knows, and a client library's token counts."""
    call = kept.filled_from(twin)
    if twin.span.scope not in NATIVE_SCOPES:
        return call
    counts = {name: value for name in _USAGE_FIELDS if (value := getattr(twin.findings, name)) is not None}
    if not counts:
        return call
    findings = replace(call.findings)
    vars(findings).update(counts)
    if "total_tokens" not in counts:
        findings.total_tokens = None  # the sum of the counts taken, not of the ones replaced
    return replace(call, findings=findings)


def _richness(call: LLMCall) -> tuple[int, bool, int]:
    found = call.findings
    text = (found.prompt is not None) + (found.generation is not None)
    known = sum(value is not None for value in vars(found).values())
    return text, call.span.scope not in NATIVE_SCOPES, known


def merge_twin_calls(calls: Sequence[LLMCall]) -> tuple[list[LLMCall], list[LLMCall]]:
    """Return (the calls to send, the twins merged away) for calls of one batch.

    Twins share a response id or a hash of their texts (see `are_twins`), so each call is compared only
    with the calls seen that share one of those: a batch costs its length, not its length squared.
    """
    if len(calls) < 2:
        return list(calls), []
    kept: list[LLMCall] = []
    signatures: list[Signature] = []
    merged_away: list[LLMCall] = []
    by_key: dict[tuple[bool, object], list[int]] = {}  # (is a response id, the id or the texts' hash)
    for call in calls:
        signature = Signature.of(call)
        index = _first_twin(signature, signatures, by_key)
        if index is None:
            kept.append(call)
            signatures.append(signature)
            _index(len(signatures) - 1, signature, by_key)
            continue
        winner, twin = richer(kept[index], call)
        kept[index] = merged(winner, twin)
        signatures[index] = Signature.of(kept[index])
        _index(index, signatures[index], by_key)  # the merged call may have gained an id or its texts
        merged_away.append(twin)
    return kept, merged_away


def _keys(signature: Signature) -> list[tuple[bool, object]]:
    keys: list[tuple[bool, object]] = []
    if signature.response_id is not None:
        keys.append((True, signature.response_id))
    if signature.texts is not None:
        keys.append((False, signature.texts))
    return keys


def _index(index: int, signature: Signature, by_key: dict[tuple[bool, object], list[int]]) -> None:
    for key in _keys(signature):
        indices = by_key.setdefault(key, [])
        if index not in indices:
            indices.append(index)


def _first_twin(
    signature: Signature, signatures: list[Signature], by_key: dict[tuple[bool, object], list[int]]
) -> int | None:
    """The first call seen that is a twin of `signature`; only those sharing an id or texts can be."""
    candidates = sorted({index for key in _keys(signature) for index in by_key.get(key, ())})
    return next((index for index in candidates if are_twins(signatures[index], signature)), None)


def __getattr__(name: str) -> object:
    # TwinMemory is delivery state now; the old import path keeps working
    if name == "TwinMemory":
        from trubrics_otel._delivery.memory import TwinMemory  # noqa: PLC0415 - state, kept out of mapping

        return TwinMemory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
