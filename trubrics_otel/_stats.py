"""Counters of what happened to every record, the reports that explain each loss, and the final account.

Telemetry must never lose data silently, and must never flood the application's logs either: each kind
of loss is explained the first time it happens, then summarised at most once a minute while it goes on.
A summary waits for the next loss, so the last ones may never get one: the account settles that. When
a client is shut down for good, or at interpreter exit for a client never shut down (`_account`), a
ledger that lost anything or still holds queued records gives one exact account, once: how many records
it was given, and how many of them were sent, failed, dropped (by reason) or are still queued.

Every report goes through `trubrics_otel._reporting.report`, so it reaches the user even where logging
would hide it.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from trubrics_otel._account import account_at_exit
from trubrics_otel._fork import renew_in_child
from trubrics_otel._reporting import report

__all__ = [
    "CLOSED",
    "DUPLICATE",
    "HANDLER_ERROR",
    "INVALID",
    "MAPPING_ERROR",
    "NOT_LOST",
    "NO_CONTENT",
    "QUEUE_FULL",
    "REDACTED",
    "REJECTED",
    "SPOOL_FULL",
    "UNAUTHORIZED",
    "UNJOINABLE_CONTENT",
    "UNSENDABLE",
    "DeliveryStats",
    "Ledger",
]

_logger = logging.getLogger("trubrics_otel")
_serials = itertools.count()

REPORT_INTERVAL = 60.0
"""Seconds between two summaries of the same kind of loss."""

PLACEHOLDER_ADVICE = (
    "Trubrics: a model call's prompt or generation was not recorded, so a placeholder was sent. Turn on "
    "the instrumentation's content capture. OpenTelemetry GenAI instrumentations (openai-v2 and others) "
    "on the latest GenAI conventions (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental; "
    "openai-v2 2.4b0 with opentelemetry-util-genai 1.1b0 always uses them) need "
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY (content on the span; EVENT_ONLY and "
    "SPAN_AND_EVENT put it in log records too) and ignore `true`; on the older v1.30 conventions `true` "
    "turns it on and the content goes to log records. Content in log records reaches Trubrics only with "
    "the log exporter too (OTEL_LOGS_EXPORTER=trubrics, or TrubricsLogExporter). OpenLLMetry: "
    "TRACELOOP_TRACE_CONTENT=true (its default). OpenInference: leave OPENINFERENCE_HIDE_INPUTS and "
    "OPENINFERENCE_HIDE_OUTPUTS unset or false. `trubrics-otel check` shows what this environment sets."
)
"""The warning given the first time a placeholder stands in for a call's missing text."""


# Why records were dropped: the keys of `DeliveryStats.dropped` (docs/transport.md explains each).
# From the API's answers:
INVALID: Final = "invalid"
"""The API refused the record as malformed (HTTP 422)."""
UNAUTHORIZED: Final = "unauthorized"
"""The API key is missing or was refused (HTTP 401, 403)."""
REJECTED: Final = "rejected"
"""Any other answer that retrying cannot change (HTTP 400, 404, ...)."""
# From the transport:
UNSENDABLE: Final = "unsendable"
"""The request cannot be made as configured (a malformed URL or header, a TLS set-up that fails)."""
# From the exporters, the logging handler and the structlog processor:
MAPPING_ERROR: Final = "mapping_error"
"""Translating a span or a log record into records failed."""
NO_CONTENT: Final = "no_content"
"""A model call without its prompt or generation, dropped as `drop_without_content` asks."""
DUPLICATE: Final = "duplicate"
"""A model call recorded twice (two instrumentations), sent once: nothing is lost."""
UNJOINABLE_CONTENT: Final = "unjoinable_content"
"""A GenAI content log record that names no span to join it to, or whose span never came."""
QUEUE_FULL: Final = "queue_full"
"""The log queue was full (`TRUBRICS_LOG_QUEUE_SIZE`)."""
CLOSED: Final = "closed"
"""The logging handler or structlog processor was already closed."""
HANDLER_ERROR: Final = "handler_error"
"""The logging handler or structlog processor failed on a record in the application's thread."""
# From the spool and the redaction hook:
SPOOL_FULL: Final = "spool_full"
"""The spool held `TRUBRICS_SPOOL_BYTES` already: its oldest batches were deleted for newer ones."""
REDACTED: Final = "redacted"
"""The redaction hook (`TRUBRICS_REDACT`) returned None for the record, or failed on it."""

_FAILED: Final = "failed"
"""Not a drop reason: the key of the reports about records that failed (retries ran out)."""
_SPOOLED: Final = "spooled"
"""Not a drop reason: the key of the reports about records kept in the spool."""

NOT_LOST: Final = frozenset({DUPLICATE})
"""Drop reasons that lose nothing: a call two instrumentations recorded is sent once, from the other."""


@dataclass(frozen=True)
class DeliveryStats:
    """A snapshot of what happened to the records given to one client, exporter or handler.

    Attributes:
        sent: records Trubrics accepted.
        retried: requests sent again after a transient failure.
        failed: records given up after retries ran out of time or the client was shut down.
        dropped: records not sent, by reason (docs/transport.md explains each): from the API,
            `invalid`, `unauthorized`, `rejected`; from the transport, `unsendable`; from the exporters
            and handlers, `mapping_error`, `no_content`, `duplicate` (a call recorded twice, sent once),
            `unjoinable_content`, `queue_full`, `closed` and `handler_error`.
        requests: HTTP requests sent.
        incomplete: model calls sent with a placeholder because their prompt or generation never came.
        spooled: records not delivered in time, kept in the spool to be sent again (not lost); those the
            spool's bound deleted for newer ones are counted as dropped (`spool_full`) instead.
        replayed: records this client delivered from the spool (spooled by it, or by an earlier process).
    """

    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    requests: int = 0
    incomplete: int = 0
    spooled: int = 0
    replayed: int = 0

    @property
    def lost(self) -> int:
        """Records that did not reach Trubrics: failed plus dropped, except duplicates sent once."""
        return self.failed + sum(count for reason, count in self.dropped.items() if reason not in NOT_LOST)


class Ledger:
    """Thread-safe counters behind `DeliveryStats`, with the once-then-periodic loss reports.

    Args:
        clock: a monotonic clock in seconds; tests pass a fake one.
        logger: where loss reports go.
        host: where the records go, named in the final account.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = _logger,
        *,
        host: str = "",
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._logger = logger
        self._host = host
        self._sent = 0
        self._retried = 0
        self._failed = 0
        self._requests = 0
        self._incomplete = 0
        self._spooled = 0
        self._replayed = 0
        self.spool_where = ""
        """Where the spool keeps its batches, as the account names it (set by the client)."""
        self._dropped: dict[str, int] = {}
        self._failed_because = ""  # the latest failure's explanation, for the account
        self._in_delivery = 0  # records a client is sending whose outcome is not counted yet
        self._closed = False
        self._accounted = False
        self._serial = next(_serials)  # names the account's cause: an id() could be reused
        # reason -> (time of the last report, records lost since it)
        self._reports: dict[str, tuple[float, int]] = {}
        self._queue_sources: dict[int, Callable[[], Callable[[], int] | None]] = {}
        self._next_source = 0
        account_at_exit(self)
        renew_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # a fork copies the lock as it was: held, if another thread held it at that moment
        self._lock = threading.Lock()
        self._in_delivery = 0  # the parent's deliveries go on in the parent's threads, not here

    def sent(self, count: int) -> None:
        """Count records the API accepted."""
        with self._lock:
            self._sent += count

    def request(self) -> None:
        """Count one HTTP request."""
        with self._lock:
            self._requests += 1

    def retried(self) -> None:
        """Count one request that will be sent again."""
        with self._lock:
            self._retried += 1

    def incomplete(self, count: int) -> None:
        """Count model calls sent without their text (a placeholder stands in); reported once."""
        with self._lock:
            self._incomplete += count
            first = self._incomplete == count
        if first:
            report(self._logger, logging.WARNING, PLACEHOLDER_ADVICE, key="placeholder")

    def failed(self, count: int, explanation: str, *, delivering: bool = False) -> None:
        """Count records given up on after transient failures, and explain it (rate-limited).

        `delivering` says the records were counted by `begin_delivery()`, and leave the delivery now.
        """
        with self._lock:
            self._failed += count
            self._failed_because = explanation
        self._report(_FAILED, count, explanation)
        if delivering:
            self._end_delivery(count)

    def spooled(self, count: int, explanation: str, *, delivering: bool = False, quiet: bool = False) -> None:
        """Count records kept in the spool because they could not be delivered now, and say so (rate-limited).

        `delivering` says the records were counted by `begin_delivery()`, and leave the delivery now.
        `quiet` counts without a report: the spool took them for speed, with a host that answers.
        """
        with self._lock:
            self._spooled += count
        if not quiet:
            self._report(_SPOOLED, count, explanation)
        if delivering:
            self._end_delivery(count)

    def dropped_from_spool(self, reason: str, count: int, explanation: str) -> None:
        """Count spooled records dropped for `reason` (deleted for newer ones, or refused when sent again).

        They leave `spooled` (as far as this ledger spooled them, not an earlier process) for `dropped`.
        """
        with self._lock:
            self._spooled -= min(count, self._spooled)
        self.dropped(reason, count, explanation)

    def replayed(self, count: int) -> None:
        """Count spooled records the API accepted (sent from the spool: not counted as being delivered)."""
        with self._lock:
            self._replayed += count

    def dropped(self, reason: str, count: int, explanation: str, *, delivering: bool = False) -> None:
        """Count records refused for good for `reason`, and explain it (rate-limited per reason).

        A reason in `NOT_LOST` is counted and explained at DEBUG only: nothing was lost.
        `delivering` says the records were counted by `begin_delivery()`, and leave the delivery now.
        """
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count
        if reason in NOT_LOST:
            self._logger.debug("Trubrics: %d record(s) not sent again: %s", count, explanation)
        else:
            self._report(reason, count, explanation)
        if delivering:
            self._end_delivery(count)

    def delivered(self, count: int) -> None:
        """Count records the API accepted that `begin_delivery()` counted as being sent."""
        self.sent(count)
        self._end_delivery(count)

    def begin_delivery(self, count: int) -> None:
        """Note records a client starts sending; each leaves with `delivered`, `failed` or `dropped`."""
        with self._lock:
            self._in_delivery += count

    def close(self) -> None:
        """Note that the client is shut down for good: give the account once its deliveries ended.

        When nothing is being sent the account comes now; otherwise the delivery that ends last gives
        it (or the interpreter's exit, if that comes first).
        """
        with self._lock:
            self._closed = True
            settled = self._in_delivery == 0
        if settled:
            self.give_account()

    def add_queue_source(self, source: Callable[[], int]) -> Callable[[], None]:
        """Count the records `source()` says are still queued upstream in the final account of losses.

        A logging handler registers its queue's length, so that records it holds when the client shuts
        down are named as still queued. A bound method is held weakly (it goes when its object goes);
        any other callable is held until the returned function removes it. A source that raises counts
        as holding nothing.

        Returns:
            A function that removes the source; calling it again does nothing.
        """
        held: Callable[[], Callable[[], int] | None] = (
            weakref.WeakMethod(source) if inspect.ismethod(source) else _Strong(source)
        )
        with self._lock:
            key = self._next_source
            self._next_source += 1
            self._queue_sources[key] = held

        def remove() -> None:
            with self._lock:
                self._queue_sources.pop(key, None)

        return remove

    def queued(self) -> int:
        """Return how many records the registered queue sources still hold."""
        with self._lock:
            sources = list(self._queue_sources.values())
        total = 0
        for held in sources:
            source = held()
            if source is None:
                continue
            try:
                count = source()
            except Exception:  # noqa: BLE001 - a source's bug must not stop the account
                count = 0
            if isinstance(count, int) and count > 0:
                total += count
        return total

    def snapshot(self) -> DeliveryStats:
        """Return the counters as they are now."""
        with self._lock:
            return DeliveryStats(
                sent=self._sent,
                retried=self._retried,
                failed=self._failed,
                dropped=MappingProxyType(dict(self._dropped)),
                requests=self._requests,
                incomplete=self._incomplete,
                spooled=self._spooled,
                replayed=self._replayed,
            )

    def account(self) -> str | None:
        """Return the account of every record given so far, or None when none was lost or is queued."""
        stats = self.snapshot()
        with self._lock:
            because = self._failed_because
            in_delivery = self._in_delivery
        queued = self.queued() + in_delivery
        dropped = sum(stats.dropped.values())
        if not stats.lost and not queued and stats.spooled <= stats.replayed:
            return None  # nothing lost or left: what went through the spool was sent from it
        total = stats.sent + stats.failed + dropped + queued + stats.spooled
        failed = f"{stats.failed} failed"
        if stats.failed and because:
            failed += f" ({because})"
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(stats.dropped.items()) if count)
        refused = f"{dropped} dropped ({reasons})" if reasons else "0 dropped"
        records = "record" if total == 1 else "records"
        host = f" for {self._host}" if self._host else ""
        spooled = ""
        if stats.spooled:
            spooled = (
                f", {stats.spooled} spooled to {self.spool_where or 'the spool'} (sent again once the host "
                "answers, by this process or the next one with the same host and key)"
            )
        replayed = f" {stats.replayed} sent from the spool." if stats.replayed else ""
        return (
            f"Trubrics: {total} {records}{host}: {stats.sent} sent, {failed}, {refused}, "
            f"{queued} still queued{spooled}.{replayed}"
        )

    def give_account(self) -> None:
        """Report the account (see `account`) if there is one to give and it was not given before."""
        text = self.account()
        if text is None:
            return
        with self._lock:
            if self._accounted:
                return
            self._accounted = True
        report(self._logger, logging.WARNING, text, key=f"account:{self._serial}")

    def _end_delivery(self, count: int) -> None:
        with self._lock:
            self._in_delivery = max(self._in_delivery - count, 0)
            settled = self._closed and self._in_delivery == 0
        if settled:
            self.give_account()

    def _report(self, reason: str, count: int, explanation: str) -> None:
        now = self._clock()
        with self._lock:
            last = self._reports.get(reason)
            since = 0.0
            if last is None:
                self._reports[reason] = (now, 0)
                pending = -1
            elif now - last[0] >= REPORT_INTERVAL:
                pending = last[1] + count
                since = now - last[0]
                self._reports[reason] = (now, 0)
            else:
                self._reports[reason] = (last[0], last[1] + count)
                return
        if pending < 0:
            message = (
                f"Trubrics: {count} record(s) {_verb(reason)} so far: {explanation}. More may follow: they "
                f"are summarised at most once a minute, and counted in stats() and in a final account."
            )
        else:
            message = (
                f"Trubrics: {pending} more record(s) {_verb(reason)} in the {since:.0f} s since the "
                f"last report; latest: {explanation}"
            )
        report(self._logger, logging.WARNING, message, key=f"loss:{reason}")


class _Strong:
    """Holds a callable the way `weakref.WeakMethod` would, but for good."""

    def __init__(self, source: Callable[[], int]) -> None:
        self._source = source

    def __call__(self) -> Callable[[], int]:
        return self._source


def _verb(reason: str) -> str:
    if reason == _SPOOLED:
        return "kept in the spool, to be sent again,"
    return "failed" if reason == _FAILED else f"dropped ({reason})"
