"""The log exporter with a real LoggerProvider, sending to the real local server."""

from __future__ import annotations

import logging

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from trubrics_otel import TrubricsLogExporter, _config
from trubrics_otel._delivery import ContentJoin
from trubrics_otel._log_exporter import log_data
from trubrics_otel.server import LocalServer


@pytest.mark.parametrize(("drop", "counted"), [(True, "dropped"), (False, "incomplete")])
def test_log_records_of_a_call_without_its_text_are_counted(
    server: LocalServer, api_key: str, drop: bool, counted: str
) -> None:
    """A log record with a prompt but no generation is dropped and counted, or sent and counted."""
    exporter = TrubricsLogExporter(
        api_key, server.url, drop_without_content=drop, join=ContentJoin(window=60)
    )
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("test").emit(LogRecord(body="chat", attributes={"user_id": "u1", "prompt": "Hi"}))
    provider.shutdown()

    stats = exporter.client.stats()
    if counted == "dropped":
        assert stats.dropped == {"no_content": 1}
        assert server.llm_events() == []
    else:
        assert stats.incomplete == 1
        assert server.llm_events()[0]["generation"] == "[content not recorded]"


def test_a_log_record_with_an_unreadable_latency_is_sent_with_it_as_a_property(
    server: LocalServer, api_key: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the log exporter too, an unreadable latency is kept as a property and warned about once."""
    monkeypatch.setattr(_config, "_warned", set())
    exporter = TrubricsLogExporter(api_key, server.url, join=ContentJoin(window=60))
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    attributes = {"user_id": "u1", "prompt": "Hi", "generation": "Hello", "latency": "fast"}
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        provider.get_logger("test").emit(LogRecord(body="chat", attributes=attributes))
        provider.get_logger("test").emit(LogRecord(body="chat", attributes=attributes))
    provider.shutdown()

    assert [(item["latency"], item["properties"]) for item in server.llm_events()] == [
        (None, {"latency": "fast"})
    ] * 2
    assert ["`latency` held a str" in record.getMessage() for record in caplog.records] == [True]


def test_a_content_record_becomes_plain_data_keyed_by_its_span() -> None:
    """The record's event name, body and (trace id, span id) in hex are what the translator reads."""
    record = LogRecord(
        trace_id=1, span_id=2, body={"content": "Hi"}, attributes={"event.name": "gen_ai.user.message"}
    )

    log = log_data(record)

    assert log is not None
    assert (log.event_name, log.body) == ("gen_ai.user.message", {"content": "Hi"})
    assert log.span == ("0" * 31 + "1", "0" * 15 + "2")


def test_a_structlog_event_dict_body_becomes_the_message_and_attributes() -> None:
    """wrap_for_formatter's body: its event is the message, its other keys (not structlog's) attributes."""
    body = {"event": "signed up", "user_id": "u1", "_record": object(), "plan": "pro"}

    log = log_data(LogRecord(body=body, attributes={"code.lineno": 3}))

    assert log is not None
    assert log.body == "signed up"
    assert dict(log.attributes) == {"code.lineno": 3, "user_id": "u1", "plan": "pro"}
    assert log.span is None


def test_an_unreadable_record_costs_only_itself(server: LocalServer, api_key: str) -> None:
    """A record the exporter cannot read is counted as a mapping error; the rest of the batch goes."""

    class Broken:
        @property
        def attributes(self) -> None:
            raise RuntimeError("unreadable record")

    exporter = TrubricsLogExporter(api_key, server.url, join=ContentJoin(window=60))
    good = LogRecord(body="signed up", attributes={"user_id": "u1", "event": "Sign up"})

    assert exporter.export([Broken(), good]).name == "SUCCESS"

    assert [event["event"] for event in server.events()] == ["Sign up"]
    assert exporter.client.stats().dropped == {"mapping_error": 1}
    exporter.shutdown()
