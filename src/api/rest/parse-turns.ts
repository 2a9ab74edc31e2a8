/**
 * Request bodies read in priority order under overload (src/inference/admission-gate.ts), for the
 * REST infer routes: the parser waits for the request's turn (priority from `x-priority`, known
 * before the body is read), then reads the body; the handler passes the turn on to the inference
 * service, which ends it once the request is queued.
 */
import type { Turn } from "../../inference/admission-gate.ts";
import { Priority, parsePriority } from "../../inference/priority.ts";
import type { InferenceService } from "../../inference/service.ts";

export interface ParseTurns {
  /** Waits for the request's turn to be parsed, then reads its body with `read`. */
  read<T>(request: Request, model: string, version: string | undefined, read: () => Promise<T>): Promise<T>;
  /** The turn the request was given (undefined if its body was not read through `read`). */
  of(request: Request): Turn | undefined;
}

export function parseTurns(inference: InferenceService): ParseTurns {
  const turns = new WeakMap<Request, Turn>();
  return {
    async read(request, model, version, read) {
      const turn = await inference.turn(model, version, headerPriority(request), request.signal);
      turns.set(request, turn);
      try {
        return await read();
      } catch (error) {
        turn.done();
        throw error;
      }
    },
    of: (request) => turns.get(request),
  };
}

/** The priority a request declares before its body is read; a malformed header is reported by the handler. */
function headerPriority(request: Request): Priority {
  try {
    return parsePriority(request.headers.get("x-priority") ?? undefined, "x-priority");
  } catch {
    return Priority.NORMAL;
  }
}
