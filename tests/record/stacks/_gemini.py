"""The Gemini scenarios, shared by the `gemini-*` stacks: the real `google-genai` client and the fake.

Each stack script sets its environment and instruments the client its own way, then calls `record`.
Cases: `chat`, `stream` (`generate_content_stream`), `tool` (a function declaration, answered with a
`functionCall`; automatic function calling is off, as no Python function is given) and `conversation`
(two calls, the second with the first turn as history).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _capture import CHAT, STREAM, SYSTEM, THREAD_ID, TOOL, TURNS, USER_ID, WEATHER_TOOL, Recorder

import trubrics_otel
from trubrics_otel.demo.fake_gemini import FakeGemini

MODEL = "gemini-2.5-flash"
"""The request model; the fake answers with `modelVersion` `gemini-2.5-flash-001`."""


def record(recorder: Recorder) -> None:
    """Record every case with a client on the fake endpoint, inside `trubrics_otel.context(...)`."""
    from google import genai
    from google.genai import types

    with FakeGemini(delay=0.01) as fake:
        client = genai.Client(api_key="fake", http_options=types.HttpOptions(base_url=fake.base_url))
        config = types.GenerateContentConfig(system_instruction=SYSTEM)
        tool = types.Tool(
            function_declarations=[
                types.FunctionDeclaration(
                    name=WEATHER_TOOL["name"],
                    description=WEATHER_TOOL["description"],
                    parameters_json_schema=WEATHER_TOOL["parameters"],
                )
            ]
        )

        def turn(role: str, text: str) -> Any:
            return types.Content(role=role, parts=[types.Part(text=text)])

        with trubrics_otel.context(user_id=USER_ID, thread_id=THREAD_ID):
            with recorder.case("chat"):
                client.models.generate_content(model=MODEL, contents=CHAT, config=config)
            with recorder.case("stream"):
                for _ in client.models.generate_content_stream(model=MODEL, contents=STREAM, config=config):
                    pass
            with recorder.case("tool"):
                client.models.generate_content(
                    model=MODEL,
                    contents=TOOL,
                    config=types.GenerateContentConfig(system_instruction=SYSTEM, tools=[tool]),
                )
            with recorder.case("conversation"):
                history = [turn("user", TURNS[0])]
                first = client.models.generate_content(model=MODEL, contents=history, config=config)
                client.models.generate_content(
                    model=MODEL,
                    contents=[*history, turn("model", first.text or ""), turn("user", TURNS[1])],
                    config=config,
                )
