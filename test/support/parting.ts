// Two runs that feed a model the same tokens in differently shaped batches (the local engine and a
// llama-server, a tail held back or not) compute the same logits only up to rounding: the kernels
// sum in an order that depends on the batch, on the CPU too, and a logit moves in its third
// decimal. A random test model is often torn closer than that between its two likeliest tokens
// (0.001 apart in log-probability is common over a few dozen tokens), and greedy decoding then
// picks either. So two such runs must agree token for token up to where they part, and where they
// part the model must be torn between the two tokens, as a third evaluation measures it; what
// follows a parting depends on it and is not compared. A parting where the model is not torn fails.
import assert from "node:assert/strict";
import type { EngineSequence, Token, WimEngine } from "../../src/core/wim/engine";
import type { WimEvent } from "../../src/core/wim/events";
import * as prompts from "../../src/core/wim/prompts";
import type { WimTrace } from "../../src/core/wim/session";
import type { ClassifyMode } from "../../src/core/wim/verdict";
import type { LlamaEngine } from "../../src/engine/llama/llamaEngine";

/**
 * The most two tokens' log-probabilities may differ where two runs part: rounding was seen to move
 * them by up to 0.004 (a re-evaluation of a margin's tokens in one batch picked the other token of
 * a pair 0.004 apart); a real fault in what a run sends parts them where the model is decided.
 */
export const TORN = 0.02;
/** How far a verdict's score may move with rounding (1.5e-3 seen), so a verdict this near 0.5 may flip. */
export const SCORE_ROUNDING = 5e-3;

export interface Parting { at: number; logRatio: number }

/** A run's record as the comparison needs it. */
export interface RunRecord {
  trace: WimTrace;
  /** Each margin's verdict, where the run judged it. */
  verdicts: ({ relevant?: boolean; score?: number } | undefined)[];
  /** The margins the answer used. */
  kept: number[];
  answer: string;
}

/** The extractive prompt each margin's prompt begins with, as a run in `classify` mode appends it after a segment. */
export function extractTokens(engine: WimEngine, question: string, classify: ClassifyMode): Token[] {
  const text = classify === "fused" ? prompts.fusedExtractivePrompt(question) : prompts.extractivePrompt(question);
  return [...engine.tokenizeText(text), ...engine.chatParts(prompts.READER_SYSTEM).suffix];
}

/** A run's record from its events and trace, margins in segment order (a warm run writes them backwards). */
export function runRecord(events: readonly WimEvent[], trace: WimTrace): RunRecord {
  const of = <T extends WimEvent["type"]>(type: T) => events.filter((e): e is Extract<WimEvent, { type: T }> => e.type === type);
  const written = of("margin-done").map((e) => e.segment);
  assert.equal(written.length, trace.margins.length, "a margin traced for each written");
  const margins = trace.margins.map((m, i) => ({ m, segment: written[i]! })).sort((a, b) => a.segment - b.segment);
  const verdicts = of("margin-classified");
  return {
    trace: { margins: margins.map((x) => x.m), answers: trace.answers },
    verdicts: margins.map((x) => verdicts.find((v) => v.segment === x.segment)),
    kept: of("answer-started")[0]!.marginIds,
    answer: of("done")[0]!.answer,
  };
}

export class Referee {
  private eog?: Token[];

  private constructor(private readonly engine: LlamaEngine, private readonly fresh: { sequence: EngineSequence; dispose: () => Promise<void> }) {}

  /** A referee with a context of its own on `engine`, large enough for the runs' tokens. */
  static async open(engine: LlamaEngine, contextSize = 8192): Promise<Referee> {
    return new Referee(engine, await engine.freshSequence(contextSize));
  }

  /**
   * Where two greedy continuations of `context` + `prompt` part: undefined if they are the same
   * tokens; otherwise the model must be torn there between the two runs' tokens (a run that stopped
   * chose an end-of-generation token), or this throws, naming `label`.
   */
  async part(context: readonly Token[], prompt: readonly Token[], a: readonly Token[], b: readonly Token[], label: string): Promise<Parting | undefined> {
    let at = 0;
    while (at < a.length && at < b.length && a[at] === b[at]) at++;
    if (at === a.length && at === b.length) return undefined;
    const seq = this.fresh.sequence;
    // The evaluation that yields the probabilities needs a token of its own.
    const head = [...context];
    let tail = [...prompt, ...a.slice(0, at)];
    if (!tail.length) tail = [head.pop()!];
    await seq.truncate(0);
    await seq.append(head);
    const choice = (t: Token | undefined): Token[] => (t === undefined ? this.endTokens() : [t]);
    const ca = choice(a[at]);
    const cb = choice(b[at]);
    const p = await seq.nextTokenProbabilities(tail, [...ca, ...cb]);
    const sum = (from: number, n: number) => p.slice(from, from + n).reduce((s, x) => s + x, 0);
    const logRatio = Math.abs(Math.log(sum(0, ca.length) / sum(ca.length, cb.length)));
    assert.ok(logRatio < TORN, `${label}: the runs part at token ${at} (${a[at] ?? "end"} vs ${b[at] ?? "end"}), where the model is not torn: log-probabilities ${logRatio.toFixed(4)} apart`);
    return { at, logRatio };
  }

  private endTokens(): Token[] {
    this.eog ??= Array.from({ length: this.engine.shape.vocab }, (_, t) => t).filter((t) => this.engine.isEndOfGeneration(t));
    return this.eog;
  }

  dispose(): Promise<void> {
    return this.fresh.dispose();
  }
}

export interface Agreement {
  /** Where the runs parted, each where the model was torn: "margin 3: token 4 ...", "answer 0: ...". */
  parted: string[];
  /** Whether the answers' prompts were compared: not when a parted margin was in either's prompt. */
  answerCompared: boolean;
}

/**
 * Compares two runs over the same plan and question, margin by margin and then the answer: what
 * each held before a margin, the extractive prompt and the answer's context must be the same
 * tokens; verdicts the same up to rounding; every token the model chose the same unless it was
 * torn there. `extract`: the extractive prompt each margin's prompt begins with.
 */
export async function compareRuns(referee: Referee, a: RunRecord, b: RunRecord, extract: readonly Token[]): Promise<Agreement> {
  const parted: string[] = [];
  const partedSegments = new Set<number>();
  const note = (segment: number, what: string) => { parted.push(`margin ${segment}: ${what}`); partedSegments.add(segment); };
  assert.equal(b.trace.margins.length, a.trace.margins.length, "margins written");
  for (const [i, ma] of a.trace.margins.entries()) {
    const mb = b.trace.margins[i]!;
    assert.deepEqual(mb.before, ma.before, `margin ${i}: the same tokens before its prompt`);
    for (const m of [ma, mb]) assert.deepEqual(m.prompt.slice(0, extract.length), [...extract], `margin ${i}: the extractive prompt`);
    const va = a.verdicts[i];
    const vb = b.verdicts[i];
    assert.equal(vb?.score === undefined, va?.score === undefined, `margin ${i}: judged in both runs or neither`);
    // A fused verdict comes before the margin (a relevant one goes on after its "yes"); a separate
    // one judges the finished margin's text.
    const fused = ma.score !== undefined;
    if (fused) {
      const flip = verdictFlip(i, va!, vb!);
      if (flip) { note(i, flip); continue; }
      const yes = await referee.part([...ma.before, ...extract], [], ma.prompt.slice(extract.length), mb.prompt.slice(extract.length), `margin ${i}'s "yes"`);
      if (yes) { note(i, `its "yes", log-probabilities ${yes.logRatio.toFixed(4)} apart`); continue; }
    } else {
      assert.equal(mb.prompt.length, extract.length, `margin ${i}: the prompt is the extractive prompt alone`);
    }
    const margin = await referee.part(ma.before, ma.prompt, ma.margin, mb.margin, `margin ${i}`);
    if (margin) { note(i, `token ${margin.at}, log-probabilities ${margin.logRatio.toFixed(4)} apart`); continue; }
    if (!fused && va?.score !== undefined) {
      const flip = verdictFlip(i, va, vb!);
      if (flip) note(i, flip);
    }
  }
  const answerCompared = ![...a.kept, ...b.kept].some((k) => partedSegments.has(k));
  assert.equal(b.trace.answers.length, a.trace.answers.length, "answers written");
  let answersAgree = answerCompared;
  for (const [i, aa] of a.trace.answers.entries()) {
    const ab = b.trace.answers[i]!;
    assert.deepEqual(ab.context, aa.context, `answer ${i}: the same context`);
    if (!answerCompared) continue;
    assert.deepEqual(b.kept, a.kept, "the same margins kept");
    assert.deepEqual(ab.prompt, aa.prompt, `answer ${i}: the same prompt`);
    const answer = await referee.part(aa.context, aa.prompt, aa.answer, ab.answer, `answer ${i}`);
    if (answer) { parted.push(`answer ${i}: token ${answer.at}, log-probabilities ${answer.logRatio.toFixed(4)} apart`); answersAgree = false; }
  }
  if (answersAgree) assert.equal(b.answer, a.answer, "the answer's text");
  return { parted, answerCompared };
}

/** Why two verdicts on one margin differ, if they do; a flip is allowed only where rounding can cause it. */
function verdictFlip(i: number, va: { relevant?: boolean; score?: number }, vb: { relevant?: boolean; score?: number }): string | undefined {
  assert.ok(Math.abs(va.score! - vb.score!) < SCORE_ROUNDING, `margin ${i}: verdict scores ${va.score} and ${vb.score}`);
  if (va.relevant === vb.relevant) return undefined;
  assert.ok(Math.abs(va.score! - 0.5) < SCORE_ROUNDING, `margin ${i}: judged ${va.relevant} and ${vb.relevant} at a score of ${va.score}, far from a tie`);
  return `its verdict, at a score of ${va.score!.toFixed(4)}`;
}
