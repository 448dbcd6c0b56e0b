"""`trubrics-otel fake-llm`: the fake model endpoints as a process, and the lines that point clients there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

COMMAND = Path(sys.executable).parent / "trubrics-otel"

# Each client built from the environment alone, as a user's app would be after the printed `export` lines.
CLIENTS = """
import anthropic, openai
from google import genai

print(openai.OpenAI().chat.completions.create(
    model="gpt-4o", messages=[{"role": "user", "content": "one"}]).choices[0].message.content)
print(anthropic.Anthropic().messages.create(
    model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "two"}]).content[0].text)
gemini = genai.Client()  # kept: a client that is collected closes its connections
print(gemini.models.generate_content(model="gemini-2.5-flash", contents="three").text)
"""


def environment() -> dict[str, str]:
    """This process's environment without any provider or Trubrics settings."""
    prefixes = ("TRUBRICS_", "OTEL_", "OPENAI_", "ANTHROPIC_", "GOOGLE_", "GEMINI_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@pytest.fixture
def fakes() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`trubrics-otel fake-llm --port 0` running, and the lines it printed up to "Press Ctrl-C"."""
    process = subprocess.Popen(
        [str(COMMAND), "fake-llm", "--port", "0"],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("Press Ctrl-C"):
            line = process.stdout.readline()
            assert line, "fake-llm ended before it was ready"
            lines.append(line.rstrip("\n"))
        yield process, lines
    finally:
        process.kill()
        process.wait()


def exported(lines: list[str]) -> dict[str, str]:
    """The variables of every printed `export` line."""
    pairs = [pair for line in lines if line.strip().startswith("export ") for pair in line.split()[1:]]
    return dict(pair.split("=", 1) for pair in pairs)


def test_the_printed_lines_point_each_real_client_at_its_fake(
    fakes: tuple[subprocess.Popen[str], list[str]],
) -> None:
    """With only the printed variables set, openai, anthropic and google-genai each get the fake's answer."""
    _, lines = fakes
    variables = exported(lines)

    done = subprocess.run(
        [sys.executable, "-c", CLIENTS],
        env={**environment(), **variables},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert sorted(variables) == [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
    ]
    assert variables["OPENAI_BASE_URL"].endswith("/v1")
    assert done.stdout.splitlines() == ["Echo: one", "Echo: two", "Echo: three"], done.stderr


def test_sigterm_stops_the_fakes_cleanly(fakes: tuple[subprocess.Popen[str], list[str]]) -> None:
    """SIGTERM ends the command with exit 0, after it says it stopped."""
    process, _ = fakes

    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 0
    assert out == "Stopped.\n"
    assert err == ""


def test_one_provider_on_a_given_port() -> None:
    """--provider openai --port N starts only OpenAI's fake, on N."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(COMMAND), "fake-llm", "--provider", "openai", "--port", str(port)],
        env=environment(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline().strip() for _ in range(3)]
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()

    assert lines[1:] == [
        f"openai  http://127.0.0.1:{port}/v1",
        f"export OPENAI_BASE_URL=http://127.0.0.1:{port}/v1 OPENAI_API_KEY=fake",
    ]
    assert process.returncode == 0


def test_a_taken_port_is_one_line() -> None:
    """A port in use gives exit 1 and one line that names it and says what to do."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(COMMAND), "fake-llm", "--provider", "gemini", "--port", str(port)],
            env=environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 1
    assert done.stderr == (
        f"trubrics-otel: Port {port} on 127.0.0.1 is already in use (is another `trubrics-otel fake-llm` "
        "running?): stop it, or pass --port 0 to pick free ports.\n"
    )
