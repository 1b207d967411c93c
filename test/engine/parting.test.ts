// The comparison that tests across differently batched runs rely on (support/parting.ts), on a
// real model: a run agrees with itself; a copy altered where the model is torn is excused; one
// altered where the model is decided, or in what it was given, is caught.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { planCodebase } from "../../src/core/plan";
import type { Token } from "../../src/core/wim/engine";
import type { WimEvent } from "../../src/core/wim/events";
import * as prompts from "../../src/core/wim/prompts";
import { WimSession } from "../../src/core/wim/session";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { compareRuns, Referee, TORN, type RunRecord } from "../support/parting";

const QUESTION = "Where is the retry delay computed?";
const dir = tempDir();
let engine: LlamaEngine;
let referee: Referee;
let run: RunRecord;
let extract: Token[];

before(async () => {
  writeTree(dir.path, {
    "src/retry.ts": Array.from({ length: 30 }, (_, i) => `export function retry${i}(attempt: number) { return attempt * ${i} + 1; } // retry line ${i}\n`).join(""),
    "src/http.ts": Array.from({ length: 30 }, (_, i) => `export function http${i}(status: number) { return status === ${200 + i}; } // http line ${i}\n`).join(""),
    "src/util.ts": Array.from({ length: 30 }, (_, i) => `export const util${i} = ${i} * 7; // util line ${i}\n`).join(""),
  });
  engine = await openLlamaEngine({ modelPath: testModelPath("tiny", { byteTokens: "control" }), gpu: "cpu", threads: 1 });
  referee = await Referee.open(engine);
  const plan = await planCodebase([dir.path], { segmentTokens: 512, countTokens: (t) => engine.tokenizeText(t).length });
  const s = new WimSession(engine, { segments: plan.segments, files: plan.files.length }, QUESTION, { marginTokens: 10, answerTokens: 10, trace: true, classify: "off" });
  const events: WimEvent[] = [];
  for await (const e of s.run()) events.push(e);
  const done = events.find((e): e is Extract<WimEvent, { type: "done" }> => e.type === "done")!;
  const started = events.find((e): e is Extract<WimEvent, { type: "answer-started" }> => e.type === "answer-started")!;
  assert.ok(s.trace.margins.length >= 2 && s.trace.margins.every((m) => m.margin.length === 10), "margins of ten tokens");
  run = { trace: s.trace, verdicts: s.margins.map(() => undefined), kept: started.marginIds, answer: done.answer };
  extract = [...engine.tokenizeText(prompts.extractivePrompt(QUESTION)), ...engine.chatParts(prompts.READER_SYSTEM).suffix];
});

after(async () => {
  await referee?.dispose();
  await engine?.dispose();
  dir.dispose();
});

const copy = (r: RunRecord): RunRecord => structuredClone(r);

/** Every token's log-probability gap to the runner-up along margin `m`, with the runner-up. */
async function gaps(m: number): Promise<{ at: number; gap: number; other: Token }[]> {
  const { before, prompt, margin } = run.trace.margins[m]!;
  const vocab = Array.from({ length: engine.shape.vocab }, (_, t) => t);
  const fresh = await engine.freshSequence(8192);
  try {
    const out: { at: number; gap: number; other: Token }[] = [];
    for (let at = 0; at < margin.length; at++) {
      await fresh.sequence.truncate(0);
      await fresh.sequence.append(before);
      const p = await fresh.sequence.nextTokenProbabilities([...prompt, ...margin.slice(0, at)], vocab);
      const other = vocab.filter((t) => t !== margin[at]).reduce((best, t) => (p[t]! > p[best]! ? t : best));
      out.push({ at, gap: Math.abs(Math.log(p[margin[at]!]! / p[other]!)), other });
    }
    return out;
  } finally {
    await fresh.dispose();
  }
}

test("a run agrees with itself: nothing parts, and the answers are compared", async () => {
  assert.deepEqual(await compareRuns(referee, run, copy(run), extract), { parted: [], answerCompared: true });
});

test("a margin that takes the other token where the model is torn is excused, and keeps the answers from being compared", async () => {
  let torn = { margin: -1, at: -1, gap: Infinity, other: -1 };
  for (let margin = 0; margin < run.trace.margins.length; margin++) {
    for (const g of await gaps(margin)) if (g.gap < torn.gap) torn = { margin, ...g };
    if (torn.gap < TORN / 4) break;
  }
  assert.ok(torn.gap < TORN / 4, `the test model is torn somewhere along its margins (closest ${torn.gap.toFixed(4)})`);
  const other = copy(run);
  const m = other.trace.margins[torn.margin]!;
  // What follows the other choice is the other run's own: a different continuation, even a shorter one.
  m.margin = [...m.margin.slice(0, torn.at), torn.other, ...m.margin.slice(torn.at + 1, -2).reverse()];
  const r = await compareRuns(referee, run, other, extract);
  assert.equal(r.parted.length, 1);
  assert.match(r.parted[0]!, new RegExp(`^margin ${torn.margin}: token ${torn.at}, log-probabilities 0\\.0\\d{3} apart$`));
  assert.equal(r.answerCompared, !run.kept.includes(torn.margin));
});

test("a margin that takes another token where the model is decided is caught", async () => {
  const along = await gaps(1);
  const decided = along.reduce((a, b) => (b.gap > a.gap ? b : a));
  assert.ok(decided.gap > 5 * TORN, `margin 1 has a decided token (widest gap ${decided.gap.toFixed(4)})`);
  const other = copy(run);
  other.trace.margins[1]!.margin[decided.at] = decided.other;
  await assert.rejects(compareRuns(referee, run, other, extract), new RegExp(`margin 1: the runs part at token ${decided.at} .*where the model is not torn`));
  // A margin cut short where the model would not have stopped.
  const short = copy(run);
  short.trace.margins[1]!.margin.length = 4;
  await assert.rejects(compareRuns(referee, run, short, extract), /margin 1: the runs part at token 4 \(\d+ vs end\), where the model is not torn/);
});

test("what a run was given, a verdict far from a tie and an answer's tokens are compared exactly", async () => {
  const before = copy(run);
  before.trace.margins[1]!.before.push(7);
  await assert.rejects(compareRuns(referee, run, before, extract), /margin 1: the same tokens before its prompt/);
  const prompt = copy(run);
  prompt.trace.margins[0]!.prompt[2]! += 1;
  await assert.rejects(compareRuns(referee, run, prompt, extract), /margin 0: the extractive prompt/);
  const judged = (r: RunRecord, relevant: boolean, score: number): RunRecord => ({ ...copy(r), verdicts: r.trace.margins.map(() => ({ relevant, score })) });
  await assert.rejects(compareRuns(referee, judged(run, true, 0.8), judged(run, false, 0.8), extract), /margin 0: judged true and false at a score of 0\.8, far from a tie/);
  await assert.rejects(compareRuns(referee, judged(run, true, 0.8), judged(run, true, 0.7), extract), /margin 0: verdict scores 0\.8 and 0\.7/);
  const flip = await compareRuns(referee, judged(run, true, 0.501), judged(run, false, 0.499), extract);
  assert.equal(flip.parted.length, run.trace.margins.length, "a verdict at a tie flips");
  const answer = copy(run);
  answer.answer += "!";
  await assert.rejects(compareRuns(referee, run, answer, extract), /the answer's text/);
  const context = copy(run);
  context.trace.answers[0]!.context.pop();
  await assert.rejects(compareRuns(referee, run, context, extract), /answer 0: the same context/);
});
