"""The anthropic SDK alone, against the fake endpoint: the spans it makes of every call itself.

anthropic 2.x traces each API call (scope `com.anthropic.sdk.python`, span `anthropic.messages.create`) as
soon as a tracer provider exists; no other instrumentation is installed. Its spans carry no content by
default; `ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content` turns content on, as the SDK documents.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE"] = "content"

from _anthropic import record
from _capture import Recorder

STACK = "anthropic-sdk"


def main() -> None:
    record(Recorder(STACK))


if __name__ == "__main__":
    main()
