"""Spans per second through `trubrics-otel gateway`, by replicas, beside the in-process exporter.

Run: `.venv/bin/python benchmarks/bench_gateway.py [--spans 10000] [--replicas 1,2,4] [--senders 4]`

The local server runs in its own process (`trubrics-otel serve --database :memory:`), and so does each
gateway replica. In the same run it measures, keeping the best of `--repeats`:

- in-process (the baseline): `TrubricsSpanExporter.export()` of pre-built SDK spans in batches of 512,
  as `BatchSpanProcessor` hands them over by default: mapping, transport and HTTP included;
- gateway x R: the same spans, pre-encoded as OTLP protobuf export requests of 512 spans (one trace per
  span, as the Collector's load-balancing exporter would spread them), posted by `--senders` threads
  over keep-alive sessions to R replicas, each request to one replica in turn. A request counts when the
  replica answered 200, that is once Trubrics (the local server) has its records.

It prints spans per second and the ratio to the in-process rate measured in the same run. On a machine
with few cores the replicas, the server and the senders share them: the growth with replicas says what
one more process buys here, not on a cluster.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from trubrics_otel import TrubricsSpanExporter
from trubrics_otel._delivery import ContentJoin

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_exporter import KEY, build_spans, start_server

BATCH = 512


def start_replica(server_url: str, spool: Path) -> tuple[subprocess.Popen[str], str]:
    replica = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trubrics_otel.cli",
            "gateway",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--trubrics-host",
            server_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**_environment(), "TRUBRICS_SPOOL_DIR": str(spool)},
    )
    assert replica.stdout is not None
    match = re.search(r"on (http://\S+) ", replica.stdout.readline())
    assert match is not None, "the gateway did not start"
    return replica, match.group(1)


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TRUBRICS_", "OTEL_"))}


def fresh_bodies(count: int) -> list[bytes]:
    """Export requests of `count` new spans: calls sent before would be dropped as twins of themselves."""
    spans = build_spans(count)
    return [encode_spans(spans[i : i + BATCH]).SerializeToString() for i in range(0, len(spans), BATCH)]


def run_in_process(url: str, spans: Sequence[ReadableSpan]) -> float:
    exporter = TrubricsSpanExporter(KEY, url, join=ContentJoin(window=60), stamp_context=False)
    started = time.perf_counter()
    for start in range(0, len(spans), BATCH):
        exporter.export(spans[start : start + BATCH])
    elapsed = time.perf_counter() - started
    exporter.shutdown()
    assert exporter.client.stats().sent == len(spans), exporter.client.stats()
    return elapsed


def run_gateway(replicas: Sequence[str], bodies: Sequence[bytes], senders: int) -> float:
    work = list(enumerate(bodies))
    lock = threading.Lock()
    failures: list[int] = []

    def send() -> None:
        session = requests.Session()
        session.headers["Content-Type"] = "application/x-protobuf"
        while True:
            with lock:
                if not work:
                    return
                index, body = work.pop()
            answer = session.post(f"{replicas[index % len(replicas)]}/v1/traces", data=body, timeout=60)
            if answer.status_code != 200:
                failures.append(answer.status_code)

    threads = [threading.Thread(target=send) for _ in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not failures, failures
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    counts = [int(n) for n in args.replicas.split(",")]
    server, url = start_server(":memory:")
    spool = Path(f"/tmp/bench-gateway-spool-{time.time_ns()}")
    started = [start_replica(url, spool / str(n)) for n in range(max(counts))]
    try:
        warm_up = fresh_bodies(BATCH)[0]
        for _, replica in started:  # a first request warms each replica (imports, first connection)
            headers = {"Content-Type": "application/x-protobuf"}
            requests.post(
                f"{replica}/v1/traces", data=warm_up, headers=headers, timeout=60
            ).raise_for_status()
        baseline = min(run_in_process(url, build_spans(args.spans)) for _ in range(args.repeats))
        rows = [("in-process exporter (baseline)", baseline)]
        for count in counts:
            replicas = [replica for _, replica in started[:count]]
            best = min(
                run_gateway(replicas, fresh_bodies(args.spans), args.senders) for _ in range(args.repeats)
            )
            rows.append((f"gateway, {count} replica{'s' if count > 1 else ''}", best))
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=60)
        server.terminate()
        server.wait(timeout=30)
    print(
        f"{args.spans} LLM spans, batches of {BATCH}, {args.senders} sender threads, best of {args.repeats}"
    )
    print(f"| {'path':<32} | {'spans/s':>9} | {'x baseline':>10} |")
    print(f"|{'-' * 34}|{'-' * 10}:|{'-' * 11}:|")
    for name, seconds in rows:
        rate = args.spans / seconds
        print(f"| {name:<32} | {rate:>9,.0f} | {baseline / seconds:>10.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
