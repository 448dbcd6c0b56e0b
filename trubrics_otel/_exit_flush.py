"""At interpreter exit, every log worker gets one bounded flush, all at once, before logging shuts down.

An application that never closes its handler still delivers what it logged: each worker gets its
`flush_timeout`, all of them at the same time. That flush's deadline is the exit's: `logging.shutdown()`,
which flushes and closes every handler after this hook, waits no longer than it, so a host that is
down holds the exit `flush_timeout` once, not three times. A closed worker still delivering (closed
under logging's lock, which it could not wait in) is waited for as long.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Protocol

__all__ = ["flush_all_at_exit", "flush_at_exit"]

_logger = logging.getLogger("trubrics_otel.batching")


class _Worker(Protocol):
    def begin_exit_flush(self, start: float) -> tuple[float, Callable[[float], object]] | None: ...

    def hand_over_losses(self) -> None: ...


_workers: weakref.WeakSet[_Worker] = weakref.WeakSet()


def flush_at_exit(worker: _Worker) -> None:
    """Give `worker` its flush at exit; it is held weakly."""
    _workers.add(worker)


def flush_all_at_exit() -> None:
    """Give every worker one bounded flush, all at once; `_batching` registers it with `atexit`.

    Each worker keeps the flush's deadline: `logging.shutdown()` runs after this hook and flushes and
    closes every handler, and those waits end by the same deadline instead of adding two more.
    """
    start = time.monotonic()
    waiting: list[tuple[_Worker, float, Callable[[float], object]]] = []
    for worker in list(_workers):
        try:
            begun = worker.begin_exit_flush(start)
        except Exception:  # exit goes on for the other workers
            _logger.debug("Trubrics: could not flush a log worker at exit", exc_info=True)
            continue
        if begun is not None:
            waiting.append((worker, *begun))
    for worker, deadline, wait in waiting:
        wait(max(deadline - time.monotonic(), 0.0))
        worker.hand_over_losses()
