"""How the recognisers read attribute values: text, numbers, JSON, and a convention's metadata bag.

Attribute values arrive as whatever an instrumentation wrote: strings, numbers, JSON text, tuples. Each
reader returns the value in the shape a `Findings` field wants, or None when there is none; none raises.
They run for every span exported, so the common cases are decided first and cheaply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeGuard

from trubrics_otel.mapping._model import Findings

__all__ = [
    "MAX_PROPERTY_TEXT",
    "MetadataKeys",
    "first_int",
    "first_text",
    "first_text_of",
    "indexed",
    "is_mapping",
    "load_json",
    "metadata_properties",
    "prefixed",
    "to_int",
    "to_text",
]


def to_text(value: object) -> str | None:
    """Return a non-empty string form of an attribute value, or None."""
    if type(value) is str:
        return value or None
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


def to_int(value: object) -> int | None:
    """Return an attribute value as an int (token counts arrive as ints, floats or strings), or None."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def first_text(values: Mapping[str, object], *keys: str) -> str | None:
    """Return the first of `keys` whose value is non-empty text, or None."""
    for key in keys:
        text = to_text(values.get(key))
        if text is not None:
            return text
    return None


def first_text_of(*values: object) -> str | None:
    """Return the first of `values` that is non-empty text (see `to_text`), or None."""
    for value in values:
        text = to_text(value)
        if text is not None:
            return text
    return None


def first_int(values: Mapping[str, object], *keys: str) -> int | None:
    """Return the first of `keys` whose value is a number, as an int, or None."""
    for key in keys:
        value = values.get(key)
        if value is not None:  # most keys are absent: skip them without a call
            number = to_int(value)
            if number is not None:
                return number
    return None


def is_mapping(value: object) -> TypeGuard[Mapping[str, object]]:
    """Whether `value` is a mapping; decoded JSON gives plain dicts, which are checked first (fast)."""
    return type(value) is dict or isinstance(value, Mapping)


def load_json(value: object) -> object:
    """Return a JSON string decoded, a structure as it is, and None for anything undecodable."""
    if not isinstance(value, str):
        return value
    try:
        # the scanner `json.loads` ends in, called directly: for a span's few short JSON texts the layers
        # on the way to it cost as much as the decoding
        decoded, end = _scan_json(value, 0)
        if end == len(value):
            return decoded
    except (StopIteration, ValueError):
        pass  # whitespace around the text, or not JSON: `json.loads` decides
    try:
        return json.loads(value)
    except ValueError:
        return None


_scan_json: Final[Callable[[str, int], tuple[object, int]]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def indexed(attributes: Mapping[str, object], prefix: str) -> list[dict[str, object]]:
    """Gather flattened attributes `{prefix}{i}.{rest}` into a list of dicts ordered by `i`.

    `indexed(a, "gen_ai.prompt.")` turns `gen_ai.prompt.0.role` and `gen_ai.prompt.0.content` into
    `[{"role": ..., "content": ...}]`. Gaps (the SDK drops the earliest attributes past its limit) are
    skipped.
    """
    found: dict[int, dict[str, object]] = {}
    size = len(prefix)
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        number, _, rest = key[size:].partition(".")
        if number.isdigit() and rest:
            found.setdefault(int(number), {})[rest] = value
    return [found[index] for index in sorted(found)]


def prefixed(attributes: Mapping[str, object], prefix: str) -> dict[str, object]:
    """Return the attributes whose key starts with `prefix`, keyed by the rest of the key."""
    size = len(prefix)
    return {key[size:]: value for key, value in attributes.items() if key.startswith(prefix)}


MAX_PROPERTY_TEXT: Final = 256
"""The longest metadata text copied into properties; longer values are the app's data, not a label."""

_FRAMEWORK_METADATA: Final = ("ls_", "lc_")
"""LangChain's own bookkeeping (`ls_provider`, `ls_model_name`, `lc_versions`, ...): noise in analytics."""


def metadata_properties(values: Mapping[str, object], taken: Collection[str] = ()) -> dict[str, object]:
    """Return the metadata worth a property: small scalars, less `taken` and LangChain's `ls_*`, `lc_*`."""
    return {
        str(name): value
        for name, value in values.items()
        if name not in taken and _is_small(value) and not str(name).startswith(_FRAMEWORK_METADATA)
    }


def _is_small(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_PROPERTY_TEXT
    return isinstance(value, (bool, int, float))


@dataclass(frozen=True)
class MetadataKeys:
    """Where a convention's metadata names the user and the thread; its other small values are properties.

    The first key of `user` (or `thread`) with text wins.
    """

    user: tuple[str, ...]
    thread: tuple[str, ...]
    taken: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "taken", frozenset({*self.user, *self.thread}))

    def findings(self, metadata: Mapping[str, object]) -> Findings:
        """Return the user, the thread and the properties `metadata` holds."""
        return Findings(
            user_id=first_text(metadata, *self.user),
            thread_id=first_text(metadata, *self.thread),
            properties=metadata_properties(metadata, self.taken),
        )
