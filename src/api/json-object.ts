/** A JSON object sent as text (a request body, gRPC's `config_json`), parsed for either transport. */
import { invalidInput } from "../errors.ts";

/**
 * `text` as a JSON object; INVALID_INPUT naming `field` when it is not JSON or not an object.
 *
 * @example
 * const body = parseJsonObject(await request.text(), "request body", "body");
 */
export function parseJsonObject(text: string, what: string, field: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidInput(`${what} is not valid JSON`, { field });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidInput(`${what} must be a JSON object`, { field });
  return value as Record<string, unknown>;
}
