"""openai-v2 2.3b0's legacy mode: content only in per-message log records, one LLM event per call.

The instrumentation cannot share the dev environment (its pins conflict with 2.4b0's), so each test runs
an app in the legacy environment (`tests/legacy_env.py`) against the local server and a fake model, and
asserts the exact LLM events stored: the span's model, tokens and latency, the log records' prompt and
generation, and the user and thread of `trubrics_otel.context()`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from legacy_env import LegacyEnvironment, LegacyEnvironmentError, legacy_environment

from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.server import LocalServer

APPS = Path(__file__).parent / "apps"

# (prompt, generation, request model, input tokens, output tokens, finish reasons); the fake model counts
# words as tokens and answers with the request model and a date suffix
CALLS = [
    ("Say hello to the team", "Echo: Say hello to the team", "gpt-4o", 18, 6, ["stop"]),
    ("Count to three", "Echo: Count to three", "gpt-4o-mini", 3, 4, ["stop"]),  # from its choice record
    ("What is the weather in Paris?", 'get_weather({"city": "Paris"})', "gpt-4o", 6, 2, ["tool_calls"]),
    ("What is the weather in Paris?", "Tool result: Sunny, 21C", "gpt-4o", 8, 4, ["stop"]),
]


def expected_events(service: str) -> list[dict[str, Any]]:
    """The LLM events of the four calls, without the times and ids that change from run to run."""
    events = []
    for prompt, generation, model, input_tokens, output_tokens, reasons in CALLS:
        properties: dict[str, Any] = {
            "provider": "openai",
            "operation": "chat",
            "request_model": model,
            "response_model": f"{model}-2024-08-06",
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "service_name": service,
            "$thread_id": "legacy-thread",
        }
        if reasons is not None:
            properties["finish_reasons"] = reasons
        events.append(
            {
                "user_id": "legacy-user",
                "assistant_id": f"{model}-2024-08-06",
                "prompt": prompt,
                "generation": generation,
                "properties": properties,
            }
        )
    return events


@pytest.fixture(scope="session")
def legacy() -> LegacyEnvironment:
    """The legacy environment, built on first use; a failed build fails the tests rather than skip them."""
    try:
        return legacy_environment()
    except LegacyEnvironmentError as error:
        pytest.fail(f"The legacy openai-v2 environment could not be built. {error}", pytrace=False)


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(delay=0.01) as fake:
        yield fake


def run(command: list[str], **environment: str) -> subprocess.CompletedProcess[str]:
    """Run an app with a clean OTEL_*/TRUBRICS_* environment plus the given variables."""
    cleared = ("OTEL_", "TRUBRICS_", "VIRTUAL_ENV")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(cleared)}
    done = subprocess.run(
        command,
        env={**inherited, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true", **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def assert_one_complete_event_per_call(events: list[dict[str, Any]], service: str) -> None:
    events = sorted(events, key=lambda event: event["timestamp"])
    for event in events:
        assert event["latency"] > 0
        assert len(event["properties"].pop("trace_id")) == 32
        assert len(event["properties"].pop("span_id")) == 16
        del event["timestamp"], event["latency"]
    assert events == expected_events(service)


@pytest.mark.parametrize(
    ("shutdown", "log_batching"),
    [
        # one record per export: a call's messages reach the join one by one, as across batches
        pytest.param("logs-first", {"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "1"}, id="logs-first"),
        # every log record still queued when the tracer provider shuts down
        pytest.param("spans-first", {"OTEL_BLRP_SCHEDULE_DELAY": "60000"}, id="spans-first"),
    ],
)
def test_in_code_span_and_log_exporters_make_one_complete_event_per_call(
    legacy: LegacyEnvironment,
    server: LocalServer,
    api_key: str,
    model: FakeOpenAI,
    shutdown: str,
    log_batching: dict[str, str],
) -> None:
    """A span exporter and a log exporter sharing one join turn every call into one complete event."""
    done = run(
        [str(legacy.python), str(APPS / "legacy_app.py")],
        LEGACY_APP_SHUTDOWN=shutdown,
        **log_batching,
        TRUBRICS_API_KEY=api_key,
        TRUBRICS_HOST=server.url,
        FAKE_OPENAI_BASE_URL=model.base_url,
    )

    assert_one_complete_event_per_call(server.llm_events(), "legacy-app")
    counts = json.loads(done.stdout)
    assert counts["spans"]["sent"] + counts["logs"]["sent"] == len(CALLS)
    assert [(c["incomplete"], c["lost"]) for c in counts.values()] == [(0, 0), (0, 0)]


def test_zero_code_traces_and_logs_exporters_meet_in_the_shared_join(
    legacy: LegacyEnvironment, server: LocalServer, api_key: str, model: FakeOpenAI
) -> None:
    """`OTEL_TRACES_EXPORTER=trubrics OTEL_LOGS_EXPORTER=trubrics opentelemetry-instrument` joins them too."""
    run(
        [str(legacy.instrument), str(legacy.python), str(APPS / "legacy_zero_code_app.py")],
        OTEL_TRACES_EXPORTER="trubrics",
        OTEL_LOGS_EXPORTER="trubrics",
        OTEL_METRICS_EXPORTER="none",
        OTEL_SERVICE_NAME="legacy-zero-code-app",
        TRUBRICS_API_KEY=api_key,
        TRUBRICS_HOST=server.url,
        FAKE_OPENAI_BASE_URL=model.base_url,
    )

    assert_one_complete_event_per_call(server.llm_events(), "legacy-zero-code-app")
