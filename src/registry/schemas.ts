/**
 * Registration and config schemas (TypeBox, through Elysia's `t`): the one description of a valid
 * model name, source, checksum, companion file and per-model config. REST validates request bodies
 * with them and documents them in OpenAPI; gRPC checks RegisterModel and UpdateModelConfig with the
 * same schemas (src/api/grpc/modelmora/request-validation.ts), so both refuse the same values with
 * the same wording.
 */
import { type TSchema, t } from "elysia";
import { DATATYPES } from "./tensor-spec.ts";

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
  task: t.Optional(t.String({ default: "tensor", description: 'default "tensor"; or txt2embed, img2txt, img2embed, img2label (aliases feature-extraction, image-to-text, image-feature-extraction, image-classification), txt2txt (alias text-generation)' })),
  source: t.String({ minLength: 1, description: "absolute path, file://, http(s):// or hf://org/repo[@rev]/path" }),
  sha256: t.Optional(t.String({ pattern: "^[0-9a-fA-F]{64}$" })),
  config: t.Optional(ModelConfigModel),
  files: t.Optional(
    t.Record(t.String(), t.Union([t.String({ minLength: 1 }), t.Object({ source: t.String({ minLength: 1 }), sha256: t.Optional(t.String({ pattern: "^[0-9a-fA-F]{64}$" })) }, { additionalProperties: false })]), {
      description: 'companion files by name, e.g. { "tokenizer.json": "<source>" | { "source", "sha256" } }; cached and verified like the model file',
    }),
  ),
});
