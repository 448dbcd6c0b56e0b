"""Fixtures of the gateway's tests: a gateway replica in a thread, sending to the `server` fixture."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.processes import clean_environment
from trubrics_otel.gateway import GatewayConfig, RunningGateway
from trubrics_otel.server import LocalServer

HERE = Path(__file__).resolve().parent
SENDER = HERE / "sender.py"


@pytest.fixture(autouse=True)
def _spool_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep whatever the transport spools inside the test's own folder."""
    monkeypatch.setenv("TRUBRICS_SPOOL_DIR", str(tmp_path / "spool"))


@pytest.fixture
def gateway(server: LocalServer, api_key: str) -> Iterator[RunningGateway]:
    """A one-project gateway on a free port, sending to the local server with its key."""
    with RunningGateway(GatewayConfig(port=0, api_key=api_key, trubrics_host=server.url)) as running:
        yield running


def sender_command(*arguments: str) -> list[str]:
    """The command that runs `sender.py` with this interpreter."""
    return [sys.executable, str(SENDER), *arguments]


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll `condition` every 20 ms until it is truthy; return its value, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {condition}")
        time.sleep(0.02)


def by_span(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events ordered by their span id, for comparing two paths' events."""
    return sorted(events, key=lambda event: str(event["properties"].get("span_id")))


class GatewayProcess:
    """`trubrics-otel gateway` in a process of its own, listening on a free port."""

    def __init__(self, *arguments: str, **settings: str) -> None:
        command = [sys.executable, "-m", "trubrics_otel.cli", "gateway", "--port", "0", *arguments]
        self.process = subprocess.Popen(
            command,
            env=clean_environment(**settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"on (http://\S+) ", line)
        if match is None:
            self.process.kill()
            raise AssertionError(f"the gateway did not start: {line!r} {self.process.stderr.read()!r}")
        self.url = match.group(1)

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=5).text

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str, str]:
        """Send `signum`; return the exit code and the rest of stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err
