"""The transport against the real local server: chunking, retries, deadlines, refusals, counters."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trubrics_otel import ConfigurationError, Event, LLMEvent, TrubricsClient, TrubricsHandler, _reporting
from trubrics_otel._events import Record
from trubrics_otel._sender import USER_AGENT, SignallingBody
from trubrics_otel.server import Fault, LocalServer


class FakeClock:
    """A monotonic clock that only moves when the client waits, recording every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(server: LocalServer, api_key: str, clock: FakeClock) -> Iterator[TrubricsClient]:
    client = TrubricsClient(api_key, server.url, _clock=clock, _wait=clock.wait, _rng=random.Random(7))
    yield client
    client.shutdown()


def events(count: int, user: str = "u1") -> list[Event]:
    return [Event(user, f"Event {i}", properties={"i": i}) for i in range(count)]


def llm_events(count: int) -> list[LLMEvent]:
    return [LLMEvent("u1", "gpt-4o", f"prompt {i}", f"answer {i}", latency=0.5) for i in range(count)]


def publish_counts(server: LocalServer) -> list[int | None]:
    return [r.item_count for r in server.requests if r.method == "POST"]


def test_chunks_at_100_per_endpoint(client: TrubricsClient, server: LocalServer) -> None:
    """250 events and 120 LLM events go out as 100+100+50 and 100+20, each to its own endpoint."""
    result = client.send([*events(250), *llm_events(120)])

    assert result.ok
    assert result.sent == 370
    posts = [(r.path, r.item_count) for r in server.requests if r.method == "POST"]
    assert posts == [
        ("/publish_events", 100),
        ("/publish_events", 100),
        ("/publish_events", 50),
        ("/publish_llm_events", 100),
        ("/publish_llm_events", 20),
    ]
    assert len(server.events()) == 250
    assert len(server.llm_events()) == 120


def test_never_posts_an_empty_list(client: TrubricsClient, server: LocalServer) -> None:
    """Only the endpoint that has records is called, and an empty send calls none."""
    client.send([])
    client.send(events(3))

    assert publish_counts(server) == [3]
    assert client.stats().requests == 1


def test_sends_exactly_what_the_api_takes(client: TrubricsClient, server: LocalServer) -> None:
    """The stored JSON is the records' JSON, field for field."""
    event = Event("u9", "Sign up", properties={"plan": "pro"}, thread_id="t1")
    (llm_event,) = llm_events(1)
    client.send([event, llm_event])

    assert server.events() == [event.to_json()]
    assert server.llm_events() == [llm_event.to_json()]


def test_headers_name_the_package(client: TrubricsClient, server: LocalServer) -> None:
    """Each request carries the JSON content type, the User-Agent, and a key."""
    client.send(events(1))

    (request,) = server.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert request.has_key


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retries_each_transient_status_then_delivers(
    client: TrubricsClient, server: LocalServer, clock: FakeClock, status: int
) -> None:
    """A transient status is retried after a jittered back-off and the records then arrive."""
    server.faults.script(Fault(status=status), Fault(status=status))

    result = client.send(events(5))

    assert result.ok
    assert result.sent == 5
    assert len(server.events()) == 5
    assert len(clock.waits) == 2
    assert 0.4 <= clock.waits[0] <= 0.6  # 0.5 s, jittered by +-20%
    assert 0.8 <= clock.waits[1] <= 1.2
    stats = client.stats()
    assert (stats.sent, stats.retried, stats.requests, stats.failed) == (5, 2, 3, 0)


def test_retries_dropped_connections(client: TrubricsClient, server: LocalServer) -> None:
    """A connection closed without an answer is retried."""
    server.faults.script(Fault(drop=True))

    assert client.send(events(2)).sent == 2
    assert len(server.events()) == 2


def test_retries_a_read_timeout(server: LocalServer, api_key: str, clock: FakeClock) -> None:
    """An answer slower than the read timeout is retried."""
    client = TrubricsClient(api_key, server.url, timeout=0.05, _clock=clock, _wait=clock.wait)
    server.faults.script(Fault(status=200, delay=0.2))

    assert client.send(events(1)).ok
    assert client.stats().retried == 1


def test_obeys_retry_after_seconds(client: TrubricsClient, server: LocalServer, clock: FakeClock) -> None:
    """Retry-After in seconds replaces the back-off."""
    server.faults.script(Fault(status=429, retry_after="7"))

    assert client.send(events(1)).ok
    assert clock.waits == [7.0]


def test_obeys_retry_after_http_date(client: TrubricsClient, server: LocalServer, clock: FakeClock) -> None:
    """Retry-After as an HTTP date waits until that moment."""
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=20)
    server.faults.script(Fault(status=503, retry_after=email.utils.format_datetime(when, usegmt=True)))

    assert client.send(events(1)).ok
    (waited,) = clock.waits
    assert 18 <= waited <= 20


def test_gives_up_at_the_deadline(server: LocalServer, api_key: str, clock: FakeClock) -> None:
    """Back-offs never run past the deadline; what was not delivered counts as failed."""
    client = TrubricsClient(
        api_key, server.url, spool=False, retry_deadline=10, _clock=clock, _wait=clock.wait
    )
    server.faults.fail_rate = 1.0

    result = client.send(events(4))

    assert not result.ok
    assert result.failed == 4
    assert sum(clock.waits) < 10
    assert len(clock.waits) >= 3
    assert len(server.requests) == len(clock.waits) + 1
    assert client.stats().failed == 4


def test_retry_after_beyond_the_deadline_fails_at_once(
    server: LocalServer, api_key: str, clock: FakeClock
) -> None:
    """A Retry-After longer than the time left is not waited for."""
    client = TrubricsClient(
        api_key, server.url, spool=False, retry_deadline=5, _clock=clock, _wait=clock.wait
    )
    server.faults.script(Fault(status=503, retry_after="60"))

    assert client.send(events(1)).failed == 1
    assert clock.waits == []


def test_shutdown_interrupts_a_back_off_at_once(server: LocalServer, api_key: str) -> None:
    """A real back-off wait ends as soon as the client shuts down."""
    client = TrubricsClient(api_key, server.url, spool=False)
    server.faults.script(Fault(status=503, retry_after="25"))
    results = []
    sender = threading.Thread(target=lambda: results.append(client.send(events(1))))
    started = time.monotonic()
    sender.start()
    while not server.requests and time.monotonic() - started < 5:
        time.sleep(0.005)
    client.shutdown()
    sender.join(timeout=5)

    assert not sender.is_alive()
    assert time.monotonic() - started < 5
    assert results[0].failed == 1


def test_unauthorized_is_not_retried_and_reported_once(
    server: LocalServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused key costs one request per send, no retry, and one error for the client's life."""
    client = TrubricsClient("wrong-key", server.url, _clock=clock, _wait=clock.wait)

    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        first = client.send(events(250))
        second = client.send(llm_events(3))

    assert first.unauthorized
    assert second.unauthorized
    assert not first.ok
    assert len(server.requests) == 2
    assert clock.waits == []
    assert client.stats().dropped == {"unauthorized": 253}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "API key was refused" in errors[0].getMessage()
    assert server.events() == []


def test_missing_key_warns_once_at_construction(
    server: LocalServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a key the client warns how to set one, and its sends are refused, not raised."""
    from trubrics_otel import _config

    monkeypatch.setattr(_config, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        client = TrubricsClient(host=server.url)
    assert "TRUBRICS_API_KEY" in caplog.text

    assert client.send(events(1)).unauthorized


def test_missing_key_raises_when_required(server: LocalServer) -> None:
    """require_api_key turns a missing key into a configuration error."""
    with pytest.raises(ConfigurationError, match="TRUBRICS_API_KEY"):
        TrubricsClient(host=server.url, require_api_key=True)


def test_delivers_97_of_100_when_3_are_invalid(
    client: TrubricsClient, server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The API's 422 names the invalid records; exactly those are dropped, with their reasons."""
    batch = events(100)
    for index in (3, 50, 99):
        batch[index].timestamp = "not a date"

    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        result = client.send(batch)

    assert result.sent == 97
    assert result.dropped == 3
    stored = {e["event"] for e in server.events()}
    assert stored == {f"Event {i}" for i in range(100)} - {"Event 3", "Event 50", "Event 99"}
    assert client.stats().dropped == {"invalid": 3}
    assert "timestamp: Input should be a valid datetime" in caplog.text
    assert len([r for r in caplog.records if "dropped (invalid)" in r.getMessage()]) == 1


def test_bisects_when_the_api_names_no_record(client: TrubricsClient, server: LocalServer) -> None:
    """A 422 that blames no record splits the request until the valid records are through."""
    server.faults.script(Fault(status=422))

    result = client.send(events(10))

    assert result.sent == 10
    assert publish_counts(server) == [10, 5, 5]


def test_a_request_too_large_is_split(client: TrubricsClient, server: LocalServer) -> None:
    """413 splits the request in halves."""
    server.faults.script(Fault(status=413))

    assert client.send(events(8)).sent == 8
    assert publish_counts(server) == [8, 4, 4]


def test_other_refusals_are_dropped_not_retried(client: TrubricsClient, server: LocalServer) -> None:
    """An answer such as 404 is not retried and counts as rejected."""
    server.faults.script(Fault(status=404))

    result = client.send(events(2))

    assert result.dropped == 2
    assert client.stats().dropped == {"rejected": 2}
    assert len(server.requests) == 1


def test_odd_property_values_never_lose_an_event(client: TrubricsClient, server: LocalServer) -> None:
    """Bytes, sets, datetimes, objects, NaN, cycles and odd keys are converted, and the event arrives."""
    cycle: list[object] = []
    cycle.append(cycle)
    odd: dict[Any, object] = {
        "bytes": b"\xffabc",
        "set": {3, 1, 2},
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "object": object(),
        "nan": float("nan"),
        "inf": float("-inf"),
        "cycle": cycle,
        7: "int key",
        ("a", 1): "tuple key",
    }

    assert client.send([Event(42, "Odd", properties=odd), LLMEvent(1, 2, 3, 4, properties=odd)]).sent == 2

    (stored,) = server.events()
    assert stored["user_id"] == "42"
    assert stored["properties"]["set"] == [1, 2, 3]
    assert stored["properties"]["nan"] == "NaN"
    assert stored["properties"]["cycle"] == ["<cycle>"]
    assert stored["properties"]["7"] == "int key"
    assert len(server.llm_events()) == 1


def test_key_never_appears_in_logs_or_reprs(
    server: LocalServer, api_key: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither logs at DEBUG (urllib3 included), reprs nor results carry the key."""
    with caplog.at_level(logging.DEBUG):
        client = TrubricsClient(api_key, server.url, _clock=clock, _wait=clock.wait)
        server.faults.script(Fault(drop=True), Fault(status=503))
        bad = events(3)
        bad[1].timestamp = "nope"
        results = [client.send(bad), TrubricsClient("wrong-key-123", server.url).send(events(1))]

    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (api_key, "wrong-key-123"):
        assert secret not in logged
        assert secret not in repr(client)
        assert secret not in repr(results)
    assert "urllib3" in {r.name.split(".")[0] for r in caplog.records}  # the HTTP stack did log


def test_counters_match_what_the_server_stored(client: TrubricsClient, server: LocalServer) -> None:
    """sent equals what was stored, and every record is accounted for."""
    server.faults.script(Fault(status=503), Fault(drop=True))
    batch = events(230)
    batch[10].timestamp = "bad"

    client.send([*batch, *llm_events(40)])

    stats = client.stats()
    assert stats.sent == len(server.events()) + len(server.llm_events()) == 269
    assert stats.dropped == {"invalid": 1}
    assert stats.sent + stats.lost == 270
    assert stats.retried == 2


def test_exports_are_not_traced_by_requests_instrumentation(client: TrubricsClient) -> None:
    """With requests instrumented, our own posts make no spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        assert client.send(events(2)).ok
        import requests

        requests.get(client.host + "/health", timeout=5)  # the control: an app's own call is traced
    finally:
        instrumentor.uninstrument()
    names = [span.name for span in exporter.get_finished_spans()]
    assert names == ["GET"]


def test_send_never_raises(client: TrubricsClient, server: LocalServer) -> None:
    """Records whose properties were broken after construction are repaired, not raised."""
    event = Event("u1", "Broken later")
    event.properties["bad"] = {1, 2}  # type: ignore[assignment]

    assert client.send([event]).sent == 1
    assert server.events()[0]["properties"]["bad"] == [1, 2]


def test_proxies_from_the_environment_are_used(api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured: the records reach the host through the proxy (a socket answering 200).

    The local server cannot play the proxy: it refuses a Host that is not loopback (421).
    """
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def proxy() -> None:
        connection, _ = listener.accept()
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                head += connection.recv(65536)
            received.append(head)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    threading.Thread(target=proxy, daemon=True).start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = TrubricsClient(api_key, "http://ingestion.example.invalid", allow_insecure_http=True)
    try:
        # example.invalid never resolves: the records can only have gone through the proxy
        assert client.send(events(2)).sent == 2
    finally:
        client.shutdown()
        listener.close()
    assert received[0].startswith(b"POST http://ingestion.example.invalid/publish_events ")


def test_a_retry_after_that_is_not_a_number_falls_back_to_back_off(
    client: TrubricsClient, server: LocalServer, clock: FakeClock
) -> None:
    """Retry-After: nan is ignored rather than retried at once in a loop."""
    server.faults.script(Fault(status=503, retry_after="nan"))

    assert client.send(events(1)).ok
    (waited,) = clock.waits
    assert 0.4 <= waited <= 0.6


def test_a_request_that_cannot_be_made_is_not_retried(
    server: LocalServer, api_key: str, clock: FakeClock
) -> None:
    """TLS to a plain-HTTP host fails the same way every time: dropped as unsendable, no back-off."""
    https = server.url.replace("http://", "https://")
    client = TrubricsClient(api_key, https, _clock=clock, _wait=clock.wait)

    result = client.send(events(3))

    assert result.dropped == 3
    assert client.stats().dropped == {"unsendable": 3}
    assert clock.waits == []


def test_retries_are_cut_short_once_the_interpreter_exits(
    server: LocalServer, api_key: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the exit hook has run, a failing host gets at most EXIT_RETRY_DEADLINE of retries."""
    from trubrics_otel import _sender

    monkeypatch.setattr(_sender, "_exiting", threading.Event())
    _sender._on_exit()
    client = TrubricsClient(api_key, server.url, spool=False, _clock=clock, _wait=clock.wait)
    server.faults.fail_rate = 1.0

    assert client.send(events(1)).failed == 1
    assert sum(clock.waits) < _sender.EXIT_RETRY_DEADLINE


def test_a_missing_key_is_reported_once_per_process(
    server: LocalServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several clients without a key (span and log exporters, a handler) give one warning, not three."""
    from trubrics_otel import _config

    monkeypatch.setattr(_config, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        for _ in range(3):
            TrubricsClient(host=server.url)

    assert len([r for r in caplog.records if "No Trubrics API key" in r.getMessage()]) == 1


@pytest.mark.parametrize("key", ["abc\ndef", "key\u2019s"])
def test_a_key_that_cannot_be_a_header_is_refused_at_construction(key: str) -> None:
    """A key HTTP cannot carry is a configuration error, not a failure on every send."""
    with pytest.raises(ConfigurationError, match="Latin-1"):
        TrubricsClient(key)


def test_send_batches_delivers_each_batch_as_send_would(client: TrubricsClient, server: LocalServer) -> None:
    """Batches in any mix are chunked per endpoint; empty ones are skipped; the results add up."""
    batches: list[list[Record]] = [[*events(150)], [], [*llm_events(30), *events(5)], [*llm_events(100)]]

    result = client.send_batches(batches)

    assert result.ok
    assert result.sent == 285
    assert publish_counts(server) == [100, 50, 5, 30, 100]
    assert client.stats().requests == 5


def test_send_batches_produces_each_batch_in_the_callers_thread_after_the_one_before_left(
    client: TrubricsClient, server: LocalServer
) -> None:
    """The iterator runs in the calling thread, and asks for a batch only once the previous one is out."""
    caller = threading.get_ident()
    seen: list[tuple[int, int]] = []

    def batches() -> Iterator[list[Event]]:
        for number in range(4):
            seen.append((threading.get_ident(), client.stats().requests))
            yield events(100, user=f"batch-{number}")

    assert client.send_batches(batches()).sent == 400

    assert [thread for thread, _ in seen] == [caller] * 4
    assert [requests for _, requests in seen] == [0, 1, 2, 3]
    assert len(server.events()) == 400


def test_send_batches_goes_on_after_a_batch_is_refused(client: TrubricsClient, server: LocalServer) -> None:
    """A refused batch is counted as dropped; the batches after it are still delivered."""
    server.faults.script(Fault(status=400))

    result = client.send_batches([events(100), events(100)])

    assert (result.sent, result.dropped, result.failed) == (100, 100, 0)
    assert client.stats().dropped == {"rejected": 100}


def test_an_error_raised_by_the_batches_comes_after_the_given_ones_are_delivered(
    client: TrubricsClient, server: LocalServer
) -> None:
    """The caller's own exception propagates, once what it already handed over has arrived."""

    def batches() -> Iterator[list[Event]]:
        yield events(100)
        yield events(20)
        raise ValueError("the caller's bug")

    with pytest.raises(ValueError, match="the caller's bug"):
        client.send_batches(batches())

    assert len(server.events()) == 120


def test_a_signalling_body_is_sent_whole_by_requests_and_then_signals(
    server: LocalServer, api_key: str
) -> None:
    """requests sends the body with its Content-Length, and the event is set once it is written."""
    body = json.dumps([event.to_json() for event in events(3)]).encode()
    on_wire = threading.Event()

    response = requests.post(
        f"{server.url}/publish_events",
        data=SignallingBody(body, on_wire),
        headers={"x-api-key": api_key, "Content-Type": "application/json"},
        timeout=5,
    )

    assert response.status_code == 200
    assert on_wire.is_set()
    (request,) = [r for r in server.requests if r.method == "POST"]
    assert request.item_count == 3
    assert len(server.events()) == 3


def batches_noting_progress(client: TrubricsClient, seen: list[tuple[int, int]]) -> Iterator[list[Event]]:
    """Two batches of 100 events; before making each, note how many requests were made and sent."""
    for _ in range(2):
        stats = client.stats()
        seen.append((stats.requests, stats.sent))
        yield events(100)


def test_send_batches_produces_the_next_batch_while_the_server_works(
    client: TrubricsClient, server: LocalServer
) -> None:
    """The second batch is asked for while the first request still waits for the server's answer."""
    server.faults.script(Fault(status=200, delay=0.2))
    seen: list[tuple[int, int]] = []

    assert client.send_batches(batches_noting_progress(client, seen)).sent == 200

    assert seen == [(0, 0), (1, 0)]


def test_send_batches_at_exit_keeps_one_exit_bound_for_the_whole_call(
    server: LocalServer, api_key: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five batches to a failing host share EXIT_RETRY_DEADLINE; they do not get it each."""
    from trubrics_otel import _sender

    monkeypatch.setattr(_sender, "_exiting", threading.Event())
    _sender._on_exit()
    client = TrubricsClient(
        api_key, server.url, spool=False, _clock=clock, _wait=clock.wait, _rng=random.Random(7)
    )
    server.faults.fail_rate = 1.0

    result = client.send_batches([events(10) for _ in range(5)])

    assert result.failed == 50
    assert sum(clock.waits) < _sender.EXIT_RETRY_DEADLINE


def test_send_batches_under_the_logging_lock_sends_from_the_callers_thread(
    client: TrubricsClient, server: LocalServer
) -> None:
    """Holding logging's lock (as dictConfig does), the caller never waits on a thread that may log."""
    server.faults.script(Fault(status=200, delay=0.1))
    seen: list[tuple[int, int]] = []

    with logging._lock:  # type: ignore[attr-defined]
        assert client.send_batches(batches_noting_progress(client, seen)).sent == 200

    assert seen == [(0, 0), (1, 100)]  # each batch delivered before the next is made


def test_send_batches_after_a_refused_key_asks_no_more(server: LocalServer) -> None:
    """Once the key is refused, the batches after it are dropped as unauthorized without a request."""
    client = TrubricsClient("wrong-key", server.url)

    result = client.send_batches([events(100) for _ in range(4)])

    assert (result.dropped, result.unauthorized) == (400, True)
    assert client.stats().requests == 1
    client.shutdown()


def test_the_first_loss_report_says_so_far_and_the_account_counts_every_chunk(
    server: LocalServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused key over two chunks: the first report counts the first, the account at shutdown all."""
    client = TrubricsClient("wrong-key", server.url, _clock=clock, _wait=clock.wait)

    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        client.send(events(150))
        client.shutdown()

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0].startswith("Trubrics: 100 record(s) dropped (unauthorized) so far: ")
    assert "More may follow" in warnings[0]
    assert warnings[-1] == (
        f"Trubrics: 150 records for {server.url}: 0 sent, 0 failed, 150 dropped (unauthorized: 150), "
        "0 still queued."
    )
    assert client.stats().dropped == {"unauthorized": 150}


def test_the_account_comes_when_a_delivery_cut_short_by_shutdown_ends(
    server: LocalServer, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Shut down while a send waits to retry, the client accounts for its records once they failed."""
    client = TrubricsClient(api_key, server.url, spool=False)
    server.faults.script(Fault(status=503, retry_after="25"))
    sender = threading.Thread(target=lambda: client.send(events(3)))
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        started = time.monotonic()
        sender.start()
        while not server.requests and time.monotonic() - started < 5:
            time.sleep(0.005)
        client.shutdown()
        sender.join(timeout=5)

    accounts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Trubrics: 3 records")]
    assert accounts == [
        f"Trubrics: 3 records for {server.url}: 0 sent, 3 failed ({server.url}/publish_events answered "
        "HTTP 503; the client was shut down while waiting to retry), 0 dropped, 0 still queued."
    ]


def test_a_refused_key_is_an_error_on_stderr_when_only_a_trubrics_handler_listens(
    server: LocalServer, clock: FakeClock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 401 error reaches stderr when the root's only handler is the package's own."""
    monkeypatch.setattr(_reporting, "_echoed", set())
    handler = TrubricsHandler("k", server.url)
    client = TrubricsClient("wrong-key", server.url, _clock=clock, _wait=clock.wait)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [handler]
    try:
        client.send(events(1))
    finally:
        root.handlers[:] = saved
        handler.close()

    (error, _loss) = capsys.readouterr().err.splitlines()
    assert error.startswith(f"trubrics-otel: ERROR: Trubrics answered HTTP 401 for {server.url}: ")
    assert error.endswith("(shown here because no logging handler displays trubrics_otel's messages)")
