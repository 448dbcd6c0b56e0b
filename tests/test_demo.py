"""The main job: `trubrics-otel demo` chats through a real instrumentation and shows what arrived."""

from __future__ import annotations

import io

from opentelemetry.sdk.trace import TracerProvider

from trubrics_otel.demo import run_demo
from trubrics_otel.demo._run import ANSWERS, CONVERSATIONS, _traced_by_hand
from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.exporters import TrubricsSpanExporter
from trubrics_otel.mapping.join import ContentJoin
from trubrics_otel.server import LocalServer


def test_the_demo_delivers_every_turn_and_shows_it() -> None:
    """Every prompt of both conversations arrives once, with its answer, user and thread, and is printed."""
    out = io.StringIO()

    assert run_demo(out) == 0

    text = out.getvalue()
    assert "Delivered 4 LLM events in 1 request; lost 0." in text
    for user, thread, prompts in CONVERSATIONS:
        for prompt in prompts:
            line = next(line for line in text.splitlines() if prompt in line)
            assert line.split()[:2] == [user, thread]
            assert ANSWERS[prompt] in line


def test_without_an_instrumentation_the_spans_are_made_by_hand(server: LocalServer, api_key: str) -> None:
    """The fallback chat traces each call with GenAI attributes, which map like an instrumentation's."""
    provider = TracerProvider()
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with FakeOpenAI() as model:
        chat = _traced_by_hand(provider, model)
        answer = chat([{"role": "user", "content": "Hello"}])

    (event,) = server.llm_events()
    assert (event["prompt"], event["generation"]) == ("Hello", answer)
    assert event["assistant_id"] == "gpt-4o-mini-2024-08-06"
