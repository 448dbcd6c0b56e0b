"""Where a fault scenario's records went, measured apart from the client that sent them.

Each record a scenario produces carries a user id of its own; what the local server stored is counted by
those ids (`arrivals`), what waits on disk by the spool's file names (`spooled_records`), and what a
process that has ended counted as lost by the account it wrote at its exit (`exit_account`). The
`ledger_row` fixture (conftest.py) then checks that the three add up to what was produced.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from trubrics_otel import TrubricsClient
from trubrics_otel._spool import default_spool_root
from trubrics_otel.server import LocalServer

__all__ = [
    "Arrivals",
    "ExitAccount",
    "Row",
    "arrivals",
    "exit_account",
    "settled",
    "spooled_records",
    "wait_for",
]


@dataclass(frozen=True)
class Row:
    """One scenario's line in the fault table.

    Attributes:
        scenario: what was staged, in a few words.
        produced: records the scenario made.
        stored: distinct records the server stored.
        duplicated: copies stored beyond the first (0 wherever the idempotency key applies).
        deduplicated: copies the server acknowledged without storing them again, by their key.
        spooled: records still waiting in the spool at the end.
        dropped: records the clients counted as lost (failed, or dropped for a reason that loses them).
        requests: publish requests the server answered.
        note: what else the scenario measured.
    """

    scenario: str
    produced: int
    stored: int
    duplicated: int
    deduplicated: int
    spooled: int
    dropped: int
    requests: int
    note: str = ""

    @property
    def unaccounted(self) -> int:
        """Records in none of the places: produced, less stored, spooled and dropped."""
        return self.produced - self.stored - self.spooled - self.dropped


@dataclass(frozen=True)
class Arrivals:
    """What a server holds of a scenario's records, counted by their ids."""

    stored: int
    """Distinct records stored."""
    duplicated: int
    """Copies stored beyond the first."""
    strangers: int
    """Stored items whose id the scenario did not produce."""
    deduplicated: int
    """Copies acknowledged without being stored again (their `$idempotency_key` was stored)."""
    requests: int
    """Publish requests answered, faults included."""


_ALREADY_STORED = re.compile(r"(\d+) already stored")


def arrivals(server: LocalServer, ids: Collection[str]) -> Arrivals:
    """Count what `server` stored of the records named by `ids` (their user ids), events and LLM events."""
    copies = Counter(str(item["user_id"]) for item in [*server.events(), *server.llm_events()])
    wanted = set(ids)
    publishes = [r for r in server.requests if r.method == "POST" and r.path.startswith("/publish_")]
    return Arrivals(
        stored=sum(1 for name in wanted if copies[name]),
        duplicated=sum(copies[name] - 1 for name in wanted if copies[name] > 1),
        strangers=sum(count for name, count in copies.items() if name not in wanted),
        deduplicated=sum(
            int(found.group(1)) for r in publishes if r.reason and (found := _ALREADY_STORED.search(r.reason))
        ),
        requests=len(publishes),
    )


def spooled_records(root: Path | None = None) -> int:
    """Records held by the batch files under a spool root (every destination), claimed ones included.

    The default root is the user's cache directory's, which is each test's own (tests/conftest.py). A
    batch's file is named `<time>-<pid>-<sequence>.<endpoint>.<records>.batch`, and `.claimed-<pid>` is
    added while a process sends it (trubrics_otel/_spool.py).
    """
    total = 0
    for path in (root or default_spool_root()).rglob("*"):
        name = path.name.split(".claimed-", 1)[0]
        if name.endswith(".batch"):
            total += int(name.split(".")[-2])
    return total


@dataclass(frozen=True)
class ExitAccount:
    """What the accounts a process (and its children) wrote at exit say was not delivered."""

    lost: int
    """Failed, or dropped for a reason that loses the record."""
    queued: int
    """Still queued when the process ended: neither sent nor kept."""
    spooled: int
    """Kept in the spool."""
    reasons: dict[str, int] = field(default_factory=dict)
    """The drops, by reason."""


_ACCOUNT = re.compile(
    r"Trubrics: \d+ records? .*?: \d+ sent, (\d+) failed(?: \(.*?\))?, \d+ dropped(?: \(([^)]*)\))?, "
    r"(\d+) still queued(?:, (\d+) spooled)?"
)


def exit_account(stderr: str) -> ExitAccount:
    """Add up the exit accounts in a process's standard error; none at all means nothing was lost.

    A client writes its account (`Trubrics: 300 records for ...: 0 sent, ...`) whenever a record was
    lost, is still queued or was spooled; it writes none when everything was sent.
    """
    lost = queued = spooled = 0
    reasons: Counter[str] = Counter()
    for found in _ACCOUNT.finditer(stderr):
        failed, dropped, still_queued, kept = found.groups()
        lost += int(failed)
        queued += int(still_queued)
        spooled += int(kept or 0)
        for part in (dropped or "").split(", "):
            if part:
                reason, count = part.split(": ")
                reasons[reason] += int(count)
                lost += 0 if reason == "duplicate" else int(count)
    return ExitAccount(lost, queued, spooled, dict(reasons))


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll `condition` every 20 ms for up to `seconds`: spools and workers deliver in the background."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def settled(client: TrubricsClient) -> bool:
    """Whether the client's spool thread has ended: nothing it holds is being sent again now."""
    return client.spool is None or not client.spool.busy
