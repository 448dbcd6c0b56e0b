"""Faults of the host: a trickled answer, a Retry-After of 0, redirects, an answer that comes after the
client stopped waiting for it, random 503s, and a rate-limit window while records keep coming.

What the local server cannot stage (a trickle, a redirect) is staged by `hosts.RawServer`. Where the
client would wait out whole seconds of back-off, it is given a fake clock (`FakeClock`), as the
transport's own tests do: the waits it asks for are recorded instead of slept.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hosts import Answer, RawServer, respond

from trubrics_otel import Event, SendResult, TrubricsClient, TrubricsHandler
from trubrics_otel.server import Fault, LocalServer

from .accounting import Arrivals, arrivals, settled, spooled_records, wait_for
from .conftest import LedgerRow


@pytest.fixture
def raw_server() -> Iterator[Callable[[Answer], RawServer]]:
    """Make `RawServer`s; each is stopped after the test."""
    made: list[RawServer] = []

    def make(answer: Answer) -> RawServer:
        made.append(RawServer(answer))
        return made[-1]

    yield make
    for host in made:
        host.stop()


class FakeClock:
    """A monotonic clock that moves only when the client waits: the waits are recorded, not slept.

    Each wait is recorded with the thread that asked for it: a send's own, or the spool's.
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self.waiters: list[int] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        with self._lock:
            self.waits.append(seconds)
            self.waiters.append(threading.get_ident())
            self.now += seconds
        return False


def events(prefix: str, count: int) -> list[Event]:
    return [Event(f"{prefix}-{index}", "Sign up", properties={"index": index}) for index in range(count)]


def ids_of(records: list[Event]) -> list[str]:
    return [record.user_id for record in records]


def test_a_trickled_answer_ends_by_the_deadline_and_its_records_are_spooled(
    raw_server: Callable[[Answer], RawServer], ledger_row: LedgerRow
) -> None:
    """A host that trickles its answer a byte every 20 ms: the send ends by its 0.6 s deadline, and the
    100 records are in the spool, not lost."""

    def trickle(connection: socket.socket, head: bytes, body: bytes) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
            if host.stopped.wait(0.02):
                return
            connection.sendall(bytes([byte]))

    host = raw_server(trickle)
    client = TrubricsClient("key", host.url, timeout=0.3, retry_deadline=0.6)
    batch = events("trickle", 100)
    results: list[SendResult] = []
    sender = threading.Thread(target=lambda: results.append(client.send(batch)), daemon=True)
    began = time.monotonic()
    sender.start()
    sender.join(5)  # a send the trickle holds is given up on here: the test's row still comes
    took = time.monotonic() - began
    host.stop()  # ends the trickle, and the send with it
    client.shutdown()
    sender.join(5)
    assert wait_for(lambda: settled(client))

    # the trickling host never finishes an answer, so it stores nothing
    arrived = Arrivals(stored=0, duplicated=0, strangers=0, deduplicated=0, requests=len(host.heads))
    ledger_row(
        "host trickles its answer (a byte / 20 ms)",
        produced=len(batch),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=client.stats().lost,
        note=f"send ended after {took:.2f} s (deadline 0.6 s); the batch waits in the spool",
    )
    assert took < 1.5
    assert [(result.spooled, result.failed) for result in results] == [(100, 0)]
    assert spooled_records() == 100


def test_a_retry_after_0_storm_makes_few_requests_and_loses_nothing(
    server: LocalServer, api_key: str, ledger_row: LedgerRow
) -> None:
    """40 answers of 503 with `Retry-After: 0`: the client pauses at least 1 s each time, so an 8 s deadline
    holds a handful of requests; the batch it gave up on is spooled, and stored once the host answers."""
    server.faults.script(*[Fault(status=503, retry_after="0")] * 40)
    clock = FakeClock()
    client = TrubricsClient(api_key, server.url, retry_deadline=8, _clock=clock, _wait=clock.wait)
    batch = events("storm0", 100)
    try:
        result = client.send(batch)
        # one request, then one more after each pause of this thread's (the spool's thread may be sending)
        in_deadline = 1 + clock.waiters.count(threading.get_ident())
        server.faults.clear()
        assert wait_for(lambda: arrivals(server, ids_of(batch)).stored == 100 and settled(client))
    finally:
        client.shutdown()

    arrived = arrivals(server, ids_of(batch))
    ledger_row(
        "503 + Retry-After: 0, 40 times",
        produced=len(batch),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=client.stats().lost,
        note=(
            f"{in_deadline} requests within the send's 8 s deadline (shortest pause {min(clock.waits):g} s), "
            "then spooled and replayed"
        ),
    )
    assert result.spooled == 100
    assert in_deadline <= 9
    assert min(clock.waits) >= 1.0
    assert (arrived.stored, arrived.duplicated) == (100, 0)


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
def test_a_redirect_is_dropped_as_rejected_and_its_target_gets_nothing(
    raw_server: Callable[[Answer], RawServer], api_key: str, status: str, ledger_row: LedgerRow
) -> None:
    """A host that redirects to another (a second local server): the records are dropped as `rejected`,
    never spooled, and the target gets no request at all, so neither the records nor the key."""
    with LocalServer(api_keys={api_key}) as target:
        host = raw_server(
            lambda connection, head, body: connection.sendall(
                respond(status, {"Location": f"{target.url}/publish_events"})
            )
        )
        client = TrubricsClient(api_key, host.url, retry_deadline=1)
        batch = events(f"redirect{status[:3]}", 10)
        try:
            result = client.send(batch)
        finally:
            client.shutdown()
        arrived = arrivals(target, ids_of(batch))
        target_requests = target.requests

    ledger_row(
        f"HTTP {status} to another server",
        produced=len(batch),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=client.stats().lost,
        note=(
            f"dropped as {dict(client.stats().dropped)}; {len(host.heads)} request to the redirecting host, "
            f"{len(target_requests)} to the target"
        ),
    )
    assert result.dropped == 10
    assert dict(client.stats().dropped) == {"rejected": 10}
    assert target_requests == []
    assert len(host.heads) == 1


def copies_received(server: LocalServer, ids: list[str]) -> int:
    """Copies of the records `ids` names that reached the server: stored, or acknowledged as copies."""
    arrived = arrivals(server, ids)
    return arrived.stored + arrived.duplicated + arrived.deduplicated


@pytest.mark.parametrize("after", ["retry", "spool"])
def test_a_batch_stored_but_answered_too_late_is_stored_once(
    server: LocalServer, api_key: str, after: str, ledger_row: LedgerRow
) -> None:
    """The server stores the batch but answers 0.5 s later, past the client's 0.2 s timeout: sent again by
    a retry (deadline 5 s) or from the spool (deadline 0.3 s), it is acknowledged and not stored twice."""
    server.faults.script(Fault(status=200, delay=0.5))
    deadline = 5 if after == "retry" else 0.3
    client = TrubricsClient(api_key, server.url, timeout=0.2, retry_deadline=deadline, _rng=random.Random(3))
    batch = events(f"late-{after}", 100)
    try:
        result = client.send(batch)
        # the late answer's batch and its second sending both reach the server: wait for both, stored or
        # acknowledged as copies
        assert wait_for(lambda: copies_received(server, ids_of(batch)) == 200 and settled(client))
    finally:
        client.shutdown()

    arrived = arrivals(server, ids_of(batch))
    ledger_row(
        f"stored, answered after the timeout; sent again by {after}",
        produced=len(batch),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=client.stats().lost,
        note=f"send result: {result.sent} sent, {result.spooled} spooled; replayed {client.stats().replayed}",
    )
    assert (result.sent, result.spooled) == ((100, 0) if after == "retry" else (0, 100))
    assert (arrived.stored, arrived.duplicated) == (100, 0)


def test_random_503s_at_half_the_requests_lose_nothing_with_the_default_retry(
    api_key: str, logger: logging.Logger, ledger_row: LedgerRow
) -> None:
    """Half the requests answered 503 (seeded), the default deadline and back-off on a fake clock: 1,000
    records logged through a handler are all stored, each once."""
    clock = FakeClock()
    with LocalServer(api_keys={api_key}, fail_rate=0.5, seed=10) as flaky:
        client = TrubricsClient(api_key, flaky.url, _clock=clock, _wait=clock.wait)
        handler = TrubricsHandler(client=client, flush_interval=0.05)
        logger.addHandler(handler)
        ids = [f"flaky-{index}" for index in range(1000)]
        try:
            for name in ids:
                logger.info("Sign up", extra={"user_id": name})
            handler.flush()
            assert wait_for(lambda: arrivals(flaky, ids).stored == 1000 and settled(client))
        finally:
            logger.removeHandler(handler)
            handler.close()
            client.shutdown()
        arrived = arrivals(flaky, ids)
        stats = client.stats()

    ledger_row(
        "503 at random to half the requests, default retry",
        produced=len(ids),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=stats.lost,
        note=f"{stats.retried} retries, {sum(clock.waits):.1f} s of back-off (fake clock)",
    )
    assert (arrived.stored, arrived.duplicated) == (1000, 0)


def test_records_that_keep_coming_through_a_rate_limit_window_are_all_stored(
    server: LocalServer, api_key: str, logger: logging.Logger, ledger_row: LedgerRow
) -> None:
    """The first batch is answered 429 with `Retry-After: 1`; 200 more records come during that second:
    once the window has passed, all 300 are stored, each once."""
    server.faults.script(Fault(status=429, retry_after="1"))
    handler = TrubricsHandler(api_key=api_key, host=server.url, flush_interval=0.05)
    logger.addHandler(handler)
    ids = [f"window-{index}" for index in range(300)]
    began = time.monotonic()
    for wave in range(3):
        for name in ids[wave * 100 : (wave + 1) * 100]:
            logger.info("Sign up", extra={"user_id": name})
        time.sleep(0.2)  # the records keep coming through the window, not in one burst
    assert wait_for(lambda: arrivals(server, ids).stored == 300 and settled(handler.client))
    took = time.monotonic() - began
    stats = handler.stats()

    arrived = arrivals(server, ids)
    ledger_row(
        "429 + Retry-After: 1 while records keep coming",
        produced=len(ids),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=stats.lost,
        note=f"all stored {took:.1f} s after the first; {stats.retried} retried request(s)",
    )
    assert (arrived.stored, arrived.duplicated) == (300, 0)
    assert took >= 1.0  # the window was waited out
