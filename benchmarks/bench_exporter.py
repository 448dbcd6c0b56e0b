"""How fast TrubricsSpanExporter delivers, next to a raw JSON POST of the same events.

Run: `.venv/bin/python benchmarks/bench_exporter.py [--spans 20000] [--repeats 3]`

The local server runs in its own process (`trubrics-otel serve --database :memory:`). In the same run it
measures, alternating and keeping the best of each:

- baseline: the same LLM events as JSON, POSTed in arrays of 100 over one `requests.Session`
  (serialisation included, mapping excluded: the floor any HTTP client pays);
- exporter: `TrubricsSpanExporter.export()` of the pre-built SDK spans in one call, and in calls of 512
  and of 100 spans, as `BatchSpanProcessor` delivers them by default and with
  `max_export_batch_size=100` (mapping, transport and HTTP included). An export of more than 100 spans
  translates each 100 while the server stores the 100 before; one of 100 cannot overlap.

Beside each rate it prints the CPU this process spent per event, which is what an application pays.

Then it reports the mapping cost per span (`interpret()` on plain span data) for one real captured LLM
span of each convention in tests/data/captures. Target: exporter rate >= 0.7x the baseline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import timeit
from pathlib import Path
from typing import NamedTuple

import requests
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trubrics_otel import TrubricsSpanExporter
from trubrics_otel._delivery import ContentJoin
from trubrics_otel._exporters import span_data
from trubrics_otel.mapping import LLMCall, MappingOptions, SpanData, SpanEventData, interpret

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests" / "data" / "captures"
KEY = "bench-key"
CONVENTIONS = {
    "OTel GenAI (openai-v2)": "openai-v2-span_only-chat",
    "OpenLLMetry": "openllmetry-attributes-chat",
    "OpenInference": "openinference-chat",
    "pydantic-ai": "pydantic-ai-chat",
    "OpenLLMetry + traceloop-sdk": "traceloop-sdk-chat",
}


def start_server(database: str) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trubrics_otel.cli",
            "serve",
            "--port",
            "0",
            "--database",
            database,
            "--api-key",
            KEY,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    url = line.split(" on ", 1)[1].split()[0]
    return server, url


def build_spans(count: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for index in range(count):
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 42,
            "gen_ai.usage.output_tokens": 17,
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.conversation.id": f"thread-{index % 50}",
            "user.id": f"user-{index % 200}",
            "gen_ai.input.messages": json.dumps(
                [
                    {
                        "role": "system",
                        "parts": [{"type": "text", "content": "You are a helpful assistant."}],
                    },
                    {"role": "user", "parts": [{"type": "text", "content": f"Question number {index}?"}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": f"Answer number {index}."}],
                        "finish_reason": "stop",
                    },
                ]
            ),
        }
        with tracer.start_as_current_span("chat gpt-4o", attributes=attributes):
            pass
    return list(memory.get_finished_spans())


class Run(NamedTuple):
    """One timed run: wall-clock seconds, and the CPU seconds this process spent (every thread)."""

    wall: float
    cpu: float


def run_baseline(url: str, bodies: list[list[dict[str, object]]]) -> Run:
    session = requests.Session()
    session.headers.update({"x-api-key": KEY, "Content-Type": "application/json"})
    started, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        response = session.post(f"{url}/publish_llm_events", data=json.dumps(body).encode(), timeout=30)
        response.raise_for_status()
    run = Run(time.perf_counter() - started, time.process_time() - cpu)
    session.close()
    return run


def run_exporter(url: str, spans: list[ReadableSpan], batch: int) -> Run:
    exporter = TrubricsSpanExporter(KEY, url, join=ContentJoin(window=60), stamp_context=False)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(spans), batch):
        exporter.export(spans[start : start + batch])
    run = Run(time.perf_counter() - started, time.process_time() - cpu)
    exporter.shutdown()  # the last request's answer may still be on its way: counted once it is in
    stats = exporter.client.stats()
    assert stats.sent == len(spans), stats
    assert stats.lost == 0, stats
    return run


def capture_span(name: str) -> SpanData:
    data = json.loads((CAPTURES / f"{name}.json").read_text())
    options = MappingOptions()
    for raw in data["spans"]:
        span = SpanData(
            name=raw["name"],
            trace_id=raw["trace_id"],
            span_id=raw["span_id"],
            start_time=raw["start_time"],
            end_time=raw["end_time"],
            attributes=raw["attributes"],
            parent_span_id=raw["parent_span_id"],
            events=tuple(SpanEventData(e["name"], e["timestamp"], e["attributes"]) for e in raw["events"]),
            resource=raw["resource"],
            status_code=raw["status"]["status_code"],
            status_message=raw["status"]["description"],
            scope=raw["instrumentation_scope"]["name"],
        )
        if isinstance(interpret(span, options), LLMCall):
            return span
    raise LookupError(f"{name} has no LLM span")


def breakdown(spans: list[ReadableSpan]) -> None:
    """Print the CPU time of the exporter's two halves, per span, without any HTTP."""
    exporter = TrubricsSpanExporter(
        KEY, "http://127.0.0.1:9", join=ContentJoin(window=60), stamp_context=False
    )
    started = time.process_time()
    batches = [exporter._translate(spans[i : i + 100]) for i in range(0, len(spans), 100)]
    translate = (time.process_time() - started) / len(spans)
    started = time.process_time()
    for batch in batches:
        json.dumps([record.to_json() for record in batch]).encode()
    encode = (time.process_time() - started) / len(spans)
    exporter.shutdown()
    print(
        f"\nexporter CPU per span without HTTP: translate {translate * 1e6:.1f} us, "
        f"serialise {encode * 1e6:.1f} us"
    )


def mapping_costs() -> None:
    options = MappingOptions()
    print("\nmapping cost per span (interpret() on plain span data, best of 5):")
    for label, name in CONVENTIONS.items():
        span = capture_span(name)
        number = 2000
        timer = timeit.Timer(lambda span=span: interpret(span, options))  # type: ignore[misc]
        best = min(timer.repeat(number=number, repeat=5)) / number
        print(f"  {label:<30} {best * 1e6:7.1f} us/span")
    unrelated = SpanData("GET /", "0" * 32, "0" * 16, 0, 1, {"http.request.method": "GET", "url.path": "/"})
    best = min(timeit.repeat(lambda: interpret(unrelated, options), number=20000, repeat=5)) / 20000
    print(f"  {'unrelated HTTP span':<30} {best * 1e6:7.1f} us/span")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--database",
        default=":memory:",
        help="where the server stores events: ':memory:' (default) or a SQLite file, as `serve` uses",
    )
    args = parser.parse_args()

    spans = build_spans(args.spans)
    options = MappingOptions()
    events = []
    for span in spans:
        call = interpret(span_data(span), options)
        assert isinstance(call, LLMCall)
        event = call.to_event(options)
        assert event is not None
        events.append(event.to_json())
    bodies = [events[start : start + 100] for start in range(0, len(events), 100)]

    server, url = start_server(args.database)
    try:
        run_baseline(url, bodies[:20])  # warm the server and the connection pool
        never = Run(float("inf"), float("inf"))
        baseline = never
        batches = {len(spans): never, 512: never, 100: never}
        for _ in range(args.repeats):
            baseline = min(baseline, run_baseline(url, bodies))
            for batch, best in batches.items():
                batches[batch] = min(best, run_exporter(url, spans, batch))
    finally:
        server.terminate()
        server.wait(timeout=10)

    count = len(events)
    base_rate = count / baseline.wall
    print(
        f"{count} LLM events in requests of 100 to a local server in its own process "
        f"(best of {args.repeats}; CPU is this process's, per event):"
    )
    print(
        f"  {'raw JSON POST (baseline)':<36} {baseline.wall:6.2f} s  {base_rate:8.0f} events/s"
        f"          {baseline.cpu / count * 1e6:6.1f} us CPU"
    )
    for batch, run in batches.items():
        rate = count / run.wall
        label = f"export() of {batch} spans per call"
        print(
            f"  {label:<36} {run.wall:6.2f} s  {rate:8.0f} events/s  {rate / base_rate:5.2f}x"
            f"  {run.cpu / count * 1e6:6.1f} us CPU"
        )
    print("  (target: >= 0.70x the baseline for export() of the 20,000 spans)")
    breakdown(spans)
    mapping_costs()


if __name__ == "__main__":
    main()
