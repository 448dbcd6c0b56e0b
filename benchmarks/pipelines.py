"""One pipeline of the suite, measured in the fresh process this script is: what `run.py` starts each time.

`python benchmarks/pipelines.py '<job as JSON>'` sets up one pipeline against the sink at the job's `url`,
drives it, and prints one line of JSON with what it measured. Nothing here compares: `run.py` runs every
pipeline of a round one after the other, each in a process of its own, and divides the figures of one
round by each other.

The kinds of job (`"kind"`):

- `log`: a logger with one handler (`door`: `null`, `trubrics`, `otel`, `logtail`; or `sdk`, the official
  SDK's `track_llm`), called `calls` times from `threads` app threads as fast as a loop can, with an LLM
  record (`record`: `llm`) or an ordinary line (`plain`). It reports the wall time per call in the app
  threads while the handler's delivery runs beside them: what the application feels, lock contention
  included. It does not wait for delivery.
- `burst`: the same LLM records through `door`, `calls` of them, then waits for delivery (up to `wait` s:
  a `TrubricsHandler` until what overflowed into its spool was sent again, then `close()`) and reports the
  peak memory the burst added and the handler's own counts; `run.py` reads what arrived from the sink.
- `spans`: the whole span pipeline: a `TracerProvider`, `BatchSpanProcessor(max_export_batch_size=100)`
  (its queue holds every span, `OTEL_BSP_MAX_QUEUE_SIZE`), an exporter (`exporter`: `trubrics` through
  `configure()`, `otlp`, `noop`); `calls` LLM spans made and ended in the app thread, then a
  `force_flush()`. It reports the app thread's wall µs per span and the items delivered per second.
- `export`: `TrubricsSpanExporter.export()` of `calls` pre-built LLM spans in calls of `batch`.
- `raw`: the LLM events those spans become, as JSON arrays of 100 POSTed over one `requests.Session`.

`messages` (the length of the conversation each record carries) and `prompt_bytes` (the size of its last
prompt) shape the records of every kind alike; `pool` (a `log` job's) is how many distinct records are
made beforehand and logged in turn. With `messages` given, an LLM log record carries its
conversation as GenAI messages (`gen_ai.input.messages`); without, the plain keys (`prompt`, ...).
"""

# ruff: noqa: PLC0415 - a pipeline imports only its own peers, so that the others cost its process nothing

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

KEY = "bench-key"
POOL = 1000
"""Records are made before the clock starts, this many distinct ones, and logged in turn."""
Job = dict[str, Any]


# --- the records --------------------------------------------------------------------------------


def _prompt(index: int, size: int) -> str:
    text = f"Question number {index}: what is the capital of France?"
    return text + " " + "x" * (size - len(text) - 1) if size > len(text) else text


def conversation(index: int, messages: int, prompt_bytes: int) -> list[dict[str, str]]:
    """The input messages of one call: `messages` of them, the last the user's prompt."""
    history = [
        {"role": "user" if turn % 2 == 0 else "assistant", "content": f"Turn {turn} of the conversation."}
        for turn in range(messages - 1)
    ]
    return [*history, {"role": "user", "content": _prompt(index, prompt_bytes)}]


def log_extra(index: int, job: Job) -> dict[str, object]:
    """The `extra=` of one LLM record: the plain keys, or GenAI messages for a conversation."""
    messages, prompt_bytes = job.get("messages"), job.get("prompt_bytes", 0)
    if messages is None:
        return {
            "user_id": f"user-{index % 200}",
            "prompt": _prompt(index, prompt_bytes),
            "generation": "The capital of France is Paris.",
            "assistant_id": "gpt-4o",
            "latency": 0.42,
            "thread_id": f"thread-{index % 50}",
        }
    return {
        "user_id": f"user-{index % 200}",
        "thread_id": f"thread-{index % 50}",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": conversation(index, messages, prompt_bytes),
        "gen_ai.output.messages": [{"role": "assistant", "content": "The capital of France is Paris."}],
    }


def span_attributes(index: int, job: Job) -> dict[str, Any]:
    """The attributes of one OpenTelemetry GenAI chat span (messages as JSON text, as instrumentations do)."""
    messages = [
        {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
        for m in conversation(index, job.get("messages", 2), job.get("prompt_bytes", 0))
    ]
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.usage.output_tokens": 17,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.conversation.id": f"thread-{index % 50}",
        "user.id": f"user-{index % 200}",
        "gen_ai.input.messages": json.dumps(messages),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": f"Answer number {index}."}],
                    "finish_reason": "stop",
                }
            ]
        ),
    }


# --- logging ------------------------------------------------------------------------------------


class _Door:
    """A logging pipeline: the call the app makes, and how to wait for its delivery."""

    def __init__(self, call: Callable[[int], None], finish: Callable[[float], dict[str, Any]]) -> None:
        self.call = call
        self.finish = finish


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger("bench.app")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _log_call(logger: logging.Logger, job: Job) -> Callable[[int], None]:
    info = logger.info
    if job["record"] == "plain":
        return lambda index: info("GET %s answered %d in %.1f ms", "/health", 200, 3.2)
    pool = job.get("pool") or (POOL if job.get("prompt_bytes", 0) < 10_000 else 50)  # 100 KB prompts: 50
    extras = [log_extra(index, job) for index in range(pool)]
    return lambda index: info("chat completion", extra=extras[index % pool])


def make_door(job: Job) -> _Door:
    """The pipeline of a `log` or `burst` job."""
    door, url = job["door"], job["url"]
    if door == "null":
        logger = _logger(logging.NullHandler())
        return _Door(_log_call(logger, job), lambda wait: {})
    if door == "trubrics":
        from trubrics_otel import TrubricsHandler

        handler = TrubricsHandler(KEY, url)
        logger = _logger(handler)

        def finish_trubrics(wait: float) -> dict[str, Any]:
            # what overflowed into the spool is sent again while the app runs on: wait for that, as an app
            # that keeps running would, then close
            deadline = time.monotonic() + wait
            handler.flush(wait)
            while time.monotonic() < deadline:
                stats = handler.stats()
                if stats.sent + getattr(stats, "replayed", 0) + sum(stats.dropped.values()) >= job["calls"]:
                    break
                time.sleep(0.1)
            handler.close(max(deadline - time.monotonic(), 1.0))
            stats = handler.stats()
            return {
                "sent": stats.sent,
                "failed": stats.failed,
                "dropped": dict(stats.dropped),
                "spooled": getattr(stats, "spooled", None),
                "replayed": getattr(stats, "replayed", None),
            }

        return _Door(_log_call(logger, job), finish_trubrics)
    if door == "otel":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        provider = LoggerProvider()
        provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
        logger = _logger(LoggingHandler(logger_provider=provider))

        def finish_otel(wait: float) -> dict[str, Any]:
            provider.force_flush(int(wait * 1000))
            provider.shutdown()
            return {}

        return _Door(_log_call(logger, job), finish_otel)
    if door == "logtail":
        from logtail import LogtailHandler  # type: ignore[import-not-found,unused-ignore]

        logtail = LogtailHandler(source_token=KEY, host=f"{url}/logtail", flush_timeout=None)
        logger = _logger(logtail)

        def finish_logtail(wait: float) -> dict[str, Any]:
            if logtail.flush_thread is not None:
                logtail.flush_thread.flush(timeout=wait)
            return {"dropped": logtail.dropcount}

        return _Door(_log_call(logger, job), finish_logtail)
    if door == "sdk":
        from trubrics import Trubrics  # type: ignore[import-not-found,unused-ignore]

        logging.getLogger("trubrics").setLevel(logging.WARNING)
        client = Trubrics(api_key=KEY, host=url)
        extras = [log_extra(index, job | {"messages": None}) for index in range(POOL)]

        def track(index: int) -> None:
            extra = extras[index % POOL]
            client.track_llm(
                user_id=extra["user_id"],
                prompt=extra["prompt"],
                generation=extra["generation"],
                assistant_id="gpt-4o",
                latency=0.42,
                thread_id=extra["thread_id"],
            )

        def finish_sdk(wait: float) -> dict[str, Any]:
            client.close()
            return {}

        return _Door(track, finish_sdk)
    raise ValueError(f"no door {door!r}")


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_log(job: Job) -> dict[str, Any]:
    """Time `calls` calls from `threads` app threads, in three equal stretches; the median stretch counts.

    Each figure is per call, averaged over the threads: the wall time, and the app thread's own CPU.
    """
    door = make_door(job)
    call, threads, calls = door.call, job.get("threads", 1), job["calls"]
    for index in range(200):  # warm: the worker thread started, the connection made
        call(index)
    time.sleep(0.2)
    per_stretch = calls // threads // 3
    walls: list[list[float]] = [[], [], []]
    cpus: list[list[float]] = [[], [], []]
    start = threading.Barrier(threads)

    def loop() -> None:
        start.wait()
        for stretch in range(3):
            first = stretch * per_stretch
            began, cpu = time.perf_counter(), time.thread_time()
            for index in range(first, first + per_stretch):
                call(index)
            walls[stretch].append(time.perf_counter() - began)
            cpus[stretch].append(time.thread_time() - cpu)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "us_per_call": statistics.median(sum(wall) / len(wall) for wall in walls) / per_stretch * 1e6,
        "cpu_us_per_call": statistics.median(sum(cpu) / len(cpu) for cpu in cpus) / per_stretch * 1e6,
    }


def run_burst(job: Job) -> dict[str, Any]:
    """Log `calls` LLM records as fast as a loop can, then wait for their delivery."""
    door = make_door(job)
    call = door.call
    before = _peak_rss_kib()
    began = time.perf_counter()
    for index in range(job["calls"]):
        call(index)
    logged = time.perf_counter() - began
    counts = door.finish(job.get("wait", 120.0))
    return {
        "logged_s": logged,
        "total_s": time.perf_counter() - began,
        "peak_rss_growth_mib": (_peak_rss_kib() - before) / 1024,
        "counts": counts,
    }


# --- spans --------------------------------------------------------------------------------------


def run_spans(job: Job) -> dict[str, Any]:
    """The whole span pipeline: spans made and ended in the app thread, batched, exported, delivered."""
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = str(job["calls"] + 1000)  # none dropped: throughput is measured
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    provider = TracerProvider()
    exported = [0]
    if job["exporter"] == "trubrics":
        from trubrics_otel import configure

        configure(KEY, job["url"], tracer_provider=provider)
    else:
        exporter: SpanExporter
        if job["exporter"] == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=f"{job['url']}/v1/traces")
        else:

            class NoOpExporter(SpanExporter):
                def export(self, spans: Sequence[Any]) -> SpanExportResult:
                    exported[0] += len(spans)
                    return SpanExportResult.SUCCESS

            exporter = NoOpExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=100))
    tracer = provider.get_tracer("bench")
    count = job["calls"]
    attributes = [span_attributes(index, job) for index in range(min(count, POOL))]
    with tracer.start_as_current_span("warm", attributes=attributes[0]):
        pass
    provider.force_flush()
    exported[0] = 0
    began = time.perf_counter()
    for index in range(count):
        with tracer.start_as_current_span("chat gpt-4o", attributes=attributes[index % POOL]):
            pass
    made = time.perf_counter() - began
    provider.force_flush(120_000)
    total = time.perf_counter() - began
    provider.shutdown()
    return {"us_per_span": made / count * 1e6, "total_s": total, "exported": exported[0]}


def _prebuilt_spans(job: Job) -> list[Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for index in range(job["calls"] + 1):  # one more, to warm the connection with
        with tracer.start_as_current_span("chat gpt-4o", attributes=span_attributes(index, job)):
            pass
    return list(memory.get_finished_spans())


def run_export(job: Job) -> dict[str, Any]:
    """`export()` of pre-built LLM spans in calls of `batch`: items per second, export to answer."""
    from trubrics_otel import TrubricsSpanExporter

    *spans, warm = _prebuilt_spans(job)
    exporter = TrubricsSpanExporter(KEY, job["url"], stamp_context=False)
    exporter.export([warm])  # the connection made
    batch = job["batch"] or len(spans)
    began, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(spans), batch):
        exporter.export(spans[start : start + batch])
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    exporter.shutdown()
    stats = exporter.client.stats()
    return {"items_per_s": len(spans) / wall, "cpu_us_per_item": cpu / len(spans) * 1e6, "sent": stats.sent}


def run_raw(job: Job) -> dict[str, Any]:
    """The floor: the LLM events the spans become, as JSON arrays of 100 POSTed over one Session."""
    import requests

    from trubrics_otel._exporters import span_data
    from trubrics_otel.mapping import LLMCall, MappingOptions, interpret

    options = MappingOptions()
    events = []
    for span in _prebuilt_spans(job)[:-1]:
        call = interpret(span_data(span), options)
        assert isinstance(call, LLMCall)
        event = call.to_event(options)
        assert event is not None
        events.append(event.to_json())
    session = requests.Session()
    session.headers.update({"x-api-key": KEY, "Content-Type": "application/json"})
    url = f"{job['url']}/publish_llm_events"
    session.post(url, data=json.dumps(events[:1]).encode(), timeout=30).raise_for_status()
    began, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(events), 100):
        body = json.dumps(events[start : start + 100]).encode()
        session.post(url, data=body, timeout=30).raise_for_status()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {"items_per_s": len(events) / wall, "cpu_us_per_item": cpu / len(events) * 1e6}


RUNS: dict[str, Callable[[Job], dict[str, Any]]] = {
    "log": run_log,
    "burst": run_burst,
    "spans": run_spans,
    "export": run_export,
    "raw": run_raw,
}


def main() -> None:
    job: Job = json.loads(sys.argv[1])
    result = RUNS[job["kind"]](job)
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    if job["kind"] == "log":
        os._exit(0)  # the cost is measured; what is still queued is not this job's concern


if __name__ == "__main__":
    main()
