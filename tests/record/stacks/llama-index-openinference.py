"""LlamaIndex's OpenAI LLM traced by OpenInference's llama-index instrumentation.

The instrumentation listens to LlamaIndex's own dispatcher and records message content unless
`OPENINFERENCE_HIDE_*` says not to. `chat_with_tools` and `predict_and_call` also trace
`OpenAI._prepare_chat_with_tools`, a span of kind LLM that sends no request.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _capture import CHAT, STREAM, SYSTEM, THREAD_ID, TOOL, TURNS, USER_ID, WEATHER_TOOL, Recorder
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI
from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

import trubrics_otel
from trubrics_otel.demo.fake_openai import FakeOpenAI

recorder = Recorder("llama-index-openinference")
LlamaIndexInstrumentor().instrument(tracer_provider=recorder.tracer_provider)


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}"


weather = FunctionTool.from_defaults(fn=get_weather, name=WEATHER_TOOL["name"])


def main() -> None:
    with FakeOpenAI(delay=0.01) as fake:
        llm = OpenAI(model="gpt-4o", api_base=fake.base_url, api_key="test")
        system = ChatMessage(role="system", content=SYSTEM)
        with trubrics_otel.context(user_id=USER_ID, thread_id=THREAD_ID):
            with recorder.case("chat"):
                llm.chat([system, ChatMessage(role="user", content=CHAT)])
            with recorder.case("stream"):
                for _ in llm.stream_chat([ChatMessage(role="user", content=STREAM)]):
                    pass
            with recorder.case("complete"):
                llm.complete(CHAT)
            with recorder.case("tool"):
                llm.chat_with_tools([weather], user_msg=TOOL)
            with recorder.case("predict_and_call"):
                llm.predict_and_call([weather], user_msg=TOOL)
            with recorder.case("conversation"):
                history = [system, ChatMessage(role="user", content=TURNS[0])]
                first = llm.chat(history)
                history += [first.message, ChatMessage(role="user", content=TURNS[1])]
                llm.chat(history)


if __name__ == "__main__":
    main()
