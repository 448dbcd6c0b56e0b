"""Zero-code: `OTEL_TRACES_EXPORTER=trubrics opentelemetry-instrument python app.py`, env only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.server import LocalServer

APP = Path(__file__).parent / "apps" / "zero_code_app.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"


def test_opentelemetry_instrument_sends_llm_events(server: LocalServer, api_key: str) -> None:
    """The entry point is found, configured from TRUBRICS_* alone, and delivers every call once."""
    with FakeOpenAI() as model:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRUBRICS_"))},
            "OTEL_TRACES_EXPORTER": "trubrics",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": "zero-code-app",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
            "TRUBRICS_API_KEY": api_key,
            "TRUBRICS_HOST": server.url,
            "FAKE_OPENAI_BASE_URL": model.base_url,
        }
        done = subprocess.run(
            [str(INSTRUMENT), sys.executable, str(APP)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert done.returncode == 0, done.stderr
    events = server.llm_events()
    assert len(events) == 122
    assert all(r.item_count is not None and r.item_count <= 100 for r in server.requests)
    assert {(e["user_id"], e["properties"]["$thread_id"]) for e in events} == {("zero-user", "zero-thread")}
    assert {e["properties"]["service_name"] for e in events} == {"zero-code-app"}
    real = [e for e in events if e["assistant_id"] == "gpt-4o-2024-08-06"]
    assert [(e["prompt"], e["generation"]) for e in real] == [
        ("First question", "Echo: First question"),
        ("Second question", "Echo: Second question"),
    ]
    assert "Traceback" not in done.stderr
