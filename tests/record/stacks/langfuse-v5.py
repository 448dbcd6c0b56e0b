"""Langfuse Python SDK 5.x: its OpenAI integration and `@observe`, user and session propagated.

The user and the session are set with `propagate_attributes(...)`, the SDK's documented way since 4.x,
entered inside the outermost `@observe` function, so that every observation below carries them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from _langfuse import THREAD_ID, USER_ID, record


def identified(langfuse: Any) -> AbstractContextManager[None]:
    from langfuse import propagate_attributes

    return propagate_attributes(user_id=USER_ID, session_id=THREAD_ID)


if __name__ == "__main__":
    record("langfuse-v5", {"should_export_span": lambda span: False}, identified)
