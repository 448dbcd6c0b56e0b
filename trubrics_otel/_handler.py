"""`TrubricsHandler`: any Python logger as a front door into Trubrics.

It sits on any logger, the root one included: records that carry a recognised key (a user id, an event
name, a prompt and generation, a `trubrics.*` or GenAI key; see `trubrics_otel.mapping.logs`) become
events and LLM events, and every other record is ignored at the cost of a length comparison. The
structlog processor (`_structlog`) is the same door inside structlog's own chain; what both share is in
`_log_pipeline`.

What runs in the application's thread is kept to a test and an enqueue: the record goes into a
`BatchWorker`, whose thread maps and sends it. The handler never raises, blocks, or turns its own
delivery into records: records of the `trubrics_otel`, `urllib3` and `requests` loggers, and every record
made while delivering, are ignored. A record that could reach Trubrics through another door too (the
structlog processor, the log exporter) is sent once: `_log_doors` holds that rule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Final

from trubrics_otel import _config
from trubrics_otel._events import Record
from trubrics_otel._log_doors import (
    HandlerDoor,
    claimed_by_processor,
    doors,
    is_ignored_logger,
    note_log_exporter,
    sent_by_another_door,
)
from trubrics_otel._log_pipeline import (
    SMALL_VALUE,
    STRUCTLOG_KEYS,
    LogPipeline,
    estimate_size,
    event_dict_to_record,
    is_event_dict_candidate,
    warn_unusable,
)
from trubrics_otel._stats import DeliveryStats
from trubrics_otel._threads import DELIVERING
from trubrics_otel._transport import TrubricsClient
from trubrics_otel.mapping import MappingOptions
from trubrics_otel.mapping.logs import TRIGGER_KEYS

# The log exporter imports the door rule and the shared mapping from here, where they always were.
__all__ = ["STRUCTLOG_KEYS", "TrubricsHandler", "note_log_exporter", "sent_by_another_door", "warn_unusable"]

_BLANK_RECORD: Final = logging.LogRecord("", logging.NOTSET, "", 0, "", (), None).__dict__
_PLAIN_SIZE: Final = len(_BLANK_RECORD)
"""How many attributes a record without extras has: a longer one may carry some."""
RECORD_ATTRIBUTES: Final = frozenset(_BLANK_RECORD) | {"message", "asctime", "taskName"}
"""What every `LogRecord` has (computed, never typed out); any other attribute is an `extra=` key."""


class TrubricsHandler(HandlerDoor):
    """A logging handler that sends records with a recognised key to Trubrics; it ignores all others.

    `logging.getLogger().addHandler(TrubricsHandler())` is the whole set-up: every argument is optional
    and defaults to its `TRUBRICS_*` environment variable. Then
    `logger.info("Sign up", extra={"user_id": "u1"})` sends the event "Sign up" by user u1, and
    `logger.info("chat", extra={"user_id": "u1", "prompt": p, "generation": g, "assistant_id": "gpt-4o"})`
    an LLM event. The keys are listed in `trubrics_otel.mapping.logs`.

    Beside OpenTelemetry's logging handler and `TrubricsLogExporter`, the records this handler takes are
    its own, and the exporter leaves them to it (see `trubrics_otel._log_doors`): each is sent once.

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
        self._pipeline = LogPipeline(
            _log_record_to_record,
            settings,
            client,
            size_of=_record_size,
            clock=_clock,
            name="trubrics-logging-handler",
        )
        self._worker = self._pipeline.worker

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
        without extras, which is most of them, costs one length comparison. The handler's filters run
        first, on every record, as on any handler: a filter may add the attributes that make a record
        an event (`record.user_id = ...` from the request's context).
        """
        if self.filters:
            checked = self.filter(record)
            if not checked:
                return False
            if isinstance(checked, logging.LogRecord):  # Python 3.12+: a filter may replace the record
                record = checked
        attributes = record.__dict__
        if len(attributes) == _PLAIN_SIZE:
            return False  # no extras, so nothing to recognise (structlog's records carry two)
        if not _has_trigger_extra(attributes):
            msg = record.msg  # structlog's ProcessorFormatter.wrap_for_formatter: msg IS the event dict
            if type(msg) is not dict or not is_event_dict_candidate(msg):
                return False
        if is_ignored_logger(record.name) or DELIVERING.get():
            return False  # never turn our own delivery into records: that way lie loops and deadlocks
        if doors.processors and claimed_by_processor(record.msg):
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
            self._pipeline.close(timeout)
        finally:
            super().close()


def _has_trigger_extra(attributes: dict[str, object], triggers: frozenset[str] = TRIGGER_KEYS) -> bool:
    """Whether an `extra=` key is a trigger key or a dotted convention key (`gen_ai.*`, `user.id`, ...).

    No trigger key is a `LogRecord` attribute, so one present is an extra: a few dict lookups decide the
    common case. Otherwise the extras are read for a dotted key: LogRecord.__init__ sets the standard
    attributes and makeRecord then adds the extras, so they are the last keys, read from the end, and
    only as many as there are.
    """
    for key in _TRIGGERS:
        if key in attributes:
            return True
    left = len(attributes) - _PLAIN_SIZE
    for key in reversed(attributes):
        if left <= 0:
            return False
        if key in triggers or "." in key:
            return True
        left -= 1
    return False


_TRIGGERS: Final = tuple(sorted(TRIGGER_KEYS - RECORD_ATTRIBUTES))
"""The trigger keys, none of which a `LogRecord` has of its own (kept so by construction)."""


def _record_size(item: logging.LogRecord | tuple[logging.LogRecord, str]) -> int:
    """The estimated bytes of a queued record's text: its message and its `extra=` values (the last keys).

    It runs in the caller's thread for every queued record: the common values (text, numbers, flags)
    are counted inline, and only containers go through `estimate_size`.
    """
    record = item[0] if isinstance(item, tuple) else item
    msg = record.msg
    total = len(msg) if type(msg) is str else estimate_size((msg,))
    for value in list(record.__dict__.values())[_PLAIN_SIZE:]:
        kind = type(value)
        if kind is str:
            total += len(value)
        elif kind is int or kind is float or kind is bool or value is None:
            total += SMALL_VALUE
        else:
            total += estimate_size((value,))
    return total


def _formatted(record: logging.LogRecord) -> str:
    """The record's message with its arguments, as `getMessage()` makes it; never raises."""
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a bad %-format must not cost the event
        return str(record.msg)


def _log_record_to_record(
    item: logging.LogRecord | tuple[logging.LogRecord, str], pipeline: LogPipeline
) -> Record | None:
    """Map a queued `LogRecord`, or a record and the message formatted when it was logged (on the worker)."""
    record, message = item if isinstance(item, tuple) else (item, None)
    attributes = dict(record.__dict__)  # one atomic copy: another handler may still be adding to it
    timestamp_ns = int(attributes["created"] * 1e9)
    msg = attributes.get("msg")
    if type(msg) is dict:
        return event_dict_to_record((msg, timestamp_ns), pipeline)
    if message is None:
        message = msg if type(msg) is str else _formatted(record)  # no arguments: nothing to format
    extras = {key: value for key, value in attributes.items() if key not in RECORD_ATTRIBUTES}
    return pipeline.to_record(message, extras, timestamp_ns)
