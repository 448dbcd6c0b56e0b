"""The structlog processor: structlog's own processor chain as a front door into Trubrics.

It queues a copy of each event dict that carries a recognised key and returns the dict unchanged; the
log pipeline's thread maps and sends it. It needs nothing from structlog to be imported (it is a plain
callable); `trubrics_otel.integrations.structlog` is where structlog users import it from. The events it
queued are not sent again by a `TrubricsHandler` or the log exporter they reach (`_log_doors`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence

from trubrics_otel import _config
from trubrics_otel._log_doors import EventDict, doors, note_queued_event
from trubrics_otel._log_pipeline import (
    LogPipeline,
    event_dict_size,
    event_dict_to_record,
    is_event_dict_candidate,
)
from trubrics_otel._reporting import report
from trubrics_otel._stats import DeliveryStats
from trubrics_otel._threads import DELIVERING
from trubrics_otel._transport import TrubricsClient

__all__ = ["TrubricsStructlogProcessor"]

_logger = logging.getLogger("trubrics_otel.handler")


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
        self._pipeline = LogPipeline(
            event_dict_to_record,
            settings,
            client,
            size_of=event_dict_size,
            clock=_clock,
            name="trubrics-structlog",
        )
        self._worker = self._pipeline.worker
        doors.processors = True

    def __repr__(self) -> str:
        return f"<TrubricsStructlogProcessor {self.client.host}>"

    def __call__(self, logger: object, method_name: str, event_dict: EventDict) -> EventDict:
        """Queue a copy of the event dict if it carries a recognised key; return the dict unchanged."""
        try:
            if (
                is_event_dict_candidate(event_dict)
                and not DELIVERING.get()
                and self._worker.put((dict(event_dict), time.time_ns()))
            ):
                note_queued_event(logger, event_dict, sys._getframe(1))
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
        return self._pipeline.close(timeout)
