"""Anthropic calls traced by OpenInference's Anthropic instrumentation and sent by `configure()`.

The anthropic client (2.x) also traces every call itself; the two spans of one call make one LLM event.
Run it with `python examples/anthropic_chat.py` (no ANTHROPIC_API_KEY: a fake model, see _local.py).
"""

import anthropic
from openinference.instrumentation.anthropic import AnthropicInstrumentor
from opentelemetry import trace

import trubrics_otel

import _local

with _local.trubrics() as server, _local.fake_anthropic():
    trubrics_otel.configure(service_name="anthropic-chat")
    AnthropicInstrumentor().instrument()  # records prompts and answers unless OPENINFERENCE_HIDE_* say not
    client = anthropic.Anthropic()  # ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL from the environment

    with trubrics_otel.context(user_id="ada", thread_id="thread-ada-2"):
        for question in ("Write a haiku about logs.", "Now one about traces."):
            reply = client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=200,
                system="You are a terse poet.",
                messages=[{"role": "user", "content": question}],
            )
            print(f"ada: {question}\n  -> {reply.content[0].text}")

    trace.get_tracer_provider().force_flush()  # send what is queued before reading the server
    _local.show(server)
