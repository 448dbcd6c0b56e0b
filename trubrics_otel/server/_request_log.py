"""The local server's record of the requests it answered, for tests to assert on.

Tests read it to check what a client sent: how many items per request, which endpoint, which headers,
whether a refused request was retried. An entry is appended before its answer is written, so a client
that has its answer always finds its request in the log.

This module never keeps an API key: the `x-api-key` and `Authorization` values are replaced before an
entry is built.
"""

from __future__ import annotations

import collections
import threading
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["ReceivedRequest", "RequestLog", "redact"]

REDACTED: Final = "<redacted>"
_SECRET_HEADERS: Final = frozenset({"x-api-key", "authorization"})


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the server answered (or dropped).

    Attributes:
        method: the HTTP method, e.g. `"POST"`.
        path: the request's path without its query string, e.g. `"/publish_events"`.
        status: the status answered, or `None` when a fault dropped the connection.
        item_count: how many items the body held, or `None` when it was not a JSON array.
        headers: the request headers, names in lower case, the API key's value replaced by `"<redacted>"`.
        has_key: whether a non-empty `x-api-key` header was sent.
    """

    method: str
    path: str
    status: int | None
    item_count: int | None
    headers: Mapping[str, str] = field(hash=False)
    has_key: bool


def redact(headers: Iterable[tuple[str, str]]) -> Mapping[str, str]:
    """Return read-only headers with lower-case names and every credential replaced by `"<redacted>"`."""
    cleaned = {
        name.lower(): REDACTED if name.lower() in _SECRET_HEADERS else value for name, value in headers
    }
    return types.MappingProxyType(cleaned)


MAX_ENTRIES = 100_000
"""The most requests remembered; a long-running server forgets the oldest."""


class RequestLog:
    """A thread-safe log of the latest `ReceivedRequest`s (at most MAX_ENTRIES), read as snapshots."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[ReceivedRequest] = collections.deque(maxlen=max_entries)

    def append(self, entry: ReceivedRequest) -> None:
        """Add one answered request."""
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[ReceivedRequest]:
        """Return a copy of the entries so far, oldest first; later requests do not change it."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
