"""The counters behind stats(): reports once then periodically, and survive a fork."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest
from opentelemetry.util.genai.utils import should_capture_content_on_spans
from processes import run_clean

from trubrics_otel._stats import REPORT_INTERVAL, Ledger
from trubrics_otel.server import LocalServer


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
        "Trubrics: 1 record(s) dropped (invalid) so far: first. More may follow: they are summarised at most "
        "once a minute, and counted in stats() and in a final account.",
        "Trubrics: 9 more record(s) dropped (invalid) in the 60 s since the last report; latest: fourth",
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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_count_its_parents_deliveries_as_queued() -> None:
    """Records the parent is sending stay the parent's: the child's account does not name them."""
    ledger = Ledger()
    ledger.begin_delivery(5)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if ledger.account() is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ledger.account() == "Trubrics: 5 records: 0 sent, 0 failed, 0 dropped, 5 still queued."


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


def lost_some(clock: Clock | None = None) -> Ledger:
    ledger = Ledger(clock or Clock(), host="http://127.0.0.1:9")
    ledger.sent(200)
    ledger.failed(10, "could not reach http://127.0.0.1:9/publish_events: ConnectionError")
    ledger.dropped("unauthorized", 40, "the API key is missing or was refused")
    return ledger


def test_the_account_names_every_record() -> None:
    """The account adds up: sent, failed with the latest cause, dropped by reason, still queued."""
    ledger = lost_some()
    ledger.dropped("invalid", 3, "the API refused a record")
    ledger.add_queue_source(lambda: 7)

    assert ledger.account() == (
        "Trubrics: 260 records for http://127.0.0.1:9: 200 sent, 10 failed (could not reach "
        "http://127.0.0.1:9/publish_events: ConnectionError), 43 dropped (invalid: 3, unauthorized: 40), "
        "7 still queued."
    )


def test_no_account_when_nothing_was_lost(caplog: pytest.LogCaptureFixture) -> None:
    """A ledger that sent everything and holds nothing gives no account, at shutdown or later."""
    ledger = Ledger(Clock())
    ledger.sent(5)
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        ledger.close()
        ledger.give_account()

    assert ledger.account() is None
    assert caplog.records == []


def test_records_still_queued_are_enough_for_an_account() -> None:
    """Nothing failed yet, but records still held upstream are named."""
    ledger = Ledger(Clock())
    ledger.sent(1)
    ledger.add_queue_source(lambda: 4)

    assert ledger.account() == "Trubrics: 5 records: 1 sent, 0 failed, 0 dropped, 4 still queued."


def test_the_account_is_given_once(caplog: pytest.LogCaptureFixture) -> None:
    """Closing, then the exit, then another close report the account exactly once."""
    ledger = lost_some()
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        ledger.close()
        ledger.give_account()
        ledger.close()

    accounts = [r.getMessage() for r in caplog.records if "records for" in r.getMessage()]
    assert len(accounts) == 1
    assert accounts[0].startswith("Trubrics: 250 records for http://127.0.0.1:9: 200 sent, 10 failed")


def test_the_account_waits_for_the_deliveries_under_way(caplog: pytest.LogCaptureFixture) -> None:
    """Closed while records are being sent, the ledger accounts for them when their delivery ends."""
    ledger = Ledger(Clock())
    ledger.begin_delivery(5)
    ledger.delivered(2)
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        ledger.close()
        before = len(caplog.records)
        ledger.failed(3, "the client was shut down while waiting to retry", delivering=True)

    assert before == 0
    assert caplog.records[-1].getMessage() == (
        "Trubrics: 5 records: 2 sent, 3 failed (the client was shut down while waiting to retry), "
        "0 dropped, 0 still queued."
    )


def test_records_in_delivery_at_exit_count_as_still_queued() -> None:
    """An account given while a delivery is under way names its records as still queued."""
    ledger = Ledger(Clock())
    ledger.dropped("invalid", 1, "the API refused a record")
    ledger.begin_delivery(100)

    assert (
        ledger.account()
        == "Trubrics: 101 records: 0 sent, 0 failed, 1 dropped (invalid: 1), 100 still queued."
    )


def test_the_placeholder_warning_names_the_values_for_each_instrumentation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning names each setting with the value that turns content on, once, and points to check."""
    ledger = Ledger(Clock())
    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        ledger.incomplete(1)
        ledger.incomplete(2)

    (warning,) = [r.getMessage() for r in caplog.records]
    for named in (
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY",
        "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental",
        "`true`",
        "OTEL_LOGS_EXPORTER=trubrics",
        "TRACELOOP_TRACE_CONTENT=true",
        "OPENINFERENCE_HIDE_INPUTS",
        "OPENINFERENCE_HIDE_OUTPUTS",
        "trubrics-otel check",
    ):
        assert named in warning
    assert ledger.snapshot().incomplete == 3


@pytest.mark.parametrize(
    ("value", "on_spans"), [("SPAN_ONLY", True), ("SPAN_AND_EVENT", True), ("true", False)]
)
def test_the_placeholder_warning_matches_the_installed_genai_utilities(
    monkeypatch: pytest.MonkeyPatch, value: str, on_spans: bool
) -> None:
    """The values the warning gives behave as it says in the installed opentelemetry-util-genai."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    logging.getLogger("opentelemetry.util.genai.utils").disabled = True  # it warns about `true`
    try:
        assert should_capture_content_on_spans() is on_spans
    finally:
        logging.getLogger("opentelemetry.util.genai.utils").disabled = False


# The provider's exit hook is registered before trubrics_otel is imported, so it runs after every exit
# hook of the package; the spans reach the exporter only then. The client is the application's: nothing
# shuts it down, so its account is the one given at exit.
EXIT_APP = textwrap.dedent(
    """
    import logging, sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    logging.basicConfig(stream=sys.stdout, format="%(message)s")

    from trubrics_otel import TrubricsClient, TrubricsHandler, TrubricsSpanExporter

    client = TrubricsClient(sys.argv[2], sys.argv[1])
    exporter = TrubricsSpanExporter(client=client, stamp_context=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=600_000))
    logging.getLogger().addHandler(TrubricsHandler(client=client, flush_interval=600))
    tracer = provider.get_tracer("exit")
    signup = {"trubrics.event": "Sign up", "trubrics.user_id": "u"}
    for i in range(3):
        with tracer.start_as_current_span("s", attributes=signup):
            pass
    for i in range(2):
        logging.getLogger("app").warning("Signed in", extra={"user_id": "u"})
    print("main ends")
    """
)


def run_exit_app(server: LocalServer, key: str) -> subprocess.CompletedProcess[str]:
    """Run the exiting app in a fresh interpreter against the local server, with the given key."""
    done = run_clean([sys.executable, "-c", EXIT_APP, server.url, key], timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def test_the_account_at_exit_comes_after_every_final_flush(server: LocalServer) -> None:
    """A client never shut down accounts once at exit, for the spans its provider flushed last as well."""
    done = run_exit_app(server, "wrong-key")

    lines = done.stdout.splitlines()
    assert lines[-1] == (
        f"Trubrics: 5 records for {server.url}: 0 sent, 0 failed, 5 dropped (unauthorized: 5), "
        "0 still queued."
    )
    assert sum(line.startswith("Trubrics: 5 records") for line in lines) == 1
    assert sorted(r.item_count or 0 for r in server.requests if r.method == "POST") == [2, 3]
    assert done.stderr == ""


def test_nothing_is_said_at_exit_when_nothing_was_lost(server: LocalServer, api_key: str) -> None:
    """Every record delivered: the exit adds no account."""
    done = run_exit_app(server, api_key)

    assert done.stdout.splitlines() == ["Signed in", "Signed in", "main ends"]
    assert done.stderr == ""
    assert len(server.events()) == 5


def test_dict_config_closing_every_handler_gives_no_account_before_the_exit(server: LocalServer) -> None:
    """dictConfig closes and forgets every handler, the account's too: the account still comes, at exit."""
    app = textwrap.dedent(
        """
        import logging.config, sys
        from trubrics_otel import Event, TrubricsClient

        client = TrubricsClient("wrong-key", sys.argv[1])
        client.send([Event("u", "Before")])
        logging.config.dictConfig({
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(message)s"}},
            "handlers": {
                "out": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}
            },
            "root": {"handlers": ["out"]},
        })
        client.send([Event("u", "After"), Event("u", "After")])
        """
    )
    done = run_clean([sys.executable, "-c", app, server.url], timeout=60)

    assert done.returncode == 0, done.stderr
    accounts = [line for line in done.stdout.splitlines() if " records for " in line]
    assert accounts == [
        f"Trubrics: 3 records for {server.url}: 0 sent, 0 failed, 3 dropped (unauthorized: 3), "
        "0 still queued."
    ]


def test_duplicates_merged_into_one_call_are_not_a_loss() -> None:
    """A call two instrumentations recorded is sent once: no account at exit, nothing counted as lost."""
    ledger = Ledger(lambda: 0.0)
    ledger.sent(1)
    ledger.dropped("duplicate", 1, "recorded twice, sent once")

    assert ledger.snapshot().lost == 0
    assert ledger.account() is None

    ledger.dropped("invalid", 1, "refused")
    assert ledger.snapshot().lost == 1
    assert ledger.account() is not None


def test_duplicates_are_not_reported_as_a_loss(caplog: pytest.LogCaptureFixture) -> None:
    """Merging a twin warns nobody: it is counted in stats, and explained at DEBUG."""
    ledger = Ledger(lambda: 0.0)

    with caplog.at_level(logging.DEBUG, logger="trubrics_otel"):
        ledger.dropped("duplicate", 2, "recorded twice, sent once")

    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert ledger.snapshot().dropped == {"duplicate": 2}


def test_every_drop_reason_is_one_constant_and_documented() -> None:
    """The ledger's drop reasons are named once, in _stats, and each has its row in docs/transport.md."""
    from pathlib import Path

    from trubrics_otel import _stats

    reasons = [
        _stats.INVALID,
        _stats.UNAUTHORIZED,
        _stats.REJECTED,
        _stats.UNSENDABLE,
        _stats.MAPPING_ERROR,
        _stats.NO_CONTENT,
        _stats.DUPLICATE,
        _stats.UNJOINABLE_CONTENT,
        _stats.QUEUE_FULL,
        _stats.CLOSED,
        _stats.HANDLER_ERROR,
    ]
    doc = (Path(__file__).resolve().parent.parent / "docs" / "transport.md").read_text()

    assert len(set(reasons)) == len(reasons)
    assert {_stats.DUPLICATE} == _stats.NOT_LOST
    assert [reason for reason in reasons if f"| `{reason}` |" not in doc] == []
