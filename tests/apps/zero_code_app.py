"""An app run under `opentelemetry-instrument` that also calls `trubrics_otel.configure()` itself.

It makes 120 model-call spans by hand with GenAI attributes (as any instrumentation would), and two real
calls through `openai` instrumented by opentelemetry-instrumentation-openai-v2, against the fake model
whose base URL is in FAKE_OPENAI_BASE_URL.
"""

import json
import os

import openai
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

import trubrics_otel

# an app that also sets itself up in code must not send each span twice
trubrics_otel.configure()
tracer = trace.get_tracer("zero-code-app")
messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "ping"}]}])
answer = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "pong"}]}])

with trubrics_otel.context(user_id="zero-user", thread_id="zero-thread"):
    for index in range(120):
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "hand-model",
            "gen_ai.input.messages": messages,
            "gen_ai.output.messages": answer,
            "call.index": index,
        }
        with tracer.start_as_current_span("chat hand-model", attributes=attributes):
            pass

    # every OpenAI instrumentation registers as "openai", so the environment disables them all and the
    # app picks one itself
    OpenAIInstrumentor().instrument()
    client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_BASE_URL"], api_key="fake", max_retries=0)
    for prompt in ("First question", "Second question"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
