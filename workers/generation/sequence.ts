/**
 * One generation sequence in the worker: its settings, tokens, PRNG and text stream, and the rule
 * that turns a chosen token into a `generated` message (and decides whether the sequence ends:
 * an end-of-sequence id or a stop string → `stop`; `maxNewTokens` or the model's longest sequence
 * → `length`).
 */
import type { FinishReason, GenerateSettings, SequenceStep } from "../protocol.ts";
import { chooseToken, seededRandom } from "./sampling.ts";
import type { GenerationTextModel } from "./text-model.ts";
import { TextStream } from "./text-stream.ts";

export class Sequence {
  readonly generatedIds: number[] = [];
  /** The token chosen last: the input of the next decoding step. */
  nextInputId = -1;
  finished = false;
  cancelRequested = false;
  private readonly random: () => number;
  private readonly stream: TextStream;
  private readonly eosTokenIds: Set<number>;

  constructor(
    readonly id: number,
    readonly settings: GenerateSettings,
    readonly promptIds: number[],
    private readonly textModel: GenerationTextModel,
  ) {
    this.random = seededRandom(settings.seed);
    this.stream = new TextStream(textModel.tokenizer, settings.stop);
    this.eosTokenIds = new Set(settings.eosTokenIds ?? textModel.eosTokenIds);
  }

  /** Chooses the next token from this sequence's row of logits; answers the step to send. */
  take(logits: Float32Array): SequenceStep {
    const id = chooseToken(logits, this.settings, this.previousIds(), this.random);
    this.generatedIds.push(id);
    this.nextInputId = id;
    let text: string;
    let finishReason: FinishReason | undefined;
    if (this.eosTokenIds.has(id)) {
      text = this.stream.flush();
      finishReason = "stop";
    } else {
      const pushed = this.stream.push(id);
      text = pushed.text;
      if (pushed.stopped) finishReason = "stop";
      else if (this.generatedIds.length >= this.settings.maxNewTokens || this.atModelLimit()) {
        text += this.stream.flush();
        finishReason = "length";
      }
    }
    if (finishReason) this.finished = true;
    return this.message([id], text, finishReason);
  }

  /** The last step of a cancelled sequence. */
  cancelled(): SequenceStep {
    this.finished = true;
    return this.message([], "", "cancelled");
  }

  private message(tokenIds: number[], text: string, finishReason: FinishReason | undefined): SequenceStep {
    return {
      sequenceId: this.id,
      tokenIds,
      text,
      ...(finishReason && { finishReason }),
      promptTokens: this.promptIds.length,
      completionTokens: this.generatedIds.length,
    };
  }

  private atModelLimit(): boolean {
    const limit = this.textModel.maxSequenceLength;
    return limit !== undefined && this.promptIds.length + this.generatedIds.length >= limit;
  }

  private *previousIds(): Iterable<number> {
    if (this.settings.repetitionPenalty === 1) return;
    yield* this.promptIds;
    yield* this.generatedIds;
  }
}
