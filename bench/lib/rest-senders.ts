/**
 * REST requests for the load client, each body encoded to bytes once: KServe JSON (`data` as
 * numbers) and the KServe binary tensor extension (JSON header + raw FP32 bytes, answered the same way).
 */
import { float32Bytes, float32Values } from "./float32.ts";
import type { InputValues, Sender } from "./transport-load.ts";

const HEADER_LENGTH_HEADER = "inference-header-content-length";

/** The KServe JSON request body every JSON client and server in the benches uses. */
export function jsonRequestBody(inputs: readonly InputValues[]): string {
  return JSON.stringify({ inputs: inputs.map(({ name, shape, values }) => ({ name, shape, datatype: "FP32", data: values })) });
}

export function restJsonSender(url: string, inputs: readonly InputValues[], extraHeaders: Record<string, string> = {}): Sender {
  const body = new TextEncoder().encode(jsonRequestBody(inputs));
  const headers = { "content-type": "application/json", ...extraHeaders };
  return {
    async send() {
      const response = await fetch(url, { method: "POST", headers, body });
      const text = await response.text();
      if (!response.ok) throw new Error(`HTTP ${response.status} ${text.slice(0, 300)}`);
      const output = (JSON.parse(text) as { outputs: { name: string; data: number[] }[] }).outputs[0]!;
      return { name: output.name, values: output.data };
    },
    close() {},
  };
}

export function restBinarySender(url: string, inputs: readonly InputValues[]): Sender {
  const raws = inputs.map(({ values }) => float32Bytes(values));
  const header = new TextEncoder().encode(
    JSON.stringify({
      inputs: inputs.map(({ name, shape }, index) => ({ name, shape, datatype: "FP32", parameters: { binary_data_size: raws[index]!.byteLength } })),
      parameters: { binary_data_output: true },
    }),
  );
  const body = new Uint8Array(header.byteLength + raws.reduce((sum, raw) => sum + raw.byteLength, 0));
  body.set(header, 0);
  let offset = header.byteLength;
  for (const raw of raws) {
    body.set(raw, offset);
    offset += raw.byteLength;
  }
  const headers = { "content-type": "application/octet-stream", [HEADER_LENGTH_HEADER]: String(header.byteLength) };
  return {
    async send() {
      const response = await fetch(url, { method: "POST", headers, body });
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (!response.ok) throw new Error(`HTTP ${response.status} ${new TextDecoder().decode(bytes.subarray(0, 300))}`);
      const length = Number(response.headers.get(HEADER_LENGTH_HEADER) ?? Number.NaN);
      if (!Number.isInteger(length)) throw new Error(`answer without ${HEADER_LENGTH_HEADER} (content-type ${response.headers.get("content-type")})`);
      const outputs = (JSON.parse(new TextDecoder().decode(bytes.subarray(0, length))) as { outputs: { name: string; parameters?: { binary_data_size?: number } }[] }).outputs;
      const first = outputs[0]!;
      const size = first.parameters?.binary_data_size;
      if (size === undefined) throw new Error(`output "${first.name}" came back as JSON, not binary`);
      return { name: first.name, values: float32Values(bytes.subarray(length, length + size)) };
    },
    close() {},
  };
}
