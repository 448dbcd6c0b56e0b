"""openai-v2 2.3b0 on its legacy path, set up in code: content only in log records, joined to the spans.

Run by tests/test_legacy_content_logs.py with the legacy environment's Python. A span exporter and a log
exporter share one content join; TRUBRICS_API_KEY and TRUBRICS_HOST say where to send, FAKE_OPENAI_BASE_URL
where the model is, LEGACY_APP_SHUTDOWN which provider is shut down first (`logs-first`, the default, or
`spans-first`). Prints what both exporters' transports counted, as JSON, once everything is shut down.
"""

import json
import os

from legacy_calls import make_calls
from opentelemetry import _logs, trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from trubrics_otel import TrubricsSpanExporter
from trubrics_otel._delivery import ContentJoin
from trubrics_otel._exporters import TrubricsLogExporter

resource = Resource.create({"service.name": "legacy-app"})
tracer_provider = TracerProvider(resource=resource)
trace.set_tracer_provider(tracer_provider)
logger_provider = LoggerProvider(resource=resource)
_logs.set_logger_provider(logger_provider)

join = ContentJoin(window=30)
spans = TrubricsSpanExporter(join=join)
logs = TrubricsLogExporter(join=join)
tracer_provider.add_span_processor(BatchSpanProcessor(spans, max_export_batch_size=100))
logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs))

OpenAIInstrumentor().instrument()
make_calls()

# logs first: the span exporter releases the calls it still holds when it shuts down
providers = [logger_provider, tracer_provider]
if os.environ.get("LEGACY_APP_SHUTDOWN") == "spans-first":
    providers.reverse()
for provider in providers:
    provider.shutdown()
counts = {}
for name, exporter in (("spans", spans), ("logs", logs)):
    stats = exporter.client.stats()
    counts[name] = {"sent": stats.sent, "incomplete": stats.incomplete, "lost": stats.lost}
print(json.dumps(counts))
