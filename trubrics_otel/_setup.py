"""`configure()`: one call that sends an application's LLM spans to Trubrics.

It adds to the TracerProvider already installed (or installs one) the span processor that stamps
`trubrics_otel.context()` onto spans, and a `BatchSpanProcessor` of at most 100 spans per export around a
`TrubricsSpanExporter`.

Under `OTEL_TRACES_EXPORTER=trubrics` it uses the exporter OpenTelemetry's zero-code set-up built, and says
so once when that set-up never ran: `opentelemetry-instrument` configures exporters only when a distro
(opentelemetry-distro) is installed, and without one the variable does nothing at all.
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from trubrics_otel import _config
from trubrics_otel._context import install_context_processor
from trubrics_otel._events import MAX_BATCH_SIZE
from trubrics_otel._exporters import TrubricsSpanExporter, configured_exporter, sdk_built_an_exporter

__all__ = ["configure"]

ZERO_CODE_DID_NOT_RUN: Final = (
    "Trubrics: OTEL_TRACES_EXPORTER names trubrics, but OpenTelemetry's zero-code set-up did not run: no "
    "configurator built the Trubrics span exporter, so the OTEL_*_EXPORTER settings were not applied. "
    "`opentelemetry-instrument` configures exporters only with a distro installed: `pip install "
    "'trubrics-otel[zero-code]'` brings opentelemetry-distro. configure() installs the span exporter "
    "itself, so spans are sent meanwhile."
)
"""The warning `configure()` gives once when OTEL_TRACES_EXPORTER=trubrics found no exporter to reuse."""


def configure(
    api_key: str | None = None,
    host: str | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    service_name: str | None = None,
    schedule_delay_millis: float | None = None,
    **exporter_options: Any,
) -> TrubricsSpanExporter:
    """Send this process's LLM spans to Trubrics; return the exporter (for `client.stats()`).

    Calling it again for the same provider returns the exporter of the first call, whatever the
    arguments, and under `OTEL_TRACES_EXPORTER=trubrics` it returns the exporter that set-up installed:
    one provider sends each span once. If that set-up never ran (no OpenTelemetry configurator: the
    distro is not installed), it warns once and installs its own exporter.

    Args:
        api_key: the project's API key (`TRUBRICS_API_KEY`).
        host: the API's base URL (`TRUBRICS_HOST`).
        tracer_provider: the provider to add to. By default the global one if it is an SDK
            TracerProvider; otherwise a new one is made and set as the global provider.
        service_name: `service.name` of a provider made here.
        schedule_delay_millis: the batch processor's delay between exports (`OTEL_BSP_SCHEDULE_DELAY`).
        **exporter_options: any keyword argument of `TrubricsSpanExporter`.
    """
    provider = tracer_provider
    if provider is None:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
        else:
            resource = Resource.create({"service.name": service_name} if service_name else {})
            provider = TracerProvider(resource=resource)
            trace.set_tracer_provider(provider)
    install_context_processor(provider)
    zero_code = _config.traces_exporter_is_trubrics()  # reuse the exporter OTEL_TRACES_EXPORTER installed
    exporter, made = configured_exporter(
        provider,
        lambda: TrubricsSpanExporter(api_key, host, stamp_context=False, **exporter_options),
        reuse_built=zero_code,
    )
    if not made:
        return exporter  # a second processor would send every event twice
    if zero_code and not sdk_built_an_exporter():
        _config.warn_once("zero-code set-up did not run", ZERO_CODE_DID_NOT_RUN)
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter, max_export_batch_size=MAX_BATCH_SIZE, schedule_delay_millis=schedule_delay_millis
        )
    )
    exporter.flush_with(provider)
    return exporter
