"""Fault injection: the infrastructure failures the local server can stage in front of its API.

A `Fault` is one scripted answer (an error status, a `Retry-After`, a slow answer, a dropped
connection); the `FaultInjector` hands out the scripted faults in order, then random 503s at its
`fail_rate`. The HTTP handler asks it once per publish request, before anything else, because real
faults come from proxies and load balancers that never look at the key or the body.

This module never touches sockets or the store: it only decides which fault, if any, comes next.
"""

from __future__ import annotations

import collections
import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from trubrics_otel._config import ConfigurationError

__all__ = ["Fault", "FaultInjector", "check_fail_rate"]

_FAULT_FIELDS = frozenset({"status", "retry_after", "delay", "drop"})


@dataclass(frozen=True)
class Fault:
    """One scripted answer to a publish request.

    Attributes:
        status: the HTTP status to answer, 200 to 599. An error status (400 and above) is answered
            without looking at the request; a 2xx status lets the request through to the API after
            `delay`, so `Fault(status=200, delay=2)` stages a slow API.
        retry_after: sent verbatim as the `Retry-After` header (seconds or an HTTP date), or `None`.
        delay: seconds to wait before answering, to make a client's read timeout fire.
        drop: close the connection after `delay` without any answer; `status` is then ignored.

    Raises:
        ConfigurationError: a field is out of range or of the wrong type.
    """

    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    drop: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 200 <= self.status <= 599:
            raise ConfigurationError(
                f"A fault's status must be an HTTP status from 200 to 599, not {self.status!r}."
            )
        if self.retry_after is not None and (
            not isinstance(self.retry_after, str) or any(c in self.retry_after for c in "\r\n")
        ):
            raise ConfigurationError(
                "A fault's retry_after must be a one-line string such as '2' or an HTTP date, or None."
            )
        if not _is_seconds(self.delay):
            raise ConfigurationError(
                f"A fault's delay must be a finite number of seconds >= 0, not {self.delay!r}."
            )
        if not isinstance(self.drop, bool):
            raise ConfigurationError(f"A fault's drop must be True or False, not {self.drop!r}.")

    @property
    def is_error(self) -> bool:
        """Whether the fault replaces the API's answer (an error status or a dropped connection)."""
        return self.drop or self.status >= 400

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """Build a fault from its JSON object, as `POST /_trubrics/faults` receives it.

        Raises:
            ConfigurationError: the object is not a fault.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"A fault must be a JSON object, not {type(data).__name__}.")
        unknown = sorted(set(data) - _FAULT_FIELDS)
        if unknown:
            raise ConfigurationError(
                f"A fault has no field {unknown[0]!r}; the fields are delay, drop, retry_after and status."
            )
        return cls(**data)


class FaultInjector:
    """The faults a server stages: a queue of scripted ones, then random 503s at `fail_rate`.

    Thread-safe: every handler thread calls `next_fault()`.

    Args:
        fail_rate: the share of publish requests, 0 to 1, answered with a random 503.
        seed: seeds the random draws, so a run with the same seed fails the same requests.

    Raises:
        ConfigurationError: `fail_rate` is outside [0, 1] or `seed` is not an integer.
    """

    def __init__(self, fail_rate: float = 0.0, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigurationError(f"The seed must be an integer or None, not {seed!r}.")
        self._lock = threading.Lock()
        self._script: collections.deque[Fault] = collections.deque()
        self._rng = random.Random(seed)  # reproducible failures, not security
        self._fail_rate = check_fail_rate(fail_rate)

    def __repr__(self) -> str:
        return f"FaultInjector(pending={self.pending}, fail_rate={self.fail_rate})"

    @property
    def fail_rate(self) -> float:
        """The share of publish requests, 0 to 1, answered with a random 503 once the script is used up."""
        return self._fail_rate

    @fail_rate.setter
    def fail_rate(self, value: float) -> None:
        checked = check_fail_rate(value)
        with self._lock:
            self._fail_rate = checked

    @property
    def pending(self) -> int:
        """How many scripted faults are still queued."""
        with self._lock:
            return len(self._script)

    def script(self, *responses: Fault) -> None:
        """Queue faults for the next publish requests, one request each, in the order given.

        Raises:
            ConfigurationError: an argument is not a `Fault`.
        """
        for response in responses:
            if not isinstance(response, Fault):
                raise ConfigurationError(f"script() takes Fault objects, not {type(response).__name__}.")
        with self._lock:
            self._script.extend(responses)

    def clear(self) -> None:
        """Stage no more faults: empty the script and set `fail_rate` to 0."""
        with self._lock:
            self._script.clear()
            self._fail_rate = 0.0

    def next_fault(self) -> Fault | None:
        """Return the fault for the publish request being handled, or `None` to let it through."""
        with self._lock:
            if self._script:
                return self._script.popleft()
            # drawn only when a rate is set, so that a seeded run's draws depend on failing requests alone
            if self._fail_rate > 0.0 and self._rng.random() < self._fail_rate:
                return Fault(status=503)
            return None

    def state(self) -> dict[str, int | float]:
        """Return the injector's state as the JSON `/_trubrics/faults` answers with."""
        with self._lock:
            return {"pending": len(self._script), "fail_rate": self._fail_rate}


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def check_fail_rate(value: object) -> float:
    """Return `value` as a fail rate, raising `ConfigurationError` unless it is a number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"The fail rate must be a number from 0 to 1, not {value!r}.")
    return float(value)
