"""The local server's record of the requests it answered: for tests, for the terminal, for the summary.

Tests read the `RequestLog` to check what a client sent: how many items per request, which endpoint,
which headers, whether a refused request was retried, and why it was refused. An entry is appended
before its answer is written, so a client that has its answer always finds its request in the log. The
inspector page lists the refused ones from it, newest first. `RequestLines` writes one line per request
for the person watching `trubrics-otel serve`, and `RequestTally` counts the whole run for the summary
it prints when it stops.

This module never keeps or prints an API key: the `x-api-key` and `Authorization` values are replaced
before an entry is built, and a line names no header. Writing a line never raises into a request.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TextIO

from trubrics_otel._events import JSONValue, Kind

__all__ = [
    "LoggedRequest",
    "ReceivedRequest",
    "RequestLines",
    "RequestLog",
    "RequestTally",
    "Tally",
    "redact",
]

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
        reason: what happened, in a few words, as the request's line says it: `"3 items"`,
            `"missing x-api-key"`, `"2 of 3 items invalid"`, `"by a staged fault"`.
        detail: the `detail` of a refusal's answer: the API's list of problems (each with `loc`, `msg`
            and `type`) or a sentence; `None` for a request that was not refused.
    """

    method: str
    path: str
    status: int | None
    item_count: int | None
    headers: Mapping[str, str] = field(hash=False)
    has_key: bool
    reason: str | None = None
    detail: JSONValue = field(default=None, hash=False)

    @property
    def refused(self) -> bool:
        """Whether the request was answered with an error status (400 and above) or dropped unanswered."""
        return self.status is None or self.status >= 400


def redact(headers: Iterable[tuple[str, str]]) -> Mapping[str, str]:
    """Return read-only headers with lower-case names and every credential replaced by `"<redacted>"`."""
    cleaned = {
        name.lower(): REDACTED if name.lower() in _SECRET_HEADERS else value for name, value in headers
    }
    return types.MappingProxyType(cleaned)


MAX_ENTRIES = 100_000
"""The most requests remembered; a long-running server forgets the oldest."""


@dataclass(frozen=True)
class LoggedRequest:
    """A `ReceivedRequest` as the log keeps it: numbered in the order answered, and timed.

    Attributes:
        number: 1 for the first request the log was given, never reused, even after `clear()`.
        at: when it was logged, in seconds since the epoch.
        request: the request.
    """

    number: int
    at: float
    request: ReceivedRequest


class RequestLog:
    """A thread-safe log of the latest `ReceivedRequest`s (at most MAX_ENTRIES), read as snapshots.

    Args:
        max_entries: the most requests remembered; the oldest are forgotten first.
        clock: the time each entry is stamped with, in seconds since the epoch.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._entries: collections.deque[LoggedRequest] = collections.deque(maxlen=max_entries)
        self._numbered = 0
        self._refusals_version = 0

    @property
    def refusals_version(self) -> int:
        """A number that changes whenever the refused entries do: one more was logged, or the log cleared."""
        return self._refusals_version

    def append(self, entry: ReceivedRequest) -> None:
        """Add one answered request."""
        with self._lock:
            self._numbered += 1
            self._entries.append(LoggedRequest(self._numbered, self._clock(), entry))
            if entry.refused:
                self._refusals_version += 1

    def snapshot(self) -> list[ReceivedRequest]:
        """Return a copy of the entries so far, oldest first; later requests do not change it."""
        with self._lock:
            return [logged.request for logged in self._entries]

    def latest(self, limit: int, *, refused_only: bool = False) -> list[LoggedRequest]:
        """Return the latest `limit` entries (only the refused ones, if asked), the newest first."""
        found: list[LoggedRequest] = []
        with self._lock:
            for logged in reversed(self._entries):
                if len(found) >= limit:
                    break
                if not refused_only or logged.request.refused:
                    found.append(logged)
        return found

    def clear(self) -> None:
        """Forget every entry; the numbers go on from where they were."""
        with self._lock:
            self._entries.clear()
            self._refusals_version += 1


class RequestLines:
    """Writes one line per answered request, e.g. `12:01:02 POST /publish_llm_events 200 3 items 1.4 ms`.

    Lines from concurrent handler threads never interleave, and a stream that fails (closed, a broken
    pipe) loses its lines without failing the request.

    Args:
        stream: where to write, e.g. `sys.stderr`.
        clock: the time of day of each line, in seconds since the epoch.
    """

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.time) -> None:
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()

    def write(self, method: str, target: str, status: int | None, detail: str | None, seconds: float) -> None:
        """Write the line of one request: its target, its status (or `dropped`), what happened, how long."""
        at = time.strftime("%H:%M:%S", time.localtime(self._clock()))
        words = [at, method, _printable(target), "dropped" if status is None else str(status)]
        if detail:
            words.append(detail)
        words.append(f"{seconds * 1000:.1f} ms")
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.write(" ".join(words) + "\n")
            self._stream.flush()


_MAX_TARGET: Final = 200


def _printable(target: str) -> str:
    """Return a request target safe for a terminal: control characters escaped, at most 200 characters."""
    text = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in target)
    return text if len(text) <= _MAX_TARGET else f"{text[: _MAX_TARGET - 3]}..."


@dataclass(frozen=True)
class Tally:
    """What a server answered since it was made.

    Attributes:
        requests: the requests answered or dropped.
        events: the events accepted.
        llm_events: the LLM events accepted.
        duplicates: the items acknowledged but not stored again, their `$idempotency_key` already stored.
        turned_away: the connections answered 503 unread, beyond `max_connections`.
        refused: how many requests were answered with each error status (400 and above).
        dropped: the connections a staged fault closed without an answer.
    """

    requests: int
    events: int
    llm_events: int
    refused: Mapping[int, int]
    dropped: int
    duplicates: int = 0
    turned_away: int = 0


class RequestTally:
    """Counts requests, accepted items and refusals across a server's whole run, thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._accepted: dict[Kind, int] = {"events": 0, "llm_events": 0}
        self._refused: collections.Counter[int] = collections.Counter()
        self._dropped = 0
        self._duplicates = 0
        self._turned_away = 0

    def count_turned_away(self) -> None:
        """Count one connection answered 503 unread, beyond `max_connections`."""
        with self._lock:
            self._turned_away += 1

    def count_answer(self, status: int | None) -> None:
        """Count one request answered with `status`, or dropped (`None`)."""
        with self._lock:
            self._requests += 1
            if status is None:
                self._dropped += 1
            elif status >= 400:
                self._refused[status] += 1

    def count_accepted(self, kind: Kind, count: int, duplicates: int = 0) -> None:
        """Count `count` items of `kind` stored, and `duplicates` acknowledged without storing them again."""
        with self._lock:
            self._accepted[kind] += count
            self._duplicates += duplicates

    def snapshot(self) -> Tally:
        """Return the counts so far."""
        with self._lock:
            return Tally(
                requests=self._requests,
                events=self._accepted["events"],
                llm_events=self._accepted["llm_events"],
                refused=types.MappingProxyType(dict(sorted(self._refused.items()))),
                dropped=self._dropped,
                duplicates=self._duplicates,
                turned_away=self._turned_away,
            )
