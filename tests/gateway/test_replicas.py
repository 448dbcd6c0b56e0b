"""Several gateway replicas behind trace-id routing, as a Collector's `loadbalancing` exporter routes.

Each replica is `trubrics-otel gateway` in a process of its own; `router.TraceRouter` stands in for the
Collectors. The join of a call's span with its content records needs both at one replica: two routers
(two Collectors) that each get one half must still send them to the same replica.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import clean_environment
from trubrics_otel.server import LocalServer

from .conftest import GatewayProcess, sender_command, wait_for
from .router import TraceRouter


@pytest.fixture
def replicas(server: LocalServer, api_key: str, tmp_path: Path) -> Iterator[list[GatewayProcess]]:
    """Three gateway replicas sending to the local server, each with a spool of its own."""
    started = [
        GatewayProcess(
            "--api-key",
            api_key,
            "--trubrics-host",
            server.url,
            TRUBRICS_SPOOL_DIR=str(tmp_path / f"spool-{n}"),
        )
        for n in range(3)
    ]
    yield started
    for replica in started:
        replica.stop(signal.SIGKILL)


def run_sender(*arguments: str, tmp_path: Path) -> str:
    done = subprocess.run(
        sender_command(*arguments),
        env=clean_environment(TRUBRICS_SPOOL_DIR=str(tmp_path / "sender-spool")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_calls_span_and_content_reaching_two_collectors_give_one_complete_event(
    replicas: list[GatewayProcess], server: LocalServer, tmp_path: Path
) -> None:
    """Spans through one router, content records through another: every call joined at one replica."""
    urls = [replica.url for replica in replicas]
    with TraceRouter(urls) as spans_router, TraceRouter(urls) as logs_router:
        for user in ("ada", "bo", "cy", "di"):
            run_sender(
                "--spans",
                f"{spans_router.url}/v1/traces",
                "--logs",
                f"{logs_router.url}/v1/logs",
                "--user",
                user,
                "--calls",
                "5",
                "--batch",
                tmp_path=tmp_path,
            )
        events = wait_for(lambda: len(server.llm_events()) >= 20 and server.llm_events())
        used = [replica for replica in urls if spans_router.routed[replica]]
    assert len(events) == 20
    assert all(event["generation"] == f"Echo: {event['prompt']}" for event in events)
    assert len(used) >= 2  # the traces were spread over the replicas
    for replica in replicas:
        assert "trubrics_gateway_held_calls 0" in replica.metrics()


def test_a_replica_killed_mid_stream_loses_nothing_the_sender_was_told_was_accepted(
    replicas: list[GatewayProcess], server: LocalServer, tmp_path: Path
) -> None:
    """SIGKILL one replica while calls stream: every span in an accepted export is stored.

    The spans carry their own text, so no call waits in a content join: a replica answers 200 only once
    Trubrics has the records. (A call held for its content when SIGKILL comes is lost: see
    test_cli_gateway's SIGKILL test and docs/beyond-one-process.md.)
    """
    urls = [replica.url for replica in replicas]
    accepted = tmp_path / "accepted.txt"
    with TraceRouter(urls) as router:
        sender = subprocess.Popen(
            sender_command(
                "--spans",
                f"{router.url}/v1/traces",
                "--logs",
                f"{router.url}/v1/logs",
                "--user",
                "ada",
                "--calls",
                "60",
                "--complete",
                "--pace",
                "0.01",
                "--batch",
                "--accepted-ids",
                str(accepted),
            ),
            env=clean_environment(TRUBRICS_SPOOL_DIR=str(tmp_path / "sender-spool")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: len(server.llm_events()) >= 10)
        replicas[1].process.kill()
        out, err = sender.communicate(timeout=120)
    assert sender.returncode == 0, err
    accepted_ids = set(accepted.read_text().split())
    stored_ids = {event["properties"]["span_id"] for event in server.llm_events()}
    assert len(accepted_ids) == 60, out  # the router moved the dead replica's traces to the others
    assert accepted_ids <= stored_ids
    assert urls[1] not in router.alive
