/** Request priorities, Triton style: 1 is the highest. NORMAL when a request names none. */
import { invalidInput } from "../errors.ts";

export const Priority = { CRITICAL: 1, HIGH: 2, NORMAL: 3, LOW: 4 } as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

const NAMES: Record<string, Priority> = { critical: 1, high: 2, normal: 3, low: 4 };

/** Accepts 1..4 (number or numeric string) or critical|high|normal|low; undefined → NORMAL. */
export function parsePriority(value: unknown, field = "priority"): Priority {
  if (value === undefined || value === null || value === "") return Priority.NORMAL;
  const numeric = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (numeric === 1 || numeric === 2 || numeric === 3 || numeric === 4) return numeric;
  // Own keys only: "constructor" and "__proto__" are inherited members of NAMES, not priorities.
  if (typeof value === "string" && Object.hasOwn(NAMES, value.toLowerCase())) return NAMES[value.toLowerCase()]!;
  throw invalidInput(`${field} must be 1..4 or critical|high|normal|low, got ${JSON.stringify(value)}`, { field });
}
