"""Fixtures of the gateway's tests: a gateway replica in a thread, sending to the `server` fixture."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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
