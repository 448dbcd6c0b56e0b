"""The `trubrics-otel` command: `serve` the local server, `check` a configuration, run the `demo`.

Exit codes of `check`: 0 delivered, 2 bad or missing key, 3 unreachable or failing host, 4 refused as
invalid, 1 a configuration error. Nothing here is imported by the library itself.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from trubrics_otel._config import ConfigurationError
from trubrics_otel._version import __version__
from trubrics_otel.events import Event
from trubrics_otel.transport import TrubricsClient

__all__ = ["main"]

EXIT_DELIVERED = 0
EXIT_CONFIGURATION = 1
EXIT_UNAUTHORIZED = 2
EXIT_UNREACHABLE = 3
EXIT_INVALID = 4

CHECK_DEADLINE = 10.0
"""Seconds `check` gives its test event, retries included."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.run(args)
    except ConfigurationError as error:
        print(f"trubrics-otel: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trubrics-otel",
        description="Send OpenTelemetry and logging analytics to Trubrics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the local Trubrics-compatible ingestion server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port to bind (default 8765; 0 picks one)")
    serve.add_argument(
        "--database",
        default="trubrics-local.sqlite3",
        help="SQLite file that keeps what arrives (default trubrics-local.sqlite3; ':memory:' keeps nothing)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this key (repeatable); by default any non-empty key is accepted",
    )
    serve.add_argument(
        "--fail-rate", type=float, default=0.0, help="answer this share of requests with 503 (0 to 1)"
    )
    serve.set_defaults(run=_serve)

    check = commands.add_parser(
        "check", help="send one test event to the configured host and say what happened"
    )
    check.add_argument("--host", help="the API's base URL (default TRUBRICS_HOST, else Trubrics)")
    check.add_argument("--api-key", help="the project's key (default TRUBRICS_API_KEY)")
    check.set_defaults(run=_check)

    demo = commands.add_parser(
        "demo", help="start the local server, send to it, and show what arrived (no account needed)"
    )
    demo.set_defaults(run=_demo)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from trubrics_otel.server import serve_forever  # noqa: PLC0415 - only this command needs the server

    serve_forever(
        args.host, args.port, api_keys=args.api_keys, database=args.database, fail_rate=args.fail_rate
    )
    return 0


@dataclass(frozen=True)
class CheckOutcome:
    """What `check` found: an exit code and the sentence that explains it."""

    code: int
    message: str


def check(host: str | None = None, api_key: str | None = None) -> CheckOutcome:
    """Send one test event to the configured host and classify what happened."""
    client = TrubricsClient(api_key, host, retry_deadline=CHECK_DEADLINE)
    library = logging.getLogger("trubrics_otel")
    level = library.level
    library.setLevel(logging.CRITICAL)  # check reports in its own words, once
    try:
        started = time.monotonic()
        result = client.send(
            [Event("trubrics-otel-check", "trubrics-otel check", properties={"check": True})]
        )
        elapsed_ms = (time.monotonic() - started) * 1000
    finally:
        library.setLevel(level)
        client.shutdown()
    if result.sent:
        return CheckOutcome(
            EXIT_DELIVERED, f"Delivered a test event to {client.host} in {elapsed_ms:.0f} ms."
        )
    if result.unauthorized:
        reason = (
            "The API key was refused" if client.has_api_key else "No API key is configured; it was refused"
        )
        return CheckOutcome(
            EXIT_UNAUTHORIZED,
            f"{reason} by {client.host} (HTTP 401/403). Set TRUBRICS_API_KEY to your project's key.",
        )
    if result.dropped:
        return CheckOutcome(EXIT_INVALID, f"{client.host} refused the test event: {result.problem}.")
    return CheckOutcome(EXIT_UNREACHABLE, f"Could not deliver to {client.host}: {result.problem}.")


def _check(args: argparse.Namespace) -> int:
    outcome = check(args.host, args.api_key)
    print(outcome.message, file=sys.stdout if outcome.code == EXIT_DELIVERED else sys.stderr)
    return outcome.code


def _demo(args: argparse.Namespace) -> int:
    from trubrics_otel.demo import run_demo  # noqa: PLC0415 - only this command needs the demo

    return run_demo(sys.stdout)


def print_table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO, width: int = 36) -> None:
    """Print rows as a plain-text table, cutting cells longer than `width`."""
    cells = [[_cut(cell, width) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)), file=out)


def _cut(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


if __name__ == "__main__":
    raise SystemExit(main())
