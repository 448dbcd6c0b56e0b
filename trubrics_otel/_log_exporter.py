"""`TrubricsLogExporter`: the logs SDK's exporter, a thin adapter handing plain log data to a delivery core.

It turns each OpenTelemetry log record into `LogData` (the only place that touches SDK log records) and
hands the batch to its core (`trubrics_otel._delivery`), which translates and sends: records whose
attributes carry recognised keys become events and LLM events, and GenAI content records
(`gen_ai.user.message`, `gen_ai.choice`, `gen_ai.client.inference.operation.details`, ...) complete the call
of the span they name, through the content join the span exporter waits in.

A record OpenTelemetry's logging handler made from a stdlib record is left to the structlog processor or a
`TrubricsHandler` when one of them sends it (`trubrics_otel._log_doors.sent_by_another_door`): each record
reaches Trubrics once.

`export()` never raises. It returns SUCCESS when every record was delivered or refused for its own
content, FAILURE when delivery failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from opentelemetry import _logs

try:
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
except ImportError:  # SDKs before 1.39 name them LogExporter and LogExportResult, and pass LogData
    from opentelemetry.sdk._logs.export import (
        LogExporter as LogRecordExporter,
    )
    from opentelemetry.sdk._logs.export import (  # type: ignore[assignment]
        LogExportResult as LogRecordExportResult,
    )
from opentelemetry.trace import format_span_id, format_trace_id

from trubrics_otel._config import Settings
from trubrics_otel._delivery import ContentJoin, core_for
from trubrics_otel._exit_flush import flush_in_multiprocessing_children
from trubrics_otel._log_doors import note_log_exporter, sent_by_another_door
from trubrics_otel._log_pipeline import STRUCTLOG_KEYS
from trubrics_otel._reporting import report
from trubrics_otel._transport import TrubricsClient
from trubrics_otel.mapping import CONTENT_EVENTS, LogData

__all__ = ["TrubricsLogExporter", "push_content_logs"]

_logger = logging.getLogger("trubrics_otel.exporters")


class TrubricsLogExporter(LogRecordExporter):
    """Sends log records with recognised keys as events, and joins GenAI content records to their calls.

    Takes the same arguments as `TrubricsSpanExporter` (all optional, all from `TRUBRICS_*` when absent),
    which is how `OTEL_LOGS_EXPORTER=trubrics` builds it. In one process it shares the content join with
    the span exporter, so a call whose span and content records arrive apart still makes one LLM event.

    Args:
        api_key: the project's API key (`TRUBRICS_API_KEY`).
        host: the API's base URL (`TRUBRICS_HOST`).
        client: a `TrubricsClient` to share with other exporters; `api_key` and `host` are then unused.
        default_user_id: the user of a record that names none (`TRUBRICS_DEFAULT_USER_ID`).
        default_assistant_id: the assistant of a call that names no model (`TRUBRICS_DEFAULT_ASSISTANT_ID`).
        missing_content: placeholder for text a call lacks (`TRUBRICS_MISSING_CONTENT`).
        drop_without_content: drop calls without text instead (`TRUBRICS_DROP_WITHOUT_CONTENT`).
        content_wait: seconds a call without text waits for its content logs (`TRUBRICS_CONTENT_WAIT`).
        copy_attributes: more attributes to copy into properties (`TRUBRICS_COPY_ATTRIBUTES`).
        join: the content join to share with a `TrubricsSpanExporter`; by default the process-wide one.
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
        content_wait: float | None = None,
        copy_attributes: Sequence[str] | None = None,
        join: ContentJoin | None = None,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = Settings.resolve(
            with_transport=client is None,
            api_key=api_key,
            host=host,
            default_user_id=default_user_id,
            default_assistant_id=default_assistant_id,
            missing_content=missing_content,
            drop_without_content=drop_without_content,
            content_wait=content_wait,
            copy_attributes=copy_attributes,
        )
        self._core = core_for(settings, client, join, _clock=_clock)
        flush_in_multiprocessing_children(providers=True)  # a child ends through os._exit: no exit hook
        self._shutdown = False
        note_log_exporter()

    @property
    def client(self) -> TrubricsClient:
        """The transport this exporter sends through."""
        return self._core.client

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        """Translate a batch of log records (or `LogData` from SDKs before 1.39) and send. Never raises."""
        if self._shutdown:
            return LogRecordExportResult.FAILURE
        logs: list[LogData] = []
        for item in batch:
            try:
                log = log_data(item)
            except Exception as error:  # noqa: BLE001 - an unreadable record costs itself alone, not the app
                self._core.count_unreadable("log", error)
                continue
            if log is not None:
                logs.append(log)
        if not self._core.send_logs(logs):
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send every call still waiting for its content."""
        if self._shutdown:
            return True
        if self._core.holds_calls:
            push_content_logs()
        return self._core.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Release held calls and stop. Idempotent."""
        if self._shutdown:
            return
        if self._core.holds_calls:
            push_content_logs()
        self._shutdown = True
        self._core.release()


def log_data(item: Any) -> LogData | None:
    """Return an SDK log record as the plain data the mapping reads; None when another door sends it.

    A record OpenTelemetry's logging handler made with structlog's `ProcessorFormatter.wrap_for_formatter`
    has the event dict as its body: its keys become attributes and its event the message, as
    `TrubricsHandler` reads it too.
    """
    log = getattr(item, "log_record", item)
    attributes = dict(log.attributes or {})
    name = getattr(log, "event_name", None) or attributes.get("event.name")
    body = log.body
    if name is None and _sent_by_another_door(item, log):
        return None  # not a loss: the structlog processor or a TrubricsHandler sends this record
    if name not in CONTENT_EVENTS and isinstance(body, Mapping) and isinstance(body.get("event"), str):
        attributes.update((key, value) for key, value in body.items() if key not in STRUCTLOG_KEYS)
        body = body["event"]
    span = (format_trace_id(log.trace_id), format_span_id(log.span_id)) if log.span_id else None
    return LogData(
        None if name is None else str(name),
        body,
        attributes,
        log.timestamp or log.observed_timestamp,
        span,
    )


def push_content_logs() -> None:
    """Push the log records the global LoggerProvider still queues, so held calls get their content.

    A TracerProvider shut down before the LoggerProvider would otherwise release its calls while their
    content records still wait in the log queue. A provider already shut down ignores the flush.
    """
    flush = getattr(_logs.get_logger_provider(), "force_flush", None)
    if callable(flush):
        try:
            flush()
        except Exception:  # noqa: BLE001 - the logs pipeline's failure must not stop this exporter's shutdown
            report(
                _logger,
                logging.ERROR,
                "Trubrics: could not flush the log records of held model calls",
                key="flush-content-logs",
                exc_info=True,
            )


def _sent_by_another_door(item: Any, log: Any) -> bool:
    """Whether a log record, made from a stdlib record by OpenTelemetry's logging handler, is sent elsewhere.

    Those handlers name the instrumentation scope after the stdlib logger, and always set the level's
    name and the record's time; a record made through the Logs API by an instrumentation rarely has the
    time and never names a stdlib logger's scope together with them. `_log_doors` decides.
    """
    scope = getattr(item, "instrumentation_scope", None)
    timestamp = log.timestamp
    if scope is None or timestamp is None or not log.severity_text:
        return False
    return sent_by_another_door(scope.name, _stdlib_level(log), timestamp, log.body)


def _stdlib_level(log: Any) -> int:
    """The stdlib level a log record was made at: from its level's name, else the lowest its severity allows.

    OpenTelemetry's logging handlers keep the level's name (WARN for WARNING, FATAL for CRITICAL, both
    names stdlib knows too); custom levels have their registered name, or `Level 25`.
    """
    text = str(log.severity_text)
    level = logging.getLevelName(text)
    if isinstance(level, int):
        return level
    if text.startswith("Level ") and text[6:].isdigit():
        return int(text[6:])
    number = int(getattr(log.severity_number, "value", log.severity_number) or 0)
    if number < _DEBUG_SEVERITY:
        return logging.NOTSET
    group, step = divmod(min(number, 24) - _DEBUG_SEVERITY, 4)
    return logging.DEBUG * (group + 1) + step  # DEBUG is 5, DEBUG2 6, ... INFO 9, ... FATAL4 24


_DEBUG_SEVERITY: Final = 5
"""OpenTelemetry's severity number of DEBUG; each stdlib level's step of ten spans four numbers."""
