"""How a process's life ends, and what its records do then: multiprocessing children, pools, os._exit."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import pytest
from processes import run_clean

from trubrics_otel.server import LocalServer

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


def test_a_terminated_pool_delivers_what_each_task_flushed(
    app: Path, server: LocalServer, api_key: str
) -> None:
    """`with Pool()` terminates its workers (SIGTERM, no finalizer): only a flush per task delivers."""
    assert run_app(app, server, api_key, "fork", "pool_terminated_flushed") == 50
