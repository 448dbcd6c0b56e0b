"""The OpenInference recogniser: span kinds, flattened messages, `input.value` fallbacks, and real spans."""

from __future__ import annotations

import json

import pytest

from trubrics_otel.mapping import Findings, combine, recognise_all
from trubrics_otel.mapping.openinference import recognise

from .conftest import as_json, llm_events, load_capture, make_span, texts

PLACEHOLDER = "[content not recorded]"
LLM = {"openinference.span.kind": "LLM"}
IN = "llm.input_messages"
OUT = "llm.output_messages"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(
            {
                **LLM,
                f"{IN}.0.message.role": "system",
                f"{IN}.0.message.content": "Be brief.",
                f"{IN}.1.message.role": "user",
                f"{IN}.1.message.content": "Hi",
                f"{OUT}.0.message.role": "assistant",
                f"{OUT}.0.message.content": "Hello",
            },
            {"kind": "llm", "prompt": "Hi", "generation": "Hello"},
            id="flattened-messages",
        ),
        pytest.param(
            {
                **LLM,
                f"{IN}.0.message.role": "user",
                f"{IN}.0.message.contents.0.message_content.type": "text",
                f"{IN}.0.message.contents.0.message_content.text": "Describe this",
                f"{IN}.0.message.contents.1.message_content.type": "image",
                f"{OUT}.0.message.role": "assistant",
                f"{OUT}.0.message.contents.0.message_content.text": "A cat.",
            },
            {"prompt": "Describe this", "generation": "A cat."},
            id="content-parts-as-anthropic-writes-them",
        ),
        pytest.param(
            {
                **LLM,
                f"{OUT}.0.message.role": "assistant",
                f"{OUT}.0.message.tool_calls.0.tool_call.function.name": "get_weather",
                f"{OUT}.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
            },
            {"generation": 'get_weather({"city": "Paris"})'},
            id="tool-calls-rendered",
        ),
        pytest.param(
            {
                **LLM,
                "llm.model_name": "gpt-4o-2024-08-06",
                "llm.invocation_parameters": '{"model": "gpt-4o"}',
            },
            {"request_model": "gpt-4o", "response_model": "gpt-4o-2024-08-06"},
            id="model-name-is-the-response-model-and-the-request-model-is-in-the-parameters",
        ),
        pytest.param(
            {
                **LLM,
                "llm.request.model_name": "claude-sonnet-4-5",
                "llm.response.model_name": "claude-sonnet-4-5-20250929",
                "llm.model_name": "claude-sonnet-4-5",
                "llm.invocation_parameters": '{"model": "other"}',
            },
            {"request_model": "claude-sonnet-4-5", "response_model": "claude-sonnet-4-5-20250929"},
            id="anthropic-request-and-response-model-names",
        ),
        pytest.param(
            {**LLM, "llm.provider": "azure", "llm.system": "openai"},
            {"provider": "azure"},
            id="provider-wins-over-system",
        ),
        pytest.param(
            {
                **LLM,
                "llm.token_count.prompt": 11,
                "llm.token_count.completion": 7,
                "llm.token_count.total": 18,
                "llm.token_count.prompt_details.cache_read": 5,
                "llm.token_count.completion_details.reasoning": 2,
            },
            {
                "input_tokens": 11,
                "output_tokens": 7,
                "total_tokens": 18,
                "cache_read_tokens": 5,
                "reasoning_tokens": 2,
            },
            id="token-counts",
        ),
        pytest.param(
            {**LLM, "llm.finish_reason": ["stop"]}, {"finish_reasons": ("stop",)}, id="finish-reason-array"
        ),
        pytest.param(
            {
                **LLM,
                "metadata": json.dumps(
                    {"user_id": "u1", "session_id": "t1", "plan": "pro", "blob": {"a": 1}}
                ),
            },
            {"user_id": "u1", "thread_id": "t1", "properties": {"plan": "pro"}},
            id="metadata-user-session-and-scalar-properties",
        ),
        pytest.param(
            {**LLM, "tag.tags": ["demo", "beta"]}, {"properties": {"tags": ["demo", "beta"]}}, id="tags"
        ),
        pytest.param(
            {
                **LLM,
                "input.value": json.dumps({"messages": [{"role": "user", "content": "From the request"}]}),
                "input.mime_type": "application/json",
                "output.value": json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": "Answer"}}]}
                ),
                "output.mime_type": "application/json",
            },
            {"prompt": "From the request", "generation": "Answer"},
            id="json-request-and-response-when-no-messages-are-flattened",
        ),
        pytest.param(
            {
                **LLM,
                "input.value": "Plain question",
                "output.value": "Plain answer",
                "output.mime_type": "text/plain",
            },
            {"prompt": "Plain question", "generation": "Plain answer"},
            id="plain-text-values",
        ),
        pytest.param(
            {
                **LLM,
                "input.value": json.dumps({"model": "x", "prompt": "Complete me"}),
                "output.value": json.dumps({"choices": [{"text": " done"}]}),
            },
            {"prompt": "Complete me", "generation": " done"},
            id="text-completion-request-and-response",
        ),
        pytest.param(
            {**LLM, "output.value": json.dumps({"content": [{"type": "text", "text": "From Claude"}]})},
            {"generation": "From Claude"},
            id="anthropic-message-response",
        ),
        pytest.param(
            {**LLM, "input.value": "__REDACTED__", "output.value": "__REDACTED__"},
            {"prompt": None, "generation": None},
            id="hidden-values-count-as-absent",
        ),
        pytest.param(
            {**LLM, "llm.prompts.0.prompt.text": "Once", "llm.choices.0.completion.text": " upon"},
            {"prompt": "Once", "generation": " upon"},
            id="completion-style-prompts-and-choices",
        ),
    ],
)
def test_recognise_reads_openinference_keys(
    attributes: dict[str, object], expected: dict[str, object]
) -> None:
    """Each convention case gives the expected findings."""
    findings = recognise(make_span(attributes))

    assert findings is not None
    assert {name: getattr(findings, name) for name in expected} == expected


@pytest.mark.parametrize(
    "span_kind", ["CHAIN", "AGENT", "TOOL", "EMBEDDING", "RETRIEVER", "RERANKER", "GUARDRAIL"]
)
def test_non_llm_span_kinds_are_other(span_kind: str) -> None:
    """Chains, agents, tools, embeddings, retrievers... are not model calls, and their text is not read."""
    findings = recognise(
        make_span(
            {
                "openinference.span.kind": span_kind,
                "input.value": "question",
                "output.value": "answer",
                "metadata": '{"user_id": "u1"}',
            }
        )
    )

    assert findings == Findings(kind="other", user_id="u1")


def test_unknown_span_kind_and_no_kind() -> None:
    """`UNKNOWN` gives no opinion; a span without `openinference.span.kind` is not OpenInference's."""
    assert recognise(make_span({"openinference.span.kind": "UNKNOWN"})) == Findings()
    assert recognise(make_span({"llm.model_name": "gpt-4o", "input.value": "hi"})) is None


def test_openinference_chat() -> None:
    """OpenInference (OpenAI) gives the whole call, with the request model from the invocation parameters."""
    (span,) = load_capture("openinference-chat")

    assert recognise(span) == Findings(
        kind="llm",
        prompt="Say hello to the analytics team",
        generation="Echo: Say hello to the analytics team",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        response_id="chatcmpl-fake000001",
        provider="openai",
        input_tokens=11,
        output_tokens=7,
        total_tokens=18,
        cache_read_tokens=5,
        reasoning_tokens=0,
        finish_reasons=("stop",),
        properties={"plan": "pro", "tags": ["demo"]},
    )


def test_openinference_tool_round_trip() -> None:
    """The tool-call turn renders the call; the follow-up's prompt is the user's question."""
    first, second = load_capture("openinference-tool")
    findings = [recognise(span) for span in (first, second)]

    assert [(f.prompt, f.generation, f.finish_reasons) for f in findings if f is not None] == [
        ("What is the weather in Paris?", 'get_weather({"city": "Paris"})', ("tool_calls",)),
        ("What is the weather in Paris?", "Tool result: Sunny, 21C", ("stop",)),
    ]


def test_openinference_hidden_content() -> None:
    """With inputs and outputs hidden, everything but the text is still read."""
    (span,) = load_capture("openinference-hidden-chat")

    assert recognise(span) == Findings(
        kind="llm",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        provider="openai",
        input_tokens=11,
        output_tokens=7,
        total_tokens=18,
        cache_read_tokens=5,
        reasoning_tokens=0,
        finish_reasons=("stop",),
        properties={"plan": "pro", "tags": ["demo"]},
    )


@pytest.mark.parametrize("capture", ["openinference-embeddings", "openinference-genai-semconv-embeddings"])
def test_openinference_embeddings_are_other(capture: str) -> None:
    """Embedding spans are not model calls, whichever recogniser reads them."""
    (span,) = load_capture(capture)

    assert combine(recognise_all(span)).kind == "other"


def test_genai_semconv_variant_keeps_the_true_request_model() -> None:
    """With GenAI keys added, OpenInference's `gen_ai.request.model` (the response model) does not win."""
    (span,) = load_capture("openinference-genai-semconv-chat")
    combined = combine(recognise_all(span))

    assert span.attributes["gen_ai.request.model"] == "gpt-4o-2024-08-06"
    assert (combined.request_model, combined.response_model) == ("gpt-4o", "gpt-4o-2024-08-06")
    assert (combined.user_id, combined.thread_id) == ("user-42", "thread-7")


CHAT = ("Say hello to the analytics team", "Echo: Say hello to the analytics team")
STREAM = ("Stream a short greeting", "Echo: Stream a short greeting")
TOOL = [
    ("What is the weather in Paris?", 'get_weather({"city": "Paris"})'),
    ("What is the weather in Paris?", "Tool result: Sunny, 21C"),
]


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("openinference-chat", [CHAT]),
        ("openinference-stream", [STREAM]),
        ("openinference-tool", TOOL),
        ("openinference-error", [("This one fails", PLACEHOLDER)]),
        ("openinference-embeddings", []),
        ("openinference-genai-semconv-chat", [CHAT]),
        ("openinference-genai-semconv-stream", [STREAM]),
        ("openinference-genai-semconv-tool", TOOL),
        ("openinference-genai-semconv-error", [("This one fails", PLACEHOLDER)]),
        ("openinference-genai-semconv-embeddings", []),
        ("openinference-hidden-chat", [(PLACEHOLDER, PLACEHOLDER)]),
        ("openinference-hidden-stream", [(PLACEHOLDER, PLACEHOLDER)]),
        ("openinference-hidden-error", [(PLACEHOLDER, PLACEHOLDER)]),
        ("openinference-hidden-tool", [(PLACEHOLDER, PLACEHOLDER), (PLACEHOLDER, PLACEHOLDER)]),
        ("openinference-hidden-embeddings", []),
    ],
)
def test_openinference_spans_become_one_llm_event_per_call(
    capture: str, expected: list[tuple[str, str]]
) -> None:
    """Through the whole mapping each call is one LLM event for `using_attributes`' user and session."""
    records = llm_events(load_capture(capture))

    assert texts(records) == expected
    for record in records:
        payload = as_json(record)
        assert payload["user_id"] == "user-42"
        assert payload["properties"]["$thread_id"] == "thread-7"
        assert payload["properties"]["plan"] == "pro"
        assert payload["assistant_id"] in ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-08-06", "gpt-4o")
