"""The one at-fork hook: renewals run in the child, in order, held weakly, none stopping the others."""

from __future__ import annotations

import gc
import os
import sys

import pytest
from processes import run_clean

from trubrics_otel import _fork

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


class Holder:
    def __init__(self, name: str, trail: list[str]) -> None:
        self.name = name
        self.trail = trail

    def renew(self) -> None:
        self.trail.append(self.name)

    def fail(self) -> None:
        raise RuntimeError("a renewal with a bug")


def in_child(check: object) -> int:
    """Fork; the child exits 0 when `check()` is true. Return the child's exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if check() else 1)  # type: ignore[operator]
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_renewals_run_in_the_child_in_their_order_and_not_in_the_parent() -> None:
    """Each renewal runs once in the child, in the order registered; the parent's state is untouched."""
    trail: list[str] = []
    first, second = Holder("first", trail), Holder("second", trail)
    _fork.renew_in_child(first.renew)
    _fork.renew_in_child(second.renew)

    assert in_child(lambda: trail == ["first", "second"]) == 0
    assert trail == []


def test_a_bound_method_is_held_weakly_and_forgotten_with_its_object() -> None:
    """Registering keeps nothing alive: an object gone is no longer renewed, and leaves the table."""
    trail: list[str] = []
    holder = Holder("gone", trail)
    _fork.renew_in_child(holder.renew)
    assert holders_renewed() == [holder]

    del holder
    gc.collect()

    assert holders_renewed() == []
    assert in_child(lambda: trail == []) == 0


def holders_renewed() -> list[Holder]:
    """The test holders whose renewal the table still holds (other tests' clients may come and go)."""
    renewals = [held() for held in list(_fork._renewals.values())]
    return [owner for renew in renewals if isinstance(owner := getattr(renew, "__self__", None), Holder)]


def test_a_renewal_that_raises_does_not_stop_the_next(capfd: pytest.CaptureFixture[str]) -> None:
    """A failing renewal is reported on stderr and the ones after it still run."""
    trail: list[str] = []
    broken, after = Holder("broken", trail), Holder("after", trail)
    _fork.renew_in_child(broken.fail)
    _fork.renew_in_child(after.renew)

    assert in_child(lambda: trail == ["after"]) == 0
    assert "RuntimeError: a renewal with a bug" in capfd.readouterr().err


def test_objects_alive_at_exit_leave_nothing_on_stderr() -> None:
    """A client, handler and processor still registered when the interpreter exits make no noise."""
    program = (
        "import trubrics_otel\n"
        "client = trubrics_otel.TrubricsClient('k', 'http://127.0.0.1:9')\n"
        "handler = trubrics_otel.TrubricsHandler('k', 'http://127.0.0.1:9')\n"
        "processor = trubrics_otel.TrubricsStructlogProcessor(client=client)\n"
    )
    done = run_clean([sys.executable, "-c", program], timeout=60)

    assert (done.returncode, done.stderr) == (0, "")
