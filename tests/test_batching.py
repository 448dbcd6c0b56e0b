"""The bounded queue and its delivery thread, against the real local server."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from trubrics_otel._batching import BatchWorker
from trubrics_otel._events import Event, Record
from trubrics_otel._threads import DELIVERING, in_delivery
from trubrics_otel._transport import TrubricsClient
from trubrics_otel.server import LocalServer

SETTINGS: dict[str, Any] = {"max_queue_size": 10, "interval": 60, "flush_timeout": 5}


@pytest.fixture
def client(server: LocalServer, api_key: str) -> Iterator[TrubricsClient]:
    client = TrubricsClient(api_key, server.url)
    yield client
    client.shutdown()


@pytest.fixture
def make_worker(client: TrubricsClient) -> Iterator[Callable[..., BatchWorker[Event]]]:
    """Build workers that deliver `Event`s as they are; every one is closed after the test."""
    workers: list[BatchWorker[Event]] = []

    def make(
        convert: Callable[[Event], Record | None] = lambda event: event, **kwargs: object
    ) -> BatchWorker[Event]:
        settings: dict[str, object] = {"max_queue_size": 1000, "interval": 60.0, "flush_timeout": 5.0}
        settings.update(kwargs)
        worker: BatchWorker[Event] = BatchWorker(client, convert, **settings)  # type: ignore[arg-type]
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close(timeout=1)


def events(count: int, name: str = "Event") -> list[Event]:
    return [Event(f"u{i}", name) for i in range(count)]


def posts(server: LocalServer) -> list[int | None]:
    return [request.item_count for request in server.requests if request.method == "POST"]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def test_flush_delivers_what_was_queued(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer
) -> None:
    """Queued items are sent by flush() even though the interval has not passed."""
    worker = make_worker()
    for event in events(3):
        assert worker.put(event)

    assert worker.flush()
    assert [item["user_id"] for item in server.events()] == ["u0", "u1", "u2"]
    assert worker.stats().sent == 3


def test_full_batches_go_at_once_in_groups_of_at_most_100(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer
) -> None:
    """A full batch of 100 is sent without waiting for the interval; a flush sends the rest."""
    worker = make_worker()
    for event in events(250):
        worker.put(event)

    assert wait_until(lambda: sum(count or 0 for count in posts(server)) >= 200)
    assert worker.flush()
    assert posts(server) == [100, 100, 50]


def test_a_lone_item_is_sent_when_the_interval_passes(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer
) -> None:
    """One item waits at most the interval: the worker's timer sends it with no flush and no new item."""
    worker = make_worker(interval=0.05)
    worker.put(Event("u1", "Alone"))

    assert wait_until(lambda: len(server.events()) == 1, timeout=2)


def test_an_idle_worker_does_not_poll(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer
) -> None:
    """Once the queue is empty the worker sleeps until the next item: its clock is no longer read."""
    reads = 0

    def clock() -> float:
        nonlocal reads
        reads += 1
        return time.monotonic()

    worker = make_worker(interval=0.01, clock=clock)
    worker.put(Event("u1", "Once"))
    assert wait_until(lambda: len(server.events()) == 1, timeout=2)
    time.sleep(0.05)  # let the worker go back to sleep
    before = reads
    time.sleep(0.1)  # ten intervals

    assert reads == before


def test_overflow_is_dropped_counted_and_reported_once(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the queue's size, put() returns False, and the drops are counted and explained once."""
    worker = make_worker(max_queue_size=5)

    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        accepted = [worker.put(event) for event in events(12)]
        stats = worker.stats()
        worker.put(Event("u", "one more"))
        worker.stats()

    assert accepted == [True] * 5 + [False] * 7
    assert stats.dropped["queue_full"] == 7
    assert worker.stats().dropped["queue_full"] == 8
    assert len([r for r in caplog.records if "queue_full" in r.getMessage()]) == 1
    assert worker.flush()
    assert len(server.events()) == 5


def test_a_record_that_cannot_be_mapped_costs_only_itself(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer
) -> None:
    """An exception in convert drops that item (`mapping_error`); its batch is delivered."""

    def convert(event: Event) -> Record | None:
        if event.event == "bad":
            raise ValueError("no")
        return None if event.event == "nothing" else event

    worker = make_worker(convert)
    for name in ("good", "bad", "nothing", "good"):
        worker.put(Event("u1", name))

    assert worker.flush()
    assert [item["event"] for item in server.events()] == ["good", "good"]
    assert worker.stats().dropped == {"mapping_error": 1}


def test_close_delivers_everything_then_refuses_and_counts(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer, client: TrubricsClient
) -> None:
    """close() delivers the queue and stops; later items are dropped as `closed`; closing twice is fine."""
    worker = make_worker()
    for event in events(120):
        worker.put(event)

    assert worker.close()
    assert worker.close()
    assert not worker.put(Event("u1", "late"))
    assert len(server.events()) == 120
    assert worker.stats().dropped == {"closed": 1}
    assert not client.is_shutdown  # the worker did not make the client, so it leaves it open


def test_each_worker_releases_the_client_once_and_the_last_one_shuts_it_down(
    server: LocalServer, api_key: str
) -> None:
    """Two workers share a client made for them: the first to close leaves it open for the other."""
    client = TrubricsClient(api_key, server.url)
    client.close_when_unused = True
    first: BatchWorker[Event] = BatchWorker(client, lambda event: event, **SETTINGS)
    second: BatchWorker[Event] = BatchWorker(client, lambda event: event, **SETTINGS)
    first.put(Event("u1", "From the first"))
    second.put(Event("u2", "From the second"))

    assert first.close()
    assert first.close()  # closing twice releases once
    assert not client.is_shutdown
    assert second.close()
    assert client.is_shutdown
    assert sorted(item["event"] for item in server.events()) == ["From the first", "From the second"]


class _WaitWatcher(threading.Event):
    """The worker's wake-up Event, telling the test when the worker goes to sleep without a timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.asleep = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            self.asleep.set()
        return super().wait(timeout)


class _RacingQueue(collections.deque[object]):
    """A worker's queue that runs what another thread would do at a chosen moment of the next append."""

    def __init__(
        self, *, before: Callable[[], None] | None = None, after: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self._before, self._after = before, after

    def append(self, item: object) -> None:
        before, after, self._before, self._after = self._before, self._after, None, None
        if before is not None:
            before()
        super().append(item)
        if after is not None:
            after()


def test_two_producers_racing_on_an_empty_queue_still_wake_the_idle_worker(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer
) -> None:
    """Both appends done before either producer looks at the queue: the sleeping worker is still woken."""
    worker = make_worker(interval=0.01)
    watcher = _WaitWatcher()
    worker._wake = watcher
    worker.put(Event("u0", "Warm-up"))
    assert wait_until(lambda: len(server.events()) == 1, timeout=2)
    assert watcher.asleep.wait(2)  # the worker waits for a wake-up, with no timeout

    # another producer's put() runs between this put()'s append and its look at the queue
    worker._queue = _RacingQueue(after=lambda: worker.put(Event("u2", "Second")))  # type: ignore[assignment]
    worker.put(Event("u1", "First"))  # sees two items queued too

    assert wait_until(lambda: len(server.events()) == 3, timeout=2), "the idle worker was never woken"
    assert [item["event"] for item in server.events()] == ["Warm-up", "First", "Second"]


@pytest.mark.parametrize("started", [True, False], ids=["worker running", "worker never started"])
def test_an_item_put_while_the_worker_closes_is_counted_as_closed(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer, started: bool
) -> None:
    """put() passes its closed check, close() delivers for the last time, then put() appends: counted."""
    worker = make_worker(interval=0.01)
    if started:
        worker.put(Event("u0", "Before"))
        assert wait_until(lambda: len(server.events()) == 1, timeout=2)

    # close() runs between put()'s closed check and its append
    worker._queue = _RacingQueue(before=lambda: worker.close(timeout=2))  # type: ignore[assignment]
    accepted = worker.put(Event("u1", "Late"))

    assert not accepted
    assert worker.stats().dropped == {"closed": 1}
    assert worker.queued == 0


def test_flush_and_close_holding_the_logging_lock_never_wait_for_the_worker(
    make_worker: Callable[..., BatchWorker[Event]], server: LocalServer
) -> None:
    """With `logging._lock` held, flush() and close() return at once; the worker delivers when it can."""
    release = threading.Event()
    blocked = threading.Event()

    def convert(event: Event) -> Event:
        if event.event == "first":
            blocked.set()
            release.wait(5)  # the worker is stuck, as if it waited for logging._lock
        return event

    worker = make_worker(convert)
    worker.put(Event("u1", "first"))
    worker.flush(timeout=0)  # wakes the worker, which takes "first" and blocks
    assert blocked.wait(2)
    worker.put(Event("u1", "second"))
    started = time.monotonic()
    with logging._lock:  # type: ignore[attr-defined]
        flushed = worker.flush(timeout=5)
        closed = worker.close(timeout=5)
    elapsed = time.monotonic() - started
    release.set()

    assert (flushed, closed) == (False, False)
    assert elapsed < 1
    assert wait_until(lambda: len(server.events()) == 2)
    assert [item["event"] for item in server.events()] == ["first", "second"]


def test_the_worker_thread_is_marked_as_delivering(make_worker: Callable[..., BatchWorker[Event]]) -> None:
    """Mapping runs on the worker thread, which is marked as delivering; the caller's thread is not."""
    seen: list[tuple[str, bool]] = []

    def convert(event: Event) -> Event:
        seen.append((threading.current_thread().name, in_delivery()))
        return event

    worker = make_worker(convert, name="trubrics-test-worker")
    worker.put(Event("u1", "x"))
    assert worker.flush()

    assert seen == [("trubrics-test-worker", True)]
    assert not DELIVERING.get()


def test_bad_settings_are_refused() -> None:
    """A worker needs a positive queue size and interval."""
    client = TrubricsClient("k", "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="positive"):
        BatchWorker(client, lambda item: None, max_queue_size=0, interval=1, flush_timeout=1)
    client.shutdown()
