"""Fixtures every test module shares: a clean environment, and a live local server with a known key."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from trubrics_otel.server import LocalServer


@pytest.fixture(autouse=True)
def _no_trubrics_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Remove every TRUBRICS_* variable, so that the developer's own settings never leak into a test.

    The user's cache directory, where the spool lives by default, is a fresh one of each test's (its
    subprocesses inherit it), so that no test reads or fills the developer's spool, or another test's.
    """
    for name in list(os.environ):
        if name.startswith("TRUBRICS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def api_key() -> str:
    """The one key the `server` fixture accepts."""
    return "test-key"


@pytest.fixture
def server(api_key: str) -> Iterator[LocalServer]:
    """A started local server on a free port, with an in-memory database, stopped after the test."""
    with LocalServer(api_keys={api_key}) as running:
        yield running
