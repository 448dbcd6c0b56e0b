"""The two front doors of Python logging into Trubrics: a `logging.Handler` and a structlog processor.

`TrubricsHandler` sits on any logger, the root one included: records that carry a recognised key (a user
id, an event name, a prompt and generation, a `trubrics.*` or GenAI key; see `trubrics_otel.mapping.logs`)
become events and LLM events, and every other record is ignored at the cost of a length comparison.
`TrubricsStructlogProcessor` does the same inside structlog's own processor chain.

What runs in the application's thread is kept to a test and an enqueue: the record (or a copy of the
event dict) goes into a `BatchWorker`, whose thread maps and sends it. Neither front door ever raises,
blocks, or turns its own delivery into records: records of the `trubrics_otel`, `urllib3` and `requests`
loggers, and every record made while delivering, are ignored.

A record may reach Trubrics through more than one door: the structlog processor, a `TrubricsHandler`, and
`TrubricsLogExporter` behind OpenTelemetry's logging handler (the SDK's, attached by
`OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true`, or opentelemetry-instrumentation-logging's), which
turns every stdlib record into an OpenTelemetry log record. Each is sent once, by the door nearest the
application:

1. the structlog processor sends every event it queued. The record the event becomes is recognised by
   the event dict it was made from: a `TrubricsHandler` in the same thread by the claim the processor
   leaves per thread, the log exporter (which may export later, on another thread) by a ticket the
   processor leaves when the event goes to a stdlib logger that reaches OpenTelemetry's handler;
2. else a `TrubricsHandler` on the record's logger or an ancestor it propagates to, whose level admits
   the record (and that existed when it was made), sends it. The exporter asks `sent_by_another_door`,
   which walks the same loggers, so the answer does not depend on the order of the handlers, nor on
   whether the exporter runs inside the logging call (a simple processor) or later (a batch processor);
3. else the log exporter sends it.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, Final

from trubrics_otel import _config
from trubrics_otel._batching import DELIVERING, BatchWorker
from trubrics_otel._events import Record
from trubrics_otel._fork import renew_in_child
from trubrics_otel._reporting import report
from trubrics_otel._stats import HANDLER_ERROR, NO_CONTENT, DeliveryStats
from trubrics_otel._transport import TrubricsClient, door_client
from trubrics_otel.mapping import MappingOptions
from trubrics_otel.mapping.logs import TRIGGER_KEYS, LogOutcome, interpret_log, is_candidate, unusable_warning

__all__ = ["TrubricsHandler", "TrubricsStructlogProcessor"]

_logger = logging.getLogger("trubrics_otel.handler")

_BLANK_RECORD: Final = logging.LogRecord("", logging.NOTSET, "", 0, "", (), None).__dict__
_PLAIN_SIZE: Final = len(_BLANK_RECORD)
"""How many attributes a record without extras has: a longer one may carry some."""
RECORD_ATTRIBUTES: Final = frozenset(_BLANK_RECORD) | {"message", "asctime", "taskName"}
"""What every `LogRecord` has (computed, never typed out); any other attribute is an `extra=` key."""

STRUCTLOG_KEYS: Final = frozenset(
    {"event", "exc_info", "stack_info", "stacklevel", "_record", "_from_structlog"}
)
"""Event dict keys that are structlog's machinery, not the event's data."""

IGNORED_LOGGERS: Final = ("trubrics_otel", "urllib3", "requests")
"""Loggers whose records never become events: ours, and those of the HTTP stack we send with."""
_IGNORED_NAMES: Final = frozenset(IGNORED_LOGGERS)
_IGNORED_PREFIXES: Final = tuple(f"{name}." for name in IGNORED_LOGGERS)

_EventDict = MutableMapping[str, Any]

_NO_CONTENT_EXPLANATION: Final = (
    "a model call's log record carried a prompt without a generation, or the reverse (drop_without_content)"
)


class _Claim(threading.local):
    """Per thread: the event dict the structlog processor just queued, so the handler skips its record."""

    event_dict: _EventDict | None = None
    event: object = None


class _Doors:
    """Which front doors this process has made: until two exist, no door looks for the other's records."""

    processors = False
    """A structlog processor exists: the handler looks for its claims, the log exporter for its tickets."""
    handlers = False
    """A `TrubricsHandler` exists: the log exporter leaves it the stdlib records it takes."""
    exporters = False
    """A `TrubricsLogExporter` exists: the processor leaves tickets for it."""


_claim = _Claim()
_doors = _Doors()


class _LogPipeline:
    """What the handler and the processor share: settings, the mapping, and the worker that delivers."""

    def __init__(
        self,
        convert: Callable[[Any, _LogPipeline], Record | None],
        settings: _config.Settings,
        client: TrubricsClient | None,
        *,
        clock: Callable[[], float],
        name: str,
    ) -> None:
        self.options = MappingOptions(**settings.mapping_fields())
        self.extras_as_properties = settings.extras_as_properties
        self.client = door_client(client, settings.transport)
        self.worker: BatchWorker[Any] = BatchWorker(
            self.client,
            lambda item: convert(item, self),
            max_queue_size=settings.queue_size,
            interval=settings.flush_interval,
            flush_timeout=settings.flush_timeout,
            clock=clock,
            name=name,
        )
        self._errors = 0
        # held weakly by the ledger: what this door still holds counts in the client's final account
        self.client.ledger.add_queue_source(self.queued)

    def queued(self) -> int:
        """How many records wait in this door's queue; the client's account names them as still queued."""
        return self.worker.queued

    def to_record(self, message: str, attributes: Mapping[str, object], timestamp_ns: int) -> Record | None:
        """Map on the worker's thread; count calls without their text (sent with a placeholder or dropped)."""
        outcome = interpret_log(
            message,
            attributes,
            timestamp_ns,
            self.options,
            extras_as_properties=self.extras_as_properties,
        )
        if outcome.missing_content:
            if outcome.record is None:
                self.client.ledger.dropped(NO_CONTENT, 1, _NO_CONTENT_EXPLANATION)
            else:
                self.client.ledger.incomplete(1)
        if outcome.unusable:
            warn_unusable(outcome)
        return outcome.record

    def failed(self) -> bool:
        """Count an unexpected error in the caller's thread; True the first time (to report it then)."""
        self._errors += 1
        self.client.ledger.dropped(HANDLER_ERROR, 1, "the logging handler failed on a record")
        return self._errors == 1


class TrubricsHandler(logging.Handler):
    """A logging handler that sends records with a recognised key to Trubrics; it ignores all others.

    `logging.getLogger().addHandler(TrubricsHandler())` is the whole set-up: every argument is optional
    and defaults to its `TRUBRICS_*` environment variable. Then
    `logger.info("Sign up", extra={"user_id": "u1"})` sends the event "Sign up" by user u1, and
    `logger.info("chat", extra={"user_id": "u1", "prompt": p, "generation": g, "assistant_id": "gpt-4o"})`
    an LLM event. The keys are listed in `trubrics_otel.mapping.logs`.

    Beside OpenTelemetry's logging handler and `TrubricsLogExporter`, the records this handler takes are
    its own, and the exporter leaves them to it (see the module docstring): each is sent once.

    Args:
        api_key: the project's API key (`TRUBRICS_API_KEY`).
        host: the API's base URL (`TRUBRICS_HOST`).
        client: a `TrubricsClient` to share with exporters (such as `exporter.client`); `api_key` and
            `host` are then unused. A client made by an exporter is closed by its last user, so it stays
            open while this handler sends; one the application made is left to it.
        level: the handler's level, as for any handler.
        default_user_id: the user of a record that names none (`TRUBRICS_DEFAULT_USER_ID`).
        default_assistant_id: the assistant of a call that names no model (`TRUBRICS_DEFAULT_ASSISTANT_ID`).
        missing_content: placeholder for a prompt or generation the record lacks (`TRUBRICS_MISSING_CONTENT`).
        drop_without_content: drop such calls instead (`TRUBRICS_DROP_WITHOUT_CONTENT`).
        copy_attributes: dotted attributes to copy into properties (`TRUBRICS_COPY_ATTRIBUTES`).
        extras_as_properties: send a record's other `extra=` keys as properties (`TRUBRICS_LOG_EXTRAS`).
        queue_size: the most records waiting for delivery (`TRUBRICS_LOG_QUEUE_SIZE`).
        flush_interval: seconds a record waits for its batch to fill (`TRUBRICS_LOG_FLUSH_INTERVAL`).
        flush_timeout: seconds `flush()`, `close()` and the exit flush wait (`TRUBRICS_LOG_FLUSH_TIMEOUT`).
        _clock: tests' seam: a monotonic clock in seconds.

    Raises:
        ConfigurationError: an argument is malformed.
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        *,
        client: TrubricsClient | None = None,
        level: int | str = logging.NOTSET,
        default_user_id: str | None = None,
        default_assistant_id: str | None = None,
        missing_content: str | None = None,
        drop_without_content: bool | None = None,
        copy_attributes: Sequence[str] | None = None,
        extras_as_properties: bool | None = None,
        queue_size: int | None = None,
        flush_interval: float | None = None,
        flush_timeout: float | None = None,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level)
        settings = _config.Settings.resolve(
            with_transport=client is None,
            api_key=api_key,
            host=host,
            default_user_id=default_user_id,
            default_assistant_id=default_assistant_id,
            missing_content=missing_content,
            drop_without_content=drop_without_content,
            copy_attributes=copy_attributes,
            extras_as_properties=extras_as_properties,
            queue_size=queue_size,
            flush_interval=flush_interval,
            flush_timeout=flush_timeout,
        )
        self._pipeline = _LogPipeline(
            _log_record_to_record, settings, client, clock=_clock, name="trubrics-logging-handler"
        )
        self._worker = self._pipeline.worker
        self._made_ns = time.time_ns()  # a record made before this is not this handler's (see _handler_takes)
        _doors.handlers = True

    def __repr__(self) -> str:
        return f"<TrubricsHandler {self.client.host} ({logging.getLevelName(self.level)})>"

    @property
    def client(self) -> TrubricsClient:
        """The transport this handler sends through."""
        return self._pipeline.client

    @property
    def options(self) -> MappingOptions:
        """The defaults and placeholders the mapping uses."""
        return self._pipeline.options

    def stats(self) -> DeliveryStats:
        """Return what has happened to the records so far (sent, failed, dropped by reason, ...)."""
        return self._worker.stats()

    def handle(self, record: logging.LogRecord) -> bool:
        """Queue the record if it carries a recognised key; ignore it cheaply otherwise.

        Unlike `logging.Handler.handle`, it takes no lock (the queue is thread-safe), and a record
        without extras, which is most of them, costs one length comparison.
        """
        attributes = record.__dict__
        if len(attributes) == _PLAIN_SIZE:
            return False  # no extras, so nothing to recognise (structlog's records carry two)
        if self.filters:
            checked = self.filter(record)
            if not checked:
                return False
            if isinstance(checked, logging.LogRecord):  # Python 3.12+: a filter may replace the record
                record, attributes = checked, checked.__dict__
        if not _has_trigger_extra(attributes):
            msg = record.msg  # structlog's ProcessorFormatter.wrap_for_formatter: msg IS the event dict
            if type(msg) is not dict or not _is_event_dict_candidate(msg):
                return False
        ignored = _ignored_loggers.get(record.name)
        if ignored is None:
            ignored = _ignored_logger(record.name)
        if ignored or DELIVERING.get():
            return False  # never turn our own delivery into records: that way lie loops and deadlocks
        if _doors.processors and _claimed_by_processor(record.msg):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record for the delivery thread. Never raises; a full queue drops and counts it.

        A message with arguments is formatted now, while the arguments are as they were logged (the
        worker maps the record up to `flush_interval` later); the `extra=` values are read then.
        """
        try:
            self._worker.put((record, _formatted(record)) if record.args else record)
        except Exception:  # noqa: BLE001 - the guard of last resort: logging never raises into the app
            if self._pipeline.failed():
                self.handleError(record)

    def flush(self, timeout: float | None = None) -> None:
        """Deliver what is queued, waiting at most `timeout` seconds (default `flush_timeout`).

        Call it before a process ends with `os._exit`, which skips the flush at exit. Under
        `logging.config.dictConfig()`, which holds logging's lock, it does not wait: the delivery thread
        sends everything at once instead. `stats()` tells what was sent.
        """
        self._worker.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, stop the delivery thread, and release the client.

        A client the handler made is closed when nothing else sends through it any more. Records that
        arrive afterwards are dropped and counted as `dropped["closed"]`.
        """
        try:
            self._worker.close(timeout)
        finally:
            super().close()


def warn_unusable(outcome: LogOutcome) -> None:
    """Warn, once per key in this process, about a `latency` or `timestamp` the mapping could not read."""
    for key, type_name in outcome.unusable:
        _config.warn_once(f"unusable log key {key}", unusable_warning(key, type_name))


def _has_trigger_extra(attributes: dict[str, object], triggers: frozenset[str] = TRIGGER_KEYS) -> bool:
    """Whether an `extra=` key is a trigger key or a dotted convention key (`gen_ai.*`, `user.id`, ...).

    LogRecord.__init__ sets the standard attributes and makeRecord then adds the extras, so the extras
    are the last keys: they are read from the end, and only as many as there are.
    """
    left = len(attributes) - _PLAIN_SIZE
    for key in reversed(attributes):
        if left <= 0:
            return False
        if key in triggers or "." in key:
            return True
        left -= 1
    return False


_ignored_loggers: dict[str, bool] = {}


def _ignored_logger(name: str) -> bool:
    ignored = name in _IGNORED_NAMES or name.startswith(_IGNORED_PREFIXES)
    _ignored_loggers[name] = ignored
    return ignored


def _formatted(record: logging.LogRecord) -> str:
    """The record's message with its arguments, as `getMessage()` makes it; never raises."""
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a bad %-format must not cost the event
        return str(record.msg)


def _log_record_to_record(
    item: logging.LogRecord | tuple[logging.LogRecord, str], pipeline: _LogPipeline
) -> Record | None:
    """Map a queued `LogRecord`, or a record and the message formatted when it was logged (on the worker)."""
    record, message = item if isinstance(item, tuple) else (item, None)
    attributes = dict(record.__dict__)  # one atomic copy: another handler may still be adding to it
    timestamp_ns = int(attributes["created"] * 1e9)
    msg = attributes.get("msg")
    if type(msg) is dict:
        return _event_dict_to_record((msg, timestamp_ns), pipeline)
    if message is None:
        message = msg if type(msg) is str else _formatted(record)  # no arguments: nothing to format
    extras = {key: value for key, value in attributes.items() if key not in RECORD_ATTRIBUTES}
    return pipeline.to_record(message, extras, timestamp_ns)


# --- structlog ---------------------------------------------------------------------------------


def _is_event_dict_candidate(event_dict: Mapping[str, object]) -> bool:
    return is_candidate(key for key in event_dict if key != "event")


def _event_dict_to_record(item: tuple[Mapping[str, Any], int], pipeline: _LogPipeline) -> Record | None:
    """Map a structlog event dict (on the worker's thread): its `event` is the message."""
    event_dict, timestamp_ns = item
    event = event_dict.get("event")
    message = event if isinstance(event, str) else ("" if event is None else str(event))
    attributes = {key: value for key, value in event_dict.items() if key not in STRUCTLOG_KEYS}
    return pipeline.to_record(message, attributes, timestamp_ns)


def _claimed_by_processor(msg: object) -> bool:
    """Whether this record is a structlog event the processor already queued (in this thread).

    `ProcessorFormatter.wrap_for_formatter` makes the very event dict the record's `msg`;
    `render_to_log_kwargs` pops `event` out of it to make the `msg`. Either way the record points back
    at what the processor saw, which a record from anywhere else cannot do.
    """
    claimed = _claim.event_dict
    if claimed is None:
        return False
    event = _claim.event
    if (
        msg is claimed
        or (msg is event and "event" not in claimed)
        or (type(msg) is dict and "event" in msg and msg["event"] is event)
    ):
        _claim.event_dict = _claim.event = None
        return True
    return False


class TrubricsStructlogProcessor:
    """A structlog processor that sends events with a recognised key to Trubrics.

    Add it to structlog's processors, after `structlog.contextvars.merge_contextvars` (so values bound
    with `bind_contextvars` come along) and before the renderer:

        structlog.configure(processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            TrubricsStructlogProcessor(),
            structlog.processors.JSONRenderer(),
        ])
        structlog.get_logger().info("Sign up", user_id="u1")  # the event "Sign up" by u1

    It queues a copy of the event dict and returns the dict unchanged; a thread of its own delivers, on
    a timer even when the application is quiet. The event's `event` (the message) is the event's name;
    the other keys are those of `trubrics_otel.mapping.logs`. It takes the same arguments as
    `TrubricsHandler` (without `level`), and it needs nothing from structlog to be imported.
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        *,
        client: TrubricsClient | None = None,
        default_user_id: str | None = None,
        default_assistant_id: str | None = None,
        missing_content: str | None = None,
        drop_without_content: bool | None = None,
        copy_attributes: Sequence[str] | None = None,
        extras_as_properties: bool | None = None,
        queue_size: int | None = None,
        flush_interval: float | None = None,
        flush_timeout: float | None = None,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = _config.Settings.resolve(
            with_transport=client is None,
            api_key=api_key,
            host=host,
            default_user_id=default_user_id,
            default_assistant_id=default_assistant_id,
            missing_content=missing_content,
            drop_without_content=drop_without_content,
            copy_attributes=copy_attributes,
            extras_as_properties=extras_as_properties,
            queue_size=queue_size,
            flush_interval=flush_interval,
            flush_timeout=flush_timeout,
        )
        self._pipeline = _LogPipeline(
            _event_dict_to_record, settings, client, clock=_clock, name="trubrics-structlog"
        )
        self._worker = self._pipeline.worker
        _doors.processors = True

    def __repr__(self) -> str:
        return f"<TrubricsStructlogProcessor {self.client.host}>"

    def __call__(self, logger: object, method_name: str, event_dict: _EventDict) -> _EventDict:
        """Queue a copy of the event dict if it carries a recognised key; return the dict unchanged."""
        try:
            if (
                _is_event_dict_candidate(event_dict)
                and not DELIVERING.get()
                and self._worker.put((dict(event_dict), time.time_ns()))
            ):
                event = event_dict.get("event")
                _claim.event_dict = event_dict
                _claim.event = event
                if _doors.exporters and isinstance(logger, logging.Logger):
                    _tickets.issue(logger, event_dict, event)
        except Exception:  # noqa: BLE001 - logging never raises into the app
            if self._pipeline.failed():
                report(
                    _logger,
                    logging.WARNING,
                    "Trubrics: the structlog processor failed on an event",
                    key="structlog-processor",
                    exc_info=True,
                )
        return event_dict

    @property
    def client(self) -> TrubricsClient:
        """The transport this processor sends through."""
        return self._pipeline.client

    def stats(self) -> DeliveryStats:
        """Return what has happened to the events so far (sent, failed, dropped by reason, ...)."""
        return self._worker.stats()

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver what is queued within `timeout` seconds (default `flush_timeout`); True if all was sent."""
        return self._worker.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is queued, stop, and release the client (closed by its last user). Idempotent."""
        return self._worker.close(timeout)


# --- one door per record --------------------------------------------------------------------------


def note_log_exporter() -> None:
    """Note that a `TrubricsLogExporter` exists: from now on the structlog processor leaves it tickets."""
    _doors.exporters = True


def sent_by_another_door(logger_name: str, levelno: int, created_ns: int, body: object) -> bool:
    """Whether a stdlib record the log exporter received is sent by the structlog processor or a handler.

    The log exporter asks this of each record OpenTelemetry's logging handler made from a stdlib record,
    with what that handler kept of it: the logger's name (the record's instrumentation scope), its level,
    its time and its body. The processor's tickets answer for the events it queued; for the rest, the
    loggers the record propagated through are walked for a `TrubricsHandler` that takes it, as
    `Logger.callHandlers` walks them. That handler's filters are not run here: a record they refuse is
    sent by neither door.
    """
    if _doors.processors and _tickets.redeem(logger_name, body):
        return True
    if not _doors.handlers:
        return False
    logger = _existing_logger(logger_name)
    return logger is not None and _handler_takes(logger, levelno, created_ns)


def _existing_logger(name: str) -> logging.Logger | None:
    """The stdlib logger of that name if there is one; never makes one, as `logging.getLogger` would."""
    if name == logging.root.name:
        return logging.root
    found = logging.root.manager.loggerDict.get(name)
    return found if isinstance(found, logging.Logger) else None


def _handler_takes(logger: logging.Logger, levelno: int, created_ns: int) -> bool:
    """Whether a `TrubricsHandler` that `logger`'s records reach takes a record of this level and time."""
    if _ignored_logger(logger.name):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if (
                isinstance(handler, TrubricsHandler)
                and levelno >= handler.level
                and handler._made_ns <= created_ns
            ):
                return True
        current = current.parent if current.propagate else None
    return False


def _reaches_opentelemetry(logger: logging.Logger) -> bool:
    """Whether `logger`'s records reach one of OpenTelemetry's logging handlers (the SDK's, or contrib's)."""
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if type(handler).__module__.startswith("opentelemetry."):
                return True
        current = current.parent if current.propagate else None
    return False


class _Ticket:
    """An event the structlog processor queued, on its way to a stdlib logger that reaches OpenTelemetry."""

    __slots__ = ("event", "event_dict", "logger_name", "made", "used")

    def __init__(self, logger_name: str, event_dict: _EventDict, event: object, made: float) -> None:
        self.logger_name = logger_name
        self.event_dict = event_dict
        self.event = event
        self.made = made
        self.used = False

    def matches(self, logger_name: str, body: object) -> bool:
        """Whether a log record with this scope and body was made from this ticket's event dict.

        `ProcessorFormatter.wrap_for_formatter` makes the event dict itself the body; with
        `render_to_log_kwargs` the body is the `event` it popped out of the dict (a dict that still holds
        its `event` was never rendered, as when a later processor dropped it).
        """
        if logger_name != self.logger_name:
            return False
        return body is self.event_dict or (body is self.event and "event" not in self.event_dict)


class _Tickets:
    """The processor's tickets, found by the identity of what becomes the log record's body.

    A ticket is kept until its record is exported, for at most `_TICKET_LIFETIME` seconds and
    `_MAX_TICKETS` at a time (the oldest go first): one whose record never comes (a processor after
    ours dropped the event) costs nothing but its place. Each holds its event dict, so no identity is
    reused while it waits. A used ticket leaves the index at once and the queue when it reaches its
    front: tickets are used in about the order they were issued.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._renew()

    def _renew(self) -> None:
        # a forked child exports none of its parent's records, and a lock held at the fork stays held
        self._lock = threading.Lock()
        self._order: collections.deque[_Ticket] = collections.deque()
        self._by_body: dict[int, list[_Ticket]] = {}

    def __len__(self) -> int:
        """How many tickets wait for their record."""
        with self._lock:
            return sum(1 for ticket in self._order if not ticket.used)

    def issue(self, logger: logging.Logger, event_dict: _EventDict, event: object) -> None:
        """Leave a ticket for the record `event_dict` becomes, if that record reaches OpenTelemetry."""
        if not _reaches_opentelemetry(logger):
            return
        ticket = _Ticket(logger.name, event_dict, event, self._clock())
        with self._lock:
            self._expire(ticket.made)
            self._order.append(ticket)
            self._by_body.setdefault(id(event_dict), []).append(ticket)
            if event is not None:
                self._by_body.setdefault(id(event), []).append(ticket)

    def redeem(self, logger_name: str, body: object) -> bool:
        """Whether a ticket was left for this record; the ticket is used up."""
        with self._lock:
            for ticket in self._by_body.get(id(body), ()):
                if ticket.matches(logger_name, body):
                    ticket.used = True
                    self._unindex(ticket)
                    return True
        return False

    def _expire(self, now: float) -> None:
        order = self._order
        while order and (
            order[0].used or len(order) >= _MAX_TICKETS or now - order[0].made > _TICKET_LIFETIME
        ):
            self._unindex(order.popleft())

    def _unindex(self, ticket: _Ticket) -> None:
        for key in (id(ticket.event_dict), id(ticket.event)):
            waiting = self._by_body.get(key)
            if waiting is not None and ticket in waiting:
                waiting.remove(ticket)
                if not waiting:
                    del self._by_body[key]


_MAX_TICKETS: Final = 10_000
"""The most tickets kept at once, as many as a processor's default queue holds."""
_TICKET_LIFETIME: Final = 120.0
"""Seconds a ticket waits for its record: more than a batch processor's delay and an export's retries."""
_tickets = _Tickets()
renew_in_child(_tickets._renew)
