"""The fault suite's ledger: each scenario's row of where its records went, and the table of them all.

A scenario test produces records through a real door under a fault, measures where they went
(`accounting`), and records its row with the `ledger_row` fixture, which fails the test when a record is
in none of the places (stored, spooled, dropped) or the server holds records the scenario never made. At
the end of the run the rows are printed as one Markdown table, and written as JSON to
`fault-table.json` in pytest's cache directory.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import pytest

from .accounting import Arrivals, Row

_ROWS = pytest.StashKey[list[Row]]()
_COLUMNS = ("produced", "stored", "duplicated", "deduplicated", "spooled", "dropped", "unaccounted")


class LedgerRow(Protocol):
    """What the `ledger_row` fixture gives a test: records its row, and checks it adds up."""

    def __call__(
        self, scenario: str, *, produced: int, arrived: Arrivals, spooled: int, dropped: int, note: str = ""
    ) -> Row: ...


@pytest.fixture
def ledger_row(request: pytest.FixtureRequest) -> LedgerRow:
    """Record a scenario's row in the table, then assert that every record it produced is accounted for.

    `arrived` is what the server stored of the scenario's records (`accounting.arrivals`); `spooled`
    what still waits in the spool; `dropped` what the clients counted as lost. Each record is in exactly
    one of those places (copies stored twice are counted apart, as `duplicated`).
    """
    rows = request.config.stash.setdefault(_ROWS, [])

    def record(
        scenario: str, *, produced: int, arrived: Arrivals, spooled: int, dropped: int, note: str = ""
    ) -> Row:
        row = Row(
            scenario=scenario,
            produced=produced,
            stored=arrived.stored,
            duplicated=arrived.duplicated,
            deduplicated=arrived.deduplicated,
            spooled=spooled,
            dropped=dropped,
            requests=arrived.requests,
            note=note,
        )
        rows.append(row)  # first, so that the table shows a scenario that fails too
        assert arrived.strangers == 0, f"the server stored records {scenario!r} never produced: {row}"
        assert row.unaccounted == 0, f"{row.unaccounted} records of {scenario!r} are unaccounted: {row}"
        return row

    return record


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of the test's own, which passes nothing to the root logger; its handlers are closed after."""
    made = logging.getLogger(f"faults.{threading.get_ident()}.{time.monotonic_ns()}")
    made.propagate = False
    made.setLevel(logging.INFO)
    yield made
    for handler in made.handlers[:]:
        made.removeHandler(handler)
        handler.close()


def table(rows: list[Row]) -> list[str]:
    """The rows as a Markdown table, one line per scenario."""
    lines = [
        "| scenario | " + " | ".join(_COLUMNS) + " | requests | note |",
        "|---|" + "---:|" * (len(_COLUMNS) + 1) + "---|",
    ]
    for row in rows:
        counts = " | ".join(
            str(row.unaccounted if name == "unaccounted" else getattr(row, name)) for name in _COLUMNS
        )
        lines.append(f"| {row.scenario} | {counts} | {row.requests} | {row.note} |")
    return lines


def _table_path(config: pytest.Config) -> Path:
    try:
        directory = config.rootpath / str(config.getini("cache_dir"))
    except ValueError:  # the cache provider is disabled
        directory = config.rootpath / ".pytest_cache"
    return directory / "fault-table.json"


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    """Print the fault table and write it as JSON, when any scenario ran."""
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    write: Callable[[str], None] = terminalreporter.write_line  # type: ignore[attr-defined]
    terminalreporter.write_sep("=", "fault suite: where every record went (#10)")  # type: ignore[attr-defined]
    for line in table(rows):
        write(line)
    path = _table_path(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps([{**asdict(row), "unaccounted": row.unaccounted} for row in rows], indent=2) + "\n"
        )
    except OSError as error:
        write(f"(the table could not be written to {path}: {error})")
    else:
        write(f"(written to {path})")
