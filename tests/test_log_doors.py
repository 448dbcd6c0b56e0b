"""Each log record reaches Trubrics once, whichever doors it passes on the way.

The doors: the structlog processor, a `TrubricsHandler`, and `TrubricsLogExporter` behind OpenTelemetry's
logging handler (the SDK's `LoggingHandler`, which `OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true`
puts on the root logger). Real loggers, real providers with simple and batch processors, the real
`opentelemetry-instrument`, and the local server.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from processes import run_clean

from trubrics_otel import TrubricsHandler, TrubricsLogExporter, TrubricsSpanExporter
from trubrics_otel._delivery import ContentJoin
from trubrics_otel.integrations.structlog import TrubricsStructlogProcessor
from trubrics_otel.server import LocalServer

APP = Path(__file__).parent / "apps" / "log_doors_app.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
NAME = "doors"
KINDS = ["simple", "batch"]
RENDERERS = pytest.mark.parametrize(
    "renderer",
    [structlog.stdlib.render_to_log_kwargs, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    ids=["render_to_log_kwargs", "wrap_for_formatter"],
)


class Bridge:
    """OpenTelemetry's logging handler, feeding a LoggerProvider whose one exporter is Trubrics' log exporter.

    The batch processor exports only when flushed, so its exports come after every handler has run.
    """

    def __init__(self, server: LocalServer, api_key: str, kind: str) -> None:
        self.join = ContentJoin(window=60)  # a span exporter given it meets this exporter's content
        self.exporter = TrubricsLogExporter(api_key, server.url, join=self.join)
        self.provider = LoggerProvider(shutdown_on_exit=False)
        if kind == "simple":
            self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        else:
            self.provider.add_log_record_processor(
                BatchLogRecordProcessor(self.exporter, schedule_delay_millis=600_000)
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's handler, as zero-code attaches it
            self.handler = LoggingHandler(logger_provider=self.provider)

    @property
    def sent(self) -> int:
        return self.exporter.client.stats().sent


class Kit:
    """Makes the doors for one test, flushes them all in one call, and closes them after the test."""

    def __init__(self, server: LocalServer, api_key: str) -> None:
        self._server = server
        self._api_key = api_key
        self._processors: list[TrubricsStructlogProcessor] = []
        self._handlers: list[TrubricsHandler] = []
        self._bridges: list[Bridge] = []

    def processor(self) -> TrubricsStructlogProcessor:
        made = TrubricsStructlogProcessor(self._api_key, self._server.url, flush_interval=0.05)
        self._processors.append(made)
        return made

    def handler(self, **kwargs: Any) -> TrubricsHandler:
        made = TrubricsHandler(self._api_key, self._server.url, flush_interval=0.05, **kwargs)
        self._handlers.append(made)
        return made

    def bridge(self, kind: str) -> Bridge:
        made = Bridge(self._server, self._api_key, kind)
        self._bridges.append(made)
        return made

    def flush(self) -> None:
        for processor in self._processors:
            assert processor.flush()
        for handler in self._handlers:
            handler.flush()
        for bridge in self._bridges:
            assert bridge.provider.force_flush()

    def close(self) -> None:
        for bridge in self._bridges:
            bridge.provider.shutdown()
        for processor in self._processors:
            processor.close(timeout=2)
        for handler in self._handlers:
            handler.close(timeout=2)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Give back the root logger's handlers and level, reset the `doors` loggers, and structlog."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in (NAME, f"{NAME}.watched", f"{NAME}.other"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    structlog.reset_defaults()


@pytest.fixture
def kit(server: LocalServer, api_key: str) -> Iterator[Kit]:
    made = Kit(server, api_key)
    yield made
    made.close()


def attach(*handlers: logging.Handler, name: str = NAME, level: int = logging.INFO) -> logging.Logger:
    """Put exactly these handlers, in this order, on a logger that keeps its records to itself."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    logger.handlers[:] = list(handlers)
    return logger


def configure_structlog(*processors: Any) -> None:
    structlog.configure(
        processors=[structlog.processors.add_log_level, *processors],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def names(server: LocalServer) -> list[tuple[str, str]]:
    return sorted((item["user_id"], item["event"]) for item in server.events())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("handler_first", [True, False], ids=["handler first", "opentelemetry first"])
def test_a_handler_beside_the_log_exporter_sends_each_record_once(
    kit: Kit, server: LocalServer, kind: str, handler_first: bool
) -> None:
    """With both handlers on a logger, each record goes once, by the TrubricsHandler, in either order."""
    handler = kit.handler()
    bridge = kit.bridge(kind)
    logger = attach(handler, bridge.handler) if handler_first else attach(bridge.handler, handler)

    for index in range(3):
        logger.info("Sign up", extra={"user_id": f"u{index}"})
    logger.info("chat", extra={"user_id": "asker", "prompt": "Hi", "generation": "Hello"})
    logger.info("An ordinary line")
    kit.flush()

    assert names(server) == [("u0", "Sign up"), ("u1", "Sign up"), ("u2", "Sign up")]
    assert [(item["user_id"], item["prompt"]) for item in server.llm_events()] == [("asker", "Hi")]
    assert (handler.stats().sent, bridge.sent) == (4, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_the_log_exporter_sends_what_no_handler_takes(kit: Kit, server: LocalServer, kind: str) -> None:
    """Below the handler's level, or on a logger it is not on, a record goes once, by the log exporter."""
    bridge = kit.bridge(kind)
    handler = kit.handler(level=logging.WARNING)
    attach(bridge.handler)
    watched = logging.getLogger(f"{NAME}.watched")  # propagates to the `doors` logger's bridge
    watched.addHandler(handler)

    watched.info("Quiet", extra={"user_id": "below"})
    watched.warning("Loud", extra={"user_id": "above"})
    logging.getLogger(f"{NAME}.other").warning("Elsewhere", extra={"user_id": "other"})
    kit.flush()

    assert names(server) == [("above", "Loud"), ("below", "Quiet"), ("other", "Elsewhere")]
    assert (handler.stats().sent, bridge.sent) == (1, 2)


def test_custom_levels_decide_as_the_handler_does(kit: Kit, server: LocalServer) -> None:
    """A handler at level 25 takes a record at 27 and leaves one at 23 to the log exporter: each once."""
    handler = kit.handler(level=25)
    bridge = kit.bridge("batch")
    logger = attach(bridge.handler, handler, level=logging.DEBUG)

    logger.log(23, "Below", extra={"user_id": "u23"})
    logger.log(27, "Above", extra={"user_id": "u27"})
    kit.flush()

    assert names(server) == [("u23", "Below"), ("u27", "Above")]
    assert (handler.stats().sent, bridge.sent) == (1, 1)


def test_a_record_made_before_the_handler_is_the_log_exporters(kit: Kit, server: LocalServer) -> None:
    """A record the batch processor still holds when a handler is added is not left to that handler."""
    bridge = kit.bridge("batch")
    logger = attach(bridge.handler)

    logger.info("Early", extra={"user_id": "early"})
    handler = kit.handler()
    logger.addHandler(handler)
    logger.info("Late", extra={"user_id": "late"})
    kit.flush()

    assert names(server) == [("early", "Early"), ("late", "Late")]
    assert (handler.stats().sent, bridge.sent) == (1, 1)


def test_records_made_through_the_logs_api_stay_the_log_exporters(kit: Kit, server: LocalServer) -> None:
    """A record an instrumentation emits itself goes by the exporter, even scoped like a handler's logger."""
    handler = kit.handler()
    attach(handler)
    bridge = kit.bridge("simple")
    scoped = bridge.provider.get_logger(NAME)

    scoped.emit(LogRecord(event_name="Upgrade", attributes={"user_id": "named"}, severity_text="INFO"))
    scoped.emit(LogRecord(body="Downgrade", attributes={"user_id": "untimed"}, severity_text="INFO"))
    kit.flush()

    assert names(server) == [("named", "Upgrade"), ("untimed", "Downgrade")]
    assert (handler.stats().sent, bridge.sent) == (0, 2)


def test_content_records_complete_their_call_beside_a_handler_on_the_root_logger(
    kit: Kit, server: LocalServer, api_key: str
) -> None:
    """The log exporter still joins an instrumentation's content record to its span's call."""
    logging.getLogger().addHandler(kit.handler())
    logging.getLogger("opentelemetry.util.genai.handler")  # the scope names a stdlib logger too
    bridge = kit.bridge("simple")
    spans = TrubricsSpanExporter(api_key, server.url, join=bridge.join, stamp_context=False)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Hello there"}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": "Hi!"}], "finish_reason": "stop"}]
    call = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "user.id": "u1"}

    with tracer_provider.get_tracer("test").start_as_current_span("chat gpt-4o", attributes=call):
        bridge.provider.get_logger("opentelemetry.util.genai.handler").emit(
            LogRecord(
                event_name="gen_ai.client.inference.operation.details",
                attributes={
                    "gen_ai.input.messages": json.dumps(messages),
                    "gen_ai.output.messages": json.dumps(answer),
                },
                severity_text="INFO",
                timestamp=time.time_ns(),
            )
        )
    tracer_provider.shutdown()
    kit.flush()

    assert [(item["user_id"], item["prompt"], item["generation"]) for item in server.llm_events()] == [
        ("u1", "Hello there", "Hi!")
    ]


@RENDERERS
@pytest.mark.parametrize("kind", KINDS)
def test_the_structlog_processor_beside_the_log_exporter_sends_each_event_once(
    kit: Kit, server: LocalServer, renderer: Any, kind: str
) -> None:
    """structlog's events go once, by the processor; a plain stdlib record goes by the log exporter."""
    processor = kit.processor()
    bridge = kit.bridge(kind)
    attach(bridge.handler)
    configure_structlog(processor, renderer)

    for index in range(3):
        structlog.get_logger(NAME).info("Sign up", user_id=f"u{index}")
    logging.getLogger(NAME).info("Plain", extra={"user_id": "plain"})
    kit.flush()

    assert names(server) == [("plain", "Plain"), ("u0", "Sign up"), ("u1", "Sign up"), ("u2", "Sign up")]
    assert (processor.stats().sent, bridge.sent) == (3, 1)


@RENDERERS
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("handler_first", [True, False], ids=["handler first", "opentelemetry first"])
def test_the_processor_a_handler_and_the_log_exporter_send_each_event_once(
    kit: Kit, server: LocalServer, renderer: Any, kind: str, handler_first: bool
) -> None:
    """All three doors: structlog's events by the processor, a plain record by the handler, each once."""
    processor = kit.processor()
    handler = kit.handler()
    bridge = kit.bridge(kind)
    attach(handler, bridge.handler) if handler_first else attach(bridge.handler, handler)
    configure_structlog(processor, renderer)

    for index in range(3):
        structlog.get_logger(NAME).info("Sign up", user_id=f"u{index}")
    logging.getLogger(NAME).info("Plain", extra={"user_id": "plain"})
    kit.flush()

    assert names(server) == [("plain", "Plain"), ("u0", "Sign up"), ("u1", "Sign up"), ("u2", "Sign up")]
    assert (processor.stats().sent, handler.stats().sent, bridge.sent) == (3, 1, 0)


def test_an_event_a_later_processor_dropped_does_not_hide_a_look_alike_from_the_exporter(
    kit: Kit, server: LocalServer
) -> None:
    """The exporter skips only the record made from the processor's event dict, not a look-alike."""

    def drop(logger: Any, method_name: str, event_dict: Any) -> Any:
        raise structlog.DropEvent

    processor = kit.processor()
    bridge = kit.bridge("batch")
    attach(bridge.handler)
    configure_structlog(processor, drop)
    message = "Sign up"

    structlog.get_logger(NAME).info(message, user_id="native")
    logging.getLogger(NAME).info(message, extra={"user_id": "stdlib"})
    kit.flush()

    assert names(server) == [("native", "Sign up"), ("stdlib", "Sign up")]
    assert (processor.stats().sent, bridge.sent) == (1, 1)


def test_the_log_exporter_alone_reads_structlogs_event_dict_records(kit: Kit, server: LocalServer) -> None:
    """Without the processor or a handler, an event behind `wrap_for_formatter` is sent by the exporter."""
    bridge = kit.bridge("simple")
    attach(bridge.handler)
    configure_structlog(structlog.stdlib.ProcessorFormatter.wrap_for_formatter)

    structlog.get_logger(NAME).info("Sign up", user_id="u1", plan="pro")
    kit.flush()

    assert [(item["user_id"], item["event"], item["properties"]) for item in server.events()] == [
        ("u1", "Sign up", {"plan": "pro", "level": "info"})
    ]


@pytest.mark.parametrize("handler_first", [True, False], ids=["handler first", "opentelemetry first"])
def test_zero_code_logs_and_a_handler_send_each_record_once(
    server: LocalServer, api_key: str, handler_first: bool
) -> None:
    """Under opentelemetry-instrument with the SDK's logging handler, each record arrives once."""
    done = run_clean(
        [str(INSTRUMENT), sys.executable, str(APP)],
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="trubrics",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        OTEL_SERVICE_NAME="log-doors-app",
        TRUBRICS_API_KEY=api_key,
        TRUBRICS_HOST=server.url,
        LOG_DOORS_HANDLER_FIRST="1" if handler_first else "0",
    )

    assert done.returncode == 0, done.stderr
    assert names(server) == sorted(
        [(f"buyer-{index}", "Checkout") for index in range(5)]
        + [(f"visitor-{index}", "Browse") for index in range(5)]
    )
    assert [(item["user_id"], item["assistant_id"]) for item in server.llm_events()] == [("asker", "bot")]
    assert "Traceback" not in done.stderr


def test_a_ticket_whose_record_never_comes_expires() -> None:
    """Tickets are used once, and one left waiting goes after its lifetime: memory stays bounded."""
    from trubrics_otel import _log_doors as doors

    now = [0.0]
    tickets = doors._Tickets(clock=lambda: now[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        logger = attach(LoggingHandler(logger_provider=LoggerProvider(shutdown_on_exit=False)))
    used: dict[str, Any] = {"event": "Sign up"}
    waiting: dict[str, Any] = {"event": "Sign up"}

    tickets.issue(logger, used, used["event"])
    tickets.issue(logger, waiting, waiting["event"])
    assert tickets.redeem(NAME, used)
    assert not tickets.redeem(NAME, used)
    assert not tickets.redeem("another.logger", waiting)
    assert len(tickets) == 1
    now[0] += doors._TICKET_LIFETIME + 1
    tickets.issue(logger, {"event": "Later"}, "Later")

    assert len(tickets) == 1
    assert not tickets.redeem(NAME, waiting)
