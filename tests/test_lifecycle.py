"""How a process's life ends, and what its records do then: multiprocessing children, pools, os._exit."""

from __future__ import annotations

import logging
import multiprocessing
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from processes import clean_environment, run_clean

from trubrics_otel import TrubricsHandler
from trubrics_otel.server import Fault, LocalServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="start methods differ on Windows")

_APP = """
import logging, multiprocessing, os, sys
from trubrics_otel import TrubricsHandler

# made at import, so every child has one: a spawned or forkserver child imports this module again
handler = TrubricsHandler(flush_interval=30)
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)
log = logging.getLogger("app")


def child(tag, count=250):
    for i in range(count):
        log.info(tag, extra={"user_id": f"u{i}"})


def task(tag):
    child(tag, 10)
    if tag.endswith("flushed"):
        handler.flush()  # a pool that is terminated runs no finalizer: each task flushes
    return os.getpid()


def exits_at_once(tag):
    child(tag)
    handler.flush()
    os._exit(0)


if __name__ == "__main__":
    method, mode = sys.argv[1], sys.argv[2]
    context = multiprocessing.get_context(method)
    tag = f"{method}-{mode}"
    if mode == "process":
        process = context.Process(target=child, args=(tag,))
    elif mode == "os_exit":
        process = context.Process(target=exits_at_once, args=(tag,))
    if mode in ("process", "os_exit"):
        process.start()
        process.join()
        assert process.exitcode == 0, process.exitcode
    elif mode == "pool_joined":
        pool = context.Pool(2)
        pool.map(task, [tag] * 5)
        pool.close()
        pool.join()
    elif mode in ("pool_terminated", "pool_terminated_flushed"):
        with context.Pool(2) as pool:
            pool.map(task, [tag] * 5)
    print("done")
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The program under test, written to a file: spawn and forkserver children import it again."""
    path = tmp_path_factory.mktemp("lifecycle") / "multiprocessing_app.py"
    path.write_text(_APP)
    return path


def run_app(app: Path, server: LocalServer, api_key: str, method: str, mode: str) -> int:
    """Run the program with a start method and a mode; return how many of its events arrived."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    done = run_clean(
        [sys.executable, str(app), method, mode],
        timeout=60,
        TRUBRICS_HOST=server.url,
        TRUBRICS_API_KEY=api_key,
    )
    assert done.returncode == 0, done.stderr
    assert "done" in done.stdout
    return sum(1 for event in server.events() if event["event"] == f"{method}-{mode}")


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_multiprocessing_child_that_returns_delivers_everything(
    app: Path, server: LocalServer, api_key: str, method: str
) -> None:
    """A child that logs 250 records and returns delivers all 250, whatever the start method."""
    assert run_app(app, server, api_key, method, "process") == 250


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_child_that_flushes_then_calls_os_exit_delivers(
    app: Path, server: LocalServer, api_key: str, method: str
) -> None:
    """`os._exit` skips every finalizer; an explicit flush before it delivers everything."""
    assert run_app(app, server, api_key, method, "os_exit") == 250


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_pool_closed_and_joined_delivers_what_its_workers_logged(
    app: Path, server: LocalServer, api_key: str, method: str
) -> None:
    """`close()` then `join()` lets each worker end normally: its finalizer flushes, all 50 arrive."""
    assert run_app(app, server, api_key, method, "pool_joined") == 50


_SPANS_APP = """
import multiprocessing, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from trubrics_otel import TrubricsSpanExporter

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(TrubricsSpanExporter()))  # exports every 5 s
trace.set_tracer_provider(provider)


def child(tag):
    tracer = trace.get_tracer("app")
    for index in range(20):
        with tracer.start_as_current_span("chat") as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "user.id": f"u{index}",
                "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": tag,
                "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "hello",
            })


if __name__ == "__main__":
    method = sys.argv[1]
    process = multiprocessing.get_context(method).Process(target=child, args=(method,))
    process.start()
    process.join()
    assert process.exitcode == 0, process.exitcode
    print("done")
"""


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_spans_a_multiprocessing_child_ends_are_delivered(
    tmp_path: Path, server: LocalServer, api_key: str, method: str
) -> None:
    """A child's spans, waiting in its batch processor at its os._exit, are flushed before it."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    app = tmp_path / "spans_app.py"
    app.write_text(_SPANS_APP)
    done = run_clean(
        [sys.executable, str(app), method], timeout=60, TRUBRICS_HOST=server.url, TRUBRICS_API_KEY=api_key
    )

    assert done.returncode == 0, done.stderr
    assert "done" in done.stdout
    assert len(server.llm_events()) == 20


def test_a_terminated_pool_delivers_what_each_task_flushed(
    app: Path, server: LocalServer, api_key: str
) -> None:
    """`with Pool()` terminates its workers (SIGTERM, no finalizer): only a flush per task delivers."""
    assert run_app(app, server, api_key, "fork", "pool_terminated_flushed") == 50


def slow_answers(server: LocalServer, seconds: float = 0.3) -> None:
    """Make the server take `seconds` over each of its next 30 answers, as a busy API does."""
    server.faults.script(*[Fault(status=200, delay=seconds)] * 30)


def test_close_that_runs_out_of_time_counts_every_record_before_it_returns(
    server: LocalServer, api_key: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a spool, what close() could not send in time is `failed`, with why; in flight is counted."""
    monkeypatch.setenv("TRUBRICS_SPOOL", "false")
    slow_answers(server)
    handler = TrubricsHandler(api_key=api_key, host=server.url, flush_interval=60, flush_timeout=0.2)
    logger = logging.getLogger("lifecycle.close")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for index in range(500):
            logger.info("Sign up", extra={"user_id": f"u{index}"})
        with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
            handler.close()
    finally:
        logger.removeHandler(handler)

    stats = handler.stats()
    assert stats.sent + stats.failed == 500
    assert stats.sent == len(server.events()) > 0
    assert stats.failed >= 300
    accounts = [record.getMessage() for record in caplog.records if "still queued" in record.getMessage()]
    assert len(accounts) == 1
    assert "close() ran out of its 0.2 s (TRUBRICS_LOG_FLUSH_TIMEOUT)" in accounts[0]
    assert accounts[0].endswith(" 0 still queued.")


_ACCOUNT = re.compile(r"Trubrics: (\d+) records .*?: (\d+) sent, (\d+) failed.*, (\d+) still queued\.")


def test_records_left_when_the_exit_flush_ends_are_counted_in_the_account(
    server: LocalServer, api_key: str
) -> None:
    """Against a slow server and without a spool, the exit's account adds up to every record, with why."""
    slow_answers(server)
    script = """
        import logging
        from trubrics_otel import TrubricsHandler

        logging.getLogger().addHandler(TrubricsHandler(flush_interval=60, flush_timeout=0.5))
        logging.getLogger().setLevel(logging.INFO)
        for index in range(1000):
            logging.info("Sign up", extra={"user_id": f"u{index}"})
    """
    done = run_clean(
        [sys.executable, "-c", textwrap.dedent(script)],
        timeout=60,
        TRUBRICS_HOST=server.url,
        TRUBRICS_API_KEY=api_key,
        TRUBRICS_SPOOL="false",
    )

    assert done.returncode == 0, done.stderr
    found = _ACCOUNT.search(done.stderr)
    assert found, done.stderr
    total, sent, failed, queued = map(int, found.groups())
    assert (total, queued) == (1000, 0)
    assert sent + failed == 1000
    assert sent == len(server.events())
    assert "the exit flush ran out of its 0.5 s" in done.stderr


def test_events_the_structlog_processor_holds_past_the_exit_flush_are_counted(
    server: LocalServer, api_key: str
) -> None:
    """The processor is never closed by logging: without a spool, what its exit flush leaves is `failed`."""
    slow_answers(server)
    script = """
        import io
        import structlog
        from trubrics_otel.integrations.structlog import TrubricsStructlogProcessor

        structlog.configure(
            processors=[
                TrubricsStructlogProcessor(flush_interval=60, flush_timeout=0.5),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
        )
        for index in range(1000):
            structlog.get_logger().info("Sign up", user_id=f"u{index}")
    """
    done = run_clean(
        [sys.executable, "-c", textwrap.dedent(script)],
        timeout=60,
        TRUBRICS_HOST=server.url,
        TRUBRICS_API_KEY=api_key,
        TRUBRICS_SPOOL="false",
    )

    assert done.returncode == 0, done.stderr
    found = _ACCOUNT.search(done.stderr)
    assert found, done.stderr
    total, sent, failed, queued = map(int, found.groups())
    assert total == sent + failed + queued == 1000
    assert failed >= 500
    assert queued <= 100  # at most the batch whose request was under way when the process ended
    assert "the exit flush ran out of its 0.5 s" in done.stderr


DOCS = Path(__file__).resolve().parent.parent / "docs" / "logging.md"


def docs_example(containing: str) -> str:
    """Return the one Python code block of docs/logging.md that contains `containing`, as written."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, f"docs/logging.md should have one example with {containing!r}"
    return found[0]


@pytest.mark.parametrize("documented", [True, False], ids=["sigterm-handler", "python-default"])
def test_sigterm_delivers_the_queue_only_with_the_documented_handler(
    server: LocalServer, api_key: str, documented: bool
) -> None:
    """With the docs' SIGTERM handler a killed process delivers its queue; with Python's default, nothing."""
    setup = docs_example("exit_on_sigterm") if documented else ""
    script = setup + textwrap.dedent(
        """
        import logging, time
        from trubrics_otel import TrubricsHandler

        logging.getLogger().addHandler(TrubricsHandler(flush_interval=60))
        logging.getLogger().setLevel(logging.INFO)
        for index in range(50):  # fewer than a batch: nothing is sent before the signal
            logging.info("Sign up", extra={"user_id": f"u{index}"})
        print("ready", flush=True)
        while True:
            time.sleep(0.01)
        """
    )
    env = clean_environment(TRUBRICS_HOST=server.url, TRUBRICS_API_KEY=api_key)
    with subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    assert process.returncode == (128 + signal.SIGTERM if documented else -signal.SIGTERM)
    assert len(server.events()) == (50 if documented else 0)
