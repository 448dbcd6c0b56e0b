"""LangChain's `ChatOpenAI` traced by OpenLLMetry's LangChain and OpenAI instrumentations, side by side.

Content capture is turned on as OpenLLMetry documents it, `TRACELOOP_TRACE_CONTENT=true` (0.62 defaults
to it too), with the default `use_attributes=True`: messages as `gen_ai.input.messages` and
`gen_ai.output.messages` span attributes, no log records.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _capture import Recorder
from _langchain import record
from opentelemetry.instrumentation.langchain import LangchainInstrumentor
from opentelemetry.instrumentation.openai import OpenAIInstrumentor

STACK = "langchain-openllmetry+openai"


def main() -> None:
    recorder = Recorder(STACK)
    LangchainInstrumentor().instrument(tracer_provider=recorder.tracer_provider)
    OpenAIInstrumentor().instrument(tracer_provider=recorder.tracer_provider)
    record(recorder)


if __name__ == "__main__":
    main()
