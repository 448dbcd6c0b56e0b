"""What the examples share: a Trubrics host and model endpoints that need no account and no network.

Each example reads its settings from the environment, as an application would in production. These
helpers fill that environment in when it is empty:

- `trubrics()`: unless `TRUBRICS_HOST` is set, starts the local Trubrics-compatible server that ships with
  trubrics-otel on 127.0.0.1 and sets `TRUBRICS_HOST` and `TRUBRICS_API_KEY` to reach it.
- `fake_openai()` / `fake_anthropic()`: unless `OPENAI_API_KEY` / `ANTHROPIC_API_KEY` is set, starts a
  fake model on 127.0.0.1 (it answers "Echo: <your message>") and sets the client's base URL and key.
- `show()`: prints what the local server stored, or where the records went.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from trubrics_otel.demo.fake_anthropic import FakeAnthropic
from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.server import LocalServer


@contextlib.contextmanager
def trubrics() -> Iterator[LocalServer | None]:
    """Yield the local server that TRUBRICS_HOST now points at, or None when TRUBRICS_HOST was set."""
    if os.environ.get("TRUBRICS_HOST"):
        yield None
        return
    with LocalServer() as server, _environment(TRUBRICS_HOST=server.url, TRUBRICS_API_KEY="local-key"):
        yield server


@contextlib.contextmanager
def fake_openai() -> Iterator[None]:
    """Point the openai client at a fake OpenAI endpoint, unless OPENAI_API_KEY is set."""
    if os.environ.get("OPENAI_API_KEY"):
        yield
        return
    with FakeOpenAI(delay=0.02) as model, _environment(OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="fake"):
        yield


@contextlib.contextmanager
def fake_anthropic() -> Iterator[None]:
    """Point the anthropic client at a fake Anthropic endpoint, unless ANTHROPIC_API_KEY is set."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        yield
        return
    with (
        FakeAnthropic(delay=0.02) as model,
        _environment(ANTHROPIC_BASE_URL=model.base_url, ANTHROPIC_API_KEY="fake"),
    ):
        yield


def show(server: LocalServer | None) -> None:
    """Print the LLM events and events the local server stored, or where they were sent."""
    if server is None:
        print(f"Sent to {os.environ['TRUBRICS_HOST']}.")
        return
    llm_events, events = server.llm_events(), server.events()
    print(f"The local server stored {_count(llm_events, 'LLM event')} and {_count(events, 'event')}.")
    for item in llm_events:
        latency = item.get("latency") or 0
        print(f"- LLM event of {_who(item)}, answered by {item['assistant_id']} in {latency:.3f} s")
        print(f"    prompt:     {item['prompt']}")
        print(f"    generation: {item['generation']}")
    for item in events:
        properties = {k: v for k, v in item.get("properties", {}).items() if not k.startswith("$")}
        print(f"- event {item['event']!r} of {_who(item)}, properties {json.dumps(properties)}")


def _count(items: list[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _who(item: dict[str, Any]) -> str:
    thread = item.get("properties", {}).get("$thread_id")
    return f"user {item['user_id']}" + (f" in thread {thread}" if thread else "")


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
