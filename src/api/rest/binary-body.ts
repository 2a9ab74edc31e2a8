/**
 * Framing of the KServe v2 binary tensor data extension (Triton's `binary_data`): a body is a JSON
 * inference header of `Inference-Header-Content-Length` bytes, then the raw bytes of each binary
 * tensor in the order the header lists them (row-major, little-endian, BOOL one byte, BYTES with a
 * 4-byte little-endian length before each element; see src/inference/raw-tensor.ts).
 *
 * This module splits request bodies and assembles responses; it knows nothing of Elysia, models or
 * datatypes beyond the bytes. Every malformed frame is INVALID_INPUT naming the field at fault.
 */
import type { Static } from "elysia";
import { invalidInput } from "../../errors.ts";
import { encodeOutputs, type InputTensor, type JsonOutputTensor } from "../../inference/tensor-codec.ts";
import { toRawBytes } from "../../inference/raw-tensor.ts";
import type { InferenceResponse, TensorInferenceResponse } from "../../inference/service.ts";
import type { KServeInferBody } from "./schemas.ts";

/** The request and response header that gives the JSON part's length in bytes (lower case, as Elysia and fetch report headers). */
export const HEADER_LENGTH_HEADER = "inference-header-content-length";

type KServeBody = Static<typeof KServeInferBody>;

export interface SplitBody {
  /** The parsed JSON inference header, not yet validated. */
  header: unknown;
  /** Everything after the JSON header: the binary inputs' bytes, back to back. */
  binary: Uint8Array;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/**
 * Splits a request body into its JSON header and binary tail. Without the length header the whole
 * body is JSON (a plain KServe v2 request) and the tail is empty.
 *
 * @example
 * const { header, binary } = splitRequestBody(await request.arrayBuffer(), request.headers.get(HEADER_LENGTH_HEADER));
 */
export function splitRequestBody(body: ArrayBuffer, declaredHeaderLength: string | null | undefined): SplitBody {
  const bytes = new Uint8Array(body);
  const headerLength = declaredHeaderLength == null ? bytes.byteLength : parseHeaderLength(declaredHeaderLength, bytes.byteLength);
  let header: unknown;
  try {
    header = JSON.parse(utf8.decode(bytes.subarray(0, headerLength)));
  } catch {
    const where = declaredHeaderLength == null ? "request body" : `inference header (the first ${headerLength} bytes of the body, per ${HEADER_LENGTH_HEADER})`;
    throw invalidInput(`${where} is not valid JSON`, { field: "body" });
  }
  return { header, binary: bytes.subarray(headerLength) };
}

function parseHeaderLength(declared: string, bodyBytes: number): number {
  const trimmed = declared.trim();
  const length = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (Number.isNaN(length)) {
    throw invalidInput(`${HEADER_LENGTH_HEADER}: expected a byte count (a non-negative integer), got ${JSON.stringify(declared)}`, { field: HEADER_LENGTH_HEADER });
  }
  if (length > bodyBytes) {
    throw invalidInput(`${HEADER_LENGTH_HEADER}: ${length} bytes of JSON header declared, but the body has only ${bodyBytes} bytes`, {
      field: HEADER_LENGTH_HEADER,
      declared: length,
      bodyBytes,
    });
  }
  return length;
}

/**
 * The request's inputs as the inference service takes them: an input with
 * `parameters.binary_data_size` becomes a raw tensor over its slice of `binary` (a view, no copy),
 * the others stay JSON tensors. The sizes must cover `binary` exactly.
 */
export function inputsWithBinary(inputs: KServeBody["inputs"], binary: Uint8Array): InputTensor[] {
  let offset = 0;
  const tensors = inputs.map((input, index): InputTensor => {
    const size = input.parameters?.binary_data_size;
    if (size === undefined) return { name: input.name, shape: input.shape, datatype: input.datatype, data: input.data, parameters: input.parameters };
    const field = `inputs[${index}]`;
    if (input.data !== undefined) {
      throw invalidInput(`${field}.data: input "${input.name}" has parameters.binary_data_size, so its elements follow the JSON header and it must not also carry data`, {
        field: `${field}.data`,
      });
    }
    if (offset + size > binary.byteLength) {
      const available = binary.byteLength - offset;
      throw invalidInput(
        `${field}.parameters.binary_data_size: input "${input.name}" declares ${size} bytes but only ${available} remain after the JSON header and the binary inputs before it` +
          (binary.byteLength === 0 ? ` (send the JSON header's length in the ${HEADER_LENGTH_HEADER} header and the bytes after it)` : ""),
        { field: `${field}.parameters.binary_data_size`, declared: size, available },
      );
    }
    const raw = binary.subarray(offset, offset + size);
    offset += size;
    return { name: input.name, shape: input.shape, datatype: input.datatype, raw };
  });
  if (offset !== binary.byteLength) {
    throw invalidInput(`body: ${binary.byteLength} bytes follow the JSON header but the inputs' parameters.binary_data_size add up to ${offset}`, {
      field: "body",
      binaryBytes: binary.byteLength,
      declaredBytes: offset,
    });
  }
  return tensors;
}

/** A response output sent as raw bytes: its header entry has a size and no data. */
interface BinaryOutputHeader {
  name: string;
  datatype: JsonOutputTensor["datatype"];
  shape: number[];
  parameters: { binary_data_size: number };
}

/**
 * The answer to a KServe v2 infer request: plain JSON when no output is wanted as binary, otherwise
 * a framed `application/octet-stream` response with the JSON header and the binary outputs' bytes.
 * An output is binary when its own `parameters.binary_data` says so, else when the request's
 * `parameters.binary_data_output` is true. Binary outputs are never encoded as JSON.
 */
export function inferResponse(response: TensorInferenceResponse, request: Pick<KServeBody, "outputs" | "parameters">): InferenceResponse | Response {
  const perOutput = new Map(request.outputs?.map((output) => [output.name, output.parameters?.binary_data]));
  const defaultBinary = request.parameters?.binary_data_output ?? false;
  const binary = response.outputs.map((output) => perOutput.get(output.name) ?? defaultBinary);
  if (!binary.includes(true)) return { ...response, outputs: encodeOutputs(response.outputs) };

  const tails: Uint8Array[] = [];
  const outputs = response.outputs.map((tensor, index): JsonOutputTensor | BinaryOutputHeader => {
    if (!binary[index]) return encodeOutputs([tensor])[0]!;
    const raw = toRawBytes(tensor);
    tails.push(raw);
    return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, parameters: { binary_data_size: raw.byteLength } };
  });
  const header = encoder.encode(JSON.stringify({ ...response, outputs }));
  const body = new Uint8Array(tails.reduce((total, tail) => total + tail.byteLength, header.byteLength));
  body.set(header, 0);
  let offset = header.byteLength;
  for (const tail of tails) {
    body.set(tail, offset);
    offset += tail.byteLength;
  }
  return new Response(body, {
    headers: { "content-type": "application/octet-stream", [HEADER_LENGTH_HEADER]: String(header.byteLength) },
  });
}
