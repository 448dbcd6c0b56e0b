"""The Langfuse recogniser: observation types, input and output shapes, usage, users, sessions, metadata."""

from __future__ import annotations

import json

import pytest

from trubrics_otel._events import LLMEvent
from trubrics_otel.mapping import Findings, span_to_records
from trubrics_otel.mapping.langfuse import recognise

from .conftest import as_json, make_span

GENERATION = {"langfuse.observation.type": "generation"}

# what the Langfuse Python SDK writes on a generation it creates itself
SDK_GENERATION = {
    "langfuse.observation.type": "generation",
    "langfuse.observation.model.name": "gpt-4o",
    "langfuse.observation.input": json.dumps(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    ),
    "langfuse.observation.output": json.dumps({"role": "assistant", "content": "Hello!"}),
    "langfuse.observation.usage_details": json.dumps(
        {"input": 11, "output": 7, "total": 18, "input_cached_tokens": 5}
    ),
    "langfuse.observation.metadata": json.dumps({"plan": "pro"}),
    "langfuse.environment": "production",
    "user.id": "user-42",
    "session.id": "thread-7",
}


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(
            SDK_GENERATION,
            {
                "kind": "llm",
                "prompt": "Say hello",
                "generation": "Hello!",
                "response_model": "gpt-4o",
                "input_tokens": 11,
                "output_tokens": 7,
                "total_tokens": 18,
                "cache_read_tokens": 5,
                "properties": {"plan": "pro", "environment": "production"},
            },
            id="sdk-generation",
        ),
        pytest.param(
            {
                **GENERATION,
                "langfuse.observation.input": "Plain prompt",
                "langfuse.observation.output": "Plain answer",
            },
            {"prompt": "Plain prompt", "generation": "Plain answer"},
            id="strings-are-written-as-they-are",
        ),
        pytest.param(
            {
                **GENERATION,
                "langfuse.observation.input": json.dumps(
                    {"messages": [{"role": "user", "content": "Inside"}]}
                ),
                "langfuse.observation.output": json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": "Chosen"}}]}
                ),
            },
            {"prompt": "Inside", "generation": "Chosen"},
            id="messages-wrapped-in-an-object-and-choices",
        ),
        pytest.param(
            {**GENERATION, "langfuse.observation.input": json.dumps({"query": "What is OTel?"})},
            {"prompt": "What is OTel?"},
            id="a-single-named-text-input",
        ),
        pytest.param(
            {
                **GENERATION,
                "langfuse.observation.output": json.dumps(
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}],
                    }
                ),
            },
            {"generation": 'f({"a": 1})'},
            id="tool-calls-rendered",
        ),
        pytest.param(
            {
                **GENERATION,
                "langfuse.observation.usage_details": json.dumps(
                    {"prompt_tokens": 4, "completion_tokens": 2, "output_reasoning_tokens": 1}
                ),
            },
            {"input_tokens": 4, "output_tokens": 2, "reasoning_tokens": 1, "total_tokens": None},
            id="openai-style-usage-keys",
        ),
        pytest.param(
            {**GENERATION, "langfuse.user.id": "u1", "langfuse.session.id": "t1"},
            {"user_id": "u1", "thread_id": "t1"},
            id="langfuse-user-and-session",
        ),
        pytest.param(
            {
                **GENERATION,
                "langfuse.trace.metadata": json.dumps(
                    {"langfuse_user_id": "u2", "langfuse_session_id": "t2"}
                ),
            },
            {"user_id": "u2", "thread_id": "t2", "properties": {}},
            id="user-and-session-from-metadata",
        ),
        pytest.param(
            {
                **GENERATION,
                "langfuse.trace.metadata.plan": "free",
                "langfuse.trace.metadata.region": "eu",
                "langfuse.observation.metadata.plan": "pro",
                "langfuse.observation.metadata.notes": "x" * 1000,
            },
            {"properties": {"plan": "pro", "region": "eu"}},
            id="flattened-metadata-the-observations-wins-and-long-texts-are-dropped",
        ),
        pytest.param(
            {
                **GENERATION,
                "langfuse.observation.prompt.name": "greeting",
                "langfuse.observation.prompt.version": 3,
                "langfuse.trace.name": "chat-turn",
                "langfuse.trace.tags": ("a", "b"),
                "langfuse.release": "1.2.0",
            },
            {
                "properties": {
                    "prompt_name": "greeting",
                    "prompt_version": 3,
                    "trace_name": "chat-turn",
                    "tags": ["a", "b"],
                    "release": "1.2.0",
                }
            },
            id="prompt-trace-and-release-properties",
        ),
        pytest.param(
            {**GENERATION, "langfuse.observation.input": json.dumps({"unexpected": ["shape"]})},
            {"prompt": None, "kind": "llm"},
            id="an-unknown-shape-is-no-prompt",
        ),
    ],
)
def test_recognise_reads_langfuse_keys(attributes: dict[str, object], expected: dict[str, object]) -> None:
    """Each convention case gives the expected findings."""
    findings = recognise(make_span(attributes))

    assert findings is not None
    assert {name: getattr(findings, name) for name in expected} == expected


@pytest.mark.parametrize(
    "observation_type", ["span", "event", "agent", "tool", "chain", "embedding", "retriever"]
)
def test_other_observation_types_are_not_calls(observation_type: str) -> None:
    """Only a generation is a model call; its input and output are not read otherwise."""
    findings = recognise(
        make_span(
            {
                "langfuse.observation.type": observation_type,
                "langfuse.observation.input": "question",
                "langfuse.observation.output": "answer",
                "langfuse.user.id": "u1",
            }
        )
    )

    assert findings == Findings(kind="other", user_id="u1")


def test_langfuse_keys_without_an_observation_type() -> None:
    """Another instrumentation's span with propagated Langfuse keys gives what those keys say."""
    findings = recognise(make_span({"gen_ai.operation.name": "chat", "langfuse.session.id": "t1"}))

    assert findings == Findings(thread_id="t1")
    assert recognise(make_span({"gen_ai.operation.name": "chat", "session.id": "t1"})) is None


def test_sdk_generation_becomes_an_llm_event() -> None:
    """Through the whole mapping a Langfuse generation is one LLM event with its user, thread and metadata."""
    (record,) = span_to_records(make_span(SDK_GENERATION))

    assert isinstance(record, LLMEvent)
    payload = as_json(record)
    assert (payload["user_id"], payload["assistant_id"]) == ("user-42", "gpt-4o")
    assert (payload["prompt"], payload["generation"]) == ("Say hello", "Hello!")
    assert payload["properties"]["$thread_id"] == "thread-7"
    assert payload["properties"]["plan"] == "pro"
    assert payload["properties"]["total_tokens"] == 18


def test_langfuse_span_observation_sends_nothing() -> None:
    """A Langfuse `span` observation is neither an LLM event nor a product event."""
    assert span_to_records(make_span({"langfuse.observation.type": "span", "user.id": "u1"})) == []
