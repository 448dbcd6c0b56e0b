"""The bounded queue and the delivery thread behind the logging handler and the structlog processor.

`BatchWorker.put()` is what runs in the application's thread: one bounded `deque.append`, never blocking,
never raising, and no lock on the way in for an item under `LARGE_ITEM` bytes. The queue is bounded by
count and by bytes: every item counts as at least `LARGE_ITEM` bytes (a log record with a short prompt
takes about half that), a larger one as its estimated size (prompts, generations). When either bound is
reached the item is dropped and counted (`dropped["queue_full"]`, explained once through the client's
ledger). A daemon thread turns queued items into records (the mapping runs there, not in the caller) and
sends them through the shared `TrubricsClient` in groups of at most 100: as soon as a group is full, else
when the oldest waiting item has waited `interval` seconds. It sleeps on an `Event` in between, so an idle
worker costs nothing.

With a spool (`_spooling`), the worker never lets the queue reach its bounds if it can help it: while
the queue holds more than 3/4 of either, it writes its batches to the spool, which takes them far faster
than a host does and sends them on in its own thread, instead of sending them itself; and while the host
does not take what the spool holds, new batches go behind them, through the spool. What is still queued
when `close()` or the exit flush runs out of time goes to the spool too.

`put()` wakes the worker only when it must: when the worker said it is idle (not started, asleep with
nothing queued, or ended), or when a batch is full. The worker raises its idle flag *before* it looks at
the queue for the last time and sleeps, so an item is either seen by that look or sees the flag: no
interleaving of producers leaves an item waiting for a worker that sleeps without a timeout.

The worker uses its client like every exporter does: `retain()` when it is made, `release()` once when it
closes. A client made for a handler (`close_when_unused`) is thus shut down by its last user, whether that
is the handler or an exporter given `handler.client`, and a client the application passed in is left open.

What this module must never do:

- wait for its own thread from its own thread, or while the calling thread holds `logging._lock`
  (`logging.config.dictConfig` closes handlers with it held, and whatever the delivery needs, our thread
  logging or an HTTP server in the same process, may need that lock): there, `flush()` and `close()`
  only ask the worker to deliver everything now, and return at once;
- let a record made while delivering come back as an item (`_threads.DELIVERING` tells the handler);
- share a queue or thread with a forked child: the child starts empty, with a thread of its own.

At interpreter exit, every worker gets one bounded flush (`_exit_flush`).
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Final, Generic, TypeVar

from trubrics_otel._events import MAX_BATCH_SIZE, Record
from trubrics_otel._exit_flush import flush_all_at_exit, flush_at_exit, flush_in_multiprocessing_children
from trubrics_otel._fork import renew_in_child
from trubrics_otel._reporting import report
from trubrics_otel._stats import CLOSED, MAPPING_ERROR, QUEUE_FULL, DeliveryStats
from trubrics_otel._threads import DELIVERING, holds_logging_lock, start_daemon
from trubrics_otel._transport import TrubricsClient

__all__ = ["BatchWorker"]

_logger = logging.getLogger("trubrics_otel.batching")

T = TypeVar("T")


class _FlushMarker:
    """Queued behind the items a `flush()` must see delivered; the worker sets it when it gets there."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Sized(Generic[T]):
    """A queued item of at least `LARGE_ITEM` bytes, with the size it counts for in the byte bound."""

    __slots__ = ("item", "size")

    def __init__(self, item: T, size: int) -> None:
        self.item = item
        self.size = size


class BatchWorker(Generic[T]):
    """A bounded queue of items and the daemon thread that converts and delivers them in batches.

    Args:
        client: the transport the records go through; its ledger counts this worker's drops too.
        convert: turns one queued item into a record, or None when it is nothing for Trubrics. It runs
            on the worker's thread; an exception costs that item only (`dropped["mapping_error"]`).
        max_queue_size: the most items waiting; more are dropped and counted as `queue_full`.
        interval: seconds an item may wait for its batch of `batch_size` to fill.
        flush_timeout: seconds `flush()`, `close()` and the exit flush wait by default.
        batch_size: the most records per `send()`.
        max_queue_bytes: the most bytes the queued items of at least `LARGE_ITEM` bytes may add up to,
            as `size_of` estimates them; more are dropped and counted as `queue_full`. None: no bound.
        size_of: a cheap estimate of an item's bytes, run in the caller's thread; needed for the bound.
        clock: a monotonic clock in seconds; tests pass a fake one.
        name: the worker thread's name.
    """

    def __init__(
        self,
        client: TrubricsClient,
        convert: Callable[[T], Record | None],
        *,
        max_queue_size: int,
        interval: float,
        flush_timeout: float,
        batch_size: int = MAX_BATCH_SIZE,
        max_queue_bytes: int | None = None,
        size_of: Callable[[T], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str = "trubrics-log-worker",
    ) -> None:
        if max_queue_size < 1 or batch_size < 1 or interval <= 0 or flush_timeout < 0:
            raise ValueError("BatchWorker needs a positive queue size, batch size and interval.")
        self._client = client
        self._convert = convert
        self._max_queue_size = max_queue_size
        self._interval = interval
        self._flush_timeout = flush_timeout
        self._batch_size = batch_size
        self._max_queue_bytes = max_queue_bytes
        self._size_of = size_of if max_queue_bytes is not None else None
        # the most items the queue holds, each counted as LARGE_ITEM bytes at least
        self._max_items = max_queue_size
        if max_queue_bytes is not None:
            self._max_items = max(min(max_queue_size, max_queue_bytes // LARGE_ITEM), 1)
        self._clock = clock
        self._name = name
        self._closed = False
        self._released = False
        self._exit_deadline: float | None = None  # set when the exit flush begins: later waits end by it
        self._fresh_state()
        client.retain()  # released once, when the worker closes
        flush_at_exit(self)
        renew_in_child(self._after_fork_in_child)

    def _fresh_state(self) -> None:
        """Everything a forked child must not share with its parent."""
        self._pid = os.getpid()
        self._queue: collections.deque[T | _Sized[T] | _FlushMarker] = collections.deque()
        self._bytes = 0  # what the queued _Sized items add up to
        self._large_units = 0  # the same, in LARGE_ITEM units: put() adds it to the count it bounds
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # put() wakes the worker while this is set. Raised by the worker before its last look at an empty
        # queue, and at its end; True until the thread runs, which starts it on the first item.
        self._idle = True
        self._finished = False  # the worker has delivered for the last time; put() drops what comes after
        self._urgent = 0  # flush markers queued and not yet reached
        self._lost: dict[str, int] = {}  # drops counted in put(), handed to the ledger by the worker

    def __repr__(self) -> str:
        return f"BatchWorker(name={self._name!r}, queued={len(self._queue)}, closed={self._closed})"

    @property
    def client(self) -> TrubricsClient:
        """The transport this worker sends through."""
        return self._client

    @property
    def closed(self) -> bool:
        """Whether `close()` has been called."""
        return self._closed

    @property
    def queued(self) -> int:
        """Items waiting in the queue now (a flush waiting for them is not one)."""
        return max(len(self._queue) - self._urgent, 0)

    def stats(self) -> DeliveryStats:
        """Return the client's counters, with this worker's latest drops included."""
        self.hand_over_losses()
        return self._client.stats()

    # --- the caller's side ----------------------------------------------------------------------

    def put(self, item: T) -> bool:
        """Queue an item for delivery; False when it was dropped. Never blocks and never raises."""
        queue = self._queue
        if len(queue) + self._large_units >= self._max_items or self._closed:
            self._count_lost(self._why_full())
            return False
        if self._size_of is not None and (size := self._estimate(item)) >= LARGE_ITEM:
            if not self._reserve(size):
                self._count_lost(_QUEUE_BYTES)
                return False
            queue.append(_Sized(item, size))
        else:
            queue.append(item)
        # Read after the append: an idle worker (see the module docstring), or a full batch while the
        # worker waits out its interval. Otherwise the worker will see the item by itself, so the common
        # case is two attribute reads and a length.
        if self._idle or (len(queue) >= self._batch_size and not self._wake.is_set()):
            return self._wake_worker(item)
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver every item queued before this call; True when they were all sent in time.

        Waits at most `timeout` seconds (default `flush_timeout`). From the worker's own thread, or while
        the calling thread holds `logging._lock`, it asks for the delivery without waiting for it, and
        returns whether nothing was left to deliver. Once the exit flush has begun, it waits no longer than
        that flush's deadline. What went through the spool is waited for too, while the host takes it.
        """
        timeout = self._wait_limit(timeout)
        self._check_fork()
        if self._closed or (not self._queue and self._thread is None):
            return not self._queue
        ends = time.monotonic() + timeout
        marker = self._request_flush()
        if self._must_not_wait():
            return False
        if self._thread is None:  # no thread could be started
            self._deliver_due(ends)
        if not marker.done.wait(timeout):
            return False
        spool = self._client.spool
        return spool is None or spool.drain(max(ends - time.monotonic(), 0.0))

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is queued, stop the thread, and release the client (see the module docstring).

        Idempotent; items put afterwards are dropped and counted as `closed`. Waits at most `timeout`
        seconds (default `flush_timeout`; after the exit flush began, no longer than its deadline), and
        not at all where `flush()` would not wait: the worker then delivers what is queued on its own
        before it ends, and releases the client then. True when everything queued was delivered.

        When its wait runs out, what is still queued is counted as `failed` (the budget that ran out is
        the reason), and the batch being sent is waited for up to `IN_FLIGHT_GRACE` seconds more, so that
        every record is counted as sent or failed when `close()` returns (one the host still has not
        answered then is counted as still being sent, in the account).
        """
        with self._lock:
            if self._closed:
                return not self._queue
            self._closed = True
        timeout = self._wait_limit(timeout)
        self._check_fork()
        with self._lock:  # against _ensure_thread: either we see its thread, or it starts none
            self._stopping = True  # the worker delivers everything queued, then ends
            thread = self._thread
        self._wake.set()
        if thread is None or not thread.is_alive():
            if thread is None and self._queue and not self._must_not_wait():
                self._deliver_due(time.monotonic() + timeout)  # no thread could start: deliver in this one
            self._finish()  # nothing will deliver: what a racing put() queued is counted as closed
            self._release_client()
        elif not self._must_not_wait():
            thread.join(timeout)
            if thread.is_alive():  # the wait ran out: what is still queued will not be sent
                self._give_up_queued(timeout)
            # the last user's release shuts the client down, which ends any retry the worker still waits on
            self._release_client()
            self.settle()
        self.hand_over_losses()
        return not self._queue and (thread is None or not thread.is_alive())

    def settle(self) -> None:
        """Once closed and its client shut down, wait up to `IN_FLIGHT_GRACE` s for the batch being sent.

        The shutdown ends any retry at once; the request under way ends when the host answers, and its
        records are counted then. Does nothing where `flush()` would not wait, or while the client is
        open (a user of the client other than this worker still holds it: it calls this after its own
        release).
        """
        thread = self._thread
        if (
            not self._closed
            or thread is None
            or not thread.is_alive()
            or not self._client.is_shutdown
            or self._must_not_wait()
        ):
            return
        thread.join(IN_FLIGHT_GRACE)
        self.hand_over_losses()

    def _estimate(self, item: T) -> int:
        try:
            return self._size_of(item) if self._size_of is not None else 0
        except Exception:  # noqa: BLE001 - an estimate that fails costs the bound, never the record
            return 0

    def _why_full(self) -> str:
        if self._closed:
            return CLOSED
        return QUEUE_FULL if len(self._queue) >= self._max_queue_size else _QUEUE_BYTES

    def _reserve(self, size: int) -> bool:
        with self._lock:
            limit = self._max_queue_bytes
            if limit is not None and self._bytes + size + len(self._queue) * LARGE_ITEM > limit:
                return False
            self._bytes += size
            self._large_units = self._bytes // LARGE_ITEM
            return True

    def _unwrap(self, item: T | _Sized[T]) -> T:
        """The item itself; a large one leaves the byte bound as it leaves the queue."""
        if isinstance(item, _Sized):
            with self._lock:
                self._bytes -= item.size
                self._large_units = self._bytes // LARGE_ITEM
            return item.item
        return item

    def _backlogged(self) -> bool:
        """Whether the queue holds more than 3/4 of what it may: the worker then spools its batches."""
        return (len(self._queue) + self._large_units) * 4 > self._max_items * 3

    @property
    def queued_bytes(self) -> int:
        """What the queued items add up to against the byte bound (each counts `LARGE_ITEM` at least)."""
        small = len(self._queue) - sum(1 for item in list(self._queue) if isinstance(item, _Sized))
        return self._bytes + small * LARGE_ITEM

    def _count_lost(self, reason: str) -> None:
        with self._lock:
            self._lost[reason] = self._lost.get(reason, 0) + 1

    def _wake_worker(self, item: T) -> bool:
        if self._pid != os.getpid():  # forked without the at-fork hooks: start afresh with this item
            self._fresh_state()
            self._queue.append(item)
        if self._finished:  # put() passed the closed check, then the worker delivered for the last time
            self._drop_leftovers()
            return False
        if not self._wake.is_set():  # set after the worker's last clear: its wait returns anyway
            self._ensure_thread()
            self._wake.set()
        return True

    def _wait_limit(self, timeout: float | None) -> float:
        """`timeout` (default `flush_timeout`), cut to what is left of the exit flush once it has begun."""
        limit = self._flush_timeout if timeout is None else timeout
        deadline = self._exit_deadline
        if deadline is not None:
            limit = min(limit, max(deadline - time.monotonic(), 0.0))
        return limit

    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self._stopping:
                return
            # when none can start, flush() and close() deliver in their caller's thread
            self._thread = start_daemon(self._run, self._name)
        flush_in_multiprocessing_children()  # a multiprocessing child ends through os._exit: no exit hook

    def _request_flush(self) -> _FlushMarker:
        marker = _FlushMarker()
        with self._lock:
            self._urgent += 1
        self._queue.append(marker)
        self._ensure_thread()
        self._wake.set()
        return marker

    def _must_not_wait(self) -> bool:
        if threading.current_thread() is self._thread:
            return True
        return holds_logging_lock()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._fresh_state()

    def _release_client(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._client.release()

    # --- the worker's side ----------------------------------------------------------------------

    def _run(self) -> None:
        DELIVERING.set(True)  # everything this thread logs is about delivering
        self._idle = False
        try:
            while not self._stopping:
                try:
                    self._wait_for_batch()
                    self._deliver_due()
                except Exception:  # noqa: BLE001 - the worker outlives any bug
                    report(
                        _logger,
                        logging.ERROR,
                        "Trubrics: the log delivery thread hit an error and goes on",
                        key="log-delivery-thread",
                        exc_info=True,
                    )
            self._deliver_due()
        finally:
            if self._stopping:
                self._finish()
            else:  # ended by a BaseException, not by close(): the next put() starts another thread
                self._wake.clear()
                self._idle = True
            self.hand_over_losses()
            if self._closed:
                self._release_client()

    def _finish(self) -> None:
        """End delivery for good: what is still queued, or queued from now on, is counted as `closed`."""
        # put() reads `_idle`, then `_finished`, after its append: set in this order and followed by the
        # drain, every item is either drained here or dropped by that put() itself
        self._idle = True
        self._finished = True
        self._drop_leftovers()

    def _drop_leftovers(self) -> None:
        """Count what is queued as `closed`; put() and the ending worker may both run this at once."""
        queue = self._queue
        lost = 0
        while True:
            try:
                item = queue.popleft()
            except IndexError:
                break
            if isinstance(item, _FlushMarker):
                self._reached(item)  # nothing comes after it: its flush need not wait out its timeout
            else:
                self._unwrap(item)
                lost += 1
        if lost:
            with self._lock:
                self._lost[CLOSED] = self._lost.get(CLOSED, 0) + lost

    def _give_up_queued(self, timeout: float) -> None:
        """Spool what is still queued (without a spool: count it as failed), once close() waited its all."""
        queue = self._queue
        given_up = 0
        kept: list[T] = []
        while True:
            try:
                item = queue.popleft()
            except IndexError:
                break
            if isinstance(item, _FlushMarker):
                self._reached(item)
            else:
                kept.append(self._unwrap(item))
                given_up += 1
        if given_up:
            if self._exit_deadline is not None:  # close() at exit had only what was left of it
                budget, timeout = "the exit flush", self._flush_timeout
            else:
                budget = "close()"
            why = f"{budget} ran out of its {timeout:g} s (TRUBRICS_LOG_FLUSH_TIMEOUT) before they were sent"
            if self._client.spool is not None:
                self._client.keep(self._records_of(kept), why)
            else:
                self._client.ledger.failed(given_up, why)

    def _wait_for_batch(self) -> None:
        """Return when a batch is full, a flush or close is waiting, or the first item waited `interval`."""
        deadline: float | None = None
        while not self._stopping and not self._urgent:
            self._wake.clear()
            size = len(self._queue)
            if size >= self._batch_size or self._urgent or self._stopping:
                return
            if size == 0:
                deadline = None
                self._idle = True  # from now on put() wakes us; the queue gets one more look first
                if not self._queue:
                    self._wake.wait()
                self._idle = False
                continue
            now = self._clock()
            if deadline is None:
                deadline = now + self._interval
            if now >= deadline:
                return
            self._wake.wait(deadline - now)

    def _deliver_due(self, until: float | None = None) -> None:
        """Send batches while a full one is waiting or a flush or close asks for everything.

        `until` (a `time.monotonic()` moment) bounds a delivery made from a caller's thread.
        """
        while True:
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                return
            backlogged = self._backlogged()  # the batch about to be taken counts: it is held in memory too
            items, marker = self._take()
            if items:
                self._send(items, left, backlogged=backlogged)
            if marker is not None:
                self._reached(marker)
            queued = len(self._queue)
            if not queued or (queued < self._batch_size and not self._urgent and not self._stopping):
                return

    def _take(self) -> tuple[list[T], _FlushMarker | None]:
        """Pop up to a batch of items, stopping at a flush marker (returned, to be set once they are sent)."""
        items: list[T] = []
        queue = self._queue
        while len(items) < self._batch_size:
            try:
                item = queue.popleft()
            except IndexError:
                break
            if isinstance(item, _FlushMarker):
                return items, item
            items.append(self._unwrap(item))
        return items, None

    def _send(self, items: list[T], deadline: float | None = None, *, backlogged: bool = False) -> None:
        """Convert and send items, within `deadline` seconds if given; a failed conversion costs its item.

        With a spool, when the queue was `backlogged` as they were taken, or while batches wait in the
        spool, they go to the spool.
        """
        records = self._records_of(items)
        self.hand_over_losses()
        if not records:
            return
        spool = self._client.spool
        if spool is not None and (spool.host_failing or backlogged):
            why = (
                "earlier records wait in the spool for the host, and these go behind them"
                if spool.host_failing
                else "log records came faster than the host took them (the log queue was over 3/4 full)"
            )
            self._client.keep(records, why, quiet=not spool.host_failing)
        else:
            self._client.send(records, deadline=deadline)

    def _records_of(self, items: list[T]) -> list[Record]:
        """The records items become; one that cannot be converted is counted, and costs only itself."""
        records: list[Record] = []
        for item in items:
            try:
                record = self._convert(item)
            except Exception as error:  # noqa: BLE001 - one odd record costs itself, never its batch
                self._client.ledger.dropped(
                    MAPPING_ERROR, 1, f"a log record could not be mapped: {type(error).__name__}: {error}"
                )
                continue
            if record is not None:
                records.append(record)
        return records

    def _reached(self, marker: _FlushMarker) -> None:
        with self._lock:
            self._urgent -= 1
        marker.done.set()

    def hand_over_losses(self) -> None:
        """Count in the client's ledger the drops `put()` noted since the last hand-over."""
        with self._lock:
            lost, self._lost = self._lost, {}
        for key, count in lost.items():
            reason, explanation = _EXPLANATIONS[key]
            bound = self._max_queue_bytes if key == _QUEUE_BYTES else self._max_queue_size
            self._client.ledger.dropped(reason, count, explanation.format(bound))

    # --- fork and exit --------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        self._fresh_state()

    def begin_exit_flush(self, start: float) -> tuple[float, Callable[[float], object]] | None:
        """Start this worker's exit flush at `start`; return its deadline and what to wait on, or None.

        From now on no wait of this worker's lasts past that deadline (`flush_timeout` after `start`).
        """
        deadline = self._exit_deadline = start + self._flush_timeout
        wait = self._exit_wait()
        return None if wait is None else (deadline, wait)

    def end_exit_flush(self) -> None:
        """End this worker's exit flush: what is still queued will not be sent, and is counted so."""
        if self._pid == os.getpid():
            self._give_up_queued(self._flush_timeout)
        self.hand_over_losses()

    def _exit_wait(self) -> Callable[[float], object] | None:
        self._check_fork()
        thread = self._thread
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            return None
        if self._closed:
            return thread.join  # closed without waiting (under logging's lock): still delivering
        return self._request_flush().done.wait


IN_FLIGHT_GRACE: Final = 1.0
"""Seconds `close()` waits, after its own wait ran out and the client shut down, for the request under
way to end: its records are then counted as sent or failed before `close()` returns. (The shutdown ends
any retry at once; a request the host does not answer meanwhile stays counted as still being sent.)"""

LARGE_ITEM: Final = 1024
"""Items estimated at this many bytes or more count against the byte bound; smaller ones are bounded by
the count alone (10,000 of them hold a few MiB), so the common record takes no lock on its way in."""

_QUEUE_BYTES: Final = "queue_bytes"
"""The key of the drops past the byte bound in `_lost`: counted as `queue_full`, explained apart."""

# what put() counts -> (the drop reason, its explanation given the bound)
_EXPLANATIONS: Final = {
    QUEUE_FULL: (
        QUEUE_FULL,
        "the log queue held {} records already (TRUBRICS_LOG_QUEUE_SIZE); records come faster than they can "
        "be delivered",
    ),
    _QUEUE_BYTES: (
        QUEUE_FULL,
        "the log queue's large records held {} bytes already (TRUBRICS_LOG_QUEUE_BYTES); records come faster "
        "than they can be delivered",
    ),
    CLOSED: (CLOSED, "the logging handler or structlog processor was already closed"),
}

# registered here, once the hooks of what this module imports are: atexit runs this one before them
atexit.register(flush_all_at_exit)
