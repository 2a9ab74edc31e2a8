/**
 * Text generation (txt2txt), the one service every front end calls (own REST with SSE, OpenAI chat
 * and completions, gRPC Generate): resolves the model, renders chat messages with its template,
 * waits for a slot in the model's decoding loop (sequence-admission.ts: `maxConcurrentSequences`,
 * priority order), starts the sequence on a worker and hands each step's tokens to `onChunk`.
 *
 * Ends: `stop` (end-of-sequence id or stop string) and `length` (max_new_tokens, the model's
 * longest sequence) come from the worker. The request's `signal` aborting (client gone) cancels the
 * sequence within one decoding step: `cancelled`. The deadline (timeout) passing while it decodes
 * ends it the same way but answers `length` with the text so far — the sequence was cut short by a
 * limit, as OpenAI reports max_tokens; a deadline that passes while it waits for a slot is
 * INFERENCE_TIMEOUT.
 */
import { randomInt } from "node:crypto";
import { ModelMoraError, invalidInput } from "../../errors.ts";
import type { WorkerPool } from "../../lifecycle/pool.ts";
import { modelKey } from "../../lifecycle/model-key.ts";
import type { GenerationMetrics } from "../../observability/generation-metrics.ts";
import type { ModelRegistry, ResolvedVersion } from "../../registry/registry.ts";
import { effectiveTimeout } from "../../scheduler/model-scheduler.ts";
import { SequenceAdmission } from "../../scheduler/sequence-admission.ts";
import type { FinishReason, GenerateSettings, SequenceStep } from "../../../workers/protocol.ts";
import type { Priority } from "../priority.ts";
import { type ChatMessage, renderChat } from "./chat-template.ts";

/** Companion files the worker reads for txt2txt. */
const GENERATION_FILES = ["tokenizer.json", "tokenizer_config.json", "generation_config.json"];
export const DEFAULT_MAX_NEW_TOKENS = 256;

export interface GenerateRequest {
  model: string;
  version?: string;
  /** A prompt as is, or chat messages rendered with the model's chat template: one of the two. */
  prompt?: string;
  messages?: ChatMessage[];
  maxNewTokens?: number;
  /** 0 (the default here; OpenAI routes default to 1) = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  /** Reproducible sampling; a random seed when absent. */
  seed?: number;
  stop?: string[];
  priority: Priority;
  timeoutMicroseconds?: number;
  /** Aborted when the client goes away: the sequence is cancelled within one step. */
  signal?: AbortSignal;
  keepAliveSeconds?: number;
}

/** One decoding step's addition to a sequence. */
export interface GenerationChunk {
  text: string;
  tokenIds: number[];
}

export interface GenerationResult {
  model: string;
  version: string;
  text: string;
  tokenIds: number[];
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

export class GenerationService {
  private readonly admissions = new Map<string, SequenceAdmission>();
  private accepting = true;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly pool: WorkerPool,
    private readonly metrics?: GenerationMetrics,
  ) {}

  /**
   * Generates a continuation; `onChunk` sees each step's tokens as they come.
   *
   * @example
   * const { text } = await generation.generate({ model: "tiny-lm", prompt: "Hello", maxNewTokens: 16, priority: 3 });
   */
  async generate(request: GenerateRequest, onChunk?: (chunk: GenerationChunk) => void): Promise<GenerationResult> {
    if (!this.accepting) throw new ModelMoraError("SHUTTING_DOWN", "server is shutting down");
    const startedAt = performance.now();
    const target = await this.registry.resolve(request.model, request.version);
    if (target.task !== "txt2txt") {
      throw invalidInput(`model "${target.name}" has task "${target.task}", not txt2txt; send it what its task takes`, { field: "model", task: target.task });
    }
    const settings = await this.settings(target, request);
    const timeoutMicroseconds = effectiveTimeout(request.timeoutMicroseconds, target.config.defaultTimeoutMicroseconds);
    const deadlineAtMilliseconds = timeoutMicroseconds > 0 ? Date.now() + timeoutMicroseconds / 1000 : undefined;
    const release = await this.admission(target).admit(request.priority, { signal: request.signal, deadlineAtMilliseconds });
    const labels = { model: target.name, version: target.version };
    const tokenIds: number[] = [];
    let text = "";
    let lastTokenAt: number | undefined;
    let cutByDeadline = false;
    try {
      const onStep = (message: SequenceStep) => {
        if (message.tokenIds.length > 0) {
          const now = performance.now();
          if (lastTokenAt === undefined) this.metrics?.timeToFirstToken.observe(labels, (now - startedAt) / 1000);
          else this.metrics?.interToken.observe(labels, (now - lastTokenAt) / 1000);
          lastTokenAt = now;
          this.metrics?.tokens.inc(labels, message.tokenIds.length);
        }
        tokenIds.push(...message.tokenIds);
        text += message.text;
        if (message.tokenIds.length > 0 || message.text !== "") onChunk?.({ text: message.text, tokenIds: message.tokenIds });
      };
      const handle = await this.pool.generate(target, settings, onStep, { keepAliveSeconds: request.keepAliveSeconds, deadlineAtMilliseconds });
      const onAbort = () => handle.cancel();
      request.signal?.addEventListener("abort", onAbort, { once: true });
      if (request.signal?.aborted) handle.cancel();
      const timer = deadlineAtMilliseconds === undefined ? undefined : setTimeout(() => {
        cutByDeadline = true;
        handle.cancel();
      }, Math.max(0, deadlineAtMilliseconds - Date.now()));
      let last: SequenceStep;
      try {
        last = await handle.finished;
      } finally {
        clearTimeout(timer);
        request.signal?.removeEventListener("abort", onAbort);
      }
      const finishReason: FinishReason = last.finishReason === "cancelled" && cutByDeadline && !request.signal?.aborted ? "length" : last.finishReason!;
      this.metrics?.sequences.inc({ ...labels, finish_reason: finishReason });
      return {
        model: target.name,
        version: target.version,
        text,
        tokenIds,
        finishReason,
        promptTokens: last.promptTokens,
        completionTokens: tokenIds.length,
      };
    } finally {
      release();
    }
  }

  /** Shutdown began: new sequences get SHUTTING_DOWN; running ones go on until the pool stops. */
  stopAccepting(): void {
    this.accepting = false;
  }

  private admission(target: ResolvedVersion): SequenceAdmission {
    const key = modelKey(target);
    const capacity = target.config.maxConcurrentSequences * Math.max(1, target.config.replicas);
    let admission = this.admissions.get(key);
    if (!admission) {
      const labels = { model: target.name, version: target.version };
      admission = new SequenceAdmission(capacity, ({ running, waiting }) => {
        this.metrics?.running.set(labels, running);
        this.metrics?.waiting.set(labels, waiting);
      });
      this.admissions.set(key, admission);
    } else {
      admission.setCapacity(capacity);
    }
    return admission;
  }

  private async settings(target: ResolvedVersion, request: GenerateRequest): Promise<GenerateSettings> {
    if ((request.prompt === undefined) === (request.messages === undefined)) {
      throw invalidInput("send either prompt or messages", { field: request.messages === undefined ? "prompt" : "messages" });
    }
    const files = Object.fromEntries(Object.entries(target.files).filter(([name]) => GENERATION_FILES.includes(name)));
    if (!files["tokenizer.json"]) throw new ModelMoraError("INVALID_INPUT", `model "${target.name}" has no tokenizer.json companion file; register it with "files"`, { field: "model" });
    const prompt = request.messages ? await renderChat(files["tokenizer_config.json"], request.messages, target.name) : request.prompt!;
    const settings: GenerateSettings = {
      files,
      prompt,
      maxNewTokens: request.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS,
      temperature: request.temperature ?? 0,
      topK: request.topK ?? 0,
      topP: request.topP ?? 1,
      repetitionPenalty: request.repetitionPenalty ?? 1,
      seed: request.seed ?? randomInt(2 ** 31),
      stop: (request.stop ?? []).filter((stop) => stop !== ""),
    };
    check(settings.maxNewTokens >= 1 && Number.isInteger(settings.maxNewTokens), "max_new_tokens", "must be an integer ≥ 1");
    check(settings.temperature >= 0, "temperature", "must be ≥ 0");
    check(settings.topK >= 0 && Number.isInteger(settings.topK), "top_k", "must be an integer ≥ 0");
    check(settings.topP > 0 && settings.topP <= 1, "top_p", "must be in (0, 1]");
    check(settings.repetitionPenalty > 0, "repetition_penalty", "must be > 0");
    check(Number.isInteger(settings.seed), "seed", "must be an integer");
    return settings;
  }
}

function check(condition: boolean, field: string, message: string): void {
  if (!condition) throw invalidInput(`${field}: ${message}`, { field });
}
