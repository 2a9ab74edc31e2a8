/**
 * The load timeout (MODELMORA_LOAD_TIMEOUT_SECONDS): a worker that has not answered a load —
 * starting, opening the model, its warm-up run — within the timeout is killed and the load fails
 * with MODEL_LOAD_FAILED. It covers model inspection at registration (a short-lived worker) and
 * loads into the pool alike, because both ask a worker for `load` through the same spawner.
 */
import { ModelMoraError } from "../errors.ts";
import { LIMIT_ENVIRONMENT_NAMES } from "../runtime/limit-settings.ts";
import { timerDelay } from "../clock.ts";
import type { SpawnWorker, WorkerHandle } from "./worker-process.ts";

/** `spawn`, with every worker's `load` bounded by `timeoutMilliseconds`. */
export function withLoadTimeout(spawn: SpawnWorker, timeoutMilliseconds: number): SpawnWorker {
  return (label) => {
    const worker = spawn(label);
    // Every capability of the worker passes through (generate too, where it has one); only `load` is bounded.
    const bounded: WorkerHandle = {
      pid: worker.pid,
      exited: worker.exited,
      infer: (items, outputNames) => worker.infer(items, outputNames),
      terminate: (graceMilliseconds) => worker.terminate(graceMilliseconds),
      load: (request) => loadWithin(worker, request, timeoutMilliseconds),
      ...(worker.generate && { generate: worker.generate.bind(worker) }),
    };
    return bounded;
  };
}

async function loadWithin(worker: WorkerHandle, request: Parameters<WorkerHandle["load"]>[0], timeoutMilliseconds: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void worker.terminate(0);
      const seconds = timeoutMilliseconds / 1000;
      reject(new ModelMoraError("MODEL_LOAD_FAILED", `model did not load within ${seconds} s (${LIMIT_ENVIRONMENT_NAMES.loadTimeoutSeconds}); its worker was stopped`, { timeoutSeconds: seconds }));
    }, timerDelay(timeoutMilliseconds));
  });
  const loading = worker.load(request);
  loading.catch(() => undefined); // after a timeout the worker's own failure is nobody's answer
  try {
    return await Promise.race([loading, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
