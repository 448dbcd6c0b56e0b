"""The benchmark suite: every pipeline and its peers in one run, one table of ratios, and a JSON file.

Run: `python3 benchmarks/run.py [--quick] [--rounds N] [--json PATH]` (any Python 3.10+: the suite makes
or reuses its own environment, `.venv-bench`, from the pinned `benchmarks/requirements.txt`).

Figures on a shared machine move by tens of percent from one minute to the next, so no figure stands
alone: each is a ratio against a baseline measured in the same round. A round runs every pipeline once,
each in a fresh process (`benchmarks/pipelines.py`), one after the other, in an order that turns from
round to round; the table gives the median of each ratio over the rounds. Everything sends to one loopback
sink in a process of its own (`benchmarks/sink.py`), which parses what it gets and counts it.

What is compared (the budget of issue #12 beside each):

1. a burst of LLM records logged as fast as a loop can, default settings: how many arrive at the sink
   (TrubricsHandler, OpenTelemetry's LoggingHandler + BatchLogRecordProcessor + OTLPLogExporter,
   logtail's LogtailHandler, the official `trubrics` SDK's `track_llm`), and the memory the burst added;
2. the wall time per `logger.info(...)` in the app thread while the handler delivers beside it, against
   a NullHandler given the same call: an LLM record (`extra=` with six keys) and an ordinary line;
3. the whole span pipeline (spans made and ended, `BatchSpanProcessor(max_export_batch_size=100)`,
   exported, delivered): items per second against the OTLP/HTTP exporter's pipeline and against a raw
   JSON POST of the same events, and the app thread's µs per span against a no-op exporter's pipeline;
4. `TrubricsSpanExporter.export()` of pre-built LLM spans, in calls of 100 (what `configure()` installs)
   and in one call, against the raw JSON POST of the same events (arrays of 100, one `requests.Session`);
5. how cost grows: conversations of 1, 10 and 100 messages, prompts of 1 KB and 100 KB, 1 and 8 app
   threads, for the handler's caller cost and for `export()` against the raw POST.

`--quick` runs three short rounds without the growth rows and a smaller burst: about a minute.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
VENV = ROOT / ".venv-bench"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = BENCH / "requirements.txt"

Job = dict[str, Any]
Result = dict[str, Any]


# --- the environment ----------------------------------------------------------------------------


def ensure_environment() -> None:
    """Make `.venv-bench` from the pinned requirements, or reuse it when they have not changed."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / "requirements.sha256"
    if PYTHON.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    print(f"making {VENV.name} from {REQUIREMENTS.relative_to(ROOT)} ...", flush=True)
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True, cwd=ROOT)
    stamp.write_text(digest)


def versions() -> dict[str, str]:
    """The versions of what is measured, read in the suite's environment."""
    code = (
        "import json, importlib.metadata as m, platform\n"
        "names = ['trubrics-otel', 'opentelemetry-sdk', 'opentelemetry-exporter-otlp-proto-http', "
        "'trubrics', 'logtail-python', 'requests', 'orjson']\n"
        "found = {}\n"
        "for n in names:\n"
        "    try: found[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "found['python'] = platform.python_version()\n"
        "print(json.dumps(found))\n"
    )
    out = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


# --- the sink and the jobs ----------------------------------------------------------------------


class Sink:
    """The loopback sink, in a process of its own; `delivered()` reads its counts."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [str(PYTHON), str(BENCH / "sink.py")], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().split(" on ", 1)[1].strip()

    def counts(self) -> dict[str, int]:
        code = (
            f"import urllib.request; print(urllib.request.urlopen({self.url!r} + '/counts').read().decode())"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        return dict(json.loads(out))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run_job(job: Job, sink: Sink) -> Result:
    """Run one pipeline in a fresh process; add what the sink received meanwhile (`delivered`).

    Each process has a spool directory of its own, removed after it: what one job left on disk is never
    sent by the next (all send to one sink with one key), nor counted as its delivery.
    """
    before = sink.counts()
    with tempfile.TemporaryDirectory(prefix="trubrics-bench-spool-") as spool:
        completed = subprocess.run(
            [str(PYTHON), str(BENCH / "pipelines.py"), json.dumps(job | {"url": sink.url})],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env=os.environ | {"PYTHONHASHSEED": "0", "TRUBRICS_SPOOL_DIR": spool},
        )
    if completed.returncode != 0 or not completed.stdout.strip():
        raise RuntimeError(f"{job} failed:\n{completed.stderr[-3000:]}")
    result: Result = json.loads(completed.stdout.strip().splitlines()[-1])
    if job["kind"] != "log":  # a log job does not wait for delivery
        after = sink.counts()
        result["delivered"] = sum(after.values()) - sum(before.values())
    return result


class Row(NamedTuple):
    """One line of the table: a ratio of two jobs' figures per round (or one job's figure), and its budget."""

    item: str
    what: str
    figure: Callable[[dict[str, Result]], float]
    unit: str = "x"
    budget: str = ""
    met: Callable[[float], bool] | None = None


def _us(name: str) -> Callable[[dict[str, Result]], float]:
    return lambda results: float(results[name]["us_per_call"])


def _ratio(
    numerator: str, denominator: str, key: str = "us_per_call"
) -> Callable[[dict[str, Result]], float]:
    return lambda results: float(results[numerator][key]) / float(results[denominator][key])


def _spans_rate(name: str, count: int) -> Callable[[dict[str, Result]], float]:
    return lambda results: count / float(results[name]["total_s"])


def timed_jobs(quick: bool) -> tuple[dict[str, Job], list[Row]]:
    """The jobs every round runs, by name, and the rows of the table their ratios make."""
    calls = 5_000 if quick else 20_000
    spans = 2_000 if quick else 5_000
    jobs: dict[str, Job] = {}
    rows: list[Row] = []

    def log(name: str, door: str, record: str = "llm", **shape: Any) -> str:
        jobs[name] = {"kind": "log", "door": door, "record": record, "calls": calls, **shape}
        return name

    # 2. the caller's cost
    for record in ("llm", "plain"):
        log(f"null {record}", "null", record)
        for door in ("trubrics", "otel", "logtail", *(("sdk",) if record == "llm" else ())):
            log(f"{door} {record}", door, record)
    names = {"trubrics": "TrubricsHandler", "otel": "OTel LoggingHandler+BLRP+OTLP", "logtail": "logtail"}
    names["sdk"] = "trubrics SDK track_llm()"
    for door, label in names.items():
        budget = "<= 1.3x" if door == "trubrics" else ""
        met = (lambda value: value <= 1.3) if door == "trubrics" else None
        rows.append(
            Row(
                "2",
                f"LLM record, wall in app thread, {label} / NullHandler",
                _ratio(f"{door} llm", "null llm"),
                "x",
                budget,
                met,
            )
        )
    rows.append(
        Row(
            "2",
            "LLM record, the app thread's own CPU, TrubricsHandler / NullHandler",
            _ratio("trubrics llm", "null llm", "cpu_us_per_call"),
        )
    )
    for door in ("trubrics", "otel", "logtail"):
        budget = "<= 1.05x" if door == "trubrics" else ""
        met = (lambda value: value <= 1.05) if door == "trubrics" else None
        rows.append(
            Row(
                "2",
                f"ordinary line, wall in app thread, {names[door]} / NullHandler",
                _ratio(f"{door} plain", "null plain"),
                "x",
                budget,
                met,
            )
        )

    # 3. the span pipeline, and 4. export()
    for exporter in ("trubrics", "otlp", "noop"):
        jobs[f"spans {exporter}"] = {"kind": "spans", "exporter": exporter, "calls": spans}
    jobs["raw"] = {"kind": "raw", "calls": spans}
    jobs["export 100"] = {"kind": "export", "batch": 100, "calls": spans}
    jobs["export all"] = {"kind": "export", "batch": 0, "calls": spans}

    def pipeline_rate(name: str) -> Callable[[dict[str, Result]], float]:
        return lambda results: spans / float(results[name]["total_s"]) / float(results["raw"]["items_per_s"])

    rows += [
        Row(
            "3",
            "span pipeline items/s, trubrics / OTLP-HTTP",
            _ratio("spans otlp", "spans trubrics", "total_s"),
            "x",
            ">= 1.5x",
            lambda v: v >= 1.5,
        ),
        Row("3", "span pipeline items/s, trubrics / raw JSON POST", pipeline_rate("spans trubrics")),
        Row("3", "span pipeline items/s, OTLP-HTTP / raw JSON POST", pipeline_rate("spans otlp")),
        Row("3", "span pipeline items/s, no-op exporter / raw JSON POST", pipeline_rate("spans noop")),
        Row(
            "3",
            "app-thread us per span, trubrics / no-op pipeline",
            _ratio("spans trubrics", "spans noop", "us_per_span"),
            "x",
            "<= 1.2x",
            lambda v: v <= 1.2,
        ),
        Row(
            "3",
            "app-thread us per span, OTLP-HTTP / no-op pipeline",
            _ratio("spans otlp", "spans noop", "us_per_span"),
        ),
        Row(
            "4",
            "export() of 100 spans per call, items/s / raw JSON POST",
            _ratio("export 100", "raw", "items_per_s"),
            "x",
            ">= 0.7x",
            lambda v: v >= 0.7,
        ),
        Row(
            "4",
            f"export() of {spans} spans in one call, items/s / raw JSON POST",
            _ratio("export all", "raw", "items_per_s"),
            "x",
            ">= 0.7x",
            lambda v: v >= 0.7,
        ),
        Row(
            "4",
            "CPU us per item, export() of 100 / raw JSON POST",
            _ratio("export 100", "raw", "cpu_us_per_item"),
        ),
    ]
    if quick:
        return jobs, rows

    # 5. growth
    shapes: dict[str, dict[str, Any]] = {
        "1 message": {"messages": 1},
        "10 messages": {"messages": 10},
        "100 messages": {"messages": 100},
        "1 KB prompt": {"prompt_bytes": 1_000},
        "100 KB prompt": {"prompt_bytes": 100_000},
        "8 app threads": {"threads": 8},
    }
    for label, shape in shapes.items():
        log(f"null llm {label}", "null", **shape)
        log(f"trubrics llm {label}", "trubrics", **shape)
        rows.append(
            Row(
                "5",
                f"LLM record, {label}: TrubricsHandler / NullHandler",
                _ratio(f"trubrics llm {label}", f"null llm {label}"),
                "x",
                "flat",
                None,
            )
        )
    for label, shape in shapes.items():
        if "threads" in shape:
            continue
        count = 500 if shape.get("prompt_bytes", 0) > 10_000 else spans
        jobs[f"export 100 {label}"] = {"kind": "export", "batch": 100, "calls": count, **shape}
        jobs[f"raw {label}"] = {"kind": "raw", "calls": count, **shape}
        rows.append(
            Row(
                "5",
                f"export() of 100, {label}: items/s / raw JSON POST",
                _ratio(f"export 100 {label}", f"raw {label}", "items_per_s"),
                "x",
                "flat",
                None,
            )
        )
    return jobs, rows


def burst_jobs(quick: bool) -> dict[str, Job]:
    """The bursts, run once each: delivery is counted, not timed."""
    calls = 20_000 if quick else 52_000
    jobs = {
        f"burst {door}": {"kind": "burst", "door": door, "record": "llm", "calls": calls}
        for door in ("trubrics", "otel", "logtail", "sdk")
    }
    if not quick:
        jobs["burst trubrics 20000"] = {"kind": "burst", "door": "trubrics", "record": "llm", "calls": 20_000}
        jobs["burst trubrics 100 KB"] = {
            "kind": "burst",
            "door": "trubrics",
            "record": "llm",
            "calls": 2_000,
            "prompt_bytes": 100_000,
        }
    return jobs


# --- the run ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="three short rounds, no growth rows (about a minute)"
    )
    parser.add_argument("--rounds", type=int, help="rounds of every timed pipeline (default 5, quick 3)")
    parser.add_argument("--only", help="run only the jobs whose name contains this text (a profiling aid)")
    parser.add_argument("--json", type=Path, default=VENV / "last-run.json", help="where the results go")
    args = parser.parse_args()
    ensure_environment()
    rounds = args.rounds or (3 if args.quick else 5)
    jobs, rows = timed_jobs(args.quick)
    bursts = burst_jobs(args.quick)
    if args.only:
        jobs = {name: job for name, job in jobs.items() if args.only in name}
        bursts = {name: job for name, job in bursts.items() if args.only in name}
        rows = []
    started = time.monotonic()
    sink = Sink()
    per_round: list[dict[str, Result]] = []
    burst_results: dict[str, Result] = {}
    try:
        names = list(jobs)
        for number in range(rounds):
            turn = number * len(names) // rounds
            results: dict[str, Result] = {}
            for name in names[turn:] + names[:turn]:
                results[name] = run_job(jobs[name], sink)
            per_round.append(results)
            print(f"round {number + 1}/{rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        for name, job in bursts.items():
            burst_results[name] = run_job(job | {"wait": 120.0}, sink)
            print(f"{name} done ({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        sink.stop()

    table: list[dict[str, Any]] = []
    for row in rows:
        values = [row.figure(results) for results in per_round]
        median = statistics.median(values)
        table.append(
            {
                "item": row.item,
                "what": row.what,
                "median": median,
                "low": min(values),
                "high": max(values),
                "budget": row.budget,
                "met": None if row.met is None else row.met(median),
            }
        )
    for name, result in burst_results.items():
        job = bursts[name]
        table.append(
            {
                "item": "1",
                "what": f"{name}: delivered of {job['calls']}",
                "median": result["delivered"],
                "low": result["delivered"],
                "high": result["delivered"],
                "budget": f"= {job['calls']}" if name.startswith("burst trubrics") else "",
                "met": result["delivered"] == job["calls"] if name.startswith("burst trubrics") else None,
                "peak_rss_growth_mib": result["peak_rss_growth_mib"],
                "counts": result["counts"],
            }
        )
    print_table(table, rounds)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python3", "benchmarks/run.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "rounds": rounds,
        "table": table,
        "per_round": per_round,
        "bursts": burst_results,
        "seconds": round(time.monotonic() - started),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\n{len(per_round)} rounds in {report['seconds']} s; results in {args.json}")
    return 0


def print_table(table: list[dict[str, Any]], rounds: int) -> None:
    """Print the table as Markdown: median ratio (range over the rounds), budget, met."""
    print(f"\n| # | what (median of {rounds} rounds; range) | figure | budget | met |")
    print("|---|---|---|---|---|")
    for line in table:
        if line["item"] == "1":
            figure = f"{line['median']:,} (+{line['peak_rss_growth_mib']:.0f} MiB peak)"
        else:
            figure = f"{line['median']:.2f}x ({line['low']:.2f}-{line['high']:.2f})"
        met = "" if line["met"] is None else ("yes" if line["met"] else "**no**")
        print(f"| {line['item']} | {line['what']} | {figure} | {line['budget']} | {met} |")


if __name__ == "__main__":
    sys.exit(main())
