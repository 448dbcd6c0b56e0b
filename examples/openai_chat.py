"""OpenAI calls traced by OpenTelemetry's openai-v2 instrumentation and sent to Trubrics by `configure()`.

Run it with `python examples/openai_chat.py`: with no TRUBRICS_HOST and no OPENAI_API_KEY it uses the local
server and a fake model (see _local.py). Needs `pip install 'trubrics-otel[demo]'`.
"""

import os

import openai
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

import trubrics_otel

import _local

# openai-v2 records no prompt or answer unless asked to; SPAN_ONLY puts them on the call's span
os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")

CHATS = [
    ("ada", "thread-ada-1", "What is OpenTelemetry?"),
    ("ada", "thread-ada-1", "How does Trubrics use it?"),
    ("grace", "thread-grace-1", "Which sign-up step loses most users?"),
]

with _local.trubrics() as server, _local.fake_openai():
    trubrics_otel.configure(service_name="openai-chat")  # TRUBRICS_API_KEY and TRUBRICS_HOST
    OpenAIInstrumentor().instrument()
    client = openai.OpenAI()

    for user, thread, question in CHATS:
        with trubrics_otel.context(user_id=user, thread_id=thread):  # every span inside names them
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
            )
        print(f"{user}: {question}\n  -> {reply.choices[0].message.content}")

    trace.get_tracer_provider().force_flush()  # send what is queued before reading the server
    _local.show(server)
