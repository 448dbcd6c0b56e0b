"""At interpreter exit, every log worker gets one bounded flush, all at once, before logging shuts down.

An application that never closes its handler still delivers what it logged: each worker gets its
`flush_timeout`, all of them at the same time. That flush's deadline is the exit's: `logging.shutdown()`,
which flushes and closes every handler after this hook, waits no longer than it, so a host that is
down holds the exit `flush_timeout` once, not three times. A closed worker still delivering (closed
under logging's lock, which it could not wait in) is waited for as long.

A `multiprocessing` child started by fork or forkserver ends through `os._exit`, which runs no exit hook:
only the finalizers `multiprocessing.util.Finalize` registered in that child run, just before. So a
worker that starts its thread in such a child registers `flush_before_child_exit` there, once per
process, and the child gets the same bounded flush and its account (a spawned child runs them again at
its ordinary exit, where nothing is left to do).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import weakref
from collections.abc import Callable
from typing import Final, Protocol

from trubrics_otel._account import account_all

__all__ = ["flush_all_at_exit", "flush_at_exit", "flush_before_child_exit"]

_logger = logging.getLogger("trubrics_otel.batching")


class _Worker(Protocol):
    def begin_exit_flush(self, start: float) -> tuple[float, Callable[[float], object]] | None: ...

    def hand_over_losses(self) -> None: ...


_workers: weakref.WeakSet[_Worker] = weakref.WeakSet()

CHILD_EXIT_PRIORITY: Final = 100
"""The `exitpriority` of the child's flush: multiprocessing runs finalizers with a higher one first, so
ours runs before those of the queues and pools the child made (10 and below), while they still work."""
_finalizer_pid: int | None = None  # the process whose finalizer registry holds our flush


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


def flush_before_child_exit() -> None:
    """In a `multiprocessing` child, flush every worker and give the account before it ends (see above).

    Registered once per process; outside a `multiprocessing` child it does nothing (exit hooks run there).
    A child's finalizer registry starts empty (`BaseProcess._bootstrap` clears the parent's), so this is
    called where a worker starts its thread, which in a child is always after that.
    """
    global _finalizer_pid  # noqa: PLW0603 - one registration per process
    pid = os.getpid()
    if _finalizer_pid == pid:
        return
    multiprocessing = sys.modules.get("multiprocessing")  # not imported: not a multiprocessing child
    if multiprocessing is None or multiprocessing.parent_process() is None:
        return
    from multiprocessing import util  # noqa: PLC0415 - only in a multiprocessing child

    _finalizer_pid = pid
    util.Finalize(None, _flush_and_account, exitpriority=CHILD_EXIT_PRIORITY)


def _flush_and_account() -> None:
    try:
        flush_all_at_exit()
        account_all()
    except Exception:  # the child's exit goes on
        _logger.debug("Trubrics: could not flush before a multiprocessing child's exit", exc_info=True)
