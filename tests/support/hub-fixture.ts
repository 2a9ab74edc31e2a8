/**
 * A local stand-in for the Hugging Face Hub (Bun.serve on port 0, no internet): files served in
 * the Hub's URL layout `/{org}/{repo}/resolve/{revision}/{path}`, with the Hub's 404 headers
 * (`x-error-code: EntryNotFound`), optional private repositories (401 without the right bearer
 * token), optional LFS-style redirects to a second origin (a "CDN"), and knobs to cut a body off
 * mid-download or stream it without a Content-Length. Every request is recorded, so tests can
 * count downloads.
 *
 * Dispose (`await using`) stops both servers.
 */
import type { Server } from "bun";

export interface RecordedRequest {
  method: string;
  /** Host and port that answered: the hub's, or the CDN's for redirected files. */
  origin: string;
  path: string;
  authorization: string | null;
}

export interface HubFile {
  bytes: Uint8Array;
  /** Answer with a 302 to the CDN origin, as the Hub does for LFS files. */
  lfs?: boolean;
  /** Stream the body without Content-Length. */
  chunked?: boolean;
}

export interface HubFixture extends AsyncDisposable {
  /** What HF_ENDPOINT should be, e.g. `http://127.0.0.1:40123`. */
  endpoint: string;
  cdnOrigin: string;
  requests: RecordedRequest[];
  /** Serves `bytes` as `{endpoint}/{repo}/resolve/{revision}/{path}`. */
  addFile(repo: string, filePath: string, file: HubFile, revision?: string): string;
  /** Answers 401 for `repo` unless the request carries `Authorization: Bearer <token>`. */
  makePrivate(repo: string, token: string): void;
  /** The next `count` downloads of this URL path are redirected to a server that sends part of the body, then drops the connection. */
  interruptNext(urlPath: string, count?: number): void;
  /** GET requests whose path ends with `suffix` (the hub's and the CDN's). */
  downloadsOf(suffix: string): number;
}

export function startHub(): HubFixture {
  const files = new Map<string, HubFile>();
  const privateRepos = new Map<string, string>();
  const interruptions = new Map<string, number>();
  const requests: RecordedRequest[] = [];

  const record = (request: Request, server: Server<unknown>) => {
    const url = new URL(request.url);
    requests.push({ method: request.method, origin: `${server.hostname}:${server.port}`, path: decodeURIComponent(url.pathname), authorization: request.headers.get("authorization") });
    return url;
  };

  const body = (urlPath: string, file: HubFile): Response => {
    const remaining = interruptions.get(urlPath) ?? 0;
    if (remaining > 0) {
      // Bun.serve cannot drop a connection mid-body quietly, so a raw TCP "CDN" does it.
      interruptions.set(urlPath, remaining - 1);
      const token = crypto.randomUUID();
      truncated.set(`/${token}`, file.bytes);
      return new Response(null, { status: 302, headers: { location: `http://127.0.0.1:${dropper.port}/${token}` } });
    }
    if (file.chunked) {
      const bytes = file.bytes;
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let offset = 0; offset < bytes.length; offset += 4096) controller.enqueue(bytes.slice(offset, offset + 4096));
          controller.close();
        },
      });
      return new Response(stream, { headers: { "content-type": "application/octet-stream" } });
    }
    return new Response(file.bytes, { headers: { "content-type": "application/octet-stream", etag: `"${sha256Hex(file.bytes)}"` } });
  };

  /**
   * Answers each request with the whole Content-Length but only half the bytes, then closes the
   * connection: a download cut off mid-body.
   */
  const truncated = new Map<string, Uint8Array>();
  const dropper = Bun.listen<{ received: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { received: "" };
      },
      data(socket, chunk) {
        socket.data.received += new TextDecoder().decode(chunk);
        if (!socket.data.received.includes("\r\n\r\n")) return;
        const requestPath = socket.data.received.split(" ")[1] ?? "/";
        requests.push({ method: "GET", origin: `127.0.0.1:${dropper.port}`, path: requestPath, authorization: null });
        const bytes = truncated.get(requestPath) ?? new Uint8Array(0);
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${bytes.length}\r\nconnection: close\r\n\r\n`);
        socket.write(bytes.subarray(0, Math.min(bytes.length >> 1, 16 * 1024)));
        socket.end();
      },
    },
  });

  const cdnFiles = new Map<string, HubFile>();
  const cdn = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request, server) {
      const url = record(request, server);
      const file = cdnFiles.get(url.pathname);
      return file ? body(url.pathname, file) : new Response("no such object", { status: 404 });
    },
  });

  const hub = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request, server) {
      const url = record(request, server);
      const match = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
      if (!match) return new Response("not a resolve URL", { status: 404, headers: { "x-error-code": "RepoNotFound" } });
      const [, repo, revision, filePath] = match.map((part) => decodeURIComponent(part ?? "")) as [string, string, string, string];
      const token = privateRepos.get(repo);
      if (token !== undefined && request.headers.get("authorization") !== `Bearer ${token}`) {
        return new Response("unauthorized", { status: 401, headers: { "x-error-code": "GatedRepo", "x-error-message": "Access to this repository is restricted." } });
      }
      const file = files.get(`${repo}@${revision}/${filePath}`);
      if (!file) {
        return new Response("Entry not found", { status: 404, headers: { "x-error-code": "EntryNotFound", "x-error-message": "Entry not found" } });
      }
      if (file.lfs) {
        const objectPath = `/lfs/${sha256Hex(file.bytes)}`;
        cdnFiles.set(objectPath, file);
        return new Response(null, { status: 302, headers: { location: `http://127.0.0.1:${cdn.port}${objectPath}`, "x-linked-etag": `"${sha256Hex(file.bytes)}"` } });
      }
      return body(url.pathname, file);
    },
  });

  const endpoint = `http://127.0.0.1:${hub.port}`;
  return {
    endpoint,
    cdnOrigin: `http://127.0.0.1:${cdn.port}`,
    requests,
    addFile(repo, filePath, file, revision = "main") {
      files.set(`${repo}@${revision}/${filePath}`, file);
      return `${endpoint}/${repo}/resolve/${revision}/${filePath}`;
    },
    makePrivate(repo, token) {
      privateRepos.set(repo, token);
    },
    interruptNext(urlPath, count = 1) {
      interruptions.set(urlPath, count);
    },
    downloadsOf(suffix) {
      return requests.filter((request) => request.method === "GET" && request.path.endsWith(suffix)).length;
    },
    async [Symbol.asyncDispose]() {
      await hub.stop(true);
      await cdn.stop(true);
      dropper.stop(true);
    },
  };
}

export function sha256Hex(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}
