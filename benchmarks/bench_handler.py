"""What `logger.info(...)` costs the calling thread with TrubricsHandler, next to a NullHandler and OTel's.

Run: `.venv/bin/python benchmarks/bench_handler.py [--calls 20000] [--repeats 15]`

The local server runs in its own process (`trubrics-otel serve --database :memory:`). In one run, for
two kinds of call, it measures the caller's cost per call with exactly one handler on the logger:

- floor: `logging.NullHandler()` (what `logger.info` costs anyway: the record is made either way);
- trubrics: `TrubricsHandler` sending to the local server (its delivery thread maps and sends meanwhile);
- otel: OpenTelemetry's `LoggingHandler` with a `LoggerProvider` and a `BatchLogRecordProcessor` in front
  of an exporter that does nothing.

The three calls: an LLM record (`extra=` with user, prompt, generation, assistant, latency, thread), an
ordinary line that carries nothing for Trubrics, and an ordinary line with `extra=` keys Trubrics does not
recognise (a request id, a path, a status). The cost is the calling thread's CPU time
(`time.thread_time`), so the delivery threads working in parallel are not what is measured; the wall
time is shown beside it. The configurations alternate within each repeat and the best repeat of each
counts. Targets: trubrics <= 1.3x the floor for the LLM record, <= 1.05x for the ordinary line; the line
with unrecognised extras has none and is shown for what it costs.
"""

from __future__ import annotations

import argparse
import gc
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult

from trubrics_otel import TrubricsHandler

KEY = "bench-key"
LLM_EXTRA = {
    "user_id": "user-42",
    "prompt": "What is the capital of France?",
    "generation": "The capital of France is Paris.",
    "assistant_id": "gpt-4o",
    "latency": 0.42,
    "thread_id": "thread-7",
}
PLAIN_EXTRA = {"request_id": "req-81f2", "path": "/health", "status": 200}
TARGETS: dict[str, float | None] = {"llm record": 1.3, "ordinary line": 1.05, "line + extras": None}


class NoOpExporter(LogRecordExporter):
    """Takes OpenTelemetry log records and does nothing with them."""

    def export(self, batch: Sequence[object]) -> LogRecordExportResult:  # type: ignore[override]
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def start_server() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trubrics_otel.cli",
            "serve",
            "--port",
            "0",
            "--database",
            ":memory:",
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


def llm_call(logger: logging.Logger) -> None:
    logger.info("chat completion", extra=LLM_EXTRA)


def ordinary_call(logger: logging.Logger) -> None:
    logger.info("GET %s answered %d in %.1f ms", "/health", 200, 3.2)


def extras_call(logger: logging.Logger) -> None:
    logger.info("request served", extra=PLAIN_EXTRA)


def measure(
    logger: logging.Logger, call: Callable[[logging.Logger], None], calls: int
) -> tuple[float, float]:
    """Return the calling thread's CPU µs and the wall µs per call of `calls` calls."""
    info = logger.info
    if call is llm_call:

        def loop() -> None:
            for _ in range(calls):
                info("chat completion", extra=LLM_EXTRA)

    elif call is extras_call:

        def loop() -> None:
            for _ in range(calls):
                info("request served", extra=PLAIN_EXTRA)

    else:

        def loop() -> None:
            for _ in range(calls):
                info("GET %s answered %d in %.1f ms", "/health", 200, 3.2)

    gc.collect()
    gc.disable()
    try:
        cpu, wall = time.thread_time(), time.perf_counter()
        loop()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    finally:
        gc.enable()
    return cpu / calls * 1e6, wall / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per measurement")
    parser.add_argument("--repeats", type=int, default=15, help="measurements per configuration; best counts")
    args = parser.parse_args()

    server, url = start_server()
    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(NoOpExporter()))
    trubrics = TrubricsHandler(KEY, url, queue_size=10 * args.calls, flush_timeout=30)
    handlers: dict[str, logging.Handler] = {
        "floor": logging.NullHandler(),
        "trubrics": trubrics,
        "otel": LoggingHandler(logger_provider=provider),
    }
    logger = logging.getLogger("bench")  # one logger; each measurement gives it exactly one handler
    logger.propagate = False
    logger.setLevel(logging.INFO)

    best: dict[tuple[str, str], tuple[float, float]] = {}
    try:
        for call_name, call in (
            ("llm record", llm_call),
            ("ordinary line", ordinary_call),
            ("line + extras", extras_call),
        ):
            for handler in handlers.values():  # warm up every path once
                logger.handlers = [handler]
                measure(logger, call, 1000)
            trubrics.flush()
            for _ in range(args.repeats):
                for name, handler in handlers.items():
                    logger.handlers = [handler]
                    cpu, wall = measure(logger, call, args.calls)
                    key = (call_name, name)
                    previous = best.get(key, (float("inf"), float("inf")))
                    best[key] = (min(previous[0], cpu), min(previous[1], wall))
                    trubrics.flush()  # outside the measurement: the queue starts empty each time
                    provider.force_flush()
        stats = trubrics.stats()
    finally:
        trubrics.close()
        provider.shutdown()
        server.terminate()
        server.wait()

    print(
        f"logger.info() caller-thread cost, best of {args.repeats} x {args.calls} calls "
        f"(Python {sys.version.split()[0]})"
    )
    print()
    print(
        f"{'call':<15}{'handler':<10}{'CPU µs/call':>13}{'ratio':>8}{'wall µs/call':>14}{'ratio':>8}  target"
    )
    for call_name, limit in TARGETS.items():
        floor_cpu, floor_wall = best[(call_name, "floor")]
        for name in handlers:
            cpu, wall = best[(call_name, name)]
            target = ""
            if name == "trubrics" and limit is not None:
                target = f"<= {limit}x {'met' if cpu / floor_cpu <= limit else 'MISSED'}"
            print(
                f"{call_name:<15}{name:<10}{cpu:>13.2f}{cpu / floor_cpu:>7.2f}x"
                f"{wall:>14.2f}{wall / floor_wall:>7.2f}x  {target}"
            )
    print()
    print(
        f"TrubricsHandler delivered {stats.sent} LLM events in {stats.requests} requests "
        f"(failed {stats.failed}, dropped {dict(stats.dropped)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
