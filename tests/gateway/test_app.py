"""The gateway's HTTP answers, as OTLP senders read them: status codes, partial success, keys and tokens."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator

import pytest
import requests
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trubrics_otel._config import ConfigurationError
from trubrics_otel.gateway import GatewayConfig, RunningGateway, build_app
from trubrics_otel.server import LocalServer
from trubrics_otel.server._faults import Fault

from .conftest import wait_for
from .otlp import otlp_json

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def llm_request(user: str = "u1", calls: int = 1) -> ExportTraceServiceRequest:
    """An export request of `calls` complete GenAI spans (prompt and generation on the span)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for n in range(calls):
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.prompt.0.role": "user",
                    "gen_ai.prompt.0.content": f"question {n}",
                    "gen_ai.completion.0.role": "assistant",
                    "gen_ai.completion.0.content": f"answer {n}",
                    "user.id": user,
                }
            )
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/v1/traces", data=body, headers=headers, timeout=30)


@pytest.fixture
def config(server: LocalServer, api_key: str) -> GatewayConfig:
    return GatewayConfig(port=0, api_key=api_key, trubrics_host=server.url)


def running(config: GatewayConfig, **changes: object) -> RunningGateway:
    values = {**config.__dict__, **changes}
    return RunningGateway(GatewayConfig(**values))  # type: ignore[arg-type]


def test_a_protobuf_export_is_answered_in_protobuf_once_delivered(
    gateway: RunningGateway, server: LocalServer
) -> None:
    """200 with an empty ExportTraceServiceResponse, and the event is at the server by then."""
    answer = post(gateway.url, llm_request().SerializeToString(), PROTOBUF)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(answer.content)
    assert not response.HasField("partial_success")
    assert [event["prompt"] for event in server.llm_events()] == ["question 0"]


def test_a_json_export_is_answered_in_json(gateway: RunningGateway, server: LocalServer) -> None:
    """A gzip-compressed JSON export is read and answered in JSON."""
    body = gzip.compress(otlp_json(llm_request(calls=2)))
    answer = post(gateway.url, body, {**JSON, "Content-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.json() == {}
    assert sorted(event["generation"] for event in server.llm_events()) == ["answer 0", "answer 1"]


def test_unreadable_spans_are_a_partial_success(gateway: RunningGateway, server: LocalServer) -> None:
    """One span with a broken id: 200 with partial_success counting it, the other span delivered."""
    request = llm_request(calls=2)
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x00" * 16
    answer = post(gateway.url, request.SerializeToString(), PROTOBUF)
    assert answer.status_code == 200
    partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_spans == 1
    assert "trace id" in partial.error_message
    assert len(server.llm_events()) == 1
    answer = post(gateway.url, json_format.MessageToJson(request).encode(), JSON)  # base64 ids: tolerated
    assert answer.json()["partialSuccess"]["rejectedSpans"] == "1"


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "text/plain"}, b"x", 415),
        ({**PROTOBUF, "Content-Encoding": "br"}, b"x", 415),
        (PROTOBUF, b"\xff\xff\xff\xff", 400),
        (JSON, b"{not json", 400),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip", 400),
    ],
    ids=["content-type", "content-encoding", "protobuf", "json", "gzip"],
)
def test_what_cannot_be_read_is_refused_for_good(
    gateway: RunningGateway, headers: dict[str, str], body: bytes, status: int
) -> None:
    """Unknown encodings are 415 and broken bodies 400, both codes OTLP senders do not retry."""
    answer = post(gateway.url, body, headers)
    assert answer.status_code == status
    assert "retry-after" not in answer.headers
    if answer.headers["content-type"] == "application/json":
        assert answer.json()["code"] == 3


def test_a_body_or_its_decompression_beyond_the_bound_is_413(config: GatewayConfig) -> None:
    """A zip bomb stops at the bound: 2 MiB of zeros in a few KiB of gzip, against a 1 MiB bound."""
    with running(config, max_body_bytes=1024 * 1024) as gateway:
        bomb = gzip.compress(b"\0" * (2 * 1024 * 1024))
        assert len(bomb) < 64 * 1024
        assert post(gateway.url, bomb, {**PROTOBUF, "Content-Encoding": "gzip"}).status_code == 413
        assert post(gateway.url, b"\0" * (1024 * 1024 + 1), PROTOBUF).status_code == 413


def test_a_failed_delivery_asks_the_sender_to_retry(
    config: GatewayConfig, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trubrics failing past the delivery deadline: 503 with Retry-After; without a spool, counted failed."""
    monkeypatch.setenv("TRUBRICS_SPOOL", "false")
    server.faults.fail_rate = 1.0
    with running(config, delivery_deadline=0.3, retry_after=7) as gateway:
        answer = post(gateway.url, llm_request().SerializeToString(), PROTOBUF)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "7"
        assert gateway.app.projects.totals().failed == 1
        metrics = requests.get(f"{gateway.url}/metrics", timeout=5).text
    assert 'trubrics_gateway_exports_total{signal="traces",code="503"} 1' in metrics
    assert "trubrics_delivery_failed_total 1" in metrics


def test_what_the_spool_keeps_is_accepted_and_delivered_once_trubrics_is_back(
    config: GatewayConfig, server: LocalServer
) -> None:
    """Trubrics failing past the delivery deadline, with the spool on: the export is accepted (200), its
    records kept on disk, and delivered once Trubrics answers again; the sender never resends them."""
    server.faults.fail_rate = 1.0
    with running(config, delivery_deadline=0.3) as gateway:
        answer = post(gateway.url, llm_request(calls=3).SerializeToString(), PROTOBUF)
        assert answer.status_code == 200
        totals = gateway.app.projects.totals()
        assert (totals.spooled, totals.failed, totals.dropped) == (3, 0, {})
        server.faults.fail_rate = 0.0
        wait_for(lambda: len(server.llm_events()) == 3)
        wait_for(lambda: gateway.app.projects.totals().replayed == 3)
        metrics = requests.get(f"{gateway.url}/metrics", timeout=5).text
    assert "trubrics_delivery_replayed_total 3" in metrics
    assert sorted(event["prompt"] for event in server.llm_events()) == [f"question {n}" for n in range(3)]


def test_the_retry_of_a_failed_export_is_delivered_not_dropped_as_a_twin(
    config: GatewayConfig, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender retries the same spans and log records once Trubrics is back: both are delivered."""
    monkeypatch.setenv("TRUBRICS_SPOOL", "false")
    spans = llm_request().SerializeToString()
    logs = event_logs_request().SerializeToString()
    with running(config, delivery_deadline=0.3) as gateway:
        server.faults.fail_rate = 1.0
        assert post(gateway.url, spans, PROTOBUF).status_code == 503
        assert post_logs(gateway.url, logs).status_code == 503
        server.faults.fail_rate = 0.0
        assert post(gateway.url, spans, PROTOBUF).status_code == 200
        assert post_logs(gateway.url, logs).status_code == 200
        totals = gateway.app.projects.totals()
    assert [event["prompt"] for event in server.llm_events()] == ["question 0"]
    assert [event["event"] for event in server.events()] == ["Clicked"]
    assert totals.sent == 2
    assert "duplicate" not in totals.dropped


def event_logs_request() -> ExportLogsServiceRequest:
    """A logs export of one product event (a record with `trubrics.event`)."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("app").emit(body="clicked", attributes={"trubrics.event": "Clicked", "user.id": "u1"})
    provider.shutdown()
    return encode_logs(exporter.get_finished_logs())


def post_logs(url: str, body: bytes) -> requests.Response:
    return requests.post(f"{url}/v1/logs", data=body, headers=PROTOBUF, timeout=30)


def test_every_worker_busy_is_429(config: GatewayConfig, server: LocalServer) -> None:
    """With one worker delivering to a slow API, a second export is answered 429 with Retry-After."""
    server.faults.script(Fault(status=200, delay=0.5))
    with running(config, max_exports=1) as gateway:
        first: list[requests.Response] = []
        sending = threading.Thread(
            target=lambda: first.append(post(gateway.url, llm_request().SerializeToString(), PROTOBUF))
        )
        sending.start()
        wait_for(lambda: gateway.app.counters.in_flight == 1)
        second = post(gateway.url, llm_request("u2").SerializeToString(), PROTOBUF)
        sending.join()
    assert second.status_code == 429
    assert second.headers["retry-after"] == "5"
    assert first[0].status_code == 200


@pytest.fixture
def guarded(config: GatewayConfig) -> Iterator[RunningGateway]:
    with running(config, token="s3cret") as gateway:
        yield gateway


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer wrong", 401), ("Basic s3cret", 401), ("s3cret", 401), ("Bearer s3cret", 200)],
)
def test_a_token_is_required_when_configured(
    guarded: RunningGateway, authorization: str | None, status: int
) -> None:
    """Only `Authorization: Bearer <token>` with the right token gets in."""
    headers = dict(PROTOBUF)
    if authorization is not None:
        headers["Authorization"] = authorization
    assert post(guarded.url, llm_request().SerializeToString(), headers).status_code == status


def test_pass_through_sends_each_request_with_its_senders_key(config: GatewayConfig) -> None:
    """Two projects through one gateway; no key or a refused key is 401; an evicted project's counts stay."""
    with (
        LocalServer(api_keys={"key-a", "key-b"}) as trubrics,
        running(
            config, api_key=None, pass_through=True, trubrics_host=trubrics.url, max_projects=1
        ) as gateway,
    ):
        body = llm_request().SerializeToString()
        assert post(gateway.url, body, {**PROTOBUF, "x-api-key": "key-a"}).status_code == 200
        assert (
            post(
                gateway.url, llm_request("u2").SerializeToString(), {**PROTOBUF, "x-api-key": "key-b"}
            ).status_code
            == 200
        )
        assert post(gateway.url, body, PROTOBUF).status_code == 401
        assert post(gateway.url, body, {**PROTOBUF, "x-api-key": "a\tb"}).status_code == 401
        refused = post(gateway.url, body, {**PROTOBUF, "x-api-key": "key-z"})
        assert refused.status_code == 401
        assert "refused" in ExportTraceServiceResponse.FromString(b"").__class__.__name__ or refused.content
        assert len(gateway.app.projects.cores()) == 1  # one project kept at a time
        assert gateway.app.projects.totals().sent == 2  # the evicted ones' counts are kept
        assert all(request.has_key for request in trubrics.requests)
        assert sorted(event["user_id"] for event in trubrics.llm_events()) == ["u1", "u2"]


def test_health_readiness_metrics_and_routes(gateway: RunningGateway) -> None:
    """/healthz and /readyz answer 200; /metrics counts the export; other routes and methods are refused."""
    assert requests.get(f"{gateway.url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{gateway.url}/readyz", timeout=5).text == "ready\n"
    post(gateway.url, llm_request().SerializeToString(), PROTOBUF)
    metrics = requests.get(f"{gateway.url}/metrics", timeout=5)
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "trubrics_delivery_sent_total 1" in metrics.text
    assert 'trubrics_gateway_items_received_total{signal="traces"} 1' in metrics.text
    assert requests.get(f"{gateway.url}/v1/traces", timeout=5).status_code == 405
    assert requests.post(f"{gateway.url}/v1/metrics", timeout=5).status_code == 405
    assert requests.get(f"{gateway.url}/elsewhere", timeout=5).status_code == 404


def test_a_stopped_gateway_is_not_ready_and_has_drained(config: GatewayConfig) -> None:
    """After stop() the app is draining: not ready, its projects closed."""
    gateway = running(config)
    with gateway:
        assert gateway.app.ready
    assert gateway.app.draining
    assert not gateway.app.ready
    with pytest.raises(RuntimeError, match="shutting down"), gateway.app.projects.lease(None):
        pass


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"api_key": None}, "needs a Trubrics key"),
        ({"host": "0.0.0.0"}, "must present a token"),
        ({"pass_through": True}, "exclude each other"),
        ({"max_exports": 0}, "--max-exports must be 1 or more"),
        ({"trubrics_host": "http://10.1.2.3:8080"}, "http"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused_up_front(
    config: GatewayConfig, changes: dict[str, object], message: str
) -> None:
    """Each mistake raises ConfigurationError with a sentence, before anything listens."""
    values = {**config.__dict__, **changes}
    with pytest.raises(ConfigurationError, match=message):
        build_app(GatewayConfig(**values))  # type: ignore[arg-type]


def test_a_token_lets_a_gateway_listen_beyond_loopback(config: GatewayConfig) -> None:
    """0.0.0.0 with a token (or --allow-no-token) is accepted."""
    for changes in ({"token": "t"}, {"allow_no_token": True}):
        app = build_app(GatewayConfig(**{**config.__dict__, "host": "0.0.0.0", **changes}))  # type: ignore[arg-type]
        app.drain()
        assert app.draining


def test_responses_are_json_when_the_request_was(gateway: RunningGateway) -> None:
    """An error answer to a JSON request is a JSON google.rpc.Status."""
    answer = post(gateway.url, b"[]", JSON)
    assert answer.status_code == 400
    assert json.loads(answer.content)["message"].startswith("not an OTLP JSON")
