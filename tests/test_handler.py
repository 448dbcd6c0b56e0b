"""TrubricsHandler with real logging and the real local server: what is sent, what is not, and when."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trubrics_otel import ConfigurationError, TrubricsClient, TrubricsHandler, TrubricsSpanExporter, _config
from trubrics_otel._events import format_timestamp
from trubrics_otel._log_pipeline import estimate_size
from trubrics_otel._threads import DELIVERING
from trubrics_otel.mapping.logs import TRIGGER_KEYS
from trubrics_otel.server import LocalServer

MakeHandler = Callable[..., TrubricsHandler]


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """Give the root logger back its handlers and level, and reset the loggers the tests configure."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("app", "urllib3"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


@pytest.fixture
def make_handler(server: LocalServer, api_key: str) -> Iterator[MakeHandler]:
    """Build handlers for the local server with a short interval; every one is closed after the test."""
    handlers: list[TrubricsHandler] = []

    def make(**kwargs: Any) -> TrubricsHandler:
        settings: dict[str, Any] = {"api_key": api_key, "host": server.url, "flush_interval": 0.05}
        settings.update(kwargs)
        handler = TrubricsHandler(**settings)
        handlers.append(handler)
        return handler

    yield make
    for handler in handlers:
        handler.close(timeout=2)


class Captured(logging.Handler):
    """Keeps the records it sees, to compare what was sent with the record's own time."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def attach(handler: logging.Handler, name: str = "app", level: int = logging.INFO) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    logger.handlers[:] = [handler]
    return logger


def posts(server: LocalServer) -> list[Any]:
    return [request for request in server.requests if request.method == "POST"]


def run_python(script: str, server: LocalServer, api_key: str, timeout: float = 30) -> str:
    """Run a script in a fresh interpreter that reads TRUBRICS_HOST and TRUBRICS_API_KEY."""
    env = {**os.environ, "TRUBRICS_HOST": server.url, "TRUBRICS_API_KEY": api_key}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_record_with_a_user_id_arrives_as_an_event(make_handler: MakeHandler, server: LocalServer) -> None:
    """`extra={"user_id": ...}` sends an event named by the message, at the record's time, with its extras."""
    handler = make_handler()
    captured = Captured()
    logger = attach(handler)
    logger.addHandler(captured)

    logger.info("Sign up from %s", "ads", extra={"user_id": "u1", "plan": "pro", "thread_id": "t1"})
    handler.flush()

    assert server.events() == [
        {
            "user_id": "u1",
            "event": "Sign up from ads",
            "timestamp": format_timestamp(int(captured.records[0].created * 1e9)),
            "properties": {"plan": "pro", "$thread_id": "t1"},
        }
    ]


def test_a_record_with_a_prompt_and_generation_arrives_as_an_llm_event(
    make_handler: MakeHandler, server: LocalServer
) -> None:
    """Prompt, generation, assistant, latency and thread extras send one LLM event with exactly those."""
    handler = make_handler()
    logger = attach(handler)

    logger.info(
        "chat",
        extra={
            "user_id": "u2",
            "prompt": "Capital of France?",
            "generation": "Paris.",
            "assistant_id": "gpt-4o",
            "latency": 0.42,
            "thread_id": "t9",
            "timestamp": "2024-10-09T13:21:46.182Z",
            "properties": {"tokens": 12},
        },
    )
    handler.flush()

    assert server.events() == []
    assert server.llm_events() == [
        {
            "user_id": "u2",
            "assistant_id": "gpt-4o",
            "prompt": "Capital of France?",
            "generation": "Paris.",
            "timestamp": "2024-10-09T13:21:46.182000+00:00",
            "latency": 0.42,
            "properties": {"tokens": 12, "$thread_id": "t9"},
        }
    ]


def test_genai_keys_in_extras_are_understood(make_handler: MakeHandler, server: LocalServer) -> None:
    """Dotted convention keys (`gen_ai.*`, `user.id`, `session.id`) are read as on spans."""
    handler = make_handler()
    logger = attach(handler)

    logger.info(
        "llm call",
        extra={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
            "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "Yo"}]}],
            "user.id": "u3",
            "session.id": "s3",
        },
    )
    handler.flush()

    [event] = server.llm_events()
    assert (event["user_id"], event["assistant_id"], event["prompt"], event["generation"]) == (
        "u3",
        "gpt-4o-mini",
        "Hi",
        "Yo",
    )
    assert event["properties"]["$thread_id"] == "s3"


def test_each_trigger_key_alone_is_enough(make_handler: MakeHandler, server: LocalServer) -> None:
    """Every key of TRIGGER_KEYS makes the handler queue a record on its own."""
    handler = make_handler()
    logger = attach(handler)

    for key in sorted(TRIGGER_KEYS):
        logger.info("Alone", extra={key: f"{key} value"})
    handler.flush()

    assert sorted(item["event"] for item in server.events()) == ["Alone", "event value"]
    assert sorted((item["prompt"], item["generation"]) for item in server.llm_events()) == [
        ("[content not recorded]", "generation value"),
        ("prompt value", "[content not recorded]"),
    ]


def test_unrelated_records_send_nothing(make_handler: MakeHandler, server: LocalServer) -> None:
    """On the root logger at DEBUG, lines without a recognised key (with or without extras) send nothing."""
    handler = make_handler()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)

    for index in range(200):
        logging.getLogger("lib").debug("line %d", index)
        logging.getLogger("uvicorn").info("GET / 200", extra={"color_message": "GET / 200", "status": 200})
        logging.getLogger("otel").info("span", extra={"http.route": "/"})
    handler.flush()

    assert posts(server) == []
    assert handler.stats().requests == 0


def test_ten_thousand_records_from_eight_threads_arrive_exactly_once(
    make_handler: MakeHandler, server: LocalServer
) -> None:
    """Records logged concurrently from 8 threads are each delivered once, in batches of at most 100."""
    handler = make_handler()
    logger = attach(handler)
    start = threading.Barrier(8)

    def log(thread: int) -> None:
        start.wait()
        for index in range(1250):
            logger.info("Tick", extra={"user_id": f"t{thread}", "n": index})

    threads = [threading.Thread(target=log, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush(timeout=30)

    received = server.events()
    assert len(received) == 10_000
    assert {(item["user_id"], item["properties"]["n"]) for item in received} == {
        (f"t{thread}", index) for thread in range(8) for index in range(1250)
    }
    assert all(request.item_count <= 100 for request in posts(server))
    assert handler.stats().sent == 10_000


def test_overflow_drops_are_counted(make_handler: MakeHandler, server: LocalServer) -> None:
    """With a queue of 10 and a long interval, the first 10 records are kept and the rest counted as drops."""
    handler = make_handler(queue_size=10, flush_interval=60)
    logger = attach(handler)

    for index in range(100):
        logger.info("Burst", extra={"user_id": f"u{index}"})
    handler.flush()

    assert [item["user_id"] for item in server.events()] == [f"u{index}" for index in range(10)]
    assert handler.stats().dropped == {"queue_full": 90}


def test_large_records_are_bounded_by_bytes_too(
    make_handler: MakeHandler, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past TRUBRICS_LOG_QUEUE_BYTES, records are dropped as `queue_full`; a small one counts as 1 KiB."""
    monkeypatch.setenv("TRUBRICS_LOG_QUEUE_BYTES", str(1024 * 1024))
    handler = make_handler(flush_interval=60, _clock=lambda: 0.0)  # holds what it is given until flushed
    logger = attach(handler)
    prompt = "p" * 100_000

    for index in range(50):
        logger.info("chat", extra={"user_id": f"u{index}", "prompt": prompt, "generation": "g"})
    for index in range(50):
        logger.info("Sign up", extra={"user_id": f"s{index}"})
    queued_bytes = handler._worker.queued_bytes
    handler.flush()

    assert 1_000_000 <= queued_bytes <= 1024 * 1024
    # 10 prompts of 100,000 bytes fit, 40 do not; then 38 sign-ups of 1 KiB fill the rest, 12 do not
    assert handler.stats().dropped == {"queue_full": 40 + 12}
    assert len(server.llm_events()) == 10
    assert len(server.events()) == 38
    assert handler._worker.queued_bytes == 0


def test_a_size_estimate_reads_text_and_messages_cheaply() -> None:
    """Strings count their length; GenAI messages what they hold; other values a few bytes."""
    messages = [{"role": "user", "content": "x" * 1000}] * 100

    assert estimate_size(["abc", b"de"]) == 5
    assert 100_000 <= estimate_size([messages]) <= 102_000
    assert estimate_size([3, None, object()]) == 48


def test_close_delivers_everything_queued(make_handler: MakeHandler, server: LocalServer) -> None:
    """close() sends what waits in the queue, even with an interval that has not passed."""
    handler = make_handler(flush_interval=60)
    logger = attach(handler)

    for index in range(150):
        logger.info("Queued", extra={"user_id": f"u{index}"})
    handler.close()

    assert len(server.events()) == 150
    logger.info("Too late", extra={"user_id": "u"})
    assert handler.stats().dropped == {"closed": 1}


def test_interpreter_exit_delivers_what_was_never_flushed(server: LocalServer, api_key: str) -> None:
    """A process that never closes its handler still delivers its records when the interpreter exits."""
    run_python(
        """
        import logging
        from trubrics_otel import TrubricsHandler

        logging.getLogger().addHandler(TrubricsHandler(flush_interval=60))
        logging.getLogger().setLevel(logging.INFO)
        for index in range(250):
            logging.info("At exit", extra={"user_id": f"u{index}"})
        """,
        server,
        api_key,
    )

    assert sorted(int(item["user_id"][1:]) for item in server.events()) == list(range(250))


def test_a_forked_child_that_flushes_before_os_exit_delivers(
    make_handler: MakeHandler, server: LocalServer
) -> None:
    """A forked child gets a fresh queue and thread; an explicit flush delivers before os._exit."""
    handler = make_handler(flush_interval=60)
    logger = attach(handler)
    logger.info("Parent", extra={"user_id": "parent"})  # queued, and not the child's to send

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            logger.info("Child", extra={"user_id": "child"})
            handler.flush(timeout=10)
            code = 0 if handler.stats().sent == 1 else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    status = 0
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, 9)
        pytest.fail("the forked child did not finish")
    handler.flush()

    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted((item["user_id"], item["event"]) for item in server.events()) == [
        ("child", "Child"),
        ("parent", "Parent"),
    ]


def test_a_forked_child_that_exits_normally_delivers_at_exit(server: LocalServer, api_key: str) -> None:
    """A forked child that ends with sys.exit delivers its records through the exit flush."""
    run_python(
        """
        import logging, os, sys
        from trubrics_otel import TrubricsHandler

        root = logging.getLogger()
        root.addHandler(TrubricsHandler(flush_interval=60))
        root.setLevel(logging.INFO)
        root.info("Before fork", extra={"user_id": "parent"})
        pid = os.fork()
        if pid == 0:
            root.info("In child", extra={"user_id": "child"})
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """,
        server,
        api_key,
    )

    assert sorted((item["user_id"], item["event"]) for item in server.events()) == [
        ("child", "In child"),
        ("parent", "Before fork"),
    ]


def test_debug_logging_of_the_http_stack_makes_no_loop_and_no_deadlock(
    make_handler: MakeHandler, server: LocalServer
) -> None:
    """With the root logger and urllib3 at DEBUG, sending stays bounded: no record of our own is sent."""
    handler = make_handler()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    failures: list[BaseException] = []

    def log() -> None:
        try:
            for index in range(20):
                logging.getLogger("app").info("Ping", extra={"user_id": f"u{index}"})
            handler.flush(timeout=5)
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    thread = threading.Thread(target=log, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "logging with the handler attached deadlocked"
    requests_after_flush = len(posts(server))
    time.sleep(0.2)  # four intervals: a feedback loop would keep sending

    assert failures == []
    assert len(server.events()) == 20
    assert len(posts(server)) == requests_after_flush <= 2


def test_our_own_and_the_http_stack_loggers_are_ignored(
    make_handler: MakeHandler, server: LocalServer
) -> None:
    """Records of our own and the HTTP stack's loggers, and records made while delivering, are ignored."""
    handler = make_handler()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)

    for name in ("trubrics_otel", "trubrics_otel.transport", "urllib3.connectionpool", "requests"):
        logging.getLogger(name).info("Internal", extra={"user_id": "u"})
    token = DELIVERING.set(True)
    try:
        logging.getLogger("app").info("While delivering", extra={"user_id": "u"})
    finally:
        DELIVERING.reset(token)
    logging.getLogger("requests_oauthlib").info("Not ours", extra={"user_id": "u"})
    handler.flush()

    assert [item["event"] for item in server.events()] == ["Not ours"]


def test_logging_shutdown_and_dict_config_do_not_deadlock(server: LocalServer, api_key: str) -> None:
    """dictConfig (which closes handlers holding logging's lock) and logging.shutdown() finish and deliver."""
    started = time.monotonic()
    run_python(
        """
        import logging, logging.config
        from trubrics_otel import TrubricsHandler

        root = logging.getLogger()
        root.setLevel(logging.DEBUG)
        root.addHandler(TrubricsHandler(flush_interval=60))
        logging.getLogger("urllib3").setLevel(logging.DEBUG)
        for index in range(150):  # the worker starts sending the first 100 at once
            logging.info("Before", extra={"user_id": f"u{index}"})
        # closes the handler while holding logging's lock, as the worker may be logging
        logging.config.dictConfig({"version": 1, "root": {"level": "DEBUG"}})
        root.addHandler(TrubricsHandler(flush_interval=60))
        for index in range(10):
            logging.info("After", extra={"user_id": f"v{index}"})
        logging.shutdown()
        print("finished")
        """,
        server,
        api_key,
        timeout=60,
    )

    assert time.monotonic() - started < 30
    events = server.events()
    assert sum(item["event"] == "Before" for item in events) == 150
    assert sum(item["event"] == "After" for item in events) == 10


def test_record_attributes_never_leak_into_properties(make_handler: MakeHandler, server: LocalServer) -> None:
    """filename, stack_info, exc_info, taskName and other LogRecord attributes are never properties."""
    handler = make_handler()
    logger = attach(handler)
    formatted = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - closed below
    formatted.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.handlers.insert(0, formatted)  # formats first: the record gains `message` and `asctime`

    try:
        int("boom")
    except ValueError:
        logger.exception("Failed", extra={"user_id": "u1", "plan": "pro"}, stack_info=True)
    record = logger.makeRecord("app", logging.INFO, "f", 1, "Task", (), None, extra={"user_id": "u1"})
    record.taskName = "Task-1"
    logger.handle(record)
    handler.flush()
    formatted.close()

    assert [item["properties"] for item in server.events()] == [{"plan": "pro"}, {}]


def test_emit_never_raises_and_reports_the_first_error_only(
    make_handler: MakeHandler, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing enqueue never reaches the caller; the first error is reported, every one is counted."""
    handler = make_handler()
    logger = attach(handler)

    def broken(item: object) -> bool:
        raise RuntimeError("queue exploded")

    monkeypatch.setattr(handler._worker, "put", broken)
    for _ in range(3):
        logger.info("Sign up", extra={"user_id": "u1"})
    handler.emit(logger.makeRecord("app", logging.INFO, "f", 1, "x", (), None, extra={"user_id": "u"}))

    assert capsys.readouterr().err.count("--- Logging error ---") == 1
    assert handler.stats().dropped == {"handler_error": 4}


def test_filters_on_the_handler_are_honoured(make_handler: MakeHandler, server: LocalServer) -> None:
    """A filter added to the handler can keep records out."""
    handler = make_handler()
    handler.addFilter(lambda record: record.getMessage() != "Secret")
    logger = attach(handler)

    logger.info("Secret", extra={"user_id": "u1"})
    logger.info("Public", extra={"user_id": "u1"})
    handler.flush()

    assert [item["event"] for item in server.events()] == ["Public"]


def test_a_filter_that_adds_a_user_id_makes_a_plain_record_an_event(
    make_handler: MakeHandler, server: LocalServer
) -> None:
    """The handler's filters run on every record, those without extras too, as on any handler."""
    seen: list[str] = []

    def add_user(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        record.user_id = "u-from-context"
        return True

    handler = make_handler()
    handler.addFilter(add_user)
    logger = attach(handler)

    logger.info("Sign up")
    handler.flush()

    assert seen == ["Sign up"]
    assert [(item["user_id"], item["event"]) for item in server.events()] == [("u-from-context", "Sign up")]


def test_the_handler_is_configured_from_the_environment(
    server: LocalServer, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without arguments the handler reads TRUBRICS_*; explicit arguments win; bad ones raise."""
    monkeypatch.setenv("TRUBRICS_HOST", server.url)
    monkeypatch.setenv("TRUBRICS_API_KEY", api_key)
    monkeypatch.setenv("TRUBRICS_LOG_QUEUE_SIZE", "7")
    monkeypatch.setenv("TRUBRICS_DEFAULT_USER_ID", "someone")

    handler = TrubricsHandler(flush_interval=0.05)
    other = TrubricsHandler(default_user_id="explicit", queue_size=3)
    try:
        attach(handler).info("From env", extra={"event": "Configured"})
        handler.flush()
        assert (handler.client.host, handler._worker._max_queue_size) == (server.url, 7)
        assert (other.options.default_user_id, other._worker._max_queue_size) == ("explicit", 3)
        assert [(item["user_id"], item["event"]) for item in server.events()] == [("someone", "Configured")]
    finally:
        handler.close()
        other.close()
    with pytest.raises(ConfigurationError, match="TRUBRICS_LOG_QUEUE_SIZE"):
        TrubricsHandler(queue_size=0)


def test_a_shared_client_is_left_open(server: LocalServer, api_key: str) -> None:
    """A handler given a client sends through it and does not shut it down when it closes."""
    client = TrubricsClient(api_key, server.url)
    handler = TrubricsHandler(client=client)
    attach(handler).info("Shared", extra={"user_id": "u1"})
    handler.close()

    assert not client.is_shutdown
    assert client.stats().sent == 1
    client.shutdown()


def test_a_client_shared_with_a_span_exporter_outlives_the_exporter(
    server: LocalServer, api_key: str
) -> None:
    """A handler on `exporter.client` still delivers after the exporter shut down; the last user closes it."""
    exporter = TrubricsSpanExporter(api_key, server.url, stamp_context=False)
    handler = TrubricsHandler(client=exporter.client, flush_interval=60)
    attach(handler).info("Sign up", extra={"user_id": "u1"})

    exporter.shutdown()  # as at exit: the TracerProvider's hook runs before logging's
    assert not exporter.client.is_shutdown
    handler.close()

    assert [item["event"] for item in server.events()] == ["Sign up"]
    assert exporter.client.is_shutdown


def test_a_handler_on_the_exporters_client_delivers_at_interpreter_exit(
    server: LocalServer, api_key: str
) -> None:
    """`TrubricsHandler(client=configure().client)`, never closed: its records arrive at exit."""
    run_python(
        """
        import logging
        import trubrics_otel

        exporter = trubrics_otel.configure()  # its provider's exit hook runs before the log flush
        logging.getLogger().addHandler(trubrics_otel.TrubricsHandler(client=exporter.client))
        logging.getLogger().setLevel(logging.INFO)
        logging.info("Sign up", extra={"user_id": "u1"})
        """,
        server,
        api_key,
    )

    assert [item["event"] for item in server.events()] == ["Sign up"]


def test_a_host_that_is_down_holds_the_exit_for_one_flush_timeout(server: LocalServer, api_key: str) -> None:
    """With every request failing, the exit flush, logging's flush() and its close() share one deadline."""
    server.faults.fail_rate = 1.0
    flush_timeout = 0.5
    output = run_python(
        f"""
        import logging, time
        from trubrics_otel import TrubricsHandler

        logging.getLogger().addHandler(TrubricsHandler(flush_timeout={flush_timeout}))
        logging.getLogger().setLevel(logging.INFO)
        logging.info("Sign up", extra={{"user_id": "u1"}})
        print(time.monotonic(), flush=True)  # the main module is done: the exit begins
        """,
        server,
        api_key,
    )
    exit_took = time.monotonic() - float(output)  # one monotonic clock for every process on the machine

    assert posts(server), "the record was never sent, so nothing was waited for"
    assert exit_took < 2 * flush_timeout  # three waits of flush_timeout each before


@pytest.mark.parametrize("drop", [True, False], ids=["dropped", "placeholder"])
def test_a_call_without_its_generation_is_counted(
    make_handler: MakeHandler, server: LocalServer, drop: bool
) -> None:
    """A prompt without a generation is counted: `dropped["no_content"]`, or `incomplete` when sent."""
    handler = make_handler(drop_without_content=drop)
    logger = attach(handler)

    logger.info("chat", extra={"user_id": "u1", "prompt": "Hi"})
    logger.info("chat", extra={"user_id": "u1", "prompt": "Hi", "generation": "Hello"})
    handler.flush()
    stats = handler.stats()

    assert len(server.llm_events()) == (1 if drop else 2)
    assert dict(stats.dropped) == ({"no_content": 1} if drop else {})
    assert (stats.lost, stats.incomplete) == ((1, 0) if drop else (0, 1))


def test_the_message_is_formatted_when_logged_not_when_sent(
    make_handler: MakeHandler, server: LocalServer
) -> None:
    """An argument changed after the call does not change the event's name; a bad format keeps the raw one."""
    handler = make_handler(flush_interval=60)  # nothing is mapped before the flush
    logger = attach(handler)
    cart = ["apple"]

    logger.info("Checkout %s", cart, extra={"user_id": "u1"})
    cart.append("pear")
    logger.info("Bad format %d", "not a number", extra={"user_id": "u1"})
    handler.flush()

    assert [item["event"] for item in server.events()] == ["Checkout ['apple']", "Bad format %d"]


def test_an_unreadable_latency_or_timestamp_keeps_the_record_and_warns_once_per_key(
    make_handler: MakeHandler,
    server: LocalServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The call keeps the record's time and no latency, the values become properties, one warning a key."""
    monkeypatch.setattr(_config, "_warned", set())
    handler = make_handler()
    captured = Captured()
    logger = attach(handler)
    logger.addHandler(captured)
    extra = {"user_id": "u1", "prompt": "Hi", "generation": "Hello", "latency": "fast", "timestamp": "noon"}

    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        logger.info("chat", extra=extra)
        logger.info("chat", extra=extra)
        handler.flush()

    sent = server.llm_events()
    assert [item["timestamp"] for item in sent] == [
        format_timestamp(int(record.created * 1e9)) for record in captured.records
    ]
    assert [(item["latency"], item["properties"]) for item in sent] == [
        (None, {"latency": "fast", "timestamp": "noon"})
    ] * 2
    warnings = [record.getMessage() for record in caplog.records if record.name.startswith("trubrics_otel")]
    assert len(warnings) == 2
    assert any("`latency` held a str" in text and "timedelta" in text for text in warnings)
    assert any("`timestamp` held a str" in text and "ISO 8601" in text for text in warnings)


def test_records_still_queued_when_the_client_shuts_down_are_in_its_account(
    server: LocalServer, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Records the handler holds when the client it sends through shuts down are named as still queued."""
    client = TrubricsClient(api_key, server.url)
    handler = TrubricsHandler(client=client, flush_interval=60, _clock=lambda: 0.0)  # holds them for 60 s
    logger = attach(handler)

    for index in range(3):
        logger.info("Sign up", extra={"user_id": f"u{index}"})
    queued = client.ledger.queued()
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        client.shutdown()
    handler.close(timeout=2)

    assert queued == 3
    accounts = [record.getMessage() for record in caplog.records if "still queued" in record.getMessage()]
    assert len(accounts) == 1
    assert "Trubrics: 3 records" in accounts[0]
    assert "0 sent" in accounts[0]
    assert "3 still queued" in accounts[0]


DOCS = Path(__file__).resolve().parent.parent / "docs" / "logging.md"


def docs_example(containing: str) -> str:
    """Return the one Python code block of docs/logging.md that contains `containing`, as written."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, f"docs/logging.md should have one example with {containing!r}"
    return found[0]


def test_the_dict_config_example_of_the_docs_sends_and_keeps_our_warnings_visible(
    server: LocalServer, api_key: str
) -> None:
    """The docs' dictConfig example, run as written, delivers, and our warnings still reach its console."""
    example = docs_example("logging.config.dictConfig(")
    # after the example: a call without its generation, whose placeholder warning the package logs
    script = example + textwrap.dedent(
        """
        logging.getLogger("app").info("chat", extra={"user_id": "user-42", "prompt": "Hi"})
        for handler in logging.getLogger().handlers:
            handler.flush()
        """
    )
    env = {**os.environ, "TRUBRICS_HOST": server.url, "TRUBRICS_API_KEY": api_key}

    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert [(item["user_id"], item["event"], item["properties"]) for item in server.events()] == [
        ("user-42", "Sign up", {"plan": "pro"})
    ]
    assert [(item["user_id"], item["prompt"]) for item in server.llm_events()] == [("user-42", "Hi")]
    shown = [line for line in done.stderr.splitlines() if line.startswith("WARNING trubrics_otel: Trubrics:")]
    assert any("placeholder" in line for line in shown), done.stderr
    assert "is disabled" not in done.stderr


def test_a_size_estimate_reads_a_few_messages_of_a_long_conversation_and_its_last_prompt() -> None:
    """A long conversation is judged by a few of its messages, its latest turns among them."""
    history = [{"role": "user", "content": "x" * 100}] * 9_999
    prompt = {"role": "user", "content": "y" * 100_000}

    estimate = estimate_size([[*history, prompt]])

    assert estimate == 9_999 * 104 + 100_004  # the history like its first messages, the prompt as it is
    assert estimate_size([[prompt]]) == 100_004
