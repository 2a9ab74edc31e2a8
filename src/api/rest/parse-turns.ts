/**
 * Request bodies read and parsed in priority order under overload (src/inference/admission-gate.ts),
 * for the REST infer routes: the parser waits for the request's read turn (priority from
 * `x-priority`, known before the body is read), reads the bytes, waits for its parse turn, then
 * parses them; the handler passes the turn on to the inference service, which ends it once the
 * request is queued. `end` (an after-response hook) ends it for requests that never reach the
 * service (a body that fails validation).
 */
import type { Turn } from "../../inference/admission-gate.ts";
import { Priority, parsePriority } from "../../inference/priority.ts";
import type { InferenceService } from "../../inference/service.ts";

export interface ParseTurns {
  /** Waits for the request's turn to read its body, reads it, waits for its turn to parse it, then parses it with `parse`. */
  read<T>(request: Request, model: string, version: string | undefined, parse: (bytes: ArrayBuffer) => T | Promise<T>): Promise<T>;
  /** The turn the request was given (undefined if its body was not read through `read`). */
  of(request: Request): Turn | undefined;
  /** Ends the request's turn, if it has one and it is still open. */
  end(request: Request): void;
}

export function parseTurns(inference: Pick<InferenceService, "turn">): ParseTurns {
  const turns = new WeakMap<Request, Turn>();
  return {
    async read(request, model, version, parse) {
      const reading = await inference.turn(model, version, headerPriority(request), request.signal, declaredBytes(request));
      turns.set(request, reading);
      try {
        const bytes = await request.arrayBuffer();
        const parsing = await reading.parse(request.signal);
        turns.set(request, parsing);
        return await parse(bytes);
      } catch (error) {
        turns.get(request)?.done();
        reading.done();
        throw error;
      }
    },
    of: (request) => turns.get(request),
    end: (request) => turns.get(request)?.done(),
  };
}

/** JSON parsed straight from a body's bytes (no intermediate string), as `Request.json()` does. */
export function parseJsonBytes(bytes: ArrayBuffer): Promise<unknown> {
  return new Response(bytes).json();
}

/** The body's declared length (content-length), 0 when it has none (chunked): what its read turn weighs. */
export function declaredBytes(request: Request): number {
  const length = Number(request.headers.get("content-length"));
  return Number.isSafeInteger(length) && length > 0 ? length : 0;
}

/** The priority a request declares before its body is read; a malformed header is reported by the handler. */
function headerPriority(request: Request): Priority {
  try {
    return parsePriority(request.headers.get("x-priority") ?? undefined, "x-priority");
  } catch {
    return Priority.NORMAL;
  }
}
