"""The value readers the recognisers share: text, numbers, JSON, prefixes and metadata bags."""

from __future__ import annotations

import json

import pytest

from trubrics_otel.mapping import Findings
from trubrics_otel.mapping._reading import MetadataKeys, first_text_of, load_json, prefixed


def _json_loads_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


@pytest.mark.parametrize(
    "text",
    [
        '[{"role": "user"}]',
        '{"a": [1, 2.5, null, true]}',
        '"a string"',
        "12",
        "NaN",
        "-Infinity",
        "1e400",
        " [1]",
        "[1] ",
        "\n{}\t",
        "[1] [2]",
        "[1]x",
        '{"a": 1}}',
        "[1",
        "",
        "   ",
        "tru",
        "\ufeff[1]",
        '"\\ud800"',
        "1" * 5000,
    ],
)
def test_load_json_decodes_exactly_as_json_loads(text: str) -> None:
    """Whitespace, trailing garbage, a BOM, constants and huge numbers are read as `json.loads` reads them."""
    assert repr(load_json(text)) == repr(_json_loads_or_none(text))


def test_load_json_keeps_structures() -> None:
    """A value that is not a string is returned as it is."""
    value = [{"role": "user"}]

    assert load_json(value) is value
    assert load_json(None) is None


def test_first_text_of_skips_what_is_no_text() -> None:
    """None and empty strings are skipped; other values count as their text."""
    assert first_text_of(None, "", 0, "x") == "0"
    assert first_text_of(None, "") is None


def test_prefixed_keeps_the_keys_under_a_prefix_without_it() -> None:
    """Only the keys that start with the prefix are kept, keyed by the rest."""
    attributes = {"ai.telemetry.metadata.userId": "u", "ai.telemetry.metadata.": 1, "ai.model.id": "m"}

    assert prefixed(attributes, "ai.telemetry.metadata.") == {"userId": "u", "": 1}


def test_metadata_keys_read_the_user_thread_and_small_properties() -> None:
    """The first user and thread key with text win; the other small values become properties."""
    keys = MetadataKeys(user=("userId", "user_id"), thread=("sessionId",))
    metadata = {"userId": "", "user_id": "u1", "sessionId": "s1", "plan": "pro", "long": "x" * 300, "ls_x": 1}

    assert keys.findings(metadata) == Findings(user_id="u1", thread_id="s1", properties={"plan": "pro"})
