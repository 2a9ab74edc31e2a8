/**
 * Chat messages → prompt text with the model's own chat template (tokenizer_config.json
 * `chat_template`, Jinja, rendered by @huggingface/jinja as transformers does), ending with the
 * generation prompt of the assistant's turn. The parsed template is kept per file checksum.
 */
import { Template } from "@huggingface/jinja";
import { invalidInput } from "../../errors.ts";

export interface ChatMessage {
  role: string;
  content: string;
}

interface ChatTemplate {
  template: Template;
  specialTokens: Record<string, string>;
}

const templates = new Map<string, Promise<ChatTemplate | undefined>>();

/** Renders `messages` with the template in `tokenizerConfig` (a verified companion file). */
export async function renderChat(tokenizerConfig: { path: string; sha256: string } | undefined, messages: ChatMessage[], model: string): Promise<string> {
  const chat = tokenizerConfig && (await chatTemplate(tokenizerConfig));
  if (!chat) throw invalidInput(`model "${model}" has no chat template (tokenizer_config.json chat_template); send a prompt instead of messages`, { field: "messages" });
  try {
    return chat.template.render({ messages, add_generation_prompt: true, ...chat.specialTokens });
  } catch (error) {
    throw invalidInput(`messages: the model's chat template refused them: ${error instanceof Error ? error.message : String(error)}`, { field: "messages" });
  }
}

function chatTemplate(file: { path: string; sha256: string }): Promise<ChatTemplate | undefined> {
  let template = templates.get(file.sha256);
  if (!template) {
    template = readTemplate(file.path);
    templates.set(file.sha256, template);
    template.catch(() => templates.delete(file.sha256));
  }
  return template;
}

async function readTemplate(path: string): Promise<ChatTemplate | undefined> {
  const config = (await Bun.file(path).json()) as Record<string, unknown>;
  let source = config.chat_template;
  // Some tokenizer configs list named templates: [{ name: "default", template: "…" }, …].
  if (Array.isArray(source)) source = (source.find((entry) => entry?.name === "default") ?? source[0])?.template;
  if (typeof source !== "string") return undefined;
  const specialTokens: Record<string, string> = {};
  for (const name of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
    const value = config[name];
    const text = typeof value === "string" ? value : typeof (value as { content?: unknown } | null)?.content === "string" ? (value as { content: string }).content : undefined;
    if (text !== undefined) specialTokens[name] = text;
  }
  return { template: new Template(source), specialTokens };
}
