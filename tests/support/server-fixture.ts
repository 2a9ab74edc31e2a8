/**
 * Starts a real `modelmora serve` process on port 0 (HTTP and gRPC) and waits for its
 * `"event":"listening"` line.
 * Dispose (`await using`) sends SIGTERM and waits for the exit.
 */
import os from "node:os";
import path from "node:path";
import type { Subprocess } from "bun";

const REPOSITORY_ROOT = path.join(import.meta.dir, "..", "..");

export interface ServerProcess extends AsyncDisposable {
  baseUrl: string;
  httpPort: number;
  /** The gRPC port from the listening line. */
  grpcPort: number;
  process: Subprocess<"ignore", "pipe", "pipe">;
  /** Every JSON log line printed so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the first log line for which `predicate` holds. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/**
 * The source policy test servers run with (a test may override any of it through `environment`):
 * fixture models are written under the OS temp dir, and the hub fixture listens on 127.0.0.1.
 */
export const TEST_SOURCE_POLICY = {
  MODELMORA_SOURCE_DIRS: os.tmpdir(),
  MODELMORA_SOURCE_HOSTS: "127.0.0.1,localhost",
  MODELMORA_SOURCE_ALLOW_PRIVATE_NETWORKS: "true",
};

/** `environment` adds to (or, with undefined, removes from) this process's environment for the server. */
export async function startServerProcess(options: { dataDir: string; databaseUrl?: string; extraArgs?: string[]; environment?: Record<string, string | undefined> }): Promise<ServerProcess> {
  const environment: Record<string, string | undefined> = { ...process.env, ...TEST_SOURCE_POLICY, ...options.environment, DATABASE_URL: options.databaseUrl, MODELMORA_LOG_LEVEL: "info" };
  if (!options.databaseUrl) delete environment.DATABASE_URL;
  const child = Bun.spawn({
    cmd: [process.execPath, path.join(REPOSITORY_ROOT, "src", "cli.ts"), "serve", "--port", "0", "--grpc-port", "0", "--data-dir", options.dataDir, ...(options.extraArgs ?? [])],
    env: environment,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  let stderr = "";
  void (async () => {
    for await (const chunk of child.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  void (async () => {
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += new TextDecoder().decode(chunk);
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text);
        } catch {
          continue;
        }
        logs.push(line);
        for (const waiter of [...waiters]) {
          if (waiter.predicate(line)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    }
  })();
  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = logs.find(predicate);
      if (found) return resolve(found);
      waiters.push({ predicate, resolve });
      void child.exited.then((code) => reject(new Error(`server exited with ${code} before the expected log line; stderr:\n${stderr}`)));
    });
  const listening = await waitForLog((line) => line.event === "listening");
  const httpPort = listening.http_port as number;
  return {
    baseUrl: `http://127.0.0.1:${httpPort}`,
    httpPort,
    grpcPort: listening.grpc_port as number,
    process: child,
    logs,
    waitForLog,
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await child.exited;
    },
  };
}
