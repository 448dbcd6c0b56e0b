"""The inspector page's data: what the local server received, summed up for a person reading it.

`GET /` serves the page (`inspector/index.html` beside this module, with its CSS and JavaScript, no
build step and nothing fetched from elsewhere). The page reads the items from the public listings,
`/events` and `/llm_events`, and polls two endpoints answered from here:

- `GET /_trubrics/summary`: counts per user, per event name and per thread; per assistant, the latency,
  the tokens, the finish reasons and the calls whose content was not recorded; the items stored more
  than once (sent again without a `$idempotency_key`) and those de-duplicated by it; the run's request
  counts; and the numbers that change when anything does, so that the page reloads its lists only then.
- `GET /_trubrics/requests`: the latest requests, or only the refused ones (`?refused=true`), newest
  first, each with the server's reason and the `detail` of its answer.

The summary is kept up to date incrementally: each call reads only the rows that arrived since the one
before (and starts again after `clear()`), so a page polling a large database costs a query that finds
nothing. This module never writes to the store, and decodes only LLM events (for their latency, tokens
and content), once each.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.resources
import json
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from trubrics_otel._config import MISSING_CONTENT
from trubrics_otel._events import JSONValue, Kind
from trubrics_otel.server._request_log import LoggedRequest, RequestLog, RequestTally
from trubrics_otel.server._store import EventStore, StoredRow

__all__ = ["ASSET_PATHS", "PAGE_PATH", "Asset", "Inspector", "asset"]

PAGE_PATH: Final = "/"

# path -> (file in the inspector folder, its content type)
_ASSETS: Final[dict[str, tuple[str, str]]] = {
    PAGE_PATH: ("index.html", "text/html; charset=utf-8"),
    "/_trubrics/inspector.css": ("inspector.css", "text/css; charset=utf-8"),
    "/_trubrics/inspector.js": ("inspector.js", "text/javascript; charset=utf-8"),
}
ASSET_PATHS: Final = frozenset(_ASSETS)
"""The paths of the page and of the files it loads."""

MAX_ROWS: Final = 100
"""The most users, event names, threads or assistants a summary lists; the totals count them all."""

MAX_REPEATS: Final = 20
"""The most items received more than once that a summary shows."""

_SCAN_CHUNK: Final = 5_000
_TOKEN_KEYS: Final = ("input_tokens", "output_tokens", "total_tokens")


@dataclass(frozen=True)
class Asset:
    """A file of the page, as served: its content type and bytes."""

    content_type: str
    body: bytes


@functools.cache
def asset(path: str) -> Asset:
    """Return the file served at `path`, one of `ASSET_PATHS`, read from the package once.

    Raises:
        KeyError: `path` is not one of the page's paths.
    """
    name, content_type = _ASSETS[path]
    folder = importlib.resources.files("trubrics_otel.server").joinpath("inspector")
    return Asset(content_type, folder.joinpath(name).read_bytes())


@dataclass
class _User:
    events: int = 0
    llm_events: int = 0


@dataclass
class _Thread:
    events: int = 0
    llm_events: int = 0
    users: Counter[str] = field(default_factory=Counter)
    last_received_at: str = ""  # ISO 8601 UTC, always in one format: compared as text


@dataclass
class _Assistant:
    llm_events: int = 0
    latencies: list[float] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_TOKEN_KEYS, 0))
    calls_with_tokens: int = 0
    missing_content: int = 0
    finish_reasons: Counter[str] = field(default_factory=Counter)
    sorted_latencies: list[float] | None = None


class Inspector:
    """Sums up what a server's store holds and what its request log saw, for the inspector page.

    Args:
        store: the server's store.
        log: the server's request log.
        tally: the server's counts of the whole run.
        placeholder: the text clients send for content they did not record, by default the client's
            default (`TRUBRICS_MISSING_CONTENT`).
    """

    def __init__(
        self,
        store: EventStore,
        log: RequestLog,
        tally: RequestTally,
        placeholder: str = MISSING_CONTENT.default,
    ) -> None:
        self._store = store
        self._log = log
        self._tally = tally
        self._placeholder = placeholder
        self._lock = threading.Lock()
        self._reset(generation=0)

    def _reset(self, generation: int) -> None:
        self._generation = generation
        self._cursors: dict[Kind, int] = {"events": 0, "llm_events": 0}
        self._users: dict[str, _User] = {}
        self._event_names: Counter[str] = Counter()
        self._threads: dict[str, _Thread] = {}
        self._assistants: dict[str | None, _Assistant] = {}
        # (kind, digest of the item's JSON text) -> [copies, arrival number of the first]
        self._copies: dict[tuple[Kind, bytes], list[int]] = {}
        self._repeated = 0
        self._rendered: dict[str, JSONValue] | None = None

    # --- GET /_trubrics/summary ---------------------------------------------------------------------

    def summary(self) -> dict[str, JSONValue]:
        """Return the summary the page shows, brought up to date with what arrived since the last call.

        Raises:
            StoreClosedError: the store is closed.
        """
        with self._lock:
            changed = self._catch_up()
            if changed or self._rendered is None:
                self._rendered = self._render()
            tally = self._tally.snapshot()
            return {
                **self._rendered,
                "deduplicated": self._deduplicated(),
                "evicted": {**self._store.evicted(), "max_items": self._store.max_items},
                "requests": {
                    "answered": tally.requests,
                    "refused": {str(status): count for status, count in tally.refused.items()},
                    "dropped": tally.dropped,
                    "refusals_version": self._log.refusals_version,
                },
            }

    def _catch_up(self) -> bool:
        changed = False
        for kind in ("events", "llm_events"):
            while True:
                scan = self._store.scan(kind, after=self._cursors[kind], limit=_SCAN_CHUNK)
                if scan.generation != self._generation:
                    # cleared since the last call: what was summed up is gone
                    self._reset(scan.generation)
                    return self._catch_up() or True
                if not scan.rows:
                    break
                changed = True
                for row in scan.rows:
                    self._add(kind, row)
                self._cursors[kind] = scan.rows[-1].received
        return changed

    def _add(self, kind: Kind, row: StoredRow) -> None:
        user = self._users.setdefault(row.user_id or "", _User())
        thread = self._threads.setdefault(row.thread_id, _Thread()) if row.thread_id is not None else None
        if thread is not None:
            thread.users[row.user_id or ""] += 1
            thread.last_received_at = max(thread.last_received_at, row.received_at)
        digest = hashlib.blake2b(row.text.encode(), digest_size=16).digest()
        copies = self._copies.setdefault((kind, digest), [0, row.received])
        copies[0] += 1
        if copies[0] > 1:
            self._repeated += 1
        if kind == "events":
            user.events += 1
            self._event_names[row.name or ""] += 1
            if thread is not None:
                thread.events += 1
            return
        user.llm_events += 1
        if thread is not None:
            thread.llm_events += 1
        self._add_call(self._assistants.setdefault(row.name, _Assistant()), json.loads(row.text))

    def _add_call(self, assistant: _Assistant, item: dict[str, JSONValue]) -> None:
        assistant.llm_events += 1
        assistant.sorted_latencies = None
        latency = _number(item.get("latency"))
        if latency is not None:
            assistant.latencies.append(latency)
        if self._placeholder in (item.get("prompt"), item.get("generation")):
            assistant.missing_content += 1
        properties = item.get("properties")
        if not isinstance(properties, dict):
            return
        tokens = {key: _number(properties.get(key)) for key in _TOKEN_KEYS}
        input_tokens, output_tokens, total_tokens = tokens.values()
        if total_tokens is None and input_tokens is not None and output_tokens is not None:
            # a call that reports its parts but not their sum still counts in the total
            tokens["total_tokens"] = input_tokens + output_tokens
        for key, value in tokens.items():
            assistant.tokens[key] += value or 0
        assistant.calls_with_tokens += any(value is not None for value in tokens.values())
        reasons = properties.get("finish_reasons")
        if isinstance(reasons, list):
            assistant.finish_reasons.update(str(reason) for reason in reasons)

    def _render(self) -> dict[str, JSONValue]:
        users = sorted(
            self._users.items(), key=lambda pair: (-(pair[1].events + pair[1].llm_events), pair[0])
        )
        threads = sorted(self._threads.items(), key=lambda pair: pair[1].last_received_at, reverse=True)
        assistants = sorted(self._assistants.items(), key=lambda pair: (-pair[1].llm_events, pair[0] or ""))
        return {
            "cursors": {"events": self._cursors["events"], "llm_events": self._cursors["llm_events"]},
            "generation": self._generation,
            "placeholder": self._placeholder,
            "totals": {
                "events": sum(user.events for user in self._users.values()),
                "llm_events": sum(user.llm_events for user in self._users.values()),
                "users": len(self._users),
                "event_names": len(self._event_names),
                "threads": len(self._threads),
                "assistants": len(self._assistants),
                "missing_content": sum(a.missing_content for a in self._assistants.values()),
                "repeated": self._repeated,
            },
            "users": [
                {"user_id": user_id, "events": user.events, "llm_events": user.llm_events}
                for user_id, user in users[:MAX_ROWS]
            ],
            "event_names": [
                {"event": name, "count": count}
                for name, count in sorted(self._event_names.items(), key=lambda pair: (-pair[1], pair[0]))[
                    :MAX_ROWS
                ]
            ],
            "threads": [
                {
                    "thread_id": thread_id,
                    "user_ids": [user for user, _ in thread.users.most_common(3)],
                    "events": thread.events,
                    "llm_events": thread.llm_events,
                    "last_received_at": thread.last_received_at,
                }
                for thread_id, thread in threads[:MAX_ROWS]
            ],
            "assistants": [_assistant_json(name, assistant) for name, assistant in assistants[:MAX_ROWS]],
            "repeats": self._repeats(),
        }

    def _repeats(self) -> list[JSONValue]:
        repeated = sorted(
            ((kind, copies, first) for (kind, _), (copies, first) in self._copies.items() if copies > 1),
            key=lambda entry: (-entry[1], entry[2]),
        )
        shown: list[JSONValue] = []
        for kind, copies, first in repeated[:MAX_REPEATS]:
            text = self._store.item_text(kind, first)
            if text is not None:
                shown.append(
                    {"kind": kind, "copies": copies, "first_received": first, "item": json.loads(text)}
                )
        return shown

    def _deduplicated(self) -> dict[str, JSONValue]:
        # read at each call: a duplicate changes no cursor, so the rendered part would not notice it
        duplicates, total = self._store.duplicates(MAX_REPEATS)
        shown: list[JSONValue] = []
        for duplicate in duplicates:
            text = self._store.item_text(duplicate.kind, duplicate.received)
            shown.append(
                {
                    "kind": duplicate.kind,
                    "idempotency_key": duplicate.idempotency_key,
                    "copies": duplicate.copies,
                    "first_received": duplicate.received,
                    "item": None if text is None else json.loads(text),
                }
            )
        return {"total": total, "items": shown}

    # --- GET /_trubrics/requests --------------------------------------------------------------------

    def requests(self, limit: int, *, refused_only: bool) -> dict[str, JSONValue]:
        """Return the latest `limit` logged requests (only the refused ones, if asked), newest first."""
        return {
            "refusals_version": self._log.refusals_version,
            "requests": [
                _request_json(logged) for logged in self._log.latest(limit, refused_only=refused_only)
            ],
        }


def _number(value: object) -> float | None:
    """Return a JSON number, an int kept an int; None for anything else (`true` too, an int to Python)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _assistant_json(name: str | None, assistant: _Assistant) -> dict[str, JSONValue]:
    latency: JSONValue = None
    if assistant.latencies:
        if assistant.sorted_latencies is None:
            assistant.sorted_latencies = sorted(assistant.latencies)
        ordered = assistant.sorted_latencies
        latency = {
            "count": len(ordered),
            "mean": sum(ordered) / len(ordered),
            "p50": _percentile(ordered, 0.5),
            "p95": _percentile(ordered, 0.95),
            "max": ordered[-1],
        }
    return {
        "assistant_id": name,
        "llm_events": assistant.llm_events,
        "latency": latency,
        "tokens": {
            "calls": assistant.calls_with_tokens,
            **{key: assistant.tokens[key] for key in _TOKEN_KEYS},
        },
        "missing_content": assistant.missing_content,
        "finish_reasons": dict(assistant.finish_reasons.most_common()),
    }


def _percentile(ordered: list[float], share: float) -> float:
    """Return the nearest-rank percentile of sorted values: the smallest value at or above `share` of them."""
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _request_json(logged: LoggedRequest) -> dict[str, JSONValue]:
    request = logged.request
    at = dt.datetime.fromtimestamp(logged.at, dt.timezone.utc).isoformat(timespec="milliseconds")
    return {
        "number": logged.number,
        "at": at,
        "method": request.method,
        "path": request.path,
        "status": request.status,
        "items": request.item_count,
        "reason": request.reason,
        "detail": request.detail,
        "has_key": request.has_key,
        "user_agent": request.headers.get("user-agent"),
    }
