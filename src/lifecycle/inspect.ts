/**
 * Reads a model's input/output signature by opening it in a short-lived worker process, so the
 * server itself never loads onnxruntime. A file onnxruntime cannot open fails with MODEL_LOAD_FAILED.
 */
import type { InspectModel } from "../registry/signature.ts";
import type { SpawnWorker } from "./worker-process.ts";

export function createInspector(spawnWorker: SpawnWorker): InspectModel {
  return async (modelPath) => {
    const worker = spawnWorker("inspect");
    try {
      const { inputs, outputs } = await worker.load({ modelPath, device: "cpu", intraOpThreads: 1, healthCheck: false });
      return { inputs, outputs };
    } finally {
      await worker.terminate();
    }
  };
}
