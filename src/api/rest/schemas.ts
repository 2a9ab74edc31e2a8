/** Request and response models shared by the REST plugins (TypeBox through Elysia's `t`). */
import { t } from "elysia";
import { DATATYPES } from "../../inference/tensor-spec.ts";

export const TensorSpecModel = t.Object({
  name: t.String(),
  datatype: t.UnionEnum(DATATYPES),
  shape: t.Array(t.Integer(), { description: "-1 marks a dynamic dimension" }),
});

export const ModelConfigModel = t.Object(
  {
    maxBatchSize: t.Optional(t.Integer({ minimum: 0 })),
    maxQueueDelayMicroseconds: t.Optional(t.Integer({ minimum: 0 })),
    maxQueueSize: t.Optional(t.Integer({ minimum: 0 })),
    defaultTimeoutMicroseconds: t.Optional(t.Integer({ minimum: 0 })),
    replicas: t.Optional(t.Integer({ minimum: 1, maximum: 64 })),
    device: t.Optional(t.Union([t.Literal("auto"), t.Literal("cpu"), t.Literal("cuda"), t.Literal("webgpu")])),
    preload: t.Optional(t.Boolean()),
    keepAliveSeconds: t.Optional(t.Integer({ minimum: -1 })),
    memoryMb: t.Optional(t.Number({ exclusiveMinimum: 0 })),
    warmupShapes: t.Optional(t.Record(t.String(), t.Array(t.Integer({ minimum: 1 })))),
  },
  { additionalProperties: false },
);

const NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";

export const RegisterModelBody = t.Object({
  name: t.String({ pattern: NAME_PATTERN, description: "letters, digits, '.', '_', '-'" }),
  version: t.String({ pattern: NAME_PATTERN }),
  task: t.String({ description: "tensor" }),
  source: t.String({ minLength: 1, description: "absolute path, file://, http(s):// or hf://org/repo[@rev]/path" }),
  sha256: t.Optional(t.String({ pattern: "^[0-9a-fA-F]{64}$" })),
  config: t.Optional(ModelConfigModel),
});

export const ModelView = t.Object({
  name: t.String(),
  task: t.String(),
  activeVersion: t.String(),
  versions: t.Array(t.Object({ version: t.String(), sha256: t.String(), sizeBytes: t.Number(), source: t.String(), createdAt: t.String() })),
  config: t.Record(t.String(), t.Any()),
  inputs: t.Array(TensorSpecModel),
  outputs: t.Array(TensorSpecModel),
  state: t.Union([t.Literal("unloaded"), t.Literal("loading"), t.Literal("ready"), t.Literal("unhealthy")]),
  createdAt: t.String(),
  updatedAt: t.String(),
});

export const InferBody = t.Object({
  id: t.Optional(t.String()),
  inputs: t.Array(
    t.Object({
      name: t.String(),
      shape: t.Array(t.Integer({ minimum: 0 })),
      datatype: t.String(),
      data: t.Array(t.Any()),
      parameters: t.Optional(t.Record(t.String(), t.Any())),
    }),
    { minItems: 1 },
  ),
  outputs: t.Optional(t.Array(t.Object({ name: t.String(), parameters: t.Optional(t.Record(t.String(), t.Any())) }))),
  parameters: t.Optional(
    t.Object(
      {
        priority: t.Optional(t.Union([t.Integer(), t.String()])),
        timeout_ms: t.Optional(t.Number({ exclusiveMinimum: 0 })),
      },
      { additionalProperties: true },
    ),
  ),
});

export const ErrorModel = t.Object({ error: t.String(), code: t.String(), details: t.Optional(t.Record(t.String(), t.Any())) });
