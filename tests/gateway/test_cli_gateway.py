"""`trubrics-otel gateway` as a process: what SIGTERM drains, what SIGKILL loses, and refusals at start."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from pathlib import Path

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.processes import run_clean
from trubrics_otel.server import LocalServer
from trubrics_otel.server._faults import Fault

from .conftest import GatewayProcess, wait_for

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def call_without_text() -> bytes:
    """An export of one GenAI span whose text would come in content records: the gateway holds it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("chat gpt-4o") as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "user.id": "u1",
            }
        )
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


def held_gateway(server: LocalServer, api_key: str, tmp_path: Path) -> GatewayProcess:
    gateway = GatewayProcess(
        "--api-key",
        api_key,
        "--trubrics-host",
        server.url,
        TRUBRICS_CONTENT_WAIT="60",
        TRUBRICS_SPOOL_DIR=str(tmp_path / "spool"),
    )
    answer = requests.post(f"{gateway.url}/v1/traces", data=call_without_text(), headers=PROTOBUF, timeout=10)
    assert answer.status_code == 200
    assert "trubrics_gateway_held_calls 1" in gateway.metrics()
    assert server.llm_events() == []
    return gateway


def test_sigterm_drains_the_calls_held_for_their_content(
    server: LocalServer, api_key: str, tmp_path: Path
) -> None:
    """SIGTERM: the held call is sent (with the placeholder for its missing text), then exit 0."""
    gateway = held_gateway(server, api_key, tmp_path)
    code, out, err = gateway.stop(signal.SIGTERM)
    assert code == 0, err
    assert "drained: 1 records sent, 0 failed" in out
    (event,) = server.llm_events()
    assert event["user_id"] == "u1"


def test_sigkill_loses_the_calls_held_for_their_content(
    server: LocalServer, api_key: str, tmp_path: Path
) -> None:
    """SIGKILL: a call accepted but still waiting for its content is lost, as the docs say."""
    gateway = held_gateway(server, api_key, tmp_path)
    code, _, _ = gateway.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert server.llm_events() == []


def test_sigint_drains_too(server: LocalServer, api_key: str, tmp_path: Path) -> None:
    """Ctrl-C is a graceful stop as well."""
    gateway = held_gateway(server, api_key, tmp_path)
    code, out, _ = gateway.stop(signal.SIGINT)
    assert code == 0
    assert "drained: 1 records sent" in out
    wait_for(lambda: len(server.llm_events()) == 1)


def test_sigterm_lets_an_export_under_way_finish(server: LocalServer, api_key: str, tmp_path: Path) -> None:
    """An export being delivered when SIGTERM comes is still answered 200, and delivered."""
    server.faults.script(Fault(status=200, delay=0.5))  # Trubrics is slow to answer this one
    gateway = GatewayProcess(
        "--api-key", api_key, "--trubrics-host", server.url, TRUBRICS_SPOOL_DIR=str(tmp_path / "spool")
    )
    answers: list[int] = []
    body = call_with_text()
    sending = threading.Thread(
        target=lambda: answers.append(
            requests.post(f"{gateway.url}/v1/traces", data=body, headers=PROTOBUF, timeout=10).status_code
        )
    )
    sending.start()
    wait_for(lambda: "trubrics_gateway_exports_in_flight 1" in gateway.metrics())
    code, out, err = gateway.stop(signal.SIGTERM)
    sending.join()
    assert answers == [200]
    assert code == 0, err
    assert "drained: 1 records sent" in out
    assert len(server.llm_events()) == 1


def call_with_text() -> bytes:
    """An export of one GenAI span that carries its prompt and generation."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("chat gpt-4o") as span:
        span.set_attributes(
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "hi",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "hello",
                "user.id": "u1",
            }
        )
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


def test_a_gateway_without_a_key_does_not_start() -> None:
    """No key and no --pass-through-keys: exit 1 with the sentence that says what to pass."""
    done = run_clean([sys.executable, "-m", "trubrics_otel.cli", "gateway", "--port", "0"], timeout=30)
    assert done.returncode == 1
    assert "needs a Trubrics key" in done.stderr


def test_a_taken_port_is_one_clear_line() -> None:
    """The port in use: exit 1, `cannot listen on ...`."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_clean(
            [sys.executable, "-m", "trubrics_otel.cli", "gateway", "--api-key", "k", "--port", str(port)],
            timeout=30,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
