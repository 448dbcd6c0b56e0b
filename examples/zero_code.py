"""Runs zero_code_app.py under `opentelemetry-instrument`, configured by environment variables alone.

The variables are the README's "Zero-code" section's. In the repository's dev environment three OpenAI
instrumentations are installed and all load; each call is still sent once, and the exporter says so.
"""

import os
import subprocess
import sys
from pathlib import Path

import _local

ZERO_CODE = {
    "OTEL_TRACES_EXPORTER": "trubrics",
    "OTEL_LOGS_EXPORTER": "trubrics",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_SERVICE_NAME": "zero-code-chat",
    # openai-v2 records no prompt or answer unless asked to; SPAN_ONLY puts them on the call's span
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
}
INSTRUMENT = Path(sys.executable).with_name("opentelemetry-instrument")
APP = Path(__file__).with_name("zero_code_app.py")

with _local.trubrics() as server, _local.fake_openai():
    environment = {**os.environ, **ZERO_CODE}  # TRUBRICS_* and OPENAI_* come from _local or your shell
    subprocess.run([INSTRUMENT, sys.executable, APP], env=environment, check=True)
    _local.show(server)  # the app's exporter sent everything when it exited
