/**
 * A sequence's text as it grows token by token: decodes the generated ids (special tokens skipped),
 * finds stop strings, and hands out only text that is certain — not a trailing incomplete UTF-8
 * character (U+FFFD) and not a tail that could still become a stop string. The pieces handed out,
 * joined, are exactly the final text.
 */
import type { Tokenizer } from "@huggingface/tokenizers";

export class TextStream {
  private readonly ids: number[] = [];
  private emittedLength = 0;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly stop: readonly string[],
  ) {}

  /** Adds a token; answers the text now certain, and whether a stop string was reached. */
  push(id: number): { text: string; stopped: boolean } {
    this.ids.push(id);
    const full = this.tokenizer.decode(this.ids, { skip_special_tokens: true });
    let stopAt = -1;
    for (const stop of this.stop) {
      const index = full.indexOf(stop, Math.max(0, this.emittedLength - stop.length + 1));
      if (index >= 0 && (stopAt < 0 || index < stopAt)) stopAt = index;
    }
    if (stopAt >= 0) return { text: this.take(full, stopAt), stopped: true };
    let certainEnd = full.length;
    while (certainEnd > this.emittedLength && full.charCodeAt(certainEnd - 1) === 0xfffd) certainEnd--;
    // Hold back the longest tail that is the start of some stop string.
    let heldBack = 0;
    for (const stop of this.stop) {
      for (let length = Math.min(stop.length - 1, certainEnd - this.emittedLength); length > heldBack; length--) {
        if (full.endsWith(stop.slice(0, length), certainEnd)) {
          heldBack = length;
          break;
        }
      }
    }
    return { text: this.take(full, certainEnd - heldBack), stopped: false };
  }

  /** The text held back so far (the sequence ended for another reason). */
  flush(): string {
    const full = this.tokenizer.decode(this.ids, { skip_special_tokens: true });
    return this.take(full, full.length);
  }

  private take(full: string, end: number): string {
    if (end <= this.emittedLength) return "";
    const text = full.slice(this.emittedLength, end);
    this.emittedLength = end;
    return text;
  }
}
