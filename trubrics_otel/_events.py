"""The two records Trubrics ingests, and the rules its API applies to them.

`Event` and `LLMEvent` are built JSON-safe: every id becomes a string, every property value becomes a
value `json.dumps` accepts, and the same input always gives the same output. One odd value therefore
never costs a batch. `validate_payload` holds the rules the ingestion API applies to a request body; the
local server answers with them, and clients may call them before sending.

This module never performs I/O and never raises on odd values: a stand-in replaces what cannot be kept.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import ClassVar, Final, Literal, TypeAlias

from trubrics_otel import _config

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

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""A value `json.dumps` serialises without help and without NaN."""

MAX_BATCH_SIZE: Final = 100
"""The most items the API takes in one request."""

THREAD_ID: Final = "$thread_id"
"""The reserved property that groups the events of one conversation."""

_MAX_DEPTH: Final = 16
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def json_safe(value: object) -> JSONValue:
    """Return `value` as data that `json.dumps` accepts, replacing what it cannot keep.

    Strings, booleans, integers and finite floats pass through. Non-finite floats become `"NaN"`,
    `"Infinity"` or `"-Infinity"`; bytes are decoded as UTF-8 (undecodable bytes escaped); datetimes,
    dates and times become ISO 8601 strings; mappings become objects with string keys; sets become lists
    sorted by their JSON text; other objects become their `str()` with memory addresses removed. A
    reference cycle becomes `"<cycle>"` and nesting deeper than 16 levels `"<too deep>"`.
    """
    if type(value) is dict:
        plain = _plain_dict(value)
        if plain is not None:
            return plain
    return _safe(value, 0, set())


_PLAIN: Final = frozenset({str, int, bool, type(None)})


def _plain_dict(value: dict[object, object]) -> dict[str, JSONValue] | None:
    """Return a copy of a dict that needs no conversion, or None if any key or value does.

    Nearly every properties dict is flat: string keys, scalar values, lists of strings. Copying it is
    what `_safe` does with it, without its cycle tracking and its call per value.
    """
    plain = _PLAIN
    copy = dict(value)
    for key, item in value.items():
        if type(key) is not str:
            return None
        if type(item) in plain or (type(item) is float and math.isfinite(item)):
            continue
        if (type(item) is list or type(item) is tuple) and plain.issuperset(map(type, item)):
            copy[key] = list(item)
            continue
        return None
    return copy  # type: ignore[return-value]


def _safe(value: object, depth: int, active: set[int]) -> JSONValue:
    kind = type(value)
    if kind in _PLAIN:  # the common case, decided with one set lookup
        return value  # type: ignore[return-value]
    if kind is float:
        return _finite(value)  # type: ignore[arg-type]
    if kind is dict or kind is list:
        return _nested(value, depth, active)
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)  # an IntEnum or a bool-like int subclass becomes a plain int
    if isinstance(value, float):
        return _finite(value)
    if depth >= _MAX_DEPTH:
        return "<too deep>"
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return _nested(value, depth, active)
    return _scalar(value)


def _nested(value: object, depth: int, active: set[int]) -> JSONValue:
    if depth >= _MAX_DEPTH:
        return "<too deep>"
    if id(value) in active:
        return "<cycle>"
    active.add(id(value))
    try:
        return _container(value, depth + 1, active)
    finally:
        active.discard(id(value))


def _container(value: object, depth: int, active: set[int]) -> JSONValue:
    if type(value) is dict or isinstance(value, Mapping):
        plain = _PLAIN
        return {
            key if type(key) is str else _key(key): item
            if type(item) in plain
            else _safe(item, depth, active)
            for key, item in value.items()
        }
    if isinstance(value, (set, frozenset)):
        items = [_safe(item, depth, active) for item in value]
        return sorted(items, key=_sort_key)
    assert isinstance(value, (list, tuple))  # noqa: S101 - narrowed by the caller
    return [_safe(item, depth, active) for item in value]


def _scalar(value: object) -> JSONValue:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return _scalar(value.value) if not isinstance(value.value, (int, float, str)) else value.value
    if isinstance(value, Decimal):
        return _finite(float(value)) if value.is_finite() else str(value)
    if isinstance(value, (uuid.UUID, PurePath)):
        return str(value)
    return _stand_in(value)


def _finite(value: float) -> JSONValue:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    safe = _safe(key, _MAX_DEPTH - 1, set())
    return safe if isinstance(safe, str) else _sort_key(safe)


def _sort_key(value: JSONValue) -> str:
    import json  # noqa: PLC0415 - only sets and odd keys need it

    return json.dumps(value, sort_keys=True)


def _stand_in(value: object) -> str:
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the event
        return f"<unprintable {type(value).__qualname__}>"
    return _ADDRESS.sub("", text)


def _text(value: object) -> str:
    """Return an id or a text field as a string: `None` becomes `""`, anything else its JSON-safe text."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    safe = json_safe(value)
    return safe if isinstance(safe, str) else _sort_key(safe)


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


# --- the API's validation rules ------------------------------------------------------------------

Kind = Literal["events", "llm_events"]


@dataclass(frozen=True)
class Problem:
    """One reason the API refuses a request body, in the shape of a FastAPI validation error."""

    loc: tuple[str | int, ...]
    msg: str
    type: str

    @property
    def index(self) -> int | None:
        """The position of the refused item in the array, or `None` for the body as a whole."""
        return self.loc[1] if len(self.loc) > 1 and isinstance(self.loc[1], int) else None

    def to_json(self) -> dict[str, JSONValue]:
        """Return the problem as one entry of the response's `detail` list."""
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


_STRING = ("Input should be a valid string", "string_type")
_MISSING = ("Field required", "missing")
_DATETIME = ("Input should be a valid datetime", "datetime_parsing")
_NUMBER = ("Input should be a valid number", "float_type")
_DICT = ("Input should be a valid dictionary", "dict_type")

# field -> (required, expected type): the request models of the ingestion API
_RULES: Final[dict[Kind, dict[str, tuple[bool, str]]]] = {
    "events": {
        "user_id": (True, "string"),
        "event": (True, "string"),
        "timestamp": (True, "datetime"),
        "properties": (False, "dict"),
    },
    "llm_events": {
        "user_id": (True, "string"),
        "assistant_id": (False, "string"),
        "prompt": (True, "string"),
        "generation": (True, "string"),
        "timestamp": (False, "datetime"),
        "latency": (False, "number"),
        "prompt_event_name": (False, "string"),
        "generation_event_name": (False, "string"),
        "properties": (False, "dict"),
    },
}


def validate_payload(kind: Kind, payload: object) -> list[Problem]:
    """Return every reason the API would refuse `payload` as the body of a `kind` request.

    An empty list means the API accepts it. `kind` is `"events"` for `/publish_events` and
    `"llm_events"` for `/publish_llm_events`.
    """
    if not isinstance(payload, list):
        return [Problem(("body",), "Input should be a valid list", "list_type")]
    if len(payload) > MAX_BATCH_SIZE:
        return [
            Problem(
                ("body",),
                f"List should have at most {MAX_BATCH_SIZE} items after validation, not {len(payload)}",
                "too_long",
            )
        ]
    problems: list[Problem] = []
    for index, item in enumerate(payload):
        problems.extend(validate_item(kind, item, index))
    return problems


def validate_item(kind: Kind, item: object, index: int = 0) -> list[Problem]:
    """Return every reason the API would refuse `item` as element `index` of a `kind` request."""
    if not isinstance(item, dict):
        return [Problem(("body", index), *_DICT)]
    problems: list[Problem] = []
    for field, (required, expected) in _RULES[kind].items():
        if field not in item:
            if required:
                problems.append(Problem(("body", index, field), *_MISSING))
            continue
        value = item[field]
        if value is None and not required:
            continue
        error = _type_error(expected, value)
        if error is not None:
            problems.append(Problem(("body", index, field), *error))
    return problems


def _type_error(expected: str, value: object) -> tuple[str, str] | None:
    if expected == "string":
        return None if isinstance(value, str) else _STRING
    if expected == "datetime":
        return None if isinstance(value, str) and parse_timestamp(value) is not None else _DATETIME
    if expected == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else _NUMBER
    return None if isinstance(value, dict) else _DICT


_ISO_8601: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2})?)?"
)


def parse_timestamp(text: str) -> _dt.datetime | None:
    """Return an ISO 8601 date or date-time as an aware datetime (UTC when it names no offset), or None.

    Parsed by hand rather than by `datetime.fromisoformat`, which on Python 3.10 refuses forms such as
    `Z`, two-digit fractions and nanoseconds that the API takes.
    """
    match = _ISO_8601.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_hours, off_minutes = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    zone = _dt.timezone.utc
    if sign is not None:
        offset = _dt.timedelta(hours=int(off_hours), minutes=int(off_minutes or 0))
        zone = _dt.timezone(offset if sign == "+" else -offset)
    try:
        return _dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, zone
        )
    except ValueError:  # a 30 February, a 25th hour, an offset of a day or more
        return None
