"""Langfuse Python SDK 3.x: its OpenAI integration and `@observe`, user and session set on the trace.

The user and the session are set with `update_current_trace(...)`, as SDK 3.x documents, inside the
outermost `@observe` function; it writes `user.id` and `session.id` on the span current at the time only,
though Langfuse's backend treats them as the whole trace's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from _langfuse import THREAD_ID, USER_ID, record


@contextlib.contextmanager
def identified(langfuse: Any) -> Iterator[None]:
    langfuse.update_current_trace(user_id=USER_ID, session_id=THREAD_ID)
    yield


if __name__ == "__main__":
    record("langfuse-v3", {"blocked_instrumentation_scopes": ["langfuse-sdk"]}, identified)
