"""The model calls both legacy apps make, as one user in one thread, against the fake model.

A multi-turn chat (its prompt is the last user message), a stream with usage, a tool call, and the turn
that answers the tool call: every kind of per-message log record openai-v2 2.3b0 emits.
"""

import os

import openai

import trubrics_otel

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def make_calls() -> None:
    """Make the four calls through a real `openai` client pointed at FAKE_OPENAI_BASE_URL."""
    client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_BASE_URL"], api_key="fake", max_retries=0)
    with trubrics_otel.context(user_id="legacy-user", thread_id="legacy-thread"):
        client.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Hello, who are you?"},
                {"role": "assistant", "content": "I am your assistant."},
                {"role": "user", "content": "Say hello to the team"},
            ],
        )
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Count to three"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass
        question = {"role": "user", "content": "What is the weather in Paris?"}
        asked = client.chat.completions.create(model="gpt-4o", messages=[question], tools=[WEATHER_TOOL])
        tool_call = asked.choices[0].message.tool_calls[0]
        client.chat.completions.create(
            model="gpt-4o",
            messages=[
                question,
                asked.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": tool_call.id, "content": "Sunny, 21C"},
            ],
            tools=[WEATHER_TOOL],
        )
