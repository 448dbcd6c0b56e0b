"""google-genai traced by OpenInference's Google GenAI instrumentation, against the fake endpoint.

OpenInference records content by default (`OPENINFERENCE_HIDE_INPUTS` / `_OUTPUTS` unset).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _capture import Recorder
from _gemini import record
from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor

STACK = "gemini-openinference"


def main() -> None:
    recorder = Recorder(STACK)
    GoogleGenAIInstrumentor().instrument(tracer_provider=recorder.tracer_provider)
    record(recorder)


if __name__ == "__main__":
    main()
