"""`trubrics-otel demo`: a short chat, traced, exported, and shown as it arrived at the server.

It starts the local server (or uses `TRUBRICS_HOST` when set) and a fake OpenAI-compatible model on
127.0.0.1, then runs two users' conversations. With `openai` and OpenTelemetry's
`opentelemetry-instrumentation-openai-v2` installed (`pip install 'trubrics-otel[demo]'`) the calls go
through the real client and instrumentation; otherwise each call is a plain HTTP request wrapped in a span
that carries the OpenTelemetry GenAI attributes, as an instrumentation would set them.

With `keep_serving` the local server stays up afterwards, on port 8765 unless told otherwise, for
`trubrics-otel events` and the user's own applications. The demo tests its host with the delivery check
`trubrics-otel check` uses (`trubrics_otel._check`); it never imports the command line.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import trubrics_otel
from trubrics_otel import DeliveryStats, _config
from trubrics_otel._check import EXIT_DELIVERED, EXIT_UNREACHABLE, check
from trubrics_otel._config import ConfigurationError
from trubrics_otel._delivery.join import ContentJoin
from trubrics_otel._setup import configure
from trubrics_otel._table import print_table
from trubrics_otel.demo._fakes import until_stopped
from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.server import DEFAULT_PORT, LocalServer

__all__ = ["CONVERSATIONS", "run_demo"]

CONVERSATIONS = (
    ("ada", "thread-ada-1", ("What is OpenTelemetry?", "And how does Trubrics use it?")),
    ("grace", "thread-grace-1", ("Summarise our sign-up funnel", "Which step loses most users?")),
)
"""(user, thread, prompts): the chats the demo runs."""

ANSWERS = {
    "What is OpenTelemetry?": "An open standard for traces, metrics and logs.",
    "And how does Trubrics use it?": "It turns your LLM spans into prompts and generations.",
    "Summarise our sign-up funnel": "Visit, sign-up form, email check, first chat.",
    "Which step loses most users?": "The email check: a third of sign-ups stop there.",
}
"""What the fake model answers, so the table reads like a real chat."""

MODEL = "gpt-4o-mini"

Chat = Callable[[list[dict[str, str]]], str]


@contextlib.contextmanager
def _ingestion_host(
    keep_serving: bool, port: int | None
) -> Iterator[tuple[str, str | None, LocalServer | None]]:
    """Yield (host, api key, server): TRUBRICS_HOST if set, else a fresh local server.

    The server of a demo that keeps serving listens on `port` (8765 unless given) and accepts any key, so
    that the user's own applications can send to it afterwards; otherwise it takes a free port and only
    the demo's key.
    """
    if _config.HOST.is_set():
        if keep_serving:
            raise ConfigurationError(
                "--keep-serving keeps the demo's local server up, but TRUBRICS_HOST is set, so the demo "
                "sends there instead: unset TRUBRICS_HOST, or leave out --keep-serving."
            )
        yield _config.HOST.resolve(), None, None
        return
    key = f"demo-{secrets.token_hex(8)}"
    if keep_serving:
        server = LocalServer(port=DEFAULT_PORT if port is None else port)
    else:
        server = LocalServer(port=port or 0, api_keys={key})
    with server:
        yield server.url, key, server


def run_demo(
    out: TextIO,
    *,
    keep_serving: bool = False,
    port: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the demo, writing what it does to `out`; return the process exit code.

    Args:
        out: where to write, a line at a time.
        keep_serving: leave the local server running once the demo is done, until Ctrl-C, SIGTERM or
            `stop`, for `trubrics-otel events` and the user's own applications.
        port: the local server's port; by default a free one, or 8765 when it keeps serving.
        stop: ends the wait of a server kept serving, when set from another thread.

    Raises:
        ConfigurationError: `keep_serving` while TRUBRICS_HOST is set, or a malformed TRUBRICS_* value.
        OSError: the local server's port is taken (a `PortInUseError`).
    """
    with (
        _ingestion_host(keep_serving, port) as (host, key, server),
        FakeOpenAI(delay=0.02, reply=lambda text: ANSWERS.get(text, f"Echo: {text}")) as model,
    ):
        say = functools.partial(print, file=out, flush=True)
        say(f"Trubrics host: {'local server at ' if server else ''}{host}")
        outcome = check(host, key, progress=None if server else say)  # a remote host may take a while
        say(outcome.message)
        if outcome.code != EXIT_DELIVERED:
            return outcome.code
        stats = _chat(key, host, model, say)
        if server is not None:
            say()
            _print_llm_events(server, out)
        code = EXIT_DELIVERED if stats.lost == 0 else EXIT_UNREACHABLE
        say()
        if server is None:
            _say_where_to_look(host, say)
        elif keep_serving:
            _keep_serving(server, say, stop)
        else:
            say("Next: `trubrics-otel demo --keep-serving` keeps the local server up, to look around in its")
            say(
                "page in a browser or with `trubrics-otel events`; `trubrics-otel fake-llm` runs fake model "
                "endpoints for your own app."
            )
        return code


def _chat(key: str | None, host: str, model: FakeOpenAI, say: Callable[..., None]) -> DeliveryStats:
    """Run both conversations through a traced chat; return what the exporter delivered."""
    provider = TracerProvider(resource=Resource.create({"service.name": "trubrics-otel-demo"}))
    # its own join: the twins remembered from another run in this process are not this run's calls
    exporter = configure(
        key, host, tracer_provider=provider, join=ContentJoin(_config.CONTENT_WAIT.resolve())
    )
    try:
        with _chat_function(provider, model) as (chat, how):
            say(f"Chatting with a fake model at {model.base_url} {how}.")
            for user, thread, prompts in CONVERSATIONS:
                history: list[dict[str, str]] = [{"role": "system", "content": "You are a helpful analyst."}]
                with trubrics_otel.context(user_id=user, thread_id=thread, properties={"demo": True}):
                    for prompt in prompts:
                        history.append({"role": "user", "content": prompt})
                        history.append({"role": "assistant", "content": chat(history)})
        provider.force_flush()
    finally:
        provider.shutdown()
    stats = exporter.client.stats()
    count = "1 request" if stats.requests == 1 else f"{stats.requests} requests"
    say(f"Delivered {stats.sent} LLM events in {count}; lost {stats.lost}.")
    return stats


def _keep_serving(server: LocalServer, say: Callable[..., None], stop: threading.Event | None) -> None:
    events = (
        "trubrics-otel events"
        if server.port == DEFAULT_PORT
        else f"trubrics-otel events --server {server.url}"
    )
    say(
        f"The local server stays up at {server.url}; it keeps what arrives in memory and accepts any API key."
    )
    say(f"  see what arrived:  {server.url}/ in a browser, or {events}")
    say(f"  send to it:        TRUBRICS_HOST={server.url} TRUBRICS_API_KEY=any python app.py")
    with until_stopped(stop):
        say("Press Ctrl-C to stop.")
    say("Stopped.")


def _say_where_to_look(host: str, say: Callable[..., None]) -> None:
    if host == _config.DEFAULT_HOST:
        say("Next: see the LLM events in your Trubrics project.")
    else:
        say(f"Next: `trubrics-otel events` lists what {host} received, if it is a `trubrics-otel serve`.")


def _print_llm_events(server: LocalServer, out: TextIO) -> None:
    rows = [
        [
            event["user_id"],
            str(event.get("properties", {}).get("$thread_id", "")),
            event["assistant_id"],
            event["prompt"],
            event["generation"],
            f"{event.get('latency') or 0:.3f} s",
        ]
        for event in server.llm_events()
    ]
    print_table(rows, ["user", "thread", "assistant", "prompt", "generation", "latency"], out, width=56)


@contextlib.contextmanager
def _chat_function(provider: TracerProvider, model: FakeOpenAI) -> Iterator[tuple[Chat, str]]:
    """Yield a chat call traced by the real instrumentation when installed, else by hand."""
    try:
        import openai  # noqa: PLC0415 - optional: the [demo] extra
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: PLC0415
    except ImportError:
        yield _traced_by_hand(provider, model), "(spans with OpenTelemetry GenAI attributes)"
        return
    instrumentor = OpenAIInstrumentor()  # type: ignore[no-untyped-call]
    client = openai.OpenAI(base_url=model.base_url, api_key="demo")

    def chat(messages: list[dict[str, str]]) -> str:
        answer = client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
        return answer.choices[0].message.content or ""

    with _content_on_spans():  # openai-v2 reads the setting on every call
        instrumentor.instrument(tracer_provider=provider)
        try:
            yield chat, "through openai and opentelemetry-instrumentation-openai-v2"
        finally:
            instrumentor.uninstrument()


@contextlib.contextmanager
def _content_on_spans() -> Iterator[None]:
    """Have openai-v2 put the messages on its spans during the demo, unless the user chose otherwise."""
    name = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    chosen = os.environ.get(name)
    os.environ[name] = chosen or "SPAN_ONLY"
    try:
        yield
    finally:
        if chosen is None:
            del os.environ[name]


def _traced_by_hand(provider: TracerProvider, model: FakeOpenAI) -> Chat:
    tracer = provider.get_tracer("trubrics_otel.demo")
    session = requests.Session()

    def chat(messages: list[dict[str, str]]) -> str:
        with tracer.start_as_current_span(f"chat {MODEL}") as span:
            body = session.post(
                f"{model.base_url}/chat/completions", json={"model": MODEL, "messages": messages}, timeout=10
            ).json()
            answer = body["choices"][0]["message"]["content"]
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": MODEL,
                    "gen_ai.response.model": body["model"],
                    "gen_ai.usage.input_tokens": body["usage"]["prompt_tokens"],
                    "gen_ai.usage.output_tokens": body["usage"]["completion_tokens"],
                    "gen_ai.input.messages": json.dumps([_parts(m) for m in messages]),
                    "gen_ai.output.messages": json.dumps([_parts({"role": "assistant", "content": answer})]),
                }
            )
            return str(answer)

    return chat


def _parts(message: dict[str, str]) -> dict[str, object]:
    return {"role": message["role"], "parts": [{"type": "text", "content": message["content"]}]}
