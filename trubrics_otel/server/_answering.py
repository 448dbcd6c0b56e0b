"""How the local server answers and records a request: the plumbing under every endpoint.

`AnsweringHandler` is the base of the HTTP handler (`_http.IngestionHandler`): it speaks HTTP/1.1 with
keep-alive, sends JSON answers and the inspector's files with their `Content-Length` (no body to a
`HEAD` request), answers a request the base class refuses in JSON, closes a connection without an answer
for a staged drop, and records each request before its answer goes out: in the `RequestLog` tests read,
the `RequestTally` of the run's summary, and the `RequestLines` of the terminal, if any.

This module never decides what a request is answered, which is the routes' job (`_http`), never records
an API key (the headers are redacted first, and a line names no header), and never writes to stderr
itself: handler errors go to the `trubrics_otel.server` logger at DEBUG.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, Final, cast

from trubrics_otel._events import JSONValue
from trubrics_otel._version import __version__
from trubrics_otel.server._inspector import Asset
from trubrics_otel.server._listener import IngestionHTTPServer, ServerState
from trubrics_otel.server._refusals import phrase
from trubrics_otel.server._request_log import ReceivedRequest, redact

__all__ = ["AnsweringHandler"]

_logger = logging.getLogger("trubrics_otel.server")

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


def _encode(payload: JSONValue) -> bytes:
    try:
        return json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate from a client's JSON, echoed: escaped, it is still JSON
        return json.dumps(payload).encode()


class AnsweringHandler(BaseHTTPRequestHandler):
    """Sends a connection's answers and records its requests; the routes are a subclass's.

    A subclass sets `_path` (the request's path, without its query), `_item_count`, `_quiet_line` and
    `_unrecorded` while it handles a request, and answers it with `_answer`, `_answer_file` or `_drop`.
    """

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

    def parse_request(self) -> bool:
        """Note when the request began, then parse its request line and headers."""
        self._started = time.perf_counter()
        self._quiet_line = False
        self._unrecorded = False
        return super().parse_request()

    @property
    def state(self) -> ServerState:
        """The state this handler's server shares with its other handlers."""
        return cast("IngestionHTTPServer", self.server).state

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
        body = payload if isinstance(payload, bytes) else _encode(payload)
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
        self._answer(code, {"detail": message or phrase(code)}, note=phrase(code).lower())

    def version_string(self) -> str:
        """Name the server in the `Server` header without the Python version the base class adds."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Send the request line and errors to the `trubrics_otel.server` logger instead of stderr."""
        _logger.debug("%s - %s", self.address_string(), format % args)
