/**
 * A real worker process starts with a scrubbed environment: the server's secrets (HF_TOKEN,
 * DATABASE_URL, MODELMORA_API_KEYS, cloud credentials) are not in /proc/<pid>/environ, while what
 * Bun and onnxruntime need is, and the worker still loads and reads a model.
 */
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { workerEnvironment } from "../../src/lifecycle/worker-environment.ts";
import { spawnWorkerProcess } from "../../src/lifecycle/worker-process.ts";
import { writeFixtureModels } from "../fixtures/models.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";

const SECRETS = {
  HF_TOKEN: "hf_secret_token_value",
  DATABASE_URL: "postgres://user:db-password@db/x",
  MODELMORA_API_KEYS: "admin-key-value:admin",
  AWS_SECRET_ACCESS_KEY: "aws-secret-value",
  BUN_AUTH_TOKEN: "bun-token-value",
};
const saved: Record<string, string | undefined> = {};

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

test("a worker's /proc environ holds PATH and ORT/OMP settings but none of the server's secrets, and it still loads a model", async () => {
  await using directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  for (const [name, value] of Object.entries({ ...SECRETS, OMP_NUM_THREADS: "1" })) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  const worker = spawnWorkerProcess();
  try {
    // Read once the worker runs (it has loaded a model): right after spawn, /proc may show the
    // environment of a process that has not exec'd yet.
    const loaded = await worker.load({ modelPath: fixtures.add, device: "cpu", intraOpThreads: 1, healthCheck: false });
    expect(loaded.inputs.map((input) => input.name).sort()).toEqual(["a", "b"]);
    const environ = readFileSync(`/proc/${worker.pid}/environ`, "utf8").split("\0").filter(Boolean);
    const names = environ.map((entry) => entry.slice(0, entry.indexOf("=")));
    expect(names).toContain("PATH");
    expect(names).toContain("OMP_NUM_THREADS");
    for (const [name, value] of Object.entries(SECRETS)) {
      expect(names).not.toContain(name);
      expect(environ.join("\n")).not.toContain(value);
    }
  } finally {
    await worker.terminate();
  }
}, 60_000);

test("the allow-list passes locale, onnxruntime, threading and CUDA settings and drops everything else", () => {
  expect(
    workerEnvironment({ PATH: "/bin", LC_ALL: "C", ORT_LOGGING_LEVEL: "3", CUDA_VISIBLE_DEVICES: "0", HF_TOKEN: "x", DATABASE_URL: "y", KUBERNETES_SERVICE_HOST: "z", ORT_API_KEY: "w" }),
  ).toEqual({ PATH: "/bin", LC_ALL: "C", ORT_LOGGING_LEVEL: "3", CUDA_VISIBLE_DEVICES: "0" });
});
