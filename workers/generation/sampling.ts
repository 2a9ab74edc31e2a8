/**
 * Choosing the next token from one row of logits, as Hugging Face's `generate` does: repetition
 * penalty, then greedy argmax (temperature 0) or temperature → top-k → top-p → a draw from the
 * sequence's own seeded PRNG. Pure functions over a row; the PRNG is the only state.
 */

/** mulberry32: a small, fast 32-bit PRNG; the same seed gives the same draws on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SamplingSettings {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
}

/** The index of the largest value (the first on a tie). */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let index = 1; index < values.length; index++) if (values[index]! > values[best]!) best = index;
  return best;
}

/**
 * Picks the next token id from `logits` (modified in place). `previousIds` (prompt and generated)
 * are penalised when `repetitionPenalty` ≠ 1: positive logits divided by it, negative multiplied.
 */
export function chooseToken(logits: Float32Array, settings: SamplingSettings, previousIds: Iterable<number>, random: () => number): number {
  if (settings.repetitionPenalty !== 1) {
    const seen = new Set(previousIds);
    for (const id of seen) {
      if (id < 0 || id >= logits.length) continue;
      const value = logits[id]!;
      logits[id] = value > 0 ? value / settings.repetitionPenalty : value * settings.repetitionPenalty;
    }
  }
  if (settings.temperature <= 0) return argmax(logits);
  // Candidates sorted by logit, highest first (ties by id, so the order is deterministic).
  let candidates = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (settings.topK > 0 && settings.topK < candidates.length) candidates = candidates.slice(0, settings.topK);
  const top = logits[candidates[0]!]! / settings.temperature;
  const weights = candidates.map((id) => Math.exp(logits[id]! / settings.temperature - top));
  let total = weights.reduce((sum, weight) => sum + weight, 0);
  if (settings.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < weights.length) {
      cumulative += weights[keep]! / total;
      keep++;
      if (cumulative >= settings.topP) break;
    }
    candidates = candidates.slice(0, keep);
    weights.length = keep;
    total = weights.reduce((sum, weight) => sum + weight, 0);
  }
  let draw = random() * total;
  for (let index = 0; index < candidates.length; index++) {
    draw -= weights[index]!;
    if (draw < 0) return candidates[index]!;
  }
  return candidates[candidates.length - 1]!;
}
