"""`trubrics-otel fake-llm`: the fake model endpoints, to try instrumentations without a provider's account.

It starts `FakeOpenAI`, `FakeAnthropic` and `FakeGemini` (or one of them) on 127.0.0.1, prints for each
its base URL and the environment lines its client library reads, and waits until Ctrl-C or SIGTERM.
It also holds that wait (`until_stopped`), which `trubrics-otel demo --keep-serving` shares.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Final, TextIO

from trubrics_otel.demo._fake_http import FakeServer
from trubrics_otel.demo.fake_anthropic import FakeAnthropic
from trubrics_otel.demo.fake_gemini import FakeGemini
from trubrics_otel.demo.fake_openai import FakeOpenAI

__all__ = [
    "DEFAULT_FAKE_PORT",
    "PROVIDERS",
    "FakeEndpoint",
    "FakePortInUseError",
    "fake_endpoints",
    "run_fake_endpoints",
    "until_stopped",
]

DEFAULT_FAKE_PORT: Final = 8766
"""The first fake's port; the others take the next ones. One above the local server's 8765."""

PROVIDERS: Final = ("openai", "anthropic", "gemini")


class FakePortInUseError(OSError):
    """A fake's port is taken; the message says which, and what to do."""

    def __init__(self, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"Port {port} on 127.0.0.1 is already in use (is another `trubrics-otel fake-llm` running?): "
            "stop it, or pass --port 0 to pick free ports.",
        )

    def __str__(self) -> str:
        """Return the message alone, without the `[Errno 98]` that `OSError` puts before it."""
        return str(self.strerror)


@dataclass(frozen=True)
class FakeEndpoint:
    """A started fake model endpoint and how a client library is pointed at it."""

    provider: str
    server: FakeServer
    environment: tuple[tuple[str, str], ...]
    """(variable, value) pairs the provider's client reads: its base URL and a key it needs set."""

    @property
    def export_line(self) -> str:
        """The shell line that points the provider's client at this endpoint."""
        return "export " + " ".join(f"{name}={value}" for name, value in self.environment)


_Fake = FakeOpenAI | FakeAnthropic | FakeGemini


def _fake(provider: str, port: int, delay: float) -> tuple[_Fake, Sequence[str]]:
    """Build one provider's fake; return it and the names of (base URL, key) variables its client reads."""
    if provider == "openai":
        return FakeOpenAI(port, delay=delay), ("OPENAI_BASE_URL", "OPENAI_API_KEY")
    if provider == "anthropic":
        return FakeAnthropic(port, delay=delay), ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY")
    if provider == "gemini":
        return FakeGemini(port, delay=delay), ("GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY")
    raise ValueError(f"unknown provider {provider!r}; choose from {', '.join(PROVIDERS)}")


@contextlib.contextmanager
def fake_endpoints(providers: Sequence[str], port: int, delay: float = 0.0) -> Iterator[list[FakeEndpoint]]:
    """Start the providers' fakes on `port`, `port + 1`, ... (each a free port when `port` is 0).

    Raises:
        FakePortInUseError: (an `OSError`) a port is taken; the fakes already started are stopped.
        OSError: a port cannot be bound otherwise.
    """
    started: list[FakeEndpoint] = []
    try:
        for index, provider in enumerate(providers):
            server, (url_name, key_name) = _fake(provider, port + index if port else 0, delay)
            try:
                server.start()
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise FakePortInUseError(port + index) from None
                raise
            environment = ((url_name, server.base_url), (key_name, "fake"))
            started.append(FakeEndpoint(provider, server, environment))
        yield started
    finally:
        for endpoint in started:
            endpoint.server.stop()


def run_fake_endpoints(
    providers: Sequence[str],
    port: int,
    out: TextIO,
    *,
    delay: float = 0.0,
    stop: threading.Event | None = None,
) -> None:
    """Serve the fakes and print how to use them, until Ctrl-C, SIGTERM or `stop`.

    Raises:
        OSError: a port is taken.
    """
    with fake_endpoints(providers, port, delay) as endpoints, until_stopped(stop):
        # printed once the signals are handled: a reader that stops us as soon as it has read stops us cleanly
        width = max(len(endpoint.provider) for endpoint in endpoints)
        print(
            "Fake model endpoints on 127.0.0.1; no account needed, every answer is 'Echo: <your message>'.",
            file=out,
        )
        for endpoint in endpoints:
            base_url = endpoint.environment[0][1]
            print(f"  {endpoint.provider.ljust(width)}  {base_url}", file=out)
            print(f"  {' ' * width}  {endpoint.export_line}", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
    print("Stopped.", file=out, flush=True)


@contextlib.contextmanager
def until_stopped(stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """Run the block, then wait until Ctrl-C, SIGTERM or `stop`; yield the event that ends the wait.

    From the start of the block, Ctrl-C and SIGTERM only set the event (where this thread can handle
    signals), so that one arriving while the block still prints ends the wait as cleanly as a later one.
    A block that raises is not waited for.
    """
    done = stop if stop is not None else threading.Event()
    with _signals_set(done):
        yield done
        while not done.wait(0.5):  # a timed wait keeps the signals handled promptly on every platform
            pass


@contextlib.contextmanager
def _signals_set(done: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
