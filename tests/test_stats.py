"""The counters behind stats(): reports once then periodically, and survive a fork."""

from __future__ import annotations

import logging
import os
import time

import pytest

from trubrics_otel._stats import REPORT_INTERVAL, Ledger


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_loss_is_explained_once_then_summarised(caplog: pytest.LogCaptureFixture) -> None:
    """The first drop of a reason is logged; later ones only once per interval, with their count."""
    clock = Clock()
    ledger = Ledger(clock)
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        ledger.dropped("invalid", 1, "first")
        ledger.dropped("invalid", 2, "second")
        ledger.dropped("invalid", 3, "third")
        clock.now = REPORT_INTERVAL
        ledger.dropped("invalid", 4, "fourth")

    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Trubrics: 1 record(s) dropped (invalid): first",
        "Trubrics: 9 more record(s) dropped (invalid) in the last 60 s; latest: fourth",
    ]
    assert ledger.snapshot().dropped == {"invalid": 10}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_the_lock_is_held_can_still_count() -> None:
    """The child gets a fresh lock, so counting there cannot hang on the parent's holder."""
    ledger = Ledger()
    with ledger._lock:
        pid = os.fork()
        if pid == 0:  # the child: counting would block forever on a copied, held lock
            ledger.sent(1)
            os._exit(0 if ledger.snapshot().sent == 1 else 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, 9)
        pytest.fail("the forked child hung on the ledger's lock")
    assert os.waitstatus_to_exitcode(status) == 0
