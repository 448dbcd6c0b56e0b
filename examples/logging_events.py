"""Product events and LLM events from the standard library's `logging`, through `TrubricsHandler`.

A record becomes an event when it names a user (`user_id`) and an LLM event when it also carries a
`prompt` or `generation`; any other record is ignored. Run it with `python examples/logging_events.py`.
"""

import logging

from trubrics_otel import TrubricsHandler

import _local

with _local.trubrics() as server:
    handler = TrubricsHandler()  # TRUBRICS_API_KEY and TRUBRICS_HOST from the environment
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("shop")

    log.info("Sign up", extra={"user_id": "user-42", "plan": "pro"})  # the event "Sign up"
    log.info(
        "chat",  # an LLM event
        extra={
            "user_id": "user-42",
            "thread_id": "support-1",
            "prompt": "Where is my order?",
            "generation": "It left the warehouse this morning.",
            "assistant_id": "support-bot",
            "latency": 0.8,
        },
    )
    log.info("GET /health 200")  # names no user: ignored

    handler.flush()  # emit() only queues; deliver now, before reading the server
    _local.show(server)
