/**
 * fast-check arbitraries for the hostile-input suite (tests/e2e/hostile-input.test.ts): inference
 * requests that are garbled, wrongly typed, mis-shaped, deeply nested, mis-framed, or aimed at
 * unknown models, for REST JSON, the KServe binary extension and gRPC. Several are mutations of a
 * valid request to the fixture models, so that generated requests get past the first checks and
 * reach the deeper ones (codec, arena, worker).
 */
import fc from "fast-check";

/** Fixture models the server under test serves (registered under these names). */
export const MODELS = ["add", "two", "fixed"] as const;

const modelName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...MODELS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom("..", "%2e%2e", "a%00b", "x".repeat(400), "add@1", "ADD", " add") },
);

const dimension = fc.oneof(
  fc.integer({ min: -3, max: 8 }),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 2 ** 53 + 2, 1e300, -1e300, 1.5, 1e21, Number.MAX_SAFE_INTEGER),
  fc.double(),
  fc.constantFrom("4", "", null, true, [], {}),
);

const shape = fc.oneof({ weight: 3, arbitrary: fc.array(dimension, { maxLength: 5 }) }, { weight: 1, arbitrary: fc.anything({ maxDepth: 1 }) });

const datatype = fc.oneof(
  fc.constantFrom("FP32", "FP32", "INT64", "BOOL", "BYTES", "FP16", "INT8", "UINT64", "FP64", "INT32", "BF16"),
  fc.constantFrom("fp32", "float32", "", "FP32 ", "TYPE_FP32"),
  fc.string({ maxLength: 8 }),
);

const element = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, 1, -1, 2 ** 31, 2 ** 63, 2 ** 64, -(2 ** 63), 1e308, -0),
  fc.boolean(),
  fc.string({ maxLength: 4 }),
  fc.constantFrom("NaN", "Infinity", "-Infinity", "nan", null),
);

const { nested } = fc.letrec<{ nested: unknown }>((tie) => ({
  nested: fc.oneof({ depthSize: "small", withCrossShrink: true }, element, fc.array(tie("nested"), { maxLength: 5 })),
}));

const tensorData = fc.oneof({ weight: 3, arbitrary: fc.array(element, { maxLength: 16 }) }, { weight: 2, arbitrary: nested }, { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) });

const inputName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom("a", "b", "x", "n") }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) });

const tensor = fc.record(
  { name: inputName, shape, datatype, data: tensorData, parameters: fc.anything({ maxDepth: 1 }) },
  { requiredKeys: ["name", "shape", "datatype", "data"] },
);

const parameters = fc.record(
  {
    priority: fc.oneof(fc.integer(), fc.constantFrom(0, 1, 4, 5, -1, 2 ** 31, 1.5, "critical", "HIGH", "urgent", "")),
    timeout_ms: fc.oneof(fc.double(), fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 31 - 1, 1e20, "100")),
    keep_alive_seconds: fc.constantFrom(-2, -1, 3600, 1.5, 2 ** 31, 1e300, "60"),
    binary_data_output: fc.anything({ maxDepth: 0 }),
  },
  { requiredKeys: [] },
);

/** A valid request to one of the fixture models, as a plain object (REST/KServe JSON form). */
export const validRequest = fc.oneof(
  fc.integer({ min: 1, max: 3 }).chain((rows) =>
    fc.record({
      model: fc.constant("add" as string),
      inputs: fc.tuple(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: rows * 4, maxLength: rows * 4 }), fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: rows * 4, maxLength: rows * 4 })).map(([a, b]) => [
        { name: "a", shape: [rows, 4], datatype: "FP32", data: a },
        { name: "b", shape: [rows, 4], datatype: "FP32", data: b },
      ]),
    }),
  ),
  fc.integer({ min: 1, max: 2 }).chain((rows) =>
    fc.record({
      model: fc.constant("two" as string),
      inputs: fc.tuple(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: rows * 3, maxLength: rows * 3 }), fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: rows * 3, maxLength: rows * 3 })).map(([x, n]) => [
        { name: "x", shape: [rows, 3], datatype: "FP32", data: x },
        { name: "n", shape: [rows, 3], datatype: "INT64", data: n },
      ]),
    }),
  ),
);

type Tensor = { name: unknown; shape: unknown; datatype: unknown; data: unknown; parameters?: unknown };

/** One change to one input of a valid request: the kind of mistake (or attack) that gets furthest. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("shape" as const), value: shape }),
  fc.record({ kind: fc.constant("dimension" as const), value: dimension, at: fc.nat(2) }),
  fc.record({ kind: fc.constant("datatype" as const), value: datatype }),
  fc.record({ kind: fc.constant("data" as const), value: tensorData }),
  fc.record({ kind: fc.constant("element" as const), value: element, at: fc.nat(12) }),
  fc.record({ kind: fc.constant("drop-element" as const) }),
  fc.record({ kind: fc.constant("extra-element" as const), value: element }),
  fc.record({ kind: fc.constant("nest" as const), depth: fc.integer({ min: 2, max: 40 }) }),
  fc.record({ kind: fc.constant("rename" as const), value: inputName }),
  fc.record({ kind: fc.constant("duplicate" as const) }),
  fc.record({ kind: fc.constant("drop-input" as const) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer Change> ? Change : never;

function mutate(inputs: Tensor[], change: Mutation, which: number): Tensor[] {
  const copy = inputs.map((input) => ({ ...input, data: Array.isArray(input.data) ? [...input.data] : input.data }));
  const target = copy[which % copy.length]!;
  const data = target.data as unknown[];
  switch (change.kind) {
    case "shape": target.shape = change.value; break;
    case "dimension": (target.shape as unknown[])[change.at % 2] = change.value; break;
    case "datatype": target.datatype = change.value; break;
    case "data": target.data = change.value; break;
    case "element": data[change.at % Math.max(1, data.length)] = change.value; break;
    case "drop-element": data.pop(); break;
    case "extra-element": data.push(change.value); break;
    case "nest": { let nested: unknown = data; for (let level = 0; level < change.depth; level++) nested = [nested]; target.data = nested; break; }
    case "rename": target.name = change.value; break;
    case "duplicate": copy.push({ ...target }); break;
    case "drop-input": copy.splice(which % copy.length, 1); break;
  }
  return copy;
}

export interface JsonCase {
  model: string;
  /** Exactly the bytes sent. */
  body: string;
}

/** REST/KServe JSON bodies: mutated valid requests, random structures, garbage text, deep nesting. */
export const jsonCase: fc.Arbitrary<JsonCase> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(validRequest, mutation, fc.nat(1), fc.option(parameters, { nil: undefined })).map(([request, change, which, params]) => ({ model: request.model, body: JSON.stringify({ inputs: mutate(request.inputs, change, which), ...(params && { parameters: params }) }) })) },
  { weight: 1, arbitrary: fc.tuple(validRequest, parameters).map(([request, params]) => ({ model: request.model, body: JSON.stringify({ inputs: request.inputs, parameters: params }) })) },
  { weight: 2, arbitrary: fc.tuple(modelName, fc.record({ id: fc.anything({ maxDepth: 0 }), inputs: fc.oneof(fc.array(tensor, { maxLength: 3 }), fc.anything({ maxDepth: 2 })), outputs: fc.anything({ maxDepth: 2 }), parameters }, { requiredKeys: [] })).map(([model, body]) => ({ model, body: JSON.stringify(body) })) },
  { weight: 1, arbitrary: fc.tuple(modelName, fc.string({ maxLength: 200 })).map(([model, body]) => ({ model, body })) },
  { weight: 1, arbitrary: fc.tuple(validRequest, fc.nat(400)).map(([request, cut]) => ({ model: request.model, body: JSON.stringify({ inputs: request.inputs }).slice(0, cut) })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...MODELS), fc.integer({ min: 1_000, max: 200_000 })).map(([model, depth]) => ({ model, body: `{"inputs":[{"name":"a","shape":[1,4],"datatype":"FP32","data":${"[".repeat(depth)}1${"]".repeat(depth)}}]}` })) },
);

export interface BinaryCase {
  model: string;
  headerLength: string | undefined;
  body: Uint8Array;
  /** Nothing was tampered with: the request is valid and must be answered 200. */
  honest: boolean;
}

/** Little-endian bytes of a valid request's input, as the binary extension carries them. */
function rawBytes(input: Tensor): Uint8Array {
  const values = input.data as number[];
  if (input.datatype === "INT64") return new Uint8Array(BigInt64Array.from(values, (value) => BigInt(value)).buffer);
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** One thing wrong with an otherwise honest binary request (or nothing: it must then be answered 200). */
const binaryTamper = fc.oneof(
  fc.constant({ kind: "none" as const }),
  fc.record({ kind: fc.constant("framing" as const), value: fc.oneof(fc.constant("missing"), fc.integer({ min: -5, max: 5 }), fc.constantFrom("abc", "-1", "99999999999", "1e3", "", "0x10", " 12", "1.5")) }),
  fc.record({ kind: fc.constant("size" as const), at: fc.nat(1), value: fc.oneof(fc.integer({ min: -8, max: 8 }), fc.constantFrom(-1, 2 ** 31, 2 ** 53, 1.5, 1e300)) }),
  fc.record({ kind: fc.constant("bytes" as const), value: fc.integer({ min: -12, max: 12 }) }),
  fc.record({ kind: fc.constant("garbage" as const), value: fc.uint8Array({ maxLength: 96 }) }),
  fc.record({ kind: fc.constant("mutation" as const), value: mutation }),
);

/** KServe binary-extension bodies: a JSON header and raw bytes, honest, or with the framing, sizes or bytes tampered. */
export const binaryCase: fc.Arbitrary<BinaryCase> = fc.tuple(validRequest, binaryTamper).map(([request, tamper]) => {
  const inputs = tamper.kind === "mutation" ? mutate(request.inputs, tamper.value, 0) : request.inputs;
  const raws = inputs.map((input) => (Array.isArray(input.data) && input.data.every((value) => typeof value === "number" && Number.isFinite(value)) ? rawBytes(input) : new Uint8Array(3)));
  const headerInputs = inputs.map((input, index) => {
    const { data: _data, ...rest } = input;
    const exact = raws[index]!.byteLength;
    const size = tamper.kind === "size" && tamper.at === index ? (Number.isInteger(tamper.value) && Math.abs(tamper.value) < 100 ? exact + tamper.value : tamper.value) : exact;
    return { ...rest, parameters: { binary_data_size: size } };
  });
  const header = new TextEncoder().encode(JSON.stringify({ inputs: headerInputs, parameters: { binary_data_output: true } }));
  let binary: Uint8Array = tamper.kind === "garbage" ? tamper.value : Buffer.concat(raws);
  if (tamper.kind === "bytes") binary = tamper.value >= 0 ? Buffer.concat([binary, new Uint8Array(tamper.value)]) : binary.subarray(0, Math.max(0, binary.byteLength + tamper.value));
  const body = Buffer.concat([header, binary]);
  const framing = tamper.kind === "framing" ? tamper.value : 0;
  const headerLength = framing === "missing" ? undefined : typeof framing === "number" ? String(header.byteLength + framing) : framing;
  return { model: request.model, headerLength, body, honest: tamper.kind === "none" };
});

/** gRPC tensors (KServe InferInputTensor): shapes as int64 strings, typed contents or raw bytes. */
const grpcShape = fc.array(fc.oneof(fc.integer({ min: -2, max: 6 }).map(String), fc.constantFrom("0", "-1", "4294967296", "9007199254740993", "9223372036854775807", "-9223372036854775808")), { maxLength: 5 });

const grpcContents = fc.record(
  {
    fp32_contents: fc.array(fc.float(), { maxLength: 16 }),
    int64_contents: fc.array(fc.oneof(fc.integer().map(String), fc.constantFrom("9223372036854775807", "-9223372036854775808")), { maxLength: 16 }),
    bool_contents: fc.array(fc.boolean(), { maxLength: 8 }),
    int_contents: fc.array(fc.integer(), { maxLength: 8 }),
    bytes_contents: fc.array(fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes)), { maxLength: 4 }),
  },
  { requiredKeys: [] },
);

const grpcTensor = fc.record({ name: inputName.filter((name): name is string => typeof name === "string"), datatype: datatype.filter((name): name is string => typeof name === "string"), shape: grpcShape, contents: fc.option(grpcContents, { nil: undefined }) });

/** A valid gRPC tensor form of a valid request (typed contents), then possibly tampered. */
const grpcFromValid = fc.tuple(validRequest, fc.option(mutation.filter((change) => change.kind === "dimension" || change.kind === "drop-element" || change.kind === "rename" || change.kind === "duplicate" || change.kind === "drop-input"), { nil: undefined })).map(([request, change]) => {
  const inputs = change ? mutate(request.inputs, change, 0) : request.inputs;
  return {
    model: request.model,
    inputs: inputs.map((input) => ({
      name: typeof input.name === "string" ? input.name : "a",
      datatype: input.datatype as string,
      shape: (input.shape as unknown[]).map((dimension) => (typeof dimension === "number" && Number.isInteger(dimension) ? String(dimension) : "1")),
      contents: input.datatype === "INT64" ? { int64_contents: (input.data as number[]).map(String) } : { fp32_contents: input.data as number[] },
    })),
  };
});

export interface GrpcCase {
  model: string;
  version: string;
  inputs: unknown[];
  raw: Buffer[];
  priority: number;
  timeoutMs: number;
}

export const grpcCase: fc.Arbitrary<GrpcCase> = fc
  .tuple(
    fc.oneof({ weight: 3, arbitrary: grpcFromValid }, { weight: 2, arbitrary: fc.record({ model: modelName.filter((name): name is string => typeof name === "string"), inputs: fc.array(grpcTensor, { maxLength: 3 }) }) }),
    fc.array(fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)), { maxLength: 3 }),
    fc.boolean(),
    fc.oneof(fc.constant(""), fc.constant("1"), fc.string({ maxLength: 4 })),
    fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 6 }), fc.constant(2 ** 32 - 1)),
    fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 }), fc.constant(2 ** 32 - 1), fc.constant(2 ** 31)),
  )
  .map(([request, raw, useRaw, version, priority, timeoutMs]) => ({
    model: request.model,
    version,
    // Raw bytes replace the typed contents, as KServe clients send them.
    inputs: useRaw ? request.inputs.map((input) => ({ ...(input as object), contents: undefined })) : request.inputs,
    raw: useRaw ? raw : [],
    priority,
    timeoutMs,
  }));
