/**
 * Model isolation: each registered version is opened from its own directory holding only
 * `model.onnx`, and a model whose tensors live in "external data" (here: naming a sibling model's
 * cached file) is refused at registration. Without both, such a model read the sibling's weights.
 */
import { expect, test } from "bun:test";
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { onnx } from "onnx-proto";
import { spawnWorkerProcess } from "../../src/lifecycle/worker-process.ts";
import { externalDataLocations } from "../../src/security/external-data.ts";
import { buildModel, tensor } from "../fixtures/onnx-builder.ts";
import { callApp, startCore } from "../support/core-fixture.ts";

/** y = x + w, where w (4 floats) is external data at `location` (bytes 0..16 of that file). */
function externalDataModel(location: string): Uint8Array {
  const model = buildModel({ name: "external", inputs: [tensor("x", "float32", [4])], outputs: [tensor("y", "float32", [4])], nodes: [{ opType: "Add", inputs: ["x", "w"], outputs: ["y"] }] });
  model.graph!.initializer = [
    onnx.TensorProto.create({
      name: "w",
      dims: [4],
      dataType: onnx.TensorProto.DataType.FLOAT,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: "location", value: location },
        { key: "offset", value: "0" },
        { key: "length", value: "16" },
      ],
    }),
  ];
  return onnx.ModelProto.encode(model).finish();
}

test("a model whose external data names a sibling's cached file is refused, and registered models open from their own directory", async () => {
  await using fixture = await startCore();
  const { app } = fixture.core;
  const sibling = await callApp(app, "POST", "/api/v1/models", { name: "sibling", version: "1", task: "tensor", source: fixture.fixtures.add });
  expect(sibling.status).toBe(201);
  const siblingSha = sibling.body.versions[0].sha256 as string;

  // Its own directory, holding only model.onnx.
  const isolated = path.join(fixture.dataDir, "models", "isolated", siblingSha);
  expect(await readdir(isolated)).toEqual(["model.onnx"]);
  expect(await Bun.file(path.join(isolated, "model.onnx")).bytes()).toEqual(await Bun.file(fixture.fixtures.add).bytes());

  const fixturesDirectory = path.dirname(fixture.fixtures.add);
  for (const [file, location] of [
    ["relative.onnx", `../sha256/${siblingSha}`],
    ["up-two.onnx", `../../sha256/${siblingSha}`],
    ["bare.onnx", siblingSha],
    ["absolute.onnx", path.join(fixture.dataDir, "models", "sha256", siblingSha)],
  ] as const) {
    const bytes = externalDataModel(location);
    expect(externalDataLocations(bytes)).toEqual([location]);
    await writeFile(path.join(fixturesDirectory, file), bytes);
    const refused = await callApp(app, "POST", "/api/v1/models", { name: `thief-${file.replace(".onnx", "")}`, version: "1", task: "tensor", source: path.join(fixturesDirectory, file) });
    expect(refused.status, location).toBe(422);
    expect(refused.body.code).toBe("MODEL_LOAD_FAILED");
    expect(refused.body.error).toContain("external data");
  }
  // Nothing of the refused models was kept.
  expect(await readdir(path.join(fixture.dataDir, "models", "sha256"))).toEqual([siblingSha]);
  expect((await callApp(app, "GET", "/api/v1/models")).body.map((model: { name: string }) => model.name)).toEqual(["sibling"]);
}, 60_000);

test("opened from an isolated directory, a bare external-data name finds no sibling; next to the shared cache it would have", async () => {
  await using fixture = await startCore();
  const { app } = fixture.core;
  const sibling = await callApp(app, "POST", "/api/v1/models", { name: "sibling", version: "1", task: "tensor", source: fixture.fixtures.add });
  const siblingSha = sibling.body.versions[0].sha256 as string;
  const thief = externalDataModel(siblingSha);
  const sharedDirectory = path.join(fixture.dataDir, "models", "sha256");
  const isolatedDirectory = path.join(fixture.dataDir, "models", "isolated", "thief");
  await Bun.write(path.join(sharedDirectory, "thief.onnx"), thief);
  await Bun.write(path.join(isolatedDirectory, "model.onnx"), thief);
  for (const [modelPath, loads] of [
    [path.join(sharedDirectory, "thief.onnx"), true],
    [path.join(isolatedDirectory, "model.onnx"), false],
  ] as const) {
    const worker = spawnWorkerProcess();
    try {
      const outcome = await worker.load({ modelPath, device: "cpu", intraOpThreads: 1, healthCheck: false }).then(
        () => "loaded",
        (error: Error) => error.message,
      );
      if (loads) expect(outcome).toBe("loaded");
      else expect(outcome).not.toBe("loaded");
    } finally {
      await worker.terminate();
    }
  }
}, 60_000);
