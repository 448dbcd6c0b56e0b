"""The GenAI recogniser: current and older `gen_ai.*` keys, GenAI span events, and openai-v2's real spans."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from trubrics_otel.mapping import Findings, SpanEventData
from trubrics_otel.mapping.genai import content_from_events, finish_reasons, recognise

from .conftest import llm_events, load_capture, load_logs, make_span, texts

PLACEHOLDER = "[content not recorded]"


def parts(role: str, *texts: str, **extra: object) -> dict[str, object]:
    return {"role": role, "parts": [{"type": "text", "content": text} for text in texts], **extra}


def tool_call(name: str, arguments: object) -> dict[str, object]:
    return {"type": "tool_call", "id": "call_1", "name": name, "arguments": arguments}


def found(attributes: Mapping[str, object], **fields: Any) -> Findings | None:
    return recognise(make_span(attributes, **fields))


CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(
            {
                **CHAT,
                "gen_ai.input.messages": json.dumps([parts("system", "Be brief."), parts("user", "Hi")]),
            },
            {"kind": "llm", "prompt": "Hi"},
            id="system-instructions-are-not-the-prompt",
        ),
        pytest.param(
            {
                **CHAT,
                "gen_ai.input.messages": json.dumps(
                    [parts("user", "first"), parts("assistant", "reply"), parts("user", "second", "part two")]
                ),
            },
            {"prompt": "second\npart two"},
            id="last-user-message-with-its-text-parts-joined",
        ),
        pytest.param(
            {
                **CHAT,
                "gen_ai.input.messages": json.dumps(
                    [
                        parts("user", "What is the weather?"),
                        {"role": "assistant", "parts": [tool_call("get_weather", {"city": "Paris"})]},
                        {
                            "role": "user",
                            "parts": [{"type": "tool_call_response", "id": "c", "result": "Sunny"}],
                        },
                    ]
                ),
            },
            {"prompt": "What is the weather?"},
            id="a-user-turn-of-tool-results-is-not-the-prompt",
        ),
        pytest.param(
            {
                **CHAT,
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [tool_call("get_weather", {"city": "Paris"})]}]
                ),
            },
            {"generation": 'get_weather({"city": "Paris"})'},
            id="tool-calls-rendered-when-there-is-no-text",
        ),
        pytest.param(
            {
                **CHAT,
                "gen_ai.output.messages": [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": "Let me check."}, tool_call("f", "{}")],
                    }
                ],
            },
            {"generation": "Let me check.\nf({})"},
            id="text-and-tool-calls-both-and-structures-are-read-as-is",
        ),
        pytest.param(
            {**CHAT, "gen_ai.output.messages": json.dumps([parts("assistant", "Hi", finish_reason="stop")])},
            {"finish_reasons": ("stop",)},
            id="finish-reasons-from-the-output-when-the-span-has-none",
        ),
        pytest.param(
            {**CHAT, "gen_ai.response.finish_reasons": '["length"]'},
            {"finish_reasons": ("length",)},
            id="finish-reasons-as-a-json-string-as-logfire-writes-them",
        ),
        pytest.param(
            {**CHAT, "gen_ai.output.messages": "not json"},
            {"kind": "llm", "generation": None, "finish_reasons": None},
            id="undecodable-content-is-absent",
        ),
        pytest.param(
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.request.model": "e",
            },
            {"kind": "other", "request_model": "e", "input_tokens": None},
            id="embeddings-are-not-a-model-call",
        ),
        pytest.param(
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.conversation.id": "t1",
                "gen_ai.aggregated_usage.input_tokens": 25,
                "pydantic_ai.all_messages": json.dumps([parts("user", "Hi")]),
            },
            {"kind": "other", "thread_id": "t1", "input_tokens": None, "prompt": None},
            id="an-agent-run-is-not-a-call-and-its-aggregated-usage-is-not-read",
        ),
        pytest.param(
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
            {"kind": "other"},
            id="a-tool-run-is-not-a-call",
        ),
        pytest.param(
            {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"},
            {"kind": None, "provider": "openai"},
            id="no-operation-and-no-answer-gives-no-opinion",
        ),
        pytest.param(
            {"gen_ai.system": "openai", "gen_ai.output.messages": json.dumps([parts("assistant", "Hi")])},
            {"kind": "llm", "generation": "Hi"},
            id="no-operation-but-an-answer-is-a-call",
        ),
        pytest.param(
            {**CHAT, "gen_ai.provider.name": "anthropic", "gen_ai.system": "old"},
            {"provider": "anthropic", "operation": "chat"},
            id="provider-name-wins-over-system",
        ),
        pytest.param(
            {**CHAT, "gen_ai.user": "u1", "gen_ai.conversation.id": "t1"},
            {"user_id": "u1", "thread_id": "t1"},
            id="user-and-conversation",
        ),
        pytest.param(
            {**CHAT, "openinference.span.kind": "LLM", "gen_ai.response.model": "gpt-4o-2024-08-06"},
            {"request_model": None, "response_model": "gpt-4o-2024-08-06"},
            id="openinference-request-model-is-left-to-openinference",
        ),
        pytest.param(
            {
                **CHAT,
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": "4",
                "gen_ai.usage.total_tokens": 14.0,
                "gen_ai.usage.cache_read.input_tokens": 5,
                "gen_ai.usage.reasoning_tokens": 2,
            },
            {
                "input_tokens": 10,
                "output_tokens": 4,
                "total_tokens": 14,
                "cache_read_tokens": 5,
                "reasoning_tokens": 2,
            },
            id="current-token-keys",
        ),
        pytest.param(
            {
                **CHAT,
                "gen_ai.usage.prompt_tokens": 10,
                "gen_ai.usage.completion_tokens": 4,
                "gen_ai.usage.cache_read_input_tokens": 3,
                "gen_ai.usage.details.reasoning_tokens": 1,
            },
            {"input_tokens": 10, "output_tokens": 4, "cache_read_tokens": 3, "reasoning_tokens": 1},
            id="older-and-pydantic-ai-token-keys",
        ),
    ],
)
def test_recognise_reads_genai_keys(attributes: dict[str, object], expected: dict[str, object]) -> None:
    """Each convention case gives the expected findings."""
    findings = found(attributes)

    assert findings is not None
    assert {name: getattr(findings, name) for name in expected} == expected


def test_recognise_ignores_spans_without_genai_keys() -> None:
    """A span with no `gen_ai.*` key and no GenAI event is not this convention's."""
    assert found({"http.method": "GET", "llm.model_name": "x"}) is None
    assert found({}, events=(SpanEventData("exception", 0, {}),)) is None


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(
            {
                "gen_ai.prompt.0.role": "system",
                "gen_ai.prompt.0.content": "Be brief.",
                "gen_ai.prompt.1.role": "user",
                "gen_ai.prompt.1.content": "Hi",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "Hello!",
                "gen_ai.completion.0.finish_reason": "stop",
            },
            {"prompt": "Hi", "generation": "Hello!", "finish_reasons": ("stop",), "kind": "llm"},
            id="flattened-messages",
        ),
        pytest.param(
            {
                "gen_ai.prompt.3.role": "user",
                "gen_ai.prompt.3.content": "late question",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.tool_calls.0.name": "get_weather",
                "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
                "gen_ai.completion.0.finish_reason": "tool_calls",
            },
            {"prompt": "late question", "generation": 'get_weather({"city": "Paris"})'},
            id="earliest-messages-dropped-and-flattened-tool-calls",
        ),
        pytest.param(
            {
                "gen_ai.prompt.0.user": "Once upon a time",
                "gen_ai.completion.0.content": " there was a span.",
            },
            {"prompt": "Once upon a time", "generation": " there was a span."},
            id="legacy-completions-api",
        ),
        pytest.param(
            {
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": json.dumps(
                    [{"type": "text", "text": "Describe"}, {"type": "image_url"}]
                ),
                "gen_ai.completion.0.function_call.name": "describe",
                "gen_ai.completion.0.function_call.arguments": "{}",
            },
            {"prompt": "Describe", "generation": "describe({})"},
            id="multimodal-content-as-json-text-and-legacy-function-call",
        ),
    ],
)
def test_recognise_reads_older_flattened_content(
    attributes: dict[str, object], expected: dict[str, object]
) -> None:
    """OpenLLMetry's older indexed `gen_ai.prompt.{i}` / `gen_ai.completion.{i}` keys give the text."""
    findings = found({"gen_ai.system": "openai", "gen_ai.usage.prompt_tokens": 1, **attributes})

    assert findings is not None
    assert {name: getattr(findings, name) for name in expected} == expected


def test_span_events_give_content_the_attributes_lack() -> None:
    """Per-message span events (body as `gen_ai.event.content` JSON, or as attributes) give the text."""
    events = (
        SpanEventData(
            "gen_ai.system.message", 1, {"gen_ai.event.content": json.dumps({"content": "Be brief."})}
        ),
        SpanEventData("gen_ai.user.message", 2, {"gen_ai.event.content": json.dumps({"content": "Hi"})}),
        SpanEventData(
            "gen_ai.choice", 3, {"finish_reason": "stop", "message": json.dumps({"content": "Hello"})}
        ),
    )
    as_body = (
        *events[:2],
        SpanEventData("gen_ai.choice", 3, {"body": json.dumps({"message": {"content": "Hi!"}})}),
    )

    first = found(CHAT, events=events)
    second = found(CHAT, events=as_body)

    assert first is not None
    assert second is not None
    assert (first.prompt, first.generation, first.finish_reasons) == ("Hi", "Hello", ("stop",))
    assert (second.prompt, second.generation) == ("Hi", "Hi!")


def test_details_and_semconv_1_26_span_events_give_content() -> None:
    """The util-genai details event and the older `gen_ai.content.prompt` / `completion` events are read."""
    details = SpanEventData(
        "gen_ai.client.inference.operation.details",
        1,
        {
            "gen_ai.input.messages": [parts("user", "Hi")],
            "gen_ai.output.messages": [parts("assistant", "Hello", finish_reason="stop")],
        },
    )
    older = (
        SpanEventData(
            "gen_ai.content.prompt", 1, {"gen_ai.prompt": json.dumps([{"role": "user", "content": "Q"}])}
        ),
        SpanEventData("gen_ai.content.completion", 2, {"gen_ai.completion": json.dumps([{"content": "A"}])}),
    )

    first = found(CHAT, events=(details,))
    second = found(CHAT, events=older)

    assert first is not None
    assert second is not None
    assert (first.prompt, first.generation, first.finish_reasons) == ("Hi", "Hello", ("stop",))
    assert (second.prompt, second.generation) == ("Q", "A")


def test_span_attributes_win_over_span_events() -> None:
    """When the attributes carry the text, events are not consulted."""
    events = (SpanEventData("gen_ai.user.message", 1, {"content": "from the event"}),)
    findings = found(
        {**CHAT, "gen_ai.input.messages": json.dumps([parts("user", "from the span")])}, events=events
    )

    assert findings is not None
    assert findings.prompt == "from the span"


def test_a_span_with_only_genai_events_is_recognised() -> None:
    """GenAI span events alone are enough to read the span."""
    events = (
        SpanEventData("gen_ai.user.message", 1, {"content": "Hi"}),
        SpanEventData("gen_ai.choice", 2, {"message": {"content": "Hello"}, "finish_reason": "stop"}),
    )
    findings = found({}, events=events)

    assert findings == Findings(kind="llm", prompt="Hi", generation="Hello", finish_reasons=("stop",))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["stop"], ("stop",)),
        (("stop", "length"), ("stop", "length")),
        ('["stop"]', ("stop",)),
        ("stop", ("stop",)),
        (None, ()),
        ([None, "stop"], ("stop",)),
    ],
)
def test_finish_reasons_accepts_every_shape(value: object, expected: tuple[str, ...]) -> None:
    """Arrays, JSON array strings and single strings all give a tuple of strings."""
    assert finish_reasons(value) == expected


# --- real captures ----------------------------------------------------------------------------------


def test_openai_v2_span_only_chat() -> None:
    """openai-v2 with content on the span gives the whole call."""
    (span,) = load_capture("openai-v2-span_only-chat")

    assert recognise(span) == Findings(
        kind="llm",
        prompt="Say hello to the analytics team",
        generation="Echo: Say hello to the analytics team",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        response_id="chatcmpl-fake000001",
        provider="openai",
        operation="chat",
        input_tokens=11,
        output_tokens=7,
        finish_reasons=("stop",),
    )


def test_openai_v2_stream_takes_finish_reasons_from_the_output() -> None:
    """openai-v2 stream spans lack `gen_ai.response.finish_reasons`; the output messages carry them."""
    (span,) = load_capture("openai-v2-span_only-stream")
    findings = recognise(span)

    assert "gen_ai.response.finish_reasons" not in span.attributes
    assert findings is not None
    assert (findings.prompt, findings.generation, findings.finish_reasons) == (
        "Stream a short greeting",
        "Echo: Stream a short greeting",
        ("stop",),
    )


def test_openai_v2_tool_round_trip() -> None:
    """The tool-call turn renders the call; the follow-up turn's prompt is still the user's question."""
    first, second = load_capture("openai-v2-span_only-tool")

    assert recognise(first) == Findings(
        kind="llm",
        prompt="What is the weather in Paris?",
        generation='get_weather({"city": "Paris"})',
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        response_id="chatcmpl-fake000003",
        provider="openai",
        operation="chat",
        input_tokens=6,
        output_tokens=2,
        finish_reasons=("tool_calls",),
    )
    findings = recognise(second)
    assert findings is not None
    assert (findings.prompt, findings.generation) == (
        "What is the weather in Paris?",
        "Tool result: Sunny, 21C",
    )


@pytest.mark.parametrize("mode", ["event_only", "no_content", "legacy-content_true", "legacy-content_false"])
def test_openai_v2_without_content_on_the_span(mode: str) -> None:
    """Without content on the span the call is still recognised, with everything but its text."""
    (span,) = load_capture(f"openai-v2-{mode}-chat")

    assert recognise(span) == Findings(
        kind="llm",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        response_id="chatcmpl-fake000001",
        provider="openai",
        operation="chat",
        input_tokens=11,
        output_tokens=7,
        finish_reasons=("stop",),
    )


def test_openai_v2_error_keeps_the_prompt() -> None:
    """A failed call is still a call: its prompt is known, its answer is not."""
    (span,) = load_capture("openai-v2-span_only-error")

    assert recognise(span) == Findings(
        kind="llm", prompt="This one fails", request_model="gpt-4o", provider="openai", operation="chat"
    )


@pytest.mark.parametrize(
    "mode", ["span_only", "event_only", "span_and_event", "no_content", "legacy-content_true"]
)
def test_openai_v2_embeddings_are_other(mode: str) -> None:
    """Embeddings spans are recognised as not being a model call."""
    (span,) = load_capture(f"openai-v2-{mode}-embeddings")
    findings = recognise(span)

    assert findings is not None
    assert findings.kind == "other"


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        (
            "openai-v2-legacy-content_true-chat",
            [("Say hello to the analytics team", "Echo: Say hello to the analytics team")],
        ),
        (
            "openai-v2-legacy-content_true-tool",
            [
                ("What is the weather in Paris?", 'get_weather({"city": "Paris"})'),
                ("What is the weather in Paris?", "Tool result: Sunny, 21C"),
            ],
        ),
        ("openai-v2-legacy-content_false-chat", [(None, None)]),
        ("openai-v2-legacy-content_false-tool", [(None, "get_weather()"), (None, None)]),
        ("openai-v2-event_only-stream", [("Stream a short greeting", "Echo: Stream a short greeting")]),
        (
            "openai-v2-event_only-tool",
            [
                ("What is the weather in Paris?", 'get_weather({"city": "Paris"})'),
                ("What is the weather in Paris?", "Tool result: Sunny, 21C"),
            ],
        ),
        (
            "openllmetry-events-tool",
            [
                ("What is the weather in Paris?", 'get_weather({"city": "Paris"})'),
                ("What is the weather in Paris?", "Tool result: Sunny, 21C"),
            ],
        ),
    ],
)
def test_content_from_events_reads_real_log_records(
    capture: str, expected: list[tuple[str | None, str | None]]
) -> None:
    """The content log records each instrumentation emits give each call's prompt and generation."""
    spans = load_capture(capture)
    logs = load_logs(capture)

    texts = []
    for span in spans:
        content = content_from_events(
            (name, payload) for span_id, name, payload in logs if span_id == span.span_id
        )
        texts.append((content.prompt, content.generation))

    assert texts == expected


def test_content_from_events_skips_unknown_and_undecodable_events() -> None:
    """Events of other names, and payloads that are not objects, are skipped."""
    content = content_from_events(
        [("exception", {"content": "x"}), ("gen_ai.user.message", "not json"), ("gen_ai.user.message", 3)]
    )

    assert content.inputs == ()
    assert content.outputs == ()


CONTENT_ON_SPAN = ("span_only", "span_and_event")
CONTENT_ELSEWHERE = ("event_only", "no_content", "legacy-content_true", "legacy-content_false")
NOTHING = (PLACEHOLDER, PLACEHOLDER)
WITH_TEXT = {
    "chat": [("Say hello to the analytics team", "Echo: Say hello to the analytics team")],
    "stream": [("Stream a short greeting", "Echo: Stream a short greeting")],
    "tool": [
        ("What is the weather in Paris?", 'get_weather({"city": "Paris"})'),
        ("What is the weather in Paris?", "Tool result: Sunny, 21C"),
    ],
    "error": [("This one fails", PLACEHOLDER)],
    "embeddings": [],
}
WITHOUT_TEXT = {
    "chat": [NOTHING],
    "stream": [NOTHING],
    "tool": [NOTHING, NOTHING],
    "error": [NOTHING],
    "embeddings": [],
}
OPENAI_V2 = [
    *[(f"openai-v2-{mode}-{case}", texts) for mode in CONTENT_ON_SPAN for case, texts in WITH_TEXT.items()],
    *[
        (f"openai-v2-{mode}-{case}", texts)
        for mode in CONTENT_ELSEWHERE
        for case, texts in WITHOUT_TEXT.items()
    ],
]


@pytest.mark.parametrize(("capture", "expected"), OPENAI_V2)
def test_span_to_records_gives_one_llm_event_per_call(capture: str, expected: list[tuple[str, str]]) -> None:
    """Through the whole mapping each model call is one LLM event (text or placeholder); embeddings none."""
    records = llm_events(load_capture(capture))

    assert texts(records) == expected
    models = {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-08-06", "gpt-4o"}
    assert {record.assistant_id for record in records} <= models


def test_content_events_are_the_events_content_from_events_reads() -> None:
    """Content records are named from the convention's own table: the messages, the choice, the details."""
    from trubrics_otel.mapping.genai import CONTENT_EVENTS

    assert (
        frozenset(
            {
                "gen_ai.client.inference.operation.details",
                "gen_ai.system.message",
                "gen_ai.user.message",
                "gen_ai.assistant.message",
                "gen_ai.tool.message",
                "gen_ai.choice",
            }
        )
        == CONTENT_EVENTS
    )
    content = content_from_events([("gen_ai.user.message", {"content": "Hi"}), ("gen_ai.choice", {})])
    assert content.prompt == "Hi"
