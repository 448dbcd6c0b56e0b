"""Property-based tests: hostile spans, log extras, structlog event dicts and settings never break delivery.

The properties: nothing raises into the caller, nothing blocks (each example is timed), every record the
mapping produces is a body the API accepts (built and encoded as the transport does), and what the handler
and the structlog processor deliver arrives whole, or is counted as dropped for a named reason.

Under `CI=true` the examples are derandomized, so a run in CI is the same every time.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trubrics_otel import TrubricsClient, TrubricsHandler
from trubrics_otel._config import SETTINGS, ConfigurationError
from trubrics_otel._events import LLMEvent
from trubrics_otel._handler import RECORD_ATTRIBUTES
from trubrics_otel._sender import _encode
from trubrics_otel._validation import validate_payload
from trubrics_otel.integrations.structlog import TrubricsStructlogProcessor
from trubrics_otel.mapping import CONTENT_EVENTS, MappingOptions, SpanData, SpanEventData, spans_to_records
from trubrics_otel.mapping.logs import RECOGNISED_KEYS
from trubrics_otel.server import LocalServer

CI = os.environ.get("CI", "").lower() == "true"
SLOW = 10.0
"""Seconds one example may take: generous, so only a hang (never a slow machine) fails it."""


def bounded(max_examples: int) -> Any:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=CI,
        database=None if CI else settings.default.database,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# --- values ---------------------------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()), max_size=30)
"""Text with anything in it, lone surrogates included."""

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
otel_scalar = st.one_of(any_text, st.booleans(), INT64, st.floats(allow_nan=True, allow_infinity=True))
otel_value = st.one_of(
    otel_scalar,
    st.lists(any_text, max_size=4).map(tuple),
    st.lists(st.booleans(), max_size=4),
    st.lists(INT64, max_size=4),
    st.lists(st.floats(), max_size=4).map(tuple),
)
"""What OpenTelemetry lets an attribute hold: a primitive, or a homogeneous sequence of one kind."""


def _nested(depth: int) -> str:
    return '{"role":"user","content":' * depth + '"x"' + "}" * depth


hostile_text = st.one_of(
    st.sampled_from(
        [
            "",
            "{",
            '{"role": "user", "content": ',
            '[{"role":"user","parts":[{"type":"text","content":"hi"}]}',
            "[" * 3000 + "]" * 3000,
            "[" * 100_000,
            _nested(2000),
            "[" + "9" * 5000 + "]",
            '{"content": ' + "1" * 4301 + "}",
            '[{"role":"assistant","content":"\\ud800"}]',
            '{"a": NaN, "b": Infinity}',
            "null",
            "true",
            "1e400",
            "\ud800",
            "\udfff\ud800",
            "x" * 100_000,
        ]
    ),
    any_text,
    st.recursive(
        st.one_of(st.none(), st.booleans(), INT64, st.floats(), any_text),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)),
        max_leaves=8,
    ).map(lambda value: json.dumps(value, allow_nan=True)),
)
"""Broken JSON, JSON nested past any recursion limit, ints past Python's 4,300-digit limit, surrogates."""

hostile_value = st.one_of(
    hostile_text,
    otel_value,
    st.integers(min_value=2**63, max_value=10**5000),
    st.just(10**5000),
    st.just(-(10**4400)),
    st.lists(hostile_text, max_size=3).map(tuple),
)

CONVENTION_KEYS = [
    "ai.model.id", "ai.model.provider", "ai.prompt", "ai.prompt.messages", "ai.response.id",
    "ai.response.model", "ai.response.text", "ai.telemetry.metadata.user",
    "gen_ai.completion", "gen_ai.completion.0.content", "gen_ai.completion.0.role",
    "gen_ai.completion.0.finish_reason", "gen_ai.conversation.id", "gen_ai.input.messages",
    "gen_ai.operation.name", "gen_ai.output.messages", "gen_ai.prompt", "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.role", "gen_ai.prompt.1.content", "gen_ai.provider.name", "gen_ai.request.model",
    "gen_ai.response.finish_reasons", "gen_ai.response.id", "gen_ai.response.model", "gen_ai.system",
    "gen_ai.system_instructions", "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "gen_ai.usage.total_tokens",
    "gen_ai.usage.reasoning_tokens", "gen_ai.usage.details.reasoning_tokens", "gen_ai.user",
    "input.mime_type", "input.value", "output.mime_type", "output.value",
    "langfuse.observation.input", "langfuse.observation.output", "langfuse.observation.metadata",
    "langfuse.observation.model.name", "langfuse.observation.type", "langfuse.observation.usage_details",
    "langfuse.session.id", "langfuse.trace.metadata", "langfuse.trace.tags", "langfuse.user.id",
    "llm.choices.0.content", "llm.finish_reason", "llm.input_messages.0.message.content",
    "llm.input_messages.0.message.role", "llm.input_messages.0.message.contents.0.message_content.text",
    "llm.invocation_parameters", "llm.model_name", "llm.output_messages.0.message.content",
    "llm.output_messages.0.message.role", "llm.prompts", "llm.prompts.0.content", "llm.provider",
    "llm.request.model_name", "llm.request.type", "llm.response.finish_reason", "llm.response.model_name",
    "llm.system", "llm.token_count.completion", "llm.token_count.prompt", "llm.token_count.total",
    "llm.token_count.prompt_details.cache_read", "llm.usage.total_tokens", "llm.user",
    "metadata", "openinference.span.kind", "pydantic_ai.all_messages", "session.id", "tag.tags",
    "traceloop.association.properties.user_id", "traceloop.entity.input", "traceloop.entity.output",
    "traceloop.span.kind", "traceloop.workflow.name",
    "trubrics.assistant_id", "trubrics.event", "trubrics.generation", "trubrics.prompt",
    "trubrics.properties.plan", "trubrics.thread_id", "trubrics.user_id", "user.id",
]  # fmt: skip
"""The keys the recognisers read (GenAI, OpenInference, OpenLLMetry, Vercel, Langfuse, Trubrics)."""

convention_kinds = {
    "gen_ai.operation.name": st.sampled_from(["chat", "text_completion", "embeddings", "execute_tool"]),
    "openinference.span.kind": st.sampled_from(["LLM", "CHAIN", "TOOL", "EMBEDDING", "AGENT"]),
    "traceloop.span.kind": st.sampled_from(["llm", "workflow", "task", "tool"]),
    "llm.request.type": st.sampled_from(["chat", "completion", "embedding"]),
}

attributes = st.dictionaries(
    st.one_of(st.sampled_from(CONVENTION_KEYS), any_text), st.one_of(hostile_value, otel_value), max_size=12
).flatmap(
    lambda found: st.fixed_dictionaries({}, optional=convention_kinds).map(lambda kinds: {**found, **kinds})
)

EVENT_NAMES = [*sorted(CONTENT_EVENTS), "gen_ai.content.prompt", "gen_ai.content.completion", "exception"]
span_events = st.lists(
    st.builds(
        SpanEventData,
        name=st.one_of(st.sampled_from(EVENT_NAMES), any_text),
        timestamp=st.integers(min_value=0, max_value=2**63 - 1),
        attributes=st.dictionaries(
            st.one_of(
                st.sampled_from(
                    ["gen_ai.event.content", "content", "message", "role", "index", "finish_reason"]
                ),
                st.sampled_from(CONVENTION_KEYS),
                any_text,
            ),
            hostile_value,
            max_size=5,
        ),
    ),
    max_size=4,
)

HEX = "0123456789abcdef"


@st.composite
def span_batches(draw: st.DrawFn) -> list[SpanData]:
    """A batch of spans, some in one trace, some children of others, with hostile attributes and events."""
    count = draw(st.integers(min_value=1, max_value=4))
    trace_ids = draw(st.lists(st.text(HEX, min_size=32, max_size=32), min_size=1, max_size=2))
    span_ids = draw(
        st.lists(st.text(HEX, min_size=16, max_size=16), min_size=count, max_size=count, unique=True)
    )
    spans = []
    for index, span_id in enumerate(span_ids):
        start = draw(st.integers(min_value=0, max_value=2**63 - 1))
        spans.append(
            SpanData(
                name=draw(st.one_of(st.sampled_from(["chat gpt-4o", "ChatCompletion", "llm"]), any_text)),
                trace_id=draw(st.sampled_from(trace_ids)),
                span_id=span_id,
                start_time=start,
                end_time=draw(st.integers(min_value=0, max_value=2**63 - 1)),
                attributes=draw(attributes),
                parent_span_id=draw(st.one_of(st.none(), st.sampled_from(span_ids[:index] or [span_id]))),
                events=draw(span_events),
                resource=draw(st.dictionaries(st.sampled_from(["service.name", "user.id"]), otel_value)),
                status_code=draw(st.sampled_from(["UNSET", "OK", "ERROR"])),
                status_message=draw(st.one_of(st.none(), any_text)),
                scope=draw(st.one_of(st.none(), any_text)),
            )
        )
    return spans


def assert_accepted(records: list[Any]) -> None:
    """Split and encode `records` as the transport does; the API must accept both bodies."""
    events = [record.to_json() for record in records if not isinstance(record, LLMEvent)]
    llm_events = [record.to_json() for record in records if isinstance(record, LLMEvent)]
    for kind, items in (("events", events), ("llm_events", llm_events)):
        if items:
            body = json.loads(_encode(items))
            assert validate_payload(kind, body) == [], body  # type: ignore[arg-type]


# --- spans ----------------------------------------------------------------------------------------------


@bounded(150)
@given(
    spans=span_batches(),
    options=st.builds(
        MappingOptions,
        default_user_id=st.just("anonymous"),
        copy_attributes=st.sampled_from([(), ("gen_ai.",), ("*",), ("metadata", "input.value")]),
    ),
)
@example(
    spans=[
        SpanData(
            "chat",
            "0" * 31 + "1",
            "0" * 15 + "1",
            0,
            1,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": "[" * 100_000,
                "gen_ai.output.messages": '[{"role":"assistant","content":"\ud800"}]',
                "gen_ai.usage.input_tokens": 10**5000,
                "llm.token_count.total": float("nan"),
                "input.value": '{"content": ' + "1" * 4301 + "}",
            },
        )
    ],
    options=MappingOptions(),
)
def test_any_spans_map_to_records_the_api_accepts(spans: list[SpanData], options: MappingOptions) -> None:
    started = time.monotonic()
    records = spans_to_records(spans, options)
    assert_accepted(records)
    assert time.monotonic() - started < SLOW


# --- the logging handler and the structlog processor, end to end ----------------------------------------

PLAIN_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda key: key not in RECORD_ATTRIBUTES and key not in RECOGNISED_KEYS
)
json_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        INT64,
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
plain_extras = st.dictionaries(PLAIN_KEYS, json_value, max_size=6)
hostile_extras = st.dictionaries(
    st.one_of(
        st.sampled_from(sorted(RECOGNISED_KEYS - {"user_id"})),
        st.sampled_from(CONVENTION_KEYS),
        PLAIN_KEYS,
    ),
    st.one_of(hostile_value, json_value, st.dictionaries(any_text, hostile_value, max_size=3)),
    max_size=6,
)
messages = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


@pytest.fixture
def logger(server: LocalServer, api_key: str) -> Iterator[tuple[logging.Logger, TrubricsHandler]]:
    handler = TrubricsHandler(api_key, server.url, flush_interval=0.05, flush_timeout=SLOW)
    app = logging.getLogger("trubrics-properties")
    app.setLevel(logging.INFO)
    app.propagate = False
    app.addHandler(handler)
    yield app, handler
    app.removeHandler(handler)
    handler.close(timeout=2)


@pytest.fixture
def processor(server: LocalServer, api_key: str) -> Iterator[TrubricsStructlogProcessor]:
    result = TrubricsStructlogProcessor(api_key, server.url, flush_interval=0.05, flush_timeout=SLOW)
    yield result
    result.close(timeout=2)


def stored(server: LocalServer, user_id: str) -> list[dict[str, Any]]:
    return server.events(user_id=user_id) + server.llm_events(user_id=user_id)


@bounded(40)
@given(message=messages, extras=plain_extras)
def test_the_handler_delivers_a_logged_event_exactly(
    logger: tuple[logging.Logger, TrubricsHandler], server: LocalServer, message: str, extras: dict[str, Any]
) -> None:
    app, handler = logger
    user = uuid.uuid4().hex
    started = time.monotonic()
    app.info("%s", message, extra={**extras, "user_id": user})
    handler.flush()
    assert time.monotonic() - started < SLOW
    [event] = server.events(user_id=user)
    assert event["event"] == message
    assert event.get("properties", {}) == extras
    stats = handler.stats()
    assert (stats.failed, dict(stats.dropped)) == (0, {})


@bounded(60)
@given(message=messages, extras=hostile_extras)
def test_the_handler_survives_hostile_extras(
    logger: tuple[logging.Logger, TrubricsHandler], server: LocalServer, message: str, extras: dict[str, Any]
) -> None:
    app, handler = logger
    user = uuid.uuid4().hex
    before = handler.stats()
    started = time.monotonic()
    app.info("%s", message, extra={**extras, "user_id": user})
    handler.flush()
    assert time.monotonic() - started < SLOW
    after = handler.stats()
    assert after.failed == before.failed
    dropped = sum(after.dropped.values()) - sum(before.dropped.values())
    assert all(reason and reason.isidentifier() for reason in after.dropped)
    assert len(stored(server, user)) + dropped == 1


@bounded(40)
@given(message=messages, extras=plain_extras)
def test_the_structlog_processor_delivers_an_event_dict_exactly(
    processor: TrubricsStructlogProcessor, server: LocalServer, message: str, extras: dict[str, Any]
) -> None:
    user = uuid.uuid4().hex
    event_dict = {**extras, "event": message, "user_id": user}
    copy = dict(event_dict)
    started = time.monotonic()
    assert processor(None, "info", event_dict) is event_dict
    processor.flush()
    assert time.monotonic() - started < SLOW
    assert event_dict == copy
    [event] = server.events(user_id=user)
    assert event["event"] == message
    assert event.get("properties", {}) == extras
    stats = processor.stats()
    assert (stats.failed, dict(stats.dropped)) == (0, {})


@bounded(60)
@given(message=st.one_of(messages, hostile_value), extras=hostile_extras)
def test_the_structlog_processor_survives_hostile_event_dicts(
    processor: TrubricsStructlogProcessor, server: LocalServer, message: Any, extras: dict[str, Any]
) -> None:
    user = uuid.uuid4().hex
    before = processor.stats()
    started = time.monotonic()
    processor(None, "info", {**extras, "event": message, "user_id": user})
    processor.flush()
    assert time.monotonic() - started < SLOW
    after = processor.stats()
    assert after.failed == before.failed
    dropped = sum(after.dropped.values()) - sum(before.dropped.values())
    assert all(reason and reason.isidentifier() for reason in after.dropped)
    assert len(stored(server, user)) + dropped == 1


# --- settings from the environment ----------------------------------------------------------------------

env_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20
)  # the environment holds neither NUL nor (encodable) lone surrogates
env_values = st.one_of(
    env_text,
    st.sampled_from(
        [
            "", " ", "0", "-1", "1", "1.5", "nan", "NaN", "inf", "-inf", "1e309", "9" * 5000, "true", "false",
            "yes", "0x10", "١٢", "http://", "https://", "https://example.com", "http://10.0.0.1", "ftp://x",
            "http://[::1]:1", "http://localhost:0", "https://example.com/path?q=1", ",", "a,,b.", "*",
        ]
    ),
)  # fmt: skip


@bounded(120)
@given(chosen=st.dictionaries(st.sampled_from(SETTINGS), env_values, min_size=1, max_size=3))
def test_any_environment_configures_or_says_why(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer, api_key: str, chosen: dict[Any, str]
) -> None:
    with monkeypatch.context() as patch:
        patch.setenv("TRUBRICS_API_KEY", api_key)
        patch.setenv("TRUBRICS_HOST", server.url)
        for setting, value in chosen.items():
            patch.setenv(setting.env, value)
        started = time.monotonic()
        for make in (TrubricsClient, TrubricsHandler):
            try:
                made = make()
            except ConfigurationError as error:
                text = str(error)
                assert text[:1].isupper() or text.startswith("TRUBRICS_"), text
                assert text.rstrip().endswith("."), text
                continue
            if isinstance(made, TrubricsHandler):
                made.close(timeout=2)
        assert time.monotonic() - started < SLOW


def test_the_nan_of_a_float_is_never_a_number_the_api_sees() -> None:
    """A guard on the strategies: `nan` and `inf` attribute values really reach the mapping."""
    span = SpanData("chat", "1" * 32, "2" * 16, 0, 1, {"gen_ai.usage.input_tokens": math.nan})
    assert_accepted(spans_to_records([span]))


def test_a_cycle_of_parents_among_model_calls_ends() -> None:
    """Found by the span property: a call whose parent chain loops (a self-parent) hung the nested merge."""
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    looped = SpanData("chat", "1" * 32, "a" * 16, 0, 1, chat, parent_span_id="a" * 16)
    child = SpanData("chat", "1" * 32, "b" * 16, 0, 1, chat, parent_span_id="a" * 16)
    started = time.monotonic()
    assert_accepted(spans_to_records([looped, child]))
    assert time.monotonic() - started < SLOW
