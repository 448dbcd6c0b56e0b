"""structlog → Trubrics: the native processor, the two standard-library routes, and both at once."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from trubrics_otel import TrubricsClient, TrubricsHandler
from trubrics_otel.integrations.structlog import TrubricsStructlogProcessor
from trubrics_otel.server import LocalServer

NATIVE_TAIL: list[Any] = [structlog.processors.JSONRenderer()]


@pytest.fixture(autouse=True)
def _reset_logging_and_structlog() -> Iterator[None]:
    """Restore structlog's defaults, its context variables, and the loggers the tests configure."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
    app = logging.getLogger("app")
    app.handlers.clear()
    app.setLevel(logging.NOTSET)
    app.propagate = True


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Close every processor and handler a test makes."""
    made: list[Any] = []

    def track(thing: Any) -> Any:
        made.append(thing)
        return thing

    yield track
    for thing in made:
        thing.close(timeout=2)


@pytest.fixture
def processor(server: LocalServer, api_key: str, closing: Callable[[Any], Any]) -> TrubricsStructlogProcessor:
    result: TrubricsStructlogProcessor = closing(
        TrubricsStructlogProcessor(api_key, server.url, flush_interval=0.05)
    )
    return result


@pytest.fixture
def handler(server: LocalServer, api_key: str, closing: Callable[[Any], Any]) -> TrubricsHandler:
    """A TrubricsHandler on the `app` logger, the one structlog's stdlib factory writes to below."""
    result: TrubricsHandler = closing(TrubricsHandler(api_key, server.url, flush_interval=0.05))
    app = logging.getLogger("app")
    app.setLevel(logging.INFO)
    app.propagate = False
    app.addHandler(result)
    return result


def configure_native(processor: TrubricsStructlogProcessor, output: io.StringIO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            processor,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(output),
    )


def configure_stdlib(*processors: Any) -> None:
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level, *processors],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def names(server: LocalServer) -> list[tuple[str, str]]:
    return [(item["user_id"], item["event"]) for item in server.events()]


def test_the_native_processor_sends_the_event_by_its_message(
    processor: TrubricsStructlogProcessor, server: LocalServer
) -> None:
    """`log.info("Sign up", user_id="u1")` is "Sign up" by u1 at its time; other keys are properties."""
    output = io.StringIO()
    configure_native(processor, output)

    structlog.get_logger().info("Sign up", user_id="u1", plan="pro")
    structlog.get_logger().info("Page view", path="/")  # nothing recognised: not sent
    assert processor.flush()

    rendered = json.loads(output.getvalue().splitlines()[0])
    assert server.events() == [
        {
            "user_id": "u1",
            "event": "Sign up",
            "timestamp": rendered["timestamp"].replace("Z", "+00:00"),
            "properties": {"level": "info", "plan": "pro"},
        }
    ]


def test_the_native_processor_sends_llm_events(
    processor: TrubricsStructlogProcessor, server: LocalServer
) -> None:
    """Prompt and generation keys make an LLM event with the event dict's other fields."""
    configure_native(processor, io.StringIO())

    structlog.get_logger().info(
        "chat",
        user_id="u1",
        prompt="Hi",
        generation="Hello",
        assistant_id="gpt-4o",
        latency=0.3,
        thread_id="t1",
    )
    assert processor.flush()

    [event] = server.llm_events()
    assert {key: event[key] for key in ("user_id", "assistant_id", "prompt", "generation", "latency")} == {
        "user_id": "u1",
        "assistant_id": "gpt-4o",
        "prompt": "Hi",
        "generation": "Hello",
        "latency": 0.3,
    }
    assert event["properties"] == {"level": "info", "$thread_id": "t1"}


def test_bound_context_variables_come_along(
    processor: TrubricsStructlogProcessor, server: LocalServer
) -> None:
    """Values bound with `bind_contextvars` (merged before the processor) name the user and the thread."""
    configure_native(processor, io.StringIO())
    structlog.contextvars.bind_contextvars(user_id="u2", thread_id="t2")

    structlog.get_logger().info("Viewed pricing")
    assert processor.flush()

    [event] = server.events()
    assert (event["user_id"], event["event"], event["properties"]["$thread_id"]) == (
        "u2",
        "Viewed pricing",
        "t2",
    )


def test_the_processor_returns_the_event_dict_unchanged(processor: TrubricsStructlogProcessor) -> None:
    """The processor hands the very same dict, with the same content, to the next processor."""
    event_dict = {"event": "Sign up", "user_id": "u1", "nested": {"a": 1}}
    before = json.dumps(event_dict, sort_keys=True)

    returned = processor(None, "info", event_dict)

    assert returned is event_dict
    assert json.dumps(returned, sort_keys=True) == before


def test_the_processor_sends_on_a_timer_when_the_app_is_quiet(
    processor: TrubricsStructlogProcessor, server: LocalServer
) -> None:
    """One event and then silence: the delivery thread's timer sends it without a flush or another call."""
    configure_native(processor, io.StringIO())

    structlog.get_logger().info("Lonely", user_id="u1")

    deadline = time.monotonic() + 3
    while not server.events() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert names(server) == [("u1", "Lonely")]


def test_render_to_log_kwargs_reaches_the_handler(handler: TrubricsHandler, server: LocalServer) -> None:
    """Through `render_to_log_kwargs` the event is the record's message and the other keys its extras."""
    configure_stdlib(structlog.stdlib.render_to_log_kwargs)

    structlog.get_logger("app").info("Sign up", user_id="u1", plan="pro")
    structlog.get_logger("app").info("Noise", path="/")
    handler.flush()

    [event] = server.events()
    assert (event["user_id"], event["event"], event["properties"]) == (
        "u1",
        "Sign up",
        {"level": "info", "plan": "pro"},
    )


def test_processor_formatter_records_reach_the_handler(handler: TrubricsHandler, server: LocalServer) -> None:
    """Through `ProcessorFormatter.wrap_for_formatter` the record's msg is the event dict, and it is read."""
    configure_stdlib(structlog.stdlib.ProcessorFormatter.wrap_for_formatter)
    output = io.StringIO()
    rendered = logging.StreamHandler(output)
    rendered.setFormatter(structlog.stdlib.ProcessorFormatter(processor=structlog.processors.JSONRenderer()))
    logging.getLogger("app").addHandler(rendered)

    structlog.get_logger("app").info("Sign up", user_id="u1", plan="pro")
    structlog.get_logger("app").info("Noise", path="/")
    handler.flush()

    [event] = server.events()
    assert (event["user_id"], event["event"], event["properties"]) == (
        "u1",
        "Sign up",
        {"level": "info", "plan": "pro"},
    )
    assert json.loads(output.getvalue().splitlines()[0])["event"] == "Sign up"


@pytest.mark.parametrize(
    "renderer",
    [structlog.stdlib.render_to_log_kwargs, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    ids=["render_to_log_kwargs", "wrap_for_formatter"],
)
def test_processor_and_handler_together_send_each_event_once(
    renderer: Any, processor: TrubricsStructlogProcessor, handler: TrubricsHandler, server: LocalServer
) -> None:
    """With the processor in the chain and the handler behind it, every event arrives exactly once."""
    configure_stdlib(processor, renderer)

    for index in range(5):
        structlog.get_logger("app").info("Sign up", user_id=f"u{index}")
    logging.getLogger("app").info("Plain stdlib", extra={"user_id": "s"})  # only the handler sees this one
    assert processor.flush()
    handler.flush()

    assert sorted(names(server)) == [("s", "Plain stdlib")] + [(f"u{index}", "Sign up") for index in range(5)]
    assert processor.stats().sent == 5
    assert handler.stats().sent == 1


def test_an_event_dropped_after_the_processor_does_not_hide_a_later_record(
    processor: TrubricsStructlogProcessor, handler: TrubricsHandler, server: LocalServer
) -> None:
    """The handler skips only the record made from the processor's event dict, not a look-alike."""

    def drop(logger: Any, method_name: str, event_dict: Any) -> Any:
        raise structlog.DropEvent

    configure_stdlib(processor, drop)
    message = "Sign up"

    structlog.get_logger("app").info(message, user_id="native")
    logging.getLogger("app").info(message, extra={"user_id": "stdlib"})
    assert processor.flush()
    handler.flush()

    assert sorted(names(server)) == [("native", "Sign up"), ("stdlib", "Sign up")]


def test_an_event_whose_record_was_never_made_does_not_hide_a_later_record(
    processor: TrubricsStructlogProcessor, handler: TrubricsHandler, server: LocalServer
) -> None:
    """A level-filtered event leaves no claim behind: the next stdlib record with its message is sent."""
    configure_stdlib(processor, structlog.stdlib.render_to_log_kwargs)
    logging.getLogger("app").setLevel(logging.WARNING)
    message = "Sign up"

    structlog.get_logger("app").info(message, user_id="native")  # queued; its stdlib record is never made
    logging.getLogger("app").warning(message, extra={"user_id": "stdlib"})
    assert processor.flush()
    handler.flush()

    assert sorted(names(server)) == [("native", "Sign up"), ("stdlib", "Sign up")]
    assert handler.stats().sent == 1


def test_a_handler_on_the_processors_client_delivers_after_the_processor_closed(
    server: LocalServer, api_key: str, closing: Callable[[Any], Any]
) -> None:
    """The client the processor made stays open for a handler given it, and closes with its last user."""
    processor = closing(TrubricsStructlogProcessor(api_key, server.url, flush_interval=60))
    handler = closing(TrubricsHandler(client=processor.client, flush_interval=60))
    app = logging.getLogger("app")
    app.setLevel(logging.INFO)
    app.addHandler(handler)
    configure_native(processor, io.StringIO())

    structlog.get_logger().info("Native", user_id="u1")
    app.info("Stdlib", extra={"user_id": "u2"})
    processor.close()
    assert not processor.client.is_shutdown
    handler.close()

    assert sorted(names(server)) == [("u1", "Native"), ("u2", "Stdlib")]
    assert processor.client.is_shutdown


def test_events_still_queued_when_the_client_shuts_down_are_in_its_account(
    server: LocalServer, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Events the processor holds when the client it sends through shuts down are named as still queued."""
    client = TrubricsClient(api_key, server.url)
    processor = TrubricsStructlogProcessor(client=client, flush_interval=60, _clock=lambda: 0.0)
    configure_native(processor, io.StringIO())

    for index in range(2):
        structlog.get_logger().info("Sign up", user_id=f"u{index}")
    queued = client.ledger.queued()
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        client.shutdown()
    processor.close(timeout=2)

    assert queued == 2
    accounts = [record.getMessage() for record in caplog.records if "still queued" in record.getMessage()]
    assert len(accounts) == 1
    assert "2 still queued" in accounts[0]


def test_trubrics_otel_imports_without_structlog() -> None:
    """structlog stays optional: the package and the integration import without it."""
    script = (
        "import sys; sys.modules['structlog'] = None\n"
        "import trubrics_otel, trubrics_otel.integrations.structlog as integration\n"
        "assert integration.TrubricsStructlogProcessor is trubrics_otel.TrubricsStructlogProcessor\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )

    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
