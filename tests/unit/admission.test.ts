/** The admission policy alone: which idle models make room, and when a load must wait or is refused. */
import { describe, expect, test } from "bun:test";
import { type AdmissionLimits, planAdmission, type ResidentModel } from "../../src/lifecycle/admission.ts";
import { restartDelayMilliseconds } from "../../src/lifecycle/backoff.ts";

const MB = 1024 * 1024;
const budget = (megabytes: number): AdmissionLimits => ({ memoryLimitBytes: megabytes * MB, maxLoadedModels: undefined });
const model = (key: string, megabytes: number, lastUsedAtMilliseconds: number, busy = false): ResidentModel => ({
  key,
  footprintBytes: megabytes * MB,
  busy,
  lastUsedAtMilliseconds,
});

describe("planAdmission under a memory budget", () => {
  test("admits without evicting when the model fits", () => {
    expect(planAdmission([model("a", 100, 1)], 50 * MB, budget(200))).toEqual({ kind: "admit", evict: [] });
  });

  test("a model exactly filling the budget fits", () => {
    expect(planAdmission([model("a", 100, 1)], 100 * MB, budget(200))).toEqual({ kind: "admit", evict: [] });
  });

  test("evicts idle models least recently used first, only as many as needed", () => {
    const resident = [model("newest", 100, 30), model("oldest", 100, 10), model("middle", 100, 20)];
    expect(planAdmission(resident, 100 * MB, budget(300))).toEqual({ kind: "admit", evict: ["oldest"] });
    expect(planAdmission(resident, 200 * MB, budget(300))).toEqual({ kind: "admit", evict: ["oldest", "middle"] });
  });

  test("memory reserved outside the models (standby workers) counts against the budget, and is never evicted", () => {
    const resident = [model("idle", 100, 10)];
    expect(planAdmission(resident, 100 * MB, budget(300), 0)).toEqual({ kind: "admit", evict: [] });
    expect(planAdmission(resident, 100 * MB, budget(300), 150 * MB)).toEqual({ kind: "admit", evict: ["idle"] });
    expect(planAdmission([], 100 * MB, budget(300), 250 * MB).kind).toBe("wait");
  });

  test("never evicts a busy model, even the least recently used", () => {
    const resident = [model("old-busy", 100, 1, true), model("recent-idle", 100, 50)];
    expect(planAdmission(resident, 100 * MB, budget(200))).toEqual({ kind: "admit", evict: ["recent-idle"] });
  });

  test("waits when only busy models could make room", () => {
    const plan = planAdmission([model("a", 100, 1, true), model("b", 100, 2, true)], 100 * MB, budget(250));
    expect(plan.kind).toBe("wait");
    expect(plan.kind === "wait" && plan.reason).toContain("busy");
  });

  test("refuses a model larger than the whole budget, whatever is loaded", () => {
    const plan = planAdmission([], 300 * MB, budget(200));
    expect(plan).toEqual({ kind: "reject", reason: "the model needs about 300.0 MB but the memory limit is 200.0 MB" });
  });

  test("without limits everything is admitted", () => {
    const resident = [model("a", 10_000, 1), model("b", 10_000, 2)];
    expect(planAdmission(resident, 10_000 * MB, { memoryLimitBytes: undefined, maxLoadedModels: undefined })).toEqual({ kind: "admit", evict: [] });
  });
});

describe("planAdmission under the loaded-models cap", () => {
  const cap = (maxLoadedModels: number): AdmissionLimits => ({ memoryLimitBytes: undefined, maxLoadedModels });

  test("evicts the least recently used idle model when the cap is reached", () => {
    expect(planAdmission([model("b", 1, 20), model("a", 1, 10)], 1, cap(2))).toEqual({ kind: "admit", evict: ["a"] });
  });

  test("admits below the cap", () => {
    expect(planAdmission([model("a", 1, 10)], 1, cap(2))).toEqual({ kind: "admit", evict: [] });
  });

  test("waits when every loaded model is busy", () => {
    expect(planAdmission([model("a", 1, 10, true), model("b", 1, 20, true)], 1, cap(2)).kind).toBe("wait");
  });

  test("cap and budget together: evicts until both hold", () => {
    const resident = [model("a", 50, 1), model("b", 150, 2), model("c", 10, 3)];
    const plan = planAdmission(resident, 100 * MB, { memoryLimitBytes: 250 * MB, maxLoadedModels: 3 });
    // The cap alone needs one eviction (a); the budget then still needs b gone.
    expect(plan).toEqual({ kind: "admit", evict: ["a", "b"] });
  });
});

describe("restartDelayMilliseconds", () => {
  const policy = { baseMilliseconds: 1_000, maxMilliseconds: 30_000 };

  test("the first failure is retried at once, then the delay doubles up to the cap", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map((failures) => restartDelayMilliseconds(failures, policy))).toEqual([
      0, 0, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
  });
});
