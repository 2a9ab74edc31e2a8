/** Request and response models shared by the REST plugins (TypeBox through Elysia's `t`). */
import { type TSchema, t } from "elysia";
import { DATATYPES } from "../../inference/tensor-spec.ts";

export const TensorSpecModel = t.Object({
  name: t.String(),
  datatype: t.UnionEnum(DATATYPES),
  shape: t.Array(t.Integer(), { description: "-1 marks a dynamic dimension" }),
});

const modelConfigFields = {
  maxBatchSize: t.Integer({ minimum: 0 }),
  preferredBatchSizes: t.Array(t.Integer({ minimum: 1 })),
  maxQueueDelayMicroseconds: t.Integer({ minimum: 0 }),
  maxQueueSize: t.Integer({ minimum: 0 }),
  defaultTimeoutMicroseconds: t.Integer({ minimum: 0 }),
  timeoutAction: t.UnionEnum(["reject", "delay"]),
  replicas: t.Integer({ minimum: 1, maximum: 64 }),
  intraOpThreads: t.Integer({ minimum: 0, maximum: 256 }),
  enableCpuMemArena: t.Boolean(),
  device: t.UnionEnum(["auto", "cpu", "cuda", "webgpu"]),
  preload: t.Boolean(),
  keepAliveSeconds: t.Integer({ minimum: -1 }),
  memoryMb: t.Number({ exclusiveMinimum: 0 }),
  warmupShapes: t.Record(t.String(), t.Array(t.Integer({ minimum: 1 }))),
  pooling: t.UnionEnum(["mean", "cls", "last"]),
  normalize: t.Boolean(),
  maxSequenceLength: t.Integer({ minimum: 2 }),
  maxConcurrentSequences: t.Integer({ minimum: 1, maximum: 256 }),
};

/** Per-model config at registration; unknown keys are rejected so typos do not pass silently. */
export const ModelConfigModel = t.Partial(t.Object(modelConfigFields), { additionalProperties: false });

/** Every field of `fields`, also accepting `null`. */
function nullable<Fields extends Record<string, TSchema>>(fields: Fields) {
  return Object.fromEntries(Object.entries(fields).map(([key, schema]) => [key, t.Nullable(schema)])) as {
    [Key in keyof Fields]: ReturnType<typeof t.Nullable<Fields[Key]>>;
  };
}

/** A config update: like ModelConfigModel, and `null` returns a key to its default. */
export const ModelConfigPatchModel = t.Partial(t.Object(nullable(modelConfigFields)), { additionalProperties: false });

const NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";

export const RegisterModelBody = t.Object({
  name: t.String({ pattern: NAME_PATTERN, description: "letters, digits, '.', '_', '-'" }),
  version: t.Optional(t.String({ pattern: NAME_PATTERN, default: "1", description: 'default "1", as `modelmora install`' })),
  task: t.Optional(t.String({ default: "tensor", description: 'default "tensor"; or txt2embed (alias feature-extraction), txt2txt (alias text-generation)' })),
  source: t.String({ minLength: 1, description: "absolute path, file://, http(s):// or hf://org/repo[@rev]/path" }),
  sha256: t.Optional(t.String({ pattern: "^[0-9a-fA-F]{64}$" })),
  config: t.Optional(ModelConfigModel),
  files: t.Optional(
    t.Record(t.String(), t.Union([t.String({ minLength: 1 }), t.Object({ source: t.String({ minLength: 1 }), sha256: t.Optional(t.String({ pattern: "^[0-9a-fA-F]{64}$" })) }, { additionalProperties: false })]), {
      description: 'companion files by name, e.g. { "tokenizer.json": "<source>" | { "source", "sha256" } }; cached and verified like the model file',
    }),
  ),
});

const CompanionFileView = t.Object({ source: t.String(), sha256: t.String(), sizeBytes: t.Number() });

export const ModelView = t.Object({
  name: t.String(),
  task: t.String(),
  activeVersion: t.String(),
  versions: t.Array(
    t.Object({ version: t.String(), sha256: t.String(), sizeBytes: t.Number(), source: t.String(), files: t.Record(t.String(), CompanionFileView), createdAt: t.String() }),
  ),
  config: t.Record(t.String(), t.Any()),
  inputs: t.Array(TensorSpecModel),
  outputs: t.Array(TensorSpecModel),
  state: t.Union([t.Literal("unloaded"), t.Literal("loading"), t.Literal("ready"), t.Literal("unhealthy")]),
  createdAt: t.String(),
  updatedAt: t.String(),
});

const tensorFields = {
  name: t.String(),
  shape: t.Array(t.Integer({ minimum: 0 })),
  datatype: t.String(),
};

// Elements are checked once, by the tensor codec against the model's datatype: a schema check
// here would walk every element of a large tensor a second time on the hot path.
const tensorData = t.Any({ description: "flat or nested row-major array of the tensor's elements" });

const inferParameterFields = {
  priority: t.Optional(t.Union([t.Integer(), t.String()])),
  timeout_ms: t.Optional(t.Number({ exclusiveMinimum: 0 })),
  keep_alive_seconds: t.Optional(t.Integer({ minimum: -1, description: "how long the model stays loaded after this request; 0 = unload when idle, -1 = forever" })),
};

export const InferBody = t.Object({
  id: t.Optional(t.String()),
  inputs: t.Array(t.Object({ ...tensorFields, data: tensorData, parameters: t.Optional(t.Record(t.String(), t.Any())) }), { minItems: 1 }),
  outputs: t.Optional(t.Array(t.Object({ name: t.String(), parameters: t.Optional(t.Record(t.String(), t.Any())) }))),
  parameters: t.Optional(t.Object(inferParameterFields, { additionalProperties: true })),
});

/**
 * The KServe v2 inference header (`POST /v2/models/{name}/infer`): InferBody plus the binary tensor
 * data extension's parameters. An input with `parameters.binary_data_size` carries no `data`; its
 * bytes follow the JSON header in the body.
 */
export const KServeInferBody = t.Object({
  id: t.Optional(t.String()),
  inputs: t.Array(
    t.Object({
      ...tensorFields,
      data: t.Optional(tensorData),
      parameters: t.Optional(
        t.Object({ binary_data_size: t.Optional(t.Integer({ minimum: 0, description: "bytes of this input after the JSON header" })) }, { additionalProperties: true }),
      ),
    }),
    { minItems: 1 },
  ),
  outputs: t.Optional(
    t.Array(
      t.Object({
        name: t.String(),
        parameters: t.Optional(t.Object({ binary_data: t.Optional(t.Boolean({ description: "return this output as raw bytes" })) }, { additionalProperties: true })),
      }),
    ),
  ),
  parameters: t.Optional(
    t.Object(
      { ...inferParameterFields, binary_data_output: t.Optional(t.Boolean({ description: "return every output as raw bytes unless its own binary_data says otherwise" })) },
      { additionalProperties: true },
    ),
  ),
});

export const ErrorModel = t.Object({ error: t.String(), code: t.String(), details: t.Optional(t.Record(t.String(), t.Any())) });

/** An output tensor in a JSON inference answer (KServe v2). */
export const OutputTensorModel = t.Object({
  name: t.String(),
  datatype: t.String({ description: "KServe datatype: FP32, INT64, BOOL, BYTES …" }),
  shape: t.Array(t.Integer()),
  data: t.Optional(t.Array(t.Any(), { description: "flat, row-major; absent when the output is sent as binary data" })),
  parameters: t.Optional(t.Record(t.String(), t.Any())),
});

/** 200 answer of the inference routes with JSON outputs. */
export const InferResponseModel = t.Object({
  model_name: t.String(),
  model_version: t.String(),
  id: t.Optional(t.String()),
  outputs: t.Array(OutputTensorModel),
});
