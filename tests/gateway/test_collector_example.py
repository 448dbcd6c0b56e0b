"""The Collector configurations of examples/collector agree with the gateway and with the docs page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from trubrics_otel.gateway import GatewayConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "collector"


def load(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return config


def test_the_routing_tier_sends_traces_and_logs_by_trace_id() -> None:
    """Both signals go through the loadbalancing exporter, routed by trace id: a call's halves meet."""
    config = load("loadbalancer.yaml")
    exporter = config["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    assert "otlp" in exporter["protocol"]
    for signal in ("traces", "logs"):
        assert config["service"]["pipelines"][signal]["exporters"] == ["loadbalancing"]


def test_the_replica_sidecar_hands_everything_unqueued_to_the_gateway_on_loopback() -> None:
    """The sidecar's otlphttp exporter targets the gateway's default port on loopback, with no queue."""
    config = load("replica-sidecar.yaml")
    (name,) = config["exporters"]
    exporter = config["exporters"][name]
    assert name.startswith("otlphttp")
    assert exporter["endpoint"] == f"http://127.0.0.1:{GatewayConfig().port}"
    assert exporter["sending_queue"]["enabled"] is False
    assert "processors" not in config  # no batching: an export is acknowledged once the gateway answered
    for signal in ("traces", "logs"):
        assert config["service"]["pipelines"][signal]["exporters"] == [name]


def test_the_docs_page_names_both_files() -> None:
    """docs/beyond-one-process.md points at the two configurations."""
    page = (ROOT / "docs" / "beyond-one-process.md").read_text()
    assert all(f"examples/collector/{path.name}" in page for path in EXAMPLES.glob("*.yaml"))
