// How a run uses the model's context. While reading, a window holds the opening and as many
// segments as leave room for one extractive prompt and its margin: everything else is codebase.
// The answer's room is found when the answer comes, from what the kept margins need then: first
// the codebase is erased back from the end of the last window (its segments are still in the
// answer through their margins), and only when even that is not enough are the weakest margins
// dropped, each with its reason. (Before, half of the context was set aside for margins that
// were mostly never written: a 32k model read about 14k tokens a window.)

/** The settings a layout can be too large because of, by their option names. */
export type LayoutCause = "segmentTokens" | "marginTokens" | "answerTokens";

export interface LayoutInput {
  /** Each segment's tokens. */
  sizes: readonly number[];
  /** The most context the run may use (the model's, or less when asked). */
  contextLimit: number;
  /** The conversation's opening: system message, the user turn's start, the codebase's introduction. */
  opening: number;
  /** The extractive prompt after a segment (a fused verdict's "yes" included), and the longest margin. */
  extract: number;
  marginTokens: number;
  /** The answer prompt without notes (the question, the instructions, the assistant's opening). */
  answerFixed: number;
  answerTokens: number;
  /** The most a kept margin may take in the answer's prompt (it can come back re-tokenized longer). */
  perMargin: number;
}

export interface ReadingLayout {
  /** The window of each segment, in order. */
  windows: number[];
  windowCount: number;
  /** The context to prepare: all of it when reading in windows; what one window and its answer can need otherwise. */
  contextTokens: number;
  /** Codebase tokens a window may hold. */
  windowTokens: number;
}

export type LayoutRefusal = { needed: number; available: number; cause: LayoutCause; detail: string };

/** The extractive prompt's room in a window is a multiple of this (see layoutReading). */
export const EXTRACT_ROOM_STEP = 256;

export function layoutReading(o: LayoutInput): ReadingLayout | LayoutRefusal {
  const answerOnly = o.opening + o.answerFixed + o.answerTokens;
  if (answerOnly > o.contextLimit) {
    return { needed: answerOnly, available: o.contextLimit, cause: "answerTokens", detail: `an answer of ${o.answerTokens.toLocaleString("en-US")} tokens does not fit beside its prompt` };
  }
  const exact = o.contextLimit - o.opening - o.extract - o.marginTokens;
  const largest = Math.max(0, ...o.sizes);
  if (largest > exact) {
    // Would the segment fit with a shorter margin cap? Then the margin cap is what to change.
    const cause: LayoutCause = largest <= o.contextLimit - o.opening - o.extract - 16 ? "marginTokens" : "segmentTokens";
    return {
      needed: o.opening + largest + o.extract + o.marginTokens, available: o.contextLimit, cause,
      detail: cause === "marginTokens"
        ? `a ${largest.toLocaleString("en-US")}-token segment leaves no room for ${o.marginTokens.toLocaleString("en-US")}-token margins`
        : `a ${largest.toLocaleString("en-US")}-token segment does not fit beside the prompts`,
    };
  }
  // The extractive prompt holds the question, so its exact room would move the windows' edges from
  // one question to the next, and the warm cache keeps a window only as long as its segments stay
  // together: with several windows the room is rounded up, the same for every question of up to a
  // step's tokens (unless the largest segment needs what the rounding takes). A codebase that fits
  // one window with the exact room is read in one.
  const total = o.sizes.reduce((a, b) => a + b, 0);
  const rounded = o.contextLimit - o.opening - Math.ceil(o.extract / EXTRACT_ROOM_STEP) * EXTRACT_ROOM_STEP - o.marginTokens;
  const windowTokens = total <= exact || largest > rounded ? exact : rounded;
  const windows: number[] = [];
  let window = 0;
  let used = 0;
  for (const size of o.sizes) {
    if (used + size > windowTokens) {
      window++;
      used = 0;
    }
    windows.push(window);
    used += size;
  }
  const windowCount = o.sizes.length ? window + 1 : 1;
  // One window: room for the whole codebase, its margins and its answer, as far as the model allows.
  const wanted = o.opening + total + Math.max(o.extract + o.marginTokens, o.answerFixed + o.sizes.length * o.perMargin + o.answerTokens);
  return { windows, windowCount, windowTokens, contextTokens: windowCount === 1 ? Math.min(o.contextLimit, wanted) : o.contextLimit };
}

/**
 * The order to read segments in: window by window, the window holding the likeliest segment first
 * (`scores`, higher likelier; ties and windows without a match keep their order), each window's
 * segments in their own order. A window keeps its segments and their order whatever the scores,
 * so its reading is the same for every question and the warm cache can hold it. Returns the
 * segments' indices in reading order and the window of each, numbered in reading order.
 */
export function readingOrder(windows: readonly number[], scores?: readonly number[]): { order: number[]; windows: number[] } {
  const count = windows.length ? Math.max(...windows) + 1 : 0;
  const best = new Array<number>(count).fill(0);
  if (scores) windows.forEach((w, k) => { best[w] = Math.max(best[w]!, scores[k] ?? 0); });
  const ranked = [...best.keys()].sort((a, b) => best[b]! - best[a]! || a - b);
  const members = best.map((): number[] => []);
  windows.forEach((w, k) => members[w]!.push(k));
  const order = ranked.flatMap((w) => members[w]!);
  const place = new Map(ranked.map((w, i) => [w, i]));
  return { order, windows: order.map((k) => place.get(windows[k]!)!) };
}

/** Where the windows of segments read in order lie: each window's first segment and the one after its last; where each segment ends in its window (after the opening); the codebase's tokens read before each. */
export function windowPositions(windows: readonly number[], sizes: readonly number[], opening: number): { firstOf: number[]; endOf: number[]; ends: number[]; coveredTo: number[] } {
  const firstOf: number[] = [];
  const endOf: number[] = [];
  const ends: number[] = [];
  const coveredTo: number[] = [0];
  windows.forEach((w, k) => {
    firstOf[w] ??= k;
    endOf[w] = k + 1;
    ends.push((k === firstOf[w] ? opening : ends[k - 1]!) + sizes[k]!);
    coveredTo.push(coveredTo[k]! + sizes[k]!);
  });
  return { firstOf, endOf, ends, coveredTo };
}

export interface AnswerFit {
  /** The margins the answer's prompt holds. */
  kept: number[];
  /** Kept margins left out, and why. */
  dropped: { segment: number; reason: string }[];
  /** Where the codebase the answer sees ends: at most where it ended, back to a segment's end. */
  codebaseEnd: number;
}

/**
 * The answer's room: with `promptLength(ids)` the prompt's tokens holding those margins, find the
 * latest codebase end (one of `ends`, or the opening) that leaves room for the prompt and the
 * answer; failing even the opening, drop the weakest margins until the prompt fits there.
 */
export function fitAnswer(o: {
  kept: readonly number[];
  score: (segment: number) => number;
  promptLength: (ids: readonly number[]) => number;
  /** Where each segment held now ends, in order; the last is the codebase's end now. */
  ends: readonly number[];
  opening: number;
  contextTokens: number;
  answerTokens: number;
}): AnswerFit {
  let kept = [...o.kept];
  const dropped: AnswerFit["dropped"] = [];
  let prompt = o.promptLength(kept);
  const fits = (end: number): boolean => end + prompt + o.answerTokens <= o.contextTokens;
  // Weakest first; the later segment goes first among equals, the earlier ones being read in full.
  while (!fits(o.opening) && kept.length) {
    const weakest = kept.reduce((w, id) => (o.score(id) < o.score(w) || (o.score(id) === o.score(w) && id > w) ? id : w), kept[0]!);
    kept = kept.filter((id) => id !== weakest);
    dropped.push({ segment: weakest, reason: "no room in the model's context beside the answer" });
    prompt = o.promptLength(kept);
  }
  let codebaseEnd = o.opening;
  for (let i = o.ends.length - 1; i >= 0; i--) {
    if (fits(o.ends[i]!)) { codebaseEnd = o.ends[i]!; break; }
  }
  return { kept, dropped: dropped.sort((a, b) => a.segment - b.segment), codebaseEnd };
}
