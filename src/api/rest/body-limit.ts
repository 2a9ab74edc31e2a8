/**
 * Request body limit (`MODELMORA_MAX_BODY_MB`), exact for every body, answered with the usual
 * JSON error (413 PAYLOAD_TOO_LARGE):
 * - a body that declares a larger Content-Length is refused before any of it is read;
 * - a chunked body (no Content-Length) is read here, counting bytes, and refused as soon as one
 *   byte more than the limit has arrived; one within the limit is handed on as an ordinary body
 *   of known length (read once more by the route's parser: chunked uploads pay one extra copy).
 * A chunked body over the limit is read to its end (discarded, nothing kept) before the 413 is sent:
 * answering and closing while the client is still sending makes the kernel reset the connection,
 * and the client would lose the answer. Bun's own cap, four times the limit, bounds that reading
 * (beyond it Bun cuts the connection).
 */
import { Elysia } from "elysia";
import { ModelMoraError } from "../../errors.ts";
import { errorResponse } from "./error-mapping.ts";
import { replaceRequest } from "./request-identity.ts";

export function bunBodyCapBytes(maxBodyBytes: number): number {
  return maxBodyBytes * 4;
}

export function bodyLimitPlugin(maxBodyBytes: number) {
  return new Elysia({ name: "body-limit" }).onRequest(async (context) => {
    const { request } = context;
    const declared = request.headers.get("content-length");
    if (declared !== null) {
      if (Number(declared) > maxBodyBytes) return errorResponse(tooLarge(`request body of ${declared} bytes`, maxBodyBytes));
      return;
    }
    if (request.body === null) return;
    const bytes = await readAtMost(request.body, maxBodyBytes);
    if (bytes === undefined) return errorResponse(tooLarge("chunked request body", maxBodyBytes));
    const headers = new Headers(request.headers);
    headers.delete("transfer-encoding");
    headers.set("content-length", String(bytes.byteLength));
    // Route handlers read `context.request`; the replacement keeps the client's abort signal.
    const replacement = new Request(request.url, { method: request.method, headers, body: bytes, signal: request.signal });
    replaceRequest(replacement, request);
    (context as { request: Request }).request = replacement;
  });
}

function tooLarge(what: string, maxBodyBytes: number): ModelMoraError {
  return new ModelMoraError("PAYLOAD_TOO_LARGE", `${what} exceeds the limit of ${maxBodyBytes} bytes (MODELMORA_MAX_BODY_MB)`, { limitBytes: maxBodyBytes });
}

/** The whole stream, or undefined once it passes `maxBytes` (the rest is then read and dropped). */
async function readAtMost(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await drain(reader);
      return undefined;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Reads `reader` to its end, keeping nothing; a stream Bun cuts at its cap ends it too. */
async function drain(reader: { read(): Promise<{ done: boolean }> }): Promise<void> {
  try {
    while (!(await reader.read()).done);
  } catch {
    // Cut by Bun's cap or the client: nothing more to read.
  }
}
