/**
 * The baseline: what a user would write instead of ModelMora. One Bun HTTP server, one ONNX model
 * loaded in-process at start, `session.run` per request — no queue, no batching, no worker process.
 * It speaks the same KServe-v2 JSON as `POST /api/v1/infer/{name}` so one load generator drives both.
 *
 * Usage: `bun bench/baselines/naive-server.ts <model.onnx> [--port N] [--name NAME]`
 * (env: NAIVE_MODEL_PATH, NAIVE_PORT, NAIVE_MODEL_NAME). Port 0 picks a free port; the server prints
 * one JSON line `{"event":"listening","http_port":N}` on stdout once it answers.
 *
 * Only FP32 and INT64 tensors are supported: enough for the bench models.
 */
import path from "node:path";
import * as ort from "onnxruntime-node";

interface JsonTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

interface InferBody {
  id?: string;
  inputs?: JsonTensor[];
}

const ORT_TYPES: Record<string, "float32" | "int64"> = { FP32: "float32", INT64: "int64" };
const KSERVE_TYPES: Record<string, string> = { float32: "FP32", int64: "INT64" };

function option(flag: string, environment: string | undefined, fallback: string | undefined): string | undefined {
  const index = process.argv.indexOf(flag);
  if (index >= 0) return process.argv[index + 1];
  return environment ?? fallback;
}

const positional = process.argv.slice(2).find((argument, index, all) => !argument.startsWith("--") && !all[index - 1]?.startsWith("--"));
const modelPath = positional ?? process.env.NAIVE_MODEL_PATH;
if (!modelPath) {
  process.stderr.write("usage: bun bench/baselines/naive-server.ts <model.onnx> [--port N] [--name NAME]\n");
  process.exit(2);
}
const port = Number(option("--port", process.env.NAIVE_PORT, "8090"));
const modelName = option("--name", process.env.NAIVE_MODEL_NAME, path.basename(modelPath, ".onnx"))!;

const session = await ort.InferenceSession.create(path.resolve(modelPath), { executionProviders: ["cpu"] });

function error(status: number, message: string, code: string): Response {
  return Response.json({ error: message, code }, { status });
}

function toTensor(input: JsonTensor): ort.Tensor {
  const type = ORT_TYPES[input.datatype];
  if (!type) throw new TypeError(`datatype ${input.datatype} is not supported by the naive server`);
  const data = type === "int64" ? BigInt64Array.from(input.data, (value) => BigInt(value)) : Float32Array.from(input.data);
  return new ort.Tensor(type, data, input.shape);
}

async function infer(name: string, request: Request): Promise<Response> {
  if (name !== modelName) return error(404, `model "${name}" not found`, "MODEL_NOT_FOUND");
  let body: InferBody;
  try {
    body = (await request.json()) as InferBody;
  } catch {
    return error(400, "body is not JSON", "INVALID_INPUT");
  }
  const feeds: Record<string, ort.Tensor> = {};
  try {
    for (const input of body.inputs ?? []) feeds[input.name] = toTensor(input);
  } catch (cause) {
    return error(400, String(cause), "INVALID_INPUT");
  }
  try {
    const results = await session.run(feeds);
    const outputs = Object.entries(results).map(([outputName, tensor]) => ({
      name: outputName,
      shape: [...tensor.dims],
      datatype: KSERVE_TYPES[tensor.type] ?? tensor.type,
      data: tensor.data instanceof BigInt64Array ? Array.from(tensor.data, Number) : Array.from(tensor.data as Float32Array),
    }));
    return Response.json({ model_name: modelName, model_version: "1", ...(body.id !== undefined && { id: body.id }), outputs });
  } catch (cause) {
    return error(500, String(cause), "INFERENCE_FAILED");
  }
}

const PREFIX = "/api/v1/infer/";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  // The cls model's JSON body is ~200 kB; keep Bun's default cap out of the way.
  maxRequestBodySize: 256 * 1024 * 1024,
  fetch(request) {
    const { pathname } = new URL(request.url);
    if (request.method === "POST" && pathname.startsWith(PREFIX)) return infer(decodeURIComponent(pathname.slice(PREFIX.length)), request);
    return error(404, `no route ${request.method} ${pathname}`, "NOT_FOUND");
  },
});

process.stdout.write(`${JSON.stringify({ event: "listening", http_port: server.port, model: modelName })}\n`);
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void server.stop(true).then(() => process.exit(0)));
