"""A Node.js app with the Vercel AI SDK exporting over the OpenTelemetry JS OTLP/HTTP exporter (JSON).

`node/app.mjs` holds a conversation against the fake OpenAI endpoint, its spans going to the gateway
(`--pass-through-keys`, the key in the exporter's `x-api-key` header) and, as captured spans, to a file.
The same spans sent through the Python path (the delivery core the in-process exporters use) must store
the very same events. The node project is installed by `npm ci` (.ci/run); in CI a missing node fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.processes import clean_environment
from trubrics_otel._config import Settings
from trubrics_otel._delivery import ContentJoin, core_for
from trubrics_otel.demo._fakes import fake_endpoints
from trubrics_otel.gateway import GatewayConfig, RunningGateway
from trubrics_otel.mapping import SpanData, SpanEventData
from trubrics_otel.server import LocalServer

from .conftest import HERE, by_span

NODE_PROJECT = HERE / "node"


def node() -> str:
    """The node binary, with the project's packages installed; fails in CI when either is missing."""
    found = shutil.which("node")
    missing = (
        "node is not installed"
        if found is None
        else "the node project is not installed: npm ci --no-audit --no-fund --prefix tests/gateway/node"
        if not (NODE_PROJECT / "node_modules" / "ai").is_dir()
        else ""
    )
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert found is not None
    return found


def captured_spans(path: Path) -> list[SpanData]:
    """The spans app.mjs wrote, as the mapping's plain data (the format of tests/data/captures)."""
    return [_span(raw) for raw in json.loads(path.read_text())["spans"]]


def _span(raw: dict[str, Any]) -> SpanData:
    return SpanData(
        name=raw["name"],
        trace_id=raw["trace_id"],
        span_id=raw["span_id"],
        start_time=raw["start_time"],
        end_time=raw["end_time"],
        attributes={k: tuple(v) if isinstance(v, list) else v for k, v in raw["attributes"].items()},
        parent_span_id=raw["parent_span_id"],
        events=tuple(SpanEventData(e["name"], e["timestamp"], e["attributes"]) for e in raw["events"]),
        resource=raw["resource"],
        status_code=raw["status"]["status_code"],
        status_message=raw["status"]["description"],
        scope=raw["instrumentation_scope"]["name"],
        parent_is_remote=raw["parent_is_remote"],
    )


def test_a_vercel_ai_sdk_app_stores_what_the_python_path_stores(tmp_path: Path) -> None:
    """Three calls (a two-turn conversation, one question): the same three events either way."""
    binary = node()
    capture = tmp_path / "spans.json"
    config = GatewayConfig(port=0, pass_through=True)
    with (
        LocalServer(api_keys={"node-key"}) as through_gateway,
        LocalServer(api_keys={"python-key"}) as through_python,
        fake_endpoints(["openai"], 0) as (fake,),
        RunningGateway(GatewayConfig(**{**config.__dict__, "trubrics_host": through_gateway.url})) as gateway,
    ):
        done = subprocess.run(
            [
                binary,
                str(NODE_PROJECT / "app.mjs"),
                fake.server.base_url,
                f"{gateway.url}/v1/traces",
                str(capture),
            ],
            env=clean_environment(GATEWAY_KEY="node-key"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "exported 6 spans"  # per call, ai.generateText and its doGenerate
        settings = Settings.resolve(api_key="python-key", host=through_python.url)
        core = core_for(settings, join=ContentJoin(settings.content_wait))
        assert core.send_spans(captured_spans(capture))
        core.release()
        gateway_events = by_span(through_gateway.llm_events())
        python_events = by_span(through_python.llm_events())
    assert gateway_events == python_events
    assert [(event["prompt"], event["generation"]) for event in sorted(gateway_events, key=_when)] == [
        ("My name is Ada", "Echo: My name is Ada"),
        ("What is my name?", "Echo: What is my name?"),
        ("Say hello to the team", "Echo: Say hello to the team"),
    ]
    assert {event["user_id"] for event in gateway_events} == {"user-42"}
    assert {event["properties"]["$thread_id"] for event in gateway_events} == {"thread-7"}
    print(json.dumps(sorted(gateway_events, key=_when), indent=2))  # the report quotes them


def _when(event: dict[str, Any]) -> str:
    return str(event["timestamp"])
