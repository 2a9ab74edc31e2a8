/**
 * One priority flood, run by `bun` as its own process: `floodSize` LOW requests put in flight at
 * once, then, right after the last LOW one is started, one CRITICAL request. Each request is its own
 * TCP connection written from prepared bytes as fast as the kernel takes them (tests/support/raw-http.ts; Bun's
 * `fetch` delivered the last request of the flood hundreds of milliseconds late). All carry the
 * same KServe JSON body, encoded once; the priority is the `x-priority` header. Times are from one
 * origin (just before the first LOW connection) to each answer's last byte.
 *
 * Usage: bun bench/lib/priority-flood.ts '{"url":"http://127.0.0.1:8080/api/v1/infer/m","inputs":[{"name":"x","shape":[1,3,48,192],"seed":3}],"floodSize":200}'
 * Prints one JSON line: PriorityFloodResult.
 */
import { elementCount, pseudoRandomValues } from "./data.ts";
import { sendRaw } from "../../tests/support/raw-http.ts";
import { jsonRequestBody } from "./rest-senders.ts";
import type { InputSpec } from "./transport-load.ts";

export interface PriorityFloodSpec {
  url: string;
  inputs: InputSpec[];
  floodSize: number;
}

export interface PriorityFloodResult {
  /** Origin → the last LOW answer. */
  drainMilliseconds: number;
  /** Origin → the CRITICAL answer. */
  criticalMilliseconds: number;
  /** LOW answers that arrived before the CRITICAL one. */
  lowAnsweredBeforeCritical: number;
  /** Requests answered with a non-2xx status or not at all (LOW and CRITICAL together). */
  failed: number;
  firstError?: string;
}

export async function runPriorityFlood(spec: PriorityFloodSpec): Promise<PriorityFloodResult> {
  const inputs = spec.inputs.map(({ name, shape, seed }) => ({ name, shape, values: pseudoRandomValues(elementCount(shape), seed) }));
  const body = new TextEncoder().encode(jsonRequestBody(inputs));
  let failed = 0;
  let firstError: string | undefined;
  const url = new URL(spec.url);
  const head = (priority: string) =>
    new TextEncoder().encode(
      `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.byteLength}\r\nConnection: close\r\nx-priority: ${priority}\r\n\r\n`,
    );
  const requests = { low: [head("low"), body], critical: [head("critical"), body], normal: [head("normal"), body] };
  const post = async (priority: "low" | "critical" | "normal", origin: number): Promise<number> => {
    try {
      const answer = await sendRaw(Number(url.port), requests[priority]);
      if (answer.status < 200 || answer.status >= 300) throw new Error(`HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
    } catch (error) {
      failed++;
      firstError ??= String(error);
    }
    return performance.now() - origin;
  };
  // One request alone first: a broken route fails here, before the flood.
  await post("normal", performance.now());
  if (failed > 0) throw new Error(`the check request failed: ${firstError}`);

  let criticalAt: number | undefined;
  let lowAnsweredBeforeCritical = 0;
  const origin = performance.now();
  const low = Array.from({ length: spec.floodSize }, () =>
    post("low", origin).then((milliseconds) => {
      if (criticalAt === undefined) lowAnsweredBeforeCritical++;
      return milliseconds;
    }),
  );
  const critical = post("critical", origin).then((milliseconds) => (criticalAt = milliseconds));
  const [lowTimes, criticalMilliseconds] = await Promise.all([Promise.all(low), critical]);
  return {
    drainMilliseconds: Math.max(...lowTimes),
    criticalMilliseconds,
    lowAnsweredBeforeCritical,
    failed,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

if (import.meta.main) {
  const result = await runPriorityFlood(JSON.parse(process.argv[2] ?? "{}") as PriorityFloodSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
