"""`trubrics-otel events`: list, or follow, what a trubrics-otel server received.

It reads the local server's listings, `GET {base}/events` and `GET {base}/llm_events`: newest first,
filtered by `user_id`, `thread_id`, `event` (events) and `assistant_id` (LLM events), at most `limit`.
With `after=N` a listing holds only the items that arrived after arrival number N, oldest first, and
every answer's `X-Trubrics-Cursor` header holds the highest arrival number so far: following is asking
again with `after` set to the last cursor.

LLM events are shown as conversations, grouped by user and `$thread_id`, each turn its prompt then its
generation with the assistant and the latency; events as a table. `--json` writes one JSON object per
line, its `kind` first. Nothing here sends anything, and the listings need no key.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TextIO

import requests

from trubrics_otel._check import error_causes
from trubrics_otel._table import cut, print_table

__all__ = [
    "CURSOR_HEADER",
    "KINDS",
    "Filters",
    "ListingError",
    "Printer",
    "ServerListings",
    "follow",
    "show",
]

CURSOR_HEADER: Final = "X-Trubrics-Cursor"

KINDS: Final = {"events": ("events", "event"), "llm": ("llm_events", "llm_event")}
"""`--kind` value -> (the listing's path, the `kind` a JSON line carries)."""

_TEXT_WIDTH: Final = 160
_PROPERTIES_WIDTH: Final = 60


class ListingError(Exception):
    """The server could not be read: the message says why and what to do, in one sentence."""


@dataclass(frozen=True)
class Filters:
    """What to list: each filter is None when not given."""

    user: str | None = None
    thread: str | None = None
    event: str | None = None
    assistant: str | None = None

    def query(self, kind: str) -> dict[str, str]:
        """Return the listing's query parameters for one kind (`events` or `llm`)."""
        pairs = {"user_id": self.user, "thread_id": self.thread}
        pairs |= {"event": self.event} if kind == "events" else {"assistant_id": self.assistant}
        return {name: value for name, value in pairs.items() if value is not None}


class ServerListings:
    """Reads a server's listings over HTTP.

    Args:
        server: the server's base URL.
        source: where the URL came from, named in errors (`--server`, `TRUBRICS_HOST`, the default).
        timeout: seconds to wait for each answer.
        api_key: sent as `x-api-key`, for a server that asks a key to read (one reachable beyond loopback).
    """

    def __init__(
        self, server: str, source: str = "the default", *, timeout: float = 5.0, api_key: str | None = None
    ) -> None:
        self.server = server
        self._source = source
        self._timeout = timeout
        self._session = requests.Session()
        if api_key is not None:
            self._session.headers["x-api-key"] = api_key

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def listing(
        self, kind: str, filters: Filters, *, limit: int | None = None, after: int | None = None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Return one kind's items as the server lists them, and the cursor it answered (None if none).

        Raises:
            ListingError: the server did not answer, or not with a listing.
        """
        path = KINDS[kind][0]
        params = filters.query(kind)
        if limit is not None:
            params["limit"] = str(limit)
        if after is not None:
            params["after"] = str(after)
        url = f"{self.server}/{path}"
        try:
            response = self._session.get(url, params=params, timeout=self._timeout)
        except requests.ConnectionError as error:
            raise ListingError(self._unreachable(error)) from None
        except requests.Timeout:
            raise ListingError(
                f"{self.server} did not answer GET /{path} within {self._timeout:g} s."
            ) from None
        except requests.RequestException as error:
            raise ListingError(f"Could not read {url}: {type(error).__name__}.") from None
        if response.status_code in (404, 405):
            raise ListingError(
                f"{self.server} ({self._source}) does not list what it received (HTTP "
                f"{response.status_code} for GET /{path}): `trubrics-otel events` reads a trubrics-otel "
                "server (`trubrics-otel serve`), not the Trubrics API. Pass --server URL."
            )
        if response.status_code != 200:
            raise ListingError(
                f"{self.server} answered HTTP {response.status_code} to GET /{path}: {response.text[:200]}"
            )
        try:
            items = response.json()
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ListingError(
                f"{self.server} ({self._source}) answered GET /{path} with something not a listing."
            )
        return items, _cursor(response.headers.get(CURSOR_HEADER))

    def _unreachable(self, error: requests.ConnectionError) -> str:
        if any(isinstance(cause, ConnectionRefusedError) for cause in error_causes(error)):
            return (
                f"No server answers at {self.server} ({self._source}; connection refused): start one with "
                "`trubrics-otel serve`, or pass --server URL."
            )
        return f"Could not reach {self.server} ({self._source}): {type(error).__name__}."


def _cursor(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# --- listing once --------------------------------------------------------------------------------


def show(
    listings: ServerListings,
    kinds: Sequence[str],
    filters: Filters,
    limit: int,
    out: TextIO,
    *,
    as_json: bool,
) -> dict[str, int | None]:
    """Print the newest `limit` items of each kind, oldest of them first; return each kind's cursor.

    Raises:
        ListingError: the server could not be read.
    """
    cursors: dict[str, int | None] = {}
    printer = Printer(out, as_json=as_json)
    for index, kind in enumerate(kinds):
        items, cursors[kind] = listings.listing(kind, filters, limit=limit)
        items.reverse()  # newest first from the server; read top to bottom, like a log
        if limit == 0:
            continue  # asked only for the cursor: `--follow --limit 0` shows what is new, nothing else
        if as_json:
            printer.items(kind, items)
            continue
        if index:
            print(file=out)
        printer.section(kind, items, limit)
    out.flush()
    return cursors


# --- following -----------------------------------------------------------------------------------


def follow(
    listings: ServerListings,
    kinds: Sequence[str],
    filters: Filters,
    limit: int,
    out: TextIO,
    *,
    as_json: bool,
    interval: float = 1.0,
    stop: threading.Event | None = None,
    notices: TextIO | None = None,
) -> None:
    """Print the newest items, then every new one as it arrives, until `stop` is set or Ctrl-C.

    A server that stops answering while followed is waited for: one notice says so, another when it
    answers again; a server started again (its cursor went back) is followed from its first item.

    Args:
        listings: the server to read.
        kinds: `events`, `llm`, or both, in the order to print them.
        filters: what to list.
        limit: how many of each kind to print before following.
        out: where the items go.
        as_json: one JSON object per line instead of conversations and tables.
        interval: seconds between two polls.
        stop: ends the call when set, from another thread.
        notices: where the notices about the server go, apart from the items; default stderr.

    Raises:
        ListingError: the server could not be read at first, or cannot be followed.
    """
    done = stop if stop is not None else threading.Event()
    notes = notices if notices is not None else sys.stderr
    try:
        cursors = show(listings, kinds, filters, limit, out, as_json=as_json)
        if any(cursor is None for cursor in cursors.values()):
            raise ListingError(
                f"{listings.server} does not say where its listings end (no {CURSOR_HEADER} header), "
                "so it cannot be followed: run a newer `trubrics-otel serve`."
            )
        print(f"Following {listings.server}; Ctrl-C to stop.", file=notes, flush=True)
        printer = Printer(out, as_json=as_json)
        _follow(
            listings,
            kinds,
            filters=filters,
            cursors=cursors,
            printer=printer,
            notes=notes,
            done=done,
            interval=interval,
        )
    except KeyboardInterrupt:
        pass  # the way a follower is ended


def _follow(
    listings: ServerListings,
    kinds: Sequence[str],
    *,
    filters: Filters,
    cursors: dict[str, int | None],
    printer: Printer,
    notes: TextIO,
    done: threading.Event,
    interval: float,
) -> None:
    """Poll every `interval` until `done`, waiting out a server that stops answering."""
    lost = False
    while not done.wait(interval):
        try:
            for kind in kinds:
                cursors[kind] = _poll(
                    listings, kind, filters, cursors[kind] or 0, printer=printer, notes=notes
                )
        except ListingError as error:
            if not lost:
                print(f"{error} Still trying; Ctrl-C to stop.", file=notes, flush=True)
            lost = True
            continue
        finally:
            printer.flush()
        if lost:
            print(f"{listings.server} answers again.", file=notes, flush=True)
            lost = False


def _poll(
    listings: ServerListings, kind: str, filters: Filters, after: int, *, printer: Printer, notes: TextIO
) -> int:
    """Print one kind's items that arrived after `after`; return the new cursor."""
    items, cursor = listings.listing(kind, filters, after=after)
    if cursor is not None and cursor < after:
        # a server started again counts from zero: follow it from its start
        print(f"{listings.server} started again; following it from its first item.", file=notes, flush=True)
        items, cursor = listings.listing(kind, filters, after=0)
    printer.items(kind, items)
    return cursor if cursor is not None else after


# --- printing ------------------------------------------------------------------------------------


class Printer:
    """Prints items of either kind: as JSON lines, as conversations, or as an events table.

    It remembers the last conversation it printed a turn of, so that a following run of turns of the
    same conversation shares one heading.
    """

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self._out = out
        self._as_json = as_json
        self._conversation: tuple[str, str] | None = None

    def section(self, kind: str, items: list[dict[str, Any]], limit: int) -> None:
        """Print one kind's listing under its title."""
        title = "LLM events" if kind == "llm" else "Events"
        shown = f"the newest {len(items)}, oldest first" if len(items) == limit else f"{len(items)}"
        if not items:
            print(f"{title}: none.", file=self._out)
            return
        print(f"{title} ({shown}):", file=self._out)
        if kind == "llm":
            self._conversations(items)
        else:
            print_table(
                [_event_row(item) for item in items], ["time", "user", "event", "properties"], self._out, 60
            )

    def flush(self) -> None:
        """Flush the output, so that a reader at the other end of a pipe sees each poll's items."""
        self._out.flush()

    def items(self, kind: str, items: Iterable[dict[str, Any]]) -> None:
        """Print items as they arrive: a JSON line each, a conversation turn, or an event line."""
        for item in items:
            if self._as_json:
                print(json.dumps({"kind": KINDS[kind][1], **item}, ensure_ascii=False), file=self._out)
            elif kind == "llm":
                self._turn(item)
            else:
                self._conversation = None
                time, user, event, properties = _event_row(item)
                print(f"{time}  event  {user}  {event}  {properties}".rstrip(), file=self._out)

    def _conversations(self, items: list[dict[str, Any]]) -> None:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for item in items:
            groups.setdefault(_conversation_of(item), []).append(item)
        for turns in groups.values():
            for turn in turns:
                self._turn(turn)
        self._conversation = None

    def _turn(self, item: Mapping[str, Any]) -> None:
        conversation = _conversation_of(item)
        if conversation != self._conversation:
            user, thread = conversation
            print(f"{user} · {thread or '(no thread)'}", file=self._out)
            self._conversation = conversation
        time = _time(item.get("timestamp"))
        pad = " " * len(time)
        latency = item.get("latency")
        about = str(item.get("assistant_id", ""))
        if isinstance(latency, (int, float)):
            about += f", {latency:.2f} s"
        print(f"  {time}  prompt      {cut(str(item.get('prompt', '')), _TEXT_WIDTH)}", file=self._out)
        generation = cut(str(item.get("generation", "")), _TEXT_WIDTH)
        print(f"  {pad}  generation  {generation}  [{about}]", file=self._out)


def _conversation_of(item: Mapping[str, Any]) -> tuple[str, str]:
    properties = item.get("properties")
    thread = properties.get("$thread_id") if isinstance(properties, dict) else None
    return str(item.get("user_id", "")), "" if thread is None else str(thread)


def _event_row(item: Mapping[str, Any]) -> list[str]:
    properties = item.get("properties") or {}
    shown = json.dumps(properties, ensure_ascii=False, separators=(", ", ": ")) if properties else ""
    return [
        _time(item.get("timestamp")),
        str(item.get("user_id", "")),
        str(item.get("event", "")),
        cut(shown, _PROPERTIES_WIDTH),
    ]


def _time(value: object) -> str:
    """Return a timestamp as `YYYY-MM-DD HH:MM:SS` in its own zone, or as sent when it is not ISO 8601."""
    if not isinstance(value, str) or not value:
        return "-"
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value
