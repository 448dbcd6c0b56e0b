"""The local server's storage: accepted events and LLM events in SQLite, in arrival order.

Each item is kept as the JSON text it arrived as, beside its arrival number (1, 2, 3, ... per kind,
never reused, even after `clear()`) and the columns a query filters on (user id, thread id, event name
or assistant id, timestamp). One connection serves every handler thread behind a lock; a file database
uses WAL so that another process (a notebook, `sqlite3` in a shell) can read it while the server writes.

An item whose `$idempotency_key` property (a string, the same in every retry of it) was stored before is
not stored again: the store counts it as a duplicate, per kind and key, until `clear()`. The key is the
transport's, not the application's: it is kept in its own column, and the item is stored without it.

This module never validates: the handler stores only what `validate_payload` accepted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from trubrics_otel._events import THREAD_ID, JSONValue, Kind

__all__ = [
    "IDEMPOTENCY_KEY",
    "Added",
    "Duplicate",
    "EventStore",
    "Listing",
    "Scan",
    "StoreClosedError",
    "StoredRow",
]

IN_MEMORY: Final = ":memory:"

# kind -> (table, the column that names what happened)
_TABLES: Final[dict[Kind, tuple[str, str]]] = {
    "events": ("events", "event"),
    "llm_events": ("llm_events", "assistant_id"),
}

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS {table} (
    received    INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order
    received_at TEXT NOT NULL,                       -- the server's clock, ISO 8601 UTC
    user_id     TEXT,
    thread_id   TEXT,                                -- properties["$thread_id"]
    {name}      TEXT,
    timestamp   TEXT,
    item        TEXT NOT NULL,                       -- the item's JSON as received
    idempotency_key TEXT                             -- properties["$idempotency_key"], unique
);
CREATE INDEX IF NOT EXISTS {table}_user_id ON {table} (user_id);
CREATE INDEX IF NOT EXISTS {table}_thread_id ON {table} (thread_id);
"""
# after the column exists, which a database made by an earlier version gains first
_KEY_INDEX: Final = "CREATE UNIQUE INDEX IF NOT EXISTS {table}_idempotency_key ON {table} (idempotency_key)"

MAX_ITEMS: Final = 1_000_000
"""The most items of each kind a store keeps by default; beyond it the oldest are dropped, and counted."""

IDEMPOTENCY_KEY: Final = "$idempotency_key"
"""The property naming an item the same in each retry: an item whose key is stored is not stored again."""


@dataclass(frozen=True)
class Added:
    """What `EventStore.add` did with a request's items.

    Attributes:
        stored: how many were stored.
        duplicates: how many were not, because an item with their `$idempotency_key` was stored already.
    """

    stored: int
    duplicates: int


@dataclass(frozen=True)
class Duplicate:
    """An item the store was sent more than once, by its `$idempotency_key`, and stored once.

    Attributes:
        kind: `"events"` or `"llm_events"`.
        idempotency_key: the key its copies shared.
        copies: how many copies arrived, the stored one included.
        received: the arrival number of the one stored.
    """

    kind: Kind
    idempotency_key: str
    copies: int
    received: int


class StoreClosedError(RuntimeError):
    """The store was closed (the server stopped) while a request still wanted it."""


@dataclass(frozen=True)
class Listing:
    """The answer to a listing: the items' JSON texts, and the arrival number a follower continues from.

    Attributes:
        texts: the items as received, newest first, or oldest first after an arrival number.
        cursor: the highest arrival number stored for the kind (0 when none is), or, when an `after`
            listing was cut short by its limit, the arrival number of its last item; passed back as
            `after`, it lists exactly what arrived since.
    """

    texts: list[str]
    cursor: int


@dataclass(frozen=True)
class StoredRow:
    """One stored item with the columns kept beside it, as the inspector's summary reads it.

    Attributes:
        received: its arrival number.
        received_at: when it arrived, ISO 8601 UTC, by the server's clock.
        user_id: its user.
        thread_id: its `$thread_id` property, as text.
        name: its `event` (events) or `assistant_id` (LLM events).
        text: the item's JSON as received.
    """

    received: int
    received_at: str
    user_id: str | None
    thread_id: str | None
    name: str | None
    text: str


@dataclass(frozen=True)
class Scan:
    """Stored rows after an arrival number, oldest first, and the store's generation when they were read.

    Attributes:
        rows: the rows read.
        generation: how many times the store had been cleared; a reader that summed up rows of an
            earlier generation must start again.
    """

    rows: list[StoredRow]
    generation: int


class EventStore:
    """Accepted items of both kinds, in one SQLite database.

    Args:
        database: a file path, or `":memory:"` for a database that lives as long as the store.
        max_items: the most items of each kind kept: storing more drops the oldest first, counted in
            `evicted`. Their keys go with them, so a retry of a dropped item would be stored again.

    Raises:
        sqlite3.Error: the database cannot be opened or is not a database.
    """

    def __init__(self, database: str | os.PathLike[str] = IN_MEMORY, max_items: int = MAX_ITEMS) -> None:
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = _connect(database)
        self._generation = 0
        self._max_items = max_items
        self._counts: dict[Kind, int] = {
            kind: int(self._connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - a fixed table name
            for kind, (table, _) in _TABLES.items()
        }
        self._evicted: dict[Kind, int] = {"events": 0, "llm_events": 0}
        # (kind, key) -> [copies not stored, arrival number of the one stored]
        self._duplicates: dict[tuple[Kind, str], list[int]] = {}
        self._duplicate_count = 0

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._connection is None

    def add(self, kind: Kind, items: Sequence[Mapping[str, JSONValue]]) -> Added:
        """Store validated items of one kind, in order, in one transaction; skip those already stored.

        An item whose `$idempotency_key` property (a string) names an item of its kind stored before,
        or earlier in the same request, is not stored again but counted as a duplicate.

        Raises:
            StoreClosedError: the store is closed.
        """
        table, name = _TABLES[kind]
        received_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
        rows = [
            (
                received_at,
                _text(item.get("user_id")),
                _text(_thread_id(item)),
                _text(item.get(name)),
                _text(item.get("timestamp")),
                _dump(_without_key(item)),
                _text(_idempotency_key(item)),
            )
            for item in items
        ]
        insert = (
            f"INSERT OR IGNORE INTO {table} "  # noqa: S608 - table and column names come from _TABLES
            f"(received_at, user_id, thread_id, {name}, timestamp, item, idempotency_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        duplicates = 0
        with self._lock:
            connection = self._open()
            with connection:
                for row in rows:
                    if connection.execute(insert, row).rowcount == 1:
                        continue
                    key = str(row[-1])
                    (stored,) = connection.execute(
                        f"SELECT received FROM {table} WHERE idempotency_key = ?",  # noqa: S608 - a fixed table name
                        (key,),
                    ).fetchone()
                    self._duplicates.setdefault((kind, key), [0, int(stored)])[0] += 1
                    duplicates += 1
                self._counts[kind] += len(rows) - duplicates
                over = self._counts[kind] - self._max_items
                if over > 0:
                    connection.execute(
                        f"DELETE FROM {table} WHERE received IN "  # noqa: S608 - a fixed table name
                        f"(SELECT received FROM {table} ORDER BY received LIMIT ?)",
                        (over,),
                    )
                    self._counts[kind] -= over
                    self._evicted[kind] += over
            self._duplicate_count += duplicates
        return Added(len(rows) - duplicates, duplicates)

    @property
    def max_items(self) -> int:
        """The most items of each kind kept."""
        return self._max_items

    def evicted(self) -> dict[str, int]:
        """Return how many items of each kind were dropped, the oldest first, to keep at most `max_items`."""
        with self._lock:
            return {str(kind): count for kind, count in self._evicted.items()}

    def duplicates(self, limit: int) -> tuple[list[Duplicate], int]:
        """Return the items most often sent again (at most `limit`), and how many copies were not stored."""
        with self._lock:
            found = sorted(self._duplicates.items(), key=lambda pair: (-pair[1][0], pair[1][1]))[:limit]
            total = self._duplicate_count
        return [Duplicate(kind, key, extra + 1, stored) for (kind, key), (extra, stored) in found], total

    def items_json(
        self,
        kind: Kind,
        *,
        user_id: str | None = None,
        thread_id: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Return the stored items of one kind as JSON texts, in arrival order, filtered.

        Args:
            kind: `"events"` or `"llm_events"`.
            user_id: only the items of this user.
            thread_id: only the items whose `$thread_id` property is this.
            limit: at most this many, the earliest first.

        Raises:
            StoreClosedError: the store is closed.
        """
        table, _ = _TABLES[kind]
        clauses, parameters = _filters(user_id, thread_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT item FROM {table}{where} ORDER BY received LIMIT ?"  # noqa: S608 - no user text in it
        with self._lock:
            rows = self._open().execute(query, [*parameters, -1 if limit is None else limit]).fetchall()
        return [str(row[0]) for row in rows]

    def listing(
        self,
        kind: Kind,
        *,
        user_id: str | None = None,
        thread_id: str | None = None,
        name: str | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> Listing:
        """Return the stored items of one kind, filtered: newest first, or oldest first `after` a number.

        The items and the cursor are read together, so an item stored meanwhile is in both or in neither.

        Args:
            kind: `"events"` or `"llm_events"`.
            user_id: only the items of this user.
            thread_id: only the items whose `$thread_id` property is this.
            name: only the items whose `event` (events) or `assistant_id` (LLM events) is this.
            after: only the items whose arrival number is greater, oldest first.
            limit: at most this many: the latest, or the earliest after `after`.

        Raises:
            StoreClosedError: the store is closed.
        """
        table, column = _TABLES[kind]
        clauses, parameters = _filters(user_id, thread_id)
        if name is not None:
            clauses.append(f"{column} = ?")
            parameters.append(name)
        if after is not None:
            clauses.append("received > ?")
            parameters.append(str(after))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "" if after is not None else " DESC"
        query = f"SELECT received, item FROM {table}{where} ORDER BY received{order} LIMIT ?"  # noqa: S608 - no user text in it
        with self._lock:
            connection = self._open()
            rows = connection.execute(query, [*parameters, -1 if limit is None else limit]).fetchall()
            (highest,) = connection.execute(f"SELECT COALESCE(MAX(received), 0) FROM {table}").fetchone()  # noqa: S608 - a fixed table name
        cursor = int(highest)
        if after is not None and limit is not None and len(rows) >= limit:
            # cut short: what is left after the last item is listed by the next call
            cursor = int(rows[-1][0]) if rows else after
        return Listing([str(row[1]) for row in rows], cursor)

    def items(
        self,
        kind: Kind,
        *,
        user_id: str | None = None,
        thread_id: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return the stored items of one kind as dicts; the arguments are those of `items_json`."""
        return [
            json.loads(text)
            for text in self.items_json(kind, user_id=user_id, thread_id=thread_id, limit=limit)
        ]

    def scan(self, kind: Kind, *, after: int, limit: int) -> Scan:
        """Return up to `limit` stored rows of one kind whose arrival number is greater than `after`.

        Raises:
            StoreClosedError: the store is closed.
        """
        table, column = _TABLES[kind]
        query = (
            f"SELECT received, received_at, user_id, thread_id, {column}, item FROM {table} "  # noqa: S608 - table and column names come from _TABLES
            "WHERE received > ? ORDER BY received LIMIT ?"
        )
        with self._lock:
            rows = self._open().execute(query, (after, limit)).fetchall()
            generation = self._generation
        return Scan([StoredRow(*row) for row in rows], generation)

    def item_text(self, kind: Kind, received: int) -> str | None:
        """Return the JSON text of the item of one kind with this arrival number, or None when there is none.

        Raises:
            StoreClosedError: the store is closed.
        """
        table, _ = _TABLES[kind]
        with self._lock:
            row = self._open().execute(f"SELECT item FROM {table} WHERE received = ?", (received,)).fetchone()  # noqa: S608 - a fixed table name
        return None if row is None else str(row[0])

    def clear(self) -> None:
        """Delete every stored item of both kinds.

        Raises:
            StoreClosedError: the store is closed.
        """
        with self._lock:
            connection = self._open()
            with connection:
                for table, _ in _TABLES.values():
                    connection.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed table name
            self._generation += 1
            self._duplicates.clear()
            self._duplicate_count = 0
            self._counts = {"events": 0, "llm_events": 0}

    def close(self) -> None:
        """Close the database; an in-memory one is gone. Idempotent."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StoreClosedError("The local server's store is closed: the server was stopped.")
        return self._connection


def _connect(database: str | os.PathLike[str]) -> sqlite3.Connection:
    # one connection shared by the handler threads; the store's lock serialises its use
    connection = sqlite3.connect(database, check_same_thread=False)
    try:
        if os.fspath(database) != IN_MEMORY:
            connection.execute("PRAGMA journal_mode=WAL")
        for table, name in _TABLES.values():
            connection.executescript(_SCHEMA.format(table=table, name=name))
            columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
            if "idempotency_key" not in columns:  # a database an earlier version made
                connection.execute(f"ALTER TABLE {table} ADD COLUMN idempotency_key TEXT")
            connection.execute(_KEY_INDEX.format(table=table))
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def _filters(user_id: str | None, thread_id: str | None) -> tuple[list[str], list[str]]:
    clauses: list[str] = []
    parameters: list[str] = []
    if user_id is not None:
        clauses.append("user_id = ?")
        parameters.append(user_id)
    if thread_id is not None:
        clauses.append("thread_id = ?")
        parameters.append(thread_id)
    return clauses, parameters


def _thread_id(item: Mapping[str, JSONValue]) -> str | None:
    properties = item.get("properties")
    if not isinstance(properties, dict):
        return None
    value = properties.get(THREAD_ID)
    if value is None or isinstance(value, str):
        return value
    # a numeric thread id is still a thread: keep it findable by its text
    return json.dumps(value)


def _without_key(item: Mapping[str, JSONValue]) -> Mapping[str, JSONValue]:
    """The item as its application made it: the transport's `$idempotency_key` is kept in its own column."""
    properties = item.get("properties")
    if not isinstance(properties, dict) or IDEMPOTENCY_KEY not in properties:
        return item
    return {**item, "properties": {k: v for k, v in properties.items() if k != IDEMPOTENCY_KEY}}


def _idempotency_key(item: Mapping[str, JSONValue]) -> str | None:
    properties = item.get("properties")
    if not isinstance(properties, dict):
        return None
    key = properties.get(IDEMPOTENCY_KEY)
    return key if isinstance(key, str) else None


def _dump(item: Mapping[str, JSONValue]) -> str:
    # key order and values survive a JSON round trip, so this is the item as the client sent it
    text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    if _is_utf8(text):
        return text
    # a lone surrogate (`"\udc80"`) is valid JSON but not UTF-8, which SQLite text must be: escaped, it
    # is the same JSON value
    return json.dumps(item, separators=(",", ":"))


def _text(value: JSONValue) -> JSONValue:
    r"""Return a column's value SQLite can bind: a lone surrogate in a string becomes its `\udc80` escape."""
    if isinstance(value, str) and not _is_utf8(value):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
