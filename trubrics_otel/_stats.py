"""Counters of what happened to every record, and the rate-limited reports that explain each loss.

Telemetry must never lose data silently, and must never flood the application's logs either: each kind
of loss is explained the first time it happens, then summarised at most once a minute while it goes on.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["DeliveryStats", "Ledger"]

_logger = logging.getLogger("trubrics_otel")

REPORT_INTERVAL = 60.0
"""Seconds between two summaries of the same kind of loss."""


@dataclass(frozen=True)
class DeliveryStats:
    """A snapshot of what happened to the records given to one client, exporter or handler.

    Attributes:
        sent: records Trubrics accepted.
        retried: requests sent again after a transient failure.
        failed: records given up after retries ran out of time or the client was shut down.
        dropped: records not sent, by reason (docs/transport.md explains each): from the API,
            `invalid`, `unauthorized`, `rejected`; from the transport, `unsendable`; from the exporters
            and handlers, `mapping_error`, `no_content`, `duplicate` (a call recorded twice, sent once),
            `unjoinable_content`, `queue_full`, `closed` and `handler_error`.
        requests: HTTP requests sent.
        incomplete: model calls sent with a placeholder because their prompt or generation never came.
    """

    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    requests: int = 0
    incomplete: int = 0

    @property
    def lost(self) -> int:
        """Records that did not reach Trubrics: failed plus dropped."""
        return self.failed + sum(self.dropped.values())


class Ledger:
    """Thread-safe counters behind `DeliveryStats`, with the once-then-periodic loss reports.

    Args:
        clock: a monotonic clock in seconds; tests pass a fake one.
        logger: where loss reports go.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, logger: logging.Logger = _logger) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._logger = logger
        self._sent = 0
        self._retried = 0
        self._failed = 0
        self._requests = 0
        self._incomplete = 0
        self._dropped: dict[str, int] = {}
        # reason -> (time of the last report, records lost since it)
        self._reports: dict[str, tuple[float, int]] = {}
        self._queue_sources: dict[int, Callable[[], Callable[[], int] | None]] = {}
        self._next_source = 0
        _ledgers.add(self)

    def _renew_lock(self) -> None:
        # a fork copies the lock as it was: held, if another thread held it at that moment
        self._lock = threading.Lock()

    def sent(self, count: int) -> None:
        """Count records the API accepted."""
        with self._lock:
            self._sent += count

    def request(self) -> None:
        """Count one HTTP request."""
        with self._lock:
            self._requests += 1

    def retried(self) -> None:
        """Count one request that will be sent again."""
        with self._lock:
            self._retried += 1

    def incomplete(self, count: int) -> None:
        """Count model calls sent without their text (a placeholder stands in); reported once."""
        with self._lock:
            self._incomplete += count
            first = self._incomplete == count
        if first:
            self._logger.warning(
                "Trubrics: a model call's prompt or generation was not recorded, so a placeholder was sent. "
                "Turn on the instrumentation's content capture (for OpenTelemetry GenAI: "
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT) and, if it writes content to logs, "
                "add the Trubrics log exporter."
            )

    def failed(self, count: int, explanation: str) -> None:
        """Count records given up on after transient failures, and explain it (rate-limited)."""
        with self._lock:
            self._failed += count
        self._report("failed", count, explanation)

    def dropped(self, reason: str, count: int, explanation: str) -> None:
        """Count records refused for good for `reason`, and explain it (rate-limited per reason)."""
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count
        self._report(reason, count, explanation)

    def add_queue_source(self, source: Callable[[], int]) -> Callable[[], None]:
        """Count the records `source()` says are still queued upstream in the final account of losses.

        A logging handler registers its queue's length, so that records it holds when the client shuts
        down are named as still queued. A bound method is held weakly (it goes when its object goes);
        any other callable is held until the returned function removes it. A source that raises counts
        as holding nothing.

        Returns:
            A function that removes the source; calling it again does nothing.
        """
        held: Callable[[], Callable[[], int] | None] = (
            weakref.WeakMethod(source) if inspect.ismethod(source) else _Strong(source)
        )
        with self._lock:
            key = self._next_source
            self._next_source += 1
            self._queue_sources[key] = held

        def remove() -> None:
            with self._lock:
                self._queue_sources.pop(key, None)

        return remove

    def queued(self) -> int:
        """Return how many records the registered queue sources still hold."""
        with self._lock:
            sources = list(self._queue_sources.values())
        total = 0
        for held in sources:
            source = held()
            if source is None:
                continue
            try:
                count = source()
            except Exception:  # noqa: BLE001 - a source's bug must not stop the account
                count = 0
            if isinstance(count, int) and count > 0:
                total += count
        return total

    def snapshot(self) -> DeliveryStats:
        """Return the counters as they are now."""
        with self._lock:
            return DeliveryStats(
                sent=self._sent,
                retried=self._retried,
                failed=self._failed,
                dropped=MappingProxyType(dict(self._dropped)),
                requests=self._requests,
                incomplete=self._incomplete,
            )

    def _report(self, reason: str, count: int, explanation: str) -> None:
        now = self._clock()
        with self._lock:
            last = self._reports.get(reason)
            if last is None:
                self._reports[reason] = (now, 0)
                pending = -1
            elif now - last[0] >= REPORT_INTERVAL:
                pending = last[1] + count
                self._reports[reason] = (now, 0)
            else:
                self._reports[reason] = (last[0], last[1] + count)
                return
        if pending < 0:
            self._logger.warning("Trubrics: %d record(s) %s: %s", count, _verb(reason), explanation)
        else:
            self._logger.warning(
                "Trubrics: %d more record(s) %s in the last %.0f s; latest: %s",
                pending,
                _verb(reason),
                REPORT_INTERVAL,
                explanation,
            )


class _Strong:
    """Holds a callable the way `weakref.WeakMethod` would, but for good."""

    def __init__(self, source: Callable[[], int]) -> None:
        self._source = source

    def __call__(self) -> Callable[[], int]:
        return self._source


_ledgers: weakref.WeakSet[Ledger] = weakref.WeakSet()


def _renew_locks_after_fork() -> None:
    for ledger in list(_ledgers):
        ledger._renew_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks_after_fork)


def _verb(reason: str) -> str:
    return "failed" if reason == "failed" else f"dropped ({reason})"
