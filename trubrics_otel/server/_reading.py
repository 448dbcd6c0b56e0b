"""Reading a request to the local server: its body, its JSON, its query parameters and its fault requests.

The functions here turn what a client sent into values, or into the FastAPI-shaped problems
(`{"loc": [...], "msg": ..., "type": ...}`) that the production API answers with 422. A body is read to
its end, or thrown away, so that one connection can carry many requests (HTTP/1.1 keep-alive).

This module never answers, logs or stores anything: what to do with a value or a problem is the
handler's call (`_http`), and how a refusal is worded for the request line is `_refusals`'.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from io import BufferedIOBase
from typing import Final

from trubrics_otel._config import ConfigurationError
from trubrics_otel._events import JSONValue, Kind
from trubrics_otel.server._faults import Fault, check_fail_rate

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_QUERY_NUMBER",
    "NAME_PARAMETERS",
    "Body",
    "Payload",
    "content_length",
    "decode",
    "discard",
    "drain_chunked",
    "fault_request",
    "first",
    "non_negative",
    "wrong_filter",
]

MAX_BODY_BYTES: Final = 5 * 1024 * 1024
"""The largest request body the publish endpoints take; a larger one is answered with 413."""

# A body up to this size is read and thrown away before the 413, so that the client reads the answer
# instead of a connection reset; a larger one closes the connection.
_MAX_DISCARD_BYTES: Final = 64 * 1024 * 1024
_READ_CHUNK: Final = 64 * 1024


@dataclass(frozen=True)
class Body:
    """A request body, read to its end: `raw` is `None` when it exceeded `MAX_BODY_BYTES`."""

    raw: bytes | None


@dataclass(frozen=True)
class Payload:
    """A decoded JSON body, or the FastAPI-shaped problem that stopped its decoding."""

    value: object = None
    problem: dict[str, JSONValue] | None = None


def content_length(header: str | None) -> int | None:
    """Return the body's length: 0 without the header (a request without a body), None when malformed."""
    if header is None:
        return 0
    text = header.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def discard(rfile: BufferedIOBase, length: int) -> bool:
    """Read and throw away a body too large to take; return False when the connection cannot carry on.

    Args:
        rfile: the connection's input, at the start of the body.
        length: the body's `Content-Length`.

    Returns:
        True when the body was read to its end; False when it is over the discard limit (nothing is
        read) or the client hung up before its end.
    """
    if length > _MAX_DISCARD_BYTES:
        return False
    while length > 0:
        chunk = rfile.read(min(length, _READ_CHUNK))
        if not chunk:
            return False
        length -= len(chunk)
    return True


def drain_chunked(rfile: BufferedIOBase) -> None:
    """Read and discard a chunked body, up to the discard limit."""
    total = 0
    try:
        while total <= _MAX_DISCARD_BYTES:
            size = int(rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return
            total += size
            rfile.read(size + 2)
    except (OSError, ValueError):
        return


def decode(body: Body) -> Payload:
    """Decode a JSON body the way FastAPI does, refusing NaN and Infinity, which are not JSON."""
    if body.raw is None:
        return Payload()
    if not body.raw.strip():
        return Payload(problem={"loc": ["body"], "msg": "Field required", "type": "missing"})
    try:
        # the stored items are served to browsers, whose JSON.parse refuses NaN and Infinity
        return Payload(value=json.loads(body.raw, parse_constant=_refuse_constant))
    except json.JSONDecodeError as error:
        return Payload(problem=_json_invalid(error.pos))
    except UnicodeDecodeError as error:
        return Payload(problem=_json_invalid(error.start))
    except _NonFiniteError as error:
        return Payload(problem=_json_invalid(max(body.raw.find(error.constant.encode()), 0)))
    except RecursionError:
        return Payload(problem=_json_invalid(0))


class _NonFiniteError(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.constant = constant


def _refuse_constant(constant: str) -> object:
    raise _NonFiniteError(constant)


def _json_invalid(position: int) -> dict[str, JSONValue]:
    return {"loc": ["body", position], "msg": "JSON decode error", "type": "json_invalid"}


def first(query: Mapping[str, list[str]], name: str) -> str | None:
    """Return the first value of a query parameter, or `None` when the query does not have it."""
    values = query.get(name)
    return values[0] if values else None


MAX_QUERY_NUMBER: Final = 2**53
"""The largest `limit` or `after` a query takes: larger is a 422, not a number SQLite cannot bind."""


def non_negative(
    query: Mapping[str, list[str]], name: str, maximum: int = MAX_QUERY_NUMBER
) -> tuple[int | None, dict[str, JSONValue] | None]:
    """Return a query parameter (`limit`, `after`): an integer from 0 to `maximum`, or the 422's problem."""
    text = first(query, name)
    if text is None:
        return None, None
    try:
        number = int(text)
    except ValueError:
        return None, {"loc": ["query", name], "msg": "Input should be a valid integer", "type": "int_parsing"}
    if number < 0:
        return None, {
            "loc": ["query", name],
            "msg": "Input should be greater than or equal to 0",
            "type": "greater_than_equal",
        }
    if number > maximum:
        return None, {
            "loc": ["query", name],
            "msg": f"Input should be less than or equal to {maximum}",
            "type": "less_than_equal",
        }
    return number, None


NAME_PARAMETERS: Final[dict[Kind, tuple[str, str]]] = {
    "events": ("event", "assistant_id"),
    "llm_events": ("assistant_id", "event"),
}
"""kind -> (the query parameter that filters its listing by name, the one that filters the other kind's)."""


def wrong_filter(kind: Kind, given: str, meant: str) -> dict[str, JSONValue]:
    """Return the problem with a filter of the other listing's, which would otherwise filter nothing."""
    other = "llm_events" if kind == "events" else "events"
    return {
        "loc": ["query", given],
        "msg": f"/{kind} has no {given} filter: filter /{kind} by {meant}, or /{other} by {given}.",
        "type": "extra_forbidden",
    }


def fault_request(value: object) -> tuple[list[Fault], float | None]:
    """Return the faults and fail rate a `POST /_trubrics/faults` body asks for.

    Raises:
        ConfigurationError: the body is not `{"script": [...], "fail_rate": ...}` (both optional).
    """
    if not isinstance(value, dict):
        raise ConfigurationError('The body must be a JSON object such as {"script": [{"status": 503}]}.')
    unknown = sorted(set(value) - {"script", "fail_rate"})
    if unknown:
        raise ConfigurationError(
            f"The body has no field {unknown[0]!r}; the fields are script and fail_rate."
        )
    script = value.get("script", [])
    if not isinstance(script, list):
        raise ConfigurationError("The script must be a JSON array of faults.")
    faults = [Fault.from_json(item) for item in script]
    fail_rate = value.get("fail_rate")
    return faults, None if fail_rate is None else check_fail_rate(fail_rate)
