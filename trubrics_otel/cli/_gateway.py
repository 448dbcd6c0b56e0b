"""`trubrics-otel gateway`: its options and help, and the glue from them to `trubrics_otel.gateway`.

The gateway's modules (and uvicorn, and opentelemetry-proto) are imported only when the command runs, so
that the rest of the command line works without the `gateway` extra.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from trubrics_otel._config import ConfigurationError

__all__ = ["add_gateway_parser", "gateway_command"]

_DEFAULTS: dict[str, Any] = {
    "delivery_deadline": 8.0,
    "max_projects": 64,
    "max_body_bytes": 16 * 1024 * 1024,
    "max_exports": 16,
    "graceful_timeout": 20,
}
"""The defaults `trubrics_otel.gateway` has too; repeated here so that `--help` needs no extra installed."""


def add_gateway_parser(commands: Any, make_help: Callable[..., Any]) -> None:
    """Add the `gateway` command to the command line's subparsers."""
    gateway = commands.add_parser(
        "gateway",
        help="receive OTLP/HTTP from other processes and Collectors, and send it to Trubrics",
        **make_help(
            """
            Run an OTLP/HTTP receiver (POST /v1/traces and /v1/logs, protobuf or JSON, gzip) until SIGTERM
            or Ctrl-C. Each span and log record goes through the same mapping, content join,
            de-duplication and delivery as this package's exporters. On SIGTERM it stops accepting,
            finishes the exports under way, sends (or spools) what it holds, and exits. GET /healthz,
            /readyz and /metrics serve health, readiness and Prometheus metrics.
            """,
            """
            trubrics-otel gateway --api-key KEY                      one project, on 127.0.0.1:4318
            trubrics-otel gateway --pass-through-keys                each sender's x-api-key
            trubrics-otel gateway --host 0.0.0.0 --token SECRET      senders send Authorization: Bearer SECRET
            OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 node app.js
            """,
            "exit codes:\n  0   stopped by Ctrl-C or SIGTERM, and drained\n"
            "  1   a bad argument, no key, or the port is taken",
        ),
    )
    gateway.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    gateway.add_argument(
        "--port", type=int, default=4318, help="port (default 4318, OTLP/HTTP's; 0 picks one)"
    )
    keys = gateway.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key", metavar="KEY", help="the Trubrics key to send with (default TRUBRICS_API_KEY)"
    )
    keys.add_argument(
        "--pass-through-keys",
        action="store_true",
        help="send each request with the sender's x-api-key (one gateway for several projects)",
    )
    gateway.add_argument(
        "--trubrics-host",
        metavar="URL",
        help="the ingestion API's base URL (default TRUBRICS_HOST, else Trubrics)",
    )
    gateway.add_argument(
        "--token",
        help="the token senders must present (default TRUBRICS_GATEWAY_TOKEN); required beyond loopback",
    )
    gateway.add_argument(
        "--token-header",
        default="authorization",
        metavar="NAME",
        help="the header carrying it (default authorization, as 'Bearer TOKEN'; any other: the token alone)",
    )
    gateway.add_argument(
        "--allow-no-token",
        action="store_true",
        help="listen beyond loopback without a token (a proxy in front checks the senders)",
    )
    gateway.add_argument(
        "--delivery-deadline",
        type=float,
        default=_DEFAULTS["delivery_deadline"],
        metavar="SECONDS",
        help="the most an export's delivery may take, retries included (default 8: below the senders' 10)",
    )
    gateway.add_argument(
        "--max-projects",
        type=int,
        default=_DEFAULTS["max_projects"],
        metavar="N",
        help="with --pass-through-keys, keys served at once; beyond, the least recent is let go (default 64)",
    )
    gateway.add_argument(
        "--max-body-bytes",
        type=int,
        default=_DEFAULTS["max_body_bytes"],
        metavar="N",
        help="the most bytes a request may carry, and decompress to; beyond, 413 (default 16 MiB)",
    )
    gateway.add_argument(
        "--max-exports",
        type=int,
        default=_DEFAULTS["max_exports"],
        metavar="N",
        help="exports delivered at once; one more is answered 429 (default 16)",
    )
    gateway.add_argument(
        "--graceful-timeout",
        type=int,
        default=_DEFAULTS["graceful_timeout"],
        metavar="SECONDS",
        help="on SIGTERM, how long the exports under way may take before the drain (default 20)",
    )
    gateway.set_defaults(run=gateway_command)


def gateway_command(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM or Ctrl-C; return the exit code."""
    try:
        from trubrics_otel.gateway import GatewayConfig, run_gateway  # noqa: PLC0415
    except ImportError as error:
        raise ConfigurationError(
            f"the gateway needs the gateway extra ({error.name} is missing): "
            "pip install 'trubrics-otel[gateway]'"
        ) from None
    config = GatewayConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        pass_through=args.pass_through_keys,
        token=args.token,
        token_header=args.token_header,
        allow_no_token=args.allow_no_token,
        trubrics_host=args.trubrics_host,
        delivery_deadline=args.delivery_deadline,
        max_projects=args.max_projects,
        max_body_bytes=args.max_body_bytes,
        max_exports=args.max_exports,
        graceful_timeout=args.graceful_timeout,
    )
    try:
        return run_gateway(config, sys.stdout)
    except OSError as error:
        where = f"{args.host}:{args.port}"
        reason = error.strerror or str(error)
        print(f"trubrics-otel: cannot listen on {where}: {reason}.", file=sys.stderr)
        return 1
