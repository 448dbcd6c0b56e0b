"""What each answer of the ingestion API means, and what one delivery came to (`SendResult`).

The transport decides once, here, what every answer means:

- 2xx: delivered.
- 408, 429, 500, 502, 503, 504, connection errors and timeouts: retried with exponential back-off and
  jitter, or after `Retry-After` (held between `RETRY_AFTER_MIN` and `RETRY_AFTER_MAX`), until the
  delivery's deadline; then the records go to the spool (`_spooling`), or count as failed without one.
  A 429 or 503 with `Retry-After` pauses every delivery of the client for that long.
- 3xx: not followed (a 301/302 would turn the post into a body-less GET, a 307/308 could carry the key to
  another host); dropped as `rejected`, naming the `Location` and what to set `TRUBRICS_HOST` to.
- 401, 403: the key is missing or wrong. Not retried; reported once, every record counted as dropped.
- 422: the API names the refused items. They are dropped, each with its reason, and the rest is sent
  again; when the answer names no item, the request is split in halves until every valid record is
  delivered.
- 413 with more than one record: split in halves. Any other answer: dropped as `rejected`.
- A request that cannot be made as configured (`PERMANENT_ERRORS`): dropped as `unsendable`.

Nothing here performs I/O: it reads answers `requests` received.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
from dataclasses import dataclass
from typing import Final

import requests

__all__ = [
    "PERMANENT_ERRORS",
    "RETRYABLE_STATUSES",
    "RETRY_AFTER_MAX",
    "RETRY_AFTER_MIN",
    "SendResult",
    "backoff",
    "detail_text",
    "invalid_items",
    "retry_after",
]

RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})

# A request these stop cannot succeed by being sent again: the URL, a header or the TLS set-up is wrong.
PERMANENT_ERRORS: Final = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.SSLError,
)
RETRY_AFTER_MIN: Final = 1.0
"""Seconds waited at least when `Retry-After` says 0, a negative number or a past date: no retry storm."""
RETRY_AFTER_MAX: Final = 300.0
"""Seconds waited at most, whatever `Retry-After` says: a typo cannot silence the client for a day."""
_BACKOFF_BASE: Final = 0.5
_BACKOFF_MAX: Final = 30.0


@dataclass(frozen=True)
class SendResult:
    """What became of the records given to one `send()` call.

    Attributes:
        sent: records Trubrics accepted.
        dropped: records refused for good (invalid, unauthorized, rejected).
        failed: records not delivered because retries ran out of time or the client shut down.
        unauthorized: whether the API key was refused.
        problem: what went wrong first, in a sentence; empty when everything was delivered.
        status: the HTTP status of the answer behind `problem` (0 when no answer came, or none went wrong).
        error: the exception behind `problem` when no answer came (`requests.ConnectionError`, ...).
        spooled: records not delivered now but kept in the spool, to be sent again (not lost: `ok`).
    """

    sent: int = 0
    dropped: int = 0
    failed: int = 0
    unauthorized: bool = False
    problem: str = ""
    status: int = 0
    error: BaseException | None = None
    spooled: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing failed and the key was accepted; records refused as invalid do not count."""
        return self.failed == 0 and not self.unauthorized

    def __add__(self, other: SendResult) -> SendResult:
        return SendResult(
            self.sent + other.sent,
            self.dropped + other.dropped,
            self.failed + other.failed,
            self.unauthorized or other.unauthorized,
            self.problem or other.problem,
            self.status if self.problem else other.status,
            self.error if self.problem else other.error,
            self.spooled + other.spooled,
        )


def backoff(attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` + 1: exponential, capped, with 20 % jitter."""
    delay: float = min(_BACKOFF_BASE * 2**attempt, _BACKOFF_MAX) * rng.uniform(0.8, 1.2)
    return delay


def retry_after(response: requests.Response, now: float) -> float | None:
    """Return the wait `Retry-After` asks for, in seconds (from a number or an HTTP date), or None.

    The wait is held between `RETRY_AFTER_MIN` and `RETRY_AFTER_MAX`.
    """
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return _held(seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _held(when.timestamp() - now)


def _held(seconds: float) -> float:
    return min(max(seconds, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


def invalid_items(response: requests.Response, count: int) -> dict[int, str]:
    """Return the refused items a 422 answer names, by position, with a readable reason for each."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(detail, list):
        return {}
    named: dict[int, list[str]] = {}
    for problem in detail:
        if not isinstance(problem, dict):
            return {}
        loc = problem.get("loc")
        if problem.get("type") == "json_invalid":
            return {}  # its position counts characters, not records
        if not isinstance(loc, list) or len(loc) < 2 or not isinstance(loc[1], int):
            return {}  # a problem with the body as a whole: no item to blame
        index = loc[1]
        if not 0 <= index < count:
            return {}
        field = ".".join(str(part) for part in loc[2:]) or "item"
        named.setdefault(index, []).append(f"{field}: {problem.get('msg', 'invalid')}")
    return {index: "; ".join(reasons) for index, reasons in named.items()}


def detail_text(response: requests.Response) -> str:
    try:
        return json.dumps(response.json().get("detail"))[:500]
    except (ValueError, AttributeError):
        return response.text[:500] or f"HTTP {response.status_code}"
