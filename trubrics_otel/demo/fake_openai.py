"""A local stand-in for the OpenAI HTTP API, for the demo and the tests.

`FakeOpenAI` serves the two endpoints that LLM instrumentations trace most, ``POST /v1/chat/completions``
and ``POST /v1/embeddings``, on 127.0.0.1 with nothing but the standard library. Its answers are
deterministic, shaped like the real API's closely enough for the ``openai`` client (1.x and later) to parse
them, and rich enough to exercise what a telemetry mapping has to handle:

* the reply text is derived from the last user message (``"Echo: <text>"`` unless a reply function is
  given);
* the response model differs from the request model (a date suffix is appended), as with the real API;
* ``usage`` counts words as tokens and always carries ``prompt_tokens_details.cached_tokens`` and
  ``completion_tokens_details.reasoning_tokens``;
* ``stream: true`` is answered with server-sent events, ending with a usage chunk when
  ``stream_options.include_usage`` is set;
* a request that offers ``tools`` and whose conversation ends with a user message mentioning "weather" is
  answered with a tool call;
* errors can be queued, and a delay can be added to every response so that latencies are above zero.

Every request received is recorded so that tests can assert on what the client sent. The server checks
no API key and must never face a network: it binds the loopback address unless told otherwise.

Example:
    >>> import openai
    >>> with FakeOpenAI() as server:  # doctest: +SKIP
    ...     client = openai.OpenAI(base_url=server.base_url, api_key="test")
    ...     reply = client.chat.completions.create(
    ...         model="gpt-4o", messages=[{"role": "user", "content": "Hello"}]
    ...     )
    ...     reply.choices[0].message.content
    'Echo: Hello'

"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from trubrics_otel.demo._fake_http import FakeServer, HTTPError, RecordedRequest, Reply
from trubrics_otel.demo._replies import (
    ReplyFunction,
    default_reply,
    mentions_weather,
    pick_tool,
    pieces,
    tool_arguments,
    words,
)

__all__ = ["FakeOpenAI", "RecordedRequest", "ReplyFunction", "default_reply"]

_DEFAULT_MODEL_SUFFIX = "-2024-08-06"
_DEFAULT_EMBEDDING_DIMENSIONS = 8
_SYSTEM_FINGERPRINT = "fp_fake0001"
_ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")


@dataclass
class _ToolCall:
    call_id: str
    name: str
    arguments: str


@dataclass
class _Answer:
    content: str | None
    tool_calls: list[_ToolCall] = field(default_factory=list)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


class FakeOpenAI(FakeServer):
    """A deterministic OpenAI-compatible HTTP server on the loopback interface.

    Use it as a context manager, or call `start` and `stop`. Point a client at `base_url`.

    Args:
        port: The port to listen on; 0 (the default) picks a free one.
        host: The address to bind; the loopback address by default.
        reply: Maps the last user message's text to the reply text; `default_reply` when not given.
            A conversation that ends with a tool result is answered with ``"Tool result: <content>"``.
        delay: Seconds to wait before each response (before the first chunk of a stream).
        model_suffix: Appended to the request model to form the response model of chat completions.
        reasoning_tokens: Reported in ``completion_tokens_details.reasoning_tokens`` and added to
            ``completion_tokens``.
        embedding_dimensions: Length of embedding vectors when the request does not set ``dimensions``.

    Token counts are word counts: ``prompt_tokens`` is the number of words in all message texts (at least
    1), ``completion_tokens`` the number of words in the reply (or in the tool-call arguments) plus
    ``reasoning_tokens``, and ``cached_tokens`` is half of ``prompt_tokens``, rounded down.

    """

    server_version = "FakeOpenAI/1.0"

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        reply: ReplyFunction | None = None,
        delay: float = 0.0,
        model_suffix: str = _DEFAULT_MODEL_SUFFIX,
        reasoning_tokens: int = 0,
        embedding_dimensions: int = _DEFAULT_EMBEDDING_DIMENSIONS,
    ) -> None:
        super().__init__(port, host=host, delay=delay)
        if reasoning_tokens < 0:
            raise ValueError("reasoning_tokens must not be negative")
        if embedding_dimensions < 1:
            raise ValueError("embedding_dimensions must be positive")
        self._reply: ReplyFunction = reply if reply is not None else default_reply
        self._model_suffix = model_suffix
        self._reasoning_tokens = reasoning_tokens
        self._embedding_dimensions = embedding_dimensions

    @property
    def base_url(self) -> str:
        """The URL to give OpenAI clients as ``base_url``: the root URL followed by ``/v1``."""
        return f"{self.url}/v1"

    def queue_error(
        self, status: int = 400, message: str = "Injected error.", error_type: str = "invalid_request_error"
    ) -> None:
        """Make the next API request fail with an OpenAI-style error response.

        Errors queued by several calls are used one per request, in order. Note that OpenAI clients retry
        408, 409, 429 and 5xx responses unless ``max_retries=0``.

        Args:
            status: The HTTP status code to answer with.
            message: The ``error.message`` of the response body.
            error_type: The ``error.type`` of the response body.

        """
        self._queue(HTTPError(status, message, error_type))

    # FakeServer

    def _error_body(self, error: HTTPError) -> dict[str, Any]:
        kind = error.error_type if error.error_type is not None else "invalid_request_error"
        code = "unknown_url" if error.status == HTTPStatus.NOT_FOUND else None
        return {"error": {"message": error.message, "type": kind, "param": None, "code": code}}

    def _respond(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Reply:
        """Answer a valid request after the delay, and an invalid one at once, before any queued error."""
        try:
            return self._reply_to(method, path, body)
        except HTTPError as error:
            return Reply(error.status, self._error_body(error), delayed=False)

    def _reply_to(self, method: str, path: str, body: Any) -> Reply:
        if method != "POST" or path not in _ENDPOINTS:
            raise HTTPError(HTTPStatus.NOT_FOUND, f"Unknown request URL: {method} {path or '/'}")
        if not isinstance(body, dict):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "The request body must be a JSON object.")
        queued = self._take_error()
        if queued is not None:
            return Reply(queued.status, self._error_body(queued))
        if path == "/v1/embeddings":
            return Reply(body=self._embeddings(body))
        if body.get("stream"):
            return Reply(stream=self._chat_chunks(body))
        return Reply(body=self._chat_completion(body))

    # The answers

    def _answer(self, body: Mapping[str, Any], number: int) -> _Answer:
        messages = _messages(body)
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        user_text = _text(last_user.get("content")) if last_user is not None else ""
        last = messages[-1] if messages else {}
        tools = body.get("tools")
        if last.get("role") == "tool":
            return _Answer(f"Tool result: {_text(last.get('content'))}")
        if last.get("role") == "user" and isinstance(tools, list) and tools and mentions_weather(user_text):
            return _Answer(None, [_tool_call(tools, user_text, f"call_fake{number:06d}")])
        return _Answer(self._reply(user_text))

    def _usage(self, body: Mapping[str, Any], answer: _Answer) -> dict[str, Any]:
        prompt_tokens = max(1, sum(words(_text(m.get("content"))) for m in _messages(body)))
        if answer.tool_calls:
            output_words = sum(words(call.arguments) for call in answer.tool_calls)
        else:
            output_words = words(answer.content or "")
        completion_tokens = output_words + self._reasoning_tokens
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": prompt_tokens // 2, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self._reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _response_model(self, body: Mapping[str, Any]) -> str:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "you must provide a model parameter")
        return model + self._model_suffix

    def _chat_completion(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model = self._response_model(body)
        number = self._next_id()
        answer = self._answer(body, number)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.content,
            "refusal": None,
            "annotations": [],
        }
        if answer.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in answer.tool_calls
            ]
        return {
            "id": f"chatcmpl-fake{number:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}
            ],
            "usage": self._usage(body, answer),
            "service_tier": "default",
            "system_fingerprint": _SYSTEM_FINGERPRINT,
        }

    def _chat_chunks(self, body: Mapping[str, Any]) -> Iterator[bytes]:
        """Return the events of a streamed completion; the request is validated before this returns."""
        model = self._response_model(body)
        number = self._next_id()
        answer = self._answer(body, number)
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
        created = int(time.time())
        chunk_id = f"chatcmpl-fake{number:06d}"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            payload: dict[str, Any] = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": _SYSTEM_FINGERPRINT,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                payload["usage"] = None
            return payload

        def generate() -> Iterator[dict[str, Any]]:
            if answer.tool_calls:
                yield chunk({"role": "assistant", "content": None, "refusal": None})
                for index, call in enumerate(answer.tool_calls):
                    yield chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": call.call_id,
                                    "type": "function",
                                    "function": {"name": call.name, "arguments": ""},
                                }
                            ]
                        }
                    )
                    for piece in pieces(call.arguments):
                        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            else:
                yield chunk({"role": "assistant", "content": "", "refusal": None})
                for piece in pieces(answer.content or ""):
                    yield chunk({"content": piece})
            yield chunk({}, answer.finish_reason)
            if include_usage:
                usage_chunk = chunk({})
                usage_chunk["choices"] = []
                usage_chunk["usage"] = self._usage(body, answer)
                yield usage_chunk

        return _events(generate())

    def _embeddings(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "you must provide a model parameter")
        inputs = _embedding_inputs(body.get("input"))
        dimensions = body.get("dimensions")
        size = dimensions if isinstance(dimensions, int) and dimensions > 0 else self._embedding_dimensions
        as_base64 = body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        tokens = 0
        for index, text in enumerate(inputs):
            vector = _vector(text, size)
            tokens += max(1, words(text))
            encoded: list[float] | str = (
                base64.b64encode(struct.pack(f"<{size}f", *vector)).decode("ascii") if as_base64 else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        self._next_id()
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _events(chunks: Iterator[Mapping[str, Any]]) -> Iterator[bytes]:
    """Return the server-sent events that stream the chunks, ending with ``[DONE]``."""
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "'messages' must be a non-empty array")
    return [m for m in messages if isinstance(m, dict)]


def _text(content: Any) -> str:
    """Return the text of a message content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(part for part in parts if isinstance(part, str))
    return ""


def _tool_call(tools: Sequence[Any], user_text: str, call_id: str) -> _ToolCall:
    functions = [
        tool["function"]
        for tool in tools
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict) and tool["function"].get("name")
    ]
    if not functions:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "'tools' must contain at least one function")
    function = functions[pick_tool([str(f["name"]) for f in functions])]
    arguments = tool_arguments(function.get("parameters"), user_text)
    return _ToolCall(call_id, str(function["name"]), json.dumps(arguments))


def _embedding_inputs(value: Any) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(item, int) for item in value):
            return [" ".join(str(item) for item in value)]
        if all(isinstance(item, str) for item in value):
            return list(value)
        if all(isinstance(item, list) for item in value):
            return [" ".join(str(token) for token in item) for item in value]
    raise HTTPError(HTTPStatus.BAD_REQUEST, "'input' must be a non-empty string or array")


def _vector(text: str, size: int) -> list[float]:
    """Return a unit vector derived from the SHA-256 of the text, exact in float32."""
    values: list[float] = []
    counter = 0
    while len(values) < size:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 127.5) / 127.5 for byte in digest)
        counter += 1
    values = values[:size]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in values]
