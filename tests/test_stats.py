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


class Queue:
    def __init__(self, length: int) -> None:
        self.length = length

    def size(self) -> int:
        return self.length


def test_queue_sources_add_up_and_can_be_removed() -> None:
    """Every registered source counts as still queued until it is removed."""
    ledger = Ledger()
    first, second = Queue(3), Queue(4)
    ledger.add_queue_source(first.size)
    remove = ledger.add_queue_source(second.size)
    assert ledger.queued() == 7

    remove()
    remove()
    assert ledger.queued() == 3


def test_a_bound_method_source_goes_with_its_object() -> None:
    """A queue source that is a bound method does not keep its object alive."""
    ledger = Ledger()
    queue = Queue(5)
    ledger.add_queue_source(queue.size)
    ledger.add_queue_source(lambda: 2)
    del queue
    assert ledger.queued() == 2


def test_a_failing_queue_source_counts_as_empty() -> None:
    """A source that raises or answers nonsense adds nothing and stops nothing."""
    ledger = Ledger()

    def broken() -> int:
        raise RuntimeError("boom")

    ledger.add_queue_source(broken)
    ledger.add_queue_source(lambda: -3)
    ledger.add_queue_source(lambda: 1)
    assert ledger.queued() == 1
