"""Count the CPU instructions TrubricsSpanExporter spends translating one span, with callgrind.

Run: `.venv/bin/python benchmarks/translate_instructions.py [--spans 1000]` (needs valgrind).

Timings on a shared 2-core machine vary by 10 to 30 % from run to run; instruction counts do not. This
runs the same program twice under `valgrind --tool=callgrind`, once building the spans only and once also
translating them (mapping, join, LLM events; no HTTP), and prints the difference per span. Use it to tell
whether a change to the mapping made it cheaper.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

from bench_exporter import build_spans  # this script's folder is first on sys.path

from trubrics_otel import TrubricsSpanExporter
from trubrics_otel._delivery import ContentJoin


def child(mode: str, count: int) -> None:
    spans = build_spans(count)
    exporter = TrubricsSpanExporter(
        "key", "http://127.0.0.1:9", join=ContentJoin(window=60), stamp_context=False
    )
    exporter._translate(spans[:100])
    if mode == "translate":
        for start in range(0, count, 100):
            exporter._translate(spans[start : start + 100])


def instructions(mode: str, count: int) -> int:
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            mode,
            "--spans",
            str(count),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--child", choices=["build", "translate"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.spans)
        return
    spent = instructions("translate", args.spans) - instructions("build", args.spans)
    print(f"translate: {spent // args.spans:,} instructions per span ({args.spans} spans, callgrind)")


if __name__ == "__main__":
    main()
