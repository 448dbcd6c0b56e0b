"""The one HTTP client every exporter and handler sends through: `TrubricsClient`.

`TrubricsClient.send()` takes any mix of `Event` and `LLMEvent` and delivers them within a deadline,
retrying what is worth retrying; `send_batches()` does the same for batches the caller produces,
preparing the next while one is sent. Exporters and handlers share one client (`retain()`,
`release()`), and each record given to it is counted once in its ledger (`stats()`), with one account
of the losses when it shuts down.

The client's parts, each in its module: what may leave the process (`_privacy`), what every answer of
the API means (`_answers`), the session and the requests with their retries (`_sender`), the overlap of
`send_batches()` (`_send_batches`), and the spool of what could not be delivered in time (`_spooling`,
on disk by `_spool`). It never raises into the caller and never logs the API key.
"""

from __future__ import annotations

import ipaddress
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from trubrics_otel import _config
from trubrics_otel._answers import SendResult
from trubrics_otel._config import TransportSettings
from trubrics_otel._events import Record
from trubrics_otel._send_batches import BatchPipeline
from trubrics_otel._sender import Sender, watch_exit
from trubrics_otel._spool import Batch
from trubrics_otel._spooling import Spool, spool_for
from trubrics_otel._stats import DeliveryStats, Ledger

__all__ = ["REPLAY_DEADLINE", "SPOOL_DRAIN", "SendResult", "TrubricsClient", "door_client"]

REPLAY_DEADLINE: Final = 10.0
"""Seconds one spooled batch may take to be sent again, retries included, before it goes back."""
SPOOL_DRAIN: Final = 3.0
"""Seconds `shutdown()` lets the spool go on sending while the host takes its batches (the exit's budget)."""


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
        allow_insecure_http: allow a plain `http://` host that is not loopback (the key then travels in
            clear); default `TRUBRICS_ALLOW_INSECURE_HTTP`, else False: such a host raises.
        spool: keep what cannot be delivered in time on disk and send it again later; default
            `TRUBRICS_SPOOL`, else True.
        spool_dir: the spool's root directory; default `TRUBRICS_SPOOL_DIR`, else the user's cache
            directory's `trubrics-otel/spool`.
        spool_bytes: the most bytes the spool of this host and key holds; default `TRUBRICS_SPOOL_BYTES`.
        send_content: False sends `[content withheld]` for prompts and generations; default
            `TRUBRICS_SEND_CONTENT`, else True.
        max_text_length: the most characters of a prompt, generation or text property sent; default
            `TRUBRICS_MAX_TEXT_LENGTH`, else 100,000.
        redact: called with each record's JSON dict before it is sent or spooled; returns the dict to
            send, or None to send nothing. Default `TRUBRICS_REDACT` (`package.module:function`).
        _clock: tests' seam: a monotonic clock in seconds, faked together with `_wait`.
        _wait: tests' seam: waits a number of seconds, returning early with True when the client shuts
            down. The default waits on the shutdown event, so `shutdown()` ends any back-off at once.
        _rng: tests' seam: the random source of the back-off jitter.
        _settings: the transport settings a front door resolved already; the arguments above are then
            unused.

    Raises:
        ConfigurationError: an argument is malformed, `require_api_key` is set and there is no key, or the
            host is plain `http://` to a host that is not loopback and insecure HTTP is not allowed.
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
        allow_insecure_http: bool | None = None,
        spool: bool | None = None,
        spool_dir: str | Path | None = None,
        spool_bytes: int | None = None,
        send_content: bool | None = None,
        max_text_length: int | None = None,
        redact: Callable[[dict[str, Any]], dict[str, Any] | None] | str | None = None,
        _clock: Callable[[], float] = time.monotonic,
        _wait: Callable[[float], bool] | None = None,
        _rng: random.Random | None = None,
        _settings: TransportSettings | None = None,
    ) -> None:
        if _settings is None:  # a door resolved them already, with its other settings
            _settings = TransportSettings.resolve(
                api_key,
                host,
                connect_timeout=connect_timeout,
                timeout=timeout,
                retry_deadline=retry_deadline,
                spool=spool,
                spool_dir=spool_dir,
                spool_bytes=spool_bytes,
                send_content=send_content,
                max_text_length=max_text_length,
                redact=redact,
            )
        _refuse_clear_text(_settings.host, _config.ALLOW_INSECURE_HTTP.resolve(allow_insecure_http))
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
        self._ledger = Ledger(_clock, host=self.host)
        self._spool = spool_for(_settings, self._ledger, self._closed)
        self._sender = Sender(
            _settings,
            self._ledger,
            clock=_clock,
            wait=_wait,
            rng=_rng if _rng is not None else random.Random(),
            closed=self._closed,
            spool=self._spool,
        )
        if self._spool is not None:
            self._spool.start(self._replay)
        self._users = 0
        self._users_lock = threading.Lock()
        self.close_when_unused = False
        """Set by an exporter or handler that made this client: the last `release()` shuts it down."""
        watch_exit()

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

    def send(
        self,
        records: Iterable[Record],
        *,
        deadline: float | None = None,
        on_wire: threading.Event | None = None,
    ) -> SendResult:
        """Deliver records, each kind to its endpoint, at most 100 per request. Never raises.

        It blocks the calling thread until every record is delivered or given up on: while the host is
        down or answers 429/5xx, that is the whole deadline, 30 s by default (`TRUBRICS_RETRY_DEADLINE`).
        In a request handler or a loop the application waits on, pass a short `deadline=`, or send through
        `TrubricsHandler` or the OpenTelemetry exporters, which deliver from threads of their own.

        Args:
            records: events and LLM events, in any mix.
            deadline: seconds this call may take, retries included; default the client's
                `retry_deadline`.
            on_wire: set once the first request's body has been written to the connection.
        """
        allowed = self.retry_deadline if deadline is None else deadline
        return self._sender.send(list(records), self._clock() + allowed, on_wire)

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
        return BatchPipeline(self._sender, self._clock, self._clock() + allowed).run(iter(batches))

    @property
    def spool(self) -> Spool | None:
        """Where records that cannot be delivered in time are kept; None when the spool is off."""
        return self._spool

    def keep(self, records: Iterable[Record], explanation: str, *, quiet: bool = False) -> SendResult:
        """Put records straight into the spool, to be sent in the background; failed without a spool.

        For a queue that cannot hold them, or cannot send them before the process ends. `quiet` counts
        them without a warning (a queue that spools for speed, with a host that answers). Never raises.
        """
        return self._sender.keep(list(records), explanation, quiet=quiet)

    def _replay(self, batch: Batch) -> tuple[bytes, int] | None:
        return self._sender.replay(batch, self._clock() + min(self.retry_deadline, REPLAY_DEADLINE))

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

        While the spool is sending batches the host takes, it is given up to `SPOOL_DRAIN` seconds to
        finish first; what it has not sent stays in the spool, for the next process.

        If any record was lost or is still queued, the account of every record given to this client is
        reported once (`Trubrics: 250 records for ...: 200 sent, ...`), as soon as the deliveries under
        way end.
        """
        if self._spool is not None and not self._closed.is_set():
            self._spool.drain(SPOOL_DRAIN)
        self._closed.set()
        if self._spool is not None:
            self._spool.stop()
        self._sender.close()
        self._ledger.close()

    @property
    def is_shutdown(self) -> bool:
        """Whether `shutdown()` has been called."""
        return self._closed.is_set()


def _refuse_clear_text(host: str, allowed: bool) -> None:
    """Refuse a plain `http://` host that is not loopback, unless allowed: the key would travel in clear."""
    parts = urlsplit(host)
    if parts.scheme != "http" or allowed:
        return
    name = parts.hostname or ""
    if name == "localhost":
        return
    try:
        if ipaddress.ip_address(name).is_loopback:
            return
    except ValueError:
        pass
    raise _config.ConfigurationError(
        f"The host {host!r} (host= or TRUBRICS_HOST) is plain http:// to a host that is not loopback: the "
        "API key and the records would travel in clear. Use https://, or set "
        "TRUBRICS_ALLOW_INSECURE_HTTP=true (allow_insecure_http=True) to allow it."
    )


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
