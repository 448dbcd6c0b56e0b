"""Who and which conversation, taken from a call's ancestors when its own span does not say.

Some stacks name the user or the thread only on a span above the model call: openai-v2 puts
`gen_ai.conversation.id` on the conversation's parent span, pydantic-ai the user on its agent span, and
Langfuse's `update_current_trace` writes `user.id` and `session.id` on the span current at the time. A call
that names no user or thread takes each from its nearest ancestor in the same trace that names it.

Ancestors end after the call, so they are exported with it or later: the content join holds such a call
until its trace's local root arrives (or its window closes), with the `SpanIdentity` of every span of
that trace seen meanwhile. Pure functions over plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple

from trubrics_otel.mapping._calls import LLMCall
from trubrics_otel.mapping._model import Findings, SpanData

__all__ = ["SpanIdentity", "fill_identity", "identity_of"]

_MAX_DEPTH: Final = 256
"""The most ancestors walked: a guard against a cycle in malformed parent ids."""


class SpanIdentity(NamedTuple):
    """What one span says about who and which conversation, and where it sits in its trace."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    user_id: str | None
    thread_id: str | None
    local_root: bool
    """No parent, or a parent in another process: no ancestor of it will be exported here."""


def identity_of(span: SpanData, found: Findings) -> SpanIdentity:
    """Return the span's identity from what the recognisers found on it."""
    return SpanIdentity(
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        found.user_id,
        found.thread_id,
        span.parent_span_id is None or span.parent_is_remote,
    )


def fill_identity(call: LLMCall, spans: Mapping[str, SpanIdentity]) -> LLMCall:
    """Return the call with the user and thread it lacks taken from its nearest ancestors in `spans`.

    `spans` holds the identities of the call's trace by span id; an ancestor missing from it ends the walk.
    """
    user_id = thread_id = None
    parent = call.span.parent_span_id
    for _ in range(_MAX_DEPTH):
        ancestor = spans.get(parent) if parent is not None else None
        if ancestor is None:
            break
        user_id = user_id if user_id is not None else ancestor.user_id
        thread_id = thread_id if thread_id is not None else ancestor.thread_id
        if user_id is not None and thread_id is not None:
            break
        parent = ancestor.parent_span_id
    return call.with_identity(user_id, thread_id)
