"""structlog → Trubrics: `structlog.get_logger().info("Sign up", user_id="u1")` sends the event "Sign up".

Two set-ups, which can be combined without sending anything twice:

Natively, in structlog's own processor chain (after `merge_contextvars`, before the renderer):

    import structlog
    from trubrics_otel.integrations.structlog import TrubricsStructlogProcessor

    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        TrubricsStructlogProcessor(),
        structlog.processors.JSONRenderer(),
    ])

Through the standard library, with `trubrics_otel.TrubricsHandler` on a logger and structlog's stdlib
logger factory, ending the chain with either `structlog.stdlib.render_to_log_kwargs` (the event becomes
the record's message, the other keys its attributes) or
`structlog.stdlib.ProcessorFormatter.wrap_for_formatter` (the record's message is the event dict
itself). The handler reads both shapes.

When an event passes through the processor and then reaches a `TrubricsHandler` in the same thread, the
handler knows it by the event dict it was made from and lets it pass: the processor has sent it. The same
holds for `trubrics_otel.TrubricsLogExporter` behind OpenTelemetry's logging handler, which may export the
record later, on another thread: the processor leaves it a ticket (see `trubrics_otel._log_doors`).

The processor itself needs nothing from structlog (it is a plain callable), which is why it is defined in
`trubrics_otel._structlog` and also exported as `trubrics_otel.TrubricsStructlogProcessor`; this module is the
place structlog users import it from.
"""

from __future__ import annotations

from trubrics_otel._structlog import TrubricsStructlogProcessor

__all__ = ["TrubricsStructlogProcessor"]
