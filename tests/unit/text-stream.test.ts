/**
 * Pins how generated text is handed out: pieces joined equal the final text; a tail that may still
 * become a stop string is held back until it is certain; a stop string ends the text before it,
 * also when it spans several tokens; `flush` hands out what was held back.
 */
import { describe, expect, test } from "bun:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { byteLevelTokenizerJson } from "../fixtures/text-decoder.ts";
import { TextStream } from "../../workers/generation/text-stream.ts";

const tokenizer = new Tokenizer(byteLevelTokenizerJson(), {});
const ids = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids;

function run(text: string, stop: string[]): { pieces: string[]; stopped: boolean; rest: string } {
  const stream = new TextStream(tokenizer, stop);
  const pieces: string[] = [];
  for (const id of ids(text)) {
    const pushed = stream.push(id);
    pieces.push(pushed.text);
    if (pushed.stopped) return { pieces, stopped: true, rest: "" };
  }
  return { pieces, stopped: false, rest: stream.flush() };
}

/** GPT-2's byte → symbol table, for a tokenizer that covers every byte (multi-byte characters). */
function bytesToUnicode(): string[] {
  const printable = [...range(33, 126), ...range(161, 172), ...range(174, 255)];
  const symbols: string[] = [];
  let extra = 0;
  for (let byte = 0; byte < 256; byte++) symbols.push(String.fromCharCode(printable.includes(byte) ? byte : 256 + extra++));
  return symbols;
}
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

describe("TextStream", () => {
  test("a character split over several byte tokens goes out whole, never as U+FFFD", () => {
    const json = byteLevelTokenizerJson() as { model: { vocab: Record<string, number> } };
    json.model.vocab = Object.fromEntries(bytesToUnicode().map((symbol, id) => [symbol, id]));
    const bytes = new Tokenizer({ ...json, added_tokens: [] }, {});
    const text = "héllo 🙂 wörld";
    const stream = new TextStream(bytes, []);
    const pieces = bytes.encode(text, { add_special_tokens: false }).ids.map((id) => stream.push(id).text);
    expect(pieces.length).toBe(new TextEncoder().encode(text).length);
    expect(pieces.some((piece) => piece.includes("\uFFFD"))).toBe(false);
    expect(pieces.join("") + stream.flush()).toBe(text);
  });

  test("without stop strings every token's text goes out at once, and the pieces join to the text", () => {
    const { pieces, stopped, rest } = run("Hello, world!\nbye", []);
    expect(pieces.join("")).toBe("Hello, world!\nbye");
    expect(pieces.every((piece) => piece.length === 1)).toBe(true);
    expect(stopped).toBe(false);
    expect(rest).toBe("");
  });

  test("a stop string spanning tokens ends the text before it; its start was held back, never sent", () => {
    const { pieces, stopped } = run("one END two", ["END"]);
    expect(stopped).toBe(true);
    expect(pieces.join("")).toBe("one ");
    // "E" and "EN" were held back (they could start "END"), not sent and taken back.
    expect(pieces.slice(-3)).toEqual(["", "", ""]);
  });

  test("a held-back tail that turns out not to be a stop string goes out once certain, or at flush", () => {
    const { pieces, stopped, rest } = run("an ENd", ["END"]);
    expect(stopped).toBe(false);
    expect(pieces.join("") + rest).toBe("an ENd");
    const tail = run("xx EN", ["END"]);
    expect(tail.pieces.join("")).toBe("xx ");
    expect(tail.rest).toBe("EN");
  });
});
