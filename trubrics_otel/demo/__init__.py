"""The demo: a short chat traced end to end against the local server."""

from trubrics_otel.demo._run import run_demo

__all__ = ["run_demo"]
