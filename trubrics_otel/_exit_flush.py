"""At interpreter exit, every log worker gets one bounded flush, all at once, before logging shuts down.

An application that never closes its handler still delivers what it logged: each worker gets its
`flush_timeout`, all of them at the same time. That flush's deadline is the exit's: `logging.shutdown()`,
which flushes and closes every handler after this hook, waits no longer than it, so a host that is
down holds the exit `flush_timeout` once, not three times. A closed worker still delivering (closed
under logging's lock, which it could not wait in) is waited for as long. What a worker still holds when
its deadline passes is counted as `failed`, with that reason, in the account that follows.

A `multiprocessing` child started by fork or forkserver ends through `os._exit`, which runs no exit hook:
only the finalizers `multiprocessing.util.Finalize` registered in that child run, just before. So a
worker that starts its thread in such a child registers `flush_before_child_exit` there, once per
process, and the child gets the same bounded flush and its account (a spawned child runs them again at
its ordinary exit, where nothing is left to do). An exporter cannot wait for its first export to do so
(OpenTelemetry's batch processors export on their own thread, every few seconds): made in a process that
uses `multiprocessing`, it has the flush registered in every child as the child starts
(`flush_in_multiprocessing_children`), and that flush also flushes OpenTelemetry's global tracer and
logger providers.
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

    def end_exit_flush(self) -> None: ...


_workers: weakref.WeakSet[_Worker] = weakref.WeakSet()

CHILD_EXIT_PRIORITY: Final = 100
"""The `exitpriority` of the child's flush: multiprocessing runs finalizers with a higher one first, so
ours runs before those of the queues and pools the child made (10 and below), while they still work."""
_finalizer_pid: int | None = None  # the process whose finalizer registry holds our flush
_flush_providers = False  # an exporter of ours exists: the child's flush flushes OpenTelemetry's providers
_PROVIDER_FLUSH_MILLIS: Final = 5_000
"""How long the child's flush gives each OpenTelemetry provider (the log flush's default timeout)."""


class _Anchor:
    """What multiprocessing's after-fork registry holds (weakly) for our hook: kept alive here."""


_anchor: _Anchor | None = None


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
        worker.end_exit_flush()


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


def flush_in_multiprocessing_children(*, providers: bool = False) -> None:
    """Have every `multiprocessing` child of this process, and this one if it is one, flush before exit.

    `providers`: an exporter asks, so the child's flush flushes OpenTelemetry's global providers too.
    Does nothing in a process that has not imported `multiprocessing` (it starts no children then).
    """
    global _flush_providers, _anchor  # noqa: PLW0603 - process-wide, set once
    if providers:
        _flush_providers = True
    if "multiprocessing" not in sys.modules:
        return
    from multiprocessing import util  # noqa: PLC0415 - only where multiprocessing is in use

    if _anchor is None:
        _anchor = _Anchor()
        # runs in each child after multiprocessing cleared the parent's finalizers, before the target
        util.register_after_fork(_anchor, _register_in_child)
    flush_before_child_exit()


def _register_in_child(_: _Anchor) -> None:
    global _finalizer_pid  # noqa: PLW0603 - the registry it stood for was cleared
    _finalizer_pid = None
    flush_before_child_exit()


def _flush_and_account() -> None:
    try:
        flush_all_at_exit()
        if _flush_providers:
            _flush_opentelemetry()
        account_all()
    except Exception:  # the child's exit goes on
        _logger.debug("Trubrics: could not flush before a multiprocessing child's exit", exc_info=True)


def _flush_opentelemetry() -> None:
    """Flush OpenTelemetry's global tracer and logger providers, if they are the SDK's (they have it)."""
    for module, getter in (
        ("opentelemetry.trace", "get_tracer_provider"),
        ("opentelemetry._logs", "get_logger_provider"),
    ):
        found = sys.modules.get(module)
        provider = getattr(found, getter)() if found is not None else None
        force_flush = getattr(provider, "force_flush", None)
        if callable(force_flush):
            force_flush(_PROVIDER_FLUSH_MILLIS)
