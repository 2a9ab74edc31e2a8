/**
 * A closed-loop JSON POST load generator, run as its own `bun` process (like transport-load.ts) so its
 * CPU is its own: `connections` loops each POST the next of `bodies` (cycled) to `url` and wait for the
 * answer. Reports throughput, p50/p99 latency over the measured window, the generator's CPU per
 * request, and the first answer (to check every server gives the same one).
 *
 * Usage: `bun bench/lib/json-load.ts <spec.json>` (a file: image bodies are too long for argv).
 */
export interface JsonLoadSpec {
  url: string;
  bodies: string[];
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

export interface JsonLoadResult {
  requestsPerSecond: number;
  p50Milliseconds: number;
  p99Milliseconds: number;
  ok: number;
  failed: number;
  firstError?: string;
  clientCpuMicrosecondsPerRequest: number;
  firstAnswer: unknown;
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

export async function runJsonLoad(spec: JsonLoadSpec): Promise<JsonLoadResult> {
  const post = async (body: string) => {
    const response = await fetch(spec.url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const text = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status} ${text.slice(0, 300)}`);
    return text;
  };
  const firstAnswer = JSON.parse(await post(spec.bodies[0]!)) as unknown;
  const started = performance.now();
  const measureFrom = started + spec.warmupSeconds * 1000;
  const measureUntil = measureFrom + spec.durationSeconds * 1000;
  const latencies: number[] = [];
  let completed = 0;
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const cpuAtStart = process.cpuUsage();
  const loop = async () => {
    while (performance.now() < measureUntil) {
      const body = spec.bodies[next++ % spec.bodies.length]!;
      const sent = performance.now();
      try {
        await post(body);
        const done = performance.now();
        completed++;
        if (done >= measureFrom && done <= measureUntil) latencies.push(done - sent);
      } catch (error) {
        const done = performance.now();
        if (done >= measureFrom && done <= measureUntil) failed++;
        firstError ??= String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, loop));
  const cpu = process.cpuUsage(cpuAtStart);
  latencies.sort((left, right) => left - right);
  return {
    requestsPerSecond: latencies.length / spec.durationSeconds,
    p50Milliseconds: percentile(latencies, 0.5),
    p99Milliseconds: percentile(latencies, 0.99),
    ok: latencies.length,
    failed,
    ...(firstError === undefined ? {} : { firstError }),
    clientCpuMicrosecondsPerRequest: (cpu.user + cpu.system) / Math.max(1, completed),
    firstAnswer,
  };
}

if (import.meta.main) {
  const spec = JSON.parse(await Bun.file(process.argv[2]!).text()) as JsonLoadSpec;
  process.stdout.write(`${JSON.stringify(await runJsonLoad(spec))}\n`);
}
