"""The account of every client's records at interpreter exit, given after every other flush.

A ledger (`_stats.Ledger`) gives its account when its client shuts down for good; a client never shut
down gives it at exit, here. That account comes after every other flush. `logging.shutdown()` is the
exit hook that runs last (logging registers it when it is first imported, before anything else can),
and it closes handlers newest first; OpenTelemetry's providers flush in exit hooks that run before it,
and a `TrubricsHandler` delivers its last records when that shutdown closes it. So the account is given
when `logging.shutdown()` closes a handler made when this module is imported, before any
`TrubricsHandler` can be (and put back at the head of logging's list of handlers at exit, if
`dictConfig()` emptied that list).
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import Protocol

__all__ = ["account_all", "account_at_exit"]


class _Accountable(Protocol):
    def give_account(self) -> None: ...


def account_at_exit(ledger: _Accountable) -> None:
    """Give `ledger`'s account at exit, if it has one to give then; it is held weakly."""
    _ledgers.add(ledger)


_ledgers: weakref.WeakSet[_Accountable] = weakref.WeakSet()


_exiting = threading.Event()


def _note_exit() -> None:
    _exiting.set()
    if not _close_account_handler_last():
        account_all()  # no way to come after logging.shutdown(): the account comes now rather than never


def _close_account_handler_last() -> bool:
    """Make sure `logging.shutdown()` closes `_account_at_exit`, after the handlers made since it was made.

    `logging.config.dictConfig()` empties logging's list of handlers, this one's included: it goes back
    at the head of the list, which `logging.shutdown()` closes last. False when logging keeps no such
    list (a private part of the logging module).
    """
    handlers = getattr(logging, "_handlerList", None)
    lock = getattr(logging, "_lock", None)
    if not isinstance(handlers, list) or lock is None:
        return False
    with lock:
        if not any(ref() is _account_at_exit for ref in handlers):
            handlers.insert(0, weakref.ref(_account_at_exit))
    return True


class _AccountAtExit(logging.Handler):
    """A handler attached to no logger, there to be closed by `logging.shutdown()` (see the docstring).

    `logging.config.dictConfig()` closes every handler too, and `logging.shutdown()` may be called
    before the exit: only a close after the exit began gives the accounts.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Show nothing: no logger sends records here."""

    def close(self) -> None:
        """Give the account of every ledger not accounted for yet, once the interpreter is exiting."""
        super().close()
        if _exiting.is_set():
            account_all()


def account_all() -> None:
    """Give the account of every live ledger that has not given it yet."""
    for ledger in list(_ledgers):
        ledger.give_account()


# made now, before any TrubricsHandler, so that logging.shutdown() closes it after them
_account_at_exit = _AccountAtExit()
# registered after logging's own exit hook, so it runs before logging.shutdown()
atexit.register(_note_exit)
