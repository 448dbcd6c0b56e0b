"""An app run under `opentelemetry-instrument` that adds a `TrubricsHandler` beside OpenTelemetry's own.

The environment sets OTEL_LOGS_EXPORTER=trubrics and OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true,
so the SDK's logging handler on the root logger turns every record into a log record for
`TrubricsLogExporter`. The app's handler takes WARNING and above; LOG_DOORS_HANDLER_FIRST=1 puts it before
OpenTelemetry's handler, otherwise after it.
"""

import logging
import os

from trubrics_otel import TrubricsHandler

root = logging.getLogger()
if not any(type(handler).__module__.startswith("opentelemetry.") for handler in root.handlers):
    raise SystemExit("OpenTelemetry's logging handler is not on the root logger")
root.setLevel(logging.INFO)
handler = TrubricsHandler(level=logging.WARNING)
if os.environ.get("LOG_DOORS_HANDLER_FIRST") == "1":
    root.handlers.insert(0, handler)
else:
    root.addHandler(handler)

log = logging.getLogger("shop")
for index in range(5):
    log.warning("Checkout", extra={"user_id": f"buyer-{index}"})  # the handler's
    log.info("Browse", extra={"user_id": f"visitor-{index}"})  # below its level: the log exporter's
log.warning("chat", extra={"user_id": "asker", "prompt": "Hi", "generation": "Hello", "assistant_id": "bot"})
log.info("An ordinary line, nothing for Trubrics")
