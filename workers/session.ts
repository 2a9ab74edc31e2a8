/**
 * Creates the onnxruntime session for a worker, choosing the execution provider:
 * `cpu` → CPU; `cuda` and `auto` → CUDA when its provider library is installed, else CPU with a
 * note; `webgpu` → WebGPU when an adapter comes up, else CPU with a note (never chosen by `auto`).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { kserveDatatype } from "./datatypes.ts";
import type { LoadMessage, Provider, TensorSpec } from "./protocol.ts";

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** Human-readable remarks about provider fallbacks, logged by the server. */
  notes: string[];
}

/**
 * `intraOpThreads` 0 keeps onnxruntime's own choice (one thread per core). On the 2-core bench
 * machine, leaving a core to the server instead cost the cls model a quarter of its throughput at
 * c=32 (bench/README.md); set it per model when several busy models or replicas share a machine.
 */
export async function openSession(modelPath: string, device: LoadMessage["device"], intraOpThreads = 0, enableCpuMemArena = true): Promise<OpenedSession> {
  const notes: string[] = [];
  const threadOptions = { ...(intraOpThreads > 0 && { intraOpNumThreads: intraOpThreads }), ...(!enableCpuMemArena && { enableCpuMemArena: false }) };
  const preferred: Provider[] = device === "cpu" ? [] : device === "webgpu" ? ["webgpu"] : ["cuda"];
  for (const provider of preferred) {
    if (provider === "cuda" && !cudaProviderInstalled()) {
      if (device === "cuda") notes.push("CUDA provider library is not installed (reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12); using CPU");
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(modelPath, { executionProviders: [provider], ...threadOptions });
      return { session, provider, notes };
    } catch (error) {
      notes.push(`${provider} provider unavailable (${firstLine(error)}); using CPU`);
    }
  }
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ["cpu"], ...threadOptions });
  return { session, provider: "cpu", notes };
}

function cudaProviderInstalled(): boolean {
  // The compiled binary embeds the CPU library only, and has no node_modules to resolve from.
  if (Bun.isStandaloneExecutable) return false;
  const bindingDirectory = path.join(path.dirname(require.resolve("onnxruntime-node")), "..", "bin", "napi-v6", process.platform, process.arch);
  return existsSync(path.join(bindingDirectory, "libonnxruntime_providers_cuda.so"));
}

/** Input/output signatures in KServe terms; dynamic dimensions (named or unknown) become -1. */
export function describeSession(session: ort.InferenceSession): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  return {
    inputs: session.inputMetadata.map(describeValue),
    outputs: session.outputMetadata.map(describeValue),
  };
}

function describeValue(metadata: ort.InferenceSession.ValueMetadata): TensorSpec {
  if (!metadata.isTensor) throw new Error(`value "${metadata.name}" is not a tensor; only tensor inputs and outputs are supported`);
  const datatype = kserveDatatype(metadata.type);
  if (!datatype) throw new Error(`value "${metadata.name}" has type ${metadata.type}, which KServe v2 cannot express`);
  return {
    name: metadata.name,
    datatype,
    shape: metadata.shape.map((dimension) => (typeof dimension === "number" && dimension >= 0 ? dimension : -1)),
  };
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split("\n")[0]!.slice(0, 200);
}
