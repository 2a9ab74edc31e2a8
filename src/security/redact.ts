/**
 * What a client may see of an error: messages and details without the server's file system
 * layout. Both transports' mappings pass every error through `redactForClient`; logs keep the
 * original.
 *
 * - A path into the model cache (`…/models/sha256/<hex>`, `…/models/isolated/…`, `…/models/tmp/…`)
 *   becomes `<model file>`, wherever it appears.
 * - In messages that come from onnxruntime or a worker (MODEL_LOAD_FAILED, INFERENCE_FAILED,
 *   INTERNAL), every absolute path becomes `<path>`.
 * - A sha256 the client did not send itself becomes `<sha256>`; `details.actual` (the hash of a file
 *   that did not match) and `details.path` are dropped.
 *
 * @example
 * redactForClient(new ModelMoraError("MODEL_LOAD_FAILED", "Load model from /data/models/isolated/ab…/model.onnx failed"))
 * // message: "Load model from <model file> failed"
 */
import { ModelMoraError } from "../errors.ts";

const CACHE_PATH = /(?:\/[^\s/"'`:]+)*\/models\/(?:sha256|isolated|tmp)(?:\/[^\s"'`,;)]*)?/g;
const ABSOLUTE_PATH = /(?<![\w.:/-])\/(?:[^\s/"'`,;()]+\/)*[^\s/"'`,;()]+/g;
const SHA256 = /\b[0-9a-f]{64}\b/gi;
const WORKER_MESSAGES = new Set(["MODEL_LOAD_FAILED", "INFERENCE_FAILED", "INTERNAL"]);

export function redactForClient(error: ModelMoraError): ModelMoraError {
  const expected = typeof error.details?.expected === "string" ? error.details.expected.toLowerCase() : undefined;
  let message = error.message.replace(CACHE_PATH, "<model file>");
  if (WORKER_MESSAGES.has(error.code)) message = message.replace(ABSOLUTE_PATH, "<path>");
  message = message.replace(SHA256, (hex) => (hex.toLowerCase() === expected ? hex : "<sha256>"));
  let details = error.details;
  if (details && ("actual" in details || "path" in details)) {
    const { actual: _actual, path: _path, ...rest } = details;
    details = rest;
  }
  if (message === error.message && details === error.details) return error;
  return new ModelMoraError(error.code, message, details);
}
