/**
 * Server-Sent Events for a generation: the native route (`POST /api/v1/generate/{name}` with
 * `"stream": true`) and the OpenAI routes share this. Each chunk of tokens becomes one or more SSE
 * frames as soon as the worker sends it; the end (finish reason, usage) closes the stream.
 *
 * Errors before the first token (unknown model, bad prompt, no slot before the deadline) are thrown
 * so the route answers them with the usual status and body; after that, the status line has gone
 * and the error travels as a last frame. A client that disconnects cancels the sequence (the
 * response stream's `cancel`, and the request's signal): it stops within one decoding step.
 */
import { ModelMoraError } from "../../errors.ts";
import type { GenerateRequest, GenerationChunk, GenerationResult, GenerationService } from "../../inference/generation/service.ts";

/** How a route writes its events: each function answers the SSE frames to send (full text, "\n\n" included). */
export interface SseDialect {
  chunk(chunk: GenerationChunk): string[];
  end(result: GenerationResult): string[];
  error(error: ModelMoraError): string[];
}

/** One `data:` frame (and an optional `event:` name). */
export function sseFrame(data: unknown, event?: string): string {
  const payload = typeof data === "string" ? data : JSON.stringify(data);
  return `${event ? `event: ${event}\n` : ""}data: ${payload}\n\n`;
}

export async function generationEventStream(
  generation: GenerationService,
  request: Omit<GenerateRequest, "signal">,
  requestSignal: AbortSignal,
  dialect: SseDialect,
): Promise<Response> {
  const abort = new AbortController();
  const onRequestAbort = () => abort.abort();
  requestSignal.addEventListener("abort", onRequestAbort, { once: true });
  const frames: string[] = [];
  let wake: (() => void) | undefined;
  let firstFrame!: () => void;
  const started = new Promise<void>((resolve) => (firstFrame = resolve));
  const push = (more: string[]) => {
    frames.push(...more);
    firstFrame();
    wake?.();
  };
  let finished = false;
  const work = generation
    .generate({ ...request, signal: abort.signal }, (chunk) => push(dialect.chunk(chunk)))
    .then(
      (result) => push(dialect.end(result)),
      (error: unknown) => {
        if (frames.length === 0) throw error;
        push(dialect.error(error instanceof ModelMoraError ? error : new ModelMoraError("INFERENCE_FAILED", "generation failed")));
      },
    )
    .finally(() => {
      finished = true;
      requestSignal.removeEventListener("abort", onRequestAbort);
      wake?.();
    });
  // The status line waits for the first token: errors before it are answered as errors.
  await Promise.race([started, work]);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (frames.length === 0 && !finished) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if (frames.length > 0) controller.enqueue(encoder.encode(frames.splice(0).join("")));
      else controller.close();
    },
    cancel() {
      abort.abort();
    },
  });
  work.catch(() => undefined);
  return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" } });
}
