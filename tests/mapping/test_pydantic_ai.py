"""The pydantic-ai / Logfire recogniser: agent runs, older pydantic-ai `events`, Logfire's client spans."""

from __future__ import annotations

import json

import pytest

from trubrics_otel._events import LLMEvent
from trubrics_otel.mapping import Findings, SpanData, combine, recognise_all, span_to_records
from trubrics_otel.mapping.pydantic_ai import recognise

from .conftest import as_json, llm_events, load_capture, make_span, texts

STREAM_LOG = "streaming response from {request_data[model]!r} took {duration:.2f}s"

# pydantic-ai before 1.0 (instrumentation version 1): each GenAI event flattened into one dict
OLD_EVENTS = [
    {
        "content": "Be brief.",
        "role": "system",
        "gen_ai.system": "openai",
        "event.name": "gen_ai.system.message",
    },
    {"content": "Hi", "role": "user", "gen_ai.message.index": 0, "event.name": "gen_ai.user.message"},
    {
        "content": "Hello!",
        "role": "assistant",
        "gen_ai.message.index": 1,
        "event.name": "gen_ai.assistant.message",
    },
    {"content": "Bye", "role": "user", "gen_ai.message.index": 2, "event.name": "gen_ai.user.message"},
    {"index": 0, "message": {"role": "assistant", "content": "Goodbye!"}, "event.name": "gen_ai.choice"},
]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.aggregated_usage.input_tokens": 25,
                "metadata": json.dumps(
                    {"user_id": "u1", "thread_id": "t1", "plan": "pro", "nested": {"a": 1}}
                ),
            },
            Findings(kind="other", user_id="u1", thread_id="t1", properties={"plan": "pro"}),
            id="agent-run-with-metadata",
        ),
        pytest.param(
            {
                "agent_name": "support_agent",
                "all_messages_events": json.dumps(OLD_EVENTS),
                "final_result": "Goodbye!",
                "gen_ai.usage.input_tokens": 25,
            },
            Findings(kind="other"),
            id="older-agent-run",
        ),
        pytest.param(
            {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "events": json.dumps(OLD_EVENTS)},
            Findings(kind="llm", prompt="Bye", generation="Goodbye!"),
            id="older-model-request-events",
        ),
        pytest.param(
            {"events": json.dumps([{"name": "something else"}])},
            None,
            id="an-events-attribute-without-genai-events-is-not-ours",
        ),
        pytest.param(
            {
                "gen_ai.tool.name": "get_weather",
                "tool_arguments": '{"city": "Paris"}',
                "tool_response": "Sunny",
            },
            Findings(kind="other"),
            id="older-tool-run",
        ),
        pytest.param(
            {
                "request_data": json.dumps(
                    {"model": "gpt-4", "messages": [{"role": "user", "content": "Hi"}]}
                ),
                "response_data": json.dumps(
                    {
                        "message": {"role": "assistant", "content": "Hello", "tool_calls": None},
                        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                    }
                ),
                "logfire.span_type": "span",
            },
            Findings(
                kind="llm",
                prompt="Hi",
                generation="Hello",
                request_model="gpt-4",
                input_tokens=3,
                output_tokens=2,
                total_tokens=5,
            ),
            id="logfire-openai-call",
        ),
        pytest.param(
            {
                "request_data": json.dumps({"model": "gpt-4", "stream": True, "messages": []}),
                "logfire.span_type": "span",
                "logfire.msg_template": "Chat Completion with {request_data[model]!r}",
            },
            Findings(kind="other"),
            id="logfire-stream-request-span-is-not-the-call",
        ),
        pytest.param(
            {
                "request_data": json.dumps(
                    {"model": "gpt-4", "stream": True, "messages": [{"role": "user", "content": "Tell me"}]}
                ),
                "response_data": json.dumps({"combined_chunk_content": "A secret", "chunk_count": 3}),
                "logfire.span_type": "log",
                "logfire.msg_template": STREAM_LOG,
                "duration": 1.5,
            },
            Findings(kind="llm", prompt="Tell me", generation="A secret", request_model="gpt-4", latency=1.5),
            id="logfire-stream-log-is-the-call",
        ),
        pytest.param(
            {
                "request_data": json.dumps(
                    {"model": "claude", "messages": [{"role": "user", "content": "Hi"}]}
                ),
                "response_data": json.dumps(
                    {
                        "content": [{"type": "text", "text": "Hello"}],
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": 3, "output_tokens": 1},
                    }
                ),
            },
            Findings(
                kind="llm",
                prompt="Hi",
                generation="Hello",
                request_model="claude",
                input_tokens=3,
                output_tokens=1,
                finish_reasons=("end_turn",),
            ),
            id="logfire-anthropic-call",
        ),
        pytest.param(
            {
                "request_data": json.dumps({"model": "gpt-3.5-turbo-instruct", "prompt": "Once"}),
                "response_data": json.dumps({"text": " upon", "finish_reason": "length"}),
            },
            Findings(
                kind="llm",
                prompt="Once",
                generation=" upon",
                request_model="gpt-3.5-turbo-instruct",
                finish_reasons=("length",),
            ),
            id="logfire-completion-call",
        ),
        pytest.param(
            {"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}, None, id="a-plain-genai-span"
        ),
    ],
)
def test_recognise_reads_pydantic_ai_and_logfire_keys(
    attributes: dict[str, object], expected: Findings | None
) -> None:
    """Each convention case gives exactly the expected findings."""
    assert recognise(make_span(attributes)) == expected


def test_older_model_request_becomes_an_llm_event() -> None:
    """Through the whole mapping, pydantic-ai's older `events` give the call's text."""
    span = make_span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "events": json.dumps(OLD_EVENTS),
        }
    )

    (record,) = span_to_records(span)

    assert isinstance(record, LLMEvent)
    assert (record.prompt, record.generation, record.assistant_id) == ("Bye", "Goodbye!", "gpt-4o")


def test_logfire_stream_is_one_llm_event() -> None:
    """A Logfire-traced stream (request span and "streaming response" log) is one LLM event with its text."""
    request = json.dumps(
        {"model": "gpt-4", "stream": True, "messages": [{"role": "user", "content": "Tell me"}]}
    )
    genai = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4",
        "gen_ai.provider.name": "openai",
    }
    request_span = make_span({**genai, "request_data": request, "logfire.span_type": "span"})
    log_span = make_span(
        {
            **genai,
            "request_data": request,
            "logfire.span_type": "log",
            "logfire.msg_template": STREAM_LOG,
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "Hi"}]}]
            ),
        }
    )

    assert texts(llm_events([request_span, log_span])) == [("Tell me", "Hi")]


def test_logfire_stream_latency_is_the_duration_its_record_states() -> None:
    """The "streaming response" record has no length of its own: its `duration` is the call's latency."""
    request = json.dumps({"model": "gpt-4", "stream": True, "messages": [{"role": "user", "content": "Hi"}]})
    attributes = {
        "request_data": request,
        "logfire.span_type": "log",
        "logfire.msg_template": STREAM_LOG,
        "duration": 1.25,
        "response_data": json.dumps({"combined_chunk_content": "Hello"}),
    }
    zero_length = SpanData("streaming response", "1" * 32, "2" * 16, 5_000_000_000, 5_000_000_000, attributes)

    (event,) = llm_events([zero_length])

    assert (event.generation, event.latency) == ("Hello", 1.25)


def test_agent_run_span_from_capture() -> None:
    """The real `invoke_agent` span is not a call; its metadata names the user and a custom property."""
    agent, call = load_capture("pydantic-ai-chat")

    assert recognise(agent) == Findings(kind="other", user_id="user-42", properties={"plan": "pro"})
    assert recognise(call) is None
    assert combine(recognise_all(agent)).kind == "other"


def test_tool_run_span_from_capture() -> None:
    """The real `execute_tool` span is not a model call."""
    spans = load_capture("pydantic-ai-tool")
    (tool,) = [span for span in spans if span.name.startswith("execute_tool")]

    assert combine(recognise_all(tool)).kind == "other"


def test_model_request_span_from_capture() -> None:
    """The model request span of pydantic-ai 2.x is read by `genai` with everything a call has."""
    _, call = load_capture("pydantic-ai-chat")
    combined = combine(recognise_all(call))

    assert combined == Findings(
        kind="llm",
        prompt="Say hello to the analytics team",
        generation="Echo: Say hello to the analytics team",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        response_id="chatcmpl-fake000001",
        provider="openai",
        operation="chat",
        thread_id="thread-7",
        input_tokens=11,
        output_tokens=7,
        cache_read_tokens=5,
        reasoning_tokens=0,
        finish_reasons=("stop",),
    )


CHAT = ("Say hello to the analytics team", "Echo: Say hello to the analytics team")
STREAM = ("Stream a short greeting", "Echo: Stream a short greeting")
TOOL = [
    ("What is the weather in Paris?", 'get_weather({"city": "Paris"})'),
    ("What is the weather in Paris?", "Tool result: Sunny, 21C in Paris"),
]
HISTORY = ("And now say goodbye", "Echo: And now say goodbye")


@pytest.mark.parametrize("variant", ["pydantic-ai", "pydantic-ai-v6"])
@pytest.mark.parametrize(
    ("case", "expected"), [("chat", [CHAT]), ("stream", [STREAM]), ("tool", TOOL), ("history", [HISTORY])]
)
def test_pydantic_ai_runs_become_one_llm_event_per_call(
    variant: str, case: str, expected: list[tuple[str, str]]
) -> None:
    """Each model request of a run is one LLM event in the run's thread; the agent and tool spans are none."""
    records = llm_events(load_capture(f"{variant}-{case}"))

    assert texts(records) == expected
    for record in records:
        payload = as_json(record)
        assert payload["assistant_id"] == "gpt-4o-2024-08-06"
        assert payload["properties"]["$thread_id"] == "thread-7"


@pytest.mark.parametrize(
    ("case", "expected"), [("chat", [CHAT]), ("stream", [STREAM]), ("tool", TOOL), ("history", [HISTORY])]
)
def test_pydantic_ai_with_openai_v2_is_one_llm_event_per_call(
    case: str, expected: list[tuple[str, str]]
) -> None:
    """With openai-v2 instrumenting the same client, each call is still one LLM event."""
    assert texts(llm_events(load_capture(f"pydantic-ai+openai-v2-{case}"))) == expected


def test_pydantic_ai_with_openai_v2_records_each_call_twice() -> None:
    """Each span alone is a model call; only mapping them as one batch merges the nested pair."""
    spans = load_capture("pydantic-ai+openai-v2-chat")
    kinds = [(span.scope, combine(recognise_all(span)).kind) for span in spans]

    assert kinds == [
        ("pydantic-ai", "other"),
        ("pydantic-ai", "llm"),
        ("opentelemetry.util.genai.handler", "llm"),
    ]
