"""Full batches are sent from the core's delivery threads while the door prepares the next; a real server."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from trubrics_otel import TrubricsClient
from trubrics_otel._config import Settings
from trubrics_otel._delivery import ContentJoin, core_for
from trubrics_otel._delivery.core import OVERLAP_AT, DeliveryCore
from trubrics_otel._delivery.overlap import InFlight
from trubrics_otel.mapping import SpanData
from trubrics_otel.server import Fault, LocalServer

TRACE = "2" * 32


def calls(count: int, start: int = 0) -> list[SpanData]:
    """Complete model calls (their text on the span), one span each."""
    return [
        SpanData(
            "chat",
            TRACE,
            f"{index + 1:016x}",
            0,
            10,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": f"question {index}",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": f"answer {index}",
                "user.id": "u1",
            },
        )
        for index in range(start, start + count)
    ]


@pytest.fixture
def core(server: LocalServer, api_key: str) -> Iterator[DeliveryCore]:
    client = TrubricsClient(api_key, server.url, spool=False)
    made = core_for(Settings.resolve(with_transport=False), client, ContentJoin(window=0))
    yield made
    made.release()
    client.shutdown()


def test_a_full_batch_is_on_its_way_when_send_spans_returns_and_delivered_by_flush(
    core: DeliveryCore, server: LocalServer
) -> None:
    server.faults.script(Fault(status=200, delay=0.5))

    assert core.send_spans(calls(100))
    assert core._in_flight.busy  # the host has not answered yet: the door goes on meanwhile

    assert core.flush(10)
    assert not core._in_flight.busy
    assert len(server.llm_events()) == 100


def test_a_small_batch_is_delivered_before_send_spans_returns(
    core: DeliveryCore, server: LocalServer
) -> None:
    assert core.send_spans(calls(OVERLAP_AT - 1))
    assert not core._in_flight.busy
    assert len(server.llm_events()) == OVERLAP_AT - 1


def test_at_most_two_batches_are_in_flight(core: DeliveryCore, server: LocalServer) -> None:
    """The third full batch waits for a slot: when it is handed over, one of the first two was stored."""
    server.faults.script(Fault(status=200, delay=0.3), Fault(status=200, delay=0.3))
    core.send_spans(calls(100))
    core.send_spans(calls(100, 100))
    assert len(server.llm_events()) == 0  # both are with the host
    core.send_spans(calls(100, 200))
    assert len(server.llm_events()) >= 100
    core.flush(10)
    assert len(server.llm_events()) == 300


def test_a_lost_batch_is_reported_by_flush_once(server: LocalServer, api_key: str) -> None:
    client = TrubricsClient(api_key, server.url, spool=False, retry_deadline=0.05)
    core = core_for(Settings.resolve(with_transport=False), client, ContentJoin(window=0))
    try:
        server.faults.fail_rate = 1.0
        assert core.send_spans(calls(100)) is True  # nothing before it was lost
        core.send_spans(calls(100, 100))
        assert core.flush(10) is False  # what ended meanwhile was lost
        assert client.stats().failed == 200
        assert core.flush(10) is True  # each loss is reported once
    finally:
        core.release()
        client.shutdown()


def test_release_waits_for_the_batch_in_flight(server: LocalServer, api_key: str) -> None:
    client = TrubricsClient(api_key, server.url, spool=False)
    core = core_for(Settings.resolve(with_transport=False), client, ContentJoin(window=0))
    server.faults.script(Fault(status=200, delay=0.3))
    core.send_spans(calls(100))
    core.release()
    client.shutdown()
    assert len(server.llm_events()) == 100
    assert client.stats().sent == 100


def test_without_overlap_a_full_batch_is_delivered_before_send_spans_returns(
    core: DeliveryCore, server: LocalServer
) -> None:
    """The gateway answers its sender once records are delivered: it asks for no overlap."""
    assert core.send_spans(calls(100), overlap=False)
    assert len(server.llm_events()) == 100


def test_a_forked_child_has_nothing_in_flight_and_a_thread_of_its_own(
    core: DeliveryCore, server: LocalServer
) -> None:
    server.faults.script(Fault(status=200, delay=0.3))
    core.send_spans(calls(100))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            idle = not core._in_flight.busy
            core.send_spans(calls(100, 100))
            code = 0 if idle and core.flush(10) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    core.flush(10)
    assert len(server.llm_events()) == 200


def test_a_delivery_that_raises_is_a_loss_and_the_thread_goes_on() -> None:
    in_flight = InFlight("test-in-flight")
    ran = threading.Event()

    def broken(on_wire: threading.Event) -> bool:
        raise RuntimeError("a bug")

    def fine(on_wire: threading.Event) -> bool:
        ran.set()
        return True

    assert in_flight.submit(broken, 5) is True  # nothing was in flight before it
    assert in_flight.submit(fine, 5) is False  # the broken one is reported
    assert in_flight.wait(5) is True
    assert ran.is_set()
    in_flight.stop()
