/**
 * Request and response models shared by the REST plugins (TypeBox through Elysia's `t`); the
 * registration and config schemas, shared with gRPC, are in src/registry/schemas.ts.
 */
import { t } from "elysia";
import { TensorSpecModel } from "../../registry/schemas.ts";

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
