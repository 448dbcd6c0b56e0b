"""Deliveries in flight while the door prepares the next: what lets a span pipeline outrun its requests.

OpenTelemetry's batch processors call `export()` with 100 spans or log records at a time, from their
worker thread, and wait for it to return before they collect and hand over the next batch. An exporter
that sends synchronously makes that thread idle while the host stores the batch, and sends one request
at a time. `InFlight` sends a core's records from threads of its own instead: `submit()` hands a
delivery over, waits until its request's body is on the wire (the sending thread then has the
interpreter to itself while it writes), and returns, so the next batch is translated while the host
works on this one, and up to `slots` requests are with the host at once.

When every slot is taken, `submit()` waits for one to free (backpressure, as a synchronous exporter
has), and returns the outcome of the deliveries that ended since it last reported one: the first the
door can report. `wait()` waits for every delivery in flight (a flush, a shutdown). Records are counted
by the client's ledger as sent, spooled, failed or dropped whatever the door's return value says.

Where no thread can start (an exit hook on Python 3.12.0 and 3.12.1), deliveries run in the caller's
thread. A forked child starts with no delivery in flight and threads of its own.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from trubrics_otel._fork import renew_in_child
from trubrics_otel._threads import DELIVERING, start_daemon

__all__ = ["ON_WIRE_WAIT", "SLOTS", "InFlight"]

SLOTS: Final = 2
"""Deliveries a core has with the host at once, by default: one being answered while the next is sent."""
ON_WIRE_WAIT: Final = 1.0
"""Seconds `submit()` waits at most for a request's body to be on the wire before it returns anyway."""

Delivery = Callable[[threading.Event], bool]
"""Sends records, setting the event once the first request's body is written; True when nothing was lost."""


class InFlight:
    """Up to `slots` deliveries in flight, each in a daemon thread of the core (see the module docstring).

    Args:
        name: the threads' name.
        slots: the most deliveries in flight at once.
    """

    def __init__(self, name: str, slots: int = SLOTS) -> None:
        self._name = name
        self._slots = slots
        self._fresh()
        renew_in_child(self._fresh)

    def _fresh(self) -> None:
        self._lock = threading.Condition()
        self._jobs: deque[tuple[Delivery, threading.Event]] = deque()
        self._active = 0  # deliveries handed over and not yet ended
        self._outcome = True  # of the deliveries ended since it was last reported
        self._threads: list[threading.Thread] = []
        self._stopped = False

    def submit(self, delivery: Delivery, wait_limit: float) -> bool:
        """Start `delivery` once a slot is free; return the outcome of the deliveries ended meanwhile.

        Waits at most `wait_limit` seconds for a slot; if none frees by then, the delivery runs in the
        caller's thread rather than wait longer.
        """
        on_wire = threading.Event()
        ends = time.monotonic() + wait_limit
        with self._lock:
            while self._active >= self._slots and not self._stopped and (left := ends - time.monotonic()) > 0:
                self._lock.wait(left)
            inline = self._active >= self._slots or self._stopped or not self._ensure_thread()
            if not inline:
                self._jobs.append((delivery, on_wire))
                self._active += 1
                self._lock.notify_all()
            before, self._outcome = self._outcome, True
        if inline:
            return delivery(on_wire) and before
        on_wire.wait(ON_WIRE_WAIT)
        return before

    def wait(self, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds for every delivery in flight; return their outcome (True for none).

        False too when one is still running after `timeout`.
        """
        ends = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._active:
                left = None if ends is None else ends - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
            outcome, self._outcome = self._outcome, True
            return outcome

    @property
    def busy(self) -> bool:
        """Whether a delivery is in flight."""
        return self._active > 0

    def stop(self) -> None:
        """End the threads once the deliveries in flight ended; later deliveries run inline."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()

    def _ensure_thread(self) -> bool:
        """Start another thread while there are fewer than the deliveries in flight (lock held)."""
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        if len(self._threads) > self._active:  # one of them is idle: it takes the job
            return True
        thread = start_daemon(self._run, self._name)
        if thread is None:
            return bool(self._threads)
        self._threads.append(thread)
        return True

    def _run(self) -> None:
        DELIVERING.set(True)
        while True:
            with self._lock:
                while not self._jobs and not self._stopped:
                    self._lock.wait()
                if not self._jobs:  # stopped, nothing left
                    return
                delivery, on_wire = self._jobs.popleft()
            try:
                outcome = delivery(on_wire)
            except Exception:  # noqa: BLE001 - the core counts its losses; the thread must go on
                outcome = False
            on_wire.set()  # a delivery that made no request: the caller need not wait for one
            with self._lock:
                self._active -= 1
                self._outcome = self._outcome and outcome
                self._lock.notify_all()
