/**
 * Shared pieces of the task benches (embeddings, ocr): driving bench/lib/json-load.ts as its own
 * process with a spec file, registering and loading a task model on ModelMora, and one row of a
 * median (min–max) table.
 */
import path from "node:path";
import type { Children, ListeningServer } from "./processes.ts";
import type { JsonLoadResult, JsonLoadSpec } from "./json-load.ts";
import { formatSpread, spread } from "./spread.ts";

const BUN = process.execPath;
let specCount = 0;

/** Runs one load in its own process; the spec goes through a file under `directory`. */
export async function driveJsonLoad(children: Children, directory: string, spec: JsonLoadSpec): Promise<JsonLoadResult> {
  const specPath = path.join(directory, `load-spec-${++specCount}.json`);
  await Bun.write(specPath, JSON.stringify(spec));
  const stdout = await children.run([BUN, path.join(import.meta.dir, "json-load.ts"), specPath]);
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as JsonLoadResult;
  if (result.firstError !== undefined) process.stderr.write(`bench:   ${result.failed} failed; first error: ${result.firstError}\n`);
  return result;
}

/** Registers `registration` on ModelMora and loads it. */
export async function registerAndLoad(server: ListeningServer, registration: { name: string } & Record<string, unknown>): Promise<void> {
  const base = `http://127.0.0.1:${server.httpPort}/api/v1/models`;
  for (const [url, body] of [[base, { version: "1", ...registration }], [`${base}/${registration.name}/load`, undefined]] as const) {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: body && JSON.stringify(body) });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${(await response.text()).slice(0, 500)}`);
  }
}

/** Table cells of several runs of one load: req/s, p50, p99, generator CPU per request, as median (min–max). */
export function loadCells(runs: readonly JsonLoadResult[]): string[] {
  const of = (pick: (run: JsonLoadResult) => number) => (runs.some((run) => Number.isNaN(pick(run))) ? "—" : formatSpread(spread(runs.map(pick))));
  return [of((run) => run.requestsPerSecond), of((run) => run.p50Milliseconds), of((run) => run.p99Milliseconds), of((run) => run.clientCpuMicrosecondsPerRequest)];
}

export const LOAD_HEADER = ["req/s", "p50 ms", "p99 ms", "generator CPU µs/req"];
