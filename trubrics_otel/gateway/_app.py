"""The gateway's ASGI app: OTLP/HTTP in, the delivery core's answer out, as the OTLP spec defines it.

Routes:

- `POST /v1/traces`, `POST /v1/logs`: an OTLP export request, `application/x-protobuf` or
  `application/json`, plain, gzip or deflate; answered in the request's encoding;
- `GET /healthz` (the process runs), `GET /readyz` (it takes exports; 503 while draining),
  `GET /metrics` (Prometheus' text format, `_metrics`).

An export is answered only once its records are delivered or safely held: the decoding and the blocking
`core.send_*` run on a bounded pool of worker threads, never on the event loop. A sender's retry of an
export answered 503 is delivered, not dropped as a twin of itself (`_retries`). The answers are those a
sender's retry logic expects (OTLP/HTTP, "Failures"):

| status | when | the sender |
|---|---|---|
| 200 | delivered, or held for content (a `partial_success` counts the unreadable items) | moves on |
| 400 | the body is not a request in its encoding, or its gzip is broken | drops the batch |
| 401 | no token, a wrong token, or (pass-through) no `x-api-key` or a key Trubrics refused | drops |
| 413 | the body, or what it decompresses to, exceeds the bound | drops |
| 415 | a content type or content encoding the gateway does not read | drops |
| 429 | every worker is busy (`Retry-After`) | retries |
| 503 | delivery failed, or the gateway is draining (`Retry-After`) | retries |

Error bodies are `google.rpc.Status` (code and message), as OTLP asks. Nothing a request carries can make
the app raise: a bug costs that request a 500 and a report.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import zlib
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from trubrics_otel._config import ConfigurationError
from trubrics_otel._reporting import report
from trubrics_otel._stats import UNAUTHORIZED
from trubrics_otel.gateway._decode import Decoded, UndecodableBodyError, decode_logs, decode_spans
from trubrics_otel.gateway._keys import Projects, TokenCheck
from trubrics_otel.gateway._metrics import CONTENT_TYPE, ExportCounters, render
from trubrics_otel.gateway._retries import deliver_logs, deliver_spans

__all__ = ["MAX_BODY_BYTES", "MAX_EXPORTS", "RETRY_AFTER", "GatewayApp"]

_logger = logging.getLogger("trubrics_otel.gateway")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_BODY_BYTES: Final = 16 * 1024 * 1024
"""The most bytes an export request may carry, and decompress to."""
MAX_EXPORTS: Final = 16
"""Export requests delivered at once (worker threads); one more is answered 429."""
RETRY_AFTER: Final = 5
"""Seconds a sender is asked to wait before it retries a 429 or 503."""

_SIGNALS: Final = {"/v1/traces": "traces", "/v1/logs": "logs"}
_PROTOBUF: Final = frozenset({"application/x-protobuf", "application/protobuf"})
_JSON: Final = "application/json"
_DECOMPRESS: Final = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS, "x-gzip": zlib.MAX_WBITS | 16}
# google.rpc.Code of each answer's status
_RPC_CODE: Final = {400: 3, 401: 16, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14}


class _TooLargeError(ValueError):
    """A body, or what it decompresses to, exceeds the bound."""


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str
    retry_after: int | None = None


class GatewayApp:
    """The ASGI app of one gateway replica.

    Args:
        projects: the delivery cores to send through (`_keys.Projects`).
        token: the token senders must present.
        max_body_bytes: the most bytes a request may carry, and decompress to (413 beyond).
        max_exports: export requests delivered at once (429 beyond).
        retry_after: seconds a 429 or 503 asks the sender to wait.
    """

    def __init__(
        self,
        projects: Projects,
        token: TokenCheck,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_exports: int = MAX_EXPORTS,
        retry_after: int = RETRY_AFTER,
    ) -> None:
        self.projects = projects
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.max_exports = max_exports
        self.retry_after = retry_after
        self.counters = ExportCounters()
        self.ready = False
        self.draining = False
        self._workers = ThreadPoolExecutor(max_exports, thread_name_prefix="trubrics-gateway")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            answer = await self._route(scope, receive)
        except Exception:  # noqa: BLE001 - a bug costs its request a 500, never the server
            report(
                _logger, logging.ERROR, "Trubrics gateway: a request failed", key="gateway-bug", exc_info=True
            )
            answer = _error(500, "the gateway failed on this request", json_encoded=True)
        await _respond(send, answer)

    def drain(self) -> None:
        """Stop taking exports and send or spool what is held; blocks. Idempotent."""
        self.ready = False
        self.draining = True
        self.projects.close()
        self._workers.shutdown(wait=True)

    # --- routing ---------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # uvicorn has stopped accepting and answered the requests under way by now
                await asyncio.get_running_loop().run_in_executor(None, self.drain)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope: Scope, receive: Receive) -> _Answer:
        path: str = scope["path"]
        method: str = scope["method"]
        signal = _SIGNALS.get(path)
        if signal is not None:
            if method != "POST":
                return _error(405, f"{path} takes POST", json_encoded=True)
            answer = await self._export(signal, scope, receive)
            self.counters.answered(signal, answer.status)
            return answer
        if method not in ("GET", "HEAD"):
            return _error(405, f"{path} takes GET", json_encoded=True)
        if path == "/healthz":
            return _Answer(200, b"ok\n", "text/plain; charset=utf-8")
        if path == "/readyz":
            ready = self.ready and not self.draining
            return _Answer(200 if ready else 503, b"ready\n" if ready else b"draining\n", "text/plain")
        if path == "/metrics":
            text = await asyncio.get_running_loop().run_in_executor(None, self._metrics)
            return _Answer(200, text.encode(), CONTENT_TYPE)
        return _error(404, f"no route {path}: OTLP/HTTP is POST /v1/traces and /v1/logs", json_encoded=True)

    def _metrics(self) -> str:
        return render(
            self.counters,
            self.projects.totals(),
            held=self.projects.held(),
            projects=len(self.projects.cores()),
            ready=self.ready and not self.draining,
        )

    async def _export(self, signal: str, scope: Scope, receive: Receive) -> _Answer:
        headers = _headers(scope["headers"])
        content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        json_encoded = content_type == _JSON
        if not self.token.allows(headers.get(self.token.header)):
            return _error(401, f"a valid token is required in {self.token.header}", json_encoded=json_encoded)
        if content_type not in _PROTOBUF and not json_encoded:
            return _error(
                415,
                f"unsupported content type {content_type!r}: send application/x-protobuf or application/json",
                json_encoded=False,
            )
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in _DECOMPRESS and encoding != "identity":
            return _error(
                415, f"unsupported content encoding {encoding!r}: send gzip", json_encoded=json_encoded
            )
        key = headers.get("x-api-key", "").strip() or None
        if self.projects.pass_through and key is None:
            return _error(
                401, "this gateway sends with the sender's key: set x-api-key", json_encoded=json_encoded
            )
        if self.draining:
            return _error(
                503, "the gateway is draining", json_encoded=json_encoded, retry_after=self.retry_after
            )
        if self.counters.in_flight >= self.max_exports:
            return _error(
                429, "every worker is busy", json_encoded=json_encoded, retry_after=self.retry_after
            )
        self.counters.in_flight += 1
        try:
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                return _error(413, f"the body exceeds {self.max_body_bytes} bytes", json_encoded=json_encoded)
            return await asyncio.get_running_loop().run_in_executor(
                self._workers, self._deliver, signal, body, encoding, json_encoded, key
            )
        except RuntimeError:  # the pool was shut down: draining
            return _error(
                503, "the gateway is draining", json_encoded=json_encoded, retry_after=self.retry_after
            )
        finally:
            self.counters.in_flight -= 1

    # --- in a worker thread ----------------------------------------------------------------------

    def _deliver(
        self, signal: str, body: bytes, encoding: str, json_encoded: bool, key: str | None
    ) -> _Answer:
        """Decode a request and send its items; the answer the sender gets."""
        try:
            if encoding in _DECOMPRESS:
                body = _decompress(body, _DECOMPRESS[encoding], self.max_body_bytes)
            decoded: Decoded[Any] = (
                decode_spans(body, json_encoded=json_encoded)
                if signal == "traces"
                else decode_logs(body, json_encoded=json_encoded)
            )
        except _TooLargeError as error:
            return _error(413, str(error), json_encoded=json_encoded)
        except (UndecodableBodyError, zlib.error) as error:
            return _error(400, str(error), json_encoded=json_encoded)
        self.counters.items(signal, len(decoded.items), decoded.rejected)
        if decoded.items:
            try:
                with self.projects.lease(key) as project:
                    refused = project.core.client.stats().dropped.get(UNAUTHORIZED, 0)
                    if signal == "traces":
                        delivered = deliver_spans(project.core, project.failed, decoded.items)
                    else:
                        digest = hashlib.sha256(body).digest()
                        delivered = deliver_logs(project.core, project.failed, decoded.items, digest)
                    key_refused = project.core.client.stats().dropped.get(UNAUTHORIZED, 0) > refused
            except ConfigurationError:  # a sender's x-api-key that cannot be sent as a header
                return _error(401, "x-api-key is not a usable key", json_encoded=json_encoded)
            except RuntimeError:
                return _error(
                    503, "the gateway is draining", json_encoded=json_encoded, retry_after=self.retry_after
                )
            if not delivered:
                if key_refused and self.projects.pass_through:
                    return _error(401, "Trubrics refused the key in x-api-key", json_encoded=json_encoded)
                return _error(
                    503,
                    "the records could not be delivered to Trubrics yet",
                    json_encoded=json_encoded,
                    retry_after=self.retry_after,
                )
        return _success(signal, decoded, json_encoded)


# --- helpers -------------------------------------------------------------------------------------


def _headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers by lower-case name; of a repeated header, the last."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """Return the request body, or None as soon as it exceeds `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _decompress(body: bytes, wbits: int, limit: int) -> bytes:
    """Decompress a gzip or deflate body, refusing one that would exceed `limit` bytes (a zip bomb)."""
    decompressor = zlib.decompressobj(wbits)
    plain = decompressor.decompress(body, limit + 1)
    if len(plain) > limit or decompressor.unconsumed_tail:
        raise _TooLargeError(f"the body decompresses to more than {limit} bytes")
    if not decompressor.eof:
        raise zlib.error("the compressed body is truncated")
    return plain


def _success(signal: str, decoded: Decoded[Any], json_encoded: bool) -> _Answer:
    response: Message
    if signal == "traces":
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = decoded.problem
    else:
        response = ExportLogsServiceResponse()
        if decoded.rejected:
            response.partial_success.rejected_log_records = decoded.rejected
            response.partial_success.error_message = decoded.problem
    if json_encoded:
        return _Answer(200, json_format.MessageToJson(response, indent=None).encode(), _JSON)
    return _Answer(200, response.SerializeToString(), "application/x-protobuf")


def _error(status: int, message: str, *, json_encoded: bool, retry_after: int | None = None) -> _Answer:
    """An error answer with a `google.rpc.Status` body in the request's encoding."""
    code = _RPC_CODE.get(status, 2)
    if json_encoded:
        return _Answer(status, json.dumps({"code": code, "message": message}).encode(), _JSON, retry_after)
    return _Answer(status, _rpc_status(code, message), "application/x-protobuf", retry_after)


def _rpc_status(code: int, message: str) -> bytes:
    """`google.rpc.Status{code, message}` in protobuf's wire format (two fields: no dependency needed)."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


async def _respond(send: Send, answer: _Answer) -> None:
    headers = [
        (b"content-type", answer.content_type.encode()),
        (b"content-length", str(len(answer.body)).encode()),
    ]
    if answer.retry_after is not None:
        headers.append((b"retry-after", str(answer.retry_after).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
