"""Faults that come through the front doors: a value JSON cannot hold, a structlog event whose stdlib
record is never made, prompts that fill the queue's byte bound against a slow host, and an outage while a
logging handler keeps taking records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from trubrics_otel import Event, TrubricsClient, TrubricsHandler
from trubrics_otel.integrations.structlog import TrubricsStructlogProcessor
from trubrics_otel.server import Fault, LocalServer

from .accounting import arrivals, settled, spooled_records, wait_for
from .conftest import LedgerRow


def marked(stored: dict[str, Any], name: str, key: str) -> str:
    """How the value `key` of record `name` was stored, cut to 30 characters."""
    return repr(str(stored.get(name, {}).get(key))[:30])


@pytest.mark.parametrize("door", ["client", "handler"])
def test_one_value_json_cannot_hold_costs_no_other_record(
    server: LocalServer, api_key: str, logger: logging.Logger, door: str, ledger_row: LedgerRow
) -> None:
    """In a batch of 100, one record holds a lone surrogate and another an int of 5,001 digits: all 100
    are stored, whether given to `TrubricsClient.send` or logged through `TrubricsHandler`."""
    ids = [f"bad-{door}-{index}" for index in range(100)]
    odd: dict[int, dict[str, Any]] = {3: {"text": "bad\udc80"}, 7: {"big": 10**5000}}
    if door == "client":
        client = TrubricsClient(api_key, server.url)
        batch = [Event(name, "Sign up", properties=odd.get(index, {})) for index, name in enumerate(ids)]
        try:
            client.send(batch)
        finally:
            client.shutdown()
        stats = client.stats()
    else:
        handler = TrubricsHandler(api_key=api_key, host=server.url, flush_interval=60)
        logger.addHandler(handler)
        for index, name in enumerate(ids):
            logger.info("Sign up", extra={"user_id": name, **odd.get(index, {})})
        handler.flush()
        stats = handler.stats()

    arrived = arrivals(server, ids)
    stored = {str(item["user_id"]): item["properties"] for item in server.events()}
    ledger_row(
        f"a lone surrogate and a 5,001-digit int in 100 ({door})",
        produced=len(ids),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=stats.lost,
        note=f"stored as {marked(stored, ids[3], 'text')} and {marked(stored, ids[7], 'big')}",
    )
    assert (arrived.stored, arrived.duplicated) == (100, 0)


@pytest.fixture
def _reset_structlog() -> Iterator[None]:
    """Restore structlog's defaults and the `app` logger the structlog scenario configures."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    app = logging.getLogger("app")
    for handler in app.handlers[:]:
        app.removeHandler(handler)
        handler.close()
    app.setLevel(logging.NOTSET)
    app.propagate = True


@pytest.mark.usefixtures("_reset_structlog")
def test_a_level_filtered_structlog_event_does_not_hide_a_later_stdlib_record(
    server: LocalServer, api_key: str, ledger_row: LedgerRow
) -> None:
    """With the processor and a handler both attached, a structlog event whose stdlib record the level
    filters out, then a stdlib record with the same message on the same thread: both are stored."""
    processor = TrubricsStructlogProcessor(api_key, server.url, flush_interval=0.05)
    handler = TrubricsHandler(api_key, server.url, flush_interval=0.05)
    app = logging.getLogger("app")
    app.setLevel(logging.WARNING)
    app.propagate = False
    app.addHandler(handler)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            processor,
            structlog.stdlib.render_to_log_kwargs,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    try:
        structlog.get_logger("app").info("Sign up", user_id="native-1")  # its stdlib record is never made
        app.warning("Sign up", extra={"user_id": "stdlib-1"})
        assert processor.flush()
        handler.flush()
    finally:
        processor.close(timeout=2)
    lost = processor.stats().lost + handler.stats().lost

    arrived = arrivals(server, ["native-1", "stdlib-1"])
    ledger_row(
        "structlog event level-filtered, then a stdlib look-alike",
        produced=2,
        arrived=arrived,
        spooled=spooled_records(),
        dropped=lost,
        note=f"sent by the processor {processor.stats().sent}, by the handler {handler.stats().sent}",
    )
    assert (arrived.stored, arrived.duplicated) == (2, 0)


def test_prompts_past_the_queues_byte_bound_are_stored_spooled_or_counted(
    server: LocalServer,
    api_key: str,
    logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    ledger_row: LedgerRow,
) -> None:
    """A 1 MiB queue (TRUBRICS_LOG_QUEUE_BYTES), a host that answers 0.3 s late, 100 prompts of 100 KB in
    waves of 5: what the bound turns away is counted as `queue_full`, everything else is stored in the end
    (through the spool, once the queue is over half full)."""
    monkeypatch.setenv("TRUBRICS_LOG_QUEUE_BYTES", str(1 << 20))
    server.faults.script(*[Fault(status=200, delay=0.3)] * 20)
    handler = TrubricsHandler(api_key=api_key, host=server.url, flush_interval=0.05)
    logger.addHandler(handler)
    ids = [f"prompt-{index}" for index in range(100)]
    prompt = "x" * 100_000

    for index, name in enumerate(ids):
        logger.info(
            "chat", extra={"user_id": name, "prompt": prompt, "generation": "ok", "assistant_id": "m"}
        )
        if index % 5 == 4:
            time.sleep(0.02)  # in waves, as an application's calls come: the worker gets to run between them
    handler.flush(timeout=10)
    assert wait_for(
        lambda: arrivals(server, ids).stored + handler.stats().lost == len(ids) and settled(handler.client),
        seconds=20,
    ), (arrivals(server, ids), handler.stats())
    stats = handler.stats()

    arrived = arrivals(server, ids)
    ledger_row(
        "100 prompts of 100 KB, 1 MiB queue, host 0.3 s late",
        produced=len(ids),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=stats.lost,
        note=f"dropped {dict(stats.dropped)}; {stats.spooled} went through the spool",
    )
    assert set(stats.dropped) <= {"queue_full"}
    assert stats.failed == 0
    assert arrived.duplicated == 0


def test_a_queue_over_half_its_bytes_sends_its_batches_through_the_spool(
    server: LocalServer, api_key: str, logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As documented for TRUBRICS_LOG_QUEUE_BYTES: once large prompts fill more than half of the byte
    bound while the host is slow, batches go to the spool, which takes them far faster than the host."""
    monkeypatch.setenv("TRUBRICS_LOG_QUEUE_BYTES", str(1 << 20))
    server.faults.script(*[Fault(status=200, delay=0.3)] * 20)
    handler = TrubricsHandler(api_key=api_key, host=server.url, flush_interval=0.05)
    logger.addHandler(handler)
    ids = [f"spooled-prompt-{index}" for index in range(100)]

    for index, name in enumerate(ids):
        logger.info("chat", extra={"user_id": name, "prompt": "x" * 100_000, "generation": "ok"})
        if index % 5 == 4:
            time.sleep(0.02)
    handler.flush(timeout=10)
    wait_for(lambda: arrivals(server, ids).stored + handler.stats().lost == len(ids), seconds=20)
    stats = handler.stats()

    assert stats.spooled > 0, stats
    assert stats.dropped.get("queue_full", 0) < 50, stats


def test_records_logged_during_an_outage_are_stored_once_it_ends(
    server: LocalServer,
    api_key: str,
    logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    ledger_row: LedgerRow,
) -> None:
    """Every request answered 503 while 1,000 records are logged through a handler: they wait in the spool,
    and once the server heals all 1,000 are stored, each once."""
    monkeypatch.setenv("TRUBRICS_RETRY_DEADLINE", "0.2")
    server.faults.fail_rate = 1.0
    handler = TrubricsHandler(api_key=api_key, host=server.url, flush_interval=0.05)
    logger.addHandler(handler)
    ids = [f"outage-{index}" for index in range(1000)]

    for name in ids:
        logger.info("Sign up", extra={"user_id": name})
    handler.flush()
    assert wait_for(lambda: spooled_records() == 1000)
    during = (arrivals(server, ids).stored, spooled_records())
    server.faults.clear()
    assert wait_for(lambda: arrivals(server, ids).stored == 1000 and settled(handler.client), seconds=15)
    stats = handler.stats()

    arrived = arrivals(server, ids)
    ledger_row(
        "outage (503 to all) while a handler takes 1,000 records",
        produced=len(ids),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=stats.lost,
        note=f"during the outage {during[0]} stored, {during[1]} spooled; replayed {stats.replayed}",
    )
    assert during == (0, 1000)
    assert (arrived.stored, arrived.duplicated) == (1000, 0)
