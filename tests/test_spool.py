"""The spool: what the transport gives up on is kept on disk, owner-only and bounded, and sent again once.

Every test runs against the real local server; a client's spool lives in the test's own cache directory
(tests/conftest.py), or in a directory the test names.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from processes import clean_environment

from trubrics_otel import ConfigurationError, TrubricsClient, TrubricsHandler
from trubrics_otel._config import Settings
from trubrics_otel._delivery.core import core_for
from trubrics_otel._events import Event
from trubrics_otel._spool import DiskStore, default_spool_root, spool_directory
from trubrics_otel.mapping import LogData
from trubrics_otel.server import Fault, LocalServer


def events(count: int, start: int = 0) -> list[Event]:
    return [Event(user_id=f"u{index}", event="Sign up") for index in range(start, start + count)]


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll `condition` every 20 ms for up to `seconds`: the spool's thread works in the background."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def stored_users(server: LocalServer) -> list[str]:
    return sorted(str(item["user_id"]) for item in server.events())


def batch_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.name.endswith(".batch"))


def down_client(server: LocalServer, api_key: str, **options: object) -> TrubricsClient:
    """A client whose every request gets a 503 until the test heals the server; it gives up at once."""
    server.faults.fail_rate = 1.0
    return TrubricsClient(api_key, server.url, retry_deadline=0.05, **options)  # type: ignore[arg-type]


def test_what_an_outage_leaves_is_spooled_then_delivered_once_the_host_answers(
    server: LocalServer, api_key: str
) -> None:
    client = down_client(server, api_key)
    try:
        result = client.send(events(150))
        assert (result.ok, result.spooled, result.failed) == (True, 150, 0)
        assert client.stats().lost == 0
        assert server.events() == []

        server.faults.clear()
        assert wait_for(lambda: len(server.events()) == 150), len(server.events())
        assert stored_users(server) == sorted(f"u{index}" for index in range(150))
        assert wait_for(lambda: client.stats().replayed == 150)
        directory = spool_directory(default_spool_root(), client.host, api_key)
        assert wait_for(lambda: batch_files(directory) == [])
    finally:
        client.shutdown()


def test_batches_are_sent_again_in_the_order_they_were_spooled(server: LocalServer, api_key: str) -> None:
    client = down_client(server, api_key)
    try:
        for start in range(0, 500, 100):
            client.send(events(100, start))
        server.faults.clear()
        assert wait_for(lambda: len(server.events()) == 500)
        order = [int(str(item["user_id"])[1:]) for item in server.events()]
        assert order == list(range(500))
    finally:
        client.shutdown()


def test_the_next_process_with_the_same_host_and_key_sends_what_one_left(
    server: LocalServer, api_key: str, tmp_path: Path
) -> None:
    """At exit the host was down: the records stay on disk, and a later run delivers them, once."""
    script = textwrap.dedent(
        """
        import logging, sys
        from trubrics_otel import TrubricsHandler
        logging.getLogger().addHandler(TrubricsHandler(flush_timeout=0.5))
        logging.getLogger().setLevel(logging.INFO)
        for index in range(300):
            logging.info("Sign up", extra={"user_id": f"u{index}"})
        """
    )
    server.faults.fail_rate = 1.0
    settings = {
        "TRUBRICS_HOST": server.url,
        "TRUBRICS_API_KEY": api_key,
        "TRUBRICS_SPOOL_DIR": str(tmp_path),
        "TRUBRICS_RETRY_DEADLINE": "0.2",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=clean_environment(**settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Trubrics: 300 records" in done.stderr, done.stderr
    assert "300 spooled to" in done.stderr
    assert "0 failed" in done.stderr
    assert server.events() == []

    server.faults.clear()
    later = TrubricsClient(api_key, server.url, spool_dir=tmp_path)
    try:
        assert wait_for(lambda: len(server.events()) == 300), len(server.events())
        assert stored_users(server) == sorted(f"u{index}" for index in range(300))
    finally:
        later.shutdown()


def test_processes_sharing_a_spool_send_each_batch_once(
    server: LocalServer, api_key: str, tmp_path: Path
) -> None:
    """Three processes start at once on a spool of 40 batches: every record is stored exactly once."""
    directory = spool_directory(tmp_path, server.url, api_key)
    store = DiskStore(directory, 1 << 30)
    for batch in range(40):
        body = json.dumps([event.to_json() for event in events(25, batch * 25)]).encode()
        assert store.put("publish_events", body, 25) == (True, 0)
    script = textwrap.dedent(
        f"""
        import time
        from trubrics_otel import TrubricsClient
        client = TrubricsClient({api_key!r}, {server.url!r}, spool_dir={str(tmp_path)!r})
        ends = time.monotonic() + 30
        while client.spool.busy and time.monotonic() < ends:
            time.sleep(0.02)
        print(client.stats().replayed)
        """
    )
    env = clean_environment()
    runs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    replayed = [int((run.communicate(timeout=60)[0] or "0").strip() or 0) for run in runs]

    assert sum(replayed) == 1000, replayed
    assert stored_users(server) == sorted(f"u{index}" for index in range(1000))
    assert list(directory.iterdir()) == []


def test_a_crash_mid_write_or_mid_send_loses_nothing_and_leaves_no_partial_batch(
    server: LocalServer, api_key: str, tmp_path: Path
) -> None:
    """A dead process's unfinished write is deleted; its claimed batch is given back and sent."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    pid = int(dead.stdout)
    directory = spool_directory(tmp_path, server.url, api_key)
    directory.mkdir(parents=True)
    claimed = directory / f"{time.time_ns():020d}-{pid}-000001.publish_events.2.batch.claimed-{pid}"
    claimed.write_text(json.dumps([event.to_json() for event in events(2)]))
    partial = directory / f".tmp-{pid}-7"
    partial.write_text('[{"user_id": "u9", "ev')

    client = TrubricsClient(api_key, server.url, spool_dir=tmp_path)
    try:
        assert wait_for(lambda: len(server.events()) == 2)
        assert stored_users(server) == ["u0", "u1"]
        assert wait_for(lambda: list(directory.iterdir()) == [])
    finally:
        client.shutdown()


def test_the_spool_is_the_owners_alone(server: LocalServer, api_key: str, tmp_path: Path) -> None:
    client = down_client(server, api_key, spool_dir=tmp_path / "spool")
    client.send(events(3))
    client.shutdown()
    assert client.spool is not None
    assert wait_for(lambda: not client.spool.busy)  # type: ignore[union-attr]
    directory = spool_directory(tmp_path / "spool", server.url, api_key)
    files = batch_files(directory)
    assert len(files) == 1
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert api_key not in str(directory)


def test_past_its_bound_the_spool_drops_its_oldest_batches_counted(
    server: LocalServer, api_key: str, tmp_path: Path
) -> None:
    keyed = [{**e.to_json(), "properties": {"$idempotency_key": "0123456789abcdef-ff"}} for e in events(10)]
    one_batch = len(json.dumps(keyed, separators=(",", ":")))
    client = down_client(server, api_key, spool_dir=tmp_path, spool_bytes=one_batch * 3 + 100)
    try:
        for start in range(0, 50, 10):
            client.send(events(10, start))
        stats = client.stats()
        # three batches fit; the oldest of the others were deleted, but never one the spool's thread was
        # sending at that moment: the bound may then hold one batch more
        evicted = stats.dropped["spool_full"]
        assert evicted in (10, 20), stats
        assert stats.spooled == 50 - evicted
        assert stats.lost == evicted
        server.faults.clear()
        assert wait_for(lambda: len(server.events()) == 50 - evicted)
        stored = set(stored_users(server))
        assert {f"u{index}" for index in range(30, 50)} <= stored  # the newest are kept
    finally:
        client.shutdown()


def test_an_unwritable_directory_degrades_to_memory_with_one_warning(
    server: LocalServer, api_key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the spool's directory should be")
    client = down_client(server, api_key, spool_dir=blocked)
    try:
        client.send(events(5))
        client.send(events(5, 5))
        assert client.stats().spooled == 10
        warnings = [
            r for r in caplog.records if "cannot be written; undelivered records are kept" in r.message
        ]
        assert len(warnings) == 1
        server.faults.clear()
        assert wait_for(lambda: len(server.events()) == 10)
    finally:
        client.shutdown()


def test_without_the_spool_what_the_transport_gives_up_on_fails(
    server: LocalServer, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUBRICS_SPOOL", "false")
    client = down_client(server, api_key)
    try:
        result = client.send(events(4))
        assert (result.ok, result.failed, result.spooled) == (False, 4, 0)
        assert client.spool is None
    finally:
        client.shutdown()


def test_while_batches_wait_in_the_spool_new_records_go_behind_them(
    server: LocalServer, api_key: str
) -> None:
    """Once the host is down, later sends are spooled at once instead of each waiting out a deadline."""
    server.faults.fail_rate = 1.0
    client = TrubricsClient(api_key, server.url, retry_deadline=0.3)
    try:
        client.send(events(10))
        core = core_for(Settings.resolve(with_transport=False), client)
        began = time.monotonic()

        assert core.send_logs([LogData(None, "Sign up", {"event": "Sign up", "user_id": "late"}, None)])
        assert time.monotonic() - began < 0.3  # spooled, not retried until the deadline
        assert client.stats().spooled == 11
        server.faults.clear()
        assert wait_for(lambda: len(server.events()) == 11)
        assert str(server.events()[-1]["user_id"]) == "late"
        core.release()
    finally:
        client.shutdown()


def test_a_log_burst_past_half_the_queue_goes_through_the_spool_without_loss(
    server: LocalServer, api_key: str
) -> None:
    """While the worker waits on a slow answer, a burst fills the queue past half: the worker then spools
    its batches instead of sending them, and the spool delivers them, nothing dropped."""
    server.faults.script(Fault(status=200, delay=0.5))
    handler = TrubricsHandler(api_key=api_key, host=server.url, queue_size=1000)
    logger = logging.getLogger("spool.burst")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for index in range(900):
            logger.info("Sign up", extra={"user_id": f"u{index}"})
        handler.flush()
        assert wait_for(lambda: len(server.events()) == 900), (len(server.events()), handler.stats())
        stats = handler.stats()
        assert stats.lost == 0, stats
        assert stats.spooled > 0, stats
        assert stats.sent + stats.spooled == 900
        assert stored_users(server) == sorted(f"u{index}" for index in range(900))
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_a_spool_directory_setting_that_is_not_a_path_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="spool_dir"):
        TrubricsClient("k", "http://127.0.0.1:1", spool_dir="   ")


def test_the_replay_thread_ends_when_the_client_shuts_down(server: LocalServer, api_key: str) -> None:
    client = down_client(server, api_key)
    client.send(events(2))
    assert client.spool is not None
    assert client.spool.busy
    client.shutdown()
    assert wait_for(
        lambda: not any(t.name == "trubrics-spool" and t.is_alive() for t in threading.enumerate())
    )
    assert os.listdir(spool_directory(default_spool_root(), client.host, api_key))  # kept for the next run


def test_records_refused_when_sent_again_leave_the_spooled_count_for_the_dropped(
    server: LocalServer, api_key: str
) -> None:
    """The account adds up when the API refuses spooled records for good: they are dropped, not spooled."""
    client = down_client(server, api_key)
    try:
        client.send(events(5))
        server.faults.clear()
        server.faults.script(Fault(status=400))
        assert wait_for(lambda: client.stats().dropped.get("rejected") == 5)
        stats = client.stats()
        assert (stats.spooled, stats.replayed, stats.lost) == (0, 0, 5)
        assert client.spool is not None
        assert wait_for(lambda: not client.spool.busy)  # type: ignore[union-attr]
    finally:
        client.shutdown()
    assert server.events() == []


def test_closing_lets_the_spool_finish_while_the_host_takes_its_batches(
    server: LocalServer, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What a burst put in the spool is delivered by close(), not left for a next process to send; with a
    host that answers, the spool is a way through, not a loss: nothing is reported."""
    server.faults.script(Fault(status=200, delay=0.5))
    handler = TrubricsHandler(api_key=api_key, host=server.url, queue_size=1000)
    logger = logging.getLogger("spool.close")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for index in range(900):
            logger.info("Sign up", extra={"user_id": f"u{index}"})
    finally:
        logger.removeHandler(handler)
        handler.close()
    stats = handler.stats()
    assert stats.spooled > 0, stats
    assert len(server.events()) == 900, stats
    assert stats.replayed == stats.spooled
    assert [r.message for r in caplog.records if r.name.startswith("trubrics_otel")] == []


def test_a_forked_child_spools_with_a_thread_of_its_own_and_loses_nothing(
    server: LocalServer, api_key: str
) -> None:
    """A child forked while the parent's spool thread ran keeps its records with a thread of its own; the
    host still down when it exits, what it kept is sent by the parent once the host answers."""
    client = down_client(server, api_key)
    try:
        client.send(events(2))
        assert client.spool is not None
        assert client.spool.busy
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                child = client.send(events(3, 100))
                code = 0 if child.spooled == 3 and client.spool.busy else 2
                client.shutdown()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        server.faults.clear()
        assert wait_for(lambda: len(server.events()) == 5)
        assert stored_users(server) == ["u0", "u1", "u100", "u101", "u102"]
    finally:
        client.shutdown()
