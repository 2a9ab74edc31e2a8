/**
 * End to end over real sockets: `bun src/cli.ts serve --port 0` as a child process, real worker
 * processes, real onnxruntime. Pins what only a running server shows: the listening line, lazy
 * worker lifecycle (pids), recovery from killed workers, the error contract of DESIGN §10 as a
 * client sees it, persistence across restarts, and workers dying with their server.
 *
 * One server (started in beforeAll) serves the tests that can share it, each with its own model
 * names; restart and server-kill tests start their own. No fixed sleeps: every wait polls a
 * condition with a bound.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { FIXTURE_SIGNATURES, type FixtureModels, referenceAdd, referenceFixedShape, referenceMatmulRelu, referenceSlow, writeFixtureModels } from "../fixtures/models.ts";
import { seededFloats } from "../fixtures/seeded.ts";
import { processAlive } from "../support/processes.ts";
import { type ServerProcess, TEST_SOURCE_POLICY, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

/** The real PaddleOCR text-direction classifier: x FP32 [-1,3,-1,-1] → softmax_0.tmp_0 FP32 [-1,2]. */
const OCR_CLS_MODEL = path.join(import.meta.dir, "..", "..", "node_modules", "@gutenye", "ocr-models", "assets", "ch_ppocr_mobile_v2.0_cls_infer.onnx");

/**
 * Largest absolute difference allowed between the server's OCR classifier output and the same
 * model run in-process by onnxruntime-node. Same runtime, same CPU provider, so the values should
 * agree to float32 rounding; 1e-5 on softmax probabilities absorbs a different thread split.
 */
const OCR_TOLERANCE = 1e-5;

/** The fixture models are exact in float32; 1e-6 leaves room for summation order. */
const FIXTURE_TOLERANCE = 1e-6;

/** Upper bound for every polled condition (a process exiting, a request reaching a worker). */
const POLL_BOUND_MILLISECONDS = 15_000;
const POLL = { timeoutMilliseconds: POLL_BOUND_MILLISECONDS, intervalMilliseconds: 5 };

/** A stack frame as V8/JSC print it; no error body may contain one. */
const STACK_FRAME = "    at ";

interface ApiResponse {
  status: number;
  text: string;
  /** Parsed JSON (the text when it is not JSON); `any` because tests check it field by field. */
  body: any;
}

interface WorkerView {
  name: string;
  version: string;
  state: string;
  pid: number | null;
  provider: string | null;
  inFlight: number;
}

/** Every error body seen by any test, checked for stack frames at the end. */
const errorBodies: string[] = [];

async function api(baseUrl: string, method: string, route: string, body?: unknown): Promise<ApiResponse> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  const response = await fetch(`${baseUrl}${route}`, init);
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (response.status >= 400) errorBodies.push(text);
  return { status: response.status, text, body: parsed };
}

function register(baseUrl: string, name: string, source: string, extra: Record<string, unknown> = {}): Promise<ApiResponse> {
  return api(baseUrl, "POST", "/api/v1/models", { name, version: "1", task: "tensor", source, ...extra });
}

async function workerOf(baseUrl: string, name: string): Promise<WorkerView | undefined> {
  const status = await api(baseUrl, "GET", "/api/v1/status");
  expect(status.status).toBe(200);
  return (status.body.models as WorkerView[]).find((model) => model.name === name);
}

function waitForExit(pid: number): Promise<true> {
  return waitFor(() => !processAlive(pid), `process ${pid} to exit`, POLL);
}

/**
 * Writes a complete HTTP/1.1 POST into a fresh connection and resolves once the bytes are in the
 * kernel, so they wait in the server's socket even while the server is stopped (SIGSTOP).
 * `response` settles after the server has answered and closed (it is wrapped in an object so that
 * awaiting this function does not also await the answer).
 */
async function sendRawPost(port: number, route: string, body: unknown): Promise<{ response: Promise<ApiResponse> }> {
  const payload = Buffer.from(JSON.stringify(body));
  const chunks: Buffer[] = [];
  let settle!: { resolve: (response: ApiResponse) => void; reject: (error: Error) => void };
  const response = new Promise<ApiResponse>((resolve, reject) => (settle = { resolve, reject }));
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_socket, data) => void chunks.push(Buffer.from(data)),
      error: (_socket, error) => settle.reject(error),
      close: () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        const headerEnd = raw.indexOf("\r\n\r\n");
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
        if (headerEnd < 0 || !Number.isInteger(status)) return settle.reject(new Error(`not an HTTP response: ${JSON.stringify(raw.slice(0, 200))}`));
        if (/^transfer-encoding:\s*chunked/im.test(raw.slice(0, headerEnd))) return settle.reject(new Error("chunked responses are not parsed here"));
        const text = raw.slice(headerEnd + 4);
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        if (status >= 400) errorBodies.push(text);
        settle.resolve({ status, text, body: parsed });
      },
    },
  });
  const head = `POST ${route} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\nconnection: close\r\n\r\n`;
  const request = Buffer.concat([Buffer.from(head), payload]);
  const written = socket.write(request);
  if (written !== request.length) throw new Error(`wrote ${written} of ${request.length} request bytes; the request must fit the socket buffer`);
  return { response };
}

function expectClose(actual: number[], expected: ArrayLike<number>, tolerance: number): void {
  expect(actual).toHaveLength(expected.length);
  let worst = 0;
  for (let index = 0; index < expected.length; index++) worst = Math.max(worst, Math.abs(actual[index]! - expected[index]!));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

function expectError(response: ApiResponse, status: number, code: string, field?: string): void {
  expect({ status: response.status, code: response.body?.code }).toEqual({ status, code });
  expect(typeof response.body.error).toBe("string");
  if (field !== undefined) expect(response.body.details?.field).toBe(field);
  expect(response.text).not.toContain(STACK_FRAME);
}

let directory: TemporaryDirectory;
let fixtures: FixtureModels;

beforeAll(async () => {
  directory = await temporaryDirectory("modelmora-e2e-");
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
});

afterAll(async () => {
  await directory?.[Symbol.asyncDispose]();
});

describe("one running server", () => {
  let database: TestDatabase;
  let server: ServerProcess;
  let baseUrl: string;

  beforeAll(async () => {
    const dataDir = path.join(directory.path, "shared-data");
    database = await testDatabase(dataDir);
    // The source policy also allows the PaddleOCR model shipped in node_modules.
    server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: { MODELMORA_SOURCE_DIRS: `${TEST_SOURCE_POLICY.MODELMORA_SOURCE_DIRS},${path.dirname(OCR_CLS_MODEL)}` } });
    baseUrl = server.baseUrl;
  });

  afterAll(async () => {
    await server?.[Symbol.asyncDispose]();
    await database?.[Symbol.asyncDispose]();
  });

  test("prints one listening line with its actual port and answers the health probes", async () => {
    const listening = server.logs.filter((line) => line.event === "listening");
    expect(listening).toHaveLength(1);
    expect(typeof listening[0]!.http_port).toBe("number");
    expect(listening[0]!.http_port).toBeGreaterThan(0);
    expect(listening[0]!.http_port).toBe(server.httpPort);

    expect((await api(baseUrl, "GET", "/health/live")).status).toBe(200);
    expect((await api(baseUrl, "GET", "/health/ready")).status).toBe(200);
  });

  test("/swagger/json is an OpenAPI document listing the contract's paths", async () => {
    const openapi = await api(baseUrl, "GET", "/swagger/json");
    expect(openapi.status).toBe(200);
    expect(openapi.body.openapi).toMatch(/^3\./);
    const paths = Object.keys(openapi.body.paths);
    expect(paths).toContain("/api/v1/models");
    expect(paths).toContain("/api/v1/models/{name}");
    expect(paths).toContain("/api/v1/infer/{name}");
  });

  test("the PaddleOCR direction classifier over REST equals onnxruntime-node in-process (tolerance 1e-5)", async () => {
    const registered = await register(baseUrl, "ocr-cls", OCR_CLS_MODEL, { config: { warmupShapes: { x: [1, 3, 48, 192] } } });
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({
      name: "ocr-cls",
      inputs: [{ name: "x", datatype: "FP32", shape: [-1, 3, -1, -1] }],
      outputs: [{ name: "softmax_0.tmp_0", datatype: "FP32", shape: [-1, 2] }],
    });

    const shape = [2, 3, 48, 192];
    const input = seededFloats(2 * 3 * 48 * 192, 20240611);
    const response = await api(baseUrl, "POST", "/api/v1/infer/ocr-cls", {
      id: "cls-1",
      inputs: [{ name: "x", shape, datatype: "FP32", data: Array.from(input) }],
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ model_name: "ocr-cls", model_version: "1", id: "cls-1" });
    const [output] = response.body.outputs;
    expect(output).toMatchObject({ name: "softmax_0.tmp_0", datatype: "FP32", shape: [2, 2] });

    const session = await ort.InferenceSession.create(OCR_CLS_MODEL, { executionProviders: ["cpu"] });
    try {
      const expected = await session.run({ x: new ort.Tensor("float32", input, shape) });
      const reference = expected["softmax_0.tmp_0"]!;
      expect([...reference.dims]).toEqual([2, 2]);
      expectClose(output.data, reference.data as Float32Array, OCR_TOLERANCE);
    } finally {
      await session.release();
    }
  });

  test("workers start lazily on first inference, stop on unload, and start again on explicit load", async () => {
    expect((await register(baseUrl, "lazy-matmul", fixtures.matmulRelu, { config: { device: "cpu" } })).status).toBe(201);
    expect((await api(baseUrl, "GET", "/api/v1/models/lazy-matmul")).body.state).toBe("unloaded");
    expect(await workerOf(baseUrl, "lazy-matmul")).toBeUndefined();

    const x = Float32Array.from({ length: 8 }, (_, index) => (index - 3) / 4);
    const inferred = await api(baseUrl, "POST", "/api/v1/infer/lazy-matmul", { inputs: [{ name: "x", shape: [1, 8], datatype: "FP32", data: Array.from(x) }] });
    expect(inferred.status).toBe(200);
    expectClose(inferred.body.outputs[0].data, referenceMatmulRelu(x, 1), FIXTURE_TOLERANCE);

    expect((await api(baseUrl, "GET", "/api/v1/models/lazy-matmul")).body.state).toBe("ready");
    const first = (await workerOf(baseUrl, "lazy-matmul"))!;
    expect(first).toMatchObject({ state: "ready", provider: "cpu" });
    expect(typeof first.pid).toBe("number");
    expect(processAlive(first.pid!)).toBe(true);

    const unloaded = await api(baseUrl, "POST", "/api/v1/models/lazy-matmul/unload");
    expect(unloaded.status).toBe(200);
    await waitForExit(first.pid!);
    expect((await api(baseUrl, "GET", "/api/v1/models/lazy-matmul")).body.state).toBe("unloaded");
    expect(await workerOf(baseUrl, "lazy-matmul")).toBeUndefined();

    const loaded = await api(baseUrl, "POST", "/api/v1/models/lazy-matmul/load");
    expect(loaded.status).toBe(200);
    expect(loaded.body).toMatchObject({ state: "ready", provider: "cpu" });
    const second = (await workerOf(baseUrl, "lazy-matmul"))!;
    expect(second.state).toBe("ready");
    expect(second.pid).not.toBe(first.pid);
    expect(processAlive(second.pid!)).toBe(true);
    expect((await api(baseUrl, "GET", "/api/v1/models/lazy-matmul")).body.state).toBe("ready");
  });

  test("an idle worker killed with SIGKILL is respawned by the next request once the server has seen the exit", async () => {
    expect((await register(baseUrl, "idle-kill-seen", fixtures.add)).status).toBe(201);
    const loaded = await api(baseUrl, "POST", "/api/v1/models/idle-kill-seen/load");
    expect(loaded.status).toBe(200);
    const pid = loaded.body.pid as number;
    expect(processAlive(pid)).toBe(true);

    process.kill(pid, "SIGKILL");
    await waitForExit(pid);
    await waitFor(async () => (await workerOf(baseUrl, "idle-kill-seen"))?.pid !== pid, "the server to forget the dead worker", POLL);

    const a = Float32Array.from([1, 2, 3, 4]);
    const b = Float32Array.from([0.5, -0.5, 0.25, -0.25]);
    const response = await api(baseUrl, "POST", "/api/v1/infer/idle-kill-seen", {
      inputs: [
        { name: "a", shape: [1, 4], datatype: "FP32", data: Array.from(a) },
        { name: "b", shape: [1, 4], datatype: "FP32", data: Array.from(b) },
      ],
    });
    expect(response.status).toBe(200);
    expectClose(response.body.outputs[0].data, referenceAdd(a, b), FIXTURE_TOLERANCE);
    const respawned = (await workerOf(baseUrl, "idle-kill-seen"))!;
    expect(respawned.state).toBe("ready");
    expect(respawned.pid).not.toBe(pid);
    expect(processAlive(respawned.pid!)).toBe(true);
  });

  test("a request sent right after an idle worker died (before the server reaped it) is served, not failed", async () => {
    // Freeze the server so it cannot reap the worker, kill the worker, wait until the kernel shows
    // it dead, hand the request to the server's socket, then let the server run. The worker died
    // before the request existed, so the request was never in flight on it; failing it with
    // INFERENCE_FAILED would fail a request no worker ever received.
    expect((await register(baseUrl, "idle-kill-race", fixtures.add)).status).toBe(201);
    const loaded = await api(baseUrl, "POST", "/api/v1/models/idle-kill-race/load");
    expect(loaded.status).toBe(200);
    const pid = loaded.body.pid as number;
    const a = [1, 2, 3, 4];
    const b = [0.5, -0.5, 0.25, -0.25];
    const body = {
      inputs: [
        { name: "a", shape: [1, 4], datatype: "FP32", data: a },
        { name: "b", shape: [1, 4], datatype: "FP32", data: b },
      ],
    };
    let sent: { response: Promise<ApiResponse> };
    server.process.kill("SIGSTOP");
    try {
      process.kill(pid, "SIGKILL");
      await waitForExit(pid);
      sent = await sendRawPost(server.httpPort, "/api/v1/infer/idle-kill-race", body);
    } finally {
      server.process.kill("SIGCONT");
    }
    const served = await sent.response;
    expect({ status: served.status, code: served.body?.code, error: served.body?.error }).toEqual({ status: 200, code: undefined, error: undefined });
    expectClose(served.body.outputs[0].data, referenceAdd(Float32Array.from(a), Float32Array.from(b)), FIXTURE_TOLERANCE);
    expect((await workerOf(baseUrl, "idle-kill-race"))!.pid).not.toBe(pid);
  });

  test("a worker killed mid-inference fails only that request with INFERENCE_FAILED; the next one succeeds", async () => {
    expect((await register(baseUrl, "slow-crash", fixtures.slow)).status).toBe(201);
    const loaded = await api(baseUrl, "POST", "/api/v1/models/slow-crash/load");
    expect(loaded.status).toBe(200);
    const pid = loaded.body.pid as number;

    const x = Float32Array.from({ length: 512 }, (_, index) => (index % 16) / 8);
    const body = { inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: Array.from(x) }] };
    const inFlight = api(baseUrl, "POST", "/api/v1/infer/slow-crash", body);
    await waitFor(async () => (await workerOf(baseUrl, "slow-crash"))?.inFlight === 1, "the slow request to be in flight", POLL);
    process.kill(pid, "SIGKILL");

    const failed = await inFlight;
    expectError(failed, 500, "INFERENCE_FAILED");
    expect(failed.body.error).toMatch(/worker/i);
    expect(failed.body.error).toMatch(/exit/i);
    await waitForExit(pid);

    const next = await api(baseUrl, "POST", "/api/v1/infer/slow-crash", body);
    expect(next.status).toBe(200);
    expectClose(next.body.outputs[0].data, referenceSlow(x), FIXTURE_TOLERANCE);
    expect((await workerOf(baseUrl, "slow-crash"))!.pid).not.toBe(pid);
  });

  describe("bad requests get the exact status, code and field", () => {
    const fixedInput = (overrides: Record<string, unknown>) => ({
      inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: [1, 2, 3, 4, 5, 6], ...overrides }],
    });

    beforeAll(async () => {
      expect((await register(baseUrl, "bad-fixed", fixtures.fixedShape)).status).toBe(201);
    });

    test("unknown model → 404 MODEL_NOT_FOUND", async () => {
      expectError(await api(baseUrl, "POST", "/api/v1/infer/no-such-model", fixedInput({})), 404, "MODEL_NOT_FOUND");
      expectError(await api(baseUrl, "GET", "/api/v1/models/no-such-model"), 404, "MODEL_NOT_FOUND");
    });

    test("the same name and version twice → 409 MODEL_ALREADY_EXISTS", async () => {
      expectError(await register(baseUrl, "bad-fixed", fixtures.fixedShape), 409, "MODEL_ALREADY_EXISTS");
    });

    test("malformed JSON → 400 INVALID_INPUT", async () => {
      expectError(await api(baseUrl, "POST", "/api/v1/infer/bad-fixed", '{"inputs": [{"name": "x",'), 400, "INVALID_INPUT", "body");
      expectError(await api(baseUrl, "POST", "/api/v1/models", "{not json"), 400, "INVALID_INPUT", "body");
    });

    test("wrong tensor name, datatype, rank, fixed dimension and element count → 400 INVALID_INPUT naming inputs[0]", async () => {
      const route = "/api/v1/infer/bad-fixed";
      expectError(await api(baseUrl, "POST", route, fixedInput({ name: "y" })), 400, "INVALID_INPUT", "inputs[0].name");
      expectError(await api(baseUrl, "POST", route, fixedInput({ datatype: "INT64" })), 400, "INVALID_INPUT", "inputs[0].datatype");
      expectError(await api(baseUrl, "POST", route, fixedInput({ shape: [6] })), 400, "INVALID_INPUT", "inputs[0].shape");
      expectError(await api(baseUrl, "POST", route, fixedInput({ shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] })), 400, "INVALID_INPUT", "inputs[0].shape");
      expectError(await api(baseUrl, "POST", route, fixedInput({ data: [1, 2, 3, 4, 5] })), 400, "INVALID_INPUT", "inputs[0].data");

      // The same model still answers a correct request.
      const ok = await api(baseUrl, "POST", route, fixedInput({}));
      expect(ok.status).toBe(200);
      expectClose(ok.body.outputs[0].data, referenceFixedShape(Float32Array.from([1, 2, 3, 4, 5, 6])), FIXTURE_TOLERANCE);
    });

    test("a sha256 that does not match the file → 400 CHECKSUM_MISMATCH and nothing is registered", async () => {
      const response = await register(baseUrl, "bad-checksum", fixtures.add, { sha256: "0".repeat(64) });
      expectError(response, 400, "CHECKSUM_MISMATCH");
      const listed = await api(baseUrl, "GET", "/api/v1/models");
      expect((listed.body as { name: string }[]).map((model) => model.name)).not.toContain("bad-checksum");
      expectError(await api(baseUrl, "GET", "/api/v1/models/bad-checksum"), 404, "MODEL_NOT_FOUND");
    });

    test("a corrupt model file → 422 MODEL_LOAD_FAILED, nothing is registered, and the server keeps serving", async () => {
      expectError(await register(baseUrl, "bad-corrupt", fixtures.corrupt), 422, "MODEL_LOAD_FAILED");
      const listed = await api(baseUrl, "GET", "/api/v1/models");
      expect((listed.body as { name: string }[]).map((model) => model.name)).not.toContain("bad-corrupt");

      expect((await register(baseUrl, "after-corrupt", fixtures.add)).status).toBe(201);
      const a = Float32Array.from([1, 1, 1, 1]);
      const b = Float32Array.from([2, 3, 4, 5]);
      const response = await api(baseUrl, "POST", "/api/v1/infer/after-corrupt", {
        inputs: [
          { name: "a", shape: [1, 4], datatype: "FP32", data: Array.from(a) },
          { name: "b", shape: [1, 4], datatype: "FP32", data: Array.from(b) },
        ],
      });
      expect(response.status).toBe(200);
      expectClose(response.body.outputs[0].data, referenceAdd(a, b), FIXTURE_TOLERANCE);
    });

    test("timeout_ms shorter than the inference → 504 INFERENCE_TIMEOUT", async () => {
      expect((await register(baseUrl, "slow-deadline", fixtures.slow)).status).toBe(201);
      expect((await api(baseUrl, "POST", "/api/v1/models/slow-deadline/load")).status).toBe(200);
      const response = await api(baseUrl, "POST", "/api/v1/infer/slow-deadline", {
        inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: new Array(512).fill(0.5) }],
        parameters: { timeout_ms: 50 },
      });
      expectError(response, 504, "INFERENCE_TIMEOUT");
    });
  });

  test("no error response carried a stack frame", () => {
    for (const text of errorBodies) expect(text).not.toContain(STACK_FRAME);
  });
});

describe("server restarts and server death", () => {
  test("a registered model survives a restart on the same data directory and database", async () => {
    const dataDir = path.join(directory.path, "restart-data");
    await using database = await testDatabase(dataDir);
    let sha256: string;
    {
      await using first = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
      const registered = await register(first.baseUrl, "persisted", fixtures.add);
      expect(registered.status).toBe(201);
      sha256 = registered.body.versions[0].sha256;
    }
    await using second = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
    const listed = await api(second.baseUrl, "GET", "/api/v1/models");
    expect(listed.status).toBe(200);
    expect(listed.body).toContainEqual(
      expect.objectContaining({ name: "persisted", activeVersion: "1", state: "unloaded", inputs: FIXTURE_SIGNATURES.add.inputs, versions: [expect.objectContaining({ version: "1", sha256 })] }),
    );
    const a = Float32Array.from([0.25, 0.5, 0.75, 1]);
    const b = Float32Array.from([-1, -2, -3, -4]);
    const response = await api(second.baseUrl, "POST", "/api/v1/infer/persisted", {
      inputs: [
        { name: "a", shape: [1, 4], datatype: "FP32", data: Array.from(a) },
        { name: "b", shape: [1, 4], datatype: "FP32", data: Array.from(b) },
      ],
    });
    expect(response.status).toBe(200);
    expectClose(response.body.outputs[0].data, referenceAdd(a, b), FIXTURE_TOLERANCE);
  });

  test("workers exit when their server is killed with SIGKILL", async () => {
    const dataDir = path.join(directory.path, "kill-data");
    await using database = await testDatabase(dataDir);
    await using server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
    expect((await register(server.baseUrl, "orphan", fixtures.fixedShape)).status).toBe(201);
    const loaded = await api(server.baseUrl, "POST", "/api/v1/models/orphan/load");
    expect(loaded.status).toBe(200);
    const workerPid = loaded.body.pid as number;
    expect(processAlive(workerPid)).toBe(true);

    server.process.kill("SIGKILL");
    await server.process.exited;
    await waitForExit(workerPid);
  });
});
