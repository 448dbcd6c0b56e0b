"""JSON-safe values: what `json.dumps` cannot hold is replaced, the same way for the same input."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid

import pytest

from trubrics_otel import json_safe
from trubrics_otel._json_safe import _safe


class Colour(enum.Enum):
    RED = "red"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"caf\xc3\xa9", "café"),
        (b"\xff", "\\xff"),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        ((1, "a"), [1, "a"]),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.timedelta(seconds=90), 90.0),
        (decimal.Decimal("1.5"), 1.5),
        (decimal.Decimal("NaN"), "NaN"),
        (Colour.RED, "red"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ({1: "a", None: "b"}, {"1": "a", "null": "b"}),
        (object(), "<object object>"),
        (Unprintable(), "<unprintable Unprintable>"),
        (True, True),
    ],
)
def test_json_safe_converts_odd_values(value: object, expected: object) -> None:
    """Each value JSON cannot hold gets a readable, deterministic stand-in."""
    assert json_safe(value) == expected


def test_json_safe_breaks_cycles_and_deep_nesting() -> None:
    """A cycle and nesting past 16 levels are replaced, and the result serialises."""
    cycle: dict[str, object] = {}
    cycle["self"] = cycle
    deep: list[object] = []
    node = deep
    for _ in range(30):
        child: list[object] = []
        node.append(child)
        node = child

    result = json_safe({"cycle": cycle, "deep": deep})

    assert result["cycle"] == {"self": "<cycle>"}  # type: ignore[index]
    assert "<too deep>" in json.dumps(result)


def test_json_safe_keeps_shared_references() -> None:
    """The same object twice in one value is not mistaken for a cycle."""
    shared = [1]

    assert json_safe({"a": shared, "b": shared}) == {"a": [1], "b": [1]}


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"s": "a", "i": 1, "b": False, "n": None, "f": 1.5, "l": ["stop", 2, True, None], "t": ("a", "b")},
        {"empty": [], "empty_tuple": ()},
        {"nan": float("nan")},
        {"inf": float("-inf")},
        {"floats": [1.5]},
        {"nested": {"a": 1}},
        {"list_of_dicts": [{"a": 1}]},
        {"list_of_lists": [[1]]},
        {"enum": Level.HIGH},
        {"enum_in_list": [Level.HIGH]},
        {"subclass": Name("x")},
        {Name("subclass_key"): 1},
        {1: "int key"},
        {None: "null key"},
        {"set": {"b", "a"}},
        {"bytes": b"x"},
    ],
)
def test_json_safe_of_a_flat_dict_is_the_general_conversion(value: dict[object, object]) -> None:
    """The shortcut for flat dicts gives exactly what the general conversion gives, types included."""
    general = _safe(value, 0, set())

    result = json_safe(value)

    assert repr(result) == repr(general)
    assert [type(item) for item in result.values()] == [type(item) for item in general.values()]  # type: ignore[union-attr]
    assert [type(key) for key in result] == [type(key) for key in general]  # type: ignore[union-attr]


def test_json_safe_copies_lists() -> None:
    """The result never shares a list with the input, so changing one leaves the other alone."""
    reasons = ["stop"]
    properties: dict[str, object] = {"finish_reasons": reasons}

    result = json_safe(properties)
    reasons.append("length")

    assert result == {"finish_reasons": ["stop"]}
    assert result is not properties
