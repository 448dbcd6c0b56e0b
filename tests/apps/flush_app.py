"""An app run under `opentelemetry-instrument` that flushes its provider and reads what the server got.

Its one model-call span carries no content, so the exporter holds it for TRUBRICS_CONTENT_WAIT seconds;
the provider's force_flush() must send it at once. Prints the number of LLM events stored right after.
"""

import os

import requests
from opentelemetry import trace

tracer = trace.get_tracer("flush-app")
with tracer.start_as_current_span(
    "chat", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
):
    pass

trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
stored = requests.get(f"{os.environ['TRUBRICS_HOST']}/llm_events", timeout=5).json()
print(len(stored))
