"""The fake Gemini endpoint, driven by the real `google-genai` client: plain, streamed, tools, errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google import genai
from google.genai import errors, types

from trubrics_otel.demo.fake_gemini import FakeGemini

MODEL = "gemini-2.5-flash"
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Get the current weather for a city.",
            parameters_json_schema={
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        )
    ]
)


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture
def client(fake: FakeGemini) -> genai.Client:
    return genai.Client(api_key="fake", http_options=types.HttpOptions(base_url=fake.base_url))


def test_plain_answer(client: genai.Client, fake: FakeGemini) -> None:
    """An answer echoes the last user turn, with `modelVersion`, `responseId`, `STOP` and word counts."""
    response = client.models.generate_content(
        model=MODEL, contents="Say hello", config=types.GenerateContentConfig(system_instruction="Be brief.")
    )

    assert response.text == "Echo: Say hello"
    assert (response.model_version, response.response_id) == ("gemini-2.5-flash-001", "fake000001")
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (4, 3, 7)
    assert usage.cached_content_token_count == 2
    (request,) = fake.requests
    assert request.path.endswith(f"/models/{MODEL}:generateContent")


def test_stream(client: genai.Client, fake: FakeGemini) -> None:
    """A stream sends one chunk per word; only the last has the finish reason and the output count."""
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Count to three"))

    assert [chunk.text for chunk in chunks] == ["Echo: ", "Count ", "to ", "three"]
    last = chunks[-1]
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert (last.usage_metadata.prompt_token_count, last.usage_metadata.candidates_token_count) == (3, 4)
    assert chunks[0].usage_metadata is not None
    assert chunks[0].usage_metadata.candidates_token_count is None
    assert fake.requests[0].path.endswith(":streamGenerateContent?alt=sse")


def test_function_call(client: genai.Client) -> None:
    """Declarations offered and the weather asked: a `functionCall` part with the place as argument."""
    response = client.models.generate_content(
        model=MODEL,
        contents="What is the weather in Paris?",
        config=types.GenerateContentConfig(tools=[WEATHER]),
    )

    assert [(call.name, call.args) for call in response.function_calls or []] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_token_count == 2


def test_streamed_function_call_with_a_typed_schema(client: genai.Client) -> None:
    """A `Schema` with Gemini's capitalised types is filled too, and streams as one chunk."""
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                parameters=types.Schema(
                    type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
                ),
            )
        ]
    )
    chunks = list(
        client.models.generate_content_stream(
            model=MODEL, contents="Weather in Rome?", config=types.GenerateContentConfig(tools=[tool])
        )
    )

    assert [(call.name, call.args) for chunk in chunks for call in chunk.function_calls or []] == [
        ("get_weather", {"city": "Rome"})
    ]


def test_function_response_is_answered(client: genai.Client) -> None:
    """A conversation ending with a `functionResponse` is answered with it."""
    contents = [
        types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")]),
        types.Content(
            role="model",
            parts=[types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"}))],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(name="get_weather", response={"sky": "sun"})
                )
            ],
        ),
    ]
    response = client.models.generate_content(
        model=MODEL, contents=contents, config=types.GenerateContentConfig(tools=[WEATHER])
    )

    assert response.text == 'Tool result: {"sky": "sun"}'


def test_queued_errors(client: genai.Client, fake: FakeGemini) -> None:
    """Queued errors answer the next requests, one each, in Gemini's error format."""
    fake.queue_error(429, "Quota exceeded.")
    fake.queue_error(500)

    with pytest.raises(errors.ClientError) as limited:
        client.models.generate_content(model=MODEL, contents="Hi")
    with pytest.raises(errors.ServerError) as failed:
        client.models.generate_content(model=MODEL, contents="Hi")

    assert (limited.value.code, limited.value.status, limited.value.message) == (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded.",
    )
    assert (failed.value.code, failed.value.status) == (500, "INTERNAL")
    assert client.models.generate_content(model=MODEL, contents="Hi").text == "Echo: Hi"


def test_unknown_method_is_not_found(client: genai.Client) -> None:
    """An endpoint the fake does not serve answers 404."""
    with pytest.raises(errors.ClientError) as missing:
        client.models.count_tokens(model=MODEL, contents="Hi")

    assert missing.value.code == 404
