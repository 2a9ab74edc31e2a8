/**
 * A sequence's text as it grows token by token: decodes the generated ids (special tokens skipped),
 * finds stop strings, and hands out only text that is certain — not an incomplete UTF-8 character
 * (U+FFFD) and not a tail that could still become a stop string. The pieces handed out, joined, are
 * exactly the final text.
 *
 * Decoding is incremental, as Hugging Face TGI does it: only the last few ids are decoded each step
 * (from `prefixOffset`, the ids before the last certain piece, for context such as a word's leading
 * space), so a step costs the same at token 1 and token 1000.
 */
import type { Tokenizer } from "@huggingface/tokenizers";

export class TextStream {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  /** Everything decoded so far that is complete text. */
  private text = "";
  private emittedLength = 0;
  private readonly longestStop: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly stop: readonly string[],
  ) {
    this.longestStop = Math.max(0, ...stop.map((entry) => entry.length));
  }

  /** Adds a token; answers the text now certain, and whether a stop string was reached. */
  push(id: number): { text: string; stopped: boolean } {
    this.ids.push(id);
    this.decodeNew(false);
    const text = this.text;
    let stopAt = -1;
    for (const stop of this.stop) {
      const index = text.indexOf(stop, Math.max(0, this.emittedLength - this.longestStop + 1));
      if (index >= 0 && (stopAt < 0 || index < stopAt)) stopAt = index;
    }
    if (stopAt >= 0) return { text: this.take(stopAt), stopped: true };
    // Hold back the longest tail that is the start of some stop string.
    let heldBack = 0;
    for (const stop of this.stop) {
      for (let length = Math.min(stop.length - 1, text.length - this.emittedLength); length > heldBack; length--) {
        if (text.endsWith(stop.slice(0, length))) {
          heldBack = length;
          break;
        }
      }
    }
    return { text: this.take(text.length - heldBack), stopped: false };
  }

  /** The text held back so far (the sequence ended for another reason), incomplete characters included. */
  flush(): string {
    this.decodeNew(true);
    return this.take(this.text.length);
  }

  /** Appends the text the ids since `prefixOffset` add, once it is complete (or always, at the end). */
  private decodeNew(final: boolean): void {
    const decode = (ids: number[]) => (ids.length === 0 ? "" : this.tokenizer.decode(ids, { skip_special_tokens: true }));
    const prefix = decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = decode(this.ids.slice(this.prefixOffset));
    if (full.length > prefix.length && (final || !full.endsWith("\uFFFD"))) {
      this.text += full.slice(prefix.length);
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
    }
  }

  private take(end: number): string {
    if (end <= this.emittedLength) return "";
    const text = this.text.slice(this.emittedLength, end);
    this.emittedLength = end;
    return text;
  }
}
