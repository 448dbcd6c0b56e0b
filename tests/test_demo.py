"""The main job: `trubrics-otel demo` chats through a real instrumentation and shows what arrived."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from processes import clean_environment

from trubrics_otel import ConfigurationError
from trubrics_otel._delivery import ContentJoin
from trubrics_otel._exporters import TrubricsSpanExporter
from trubrics_otel.demo import run_demo
from trubrics_otel.demo._run import ANSWERS, CONVERSATIONS, _traced_by_hand
from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.server import LocalServer

COMMAND = Path(sys.executable).parent / "trubrics-otel"


def test_the_demo_delivers_every_turn_and_shows_it() -> None:
    """Every prompt of both conversations arrives once, with its answer, user and thread, and is printed."""
    out = io.StringIO()

    assert run_demo(out) == 0

    text = out.getvalue()
    assert "Delivered 4 LLM events in 1 request; lost 0." in text
    for user, thread, prompts in CONVERSATIONS:
        for prompt in prompts:
            line = next(line for line in text.splitlines() if prompt in line)
            assert line.split()[:2] == [user, thread]
            assert ANSWERS[prompt] in line


def test_without_an_instrumentation_the_spans_are_made_by_hand(server: LocalServer, api_key: str) -> None:
    """The fallback chat traces each call with GenAI attributes, which map like an instrumentation's."""
    provider = TracerProvider()
    exporter = TrubricsSpanExporter(api_key, server.url, join=ContentJoin(window=60), stamp_context=False)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with FakeOpenAI() as model:
        chat = _traced_by_hand(provider, model)
        answer = chat([{"role": "user", "content": "Hello"}])

    (event,) = server.llm_events()
    assert (event["prompt"], event["generation"]) == ("Hello", answer)
    assert event["assistant_id"] == "gpt-4o-mini-2024-08-06"


def test_the_demo_ends_by_saying_where_to_look_next() -> None:
    """Without --keep-serving the demo stops its server and names the commands to look further."""
    out = io.StringIO()

    assert run_demo(out) == 0

    assert out.getvalue().splitlines()[-2:] == [
        "Next: `trubrics-otel demo --keep-serving` keeps the local server up, to look around in its",
        "page in a browser or with `trubrics-otel events`; `trubrics-otel fake-llm` runs fake model "
        "endpoints for your own app.",
    ]


def test_keep_serving_leaves_the_server_up_until_ctrl_c() -> None:
    """--keep-serving prints where to look, serves what the demo sent to `events`, and stops on SIGINT."""
    env = clean_environment()
    process = subprocess.Popen(
        [str(COMMAND), "demo", "--keep-serving", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        lines: list[str] = []
        while not lines or lines[-1] != "Press Ctrl-C to stop.":
            line = process.stdout.readline()
            assert line, "the demo ended instead of serving"
            lines.append(line.rstrip("\n"))
        url = lines[-4].split(" at ")[1].split(";")[0]
        listed = subprocess.run(
            [str(COMMAND), "events", "--server", url, "--kind", "llm", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()

    assert lines[-3:-1] == [
        f"  see what arrived:  {url}/ in a browser, or trubrics-otel events --server {url}",
        f"  send to it:        TRUBRICS_HOST={url} TRUBRICS_API_KEY=any python app.py",
    ]
    assert len(listed.stdout.splitlines()) == 4, listed.stderr
    assert process.returncode == 0, err
    assert rest == "Stopped.\n"


def test_keep_serving_with_trubrics_host_set_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer
) -> None:
    """The demo cannot keep a local server up while it sends to TRUBRICS_HOST, and says so first."""
    monkeypatch.setenv("TRUBRICS_HOST", server.url)
    out = io.StringIO()

    with pytest.raises(ConfigurationError, match=r"^--keep-serving keeps the demo's local server up"):
        run_demo(out, keep_serving=True)

    assert out.getvalue() == ""
    assert server.requests == []


def test_keep_serving_on_a_taken_port_is_one_line() -> None:
    """A taken port for the kept server is exit 1 and the server's one-line explanation."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(COMMAND), "demo", "--keep-serving", "--port", str(port)],
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"trubrics-otel: Port {port} on 127.0.0.1 is already in use")
    assert done.stderr.count("\n") == 1


def test_with_trubrics_host_the_demo_sends_there_and_announces_the_wait(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer, api_key: str
) -> None:
    """A demo sent to TRUBRICS_HOST says it is waiting for that host, and where to look afterwards."""
    monkeypatch.setenv("TRUBRICS_HOST", server.url)
    monkeypatch.setenv("TRUBRICS_API_KEY", api_key)
    out = io.StringIO()

    assert run_demo(out) == 0

    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        f"Trubrics host: {server.url}",
        f"Sending a test event to {server.url}/publish_events (up to 10 s)...",
    ]
    assert (
        lines[-1]
        == f"Next: `trubrics-otel events` lists what {server.url} received, if it is a `trubrics-otel serve`."
    )
    assert len(server.llm_events()) == 4


def test_the_demo_never_imports_the_command_line() -> None:
    """The demo uses the delivery check and the tables from outside `trubrics_otel.cli`: no import cycle."""
    import subprocess
    import sys

    program = "import sys, trubrics_otel.demo; print(sorted(m for m in sys.modules if 'otel.cli' in m))"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )

    assert done.stdout.strip() == "[]"
