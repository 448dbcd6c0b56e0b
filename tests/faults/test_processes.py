"""Faults at the end of a process's life: children that return, exits against a slow or absent host, and
processes that share a spool after an outage.

Each program runs in a fresh interpreter with the test's cache directory (tests/processes.py), so the
spool it leaves is the one a later client of the test's, with the same host and key, reads. What the
programs lost is read from the account each client writes to standard error at exit.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from processes import clean_environment, run_clean

from trubrics_otel import TrubricsClient
from trubrics_otel.server import Fault, LocalServer

from .accounting import arrivals, exit_account, settled, spooled_records, wait_for
from .conftest import LedgerRow

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="start methods and exits differ on Windows")

_CHILDREN = """
import logging, multiprocessing, sys
from trubrics_otel import TrubricsHandler

# made at import, so that a forkserver child, which imports this module again, has one too
logging.getLogger().addHandler(TrubricsHandler(flush_interval=30))
logging.getLogger().setLevel(logging.INFO)


def child(tag):
    for index in range(250):
        logging.getLogger("app").info("Sign up", extra={"user_id": f"{tag}-{index}"})


if __name__ == "__main__":
    method = sys.argv[1]
    context = multiprocessing.get_context(method)
    children = [context.Process(target=child, args=(f"{method}-{n}",)) for n in range(2)]
    for process in children:
        process.start()
    for process in children:
        process.join()
    assert [process.exitcode for process in children] == [0, 0]
    print("done")
"""


def later_client_delivers(server: LocalServer, api_key: str, ids: list[str]) -> TrubricsClient:
    """A client of the test's with the same host and key: it sends what the spool holds; it is returned
    once the spool is empty (or after 15 s), for the caller to read and shut down."""
    later = TrubricsClient(api_key, server.url)
    wait_for(
        lambda: arrivals(server, ids).stored == len(ids) and spooled_records() == 0 and settled(later),
        seconds=15,
    )
    return later


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_multiprocessing_children_that_return_deliver_everything(
    tmp_path: Path, server: LocalServer, api_key: str, method: str, ledger_row: LedgerRow
) -> None:
    """Two children log 250 records each and return (multiprocessing ends them with os._exit): all stored."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    app = tmp_path / "children_app.py"
    app.write_text(_CHILDREN)
    ids = [f"{method}-{n}-{index}" for n in range(2) for index in range(250)]

    done = run_clean(
        [sys.executable, str(app), method], timeout=60, TRUBRICS_HOST=server.url, TRUBRICS_API_KEY=api_key
    )

    assert done.returncode == 0, done.stderr
    assert "done" in done.stdout
    account = exit_account(done.stderr)
    arrived = arrivals(server, ids)
    ledger_row(
        f"{method} children, 2 x 250 records, return",
        produced=len(ids),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=account.lost,
        note="no account at exit: nothing lost" if "Trubrics:" not in done.stderr else done.stderr[-200:],
    )
    assert (arrived.stored, arrived.duplicated) == (500, 0)


def test_an_exit_against_a_slow_host_keeps_what_it_could_not_send(
    server: LocalServer, api_key: str, ledger_row: LedgerRow
) -> None:
    """3,000 records queued, answers 0.3 s late, a 0.5 s exit flush: what was not stored by the exit is
    in the spool, and a later client with the same host and key delivers it, each record once."""
    server.faults.script(*[Fault(status=200, delay=0.3)] * 40)
    script = """
        import logging, time
        from trubrics_otel import TrubricsHandler

        logging.getLogger().addHandler(TrubricsHandler(flush_timeout=0.5))
        logging.getLogger().setLevel(logging.INFO)
        for index in range(3000):
            logging.info("Sign up", extra={"user_id": f"slow-{index}"})
        print(time.monotonic(), flush=True)
    """
    ids = [f"slow-{index}" for index in range(3000)]

    done = run_clean(
        [sys.executable, "-c", textwrap.dedent(script)],
        timeout=60,
        TRUBRICS_HOST=server.url,
        TRUBRICS_API_KEY=api_key,
    )
    exit_seconds = time.monotonic() - float(done.stdout.split()[0])

    assert done.returncode == 0, done.stderr
    account = exit_account(done.stderr)
    assert account.queued == 0, done.stderr
    # a request under way at the exit is still answered (and stored) by the server after the process ended
    assert wait_for(lambda: arrivals(server, ids).stored + spooled_records() >= 3000, seconds=5), (
        arrivals(server, ids),
        spooled_records(),
        done.stderr,
    )
    stored_at_exit, spooled_at_exit = arrivals(server, ids).stored, spooled_records()
    # at least: the batch the exit cut short is spooled, and may be stored as well (sent again, it is
    # acknowledged by its idempotency key, not stored twice)
    assert account.lost == 0, done.stderr
    assert stored_at_exit + spooled_at_exit >= 3000

    server.faults.clear()
    later = later_client_delivers(server, api_key, ids)
    try:
        arrived = arrivals(server, ids)
        ledger_row(
            "exit, host answers 0.3 s late, 3,000 queued, flush_timeout 0.5",
            produced=len(ids),
            arrived=arrived,
            spooled=spooled_records(),
            dropped=account.lost + later.stats().lost,
            note=(
                f"at exit ({exit_seconds:.1f} s): {stored_at_exit} stored, {spooled_at_exit} spooled; "
                f"a later client replayed {later.stats().replayed}"
            ),
        )
    finally:
        later.shutdown()
    assert (arrived.stored, arrived.duplicated) == (3000, 0)


_SPANS = """
import time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from trubrics_otel import TrubricsSpanExporter

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(TrubricsSpanExporter()))  # exports every 5 s, or at exit
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("app")
for index in range(50):
    with tracer.start_as_current_span("chat") as span:
        span.set_attributes({
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "user.id": f"span-{index}",
            "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Hi",
            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Hello",
        })
print(time.monotonic(), flush=True)
"""


def test_an_exit_with_spans_while_the_host_is_down_is_bounded_and_spools_them(
    server: LocalServer, api_key: str, ledger_row: LedgerRow
) -> None:
    """Every request answered 503: the program's exit takes a bounded time, its 50 spans are spooled,
    and a later client delivers them."""
    server.faults.fail_rate = 1.0
    ids = [f"span-{index}" for index in range(50)]

    done = run_clean(
        [sys.executable, "-c", _SPANS], timeout=60, TRUBRICS_HOST=server.url, TRUBRICS_API_KEY=api_key
    )
    exit_seconds = time.monotonic() - float(done.stdout.split()[0])

    assert done.returncode == 0, done.stderr
    assert exit_seconds < 6, exit_seconds  # the exit's budget is 3 s (EXIT_RETRY_DEADLINE)
    account = exit_account(done.stderr)
    assert (account.spooled, account.queued) == (50, 0), done.stderr
    assert (arrivals(server, ids).stored, spooled_records()) == (0, 50)

    server.faults.clear()
    later = later_client_delivers(server, api_key, ids)
    try:
        arrived = arrivals(server, ids)
        ledger_row(
            "exit with 50 spans, host down (503 to all)",
            produced=len(ids),
            arrived=arrived,
            spooled=spooled_records(),
            dropped=account.lost + later.stats().lost,
            note=f"exit took {exit_seconds:.1f} s after the last span; all 50 spooled, then replayed",
        )
    finally:
        later.shutdown()
    assert (arrived.stored, arrived.duplicated) == (50, 0)


_OUTAGE = """
import logging, sys
from trubrics_otel import TrubricsHandler

logging.getLogger().addHandler(TrubricsHandler())
logging.getLogger().setLevel(logging.INFO)
for index in range(200):
    logging.info("Sign up", extra={"user_id": f"{sys.argv[1]}-{index}"})
"""

_REPLAYER = """
import time
from trubrics_otel import TrubricsClient

client = TrubricsClient()
ends = time.monotonic() + 30
while client.spool.busy and time.monotonic() < ends:
    time.sleep(0.02)
print(client.stats().replayed)
"""


def run_together(
    script: str, arguments: list[str], **settings: str
) -> list[subprocess.CompletedProcess[str]]:
    """Run `script` once per argument, all at once, in the clean environment; wait for them all."""
    env = clean_environment(**settings)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, argument],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argument in arguments
    ]
    finished = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=60)
        finished.append(subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr))
    return finished


def test_processes_sharing_the_spool_an_outage_left_send_each_record_once(
    server: LocalServer, api_key: str, ledger_row: LedgerRow
) -> None:
    """Three programs log 200 records each while the host is down and exit; three others start at once on
    the spool they left: every record is stored once."""
    server.faults.fail_rate = 1.0
    settings = {"TRUBRICS_HOST": server.url, "TRUBRICS_API_KEY": api_key, "TRUBRICS_RETRY_DEADLINE": "0.2"}
    names = ["p0", "p1", "p2"]
    ids = [f"{name}-{index}" for name in names for index in range(200)]

    outage = run_together(_OUTAGE, names, **settings)

    assert [run.returncode for run in outage] == [0, 0, 0], [run.stderr for run in outage]
    lost = sum(exit_account(run.stderr).lost for run in outage)
    assert (arrivals(server, ids).stored, spooled_records() + lost) == (0, 600)

    server.faults.clear()
    replayers = run_together(_REPLAYER, ["r0", "r1", "r2"], **settings)

    assert [run.returncode for run in replayers] == [0, 0, 0], [run.stderr for run in replayers]
    replayed = [int(run.stdout.strip() or 0) for run in replayers]
    lost += sum(exit_account(run.stderr).lost for run in replayers)
    arrived = arrivals(server, ids)
    ledger_row(
        "3 processes spool 600 in an outage, 3 replay one spool",
        produced=len(ids),
        arrived=arrived,
        spooled=spooled_records(),
        dropped=lost,
        note=f"replayed by each of the three: {replayed}",
    )
    assert (arrived.stored, arrived.duplicated, sum(replayed)) == (600, 0, 600)
