"""What the logging handler and the structlog processor share: settings, the mapping, the delivery worker.

Each of the two front doors of Python logging builds one `LogPipeline` from its `Settings`. What runs in
the application's thread is the door's own test and an enqueue into the pipeline's `BatchWorker`; the
mapping (`to_record`) runs on the worker's thread, and counts what it cannot send (`dropped["no_content"]`,
placeholders) in the client's ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from trubrics_otel import _config
from trubrics_otel._batching import BatchWorker
from trubrics_otel._events import Record
from trubrics_otel._stats import HANDLER_ERROR, NO_CONTENT
from trubrics_otel._transport import TrubricsClient, door_client
from trubrics_otel.mapping import MappingOptions
from trubrics_otel.mapping.logs import LogOutcome, interpret_log, is_candidate, unusable_warning

__all__ = [
    "STRUCTLOG_KEYS",
    "LogPipeline",
    "event_dict_to_record",
    "is_event_dict_candidate",
    "warn_unusable",
]

STRUCTLOG_KEYS: Final = frozenset(
    {"event", "exc_info", "stack_info", "stacklevel", "_record", "_from_structlog"}
)
"""Event dict keys that are structlog's machinery, not the event's data."""

_NO_CONTENT_EXPLANATION: Final = (
    "a model call's log record carried a prompt without a generation, or the reverse (drop_without_content)"
)


class LogPipeline:
    """What the handler and the processor share: settings, the mapping, and the worker that delivers."""

    def __init__(
        self,
        convert: Callable[[Any, LogPipeline], Record | None],
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


def warn_unusable(outcome: LogOutcome) -> None:
    """Warn, once per key in this process, about a `latency` or `timestamp` the mapping could not read."""
    for key, type_name in outcome.unusable:
        _config.warn_once(f"unusable log key {key}", unusable_warning(key, type_name))


def is_event_dict_candidate(event_dict: Mapping[str, object]) -> bool:
    """Whether a structlog event dict carries a key the mapping recognises (its `event` is the message)."""
    return is_candidate(key for key in event_dict if key != "event")


def event_dict_to_record(item: tuple[Mapping[str, Any], int], pipeline: LogPipeline) -> Record | None:
    """Map a structlog event dict (on the worker's thread): its `event` is the message."""
    event_dict, timestamp_ns = item
    event = event_dict.get("event")
    message = event if isinstance(event, str) else ("" if event is None else str(event))
    attributes = {key: value for key, value in event_dict.items() if key not in STRUCTLOG_KEYS}
    return pipeline.to_record(message, attributes, timestamp_ns)
