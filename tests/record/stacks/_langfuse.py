"""The Langfuse SDK's scenarios, shared by the `langfuse-v3` and `langfuse-v5` stacks.

The SDK (3.x and later) is built on OpenTelemetry: given the Recorder's `TracerProvider`, it creates its
observations there, and adds its own exporting span processor to it. That processor must never reach the
network: the host is an unused loopback port, and every span is kept from it (3.x:
`blocked_instrumentation_scopes`, later: `should_export_span`). The keys are fake.

Each case runs under one outermost `@observe()` function, the trace's root, which sets the user and the
session the way the SDK version documents (`identified`); the model calls go through the SDK's OpenAI
integration (`langfuse.openai`), or through a plain client inside an `@observe(as_type="generation")`
function.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

os.environ.update(
    {
        "LANGFUSE_PUBLIC_KEY": "pk-lf-fake",
        "LANGFUSE_SECRET_KEY": "sk-lf-fake",
        "LANGFUSE_HOST": "http://127.0.0.1:9",
        "LANGFUSE_BASE_URL": "http://127.0.0.1:9",
    }
)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _capture import CHAT, STREAM, SYSTEM, THREAD_ID, TOOL, TURNS, USER_ID, WEATHER_TOOL, Recorder

from trubrics_otel.demo.fake_openai import FakeOpenAI

__all__ = ["THREAD_ID", "USER_ID", "Identified", "record"]

Identified = Callable[[Any], AbstractContextManager[None]]
"""Given the Langfuse client, a context entered inside the root observation that sets user and session."""


def record(stack: str, client_options: dict[str, Any], identified: Identified) -> None:
    """Record every case of `stack` with a Langfuse client built with `client_options`."""
    recorder = Recorder(stack)
    import openai
    from langfuse import Langfuse, observe

    langfuse = Langfuse(
        public_key="pk-lf-fake",
        secret_key="sk-lf-fake",
        host="http://127.0.0.1:9",
        tracer_provider=recorder.tracer_provider,
        **client_options,
    )

    with FakeOpenAI(delay=0.01) as server:
        # `langfuse.openai` patches the `openai` module when imported, so the `@observe(as_type="generation")`
        # case, which calls a plain client, is recorded before it is imported
        plain = openai.OpenAI(base_url=server.base_url, api_key="fake")

        @observe(as_type="generation")
        def call_model(messages: list[dict[str, Any]]) -> str:
            reply = plain.chat.completions.create(model="gpt-4o", messages=messages)
            usage = reply.usage
            langfuse.update_current_generation(
                model=reply.model,
                usage_details={
                    "input": usage.prompt_tokens,
                    "output": usage.completion_tokens,
                    "total": usage.total_tokens,
                    "input_cached_tokens": usage.prompt_tokens_details.cached_tokens,
                },
            )
            return str(reply.choices[0].message.content)

        @observe()
        def observed_generation() -> str:
            with identified(langfuse):
                return call_model([{"role": "system", "content": SYSTEM}, {"role": "user", "content": CHAT}])

        with recorder.case("observe-generation"):
            observed_generation()
            langfuse.flush()

        from langfuse.openai import openai as traced_openai

        client = traced_openai.OpenAI(base_url=server.base_url, api_key="fake")

        def ask(messages: list[dict[str, Any]], **options: Any) -> Any:
            return client.chat.completions.create(model="gpt-4o", messages=messages, **options)

        @observe()
        def chat() -> None:
            with identified(langfuse):
                ask([{"role": "system", "content": SYSTEM}, {"role": "user", "content": CHAT}])

        @observe()
        def stream() -> None:
            with identified(langfuse):
                chunks = ask(
                    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": STREAM}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                for _ in chunks:
                    pass

        @observe()
        def tool() -> None:
            with identified(langfuse):
                ask(
                    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TOOL}],
                    tools=[{"type": "function", "function": WEATHER_TOOL}],
                )

        @observe()
        def conversation() -> None:
            with identified(langfuse):
                messages: list[dict[str, Any]] = [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": TURNS[0]},
                ]
                first = ask(messages)
                messages += [
                    {"role": "assistant", "content": first.choices[0].message.content},
                    {"role": "user", "content": TURNS[1]},
                ]
                ask(messages)

        @observe()
        def answer(question: str) -> str:
            reply = ask([{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
            return str(reply.choices[0].message.content)

        @observe()
        def observed() -> str:
            with identified(langfuse):
                return answer(CHAT)

        cases: dict[str, Callable[[], object]] = {
            "chat": chat,
            "stream": stream,
            "tool": tool,
            "conversation": conversation,
            "observe": observed,
        }
        for name, run in cases.items():
            with recorder.case(name):
                run()
                langfuse.flush()
    langfuse.shutdown()
