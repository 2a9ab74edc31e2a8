/**
 * The server's own CPU time per request, by transport: a ModelMora server (from each checkout
 * named) serves the PaddleOCR classifier; a fixed number of cls requests at a fixed concurrency is
 * sent over each transport in turn, and the server process's user + system time
 * (`/proc/<pid>/stat`, its worker processes not counted) is read before and after. Rounds are
 * interleaved (every checkout and transport once per round), so drift on a shared machine hits all
 * cells alike; figures are per round, then the median. Not part of `npm run bench`: a tool for
 * comparing two versions of the server's request path (e.g. `git archive` of the base into a
 * temporary directory, node_modules linked).
 *
 * Usage: bun bench/server-cpu.ts [--roots /path/a,/path/b] [--requests 2000] [--rounds 3]
 *   [--connections 32] [--transports rest-binary,grpc-h2,grpc] [--server-bun-flags "--cpu-prof-md …"]
 *   [--server-env "default,MIMALLOC_PURGE_DELAY=-1"]  (one server per checkout and environment)
 * Prints a markdown table: server CPU µs/request, median (min–max) over the rounds, and req/s.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { elementCount, pseudoRandomValues } from "./lib/data.ts";
import { grpcH2Sender } from "./lib/grpc-h2-sender.ts";
import { grpcSender } from "./lib/grpc-sender.ts";
import { type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { restBinarySender, restJsonSender } from "./lib/rest-senders.ts";
import { CLS_CONFIG, CLS_MODEL_PATH, CLS_SHAPE } from "./lib/serve-cells.ts";
import type { InputValues, Sender, Transport } from "./lib/transport-load.ts";

const MODEL = "bench-ocr-cls";
const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ
const WARMUP_REQUESTS = 300;

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

/** utime + stime of one process, in microseconds. */
function processCpuMicroseconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)) → indexes 11, 12 here.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND;
}

async function openSender(transport: Transport, server: ListeningServer, inputs: InputValues[]): Promise<Sender> {
  const grpcTarget = `127.0.0.1:${server.grpcPort}`;
  const url = `http://127.0.0.1:${server.httpPort}/v2/models/${MODEL}/infer`;
  if (transport === "grpc") return grpcSender(grpcTarget, MODEL, inputs);
  if (transport === "grpc-h2") return grpcH2Sender(grpcTarget, MODEL, inputs);
  return transport === "rest-json" ? restJsonSender(url, inputs) : restBinarySender(url, inputs);
}

/** Sends `count` requests, `connections` in flight at a time; resolves with the seconds it took. */
async function sendMany(sender: Sender, count: number, connections: number): Promise<number> {
  let left = count;
  const started = performance.now();
  const loop = async () => {
    while (left > 0) {
      left--;
      await sender.send();
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  return (performance.now() - started) / 1000;
}

async function register(server: ListeningServer): Promise<void> {
  const base = `http://127.0.0.1:${server.httpPort}/api/v1/models`;
  const body = { name: MODEL, version: "1", task: "tensor", source: CLS_MODEL_PATH, config: CLS_CONFIG };
  for (const [url, init] of [
    [base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }],
    [`${base}/${MODEL}/load`, { method: "POST" }],
  ] as const) {
    const response = await fetch(url, init);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${await response.text()}`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)]!;
}

if (import.meta.main) {
  const roots = (flag("--roots") ?? path.join(import.meta.dir, "..")).split(",");
  const requests = Number(flag("--requests") ?? 2000);
  const rounds = Number(flag("--rounds") ?? 3);
  const connections = Number(flag("--connections") ?? 32);
  const transports = (flag("--transports") ?? "rest-binary,grpc-h2,grpc").split(",") as Transport[];
  // Server environments to compare, comma-separated, each "NAME=value NAME=value" or "default" (nothing added).
  const variants = (flag("--server-env") ?? "default").split(",");
  // e.g. "--cpu-prof-md --cpu-prof-dir=/tmp/profiles": a profile of each server, written when it exits.
  const bunFlags = (flag("--server-bun-flags") ?? "").split(" ").filter(Boolean);
  const inputs = [{ name: "x", shape: CLS_SHAPE, values: pseudoRandomValues(elementCount(CLS_SHAPE), 3) }];

  await withBenchSandbox("modelmora-server-cpu-", async (children, directory) => {
    const servers: ListeningServer[] = [];
    for (const root of roots) {
      for (const variant of variants) {
        const extra = Object.fromEntries(variant.split(" ").filter((pair) => pair.includes("=")).map((pair) => pair.split("=", 2) as [string, string]));
        const env = { ...extra, MODELMORA_SOURCE_DIRS: [path.join(root, "node_modules"), os.tmpdir()].join(",") };
        const dataDir = path.join(directory, `data-${servers.length}`);
        const cmd = [process.execPath, ...bunFlags, path.join(root, "src", "cli.ts"), "serve", "--port", "0", "--grpc-port", "0", "--data-dir", dataDir];
        const server = await children.startServer(variants.length > 1 ? `${root} (${variant})` : root, cmd, { env });
        await register(server);
        servers.push(server);
      }
    }
    const cells = new Map<string, { cpu: number[]; rate: number[] }>();
    for (let round = 0; round < rounds; round++) {
      for (const transport of transports) {
        for (const server of servers) {
          const sender = await openSender(transport, server, inputs);
          try {
            await sendMany(sender, WARMUP_REQUESTS, connections);
            const before = processCpuMicroseconds(server.process.pid);
            const seconds = await sendMany(sender, requests, connections);
            const cpu = (processCpuMicroseconds(server.process.pid) - before) / requests;
            const key = `${transport} · ${server.name}`;
            const cell = cells.get(key) ?? { cpu: [], rate: [] };
            cell.cpu.push(cpu);
            cell.rate.push(requests / seconds);
            cells.set(key, cell);
            console.error(`round ${round + 1}: ${key}: ${cpu.toFixed(0)} µs/req, ${(requests / seconds).toFixed(0)} req/s`);
          } finally {
            sender.close();
          }
        }
      }
    }
    console.log(`| transport · server | server CPU µs/req | req/s |\n|---|---|---|`);
    for (const [key, { cpu, rate }] of cells) {
      const spread = (values: number[]) => `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
      console.log(`| ${key} | ${spread(cpu)} | ${spread(rate)} |`);
    }
  });
}
