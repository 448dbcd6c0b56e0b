"""One door per log record: which front door sends a record that could reach Trubrics through several.

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

Until a process has made two kinds of door, none of them looks for the other's records: the rule costs
nothing to an application with one door. No door turns the package's own records (or those of the HTTP
stack it sends with) into events: `is_ignored_logger`.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from types import FrameType
from typing import Any, Final

from trubrics_otel._fork import renew_in_child

__all__ = [
    "IGNORED_LOGGERS",
    "EventDict",
    "HandlerDoor",
    "claimed_by_processor",
    "doors",
    "is_ignored_logger",
    "note_log_exporter",
    "note_queued_event",
    "sent_by_another_door",
]

EventDict = MutableMapping[str, Any]

IGNORED_LOGGERS: Final = ("trubrics_otel", "urllib3", "requests")
"""Loggers whose records never become events: ours, and those of the HTTP stack we send with."""
_IGNORED_NAMES: Final = frozenset(IGNORED_LOGGERS)
_IGNORED_PREFIXES: Final = tuple(f"{name}." for name in IGNORED_LOGGERS)

_ignored_loggers: dict[str, bool] = {}


def is_ignored_logger(name: str) -> bool:
    """Whether the records of the logger `name` never become events (see `IGNORED_LOGGERS`)."""
    ignored = _ignored_loggers.get(name)
    if ignored is None:
        ignored = _ignored_loggers[name] = name in _IGNORED_NAMES or name.startswith(_IGNORED_PREFIXES)
    return ignored


class _Claim(threading.local):
    """Per thread: the event dict the structlog processor just queued, so the handler skips its record.

    `frame` is structlog's outermost frame of that logging call: the record made from the event is made
    while it runs, so a claim whose frame is no longer on the stack is stale (the record was never made:
    its level was filtered out, a later processor dropped the event) and claims nothing.
    """

    event_dict: EventDict | None = None
    event: object = None
    frame: FrameType | None = None


class _Doors:
    """Which front doors this process has made: until two exist, no door looks for the other's records."""

    processors = False
    """A structlog processor exists: the handler looks for its claims, the log exporter for its tickets."""
    handlers = False
    """A `TrubricsHandler` exists: the log exporter leaves it the stdlib records it takes."""
    exporters = False
    """A `TrubricsLogExporter` exists: the processor leaves tickets for it."""


_claim = _Claim()
doors = _Doors()


class HandlerDoor(logging.Handler):
    """A logging handler that is a front door (`TrubricsHandler`): the log exporter leaves it its records.

    It takes the records its level admits that were made after it was (`sent_by_another_door`).
    """

    def __init__(self, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)
        self._made_ns = time.time_ns()  # a record made before this is not this handler's
        doors.handlers = True

    def takes(self, levelno: int, created_ns: int) -> bool:
        """Whether this handler sends a record of this level, made at this time (in epoch nanoseconds)."""
        return levelno >= self.level and self._made_ns <= created_ns


def note_queued_event(logger: object, event_dict: EventDict, caller: FrameType | None = None) -> None:
    """Note that the structlog processor queued `event_dict`: no other door sends the record it becomes.

    A `TrubricsHandler` in this thread knows that record by the claim left here, valid while the logging
    call that made the event runs (`caller` is the frame that called the processor); the log exporter by
    a ticket, left when the event goes to a stdlib logger whose records reach OpenTelemetry.
    """
    event = event_dict.get("event")
    _claim.event_dict = event_dict
    _claim.event = event
    _claim.frame = _logging_call(caller) if doors.handlers else None
    if doors.exporters and isinstance(logger, logging.Logger):
        _tickets.issue(logger, event_dict, event)


def claimed_by_processor(msg: object) -> bool:
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
        frame = _claim.frame
        _claim.event_dict = _claim.event = _claim.frame = None
        return frame is None or _is_running(frame)  # else a stale claim: this record is another one
    return False


def _logging_call(caller: FrameType | None) -> FrameType | None:
    """The frame that runs as long as the logging call that made the event, from the processor's caller.

    That is structlog's outermost frame above the processor (the bound logger's method), or the caller
    itself when structlog did not call the processor.
    """
    found = caller
    frame = caller
    while frame is not None and frame.f_globals.get("__name__", "").startswith("structlog"):
        found = frame
        frame = frame.f_back
    return found


def _is_running(frame: FrameType) -> bool:
    """Whether `frame` is on the calling thread's stack (a record is made a few frames below its call)."""
    current: FrameType | None = sys._getframe(1)
    for _ in range(_MAX_DEPTH):
        if current is None:
            return False
        if current is frame:
            return True
        current = current.f_back
    return False


_MAX_DEPTH: Final = 64
"""How far up a handler looks for the logging call of a claim: logging's own frames are about five."""


def note_log_exporter() -> None:
    """Note that a `TrubricsLogExporter` exists: from now on the structlog processor leaves it tickets."""
    doors.exporters = True


def sent_by_another_door(logger_name: str, levelno: int, created_ns: int, body: object) -> bool:
    """Whether a stdlib record the log exporter received is sent by the structlog processor or a handler.

    The log exporter asks this of each record OpenTelemetry's logging handler made from a stdlib record,
    with what that handler kept of it: the logger's name (the record's instrumentation scope), its level,
    its time and its body. The processor's tickets answer for the events it queued; for the rest, the
    loggers the record propagated through are walked for a `TrubricsHandler` that takes it, as
    `Logger.callHandlers` walks them. That handler's filters are not run here: a record they refuse is
    sent by neither door.
    """
    if doors.processors and _tickets.redeem(logger_name, body):
        return True
    if not doors.handlers:
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
    if is_ignored_logger(logger.name):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if isinstance(handler, HandlerDoor) and handler.takes(levelno, created_ns):
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

    def __init__(self, logger_name: str, event_dict: EventDict, event: object, made: float) -> None:
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

    def issue(self, logger: logging.Logger, event_dict: EventDict, event: object) -> None:
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
