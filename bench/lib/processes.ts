/**
 * Child processes of a bench run. Every process the bench starts goes through one `Children`, and
 * `stopAll()` (called from `finally` and from SIGINT/SIGTERM) ends each of them: SIGTERM, then
 * SIGKILL after a grace period. A ModelMora server takes its worker processes down with it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Subprocess } from "bun";

export interface ListeningServer {
  name: string;
  httpPort: number;
  /** The listening line's `grpc_port`, when it gives a number (ModelMora with its gRPC front end). */
  grpcPort: number | undefined;
  process: Subprocess<"ignore", "pipe", "pipe">;
  /** The last lines the server wrote, for error messages. */
  output(): string;
}

/** A server that only speaks gRPC: its listening line gives `grpc_port` and no `http_port`. */
export interface ListeningGrpcServer {
  name: string;
  grpcPort: number;
  process: Subprocess<"ignore", "pipe", "pipe">;
  output(): string;
}

type StartOptions = { env?: Record<string, string>; timeoutMilliseconds?: number };
type ListeningLine = Record<string, unknown>;

const OUTPUT_LINES_KEPT = 40;
const STOP_GRACE_MILLISECONDS = 5_000;

export class Children {
  private readonly running = new Set<Subprocess>();

  /**
   * Starts a server and resolves once it prints a JSON line with `"event":"listening"` and an
   * `http_port` (and, when the line has one, a numeric `grpc_port`). Its stdout and stderr are
   * drained for as long as it runs (a full pipe would stall it).
   */
  async startServer(name: string, cmd: string[], options: StartOptions = {}): Promise<ListeningServer> {
    const { line, process: child, output } = await this.startListening(name, cmd, options, "http_port");
    const grpcPort = typeof line.grpc_port === "number" ? line.grpc_port : undefined;
    return { name, httpPort: line.http_port as number, grpcPort, process: child, output };
  }

  /** `bun src/cli.ts serve` from this checkout on free ports (HTTP and gRPC), data under `dataDir`. */
  startModelMora(dataDir: string): Promise<ListeningServer> {
    const root = path.join(import.meta.dir, "..", "..");
    const cli = path.join(root, "src", "cli.ts");
    // The benches register models by local path: the npm packages' and the benches' own temporary files.
    const env = { MODELMORA_SOURCE_DIRS: [path.join(root, "node_modules"), os.tmpdir()].join(",") };
    return this.startServer("ModelMora", [process.execPath, cli, "serve", "--port", "0", "--grpc-port", "0", "--data-dir", dataDir], { env });
  }

  /** Like `startServer`, for a gRPC-only server: waits for a listening line with a numeric `grpc_port`. */
  async startGrpcServer(name: string, cmd: string[], options: StartOptions = {}): Promise<ListeningGrpcServer> {
    const { line, process: child, output } = await this.startListening(name, cmd, options, "grpc_port");
    return { name, grpcPort: line.grpc_port as number, process: child, output };
  }

  private async startListening(
    name: string,
    cmd: string[],
    options: StartOptions,
    portKey: "http_port" | "grpc_port",
  ): Promise<{ line: ListeningLine; process: Subprocess<"ignore", "pipe", "pipe">; output: () => string }> {
    const child = Bun.spawn({ cmd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...options.env } });
    this.running.add(child);
    void child.exited.then(() => this.running.delete(child));
    const lines: string[] = [];
    const keep = (line: string) => {
      lines.push(line);
      if (lines.length > OUTPUT_LINES_KEPT) lines.shift();
    };
    let onListening!: (line: ListeningLine) => void;
    const listening = new Promise<ListeningLine>((resolve) => (onListening = resolve));
    void drainLines(child.stdout, (line) => {
      keep(line);
      if (!line.includes('"event":"listening"')) return;
      try {
        const parsed = JSON.parse(line) as ListeningLine;
        if (typeof parsed[portKey] === "number") onListening(parsed);
      } catch {
        // Not JSON after all; keep waiting for the real line.
      }
    });
    void drainLines(child.stderr, keep);
    const output = () => lines.join("\n");
    const timeoutMilliseconds = options.timeoutMilliseconds ?? 60_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const failed = Promise.race([
      child.exited.then((code) => Promise.reject(new Error(`${name} exited with ${code} before listening:\n${output()}`))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${name} did not print a listening line with a numeric ${portKey} within ${timeoutMilliseconds} ms:\n${output()}`)),
          timeoutMilliseconds,
        );
      }),
    ]);
    try {
      const line = await Promise.race([listening, failed]);
      return { line, process: child, output };
    } catch (error) {
      await this.stop(child);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a command to completion and returns its stdout; throws with its stderr on a non-zero exit. */
  async run(cmd: string[]): Promise<string> {
    const child = Bun.spawn({ cmd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.running.add(child);
    try {
      const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      if (code !== 0) throw new Error(`${cmd.slice(0, 2).join(" ")} exited with ${code}:\n${stderr.slice(-4000)}`);
      return stdout;
    } finally {
      this.running.delete(child);
    }
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
  async stop(child: Subprocess): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MILLISECONDS);
      await child.exited;
      clearTimeout(killer);
    }
    this.running.delete(child);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((child) => this.stop(child)));
  }
}

async function drainLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  }
  if (pending) onLine(pending);
}

/**
 * Runs one bench with its own `Children` and temporary directory (named `prefix…`). Both are
 * cleaned up when `body` ends, or on SIGINT/SIGTERM, after which the process exits 130/143.
 */
export async function withBenchSandbox<T>(prefix: string, body: (children: Children, directory: string) => Promise<T>): Promise<T> {
  const children = new Children();
  const directory = await mkdtemp(path.join(os.tmpdir(), prefix));
  // Called from `finally` and from a signal, possibly both at once: one cleanup, shared.
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      await children.stopAll();
      await rm(directory, { recursive: true, force: true });
    })());
  const onSignal = (signal: NodeJS.Signals) => void cleanUp().then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await body(children, directory);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cleanUp();
  }
}
