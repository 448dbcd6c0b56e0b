"""A local stand-in for the Gemini API, for the tests and the recordings of Gemini stacks.

`FakeGemini` serves ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``
(``?alt=sse``) on 127.0.0.1 with nothing but the standard library. Its answers are deterministic and
shaped like the real API's, closely enough for the ``google-genai`` client to parse them:

* the reply text is derived from the last user turn (``"Echo: <text>"`` unless a reply function is
  given); a conversation that ends with a ``functionResponse`` is answered ``"Tool result: <response>"``;
* ``modelVersion`` differs from the request model: a version suffix is appended when it has none;
* ``usageMetadata`` counts words as tokens: ``promptTokenCount`` (which, as in the real API, includes
  the cached tokens), ``candidatesTokenCount``, ``totalTokenCount`` and a non-zero
  ``cachedContentTokenCount``;
* a stream sends one server-sent event per word, each a whole response with the usage so far, the last
  with ``finishReason``;
* a request that offers ``functionDeclarations`` and whose last user turn mentions "weather" is answered
  with a ``functionCall`` part;
* errors can be queued, and a delay can be added to every response so that latencies are above zero.

Every request received is recorded. The server checks no API key and binds the loopback address.

Example:
    >>> from google import genai
    >>> from google.genai import types
    >>> with FakeGemini() as server:  # doctest: +SKIP
    ...     client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=server.url))
    ...     client.models.generate_content(model="gemini-2.5-flash", contents="Hello").text
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

__all__ = ["FakeGemini", "RecordedRequest", "ReplyFunction", "default_reply"]

_DEFAULT_MODEL_SUFFIX = "-001"
_VERSIONED = re.compile(r"-\d{3}$|-preview-[\w-]+$")
_ENDPOINT = re.compile(r"^/(?P<version>v1(?:beta|alpha)?)/models/(?P<model>[^/:]+):(?P<method>\w+)$")
_SCHEMA_KEYS = ("parameters", "parametersJsonSchema", "parameters_json_schema")
"""Where a function declaration's schema may be; the client sends ``parameters_json_schema`` as it is."""
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass
class _Answer:
    text: str | None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class FakeGemini(FakeServer):
    """A deterministic Gemini API on the loopback interface.

    Use it as a context manager, or call `start` and `stop`. Give clients `url` as ``base_url``.

    Args:
        port: The port to listen on; 0 (the default) picks a free one.
        host: The address to bind; the loopback address by default.
        reply: Maps the last user turn's text to the reply text; `default_reply` when not given.
        delay: Seconds to wait before each response (before the first event of a stream).
        model_suffix: Appended to a request model that has no version, to form ``modelVersion``.

    Token counts are word counts: ``promptTokenCount`` is the number of words of the system instruction
    and all turns' texts (at least 1), ``candidatesTokenCount`` the number of words of the answer's text
    and of each function call's JSON arguments, and ``cachedContentTokenCount`` half of
    ``promptTokenCount`` rounded down, at least 1.

    """

    server_version = "FakeGemini/1.0"
    request_id_header = None

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        reply: ReplyFunction | None = None,
        delay: float = 0.0,
        model_suffix: str = _DEFAULT_MODEL_SUFFIX,
    ) -> None:
        super().__init__(port, host=host, delay=delay)
        self._reply: ReplyFunction = reply if reply is not None else default_reply
        self._model_suffix = model_suffix

    @property
    def base_url(self) -> str:
        """The URL to give ``google-genai`` clients as ``base_url``: the root URL (they add the version)."""
        return self.url

    def queue_error(
        self, status: int = 400, message: str = "Injected error.", error_type: str | None = None
    ) -> None:
        """Make the next API request fail with a Gemini-style error response.

        Errors queued by several calls are used one per request, in order. ``google-genai`` clients retry
        only when given retry options.

        Args:
            status: The HTTP status code to answer with.
            message: The ``error.message`` of the response body.
            error_type: The ``error.status`` of the response body; by default the API's for the status.

        """
        self._queue(HTTPError(status, message, error_type))

    # FakeServer

    def _serves(self, path: str) -> bool:
        return _ENDPOINT.match(path.rstrip("/")) is not None

    def _error_body(self, error: HTTPError) -> dict[str, Any]:
        status = error.error_type or _STATUSES.get(error.status, "UNKNOWN")
        return {"error": {"code": error.status, "message": error.message, "status": status}}

    def _respond(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Reply:
        match = _ENDPOINT.match(path)
        kind = match.group("method") if match else None
        if method != "POST" or match is None or kind not in ("generateContent", "streamGenerateContent"):
            raise HTTPError(HTTPStatus.NOT_FOUND, f"Not found: {method} {path}")
        if not isinstance(body, dict):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "Invalid JSON payload received.")
        model = match.group("model")
        version = model if _VERSIONED.search(model) else model + self._model_suffix
        number = self._next_id()
        answer = self._answer(body)
        response_id = f"fake{number:06d}"
        prompt = self._prompt_tokens(body)
        if kind == "generateContent":
            parts: list[dict[str, Any]] = [{"text": answer.text}] if answer.text is not None else []
            parts.extend({"functionCall": {"name": name, "args": args}} for name, args in answer.calls)
            candidate = _candidate(parts, "STOP")
            return Reply(
                body=_response(candidate, _usage(prompt, _output_tokens(answer)), version, response_id)
            )
        if query.get("alt") != "sse":
            raise HTTPError(HTTPStatus.BAD_REQUEST, "This fake streams only with alt=sse.")
        return Reply(stream=_events(answer, prompt, version, response_id))

    # The answer

    def _answer(self, body: Mapping[str, Any]) -> _Answer:
        contents = _contents(body)
        last = contents[-1]
        responses = [
            part["functionResponse"]
            for part in last.get("parts") or []
            if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict)
        ]
        if responses:
            results = [json.dumps(response.get("response")) for response in responses]
            return _Answer(f"Tool result: {' '.join(results)}")
        last_user: dict[str, Any] = next(
            (c for c in reversed(contents) if c.get("role", "user") == "user"), {}
        )
        user_text = _text(last_user)
        declarations = [
            declaration
            for tool in body.get("tools") or []
            if isinstance(tool, dict)
            for declaration in tool.get("functionDeclarations") or []
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str)
        ]
        if declarations and last.get("role", "user") == "user" and mentions_weather(user_text):
            declaration = declarations[pick_tool([d["name"] for d in declarations])]
            schema = next(
                (declaration[key] for key in _SCHEMA_KEYS if isinstance(declaration.get(key), dict)), None
            )
            return _Answer(None, [(declaration["name"], tool_arguments(schema, user_text))])
        return _Answer(self._reply(user_text))

    def _prompt_tokens(self, body: Mapping[str, Any]) -> int:
        system = body.get("systemInstruction")
        texts = [_text(system) if isinstance(system, dict) else ""]
        texts.extend(_text(content) for content in _contents(body))
        return max(1, sum(words(text) for text in texts))


def _events(answer: _Answer, prompt: int, version: str, response_id: str) -> Iterator[bytes]:
    """Return the server-sent events of a stream: one per word, or one per call; the last finishes."""
    parts: list[dict[str, Any]] = [{"text": piece} for piece in pieces(answer.text or "")]
    parts.extend({"functionCall": {"name": name, "args": args}} for name, args in answer.calls)
    parts = parts or [{"text": ""}]
    output = 0
    for index, part in enumerate(parts):
        output += words(part["text"]) if "text" in part else words(json.dumps(part["functionCall"]["args"]))
        last = index == len(parts) - 1
        candidate = _candidate([part], "STOP" if last else None)
        usage = _usage(prompt, output if last else None)
        yield f"data: {json.dumps(_response(candidate, usage, version, response_id))}\r\n\r\n".encode()


def _candidate(parts: list[dict[str, Any]], finish_reason: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    return candidate


def _response(
    candidate: dict[str, Any], usage: dict[str, Any], version: str, response_id: str
) -> dict[str, Any]:
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": version,
        "responseId": response_id,
    }


def _usage(prompt: int, output: int | None) -> dict[str, Any]:
    """Return ``usageMetadata``; a stream's chunks before the last have no candidate count yet."""
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if output is not None:
        usage["candidatesTokenCount"] = output
    usage["totalTokenCount"] = prompt + (output or 0)
    usage["cachedContentTokenCount"] = max(1, prompt // 2)
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": max(1, prompt // 2)}]
    return usage


def _output_tokens(answer: _Answer) -> int:
    return words(answer.text or "") + sum(words(json.dumps(args)) for _, args in answer.calls)


def _contents(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    contents = body.get("contents")
    found = [c for c in contents if isinstance(c, dict)] if isinstance(contents, list) else []
    if not found:
        raise HTTPError(
            HTTPStatus.BAD_REQUEST, "* GenerateContentRequest.contents: contents is not specified"
        )
    return found


def _text(content: Mapping[str, Any]) -> str:
    """Return the text parts of a content (a turn or the system instruction), joined by spaces."""
    parts = content.get("parts")
    if not isinstance(parts, list):
        return ""
    texts = [part.get("text") for part in parts if isinstance(part, dict)]
    return " ".join(text for text in texts if isinstance(text, str))
