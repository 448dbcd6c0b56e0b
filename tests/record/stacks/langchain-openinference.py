"""LangChain's `ChatOpenAI` traced by OpenInference's LangChain instrumentation, against the fake endpoint.

OpenInference records message content by default (`OPENINFERENCE_HIDE_*` unset).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _capture import Recorder
from _langchain import record
from openinference.instrumentation.langchain import LangChainInstrumentor

STACK = "langchain-openinference"


def main() -> None:
    recorder = Recorder(STACK)
    LangChainInstrumentor().instrument(tracer_provider=recorder.tracer_provider)
    record(recorder)


if __name__ == "__main__":
    main()
