/**
 * Creates the onnxruntime session for a worker, choosing the execution provider:
 * `cpu` → CPU; `cuda` and `auto` → CUDA when its provider library is installed, else CPU with a
 * note; `webgpu` → WebGPU when an adapter comes up, else CPU with a note (never chosen by `auto`).
 */
import { existsSync } from "node:fs";
import os from "node:os";
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

export async function openSession(modelPath: string, device: LoadMessage["device"], intraOpThreads = 0): Promise<OpenedSession> {
  const notes: string[] = [];
  const intraOpNumThreads = resolveIntraOpThreads(intraOpThreads);
  const preferred: Provider[] = device === "cpu" ? [] : device === "webgpu" ? ["webgpu"] : ["cuda"];
  for (const provider of preferred) {
    if (provider === "cuda" && !cudaProviderInstalled()) {
      if (device === "cuda") notes.push("CUDA provider library is not installed (reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12); using CPU");
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(modelPath, { executionProviders: [provider], intraOpNumThreads });
      return { session, provider, notes };
    } catch (error) {
      notes.push(`${provider} provider unavailable (${firstLine(error)}); using CPU`);
    }
  }
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ["cpu"], intraOpNumThreads });
  return { session, provider: "cpu", notes };
}

/**
 * 0 leaves one core to the server process, which parses and encodes every request's JSON: on a
 * 2-core machine that raised the cls model's throughput at c=32 from 1.08× to 1.37× the naive
 * in-process server (bench/README.md). Set it explicitly for models that own a machine.
 */
function resolveIntraOpThreads(requested: number): number {
  if (requested > 0) return requested;
  return Math.max(1, os.availableParallelism() - 1);
}

function cudaProviderInstalled(): boolean {
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
