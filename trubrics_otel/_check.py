"""The delivery test of `trubrics-otel check`: send one event, and say exactly why it did not arrive.

Before sending, it probes the way to the host with the socket module, the name's lookup and then a TCP
connection, so that a name that does not resolve or a port where nothing listens is named at once
rather than after the client's retries. Then it sends one test event through `TrubricsClient`, the whole
test bounded by one deadline, and turns the `SendResult` (its `status` and `error`) into one verdict,
each with its own exit code. A TLS failure is explained by a second handshake that checks no
certificate: when that one fails too, the port does not speak TLS at all.

Behind a proxy (`HTTPS_PROXY`, ...) the probes are skipped: the proxy, not this machine, reaches the host.

It lives outside the command line, which it imports nothing of, because the demo tests its host with it
too. It never shows the key.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from trubrics_otel import _config
from trubrics_otel._events import Event
from trubrics_otel._transport import SendResult, TrubricsClient

__all__ = [
    "CHECK_DEADLINE",
    "EXIT_CODES",
    "EXIT_CONFIGURATION",
    "EXIT_DELIVERED",
    "EXIT_HTTP_ERROR",
    "EXIT_INVALID",
    "EXIT_NAME_NOT_FOUND",
    "EXIT_TIMEOUT",
    "EXIT_TLS",
    "EXIT_UNAUTHORIZED",
    "EXIT_UNREACHABLE",
    "EXIT_WRONG_PATH",
    "CheckOutcome",
    "check",
    "error_causes",
]

EXIT_DELIVERED: Final = 0
EXIT_CONFIGURATION: Final = 1
EXIT_UNAUTHORIZED: Final = 2
EXIT_UNREACHABLE: Final = 3
EXIT_INVALID: Final = 4
EXIT_NAME_NOT_FOUND: Final = 5
EXIT_TLS: Final = 6
EXIT_TIMEOUT: Final = 7
EXIT_WRONG_PATH: Final = 8
EXIT_HTTP_ERROR: Final = 9

EXIT_CODES: Final = (
    (EXIT_DELIVERED, "delivered: the host accepted the test event"),
    (EXIT_CONFIGURATION, "configuration error: a flag or a TRUBRICS_* variable is malformed"),
    (EXIT_UNAUTHORIZED, "the API key is missing or was refused (HTTP 401 or 403)"),
    (EXIT_UNREACHABLE, "connection refused (nothing listens there), or another network error"),
    (EXIT_INVALID, "the host refused the test event as invalid (HTTP 422)"),
    (EXIT_NAME_NOT_FOUND, "the host's name does not resolve (DNS)"),
    (EXIT_TLS, "the TLS handshake failed: not a TLS port, or a certificate that is not trusted"),
    (EXIT_TIMEOUT, "no answer in time: the connection or the answer timed out"),
    (EXIT_WRONG_PATH, "HTTP 404: the host is not the API's base URL"),
    (EXIT_HTTP_ERROR, "any other HTTP error (a 5xx after the retries, 400, 405, ...)"),
)
"""Every exit code of `check`, with what it means, for the command's help and the docs."""

CHECK_DEADLINE: Final = 10.0
"""Seconds the whole test may take by default: the probes, the request and its retries."""

_DNS_SHARE: Final = 0.5
"""The share of the deadline the name's lookup may take; the rest is for connecting and sending."""

CHECK_USER: Final = "trubrics-otel-check"
"""The user of the test event, to find it among the events (`trubrics-otel events --user ...`)."""


@dataclass(frozen=True)
class CheckOutcome:
    """What `check` found: an exit code and the sentences that explain it and say what to do."""

    code: int
    message: str

    @property
    def delivered(self) -> bool:
        """Whether the test event arrived."""
        return self.code == EXIT_DELIVERED


@dataclass(frozen=True)
class _Target:
    """The host's address, as the client will connect to it."""

    url: str
    scheme: str
    hostname: str
    port: int

    @classmethod
    def of(cls, url: str) -> _Target:
        parts = urlsplit(url)
        default_port = 443 if parts.scheme == "https" else 80
        return cls(url, parts.scheme, parts.hostname or "", parts.port or default_port)

    @property
    def address(self) -> str:
        return f"[{self.hostname}]:{self.port}" if ":" in self.hostname else f"{self.hostname}:{self.port}"


def check(
    host: str | None = None,
    api_key: str | None = None,
    *,
    deadline: float = CHECK_DEADLINE,
    progress: Callable[[str], None] | None = None,
) -> CheckOutcome:
    """Send one test event to the host and classify what happened.

    Args:
        host: the API's base URL; default `TRUBRICS_HOST`, else Trubrics.
        api_key: the project's key; default `TRUBRICS_API_KEY`.
        deadline: seconds the whole test may take, probes and retries included.
        progress: called with one line before the wait starts, so that a person is not left staring
            at a silent terminal.

    Raises:
        ConfigurationError: the host or the key is malformed.
    """
    started = time.monotonic()

    def remaining() -> float:
        return max(deadline - (time.monotonic() - started), 0.001)

    with _library_quiet():  # check reports in its own words, once
        client = TrubricsClient(api_key, host, retry_deadline=deadline)
        try:
            target = _Target.of(client.host)
            if progress is not None:
                progress(f"Sending a test event to {client.host}/publish_events (up to {deadline:g} s)...")
            if (
                requests.utils.select_proxy(target.url, requests.utils.get_environ_proxies(target.url))
                is None
            ):
                failure = _probe_connection(target, min(client.connect_timeout, remaining()), remaining)
                if failure is not None:
                    return failure
            sent_at = time.monotonic()
            result = client.send(
                [Event(CHECK_USER, "trubrics-otel check", properties={"check": True})], deadline=remaining()
            )
            elapsed_ms = (time.monotonic() - sent_at) * 1000
        finally:
            client.shutdown()
    if result.sent:
        return CheckOutcome(
            EXIT_DELIVERED, f"Delivered a test event to {client.host} in {elapsed_ms:.0f} ms."
        )
    return _verdict(result, client, target, remaining())


def _behind_proxy(url: str) -> bool:
    """Whether requests will go through a proxy for `url` (HTTPS_PROXY, ... and NO_PROXY)."""
    return requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url)) is not None


@contextlib.contextmanager
def _library_quiet() -> Iterator[None]:
    library = logging.getLogger("trubrics_otel")
    level = library.level
    library.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        library.setLevel(level)


# --- the probes --------------------------------------------------------------------------------------


def _probe_connection(target: _Target, timeout: float, remaining: Callable[[], float]) -> CheckOutcome | None:
    """Look the name up and connect to it; return the outcome when either fails, else None."""
    lookup = _lookup(target, remaining() * _DNS_SHARE)
    if isinstance(lookup, CheckOutcome):
        return lookup
    errors: list[OSError] = []
    for family, kind, protocol, _, address in lookup:
        with socket.socket(family, kind, protocol) as sock:
            sock.settimeout(min(timeout, remaining()))
            try:
                sock.connect(address)
            except OSError as error:
                errors.append(error)
                continue
        return None
    return _connection_failed(target, errors[0] if errors else OSError("no address to connect to"), timeout)


_AddressInfo = list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int]]]


def _lookup(target: _Target, timeout: float) -> _AddressInfo | CheckOutcome:
    """Resolve the host's name in a daemon thread, so that a resolver that hangs cannot hold the check."""
    found: list[_AddressInfo | BaseException] = []

    def resolve() -> None:
        try:
            found.append(socket.getaddrinfo(target.hostname, target.port, type=socket.SOCK_STREAM))  # type: ignore[arg-type]
        except BaseException as error:  # noqa: BLE001 - handed over to the waiting thread
            found.append(error)

    thread = threading.Thread(target=resolve, name="trubrics-otel-check-lookup", daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        return CheckOutcome(
            EXIT_TIMEOUT,
            f"Looking up {target.hostname!r} took more than {timeout:.1f} s: the name server does not "
            "answer. Check your network and DNS settings.",
        )
    outcome = found[0]
    if isinstance(outcome, socket.gaierror):
        return _name_not_found(target, outcome)
    if isinstance(outcome, BaseException):
        return CheckOutcome(EXIT_UNREACHABLE, f"Could not look up {target.hostname!r}: {outcome}.")
    return outcome


def _name_not_found(target: _Target, error: BaseException | None) -> CheckOutcome:
    reason = f" ({error.strerror})" if isinstance(error, OSError) and error.strerror else ""
    return CheckOutcome(
        EXIT_NAME_NOT_FOUND,
        f"The host name {target.hostname!r} does not resolve{reason}. "
        "Check the host's spelling, or your network and DNS settings.",
    )


def _connection_failed(target: _Target, error: BaseException, timeout: float) -> CheckOutcome:
    if isinstance(error, ConnectionRefusedError):
        return CheckOutcome(
            EXIT_UNREACHABLE,
            f"Nothing is listening at {target.address} (connection refused). Is the server running? "
            "For a local one: trubrics-otel serve.",
        )
    if isinstance(error, TimeoutError):
        return CheckOutcome(
            EXIT_TIMEOUT,
            f"Connecting to {target.address} timed out after {timeout:.1f} s. "
            "A firewall may drop the packets, or the host may be down.",
        )
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return CheckOutcome(EXIT_UNREACHABLE, f"Could not connect to {target.address}: {reason}.")


def _tls_explanation(target: _Target, timeout: float) -> str:
    """Say why the TLS handshake failed: a second handshake without certificate checks tells which half."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((target.hostname, target.port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=target.hostname),
        ):
            pass
    except ssl.SSLError as error:
        plain = target.url.replace("https://", "http://", 1)
        return (
            f"The TLS handshake with {target.address} failed: it does not speak TLS on that port "
            f"({error.reason or error}). If it is a plain-HTTP server such as `trubrics-otel serve`, "
            f"use {plain}."
        )
    except OSError as error:
        return f"The TLS handshake with {target.address} failed ({error})."
    return (
        f"The TLS handshake with {target.address} failed: its certificate is not trusted here. If a proxy "
        "or a private certificate authority signs it, point REQUESTS_CA_BUNDLE at that authority's "
        "certificate."
    )


# --- the verdict -------------------------------------------------------------------------------------


def _verdict(result: SendResult, client: TrubricsClient, target: _Target, remaining: float) -> CheckOutcome:
    host = client.host
    if result.unauthorized:
        if client.has_api_key:
            return CheckOutcome(
                EXIT_UNAUTHORIZED,
                f"The API key was refused by {host} (HTTP {result.status or 401}). "
                "Use the key on your project's settings page (TRUBRICS_API_KEY or --api-key).",
            )
        return CheckOutcome(
            EXIT_UNAUTHORIZED,
            f"No API key is set, and {host} refused the event (HTTP {result.status or 401}). "
            "Set TRUBRICS_API_KEY (or pass --api-key) to your project's key.",
        )
    if result.status == 404:
        return CheckOutcome(
            EXIT_WRONG_PATH,
            f"{host}/publish_events answered HTTP 404: {host} is not the API's base URL. "
            f"{_base_url_advice(target)}",
        )
    if result.status == 422:
        return CheckOutcome(
            EXIT_INVALID, f"{host} refused the test event as invalid (HTTP 422): {result.problem}."
        )
    if result.status:
        kind = (
            "is failing; try again later" if result.status >= 500 else "may not be a Trubrics ingestion API"
        )
        return CheckOutcome(EXIT_HTTP_ERROR, f"{host} answered HTTP {result.status}: it {kind}.")
    return _network_verdict(result, target, remaining)


def _network_verdict(result: SendResult, target: _Target, remaining: float) -> CheckOutcome:
    causes = list(error_causes(result.error))
    if any(isinstance(cause, (ssl.SSLError, requests.exceptions.SSLError)) for cause in causes):
        return CheckOutcome(EXIT_TLS, _tls_explanation(target, min(remaining, 3.0)))
    if any(isinstance(cause, (socket.gaierror, urllib3.exceptions.NameResolutionError)) for cause in causes):
        return _name_not_found(target, next((c for c in causes if isinstance(c, socket.gaierror)), None))
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return _connection_failed(target, ConnectionRefusedError(), 0)
    if any(isinstance(cause, (TimeoutError, requests.exceptions.Timeout)) for cause in causes):
        return CheckOutcome(
            EXIT_TIMEOUT,
            f"{target.url} took too long to answer: no answer before the deadline. "
            "The host may be overloaded, or a proxy or firewall may hold the request; "
            "pass a longer --timeout to wait more.",
        )
    return CheckOutcome(EXIT_UNREACHABLE, f"Could not deliver to {target.url}: {result.problem}.")


def error_causes(error: BaseException | None) -> Iterator[BaseException]:
    """Yield an exception and everything it wraps: requests and urllib3 nest the socket's error deep."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.append(getattr(current, "reason", None))
        pending.extend((current.__cause__, current.__context__))


def _base_url_advice(target: _Target) -> str:
    parts = urlsplit(target.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.hostname == urlsplit(_config.DEFAULT_HOST).hostname:
        return f"Use {_config.DEFAULT_HOST}."
    candidates = [url for url in (f"{origin}/api/ingestion", origin) if url != target.url]
    return (
        "Use the part of the URL before /publish_events: "
        f"{' or '.join(candidates)} (a `trubrics-otel serve` answers at both)."
    )
