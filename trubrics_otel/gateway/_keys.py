"""Whose key a request's records are sent with, and whether the sender may send at all.

Two policies, chosen when the gateway starts:

- one project: the gateway's own key (`--api-key`, `TRUBRICS_API_KEY`) and one delivery core for every
  request; a sender's `x-api-key` is ignored;
- pass-through (`--pass-through-keys`): each request's `x-api-key` is the key its records are sent with,
  so one gateway serves several Trubrics projects. Each distinct key gets a core of its own (its own
  client, content join and memory of calls sent: projects never meet), at most `max_projects` of them;
  beyond, the least recently used core is released (its held calls sent, its client closed) and its
  counters kept in the totals.

A core is leased for the length of one export, so that eviction never closes a core a request is still
sending through: a leased core is released when its last lease ends.

The sender's token (`Authorization: Bearer <token>`) is compared in constant time, so that the time an
answer takes tells nothing about the token.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Final

from trubrics_otel._config import Settings
from trubrics_otel._delivery import ContentJoin, DeliveryCore, core_for
from trubrics_otel.gateway._retries import FailedExports

__all__ = ["MAX_PROJECTS", "Project", "Projects", "TokenCheck", "Totals"]

MAX_PROJECTS: Final = 64
"""Distinct sender keys served at once with `--pass-through-keys` before the least recent is let go."""


class TokenCheck:
    """Whether a request carries the token senders must present; every request passes when there is none.

    Args:
        token: the token; None lets every request in (a gateway on loopback).
        header: the header that carries it; `authorization` expects `Bearer <token>`, any other header
            the token alone.
    """

    def __init__(self, token: str | None, header: str = "authorization") -> None:
        self.header = header.lower()
        self._expected = None if token is None else token.encode()

    @property
    def required(self) -> bool:
        """Whether requests must present a token."""
        return self._expected is not None

    def allows(self, value: str | None) -> bool:
        """Whether a request whose token header is `value` (None: absent) may send."""
        if self._expected is None:
            return True
        if value is None:
            return False
        if self.header == "authorization":
            scheme, _, value = value.partition(" ")
            if scheme.lower() != "bearer":
                return False
        return hmac.compare_digest(value.strip().encode(), self._expected)


@dataclass
class Totals:
    """Delivery counters summed over every project's client, the released ones included."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    requests: int = 0
    incomplete: int = 0
    spooled: int = 0
    """Records the transport kept in the spool to send again."""
    replayed: int = 0
    """Records sent from the spool."""
    dropped: dict[str, int] = field(default_factory=dict)

    def add(self, stats: object) -> None:
        """Add a client's `DeliveryStats`; a counter it does not keep counts 0."""
        for item in fields(Totals):
            if item.name != "dropped":
                setattr(self, item.name, getattr(self, item.name) + int(getattr(stats, item.name, 0) or 0))
        for reason, count in getattr(stats, "dropped", {}).items():
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def merged(self, other: Totals) -> Totals:
        """Return the sum of two totals."""
        result = Totals(dropped=dict(self.dropped))
        for item in fields(Totals):
            if item.name != "dropped":
                setattr(result, item.name, getattr(self, item.name) + getattr(other, item.name))
        for reason, count in other.dropped.items():
            result.dropped[reason] = result.dropped.get(reason, 0) + count
        return result


class Project:
    """One project's delivery core, and what its failed exports carried (`_retries`)."""

    def __init__(self, core: DeliveryCore) -> None:
        self.core = core
        self.failed = FailedExports()
        self.leases = 0
        self.evicted = False


class Projects:
    """The delivery cores a gateway sends through, one per project key, and their counters.

    Args:
        settings_for: the settings of a project given its key (None: the gateway's own key).
        pass_through: send each request with the sender's `x-api-key`.
        max_projects: the most cores kept at once with `pass_through`.
    """

    def __init__(
        self,
        settings_for: Callable[[str | None], Settings],
        *,
        pass_through: bool,
        max_projects: int = MAX_PROJECTS,
    ) -> None:
        self.pass_through = pass_through
        self.max_projects = max_projects
        self._settings_for = settings_for
        self._lock = threading.Lock()
        self._projects: OrderedDict[str | None, Project] = OrderedDict()
        self._released = Totals()
        self._closed = False
        if not pass_through:
            self._projects[None] = Project(self._make(None))

    def _make(self, key: str | None) -> DeliveryCore:
        settings = self._settings_for(key)
        return core_for(settings, join=ContentJoin(settings.content_wait))

    @contextmanager
    def lease(self, key: str | None) -> Iterator[Project]:
        """Give the project of a request's key for the length of the block.

        With one project the key is ignored. Making a new project's core may release the least recently
        used one, which sends its held calls: call it from a worker thread, never from the event loop.

        Raises:
            RuntimeError: the projects were closed (the gateway is draining).
        """
        key = key if self.pass_through else None
        evicted: list[Project] = []
        with self._lock:
            if self._closed:
                raise RuntimeError("the gateway is shutting down")
            project = self._projects.get(key)
            if project is None:
                project = self._projects[key] = Project(self._make(key))
                evicted = self._evict()
            self._projects.move_to_end(key)
            project.leases += 1
        for old in evicted:
            self._retire(old)
        try:
            yield project
        finally:
            with self._lock:
                project.leases -= 1
                last = project.evicted and project.leases == 0
            if last:
                self._retire(project, leased=False)

    def _evict(self) -> list[Project]:
        """Take the least recently used projects beyond the bound out (under the lock)."""
        evicted = []
        while len(self._projects) > self.max_projects:
            key, project = next(iter(self._projects.items()))
            del self._projects[key]
            project.evicted = True
            evicted.append(project)
        return evicted

    def _retire(self, project: Project, *, leased: bool = True) -> None:
        """Release an evicted project's core once no request uses it, keeping its counters."""
        if leased:
            with self._lock:
                if project.leases:
                    return  # the last lease retires it
        project.core.release()
        with self._lock:
            self._released.add(project.core.client.stats())

    def cores(self) -> list[DeliveryCore]:
        """The cores in use now, least recently used first."""
        with self._lock:
            return [project.core for project in self._projects.values()]

    def totals(self) -> Totals:
        """Every project's counters, those of the released ones included."""
        live = Totals()
        for core in self.cores():
            live.add(core.client.stats())
        with self._lock:
            return live.merged(self._released)

    def held(self) -> int:
        """Calls and contents waiting in every project's content join."""
        return sum(len(core.join) for core in self.cores())

    def flush(self, timeout: float | None = None) -> bool:
        """Send the calls every core holds; True when all were delivered."""
        delivered = [core.flush(timeout) for core in self.cores()]  # every core, even after a failure
        return all(delivered)

    def close(self) -> None:
        """Stop taking requests and release every core: held calls are sent, clients closed. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            projects = list(self._projects.values())
            self._projects.clear()
        for project in projects:
            project.evicted = True
            self._retire(project)
