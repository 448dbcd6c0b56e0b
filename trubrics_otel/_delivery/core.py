"""The delivery core: what every front door of one configuration shares, from plain data to the client.

A front door is a thin adapter: the span exporter turns SDK spans into `SpanData`, the log exporter turns
OpenTelemetry log records into `LogData`, and each hands them to its core. The core translates them (the
one path, `mapping.Translator`), sends the records through its client, and counts every loss in the
client's ledger. It holds what outlives a batch and releases the calls waiting in the content join: when
their window closes (its releaser thread), on `flush()`, and when its last door lets it go.

Who shares what:

- a core per configuration: its settings (`_config.Settings`), its client and its content join. A door
  given no client makes its own (`door_client`), and so its own core; doors given one client and one join
  with the same mapping settings get one core (`core_for`);
- the content join, and with it the memory of the calls sent, is process-wide per content window
  (`join.shared_join`), so exporters built apart (zero-code) still meet; tests and apps may pass their own;
- the parents of recent calls (nested calls across batches) and the releaser are the core's own.

What a door calls: `core_for(settings, client, join)` once, then `send_spans()` / `send_logs()` (or
`log_records()` for a door that queues and sends records itself), `flush()`, and `release()` once at its
shutdown. Records leave the core in one place, `_send` and `_send_parts`: to the client, or to its spool
while earlier batches wait there for a host that does not take them.

Nothing here raises into the door that calls it: a mapping bug costs the records it touched, counted as
mapping errors, and a delivery failure is a False result.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from trubrics_otel._config import Settings, warn_once
from trubrics_otel._delivery.join import ContentJoin, shared_join
from trubrics_otel._delivery.memory import RecentParents
from trubrics_otel._delivery.overlap import InFlight
from trubrics_otel._delivery.releaser import Releaser
from trubrics_otel._events import MAX_BATCH_SIZE, Record
from trubrics_otel._fork import renew_in_child
from trubrics_otel._reporting import report
from trubrics_otel._stats import MAPPING_ERROR, UNJOINABLE_CONTENT, Ledger
from trubrics_otel._transport import TrubricsClient, door_client
from trubrics_otel.mapping import LLMCall, LogData, MappingOptions, SpanData, Translator
from trubrics_otel.mapping.logs import LogOutcome, unusable_warning

__all__ = ["OVERLAP_AT", "PART_SIZE", "DeliveryCore", "core_for", "warn_unusable"]

_logger = logging.getLogger("trubrics_otel.exporters")

_BEHIND: Final = "earlier records wait in the spool for the host, and these go behind them"

PART_SIZE: Final = MAX_BATCH_SIZE
"""Spans translated per part of a larger batch: one request's worth."""
OVERLAP_AT: Final = 50
"""The smallest batch `send_spans` and `send_logs` send while the door prepares the next: a batch
processor hands over batches this large only when spans come faster than it exports them."""


class DeliveryCore:
    """Translates what the doors of one configuration hand it and sends the records through one client.

    Made by `core_for`, which gives doors of the same configuration the same core, retained once for each;
    each door calls `release()` once, when it shuts down.
    """

    def __init__(
        self,
        settings: Settings,
        client: TrubricsClient,
        join: ContentJoin,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.options = MappingOptions(**settings.mapping_fields())
        self.client = client
        self.join = join
        self._clock = clock
        self.translator = Translator(  # the one translation path, with this core's state
            self.options,
            waiting=join,
            sent=join.twins,
            parents=RecentParents(),
            tally=_Account(client.ledger),
            clock=clock,
        )
        self._releaser = Releaser(join, self._release, clock)
        self._in_flight = InFlight("trubrics-export")
        self._users = 0
        self._closed = False
        self._warned_default_user = False
        join.attach()
        client.retain()

    @property
    def closed(self) -> bool:
        """Whether the last door let the core go; it then sends nothing more."""
        return self._closed

    @property
    def holds_calls(self) -> bool:
        """Whether calls or content wait in the join (the doors push their log records before a flush)."""
        return len(self.join) > 0

    def release(self) -> None:
        """Note that one door is done: send the calls held; the last door stops and releases the client."""
        self.flush()
        with _cores_lock:
            self._users -= 1
            last = self._users <= 0 and not self._closed
            if last:
                self._closed = True
        if last:
            self._in_flight.stop()
            self._releaser.stop()
            self.join.detach()  # the last core's content can no longer meet its span
            self._count_unjoined()
            self.client.release()

    def send_spans(self, spans: Sequence[SpanData], *, overlap: bool = True) -> bool:
        """Translate spans and send their records; False when some were lost. Never raises.

        With `overlap`, a batch of `OVERLAP_AT` to 100 spans (a batch processor under load) is sent from
        the core's delivery thread, and this returns once its request is on the wire, so that the next
        batch is translated while the host stores this one (`overlap.InFlight`); what it returns is
        then the outcome of the delivery before. A smaller batch (a `SimpleSpanProcessor`, a quiet
        app), or any without `overlap` (the gateway, which answers once records are delivered or
        spooled), is sent before this returns. A batch of more than 100 spans is translated
        and sent in parts of 100, each part translated while the one before it is with the server.
        """
        if len(spans) <= PART_SIZE:
            records = self._translate_safely(spans)
            busy = overlap and len(spans) >= OVERLAP_AT
            return records is not None and self._send(records, overlap=busy)
        failed: list[int] = []
        before = self._in_flight.wait(self.client.retry_deadline)
        delivered = self._send_parts(self._parts_safely(spans, failed))
        return delivered and not failed and before

    def send_logs(self, logs: Sequence[LogData], *, overlap: bool = True) -> bool:
        """Translate log records and send their records; False when some were lost. Never raises.

        `overlap` as in `send_spans`.
        """
        records = self.log_records(logs)
        busy = overlap and len(logs) >= OVERLAP_AT
        return records is not None and self._send(records, overlap=busy)

    def log_records(
        self, logs: Sequence[LogData], *, extras_as_properties: bool = True
    ) -> list[Record] | None:
        """Return the records log records become (content completes held calls); None if the mapping failed.

        For a door that queues and sends records itself; losses are counted in the client's ledger.
        `extras_as_properties` is `logs.interpret_log`'s: whether a record's unrecognised keys become
        properties (the logging handler's setting; OpenTelemetry log records keep them).
        """
        try:
            records = self.translator.logs(logs, extras_as_properties=extras_as_properties)
        except Exception:  # noqa: BLE001 - a mapping bug must cost the batch's records, never the app
            report(
                _logger,
                logging.ERROR,
                f"Trubrics: could not translate a batch of {len(logs)} log records",
                key="translate-logs",
                exc_info=True,
            )
            self.client.ledger.dropped(MAPPING_ERROR, len(logs), "the log mapping failed")
            return None
        self._wake_releaser()
        return records

    def count_unreadable(self, what: str, error: Exception) -> None:
        """Count one span or log record a door could not turn into plain data, as a mapping error."""
        self.client.ledger.dropped(MAPPING_ERROR, 1, f"the {what} mapping failed: {error!r}")

    def flush(self, timeout: float | None = None) -> bool:
        """Send the calls waiting in the join and let the delivery in flight end, within `timeout` seconds.

        True when everything was delivered (or spooled).
        """
        if self._closed:
            return True
        released = self._release(self.join.drain(), timeout)
        return self._in_flight.wait(timeout) and released

    def _release(self, calls: Sequence[LLMCall], deadline: float | None = None) -> bool:
        self._count_unjoined()
        return self._send(self.translator.released(calls), deadline)

    def _count_unjoined(self) -> None:
        """Count the content records the join let go of without their span."""
        unjoined = self.join.take_unjoined()
        if unjoined:
            self.client.ledger.dropped(
                UNJOINABLE_CONTENT,
                unjoined,
                f"GenAI content log records whose span did not come within {self.join.window:g} s "
                "(TRUBRICS_CONTENT_WAIT), or before the exporters shut down",
            )

    def _send(self, records: list[Record], deadline: float | None = None, *, overlap: bool = False) -> bool:
        """Hand records to the transport: with `_send_parts`, the only way out of the core.

        While earlier batches wait in the client's spool for a host that does not take them, these go
        behind them, through the spool: in order, and without holding the door for a retry deadline.
        With `overlap` they are sent from the delivery threads (`send_spans`); else once the deliveries
        in flight ended.
        """
        if not records:
            return True
        if self._spooling():
            return self.client.keep(records, _BEHIND).ok
        client = self.client
        if overlap:
            return self._in_flight.submit(
                lambda on_wire: client.send(records, on_wire=on_wire).ok, client.retry_deadline
            )
        before = self._in_flight.wait(client.retry_deadline if deadline is None else deadline)
        return client.send(records, deadline=deadline).ok and before

    def _send_parts(self, parts: Iterator[list[Record]]) -> bool:
        """Hand records to the transport part by part, each part produced while the one before is sent."""
        if self._spooling():
            kept = True
            for part in parts:  # every part, even after one that was not kept
                kept = self.client.keep(part, _BEHIND).ok and kept
            return kept
        return self.client.send_batches(parts).ok

    def _spooling(self) -> bool:
        spool = self.client.spool
        return spool is not None and spool.host_failing

    def _translate_safely(self, spans: Sequence[SpanData]) -> list[Record] | None:
        try:
            records = self.translator.spans(spans)
        except Exception:  # noqa: BLE001 - a mapping bug must cost the batch's records, never the app
            report(
                _logger,
                logging.ERROR,
                f"Trubrics: could not translate a batch of {len(spans)} spans",
                key="translate-spans",
                exc_info=True,
            )
            self.client.ledger.dropped(MAPPING_ERROR, len(spans), "the span mapping failed")
            return None
        self._wake_releaser()
        self._warn_default_user(records)
        return records

    def _parts_safely(self, spans: Sequence[SpanData], failed: list[int]) -> Iterator[list[Record]]:
        """Yield the translator's parts; if the mapping fails, count the spans not yet sent into `failed`."""
        done = 0
        try:
            for part, settled in self.translator.span_parts(spans, PART_SIZE):
                done += settled
                self._wake_releaser()
                self._warn_default_user(part)
                yield part
        except Exception:  # noqa: BLE001 - a bug costs the untranslated rest, never the app
            failed.append(len(spans) - done)
            report(
                _logger,
                logging.ERROR,
                f"Trubrics: could not translate {len(spans) - done} of a batch's spans",
                key="translate-spans",
                exc_info=True,
            )
            self.client.ledger.dropped(MAPPING_ERROR, len(spans) - done, "the span mapping failed")

    def _wake_releaser(self) -> None:
        self._count_unjoined()  # a translation may have closed windows, or evicted content
        if len(self.join):
            self._releaser.wake()

    def _warn_default_user(self, records: Sequence[Record]) -> None:
        if self._warned_default_user:
            return
        default = self.options.default_user_id
        if any(record.user_id == default for record in records):
            self._warned_default_user = True
            report(
                _logger,
                logging.WARNING,
                f"Trubrics: some spans name no user, so their events are sent as user {default!r}. Wrap "
                "each request in `with trubrics_otel.context(user_id=...)`, set baggage `user.id`, or set "
                "the `user.id` span attribute; TRUBRICS_DEFAULT_USER_ID changes the fallback.",
                key="default-user",
            )


_Key = tuple[object, ...]

# held weakly: a core lives as long as a door (or its releaser thread) uses it
_cores: weakref.WeakValueDictionary[_Key, DeliveryCore] = weakref.WeakValueDictionary()
_cores_lock = threading.Lock()


def _renew_cores_lock() -> None:
    global _cores_lock  # noqa: PLW0603 - a lock held at the fork would stay held in the child
    _cores_lock = threading.Lock()


renew_in_child(_renew_cores_lock)


def core_for(
    settings: Settings,
    client: TrubricsClient | None = None,
    join: ContentJoin | None = None,
    *,
    _clock: Callable[[], float] = time.monotonic,
) -> DeliveryCore:
    """Return the core a door of this configuration sends through, retained once for the caller.

    Doors with the same mapping settings and content wait, given the same client and the same join (by
    default the process-wide join of the content wait), get the same core; a door given no client gets
    a new core around a client of its own (`settings.transport`). Call `release()` once when done.

    Args:
        settings: the door's resolved settings (`Settings.resolve(with_transport=client is None, ...)`).
        client: the client to send through; by default one made from `settings.transport`.
        join: where calls wait for their content; by default the process-wide one of `content_wait`.
    """
    if join is None:
        join = shared_join(settings.content_wait)
    with _cores_lock:
        core = _cores.get(_key(settings, client, join)) if client is not None else None
        if core is None or core.closed:
            core = DeliveryCore(settings, door_client(client, settings.transport), join, clock=_clock)
            _cores[_key(settings, core.client, join)] = core
        core._users += 1
    return core


def _key(settings: Settings, client: TrubricsClient | None, join: ContentJoin) -> _Key:
    """What makes two doors' cores one: how they map, how long calls wait, and where they send."""
    return (*settings.mapping_fields().values(), settings.content_wait, client, join)


class _Account:
    """The translator's tally: losses and calls without text into the client's ledger, warnings reported."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def dropped(self, reason: str, count: int, explanation: str) -> None:
        """Count records not sent, by reason."""
        self._ledger.dropped(reason, count, explanation)

    def incomplete(self, count: int) -> None:
        """Count calls sent with the placeholder for their missing text."""
        self._ledger.incomplete(count)

    def unusable(self, outcome: LogOutcome) -> None:
        """Warn, once per key, about a log record's value that could not be read."""
        warn_unusable(outcome)


def warn_unusable(outcome: LogOutcome) -> None:
    """Warn, once per key in this process, about a `latency` or `timestamp` the mapping could not read."""
    for key, type_name in outcome.unusable:
        warn_once(f"unusable log key {key}", unusable_warning(key, type_name))
