"""A local stand-in for the Anthropic Messages API, for the tests and the recordings of Anthropic stacks.

`FakeAnthropic` serves ``POST /v1/messages`` on 127.0.0.1 with nothing but the standard library. Its
answers are deterministic and shaped like the real API's, closely enough for the ``anthropic`` client to
parse both a plain answer and a stream (``stream=True`` and the ``client.messages.stream()`` helper):

* the reply text is derived from the last user message (``"Echo: <text>"`` unless a reply function is
  given); a conversation that ends with a ``tool_result`` is answered ``"Tool result: <content>"``;
* the response model differs from the request model: a date suffix is appended when it has none;
* ``usage`` counts words as tokens and always carries non-zero ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``; as in the real API, ``input_tokens`` counts only the uncached rest;
* ``stream: true`` is answered with the API's server-sent events: ``message_start``,
  ``content_block_start``, ``ping``, ``content_block_delta``, ``content_block_stop``, ``message_delta``
  (with ``stop_reason`` and the usage) and ``message_stop``;
* a request that offers ``tools`` and whose last user message mentions "weather" is answered with a short
  text block and a ``tool_use`` block, and ``stop_reason`` ``tool_use``;
* errors can be queued, and a delay can be added to every response so that latencies are above zero.

Every request received is recorded. The server checks no API key and binds the loopback address.

Example:
    >>> import anthropic
    >>> with FakeAnthropic() as server:  # doctest: +SKIP
    ...     client = anthropic.Anthropic(base_url=server.url, api_key="test")
    ...     reply = client.messages.create(
    ...         model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
    ...     )
    ...     reply.content[0].text
    'Echo: Hello'

"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
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

__all__ = ["FakeAnthropic", "RecordedRequest", "ReplyFunction", "default_reply"]

_DEFAULT_MODEL_SUFFIX = "-20251001"
_DATED = re.compile(r"-\d{8}$")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class _ToolUse:
    tool_id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class _Answer:
    text: str | None
    tool_uses: list[_ToolUse] = field(default_factory=list)

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tool_uses else "end_turn"

    def blocks(self) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        if self.text is not None:
            content.append({"type": "text", "text": self.text})
        content.extend(
            {"type": "tool_use", "id": use.tool_id, "name": use.name, "input": use.arguments}
            for use in self.tool_uses
        )
        return content


class FakeAnthropic(FakeServer):
    """A deterministic Anthropic Messages API on the loopback interface.

    Use it as a context manager, or call `start` and `stop`. Give clients `url` as ``base_url``.

    Args:
        port: The port to listen on; 0 (the default) picks a free one.
        host: The address to bind; the loopback address by default.
        reply: Maps the last user message's text to the reply text; `default_reply` when not given.
        delay: Seconds to wait before each response (before the first event of a stream).
        model_suffix: Appended to a request model that ends with no date, to form the response model.
        cache_read_tokens: Reported as ``usage.cache_read_input_tokens``.
        cache_creation_tokens: Reported as ``usage.cache_creation_input_tokens``.

    Token counts are word counts: ``input_tokens`` is the number of words of the system prompt and all
    message texts (at least 1), ``output_tokens`` the number of words of the answer's text and of each tool
    call's JSON input. The cache counts are added to neither.

    """

    server_version = "FakeAnthropic/1.0"
    request_id_header = "request-id"

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        reply: ReplyFunction | None = None,
        delay: float = 0.0,
        model_suffix: str = _DEFAULT_MODEL_SUFFIX,
        cache_read_tokens: int = 4,
        cache_creation_tokens: int = 2,
    ) -> None:
        if cache_read_tokens < 0 or cache_creation_tokens < 0:
            raise ValueError("cache token counts must not be negative")
        super().__init__(port, host=host, delay=delay)
        self._reply: ReplyFunction = reply if reply is not None else default_reply
        self._model_suffix = model_suffix
        self._cache_read_tokens = cache_read_tokens
        self._cache_creation_tokens = cache_creation_tokens

    @property
    def base_url(self) -> str:
        """The URL to give Anthropic clients as ``base_url``: the root URL (they add ``/v1``)."""
        return self.url

    def queue_error(
        self, status: int = 400, message: str = "Injected error.", error_type: str | None = None
    ) -> None:
        """Make the next API request fail with an Anthropic-style error response.

        Errors queued by several calls are used one per request, in order. Note that Anthropic clients
        retry 408, 409, 429 and 5xx responses unless ``max_retries=0``.

        Args:
            status: The HTTP status code to answer with.
            message: The ``error.message`` of the response body.
            error_type: The ``error.type`` of the response body; by default the API's type for the status.

        """
        self._queue(HTTPError(status, message, error_type))

    # FakeServer

    def _serves(self, path: str) -> bool:
        return path.rstrip("/") == "/v1/messages"

    def _error_body(self, error: HTTPError) -> dict[str, Any]:
        kind = error.error_type or _ERROR_TYPES.get(error.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": error.message}}

    def _respond(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Reply:
        if method != "POST" or path != "/v1/messages":
            raise HTTPError(HTTPStatus.NOT_FOUND, f"Not found: {method} {path}")
        if not isinstance(body, dict):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "The request body is not valid JSON.")
        model = self._response_model(body)
        if not isinstance(body.get("max_tokens"), int):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "max_tokens: Field required")
        number = self._next_id()
        answer = self._answer(body, number)
        message = {
            "id": f"msg_fake{number:06d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": answer.blocks(),
            "stop_reason": answer.stop_reason,
            "stop_sequence": None,
            "usage": self._usage(body, answer),
        }
        if body.get("stream"):
            return Reply(stream=_events(message))
        return Reply(body=message)

    # The answer

    def _response_model(self, body: Mapping[str, Any]) -> str:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "model: Field required")
        return model if _DATED.search(model) else model + self._model_suffix

    def _answer(self, body: Mapping[str, Any], number: int) -> _Answer:
        messages = _messages(body)
        last = messages[-1]
        results = _tool_results(last.get("content")) if last.get("role") == "user" else []
        if results:
            return _Answer(f"Tool result: {' '.join(results)}")
        last_user: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        user_text = _text(last_user.get("content"))
        tools = [
            tool
            for tool in body.get("tools") or []
            if isinstance(tool, dict) and isinstance(tool.get("name"), str)
        ]
        if tools and last.get("role") == "user" and mentions_weather(user_text):
            tool = tools[pick_tool([tool["name"] for tool in tools])]
            arguments = tool_arguments(tool.get("input_schema"), user_text)
            preamble = f"I will look up the weather in {next(iter(arguments.values()), 'Paris')}."
            return _Answer(preamble, [_ToolUse(f"toolu_fake{number:06d}", tool["name"], arguments)])
        return _Answer(self._reply(user_text))

    def _usage(self, body: Mapping[str, Any], answer: _Answer) -> dict[str, Any]:
        texts = [_text(body.get("system"))] + [_text(m.get("content")) for m in _messages(body)]
        output = words(answer.text or "") + sum(words(json.dumps(use.arguments)) for use in answer.tool_uses)
        return {
            "input_tokens": max(1, sum(words(text) for text in texts)),
            "cache_creation_input_tokens": self._cache_creation_tokens,
            "cache_read_input_tokens": self._cache_read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self._cache_creation_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output,
            "service_tier": "standard",
        }


def _events(message: Mapping[str, Any]) -> Iterator[bytes]:
    """Return the server-sent events that stream a message, as the API sends them."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    yield _event(
        "message_start",
        {
            "type": "message_start",
            "message": {
                **message,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
    )
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield _event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            if index == 0:
                yield _event("ping", {"type": "ping"})
            for piece in pieces(block["text"]):
                delta = {"type": "text_delta", "text": piece}
                yield _event(
                    "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                )
        else:
            start = {**block, "input": {}}
            yield _event(
                "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
            )
            for piece in ["", *pieces(json.dumps(block["input"]))]:
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield _event(
                    "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                )
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    end_usage = {key: usage[key] for key in usage if key not in ("cache_creation", "service_tier")}
    yield _event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": end_usage,
        },
    )
    yield _event("message_stop", {"type": "message_stop"})


def _event(name: str, payload: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "messages: at least one message is required")
    found = [m for m in messages if isinstance(m, dict)]
    if not found:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "messages: each message must be an object")
    return found


def _text(content: Any) -> str:
    """Return the text of a message content or system prompt: a string, or its text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            block.get("text") for block in content if isinstance(block, dict) and block.get("type") == "text"
        ]
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def _tool_results(content: Any) -> list[str]:
    """Return the texts of the ``tool_result`` blocks of a message content."""
    if not isinstance(content, list):
        return []
    return [
        _text(block.get("content"))
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
