"""`trubrics-otel gateway`: an OTLP/HTTP receiver that sends what other processes export to Trubrics.

Apps in TypeScript, Go or Java, and OpenTelemetry Collectors, export OTLP to the gateway; it decodes each
span and log record into the mapping's plain data (`_decode`), exactly as the in-process exporters make
it, and hands them to a delivery core (`trubrics_otel._delivery`): the same recognisers, content join,
de-duplication of calls recorded twice, transport and spool. The modules, by role:

- `_decode`: OTLP protobuf and JSON into `SpanData` and `LogData`;
- `_keys`: whose key the records go with (the gateway's, or each sender's `x-api-key`), and the token;
- `_app`: the ASGI app and its answers (the status codes and partial success OTLP defines);
- `_metrics`: `/metrics` in Prometheus' text format;
- `_serve`: the configuration checked up front, uvicorn, and the drain on SIGTERM.

A replica is stateless beyond its bounded windows (calls waiting for content, calls recently sent): the
join and the de-duplication need all of a trace at one replica, which a Collector's `loadbalancing`
exporter routing by trace id gives (docs/beyond-one-process.md). The package needs the `gateway` extra
(`pip install 'trubrics-otel[gateway]'`).
"""

from trubrics_otel.gateway._app import GatewayApp
from trubrics_otel.gateway._decode import Decoded, UndecodableBodyError, decode_logs, decode_spans
from trubrics_otel.gateway._keys import Projects, TokenCheck
from trubrics_otel.gateway._serve import GatewayConfig, RunningGateway, build_app, run_gateway

__all__ = [
    "Decoded",
    "GatewayApp",
    "GatewayConfig",
    "Projects",
    "RunningGateway",
    "TokenCheck",
    "UndecodableBodyError",
    "build_app",
    "decode_logs",
    "decode_spans",
    "run_gateway",
]
