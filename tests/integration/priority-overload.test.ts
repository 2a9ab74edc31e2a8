/**
 * Priority under overload over real sockets (the core served by Bun.serve on port 0) with a real
 * worker: LOW requests flood a slow model until its queue is at the depth where further bodies wait
 * for a turn to be parsed (src/inference/admission-gate.ts); a CRITICAL request sent then is answered
 * right after the request running when it arrived (it never waits for a turn), and a HIGH one sent
 * after it gets the first turn that frees up, ahead of every LOW request still waiting. Only order
 * and counts are asserted, never durations.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { referenceSlow, slowModel } from "../fixtures/models.ts";
import { type CoreFixture, startCore } from "../support/core-fixture.ts";
import { waitFor } from "../support/wait.ts";

const POLL = { timeoutMilliseconds: 30_000, intervalMilliseconds: 2 };
/** Requests the queue of an unbatched model holds before bodies wait for a turn (service.ts, MIN_PARSE_DEPTH). */
const PARSE_DEPTH = 16;
const FLOOD_SIZE = 40;
const MODEL = "priority-slow";
const INPUT = Float32Array.from({ length: 512 }, (_, index) => ((index * 37) % 101) / 101 - 0.5);

let fixture: CoreFixture;
let server: ReturnType<typeof Bun.serve>;
let baseUrl: string;

beforeAll(async () => {
  fixture = await startCore();
  server = Bun.serve({ port: 0, fetch: (request) => fixture.core.app.handle(request) });
  baseUrl = `http://127.0.0.1:${server.port}`;
  // Eight chained 1-GFLOP MatMuls: each run keeps the worker busy while the flood arrives.
  const source = path.join(path.dirname(fixture.fixtures.slow), "slow-8.onnx");
  await Bun.write(source, slowModel(8));
  await fixture.core.models.register({ name: MODEL, version: "1", task: "tensor", source, config: {} });
  await fixture.core.models.load(MODEL);
});

afterAll(async () => {
  server?.stop(true);
  await fixture?.[Symbol.asyncDispose]();
});

function queued(): number {
  const entry = Object.entries(fixture.core.inference.queueStats()).find(([key]) => key.startsWith(`${MODEL}@`));
  return entry?.[1].queued ?? 0;
}

const body = JSON.stringify({ inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: Array.from(INPUT) }] });

/** Posts one request; resolves with its label once answered 200 (its output checked), or "aborted". */
async function post(label: string, priority: string, signal: AbortSignal, answered: string[]): Promise<string> {
  try {
    const response = await fetch(`${baseUrl}/api/v1/infer/${MODEL}`, { method: "POST", headers: { "content-type": "application/json", "x-priority": priority }, body, signal });
    const answer = (await response.json()) as { outputs: { data: number[] }[] };
    expect(response.status, JSON.stringify(answer)).toBe(200);
    const expected = referenceSlow(INPUT);
    answer.outputs[0]!.data.forEach((value, index) => expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(1e-3 * Math.abs(expected[index]!) + 1e-3));
    answered.push(label);
    return label;
  } catch (error) {
    if (signal.aborted) return "aborted";
    throw error;
  }
}

describe("priority under overload over REST", () => {
  test("a CRITICAL request sent after a flood of LOW ones is answered after at most the one running, and a HIGH one before the LOW ones still waiting", async () => {
    const answered: string[] = [];
    const flood = new AbortController();
    const lows = Array.from({ length: FLOOD_SIZE }, (_, index) => post(`low-${index}`, "low", flood.signal, answered));
    // The queue at the parse depth: the rest of the flood waits, unparsed, for turns.
    await waitFor(() => queued() >= PARSE_DEPTH, "the queue to fill to the parse depth", POLL);
    const answeredAtSend = answered.length;
    const urgent = new AbortController();
    const critical = post("critical", "critical", urgent.signal, answered);
    const high = post("high", "high", urgent.signal, answered);
    await Promise.all([critical, high]);
    flood.abort(); // the LOW requests still queued or waiting are cancelled, not run
    await Promise.all(lows);

    const criticalAt = answered.indexOf("critical");
    const highAt = answered.indexOf("high");
    // Answered before CRITICAL: the LOW ones answered before it was sent, plus the one running then
    // (and one more should that run end while the CRITICAL body is being parsed).
    expect(criticalAt - answeredAtSend).toBeLessThanOrEqual(2);
    // HIGH waits for a turn like LOW (the queue is at its depth) but gets the first one that frees
    // up: at most the LOW request dispatched when the CRITICAL one ended runs between them.
    expect(highAt).toBeGreaterThan(criticalAt);
    expect(highAt - criticalAt).toBeLessThanOrEqual(2);
    // The flood was far from drained: most LOW requests were still queued or waiting.
    expect(criticalAt).toBeLessThan(FLOOD_SIZE / 2);
  }, 120_000);
});
