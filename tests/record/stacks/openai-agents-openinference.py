"""The OpenAI Agents SDK traced by OpenInference's openai-agents instrumentation.

The agents use the SDK's chat-completions model (`OpenAIChatCompletionsModel`), because the fake endpoint
serves `/v1/chat/completions` and not the Responses API (`/v1/responses`) the SDK uses by default. The
instrumentation replaces the SDK's own trace processors (`exclusive_processor`, its default), so nothing
is sent to OpenAI's trace endpoint; it records message content unless `OPENINFERENCE_HIDE_*` says not to.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _capture import CHAT, STREAM, SYSTEM, THREAD_ID, TOOL, TURNS, USER_ID, Recorder
from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, function_tool
from openai import AsyncOpenAI
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

import trubrics_otel
from trubrics_otel.demo.fake_openai import FakeOpenAI

recorder = Recorder("openai-agents-openinference")
OpenAIAgentsInstrumentor().instrument(tracer_provider=recorder.tracer_provider)


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}"


async def stream(agent: Agent, text: str) -> None:
    result = Runner.run_streamed(agent, text)
    async for _ in result.stream_events():
        pass


async def main() -> None:
    with FakeOpenAI(delay=0.01) as fake:
        model = OpenAIChatCompletionsModel(
            model="gpt-4o", openai_client=AsyncOpenAI(base_url=fake.base_url, api_key="test")
        )
        # The SDK asks for usage in a stream only from api.openai.com unless the settings say so.
        settings = ModelSettings(include_usage=True)
        assistant = Agent(name="Assistant", instructions=SYSTEM, model=model, model_settings=settings)
        forecaster = Agent(
            name="Forecaster", instructions=SYSTEM, model=model, model_settings=settings, tools=[get_weather]
        )
        with trubrics_otel.context(user_id=USER_ID, thread_id=THREAD_ID):
            with recorder.case("chat"):
                await Runner.run(assistant, CHAT)
            with recorder.case("stream"):
                await stream(assistant, STREAM)
            with recorder.case("tool"):
                await Runner.run(forecaster, TOOL)
            with recorder.case("conversation"):
                first = await Runner.run(assistant, TURNS[0])
                history = [*first.to_input_list(), {"role": "user", "content": TURNS[1]}]
                await Runner.run(assistant, history)


if __name__ == "__main__":
    asyncio.run(main())
