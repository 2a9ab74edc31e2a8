/**
 * The single binary: `scripts/build-binary.ts` (what `npm run build` runs) compiles
 * `dist/modelmora`; a copy of it, alone in an empty directory, started from there with no
 * node_modules on any path of its environment, serves REST and gRPC on its embedded SQLite
 * database, spawns its workers by re-executing itself in worker mode, infers with the embedded
 * onnxruntime, reads text from an image with the embedded sharp (libvips) and the real PP-OCRv4
 * recogniser, and takes its workers with it on SIGTERM.
 */
import { expect, test } from "bun:test";
import { copyFile, mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { type Client, type GrpcObject, Metadata, type ServiceClientConstructor, type ServiceError, credentials } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { WORKER_MODE_ARGUMENT } from "../../src/runtime/worker-command.ts";
import { SHARP_EXTRACT_PREFIX } from "../../src/runtime/sharp-library.ts";
import { referenceAdd, writeFixtureModels } from "../fixtures/models.ts";
import { copyOcrModels, renderLine } from "../support/rendered-text.ts";
import { childPids, processAlive } from "../support/processes.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";
import { waitFor } from "../support/wait.ts";

const REPOSITORY_ROOT = path.join(import.meta.dir, "..", "..");
const BUILD_SCRIPT = path.join(REPOSITORY_ROOT, "scripts", "build-binary.ts");

/** Upper bound for every polled condition. */
const POLL_BOUND_MILLISECONDS = 15_000;

/** The add fixture is exact in float32; 1e-6 leaves room for summation order. */
const FIXTURE_TOLERANCE = 1e-6;

const { grpcObject } = loadProtos(["kserve/grpc_predict_v2.proto"]);
const KServeClient = (grpcObject.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;

/**
 * `command`, run where the repository (its node_modules, drizzle/, proto/, sources) does not exist:
 * an empty tmpfs is mounted over it in a private mount namespace. Without this, a path to the
 * build machine's files compiled into the binary would still resolve here and hide the bug. Needs
 * CAP_SYS_ADMIN (root, as in CI) and a `workDirectory` outside the repository; elsewhere the
 * command runs unchanged.
 */
function withoutRepository(command: string[], workDirectory: string): string[] {
  const unshare = Bun.which("unshare");
  if (!unshare || !path.relative(REPOSITORY_ROOT, workDirectory).startsWith("..")) return command;
  const hide = [unshare, "--mount", "sh", "-c", 'mount -t tmpfs none "$0" && exec "$@"', REPOSITORY_ROOT];
  if (Bun.spawnSync([...hide, "true"], { stdio: ["ignore", "ignore", "ignore"] }).exitCode !== 0) return command;
  return [...hide, ...command];
}

/**
 * Reads `stdout` to its end (so the server never writes into a closed pipe) and resolves with the
 * first line holding `"event":"listening"`, parsed; rejects if stdout ends without one.
 */
function listeningLine(stdout: ReadableStream<Uint8Array>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    void (async () => {
      let buffered = "";
      const decoder = new TextDecoder();
      for await (const chunk of stdout) {
        buffered += decoder.decode(chunk, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        const line = lines.find((text) => text.includes('"event":"listening"'));
        if (line) resolve(JSON.parse(line));
      }
      reject(new Error("the binary closed stdout before its listening line"));
    })();
  });
}

test(
  "the compiled binary, alone in an empty directory, serves, spawns itself as its workers, infers, and stops them on SIGTERM",
  async () => {
    await using directory = await temporaryDirectory("modelmora-binary-");
    const built = path.join(directory.path, "build", "modelmora");
    const build = Bun.spawn({ cmd: [process.execPath, BUILD_SCRIPT, "--outfile", built], stdio: ["ignore", "pipe", "pipe"] });
    const [buildOut, buildErr, buildExit] = await Promise.all([build.stdout.text(), build.stderr.text(), build.exited]);
    expect(buildExit, `${buildOut}${buildErr}`).toBe(0);

    const runDirectory = path.join(directory.path, "run");
    const binary = path.join(runDirectory, "modelmora");
    await mkdir(runDirectory);
    await copyFile(built, binary);
    const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
    const ocrModels = await copyOcrModels(path.join(directory.path, "fixtures", "ocr"));

    // No node_modules on any path: PATH without them, nothing else inherited. TMPDIR and HOME keep
    // what the binary unpacks (its native libraries) and what onnxruntime caches inside the test directory.
    const environment = {
      PATH: (process.env.PATH ?? "").split(path.delimiter).filter((entry) => !entry.includes("node_modules")).join(path.delimiter),
      HOME: directory.path,
      TMPDIR: directory.path,
      MODELMORA_LOG_LEVEL: "info",
      // The source policy: the fixture model below is registered by path.
      MODELMORA_SOURCE_DIRS: path.join(directory.path, "fixtures"),
    };
    await using server = Bun.spawn({
      cmd: withoutRepository([binary, "serve", "--port", "0", "--grpc-port", "0", "--data-dir", path.join(directory.path, "data")], directory.path),
      cwd: runDirectory,
      env: environment,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stderr = server.stderr.text();
    const listening = await listeningLine(server.stdout).catch(async (error: Error) => {
      throw new Error(`${error.message}; exit ${await server.exited}; stderr:\n${await stderr}`);
    });
    expect(listening).toMatchObject({ database: "sqlite" });
    const baseUrl = `http://127.0.0.1:${listening.http_port}`;

    // The Swagger UI is embedded: the page's script is served from the binary, not a CDN.
    expect(await (await fetch(`${baseUrl}/swagger`)).text()).toContain('src="/swagger/assets/swagger-ui-bundle.js"');
    const bundle = await fetch(`${baseUrl}/swagger/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);

    const registered = await fetch(`${baseUrl}/api/v1/models`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "add", version: "1", task: "tensor", source: fixtures.add }),
    });
    expect(registered.status).toBe(201);
    expect(await registered.json()).toMatchObject({ name: "add", inputs: [{ name: "a" }, { name: "b" }], outputs: [{ name: "sum" }] });

    const a = Float32Array.from([1, 2, 3, 4]);
    const b = Float32Array.from([0.5, 0.25, -1, 8]);
    const inferred = await fetch(`${baseUrl}/api/v1/infer/add`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        inputs: [
          { name: "a", shape: [1, 4], datatype: "FP32", data: Array.from(a) },
          { name: "b", shape: [1, 4], datatype: "FP32", data: Array.from(b) },
        ],
      }),
    });
    expect(inferred.status).toBe(200);
    const answer = (await inferred.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
    expect(answer.outputs).toHaveLength(1);
    expect(answer.outputs[0]).toMatchObject({ name: "sum", shape: [1, 4] });
    const expected = referenceAdd(a, b);
    answer.outputs[0]!.data.forEach((value, index) => expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(FIXTURE_TOLERANCE));

    // The embedded .proto files serve gRPC as well.
    const client = new KServeClient(`127.0.0.1:${listening.grpc_port}`, credentials.createInsecure()) as Client & Record<string, any>;
    try {
      const live = await new Promise((resolve, reject) =>
        client.ServerLive({}, new Metadata(), { deadline: Date.now() + 10_000 }, (error: ServiceError | null, response: unknown) => (error ? reject(error) : resolve(response))),
      );
      expect(live).toEqual({ live: true });
    } finally {
      client.close();
    }

    // Image tasks: the worker loads sharp's addon and libvips from copies of the embedded files.
    const ocrRegistered = await fetch(`${baseUrl}/api/v1/models`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "ocr", version: "1", task: "img2txt", source: ocrModels.recognizer, files: { "charset.txt": ocrModels.charset } }),
    });
    expect(ocrRegistered.status).toBe(201);
    const line = "Hello ModelMora 42";
    const read = await fetch(`${baseUrl}/api/v1/infer/ocr`, { method: "POST", headers: { "content-type": "image/png" }, body: await renderLine(line) });
    const readBody = await read.text();
    expect(read.status, readBody).toBe(200);
    expect(JSON.parse(readBody)).toMatchObject({ text: line });
    // The copies were removed once loaded.
    expect((await readdir(directory.path)).filter((name) => name.startsWith(SHARP_EXTRACT_PREFIX))).toEqual([]);

    // Every worker is this same binary, re-executed in worker mode. One spawned for a model names it
    // for ps; a standby worker (started before its model was known, and refilled a second after one
    // is taken) names none. Which of the two serves a model depends on timing; /api/v1/status says.
    const workers = childPids(server.pid);
    const status = (await (await fetch(`${baseUrl}/api/v1/status`)).json()) as { models: { name: string; pid: number | null }[] };
    for (const name of ["add", "ocr"]) expect(workers).toContain(status.models.find((model) => model.name === name)?.pid ?? -1);
    for (const pid of workers) {
      const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter((word) => word !== "");
      expect(argv.slice(0, 2)).toEqual([binary, WORKER_MODE_ARGUMENT]);
      if (argv.length > 2) expect(argv.slice(2)).toEqual([expect.stringMatching(/^--model=(add|ocr)@/)]);
    }

    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    for (const pid of workers) await waitFor(() => !processAlive(pid), `worker ${pid} to exit`, { timeoutMilliseconds: POLL_BOUND_MILLISECONDS, intervalMilliseconds: 5 });
    // Nothing was written next to the binary: data and unpacked libraries went where they were told.
    expect(await readdir(runDirectory)).toEqual(["modelmora"]);
  },
  120_000,
);
