"""`trubrics-otel check`'s delivery test: each way a delivery fails has its own verdict and exit code."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import clean_environment

from trubrics_otel._check import (
    EXIT_CODES,
    EXIT_DELIVERED,
    EXIT_HTTP_ERROR,
    EXIT_INVALID,
    EXIT_NAME_NOT_FOUND,
    EXIT_TIMEOUT,
    EXIT_TLS,
    EXIT_UNAUTHORIZED,
    EXIT_UNREACHABLE,
    EXIT_WRONG_PATH,
    check,
)
from trubrics_otel.server import Fault, LocalServer

COMMAND = Path(sys.executable).parent / "trubrics-otel"
UNRESOLVABLE = "https://trubrics-check.invalid"  # RFC 2606: never resolves


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed command with a clean environment and return what it did."""
    clean = clean_environment()
    return subprocess.run(
        [str(COMMAND), *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    """Return a port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_running_server_gets_the_test_event(server: LocalServer, api_key: str) -> None:
    """The test event arrives, under the check's own user, and the verdict says so."""
    outcome = check(server.url, api_key)

    assert outcome.code == EXIT_DELIVERED
    assert outcome.message.startswith(f"Delivered a test event to {server.url} in ")
    assert [event["user_id"] for event in server.events()] == ["trubrics-otel-check"]


def test_a_wrong_key_is_refused(server: LocalServer) -> None:
    """A key the server does not accept is exit 2, and the verdict says the key was refused."""
    outcome = check(server.url, "not-the-key")

    assert outcome.code == EXIT_UNAUTHORIZED
    assert "The API key was refused" in outcome.message
    assert "not-the-key" not in outcome.message


def test_a_missing_key_is_named_as_missing(server: LocalServer) -> None:
    """Without any key the verdict is exit 2 too, and says that no key is set."""
    outcome = check(server.url, None)

    assert outcome.code == EXIT_UNAUTHORIZED
    assert outcome.message.startswith("No API key is set")


def test_nothing_listening_is_connection_refused_at_once() -> None:
    """A port where nothing listens is named as such without waiting for the client's retries."""
    port = free_port()
    started = time.monotonic()

    outcome = check(f"http://127.0.0.1:{port}", "key")

    assert outcome.code == EXIT_UNREACHABLE
    assert outcome.message.startswith(f"Nothing is listening at 127.0.0.1:{port} (connection refused).")
    assert time.monotonic() - started < 3


def test_a_name_that_does_not_resolve_is_a_dns_failure() -> None:
    """A host name under .invalid is reported as a name that does not resolve, exit 5."""
    outcome = check(UNRESOLVABLE, "key")

    assert outcome.code == EXIT_NAME_NOT_FOUND
    assert "The host name 'trubrics-check.invalid' does not resolve" in outcome.message


def test_https_against_a_plain_http_server_is_a_tls_failure(server: LocalServer, api_key: str) -> None:
    """https:// to the plain-HTTP local server is a TLS failure that suggests the http:// URL."""
    https = server.url.replace("http://", "https://")

    outcome = check(https, api_key)

    assert outcome.code == EXIT_TLS
    assert "does not speak TLS" in outcome.message
    assert f"use {server.url}." in outcome.message


def test_an_answer_that_never_comes_is_a_timeout(server: LocalServer, api_key: str) -> None:
    """A server that holds the request past the deadline is a timeout, exit 7, within the deadline."""
    server.faults.script(Fault(status=200, delay=30), Fault(status=200, delay=30))
    started = time.monotonic()

    outcome = check(server.url, api_key, deadline=0.5)

    assert outcome.code == EXIT_TIMEOUT
    assert "took too long to answer" in outcome.message
    assert time.monotonic() - started < 3


def test_a_wrong_path_is_a_404_that_suggests_the_base_url(server: LocalServer, api_key: str) -> None:
    """A host with a path the API does not have is exit 8, and the advice names the URLs that work."""
    outcome = check(f"{server.url}/ingest", api_key)

    assert outcome.code == EXIT_WRONG_PATH
    assert f"{server.url}/ingest is not the API's base URL" in outcome.message
    assert f"{server.url}/api/ingestion or {server.url} " in outcome.message


def test_a_422_is_refused_as_invalid(server: LocalServer, api_key: str) -> None:
    """An answer of 422 is the one verdict of 'refused as invalid', exit 4."""
    server.faults.script(Fault(status=422))

    outcome = check(server.url, api_key)

    assert outcome.code == EXIT_INVALID
    assert "refused the test event as invalid (HTTP 422)" in outcome.message


@pytest.mark.parametrize(
    ("status", "meaning"), [(501, "is failing"), (405, "may not be a Trubrics ingestion API")]
)
def test_other_http_errors_have_their_own_verdict(
    server: LocalServer, api_key: str, status: int, meaning: str
) -> None:
    """Any other HTTP error is exit 9 and names the status."""
    server.faults.script(Fault(status=status))

    outcome = check(server.url, api_key)

    assert outcome.code == EXIT_HTTP_ERROR
    assert f"answered HTTP {status}: it {meaning}" in outcome.message


def test_a_failing_server_is_given_up_on_at_the_deadline(server: LocalServer, api_key: str) -> None:
    """503 on every request is retried only until the deadline, then reported as HTTP 503."""
    server.faults.fail_rate = 1.0
    started = time.monotonic()

    outcome = check(server.url, api_key, deadline=1.0)

    assert outcome.code == EXIT_HTTP_ERROR
    assert "answered HTTP 503" in outcome.message
    assert time.monotonic() - started < 3


def test_progress_is_announced_before_the_wait(server: LocalServer, api_key: str) -> None:
    """One line names the URL and the longest wait before anything is sent."""
    lines: list[str] = []

    def progress(line: str) -> None:
        assert server.requests == []  # nothing was sent yet
        lines.append(line)

    check(server.url, api_key, deadline=4, progress=progress)

    assert lines == [f"Sending a test event to {server.url}/publish_events (up to 4 s)..."]


def test_every_exit_code_is_distinct() -> None:
    """No two verdicts share an exit code."""
    codes = [code for code, _ in EXIT_CODES]

    assert len(codes) == len(set(codes)) == 10


def test_the_command_prints_progress_while_the_host_is_slow(server: LocalServer, api_key: str) -> None:
    """The progress line reaches the terminal while the command still waits for the answer."""
    server.faults.script(Fault(status=200, delay=0.5))
    process = subprocess.Popen(
        [str(COMMAND), "check", "--host", server.url, "--api-key", api_key],
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = ""
        while not line.startswith("Sending a test event"):
            line = process.stdout.readline()
            assert line, "the command ended without announcing the test event"
        still_waiting = process.poll() is None
        rest, _ = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()

    assert still_waiting
    assert process.returncode == EXIT_DELIVERED
    assert "Delivered a test event" in rest


@pytest.mark.parametrize(
    ("host", "code"),
    [
        (UNRESOLVABLE, EXIT_NAME_NOT_FOUND),
        ("https://127.0.0.1:{port}", EXIT_TLS),
        ("{url}/x", EXIT_WRONG_PATH),
    ],
)
def test_the_command_exits_with_the_verdicts_code(server: LocalServer, host: str, code: int) -> None:
    """The process's exit code is the verdict's, and the verdict goes to stderr."""
    done = run("check", "--host", host.format(port=server.port, url=server.url), "--api-key", "test-key")

    assert done.returncode == code, done.stderr
    assert done.stderr.strip()
    assert "Traceback" not in done.stderr


def test_a_malformed_host_flag_is_named_as_the_flag() -> None:
    """`--host x` is a configuration error about --host, not about TRUBRICS_HOST."""
    done = run("check", "--host", "x")

    assert done.returncode == 1
    assert done.stderr.startswith("trubrics-otel: --host 'x' must be an http:// or https:// URL")
    assert "TRUBRICS_HOST" not in done.stderr


def test_an_endpoint_in_the_host_variable_is_named_as_the_variable(server: LocalServer) -> None:
    """TRUBRICS_HOST ending in /publish_events is refused before anything is sent, naming the variable."""
    done = run("check", env={"TRUBRICS_HOST": f"{server.url}/publish_events", "TRUBRICS_API_KEY": "test-key"})

    assert done.returncode == 1
    assert done.stderr.startswith("trubrics-otel: TRUBRICS_HOST=")
    assert f"use '{server.url}'" in done.stderr
    assert server.requests == []


def test_an_empty_key_flag_is_a_configuration_error() -> None:
    """`--api-key ''` would silently fall back to TRUBRICS_API_KEY; it is refused instead."""
    done = run("check", "--host", UNRESOLVABLE, "--api-key", "", env={"TRUBRICS_API_KEY": "from-env"})

    assert done.returncode == 1
    assert done.stderr.startswith("trubrics-otel: --api-key is empty")
