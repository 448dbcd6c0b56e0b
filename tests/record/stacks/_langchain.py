"""The scenarios every LangChain stack records: `ChatOpenAI` against the fake OpenAI endpoint.

A stack script instruments the recorder's provider its own way and calls `record(recorder)`.
"""

from __future__ import annotations

from _capture import CHAT, STREAM, SYSTEM, THREAD_ID, TOOL, TURNS, USER_ID, WEATHER_TOOL, Recorder
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

import trubrics_otel
from trubrics_otel.demo.fake_openai import FakeOpenAI


def record(recorder: Recorder) -> None:
    """Record the cases `chat`, `stream`, `tool`, `conversation` and `chain`."""
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
