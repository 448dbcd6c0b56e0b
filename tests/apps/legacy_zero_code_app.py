"""openai-v2 2.3b0 on its legacy path, zero-code: run under `opentelemetry-instrument`, no OpenTelemetry here.

The environment names the exporters (OTEL_TRACES_EXPORTER=trubrics, OTEL_LOGS_EXPORTER=trubrics), turns
content capture on, and says where the model is (FAKE_OPENAI_BASE_URL).
"""

from legacy_calls import make_calls

make_calls()
