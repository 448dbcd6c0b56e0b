"""google-genai traced by OpenTelemetry's Google GenAI instrumentation, against the fake endpoint.

Content capture is on as the instrumentation documents it:
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY` puts the messages on the span
(`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`), no log records.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"

from _capture import Recorder
from _gemini import record
from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

STACK = "gemini-genai"


def main() -> None:
    recorder = Recorder(STACK)
    GoogleGenAiSdkInstrumentor().instrument(
        tracer_provider=recorder.tracer_provider, logger_provider=recorder.logger_provider
    )
    record(recorder)


if __name__ == "__main__":
    main()
