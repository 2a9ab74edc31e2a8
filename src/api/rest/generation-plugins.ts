/** The txt2txt routes as one plugin: the native generate route and the OpenAI chat/completions routes. */
import { Elysia } from "elysia";
import type { GenerationService } from "../../inference/generation/service.ts";
import type { Logger } from "../../observability/logger.ts";
import { generatePlugin } from "./generate.ts";
import { openAiGenerationPlugin } from "./openai-generate.ts";

export function generationPlugins(generation: GenerationService | undefined, logger: Logger) {
  if (!generation) return new Elysia({ name: "generation" });
  return new Elysia({ name: "generation" }).use(generatePlugin(generation)).use(openAiGenerationPlugin(generation, logger));
}
