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
import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

__all__ = ["FakeOpenAI", "RecordedRequest", "ReplyFunction", "default_reply"]

ReplyFunction = Callable[[str], str]
"""Maps the text of the last user message to the assistant's reply."""

_DEFAULT_MODEL_SUFFIX = "-2024-08-06"
_DEFAULT_EMBEDDING_DIMENSIONS = 8
_SYSTEM_FINGERPRINT = "fp_fake0001"
_WEATHER = re.compile(r"\bweather\b", re.IGNORECASE)
_PLACE = re.compile(r"\b(?:in|at|for)\s+([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)")
_DEFAULT_PLACE = "Paris"


def default_reply(text: str) -> str:
    """Return the default assistant reply for a user message.

    Args:
        text: The text of the last user message.

    Returns:
        ``"Echo: "`` followed by the text.

    """
    return f"Echo: {text}"


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request received by the fake server.

    Attributes:
        method: The HTTP method, e.g. ``"POST"``.
        path: The request path, e.g. ``"/v1/chat/completions"``.
        headers: The request headers, with lower-cased names.
        body: The JSON body decoded, or an empty dict when there was none or it was not a JSON object.
        received_at: The time the request was received, in seconds since the epoch.

    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float


@dataclass(frozen=True)
class _QueuedError:
    status: int
    message: str
    error_type: str


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


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding a reference to the fake it serves and its open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeOpenAI) -> None:
        super().__init__(address, _Handler)
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()


class _HTTPError(Exception):
    """Raised inside a handler to answer with an OpenAI-style error body."""

    def __init__(self, status: int, message: str, error_type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests (HTTP/1.1, kept alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    timeout = 60

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        with self._server.connections_lock:
            self._server.connections.add(self.connection)

    def finish(self) -> None:
        with self._server.connections_lock:
            self._server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the server quiet: requests are recorded, not logged."""

    def do_GET(self) -> None:
        """Answers every GET with a 404 in OpenAI's error format."""
        self._read_body()
        self._record({})
        self._send_error(_HTTPError(HTTPStatus.NOT_FOUND, f"Unknown request URL: GET {self.path}"))

    def do_POST(self) -> None:
        """Dispatches a POST to the chat completions or embeddings endpoint."""
        body = _decode_body(self._read_body())
        self._record(body if isinstance(body, dict) else {})
        try:
            self._answer_post(self.path.split("?", 1)[0].rstrip("/"), body)
        except _HTTPError as error:
            self._send_error(error)

    def _answer_post(self, path: str, body: Any) -> None:
        fake = self._server.fake
        if path not in ("/v1/chat/completions", "/v1/embeddings"):
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"Unknown request URL: POST {path}")
        if not isinstance(body, dict):
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "The request body must be a JSON object.")
        queued = fake._take_error()
        if queued is not None:
            fake._sleep()
            raise _HTTPError(queued.status, queued.message, queued.error_type)
        if path == "/v1/embeddings":
            payload = fake._embeddings(body)
        elif body.get("stream"):
            self._send_stream(fake._chat_chunks(body), fake)
            return
        else:
            payload = fake._chat_completion(body)
        fake._sleep()
        self._send_json(HTTPStatus.OK, payload)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _record(self, body: dict[str, Any]) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._server.fake._record(
            RecordedRequest(self.command, self.path, headers, body, received_at=time.time())
        )

    def _send_json(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_fake{self._server.fake._request_count():06d}")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, error: _HTTPError) -> None:
        code = "unknown_url" if error.status == HTTPStatus.NOT_FOUND else None
        self._send_json(
            error.status,
            {"error": {"message": error.message, "type": error.error_type, "param": None, "code": code}},
        )

    def _send_stream(self, chunks: Iterator[dict[str, Any]], fake: FakeOpenAI) -> None:
        fake._sleep()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_fake{fake._request_count():06d}")
        self.end_headers()
        for chunk in chunks:
            self._write_chunk(_sse(chunk))
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()


class FakeOpenAI:
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
        if delay < 0:
            raise ValueError("delay must not be negative")
        if reasoning_tokens < 0:
            raise ValueError("reasoning_tokens must not be negative")
        if embedding_dimensions < 1:
            raise ValueError("embedding_dimensions must be positive")
        self._port = port
        self._host = host
        self._reply: ReplyFunction = reply if reply is not None else default_reply
        self.delay = delay
        self._model_suffix = model_suffix
        self._reasoning_tokens = reasoning_tokens
        self._embedding_dimensions = embedding_dimensions
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._errors: list[_QueuedError] = []
        self._counter = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> FakeOpenAI:
        """Binds the socket and starts serving in a daemon thread.

        Returns:
            The server itself, so that ``server = FakeOpenAI().start()`` works.

        Raises:
            RuntimeError: If the server is already running.

        """
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already running")
        server = _Server((self._host, self._port), self)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._server = server
        self._thread = thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and release the port; do nothing if not running."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = None
        self._thread = None
        server.shutdown()
        with server.connections_lock:
            connections = list(server.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port the server listens on.

        Raises:
            RuntimeError: If the server is not running.

        """
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give OpenAI clients as ``base_url``: the root URL followed by ``/v1``."""
        return f"{self.url}/v1"

    # What tests look at or steer

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forgets the recorded requests and any queued errors."""
        with self._lock:
            self._requests.clear()
            self._errors.clear()

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
        with self._lock:
            self._errors.append(_QueuedError(status, message, error_type))

    # Used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def _take_error(self) -> _QueuedError | None:
        with self._lock:
            return self._errors.pop(0) if self._errors else None

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _sleep(self) -> None:
        if self.delay > 0:
            time.sleep(self.delay)

    def _answer(self, body: Mapping[str, Any], number: int) -> _Answer:
        messages = _messages(body)
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        user_text = _text(last_user.get("content")) if last_user is not None else ""
        last = messages[-1] if messages else {}
        tools = body.get("tools")
        if last.get("role") == "tool":
            return _Answer(f"Tool result: {_text(last.get('content'))}")
        if last.get("role") == "user" and isinstance(tools, list) and tools and _WEATHER.search(user_text):
            return _Answer(None, [_tool_call(tools, user_text, f"call_fake{number:06d}")])
        return _Answer(self._reply(user_text))

    def _usage(self, body: Mapping[str, Any], answer: _Answer) -> dict[str, Any]:
        prompt_tokens = max(1, sum(_words(_text(m.get("content"))) for m in _messages(body)))
        if answer.tool_calls:
            output_words = sum(_words(call.arguments) for call in answer.tool_calls)
        else:
            output_words = _words(answer.content or "")
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
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "you must provide a model parameter")
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

    def _chat_chunks(self, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Return the chunks of a streamed completion; the request is validated before this returns."""
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
                    for piece in _pieces(call.arguments):
                        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            else:
                yield chunk({"role": "assistant", "content": "", "refusal": None})
                for piece in _pieces(answer.content or ""):
                    yield chunk({"content": piece})
            yield chunk({}, answer.finish_reason)
            if include_usage:
                usage_chunk = chunk({})
                usage_chunk["choices"] = []
                usage_chunk["usage"] = self._usage(body, answer)
                yield usage_chunk

        return generate()

    def _embeddings(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "you must provide a model parameter")
        inputs = _embedding_inputs(body.get("input"))
        dimensions = body.get("dimensions")
        size = dimensions if isinstance(dimensions, int) and dimensions > 0 else self._embedding_dimensions
        as_base64 = body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        tokens = 0
        for index, text in enumerate(inputs):
            vector = _vector(text, size)
            tokens += max(1, _words(text))
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


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _sse(payload: Mapping[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _HTTPError(HTTPStatus.BAD_REQUEST, "'messages' must be a non-empty array")
    return [m for m in messages if isinstance(m, dict)]


def _text(content: Any) -> str:
    """Return the text of a message content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(part for part in parts if isinstance(part, str))
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    """Split text into stream deltas of one word each, keeping the whitespace so they join back."""
    return re.findall(r"\S+\s*|\s+", text)


def _tool_call(tools: Sequence[Any], user_text: str, call_id: str) -> _ToolCall:
    functions = [
        tool["function"]
        for tool in tools
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict) and tool["function"].get("name")
    ]
    if not functions:
        raise _HTTPError(HTTPStatus.BAD_REQUEST, "'tools' must contain at least one function")
    function = next((f for f in functions if "weather" in str(f["name"]).lower()), functions[0])
    match = _PLACE.search(user_text)
    place = match.group(1) if match else _DEFAULT_PLACE
    arguments = _arguments(function.get("parameters"), place)
    return _ToolCall(call_id, str(function["name"]), json.dumps(arguments))


def _arguments(schema: Any, place: str) -> dict[str, Any]:
    """Fill the required parameters of a JSON schema: strings get the place, others a neutral value."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required")
    names = [n for n in required if n in properties] if isinstance(required, list) else list(properties)[:1]
    neutral: dict[str, Any] = {"integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}
    arguments: dict[str, Any] = {}
    for name in names:
        spec = properties[name]
        kind = spec.get("type") if isinstance(spec, dict) else None
        arguments[name] = place if kind in (None, "string") else neutral.get(str(kind))
    return arguments


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
    raise _HTTPError(HTTPStatus.BAD_REQUEST, "'input' must be a non-empty string or array")


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
