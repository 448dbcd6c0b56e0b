"""The one way the package's own warnings and errors reach the user, even where logging would hide them.

Every warning and error the package has for its user (a refused key, records lost, the account of
losses, a bad environment value, placeholders sent) goes through `report()`. It logs to a
`trubrics_otel...` logger, as any library does, so that the application's logging configuration decides
where it goes. When that record would reach no one, it also writes the message as one line to
`sys.stderr`, once per cause. A record reaches no one when:

- its logger was disabled, as `logging.config.dictConfig()` does by default to every logger that existed
  before it (`disable_existing_loggers=True`);
- or the only handlers it would reach are the package's own (a `TrubricsHandler` on the root logger
  rightly ignores the package's records), `NullHandler`s, or handlers whose level is above the record's.

Python's `logging.lastResort` prints a warning that finds no handler at all, so that case is left to it.
A level the application set (`logging.disable()`, or a logger's or the root's level above WARNING) is a
choice, and is respected.

What this module must never do: run per record (it runs only when something is reported), raise, or
write the same cause to stderr twice.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Final

__all__ = ["report"]

_ECHOED_SUFFIX: Final = "(shown here because no logging handler displays trubrics_otel's messages)"
_DISABLED_SUFFIX: Final = (
    "(shown here because the logger {} is disabled, as logging.config.dictConfig() does to loggers made "
    "before it unless given disable_existing_loggers=False)"
)

_echoed: set[str] = set()
_echoed_lock = threading.Lock()


def report(logger: logging.Logger, level: int, message: str, *, key: str, exc_info: bool = False) -> None:
    """Log `message` at `level`, and write it to stderr too (once per `key`) when no handler shows it.

    Args:
        logger: a `trubrics_otel...` logger.
        level: `logging.WARNING` or `logging.ERROR`.
        message: the whole message, already formatted.
        key: the cause; a cause already written to stderr in this process is not written again.
        exc_info: log the exception being handled with the record (stderr gets the message's line only).
    """
    try:
        hidden = _why_hidden(logger, level)
        # the record names the function that reported, not this one
        logger.log(level, message, exc_info=exc_info, stacklevel=2)
        if hidden is not None:
            _echo(key, f"trubrics-otel: {logging.getLevelName(level)}: {message} {hidden}")
    except Exception:  # noqa: BLE001, S110 - telemetry's reports never raise into the application
        pass


def _why_hidden(logger: logging.Logger, level: int) -> str | None:
    """Return why a record of `level` on `logger` would be shown to no one, or None if it would be shown."""
    if logger.disabled:
        return _DISABLED_SUFFIX.format(logger.name)
    if not logger.isEnabledFor(level):
        return None  # a level the application chose: it asked not to see these
    found = 0
    current: logging.Logger | None = logger
    while current is not None:
        # as Logger.callHandlers walks: an ancestor's `disabled` does not stop the propagation
        for handler in current.handlers:
            found += 1
            if _displays(handler, level):
                return None
        current = current.parent if current.propagate else None
    if found == 0:
        last_resort = logging.lastResort
        if last_resort is not None and level >= last_resort.level:
            return None  # logging.lastResort prints it to stderr already
    return _ECHOED_SUFFIX


def _displays(handler: logging.Handler, level: int) -> bool:
    if level < handler.level or isinstance(handler, logging.NullHandler):
        return False
    return not type(handler).__module__.startswith("trubrics_otel")


def _echo(key: str, line: str) -> None:
    with _echoed_lock:
        if key in _echoed:
            return
        _echoed.add(key)
    stream = sys.stderr
    if stream is None:  # pythonw: there is nowhere left to say it
        return
    stream.write(" ".join(line.split()) + "\n")
    stream.flush()
