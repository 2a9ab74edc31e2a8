/**
 * Registry requests checked by the same schemas the REST API uses (src/registry/schemas.ts), so a
 * name, checksum or config that REST refuses is refused here too, with the same wording. A config
 * travels as a JSON string (`config_json`); its errors name the key, e.g. `config_json.maxBatchSize`.
 */
import { getSchemaValidator, mapValueError } from "elysia";
import { invalidInput } from "../../../errors.ts";
import { parseJsonObject } from "../../json-object.ts";
import type { ModelConfigPatch } from "../../../registry/model-config.ts";
import type { RegisterModelInput } from "../../../registry/registry.ts";
import { ModelConfigPatchModel, RegisterModelBody } from "../../../registry/schemas.ts";

const registerValidator = getSchemaValidator(RegisterModelBody);
const patchValidator = getSchemaValidator(ModelConfigPatchModel);

export interface RegisterModelRequest {
  name: string;
  version: string;
  task: string;
  source: string;
  sha256: string;
  config_json: string;
}

export function toRegisterModelInput(request: RegisterModelRequest): RegisterModelInput {
  const body = {
    name: request.name,
    version: request.version,
    task: request.task,
    source: request.source,
    ...(request.sha256 !== "" && { sha256: request.sha256 }),
    ...(request.config_json !== "" && { config: parseJsonObject(request.config_json, "config_json", "config_json") }),
  };
  return validated(registerValidator, body) as RegisterModelInput;
}

/** A config patch: an object of keys to change, a key set to null returning to its default. */
export function toConfigPatch(configJson: string): ModelConfigPatch {
  if (configJson === "") throw invalidInput("config_json: required (a JSON object of the keys to change)", { field: "config_json" });
  return validated(patchValidator, parseJsonObject(configJson, "config_json", "config_json"), "config_json") as ModelConfigPatch;
}

type Validator = typeof registerValidator | typeof patchValidator;

/** The value with the schema's conversions applied; INVALID_INPUT naming the first bad field otherwise. */
function validated(validator: Validator, value: unknown, root?: string): unknown {
  if (validator.Check(value)) return validator.Decode(value);
  const first = validator.Errors(value).First();
  const pointer = first ? first.path.replace(/^\//, "").split("/").filter(Boolean) : [];
  // The schema's `config` is the message's `config_json`.
  const field = (root ? [root, ...pointer] : pointer.map((part, index) => (index === 0 && part === "config" ? "config_json" : part))).join(".") || (root ?? "request");
  const reason = first ? (mapValueError(first)?.summary ?? first.message) : "does not match the schema";
  throw invalidInput(`${field}: ${reason}`, { field });
}
