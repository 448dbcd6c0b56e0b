"""How one client's records reach the API: its HTTP session, and each request until it is settled.

`Sender.send()` prepares each record to leave the process (`_privacy`: content switch, redaction hook,
size limits), posts each kind to its endpoint in requests of at most 100, and gives every request its
answer's treatment (`_answers`): delivered, retried with back-off until the deadline, split, or dropped,
each record counted once in the client's ledger. What it gives up on while the host may yet answer
(deadline passed, host unreachable, shut down, exit) goes to the client's spool when it has one
(`_spooling`), else counts as failed; `replay()` sends a spooled batch again. Once the interpreter is
exiting, every delivery is cut to `EXIT_RETRY_DEADLINE`, so a host that is down cannot hold the exit.

It never raises into the caller, never logs the API key, and sends inside OpenTelemetry's
suppress-instrumentation context so that an instrumented `requests` does not trace our own exports.
"""

from __future__ import annotations

import atexit
import contextvars
import ipaddress
import itertools
import json
import logging
import random
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import requests
import urllib3
import urllib3.connection
import urllib3.connectionpool
from opentelemetry import context as otel_context
from requests.adapters import HTTPAdapter

from trubrics_otel._answers import (
    PERMANENT_ERRORS,
    RETRYABLE_STATUSES,
    SendResult,
    backoff,
    detail_text,
    invalid_items,
    retry_after,
)
from trubrics_otel._config import TransportSettings
from trubrics_otel._events import MAX_BATCH_SIZE, Event, JSONValue, LLMEvent, Record, json_safe
from trubrics_otel._fork import renew_in_child
from trubrics_otel._privacy import Outgoing, RefusedError
from trubrics_otel._reporting import report
from trubrics_otel._spool import Batch
from trubrics_otel._spooling import Spool
from trubrics_otel._stats import INVALID, REDACTED, REJECTED, UNAUTHORIZED, UNSENDABLE, Ledger
from trubrics_otel._threads import start_daemon
from trubrics_otel._version import __version__

__all__ = [
    "EXIT_RETRY_DEADLINE",
    "IDEMPOTENCY_KEY",
    "USER_AGENT",
    "Sender",
    "SignallingBody",
    "exit_capped",
    "watch_exit",
]

_logger = logging.getLogger("trubrics_otel.transport")

_Item = dict[str, JSONValue]

EXIT_RETRY_DEADLINE: Final = 3.0
"""Seconds one delivery may take, retries included, once the interpreter is exiting."""
IDEMPOTENCY_KEY: Final = "$idempotency_key"
"""The property that names a record across its retries and replays, so that the API can store it once."""
_SLICE: Final = 0.1
"""Seconds a socket waits at most before the request's deadline (which exit may bring closer) is checked."""
USER_AGENT: Final = f"trubrics-otel/{__version__} python-requests/{requests.__version__}"
_UNSENDABLE: Final = -1

# Set together so that every instrumentation, old or new, generic or HTTP-only, leaves our posts alone.
_SUPPRESS_KEYS: Final = (
    otel_context._SUPPRESS_INSTRUMENTATION_KEY,
    otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    "suppress_instrumentation",  # the plain key older instrumentations check
)


class Sender:
    """Sends one client's records: the session, the requests, the retries, each record counted once.

    Args:
        settings: where to send, with which key, and the timeouts of one request.
        ledger: the client's counters.
        clock: a monotonic clock in seconds.
        wait: waits a number of seconds, returning early with True when the client shuts down; None for
            the real wait, which also ends once the exit's budget (`EXIT_RETRY_DEADLINE`) is spent.
        rng: the random source of the back-off jitter.
        closed: set when the client shuts down: no request is started after it.
        spool: where what cannot be delivered in time is kept; None counts it as failed.
    """

    def __init__(
        self,
        settings: TransportSettings,
        ledger: Ledger,
        *,
        clock: Callable[[], float],
        wait: Callable[[float], bool] | None,
        rng: random.Random,
        closed: threading.Event,
        spool: Spool | None = None,
    ) -> None:
        self._api_key = settings.api_key
        self._spool = spool
        self._outgoing = Outgoing(
            send_content=settings.send_content,
            max_text_length=settings.max_text_length,
            redact=settings.redact,
        )
        self.host = settings.host
        self._connect_timeout = settings.connect_timeout
        self._read_timeout = settings.read_timeout
        self._ledger = ledger
        self._clock = clock
        self._wait = wait if wait is not None else self._wait_or_exit
        self._rng = rng
        self._closed = closed
        self._auth_reported = False
        self._exit_seen_at: float | None = None  # the clock's time when a delivery first saw the exit
        self._paused_until = 0.0  # the end of the rate-limit window the host asked for (Retry-After)
        self._session_lock = threading.Lock()
        self._session = self._new_session()
        renew_in_child(self._reset_after_fork)

    def send(
        self, batch: list[Record], deadline_at: float, on_wire: threading.Event | None = None
    ) -> SendResult:
        """Deliver `batch` by `deadline_at` (a moment of the clock). Never raises.

        `on_wire` is set once the first request's body has been written to the connection.
        """
        # each record leaves the delivery when it is counted sent, failed or dropped (the account waits)
        self._ledger.begin_delivery(len(batch))
        try:
            return self._send(batch, deadline_at, on_wire)
        except Exception as error:  # the guard of last resort: telemetry never raises into the application
            _logger.debug("Trubrics: unexpected error while sending", exc_info=True)
            return self._fail(batch, _unexpected(error))

    def refuse_for_the_key(self, batch: Sequence[object]) -> SendResult:
        """Count a batch as refused for the key the API just refused, without asking it again."""
        self._ledger.begin_delivery(len(batch))
        return self.unauthorized(batch, 0)

    def close(self) -> None:
        """Close the HTTP session."""
        with self._session_lock:
            self._session.close()

    def keep(self, records: list[Record], explanation: str, *, quiet: bool = False) -> SendResult:
        """Put records straight into the spool (the log queue's overflow, or its leftovers at exit).

        Without a spool they count as failed, for `explanation`. Never raises.
        """
        try:
            result, by_endpoint = self._prepared(records, delivering=False)
            for endpoint, items in by_endpoint:
                for start in range(0, len(items), MAX_BATCH_SIZE):
                    result += self._keep(
                        endpoint,
                        items[start : start + MAX_BATCH_SIZE],
                        explanation,
                        delivering=False,
                        quiet=quiet,
                    )
            return result
        except Exception as error:  # the guard of last resort: telemetry never raises into the application
            _logger.debug("Trubrics: unexpected error while spooling", exc_info=True)
            self._ledger.failed(len(records), _unexpected(error))
            return SendResult(failed=len(records), problem=_unexpected(error))

    def replay(self, batch: Batch, deadline_at: float) -> tuple[bytes, int] | None:
        """Send a spooled batch again; return what is left of it to keep (body, records), or None."""
        try:
            items = json.loads(batch.body)
        except ValueError:
            items = None
        if not isinstance(items, list) or not items:
            self._ledger.dropped(UNSENDABLE, batch.records, "a spooled batch could not be read back")
            return None
        # not counted as being delivered: the account counted them as spooled, by this process or another
        left: list[_Item] = []
        token = _REPLAY_LEFT.set(left)
        try:
            self._deliver(batch.endpoint, items, self._exit_capped(deadline_at))
        except Exception:  # the batch stays kept; the thread tries again later
            _logger.debug("Trubrics: unexpected error while sending a spooled batch", exc_info=True)
            return batch.body, batch.records
        finally:
            _REPLAY_LEFT.reset(token)
        if not left:
            return None
        return (batch.body, batch.records) if len(left) == len(items) else (_encode(left), len(left))

    def _prepared(
        self, records: list[Record], *, delivering: bool
    ) -> tuple[SendResult, list[tuple[str, list[_Item]]]]:
        """Each record's JSON dict as it may leave the process, by endpoint; the refused ones counted."""
        events: list[_Item] = []
        llm_events: list[_Item] = []
        refused = 0
        because = ""
        for record in records:
            try:
                item = self._outgoing.prepare(record.to_json())
            except RefusedError as refusal:
                refused += 1
                because = str(refusal)
                continue
            properties = item.get("properties")
            if isinstance(properties, dict) and IDEMPOTENCY_KEY not in properties:
                # one key per record sent, kept by every retry and every replay from the spool; a key the
                # application set is kept. A copy: the record's own properties stay as they were made
                item["properties"] = {**properties, IDEMPOTENCY_KEY: _keys.next()}
            (llm_events if isinstance(record, LLMEvent) else events).append(item)
        result = SendResult()
        if refused and delivering:
            result = self._drop(range(refused), REDACTED, because)
        elif refused:
            self._ledger.dropped(REDACTED, refused, because)
            result = SendResult(dropped=refused)
        return result, [(Event.endpoint, events), (LLMEvent.endpoint, llm_events)]

    def _send(
        self, records: list[Record], deadline_at: float, on_wire: threading.Event | None = None
    ) -> SendResult:
        result, by_endpoint = self._prepared(records, delivering=True)
        deadline_at = self._exit_capped(deadline_at)
        for endpoint, items in by_endpoint:
            for start in range(0, len(items), MAX_BATCH_SIZE):
                chunk = items[start : start + MAX_BATCH_SIZE]
                if result.unauthorized:
                    # the key that was just refused would be refused again: spare the API the requests
                    result += self.unauthorized(chunk, 0)
                    continue
                try:
                    result += self._deliver(endpoint, chunk, deadline_at, on_wire)
                except Exception as error:  # the guard of last resort, per request: others still go
                    _logger.debug("Trubrics: unexpected error while sending", exc_info=True)
                    result += self._fail(chunk, _unexpected(error))
        return result

    def _deliver(
        self,
        endpoint: str,
        items: list[_Item],
        deadline_at: float,
        on_wire: threading.Event | None = None,
    ) -> SendResult:
        attempt = 0
        while True:
            if self._closed.is_set():
                return self._give_up(endpoint, items, "the client was shut down before they were delivered")
            deadline_at = self._exit_capped(deadline_at)
            paused = self._rate_limit_pause(endpoint, items, deadline_at)
            if paused is not None:
                return paused
            status, response, problem, error = self._post(endpoint, items, deadline_at, on_wire)
            if status == _UNSENDABLE:
                return self._drop(items, UNSENDABLE, problem, error=error)
            if response is not None and 200 <= status < 300:
                return self._delivered(len(items))
            if status in (401, 403):
                return self.unauthorized(items, status)
            if status == 422 and response is not None:
                return self._split_invalid(endpoint, items, response, deadline_at)
            if status == 413 and len(items) > 1:
                return self._bisect(endpoint, items, deadline_at)
            if response is not None and 300 <= status < 400:
                return self._drop(
                    items, REJECTED, redirect_problem(self.host, endpoint, response), status=status
                )
            if response is not None and status not in RETRYABLE_STATUSES:
                return self._drop(
                    items, REJECTED, f"{self.host}/{endpoint} answered HTTP {status}", status=status
                )
            delay = retry_after(response, time.time()) if response is not None else None
            rate_limited = delay is not None and status in (429, 503)
            if delay is not None and rate_limited:
                # a rate-limit window: every delivery of this client waits for it, not only this one
                self._paused_until = max(self._paused_until, self._clock() + delay)
            if delay is None:
                delay = backoff(attempt, self._rng)
            if self._clock() + delay >= deadline_at:
                if rate_limited:
                    problem += f" with Retry-After: {delay:.0f} s, a pause that outlasts the deadline"
                return self._give_up(
                    endpoint,
                    items,
                    f"{problem}; no time left to retry before the deadline",
                    status=status,
                    error=error,
                )
            self._ledger.retried()
            if self._wait(delay):
                return self._give_up(
                    endpoint,
                    items,
                    f"{problem}; the client was shut down while waiting to retry",
                    status=status,
                    error=error,
                )
            attempt += 1

    def _post(
        self,
        endpoint: str,
        items: list[_Item],
        deadline_at: float,
        on_wire: threading.Event | None = None,
    ) -> tuple[int, requests.Response | None, str, BaseException | None]:
        """Send one request; return its status (0 when none came), the response, a description, the error.

        `on_wire` is set as soon as the request's body has been written to the connection.
        """
        remaining = max(deadline_at - self._clock(), 0.001)
        url = f"{self.host}/{endpoint}"
        encoded = _encode(items)
        body = encoded if on_wire is None else SignallingBody(encoded, on_wire)
        self._ledger.request()
        token = otel_context.attach(_suppressed_context())
        # the whole request, answer included, ends by the deadline: the read timeout is per socket read
        limit = _REQUEST_LIMIT.set(self._request_limit(time.monotonic() + remaining))
        try:
            with self._session_lock:
                session = self._session
            response = session.post(
                url,
                data=body,
                timeout=(min(self._connect_timeout, remaining), min(self._read_timeout, remaining)),
                allow_redirects=False,  # a redirect would drop the body (301/302) or carry the key away
            )
        except PERMANENT_ERRORS as error:
            return (
                _UNSENDABLE,
                None,
                f"{url} cannot be requested as configured: {type(error).__name__}",
                error,
            )
        except requests.RequestException as error:
            return 0, None, f"could not reach {url}: {type(error).__name__}", error
        finally:
            _REQUEST_LIMIT.reset(limit)
            otel_context.detach(token)
        return response.status_code, response, f"{url} answered HTTP {response.status_code}", None

    def _exit_capped(self, deadline_at: float) -> float:
        """`deadline_at`, or `EXIT_RETRY_DEADLINE` after this client first saw the exit, if sooner."""
        if not _exiting.is_set():
            return deadline_at
        if self._exit_seen_at is None:
            began = _exit_began_at()
            # on the real clock the budget counts from the exit itself; a test's clock, from now
            self._exit_seen_at = (
                began if began is not None and self._clock is time.monotonic else self._clock()
            )
        return min(deadline_at, self._exit_seen_at + EXIT_RETRY_DEADLINE)

    def _request_limit(self, ends_at: float) -> Callable[[], float]:
        """The moment (of `time.monotonic`) a request must end by: `ends_at`, or sooner once exiting."""

        def limit() -> float:
            if not _exiting.is_set():
                return ends_at
            began = _exit_began_at()
            return min(ends_at, (time.monotonic() if began is None else began) + EXIT_RETRY_DEADLINE)

        return limit

    def _wait_or_exit(self, seconds: float) -> bool:
        """Wait `seconds`, or less once the exit's budget is spent; True when the client shut down."""
        ends_at = self._request_limit(time.monotonic() + seconds)
        while (left := ends_at() - time.monotonic()) > 0:
            if self._closed.wait(min(left, _SLICE)):
                return True
        return False

    def _rate_limit_pause(self, endpoint: str, items: list[_Item], deadline_at: float) -> SendResult | None:
        """Wait out the host's rate-limit window; give the records up if it outlasts their deadline."""
        now = self._clock()
        if self._paused_until <= now:
            return None
        if self._paused_until >= deadline_at:
            return self._give_up(
                endpoint,
                items,
                f"{self.host} asked (HTTP 429/503 with Retry-After) for a pause of "
                f"{self._paused_until - now:.0f} s that outlasts the delivery's deadline",
                status=429,
            )
        if self._wait(self._paused_until - now):
            return self._give_up(
                endpoint, items, "the client was shut down while waiting out the host's rate limit"
            )
        return None

    def _split_invalid(
        self,
        endpoint: str,
        items: list[_Item],
        response: requests.Response,
        deadline_at: float,
    ) -> SendResult:
        named = invalid_items(response, len(items))
        if not named:
            if len(items) == 1:
                return self._drop(
                    items, INVALID, f"the API refused the record: {detail_text(response)}", status=422
                )
            return self._bisect(endpoint, items, deadline_at)
        result = SendResult()
        for index, reason in sorted(named.items()):
            result += self._drop([items[index]], INVALID, f"the API refused a record: {reason}", status=422)
        rest = [item for index, item in enumerate(items) if index not in named]
        if rest:
            result += self._deliver(endpoint, rest, deadline_at)
        return result

    def _bisect(self, endpoint: str, items: list[_Item], deadline_at: float) -> SendResult:
        middle = len(items) // 2
        return self._deliver(endpoint, items[:middle], deadline_at) + self._deliver(
            endpoint, items[middle:], deadline_at
        )

    def unauthorized(self, items: Sequence[object], status: int) -> SendResult:
        """Drop records the API will refuse for their key; `status` 0 means it was not asked again."""
        if not self._auth_reported:
            self._auth_reported = True
            problem = "no API key is configured" if self._api_key is None else "the API key was refused"
            report(
                _logger,
                logging.ERROR,
                f"Trubrics answered HTTP {status} for {self.host}: {problem}. Nothing will be delivered "
                "until TRUBRICS_API_KEY holds the key on your project's settings page.",
                key="unauthorized",
            )
        explanation = "the API key is missing or was refused"
        self._count_drop(UNAUTHORIZED, len(items), explanation)
        return SendResult(dropped=len(items), unauthorized=True, problem=explanation, status=status)

    def _drop(
        self,
        items: Sequence[object],
        reason: str,
        explanation: str,
        *,
        status: int = 0,
        error: BaseException | None = None,
    ) -> SendResult:
        self._count_drop(reason, len(items), explanation)
        return SendResult(dropped=len(items), problem=explanation, status=status, error=error)

    def _count_drop(self, reason: str, count: int, explanation: str) -> None:
        if _REPLAY_LEFT.get() is None:
            self._ledger.dropped(reason, count, explanation, delivering=True)
        else:  # refused when sent again from the spool: no longer spooled
            self._ledger.dropped_from_spool(reason, count, explanation)

    def _delivered(self, count: int) -> SendResult:
        if _REPLAY_LEFT.get() is not None:
            self._ledger.replayed(count)
        else:
            self._ledger.delivered(count)
            if self._spool is not None:
                self._spool.host_answered()
        return SendResult(sent=count)

    def _give_up(
        self,
        endpoint: str,
        items: list[_Item],
        explanation: str,
        *,
        status: int = 0,
        error: BaseException | None = None,
    ) -> SendResult:
        """Give up on records the host may yet take: keep them in the spool, else count them as failed."""
        left = _REPLAY_LEFT.get()
        if left is not None:  # a spooled batch being sent again: what is left goes back to the spool
            left.extend(items)
            return SendResult(failed=len(items), problem=explanation, status=status, error=error)
        if self._spool is None:
            return self._fail(items, explanation, status=status, error=error)
        return self._keep(endpoint, items, explanation, delivering=True, status=status, error=error)

    def _keep(
        self,
        endpoint: str,
        items: list[_Item],
        explanation: str,
        *,
        delivering: bool,
        quiet: bool = False,
        status: int = 0,
        error: BaseException | None = None,
    ) -> SendResult:
        if self._spool is None:
            self._ledger.failed(len(items), explanation, delivering=delivering)
            return SendResult(failed=len(items), problem=explanation, status=status, error=error)
        self._spool.keep(
            endpoint, _encode(items), len(items), explanation, delivering=delivering, quiet=quiet
        )
        return SendResult(spooled=len(items), problem=explanation, status=status, error=error)

    def _fail(
        self,
        items: Sequence[object],
        explanation: str,
        *,
        status: int = 0,
        error: BaseException | None = None,
    ) -> SendResult:
        self._ledger.failed(len(items), explanation, delivering=True)
        return SendResult(failed=len(items), problem=explanation, status=status, error=error)

    # --- the HTTP session -----------------------------------------------------------------------

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = _DeadlineAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        if self._api_key is not None:
            session.headers["x-api-key"] = self._api_key
        # Proxies and CA bundles come from the environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, ...)
        # once, here: requests would otherwise scan os.environ again on every request.
        found = session.merge_environment_settings(f"{self.host}/", {}, None, None, None)
        session.trust_env = False
        session.proxies.update(found["proxies"])
        session.verify = found["verify"]
        if found["cert"] is not None:
            session.cert = found["cert"]
        return session

    def _reset_after_fork(self) -> None:
        """Give a forked child its own session: sockets shared with the parent must not be reused."""
        self._session_lock = threading.Lock()
        self._session = self._new_session()


class SignallingBody:
    """A request body that sets an event once requests has written all of it to the connection.

    requests sends a body it can iterate (and measure, for `Content-Length`) by iterating it, so the
    line after the `yield` runs only when the bytes have been handed to the socket.
    """

    def __init__(self, data: bytes, on_wire: threading.Event) -> None:
        self._data = data
        self._on_wire = on_wire

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[bytes]:
        yield self._data
        self._on_wire.set()


class _Keys:
    """Idempotency keys: a random prefix per process (a forked child draws its own) and a counter."""

    def __init__(self) -> None:
        self._renew()
        renew_in_child(self._renew)

    def _renew(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"


_keys = _Keys()

_REPLAY_LEFT: contextvars.ContextVar[list[_Item] | None] = contextvars.ContextVar(
    "trubrics_otel_replay_left", default=None
)
"""While a spooled batch is sent again: where the items that still cannot be delivered are collected."""

_REQUEST_LIMIT: contextvars.ContextVar[Callable[[], float] | None] = contextvars.ContextVar(
    "trubrics_otel_request_limit", default=None
)
"""While a request is made: the moment (of `time.monotonic`) its whole exchange must end by."""


def _within_limit(sock: socket.socket, call: Callable[[], Any]) -> Any:
    """Run one socket call so that it ends by the request's limit, checked every `_SLICE` seconds.

    The per-read timeout urllib3 set still holds for each call; the limit bounds their sum, so a host
    trickling a byte at a time cannot hold a request past its deadline (nor past the exit's budget).
    """
    limit = _REQUEST_LIMIT.get()
    if limit is None:
        return call()
    per_call = sock.gettimeout()
    started = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            left = limit() - now
            if per_call is not None:
                left = min(left, started + per_call - now)
            if left <= 0:
                raise TimeoutError("the request's deadline passed")
            sock.settimeout(min(left, _SLICE))
            try:
                return call()
            except TimeoutError:
                continue
    finally:
        sock.settimeout(per_call)


def _sending_within_limit(sock: socket.socket, call: Callable[[], Any]) -> Any:
    """Run one send so that it ends by the request's limit (in one go: a partial sendall cannot resume)."""
    limit = _REQUEST_LIMIT.get()
    if limit is None:
        return call()
    per_call = sock.gettimeout()
    left = limit() - time.monotonic()
    if left <= 0:
        raise TimeoutError("the request's deadline passed")
    sock.settimeout(left if per_call is None else min(left, per_call))
    try:
        return call()
    finally:
        sock.settimeout(per_call)


class _DeadlineSocket(socket.socket):
    """A plain socket whose reads and writes end by the request's limit (`_REQUEST_LIMIT`)."""

    __slots__ = ()

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return int(_within_limit(self, lambda: socket.socket.recv_into(self, buffer, nbytes, flags)))

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return bytes(_within_limit(self, lambda: socket.socket.recv(self, bufsize, flags)))

    def sendall(self, data: Any, flags: int = 0) -> None:
        _sending_within_limit(self, lambda: socket.socket.sendall(self, data, flags))


class _DeadlineSSLSocket(ssl.SSLSocket):
    """A TLS socket whose reads and writes end by the request's limit (`_REQUEST_LIMIT`)."""

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        return int(_within_limit(self, lambda: ssl.SSLSocket.recv_into(self, buffer, nbytes, flags)))

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        return bytes(_within_limit(self, lambda: ssl.SSLSocket.recv(self, buflen, flags)))

    def sendall(self, data: Any, flags: int = 0) -> None:
        _sending_within_limit(self, lambda: ssl.SSLSocket.sendall(self, data, flags))


def _bound(sock: object) -> None:
    """Make a connection's socket one whose calls end by the request's limit (same layout, new methods)."""
    if type(sock) is socket.socket:
        sock.__class__ = _DeadlineSocket
    elif type(sock) is ssl.SSLSocket:
        sock.__class__ = _DeadlineSSLSocket


def _resolved_within_limit(host: str, port: int) -> str | None:
    """An address of `host`, looked up so that the lookup ends by the request's limit.

    None means: look it up as usual (an IP address, no limit, or no thread could start). The system's
    resolver cannot be interrupted: the lookup runs in a daemon thread, which is left to finish on its
    own when the limit passes first.

    Raises:
        TimeoutError: the limit passed before the host was resolved.
        socket.gaierror: the host cannot be resolved.
    """
    limit = _REQUEST_LIMIT.get()
    if limit is None or host == "localhost":
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return None
    found: list[Any] = []
    done = threading.Event()

    def look_up() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as error:
            found.append(error)
        done.set()

    if start_daemon(look_up, "trubrics-dns") is None:
        return None
    if not done.wait(max(limit() - time.monotonic(), 0.0)):
        raise TimeoutError(f"resolving {host} took longer than the request's deadline")
    (answer,) = found
    if isinstance(answer, OSError):
        raise answer
    return str(answer[0][4][0])


class _DeadlineHTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connected_within_limit(self, super()._new_conn)

    def connect(self) -> None:
        super().connect()
        _bound(self.sock)


class _DeadlineHTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connected_within_limit(self, super()._new_conn)

    def connect(self) -> None:
        super().connect()
        _bound(self.sock)


def _connected_within_limit(
    connection: urllib3.connection.HTTPConnection, new_conn: Callable[[], socket.socket]
) -> socket.socket:
    """`new_conn()` with the host looked up within the request's limit.

    A resolver that hangs cannot hold a request past its deadline. urllib3 connects to `_dns_host`
    alone; the name itself still serves TLS and the `Host` header.
    """
    name = connection._dns_host
    try:
        address = _resolved_within_limit(name, connection.port or 0)
    except TimeoutError as error:
        raise urllib3.exceptions.ConnectTimeoutError(connection, str(error)) from error
    except socket.gaierror as error:
        raise urllib3.exceptions.NameResolutionError(connection.host, connection, error) from error
    if address is None:
        return new_conn()
    connection._dns_host = address
    try:
        return new_conn()
    finally:
        connection._dns_host = name


class _DeadlineHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_DEADLINE_POOLS: Final = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections whose whole exchange ends by the request's deadline.

    A connection that timed out is closed by urllib3, never put back in the pool for another request.
    """

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _DEADLINE_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        manager: urllib3.PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # a SOCKS proxy's manager keeps its own pools
            manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager


def redirect_problem(host: str, endpoint: str, response: requests.Response) -> str:
    """Explain a redirect the transport does not follow, and what to set `TRUBRICS_HOST` to."""
    location = response.headers.get("Location", "")
    target = location.removesuffix(f"/{endpoint}").rstrip("/") if location else ""
    fix = f"set TRUBRICS_HOST to {target}" if target else "set TRUBRICS_HOST to the API's real address"
    return (
        f"{host}/{endpoint} answered HTTP {response.status_code} redirecting to "
        f"{location or '(no Location)'}; "
        f"redirects are not followed (they would drop the records or carry the API key away): {fix}"
    )


_exiting = threading.Event()


def _on_exit() -> None:
    # the moment rides on the event, so that a test's own event carries its own moment
    _exiting.began_at = time.monotonic()  # type: ignore[attr-defined]
    _exiting.set()


def _exit_began_at() -> float | None:
    """When (by `time.monotonic`) the interpreter began exiting, if it did."""
    began = getattr(_exiting, "began_at", None)
    return began if isinstance(began, float) else None


def watch_exit() -> None:
    """Make sure `_on_exit` runs before the exit hooks registered so far (atexit runs the last first).

    OpenTelemetry's providers flush their exporters in their own exit hooks. Registered again after them,
    ours runs first and caps every delivery at EXIT_RETRY_DEADLINE, so a host that is down cannot hold
    the interpreter's exit for the whole retry deadline.
    """
    atexit.unregister(_on_exit)
    atexit.register(_on_exit)


def exit_capped(deadline_at: float, now: float) -> float:
    """`deadline_at`, or `EXIT_RETRY_DEADLINE` from `now` if that is sooner and the interpreter is exiting."""
    return min(deadline_at, now + EXIT_RETRY_DEADLINE) if _exiting.is_set() else deadline_at


def _unexpected(error: Exception) -> str:
    return f"unexpected error while sending: {type(error).__name__}: {error}"


def _suppressed_context() -> otel_context.Context:
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return ctx


def _encode(items: list[_Item]) -> bytes:
    try:
        return _json_bytes(items)
    except (TypeError, ValueError):
        # a value JSON or UTF-8 cannot hold (a lone surrogate, an int past 4,300 digits, or one a caller
        # put in after building the record): that value is replaced, marked, in its record; the rest goes
        for index, item in enumerate(items):
            try:
                _json_bytes(item)
            except (TypeError, ValueError):
                items[index] = _repaired(item)  # type: ignore[assignment]
        return _json_bytes(items)


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _repaired(value: object) -> JSONValue:
    r"""`value` made encodable: a lone surrogate shown as `\udc80`, a huge int as a marked string."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode()
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        try:
            str(value)
        except ValueError:
            return f"<int of {value.bit_length()} bits, too long to send>"
        return value
    if isinstance(value, dict):
        return {str(_repaired(str(key))): _repaired(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_repaired(item) for item in value]
    if isinstance(value, float):
        return json_safe(value)
    return _repaired(json_safe(value))
