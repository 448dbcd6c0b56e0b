"""Running a gateway replica: its configuration checked up front, uvicorn, and the drain at the end.

Why uvicorn: the app is plain ASGI, and uvicorn is the ASGI server most deployments already know. It
parses HTTP with a maintained parser (h11, or httptools when installed), keeps connections alive for the
exporters that reuse them, and has the shutdown a replica needs: on SIGTERM or Ctrl-C it stops accepting,
closes idle connections, lets the requests under way finish (`graceful_timeout`), then sends the app its
lifespan shutdown, where the app drains: every core sends the calls it holds (or its transport spools
them), and its client closes. `http.server` has none of that, and a thread per connection.

A configuration mistake raises `ConfigurationError` before anything listens: no key for a one-project
gateway, a host that is not loopback without a token, a malformed Trubrics host.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Final

import uvicorn

from trubrics_otel._config import API_KEY, GATEWAY_TOKEN, ConfigurationError, Settings
from trubrics_otel._transport import TrubricsClient
from trubrics_otel.gateway._app import MAX_BODY_BYTES, MAX_EXPORTS, RETRY_AFTER, GatewayApp
from trubrics_otel.gateway._keys import MAX_PROJECTS, Projects, TokenCheck

__all__ = [
    "DELIVERY_DEADLINE",
    "GatewayConfig",
    "RunningGateway",
    "build_app",
    "run_gateway",
]

DELIVERY_DEADLINE: Final = 8.0
"""Seconds an export's delivery may take, retries included: below the 10 s OTLP exporters wait by default,
so that a sender hears the gateway's answer rather than timing out and sending the batch again."""
MAX_CONNECTIONS: Final = 256
"""Connections served at once (uvicorn's `limit_concurrency`); one more is answered 503."""
GRACEFUL_TIMEOUT: Final = 20
"""Seconds a SIGTERM waits for the exports under way before the drain."""


@dataclass(frozen=True)
class GatewayConfig:
    """How one gateway replica listens, whom it lets in, and where it sends.

    Attributes:
        host: the address to listen on.
        port: the port (0 picks a free one).
        api_key: the Trubrics key of a one-project gateway (else `TRUBRICS_API_KEY`).
        pass_through: send each request with its `x-api-key` instead.
        token: what senders must present; required beyond loopback unless `allow_no_token`.
        token_header: the header that carries it (`authorization`: `Bearer <token>`).
        allow_no_token: listen beyond loopback without a token (behind a proxy that checks senders).
        trubrics_host: the ingestion API's base URL (else `TRUBRICS_HOST`).
        delivery_deadline: seconds an export's delivery may take, retries included.
        max_projects: the most keys served at once with `pass_through`.
        max_body_bytes: the most bytes a request may carry, and decompress to.
        max_exports: export requests delivered at once.
        retry_after: seconds a 429 or 503 asks the sender to wait.
        graceful_timeout: seconds a shutdown waits for the exports under way.
    """

    host: str = "127.0.0.1"
    port: int = 4318
    api_key: str | None = None
    pass_through: bool = False
    token: str | None = None
    token_header: str = "authorization"  # noqa: S105 - a header's name, not a secret
    allow_no_token: bool = False
    trubrics_host: str | None = None
    delivery_deadline: float = DELIVERY_DEADLINE
    max_projects: int = MAX_PROJECTS
    max_body_bytes: int = MAX_BODY_BYTES
    max_exports: int = MAX_EXPORTS
    retry_after: int = RETRY_AFTER
    graceful_timeout: int = GRACEFUL_TIMEOUT


def build_app(config: GatewayConfig) -> GatewayApp:
    """Check a configuration and build its app, with the cores it sends through.

    Raises:
        ConfigurationError: the configuration cannot work; the sentence says why and what to change.
    """
    token = GATEWAY_TOKEN.resolve(config.token, given_as="--token")
    if token is None and not config.allow_no_token and not _is_loopback(config.host):
        raise ConfigurationError(
            f"--host {config.host} is reachable beyond this machine, so senders must present a token: "
            "pass --token (or set TRUBRICS_GATEWAY_TOKEN), or --allow-no-token when a proxy in front "
            "checks them."
        )
    for name, value in (("--max-projects", config.max_projects), ("--max-exports", config.max_exports)):
        if value < 1:
            raise ConfigurationError(f"{name} must be 1 or more, not {value}.")
    if config.max_body_bytes < 1024:
        raise ConfigurationError(f"--max-body-bytes must be 1024 or more, not {config.max_body_bytes}.")
    if not 0 < config.delivery_deadline <= 300:
        raise ConfigurationError(
            f"--delivery-deadline must be above 0 and at most 300, not {config.delivery_deadline}."
        )
    if not 0 <= config.port <= 65535:
        raise ConfigurationError(f"--port must be from 0 to 65535, not {config.port}.")
    api_key = None
    if config.pass_through:
        if config.api_key is not None:
            raise ConfigurationError("--api-key and --pass-through-keys exclude each other: give one.")
    else:
        api_key = API_KEY.resolve(config.api_key, given_as="--api-key")
        if api_key is None:
            raise ConfigurationError(
                "The gateway needs a Trubrics key: pass --api-key (or set TRUBRICS_API_KEY), or "
                "--pass-through-keys to send each request with its sender's x-api-key."
            )

    def settings_for(key: str | None) -> Settings:
        return Settings.resolve(
            api_key=key if config.pass_through else api_key,
            host=config.trubrics_host,
            retry_deadline=config.delivery_deadline,
        )

    # the host, its scheme and the deadline are checked now, not at the first request
    TrubricsClient("configuration-check", _settings=settings_for("configuration-check").transport).shutdown()
    projects = Projects(settings_for, pass_through=config.pass_through, max_projects=config.max_projects)
    return GatewayApp(
        projects,
        TokenCheck(token, config.token_header),
        max_body_bytes=config.max_body_bytes,
        max_exports=config.max_exports,
        retry_after=config.retry_after,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uvicorn_config(app: GatewayApp, config: GatewayConfig) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=config.graceful_timeout,
        # connections past this are answered 503 by uvicorn at once, which senders retry: a burst of
        # senders cannot hold unbounded sockets and buffers (exports past max_exports are 429 already)
        limit_concurrency=max(MAX_CONNECTIONS, config.max_exports * 4),
    )


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket before serving: a taken port is an `OSError` here, and port 0 is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def run_gateway(config: GatewayConfig, out: IO[str]) -> int:
    """Serve until SIGTERM or Ctrl-C, then drain: what is held is sent (or spooled). Return 0.

    Raises:
        ConfigurationError: the configuration cannot work.
        OSError: the address cannot be listened on.
    """
    app = build_app(config)
    try:
        sock = _listen(config.host, config.port)
    except OSError:
        app.drain()
        raise
    mode = "each sender's x-api-key" if app.projects.pass_through else "the gateway's key"
    token = "a token required" if app.token.required else "no token"
    out.write(
        f"OTLP/HTTP gateway on http://{_url_host(config.host)}:{sock.getsockname()[1]} "
        f"(POST /v1/traces, /v1/logs): sending with {mode}, {token}\n"
    )
    out.flush()
    with _signals_end_serving():
        uvicorn.Server(_uvicorn_config(app, config)).run(sockets=[sock])
    app.drain()  # when a second Ctrl-C skipped the lifespan's drain
    totals = app.projects.totals()
    dropped = sum(totals.dropped.values())
    out.write(
        f"drained: {totals.sent} records sent, {totals.failed} failed, {dropped} dropped, "
        f"{totals.spooled} spooled\n"
    )
    out.flush()
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextmanager
def _signals_end_serving() -> Iterator[None]:
    """Make the signals uvicorn re-raises after its graceful shutdown end serving, not the process.

    uvicorn restores the handlers it found and raises the signal again once it has shut down; with the
    default handlers the process would die (SIGTERM) or raise KeyboardInterrupt (Ctrl-C) before the
    summary. Handlers that ignore them are found instead; the originals come back after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: object) -> None:
    """Handle a signal uvicorn raises again after it shut down: serving has ended already."""


class RunningGateway:
    """A gateway replica served from a thread of this process (tests, benchmarks, embedding).

    Use it as a context manager: on entry it listens (`url`), on exit it stops as SIGTERM would, then drains.
    """

    def __init__(self, config: GatewayConfig) -> None:
        self.app = build_app(config)
        try:
            self._socket = _listen(config.host, config.port)
        except OSError:
            self.app.drain()
            raise
        self._server = uvicorn.Server(_uvicorn_config(self.app, config))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="trubrics-gateway", daemon=True
        )
        self.url = f"http://{_url_host(config.host)}:{self._socket.getsockname()[1]}"
        """The base URL senders export to (`/v1/traces` and `/v1/logs` under it)."""

    def __enter__(self) -> RunningGateway:
        self._thread.start()
        while not self._server.started:  # the lifespan's startup has run: the app is ready
            if not self._thread.is_alive():
                raise OSError("the gateway stopped while starting")
            time.sleep(0.005)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, finish the exports under way, drain. Idempotent."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join()
        self._socket.close()
        self.app.drain()
