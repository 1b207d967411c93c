// A segment's last part batch rides with the extractive prompt after it (llamaSequence.ts): on a
// real node-llama-cpp model, one decode fewer a segment, and the same reading to the token.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { planCodebase, type CodebasePlan } from "../../src/core/plan";
import { WimSession } from "../../src/core/wim/session";
import * as prompts from "../../src/core/wim/prompts";
import * as verdict from "../../src/core/wim/verdict";
import type { WimEvent } from "../../src/core/wim/events";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { tempDir, withEnv, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { compareRuns, extractTokens, Referee, runRecord } from "../support/parting";
import { watchSequences } from "../support/wire";

const QUESTION = "Where is the retry delay computed?";
/** Larger than a segment and its prompt together, so that each can be one batch. */
const BATCH = 1024;
const dir = tempDir();
let plan: CodebasePlan;

function file(name: string, lines: number): string {
  let out = "";
  for (let i = 1; i <= lines; i++) out += `export function ${name}${i}(attempt: number) { return attempt * ${i} + 1; } // ${name} line ${i}\n`;
  return out;
}

/** An engine whose sequences hold tails back or not, counting its decode batches. */
async function open(merge: boolean): Promise<{ engine: LlamaEngine; batches: number[][] }> {
  const batches: number[][] = [];
  const engine = await withEnv({ ASK_CODEBASE_MERGE_TAIL: merge ? undefined : "off" }, async () => {
    const e = await openLlamaEngine({ modelPath: testModelPath("tiny"), gpu: "cpu", threads: 1, batchSize: BATCH, onBatch: (b) => batches.push(b) });
    // The sequences are made (and read the setting) when a context is first prepared.
    await e.prepare({ tokensPerSequence: 8192, sequences: 1 });
    return e;
  });
  return { engine, batches };
}

async function read(engine: LlamaEngine): Promise<{ events: WimEvent[]; trace: WimSession["trace"] }> {
  // Each call leaves node-llama-cpp (and the held tail) holding what the engine interface says.
  const s = new WimSession(watchSequences(engine, { holds: true }).engine, { segments: plan.segments, files: plan.files.length }, QUESTION, { marginTokens: 8, answerTokens: 8, trace: true, judge: (k) => k % 2 === 0 });
  const events: WimEvent[] = [];
  for await (const e of s.run()) events.push(e);
  return { events, trace: s.trace };
}

before(async () => {
  writeTree(dir.path, { "src/retry.ts": file("retry", 30), "src/http.ts": file("http", 30), "src/util.ts": file("util", 30) });
  const { engine } = await open(true);
  plan = await planCodebase([dir.path], { segmentTokens: 512, countTokens: (t) => engine.tokenizeText(t).length });
  await engine.dispose();
  assert.ok(plan.segments.length >= 4, `want several segments, got ${plan.segments.length}`);
});
after(() => dir.dispose());

test("each segment's tail rides with its verdict's prompt: a decode fewer a segment, the same margins, scores and answer", async (t) => {
  const merged = await open(true);
  const alone = await open(false);
  const referee = await Referee.open(alone.engine);
  try {
    const a = await read(merged.engine);
    const b = await read(alone.engine);
    const done = (r: { events: WimEvent[] }) => r.events.find((e): e is Extract<WimEvent, { type: "done" }> => e.type === "done")!;
    assert.ok(!a.events.some((e) => e.type === "error"), JSON.stringify(a.events.find((e) => e.type === "error")));
    assert.equal(done(a).segmentsRead, plan.segments.length);
    // Every segment with its prompt fits one batch: the merged reading sends one where the other sends two.
    const segments = plan.segments.length;
    assert.ok(merged.batches.length <= alone.batches.length - segments, `decodes: ${merged.batches.length} merged, ${alone.batches.length} alone, ${segments} segments`);
    // What the reader held before each prompt and the prompts are the same tokens, each erase
    // restores them, and the margins and the answer are the same wherever the model is decided:
    // kernels round by batch shape, on the CPU too (support/parting.ts).
    a.trace.margins.forEach((m, i) => assert.deepEqual(m.afterErase, m.before, `segment ${i}: the erase restores what the reader held`));
    const { parted } = await compareRuns(referee, runRecord(a.events, a.trace), runRecord(b.events, b.trace), extractTokens(merged.engine, QUESTION, "fused"));
    for (const p of parted) t.diagnostic(`parted where the model is torn: ${p}`);
    // Tokens counted as evaluated are the same: the tail is counted once, when it goes.
    assert.equal(done(a).tokens.evaluated, done(b).tokens.evaluated);
  } finally {
    await referee.dispose();
    await merged.engine.dispose();
    await alone.engine.dispose();
  }
});

test("held tokens are part of the sequence: an erase drops them unevaluated, a verdict sends them, a saved state holds them", async () => {
  const { engine, batches } = await open(true);
  const probe = await open(false);
  try {
    const [seq] = await engine.prepare({ tokensPerSequence: 4096, sequences: 1 });
    const [ref] = await probe.engine.prepare({ tokensPerSequence: 4096, sequences: 1 });
    const text = engine.tokenizeText("export const delay = (attempt: number) => 100 * 2 ** attempt;\n".repeat(120));
    assert.ok(text.length > BATCH + 200, `want more than a batch of text, got ${text.length}`);
    const head = text.slice(0, BATCH + 200);
    await seq!.append(head);
    assert.equal(seq!.heldTokens, 200, "a whole batch goes, the rest waits");
    assert.equal(seq!.length, head.length);
    assert.deepEqual(seq!.tokens, head);
    const evaluated = engine.evaluatedTokens;
    await seq!.truncate(BATCH + 150);
    assert.equal(seq!.heldTokens, 150);
    assert.equal(engine.evaluatedTokens, evaluated, "the erased held tokens were never evaluated");
    const extract = [...engine.tokenizeText(prompts.fusedExtractivePrompt(QUESTION)), ...engine.chatParts(prompts.READER_SYSTEM).suffix];
    const candidates = verdict.candidates(verdict.verdictTokens(engine));
    const before = batches.length;
    const p = await seq!.nextTokenProbabilities(extract, candidates);
    assert.equal(batches.length - before, 1, "the held tokens and the prompt went in one batch");
    assert.equal(seq!.heldTokens, 0);
    assert.equal(engine.evaluatedTokens - evaluated, 150 + extract.length);
    await ref!.append(head.slice(0, BATCH + 150));
    const q = await ref!.nextTokenProbabilities(extract, candidates);
    p.forEach((x, i) => assert.ok(Math.abs(x - q[i]!) < 5e-3, `candidate ${i}: ${x} merged, ${q[i]} alone`));
    // A state saved with tokens held holds them: saving sends them first.
    await seq!.truncate(BATCH);
    await seq!.append(text.slice(BATCH, BATCH + 190));
    assert.equal(seq!.heldTokens, 190);
    const file = `${dir.path}/held.state`;
    await seq!.saveState!(file);
    await seq!.truncate(0);
    await seq!.loadState!(file);
    assert.equal(seq!.heldTokens, 0);
    assert.deepEqual(seq!.tokens, text.slice(0, BATCH + 190));
    // An erase into what was evaluated drops what is held as well.
    await seq!.append(text.slice(BATCH + 190, BATCH + 250));
    assert.equal(seq!.heldTokens, 60);
    await seq!.truncate(BATCH - 10);
    assert.equal(seq!.heldTokens, 0);
    assert.equal(seq!.length, BATCH - 10);
    assert.deepEqual(seq!.tokens, text.slice(0, BATCH - 10));
  } finally {
    await engine.dispose();
    await probe.engine.dispose();
  }
});
