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
this within one batch, purely.
`TwinMemory` remembers what was sent for `window` seconds (at most `max_calls` calls, as small
signatures), so a twin that comes in a later batch, or leaves the content join later, is recognised and
not sent again.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Final, NamedTuple

from trubrics_otel.mapping._calls import LLMCall

__all__ = [
    "NATIVE_SCOPES",
    "Signature",
    "TwinMemory",
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
    """Return (the calls to send, the twins merged away) for calls of one batch."""
    if len(calls) < 2:
        return list(calls), []
    kept: list[LLMCall] = []
    signatures: list[Signature] = []
    merged_away: list[LLMCall] = []
    for call in calls:
        signature = Signature.of(call)
        index = next((i for i, seen in enumerate(signatures) if are_twins(seen, signature)), None)
        if index is None:
            kept.append(call)
            signatures.append(signature)
            continue
        winner, twin = richer(kept[index], call)
        kept[index] = merged(winner, twin)
        signatures[index] = Signature.of(kept[index])
        merged_away.append(twin)
    return kept, merged_away


class TwinMemory:
    """The signatures of calls sent recently, to recognise a twin that comes later.

    Args:
        window: seconds a sent call is remembered.
        max_calls: the most calls remembered; past it the oldest is forgotten.
    """

    def __init__(self, window: float = 60.0, max_calls: int = 10_000) -> None:
        self.window = window
        self.max_calls = max_calls
        self._lock = threading.Lock()
        self._sent: deque[tuple[float, Signature]] = deque()
        # response id -> signatures with it; the rest are compared one by one, by their texts' hash
        self._by_id: dict[str, Signature] = {}
        self._by_texts: dict[int, list[Signature]] = {}
        _memories.add(self)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sent)

    def settle(self, calls: Sequence[LLMCall], now: float) -> tuple[list[LLMCall], list[LLMCall]]:
        """Return (the calls to send, the twins merged or already sent), remembering what is sent."""
        kept, merged = merge_twin_calls(calls)
        if not kept:
            return kept, merged
        send: list[LLMCall] = []
        with self._lock:
            self._forget(now)
            for call in kept:
                signature = Signature.of(call)
                if self._seen(signature):
                    merged.append(call)
                    continue
                send.append(call)
                self._remember(signature, now)
        return send, merged

    def _seen(self, signature: Signature) -> bool:
        if signature.response_id is not None:
            earlier = self._by_id.get(signature.response_id)
            if earlier is not None and are_twins(earlier, signature):
                return True
        if signature.texts is None:
            return False
        return any(are_twins(earlier, signature) for earlier in self._by_texts.get(signature.texts, ()))

    def _remember(self, signature: Signature, now: float) -> None:
        self._sent.append((now + self.window, signature))
        if signature.response_id is not None:
            self._by_id[signature.response_id] = signature
        if signature.texts is not None:
            self._by_texts.setdefault(signature.texts, []).append(signature)
        while len(self._sent) > self.max_calls:
            self._drop_oldest()

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, signature = self._sent.popleft()
        if signature.response_id is not None and self._by_id.get(signature.response_id) is signature:
            del self._by_id[signature.response_id]
        if signature.texts is not None:
            same = self._by_texts.get(signature.texts)
            if same is not None:
                same.remove(signature)
                if not same:
                    del self._by_texts[signature.texts]

    def _forget_after_fork(self) -> None:
        """Start empty in a forked child, with a lock no thread of the parent holds."""
        self._lock = threading.Lock()
        self._sent.clear()
        self._by_id.clear()
        self._by_texts.clear()


_memories: weakref.WeakSet[TwinMemory] = weakref.WeakSet()


def _forget_after_fork() -> None:
    for memory in list(_memories):
        memory._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
