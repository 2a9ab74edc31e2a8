/**
 * Traces with an in-memory exporter: a W3C traceparent sent with a REST request or in gRPC metadata
 * is the parent of the request's `modelmora.infer` span, under which the queue, batch and the
 * worker's own compute span hang, all in the caller's trace.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, type GrpcObject, Metadata, type ServiceClientConstructor, credentials } from "@grpc/grpc-js";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { type GrpcServer, createGrpcServer } from "../../src/api/grpc/server.ts";
import { createTracing } from "../../src/observability/tracing.ts";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";

const exporter = new InMemorySpanExporter();
let fixture: CoreFixture;
let grpcServer: GrpcServer;
let client: Client & Record<string, any>;

beforeAll(async () => {
  fixture = await startCore({}, { tracing: createTracing({}, exporter) });
  await fixture.core.models.register({ name: "add", version: "1", task: "tensor", source: fixture.fixtures.add, config: {} });
  grpcServer = createGrpcServer(fixture.core, { maxMessageBytes: 4 * 1024 * 1024 });
  const port = await grpcServer.listen("127.0.0.1", 0);
  const { grpcObject } = loadProtos(["kserve/grpc_predict_v2.proto"]);
  const KServeClient = (grpcObject.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;
  client = new KServeClient(`127.0.0.1:${port}`, credentials.createInsecure()) as Client & Record<string, any>;
});

afterAll(async () => {
  client?.close();
  await grpcServer?.close(1_000);
  await fixture?.[Symbol.asyncDispose]();
});

const INPUTS = [
  { name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] },
  { name: "b", shape: [1, 4], datatype: "FP32", data: [1, 1, 1, 1] },
];

/** The spans of one trace, and the chain of parents from `span` up to the caller's span id. */
function ancestry(spans: ReadableSpan[], span: ReadableSpan): string[] {
  const byId = new Map(spans.map((each) => [each.spanContext().spanId, each]));
  const chain: string[] = [];
  let parentId = span.parentSpanContext?.spanId;
  while (parentId) {
    chain.push(parentId);
    parentId = byId.get(parentId)?.parentSpanContext?.spanId;
  }
  return chain;
}

function expectTraced(traceId: string, callerSpanId: string): void {
  const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
  const names = spans.map((span) => span.name).sort();
  expect(names).toEqual(["modelmora.batch", "modelmora.infer", "modelmora.queue", "modelmora.worker.compute"]);
  const infer = spans.find((span) => span.name === "modelmora.infer")!;
  expect(infer.parentSpanContext?.spanId).toBe(callerSpanId);
  expect(infer.attributes["modelmora.model"]).toBe("add");
  const compute = spans.find((span) => span.name === "modelmora.worker.compute")!;
  const chain = ancestry(spans, compute);
  expect(chain.at(-1)).toBe(callerSpanId);
  expect(chain).toContain(infer.spanContext().spanId);
  // The worker's own clock times its span, inside the request's.
  const startOf = (span: ReadableSpan) => span.startTime[0] * 1e3 + span.startTime[1] / 1e6;
  const endOf = (span: ReadableSpan) => span.endTime[0] * 1e3 + span.endTime[1] / 1e6;
  expect(startOf(compute)).toBeGreaterThanOrEqual(startOf(infer) - 1);
  expect(endOf(compute)).toBeLessThanOrEqual(endOf(infer) + 1);
}

test("a REST request's traceparent is the parent of its infer span, which holds the queue, batch and worker compute spans", async () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const callerSpanId = "00f067aa0ba902b7";
  const answer = await callApp(fixture.core.app, "POST", "/api/v1/infer/add", { inputs: INPUTS }, { traceparent: `00-${traceId}-${callerSpanId}-01` });
  expect(answer.status).toBe(200);
  expectTraced(traceId, callerSpanId);
});

test("gRPC traceparent metadata does the same", async () => {
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const callerSpanId = "b7ad6b7169203331";
  const metadata = new Metadata();
  metadata.set("traceparent", `00-${traceId}-${callerSpanId}-01`);
  const response = await new Promise<any>((resolve, reject) =>
    client.ModelInfer(
      {
        model_name: "add",
        inputs: INPUTS.map((input) => ({ name: input.name, datatype: "FP32", shape: input.shape.map(String), contents: { fp32_contents: input.data } })),
      },
      metadata,
      (error: Error | null, value: unknown) => (error ? reject(error) : resolve(value)),
    ),
  );
  expect(response.outputs[0].contents.fp32_contents).toEqual([2, 3, 4, 5]);
  expectTraced(traceId, callerSpanId);
});

test("a request without traceparent starts a trace of its own", async () => {
  exporter.reset();
  expect((await callApp(fixture.core.app, "POST", "/api/v1/infer/add", { inputs: INPUTS })).status).toBe(200);
  const infer = exporter.getFinishedSpans().find((span) => span.name === "modelmora.infer")!;
  expect(infer.parentSpanContext).toBeUndefined();
});
