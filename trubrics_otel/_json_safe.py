"""Any value as data `json.dumps` accepts: how one odd property value never costs a batch.

`json_safe` keeps what JSON can hold and replaces the rest with a stand-in, the same one for the same
input; it never raises and never performs I/O.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import math
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Final, TypeAlias

__all__ = ["JSONValue", "json_safe", "json_text"]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""A value `json.dumps` serialises without help and without NaN."""

_MAX_DEPTH: Final = 16
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


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
        return sorted(items, key=json_text)
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
    return safe if isinstance(safe, str) else json_text(safe)


def json_text(value: JSONValue) -> str:
    """Return the JSON text of a JSON-safe value, its keys sorted: the same value gives the same text."""
    return json.dumps(value, sort_keys=True)


def _stand_in(value: object) -> str:
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the event
        return f"<unprintable {type(value).__qualname__}>"
    return _ADDRESS.sub("", text)
