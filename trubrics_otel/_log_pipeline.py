"""What the logging handler and the structlog processor share: their delivery core and their worker.

Each of the two front doors of Python logging builds one `LogPipeline` from its `Settings`. What runs in
the application's thread is the door's own test and an enqueue into the pipeline's `BatchWorker`; on the
worker's thread each record becomes plain log data and goes through the delivery core's translator
(`DeliveryCore.log_records`), the one translation path every door uses, which counts what it cannot send
(`dropped["no_content"]`, placeholders) in the client's ledger. The worker then sends the records in
batches of 100 through the core's client.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from trubrics_otel import _config
from trubrics_otel._batching import BatchWorker
from trubrics_otel._delivery.core import core_for, warn_unusable
from trubrics_otel._delivery.join import ContentJoin
from trubrics_otel._events import Record
from trubrics_otel._stats import HANDLER_ERROR
from trubrics_otel._transport import TrubricsClient
from trubrics_otel.mapping import LogData
from trubrics_otel.mapping.logs import TRIGGER_KEYS

__all__ = [
    "SMALL_VALUE",
    "STRUCTLOG_KEYS",
    "LogPipeline",
    "estimate_size",
    "event_dict_size",
    "event_dict_to_record",
    "is_event_dict_candidate",
    "warn_unusable",
]

STRUCTLOG_KEYS: Final = frozenset(
    {"event", "exc_info", "stack_info", "stacklevel", "_record", "_from_structlog"}
)
"""Event dict keys that are structlog's machinery, not the event's data."""


class LogPipeline:
    """What the handler and the processor share: settings, the mapping, and the worker that delivers."""

    def __init__(
        self,
        convert: Callable[[Any, LogPipeline], Record | None],
        settings: _config.Settings,
        client: TrubricsClient | None,
        *,
        size_of: Callable[[Any], int],
        clock: Callable[[], float],
        name: str,
    ) -> None:
        # a join of its own that holds nothing: a stdlib record is sent as it is, never held for a span
        self.core = core_for(settings, client, ContentJoin(window=0))
        self.options = self.core.options
        self.extras_as_properties = settings.extras_as_properties
        self.client = self.core.client
        self.worker: BatchWorker[Any] = BatchWorker(
            self.client,
            lambda item: convert(item, self),
            max_queue_size=settings.queue_size,
            interval=settings.flush_interval,
            flush_timeout=settings.flush_timeout,
            max_queue_bytes=_config.LOG_QUEUE_BYTES.resolve(),
            size_of=size_of,
            clock=clock,
            name=name,
        )
        self._errors = 0
        self._closed = False
        # held weakly by the ledger: what this door still holds counts in the client's final account
        self.client.ledger.add_queue_source(self.queued)

    def queued(self) -> int:
        """How many records wait in this door's queue; the client's account names them as still queued."""
        return self.worker.queued

    def to_record(self, message: str, attributes: Mapping[str, object], timestamp_ns: int) -> Record | None:
        """Map one record on the worker's thread, through the core's translator."""
        log = LogData(event_name=None, body=message, attributes=attributes, timestamp=timestamp_ns)
        records = self.core.log_records([log], extras_as_properties=self.extras_as_properties)
        return records[0] if records else None

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is queued, stop the worker, and let the core go. Idempotent."""
        try:
            return self.worker.close(timeout)
        finally:
            if not self._closed:
                self._closed = True
                self.core.release()
                self.worker.settle()  # the core's release may be what shut the client down

    def failed(self) -> bool:
        """Count an unexpected error in the caller's thread; True the first time (to report it then)."""
        self._errors += 1
        self.client.ledger.dropped(HANDLER_ERROR, 1, "the logging handler failed on a record")
        return self._errors == 1


def estimate_size(values: Iterable[object], depth: int = 2) -> int:
    """A cheap estimate of the bytes of text in `values`, for the queue's byte bound (caller's thread).

    Strings and bytes count their length; lists, tuples and dicts (GenAI messages) what they hold, two
    levels deep. A longer list counts its last `_LOOKED_AT // 2` items (a conversation's latest turns,
    its prompt) as they are and the others as its first ones; a longer dict its first `_LOOKED_AT`
    values, scaled up to its length. Anything else counts a few bytes. Its cost is bounded whatever the
    conversation's length, and it never calls `str()` or `repr()`: that could cost the caller anything.
    """
    total = 0
    for value in values:
        kind = type(value)
        if kind is str or kind is bytes:
            total += len(value)  # type: ignore[arg-type]
        elif depth and (kind is list or kind is tuple or kind is dict):
            items: Any = value.values() if kind is dict else value  # type: ignore[attr-defined]
            count = len(items)
            if count <= _LOOKED_AT:
                total += estimate_size(items, depth - 1)
                continue
            if kind is dict:
                total += estimate_size(itertools.islice(items, _LOOKED_AT), depth - 1) * count // _LOOKED_AT
            else:  # the latest turns as they are (a long prompt is the last), the earlier like the first
                half = _LOOKED_AT // 2
                total += estimate_size(items[-half:], depth - 1)
                total += estimate_size(items[:half], depth - 1) * (count - half) // half
        else:
            total += SMALL_VALUE
    return total


_LOOKED_AT: Final = 4
"""The items of a list or dict an estimate reads; the rest are taken to be like them."""
SMALL_VALUE: Final = 16
"""What a number, a flag or an object counts for in an estimate."""


def event_dict_size(item: tuple[Mapping[str, Any], int]) -> int:
    """The estimated bytes of a queued structlog event dict."""
    return estimate_size(item[0].values())


def is_event_dict_candidate(event_dict: Mapping[str, object]) -> bool:
    """Whether a structlog event dict carries a key the mapping recognises (its `event` is the message).

    `is_candidate` of its keys but `event`, spelled for the processor's hot path: a few dict lookups for
    the plain trigger keys, then one plain loop over the keys for a dotted one.
    """
    for key in _EVENT_DICT_TRIGGERS:
        if key in event_dict:
            return True
    for key in event_dict:  # noqa: SIM110 - a plain loop: any() of a generator costs twice as much
        if type(key) is str and "." in key:
            return True
    return False


_EVENT_DICT_TRIGGERS: Final = tuple(sorted(TRIGGER_KEYS - {"event"}))


def event_dict_to_record(item: tuple[Mapping[str, Any], int], pipeline: LogPipeline) -> Record | None:
    """Map a structlog event dict (on the worker's thread): its `event` is the message."""
    event_dict, timestamp_ns = item
    event = event_dict.get("event")
    message = event if isinstance(event, str) else ("" if event is None else str(event))
    attributes = {key: value for key, value in event_dict.items() if key not in STRUCTLOG_KEYS}
    return pipeline.to_record(message, attributes, timestamp_ns)
