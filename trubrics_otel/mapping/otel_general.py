"""OpenTelemetry's general conventions for who and which session.

Reads `user.id`, `enduser.id`, `session.id`, and the bare `user_id` / `session_id` that Logfire's baggage
leaves on spans.
"""

from __future__ import annotations

from trubrics_otel.mapping._model import Findings, SpanData
from trubrics_otel.mapping._reading import to_text

__all__ = ["recognise"]


def recognise(span: SpanData) -> Findings | None:
    """Read the general user and session keys; None when the span has none."""
    attributes = span.attributes
    user_id = to_text(attributes.get("user.id")) or to_text(attributes.get("enduser.id"))
    thread_id = to_text(attributes.get("session.id"))
    user_id = user_id or to_text(attributes.get("user_id"))
    thread_id = thread_id or to_text(attributes.get("session_id"))
    if user_id is None and thread_id is None:
        return None
    return Findings(user_id=user_id, thread_id=thread_id)
