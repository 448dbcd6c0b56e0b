"""One client's spool: where its undelivered batches go (`_spool`), and the thread that sends them again.

`Spool.keep()` stores a batch the transport gave up on and counts its records as spooled (not lost). A
daemon thread then sends the stored batches, oldest first, one request each: it starts when a batch is
kept, and when the client is made while batches wait from an earlier process. It claims a batch, hands it
to the sender (`replay`), and deletes it once the API took it (or refused it for good, counted as
dropped); a batch that still cannot be delivered goes back, and the thread waits before the next try,
from 1 s doubling to `MAX_PAUSE`, or until a live delivery of the client succeeds. It ends when nothing is
left to claim, or when the client shuts down.

The first batch that cannot be written to disk moves the spool to memory (`MemoryStore`, the same bound)
with one warning: what it holds then is lost at exit (the account names the spool as memory).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from trubrics_otel._config import TransportSettings
from trubrics_otel._fork import renew_in_child
from trubrics_otel._reporting import report
from trubrics_otel._spool import Batch, DiskStore, MemoryStore, Store, spool_directory
from trubrics_otel._stats import SPOOL_FULL, Ledger
from trubrics_otel._threads import DELIVERING, start_daemon

__all__ = ["MAX_PAUSE", "Spool", "spool_for"]

_logger = logging.getLogger("trubrics_otel.transport")

MIN_PAUSE: Final = 1.0
"""Seconds the thread waits after a batch could not be sent again, at first."""
MAX_PAUSE: Final = 30.0
_DRAIN_POLL: Final = 0.02
"""Seconds it waits at most between two tries while the host stays unreachable."""

Replay = Callable[[Batch], "tuple[bytes, int] | None"]
"""Sends a claimed batch again; returns what is left of it to keep (body, records), or None when done."""


class Spool:
    """A client's spool: the store of its batches, and the thread that sends them again.

    Args:
        store: where batches are kept (`DiskStore` for the destination, or `MemoryStore`).
        ledger: the client's counters (spooled, replayed, and the `spool_full` drops).
        closed: set when the client shuts down: the thread ends.
        wait: waits on an event for a number of seconds (tests pass one that does not sleep).
    """

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        closed: threading.Event,
        *,
        wait: Callable[[threading.Event, float], bool] | None = None,
    ) -> None:
        self.store = store
        self._ledger = ledger
        ledger.spool_where = store.where
        self._closed = closed
        self._wait = wait if wait is not None else _wait
        self._replay: Replay | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._more = False  # a batch was kept since the thread last found nothing to claim
        self._host_answered = threading.Event()
        self._backing_off = False  # the thread waits before its next try: the host did not take a batch
        self._failing = False  # the host did not take the last batch given up on or sent again
        self._degraded = False
        renew_in_child(self._after_fork_in_child)

    def start(self, replay: Replay) -> None:
        """Send batches again through `replay`; start now if batches wait from an earlier process."""
        self._replay = replay
        if self.store.pending():
            self._wake()

    def keep(
        self,
        endpoint: str,
        body: bytes,
        records: int,
        explanation: str,
        *,
        delivering: bool,
        quiet: bool = False,
    ) -> None:
        """Store one batch and count its records as spooled; `delivering` as in `Ledger.spooled`.

        A batch a delivery gave up on (`delivering`) says the host is failing (`host_failing`).
        """
        if delivering:
            self._failing = True
        kept, evicted = self.store.put(endpoint, body, records)
        if not kept:
            self._degrade()
            kept, evicted = self.store.put(endpoint, body, records)
        self._ledger.spooled(
            records,
            f"{explanation}; kept in the spool at {self.store.where}",
            delivering=delivering,
            quiet=quiet,
        )
        if evicted:
            self._ledger.dropped_from_spool(
                SPOOL_FULL,
                evicted,
                f"the spool at {self.store.where} held TRUBRICS_SPOOL_BYTES already; its oldest batches "
                "were deleted for newer ones",
            )
        self._wake()

    def host_answered(self) -> None:
        """Note that the host accepted a live delivery: a thread waiting to try again tries now."""
        if self._thread is not None:
            self._host_answered.set()

    @property
    def busy(self) -> bool:
        """Whether batches wait to be sent again (the thread runs)."""
        return self._thread is not None

    @property
    def host_failing(self) -> bool:
        """Whether batches wait while the host does not take them.

        New records then go behind them, through the spool, rather than each wait out a retry deadline.
        """
        return self._failing and self._thread is not None

    def drain(self, seconds: float) -> bool:
        """Wait up to `seconds` for the thread to send what is kept, while the host takes it.

        Returns at once when the thread waits before a next try (the host did not take a batch): what is
        left stays kept. True when nothing is left to send.
        """
        ends = time.monotonic() + seconds
        while self._thread is not None and not self._backing_off and time.monotonic() < ends:
            time.sleep(_DRAIN_POLL)
        return self._thread is None

    def stop(self) -> None:
        """End the thread's wait at once (the client shut down; it sets `closed` first)."""
        self._host_answered.set()

    def _degrade(self) -> None:
        with self._lock:
            if self._degraded:
                return
            self._degraded = True
            old = self.store
            self.store = MemoryStore(old.max_bytes, where="memory (the spool directory could not be written)")
            self._ledger.spool_where = self.store.where
        report(
            _logger,
            logging.WARNING,
            f"Trubrics: the spool directory {old.where} cannot be written; undelivered records are kept in "
            "memory instead, and lost if the process ends before the host answers. Set TRUBRICS_SPOOL_DIR to "
            "a writable directory, or TRUBRICS_SPOOL=false.",
            key="spool-unwritable",
        )

    def _wake(self) -> None:
        with self._lock:
            self._more = True
            if self._replay is None or self._closed.is_set():
                return
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = start_daemon(self._run, "trubrics-spool")

    def _run(self) -> None:
        DELIVERING.set(True)
        pause = MIN_PAUSE
        replay = self._replay
        assert replay is not None  # noqa: S101 - started only once replay is known
        while not self._closed.is_set():
            with self._lock:
                self._more = False
            batch = self.store.claim()
            if batch is None:
                with self._lock:
                    if not self._more:
                        self._thread = None
                        return
                continue
            try:
                left = replay(batch)
            except Exception:
                _logger.debug("Trubrics: unexpected error sending a spooled batch", exc_info=True)
                left = (batch.body, batch.records)
            if left is None:
                self.store.done(batch)
                self._failing = False
                pause = MIN_PAUSE
                continue
            self._failing = True
            body, records = left
            if records == batch.records:
                self.store.give_back(batch)
            else:
                self.store.give_back(batch, body, records)
            self._host_answered.clear()
            self._backing_off = True
            if self._wait(self._host_answered, pause) and self._closed.is_set():
                break
            self._backing_off = False
            pause = min(pause * 2, MAX_PAUSE)
        with self._lock:
            self._thread = None
            self._backing_off = False
            self._failing = False

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._host_answered = threading.Event()
        self._backing_off = False
        self._failing = False
        self._thread = None  # the parent's thread goes on in the parent
        self.store.renew_after_fork()


def _wait(event: threading.Event, seconds: float) -> bool:
    return event.wait(seconds)


def spool_for(settings: TransportSettings, ledger: Ledger, closed: threading.Event) -> Spool | None:
    """The spool of a client with these settings: a directory of its host and key; None when it is off."""
    if settings.spool_root is None:
        return None
    directory = spool_directory(settings.spool_root, settings.host, settings.api_key)
    return Spool(DiskStore(directory, settings.spool_bytes), ledger, closed)
