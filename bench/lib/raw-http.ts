/**
 * One HTTP/1.1 POST on a TCP connection of its own (`Bun.connect`), for load that must reach the
 * server as fast as the kernel takes it: the request head and body are prepared bytes, written as
 * soon as the socket opens and then on every `drain`, and the connection closes after the answer
 * (`Connection: close`), so the answer is everything read until the close.
 *
 * Why not `fetch`: Bun's client started the 201 requests of the priority flood one after another
 * (each with a 520 kB body); the server saw the last of them 280–575 ms after the first was sent,
 * so the CRITICAL request sent last could not be seen, let alone overtake, any earlier.
 */

export interface RawAnswer {
  status: number;
  body: string;
}

/** The request's bytes: head (with Content-Length and Connection: close) and body, one buffer. */
export function rawPostBytes(url: URL, headers: Record<string, string>, body: Uint8Array): Uint8Array {
  const lines = [`POST ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, `Content-Length: ${body.byteLength}`, "Connection: close"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  const head = new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`);
  const bytes = new Uint8Array(head.byteLength + body.byteLength);
  bytes.set(head, 0);
  bytes.set(body, head.byteLength);
  return bytes;
}

/** Sends `request` (from rawPostBytes) on a new connection; resolves with the answer once the server closes it. */
export function rawPost(url: URL, request: Uint8Array): Promise<RawAnswer> {
  return new Promise<RawAnswer>((resolve, reject) => {
    let written = 0;
    const received: Uint8Array[] = [];
    const writeMore = (socket: { write(data: Uint8Array): number }) => {
      while (written < request.byteLength) {
        const count = socket.write(request.subarray(written));
        if (count <= 0) return; // the kernel's buffer is full: `drain` calls again
        written += count;
      }
    };
    Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: {
        open: writeMore,
        drain: writeMore,
        data: (_socket, chunk) => void received.push(new Uint8Array(chunk)),
        close: () => {
          try {
            resolve(parseAnswer(Buffer.concat(received)));
          } catch (error) {
            reject(error);
          }
        },
        error: (_socket, error) => reject(error),
        connectError: (_socket, error) => reject(error),
      },
    }).catch(reject);
  });
}

/** Status and body of a whole HTTP/1.1 answer (Content-Length or chunked). */
function parseAnswer(bytes: Buffer): RawAnswer {
  const headEnd = bytes.indexOf("\r\n\r\n");
  if (headEnd < 0) throw new Error(`the connection closed before a whole answer head (${bytes.byteLength} bytes)`);
  const head = bytes.subarray(0, headEnd).toString("latin1").split("\r\n");
  const status = Number(head[0]!.split(" ")[1]);
  const chunked = head.some((line) => /^transfer-encoding:\s*chunked/i.test(line));
  const raw = bytes.subarray(headEnd + 4);
  return { status, body: (chunked ? dechunk(raw) : raw).toString("utf8") };
}

function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = raw.indexOf("\r\n", offset);
    if (lineEnd < 0) break;
    const size = Number.parseInt(raw.subarray(offset, lineEnd).toString("latin1"), 16);
    if (!(size > 0)) break;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
