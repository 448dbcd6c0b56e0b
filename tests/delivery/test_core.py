"""The delivery core: one per configuration, shared by the doors given one client; a real local server."""

from __future__ import annotations

import pytest

from trubrics_otel import TrubricsClient
from trubrics_otel._config import Settings
from trubrics_otel._delivery import ContentJoin, core_for
from trubrics_otel.mapping import LogData, SpanData
from trubrics_otel.server import LocalServer

TRACE = "1" * 32
HELD = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}  # a call without its text


def held_call(span_id: str = "a" * 16) -> SpanData:
    return SpanData("chat", TRACE, span_id, 0, 10, HELD)


def test_doors_given_one_client_and_one_join_share_one_core(server: LocalServer, api_key: str) -> None:
    """Same client, same join, same mapping settings: one core; another join or client: another core."""
    client = TrubricsClient(api_key, server.url)
    join = ContentJoin(window=60)
    settings = Settings.resolve(with_transport=False)

    first = core_for(settings, client, join)
    second = core_for(settings, client, join)
    other_join = core_for(settings, client, ContentJoin(window=60))
    other_settings = core_for(Settings.resolve(with_transport=False, default_user_id="x"), client, join)

    assert second is first
    assert other_join is not first
    assert other_settings is not first
    for core in (first, second, other_join, other_settings):
        core.release()
    client.shutdown()


def test_a_door_given_no_client_gets_a_core_and_a_client_of_its_own(
    server: LocalServer, api_key: str
) -> None:
    """Two doors of one configuration without a client each count their own records."""
    settings = Settings.resolve(api_key=api_key, host=server.url)

    first = core_for(settings)
    second = core_for(settings)

    assert first is not second
    assert first.client is not second.client
    joined = core_for(settings, first.client)  # a door given the first door's client
    assert joined is first
    first.release()
    assert not first.client.is_shutdown
    joined.release()
    second.release()
    assert first.client.is_shutdown


def test_every_release_sends_the_held_calls_and_the_last_closes_the_client(
    server: LocalServer, api_key: str
) -> None:
    """A door that shuts down sends what the join holds; the client stays open for the other door."""
    settings = Settings.resolve(api_key=api_key, host=server.url)
    core = core_for(settings, join=ContentJoin(window=60))
    shared = core_for(settings, core.client, core.join)

    assert core.send_spans([held_call()])
    assert server.llm_events() == []
    core.release()

    assert [event["prompt"] for event in server.llm_events()] == ["[content not recorded]"]
    assert not core.client.is_shutdown
    assert shared.send_spans([held_call("b" * 16)])
    shared.release()
    assert core.closed
    assert core.client.is_shutdown
    assert len(server.llm_events()) == 2


def test_log_records_are_translated_for_a_door_that_sends_them_itself(
    server: LocalServer, api_key: str
) -> None:
    """`log_records` maps without sending, counting its losses in the client's ledger."""
    core = core_for(Settings.resolve(api_key=api_key, host=server.url), join=ContentJoin(window=60))

    records = core.log_records(
        [
            LogData(None, "signed up", {"user_id": "u1", "event": "Sign up"}, 1),
            LogData("gen_ai.choice", {"message": {"content": "Hi"}}, {}, 1),  # names no span
        ]
    )

    assert [record.user_id for record in records or []] == ["u1"]
    assert core.client.stats().dropped == {"unjoinable_content": 1}
    assert server.requests == []
    core.release()


def test_content_whose_span_never_comes_is_counted_when_the_core_lets_go(
    server: LocalServer, api_key: str
) -> None:
    """A content record for a span that is never exported is `unjoinable_content` in the ledger."""
    core = core_for(Settings.resolve(api_key=api_key, host=server.url), join=ContentJoin(window=60))
    content = LogData("gen_ai.choice", {"message": {"content": "Hi"}}, {}, 1, span=(TRACE, "c" * 16))

    assert core.log_records([content]) == []
    assert core.client.stats().dropped == {}
    core.release()

    assert core.client.stats().dropped == {"unjoinable_content": 1}
    assert server.llm_events() == []


def test_a_mapping_bug_costs_the_batch_and_never_raises(
    server: LocalServer, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A translator that fails on a whole batch: every span is counted as a mapping error, False."""
    core = core_for(Settings.resolve(api_key=api_key, host=server.url), join=ContentJoin(window=60))

    def broken(spans: object) -> list[object]:
        raise RuntimeError("a mapping bug")

    monkeypatch.setattr(core.translator, "spans", broken)

    assert core.send_spans([held_call(), held_call("b" * 16)]) is False
    assert core.client.stats().dropped == {"mapping_error": 2}
    core.release()


def test_a_forked_child_gets_a_core_even_if_the_parent_held_the_registry_at_the_fork(
    server: LocalServer, api_key: str
) -> None:
    """The registry's lock is renewed in the child: a lock held at the fork would stay held there."""
    import os
    import signal

    from trubrics_otel._delivery import core as cores

    settings = Settings.resolve(api_key=api_key, host=server.url)
    with cores._cores_lock:  # as another thread of the parent would hold it, for the instant of a fork
        pid = os.fork()
        if pid == 0:
            signal.alarm(5)  # a child stuck on the lock dies of it instead of hanging the tests
            core_for(settings, join=ContentJoin(window=60)).release()
            os._exit(0)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0


def test_the_logging_doors_translate_through_a_core_of_their_own(server: LocalServer, api_key: str) -> None:
    """The handler's records go through a core's translator; closing the handler lets the core go."""
    import logging

    from trubrics_otel import TrubricsHandler

    handler = TrubricsHandler(api_key, server.url)
    core = handler._pipeline.core
    logger = logging.getLogger("test.core.handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Sign up", extra={"user_id": "u1", "latency": "soon"})
        handler.flush()
    finally:
        logger.removeHandler(handler)
        handler.close()

    assert core.client is handler.client
    assert core.closed
    assert core.join.window == 0  # a stdlib record is never held for a span
    (event,) = server.events()
    assert (event["event"], event["properties"]["latency"]) == ("Sign up", "soon")
