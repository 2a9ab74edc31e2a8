/**
 * The job RPCs of modelmora.v1.InferenceService over a real socket, on the real core: InferAsync
 * queues, GetJob and GetJobStatus report, GetJobResult answers typed messages (a tensor job the
 * InferResponse Infer answers, checked against the add reference; a text-embedding job submitted over
 * REST the EmbedResponse Embed answers, checked against the encoder's reference), CancelJob cancels;
 * errors carry the domain codes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { addModelmoraServices, MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import path from "node:path";
import { referenceAdd } from "../fixtures/models.ts";
import { writeTextEncoder } from "../fixtures/text-encoder.ts";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { EmbeddingReference, maxDifference } from "../support/embedding-reference.ts";
import { waitFor } from "../support/wait.ts";

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

let fixture: CoreFixture;
let server: grpc.Server;
let client: Client;
let reference: EmbeddingReference;

beforeAll(async () => {
  fixture = await startCore({}, { environment: { MODELMORA_JOB_POLL_MILLISECONDS: "50" } });
  const { core } = fixture;
  await core.models.register({ name: "add", version: "1", task: "tensor", source: fixture.fixtures.add });
  const encoder = await writeTextEncoder(path.join(fixture.dataDir, "..", "encoder"));
  reference = await EmbeddingReference.open(encoder.model, encoder.tokenizer);
  expect((await callApp(core.app, "POST", "/api/v1/models", { name: "enc", version: "1", task: "txt2embed", source: encoder.model, files: { "tokenizer.json": encoder.tokenizer } })).status).toBe(201);
  server = new grpc.Server();
  addModelmoraServices(server, { inference: core.inference, models: core.models, status: core.status, readiness: core.readiness, logger: pino({ level: "silent" }), jobs: core.jobs });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  const v1 = (loadProtos(MODELMORA_PROTO_FILES).grpcObject.modelmora as grpc.GrpcObject).v1 as grpc.GrpcObject;
  client = new (v1.InferenceService as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}, 60_000);

afterAll(async () => {
  client?.close();
  server?.forceShutdown();
  await fixture?.[Symbol.asyncDispose]();
});

function call(method: string, request: object): Promise<any> {
  return new Promise((resolve, reject) => client[method]!(request, new grpc.Metadata(), (error: grpc.ServiceError | null, response: unknown) => (error ? reject(error) : resolve(response))));
}

async function failure(promise: Promise<unknown>): Promise<{ status: grpc.status; code: unknown }> {
  try {
    await promise;
  } catch (error) {
    const serviceError = error as grpc.ServiceError;
    return { status: serviceError.code, code: serviceError.metadata.get("x-modelmora-code")[0] };
  }
  throw new Error("the call succeeded");
}

const A = [1, 2, 3, 4];
const B = [0.5, -1, 2.5, 8];
const REQUEST = {
  model: "add",
  priority: 2,
  inputs: [
    { name: "a", datatype: "FP32", shape: [1, 4], contents: { fp32_contents: A } },
    { name: "b", datatype: "FP32", shape: [1, 4], contents: { fp32_contents: B } },
  ],
};

async function succeeded(jobId: string): Promise<any> {
  return waitFor(async () => {
    const current = await call("GetJob", { job_id: jobId });
    return current.status === "succeeded" ? current : undefined;
  }, "the job to succeed", { timeoutMilliseconds: 20_000, intervalMilliseconds: 20 });
}

test("InferAsync queues a job that GetJob and GetJobStatus report and whose GetJobResult is Infer's typed answer, the reference", async () => {
  const job = await call("InferAsync", REQUEST);
  expect(job).toMatchObject({ status: "queued", model: "add", version: "", priority: 2, attempts: 0, max_attempts: 3 });
  const done = await succeeded(job.job_id);
  expect(done.callback).toBeNull();
  expect(await call("GetJobStatus", { job_id: job.job_id })).toEqual(done);
  const result = await call("GetJobResult", { job_id: job.job_id });
  expect(result.result).toBe("infer_response");
  const typed = result.infer_response;
  expect(typed.outputs[0]).toMatchObject({ name: "sum", datatype: "FP32", shape: ["1", "4"] });
  expect(typed.outputs[0].contents.fp32_contents).toEqual(Array.from(referenceAdd(Float32Array.from(A), Float32Array.from(B))));
  expect(typed).toEqual(await call("Infer", REQUEST));
});

test("a text-embedding job submitted over REST answers GetJobResult with Embed's typed message, the encoder's reference", async () => {
  const texts = ["hello world", "the quick brown fox"];
  const accepted = await callApp(fixture.core.app, "POST", "/api/v1/infer/enc/async", { texts });
  expect(accepted.status).toBe(202);
  await succeeded(accepted.body.jobId);
  const result = await call("GetJobResult", { job_id: accepted.body.jobId });
  expect(result.result).toBe("embed_response");
  expect(result.embed_response).toEqual(await call("Embed", { model: "enc", texts }));
  const expected = await Promise.all(texts.map((text) => reference.embed(text)));
  expect(maxDifference(result.embed_response.embeddings.map((vector: { values: number[] }) => vector.values), expected)).toBeLessThanOrEqual(1e-4);
});

test("CancelJob cancels a queued job; unknown jobs, a cancelled job's result and raw inputs answer with their codes", async () => {
  fixture.core.jobs.stopClaiming();
  const job = await call("InferAsync", REQUEST);
  expect(await failure(call("GetJobResult", { job_id: job.job_id }))).toEqual({ status: grpc.status.FAILED_PRECONDITION, code: "JOB_NOT_READY" });
  expect((await call("CancelJob", { job_id: job.job_id })).status).toBe("cancelled");
  expect(await failure(call("GetJobResult", { job_id: job.job_id }))).toEqual({ status: grpc.status.FAILED_PRECONDITION, code: "JOB_CANCELLED" });
  expect(await failure(call("GetJob", { job_id: "missing" }))).toEqual({ status: grpc.status.NOT_FOUND, code: "JOB_NOT_FOUND" });
  const raw = { model: "add", inputs: REQUEST.inputs.map(({ contents: _, ...input }) => input), raw_input_contents: [Buffer.alloc(16), Buffer.alloc(16)] };
  expect(await failure(call("InferAsync", raw))).toEqual({ status: grpc.status.INVALID_ARGUMENT, code: "INVALID_INPUT" });
});
