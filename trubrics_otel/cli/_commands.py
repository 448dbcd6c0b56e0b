"""Each command of `trubrics-otel`: a few lines of glue from its parsed arguments to the work.

The work is done elsewhere: the delivery test in `trubrics_otel._check`, the set-up inspection in
`_doctor`, the listings in `_events`, the server in `trubrics_otel.server`, the demo and the fake model
endpoints in `trubrics_otel.demo`, each imported only by the command that needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from trubrics_otel import _config
from trubrics_otel._check import EXIT_CONFIGURATION, EXIT_DELIVERED, EXIT_UNREACHABLE, check
from trubrics_otel._config import ConfigurationError

__all__ = [
    "DEFAULT_SERVER",
    "check_command",
    "demo_command",
    "events_command",
    "fake_llm_command",
    "serve_command",
]

DEFAULT_SERVER: Final = "http://127.0.0.1:8765"


def check_command(args: argparse.Namespace) -> int:
    # only this command inspects the set-up
    from trubrics_otel.cli._doctor import inspect_setup, print_report, resolve_destination  # noqa: PLC0415
    from trubrics_otel.cli._installed import installed  # noqa: PLC0415

    destination = resolve_destination(args.host, args.api_key)
    print_report(inspect_setup(destination, os.environ, installed()), sys.stdout)
    print(file=sys.stdout)
    outcome = check(
        destination.host,
        destination.api_key,
        deadline=args.timeout,
        progress=lambda line: print(line, flush=True),
    )
    print(outcome.message, file=sys.stdout if outcome.code == EXIT_DELIVERED else sys.stderr, flush=True)
    return outcome.code


def events_command(args: argparse.Namespace) -> int:
    from trubrics_otel.cli._events import (  # noqa: PLC0415 - only this command reads listings
        Filters,
        ListingError,
        ServerListings,
        follow,
        show,
    )

    if args.event is not None and args.assistant is not None:
        raise ConfigurationError("--event selects events and --assistant LLM events: give one of them.")
    if args.kind == "llm" and args.event is not None:
        raise ConfigurationError("--event filters events, which --kind llm leaves out.")
    if args.kind == "events" and args.assistant is not None:
        raise ConfigurationError("--assistant filters LLM events, which --kind events leaves out.")
    kinds = ["llm", "events"] if args.kind == "all" else [args.kind]
    if args.event is not None:
        kinds = ["events"]
    elif args.assistant is not None:
        kinds = ["llm"]
    if args.server is not None:
        server, source = _config.HOST.resolve(args.server, given_as="--server"), "--server"
    elif _config.HOST.is_set():
        server, source = _config.HOST.resolve(), _config.HOST.env
    else:
        server, source = DEFAULT_SERVER, "the default"
    filters = Filters(args.user, args.thread, args.event, args.assistant)
    api_key = _config.API_KEY.resolve(args.api_key, given_as="--api-key")
    listings = ServerListings(server, source, api_key=api_key)
    try:
        if args.follow:
            follow(
                listings, kinds, filters, args.limit, sys.stdout, as_json=args.json, interval=args.interval
            )
        else:
            show(listings, kinds, filters, args.limit, sys.stdout, as_json=args.json)
    except ListingError as error:
        sys.stdout.flush()
        print(f"trubrics-otel: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        listings.close()
    return 0


def serve_command(args: argparse.Namespace) -> int:
    from trubrics_otel.server import serve_forever  # noqa: PLC0415 - only this command needs the server

    try:
        serve_forever(
            args.host,
            args.port,
            api_keys=args.api_keys,
            database=args.database,
            fail_rate=args.fail_rate,
            quiet=args.quiet,
            key_for_reads=args.key_for_reads or None,
            max_items=args.max_items,
            max_connections=args.max_connections,
        )
    except OSError as error:
        print(f"trubrics-otel: {_bind_error(error, args.host, args.port)}", file=sys.stderr)
        return EXIT_CONFIGURATION
    return 0


def fake_llm_command(args: argparse.Namespace) -> int:
    from trubrics_otel.demo._fakes import PROVIDERS, run_fake_endpoints  # noqa: PLC0415

    if not 0 <= args.port <= 65535 - len(PROVIDERS):
        raise ConfigurationError(f"--port must be from 0 to {65535 - len(PROVIDERS)}, not {args.port}.")
    if args.delay < 0:
        raise ConfigurationError(f"--delay must not be negative, not {args.delay}.")
    providers = PROVIDERS if args.provider == "all" else (args.provider,)
    try:
        run_fake_endpoints(providers, args.port, sys.stdout, delay=args.delay)
    except OSError as error:
        print(f"trubrics-otel: {_bind_error(error, '127.0.0.1', args.port)}", file=sys.stderr)
        return EXIT_CONFIGURATION
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from trubrics_otel.demo import run_demo  # noqa: PLC0415 - only this command needs the demo

    try:
        return run_demo(sys.stdout, keep_serving=args.keep_serving, port=args.port)
    except BrokenPipeError:
        raise
    except OSError as error:
        print(f"trubrics-otel: {_bind_error(error, '127.0.0.1', args.port)}", file=sys.stderr)
        return EXIT_CONFIGURATION


def _bind_error(error: OSError, host: str, port: int | None) -> str:
    """Say in one sentence why a server could not listen; a `PortInUseError` says it already."""
    if type(error) is not OSError or not error.strerror:
        return str(error)
    where = f"{host}:{port}" if port else host
    return f"cannot listen on {where}: {error.strerror}."
