"""The package's own warnings reach the user: through logging, else one line on stderr per cause."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from processes import run_clean

from trubrics_otel import TrubricsHandler, _reporting
from trubrics_otel._reporting import report
from trubrics_otel.server import LocalServer

SUFFIX = "(shown here because no logging handler displays trubrics_otel's messages)"


@pytest.fixture(autouse=True)
def _nothing_echoed_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no cause written to stderr yet."""
    monkeypatch.setattr(_reporting, "_echoed", set())


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A package logger that propagates to the root, restored afterwards."""
    named = logging.getLogger("trubrics_otel.test_reporting")
    yield named
    named.disabled = False
    named.setLevel(logging.NOTSET)


@contextmanager
def root_handlers(*handlers: logging.Handler) -> Iterator[None]:
    """Give the root logger exactly these handlers (pytest's own included), in place, for a while."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = handlers
    try:
        yield
    finally:
        root.handlers[:] = saved


class Collect(logging.Handler):
    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.messages: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.records.append(record)


def test_a_warning_only_the_trubrics_handler_would_get_goes_to_stderr_once(
    logger: logging.Logger, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a TrubricsHandler as the root's only handler, a cause is written to stderr once, in one line."""
    handler = TrubricsHandler("k", server.url)
    try:
        with root_handlers(handler):
            report(logger, logging.WARNING, "Trubrics: something\nwent wrong", key="cause")
            report(logger, logging.WARNING, "Trubrics: something went wrong again", key="cause")
            report(logger, logging.ERROR, "Trubrics: another cause", key="other")
    finally:
        handler.close()

    assert capsys.readouterr().err.splitlines() == [
        f"trubrics-otel: WARNING: Trubrics: something went wrong {SUFFIX}",
        f"trubrics-otel: ERROR: Trubrics: another cause {SUFFIX}",
    ]


def test_a_handler_that_shows_the_record_means_nothing_on_stderr(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """A handler of the application receives the record, and stderr stays quiet."""
    shown = Collect()
    with root_handlers(shown):
        report(logger, logging.WARNING, "Trubrics: seen", key="seen")

    assert shown.messages == ["Trubrics: seen"]
    assert capsys.readouterr().err == ""


def test_the_record_names_the_reporter_and_can_carry_the_exception(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """The record points at the function that reported, with the exception; stderr gets one line."""

    def fail() -> None:
        raise RuntimeError("boom")

    shown = Collect()
    for handler in (shown, logging.NullHandler()):
        with root_handlers(handler):
            try:
                fail()
            except RuntimeError:
                report(logger, logging.ERROR, "Trubrics: failed", key="boom", exc_info=True)

    (record,) = shown.records
    assert record.funcName == "test_the_record_names_the_reporter_and_can_carry_the_exception"
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert capsys.readouterr().err == f"trubrics-otel: ERROR: Trubrics: failed {SUFFIX}\n"


@pytest.mark.parametrize(
    "handlers",
    [
        pytest.param(lambda: [Collect(logging.ERROR)], id="level-above-the-record"),
        pytest.param(lambda: [logging.NullHandler()], id="null-handler"),
    ],
)
def test_handlers_that_show_nothing_count_as_none(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str], handlers: object
) -> None:
    """A handler whose level filters the warning out, or a NullHandler, does not show it: stderr does."""
    with root_handlers(*handlers()):  # type: ignore[operator]
        report(logger, logging.WARNING, "Trubrics: filtered", key="filtered")

    assert capsys.readouterr().err == f"trubrics-otel: WARNING: Trubrics: filtered {SUFFIX}\n"


def test_no_handler_at_all_is_left_to_logging_last_resort(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """logging.lastResort prints a warning that finds no handler; it is not printed a second time."""
    with root_handlers():
        report(logger, logging.WARNING, "Trubrics: last resort", key="last")

    assert capsys.readouterr().err == "Trubrics: last resort\n"


def test_a_disabled_logger_is_named_on_stderr(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """A logger disabled (as dictConfig does) shows nothing even with a console handler: stderr says why."""
    shown = Collect()
    logger.disabled = True
    with root_handlers(shown):
        report(logger, logging.WARNING, "Trubrics: disabled", key="disabled")

    assert shown.messages == []
    err = capsys.readouterr().err
    assert err.startswith("trubrics-otel: WARNING: Trubrics: disabled (shown here because the logger ")
    assert "trubrics_otel.test_reporting is disabled" in err


def test_a_disabled_ancestor_does_not_stop_the_record(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """Logging propagates past a disabled ancestor, so the record is shown and stderr stays quiet."""
    shown = Collect()
    parent = logging.getLogger("trubrics_otel")
    parent.disabled = True
    try:
        with root_handlers(shown):
            report(logger, logging.WARNING, "Trubrics: through", key="through")
    finally:
        parent.disabled = False

    assert shown.messages == ["Trubrics: through"]
    assert capsys.readouterr().err == ""


def test_a_level_the_application_chose_is_respected(
    logger: logging.Logger, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A logger set above WARNING asked not to see warnings: nothing is written anywhere."""
    handler = TrubricsHandler("k", server.url)
    logger.setLevel(logging.ERROR)
    try:
        with root_handlers(handler):
            report(logger, logging.WARNING, "Trubrics: quiet", key="quiet")
    finally:
        handler.close()

    assert capsys.readouterr().err == ""


def run_app(source: str, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run a Python program in a fresh interpreter, without the developer's TRUBRICS_* settings."""
    done = run_clean([sys.executable, "-c", textwrap.dedent(source), *args], timeout=60, **environment)
    assert done.returncode == 0, done.stderr
    return done


def test_a_refused_key_reaches_stderr_when_the_trubrics_handler_is_the_only_one(server: LocalServer) -> None:
    """The 401 error, the loss and the account each reach stderr once, in that order."""
    done = run_app(
        """
        import logging, sys
        from trubrics_otel import TrubricsHandler

        logging.getLogger().addHandler(TrubricsHandler("wrong-key", sys.argv[1]))
        for _ in range(3):
            logging.getLogger("app").warning("Signed in", extra={"user_id": "u1"})
        """,
        server.url,
    )

    lines = done.stderr.splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == ["ERROR", "WARNING", "WARNING"]
    assert lines[0].startswith(f"trubrics-otel: ERROR: Trubrics answered HTTP 401 for {server.url}")
    assert "dropped (unauthorized) so far" in lines[1]
    assert lines[2] == (
        f"trubrics-otel: WARNING: Trubrics: 3 records for {server.url}: 0 sent, 0 failed, 3 dropped "
        f"(unauthorized: 3), 0 still queued. {SUFFIX}"
    )


def test_a_bad_environment_value_reaches_stderr_after_dict_config_disabled_the_logger() -> None:
    """dictConfig's default disables the package's loggers: the warning is written to stderr instead."""
    done = run_app(
        """
        import logging.config
        from trubrics_otel import TrubricsClient

        logging.config.dictConfig({
            "version": 1,
            "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
            "root": {"handlers": ["console"], "level": "INFO"},
        })
        TrubricsClient("k", "http://127.0.0.1:9").shutdown()
        """,
        TRUBRICS_TIMEOUT="-1",
    )

    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "trubrics-otel: WARNING: TRUBRICS_TIMEOUT='-1' must be a positive number of seconds, not '-1'; "
        "using the default (10.0). (shown here because the logger trubrics_otel.config is disabled, as "
        "logging.config.dictConfig() does to loggers made before it unless given "
        "disable_existing_loggers=False)"
    ]


def test_the_span_exporters_warnings_reach_stderr_when_only_a_trubrics_handler_listens(
    server: LocalServer, api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exporter's own warnings (here: spans that name no user) take the same never-silent path."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from trubrics_otel import TrubricsSpanExporter

    handler = TrubricsHandler(api_key, server.url)
    exporter = TrubricsSpanExporter(api_key, server.url, stamp_context=False)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    attributes = {"trubrics.event": "Sign up"}
    try:
        with root_handlers(handler):
            provider.get_tracer("test").start_span("sign-up", attributes=attributes).end()
    finally:
        provider.shutdown()
        handler.close()

    (line,) = [line for line in capsys.readouterr().err.splitlines() if "name no user" in line]
    assert line.startswith("trubrics-otel: WARNING: Trubrics: some spans name no user")
    assert line.endswith(SUFFIX)
    assert [e["event"] for e in server.events()] == ["Sign up"]
