"""Send AI and product analytics to Trubrics from OpenTelemetry and Python logging.

The data's way through the package: configuration (`_config`) → mapping (`mapping`: spans and log
records become `Event` and `LLMEvent`) → batching (the exporters' processors, the logging handler's
queue) → transport (`TrubricsClient`) → Trubrics or the local server (`trubrics_otel.server`).
"""

from trubrics_otel._answers import SendResult
from trubrics_otel._config import ConfigurationError
from trubrics_otel._context import TrubricsContextSpanProcessor, context
from trubrics_otel._events import Event, LLMEvent, format_timestamp
from trubrics_otel._exporters import TrubricsLogExporter, TrubricsSpanExporter
from trubrics_otel._handler import TrubricsHandler
from trubrics_otel._json_safe import json_safe
from trubrics_otel._setup import configure
from trubrics_otel._stats import DeliveryStats
from trubrics_otel._structlog import TrubricsStructlogProcessor
from trubrics_otel._transport import TrubricsClient
from trubrics_otel._validation import validate_payload
from trubrics_otel._version import __version__
from trubrics_otel.mapping import MappingOptions, span_to_records

__all__ = [
    "ConfigurationError",
    "DeliveryStats",
    "Event",
    "LLMEvent",
    "MappingOptions",
    "SendResult",
    "TrubricsClient",
    "TrubricsContextSpanProcessor",
    "TrubricsHandler",
    "TrubricsLogExporter",
    "TrubricsSpanExporter",
    "TrubricsStructlogProcessor",
    "__version__",
    "configure",
    "context",
    "format_timestamp",
    "json_safe",
    "span_to_records",
    "validate_payload",
]
