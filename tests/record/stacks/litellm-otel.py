"""LiteLLM's own OpenTelemetry callback (`litellm.callbacks = ["otel"]`), calling `openai/gpt-4o`.

The callback reuses the global SDK `TracerProvider` when one is set (the Recorder's), and keeps message
content on its spans by default (`message_logging`). LiteLLM runs its success callbacks after the call
returns, in a worker thread for sync calls, so each case waits for its spans before it ends.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _capture import CHAT, STREAM, SYSTEM, THREAD_ID, TOOL, TURNS, USER_ID, WEATHER_TOOL, Recorder

import trubrics_otel
from trubrics_otel.demo.fake_openai import FakeOpenAI

recorder = Recorder("litellm-otel")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the price list

import litellm  # noqa: E402  (after the Recorder: the callback takes the global provider it finds)

litellm.callbacks = ["otel"]
MODEL = "openai/gpt-4o"


def wait_for_spans(count: int, timeout: float = 10.0) -> None:
    """Wait until the callback has ended `count` spans (two a call) since the case began."""
    deadline = time.monotonic() + timeout
    while len(recorder.spans.get_finished_spans()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)


def main() -> None:
    with FakeOpenAI(delay=0.01) as fake:
        call = {"model": MODEL, "api_base": fake.base_url, "api_key": "test"}
        with trubrics_otel.context(user_id=USER_ID, thread_id=THREAD_ID):
            with recorder.case("chat"):
                litellm.completion(
                    **call,
                    messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": CHAT}],
                )
                wait_for_spans(2)
            with recorder.case("stream"):
                chunks = litellm.completion(
                    **call,
                    messages=[{"role": "user", "content": STREAM}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                for _ in chunks:
                    pass
                wait_for_spans(2)
            with recorder.case("tool"):
                litellm.completion(
                    **call,
                    messages=[{"role": "user", "content": TOOL}],
                    tools=[{"type": "function", "function": WEATHER_TOOL}],
                )
                wait_for_spans(2)
            with recorder.case("conversation"):
                history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TURNS[0]}]
                first = litellm.completion(**call, messages=history)
                wait_for_spans(2)
                history += [
                    {"role": "assistant", "content": first.choices[0].message.content},
                    {"role": "user", "content": TURNS[1]},
                ]
                litellm.completion(**call, messages=history)
                wait_for_spans(4)
    litellm.callbacks = []


if __name__ == "__main__":
    main()
