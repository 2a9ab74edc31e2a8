/**
 * One identity per HTTP request across Elysia's hooks and handlers. body-limit.ts replaces a
 * chunked request's Request object on the way; hooks that remember something about a request (the
 * caller in auth.ts, the start time in access-log.ts) key it by the Request they first saw and look
 * it up through `originalRequest`.
 *
 * Keyed by the Request rather than by Elysia's context object on purpose: a hook or handler that
 * hands its whole context to a function makes Elysia's static analysis (sucrose) assume it reads
 * everything, and then every route parses cookies, query and headers into objects on every request.
 * Hooks and handlers destructure what they use instead.
 */
const originals = new WeakMap<Request, Request>();

/** Records that `replacement` stands for `original` (itself perhaps a replacement) from now on. */
export function replaceRequest(replacement: Request, original: Request): void {
  originals.set(replacement, originalRequest(original));
}

/** The Request the client's call first arrived as. */
export function originalRequest(request: Request): Request {
  return originals.get(request) ?? request;
}
