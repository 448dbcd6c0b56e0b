"""The anthropic SDK traced by OpenLLMetry's Anthropic instrumentation, against the fake endpoint.

Content capture is on as OpenLLMetry documents it, `TRACELOOP_TRACE_CONTENT=true`, with the default
`use_legacy_attributes=True`: prompts and completions as `gen_ai.prompt.*` / `gen_ai.completion.*` span
attributes. The SDK's own tracing stays on with its defaults (no content), as it is for users, so every
call also has the SDK's `anthropic.messages.create` span.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["TRACELOOP_TRACE_CONTENT"] = "true"

from _anthropic import record
from _capture import Recorder
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

STACK = "anthropic-openllmetry"


def main() -> None:
    recorder = Recorder(STACK)
    AnthropicInstrumentor().instrument(tracer_provider=recorder.tracer_provider)
    record(recorder)


if __name__ == "__main__":
    main()
