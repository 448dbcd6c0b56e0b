"""Events from structlog through `TrubricsStructlogProcessor`, with the user bound once per request.

Run it with `python examples/structlog_events.py`. Needs structlog (`pip install 'trubrics-otel[structlog]'`).
"""

import structlog

from trubrics_otel.integrations.structlog import TrubricsStructlogProcessor

import _local

with _local.trubrics() as server:
    trubrics = TrubricsStructlogProcessor()  # TRUBRICS_API_KEY and TRUBRICS_HOST from the environment
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            trubrics,
            structlog.processors.JSONRenderer(),
        ]
    )
    log = structlog.get_logger()

    structlog.contextvars.bind_contextvars(user_id="user-7")  # e.g. in a request middleware
    log.info("Add to cart", sku="tea-42", quantity=2)
    log.info("Checkout", total=12.5, currency="EUR")
    structlog.contextvars.clear_contextvars()
    log.info("cache warmed")  # names no user: printed, not sent

    trubrics.flush()  # the processor only queues; deliver now, before reading the server
    _local.show(server)
