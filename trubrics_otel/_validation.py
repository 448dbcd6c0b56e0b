"""The rules the ingestion API applies to a request body, as the local server answers with them.

`validate_payload` returns every reason the API would refuse a body, in the shape of FastAPI's
validation errors (`Problem`); an empty list means the API accepts it. Clients may call it before
sending. Nothing here performs I/O.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from typing import Final, Literal

from trubrics_otel._json_safe import JSONValue

__all__ = ["MAX_BATCH_SIZE", "Kind", "Problem", "parse_timestamp", "validate_item", "validate_payload"]

MAX_BATCH_SIZE: Final = 100
"""The most items the API takes in one request."""


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
