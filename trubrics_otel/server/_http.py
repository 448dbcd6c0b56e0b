"""The local server's HTTP routes: what each path and method answers, and the checks of the publish endpoints.

A publish request is checked in the order the production stack applies: staged faults first (they stand
for the proxies in front of the API), then the `x-api-key` header, the body's size, the JSON, and the
API's validation rules (`validate_payload`). A request is stored whole or not at all. Every answer is
JSON with a `Content-Length` (sent and recorded by `_answering`), and a request's body is always read to
its end (`_reading`), so one connection can carry many requests (HTTP/1.1 keep-alive). The words of a
refusal are `_refusals`'.

This module never stores a request the API would refuse, never echoes an API key, and never writes to
stderr itself: handler errors go to the `trubrics_otel.server` logger at DEBUG, and the one line per
request goes to the `RequestLines` the server was given, if any.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import ClassVar, Final, TypeAlias, cast
from urllib.parse import parse_qs, urlsplit

from trubrics_otel._config import ConfigurationError
from trubrics_otel._events import JSONValue, Kind, validate_payload
from trubrics_otel.server._answering import AnsweringHandler
from trubrics_otel.server._faults import Fault
from trubrics_otel.server._inspector import ASSET_PATHS, PAGE_PATH, asset
from trubrics_otel.server._listener import IngestionHTTPServer
from trubrics_otel.server._reading import (
    MAX_BODY_BYTES,
    NAME_PARAMETERS,
    Body,
    content_length,
    decode,
    discard,
    drain_chunked,
    fault_request,
    first,
    non_negative,
    wrong_filter,
)
from trubrics_otel.server._refusals import (
    INGESTION_BASE,
    TOO_LARGE,
    TOO_LARGE_DETAIL,
    invalid,
    items,
    not_found,
    phrase,
    undecodable,
)
from trubrics_otel.server._store import StoreClosedError

__all__ = ["CURSOR_HEADER", "INSPECTOR_HEADER", "IngestionHandler"]

CURSOR_HEADER: Final = "X-Trubrics-Cursor"
"""The header of every listing: the arrival number to pass as `after` to list what arrives next."""


_Methods: TypeAlias = "dict[str, Callable[[IngestionHandler, Body], None]]"


class IngestionHandler(AnsweringHandler):
    """Answers one connection's requests, one at a time, as the Trubrics ingestion API would."""

    # --- dispatch -------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._path = urlsplit(self.path).path or "/"
        self._item_count = None
        self._unrecorded = self.command in ("GET", "HEAD") and (
            self._path in _INSPECTOR_READS or INSPECTOR_HEADER in self.headers
        )
        body = self._read_body()
        if body is None:
            return None
        # a request in absolute form (`POST http://host/publish_events`) is a client using this server as its
        # proxy (HTTP_PROXY), which a web page cannot make a browser do: the Host check is for the others
        proxied = urlsplit(self.path).scheme != ""
        if self.state.loopback_only and not proxied and not _loopback_host(self.headers.get("Host")):
            return self._answer(421, {"detail": _NOT_LOOPBACK}, note="not a loopback Host")
        routes = _ROUTES.get(self._path)
        if routes is None:
            detail = not_found(self._path, self._base_url(), _ROUTES, IngestionHandler._api_routes)
            return self._answer(404, {"detail": detail}, note="no such path")
        action = routes.get("GET" if self.command == "HEAD" else self.command)
        if action is None:
            allow = {"Allow": ", ".join(routes)}
            return self._answer(405, {"detail": "Method Not Allowed"}, allow, note="method not allowed")
        if self.command == "POST" and not _is_json(self.headers.get("Content-Type")):
            # a web page can POST text/plain anywhere without asking; application/json needs the server's
            # consent (a CORS preflight), which this server never gives
            return self._answer(415, {"detail": _NOT_JSON}, note="not application/json")
        if self.state.key_for_reads and self._path not in _CHECKED_ELSEWHERE:
            key_problem = self._key_problem()
            if key_problem is not None:
                detail, note = key_problem
                return self._answer(401, {"detail": detail}, note=note)
        try:
            return action(self, body)
        except StoreClosedError:
            self.close_connection = True
            return self._answer(503, {"detail": "The server is stopping."}, note="server stopping")

    # the names BaseHTTPRequestHandler dispatches each method to
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch  # noqa: N815

    # --- publish_events, publish_llm_events -----------------------------------------------------

    def _publish_events(self, body: Body) -> None:
        return self._publish("events", body)

    def _publish_llm_events(self, body: Body) -> None:
        return self._publish("llm_events", body)

    def _publish(self, kind: Kind, body: Body) -> None:
        payload = decode(body)
        self._item_count = len(payload.value) if isinstance(payload.value, list) else None
        if self._stage_fault():
            return None
        key_problem = self._key_problem()
        if key_problem is not None:
            detail, note = key_problem
            return self._answer(401, {"detail": detail}, note=note)
        if body.raw is None:
            return self._answer(413, {"detail": TOO_LARGE_DETAIL}, note=TOO_LARGE)
        if payload.problem is not None:
            return self._answer(422, {"detail": [payload.problem]}, note=undecodable(payload.problem))
        problems = validate_payload(kind, payload.value)
        if problems:
            refusals: list[JSONValue] = [problem.to_json() for problem in problems]
            return self._answer(422, {"detail": refusals}, note=invalid(problems, self._item_count))
        accepted = cast("list[dict[str, JSONValue]]", payload.value)
        added = self.state.store.add(kind, accepted)
        self.state.tally.count_accepted(kind, added.stored, added.duplicates)
        note = items(len(accepted)) + (f", {added.duplicates} already stored" if added.duplicates else "")
        # a duplicate is acknowledged as stored: the client's retry of it succeeded, as at Trubrics
        return self._answer(200, {"status": "success"}, note=note)

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
        detail = f"Fault injected by the local server: {phrase(fault.status)}."
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

    def _list_events(self, body: Body) -> None:
        return self._list("events")

    def _list_llm_events(self, body: Body) -> None:
        return self._list("llm_events")

    def _list(self, kind: Kind) -> None:
        query = parse_qs(urlsplit(self.path).query)
        name, other = NAME_PARAMETERS[kind]
        limit, limit_problem = non_negative(query, "limit")
        after, after_problem = non_negative(query, "after")
        problems: list[JSONValue] = [p for p in (limit_problem, after_problem) if p is not None]
        if other in query:
            problems.append(wrong_filter(kind, other, name))
        if problems:
            return self._answer(422, {"detail": problems}, note="bad query")
        listing = self.state.store.listing(
            kind,
            user_id=first(query, "user_id"),
            thread_id=first(query, "thread_id"),
            name=first(query, name),
            after=after,
            limit=limit,
        )
        # the stored texts are the items as received: joined, not decoded and encoded again
        body = f"[{','.join(listing.texts)}]".encode()
        self._quiet_line = after is not None and not listing.texts
        return self._answer(200, body, {CURSOR_HEADER: str(listing.cursor)}, note=items(len(listing.texts)))

    def _health(self, body: Body) -> None:
        return self._answer(200, {"status": "ok"})

    # --- the inspector: /, its files, /_trubrics/summary, /_trubrics/requests -------------------------

    def _inspector_file(self, body: Body) -> None:
        return self._answer_file(
            asset(self._path), note="inspector page" if self._path == PAGE_PATH else None
        )

    def _inspector_summary(self, body: Body) -> None:
        return self._answer(200, self.state.inspector.summary(), _NOT_CACHED)

    def _inspector_requests(self, body: Body) -> None:
        query = parse_qs(urlsplit(self.path).query)
        limit, problem = non_negative(query, "limit")
        refused = first(query, "refused")
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

    def _show_faults(self, body: Body) -> None:
        return self._answer(200, self._faults_state())

    def _set_faults(self, body: Body) -> None:
        if body.raw is None:
            return self._answer(413, {"detail": TOO_LARGE_DETAIL}, note=TOO_LARGE)
        payload = decode(body)
        if payload.problem is not None:
            return self._answer(422, {"detail": [payload.problem]}, note=undecodable(payload.problem))
        try:
            script, fail_rate = fault_request(payload.value)
        except ConfigurationError as error:
            problem: JSONValue = {"loc": ["body"], "msg": str(error), "type": "value_error"}
            return self._answer(422, {"detail": [problem]}, note="bad fault request")
        if fail_rate is not None:
            self.state.faults.fail_rate = fail_rate
        self.state.faults.script(*script)
        return self._answer(200, self._faults_state())

    def _clear_faults(self, body: Body) -> None:
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

    # --- reading -------------------------------------------------------------------------------

    def _base_url(self) -> str:
        """Return the server's base URL as the client reached it, from its `Host` header when it has one."""
        host = (self.headers.get("Host") or "").strip()
        if not _HOST_HEADER.fullmatch(host):
            server = cast("IngestionHTTPServer", self.server)
            name = f"[{server.server_name}]" if ":" in server.server_name else server.server_name
            host = f"{name}:{server.server_port}"
        return f"http://{host}"

    def _read_body(self) -> Body | None:
        """Read the body to its end; return None when the connection cannot carry on (already answered)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            # read what the client sends before answering, or closing would reset the connection under
            # a client still writing, and it would never see the answer
            drain_chunked(self.rfile)
            self._answer(411, {"detail": "Send the body with a Content-Length header."}, note="chunked body")
            return None
        length = content_length(self.headers.get("Content-Length"))
        if length is None:
            self.close_connection = True
            detail = "The Content-Length header is not a number of bytes."
            self._answer(400, {"detail": detail}, note="bad Content-Length")
            return None
        if length > MAX_BODY_BYTES:
            if not discard(self.rfile, length):
                self.close_connection = True
            return Body(None)
        raw = self.rfile.read(length)
        if len(raw) < length:
            self.close_connection = True  # the client hung up mid-body: nobody is left to answer
            return None
        return Body(raw)


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

# the paths whose key is not checked on the way in: the page's files and the health check hold no data
# and need none; the publish endpoints check it themselves, after the staged faults
_CHECKED_ELSEWHERE: Final = ASSET_PATHS | {
    f"{base}/{name}"
    for base in ("", INGESTION_BASE)
    for name in ("health", "publish_events", "publish_llm_events")
}

_NOT_JSON: Final = (
    "Send the body as JSON with the header Content-Type: application/json; this server takes no other "
    "content type, so that a web page cannot post to it."
)
_NOT_LOOPBACK: Final = (
    "This server listens on a loopback address and answers only requests to localhost, 127.0.0.1 or "
    "[::1] (the Host header), so that a web page cannot reach it under another name (DNS rebinding). "
    "Use http://127.0.0.1:<port>, or start the server with --host 0.0.0.0 to be reached by other names."
)

_NOT_CACHED: Final = {"Cache-Control": "no-store"}
_DEFAULT_REQUESTS: Final = 50
_MAX_REQUESTS: Final = 1_000


def _loopback_host(header: str | None) -> bool:
    """Whether a `Host` header names a loopback address (localhost, 127.x.x.x, [::1]); no header is fine.

    A browser always sends one; a client that sends none is not a page another site served.
    """
    if header is None:
        return True
    host = header.strip().lower()
    if host.startswith("["):
        address, _, port = host[1:].partition("]")
        return _is_loopback_address(address) and (not port or re.fullmatch(r":[0-9]+", port) is not None)
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return False
    return name in ("localhost", "localhost.") or (_is_ipv4(name) and _is_loopback_address(name))


def _is_ipv4(name: str) -> bool:
    return re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", name) is not None


def _is_loopback_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


# a host name, IPv4 or bracketed IPv6 address, and an optional port: anything else is not echoed
_HOST_HEADER: Final = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")
