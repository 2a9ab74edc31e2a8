/**
 * The embeddings baseline: what a user would write instead of ModelMora. One Bun HTTP server with the
 * encoder and its tokenizer.json loaded in process; per request: tokenise, one `session.run`, mean
 * pooling over the mask, L2 normalisation — no queue, no batching across requests, no worker process.
 * It answers OpenAI's `POST /v1/embeddings` shape, so one load generator drives both servers.
 *
 * Usage: `bun bench/baselines/naive-embed-server.ts <model.onnx> <tokenizer.json> [--port N]`; prints
 * `{"event":"listening","http_port":N}` once it answers.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-node";

const [modelPath, tokenizerPath] = process.argv.slice(2).filter((argument) => !argument.startsWith("--"));
if (!modelPath || !tokenizerPath) {
  process.stderr.write("usage: bun bench/baselines/naive-embed-server.ts <model.onnx> <tokenizer.json> [--port N]\n");
  process.exit(2);
}
const portIndex = process.argv.indexOf("--port");
const port = portIndex >= 0 ? Number(process.argv[portIndex + 1]) : 0;

const session = await ort.InferenceSession.create(modelPath);
const tokenizer = new Tokenizer(JSON.parse(await Bun.file(tokenizerPath).text()), {});

async function embed(texts: string[]): Promise<number[][]> {
  const encodings = texts.map((text) => tokenizer.encode(text, { return_token_type_ids: true }));
  const length = Math.max(...encodings.map((encoding) => encoding.ids.length));
  const count = texts.length;
  const ids = new BigInt64Array(count * length);
  const mask = new BigInt64Array(count * length);
  const types = new BigInt64Array(count * length);
  encodings.forEach((encoding, row) => encoding.ids.forEach((id, position) => {
    ids[row * length + position] = BigInt(id);
    mask[row * length + position] = 1n;
    types[row * length + position] = BigInt(encoding.token_type_ids?.[position] ?? 0);
  }));
  const values: Record<string, BigInt64Array> = { input_ids: ids, attention_mask: mask, token_type_ids: types };
  const feeds = Object.fromEntries(session.inputNames.map((name) => [name, new ort.Tensor("int64", values[name]!, [count, length])]));
  const output = (await session.run(feeds))[session.outputNames[0]!]!;
  const [, sequence, dimensions] = output.dims as [number, number, number];
  const data = output.data as Float32Array;
  return encodings.map((encoding, row) => {
    const sum = new Array<number>(dimensions).fill(0);
    for (let position = 0; position < encoding.ids.length; position++) {
      for (let dimension = 0; dimension < dimensions; dimension++) sum[dimension]! += data[(row * sequence + position) * dimensions + dimension]!;
    }
    const mean = sum.map((value) => value / encoding.ids.length);
    const norm = Math.hypot(...mean);
    return mean.map((value) => value / norm);
  });
}

const server = Bun.serve({
  port,
  async fetch(request) {
    if (request.method !== "POST" || new URL(request.url).pathname !== "/v1/embeddings") return new Response("not found", { status: 404 });
    const body = (await request.json()) as { model: string; input: string | string[] };
    const texts = typeof body.input === "string" ? [body.input] : body.input;
    const vectors = await embed(texts);
    return Response.json({ object: "list", model: body.model, data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding })) });
  },
});
process.stdout.write(`${JSON.stringify({ event: "listening", http_port: server.port })}\n`);
