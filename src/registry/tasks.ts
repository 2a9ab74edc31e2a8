/**
 * The tasks a model can be registered for (what its requests and answers look like), and the
 * Hugging Face pipeline names accepted for them.
 */
import { invalidInput } from "../errors.ts";

export const TASKS = ["tensor", "txt2embed", "img2txt", "img2embed", "img2label", "txt2txt"] as const;
type Task = (typeof TASKS)[number];

/** Hugging Face pipeline names accepted at registration for the task they mean. */
export const TASK_ALIASES: Readonly<Record<string, Task>> = {
  "feature-extraction": "txt2embed",
  "image-feature-extraction": "img2embed",
  "image-classification": "img2label",
  "image-to-text": "img2txt",
  "text-generation": "txt2txt",
};

/** The task `name` means (itself or the task it is an alias of); INVALID_INPUT when unknown. */
export function canonicalTask(name: string): Task {
  if ((TASKS as readonly string[]).includes(name)) return name as Task;
  const aliased = TASK_ALIASES[name];
  if (aliased) return aliased;
  const known = [...TASKS, ...Object.keys(TASK_ALIASES)].join(", ");
  throw invalidInput(`task "${name}" is not supported; supported tasks: ${known}`, { field: "task" });
}
