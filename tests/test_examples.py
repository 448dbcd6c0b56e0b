"""Every example in examples/ runs as a user runs it, with no account and no network.

Each runs as `python examples/<name>.py` in a fresh interpreter whose environment names no Trubrics host,
no OpenTelemetry setting and no model key: it must start the local server (and a fake model), and print
what the server stored. Run again with TRUBRICS_HOST set, it must send the same records to that host.
Either way the stored prompts, generations and events must be the real ones, never placeholders.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from trubrics_otel.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SETTINGS = (
    "TRUBRICS_",
    "OTEL_",
    "OPENAI_",
    "ANTHROPIC_",
    "TRACELOOP_",
    "OPENINFERENCE_",
    "LANGSMITH_",
    "LANGCHAIN_",
)
PLACEHOLDER = "[content not recorded]"

LLMCall = tuple[str, str, str, str, str]
"""(user, thread, assistant, prompt, generation) of one stored LLM event."""
ProductEvent = tuple[str, str, dict[str, Any]]
"""(user, event, properties without the `$` ones) of one stored event."""


def echo(user: str, thread: str, model: str, *prompts: str) -> list[LLMCall]:
    """The LLM events of calls to a fake model, which answers "Echo: <prompt>"."""
    return [(user, thread, model, prompt, f"Echo: {prompt}") for prompt in prompts]


GPT = "gpt-4o-mini-2024-08-06"
CHATS = [
    *echo("ada", "thread-ada-1", GPT, "What is OpenTelemetry?", "How does Trubrics use it?"),
    *echo("grace", "thread-grace-1", GPT, "Which sign-up step loses most users?"),
]


@dataclass(frozen=True)
class Example:
    """An example script and the records it must store."""

    name: str
    llm_events: list[LLMCall] = field(default_factory=list)
    events: list[ProductEvent] = field(default_factory=list)


CASES = [
    Example("openai_chat", CHATS),
    Example("zero_code", CHATS),
    Example(
        "anthropic_chat",
        echo(
            "ada",
            "thread-ada-2",
            "claude-haiku-4-5-20251001",
            "Write a haiku about logs.",
            "Now one about traces.",
        ),
    ),
    Example(
        "langchain_chat",
        echo(
            "grace",
            "thread-grace-2",
            GPT,
            "Explain OpenTelemetry baggage to a new colleague.",
            "Explain a span processor to a new colleague.",
        ),
    ),
    Example(
        "logging_events",
        [
            (
                "user-42",
                "support-1",
                "support-bot",
                "Where is my order?",
                "It left the warehouse this morning.",
            )
        ],
        [("user-42", "Sign up", {"plan": "pro"})],
    ),
    Example(
        "structlog_events",
        events=[
            ("user-7", "Add to cart", {"sku": "tea-42", "quantity": 2, "level": "info"}),
            ("user-7", "Checkout", {"total": 12.5, "currency": "EUR", "level": "info"}),
        ],
    ),
    Example(
        "wsgi_app",
        [
            *echo("ada", "web-ada-1", GPT, "What can I ask you?"),
            *echo("grace", "web-grace-1", GPT, "Summarise my last order."),
            *echo("ada", "web-ada-1", GPT, "Thanks!"),
        ],
    ),
    Example(
        "send_events",
        [("user-42", "jokes-1", "gpt-4o", "Tell me a joke about logs", "I would, but it lacks context.")],
        [("user-42", "Sign up", {"plan": "pro"})],
    ),
]


def run_example(name: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run `python examples/<name>.py` from the repository root, with none of the user's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS)}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        cwd=ROOT,
        env={**env, **settings},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def listing(example: Example) -> str:
    """What `_local.show()` prints for the example's records, latencies written as `<t>`."""
    counts = f"{plural(example.llm_events, 'LLM event')} and {plural(example.events, 'event')}"
    lines = [f"The local server stored {counts}."]
    for user, thread, assistant, prompt, generation in example.llm_events:
        lines.append(f"- LLM event of user {user} in thread {thread}, answered by {assistant} in <t> s")
        lines.append(f"    prompt:     {prompt}")
        lines.append(f"    generation: {generation}")
    for user, event, properties in example.events:
        lines.append(f"- event {event!r} of user {user}, properties {json.dumps(properties)}")
    return "\n".join(lines)


def plural(items: list[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def stored(server: LocalServer) -> tuple[list[LLMCall], list[ProductEvent]]:
    llm_events = [
        (e["user_id"], e["properties"].get("$thread_id"), e["assistant_id"], e["prompt"], e["generation"])
        for e in server.llm_events()
    ]
    events = [
        (
            e["user_id"],
            e["event"],
            {k: v for k, v in e.get("properties", {}).items() if not k.startswith("$")},
        )
        for e in server.events()
    ]
    return llm_events, events


@pytest.mark.parametrize("example", CASES, ids=lambda example: example.name)
def test_an_example_run_alone_prints_the_real_records_the_local_server_stored(example: Example) -> None:
    """With nothing set, the example starts the local server and prints the real records it stored."""
    done = run_example(example.name)

    assert done.returncode == 0, done.stderr
    printed = re.sub(r" in \d+\.\d{3} s$", " in <t> s", done.stdout, flags=re.MULTILINE)
    assert listing(example) in printed
    assert PLACEHOLDER not in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("example", CASES, ids=lambda example: example.name)
def test_an_example_sends_its_real_records_to_the_trubrics_host_set(
    example: Example, server: LocalServer, api_key: str
) -> None:
    """With TRUBRICS_HOST set, the example starts no server of its own and sends the same records there."""
    done = run_example(example.name, TRUBRICS_HOST=server.url, TRUBRICS_API_KEY=api_key)

    assert done.returncode == 0, done.stderr
    assert stored(server) == (example.llm_events, example.events)
    assert f"Sent to {server.url}." in done.stdout
    assert "The local server stored" not in done.stdout


def test_every_example_is_run_here_and_linked_from_the_readme() -> None:
    """A new example cannot be left out of these tests or of the README's list."""
    scripts = {path.stem for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")}
    readme = (ROOT / "README.md").read_text()

    assert scripts - {"zero_code_app"} == {example.name for example in CASES}
    assert [name for name in sorted(scripts) if f"](examples/{name}.py)" not in readme] == []
