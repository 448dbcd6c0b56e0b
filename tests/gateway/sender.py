"""A Python app's conversation, exported over OTLP/HTTP: `python sender.py --spans URL --logs URL ...`.

Each call is a GenAI span without its text (the OpenTelemetry GenAI conventions' v1.30 attributes) and two
content log records in its context, `gen_ai.user.message` and `gen_ai.choice`, as the openai-v2
instrumentation records them with content capture on: the gateway must join each call's span and records,
which come in separate export requests, into one LLM event.

With `--in-process`, the same providers also export to Trubrics through this package's own exporters
(TRUBRICS_HOST, TRUBRICS_API_KEY), so that the two paths can be compared on the very same spans.
Prints `accepted N` (the export requests the gateway answered 200) when done.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from otlp import JsonLogExporter, JsonSpanExporter


class Counting:
    """Wraps an exporter, counting the items of the batches it exported successfully (and their spans)."""

    def __init__(self, exporter, tally, accepted_ids=None):
        self.exporter = exporter
        self.tally = tally
        self.accepted_ids = accepted_ids

    def export(self, batch):
        result = self.exporter.export(batch)
        if result.name == "SUCCESS":
            self.tally[0] += len(batch)
            if self.accepted_ids is not None:
                self.accepted_ids.extend(f"{item.context.span_id:016x}" for item in batch)
        return result

    def __getattr__(self, name):
        return getattr(self.exporter, name)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", required=True, help="OTLP traces endpoint")
    parser.add_argument("--logs", required=True, help="OTLP logs endpoint")
    parser.add_argument("--encoding", choices=("protobuf", "json"), default="protobuf")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--user", default="user-1")
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--header", action="append", default=[], help="NAME=VALUE for every request")
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--batch", action="store_true", help="batch processors instead of simple ones")
    parser.add_argument("--complete", action="store_true", help="the text on the span, no content records")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between two calls")
    parser.add_argument("--accepted-ids", help="write the span ids of the spans accepted to this file")
    args = parser.parse_args()
    headers = dict(item.split("=", 1) for item in args.header)
    resource = Resource.create({"service.name": f"sender-{args.user}"})
    if args.encoding == "json":
        span_exporter = JsonSpanExporter(args.spans, headers)
        log_exporter = JsonLogExporter(args.logs, headers)
    else:
        compression = Compression.Gzip if args.gzip else Compression.NoCompression
        span_exporter = OTLPSpanExporter(endpoint=args.spans, headers=headers, compression=compression)
        log_exporter = OTLPLogExporter(endpoint=args.logs, headers=headers, compression=compression)
    accepted = [0]
    accepted_ids: list[str] = []
    spans_out = Counting(span_exporter, accepted, accepted_ids)
    logs_out = Counting(log_exporter, accepted)
    tracer_provider = TracerProvider(resource=resource)
    logger_provider = LoggerProvider(resource=resource)
    if args.batch:
        tracer_provider.add_span_processor(BatchSpanProcessor(spans_out, schedule_delay_millis=50))
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs_out, schedule_delay_millis=50))
    else:
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans_out))
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_out))
    if args.in_process:
        from trubrics_otel import TrubricsLogExporter, TrubricsSpanExporter

        span_trubrics = TrubricsSpanExporter(stamp_context=False)
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_trubrics))
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(TrubricsLogExporter()))
    tracer = tracer_provider.get_tracer("sender", "1.0")
    logger = logger_provider.get_logger("opentelemetry.instrumentation.openai_v2")
    for turn in range(args.calls):
        prompt = f"{args.user} asks question {turn}"
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.response.id": f"chatcmpl-{args.user}-{turn}",
                    "gen_ai.response.finish_reasons": ("stop",),
                    "gen_ai.usage.input_tokens": 11 + turn,
                    "gen_ai.usage.output_tokens": 7,
                    "user.id": args.user,
                    "session.id": f"thread-{args.user}",
                }
            )
            if args.complete:
                span.set_attributes(
                    {
                        "gen_ai.prompt.0.role": "user",
                        "gen_ai.prompt.0.content": prompt,
                        "gen_ai.completion.0.role": "assistant",
                        "gen_ai.completion.0.content": f"Echo: {prompt}",
                    }
                )
                time.sleep(args.pace)
                continue
            attributes = {"gen_ai.system": "openai"}
            logger.emit(event_name="gen_ai.user.message", body={"content": prompt}, attributes=attributes)
            time.sleep(0.001)
            logger.emit(
                event_name="gen_ai.choice",
                body={
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"Echo: {prompt}"},
                },
                attributes=attributes,
            )
        time.sleep(args.pace)
    # logs first, as an app's shutdown would have them: the spans then find their content waiting
    logger_provider.force_flush()
    tracer_provider.force_flush()
    logger_provider.shutdown()
    tracer_provider.shutdown()
    if args.accepted_ids:
        Path(args.accepted_ids).write_text("\n".join(accepted_ids))
    print(f"accepted {accepted[0]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
