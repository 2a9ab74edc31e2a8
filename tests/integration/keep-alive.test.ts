/** Keep-alive with real worker processes: an idle model's worker goes away by itself. */
import { expect, test } from "bun:test";
import { startCore } from "../support/core-fixture.ts";
import { processAlive } from "../support/processes.ts";
import { waitFor } from "../support/wait.ts";

test("an idle model's worker is unloaded after keepAliveSeconds; the next request loads it again", async () => {
  await using fixture = await startCore();
  const { core, fixtures } = fixture;
  await core.models.register({ name: "brief", version: "1", task: "tensor", source: fixtures.add, config: { keepAliveSeconds: 1 } });
  const inputs = [
    { name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] },
    { name: "b", shape: [1, 4], datatype: "FP32", data: [4, 3, 2, 1] },
  ];
  const response = await core.inference.infer({ model: "brief", inputs, priority: 3 });
  expect(response.outputs[0]!.data).toEqual([5, 5, 5, 5]);
  const idleSince = Date.now();
  const pid = core.pool.status().find((status) => status.name === "brief")!.pid!;
  expect(processAlive(pid)).toBe(true);
  await waitFor(() => !processAlive(pid), `worker ${pid} to exit after its keep-alive`, { timeoutMilliseconds: 10_000, intervalMilliseconds: 5 });
  // Not before its keep-alive (timers may fire a little early; 900 ms allows for that).
  expect(Date.now() - idleSince).toBeGreaterThanOrEqual(900);
  expect(core.pool.stateOf("brief", "1")).toBe("unloaded");
  expect((await core.inference.infer({ model: "brief", inputs, priority: 3 })).outputs[0]!.data).toEqual([5, 5, 5, 5]);
});
