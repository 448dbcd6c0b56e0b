"""The one HTTP client every exporter and handler sends through.

`TrubricsClient.send()` takes any mix of `Event` and `LLMEvent`, posts each kind to its endpoint in
requests of at most 100, and retries what is worth retrying. It decides, once, what every answer means:

- 2xx: delivered.
- 408, 429, 500, 502, 503, 504, connection errors and timeouts: retried with exponential back-off and
  jitter, or after `Retry-After`, until the delivery's deadline; then the records count as failed.
- 401, 403: the key is missing or wrong. Not retried; reported once, every record counted as dropped.
- 422: the API names the refused items. They are dropped, each with its reason, and the rest is sent
  again; when the answer names no item, the request is split in halves until every valid record is
  delivered.
- 413 with more than one record: split in halves. Any other answer: dropped as `rejected`.

`TrubricsClient.send_batches()` takes records as the caller produces them and overlaps the two: while one
batch's request is with the server, the caller's thread prepares the next one. The request is sent from a
short-lived thread of the call, and the caller waits until its body is on the wire before preparing more:
the sending thread then does its share of the work alone instead of waiting, at every socket call, for
an interpreter lock the preparing thread keeps busy.

It never raises into the caller, never logs the API key, and sends inside OpenTelemetry's
suppress-instrumentation context so that an instrumented `requests` does not trace our own exports.
"""

from __future__ import annotations

import atexit
import email.utils
import json
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import requests
from opentelemetry import context as otel_context

from trubrics_otel import _config
from trubrics_otel._config import TransportSettings
from trubrics_otel._events import MAX_BATCH_SIZE, Event, JSONValue, LLMEvent, Record
from trubrics_otel._fork import renew_in_child
from trubrics_otel._reporting import report
from trubrics_otel._stats import INVALID, REJECTED, UNAUTHORIZED, UNSENDABLE, DeliveryStats, Ledger
from trubrics_otel._threads import holds_logging_lock, start_daemon
from trubrics_otel._version import __version__

__all__ = ["SendResult", "TrubricsClient", "door_client"]

_logger = logging.getLogger("trubrics_otel.transport")

_Item = dict[str, JSONValue]

RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
EXIT_RETRY_DEADLINE: Final = 3.0
"""Seconds one delivery may take, retries included, once the interpreter is exiting."""

# A request these stop cannot succeed by being sent again: the URL, a header or the TLS set-up is wrong.
_PERMANENT_ERRORS: Final = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.SSLError,
)
_UNSENDABLE: Final = -1
USER_AGENT: Final = f"trubrics-otel/{__version__} python-requests/{requests.__version__}"
_BACKOFF_BASE: Final = 0.5
_BACKOFF_MAX: Final = 30.0
_PIPELINE_WAIT_MARGIN: Final = 5.0
"""Seconds `send_batches()` waits for its sending thread beyond the deadline (a request's last bytes)."""

# Set together so that every instrumentation, old or new, generic or HTTP-only, leaves our posts alone.
_SUPPRESS_KEYS: Final = (
    otel_context._SUPPRESS_INSTRUMENTATION_KEY,
    otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    "suppress_instrumentation",  # the plain key older instrumentations check
)


@dataclass(frozen=True)
class SendResult:
    """What became of the records given to one `send()` call.

    Attributes:
        sent: records Trubrics accepted.
        dropped: records refused for good (invalid, unauthorized, rejected).
        failed: records not delivered because retries ran out of time or the client shut down.
        unauthorized: whether the API key was refused.
        problem: what went wrong first, in a sentence; empty when everything was delivered.
        status: the HTTP status of the answer behind `problem` (0 when no answer came, or none went wrong).
        error: the exception behind `problem` when no answer came (`requests.ConnectionError`, ...).
    """

    sent: int = 0
    dropped: int = 0
    failed: int = 0
    unauthorized: bool = False
    problem: str = ""
    status: int = 0
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed and the key was accepted; records refused as invalid do not count."""
        return self.failed == 0 and not self.unauthorized

    def __add__(self, other: SendResult) -> SendResult:
        return SendResult(
            self.sent + other.sent,
            self.dropped + other.dropped,
            self.failed + other.failed,
            self.unauthorized or other.unauthorized,
            self.problem or other.problem,
            self.status if self.problem else other.status,
            self.error if self.problem else other.error,
        )


class TrubricsClient:
    """Sends events and LLM events to the Trubrics ingestion API (or the local server).

    Args:
        api_key: the project's API key; default `TRUBRICS_API_KEY`.
        host: the API's base URL; default `TRUBRICS_HOST`, else Trubrics' production host.
        connect_timeout: seconds to wait for a connection; default `TRUBRICS_CONNECT_TIMEOUT`, else 5.
        timeout: seconds to wait for one answer; default `TRUBRICS_TIMEOUT`, else 10.
        retry_deadline: seconds one `send()` may take with its retries; default
            `TRUBRICS_RETRY_DEADLINE`, else 30.
        require_api_key: raise `ConfigurationError` when no key is configured, instead of warning once.
        _clock: tests' seam: a monotonic clock in seconds, faked together with `_wait`.
        _wait: tests' seam: waits a number of seconds, returning early with True when the client shuts
            down. The default waits on the shutdown event, so `shutdown()` ends any back-off at once.
        _rng: tests' seam: the random source of the back-off jitter.
        _settings: the transport settings a front door resolved already; the five arguments above are
            then unused.

    Raises:
        ConfigurationError: an argument is malformed, or `require_api_key` is set and there is no key.
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        *,
        connect_timeout: float | None = None,
        timeout: float | None = None,
        retry_deadline: float | None = None,
        require_api_key: bool = False,
        _clock: Callable[[], float] = time.monotonic,
        _wait: Callable[[float], bool] | None = None,
        _rng: random.Random | None = None,
        _settings: TransportSettings | None = None,
    ) -> None:
        if _settings is None:  # a door resolved them already, with its other settings
            _settings = TransportSettings.resolve(
                api_key, host, connect_timeout=connect_timeout, timeout=timeout, retry_deadline=retry_deadline
            )
        self._api_key = _settings.api_key
        self.host = _settings.host
        self.connect_timeout = _settings.connect_timeout
        self.timeout = _settings.read_timeout
        self.retry_deadline = _settings.retry_deadline
        if self._api_key is None:
            if require_api_key:
                raise _config.ConfigurationError(
                    "No Trubrics API key is configured: pass api_key= or set TRUBRICS_API_KEY to the key "
                    "on your project's settings page."
                )
            _config.warn_once(
                "missing-api-key",
                f"No Trubrics API key is configured (TRUBRICS_API_KEY); {self.host} will refuse the records. "
                "Set TRUBRICS_API_KEY to the key on your project's settings page.",
            )
        self._clock = _clock
        self._closed = threading.Event()
        self._wait = _wait if _wait is not None else self._closed.wait
        self._rng = _rng if _rng is not None else random.Random()
        self._ledger = Ledger(_clock, host=self.host)
        self._auth_reported = False
        self._session_lock = threading.Lock()
        self._session = self._new_session()
        self._users = 0
        self._users_lock = threading.Lock()
        self.close_when_unused = False
        """Set by an exporter or handler that made this client: the last `release()` shuts it down."""
        renew_in_child(self._reset_after_fork)
        _watch_exit()

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"TrubricsClient(host={self.host!r}, api_key=<{key}>)"

    @property
    def has_api_key(self) -> bool:
        """Whether a key is configured (the key itself is never exposed)."""
        return self._api_key is not None

    @property
    def ledger(self) -> Ledger:
        """The counters this client keeps; exporters and handlers add their own drops to them."""
        return self._ledger

    def stats(self) -> DeliveryStats:
        """Return what has happened to the records given to this client so far."""
        return self._ledger.snapshot()

    def send(self, records: Iterable[Record], *, deadline: float | None = None) -> SendResult:
        """Deliver records, each kind to its endpoint, at most 100 per request. Never raises.

        It blocks the calling thread until every record is delivered or given up on: while the host is
        down or answers 429/5xx, that is the whole deadline, 30 s by default (`TRUBRICS_RETRY_DEADLINE`).
        In a request handler or a loop the application waits on, pass a short `deadline=`, or send through
        `TrubricsHandler` or the OpenTelemetry exporters, which deliver from threads of their own.

        Args:
            records: events and LLM events, in any mix.
            deadline: seconds this call may take, retries included; default the client's
                `retry_deadline`.
        """
        allowed = self.retry_deadline if deadline is None else deadline
        return self._send_guarded(list(records), self._clock() + allowed)

    def send_batches(
        self, batches: Iterable[Sequence[Record]], *, deadline: float | None = None
    ) -> SendResult:
        """Deliver batches of records as `batches` produces them, preparing the next while one is sent.

        Each batch is delivered as `send()` would deliver it. The iterator runs in the caller's thread; a
        batch's requests are made from a thread of this call, so that producing batch n + 1 (translating
        spans, say) overlaps with the server handling batch n. At most two batches exist at a time. An
        exception raised by the iterator propagates once the batches it already gave are delivered.

        Args:
            batches: lists of events and LLM events, in any mix; typically a generator.
            deadline: seconds the whole call may take, retries included; default the client's
                `retry_deadline`.
        """
        allowed = self.retry_deadline if deadline is None else deadline
        return _Pipeline(self, self._clock() + allowed).run(iter(batches))

    def _send_guarded(
        self, batch: list[Record], deadline_at: float, on_wire: threading.Event | None = None
    ) -> SendResult:
        # each record leaves the delivery when it is counted sent, failed or dropped (the account waits)
        self._ledger.begin_delivery(len(batch))
        try:
            return self._send(batch, deadline_at, on_wire)
        except Exception as error:  # the guard of last resort: telemetry never raises into the application
            _logger.debug("Trubrics: unexpected error while sending", exc_info=True)
            return self._fail(batch, _unexpected(error))

    def retain(self) -> None:
        """Note one more exporter or handler sending through this client (see `release`)."""
        with self._users_lock:
            self._users += 1

    def release(self) -> None:
        """Note that one exporter or handler is done; the last one shuts a client it was made for down.

        A client an exporter or handler made for itself (`close_when_unused`) stays open while anything
        else still sends through it, such as a handler given `exporter.client`: whichever of them closes
        last closes it. A client the application made and passed in is left for the application.
        """
        with self._users_lock:
            self._users -= 1
            last = self._users <= 0
        if last and self.close_when_unused:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop: end any back-off wait at once and close the HTTP session. Idempotent.

        If any record was lost or is still queued, the account of every record given to this client is
        reported once (`Trubrics: 250 records for ...: 200 sent, ...`), as soon as the deliveries under
        way end.
        """
        self._closed.set()
        with self._session_lock:
            self._session.close()
        self._ledger.close()

    @property
    def is_shutdown(self) -> bool:
        """Whether `shutdown()` has been called."""
        return self._closed.is_set()

    # --- delivery -------------------------------------------------------------------------------

    def _send(
        self, records: list[Record], deadline_at: float, on_wire: threading.Event | None = None
    ) -> SendResult:
        events: list[_Item] = []
        llm_events: list[_Item] = []
        for record in records:
            (llm_events if isinstance(record, LLMEvent) else events).append(record.to_json())
        if _exiting.is_set():
            deadline_at = min(deadline_at, self._clock() + EXIT_RETRY_DEADLINE)
        result = SendResult()
        for endpoint, items in ((Event.endpoint, events), (LLMEvent.endpoint, llm_events)):
            for start in range(0, len(items), MAX_BATCH_SIZE):
                chunk = items[start : start + MAX_BATCH_SIZE]
                if result.unauthorized:
                    # the key that was just refused would be refused again: spare the API the requests
                    result += self._unauthorized(chunk, 0)
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
                return self._fail(items, "the client was shut down before they were delivered")
            status, response, problem, error = self._post(endpoint, items, deadline_at, on_wire)
            if status == _UNSENDABLE:
                return self._drop(items, UNSENDABLE, problem, error=error)
            if response is not None and 200 <= status < 300:
                self._ledger.delivered(len(items))
                return SendResult(sent=len(items))
            if status in (401, 403):
                return self._unauthorized(items, status)
            if status == 422 and response is not None:
                return self._split_invalid(endpoint, items, response, deadline_at)
            if status == 413 and len(items) > 1:
                return self._bisect(endpoint, items, deadline_at)
            if response is not None and status not in RETRYABLE_STATUSES:
                return self._drop(
                    items, REJECTED, f"{self.host}/{endpoint} answered HTTP {status}", status=status
                )
            delay = _retry_after(response, time.time()) if response is not None else None
            if delay is None:
                delay = min(_BACKOFF_BASE * 2**attempt, _BACKOFF_MAX) * self._rng.uniform(0.8, 1.2)
            if self._clock() + delay >= deadline_at:
                return self._fail(
                    items, f"{problem}; no time left to retry before the deadline", status=status, error=error
                )
            self._ledger.retried()
            if self._wait(delay):
                return self._fail(
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
        body = encoded if on_wire is None else _SignallingBody(encoded, on_wire)
        self._ledger.request()
        token = otel_context.attach(_suppressed_context())
        try:
            with self._session_lock:
                session = self._session
            response = session.post(
                url,
                data=body,
                timeout=(min(self.connect_timeout, remaining), min(self.timeout, remaining)),
            )
        except _PERMANENT_ERRORS as error:
            return (
                _UNSENDABLE,
                None,
                f"{url} cannot be requested as configured: {type(error).__name__}",
                error,
            )
        except requests.RequestException as error:
            return 0, None, f"could not reach {url}: {type(error).__name__}", error
        finally:
            otel_context.detach(token)
        return response.status_code, response, f"{url} answered HTTP {response.status_code}", None

    def _split_invalid(
        self,
        endpoint: str,
        items: list[_Item],
        response: requests.Response,
        deadline_at: float,
    ) -> SendResult:
        named = _invalid_items(response, len(items))
        if not named:
            if len(items) == 1:
                return self._drop(
                    items, INVALID, f"the API refused the record: {_detail_text(response)}", status=422
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

    def _unauthorized(self, items: Sequence[object], status: int) -> SendResult:
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
        self._ledger.dropped(UNAUTHORIZED, len(items), explanation, delivering=True)
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
        self._ledger.dropped(reason, len(items), explanation, delivering=True)
        return SendResult(dropped=len(items), problem=explanation, status=status, error=error)

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


def door_client(client: TrubricsClient | None, transport: TransportSettings | None) -> TrubricsClient:
    """The client a front door sends through: the one it was given, else one made for it.

    A client made here is shut down by its last user (`close_when_unused`): the door, or an exporter or
    handler given `door.client`. A client the application made and passed in is left to it.

    Raises:
        TypeError: neither a client nor the settings to make one (`Settings.resolve(with_transport=False)`).
    """
    if client is not None:
        return client
    if transport is None:
        raise TypeError("door_client() needs a client, or the transport settings to make one.")
    made = TrubricsClient(_settings=transport)
    made.close_when_unused = True
    return made


class _Pipeline:
    """One `send_batches()` call: the caller's thread produces batches, a thread of the call sends them.

    The caller hands a batch over and waits until its first request's body is on the wire (or its
    delivery ended) before producing the next. So the sending thread does its own share of the work,
    making the request, alone, while the server's share overlaps with the next batch being produced;
    and no more than two batches exist at a time.

    The caller never waits for the sending thread longer than the deadline allows, and not at all while it
    holds `logging._lock` (under `dictConfig`): the thread could need that lock to log, so the batches are
    then sent from the caller's thread.
    """

    def __init__(self, client: TrubricsClient, deadline_at: float) -> None:
        self._client = client
        self._deadline_at = deadline_at
        self._handed: queue.SimpleQueue[tuple[list[Record], threading.Event] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._result = SendResult()
        self._unsettled = 0  # records handed to the thread whose delivery has not ended
        self._thread: threading.Thread | None = None
        self._inline = holds_logging_lock()
        self._exit_capped = False

    def run(self, batches: Iterator[Sequence[Record]]) -> SendResult:
        try:
            for batch in batches:
                if not batch:
                    continue
                on_wire = threading.Event()
                self._hand_over(list(batch), on_wire)
                if not on_wire.wait(self._wait_limit()):
                    self._inline = True  # the thread is stuck: what comes next is sent from here
        finally:
            if self._thread is not None:
                self._handed.put(None)
                self._thread.join(self._wait_limit())
                with self._lock:
                    if self._thread.is_alive() and self._unsettled:
                        explanation = "the sending thread did not finish before the deadline"
                        self._result += SendResult(failed=self._unsettled, problem=explanation)
        with self._lock:
            return self._result

    def _wait_limit(self) -> float:
        """Seconds the delivery of what was handed over can still take: the deadline, and a margin."""
        return max(self._deadline_at - self._client._clock(), 0.0) + _PIPELINE_WAIT_MARGIN

    def _hand_over(self, batch: list[Record], on_wire: threading.Event) -> None:
        if self._thread is None and not self._inline:
            self._thread = start_daemon(self._send_all, "trubrics-send")
            self._inline = self._thread is None
        if self._inline:
            self._send_one(batch, on_wire, handed=False)
        else:
            with self._lock:
                self._unsettled += len(batch)
            self._handed.put((batch, on_wire))

    def _send_all(self) -> None:
        while (handed := self._handed.get()) is not None:
            self._send_one(*handed, handed=True)

    def _send_one(self, batch: list[Record], on_wire: threading.Event, *, handed: bool) -> None:
        client = self._client
        try:
            if _exiting.is_set() and not self._exit_capped:
                # the exit bound holds for the rest of the call, not for each batch afresh
                self._exit_capped = True
                self._deadline_at = min(self._deadline_at, client._clock() + EXIT_RETRY_DEADLINE)
            if self._result.unauthorized:
                client._ledger.begin_delivery(len(batch))
                outcome = client._unauthorized(batch, 0)  # the key just refused would be refused again
            else:
                outcome = client._send_guarded(batch, self._deadline_at, on_wire)
            with self._lock:
                self._result += outcome
                if handed:
                    self._unsettled -= len(batch)
        finally:
            on_wire.set()


class _SignallingBody:
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


_exiting = threading.Event()


def _on_exit() -> None:
    _exiting.set()


def _watch_exit() -> None:
    """Make sure `_on_exit` runs before the exit hooks registered so far (atexit runs the last first).

    OpenTelemetry's providers flush their exporters in their own exit hooks. Registered again after them,
    ours runs first and caps every delivery at EXIT_RETRY_DEADLINE, so a host that is down cannot hold
    the interpreter's exit for the whole retry deadline.
    """
    atexit.unregister(_on_exit)
    atexit.register(_on_exit)


def _unexpected(error: Exception) -> str:
    return f"unexpected error while sending: {type(error).__name__}: {error}"


def _suppressed_context() -> otel_context.Context:
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return ctx


def _encode(items: list[_Item]) -> bytes:
    try:
        return json.dumps(items, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError):
        # a caller changed a record's properties after building it; make it safe again
        from trubrics_otel._events import json_safe  # noqa: PLC0415

        return json.dumps(json_safe(items), separators=(",", ":"), ensure_ascii=False).encode()


def _retry_after(response: requests.Response, now: float) -> float | None:
    """Return the wait `Retry-After` asks for, in seconds (from a number or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - now, 0.0)


def _invalid_items(response: requests.Response, count: int) -> dict[int, str]:
    """Return the refused items a 422 answer names, by position, with a readable reason for each."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(detail, list):
        return {}
    named: dict[int, list[str]] = {}
    for problem in detail:
        if not isinstance(problem, dict):
            return {}
        loc = problem.get("loc")
        if problem.get("type") == "json_invalid":
            return {}  # its position counts characters, not records
        if not isinstance(loc, list) or len(loc) < 2 or not isinstance(loc[1], int):
            return {}  # a problem with the body as a whole: no item to blame
        index = loc[1]
        if not 0 <= index < count:
            return {}
        field = ".".join(str(part) for part in loc[2:]) or "item"
        named.setdefault(index, []).append(f"{field}: {problem.get('msg', 'invalid')}")
    return {index: "; ".join(reasons) for index, reasons in named.items()}


def _detail_text(response: requests.Response) -> str:
    try:
        return json.dumps(response.json().get("detail"))[:500]
    except (ValueError, AttributeError):
        return response.text[:500] or f"HTTP {response.status_code}"
