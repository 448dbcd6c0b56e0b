"""LangChain's `ChatOpenAI` traced by OpenLLMetry's LangChain instrumentation, against the fake endpoint.

Content capture is turned on as OpenLLMetry documents it, `TRACELOOP_TRACE_CONTENT=true` (0.62 defaults
to it too), with the default `use_attributes=True`: messages as `gen_ai.input.messages` and
`gen_ai.output.messages` span attributes, no log records.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["TRACELOOP_TRACE_CONTENT"] = "true"

from _capture import (
    CHAT,
    STREAM,
    SYSTEM,
    THREAD_ID,
    TOOL,
    TURNS,
    USER_ID,
    WEATHER_TOOL,
    Recorder,
)
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from opentelemetry.instrumentation.langchain import LangchainInstrumentor

import trubrics_otel
from trubrics_otel.demo.fake_openai import FakeOpenAI

STACK = "langchain-openllmetry"


def main() -> None:
    recorder = Recorder(STACK)
    LangchainInstrumentor().instrument(tracer_provider=recorder.tracer_provider)
    with FakeOpenAI(delay=0.01) as fake:
        model = ChatOpenAI(base_url=fake.base_url, api_key="fake", model="gpt-4o", stream_usage=True)
        with trubrics_otel.context(user_id=USER_ID, thread_id=THREAD_ID):
            with recorder.case("chat"):
                model.invoke([SystemMessage(SYSTEM), HumanMessage(CHAT)])
            with recorder.case("stream"):
                for _ in model.stream([SystemMessage(SYSTEM), HumanMessage(STREAM)]):
                    pass
            with recorder.case("tool"):
                tools = [{"type": "function", "function": WEATHER_TOOL}]
                model.bind_tools(tools).invoke([SystemMessage(SYSTEM), HumanMessage(TOOL)])
            with recorder.case("conversation"):
                history = [SystemMessage(SYSTEM), HumanMessage(TURNS[0])]
                first = model.invoke(history)
                model.invoke([*history, AIMessage(first.content), HumanMessage(TURNS[1])])
            with recorder.case("chain"):
                prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])
                (prompt | model | StrOutputParser()).invoke({"question": CHAT})


if __name__ == "__main__":
    main()
