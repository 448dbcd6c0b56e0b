"""The log record mapping: which keys make a record an event or an LLM event, and what is sent."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest

from trubrics_otel._events import Event, LLMEvent, format_timestamp
from trubrics_otel.mapping import MappingOptions
from trubrics_otel.mapping.logs import (
    ACCEPTED,
    RECOGNISED_KEYS,
    TRIGGER_KEYS,
    LogOutcome,
    interpret_log,
    is_candidate,
    log_to_record,
    unusable_warning,
)

NOW_NS = 1_700_000_000_123_456_000
NOW = format_timestamp(NOW_NS)
OPTIONS = MappingOptions()


def record(message: str = "msg", **attributes: Any) -> Event | LLMEvent | None:
    return log_to_record(message, attributes, NOW_NS, OPTIONS)


def as_json(result: Event | LLMEvent | None) -> dict[str, Any]:
    assert result is not None
    payload: dict[str, Any] = result.to_json()
    return payload


def test_a_user_id_makes_an_event_named_by_the_message() -> None:
    """A record with a user id is an event named by its message; its other keys are properties."""
    assert as_json(record("Sign up", user_id="u1", plan="pro")) == {
        "user_id": "u1",
        "event": "Sign up",
        "timestamp": NOW,
        "properties": {"plan": "pro"},
    }


def test_the_event_key_names_the_event_even_without_a_user() -> None:
    """`event` names the event; without a user id the default user is used."""
    assert as_json(record("clicked", event="Upgrade", thread_id="t1")) == {
        "user_id": "anonymous",
        "event": "Upgrade",
        "timestamp": NOW,
        "properties": {"$thread_id": "t1"},
    }


def test_a_prompt_and_a_generation_make_an_llm_event() -> None:
    """A prompt and a generation make an LLM event with every optional field carried over."""
    result = record(
        "chat",
        user_id=42,
        prompt="Hi",
        generation="Hello!",
        assistant_id="gpt-4o",
        latency=0.5,
        thread_id="t1",
        timestamp="2024-10-09T13:21:46.182Z",
        prompt_event_name="Question",
        generation_event_name="Answer",
        properties={"cost": 0.01},
        team="a",
    )

    assert as_json(result) == {
        "user_id": "42",
        "assistant_id": "gpt-4o",
        "prompt": "Hi",
        "generation": "Hello!",
        "timestamp": "2024-10-09T13:21:46.182000+00:00",
        "latency": 0.5,
        "properties": {"team": "a", "cost": 0.01, "$thread_id": "t1"},
        "prompt_event_name": "Question",
        "generation_event_name": "Answer",
    }


@pytest.mark.parametrize(
    ("attributes", "assistant"),
    [
        ({"assistant_id": "mine", "gen_ai.request.model": "gpt-4o"}, "mine"),
        ({"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024"}, "gpt-4o-2024"),
        ({"gen_ai.request.model": "gpt-4o"}, "gpt-4o"),
        ({}, "unknown-assistant"),
    ],
)
def test_the_assistant_is_the_named_one_else_the_model_else_the_default(
    attributes: dict[str, object], assistant: str
) -> None:
    """The assistant is `assistant_id`, else the model the conventions name, else the default."""
    result = record(prompt="p", generation="g", **attributes)

    assert isinstance(result, LLMEvent)
    assert result.assistant_id == assistant


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"plan": "pro", "count": 3},
        {"thread_id": "t1", "assistant_id": "a", "latency": 1.0, "timestamp": NOW},
        {"gen_ai.request.model": "gpt-4o", "http.route": "/chat"},
        {"properties": {"a": 1}},
    ],
)
def test_records_without_a_recognised_key_map_to_nothing(attributes: dict[str, object]) -> None:
    """Without a user, an event name, a prompt or a generation, a record is nothing for Trubrics."""
    assert record(**attributes) is None


def test_trubrics_keys_are_read_as_on_spans() -> None:
    """`trubrics.*` keys name the event, the user, the thread and custom properties."""
    result = log_to_record(
        "ignored",
        {
            "trubrics.event": "Export",
            "trubrics.user_id": "u7",
            "trubrics.thread_id": "t7",
            "trubrics.properties.format": "csv",
        },
        NOW_NS,
        OPTIONS,
    )

    assert as_json(result) == {
        "user_id": "u7",
        "event": "Export",
        "timestamp": NOW,
        "properties": {"format": "csv", "$thread_id": "t7"},
    }


def test_genai_and_general_keys_are_read_as_on_spans() -> None:
    """GenAI messages, `user.id` and `gen_ai.conversation.id` make an LLM event with the model and tokens."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]
        ),
        "gen_ai.conversation.id": "conv-1",
        "user.id": "u9",
    }

    assert as_json(log_to_record("chat", attributes, NOW_NS, OPTIONS)) == {
        "user_id": "u9",
        "assistant_id": "gpt-4o",
        "prompt": "Hi",
        "generation": "Hello",
        "timestamp": NOW,
        "latency": None,
        "properties": {
            "operation": "chat",
            "request_model": "gpt-4o",
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "$thread_id": "conv-1",
        },
    }


def test_plain_keys_win_over_the_conventions() -> None:
    """`user_id` and `thread_id` win over `user.id` and `session.id`."""
    result = record(user_id="plain", thread_id="t-plain", **{"user.id": "dotted", "session.id": "t-dotted"})

    assert isinstance(result, Event)
    assert (result.user_id, result.properties["$thread_id"]) == ("plain", "t-plain")


def test_other_keys_become_properties_unless_turned_off() -> None:
    """Other keys are properties; with extras off only the `properties` mapping and conventions remain."""
    attributes = {"user_id": "u1", "plan": "pro", "properties": {"source": "ads"}}

    kept = log_to_record("Sign up", attributes, NOW_NS, OPTIONS)
    only = log_to_record("Sign up", attributes, NOW_NS, OPTIONS, extras_as_properties=False)

    assert kept is not None
    assert only is not None
    assert kept.properties == {"plan": "pro", "source": "ads"}
    assert only.properties == {"source": "ads"}


def test_private_and_unknown_dotted_keys_are_not_properties_unless_copied() -> None:
    """Keys starting with `_` are never sent; dotted keys only through `copy_attributes`."""
    attributes = {"user_id": "u1", "_secret": "x", "http.route": "/a", "app.version": "2"}
    options = MappingOptions(copy_attributes=("app.",))

    assert record(**attributes).properties == {}  # type: ignore[union-attr]
    assert log_to_record("m", attributes, NOW_NS, options).properties == {"app.version": "2"}  # type: ignore[union-attr]


def test_a_properties_value_that_is_not_a_mapping_is_kept_as_one_property() -> None:
    """`properties=` that is not a mapping is kept under its own name rather than lost."""
    assert record(user_id="u1", properties=[1, 2]).properties == {"properties": [1, 2]}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "2024-01-02T03:04:05.000000+00:00"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000000+00:00"),
        ("2024-01-02T03:04:05", "2024-01-02T03:04:05.000000+00:00"),
        (1_704_164_645, "2024-01-02T03:04:05.000000+00:00"),
        (1_704_164_645.5, "2024-01-02T03:04:05.500000+00:00"),
        (1_704_164_645_000, "2024-01-02T03:04:05.000000+00:00"),
        (1_704_164_645_000_000, "2024-01-02T03:04:05.000000+00:00"),
        (1_704_164_645_000_000_000, "2024-01-02T03:04:05.000000+00:00"),
        ("yesterday", NOW),
        (None, NOW),
        (True, NOW),
        (float("inf"), NOW),
        (float("nan"), NOW),
        (-5, NOW),
    ],
)
def test_timestamps_in_every_usual_shape(value: object, expected: str) -> None:
    """`timestamp` accepts datetimes, ISO text and epoch numbers in any unit; else the record's time."""
    assert record(user_id="u1", timestamp=value).timestamp == expected  # type: ignore[union-attr]


def test_latency_as_a_timedelta_or_text() -> None:
    """`latency` may be a timedelta or numeric text; anything else is no latency."""
    assert record(prompt="p", generation="g", latency=dt.timedelta(milliseconds=250)).latency == 0.25  # type: ignore[union-attr]
    assert record(prompt="p", generation="g", latency="1.5").latency == 1.5  # type: ignore[union-attr]
    assert record(prompt="p", generation="g", latency="soon").latency is None  # type: ignore[union-attr]


@pytest.mark.parametrize("extras_as_properties", [True, False], ids=["with extras", "without extras"])
def test_an_unreadable_latency_or_timestamp_is_kept_as_a_property_and_named(
    extras_as_properties: bool,
) -> None:
    """The record keeps its own time and no latency; the values go to properties, and the keys are named."""
    outcome = interpret_log(
        "chat",
        {"prompt": "p", "generation": "g", "latency": "soon", "timestamp": dt.date(2024, 1, 2)},
        NOW_NS,
        OPTIONS,
        extras_as_properties=extras_as_properties,
    )

    assert isinstance(outcome.record, LLMEvent)
    assert (outcome.record.timestamp, outcome.record.latency) == (NOW, None)
    assert outcome.record.properties == {"latency": "soon", "timestamp": "2024-01-02"}
    assert outcome.unusable == (("timestamp", "date"), ("latency", "str"))


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ("yesterday", "str"),
        (True, "bool"),
        (float("nan"), "float"),
        (-5, "int"),
        (10**30, "int"),
        ([1], "list"),
    ],
)
def test_every_unreadable_timestamp_is_named_with_its_type(value: object, type_name: str) -> None:
    """A timestamp that is no time, or that no datetime can hold, is named; the event keeps its own time."""
    outcome = interpret_log("Sign up", {"user_id": "u1", "timestamp": value}, NOW_NS, OPTIONS)

    assert outcome.record is not None
    assert outcome.record.timestamp == NOW
    assert outcome.unusable == (("timestamp", type_name),)
    assert "timestamp" in outcome.record.properties


@pytest.mark.parametrize("value", [object(), True, float("inf"), "1.5 s"])
def test_every_unreadable_latency_is_named(value: object) -> None:
    """A latency that is not a finite number of seconds is named and kept."""
    outcome = interpret_log("chat", {"prompt": "p", "generation": "g", "latency": value}, NOW_NS, OPTIONS)

    assert outcome.unusable == (("latency", type(value).__qualname__),)
    assert "latency" in outcome.record.properties  # type: ignore[union-attr]


def test_readable_values_and_absent_keys_are_not_named() -> None:
    """Usable values, and keys the record does not carry, raise nothing to warn about."""
    usable = {"latency": dt.timedelta(seconds=2), "timestamp": "2024-01-02T03:04:05Z"}

    assert interpret_log("chat", {"prompt": "p", "generation": "g", **usable}, NOW_NS, OPTIONS).unusable == ()
    assert interpret_log("chat", {"prompt": "p", "generation": "g"}, NOW_NS, OPTIONS).unusable == ()


def test_a_plain_event_keeps_the_keys_only_a_model_call_uses_as_properties() -> None:
    """`latency`, `assistant_id` and the event names of a record that is no model call are properties."""
    result = record(
        "Sign up",
        user_id="u1",
        latency=1.5,
        assistant_id="bot",
        prompt_event_name="Q",
        generation_event_name="A",
    )

    assert as_json(result)["properties"] == {
        "latency": 1.5,
        "assistant_id": "bot",
        "prompt_event_name": "Q",
        "generation_event_name": "A",
    }


def test_the_warning_names_the_key_the_type_and_what_is_accepted() -> None:
    """The warning text says which key, which type, what the key takes, and where the value went."""
    for key, (accepted, instead) in ACCEPTED.items():
        text = unusable_warning(key, "date")

        assert f"`{key}`" in text
        assert "a date" in text
        assert accepted in text
        assert instead in text
        assert "properties" in text


def test_half_a_call_gets_the_placeholder_or_is_dropped() -> None:
    """A prompt without a generation is sent with the placeholder, or dropped when so configured."""
    half = record(user_id="u1", prompt="p")
    dropped = log_to_record("m", {"prompt": "p"}, NOW_NS, MappingOptions(drop_without_content=True))

    assert isinstance(half, LLMEvent)
    assert (half.prompt, half.generation) == ("p", "[content not recorded]")
    assert dropped is None


@pytest.mark.parametrize(
    ("attributes", "drop", "kind", "missing_content"),
    [
        ({"plan": "pro"}, False, None, False),
        ({"user_id": "u1"}, False, Event, False),
        ({"prompt": "p", "generation": "g"}, True, LLMEvent, False),
        ({"prompt": "p"}, False, LLMEvent, True),
        ({"generation": "g"}, False, LLMEvent, True),
        ({"prompt": "p"}, True, None, True),
    ],
)
def test_interpret_log_tells_a_call_without_content_from_nothing(
    attributes: dict[str, object], drop: bool, kind: type | None, missing_content: bool
) -> None:
    """A call lacking its text is flagged, sent with the placeholder or dropped; nothing else is."""
    outcome = interpret_log("m", attributes, NOW_NS, MappingOptions(drop_without_content=drop))

    assert isinstance(outcome, LogOutcome)
    assert (type(outcome.record) if outcome.record is not None else None) is kind
    assert outcome.missing_content is missing_content
    assert log_to_record("m", attributes, NOW_NS, MappingOptions(drop_without_content=drop)) == outcome.record


def test_no_recognised_key_collides_with_a_log_record_attribute() -> None:
    """Every recognised key can be passed as `extra=` (makeRecord refuses LogRecord attribute names)."""
    logger = logging.getLogger("tests.logs_mapping")
    for key in RECOGNISED_KEYS:
        made = logger.makeRecord("n", logging.INFO, "f", 1, "m", (), None, extra={key: "v"})
        assert made.__dict__[key] == "v"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ([], False),
        (["plan", "color_message"], False),
        (["thread_id", "properties", "timestamp"], False),
        *[([key], True) for key in sorted(TRIGGER_KEYS)],
        (["gen_ai.input.messages"], True),
        (["trubrics.event"], True),
        ([1, None], False),
    ],
)
def test_is_candidate(keys: list[object], expected: bool) -> None:
    """The cheap test passes trigger keys and dotted keys, and nothing else."""
    assert is_candidate(keys) is expected
