"""The one translation path: spans and log records in, records out, with the state of other batches given."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from trubrics_otel._delivery.join import ContentJoin
from trubrics_otel._delivery.memory import RecentParents, TwinMemory
from trubrics_otel._events import LLMEvent
from trubrics_otel.mapping import LogData, MappingOptions, SpanData, Translator
from trubrics_otel.mapping.logs import LogOutcome

TRACE = "1" * 32
CALL = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
TEXT = {
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
    "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]
    ),
}


class Counted:
    """A tally that keeps what it is told."""

    def __init__(self) -> None:
        self.dropped_: dict[str, int] = {}
        self.incomplete_ = 0
        self.unusable_: list[LogOutcome] = []

    def dropped(self, reason: str, count: int, explanation: str) -> None:
        self.dropped_[reason] = self.dropped_.get(reason, 0) + count

    def incomplete(self, count: int) -> None:
        self.incomplete_ += count

    def unusable(self, outcome: LogOutcome) -> None:
        self.unusable_.append(outcome)


def translator(window: float = 60, tally: Counted | None = None) -> tuple[Translator, ContentJoin]:
    join = ContentJoin(window)
    made = Translator(
        MappingOptions(),
        waiting=join,
        sent=TwinMemory(),
        parents=RecentParents(),
        tally=tally or Counted(),
        clock=lambda: 0.0,
    )
    return made, join


def span(span_id: str, attributes: Mapping[str, object], parent: str | None = None) -> SpanData:
    return SpanData("chat", TRACE, span_id, 0, 10, attributes, parent_span_id=parent)


def test_a_call_waits_for_its_content_records_then_goes_with_their_text() -> None:
    """A span without text is held; the log records naming it complete it into one LLM event."""
    translate, join = translator()

    assert translate.spans([span("a" * 16, CALL)]) == []
    assert len(join) == 1
    records = translate.logs(
        [
            LogData("gen_ai.user.message", {"content": "Hi"}, {}, 1, (TRACE, "a" * 16)),
            LogData(
                "gen_ai.choice",
                {"message": {"content": "Hello"}, "finish_reason": "stop"},
                {},
                2,
                (TRACE, "a" * 16),
            ),
        ]
    )

    (event,) = records
    assert isinstance(event, LLMEvent)
    assert (event.prompt, event.generation) == ("Hi", "Hello")
    assert len(join) == 0


def test_content_naming_no_span_is_counted_and_other_records_are_mapped() -> None:
    """A content record without a span cannot be joined: counted; a record with a user is an event."""
    tally = Counted()
    translate, _ = translator(tally=tally)

    records = translate.logs(
        [
            LogData("gen_ai.user.message", {"content": "Hi"}, {}, 1),
            LogData(None, "signed up", {"user_id": "u1", "event": "Sign up"}, 1),
        ]
    )

    assert [(record.user_id, record.event) for record in records] == [("u1", "Sign up")]  # type: ignore[union-attr]
    assert tally.dropped_ == {"unjoinable_content": 1}


def test_a_span_the_mapping_fails_on_costs_only_itself() -> None:
    """The span's failure is counted as a mapping error; the rest of the batch is translated."""

    class Unreadable(dict[str, object]):
        def get(self, key: str, default: object = None) -> object:
            raise RuntimeError("unreadable attributes")

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("unreadable attributes")

    tally = Counted()
    translate, _ = translator(tally=tally)

    records = translate.spans([span("a" * 16, Unreadable(CALL)), span("b" * 16, {**CALL, **TEXT})])

    assert len(records) == 1
    assert tally.dropped_ == {"mapping_error": 1}


def test_an_outer_span_in_a_later_batch_is_merged_away() -> None:
    """The parents of recent calls are remembered: a late outer span of the same call is a duplicate."""
    tally = Counted()
    translate, _ = translator(tally=tally)

    inner = translate.spans(
        [span("i" * 16, {**CALL, **TEXT, "user.id": "u", "session.id": "s"}, parent="o" * 16)]
    )
    outer = translate.spans([span("o" * 16, {**CALL, **TEXT, "user.id": "u", "session.id": "s"})])

    assert len(inner) == 1
    assert outer == []
    assert tally.dropped_ == {"duplicate": 1}


def test_without_a_window_a_call_takes_the_identity_its_batch_names() -> None:
    """Nothing waits: the user named by the call's parent in the same batch fills the call."""
    translate, join = translator(window=0)

    (event,) = translate.spans(
        [span("c" * 16, {**CALL, **TEXT}, parent="p" * 16), span("p" * 16, {"user.id": "u7"})]
    )

    assert event.user_id == "u7"
    assert len(join) == 0


def test_a_call_released_without_its_text_is_counted_incomplete() -> None:
    """A call that leaves the join without text is sent with the placeholder, and counted."""
    tally = Counted()
    translate, join = translator(tally=tally)
    translate.spans([span("a" * 16, CALL)])

    (event,) = translate.released(join.drain())

    assert event.prompt == "[content not recorded]"  # type: ignore[union-attr]
    assert tally.incomplete_ == 1


def test_an_unreadable_log_value_goes_to_the_tally() -> None:
    """A latency that is no time is kept as a property; the tally is told, for the warning."""
    tally = Counted()
    translate, _ = translator(tally=tally)

    translate.logs(
        [LogData(None, "chat", {"user_id": "u", "prompt": "p", "generation": "g", "latency": "x"}, 1)]
    )

    assert [outcome.unusable for outcome in tally.unusable_] == [(("latency", "str"),)]


def test_a_log_records_other_keys_are_properties_unless_told_otherwise() -> None:
    """`extras_as_properties` is the logging handler's setting, for a door that maps through the core."""
    translate, _ = translator()
    log = LogData(None, "signed up", {"user_id": "u1", "event": "Sign up", "plan": "pro"}, 1)

    (kept,) = translate.logs([log])
    (left,) = translate.logs([log], extras_as_properties=False)

    assert kept.properties["plan"] == "pro"
    assert "plan" not in left.properties
