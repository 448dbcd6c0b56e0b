"""What a span is for Trubrics: recognisers combined, model calls and product events.

Each attribute convention has one recogniser (a module of this package) that reads what it knows off a
`SpanData` into `Findings`. `combine` merges them field by field: for each field the first recogniser in
that field's precedence list that found a value wins. The precedence below is the only place where
conventions meet.

- user_id: trubrics, otel_general (`user.id`, `enduser.id`), langfuse, openllmetry, openinference, genai
  (`gen_ai.user`), vercel, pydantic_ai, litellm.
- thread_id: trubrics, genai (`gen_ai.conversation.id`), otel_general (`session.id`), langfuse,
  openllmetry, openinference, vercel, pydantic_ai, litellm.
- kind: trubrics, pydantic_ai, genai, openllmetry, openinference, langfuse, vercel, litellm, otel_general.
- every other field (prompt, generation, models, provider, tokens, ...): trubrics, genai, openllmetry,
  openinference, pydantic_ai, langfuse, vercel, litellm, otel_general.
- properties: all merged; a higher recogniser's key replaces a lower one's.

`interpret` decides what a span is: an `LLMCall` (one per model call; wrappers, embeddings and
retrievals are not), an `Event` (a span carrying `trubrics.event`), or nothing. An `LLMCall` may lack
its text when the instrumentation keeps content in log records; `LLMCall.to_event` fills the gap with a
placeholder, and `LLMCall.with_content` is how the log join completes it.

Nothing here performs I/O or touches SDK objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Final

from trubrics_otel._events import Event, LLMEvent
from trubrics_otel.mapping import (  # the recognisers: modules of this package
    genai,
    langfuse,
    litellm,
    openinference,
    openllmetry,
    otel_general,
    pydantic_ai,
    trubrics_keys,
    vercel,
)
from trubrics_otel.mapping._model import Findings, SpanData

__all__ = [
    "PRECEDENCE",
    "RECOGNISERS",
    "LLMCall",
    "MappingOptions",
    "combine",
    "findings_properties",
    "interpret",
    "merge_nested_calls",
    "recognise",
    "recognise_all",
]

Recogniser = Callable[[SpanData], "Findings | None"]

RECOGNISERS: Final[dict[str, Recogniser]] = {
    "trubrics": trubrics_keys.recognise,
    "genai": genai.recognise,
    "openllmetry": openllmetry.recognise,
    "openinference": openinference.recognise,
    "pydantic_ai": pydantic_ai.recognise,
    "langfuse": langfuse.recognise,
    "vercel": vercel.recognise,
    "litellm": litellm.recognise,
    "otel_general": otel_general.recognise,
}
"""Every recogniser by name, in the default precedence."""

_DEFAULT_ORDER: Final = tuple(RECOGNISERS)

PRECEDENCE: Final[dict[str, tuple[str, ...]]] = {
    # pydantic-ai knows which of Logfire's two stream spans is the call; GenAI alone would take both
    "kind": (
        "trubrics",
        "pydantic_ai",
        "genai",
        "openllmetry",
        "openinference",
        "langfuse",
        "vercel",
        "litellm",
        "otel_general",
    ),
    "user_id": (
        "trubrics",
        "otel_general",
        "langfuse",
        "openllmetry",
        "openinference",
        "genai",
        "vercel",
        "pydantic_ai",
        "litellm",
    ),
    "thread_id": (
        "trubrics",
        "genai",
        "otel_general",
        "langfuse",
        "openllmetry",
        "openinference",
        "vercel",
        "pydantic_ai",
        "litellm",
    ),
}
"""Fields whose precedence differs from the default order of `RECOGNISERS`."""


def recognise_all(span: SpanData) -> dict[str, Findings]:
    """Run every recogniser on the span; return what each found, by name."""
    found = {}
    for name, recognise in RECOGNISERS.items():
        findings = recognise(span)
        if findings is not None:
            found[name] = findings
    return found


def combine(found: Mapping[str, Findings]) -> Findings:
    """Merge findings field by field in the documented precedence."""
    if len(found) == 1:  # every recogniser stands in every field's precedence: it wins whatever it found
        return next(iter(found.values()))
    ranked = [findings for source in _DEFAULT_ORDER if (findings := found.get(source)) is not None]
    if not ranked:
        return Findings()
    # highest precedence first: each field keeps the first value found, and a lower recogniser only
    # fills what the higher ones left empty (a C copy, then one loop per lower recogniser)
    merged = dict(vars(ranked[0]))
    for findings in ranked[1:]:
        for name, value in vars(findings).items():
            if merged[name] is None:
                merged[name] = value
    for name, order in PRECEDENCE.items():
        merged[name] = None
        for source in order:
            findings = found.get(source)
            value = None if findings is None else getattr(findings, name)
            if value is not None:
                merged[name] = value
                break
    properties: dict[str, object] = {}
    for findings in reversed(ranked):  # a higher recogniser's key replaces a lower one's
        properties.update(findings.properties)
    merged["properties"] = properties
    return Findings(**merged)


@dataclass(frozen=True)
class MappingOptions:
    """How recognised spans become records.

    Args:
        default_user_id: the user of a call or event that names none.
        default_assistant_id: the assistant of a call that names no model.
        missing_content: the text sent in place of a prompt or generation the span does not carry.
        drop_without_content: drop calls whose prompt and generation never arrive, instead of sending
            them with the placeholder.
        copy_attributes: more span attributes to copy into properties, by exact name or by prefix
            (a name ending in `.` or `*`).
    """

    default_user_id: str = "anonymous"
    default_assistant_id: str = "unknown-assistant"
    missing_content: str = "[content not recorded]"
    drop_without_content: bool = False
    copy_attributes: tuple[str, ...] = ()

    def copied(self, attributes: Mapping[str, object]) -> dict[str, object]:
        """Return the attributes `copy_attributes` names, by exact name or by prefix."""
        exact, prefixes = self._copy_rules
        return {
            key: value
            for key, value in attributes.items()
            if key in exact or (prefixes and key.startswith(prefixes))
        }

    @cached_property
    def _copy_rules(self) -> tuple[frozenset[str], tuple[str, ...]]:
        # worked out once, not for every span: names ending in "." or "*" are prefixes
        wanted = self.copy_attributes
        prefixes = tuple(name.rstrip("*") for name in wanted if name.endswith((".", "*")))
        return frozenset(name for name in wanted if not name.endswith((".", "*"))), prefixes


@dataclass(frozen=True)
class LLMCall:
    """A recognised model call: what its span says, before its text is settled."""

    span: SpanData
    findings: Findings
    extra_properties: Mapping[str, object] = field(default_factory=dict)

    @property
    def has_content(self) -> bool:
        """Whether both the prompt and the generation are known."""
        return self.findings.prompt is not None and self.findings.generation is not None

    def with_content(
        self, prompt: str | None, generation: str | None, finish_reasons: tuple[str, ...] = ()
    ) -> LLMCall:
        """Return the call with what was found elsewhere (content logs); what the span says wins."""
        found = self.findings
        findings = replace(
            found,
            prompt=found.prompt if found.prompt is not None else prompt,
            generation=found.generation if found.generation is not None else generation,
            finish_reasons=found.finish_reasons or finish_reasons or None,
        )
        return replace(self, findings=findings)

    def filled_from(self, outer: LLMCall) -> LLMCall:
        """Return this call with what only `outer` knows (a thread, a user, properties) filled in."""
        merged = {k: v for k, v in vars(outer.findings).items() if v is not None}
        merged.update({k: v for k, v in vars(self.findings).items() if v is not None})
        merged["properties"] = {**outer.findings.properties, **self.findings.properties}
        findings = Findings()
        vars(findings).update(merged)
        return replace(self, findings=findings)

    @property
    def needs_identity(self) -> bool:
        """Whether the call lacks its user or thread and has local ancestors that may name them."""
        found = self.findings
        span = self.span
        return (
            (found.user_id is None or found.thread_id is None)
            and span.parent_span_id is not None
            and not span.parent_is_remote
        )

    def with_identity(self, user_id: str | None, thread_id: str | None) -> LLMCall:
        """Return the call with the user and thread it lacks taken from these (its ancestors')."""
        found = self.findings
        user = found.user_id if found.user_id is not None else user_id
        thread = found.thread_id if found.thread_id is not None else thread_id
        if user is found.user_id and thread is found.thread_id:
            return self
        return replace(self, findings=replace(found, user_id=user, thread_id=thread))

    def to_event(self, options: MappingOptions) -> LLMEvent | None:
        """Return the LLM event, with placeholders for missing text (or None if such calls are dropped)."""
        found = self.findings
        if not self.has_content and options.drop_without_content:
            return None
        span = self.span
        properties = _properties(span, found, options)
        properties.update(self.extra_properties)
        return LLMEvent(
            found.user_id or options.default_user_id,
            found.assistant_id or found.response_model or found.request_model or options.default_assistant_id,
            found.prompt if found.prompt is not None else options.missing_content,
            found.generation if found.generation is not None else options.missing_content,
            timestamp=span.end_time,
            latency=found.latency
            if found.latency is not None
            else max(span.end_time - span.start_time, 0) / 1e9,
            properties=properties,
            thread_id=found.thread_id,
        )


def recognise(span: SpanData) -> Findings:
    """Return what every convention finds on the span, combined: `combine(recognise_all(span))`."""
    return combine(recognise_all(span))


def interpret(
    span: SpanData, options: MappingOptions, found: Findings | None = None
) -> LLMCall | Event | None:
    """Return what the span is for Trubrics: a model call, a product event, or nothing.

    `found` is `recognise(span)` when the caller has it already.
    """
    if found is None:
        found = recognise(span)
    if found.kind == "llm":
        return LLMCall(span, found)
    if found.kind == "event" and found.event_name is not None:
        return Event(
            found.user_id or options.default_user_id,
            found.event_name,
            timestamp=span.end_time,
            properties=_properties(span, found, options),
            thread_id=found.thread_id,
        )
    return None


def merge_nested_calls(calls: Sequence[LLMCall]) -> tuple[list[LLMCall], list[LLMCall]]:
    """Return (the calls to send, the calls merged away) when one model call was recorded twice.

    A model call inside a model call is the same call seen by two instrumentations: pydantic-ai's
    request span around openai-v2's client span, or OpenInference's around OpenLLMetry's around
    openai-v2's. The innermost span is kept, filled with what only its outer spans know (the thread on
    pydantic-ai's, say); the outer ones are merged away.
    """
    by_id = {call.span.span_id: call for call in calls}
    outer_ids = {call.span.parent_span_id for call in calls if call.span.parent_span_id in by_id}
    if not outer_ids:
        return list(calls), []
    kept: list[LLMCall] = []
    for call in calls:
        if call.span.span_id in outer_ids:
            continue
        filled = call
        outer = by_id.get(call.span.parent_span_id or "")
        seen = {call.span.span_id}
        while outer is not None and outer.span.span_id not in seen:  # a cycle of parents ends the walk
            seen.add(outer.span.span_id)
            filled = filled.filled_from(outer)
            outer = by_id.get(outer.span.parent_span_id or "")
        kept.append(filled)
    return kept, [by_id[span_id] for span_id in outer_ids]


_PROPERTY_FIELDS: Final = (
    "provider",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)


def findings_properties(found: Findings) -> dict[str, object]:
    """Return the properties every LLM event carries from its findings: provider, models, tokens, reasons.

    The total is computed when the instrumentation gave only the input and output counts.
    """
    properties: dict[str, object] = {}
    for name in _PROPERTY_FIELDS:
        value = getattr(found, name)
        if value is not None:
            properties[name] = value
    if found.total_tokens is None and found.input_tokens is not None and found.output_tokens is not None:
        properties["total_tokens"] = found.input_tokens + found.output_tokens
    if found.finish_reasons:
        properties["finish_reasons"] = list(found.finish_reasons)
    return properties


def _properties(span: SpanData, found: Findings, options: MappingOptions) -> dict[str, object]:
    properties = findings_properties(found)
    if span.status_code == "ERROR":
        properties["error"] = True
        if span.status_message:
            properties["error_message"] = span.status_message
    properties["trace_id"] = span.trace_id
    properties["span_id"] = span.span_id
    if span.parent_span_id:
        properties["parent_span_id"] = span.parent_span_id
    service = span.resource.get("service.name")
    if service is not None:
        properties["service_name"] = service
    if options.copy_attributes:
        properties.update(options.copied(span.attributes))
    properties.update(found.properties)
    return properties
