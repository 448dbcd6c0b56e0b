"""The facts about threads that every part of delivery must respect.

- A thread may not start: Python 3.12.0 and 3.12.1 refuse to start one from an exit hook, and exit hooks
  are where OpenTelemetry's providers and `logging.shutdown()` flush us. `start_daemon` then returns
  None, and the caller does the work in its own thread.
- A thread that holds `logging._lock` (`logging.config.dictConfig()` does, while it closes handlers)
  must not wait for another thread that may log: that thread would wait for the lock in turn.
- What a thread logs while it delivers records must not become a record: `DELIVERING` says so.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Final

__all__ = ["DELIVERING", "holds_logging_lock", "in_delivery", "start_daemon"]

DELIVERING: Final = contextvars.ContextVar("trubrics_otel_delivering", default=False)
"""True in the log worker's thread and wherever records are being delivered: what is logged there must
not become a record. (A ContextVar: each thread has its own, and reading it is cheaper than a
thread-local.)"""


def in_delivery() -> bool:
    """Whether the current thread is delivering records: a log record made now must not become one."""
    return DELIVERING.get()


def start_daemon(target: Callable[[], object], name: str) -> threading.Thread | None:
    """Start a daemon thread running `target`; None when the interpreter starts no new thread."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    try:
        thread.start()
    except RuntimeError:  # Python 3.12.0 and 3.12.1, from an exit hook
        return None
    return thread


def holds_logging_lock() -> bool:
    """Whether the calling thread holds `logging._lock` (an RLock: dictConfig holds it while closing)."""
    is_owned = getattr(getattr(logging, "_lock", None), "_is_owned", None)
    try:
        return bool(is_owned()) if is_owned is not None else False
    except Exception:  # noqa: BLE001 - a private API: when in doubt, do not wait
        return True
