/**
 * modelmora.v1.InferenceService's task RPCs: `Embed` (txt2embed and img2embed models) and `Ocr`
 * (img2txt models). Each calls the same task functions as the REST routes, so answers are equal.
 */
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { invalidInput } from "../../../errors.ts";
import { parsePriority } from "../../../inference/priority.ts";
import type { InferenceService } from "../../../inference/service.ts";
import { inferImages } from "../../../inference/tasks/image-tasks.ts";
import { readText } from "../../../inference/tasks/img2txt.ts";
import { embed } from "../../../inference/tasks/txt2embed.ts";
import { callContext, type CallContext, shorterTimeout } from "../call-context.ts";
import { unary } from "../unary.ts";

interface TaskCallFields {
  model: string;
  version: string;
  priority: number;
  timeout_ms: number;
}

interface EmbedRequestMessage extends TaskCallFields {
  texts: string[];
  images: Buffer[];
  normalize?: boolean;
  dimensions: number;
  truncate?: boolean;
}

interface OcrRequestMessage extends TaskCallFields {
  images: Buffer[];
}

interface EmbedResponseMessage {
  model_name: string;
  model_version: string;
  embeddings: { values: number[] }[];
  dimensions: number;
  tokens: number;
}

interface OcrResponseMessage {
  model_name: string;
  model_version: string;
  results: { text: string; confidence: number; lines: { text: string; confidence: number; box: { x: number; y: number }[] }[] }[];
}

/** The fields every task request shares, as the task functions take them. */
function common(message: TaskCallFields, context: CallContext) {
  if (message.model === "") throw invalidInput("model: required", { field: "model" });
  const timeoutMicroseconds = shorterTimeout(message.timeout_ms > 0 ? message.timeout_ms * 1000 : undefined, context.timeoutMicroseconds);
  return {
    model: message.model,
    ...(message.version !== "" && { version: message.version }),
    priority: message.priority === 0 ? context.priority : parsePriority(message.priority, "priority"),
    ...(timeoutMicroseconds !== undefined && { timeoutMicroseconds }),
    signal: context.signal,
  };
}

export function taskRpcHandlers(inference: InferenceService, logger: Logger): UntypedServiceImplementation {
  return {
    Embed: unary<EmbedRequestMessage, EmbedResponseMessage>(logger, async (message, call) => {
      const request = common(message, callContext(call));
      if ((message.texts.length > 0) === (message.images.length > 0)) {
        throw invalidInput("send texts (txt2embed models) or images (img2embed models), one of the two", { field: message.texts.length > 0 ? "images" : "texts" });
      }
      if (message.texts.length > 0) {
        const result = await embed(inference, {
          ...request,
          texts: message.texts,
          ...(message.normalize !== undefined && { normalize: message.normalize }),
          ...(message.truncate !== undefined && { truncate: message.truncate }),
          ...(message.dimensions > 0 && { dimensions: message.dimensions }),
        });
        const tokens = result.tokens.reduce((total, count) => total + count, 0);
        return { model_name: result.model, model_version: result.version, embeddings: result.embeddings.map((vector) => ({ values: Array.from(vector) })), dimensions: result.dimensions, tokens };
      }
      const result = await inferImages(inference, { ...request, images: message.images.map((image) => new Uint8Array(image)), ...(message.normalize !== undefined && { normalize: message.normalize }) });
      if (result.answer.task !== "img2embed") throw invalidInput(`model "${message.model}" has task ${result.answer.task}; Embed takes txt2embed and img2embed models`, { field: "model" });
      const embeddings = result.answer.embeddings;
      return { model_name: result.model, model_version: result.version, embeddings: embeddings.map((vector) => ({ values: Array.from(vector) })), dimensions: embeddings[0]?.length ?? 0, tokens: 0 };
    }),
    Ocr: unary<OcrRequestMessage, OcrResponseMessage>(logger, async (message, call) => {
      const result = await readText(inference, { ...common(message, callContext(call)), images: message.images.map((image) => new Uint8Array(image)) });
      const results = result.results.map((reading) =>
        "lines" in reading
          ? { text: reading.text, confidence: 0, lines: reading.lines.map((line) => ({ text: line.text, confidence: line.confidence, box: line.box.map(([x, y]) => ({ x, y })) })) }
          : { text: reading.text, confidence: reading.confidence, lines: [] },
      );
      return { model_name: result.model, model_version: result.version, results };
    }),
  };
}
