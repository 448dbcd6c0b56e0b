"""`TrubricsClient.send_batches()`: the caller prepares the next batch while the last one is being sent.

The request is sent from a short-lived thread of the call, and the caller waits until its body is on the
wire before preparing more: the sending thread then does its share of the work alone instead of
waiting, at every socket call, for an interpreter lock the preparing thread keeps busy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from trubrics_otel._answers import SendResult
from trubrics_otel._events import Record
from trubrics_otel._sender import Sender, exit_capped
from trubrics_otel._threads import holds_logging_lock, start_daemon

__all__ = ["BatchPipeline"]

_WAIT_MARGIN: Final = 5.0
"""Seconds `send_batches()` waits for its sending thread beyond the deadline (a request's last bytes)."""


class BatchPipeline:
    """One `send_batches()` call: the caller's thread produces batches, a thread of the call sends them.

    The caller hands a batch over and waits until its first request's body is on the wire (or its
    delivery ended) before producing the next. So the sending thread does its own share of the work,
    making the request, alone, while the server's share overlaps with the next batch being produced;
    and no more than two batches exist at a time.

    The caller never waits for the sending thread longer than the deadline allows, and not at all while it
    holds `logging._lock` (under `dictConfig`): the thread could need that lock to log, so the batches are
    then sent from the caller's thread.
    """

    def __init__(self, sender: Sender, clock: Callable[[], float], deadline_at: float) -> None:
        self._sender = sender
        self._clock = clock
        self._deadline_at = deadline_at
        self._handed: queue.SimpleQueue[tuple[list[Record], threading.Event] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._result = SendResult()
        self._unsettled = 0  # records handed to the thread whose delivery has not ended
        self._thread: threading.Thread | None = None
        self._inline = holds_logging_lock()

    def run(self, batches: Iterator[Sequence[Record]]) -> SendResult:
        try:
            for batch in batches:
                if not batch:
                    continue
                on_wire = threading.Event()
                self._hand_over(list(batch), on_wire)
                if not on_wire.wait(self._wait_limit()):
                    self._inline = True  # the thread is stuck: what comes next is sent from here
        finally:
            if self._thread is not None:
                self._handed.put(None)
                self._thread.join(self._wait_limit())
                with self._lock:
                    if self._thread.is_alive() and self._unsettled:
                        explanation = "the sending thread did not finish before the deadline"
                        self._result += SendResult(failed=self._unsettled, problem=explanation)
        with self._lock:
            return self._result

    def _wait_limit(self) -> float:
        """Seconds the delivery of what was handed over can still take: the deadline, and a margin."""
        return max(self._deadline_at - self._clock(), 0.0) + _WAIT_MARGIN

    def _hand_over(self, batch: list[Record], on_wire: threading.Event) -> None:
        if self._thread is None and not self._inline:
            self._thread = start_daemon(self._send_all, "trubrics-send")
            self._inline = self._thread is None
        if self._inline:
            self._send_one(batch, on_wire, handed=False)
        else:
            with self._lock:
                self._unsettled += len(batch)
            self._handed.put((batch, on_wire))

    def _send_all(self) -> None:
        while (handed := self._handed.get()) is not None:
            self._send_one(*handed, handed=True)

    def _send_one(self, batch: list[Record], on_wire: threading.Event, *, handed: bool) -> None:
        try:
            # once the exit began, its bound holds for the rest of the call, not for each batch afresh
            self._deadline_at = exit_capped(self._deadline_at, self._clock())
            if self._result.unauthorized:
                outcome = self._sender.refuse_for_the_key(batch)  # it would be refused again
            else:
                outcome = self._sender.send(batch, self._deadline_at, on_wire)
            with self._lock:
                self._result += outcome
                if handed:
                    self._unsettled -= len(batch)
        finally:
            on_wire.set()
