"""The thread that sends held calls when their window closes, even when no new span or log comes to do it.

It starts with the first call held, sleeps until the join's next deadline (or until woken by a newly held
call), and hands what expired to the core. When no thread can start (an exit hook on Python 3.12.0 and
3.12.1), nothing is lost: the flush and shutdown that follow send what waits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from trubrics_otel._delivery.join import ContentJoin
from trubrics_otel._fork import renew_in_child
from trubrics_otel._reporting import report
from trubrics_otel._threads import start_daemon
from trubrics_otel.mapping import LLMCall

__all__ = ["Releaser"]

_logger = logging.getLogger("trubrics_otel.exporters")


class Releaser:
    """Sends held calls when their window closes.

    Args:
        join: where the calls wait.
        release: sends calls that left the join; returns whether they were delivered.
        clock: monotonic seconds, the join's time.
    """

    def __init__(
        self, join: ContentJoin, release: Callable[[Sequence[LLMCall]], bool], clock: Callable[[], float]
    ) -> None:
        self._join = join
        self._release = release
        self._clock = clock
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        renew_in_child(self._renew_after_fork)

    def _renew_after_fork(self) -> None:
        # the child has none of the parent's threads, and a lock held at the fork would stay held
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def wake(self) -> None:
        """Start the thread if it is not running, and have it look at the join's next deadline again."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = start_daemon(self._run, "trubrics-content-join")
                if self._thread is None:
                    return  # the shutdown that follows releases what waits
        self._wake.set()

    def stop(self) -> None:
        """End the thread at its next wake-up, which this causes."""
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            deadline = self._join.next_deadline()
            if deadline is None:
                self._wake.clear()
                if self._join.next_deadline() is None:
                    self._wake.wait()
                continue
            delay = deadline - self._clock()
            if delay > 0:
                self._wake.clear()
                self._wake.wait(delay)
                continue
            try:
                self._release(self._join.expired(self._clock()))
            except Exception:  # noqa: BLE001 - the releaser must outlive any single bad call
                report(
                    _logger,
                    logging.ERROR,
                    "Trubrics: could not send held model calls",
                    key="release-held-calls",
                    exc_info=True,
                )
