"""The Anthropic scenarios, shared by the `anthropic-*` stacks: the real `anthropic` client and the fake.

Each stack script sets its environment and instruments the client its own way, then calls `record`. The
client is built after the `Recorder`, so that the SDK's own tracing (anthropic 2.x traces every call once
a tracer provider exists) finds the Recorder's global provider, as it finds an application's.

Cases: `chat`, `stream` (`messages.create(stream=True)`), `stream-helper` (`messages.stream()`), `tool`
and `conversation` (two calls, the second with the first turn as history).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _capture import CHAT, STREAM, SYSTEM, THREAD_ID, TOOL, TURNS, USER_ID, WEATHER_TOOL, Recorder

import trubrics_otel
from trubrics_otel.demo.fake_anthropic import FakeAnthropic

MODEL = "claude-haiku-4-5"
"""The request model; the fake answers as `claude-haiku-4-5-20251001`."""
MAX_TOKENS = 256
TOOLS = [
    {
        "name": WEATHER_TOOL["name"],
        "description": WEATHER_TOOL["description"],
        "input_schema": WEATHER_TOOL["parameters"],
    }
]


def record(recorder: Recorder) -> None:
    """Record every case with a client on the fake endpoint, inside `trubrics_otel.context(...)`."""
    import anthropic

    with FakeAnthropic(delay=0.01) as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="fake", max_retries=0)

        def create(messages: list[dict[str, Any]], **options: Any) -> Any:
            return client.messages.create(
                model=MODEL, max_tokens=MAX_TOKENS, system=SYSTEM, messages=messages, **options
            )

        with trubrics_otel.context(user_id=USER_ID, thread_id=THREAD_ID):
            with recorder.case("chat"):
                create([{"role": "user", "content": CHAT}])
            with recorder.case("stream"):
                for _ in create([{"role": "user", "content": STREAM}], stream=True):
                    pass
            with (
                recorder.case("stream-helper"),
                client.messages.stream(
                    model=MODEL,
                    max_tokens=MAX_TOKENS,
                    system=SYSTEM,
                    messages=[{"role": "user", "content": STREAM}],
                ) as stream,
            ):
                for _ in stream.text_stream:
                    pass
                stream.get_final_message()
            with recorder.case("tool"):
                create([{"role": "user", "content": TOOL}], tools=TOOLS)
            with recorder.case("conversation"):
                history: list[dict[str, Any]] = [{"role": "user", "content": TURNS[0]}]
                first = create(history)
                answer = "".join(block.text for block in first.content if block.type == "text")
                create(
                    [
                        *history,
                        {"role": "assistant", "content": answer},
                        {"role": "user", "content": TURNS[1]},
                    ]
                )
