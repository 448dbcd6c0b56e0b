"""The `trubrics-otel` command line: `main`, and the parser of every command and its help.

Each command's glue is in `_commands`. Nothing here is imported by the library itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Final, TypeAlias, TypedDict

from trubrics_otel._check import CHECK_DEADLINE, EXIT_CODES, EXIT_CONFIGURATION
from trubrics_otel._config import ConfigurationError
from trubrics_otel._version import __version__
from trubrics_otel.cli._commands import (
    DEFAULT_SERVER,
    check_command,
    demo_command,
    events_command,
    fake_llm_command,
    serve_command,
)
from trubrics_otel.cli._gateway import add_gateway_parser
from trubrics_otel.server._listener import MAX_CONNECTIONS
from trubrics_otel.server._store import MAX_ITEMS

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "main"]

EXIT_BROKEN_PIPE: Final = 141
"""The reader of the output went away (`... | head`): 128 + SIGPIPE, as a shell reports it."""
EXIT_INTERRUPTED: Final = 130
"""Ctrl-C during a command that Ctrl-C does not end normally: 128 + SIGINT."""

HINT: Final = "Try `trubrics-otel demo`: a traced chat sent to a local server, no account needed."


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        print(f"\n{HINT}")
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.run(args)
        sys.stdout.flush()  # a closed pipe is found here, inside the handler, rather than at exit
    except ConfigurationError as error:
        print(f"trubrics-otel: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except BrokenPipeError:
        # as the Python docs advise: the interpreter flushes stdout again at exit, to a pipe still closed
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


# --- the parser ----------------------------------------------------------------------------------


_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class _Help(TypedDict):
    description: str
    epilog: str
    formatter_class: type[argparse.HelpFormatter]


def _help(description: str, examples: str, extra: str = "") -> _Help:
    """Return the keyword arguments of a command's parser: its description, then examples (and more)."""
    epilog = "examples:\n" + textwrap.indent(textwrap.dedent(examples).strip("\n"), "  ")
    if extra:
        epilog += "\n\n" + textwrap.dedent(extra).strip("\n")
    return _Help(
        description=textwrap.dedent(description).strip(),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trubrics-otel",
        **_help(
            "Send OpenTelemetry and logging analytics to Trubrics, and try it all on this machine.",
            """
            trubrics-otel demo              a traced chat, sent to a local server (no account needed)
            trubrics-otel check             is this set-up delivering, and what would stop it?
            trubrics-otel serve             a Trubrics-compatible ingestion server on 127.0.0.1:8765
            trubrics-otel events --follow   watch what that server receives
            trubrics-otel fake-llm          fake OpenAI, Anthropic and Gemini endpoints for your own app
            trubrics-otel gateway           receive OTLP from other processes and Collectors
            """,
            "Run `trubrics-otel COMMAND --help` for a command's options.",
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(commands)
    _add_check(commands)
    _add_events(commands)
    _add_serve(commands)
    _add_fake_llm(commands)
    add_gateway_parser(commands, _help)
    return parser


def _add_demo(commands: _Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="chat through a real instrumentation and show what the local server received",
        **_help(
            """
            Start the local server and a fake OpenAI-compatible model, run two users' conversations
            through the openai client and OpenTelemetry's openai-v2 instrumentation, and print the LLM
            events the server received. No account and no network are needed. With TRUBRICS_HOST and
            TRUBRICS_API_KEY set, it sends to that host instead.
            """,
            """
            trubrics-otel demo                   run it, and stop the local server at the end
            trubrics-otel demo --keep-serving    leave the server up on :8765 for `trubrics-otel events`
            trubrics-otel demo | head -3         stops quietly when the reader does
            """,
        ),
    )
    demo.add_argument(
        "--keep-serving",
        action="store_true",
        help="leave the local server running after the demo, until Ctrl-C (it then accepts any API key)",
    )
    demo.add_argument(
        "--port", type=int, help="the local server's port (default: a free one; 8765 with --keep-serving)"
    )
    demo.set_defaults(run=demo_command)


def _add_check(commands: _Commands) -> None:
    codes = "\n".join(f"  {code:<3} {meaning}" for code, meaning in EXIT_CODES)
    check_parser = commands.add_parser(
        "check",
        help="show the set-up, send one test event, and say what happened",
        **_help(
            """
            Show what can be seen of the set-up (the host and where it came from, whether a key is
            set, what opentelemetry-instrument would load, the instrumentations installed and whether
            their settings record prompts and generations) with one line per problem found; then send
            one test event (user trubrics-otel-check) and say what happened. Problems in the set-up are
            listed but leave the exit code to the test event.
            """,
            """
            trubrics-otel check
            trubrics-otel check --host http://127.0.0.1:8765 --api-key any
            TRUBRICS_HOST=http://127.0.0.1:8765 TRUBRICS_API_KEY=any trubrics-otel check --timeout 3
            """,
            f"exit codes:\n{codes}",
        ),
    )
    check_parser.add_argument("--host", help="the API's base URL (default TRUBRICS_HOST, else Trubrics)")
    check_parser.add_argument("--api-key", help="the project's key (default TRUBRICS_API_KEY); never shown")
    check_parser.add_argument(
        "--timeout",
        type=_seconds,
        default=CHECK_DEADLINE,
        metavar="SECONDS",
        help=f"the most the test event may take, retries included (default {CHECK_DEADLINE:g})",
    )
    check_parser.set_defaults(run=check_command)


def _add_events(commands: _Commands) -> None:
    events = commands.add_parser(
        "events",
        help="list, or follow, what a trubrics-otel server received",
        **_help(
            f"""
            List what a trubrics-otel server (`trubrics-otel serve`, `trubrics-otel demo --keep-serving`)
            received: LLM events as conversations, grouped by user and thread, each turn its prompt then
            its generation with the assistant and latency; events as a table. The server is --server,
            else TRUBRICS_HOST, else {DEFAULT_SERVER}.
            """,
            """
            trubrics-otel events                              the newest 20 of each kind
            trubrics-otel events --follow                     then every new one as it arrives
            trubrics-otel events --kind llm --user ada --thread thread-ada-1
            trubrics-otel events --event "Sign up" --limit 100
            trubrics-otel events --json | jq .prompt          one JSON object per line, with its kind
            """,
            "exit codes:\n  0   listed (or followed until Ctrl-C)\n  1   configuration error\n"
            "  3   the server did not answer, or does not list what it received",
        ),
    )
    events.add_argument(
        "--server",
        metavar="URL",
        help=f"the server's base URL (default TRUBRICS_HOST, else {DEFAULT_SERVER})",
    )
    events.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key a server started with --api-key asks to read (default TRUBRICS_API_KEY)",
    )
    events.add_argument(
        "--kind", choices=("all", "events", "llm"), default="all", help="which listings to show (default all)"
    )
    events.add_argument("--user", help="only this user's items")
    events.add_argument("--thread", help="only the items of this thread ($thread_id)")
    events.add_argument("--event", help="only events of this name (and so no LLM events)")
    events.add_argument("--assistant", help="only LLM events of this assistant (and so no events)")
    events.add_argument(
        "--limit", type=_count, default=20, metavar="N", help="show the newest N of each kind (default 20)"
    )
    events.add_argument("--json", action="store_true", help="one JSON object per line, with its kind")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new items until Ctrl-C")
    events.add_argument(
        "--interval",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="how often --follow asks the server (default 1)",
    )
    events.set_defaults(run=events_command)


def _add_serve(commands: _Commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the local Trubrics-compatible ingestion server",
        **_help(
            """
            Run a Trubrics-compatible ingestion server until Ctrl-C or SIGTERM. It answers
            /publish_events and /publish_llm_events as the API does, at the root and under
            /api/ingestion, keeps what it accepts, and lists it (`trubrics-otel events`).
            """,
            """
            trubrics-otel serve                                   on :8765, kept in trubrics-local.sqlite3
            trubrics-otel serve --port 0 --database :memory:      any free port, nothing kept
            trubrics-otel serve --api-key key-1 --fail-rate 0.2   one key; a fifth of the requests get 503
            """,
            "exit codes:\n  0   stopped by Ctrl-C or SIGTERM\n  1   a bad argument, or the port is taken",
        ),
    )
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
    serve.add_argument(
        "--quiet", "-q", action="store_true", help="write no line per request (the summary at the end stays)"
    )
    serve.add_argument(
        "--key-for-reads",
        action="store_true",
        help="with --api-key, ask the key to read too, even on loopback (beyond loopback it always does)",
    )
    serve.add_argument(
        "--max-items",
        type=int,
        default=MAX_ITEMS,
        help=f"items kept per kind; beyond, the oldest go first and are counted (default {MAX_ITEMS:,})",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=MAX_CONNECTIONS,
        help=f"connections served at once; one more is answered 503 at once (default {MAX_CONNECTIONS})",
    )
    serve.set_defaults(run=serve_command)


def _add_fake_llm(commands: _Commands) -> None:
    fake = commands.add_parser(
        "fake-llm",
        help="run fake OpenAI, Anthropic and Gemini endpoints, to try instrumentations without an account",
        **_help(
            """
            Run deterministic stand-ins for the OpenAI, Anthropic and Gemini APIs on 127.0.0.1 until
            Ctrl-C or SIGTERM, and print, for each, its base URL and the environment lines its client
            library reads. Every answer is "Echo: <your message>"; no key is checked.
            """,
            """
            trubrics-otel fake-llm                        openai :8766, anthropic :8767, gemini :8768
            trubrics-otel fake-llm --provider openai      only OpenAI's, on :8766
            trubrics-otel fake-llm --port 0 --delay 0.2   free ports; every answer takes 0.2 s
            """,
            "exit codes:\n  0   stopped by Ctrl-C or SIGTERM\n  1   a bad argument, or a port is taken",
        ),
    )
    fake.add_argument(
        "--provider",
        choices=("openai", "anthropic", "gemini", "all"),
        default="all",
        help="which API to fake (default all)",
    )
    fake.add_argument(
        "--port",
        type=int,
        default=8766,
        metavar="N",
        help="the first endpoint's port, the next ones follow (default 8766; 0 picks free ones)",
    )
    fake.add_argument(
        "--delay", type=float, default=0.0, metavar="SECONDS", help="wait this long before every answer"
    )
    fake.set_defaults(run=fake_llm_command)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, not {text!r}")
    return int(text)
