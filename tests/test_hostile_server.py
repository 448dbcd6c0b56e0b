"""The transport against hosts that misbehave: trickled answers, silence at exit, redirects, rate limits.

What the local server cannot stage is staged by `RawServer`, a socket server on 127.0.0.1 whose answer
to each request is a function of the test; the rest by the local server's faults.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hosts import Answer, RawServer, respond

from trubrics_otel import ConfigurationError, Event, TrubricsClient, _sender
from trubrics_otel.server import Fault, LocalServer


@pytest.fixture
def raw_server() -> Iterator[Callable[[Answer], RawServer]]:
    made: list[RawServer] = []

    def make(answer: Answer) -> RawServer:
        made.append(RawServer(answer))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def timed_send(client: TrubricsClient, records: list[Event], limit: float) -> tuple[float, object]:
    """Send from a thread; return the seconds it took (`limit` + 1 when it had not ended by then)."""
    results: list[object] = []
    started = time.monotonic()
    sender = threading.Thread(target=lambda: results.append(client.send(records)), daemon=True)
    sender.start()
    sender.join(limit)
    took = time.monotonic() - started if not sender.is_alive() else limit + 1
    return took, (results[0] if results else None)


def events(count: int) -> list[Event]:
    return [Event("u1", f"Event {i}", properties={"i": i}) for i in range(count)]


def test_a_trickled_answer_cannot_hold_a_send_past_its_deadline(
    raw_server: Callable[[Answer], RawServer],
) -> None:
    """An answer trickled a byte at a time (each within the read timeout) ends at the deadline."""
    stop = threading.Event()

    def trickle(connection: socket.socket, head: bytes, body: bytes) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
            if stop.wait(0.02):
                return
            connection.sendall(bytes([byte]))

    host = raw_server(trickle)
    client = TrubricsClient("key", host.url, timeout=0.3, retry_deadline=0.6, spool=False)
    try:
        took, result = timed_send(client, events(3), limit=5)
    finally:
        stop.set()
        client.shutdown()

    assert took < 1.5
    assert getattr(result, "failed", None) == 3


def test_a_trickling_proxy_cannot_hold_a_send_past_its_deadline(
    raw_server: Callable[[Answer], RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through an HTTP proxy (HTTP_PROXY) that trickles its answer, the deadline holds as well."""
    stop = threading.Event()

    def trickle(connection: socket.socket, head: bytes, body: bytes) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
            if stop.wait(0.02):
                return
            connection.sendall(bytes([byte]))

    proxy = raw_server(trickle)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = TrubricsClient(
        "key",
        "http://ingestion.example.invalid",
        timeout=0.3,
        retry_deadline=0.6,
        allow_insecure_http=True,
        spool=False,
    )
    try:
        took, result = timed_send(client, events(3), limit=5)
    finally:
        stop.set()
        client.shutdown()

    assert proxy.heads[0].startswith(b"POST http://ingestion.example.invalid/")
    assert took < 1.5
    assert getattr(result, "failed", None) == 3


def test_a_request_in_flight_is_cut_to_the_exit_budget(
    raw_server: Callable[[Answer], RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery begun before exit, waiting on a host that never answers, ends within the exit budget.

    The budget counts from the exit, not from when the delivery notices it: the request cut short is
    not followed by a retry with a budget of its own.
    """
    monkeypatch.setattr(_sender, "_exiting", threading.Event())
    monkeypatch.setattr(_sender, "EXIT_RETRY_DEADLINE", 0.5)
    host = raw_server(lambda connection, head, body: None)  # reads the request, never answers
    client = TrubricsClient("key", host.url, timeout=30, retry_deadline=30, spool=False)
    threading.Timer(0.1, _sender._on_exit).start()
    try:
        took, result = timed_send(client, events(2), limit=5)
    finally:
        client.shutdown()

    assert took < 0.95  # 0.1 + 0.5, and a check every 0.1 s
    assert getattr(result, "failed", None) == 2


def test_a_wait_between_retries_is_cut_to_the_exit_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A delivery waiting to retry a host that is down when the exit begins ends within the exit budget."""
    monkeypatch.setattr(_sender, "_exiting", threading.Event())
    monkeypatch.setattr(_sender, "EXIT_RETRY_DEADLINE", 0.3)
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: every attempt is refused, then backed off
    client = TrubricsClient(
        "key", f"http://127.0.0.1:{port}", retry_deadline=30, _rng=random.Random(1), spool=False
    )
    threading.Timer(0.2, _sender._on_exit).start()
    try:
        took, result = timed_send(client, events(2), limit=10)
    finally:
        client.shutdown()

    assert took < 1.5
    assert getattr(result, "failed", None) == 2


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
def test_a_redirect_is_not_followed_and_names_the_host_to_set(
    raw_server: Callable[[Answer], RawServer], status: str
) -> None:
    """A redirect is a failure that names its Location and TRUBRICS_HOST; the target never gets a request."""

    def redirect(connection: socket.socket, head: bytes, body: bytes) -> None:
        if head.startswith(b"POST /api/"):
            connection.sendall(respond(status, {"Location": "/moved/publish_events"}))
        else:
            connection.sendall(respond("200 OK"))

    host = raw_server(redirect)
    client = TrubricsClient("key", f"{host.url}/api", retry_deadline=1)
    try:
        result = client.send(events(2))
    finally:
        client.shutdown()

    assert result.sent == 0
    assert result.dropped == 2
    assert "/moved/publish_events" in result.problem
    assert "TRUBRICS_HOST" in result.problem
    assert len(host.heads) == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


@pytest.mark.parametrize("value", ["0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_zero_or_past_retry_after_still_pauses(server: LocalServer, api_key: str, value: str) -> None:
    """Retry-After of 0, negative or in the past waits at least a second: no zero-delay retry storm."""
    clock = FakeClock()
    client = TrubricsClient(api_key, server.url, retry_deadline=30, _clock=clock, _wait=clock.wait)
    server.faults.script(Fault(status=429, retry_after=value), Fault(status=429, retry_after=value))

    assert client.send(events(1)).sent == 1
    assert clock.waits == [1.0, 1.0]
    client.shutdown()


def test_a_huge_retry_after_is_held_to_the_maximum(server: LocalServer, api_key: str) -> None:
    """Retry-After of a day is waited for at most RETRY_AFTER_MAX."""
    from trubrics_otel._answers import RETRY_AFTER_MAX

    clock = FakeClock()
    client = TrubricsClient(api_key, server.url, retry_deadline=3600, _clock=clock, _wait=clock.wait)
    server.faults.script(Fault(status=503, retry_after="86400"))

    assert client.send(events(1)).sent == 1
    assert clock.waits == [RETRY_AFTER_MAX]
    client.shutdown()


def test_a_rate_limit_window_pauses_the_clients_other_sends(server: LocalServer, api_key: str) -> None:
    """Within a 429's Retry-After window, later sends make no request; they fail, saying why."""
    clock = FakeClock()
    client = TrubricsClient(
        api_key, server.url, retry_deadline=5, _clock=clock, _wait=clock.wait, spool=False
    )
    server.faults.script(Fault(status=429, retry_after="60"))

    first = client.send(events(1))
    second = client.send(events(2))
    posts = [r for r in server.requests if r.method == "POST"]

    assert first.failed == 1
    assert "Retry-After" in first.problem
    assert second.failed == 2
    assert "Retry-After" in second.problem
    assert len(posts) == 1
    clock.now += 61  # the window has passed: sending resumes
    assert client.send(events(1)).sent == 1
    client.shutdown()


def test_a_send_within_a_rate_limit_window_waits_for_it(server: LocalServer, api_key: str) -> None:
    """A send that can outlast the window waits for its end before its first request."""
    clock = FakeClock()
    client = TrubricsClient(api_key, server.url, retry_deadline=30, _clock=clock, _wait=clock.wait)
    server.faults.script(Fault(status=429, retry_after="10"))
    client.send(events(1), deadline=5)  # fails: the window outlasts it
    clock.waits.clear()

    assert client.send(events(1)).sent == 1
    assert clock.waits == [10.0]
    client.shutdown()


def test_one_unencodable_value_costs_nothing_but_itself(server: LocalServer, api_key: str) -> None:
    """A lone surrogate and an int past 4,300 digits are replaced, marked; the 100 records all go."""
    batch = events(100)
    batch[3].properties["text"] = "bad\udc80"
    batch[7].properties["big"] = 10**5000
    client = TrubricsClient(api_key, server.url)
    try:
        result = client.send(batch)
    finally:
        client.shutdown()

    assert result.sent == 100
    stored = {item["properties"]["i"]: item["properties"] for item in server.events()}
    assert len(stored) == 100
    assert stored[3]["text"] == "bad\\udc80"
    assert "too long" in stored[7]["big"]


@pytest.mark.parametrize("host", ["http://ingest.example.com", "http://10.0.0.5:8765"])
def test_plain_http_to_another_host_is_refused(host: str) -> None:
    """The key would travel in clear: refused at construction, naming the setting that allows it."""
    with pytest.raises(ConfigurationError, match="TRUBRICS_ALLOW_INSECURE_HTTP"):
        TrubricsClient("key", host)


def test_plain_http_is_allowed_when_asked_or_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """allow_insecure_http=True, TRUBRICS_ALLOW_INSECURE_HTTP=true, or a loopback host: accepted."""
    clients = [
        TrubricsClient("key", "http://ingest.example.com", allow_insecure_http=True),
        TrubricsClient("key", "http://127.0.0.1:8765"),
        TrubricsClient("key", "http://127.8.9.10:8765"),
        TrubricsClient("key", "http://localhost:8765"),
        TrubricsClient("key", "http://[::1]:8765"),
    ]
    monkeypatch.setenv("TRUBRICS_ALLOW_INSECURE_HTTP", "true")
    clients.append(TrubricsClient("key", "http://ingest.example.com"))
    for client in clients:
        client.shutdown()

    assert [client.host for client in clients] == [
        "http://ingest.example.com",
        "http://127.0.0.1:8765",
        "http://127.8.9.10:8765",
        "http://localhost:8765",
        "http://[::1]:8765",
        "http://ingest.example.com",
    ]


def test_each_record_keeps_one_idempotency_key_across_retries(
    raw_server: Callable[[Answer], RawServer],
) -> None:
    """Every record carries `$idempotency_key`, the same in the retry; a key the user set is kept."""
    answers = iter(["503 Service Unavailable", "200 OK"])
    host = raw_server(lambda connection, head, body: connection.sendall(respond(next(answers))))
    clock = FakeClock()
    client = TrubricsClient("key", host.url, _clock=clock, _wait=clock.wait)
    batch = [Event("u1", "A"), Event("u1", "B", properties={"$idempotency_key": "mine"})]
    try:
        assert client.send(batch).sent == 2
    finally:
        client.shutdown()

    first, retry = (json.loads(body) for body in host.bodies)
    keys = [item["properties"]["$idempotency_key"] for item in first]
    assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]+", keys[0])
    assert keys[1] == "mine"
    assert [item["properties"]["$idempotency_key"] for item in retry] == keys
    assert batch[0].properties == {}  # the record itself is left as it was made


def test_a_batch_stored_before_its_answer_timed_out_is_stored_once(server: LocalServer, api_key: str) -> None:
    """The local server stored the batch, the answer came too late: the retry is not stored again."""
    client = TrubricsClient(api_key, server.url, timeout=0.2, retry_deadline=5, _rng=random.Random(3))
    server.faults.script(Fault(status=200, delay=0.5))
    try:
        result = client.send(events(3))
    finally:
        client.shutdown()

    assert result.sent == 3
    assert len(server.events()) == 3


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str | None]]:
    """A system resolver that knows extra names: a name mapped to None hangs until the test ends."""
    names: dict[str, str | None] = {}
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in names:
            address = names[host]
            if address is None:
                release.wait(60)
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield names
    release.set()


def test_a_resolver_that_hangs_cannot_hold_a_send_past_its_deadline(resolver: dict[str, str | None]) -> None:
    resolver["stuck-dns.test"] = None
    client = TrubricsClient(
        "key", "http://stuck-dns.test:9", retry_deadline=0.5, allow_insecure_http=True, spool=False
    )
    try:
        took, result = timed_send(client, events(2), limit=5)
    finally:
        client.shutdown()
    assert took < 1.5, took
    assert result.failed == 2
    assert "ConnectTimeout" in result.problem


def test_a_name_looked_up_apart_still_names_the_host_in_the_request(
    raw_server: Callable[[Answer], RawServer], resolver: dict[str, str | None]
) -> None:
    host = raw_server(lambda connection, head, body: connection.sendall(respond("200 OK")))
    port = host.url.rsplit(":", 1)[1]
    resolver["ingest.test"] = "127.0.0.1"
    client = TrubricsClient("key", f"http://ingest.test:{port}", allow_insecure_http=True, spool=False)
    try:
        assert client.send(events(1)).sent == 1
    finally:
        client.shutdown()
    assert f"Host: ingest.test:{port}".encode() in host.heads[0]
