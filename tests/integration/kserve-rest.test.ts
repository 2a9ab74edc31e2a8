/**
 * The KServe Open Inference Protocol v2 over REST (`/v2`), in process (`app.handle(new Request(…))`)
 * over the real core: real database, real worker processes running onnxruntime. Covers server and
 * model health and metadata, JSON inference, and the binary tensor data extension in both
 * directions for every datatype.
 *
 * Raw tensor bytes are built here with typed arrays, which are little-endian on every platform Bun
 * runs on (x64, arm64), as the extension requires.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { onnx } from "onnx-proto";
import { SERVER_METADATA } from "../../src/inference/server-metadata.ts";
import type { ServerCore } from "../../src/server.ts";
import type { Datatype } from "../../workers/protocol.ts";
import { FIXTURE_SIGNATURES, type FixtureModels, referenceAdd, referenceTwoInTwoOut } from "../fixtures/models.ts";
import { buildModel, tensor } from "../fixtures/onnx-builder.ts";
import { type CoreFixture, startCore, type AppAnswer, callApp } from "../support/core-fixture.ts";

/** Float outputs of these tiny models are exact in float32; 1e-6 leaves room for summation order. */
const TOLERANCE = 1e-6;

let fixture: CoreFixture;
let core: ServerCore;
let fixtures: FixtureModels;

beforeAll(async () => {
  fixture = await startCore({ maxBodyMb: "1" });
  ({ core, fixtures } = fixture);
  const identity = path.join(path.dirname(fixtures.add), "identity-all.onnx");
  await Bun.write(identity, identityModel(ROUND_TRIP_DATATYPES));
  for (const [name, source] of [
    ["k-add", fixtures.add],
    ["k-two", fixtures.twoInTwoOut],
    ["k-fixed", fixtures.fixedShape],
    ["k-identity", identity],
  ] as const) {
    const registered = await call("POST", "/api/v1/models", { name, version: "1", task: "tensor", source });
    expect(registered.status).toBe(201);
  }
  expect((await call("POST", "/api/v1/models", { name: "k-add", version: "2", task: "tensor", source: fixtures.add })).status).toBe(201);
});

afterAll(async () => fixture[Symbol.asyncDispose]());

// ---------------------------------------------------------------------------------------------
// Helpers


function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<AppAnswer> {
  return callApp(core.app, method, route, body, headers);
}

const encoder = new TextEncoder();

/** A binary-extension request body: JSON header, then `tails` back to back. */
function framed(header: unknown, tails: Uint8Array[], headerLength?: string): { body: Uint8Array; headers: Record<string, string> } {
  const json = encoder.encode(JSON.stringify(header));
  const body = new Uint8Array(json.byteLength + tails.reduce((total, tail) => total + tail.byteLength, 0));
  body.set(json, 0);
  let offset = json.byteLength;
  for (const tail of tails) {
    body.set(tail, offset);
    offset += tail.byteLength;
  }
  return { body, headers: { "content-type": "application/octet-stream", "inference-header-content-length": headerLength ?? String(json.byteLength) } };
}

interface FramedAnswer {
  status: number;
  headers: Headers;
  /** The JSON header (or the whole JSON body for a plain answer). */
  json: any;
  /** Raw bytes of each binary output, by name. */
  binary: Map<string, Uint8Array>;
}

/** Sends a request and splits the answer whether it is framed (binary outputs) or plain JSON. */
async function infer(route: string, body: Uint8Array | string, headers: Record<string, string>): Promise<FramedAnswer> {
  const response = await core.app.handle(new Request(`http://localhost${route}`, { method: "POST", body, headers }));
  const bytes = new Uint8Array(await response.arrayBuffer());
  const declared = response.headers.get("inference-header-content-length");
  const headerLength = declared === null ? bytes.byteLength : Number(declared);
  const json = JSON.parse(new TextDecoder().decode(bytes.subarray(0, headerLength)));
  const binary = new Map<string, Uint8Array>();
  let offset = headerLength;
  for (const output of json.outputs ?? []) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary.set(output.name, bytes.slice(offset, offset + size));
    offset += size;
  }
  expect(offset).toBe(bytes.byteLength);
  return { status: response.status, headers: response.headers, json, binary };
}

function inferJson(route: string, body: unknown, headers: Record<string, string> = {}) {
  return infer(route, JSON.stringify(body), { "content-type": "application/json", ...headers });
}

function inferFramed(route: string, header: unknown, tails: Uint8Array[], headerLength?: string) {
  const request = framed(header, tails, headerLength);
  return infer(route, request.body, request.headers);
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** BYTES elements as the extension sends them: a 4-byte little-endian length before each. */
function byteStrings(values: string[]): Uint8Array {
  const encoded = values.map((value) => encoder.encode(value));
  const out = new Uint8Array(encoded.reduce((total, element) => total + 4 + element.byteLength, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const element of encoded) {
    view.setUint32(offset, element.byteLength, true);
    out.set(element, offset + 4);
    offset += 4 + element.byteLength;
  }
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  expect(actual).toHaveLength(expected.length);
  Array.from(actual).forEach((value, index) => expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(TOLERANCE));
}

function byName<T extends { name: string }>(outputs: T[]): Record<string, T> {
  return Object.fromEntries(outputs.map((output) => [output.name, output]));
}

// ---------------------------------------------------------------------------------------------
// A model that returns every input unchanged, one input and output per KServe datatype.

const ONNX_TYPE: Record<Datatype, onnx.TensorProto.DataType> = {
  BOOL: onnx.TensorProto.DataType.BOOL,
  UINT8: onnx.TensorProto.DataType.UINT8,
  UINT16: onnx.TensorProto.DataType.UINT16,
  UINT32: onnx.TensorProto.DataType.UINT32,
  UINT64: onnx.TensorProto.DataType.UINT64,
  INT8: onnx.TensorProto.DataType.INT8,
  INT16: onnx.TensorProto.DataType.INT16,
  INT32: onnx.TensorProto.DataType.INT32,
  INT64: onnx.TensorProto.DataType.INT64,
  FP16: onnx.TensorProto.DataType.FLOAT16,
  FP32: onnx.TensorProto.DataType.FLOAT,
  FP64: onnx.TensorProto.DataType.DOUBLE,
  BYTES: onnx.TensorProto.DataType.STRING,
};

/** Every KServe datatype, FP16 included (the worker pins onnxruntime's float16 arrays to half bits: workers/float16.ts). */
const ROUND_TRIP_DATATYPES = Object.keys(ONNX_TYPE) as Datatype[];

/** in_<DATATYPE> [batch, 3] → Identity → out_<DATATYPE>. The builder only speaks FP32/INT64, so the element types are set afterwards. */
function identityModel(datatypes: Datatype[]): Uint8Array {
  const model = buildModel({
    name: "identity",
    inputs: datatypes.map((datatype) => tensor(`in_${datatype}`, "float32", ["batch", 3])),
    outputs: datatypes.map((datatype) => tensor(`out_${datatype}`, "float32", ["batch", 3])),
    nodes: datatypes.map((datatype) => ({ opType: "Identity", inputs: [`in_${datatype}`], outputs: [`out_${datatype}`] })),
  });
  for (const info of [...model.graph!.input!, ...model.graph!.output!]) {
    info.type!.tensorType!.elemType = ONNX_TYPE[info.name!.slice(info.name!.indexOf("_") + 1) as Datatype];
  }
  return onnx.ModelProto.encode(model).finish();
}

/** Per datatype: the JSON elements of one [1, 3] tensor and the same elements as raw bytes. */
const SAMPLES: Record<Datatype, { json: (number | boolean | string)[]; raw: Uint8Array }> = {
  BOOL: { json: [true, false, true], raw: Uint8Array.of(1, 0, 1) },
  UINT8: { json: [0, 200, 255], raw: Uint8Array.of(0, 200, 255) },
  UINT16: { json: [0, 40000, 65535], raw: bytesOf(Uint16Array.of(0, 40000, 65535)) },
  UINT32: { json: [0, 3_000_000_000, 4_294_967_295], raw: bytesOf(Uint32Array.of(0, 3_000_000_000, 4_294_967_295)) },
  UINT64: { json: [0, 2 ** 40, 2 ** 53 - 1], raw: bytesOf(BigUint64Array.of(0n, 2n ** 40n, 2n ** 53n - 1n)) },
  INT8: { json: [-128, 0, 127], raw: bytesOf(Int8Array.of(-128, 0, 127)) },
  INT16: { json: [-32768, 1, 32767], raw: bytesOf(Int16Array.of(-32768, 1, 32767)) },
  INT32: { json: [-2_147_483_648, 7, 2_147_483_647], raw: bytesOf(Int32Array.of(-2_147_483_648, 7, 2_147_483_647)) },
  INT64: { json: [-(2 ** 53 - 1), 0, 2 ** 53 - 1], raw: bytesOf(BigInt64Array.of(-(2n ** 53n - 1n), 0n, 2n ** 53n - 1n)) },
  // IEEE half bits: 0.5 = 0x3800, -2 = 0xc000, 65504 (the largest half) = 0x7bff.
  FP16: { json: [0.5, -2, 65504], raw: bytesOf(Uint16Array.of(0x3800, 0xc000, 0x7bff)) },
  FP32: { json: [1.5, -0.25, 1024.125], raw: bytesOf(Float32Array.of(1.5, -0.25, 1024.125)) },
  FP64: { json: [0.1, -1e300, Math.PI], raw: bytesOf(Float64Array.of(0.1, -1e300, Math.PI)) },
  BYTES: { json: ["", "héllo", "日本語"], raw: byteStrings(["", "héllo", "日本語"]) },
};

/** Sends SAMPLES of `datatypes` through an identity model over JSON and binary, both ways. */
async function expectRoundTrips(model: string, datatypes: Datatype[]): Promise<void> {
  const route = `/v2/models/${model}/infer`;
  const jsonInputs = datatypes.map((datatype) => ({ name: `in_${datatype}`, shape: [1, 3], datatype, data: SAMPLES[datatype].json }));
  const viaJson = await inferJson(route, { inputs: jsonInputs });
  expect(viaJson.json).toMatchObject({ model_name: model });
  const jsonOutputs = byName(viaJson.json.outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[]);
  for (const datatype of datatypes) {
    expect({ datatype, output: jsonOutputs[`out_${datatype}`] }).toEqual({ datatype, output: { name: `out_${datatype}`, datatype, shape: [1, 3], data: SAMPLES[datatype].json } });
  }

  const binaryHeader = {
    inputs: datatypes.map((datatype) => ({ name: `in_${datatype}`, shape: [1, 3], datatype, parameters: { binary_data_size: SAMPLES[datatype].raw.byteLength } })),
  };
  const tails = datatypes.map((datatype) => SAMPLES[datatype].raw);
  const binaryBoth = await inferFramed(route, { ...binaryHeader, parameters: { binary_data_output: true } }, tails);
  expect(binaryBoth.status).toBe(200);
  for (const datatype of datatypes) {
    expect({ datatype, bytes: Array.from(binaryBoth.binary.get(`out_${datatype}`) ?? []) }).toEqual({ datatype, bytes: Array.from(SAMPLES[datatype].raw) });
  }

  const binaryToJson = await inferFramed(route, binaryHeader, tails);
  expect(byName(binaryToJson.json.outputs)).toEqual(jsonOutputs);

  const jsonToBinary = await inferJson(route, { inputs: jsonInputs, parameters: { binary_data_output: true } });
  for (const datatype of datatypes) expect({ datatype, bytes: jsonToBinary.binary.get(`out_${datatype}`) }).toEqual({ datatype, bytes: SAMPLES[datatype].raw });
}

// ---------------------------------------------------------------------------------------------

describe("KServe v2 REST: server and model metadata, health", () => {
  test("GET /v2/health/live is 200 {live:true}; /v2/health/ready is 200 {ready:true} while serving", async () => {
    expect(await call("GET", "/v2/health/live")).toMatchObject({ status: 200, body: { live: true } });
    expect(await call("GET", "/v2/health/ready")).toMatchObject({ status: 200, body: { ready: true } });
  });

  test("GET /v2 answers the server metadata, naming the binary_tensor_data extension", async () => {
    const response = await call("GET", "/v2");
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ name: SERVER_METADATA.name, version: SERVER_METADATA.version, extensions: SERVER_METADATA.extensions });
    expect(response.body.extensions).toContain("binary_tensor_data");
  });

  test("model metadata: active version and a named version list that version first; unknown model or version is 404 with the error body", async () => {
    const active = await call("GET", "/v2/models/k-add");
    expect(active.status).toBe(200);
    expect(active.body).toEqual({ name: "k-add", versions: ["1", "2"], platform: "onnxruntime_onnx", ...FIXTURE_SIGNATURES.add });
    const second = await call("GET", "/v2/models/k-add/versions/2");
    expect(second.status).toBe(200);
    expect(second.body.versions).toEqual(["2", "1"]);
    expect(second.body.inputs).toEqual(FIXTURE_SIGNATURES.add.inputs);

    const unknownModel = await call("GET", "/v2/models/ghost");
    expect(unknownModel.status).toBe(404);
    expect(unknownModel.body).toMatchObject({ error: expect.stringContaining("ghost"), code: "MODEL_NOT_FOUND" });
    const unknownVersion = await call("GET", "/v2/models/k-add/versions/9");
    expect(unknownVersion.status).toBe(404);
    expect(unknownVersion.body).toMatchObject({ error: expect.any(String), code: "VERSION_NOT_FOUND" });
  });

  test("model ready: a registered model (loaded or not) is 200 {name, ready:true}; an unknown model or version is 404 with its code", async () => {
    expect(await call("GET", "/v2/models/k-fixed/ready")).toMatchObject({ status: 200, body: { name: "k-fixed", ready: true } });
    expect(await call("GET", "/v2/models/k-add/versions/2/ready")).toMatchObject({ status: 200, body: { name: "k-add", ready: true } });
    expect(await call("GET", "/v2/models/ghost/ready")).toMatchObject({ status: 404, body: { code: "MODEL_NOT_FOUND" } });
    expect(await call("GET", "/v2/models/k-add/versions/9/ready")).toMatchObject({ status: 404, body: { code: "VERSION_NOT_FOUND" } });
  });

  test("model ready: a model marked unhealthy after three failed loads is 503 {ready:false}", async () => {
    // A warmup shape the model rejects makes the load's health check fail, as a broken model would.
    const registered = await call("POST", "/api/v1/models", { name: "k-sick", version: "1", task: "tensor", source: fixtures.fixedShape, config: { warmupShapes: { x: [5, 5] } } });
    expect(registered.status).toBe(201);
    const body = { inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: [1, 2, 3, 4, 5, 6] }] };
    for (let attempt = 1; attempt <= 3; attempt++) expect((await call("POST", "/v2/models/k-sick/infer", body)).body.code).toBe("MODEL_LOAD_FAILED");
    expect((await call("POST", "/v2/models/k-sick/infer", body)).body.code).toBe("UNHEALTHY_MODEL");
    expect(await call("GET", "/v2/models/k-sick/ready")).toMatchObject({ status: 503, body: { name: "k-sick", ready: false } });
  });
});

describe("KServe v2 REST: JSON inference", () => {
  const x = [0.5, 1.5, 2.5];
  const n = [3, -4, 5];
  const twoInputs = [
    { name: "x", shape: [1, 3], datatype: "FP32", data: x },
    { name: "n", shape: [1, 3], datatype: "INT64", data: n },
  ];
  const reference = referenceTwoInTwoOut(Float32Array.from(x), BigInt64Array.from(n.map(BigInt)));

  test("the id is echoed, outputs equal the reference, requested outputs filter the answer, a version path picks the version", async () => {
    const both = await inferJson("/v2/models/k-two/infer", { id: "kreq-1", inputs: twoInputs });
    expect(both.status).toBe(200);
    expect(both.headers.get("content-type")).toContain("application/json");
    expect(both.headers.get("inference-header-content-length")).toBeNull();
    expect(both.json).toMatchObject({ model_name: "k-two", model_version: "1", id: "kreq-1" });
    const outputs = byName(both.json.outputs as { name: string; data: number[] }[]);
    expectClose(outputs.sum!.data, reference.sum);
    expect(outputs.square).toMatchObject({ datatype: "INT64", shape: [1, 3], data: Array.from(reference.square, Number) });

    const filtered = await inferJson("/v2/models/k-two/infer", { inputs: twoInputs, outputs: [{ name: "square" }] });
    expect(filtered.json.outputs.map((output: { name: string }) => output.name)).toEqual(["square"]);
    expect(filtered.json.id).toBeUndefined();

    const second = await inferJson("/v2/models/k-add/versions/2/infer", {
      inputs: [
        { name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] },
        { name: "b", shape: [1, 4], datatype: "FP32", data: [1, 1, 1, 1] },
      ],
    });
    expect(second.json).toMatchObject({ model_name: "k-add", model_version: "2", outputs: [{ name: "sum", data: [2, 3, 4, 5] }] });
  });

  test("priority comes from parameters.priority or x-priority; bad values are 400 naming the field", async () => {
    expect((await inferJson("/v2/models/k-two/infer", { inputs: twoInputs, parameters: { priority: 1, timeout_ms: 30_000 } })).status).toBe(200);
    expect((await inferJson("/v2/models/k-two/infer", { inputs: twoInputs }, { "x-priority": "low" })).status).toBe(200);
    const badParameter = await inferJson("/v2/models/k-two/infer", { inputs: twoInputs, parameters: { priority: 9 } });
    expect(badParameter.status).toBe(400);
    expect(badParameter.json).toMatchObject({ code: "INVALID_INPUT", details: { field: "parameters.priority" } });
    const badHeader = await inferJson("/v2/models/k-two/infer", { inputs: twoInputs }, { "x-priority": "urgent" });
    expect(badHeader.json).toMatchObject({ code: "INVALID_INPUT", details: { field: "x-priority" } });
  });

  test("a plain JSON body is read whatever its content type; invalid JSON and schema violations are 400 naming the field", async () => {
    const untyped = await infer("/v2/models/k-two/infer", JSON.stringify({ inputs: twoInputs }), {});
    expect(untyped.status).toBe(200);
    const invalid = await call("POST", "/v2/models/k-two/infer", "{not json");
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({ error: expect.stringContaining("not valid JSON"), code: "INVALID_INPUT", details: { field: "body" } });
    const noData = await call("POST", "/v2/models/k-two/infer", { inputs: [{ name: "x", shape: [1, 3], datatype: "FP32" }, twoInputs[1]] });
    expect(noData.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "inputs[0].data" } });
    const badFlag = await call("POST", "/v2/models/k-two/infer", { inputs: twoInputs, parameters: { binary_data_output: "yes" } });
    expect(badFlag.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "parameters.binary_data_output" } });
    const unknownModel = await call("POST", "/v2/models/ghost/infer", { inputs: twoInputs });
    expect(unknownModel).toMatchObject({ status: 404, body: { code: "MODEL_NOT_FOUND" } });
  });
});

describe("KServe v2 REST: binary tensor data extension", () => {
  const a = Float32Array.of(0.5, 1, 1.5, 2, -1, -2, 3, 4);
  const b = Float32Array.of(1, 1, 1, 1, 0.25, 0.25, 0.25, 0.25);
  const jsonAdd = {
    inputs: [
      { name: "a", shape: [2, 4], datatype: "FP32", data: Array.from(a) },
      { name: "b", shape: [2, 4], datatype: "FP32", data: Array.from(b) },
    ],
  };
  const binaryAdd = {
    inputs: [
      { name: "a", shape: [2, 4], datatype: "FP32", parameters: { binary_data_size: a.byteLength } },
      { name: "b", shape: [2, 4], datatype: "FP32", parameters: { binary_data_size: b.byteLength } },
    ],
  };

  test("binary inputs with a JSON answer: the outputs equal the JSON request's", async () => {
    const viaJson = await inferJson("/v2/models/k-add/infer", jsonAdd);
    const viaBinary = await inferFramed("/v2/models/k-add/infer", { id: "bin-1", ...binaryAdd }, [bytesOf(a), bytesOf(b)]);
    expect(viaBinary.status).toBe(200);
    expect(viaBinary.headers.get("inference-header-content-length")).toBeNull();
    expect(viaBinary.json).toMatchObject({ model_name: "k-add", id: "bin-1" });
    expect(viaBinary.json.outputs).toEqual(viaJson.json.outputs);
    expectClose(viaBinary.json.outputs[0].data, referenceAdd(a, b));
  });

  test("JSON inputs with binary_data_output: a framed octet-stream answer whose raw bytes equal the JSON answer", async () => {
    const viaJson = await inferJson("/v2/models/k-add/infer", jsonAdd);
    const binary = await inferJson("/v2/models/k-add/infer", { ...jsonAdd, parameters: { binary_data_output: true } });
    expect(binary.status).toBe(200);
    expect(binary.headers.get("content-type")).toBe("application/octet-stream");
    expect(Number(binary.headers.get("inference-header-content-length"))).toBeGreaterThan(0);
    expect(binary.json.outputs).toEqual([{ name: "sum", datatype: "FP32", shape: [2, 4], parameters: { binary_data_size: 32 } }]);
    const sum = new Float32Array(binary.binary.get("sum")!.buffer);
    expectClose(sum, viaJson.json.outputs[0].data);
    expectClose(sum, referenceAdd(a, b));
  });

  test("per-output binary_data picks outputs, and overrides binary_data_output; INT64 comes back as 8-byte integers", async () => {
    const x = Float32Array.of(0.5, 1.5, 2.5);
    const n = BigInt64Array.of(3n, -4n, 5n);
    const reference = referenceTwoInTwoOut(x, n);
    const inputs = [
      { name: "x", shape: [1, 3], datatype: "FP32", data: Array.from(x) },
      { name: "n", shape: [1, 3], datatype: "INT64", data: Array.from(n, Number) },
    ];
    const squareOnly = await inferJson("/v2/models/k-two/infer", { inputs, outputs: [{ name: "sum" }, { name: "square", parameters: { binary_data: true } }] });
    const outputs = byName(squareOnly.json.outputs as { name: string; data?: number[]; parameters?: unknown }[]);
    expect(outputs.square as unknown).toEqual({ name: "square", datatype: "INT64", shape: [1, 3], parameters: { binary_data_size: 24 } });
    expect(new BigInt64Array(squareOnly.binary.get("square")!.buffer)).toEqual(reference.square);
    expectClose(outputs.sum!.data!, reference.sum);

    const allButSum = await inferJson("/v2/models/k-two/infer", {
      inputs,
      outputs: [{ name: "sum", parameters: { binary_data: false } }, { name: "square" }],
      parameters: { binary_data_output: true },
    });
    expect([...allButSum.binary.keys()]).toEqual(["square"]);
    expect(byName(allButSum.json.outputs as { name: string; data?: number[] }[]).sum!.data).toBeDefined();
  });

  test("mixed inputs: one binary and one JSON input answer as the all-JSON request does", async () => {
    const x = Float32Array.of(0.5, 1.5, 2.5);
    const n = [3, -4, 5];
    const header = {
      inputs: [
        { name: "x", shape: [1, 3], datatype: "FP32", parameters: { binary_data_size: x.byteLength } },
        { name: "n", shape: [1, 3], datatype: "INT64", data: n },
      ],
    };
    const mixed = await inferFramed("/v2/models/k-two/infer", header, [bytesOf(x)]);
    const viaJson = await inferJson("/v2/models/k-two/infer", { inputs: [{ ...header.inputs[0], parameters: undefined, data: Array.from(x) }, header.inputs[1]] });
    expect(mixed.status).toBe(200);
    expect(mixed.json.outputs).toEqual(viaJson.json.outputs);
  });

  test("every datatype but FP16 round-trips: JSON → JSON keeps the values, binary → binary keeps the bytes, binary → JSON equals JSON → JSON", async () => {
    await expectRoundTrips("k-identity", ROUND_TRIP_DATATYPES);
  });

  test("FP16 outputs as binary carry IEEE half bits (an FP32 → Cast → FP16 model)", async () => {
    const model = buildModel({
      name: "to_half",
      inputs: [tensor("x", "float32", ["batch", 3])],
      outputs: [tensor("half", "float32", ["batch", 3])],
      nodes: [{ opType: "Cast", inputs: ["x"], outputs: ["half"], attributes: { to: onnx.TensorProto.DataType.FLOAT16 } }],
    });
    model.graph!.output![0]!.type!.tensorType!.elemType = onnx.TensorProto.DataType.FLOAT16;
    const file = path.join(path.dirname(fixtures.add), "to-half.onnx");
    await Bun.write(file, onnx.ModelProto.encode(model).finish());
    expect((await call("POST", "/api/v1/models", { name: "k-to-half", version: "1", task: "tensor", source: file })).status).toBe(201);
    const x = Float32Array.of(0.5, -2, 65504);
    const answer = await inferFramed("/v2/models/k-to-half/infer", { inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", parameters: { binary_data_size: 12 } }], parameters: { binary_data_output: true } }, [bytesOf(x)]);
    expect(answer.json.outputs).toEqual([{ name: "half", datatype: "FP16", shape: [1, 3], parameters: { binary_data_size: 6 } }]);
    expect(answer.binary.get("half")).toEqual(SAMPLES.FP16.raw);
    const asJson = await call("POST", "/v2/models/k-to-half/infer", { inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: Array.from(x) }] });
    expect(asJson.body.outputs).toEqual([{ name: "half", datatype: "FP16", shape: [1, 3], data: [0.5, -2, 65504] }]);
  });

  test("malformed binary requests are 400 INVALID_INPUT naming the field, and the model keeps serving", async () => {
    const route = "/v2/models/k-add/infer";
    const good = [bytesOf(a), bytesOf(b)];
    const headerBytes = encoder.encode(JSON.stringify(binaryAdd)).byteLength;
    const cases: [string, Promise<FramedAnswer>, string][] = [
      ["header length beyond the body", inferFramed(route, binaryAdd, good, String(headerBytes + 64 + 1)), "inference-header-content-length"],
      ["header length not an integer", inferFramed(route, binaryAdd, good, "12.5"), "inference-header-content-length"],
      ["header length negative", inferFramed(route, binaryAdd, good, "-1"), "inference-header-content-length"],
      ["header length cutting the JSON short", inferFramed(route, binaryAdd, good, String(headerBytes - 1)), "body"],
      ["sizes beyond the body", inferFramed(route, binaryAdd, [bytesOf(a), bytesOf(b).subarray(4)]), "inputs[1].parameters.binary_data_size"],
      ["bytes left over after the sizes", inferFramed(route, binaryAdd, [...good, Uint8Array.of(0, 0, 0, 0)]), "body"],
      ["binary bytes but no binary input", inferFramed(route, jsonAdd, good), "body"],
      [
        "binary_data_size and data both present",
        inferFramed(route, { inputs: [{ ...binaryAdd.inputs[0], data: Array.from(a) }, binaryAdd.inputs[1]] }, good),
        "inputs[0].data",
      ],
      [
        "a byte count that does not fit the shape",
        inferFramed(route, { inputs: [{ ...binaryAdd.inputs[0], parameters: { binary_data_size: 28 } }, binaryAdd.inputs[1]] }, [bytesOf(a).subarray(0, 28), bytesOf(b)]),
        "inputs[0]",
      ],
      ["a negative binary_data_size", inferFramed(route, { inputs: [{ ...binaryAdd.inputs[0], parameters: { binary_data_size: -4 } }, binaryAdd.inputs[1]] }, good), "inputs[0].parameters.binary_data_size"],
      ["binary_data_size without the header length", inferJson(route, binaryAdd), "inputs[0].parameters.binary_data_size"],
    ];
    for (const [label, pending, field] of cases) {
      const answer = await pending;
      expect({ label, status: answer.status, code: answer.json.code, field: answer.json.details?.field }).toEqual({ label, status: 400, code: "INVALID_INPUT", field });
      expect(answer.json.error).toEqual(expect.any(String));
      expect(JSON.stringify(answer.json)).not.toContain("    at ");
    }
    const fine = await inferFramed(route, binaryAdd, good);
    expect(fine.status).toBe(200);
    expectClose(fine.json.outputs[0].data, referenceAdd(a, b));
  });

  test("a binary body over MODELMORA_MAX_BODY_MB is 413 PAYLOAD_TOO_LARGE with the error body", async () => {
    const big = new Float32Array(300_000);
    const request = framed({ inputs: [{ name: "x", shape: [1, 300_000], datatype: "FP32", parameters: { binary_data_size: big.byteLength } }] }, [bytesOf(big)]);
    const response = await core.app.handle(
      new Request("http://localhost/v2/models/k-fixed/infer", {
        method: "POST",
        body: request.body,
        headers: { ...request.headers, "content-length": String(request.body.byteLength) },
      }),
    );
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { limitBytes: 1024 * 1024 } });
  });
});

describe("KServe v2 REST: shutdown", () => {
  // Last in this file: the core refuses new inference afterwards.
  test("once shutdown begins /v2/health/ready is 503 {ready:false} while /v2/health/live stays 200", async () => {
    core.beginShutdown();
    expect(await call("GET", "/v2/health/ready")).toMatchObject({ status: 503, body: { ready: false } });
    expect(await call("GET", "/v2/health/live")).toMatchObject({ status: 200, body: { live: true } });
  });
});
