/**
 * The embeddings bench's two servers, seen from their CPU: for the naive server and ModelMora with
 * each model config given, requests per second at c=32, the CPU time the server's process tree
 * (server and worker processes) spent per request, and how many cores it kept busy — what bounds the
 * throughput ratio of bench/embeddings.ts on a machine with few cores. Linux only (reads /proc). Not
 * part of `npm run bench`.
 *
 * Run: `bun bench/embed-cpu.ts [--duration 5] [--runs 1] [--configs '{"one":{},"two":{"replicas":2,"intraOpThreads":1}}']`.
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { MINILM_L6, writeSizedTextEncoder } from "../tests/fixtures/text-encoder.ts";
import { driveJsonLoad, registerAndLoad } from "./lib/json-bench.ts";
import { type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { mixedSentences } from "./embeddings.ts";

const CLOCK_TICKS_PER_SECOND = 100;
const WARMUP_SECONDS = 1;

/** CPU seconds used so far by `root` (`tree`: and every process below it). */
function cpuSeconds(root: number, tree: boolean): number {
  const processes = new Map<number, { parent: number; seconds: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      processes.set(Number(entry), { parent: Number(fields[1]), seconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND });
    } catch {
      // The process ended while listing.
    }
  }
  const below = (pid: number): boolean => pid === root || (tree && pid > 1 && processes.has(pid) && below(processes.get(pid)!.parent));
  let total = 0;
  for (const [pid, entry] of processes) if (below(pid)) total += entry.seconds;
  return total;
}

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const durationSeconds = Number(flag("--duration") ?? 5);
const runs = Number(flag("--runs") ?? 1);
const configs = JSON.parse(flag("--configs") ?? '{"one replica":{},"two replicas, 1 thread":{"replicas":2,"intraOpThreads":1}}') as Record<string, Record<string, unknown>>;

await withBenchSandbox("modelmora-bench-embed-cpu-", async (children, directory) => {
  const encoder = await writeSizedTextEncoder(path.join(directory, "encoder"), MINILM_L6);
  const modelmora = await children.startModelMora(path.join(directory, "data"));
  const names = Object.keys(configs).map((_, index) => `encoder-${index}`);
  for (const [index, config] of Object.values(configs).entries()) {
    const base = { maxBatchSize: 32, maxQueueDelayMicroseconds: 2000 };
    await registerAndLoad(modelmora, { name: names[index]!, task: "txt2embed", source: encoder.model, files: { "tokenizer.json": encoder.tokenizer }, config: { ...base, ...config } });
  }
  const naive = await children.startServer("naive embeddings server", [process.execPath, path.join(import.meta.dir, "baselines", "naive-embed-server.ts"), encoder.model, encoder.tokenizer, "--port", "0"]);
  const sentences = mixedSentences(256, encoder.words);
  const cells: [string, ListeningServer, string][] = [["naive", naive, "encoder"], ...Object.keys(configs).map((label, index): [string, ListeningServer, string] => [`ModelMora, ${label}`, modelmora, names[index]!])];
  console.log("| server | req/s | CPU ms/req (server process + workers) | cores busy |\n| --- | --- | --- | --- |");
  for (let run = 0; run < runs; run++) {
    for (const [label, server, model] of cells) {
      const pid = server.process.pid;
      const [treeBefore, ownBefore, startedAt] = [cpuSeconds(pid, true), cpuSeconds(pid, false), performance.now()];
      const bodies = sentences.map((input) => JSON.stringify({ model, input }));
      const result = await driveJsonLoad(children, directory, { url: `http://127.0.0.1:${server.httpPort}/v1/embeddings`, bodies, connections: 32, warmupSeconds: WARMUP_SECONDS, durationSeconds });
      const [tree, own] = [cpuSeconds(pid, true) - treeBefore, cpuSeconds(pid, false) - ownBefore];
      // The CPU covers the warm-up too; the requests are estimated at the measured rate over both.
      const requests = result.requestsPerSecond * (durationSeconds + WARMUP_SECONDS);
      const perRequest = (seconds: number) => ((seconds / requests) * 1000).toFixed(1);
      const cores = tree / ((performance.now() - startedAt) / 1000);
      console.log(`| ${label} | ${result.requestsPerSecond.toFixed(1)} | ${perRequest(tree)} (${perRequest(own)} + ${perRequest(tree - own)}) | ${cores.toFixed(2)} |`);
    }
  }
});
