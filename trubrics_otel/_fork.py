"""What a forked child must not share with its parent, renewed in the child by one hook.

A fork copies the parent's memory as it is at that instant, in one thread: a lock another thread held
stays held for good, a queue's items are the parent's to deliver, an HTTP connection's socket is shared
with the parent. Whatever holds such state registers its renewal with `renew_in_child`, and the child
runs every renewal before it does anything else.

A renewal is usually a bound method: it is held weakly, so registering keeps nothing alive, and it
leaves when its object goes. A renewal never stops the others: one that raises is reported on stderr,
as Python reports an exception in an at-fork hook, and the next one runs.

What this module must never do: take a lock in the child (the parent's threads may have held it at the
fork), or hold an object alive.
"""

from __future__ import annotations

import inspect
import itertools
import os
import sys
import traceback
import weakref
from collections.abc import Callable
from types import MethodType

__all__ = ["renew_in_child"]

_Renewal = Callable[[], object]

# key -> the renewal, or a weak reference to it; dict operations are atomic, so no lock is needed
_renewals: dict[int, Callable[[], _Renewal | None]] = {}
_keys = itertools.count()


def renew_in_child(renew: _Renewal) -> None:
    """Run `renew()` in the child of every fork from now on.

    A bound method is held weakly, and is forgotten when its object goes; any other callable (a module's
    function) is held for good. Renewals run in the order they were registered.
    """
    key = next(_keys)
    if inspect.ismethod(renew):
        # the object held by a weak reference, not the method by a WeakMethod: on Python 3.11, a WeakMethod
        # torn down at interpreter exit while its object dies prints an AttributeError from its callback
        owner, function = weakref.ref(renew.__self__, lambda _: _renewals.pop(key, None)), renew.__func__
        _renewals[key] = lambda: _bound(owner(), function)
    else:
        _renewals[key] = lambda: renew


def _bound(owner: object, function: Callable[[object], object]) -> _Renewal | None:
    return None if owner is None else MethodType(function, owner)


def _renew_all() -> None:
    for held in list(_renewals.values()):
        renew = held()
        if renew is None:
            continue
        try:
            renew()
        except Exception:  # noqa: BLE001 - one renewal's bug must not leave the others undone
            print(f"Exception ignored in the at-fork renewal {renew!r}:", file=sys.stderr)
            traceback.print_exc()


if hasattr(os, "register_at_fork"):  # no fork on Windows
    os.register_at_fork(after_in_child=_renew_all)
