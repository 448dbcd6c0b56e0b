"""`serve_forever`, behind `trubrics-otel serve`: a `LocalServer` run for the person at a terminal.

It prints where the server listens and what it accepts, writes a line per request on standard error
(unless quiet), runs until Ctrl-C, SIGTERM or a `stop` event, and prints a summary of what it did.

This is the one module of the server that prints by itself; it never reads the environment, and never changes
how a `LocalServer` answers: it only starts one, waits, and stops it. SIGTERM is handled only while it
runs, and only in the main thread, where Python can handle signals; the previous handler comes back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Final, TextIO

from trubrics_otel.server._listener import MAX_CONNECTIONS
from trubrics_otel.server._request_log import Tally
from trubrics_otel.server._server import LocalServer
from trubrics_otel.server._store import IN_MEMORY, MAX_ITEMS

__all__ = ["DEFAULT_PORT", "serve_forever"]

DEFAULT_PORT: Final = 8765
"""The port `serve_forever` listens on unless told otherwise; 8000 and 8080 are too often taken."""


def serve_forever(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    api_keys: Iterable[str] | None = None,
    database: str | os.PathLike[str] = IN_MEMORY,
    fail_rate: float = 0.0,
    seed: int | None = None,
    quiet: bool = False,
    stream: TextIO | None = None,
    log_to: TextIO | None = None,
    stop: threading.Event | None = None,
    key_for_reads: bool | None = None,
    max_items: int = MAX_ITEMS,
    max_connections: int = MAX_CONNECTIONS,
) -> None:
    """Run a `LocalServer` until Ctrl-C, SIGTERM or `stop` is set, saying where it listens and what it did.

    It prints where it listens on `stream`, then one line per request on `log_to` (unless `quiet`), and,
    once stopped, a summary on `log_to` even when quiet:
    `Stopped after 14 requests: accepted 120 events and 30 LLM events; refused 2 (401: 1, 422: 1).`

    Args:
        host: the address to listen on.
        port: the port; 0 picks a free one.
        api_keys: the accepted keys; `None` (or empty) accepts any non-empty key.
        database: a SQLite file that keeps the items across restarts, or `":memory:"`.
        fail_rate: the share of publish requests, 0 to 1, answered with a random 503.
        seed: seeds those random failures.
        quiet: write no line per request; the summary is still written.
        stream: where to print where the server listens; default standard output.
        log_to: where to write the request lines and the summary; default standard error.
        stop: ends the call when set, from another thread (SIGTERM sets it too).
        key_for_reads: whether reading needs a key too; by default when keys are given and `host` is
            not loopback (see `LocalServer`).
        max_items: the most items of each kind kept; beyond it the oldest are dropped, and counted.
        max_connections: the most connections served at once; one more is answered 503.

    Raises:
        ConfigurationError: an argument is malformed, or the database cannot be opened.
        PortInUseError: (an `OSError`) the port is taken; nothing was printed.
        OSError: the address cannot be bound otherwise.
    """
    out = stream if stream is not None else sys.stdout
    log = log_to if log_to is not None else sys.stderr
    done = stop if stop is not None else threading.Event()
    keys = list(api_keys) if api_keys else None
    server = LocalServer(
        host,
        port,
        api_keys=keys,
        database=database,
        fail_rate=fail_rate,
        seed=seed,
        log_to=None if quiet else log,
        key_for_reads=key_for_reads,
        max_items=max_items,
        max_connections=max_connections,
    )
    try:
        server.start()
    except OSError:
        server.stop()  # closes the database the failed start leaves open
        raise
    with server, _set_on_sigterm(done):
        print(_banner(server, keys), file=out, flush=True)
        try:
            # a timed wait keeps Ctrl-C responsive on every platform
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    evicted = sum(server._store.evicted().values())
    print(_summary(server._tally.snapshot(), server.database, evicted), file=log, flush=True)


def _summary(tally: Tally, database: str | os.PathLike[str], evicted: int = 0) -> str:
    """Return what a stopped server did, e.g. `Stopped after 3 requests: accepted 2 events and ...`."""
    refusals = sum(tally.refused.values())
    if refusals:
        by_status = ", ".join(f"{status}: {count}" for status, count in tally.refused.items())
        refused = f"refused {refusals} ({by_status})"
    else:
        refused = "refused none"
    dropped = f"; dropped {tally.dropped} by staged faults" if tally.dropped else ""
    if tally.turned_away:
        dropped += f"; turned away {_count(tally.turned_away, 'connection')} over max_connections (503)"
    duplicates = (
        f" (and {_count(tally.duplicates, 'duplicate')} by $idempotency_key, not stored again)"
        if tally.duplicates
        else ""
    )
    lines = [
        f"Stopped after {_count(tally.requests, 'request')}: accepted {_count(tally.events, 'event')} "
        f"and {_count(tally.llm_events, 'LLM event')}{duplicates}; {refused}{dropped}."
    ]
    if evicted:
        lines.append(f"Dropped the oldest {_count(evicted, 'item')}, to keep at most max_items of each kind.")
    if os.fspath(database) != IN_MEMORY:
        lines.append(f"The items are kept in {os.fspath(database)}.")
    elif tally.events or tally.llm_events:
        lines.append("The items were kept in memory only, and are gone.")
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _banner(server: LocalServer, keys: list[str] | None) -> str:
    accepted = "any non-empty x-api-key" if keys is None else f"only the {len(set(keys))} API key(s) given"
    if server.key_for_reads:
        accepted += ", to read too (the page asks for one)"
    database = os.fspath(server.database)
    kept = "in memory, gone when the server stops" if database == IN_MEMORY else database
    return "\n".join(
        [
            f"Trubrics-compatible ingestion server listening on {server.url}",
            f"  point a client at it:  TRUBRICS_HOST={server.url}",
            f"  accepts:               {accepted}",
            f"  stores in:             {kept}",
            f"  see what arrived:      {server.url}/  (in a browser; or {server.url}/llm_events)",
            "Press Ctrl-C to stop.",
        ]
    )


@contextlib.contextmanager
def _set_on_sigterm(done: threading.Event) -> Iterator[None]:
    """Make SIGTERM set `done` (for `docker stop` and process managers), where signals can be handled."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
