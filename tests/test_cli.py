"""The `trubrics-otel` command as a process: help, exit codes, closed pipes, and `serve`."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from processes import clean_environment

from trubrics_otel._check import EXIT_CODES
from trubrics_otel.cli import main

COMMAND = Path(sys.executable).parent / "trubrics-otel"
COMMANDS = ("demo", "check", "events", "serve", "fake-llm")


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without TRUBRICS_* and OTEL_* settings, plus `extra`."""
    clean = clean_environment()
    return {**clean, **extra}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_no_command_prints_the_help_and_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    """`trubrics-otel` alone shows every command and suggests the demo, with exit 0."""
    assert main([]) == 0

    out = capsys.readouterr().out
    assert out.startswith("usage: trubrics-otel")
    assert all(f"    {command} " in out for command in COMMANDS)
    assert out.rstrip().endswith(
        "Try `trubrics-otel demo`: a traced chat sent to a local server, no account needed."
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description_and_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each command's help has a paragraph about it and an examples section that runs it."""
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])

    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert exited.value.code == 0
    assert len(description.split()) > 15
    assert f"\nexamples:\n  trubrics-otel {command}" in out


def test_the_check_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    """`check --help` ends with each exit code and its meaning."""
    with pytest.raises(SystemExit):
        main(["check", "--help"])

    out = capsys.readouterr().out
    assert "\nexit codes:\n" in out
    for code, meaning in EXIT_CODES:
        assert f"  {code:<3} {meaning}\n" in out


def test_python_dash_m_runs_the_same_command() -> None:
    """`python -m trubrics_otel.cli` is the console script."""
    done = subprocess.run(
        [sys.executable, "-m", "trubrics_otel.cli", "--version"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0
    assert done.stdout.startswith("trubrics-otel ")


def test_a_reader_that_stops_early_ends_the_demo_quietly() -> None:
    """`trubrics-otel demo | head -3`: the closed pipe ends the demo without a traceback."""
    process = subprocess.Popen(
        [str(COMMAND), "demo"],
        env=environment(PYTHONUNBUFFERED="1"),  # each line reaches the pipe as it is printed
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        head = [process.stdout.readline() for _ in range(3)]
        process.stdout.close()  # what `head` does once it has its lines
        err = process.stderr.read()
        process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()

    assert head[0].startswith("Trubrics host: local server at http://127.0.0.1:")
    assert err == ""
    assert process.returncode == 141


def test_serve_on_a_taken_port_is_one_line(taken_port: int) -> None:
    """`serve` on a port in use exits 1 with one line that says what to do, and no traceback."""
    done = subprocess.run(
        [str(COMMAND), "serve", "--port", str(taken_port), "--database", ":memory:"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"trubrics-otel: Port {taken_port} on 127.0.0.1 is already in use")
    assert "--port 0" in done.stderr


@pytest.mark.parametrize("quiet", [False, True])
def test_serve_quiet_writes_no_line_per_request(quiet: bool) -> None:
    """With --quiet, a request leaves no line on stderr; the summary when it stops is still written."""
    process = subprocess.Popen(
        [str(COMMAND), "serve", "--port", "0", "--database", ":memory:", *(["--quiet"] if quiet else [])],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url is not None, first
        assert requests.get(f"{url.group()}/health", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 0
    assert ("/health" in err) is not quiet
    assert "Stopped after 1 request" in err


def test_serve_passes_its_bounds_to_the_server() -> None:
    """--max-items keeps the newest items only, and --key-for-reads asks the key to read on loopback."""
    process = subprocess.Popen(
        [
            str(COMMAND),
            "serve",
            "--port",
            "0",
            "--database",
            ":memory:",
            "--quiet",
            "--api-key",
            "k",
            "--max-items",
            "1",
            "--key-for-reads",
        ],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert url is not None
        for name in ("First", "Second"):
            posted = requests.post(
                f"{url.group()}/publish_events",
                json=[{"user_id": "u", "event": name, "timestamp": "2026-11-30T12:00:00Z"}],
                headers={"x-api-key": "k"},
                timeout=10,
            )
            assert posted.status_code == 200, posted.text
        unkeyed = requests.get(f"{url.group()}/events", timeout=10)
        kept = requests.get(f"{url.group()}/events", headers={"x-api-key": "k"}, timeout=10).json()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()

    assert unkeyed.status_code == 401
    assert [item["event"] for item in kept] == ["Second"]
