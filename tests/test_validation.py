"""The API's validation rules: what the local server answers, and what clients may check before sending."""

from __future__ import annotations

import pytest

from trubrics_otel import validate_payload
from trubrics_otel._events import MAX_BATCH_SIZE


def test_validation_names_index_and_field() -> None:
    """Each problem carries the FastAPI loc of the refused field."""
    problems = validate_payload(
        "events",
        [
            {"user_id": "u", "event": "e", "timestamp": "2024-01-01T00:00:00Z"},
            {"user_id": 5, "event": "e", "timestamp": "2024-01-01T00:00:00Z", "properties": []},
            "not an object",
        ],
    )

    assert [(p.loc, p.type) for p in problems] == [
        (("body", 1, "user_id"), "string_type"),
        (("body", 1, "properties"), "dict_type"),
        (("body", 2), "dict_type"),
    ]
    assert [p.index for p in problems] == [1, 1, 2]


@pytest.mark.parametrize(
    ("item", "field", "type_"),
    [
        ({"assistant_id": "a", "generation": "g"}, "prompt", "missing"),
        ({"prompt": "p", "generation": "g", "latency": True}, "latency", "float_type"),
        ({"prompt": "p", "generation": "g", "latency": "1"}, "latency", "float_type"),
        ({"prompt": "p", "generation": "g", "timestamp": "yesterday"}, "timestamp", "datetime_parsing"),
        ({"prompt": "p", "generation": 1}, "generation", "string_type"),
        ({"prompt": "p", "generation": "g", "assistant_id": 4}, "assistant_id", "string_type"),
    ],
)
def test_llm_event_rules(item: dict[str, object], field: str, type_: str) -> None:
    """Required LLM fields and their types are checked like the API does."""
    problems = validate_payload("llm_events", [{"user_id": "u", **item}])

    assert [(p.loc, p.type) for p in problems] == [(("body", 0, field), type_)]


def test_optional_fields_may_be_null() -> None:
    """Optional LLM fields accept null, as the API's models do."""
    item = {"user_id": "u", "prompt": "p", "generation": "g", "assistant_id": None, "latency": None}

    assert validate_payload("llm_events", [item]) == []


def test_body_rules() -> None:
    """A body that is not a list, or holds more than 100 items, is refused as a whole."""
    item = {"user_id": "u", "event": "e", "timestamp": "2024-01-01T00:00:00+00:00"}

    assert validate_payload("events", {"a": 1})[0].type == "list_type"
    assert validate_payload("events", [item] * (MAX_BATCH_SIZE + 1))[0].type == "too_long"
    assert validate_payload("events", [item] * MAX_BATCH_SIZE) == []
    assert validate_payload("events", []) == []
