"""Fixtures every test module shares: a clean environment, and a live local server with a known key."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from trubrics_otel.server import LocalServer


@pytest.fixture(autouse=True)
def _no_trubrics_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every TRUBRICS_* variable, so that the developer's own settings never leak into a test."""
    for name in list(os.environ):
        if name.startswith("TRUBRICS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def api_key() -> str:
    """The one key the `server` fixture accepts."""
    return "test-key"


@pytest.fixture
def server(api_key: str) -> Iterator[LocalServer]:
    """A started local server on a free port, with an in-memory database, stopped after the test."""
    with LocalServer(api_keys={api_key}) as running:
        yield running
