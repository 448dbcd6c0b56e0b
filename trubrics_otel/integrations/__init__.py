"""Integrations with logging libraries other than the standard library's; each is imported on its own.

- `trubrics_otel.integrations.structlog`: structlog, natively or through the standard library.
"""
