"""What the fake model endpoints share: a loopback HTTP server, recorded requests, queued errors, a delay.

`FakeServer` runs a standard-library ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread. A subclass
answers one request at a time in `FakeServer._respond`, with a JSON body or a stream of server-sent events
(`Reply`), and formats errors its own API's way in `FakeServer._error_body`. The base class records every
request, hands out queued errors one per request, waits ``delay`` seconds before every response, and
closes every open connection when stopped.

What the fakes compute alike (the reply to a user message, token counts, stream pieces, tool arguments)
is in `_replies`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeServer", "HTTPError", "RecordedRequest", "Reply"]


_Self = TypeVar("_Self", bound="FakeServer")


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request received by a fake server.

    Attributes:
        method: The HTTP method, e.g. ``"POST"``.
        path: The request path with its query, e.g. ``"/v1/chat/completions"``.
        headers: The request headers, with lower-cased names.
        body: The JSON body decoded, or an empty dict when there was none or it was not a JSON object.
        received_at: The time the request was received, in seconds since the epoch.

    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float


@dataclass(frozen=True)
class Reply:
    """A response: a JSON body, or a stream of already framed chunks.

    Attributes:
        status: The HTTP status code.
        body: The JSON body; ignored when ``stream`` is given.
        stream: The chunks of a ``text/event-stream`` response, each sent as it is produced.
        headers: Extra response headers.
        delayed: Whether the response waits for the fake's ``delay``; False answers at once.

    """

    status: int = HTTPStatus.OK
    body: Mapping[str, Any] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delayed: bool = True


class HTTPError(Exception):
    """Raised while answering a request to answer with an error in the API's own format.

    Args:
        status: The HTTP status code.
        message: The error message.
        error_type: The API's name for the kind of error; None lets the fake choose from the status.

    """

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding a reference to the fake it serves and its open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeServer) -> None:
        super().__init__(address, _Handler)
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests (HTTP/1.1, kept alive)."""

    protocol_version = "HTTP/1.1"
    timeout = 60

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        self.server_version = self._server.fake.server_version
        with self._server.connections_lock:
            self._server.connections.add(self.connection)

    def finish(self) -> None:
        with self._server.connections_lock:
            self._server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the server quiet: requests are recorded, not logged."""

    def do_GET(self) -> None:
        """Answers a GET the way the fake says."""
        self._answer()

    def do_POST(self) -> None:
        """Answers a POST the way the fake says."""
        self._answer()

    def _answer(self) -> None:
        fake = self._server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = _decode_body(self.rfile.read(length) if length > 0 else b"")
        headers = {name.lower(): value for name, value in self.headers.items()}
        recorded = body if isinstance(body, dict) else {}
        fake._record(RecordedRequest(self.command, self.path, headers, recorded, received_at=time.time()))
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        try:
            queued = fake._take_error() if self.command == "POST" and fake._serves(url.path) else None
            if queued is not None:
                raise queued
            reply = fake._respond(self.command, url.path.rstrip("/"), query, body)
        except HTTPError as error:
            reply = Reply(error.status, fake._error_body(error))
        if reply.delayed:
            fake._sleep()
        if reply.stream is not None:
            self._send_stream(reply)
        else:
            self._send_json(reply)

    def _send_head(self, reply: Reply, content_type: str) -> None:
        fake = self._server.fake
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        if fake.request_id_header:
            self.send_header(fake.request_id_header, f"req_fake{fake._request_count():06d}")
        for name, value in reply.headers.items():
            self.send_header(name, value)

    def _send_json(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode("utf-8")
        self._send_head(reply, "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_stream(self, reply: Reply) -> None:
        self._send_head(reply, "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for data in reply.stream or ():
            self.wfile.write(f"{len(data):X}\r\n".encode("ascii") + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeServer:
    """A deterministic model API on the loopback interface; subclasses say what it answers.

    Use it as a context manager, or call `start` and `stop`.

    Args:
        port: The port to listen on; 0 (the default) picks a free one.
        host: The address to bind; the loopback address by default.
        delay: Seconds to wait before each response (before the first chunk of a stream).

    """

    server_version = "FakeModel/1.0"
    """The ``Server`` header of every response."""
    request_id_header: str | None = "x-request-id"
    """The response header carrying a request id, or None for none."""

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", delay: float = 0.0) -> None:
        if delay < 0:
            raise ValueError("delay must not be negative")
        self._port = port
        self._host = host
        self.delay = delay
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._errors: list[HTTPError] = []
        self._counter = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # What subclasses define

    def _serves(self, path: str) -> bool:
        """Return whether a path is one of the API's endpoints, which queued errors answer in its place.

        By default none is: a fake that says False takes its queued errors in `_respond`.
        """
        return False

    def _respond(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Reply:
        """Return the response to one request, or raise `HTTPError`."""
        raise NotImplementedError

    def _error_body(self, error: HTTPError) -> dict[str, Any]:
        """Return the JSON body of an error response."""
        raise NotImplementedError

    # Lifecycle

    def start(self: _Self) -> _Self:
        """Binds the socket and starts serving in a daemon thread.

        Returns:
            The server itself, so that ``server = FakeOpenAI().start()`` works.

        Raises:
            RuntimeError: If the server is already running.

        """
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        server = _Server((self._host, self._port), self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{type(self).__name__.removeprefix('Fake').lower()}",
            daemon=True,
        )
        self._server = server
        self._thread = thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and release the port; do nothing if not running."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = None
        self._thread = None
        server.shutdown()
        with server.connections_lock:
            connections = list(server.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port the server listens on.

        Raises:
            RuntimeError: If the server is not running.

        """
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self._host}:{self.port}"

    # What tests look at or steer

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forgets the recorded requests and any queued errors."""
        with self._lock:
            self._requests.clear()
            self._errors.clear()

    def _queue(self, error: HTTPError) -> None:
        with self._lock:
            self._errors.append(error)

    # Used by the handler and the subclasses

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def _take_error(self) -> HTTPError | None:
        with self._lock:
            return self._errors.pop(0) if self._errors else None

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _sleep(self) -> None:
        if self.delay > 0:
            time.sleep(self.delay)


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
