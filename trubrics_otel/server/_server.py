"""`LocalServer`, the Trubrics-compatible ingestion server that tests, the demo and `serve_forever` start.

`LocalServer` owns the pieces (store, fault injector, request log) and the thread that serves HTTP;
it is what tests and the demo start, and what a user without a Trubrics account points
`TRUBRICS_HOST` at. Starting and stopping are idempotent and safe to call from any thread.

This module never reads the environment and never prints: a `LocalServer` writes its request lines
only to the stream it is given. Running one for the person at a terminal is `_serve`'s job.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Final, TextIO, cast

from trubrics_otel._config import ConfigurationError
from trubrics_otel.server._faults import FaultInjector
from trubrics_otel.server._http import IngestionHandler
from trubrics_otel.server._inspector import Inspector
from trubrics_otel.server._listener import MAX_CONNECTIONS, IngestionHTTPServer, ServerState
from trubrics_otel.server._request_log import ReceivedRequest, RequestLines, RequestLog, RequestTally
from trubrics_otel.server._store import IN_MEMORY, MAX_ITEMS, EventStore

__all__ = ["LocalServer", "PortInUseError"]

# what Windows reports instead of EADDRINUSE when its socket layer refuses the bind
_WSAEADDRINUSE: Final = 10048


class PortInUseError(OSError):
    """The port the server was asked for is taken, most often by another `trubrics-otel serve`.

    Its `errno` is `EADDRINUSE`, and its message says what to do about it.

    Args:
        host: the address the server tried to listen on.
        port: the port that is taken.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"Port {port} on {host} is already in use (is another `trubrics-otel serve` running?): "
            "stop it, or pass --port 0 to pick a free port.",
        )
        self.host = host
        self.port = port

    def __str__(self) -> str:
        """Return the message alone, without the `[Errno 98]` that `OSError` puts before it."""
        return str(self.strerror)


class LocalServer:
    """A local stand-in for the Trubrics ingestion API, serving HTTP in a daemon thread.

    Example:
        ```python
        with LocalServer(api_keys={"test-key"}) as server:
            client = TrubricsClient("test-key", server.url)
            client.send([Event("u1", "Sign up")])
            assert server.events()[0]["event"] == "Sign up"
        ```

    Args:
        host: the address to listen on; `"0.0.0.0"` or `"::"` for every interface.
        port: the port; 0 picks a free one, read back from `port` once started.
        api_keys: the accepted `x-api-key` values; `None` accepts any non-empty key, and an empty
            collection refuses every key.
        database: a SQLite file that keeps the items across restarts, or `":memory:"`.
        fail_rate: the share of publish requests, 0 to 1, answered with a random 503.
        seed: seeds those random failures, for runs that fail the same requests.
        log_to: a stream to write one line per request to, e.g. `sys.stderr`:
            `12:01:02 POST /publish_llm_events 200 3 items 1.4 ms`, or `401 missing x-api-key` in the
            middle of a refused one. `None`, the default, writes nothing.
        key_for_reads: whether, with `api_keys` given, reading needs a valid key too: the listings, the
            faults and the inspector's data (not the page's files, nor `/health`). `None`, the default,
            asks it of a server that listens beyond loopback (`"0.0.0.0"`, a LAN address), where anyone
            on the network could read it; on loopback only local programs can connect, and the `Host`
            check keeps web pages out. Without `api_keys`, reading is always open.
        max_items: the most items of each kind kept; storing more drops the oldest first, counted in the
            inspector's summary and `serve_forever`'s.
        max_connections: the most connections served at once, each by a thread; one more is answered
            503 with `Retry-After: 1` and closed, instead of waiting.

    Raises:
        ConfigurationError: an argument is malformed, or the database cannot be opened.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: Iterable[str] | None = None,
        database: str | os.PathLike[str] = IN_MEMORY,
        fail_rate: float = 0.0,
        seed: int | None = None,
        log_to: TextIO | None = None,
        key_for_reads: bool | None = None,
        max_items: int = MAX_ITEMS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.host = _check_host(host)
        self._requested_port = _check_port(port)
        self._api_keys = _check_api_keys(api_keys)
        self._database = _check_database(database)
        self._max_items = _check_positive("max_items", max_items)
        self._max_connections = _check_positive("max_connections", max_connections)
        self._loopback = _is_loopback(self.host)
        self._key_for_reads = self._api_keys is not None and (
            not self._loopback if key_for_reads is None else _check_flag("key_for_reads", key_for_reads)
        )
        self.faults = FaultInjector(fail_rate, seed)
        """The faults staged in front of the publish endpoints; see `FaultInjector`."""
        self._log = RequestLog()
        self._lines = None if log_to is None else RequestLines(_check_log_to(log_to))
        self._tally = RequestTally()
        self._store = _open_store(self._database, self._max_items)
        self._lifecycle = threading.Lock()
        self._httpd: IngestionHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._bound_port: int | None = None

    def __repr__(self) -> str:
        where = self.url if self._bound_port is not None else f"{self.host}:{self._requested_port}"
        return f"LocalServer({where}, running={self.running}, database={os.fspath(self._database)!r})"

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalServer:
        """Bind and serve in a daemon thread; return the server. Starting a running server does nothing.

        A stopped server starts again on a fresh port (unless one was given) with its database
        reopened: a file database still holds its items, an in-memory one starts empty.

        Raises:
            PortInUseError: (an `OSError`) the port is taken.
            OSError: the address cannot be bound otherwise (the host is not local, ...).
        """
        with self._lifecycle:
            if self._httpd is not None:
                return self
            if self._store.closed:
                self._store = _open_store(self._database, self._max_items)
            self._stopping = threading.Event()
            state = ServerState(
                self._store,
                self.faults,
                self._log,
                self._tally,
                self._lines,
                self._api_keys,
                self._stopping,
                Inspector(self._store, self._log, self._tally),
                key_for_reads=self._key_for_reads,
                loopback_only=self._loopback,
                max_connections=self._max_connections,
            )
            try:
                httpd = IngestionHTTPServer(
                    (self.host, self._requested_port), IngestionHandler, state, _family(self.host)
                )
            except OSError as error:
                if error.errno == errno.EADDRINUSE or getattr(error, "winerror", None) == _WSAEADDRINUSE:
                    raise PortInUseError(self.host, self._requested_port) from None
                raise
            self._bound_port = int(httpd.server_address[1])
            self._thread = threading.Thread(
                target=httpd.serve,
                name=f"trubrics-local-server:{self._bound_port}",
                daemon=True,
            )
            self._httpd = httpd
            self._thread.start()
            return self

    def stop(self) -> None:
        """Stop serving, cut open connections and close the database. Idempotent."""
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            self._stopping.set()  # a staged delay ends now instead of holding its connection open
            if httpd is not None:
                httpd.stop_serving()
            if thread is not None:
                thread.join()
            if httpd is not None:
                httpd.close_connections()
                httpd.server_close()
            self._store.close()

    @property
    def database(self) -> str | os.PathLike[str]:
        """The SQLite database the items are stored in: a file path or `":memory:"`."""
        return self._database

    @property
    def key_for_reads(self) -> bool:
        """Whether reading (the listings, the faults, the page's data) needs one of `api_keys`."""
        return self._key_for_reads

    @property
    def running(self) -> bool:
        """Whether the server is started and not stopped."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The port served on: the bound one once started (kept after `stop()`), else the one asked for."""
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def url(self) -> str:
        """The base URL a client uses as `TRUBRICS_HOST`, e.g. `http://127.0.0.1:54321`.

        Raises:
            RuntimeError: the server was asked for port 0 and has not been started, so it has no port yet.
        """
        if self.port == 0:
            raise RuntimeError("The server has no port yet: call start() before reading its url.")
        return f"http://{_connectable(self.host)}:{self.port}"

    # --- what was received ----------------------------------------------------------------------

    def events(
        self, user_id: str | None = None, thread_id: str | None = None, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Return the accepted events, exactly as received, in arrival order.

        The order is the oldest first, unlike `GET /events`, which lists the newest first for a person
        reading it. The items are typed loosely (`Any` values) because a test reads nested fields
        straight away, e.g. `server.events()[0]["properties"]["$thread_id"]`.

        Args:
            user_id: only this user's events.
            thread_id: only the events whose `$thread_id` property is this.
            limit: at most this many, the earliest first.

        Raises:
            StoreClosedError: (a `RuntimeError`) the server was stopped, which closed its database.
        """
        return self._store.items("events", user_id=user_id, thread_id=thread_id, limit=limit)

    def llm_events(
        self, user_id: str | None = None, thread_id: str | None = None, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Return the accepted LLM events, exactly as received, oldest first; filters as `events()`."""
        return self._store.items("llm_events", user_id=user_id, thread_id=thread_id, limit=limit)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of every request answered so far, oldest first, API keys redacted.

        The inspector page's own reads (its files, its summary, and the listings it asks for with the
        `X-Trubrics-Inspector` header) are not in it: they are not what a client sent.
        """
        return self._log.snapshot()

    def clear(self) -> None:
        """Delete the stored items and forget the logged requests; the staged faults stay.

        Raises:
            StoreClosedError: (a `RuntimeError`) the server was stopped, which closed its database.
        """
        self._store.clear()
        self._log.clear()


# --- argument checks ---------------------------------------------------------------------------


def _check_host(host: object) -> str:
    if not isinstance(host, str) or not host.strip():
        raise ConfigurationError(f"The host must be a non-empty address such as '127.0.0.1', not {host!r}.")
    return host.strip().strip("[]")


def _check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError(
            f"The port must be an integer from 0 to 65535 (0 picks a free one), not {port!r}."
        )
    return port


def _check_api_keys(api_keys: Iterable[str] | None) -> frozenset[str] | None:
    if api_keys is None:
        return None
    if isinstance(api_keys, (str, bytes)):
        # a lone string would be taken apart into one-letter keys
        raise ConfigurationError(
            "api_keys must be a collection of keys such as {'key-1'}, not a single string."
        )
    keys = list(api_keys)
    if not all(isinstance(key, str) and key.strip() for key in keys):
        raise ConfigurationError("Every API key must be a non-empty string.")
    return frozenset(key.strip() for key in keys)


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, not {value!r}.")
    return value


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True, False or None, not {value!r}.")
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _check_log_to(log_to: object) -> TextIO:
    if not callable(getattr(log_to, "write", None)) or not callable(getattr(log_to, "flush", None)):
        # a file name given by mistake would fail every request's line, not the constructor
        raise ConfigurationError(
            f"log_to must be a text stream such as sys.stderr or an open file, not {log_to!r}."
        )
    return cast("TextIO", log_to)


def _check_database(database: object) -> str | os.PathLike[str]:
    if isinstance(database, str) and database:
        return database
    if isinstance(database, os.PathLike) and isinstance(os.fspath(database), str):
        return database
    raise ConfigurationError(f"The database must be a file path or ':memory:', not {database!r}.")


def _open_store(database: str | os.PathLike[str], max_items: int) -> EventStore:
    try:
        return EventStore(database, max_items)
    except sqlite3.Error as error:
        raise ConfigurationError(
            f"Cannot open the SQLite database {os.fspath(database)!r}: {error}."
        ) from None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _connectable(host: str) -> str:
    """Return an address a client can connect to: a wildcard becomes loopback, IPv6 gets brackets."""
    if host == "0.0.0.0":  # noqa: S104 - recognised, not bound
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
