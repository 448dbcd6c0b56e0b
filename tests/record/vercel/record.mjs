// The Vercel AI SDK's telemetry, recorded against the fake OpenAI endpoint.
//
//     node record.mjs <base_url> [<scenario JSON>]
//
// Run by `tests/record/stacks/vercel-ai.py`, which starts the fake endpoint and passes its base URL and the
// scenario shared by every stack (`tests/record/_capture.py`). Each case runs the real `ai` package with
// `experimental_telemetry` on, the user and thread given as telemetry metadata (`userId`, `sessionId`), and
// writes the spans the OpenTelemetry JS SDK finished meanwhile to `tests/data/captures/vercel-ai-<case>.json`,
// in the format `_capture.py` writes.

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import { createOpenAI } from "@ai-sdk/openai";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { generateText, jsonSchema, streamText, tool } from "ai";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..", "..", "..");
const CAPTURES = join(REPO, "tests", "data", "captures");
const STACK = "vercel-ai";

const [baseURL, scenarioJSON] = process.argv.slice(2);
if (!baseURL) {
  console.error("usage: node record.mjs <base_url> [<scenario JSON>]");
  process.exit(2);
}
const SCENARIO = {
  USER_ID: "user-42",
  THREAD_ID: "thread-7",
  SYSTEM: "You are a helpful assistant.",
  CHAT: "Say hello to the team",
  STREAM: "Count to three",
  TOOL: "What is the weather in Paris?",
  TURNS: ["My name is Ada", "What is my name?"],
  WEATHER_TOOL: {
    name: "get_weather",
    description: "Get the current weather for a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
  ...(scenarioJSON ? JSON.parse(scenarioJSON) : {}),
};

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

const openai = createOpenAI({ baseURL, apiKey: "fake" });
// the Responses API is @ai-sdk/openai's default; the fake serves chat completions only
const model = openai.chat("gpt-4o");
const telemetry = {
  isEnabled: true,
  metadata: { userId: SCENARIO.USER_ID, sessionId: SCENARIO.THREAD_ID },
};
const weather = tool({
  description: SCENARIO.WEATHER_TOOL.description,
  inputSchema: jsonSchema(SCENARIO.WEATHER_TOOL.parameters),
  execute: async ({ city }) => `Sunny in ${city}`,
});

const cases = {
  chat: async () => {
    await generateText({
      model,
      system: SCENARIO.SYSTEM,
      prompt: SCENARIO.CHAT,
      experimental_telemetry: telemetry,
    });
  },
  stream: async () => {
    const result = streamText({
      model,
      system: SCENARIO.SYSTEM,
      prompt: SCENARIO.STREAM,
      experimental_telemetry: telemetry,
    });
    for await (const _ of result.textStream) {
      // read to the end
    }
    await result.text;
  },
  tool: async () => {
    await generateText({
      model,
      system: SCENARIO.SYSTEM,
      prompt: SCENARIO.TOOL,
      tools: { [SCENARIO.WEATHER_TOOL.name]: weather },
      experimental_telemetry: telemetry,
    });
  },
  conversation: async () => {
    const messages = [{ role: "user", content: SCENARIO.TURNS[0] }];
    const first = await generateText({
      model,
      system: SCENARIO.SYSTEM,
      messages,
      experimental_telemetry: telemetry,
    });
    messages.push({ role: "assistant", content: first.text }, { role: "user", content: SCENARIO.TURNS[1] });
    await generateText({ model, system: SCENARIO.SYSTEM, messages, experimental_telemetry: telemetry });
  },
};

function packageVersion(name) {
  return JSON.parse(readFileSync(join(HERE, "node_modules", name, "package.json"), "utf8")).version;
}

const VERSIONS = Object.fromEntries(
  [
    "ai",
    "@ai-sdk/openai",
    "@ai-sdk/provider-utils",
    "@opentelemetry/api",
    "@opentelemetry/sdk-trace-base",
    "@opentelemetry/sdk-trace-node",
  ].map((name) => [name, packageVersion(name)]),
);

// Nanosecond times do not fit a double: they are written as exact JSON integers through this marker.
const BIG = "\u0000bigint:";

function nanos(hrTime) {
  return `${BIG}${BigInt(hrTime[0]) * 1000000000n + BigInt(hrTime[1])}`;
}

function hex(id) {
  return id && !/^0+$/.test(id) ? id : null;
}

function plainAttributes(attributes) {
  return Object.fromEntries(
    Object.entries(attributes ?? {}).map(([key, value]) => [key, Array.isArray(value) ? [...value] : value]),
  );
}

function spanJSON(span) {
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  const scope = span.instrumentationScope;
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
    attributes: plainAttributes(span.attributes),
    events: span.events.map((event) => ({
      name: event.name,
      timestamp: nanos(event.time),
      attributes: plainAttributes(event.attributes),
    })),
    links: span.links.map((link) => ({
      trace_id: hex(link.context.traceId),
      span_id: hex(link.context.spanId),
    })),
    resource: plainAttributes(span.resource.attributes),
    instrumentation_scope: { name: scope?.name ?? null, version: scope?.version ?? null },
  };
}

function endNanos(span) {
  return BigInt(span.endTime[0]) * 1000000000n + BigInt(span.endTime[1]);
}

function write(name) {
  const spans = [...exporter.getFinishedSpans()].sort((a, b) => {
    const difference = endNanos(a) - endNanos(b);
    return difference < 0n ? -1 : difference > 0n ? 1 : 0;
  });
  const capture = {
    instrumentation: STACK,
    case: name,
    env: Object.fromEntries(
      Object.entries(process.env)
        .filter(([key]) => key.startsWith("OTEL_"))
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    ),
    versions: VERSIONS,
    spans: spans.map(spanJSON),
    logs: [],
  };
  const text = JSON.stringify(capture, null, 2).replace(/"\\u0000bigint:(\d+)"/g, "$1");
  mkdirSync(CAPTURES, { recursive: true });
  const path = join(CAPTURES, `${STACK}-${name}.json`);
  writeFileSync(path, text + "\n", "utf8");
  console.error(`${relative(REPO, path)}: ${spans.length} spans, 0 log records`);
}

for (const [name, run] of Object.entries(cases)) {
  await provider.forceFlush();
  exporter.reset();
  await run();
  await provider.forceFlush();
  write(name);
}
await provider.shutdown();
