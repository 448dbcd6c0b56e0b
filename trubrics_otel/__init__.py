"""Send AI and product analytics to Trubrics from OpenTelemetry and Python logging.

The public names are re-exported here (`__all__`); the modules behind them are private. The data's way
through them, each stage knowing only the one after it:

1. configuration: `_config` (every environment variable, and `Settings`, resolved once per front door;
   `_parsers` reads the values);
2. the front doors, thin adapters that turn what the application produces into plain data:
   `_exporters` (`TrubricsSpanExporter`), `_log_exporter` (`TrubricsLogExporter`), `_handler`
   (`TrubricsHandler`) and `_structlog` (`TrubricsStructlogProcessor`), which share `_log_pipeline`;
   `_log_doors` sends each log record through one door only; `_context` stamps the user and thread on
   spans, and `_setup` (`configure()`) installs it all;
3. the delivery core, `_delivery`: what the doors of one configuration share, the content join and
   what outlives a batch;
4. mapping, `mapping`: pure functions from spans and log records to records, one recogniser per
   attribute convention;
5. the records, `_events` (`Event`, `LLMEvent`), made JSON-safe by `_json_safe` and checked against the
   API's rules by `_validation`;
6. batching, `_batching`: the logging doors' bounded queue and delivery thread (`_exit_flush` at exit);
7. transport, `_transport` (`TrubricsClient`): `_sender` sends and retries, `_answers` says what each
   answer means, `_send_batches` overlaps preparing and sending;
8. Trubrics, or the local server (`trubrics_otel.server`).

Beside the way: `_stats` counts every record (the ledger and its drop reasons) and `_account` gives the
account at exit; `_reporting` makes the package's warnings reach the user; `_threads` and `_fork` hold
the facts about threads and forks every stage respects. The command line (`trubrics_otel.cli`) and the
demo (`trubrics_otel.demo`) share `_check` (the delivery test) and `_table`.
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
