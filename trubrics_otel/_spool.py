"""The spool: batches the transport could not deliver, kept on disk until the API takes them.

What the transport gives up on (the host unreachable, its deadline passed, a retryable answer that
persists, the exit's budget spent) and what the log queue cannot hold is written here instead of being
counted as failed, and sent again, in order, once the API answers: by this process in the background,
or by the next one that starts with the same host and key.

One directory per destination (`spool_directory`): records kept for one host and key are only ever sent
there, with that key. Each batch (one endpoint, at most 100 items: one request) is one file, named so
that names sort in the order batches were spooled:

    <time in ns, 20 digits>-<pid>-<sequence>.<endpoint>.<records>.batch

and holding the request's JSON body. The guarantees:

- **A crash mid-write leaves no partial batch**: a batch is written to a `.tmp-<pid>` file, then renamed
  into place (atomic on POSIX and Windows). The file is not synced to the disk (that would cost a
  millisecond a batch, more than the write): a process that crashes loses nothing, but a machine that
  loses power may lose the batches of its last seconds, or leave one unreadable (counted as
  `unsendable` when it is read back).
- **Several processes may share a directory, and no batch is sent twice by two of them**: a sender
  claims a batch by renaming it to `<name>.claimed-<pid>`, which only one process's rename can do; the
  batch is deleted once the API took it, or renamed back. A process that dies holding a claim leaves it
  behind: a spool on the directory gives it back (its process is gone, or the claim is older than
  `STALE_CLAIM` seconds) when it next looks, at most every `RECOVERY_INTERVAL` seconds.
- **Bounded in bytes**: past `max_bytes`, the oldest batches are deleted first, and their records
  counted as dropped (`spool_full`) by the caller.
- **Owner only**: the directories are made with mode 0700 and the files with 0600.

A directory that cannot be written (read-only, full, not a directory) degrades to `MemoryStore`, which
keeps batches in this process's memory under the same bound, with one warning.

Nothing here raises into the caller: every method that touches the disk turns an `OSError` into a
result.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

__all__ = [
    "RECOVERY_INTERVAL",
    "STALE_CLAIM",
    "Batch",
    "DiskStore",
    "MemoryStore",
    "Store",
    "default_spool_root",
    "spool_directory",
]

STALE_CLAIM: Final = 600.0
"""Seconds after which a claim is given back even though its process still runs: a delivery is bounded
by its deadline (30 s by default), so a claim this old belongs to a process that lost track of it."""

RECOVERY_INTERVAL: Final = 10.0
"""Seconds between two looks for the claims and unfinished writes of processes that died."""

_SUFFIX: Final = ".batch"
_CLAIMED: Final = ".claimed-"
_TEMPORARY: Final = ".tmp-"
_sequence = itertools.count()


@dataclass(frozen=True)
class Batch:
    """One spooled request: its endpoint, its JSON body, and how many records that body holds."""

    name: str
    endpoint: str
    body: bytes
    records: int


class Store(Protocol):
    """Where spooled batches are kept: `DiskStore`, or `MemoryStore` when the disk cannot be used."""

    where: str
    """Where the batches are, as the account names it."""
    max_bytes: int
    """The most bytes the batches may add up to."""

    def put(self, endpoint: str, body: bytes, records: int) -> tuple[bool, int]:
        """Keep one batch; return whether it was kept, and the records of older batches evicted for it."""
        ...

    def claim(self) -> Batch | None:
        """Take the oldest batch no one else holds, for sending; None when there is none."""
        ...

    def done(self, batch: Batch) -> None:
        """Forget a claimed batch: the API took it (or refused it for good)."""
        ...

    def give_back(self, batch: Batch, body: bytes | None = None, records: int | None = None) -> None:
        """Return a claimed batch, unchanged or with what is left of it (`body`, `records`)."""
        ...

    def pending(self) -> int:
        """How many batches are kept."""
        ...

    def renew_after_fork(self) -> None:
        """Make a forked child's store its own (locks, and what only the parent should send)."""
        ...


def default_spool_root() -> Path:
    """The per-user cache directory's `trubrics-otel/spool`, as each platform names it."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trubrics-otel" / "spool"


def spool_directory(root: Path, host: str, api_key: str | None) -> Path:
    """The directory of one destination under `root`: named by a digest, so the key never shows."""
    digest = hashlib.sha256(f"{host}\0{api_key or ''}".encode()).hexdigest()[:16]
    return root / digest


class DiskStore:
    """Batches as files in one directory, shared safely by the processes that open it (module docstring).

    Args:
        directory: the destination's directory; made (0700) on the first `put()`.
        max_bytes: the most bytes the batch files may add up to.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.where = str(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._bytes: int | None = None  # what the batch files add up to, as last scanned plus since
        self._next_recovery = 0.0  # when (time.monotonic) to look for dead processes' claims again
        # the batches of the last listing not yet tried, oldest first: draining a spool of n batches lists
        # the directory once per pass, not once per batch
        self._line: deque[str] = deque()

    def put(self, endpoint: str, body: bytes, records: int) -> tuple[bool, int]:
        """Write one batch (module docstring); False when the directory cannot be written."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence):06d}.{endpoint}.{records}{_SUFFIX}"
        evicted = 0
        with self._lock:
            try:
                self._make_directory()
                evicted = self._make_room(len(body))
                self._write(name, body)
            except OSError:
                return False, evicted
            if self._bytes is not None:
                self._bytes += len(body)
        return True, evicted

    def claim(self) -> Batch | None:
        """Rename the oldest batch to a claim of this process's and read it; None when there is none."""
        self.recover()
        if not self._line:
            self._line.extend(self._names())
        while self._line:
            name = self._line.popleft()
            claimed = f"{name}{_CLAIMED}{os.getpid()}"
            try:
                os.rename(self.directory / name, self.directory / claimed)
            except OSError:
                continue  # another process claimed it first, or it was evicted
            path = self.directory / claimed
            try:
                os.utime(path)  # a claim's age is counted from now
                body = path.read_bytes()
            except OSError:
                continue
            endpoint, records = _parse(name)
            return Batch(claimed, endpoint, body, records)
        return None

    def done(self, batch: Batch) -> None:
        """Delete a claimed batch."""
        with contextlib.suppress(OSError):
            os.unlink(self.directory / batch.name)
        with self._lock:
            if self._bytes is not None:
                self._bytes = max(self._bytes - len(batch.body), 0)

    def give_back(self, batch: Batch, body: bytes | None = None, records: int | None = None) -> None:
        """Rename a claimed batch back to its name, first rewriting it with what is left of it if given."""
        self._line.clear()  # it is the oldest again: the next claim lists the directory anew
        original = batch.name.rsplit(_CLAIMED, 1)[0]
        with contextlib.suppress(OSError):
            if body is not None and records is not None:
                stem = original.rsplit(".", 2)[0]  # the time, process and sequence: the same place in line
                smaller = f"{stem}.{records}{_SUFFIX}"
                self._write(smaller, body)
                os.unlink(self.directory / batch.name)
                with self._lock:
                    if self._bytes is not None:
                        self._bytes = max(self._bytes - len(batch.body) + len(body), 0)
                return
            os.rename(self.directory / batch.name, self.directory / original)

    def renew_after_fork(self) -> None:
        """Give a forked child a lock of its own (the parent's may have been held at the fork)."""
        self._lock = threading.Lock()
        self._line.clear()

    def pending(self) -> int:
        """Count the batch files and the claims (a claim is still kept)."""
        try:
            return sum(1 for entry in os.scandir(self.directory) if _is_batch(entry.name, claims=True))
        except OSError:
            return 0

    def recover(self) -> None:
        """Give back the claims of processes that are gone, and delete their unfinished writes.

        At most once every `RECOVERY_INTERVAL` seconds: a process sharing the directory may die any time.
        """
        now = time.monotonic()
        if now < self._next_recovery:
            return
        self._next_recovery = now + RECOVERY_INTERVAL
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        now = time.time()
        for entry in entries:
            name = entry.name
            owner = _owner(name)
            if owner is None:
                continue
            with contextlib.suppress(OSError):
                stale = now - entry.stat().st_mtime > STALE_CLAIM
                if owner != os.getpid() and (stale or not _alive(owner)):
                    if _CLAIMED in name:
                        os.rename(entry.path, self.directory / name.rsplit(_CLAIMED, 1)[0])
                    else:
                        os.unlink(entry.path)

    def _names(self) -> list[str]:
        try:
            return sorted(entry.name for entry in os.scandir(self.directory) if entry.name.endswith(_SUFFIX))
        except OSError:
            return []

    def _make_directory(self) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # `mkdir` leaves the parents to the umask; the spool's own root is the user's alone
            with contextlib.suppress(OSError):
                os.chmod(self.directory.parent, 0o700)
            os.chmod(self.directory, 0o700)

    def _write(self, name: str, body: bytes) -> None:
        temporary = self.directory / f"{_TEMPORARY}{os.getpid()}-{next(_sequence)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(body)
            os.replace(temporary, self.directory / name)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _make_room(self, size: int) -> int:
        """Delete the oldest batches until `size` more bytes fit; return the records they held."""
        if self._bytes is None or self._bytes + size > self.max_bytes:
            self._bytes = self._scan()  # other processes write here too: count what is really there
        evicted = 0
        names = self._names()
        while self._bytes + size > self.max_bytes and names:
            name = names.pop(0)
            path = self.directory / name
            try:
                length = path.stat().st_size
                os.unlink(path)
            except OSError:
                continue  # claimed meanwhile: not ours to evict
            self._bytes -= length
            evicted += _parse(name)[1]
        return evicted

    def _scan(self) -> int:
        total = 0
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.directory):
                if _is_batch(entry.name, claims=True):
                    with contextlib.suppress(OSError):
                        total += entry.stat().st_size
        return total


class MemoryStore:
    """Batches in this process's memory, under the same byte bound: what an unwritable directory leaves.

    They are lost when the process ends (the account counts them as still queued then).
    """

    def __init__(self, max_bytes: int, where: str = "memory") -> None:
        self.where = where
        self.max_bytes = max_bytes
        self._batches: deque[Batch] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, endpoint: str, body: bytes, records: int) -> tuple[bool, int]:
        """Keep one batch, evicting the oldest past the bound."""
        with self._lock:
            evicted = 0
            while self._batches and self._bytes + len(body) > self.max_bytes:
                old = self._batches.popleft()
                self._bytes -= len(old.body)
                evicted += old.records
            self._batches.append(Batch(str(next(_sequence)), endpoint, body, records))
            self._bytes += len(body)
            return True, evicted

    def claim(self) -> Batch | None:
        """Take the oldest batch."""
        with self._lock:
            if not self._batches:
                return None
            batch = self._batches.popleft()
            self._bytes -= len(batch.body)
            return batch

    def done(self, batch: Batch) -> None:
        """Nothing to do: a claimed batch is no longer held."""

    def give_back(self, batch: Batch, body: bytes | None = None, records: int | None = None) -> None:
        """Put a claimed batch back at the head of the line."""
        if body is not None and records is not None:
            batch = Batch(batch.name, batch.endpoint, body, records)
        with self._lock:
            self._batches.appendleft(batch)
            self._bytes += len(batch.body)

    def renew_after_fork(self) -> None:
        """Give a forked child a lock of its own, and none of its parent's batches (the parent sends them)."""
        self._lock = threading.Lock()
        self._batches = deque()
        self._bytes = 0

    def pending(self) -> int:
        """How many batches are held."""
        return len(self._batches)


def _parse(name: str) -> tuple[str, int]:
    """The endpoint and the record count a batch's file name holds."""
    base = name.rsplit(_CLAIMED, 1)[0]
    parts = base.split(".")
    try:
        return parts[1], int(parts[2])
    except (IndexError, ValueError):
        return "", 0


def _is_batch(name: str, *, claims: bool) -> bool:
    return name.endswith(_SUFFIX) or (claims and _CLAIMED in name)


def _owner(name: str) -> int | None:
    """The process that holds a claim or is writing a temporary file; None for a plain batch."""
    if _CLAIMED in name:
        text = name.rsplit(_CLAIMED, 1)[1]
    elif name.startswith(_TEMPORARY):
        text = name[len(_TEMPORARY) :].split("-", 1)[0]
    else:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, as someone else's
    return True
