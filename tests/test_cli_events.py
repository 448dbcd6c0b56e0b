"""`trubrics-otel events`: what a local server received, as conversations, a table or JSON, and followed."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trubrics_otel import Event, LLMEvent, TrubricsClient
from trubrics_otel.cli import main
from trubrics_otel.cli._events import Filters, ServerListings, follow, show
from trubrics_otel.server import LocalServer

COMMAND = Path(sys.executable).parent / "trubrics-otel"


@pytest.fixture
def send(server: LocalServer, api_key: str) -> Iterator[Callable[..., None]]:
    """Deliver records to the server, in the order given."""
    client = TrubricsClient(api_key, server.url)

    def deliver(*records: Event | LLMEvent) -> None:
        assert client.send(records).sent == len(records)

    yield deliver
    client.shutdown()


def turn(user: str, thread: str, prompt: str, *, latency: float = 0.5) -> LLMEvent:
    """One LLM event of a conversation."""
    return LLMEvent(
        user, "gpt-4o", prompt, f"Echo: {prompt}", latency=latency, properties={"$thread_id": thread}
    )


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Return once `condition()` holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_llm_events_are_shown_as_conversations(
    server: LocalServer, send: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Turns are grouped by user and thread, oldest first, each prompt then answer, with model and latency."""
    send(turn("ada", "t-1", "Hello"), turn("bob", "t-9", "Hi"), turn("ada", "t-1", "And then?", latency=1.25))

    assert main(["events", "--server", server.url, "--kind", "llm"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "LLM events (3):"
    assert lines[1] == "ada · t-1"
    assert lines[2].endswith("  prompt      Hello")
    assert lines[3].strip() == "generation  Echo: Hello  [gpt-4o, 0.50 s]"
    assert lines[4].endswith("  prompt      And then?")
    assert lines[5].strip() == "generation  Echo: And then?  [gpt-4o, 1.25 s]"
    assert lines[6] == "bob · t-9"


def test_events_are_shown_as_a_table(
    server: LocalServer, send: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Events show time, user, event and properties, the oldest of the newest first."""
    send(Event("ada", "Sign up", properties={"plan": "pro"}), Event("bob", "Log in"))

    assert main(["events", "--server", server.url, "--kind", "events"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Events (2):"
    assert lines[1].split() == ["time", "user", "event", "properties"]
    assert lines[3].split()[2:] == ["ada", "Sign", "up", '{"plan":', '"pro"}']
    assert lines[4].split()[2:] == ["bob", "Log", "in"]


def test_filters_and_limit_reach_the_server(
    server: LocalServer, send: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """--user, --thread, --event and --limit select on the server; --event implies events only."""
    send(
        Event("ada", "Sign up"),
        Event("ada", "Log in", properties={"$thread_id": "t-1"}),
        Event("ada", "Log in", properties={"$thread_id": "t-1"}),
        Event("bob", "Log in", properties={"$thread_id": "t-1"}),
        turn("ada", "t-1", "Hello"),
    )

    main(
        ["events", "--server", server.url, "--json", "--user", "ada", "--thread", "t-1", "--event", "Log in"]
    )
    filtered = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    main(["events", "--server", server.url, "--json", "--limit", "1"])
    limited = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert [(e["kind"], e["user_id"], e["event"]) for e in filtered] == [("event", "ada", "Log in")] * 2
    assert [(e["kind"], e["user_id"]) for e in limited] == [("llm_event", "ada"), ("event", "bob")]


def test_json_lines_carry_their_kind_and_the_whole_item(
    server: LocalServer, send: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line is one JSON object: its kind first, then the item exactly as the server stored it."""
    send(turn("ada", "t-1", "Hello"), Event("ada", "Sign up"))

    assert main(["events", "--server", server.url, "--json"]) == 0

    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [next(iter(o)) for o in objects] == ["kind", "kind"]
    assert [{k: v for k, v in o.items() if k != "kind"} for o in objects] == [
        *server.llm_events(),
        *server.events(),
    ]


def test_following_prints_each_new_item_once(server: LocalServer, send: Callable[..., None]) -> None:
    """After the newest items, every item that arrives is printed as it arrives, and only once."""
    send(turn("ada", "t-1", "Before"))
    out, notices, stop = io.StringIO(), io.StringIO(), threading.Event()
    listings = ServerListings(server.url)
    follower = threading.Thread(
        target=follow,
        args=(listings, ["llm", "events"], Filters(), 20, out),
        kwargs={"as_json": True, "interval": 0.02, "stop": stop, "notices": notices},
    )
    follower.start()
    try:
        wait_for(lambda: "Following" in notices.getvalue())
        send(turn("ada", "t-1", "After"), Event("ada", "Sign up"))
        wait_for(lambda: out.getvalue().count("\n") == 3)
        time.sleep(0.1)  # a few more polls, which must print nothing again
    finally:
        stop.set()
        follower.join()
        listings.close()

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["kind"], line.get("prompt", line.get("event"))) for line in lines] == [
        ("llm_event", "Before"),
        ("llm_event", "After"),
        ("event", "Sign up"),
    ]


def test_following_waits_for_a_server_that_went_away(api_key: str) -> None:
    """A server stopped and started again on its port is waited for, then followed from its first item."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = LocalServer(port=port, api_keys={api_key}).start()
    client = TrubricsClient(api_key, server.url)
    client.send([Event("ada", "First")])
    out, notices, stop = io.StringIO(), io.StringIO(), threading.Event()
    listings = ServerListings(server.url)
    follower = threading.Thread(
        target=follow,
        args=(listings, ["events"], Filters(), 20, out),
        kwargs={"as_json": True, "interval": 0.02, "stop": stop, "notices": notices},
    )
    follower.start()
    try:
        wait_for(lambda: "Following" in notices.getvalue())
        server.stop()
        wait_for(lambda: "Still trying" in notices.getvalue())
        server.start()
        wait_for(lambda: "answers again" in notices.getvalue())
        client.send([Event("ada", "Second")])
        wait_for(lambda: "Second" in out.getvalue())
    finally:
        stop.set()
        follower.join()
        listings.close()
        client.shutdown()
        server.stop()

    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["First", "Second"]
    assert notices.getvalue().count("Still trying") == 1


def test_show_returns_the_cursor_to_follow_from(server: LocalServer, send: Callable[..., None]) -> None:
    """Listing once returns each kind's cursor, which is where following starts."""
    send(Event("ada", "One"), Event("ada", "Two"))
    listings = ServerListings(server.url)

    cursors = show(listings, ["events", "llm"], Filters(), 1, io.StringIO(), as_json=False)

    listings.close()
    assert cursors == {"events": 2, "llm": 0}


def test_limit_zero_prints_nothing_but_still_gives_the_cursor(
    server: LocalServer, send: Callable[..., None]
) -> None:
    """`--follow --limit 0` starts from now: nothing already there is printed, not even an empty title."""
    send(Event("ada", "One"), turn("ada", "t-1", "Hello"))
    out = io.StringIO()
    listings = ServerListings(server.url)

    cursors = show(listings, ["llm", "events"], Filters(), 0, out, as_json=False)

    listings.close()
    assert out.getvalue() == ""
    assert cursors == {"llm": 1, "events": 1}


def test_a_server_that_is_not_running_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening gives exit 3 and one line that says how to start a server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    code = main(["events", "--server", f"http://127.0.0.1:{port}"])

    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1
    assert err.startswith(
        f"trubrics-otel: No server answers at http://127.0.0.1:{port} (--server; connection refused)"
    )
    assert "`trubrics-otel serve`" in err


def test_a_host_without_listings_is_named(server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    """A base URL that answers the listings with 404 is said to be no trubrics-otel server."""
    code = main(["events", "--server", f"{server.url}/elsewhere"])

    assert code == 3
    assert "does not list what it received (HTTP 404 for GET /llm_events)" in capsys.readouterr().err


def test_the_server_comes_from_trubrics_host(
    server: LocalServer,
    send: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --server, TRUBRICS_HOST names the server."""
    send(Event("ada", "Sign up"))
    monkeypatch.setenv("TRUBRICS_HOST", server.url)

    assert main(["events", "--kind", "events", "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["event"] == "Sign up"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--event", "x", "--assistant", "y"], "--event selects events and --assistant LLM events"),
        (["--kind", "llm", "--event", "x"], "--event filters events, which --kind llm leaves out"),
        (["--server", "127.0.0.1:8765"], "--server '127.0.0.1:8765' must be an http:// or https:// URL"),
    ],
)
def test_contradictory_or_bad_flags_are_configuration_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Flags that cannot both hold, or a server URL without a scheme, are exit 1 with a sentence."""
    assert main(["events", *args]) == 1
    assert message in capsys.readouterr().err


def test_ctrl_c_ends_following_cleanly(server: LocalServer) -> None:
    """SIGINT while following ends the process with exit 0 and no traceback."""
    process = subprocess.Popen(
        [str(COMMAND), "events", "--server", server.url, "--follow", "--interval", "0.05"],
        env={k: v for k, v in os.environ.items() if not k.startswith("TRUBRICS_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        assert process.stderr.readline().startswith(f"Following {server.url}")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 0
    assert "Traceback" not in err
    assert "LLM events: none." in out


def test_a_server_that_asks_a_key_to_read_is_read_with_api_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--api-key (or TRUBRICS_API_KEY) is sent to read; without it the refusal is one line, exit 3."""
    with LocalServer(api_keys={"reader-key"}, key_for_reads=True) as locked:
        client = TrubricsClient("reader-key", locked.url)
        assert client.send([Event("ada", "Sign up")]).sent == 1
        client.shutdown()

        refused = main(["events", "--server", locked.url, "--kind", "events"])
        refusal = capsys.readouterr().err
        listed = main(["events", "--server", locked.url, "--kind", "events", "--api-key", "reader-key"])
        table = capsys.readouterr().out

    assert (refused, listed) == (3, 0)
    assert refusal.startswith("trubrics-otel: ")
    assert refusal.count("\n") == 1
    assert "Sign up" in table
