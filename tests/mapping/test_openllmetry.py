"""The OpenLLMetry recogniser: `llm.*` request keys, traceloop-sdk context, and OpenLLMetry's real spans."""

from __future__ import annotations

import pytest

from trubrics_otel.mapping import Findings
from trubrics_otel.mapping.openllmetry import recognise

from .conftest import as_json, llm_events, load_capture, make_span, texts

PLACEHOLDER = "[content not recorded]"
ASSOCIATION = "traceloop.association.properties."


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param({"llm.request.type": "chat"}, {"kind": "llm", "operation": "chat"}, id="chat-is-a-call"),
        pytest.param({"llm.request.type": "completion"}, {"kind": "llm"}, id="completion-is-a-call"),
        pytest.param({"llm.request.type": "embedding"}, {"kind": "other"}, id="embedding-is-not"),
        pytest.param({"llm.request.type": "rerank"}, {"kind": "other"}, id="rerank-is-not"),
        pytest.param({"llm.request.type": "unknown"}, {"kind": None}, id="unknown-type-gives-no-opinion"),
        pytest.param(
            {
                "traceloop.span.kind": "workflow",
                "traceloop.entity.input": '{"args": ["Hi"]}',
                "traceloop.entity.output": '"Hello"',
            },
            {"kind": "other", "prompt": None, "generation": None},
            id="workflow-is-a-wrapper-and-its-entity-text-is-not-read",
        ),
        pytest.param({"traceloop.span.kind": "task"}, {"kind": "other"}, id="task-is-a-wrapper"),
        pytest.param({"traceloop.span.kind": "tool"}, {"kind": "other"}, id="tool-is-not-a-call"),
        pytest.param(
            {f"{ASSOCIATION}user_id": "u1", f"{ASSOCIATION}session_id": "t1"},
            {"user_id": "u1", "thread_id": "t1", "properties": {}},
            id="association-user-and-session",
        ),
        pytest.param(
            {f"{ASSOCIATION}chat_id": "c1", f"{ASSOCIATION}plan": "pro", f"{ASSOCIATION}seats": 3},
            {"thread_id": "c1", "properties": {"plan": "pro", "seats": 3}},
            id="chat-id-is-the-thread-and-other-keys-are-properties",
        ),
        pytest.param(
            {f"{ASSOCIATION}note": "x" * 1000, f"{ASSOCIATION}tags": ["a", "b"]},
            {"properties": {}},
            id="long-texts-and-arrays-are-not-properties",
        ),
        pytest.param(
            {"llm.user": "u2", f"{ASSOCIATION}user_id": "u1"},
            {"user_id": "u1"},
            id="association-user-wins-over-llm-user",
        ),
        pytest.param({"llm.user": "u2"}, {"user_id": "u2", "kind": None}, id="llm-user-alone"),
        pytest.param(
            {
                "llm.request.type": "chat",
                "llm.usage.total_tokens": "18",
                "llm.response.finish_reason": "stop",
            },
            {"total_tokens": 18, "finish_reasons": ("stop",)},
            id="total-tokens-and-finish-reason",
        ),
        pytest.param(
            {"llm.request.type": "chat", "llm.response.stop_reason": "end_turn"},
            {"finish_reasons": ("end_turn",)},
            id="anthropic-stop-reason",
        ),
        pytest.param(
            {"traceloop.workflow.name": "answer", "llm.request.type": "chat"},
            {"properties": {"workflow_name": "answer"}},
            id="workflow-name-property",
        ),
    ],
)
def test_recognise_reads_openllmetry_keys(attributes: dict[str, object], expected: dict[str, object]) -> None:
    """Each convention case gives the expected findings."""
    findings = recognise(make_span(attributes))

    assert findings is not None
    assert {name: getattr(findings, name) for name in expected} == expected


def test_recognise_ignores_spans_without_openllmetry_keys() -> None:
    """GenAI keys alone (what OpenLLMetry 0.62 writes without traceloop-sdk) are not this recogniser's."""
    assert recognise(make_span({"gen_ai.operation.name": "chat", "gen_ai.user": "u1"})) is None
    assert recognise(make_span({"llm.model_name": "x", "openinference.span.kind": "LLM"})) is None


@pytest.mark.parametrize("capture", ["openllmetry-attributes-chat", "openllmetry-events-tool"])
def test_plain_instrumentation_spans_carry_only_genai_keys(capture: str) -> None:
    """OpenLLMetry 0.62 without traceloop-sdk writes current GenAI keys only: `genai` reads them."""
    assert [recognise(span) for span in load_capture(capture)] == [None] * len(load_capture(capture))


def test_traceloop_sdk_call_span() -> None:
    """traceloop-sdk's association properties name the user and the thread on the model call span."""
    (span,) = load_capture("traceloop-sdk-chat")

    assert recognise(span) == Findings(user_id="user-42", thread_id="thread-7")


def test_traceloop_sdk_workflow() -> None:
    """A workflow span is a wrapper; the call inside it carries the workflow's name."""
    workflow, call = load_capture("traceloop-sdk-workflow")

    assert recognise(workflow) == Findings(
        kind="other", user_id="user-42", thread_id="thread-7", properties={"workflow_name": "answer_question"}
    )
    assert recognise(call) == Findings(
        user_id="user-42", thread_id="thread-7", properties={"workflow_name": "answer_question"}
    )


CHAT = ("Say hello to the analytics team", "Echo: Say hello to the analytics team")
STREAM = ("Stream a short greeting", "Echo: Stream a short greeting")
TOOL = [
    ("What is the weather in Paris?", 'get_weather({"city": "Paris"})'),
    ("What is the weather in Paris?", "Tool result: Sunny, 21C"),
]
NOTHING = (PLACEHOLDER, PLACEHOLDER)


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("openllmetry-attributes-chat", [CHAT]),
        ("openllmetry-attributes-stream", [STREAM]),
        ("openllmetry-attributes-tool", TOOL),
        ("openllmetry-attributes-error", [("This one fails", PLACEHOLDER)]),
        ("openllmetry-attributes-embeddings", []),
        ("openllmetry-attributes-nocontent-chat", [NOTHING]),
        ("openllmetry-attributes-nocontent-tool", [NOTHING, NOTHING]),
        ("openllmetry-attributes-nocontent-stream", [NOTHING]),
        ("openllmetry-attributes-nocontent-error", [NOTHING]),
        ("openllmetry-attributes-nocontent-embeddings", []),
        ("openllmetry-events-chat", [NOTHING]),
        ("openllmetry-events-stream", [NOTHING]),
        ("openllmetry-events-tool", [NOTHING, NOTHING]),
        ("openllmetry-events-error", [NOTHING]),
        ("openllmetry-events-embeddings", []),
    ],
)
def test_openllmetry_spans_become_one_llm_event_per_call(
    capture: str, expected: list[tuple[str, str]]
) -> None:
    """Through the whole mapping each call is one LLM event for the OpenAI `user=` user; embeddings none."""
    records = llm_events(load_capture(capture))

    assert texts(records) == expected
    assert {record.user_id for record in records} <= {"user-42"}


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("traceloop-sdk-chat", [CHAT]),
        ("traceloop-sdk-stream", [STREAM]),
        ("traceloop-sdk-tool", TOOL),
        ("traceloop-sdk-error", [("This one fails", PLACEHOLDER)]),
        ("traceloop-sdk-workflow", [("Say hello inside a workflow", "Echo: Say hello inside a workflow")]),
        ("traceloop-sdk-embeddings", []),
    ],
)
def test_traceloop_sdk_spans_become_one_llm_event_per_call(
    capture: str, expected: list[tuple[str, str]]
) -> None:
    """With traceloop-sdk every call is one LLM event with the association's user and thread."""
    records = llm_events(load_capture(capture))

    assert texts(records) == expected
    for record in records:
        payload = as_json(record)
        assert payload["user_id"] == "user-42"
        assert payload["properties"]["$thread_id"] == "thread-7"
        assert payload["assistant_id"] in ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-08-06", "gpt-4o")
