"""The event model: the API's JSON shape, ids as text, timestamps; every event built passes validation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from trubrics_otel import Event, LLMEvent, TrubricsClient, format_timestamp, validate_payload
from trubrics_otel.server import LocalServer


def test_event_serialises_to_the_api_shape() -> None:
    """An event has exactly user_id, event, timestamp and properties, with $thread_id inside."""
    event = Event(
        "u1",
        "Sign up",
        timestamp=dt.datetime(2024, 10, 9, 13, 21, 46, 182000, dt.timezone.utc),
        properties={"plan": "pro"},
        thread_id="t1",
    )

    assert event.to_json() == {
        "user_id": "u1",
        "event": "Sign up",
        "timestamp": "2024-10-09T13:21:46.182000+00:00",
        "properties": {"plan": "pro", "$thread_id": "t1"},
    }


def test_llm_event_serialises_to_the_api_shape() -> None:
    """An LLM event carries every API field, and the event names only when set."""
    plain = LLMEvent("u1", "gpt-4o", "Hello", "Hi", timestamp=0, latency=2.5)
    named = LLMEvent("u1", "gpt-4o", "Hello", "Hi", prompt_event_name="Ask", generation_event_name="Answer")

    assert plain.to_json() == {
        "user_id": "u1",
        "assistant_id": "gpt-4o",
        "prompt": "Hello",
        "generation": "Hi",
        "timestamp": "1970-01-01T00:00:00.000000+00:00",
        "latency": 2.5,
        "properties": {},
    }
    assert named.to_json()["prompt_event_name"] == "Ask"
    assert named.to_json()["generation_event_name"] == "Answer"
    assert validate_payload("llm_events", [plain.to_json(), named.to_json()]) == []


def test_ids_and_texts_become_strings() -> None:
    """Non-string ids and texts are converted; None becomes an empty string, except for the user."""
    event = LLMEvent(12, None, 3.5, ["a"], thread_id=9)

    assert (event.user_id, event.assistant_id, event.prompt, event.generation) == ("12", "", "3.5", '["a"]')
    assert event.properties == {"$thread_id": "9"}


def test_a_record_without_a_user_is_stored_as_the_default_user(
    server: LocalServer, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events and LLM events whose user is None or "" arrive as TRUBRICS_DEFAULT_USER_ID, else anonymous."""
    client = TrubricsClient(api_key, server.url)
    try:
        client.send([Event(None, "first"), Event("", "second"), LLMEvent(None, "gpt-4o", "Hi", "Hello")])
        monkeypatch.setenv("TRUBRICS_DEFAULT_USER_ID", "guest")
        client.send([Event(None, "third"), LLMEvent("", "gpt-4o", "Hi", "Hello"), Event(0, "fourth")])
    finally:
        client.shutdown()

    assert [(item["user_id"], item["event"]) for item in server.events()] == [
        ("anonymous", "first"),
        ("anonymous", "second"),
        ("guest", "third"),
        ("0", "fourth"),
    ]
    assert [item["user_id"] for item in server.llm_events()] == ["anonymous", "guest"]


def test_properties_are_deterministic() -> None:
    """The same odd input always gives the same JSON text."""
    props = {"s": {"x", "y", "z"}, "o": object(), "b": b"1"}

    texts = {json.dumps(Event("u", "e", properties=props, timestamp=0).to_json()) for _ in range(5)}

    assert len(texts) == 1


def test_every_built_event_passes_validation() -> None:
    """Whatever goes in, a built event is valid for the API."""
    odd = {"x": {1, 2}, "y": float("nan"), 3: object()}
    batch = [Event(None, None, properties=odd, timestamp="garbage").to_json()]
    llm = [LLMEvent(object(), 1, b"p", None, latency=float("nan"), properties=odd, timestamp=-1).to_json()]

    assert validate_payload("events", batch) == []
    assert validate_payload("llm_events", llm) == []
    json.dumps(batch + llm, allow_nan=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2024-01-01T10:00:00.000000+00:00",
        ),
        (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456+00:00"),
        (0, "1970-01-01T00:00:00.000000+00:00"),
    ],
)
def test_format_timestamp_is_utc_with_an_offset(value: dt.datetime | int, expected: str) -> None:
    """Datetimes and epoch nanoseconds become ISO 8601 in UTC with +00:00."""
    assert format_timestamp(value) == expected


def test_timestamp_strings_are_normalised() -> None:
    """An ISO string with Z or an offset is kept as the same moment in UTC."""
    assert (
        Event("u", "e", timestamp="2024-10-09T13:21:46.182Z").timestamp == "2024-10-09T13:21:46.182000+00:00"
    )
    assert (
        Event("u", "e", timestamp="2024-10-09T15:00:00+02:00").timestamp == "2024-10-09T13:00:00.000000+00:00"
    )


def test_default_timestamp_is_now() -> None:
    """Without a timestamp an event is stamped now."""
    before = dt.datetime.now(dt.timezone.utc)
    stamped = dt.datetime.fromisoformat(Event("u", "e").timestamp)

    assert before <= stamped <= dt.datetime.now(dt.timezone.utc)


def test_latency_keeps_only_finite_numbers() -> None:
    """A latency that is not a finite number is left out rather than sent invalid."""
    assert LLMEvent("u", "a", "p", "g", latency="1.5").latency == 1.5  # type: ignore[arg-type]
    assert LLMEvent("u", "a", "p", "g", latency=float("inf")).latency is None
    assert LLMEvent("u", "a", "p", "g", latency=True).latency is None  # type: ignore[arg-type]


def test_events_compare_by_content() -> None:
    """Two events with the same JSON are equal."""
    assert Event("u", "e", timestamp=0) == Event("u", "e", timestamp=0)
    assert Event("u", "e", timestamp=0) != Event("u", "f", timestamp=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-10-09T13:21:46.18+00:00", "2024-10-09T13:21:46.180000+00:00"),
        ("2024-10-09T13:21:46.123456789Z", "2024-10-09T13:21:46.123456+00:00"),
        ("2024-10-09 13:21:46+0200", "2024-10-09T11:21:46.000000+00:00"),
        ("2024-10-09T13:21", "2024-10-09T13:21:00.000000+00:00"),
        ("2024-10-09", "2024-10-09T00:00:00.000000+00:00"),
    ],
)
def test_timestamps_in_every_iso_form_are_read_alike_on_every_python(text: str, expected: str) -> None:
    """Fractions of any length, Z, compact offsets and dates parse the same on 3.10 as later."""
    assert Event("u", "e", timestamp=text).timestamp == expected
    assert validate_payload("events", [{"user_id": "u", "event": "e", "timestamp": text}]) == []


@pytest.mark.parametrize("value", [10**22, -(10**22), "2024-02-30T00:00:00Z", "10000-01-01"])
def test_a_timestamp_out_of_range_is_replaced_by_now(value: object) -> None:
    """A moment no datetime can hold never raises: the event is stamped now."""
    before = dt.datetime.now(dt.timezone.utc)

    stamped = dt.datetime.fromisoformat(Event("u", "e", timestamp=value).timestamp)  # type: ignore[arg-type]

    assert stamped >= before
