// A Vercel AI SDK app exporting its telemetry over OTLP/HTTP (JSON) to `trubrics-otel gateway`.
//
//     node app.mjs <fake OpenAI base URL> <OTLP traces URL> <capture file>
//
// Run by `tests/gateway/test_node.py`. The app holds a two-turn conversation and a single question with
// the real `ai` package, `experimental_telemetry` on, the user and thread given as telemetry metadata.
// Every span goes to the gateway through the OpenTelemetry JS OTLP/HTTP exporter, and is also written to
// the capture file (the format of tests/data/captures), so that the test can send the very same spans
// through the Python path and compare what each stores.

import { writeFileSync } from "node:fs";

import { createOpenAI } from "@ai-sdk/openai";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { generateText } from "ai";

const [baseURL, tracesURL, capturePath] = process.argv.slice(2);
if (!baseURL || !tracesURL || !capturePath) {
  console.error("usage: node app.mjs <base_url> <otlp_traces_url> <capture_file>");
  process.exit(2);
}

const memory = new InMemorySpanExporter();
const otlp = new OTLPTraceExporter({ url: tracesURL, headers: { "x-api-key": process.env.GATEWAY_KEY ?? "" } });
const provider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(memory), new BatchSpanProcessor(otlp, { scheduledDelayMillis: 50 })],
});
provider.register();

const openai = createOpenAI({ baseURL, apiKey: "fake" });
const model = openai.chat("gpt-4o");
const telemetry = { isEnabled: true, metadata: { userId: "user-42", sessionId: "thread-7" } };
const SYSTEM = "You are a helpful assistant.";

const messages = [{ role: "user", content: "My name is Ada" }];
const first = await generateText({ model, system: SYSTEM, messages, experimental_telemetry: telemetry });
messages.push({ role: "assistant", content: first.text }, { role: "user", content: "What is my name?" });
await generateText({ model, system: SYSTEM, messages, experimental_telemetry: telemetry });
await generateText({ model, system: SYSTEM, prompt: "Say hello to the team", experimental_telemetry: telemetry });

await provider.forceFlush();
const finished = [...memory.getFinishedSpans()]; // shutdown() empties the in-memory exporter
await provider.shutdown();

// Nanosecond times do not fit a double: they are written as exact JSON integers through this marker.
const BIG = "\u0000bigint:";
const nanos = (hrTime) => `${BIG}${BigInt(hrTime[0]) * 1000000000n + BigInt(hrTime[1])}`;
const hex = (id) => (id && !/^0+$/.test(id) ? id : null);
const plain = (attributes) =>
  Object.fromEntries(Object.entries(attributes ?? {}).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]));

const spans = finished.map((span) => {
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  return {
    name: span.name,
    kind: SpanKind[span.kind],
    trace_id: hex(context.traceId),
    span_id: hex(context.spanId),
    parent_span_id: parent ? hex(parent.spanId) : null,
    parent_is_remote: Boolean(parent && parent.isRemote),
    start_time: nanos(span.startTime),
    end_time: nanos(span.endTime),
    status: { status_code: SpanStatusCode[span.status.code], description: span.status.message ?? null },
    attributes: plain(span.attributes),
    events: span.events.map((e) => ({ name: e.name, timestamp: nanos(e.time), attributes: plain(e.attributes) })),
    resource: plain(span.resource.attributes),
    instrumentation_scope: { name: span.instrumentationScope?.name ?? null },
  };
});
const text = JSON.stringify({ spans }, null, 2).replace(/"\\u0000bigint:(\d+)"/g, "$1");
writeFileSync(capturePath, text + "\n", "utf8");
console.log(`exported ${spans.length} spans`);
