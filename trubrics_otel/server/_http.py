"""The local server's HTTP face: routing, reading bodies, and the checks of the publish endpoints.

A publish request is checked in the order the production stack applies: staged faults first (they stand
for the proxies in front of the API), then the `x-api-key` header, the body's size, the JSON, and the
API's validation rules (`validate_payload`). A request is stored whole or not at all. Every answer is
JSON with a `Content-Length`, and a request's body is always read to its end, so one connection can
carry many requests (HTTP/1.1 keep-alive).

This module never stores a request the API would refuse, never echoes an API key, and never writes to
stderr itself: handler errors go to the `trubrics_otel.server` logger at DEBUG, and the one line per
request goes to the `RequestLines` the server was given, if any.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Final, TypeAlias, cast
from urllib.parse import parse_qs, urlsplit

from trubrics_otel._config import ConfigurationError
from trubrics_otel._events import MAX_BATCH_SIZE, JSONValue, Kind, Problem, validate_payload
from trubrics_otel._version import __version__
from trubrics_otel.server._faults import Fault, FaultInjector, check_fail_rate
from trubrics_otel.server._inspector import ASSET_PATHS, PAGE_PATH, Asset, Inspector, asset
from trubrics_otel.server._request_log import ReceivedRequest, RequestLines, RequestLog, RequestTally, redact
from trubrics_otel.server._store import EventStore, StoreClosedError

__all__ = ["CURSOR_HEADER", "INGESTION_BASE", "MAX_BODY_BYTES", "IngestionHTTPServer", "ServerState"]

_logger = logging.getLogger("trubrics_otel.server")

MAX_BODY_BYTES: Final = 5 * 1024 * 1024
"""The largest request body the publish endpoints take; a larger one is answered with 413."""

# A body up to this size is read and thrown away before the 413, so that the client reads the answer
# instead of a connection reset; a larger one closes the connection.
_MAX_DISCARD_BYTES: Final = 64 * 1024 * 1024
_READ_CHUNK: Final = 64 * 1024


CURSOR_HEADER: Final = "X-Trubrics-Cursor"
"""The header of every listing: the arrival number to pass as `after` to list what arrives next."""

INGESTION_BASE: Final = "/api/ingestion"
"""The production API's base path: the API's routes are served at the root and under it."""


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
    """

    store: EventStore
    faults: FaultInjector
    log: RequestLog
    tally: RequestTally
    lines: RequestLines | None
    api_keys: frozenset[str] | None
    stopping: threading.Event
    inspector: Inspector


@dataclass(frozen=True)
class _Body:
    """A request body, read to its end: `raw` is `None` when it exceeded `MAX_BODY_BYTES`."""

    raw: bytes | None


@dataclass(frozen=True)
class _Payload:
    """A decoded JSON body, or the FastAPI-shaped problem that stopped its decoding."""

    value: object = None
    problem: dict[str, JSONValue] | None = None


_Methods: TypeAlias = "dict[str, Callable[[IngestionHandler, _Body], None]]"


class IngestionHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its state and can cut its open connections on shutdown.

    Args:
        address: the host and port to bind; port 0 picks a free one.
        state: what the handler threads share.
        family: `socket.AF_INET` or `socket.AF_INET6`.
    """

    daemon_threads = True
    # many test clients connect at once; the default backlog of 5 turns a burst into SYN retries
    request_queue_size = 128
    # `serve()` calls handle_request() only when a connection is waiting: it must never block there
    timeout = 0

    def __init__(self, address: tuple[str, int], state: ServerState, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # before binding: a failed bind calls server_close(), which closes these too
        self._stop_requested = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, IngestionHandler)

    def serve(self) -> None:
        """Accept connections until `stop_serving()`.

        Unlike `serve_forever()`, which notices a shutdown only at its next poll, the loop also waits on
        a wake-up socket, so that stopping takes no time: a test suite starts and stops a server per test.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stop_requested.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self and not self._stop_requested.is_set():
                        self.handle_request()

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
        """Remember the connection, then serve it in its own thread."""
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

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


class IngestionHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests, one at a time, as the Trubrics ingestion API would."""

    protocol_version = "HTTP/1.1"
    server_version = f"trubrics-otel-local/{__version__}"
    # the status line and headers go out in one write and the body in another: without this, Nagle's
    # algorithm and the client's delayed ACK add 40 ms to every keep-alive request
    disable_nagle_algorithm = True
    # an idle keep-alive connection is closed after this many seconds
    timeout = 60

    _path: str = "/"
    _item_count: int | None = None
    _started: float = 0.0
    # a follower's poll that finds nothing new is not worth a line: it would bury the publish requests
    _quiet_line: bool = False
    # the inspector page's own reads are not what a client sent: no line, no log entry, not counted
    _unrecorded: bool = False

    # --- dispatch -------------------------------------------------------------------------------

    def parse_request(self) -> bool:
        """Note when the request began, then parse its request line and headers."""
        self._started = time.perf_counter()
        self._quiet_line = False
        self._unrecorded = False
        return super().parse_request()

    def _dispatch(self) -> None:
        self._path = urlsplit(self.path).path or "/"
        self._item_count = None
        self._unrecorded = self.command in ("GET", "HEAD") and (
            self._path in _INSPECTOR_READS or INSPECTOR_HEADER in self.headers
        )
        body = self._read_body()
        if body is None:
            return None
        routes = _ROUTES.get(self._path)
        if routes is None:
            detail = _not_found(self._path, self._base_url())
            return self._answer(404, {"detail": detail}, note="no such path")
        action = routes.get("GET" if self.command == "HEAD" else self.command)
        if action is None:
            allow = {"Allow": ", ".join(routes)}
            return self._answer(405, {"detail": "Method Not Allowed"}, allow, note="method not allowed")
        try:
            return action(self, body)
        except StoreClosedError:
            self.close_connection = True
            return self._answer(503, {"detail": "The server is stopping."}, note="server stopping")

    # the names BaseHTTPRequestHandler dispatches each method to
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch  # noqa: N815

    # --- publish_events, publish_llm_events -----------------------------------------------------

    def _publish_events(self, body: _Body) -> None:
        return self._publish("events", body)

    def _publish_llm_events(self, body: _Body) -> None:
        return self._publish("llm_events", body)

    def _publish(self, kind: Kind, body: _Body) -> None:
        payload = _decode(body)
        self._item_count = len(payload.value) if isinstance(payload.value, list) else None
        if self._stage_fault():
            return None
        key_problem = self._key_problem()
        if key_problem is not None:
            detail, note = key_problem
            return self._answer(401, {"detail": detail}, note=note)
        if body.raw is None:
            return self._answer(
                413, {"detail": f"The request body is larger than {_MIB} MiB."}, note=_TOO_LARGE
            )
        if payload.problem is not None:
            return self._answer(422, {"detail": [payload.problem]}, note=_undecodable(payload.problem))
        problems = validate_payload(kind, payload.value)
        if problems:
            refusals: list[JSONValue] = [problem.to_json() for problem in problems]
            return self._answer(422, {"detail": refusals}, note=_invalid(problems, self._item_count))
        items = cast("list[dict[str, JSONValue]]", payload.value)
        self.state.store.add(kind, items)
        self.state.tally.count_accepted(kind, len(items))
        return self._answer(200, {"status": "success"}, note=_items(len(items)))

    def _stage_fault(self) -> bool:
        """Apply the next staged fault; return True when it answered (or dropped) the request."""
        fault = self.state.faults.next_fault()
        if fault is None:
            return False
        if fault.delay > 0 and self.state.stopping.wait(fault.delay):
            self._drop()
            return True
        if fault.drop:
            self._drop()
            return True
        if not fault.is_error:
            return False
        self._answer_fault(fault)
        return True

    def _answer_fault(self, fault: Fault) -> None:
        headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
        phrase = _phrase(fault.status)
        detail = f"Fault injected by the local server: {phrase}."
        self._answer(fault.status, {"detail": detail}, headers, note="staged fault")

    def _key_problem(self) -> tuple[str, str] | None:
        """Return the 401's detail and the request line's note, or `None` when the key is accepted."""
        key = (self.headers.get("x-api-key") or "").strip()
        if not key:
            return "The x-api-key header is missing: send the project's API key in it.", "missing x-api-key"
        if self.state.api_keys is not None and key not in self.state.api_keys:
            return "The API key in the x-api-key header is not valid for this server.", "unknown x-api-key"
        return None

    # --- events, llm_events, health -------------------------------------------------------------

    def _list_events(self, body: _Body) -> None:
        return self._list("events")

    def _list_llm_events(self, body: _Body) -> None:
        return self._list("llm_events")

    def _list(self, kind: Kind) -> None:
        query = parse_qs(urlsplit(self.path).query)
        name, other = _NAME_PARAMETERS[kind]
        limit, limit_problem = _non_negative(query, "limit")
        after, after_problem = _non_negative(query, "after")
        problems: list[JSONValue] = [p for p in (limit_problem, after_problem) if p is not None]
        if other in query:
            problems.append(_wrong_filter(kind, other, name))
        if problems:
            return self._answer(422, {"detail": problems}, note="bad query")
        listing = self.state.store.listing(
            kind,
            user_id=_first(query, "user_id"),
            thread_id=_first(query, "thread_id"),
            name=_first(query, name),
            after=after,
            limit=limit,
        )
        # the stored texts are the items as received: joined, not decoded and encoded again
        body = f"[{','.join(listing.texts)}]".encode()
        self._quiet_line = after is not None and not listing.texts
        return self._answer(200, body, {CURSOR_HEADER: str(listing.cursor)}, note=_items(len(listing.texts)))

    def _health(self, body: _Body) -> None:
        return self._answer(200, {"status": "ok"})

    # --- the inspector: /, its files, /_trubrics/summary, /_trubrics/requests -------------------------

    def _inspector_file(self, body: _Body) -> None:
        return self._answer_file(
            asset(self._path), note="inspector page" if self._path == PAGE_PATH else None
        )

    def _inspector_summary(self, body: _Body) -> None:
        return self._answer(200, self.state.inspector.summary(), _NOT_CACHED)

    def _inspector_requests(self, body: _Body) -> None:
        query = parse_qs(urlsplit(self.path).query)
        limit, problem = _non_negative(query, "limit")
        refused = _first(query, "refused")
        problems: list[JSONValue] = [] if problem is None else [problem]
        if refused not in (None, "true", "false"):
            problems.append(
                {"loc": ["query", "refused"], "msg": "Input should be true or false", "type": "bool_parsing"}
            )
        if problems:
            return self._answer(422, {"detail": problems}, note="bad query")
        listed = self.state.inspector.requests(
            _DEFAULT_REQUESTS if limit is None else min(limit, _MAX_REQUESTS), refused_only=refused == "true"
        )
        return self._answer(200, listed, _NOT_CACHED)

    # --- /_trubrics/faults ----------------------------------------------------------------------

    def _show_faults(self, body: _Body) -> None:
        return self._answer(200, self._faults_state())

    def _set_faults(self, body: _Body) -> None:
        if body.raw is None:
            return self._answer(
                413, {"detail": f"The request body is larger than {_MIB} MiB."}, note=_TOO_LARGE
            )
        payload = _decode(body)
        if payload.problem is not None:
            return self._answer(422, {"detail": [payload.problem]}, note=_undecodable(payload.problem))
        try:
            script, fail_rate = _fault_request(payload.value)
        except ConfigurationError as error:
            problem: JSONValue = {"loc": ["body"], "msg": str(error), "type": "value_error"}
            return self._answer(422, {"detail": [problem]}, note="bad fault request")
        if fail_rate is not None:
            self.state.faults.fail_rate = fail_rate
        self.state.faults.script(*script)
        return self._answer(200, self._faults_state())

    def _clear_faults(self, body: _Body) -> None:
        self.state.faults.clear()
        return self._answer(200, self._faults_state())

    def _faults_state(self) -> dict[str, JSONValue]:
        return dict(self.state.faults.state())

    # the API's routes, served at the root and under INGESTION_BASE: a base URL may be either
    _api_routes: ClassVar[dict[str, _Methods]] = {
        "publish_events": {"POST": _publish_events},
        "publish_llm_events": {"POST": _publish_llm_events},
        "events": {"GET": _list_events},
        "llm_events": {"GET": _list_llm_events},
        "health": {"GET": _health},
    }
    # the local server's own controls and the inspector's data, at the root only: production has neither
    _control_routes: ClassVar[dict[str, _Methods]] = {
        "_trubrics/faults": {"GET": _show_faults, "POST": _set_faults, "DELETE": _clear_faults},
        "_trubrics/summary": {"GET": _inspector_summary},
        "_trubrics/requests": {"GET": _inspector_requests},
        "_trubrics/inspector.css": {"GET": _inspector_file},
        "_trubrics/inspector.js": {"GET": _inspector_file},
    }

    # --- reading and answering ------------------------------------------------------------------

    def _base_url(self) -> str:
        """Return the server's base URL as the client reached it, from its `Host` header when it has one."""
        host = (self.headers.get("Host") or "").strip()
        if not _HOST_HEADER.fullmatch(host):
            server = cast("IngestionHTTPServer", self.server)
            name = f"[{server.server_name}]" if ":" in server.server_name else server.server_name
            host = f"{name}:{server.server_port}"
        return f"http://{host}"

    @property
    def state(self) -> ServerState:
        """The state this handler's server shares with its other handlers."""
        return cast("IngestionHTTPServer", self.server).state

    def _drain_chunked(self) -> None:
        """Read and discard a chunked body, up to the discard limit."""
        total = 0
        try:
            while total <= _MAX_DISCARD_BYTES:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                total += size
                self.rfile.read(size + 2)
        except (OSError, ValueError):
            return

    def _read_body(self) -> _Body | None:
        """Read the body to its end; return None when the connection cannot carry on (already answered)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            # read what the client sends before answering, or closing would reset the connection under
            # a client still writing, and it would never see the answer
            self._drain_chunked()
            self._answer(411, {"detail": "Send the body with a Content-Length header."}, note="chunked body")
            return None
        length = _content_length(self.headers.get("Content-Length"))
        if length is None:
            self.close_connection = True
            detail = "The Content-Length header is not a number of bytes."
            self._answer(400, {"detail": detail}, note="bad Content-Length")
            return None
        if length > MAX_BODY_BYTES:
            if length > _MAX_DISCARD_BYTES or not self._discard(length):
                self.close_connection = True
            return _Body(None)
        raw = self.rfile.read(length)
        if len(raw) < length:
            self.close_connection = True  # the client hung up mid-body: nobody is left to answer
            return None
        return _Body(raw)

    def _discard(self, length: int) -> bool:
        while length > 0:
            chunk = self.rfile.read(min(length, _READ_CHUNK))
            if not chunk:
                return False
            length -= len(chunk)
        return True

    def _answer(
        self,
        status: int,
        payload: JSONValue | bytes,
        headers: Mapping[str, str] | None = None,
        *,
        note: str | None = None,
    ) -> None:
        """Log the request, then send a JSON answer with its length (no body to a HEAD request).

        Args:
            status: the HTTP status.
            payload: the JSON value to answer, or its encoding.
            headers: headers to add.
            note: what happened, in a few words, for the request's line, e.g. `"3 items"`.
        """
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        detail = payload.get("detail") if status >= 400 and isinstance(payload, dict) else None
        self._record(status, note, detail)
        self._send(status, "application/json", body, headers)

    def _answer_file(self, file: Asset, *, note: str | None = None) -> None:
        """Log the request, then send one of the inspector's files, which the browser may run only here."""
        self._record(200, note, None)
        self._send(200, file.content_type, file.body, _FILE_HEADERS)

    def _send(self, status: int, content_type: str, body: bytes, headers: Mapping[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drop(self) -> None:
        self._record(
            None, "by a staged fault", "The connection was closed without an answer, by a staged fault."
        )
        self.close_connection = True  # the handler returns without writing; the socket is then closed

    def _record(self, status: int | None, note: str | None, detail: JSONValue) -> None:
        # a request line too malformed to parse has no method, path or headers to log
        if not self.command or not hasattr(self, "headers") or self._unrecorded:
            return
        self.state.tally.count_answer(status)
        lines = self.state.lines
        if lines is not None and not self._quiet_line:
            lines.write(self.command, self.path, status, note, time.perf_counter() - self._started)
        self.state.log.append(
            ReceivedRequest(
                method=self.command,
                path=self._path,
                status=status,
                item_count=self._item_count,
                headers=redact(self.headers.items()),
                has_key=bool((self.headers.get("x-api-key") or "").strip()),
                reason=note,
                detail=detail,
            )
        )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request the base class refuses (bad request line, unknown method) in JSON, not HTML."""
        self.close_connection = True
        self._answer(code, {"detail": message or _phrase(code)}, note=_phrase(code).lower())

    def version_string(self) -> str:
        """Name the server in the `Server` header without the Python version the base class adds."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Send the request line and errors to the `trubrics_otel.server` logger instead of stderr."""
        _logger.debug("%s - %s", self.address_string(), format % args)


_MIB: Final = MAX_BODY_BYTES // (1024 * 1024)
_TOO_LARGE: Final = f"body over {_MIB} MiB"


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _undecodable(problem: Mapping[str, JSONValue]) -> str:
    """Return the request line's note for a body that is not JSON, or is empty."""
    return "no body" if problem.get("type") == "missing" else "invalid JSON"


def _invalid(problems: list[Problem], count: int | None) -> str:
    """Return the request line's note for a body the API's rules refuse, e.g. `"2 of 3 items invalid"`."""
    indexes = {problem.index for problem in problems if problem.index is not None}
    if indexes and count is not None:
        return f"{len(indexes)} of {_items(count)} invalid"
    if count is None:
        return "not a list"
    return f"{_items(count)}, over {MAX_BATCH_SIZE}"


# path -> the methods it answers: the exact paths production answers, the controls and the page at the root
_ROUTES: Final[dict[str, _Methods]] = {
    **{f"/{name}": methods for name, methods in IngestionHandler._api_routes.items()},
    **{f"{INGESTION_BASE}/{name}": methods for name, methods in IngestionHandler._api_routes.items()},
    **{f"/{name}": methods for name, methods in IngestionHandler._control_routes.items()},
    PAGE_PATH: {"GET": IngestionHandler._inspector_file},
}

INSPECTOR_HEADER: Final = "X-Trubrics-Inspector"
"""The header the inspector page sends with its reads of the listings, which are then not logged."""

# the page's files and data: read by the page, never by a client, so never logged
_INSPECTOR_READS: Final = frozenset(ASSET_PATHS - {PAGE_PATH} | {"/_trubrics/summary", "/_trubrics/requests"})

_NOT_CACHED: Final = {"Cache-Control": "no-store"}
# the page runs only its own script and style, and talks only to this server: a prompt that holds markup
# could not load or run anything even if it were ever inserted as markup
_FILE_HEADERS: Final = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}
_DEFAULT_REQUESTS: Final = 50
_MAX_REQUESTS: Final = 1_000

# a host name, IPv4 or bracketed IPv6 address, and an optional port: anything else is not echoed
_HOST_HEADER: Final = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")

_PATHS: Final = (
    "The paths are /publish_events, /publish_llm_events, /events, /llm_events and /health, "
    f"at the root or under {INGESTION_BASE}, and /_trubrics/faults at the root; "
    "the inspector page is / (open it in a browser)."
)


def _not_found(path: str, base_url: str) -> str:
    """Return the 404's detail: what is wrong with `path`, and the base URL to use instead.

    A client reaches this with a wrong base URL more often than with a wrong endpoint, e.g.
    `TRUBRICS_HOST=http://127.0.0.1:8765/publish_events` posts to `/publish_events/publish_events`.
    """
    segments = [segment for segment in path.split("/") if segment]
    tidy = "/" + "/".join(segments)
    if tidy in _ROUTES:
        return f"No such path: {path}. Did you mean {tidy}? The paths have no trailing or doubled slash."
    if segments[-2:] == ["_trubrics", "faults"]:
        return f"No such path: {path}. The faults are staged at the root only: {base_url}/_trubrics/faults."
    if not segments or segments[-1] not in IngestionHandler._api_routes:
        return f"No such path: {path}. {_PATHS}"
    endpoint, prefix = segments[-1], segments[:-1]
    under_base = prefix[:2] == INGESTION_BASE.strip("/").split("/")
    if any(segment in IngestionHandler._api_routes for segment in prefix):
        return (
            f"No such path: {path}. The host's base URL must not include the endpoint, which the client "
            f"appends: set TRUBRICS_HOST to {base_url}{INGESTION_BASE if under_base else ''}."
        )
    return (
        f"No such path: {path}. This server answers /{endpoint} at the root or under {INGESTION_BASE}, "
        f"not under /{'/'.join(prefix)}: set TRUBRICS_HOST to {base_url} (or {base_url}{INGESTION_BASE})."
    )


def _decode(body: _Body) -> _Payload:
    """Decode a JSON body the way FastAPI does, refusing NaN and Infinity, which are not JSON."""
    if body.raw is None:
        return _Payload()
    if not body.raw.strip():
        return _Payload(problem={"loc": ["body"], "msg": "Field required", "type": "missing"})
    try:
        # the stored items are served to browsers, whose JSON.parse refuses NaN and Infinity
        return _Payload(value=json.loads(body.raw, parse_constant=_refuse_constant))
    except json.JSONDecodeError as error:
        return _Payload(problem=_json_invalid(error.pos))
    except UnicodeDecodeError as error:
        return _Payload(problem=_json_invalid(error.start))
    except _NonFiniteError as error:
        return _Payload(problem=_json_invalid(max(body.raw.find(error.constant.encode()), 0)))
    except RecursionError:
        return _Payload(problem=_json_invalid(0))


class _NonFiniteError(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.constant = constant


def _refuse_constant(constant: str) -> object:
    raise _NonFiniteError(constant)


def _json_invalid(position: int) -> dict[str, JSONValue]:
    return {"loc": ["body", position], "msg": "JSON decode error", "type": "json_invalid"}


def _content_length(header: str | None) -> int | None:
    """Return the body's length: 0 without the header (a request without a body), None when malformed."""
    if header is None:
        return 0
    text = header.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _non_negative(
    query: Mapping[str, list[str]], name: str
) -> tuple[int | None, dict[str, JSONValue] | None]:
    """Return a non-negative integer query parameter (`limit`, `after`), or the FastAPI-shaped problem."""
    text = _first(query, name)
    if text is None:
        return None, None
    try:
        number = int(text)
    except ValueError:
        return None, {"loc": ["query", name], "msg": "Input should be a valid integer", "type": "int_parsing"}
    if number < 0:
        return None, {
            "loc": ["query", name],
            "msg": "Input should be greater than or equal to 0",
            "type": "greater_than_equal",
        }
    return number, None


# kind -> (the query parameter that filters its listing by name, the one that filters the other kind's)
_NAME_PARAMETERS: Final[dict[Kind, tuple[str, str]]] = {
    "events": ("event", "assistant_id"),
    "llm_events": ("assistant_id", "event"),
}


def _wrong_filter(kind: Kind, given: str, meant: str) -> dict[str, JSONValue]:
    """Return the problem with a filter of the other listing's, which would otherwise filter nothing."""
    other = "llm_events" if kind == "events" else "events"
    return {
        "loc": ["query", given],
        "msg": f"/{kind} has no {given} filter: filter /{kind} by {meant}, or /{other} by {given}.",
        "type": "extra_forbidden",
    }


def _fault_request(value: object) -> tuple[list[Fault], float | None]:
    """Return the faults and fail rate a `POST /_trubrics/faults` body asks for.

    Raises:
        ConfigurationError: the body is not `{"script": [...], "fail_rate": ...}` (both optional).
    """
    if not isinstance(value, dict):
        raise ConfigurationError('The body must be a JSON object such as {"script": [{"status": 503}]}.')
    unknown = sorted(set(value) - {"script", "fail_rate"})
    if unknown:
        raise ConfigurationError(
            f"The body has no field {unknown[0]!r}; the fields are script and fail_rate."
        )
    script = value.get("script", [])
    if not isinstance(script, list):
        raise ConfigurationError("The script must be a JSON array of faults.")
    faults = [Fault.from_json(item) for item in script]
    fail_rate = value.get("fail_rate")
    return faults, None if fail_rate is None else check_fail_rate(fail_rate)


def _phrase(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"
