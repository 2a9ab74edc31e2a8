/**
 * HTTP/1.1 over a bare TCP socket, for what fetch will not send: chunked bodies of an exact size,
 * garbled framing. One request per connection (`Connection: close`); the answer is read until the
 * server closes. A connection the server drops without any answer resolves with status 0.
 */
import net from "node:net";

export interface RawAnswer {
  /** 0 when the connection closed without a status line. */
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `body` with `Transfer-Encoding: chunked` in chunks of `chunkBytes` (no Content-Length). */
export function sendChunked(port: number, method: string, route: string, body: Uint8Array, headers: Record<string, string> = {}, chunkBytes = 16 * 1024): Promise<RawAnswer> {
  const head = [`${method} ${route} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", "Transfer-Encoding: chunked", ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)].join("\r\n");
  const parts: Uint8Array[] = [new TextEncoder().encode(`${head}\r\n\r\n`)];
  for (let offset = 0; offset < body.byteLength; offset += chunkBytes) {
    const chunk = body.subarray(offset, Math.min(body.byteLength, offset + chunkBytes));
    parts.push(new TextEncoder().encode(`${chunk.byteLength.toString(16)}\r\n`), chunk, new TextEncoder().encode("\r\n"));
  }
  parts.push(new TextEncoder().encode("0\r\n\r\n"));
  return sendRaw(port, parts);
}

/** Writes `parts` in order on a fresh connection and reads the answer until the server closes. */
export function sendRaw(port: number, parts: Uint8Array[]): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", async () => {
      for (const part of parts) {
        if (socket.destroyed || socket.writableEnded) break;
        // The server may answer (413) and close before the whole body is sent: later writes fail, which is fine.
        const flushed = socket.write(part);
        if (!flushed) await new Promise((drained) => socket.once("drain", drained).once("close", drained));
      }
    });
    socket.on("data", (data: Buffer) => received.push(data));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
    });
    socket.on("close", () => resolve(parseAnswer(Buffer.concat(received).toString("utf8"))));
    socket.setTimeout(30_000, () => socket.destroy(new Error("no answer within 30 s")));
  });
}

function parseAnswer(text: string): RawAnswer {
  const headerEnd = text.indexOf("\r\n\r\n");
  const statusLine = /^HTTP\/1\.1 (\d{3})/.exec(text);
  if (!statusLine || headerEnd < 0) return { status: 0, headers: {}, body: text };
  const headers: Record<string, string> = {};
  for (const line of text.slice(0, headerEnd).split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(headerEnd + 4);
  if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
  return { status: Number(statusLine[1]), headers, body };
}

function unchunk(text: string): string {
  let body = "";
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf("\r\n");
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!(size > 0)) return body;
    body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}
