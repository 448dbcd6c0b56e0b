"""The local server's listening socket: accepting connections, a thread each, and cutting them on shutdown.

`IngestionHTTPServer` binds the address, serves each connection in its own daemon thread with the
handler it is given, keeps track of the open connections so that none outlives the server, and stops at
once when asked (a test suite starts and stops a server per test). `ServerState` is what it hands every
handler thread.

This module never reads or answers a request, which is the handler's job (`_http`), never looks a host
name up (binding must not stall), and never writes to stderr: handler errors go to the
`trubrics_otel.server` logger at DEBUG.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from trubrics_otel.server._faults import FaultInjector
from trubrics_otel.server._inspector import Inspector
from trubrics_otel.server._request_log import RequestLines, RequestLog, RequestTally
from trubrics_otel.server._store import EventStore

__all__ = ["MAX_CONNECTIONS", "IngestionHTTPServer", "ServerState"]

MAX_CONNECTIONS: Final = 100
"""The most connections a server serves at once by default, a thread each; one more is answered 503."""

# how long a turned-away connection is kept to read what its client sends, so that closing it does not
# reset the connection (and lose the 503) under a client still writing; and how many are kept so
_TURN_AWAY_SECONDS: Final = 2.0
_MAX_TURNED_AWAY: Final = 256
_READ_CHUNK: Final = 64 * 1024
_BUSY_DETAIL: Final = (
    b'{"detail": "The server is serving its most connections already (max_connections): '
    b'try again after Retry-After seconds."}'
)
_BUSY_ANSWER: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(_BUSY_DETAIL)).encode() + b"\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\n" + _BUSY_DETAIL
)

_logger = logging.getLogger("trubrics_otel.server")


@dataclass(frozen=True)
class ServerState:
    """What the handler threads share: the store, the faults, the records of requests and the accepted keys.

    Attributes:
        store: where accepted items go.
        faults: the faults to stage in front of the publish endpoints.
        log: the record of answered requests.
        tally: the counts of the server's whole run.
        lines: where to write one line per request, or `None` to write nothing.
        api_keys: the accepted keys, or `None` to accept any non-empty key.
        stopping: set when the server stops, so that a staged delay ends at once.
        inspector: sums up the store and the log for the inspector page.
        key_for_reads: whether, with `api_keys` given, every endpoint but the page's files and `/health`
            needs a valid key too, not only the publish endpoints.
        loopback_only: whether the server listens on a loopback address, so that a request must name
            a loopback host in its `Host` header (a DNS-rebinding page names its own).
        max_connections: the most connections served at once; one more is answered 503 and closed.
    """

    store: EventStore
    faults: FaultInjector
    log: RequestLog
    tally: RequestTally
    lines: RequestLines | None
    api_keys: frozenset[str] | None
    stopping: threading.Event
    inspector: Inspector
    key_for_reads: bool = False
    loopback_only: bool = False
    max_connections: int = MAX_CONNECTIONS


class IngestionHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its state and can cut its open connections on shutdown.

    Args:
        address: the host and port to bind; port 0 picks a free one.
        handler: the class that answers a connection's requests, e.g. `IngestionHandler`.
        state: what the handler threads share.
        family: `socket.AF_INET` or `socket.AF_INET6`.
    """

    daemon_threads = True
    # many test clients connect at once; the default backlog of 5 turns a burst into SYN retries
    request_queue_size = 128
    # `serve()` calls handle_request() only when a connection is waiting: it must never block there
    timeout = 0

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        state: ServerState,
        family: socket.AddressFamily,
    ) -> None:
        self.address_family = family
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # before binding: a failed bind calls server_close(), which closes these too
        self._stop_requested = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        # the connections answered 503 -> when to close them; touched by the serving thread only
        self._turned_away: dict[socket.socket, float] = {}
        self._selector: selectors.BaseSelector | None = None
        super().__init__(address, handler)

    def serve(self) -> None:
        """Accept connections until `stop_serving()`.

        Unlike `serve_forever()`, which notices a shutdown only at its next poll, the loop also waits on
        a wake-up socket, so that stopping takes no time: a test suite starts and stops a server per test.
        """
        with selectors.DefaultSelector() as selector:
            self._selector = selector
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            try:
                while not self._stop_requested.is_set():
                    for key, _ in selector.select(_TURN_AWAY_SECONDS / 4 if self._turned_away else None):
                        if key.fileobj is self and not self._stop_requested.is_set():
                            self.handle_request()
                        elif isinstance(key.fileobj, socket.socket) and key.fileobj in self._turned_away:
                            self._read_turned_away(key.fileobj)
                    self._close_turned_away(time.monotonic())
            finally:
                self._close_turned_away(None)
                self._selector = None

    def stop_serving(self) -> None:
        """End `serve()` at once; call `server_close()` once its thread has returned."""
        self._stop_requested.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        """Close the listening socket and the wake-up pair."""
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        """Bind without `HTTPServer`'s reverse DNS lookup, which can stall for seconds on some hosts."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then serve it in its own thread; beyond the most, answer 503."""
        if isinstance(request, socket.socket):
            with self._connections_lock:
                full = len(self._connections) >= self.state.max_connections
                if not full:
                    self._connections.add(request)
            if full:
                self._turn_away(request)
                return
        super().process_request(request, client_address)

    def _turn_away(self, connection: socket.socket) -> None:
        """Answer 503 at once, without a thread, then keep reading until the client hangs up or time is up."""
        _logger.debug("turned away a connection beyond max_connections=%d", self.state.max_connections)
        self.state.tally.count_turned_away()
        try:
            connection.setblocking(False)
            connection.send(_BUSY_ANSWER)  # a few hundred bytes into an empty send buffer: never blocks
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            connection.close()
            return
        if self._selector is None or len(self._turned_away) >= _MAX_TURNED_AWAY:
            connection.close()
            return
        self._turned_away[connection] = time.monotonic() + _TURN_AWAY_SECONDS
        self._selector.register(connection, selectors.EVENT_READ)

    def _read_turned_away(self, connection: socket.socket) -> None:
        try:
            hung_up = not connection.recv(_READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            hung_up = True
        if hung_up:
            self._forget_turned_away(connection)

    def _close_turned_away(self, now: float | None) -> None:
        for connection, deadline in list(self._turned_away.items()):
            if now is None or now >= deadline:
                self._forget_turned_away(connection)

    def _forget_turned_away(self, connection: socket.socket) -> None:
        del self._turned_away[connection]
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(connection)
        connection.close()

    def shutdown_request(self, request: Any) -> None:
        """Forget and close a connection whose handler has finished."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open connection, so that idle keep-alive handlers end and none outlives the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a handler's exception at DEBUG: a client hanging up mid-answer is routine, not news."""
        _logger.debug("error while serving %s", client_address, exc_info=True)
