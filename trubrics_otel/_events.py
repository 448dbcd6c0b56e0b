"""The two records Trubrics ingests: `Event` and `LLMEvent`.

They are built JSON-safe (`_json_safe`): every id becomes a string, every property value becomes a value
`json.dumps` accepts, and the same input always gives the same output. One odd value therefore never
costs a batch. The rules the API applies to a request body are in `_validation`.

This module never performs I/O and never raises on odd values: a stand-in replaces what cannot be kept.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import ClassVar, Final, TypeAlias

from trubrics_otel import _config
from trubrics_otel._json_safe import JSONValue, json_safe, json_text
from trubrics_otel._validation import MAX_BATCH_SIZE, Kind, Problem, parse_timestamp, validate_payload

# Kind, Problem and validate_payload are where the local server has always imported them from.
__all__ = [
    "MAX_BATCH_SIZE",
    "THREAD_ID",
    "Event",
    "JSONValue",
    "Kind",
    "LLMEvent",
    "Problem",
    "Record",
    "format_timestamp",
    "json_safe",
    "parse_timestamp",
    "validate_payload",
]

THREAD_ID: Final = "$thread_id"
"""The reserved property that groups the events of one conversation."""

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _text(value: object) -> str:
    """Return an id or a text field as a string: `None` becomes `""`, anything else its JSON-safe text."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    safe = json_safe(value)
    return safe if isinstance(safe, str) else json_text(safe)


def _user(value: object) -> str:
    """Return a user id as a string; no user (`None` or `""`) is the default user.

    The default is `TRUBRICS_DEFAULT_USER_ID` ("anonymous" unless set), as for a span or a log record
    that names no user: an empty id would be stored as a user of its own.
    """
    text = _text(value)
    return text if text else _config.DEFAULT_USER_ID.resolve()


def format_timestamp(value: _dt.datetime | int | None = None) -> str:
    """Return an ISO 8601 timestamp in UTC with an explicit offset, e.g. `2024-10-09T13:21:46.182000+00:00`.

    Args:
        value: a datetime (a naive one is taken as local time, as `datetime.astimezone` does), an
            integer of nanoseconds since the Unix epoch (OpenTelemetry's unit), or `None` for now.
    """
    if value is None:
        moment = _dt.datetime.now(_dt.timezone.utc)
    elif isinstance(value, _dt.datetime):
        moment = value.astimezone(_dt.timezone.utc)
    else:
        return _from_nanos(int(value))
    return moment.isoformat(timespec="microseconds")


_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _from_nanos(nanos: int) -> str:
    """Format epoch nanoseconds; the text of the whole second is reused, as a batch's spans share it."""
    global _last_second  # noqa: PLW0603 - a one-entry cache; replacing the tuple is atomic
    seconds, rest = divmod(nanos, 1_000_000_000)
    cached_second, prefix = _last_second
    if seconds != cached_second:
        prefix = (_EPOCH + _dt.timedelta(seconds=seconds)).isoformat()[:19]
        _last_second = (seconds, prefix)
    return f"{prefix}.{rest // 1000:06d}+00:00"


def _timestamp(value: object) -> str:
    try:
        if type(value) is int:  # epoch nanoseconds: what every span gives
            return _from_nanos(value)
        if value is None or isinstance(value, _dt.datetime):
            return format_timestamp(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return format_timestamp(value)
        if isinstance(value, str):
            parsed = parse_timestamp(value)
            if parsed is not None:
                return format_timestamp(parsed)
    except (OverflowError, ValueError, OSError):
        pass  # a moment datetime cannot hold (year 10000, 10**22 ns): the event is stamped now instead
    return format_timestamp()


def _properties(properties: Mapping[str, object] | None, thread_id: object) -> dict[str, JSONValue]:
    safe = json_safe(properties) if properties else {}
    result = safe if isinstance(safe, dict) else {}
    if thread_id is not None and thread_id != "":
        result[THREAD_ID] = _text(thread_id)
    return result


class Event:
    """A product event: something a user did, such as "Sign up".

    Args:
        user_id: the distinct id of the user; non-strings are converted to strings, and `None` or `""`
            is the default user (`TRUBRICS_DEFAULT_USER_ID`, "anonymous" unless set).
        event: the event's name.
        timestamp: when it happened; a datetime, epoch nanoseconds or an ISO 8601 string (default now).
        properties: custom properties; values that JSON cannot hold are converted.
        thread_id: the conversation the event belongs to, stored as the `$thread_id` property.
    """

    __slots__ = ("event", "properties", "timestamp", "user_id")
    endpoint: ClassVar[str] = "publish_events"

    def __init__(
        self,
        user_id: object,
        event: object,
        *,
        timestamp: _dt.datetime | int | str | None = None,
        properties: Mapping[str, object] | None = None,
        thread_id: object = None,
    ) -> None:
        self.user_id = _user(user_id)
        self.event = _text(event)
        self.timestamp = _timestamp(timestamp)
        self.properties = _properties(properties, thread_id)

    def to_json(self) -> dict[str, JSONValue]:
        """Return the event as the API's JSON object."""
        return {
            "user_id": self.user_id,
            "event": self.event,
            "timestamp": self.timestamp,
            "properties": self.properties,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Event(user_id={self.user_id!r}, event={self.event!r}, timestamp={self.timestamp!r})"


class LLMEvent:
    """One model call: the user's prompt and the assistant's generation.

    Trubrics expands it into a prompt event and a generation event.

    Args:
        user_id: the distinct id of the user; non-strings are converted to strings, and `None` or `""`
            is the default user (`TRUBRICS_DEFAULT_USER_ID`, "anonymous" unless set).
        assistant_id: the assistant's id, typically the model name.
        prompt: the user's message.
        generation: the assistant's answer.
        timestamp: when the generation ended; a datetime, epoch nanoseconds or ISO 8601 (default now).
        latency: seconds between prompt and generation.
        properties: custom properties (tokens, cost, ...); values that JSON cannot hold are converted.
        thread_id: the conversation, stored as the `$thread_id` property.
        prompt_event_name: a custom name for the prompt event (Trubrics' default is "Prompt").
        generation_event_name: a custom name for the generation event (default "Generation").
    """

    __slots__ = (
        "assistant_id",
        "generation",
        "generation_event_name",
        "latency",
        "prompt",
        "prompt_event_name",
        "properties",
        "timestamp",
        "user_id",
    )
    endpoint: ClassVar[str] = "publish_llm_events"

    def __init__(
        self,
        user_id: object,
        assistant_id: object,
        prompt: object,
        generation: object,
        *,
        timestamp: _dt.datetime | int | str | None = None,
        latency: float | None = None,
        properties: Mapping[str, object] | None = None,
        thread_id: object = None,
        prompt_event_name: str | None = None,
        generation_event_name: str | None = None,
    ) -> None:
        self.user_id = _user(user_id)
        self.assistant_id = _text(assistant_id)
        self.prompt = _text(prompt)
        self.generation = _text(generation)
        self.timestamp = _timestamp(timestamp)
        self.latency = _latency(latency)
        self.properties = _properties(properties, thread_id)
        self.prompt_event_name = None if prompt_event_name is None else _text(prompt_event_name)
        self.generation_event_name = None if generation_event_name is None else _text(generation_event_name)

    def to_json(self) -> dict[str, JSONValue]:
        """Return the LLM event as the API's JSON object; unset optional names are left out."""
        body: dict[str, JSONValue] = {
            "user_id": self.user_id,
            "assistant_id": self.assistant_id,
            "prompt": self.prompt,
            "generation": self.generation,
            "timestamp": self.timestamp,
            "latency": self.latency,
            "properties": self.properties,
        }
        if self.prompt_event_name is not None:
            body["prompt_event_name"] = self.prompt_event_name
        if self.generation_event_name is not None:
            body["generation_event_name"] = self.generation_event_name
        return body

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LLMEvent) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"LLMEvent(user_id={self.user_id!r}, assistant_id={self.assistant_id!r}, "
            f"timestamp={self.timestamp!r}, latency={self.latency!r})"
        )


Record: TypeAlias = Event | LLMEvent
"""Either kind of record the transport sends."""


def _latency(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None
