"""The local server at the terminal: one line per request, and `serve_forever`'s summary when it stops."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from trubrics_otel.server import Fault, LocalServer, serve_forever

TIMESTAMP = "2024-10-09T13:21:46.182000+00:00"
LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<request>.+) \d+\.\d ms$")


def event(i: int = 0) -> dict[str, Any]:
    return {"user_id": "u1", "event": f"Event {i}", "timestamp": TIMESTAMP}


def llm_event(i: int = 0) -> dict[str, Any]:
    return {"user_id": "u1", "assistant_id": "gpt-4o", "prompt": f"p{i}", "generation": f"g{i}"}


def post(url: str, path: str, body: object, key: str | None = "k") -> requests.Response:
    headers = {} if key is None else {"x-api-key": key}
    return requests.post(f"{url}{path}", json=body, headers=headers, timeout=5)


def requests_of(text: str) -> list[str]:
    """Return the request part of each line, without its time of day and duration; fail on any other line."""
    matches = [LINE.match(line) for line in text.splitlines()]
    assert all(matches), text
    return [match["request"] for match in matches if match]


class Running:
    """`serve_forever` on a free port in a thread, with its output captured and a stop event."""

    def __init__(self, **arguments: Any) -> None:
        self.out = io.StringIO()
        self.log = io.StringIO()
        self.stop = threading.Event()
        kwargs = {"port": 0, "stream": self.out, "log_to": self.log, "stop": self.stop, **arguments}
        self.thread = threading.Thread(target=serve_forever, kwargs=kwargs, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 5
        while "Ctrl-C" not in self.out.getvalue() and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        self.url = self.out.getvalue().split("listening on ", 1)[1].split()[0]

    def stopped(self) -> str:
        """Stop the server, wait for `serve_forever` to return, and return what it logged."""
        self.stop.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()
        return self.log.getvalue()


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """Start serve_forever in a thread with the given arguments; each is stopped after the test."""
    started: list[Running] = []

    def start(**arguments: Any) -> Running:
        started.append(Running(**arguments))
        return started[-1]

    yield start
    for runner in started:
        runner.stop.set()
        runner.thread.join(timeout=5)


# --- LocalServer's request lines ----------------------------------------------------------------


def test_a_local_server_writes_no_line_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Without log_to, a LocalServer used in code or tests prints nothing, even for refusals."""
    with LocalServer(api_keys={"k"}) as server:
        post(server.url, "/publish_events", [event()])
        post(server.url, "/publish_events", [event()], key=None)
        requests.get(f"{server.url}/nowhere", timeout=5)

    assert capsys.readouterr() == ("", "")


def test_log_to_writes_one_line_per_request_saying_what_happened() -> None:
    """Each request is one line: time, method, target, status, what was accepted or why not, duration."""
    log = io.StringIO()
    with LocalServer(api_keys={"k"}, log_to=log) as server:
        post(server.url, "/publish_llm_events", [llm_event(0), llm_event(1), llm_event(2)])
        post(server.url, "/publish_events", [event()])
        post(server.url, "/publish_events", [event()], key=None)
        post(server.url, "/publish_events", [event()], key="wrong")
        post(server.url, "/publish_events/publish_events", [event()])
        post(server.url, "/publish_events", [event(0), {"user_id": 1}, {}])
        post(server.url, "/publish_events", [event(i) for i in range(101)])
        post(server.url, "/publish_events", {"not": "a list"})
        headers = {"x-api-key": "k", "Content-Type": "application/json"}
        requests.post(f"{server.url}/publish_events", data="[", headers=headers, timeout=5)
        requests.get(f"{server.url}/events?user_id=u1&limit=5", timeout=5)
        requests.get(f"{server.url}/health", timeout=5)

    assert requests_of(log.getvalue()) == [
        "POST /publish_llm_events 200 3 items",
        "POST /publish_events 200 1 item",
        "POST /publish_events 401 missing x-api-key",
        "POST /publish_events 401 unknown x-api-key",
        "POST /publish_events/publish_events 404 no such path",
        "POST /publish_events 422 2 of 3 items invalid",
        "POST /publish_events 422 101 items, over 100",
        "POST /publish_events 422 not a list",
        "POST /publish_events 422 invalid JSON",
        "GET /events?user_id=u1&limit=5 200 1 item",
        "GET /health 200",
    ]


def test_staged_faults_are_named_in_their_lines() -> None:
    """A staged error says so, and a dropped connection is a line of its own."""
    log = io.StringIO()
    with LocalServer(log_to=log) as server:
        server.faults.script(Fault(status=503, retry_after="1"), Fault(drop=True))
        post(server.url, "/publish_events", [event()])
        with pytest.raises(requests.ConnectionError):
            post(server.url, "/publish_events", [event()])

    assert requests_of(log.getvalue()) == [
        "POST /publish_events 503 staged fault",
        "POST /publish_events dropped by a staged fault",
    ]


def test_a_followers_empty_poll_writes_no_line() -> None:
    """A GET with after= that finds nothing new is not logged; one that finds items is."""
    log = io.StringIO()
    with LocalServer(log_to=log) as server:
        for _ in range(3):
            requests.get(f"{server.url}/events?after=0", timeout=5)
        post(server.url, "/publish_events", [event()])
        requests.get(f"{server.url}/events?after=0", timeout=5)
        requests.get(f"{server.url}/events?after=1", timeout=5)

    assert requests_of(log.getvalue()) == [
        "POST /publish_events 200 1 item",
        "GET /events?after=0 200 1 item",
    ]


def test_a_line_escapes_control_characters_in_the_target() -> None:
    """A target with a terminal escape sequence is written escaped, so it cannot rewrite the terminal."""
    log = io.StringIO()
    with LocalServer(log_to=log) as server, socket.create_connection(("127.0.0.1", server.port), 5) as sock:
        sock.sendall(b"GET /\x1b[2J HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 404")
    assert "\x1b" not in log.getvalue()
    assert requests_of(log.getvalue()) == ["GET /\\x1b[2J 404 no such path"]


def test_a_broken_log_stream_never_fails_a_request() -> None:
    """A closed log stream loses its lines, and the requests are answered and stored as usual."""
    log = io.StringIO()
    log.close()
    with LocalServer(log_to=log) as server:
        assert post(server.url, "/publish_events", [event()]).status_code == 200
        assert server.events() == [event()]


# --- serve_forever ------------------------------------------------------------------------------


def test_serve_forever_logs_each_request_and_summarises_when_stopped(serve: Callable[..., Running]) -> None:
    """serve_forever writes a line per request while it runs, and a summary of the run once stopped."""
    running = serve()
    post(running.url, "/publish_events", [event(0), event(1)])
    post(running.url, "/publish_llm_events", [llm_event()])
    post(running.url, "/publish_events", [event()], key=None)
    post(running.url, "/publish_events", [{}])
    post(running.url, "/publish_events", [{}])
    requests.get(f"{running.url}/events", timeout=5)

    log = running.stopped().splitlines()

    assert requests_of("\n".join(log[:-2])) == [
        "POST /publish_events 200 2 items",
        "POST /publish_llm_events 200 1 item",
        "POST /publish_events 401 missing x-api-key",
        "POST /publish_events 422 1 of 1 item invalid",
        "POST /publish_events 422 1 of 1 item invalid",
        "GET /events 200 2 items",
    ]
    assert log[-2:] == [
        "Stopped after 6 requests: accepted 2 events and 1 LLM event; refused 3 (401: 1, 422: 2).",
        "The items were kept in memory only, and are gone.",
    ]


def test_quiet_writes_only_the_summary(serve: Callable[..., Running]) -> None:
    """With quiet, no request line is written, and the summary still is."""
    runner = serve(quiet=True)
    post(runner.url, "/publish_events", [event()])
    post(runner.url, "/publish_events", [event()], key="")

    assert runner.stopped() == (
        "Stopped after 2 requests: accepted 1 event and 0 LLM events; refused 1 (401: 1).\n"
        "The items were kept in memory only, and are gone.\n"
    )


def test_the_summary_counts_the_duplicates_not_stored_again(serve: Callable[..., Running]) -> None:
    """Items acknowledged but not stored again, their $idempotency_key already stored, are counted apart."""
    runner = serve(quiet=True)
    keyed = {**event(), "properties": {"$idempotency_key": "k"}}
    post(runner.url, "/publish_events", [keyed])
    post(runner.url, "/publish_events", [keyed, keyed])

    assert runner.stopped().splitlines()[0] == (
        "Stopped after 2 requests: accepted 1 event and 0 LLM events "
        "(and 2 duplicates by $idempotency_key, not stored again); refused none."
    )


def test_the_summary_counts_the_oldest_items_dropped(serve: Callable[..., Running]) -> None:
    """Items dropped over max_items are named in the summary."""
    runner = serve(quiet=True, max_items=1)
    post(runner.url, "/publish_events", [event(), event()])

    assert runner.stopped().splitlines()[1] == (
        "Dropped the oldest 1 item, to keep at most max_items of each kind."
    )


def test_the_summary_counts_the_connections_turned_away(serve: Callable[..., Running]) -> None:
    """Connections answered 503 beyond max_connections are counted in the summary."""
    runner = serve(quiet=True, max_connections=1)
    port = int(runner.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), 5):
        busy = requests.get(f"{runner.url}/health", timeout=5)

    assert busy.status_code == 503
    assert runner.stopped().splitlines()[0] == (
        "Stopped after 0 requests: accepted 0 events and 0 LLM events; refused none; "
        "turned away 1 connection over max_connections (503)."
    )


def test_the_summary_names_a_file_database_and_staged_drops(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    """A file database is named as where the items stay; connections dropped by faults are counted apart."""
    database = tmp_path / "kept.sqlite3"
    runner = serve(quiet=True, database=database)
    requests.post(f"{runner.url}/_trubrics/faults", json={"script": [{"drop": True}]}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        post(runner.url, "/publish_events", [event()])

    assert runner.stopped() == (
        "Stopped after 2 requests: accepted 0 events and 0 LLM events; refused none; "
        "dropped 1 by staged faults.\n"
        f"The items are kept in {database}.\n"
    )


def test_a_run_without_requests_is_summarised_in_one_line(serve: Callable[..., Running]) -> None:
    """A server that answered nothing says so in one line."""
    runner = serve()

    assert runner.stopped() == "Stopped after 0 requests: accepted 0 events and 0 LLM events; refused none.\n"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_end_serve_forever_with_the_summary(signum: signal.Signals) -> None:
    """A real `serve_forever` process stopped by Ctrl-C or SIGTERM writes its summary, and no traceback."""
    code = "from trubrics_otel.server import serve_forever; serve_forever(port=0)"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split("listening on ", 1)[1].split()[0]
        post(url, "/publish_llm_events", [llm_event(0), llm_event(1)])
        process.send_signal(signum)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()

    assert process.returncode == 0
    assert "Traceback" not in err
    assert requests_of(err.splitlines()[0]) == ["POST /publish_llm_events 200 2 items"]
    assert err.splitlines()[1:] == [
        "Stopped after 1 request: accepted 0 events and 2 LLM events; refused none.",
        "The items were kept in memory only, and are gone.",
    ]


def test_the_banner_says_when_reading_needs_a_key() -> None:
    """A server that needs a key to read says so where it says which keys it accepts."""
    out, done = io.StringIO(), threading.Event()
    thread = threading.Thread(
        target=serve_forever,
        kwargs={
            "port": 0,
            "api_keys": ["k"],
            "key_for_reads": True,
            "stream": out,
            "log_to": io.StringIO(),
            "stop": done,
        },
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while "Press Ctrl-C" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        done.set()
        thread.join(5)

    assert (
        "accepts:               only the 1 API key(s) given, to read too (the page asks for one)"
        in out.getvalue()
    )
