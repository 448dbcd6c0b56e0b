"""The anthropic SDK traced by OpenInference's Anthropic instrumentation, against the fake endpoint.

OpenInference records content by default (`OPENINFERENCE_HIDE_INPUTS` / `_OUTPUTS` unset). The SDK's own
tracing stays on with its defaults (no content), as it is for users, so every call also has the SDK's
`anthropic.messages.create` span.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _anthropic import record
from _capture import Recorder
from openinference.instrumentation.anthropic import AnthropicInstrumentor

STACK = "anthropic-openinference"


def main() -> None:
    recorder = Recorder(STACK)
    AnthropicInstrumentor().instrument(tracer_provider=recorder.tracer_provider)
    record(recorder)


if __name__ == "__main__":
    main()
