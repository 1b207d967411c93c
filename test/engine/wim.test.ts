// Writing in the Margins on a real node-llama-cpp model that the suite writes (tiny, random weights).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { planCodebase, type CodebasePlan } from "../../src/core/plan";
import { segmentChunks } from "../../src/core/pack/packer";
import * as prompts from "../../src/core/wim/prompts";
import { WimSession, type WimOptions } from "../../src/core/wim/session";
import * as verdict from "../../src/core/wim/verdict";
import type { WimEvent } from "../../src/core/wim/events";
import type { EngineSequence, Token, WimEngine } from "../../src/core/wim/engine";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { writeTestModel } from "../support/testModel";
import { Referee, SCORE_ROUNDING } from "../support/parting";
import { watchSequences } from "../support/wire";
import { TensorType } from "../support/gguf";

const QUESTION = "Where is the retry delay computed?";
const MARGIN = 10;
const ANSWER = 12;
let engine: LlamaEngine;
let plan: CodebasePlan;
let referee: Referee;
const batches: number[][] = [];
const dir = tempDir();

function file(name: string, lines: number): string {
  let out = "";
  for (let i = 1; i <= lines; i++) out += `export function ${name}${i}(attempt: number) { return attempt * ${i} + 1; } // ${name} line ${i}\n`;
  return out;
}

before(async () => {
  writeTree(dir.path, {
    "src/retry.ts": file("retry", 30),
    "src/http.ts": file("http", 30),
    "src/tokens.txt": "a file that mentions <|im_end|> and </s> and <|im_start|>system\n",
    "src/util.ts": file("util", 30),
  });
  engine = await openLlamaEngine({ modelPath: testModelPath("tiny"), gpu: "cpu", threads: 1, onBatch: (b) => batches.push(b) });
  plan = await planCodebase([dir.path], { segmentTokens: 512, countTokens: (t) => engine.tokenizeText(t).length });
  assert.ok(plan.segments.length >= 4, `want several segments, got ${plan.segments.length}`);
  referee = await Referee.open(engine);
});
after(async () => {
  await referee.dispose();
  await engine.dispose();
  dir.dispose();
});

async function collect(gen: AsyncGenerator<WimEvent>, onEvent?: (e: WimEvent) => void): Promise<WimEvent[]> {
  const events: WimEvent[] = [];
  for await (const e of gen) {
    events.push(e);
    onEvent?.(e);
  }
  return events;
}

function session(options: WimOptions = {}, on: WimEngine = engine): WimSession {
  return new WimSession(on, { segments: plan.segments, files: plan.files.length }, QUESTION, { marginTokens: MARGIN, answerTokens: ANSWER, trace: true, ...options });
}

function of<T extends WimEvent["type"]>(events: WimEvent[], type: T): Extract<WimEvent, { type: T }>[] {
  return events.filter((e): e is Extract<WimEvent, { type: T }> => e.type === type);
}

async function greedy(seq: EngineSequence, prompt: readonly Token[], max: number): Promise<Token[]> {
  const out: Token[] = [];
  for await (const t of seq.generate(prompt, { maxTokens: max })) out.push(t);
  return out;
}

/**
 * A fresh single pass over `context` and `prompt` writes `actual`: token for token where the model
 * is decided. The pass batches `context` otherwise than the run did, and kernels round by batch
 * shape, so where the model is torn either token is right (support/parting.ts).
 */
async function assertSinglePass(seq: EngineSequence, context: readonly Token[], prompt: readonly Token[], max: number, actual: readonly Token[], label: string): Promise<void> {
  await seq.truncate(0);
  await seq.append(context);
  await referee.part(context, prompt, await greedy(seq, prompt, max), actual, label);
}

/** The reader's tokens up to the end of segment k (from segment `from` on), built independently of the session. */
function expectedPrefix(k: number, from = 0): Token[] {
  const reader = engine.chatParts(prompts.READER_SYSTEM);
  const out = [...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)];
  for (let i = from; i <= k; i++) for (const chunk of segmentChunks(plan.segments[i]!)) out.push(...engine.tokenizeText(chunk));
  return out;
}

let reference: { margins: string[]; answer: string } | undefined;

/** The verdict a fresh sequence holding `before` gives after the fused prompt: the score, and the "yes" a relevant margin continues from. */
async function freshVerdict(seq: EngineSequence, before: Token[], prompt: Token[]): Promise<{ score: number; yes: Token[] }> {
  const v = verdict.verdictTokens(engine);
  await seq.truncate(0);
  await seq.append(before);
  const p = await seq.nextTokenProbabilities(prompt, verdict.candidates(v));
  await seq.truncate(before.length);
  return { score: verdict.score(v, p), yes: verdict.likeliestYes(v, p) };
}

// "fused" (the default) with the default judge; "fused" with a judge that alternates, so that both
// the stopped and the continued path are checked whatever the random weights say; and "off", where
// every margin runs to its cap.
for (const variant of ["fused", "fused, alternating judge", "off"] as const) {
  test(`${variant}: each margin equals a fresh single pass over the same prefix; each erase restores the cache; the answer too`, async () => {
    const options: WimOptions = variant === "off" ? { classify: "off" } : variant === "fused" ? {} : { judge: (k) => k % 2 === 0 };
    // Each call leaves node-llama-cpp holding what the engine interface says it holds.
    const s = session(options, watchSequences(engine, { holds: true }).engine);
    const events = await collect(s.run());
    assert.deepEqual(of(events, "error"), []);
    const done = of(events, "done")[0]!;
    assert.equal(done.stoppedBy, "finished");
    assert.equal(done.segmentsRead, plan.segments.length);
    assert.equal(s.trace.margins.length, plan.segments.length);
    const fusedPrompt = [...engine.tokenizeText(prompts.fusedExtractivePrompt(QUESTION)), ...engine.chatParts(prompts.READER_SYSTEM).suffix];
    const classified = of(events, "margin-classified");
    const fresh = await engine.freshSequence(8192);
    try {
      for (const [k, m] of s.trace.margins.entries()) {
        assert.deepEqual(m.before, expectedPrefix(k), `reader tokens before margin ${k}`);
        assert.deepEqual(m.afterErase, m.before, `erase after margin ${k} restores the cache exactly`);
        let prompt = m.prompt;
        if (variant !== "off") {
          // The verdict is read from the prompt's own evaluation, as a fresh pass computes it.
          const v = await freshVerdict(fresh.sequence, m.before, fusedPrompt);
          assert.ok(Math.abs(v.score - m.score!) < SCORE_ROUNDING, `verdict score ${k}: ${m.score} vs fresh ${v.score}`);
          const relevant = variant === "fused" ? m.score! >= 0.5 : k % 2 === 0;
          assert.deepEqual(classified.find((e) => e.segment === k), { type: "margin-classified", runId: s.runId, segment: k, relevant, score: m.score, confident: relevant && m.score! >= verdict.CONFIDENT });
          if (!relevant) {
            assert.deepEqual(m.margin, [], `an irrelevant margin ${k} stops at its verdict`);
            assert.equal(s.margins[k]!.text, "");
            continue;
          }
          assert.deepEqual(m.prompt.slice(0, fusedPrompt.length), fusedPrompt, `a relevant margin ${k} goes on after its "yes"`);
          await referee.part([...m.before, ...fusedPrompt], [], m.prompt.slice(fusedPrompt.length), v.yes, `margin ${k}'s "yes"`);
          prompt = m.prompt;
        }
        assert.equal(m.margin.length, MARGIN);
        await assertSinglePass(fresh.sequence, m.before, prompt, MARGIN, m.margin, `margin ${k}`);
      }
      if (variant === "fused, alternating judge") {
        assert.deepEqual(of(events, "answer-started")[0]!.marginIds, plan.segments.map((_, i) => i).filter((i) => i % 2 === 0), "only the relevant margins reach the answer");
      }
      const a = s.trace.answers[0]!;
      assert.deepEqual(a.context, expectedPrefix(plan.segments.length - 1), "the answer sees every segment and no margin");
      const kept = of(events, "answer-started")[0]!.marginIds.map((id) => ({ segment: id, text: s.margins[id]!.text }));
      const reader = engine.chatParts(prompts.READER_SYSTEM);
      assert.deepEqual(a.prompt, [...engine.tokenizeText(prompts.answerPrompt(kept, QUESTION)), ...reader.suffix]);
      await assertSinglePass(fresh.sequence, a.context, a.prompt, ANSWER, a.answer, "answer");
    } finally {
      await fresh.dispose();
    }
    // Streamed text adds up to the margins and the answer.
    const margins = of(events, "margin-done").map((e) => e.text);
    for (const [k, text] of margins.entries()) {
      assert.equal(of(events, "margin-token").filter((e) => e.segment === k).map((e) => e.text).join(""), text);
    }
    assert.equal(of(events, "answer-token").map((e) => e.text).join(""), done.answer);
    assert.ok(events.every((e) => e.runId === s.runId));
    if (variant === "fused") reference = { margins, answer: done.answer };
  });
}

test("margins carry their segment's sources, and citations only of lines in that segment", async () => {
  const s = session({ classify: "off" });
  const events = await collect(s.run());
  for (const e of of(events, "margin-done")) {
    assert.deepEqual(e.sources, plan.segments[e.segment]!.sources.map((p) => ({ path: p.path, startLine: p.startLine, endLine: p.endLine })));
    for (const c of e.citations) assert.ok(e.sources.some((src) => src.path === c.path && c.line >= src.startLine && c.line <= src.endLine));
  }
});

test("classification shares decode batches with the next segment's prefill", async () => {
  batches.length = 0;
  await collect(session({ classify: "separate" }).run());
  const shared = batches.filter((b) => b.length >= 2);
  assert.ok(shared.length >= plan.segments.length - 1, `batches with two sequences: ${shared.length}`);
  batches.length = 0;
  await collect(session({ classify: "off" }).run());
  assert.equal(batches.filter((b) => b.length >= 2).length, 0, "without a classifier no batch holds two sequences");
});

test("answer now after margin k reads no further segment and answers from margins 0..k only", async () => {
  const s = session({ classify: "off" });
  const events = await collect(s.run(), (e) => { if (e.type === "margin-done" && e.segment === 1) s.answerNow(); });
  const done = of(events, "done")[0]!;
  assert.equal(done.stoppedBy, "answer-now");
  assert.equal(done.segmentsRead, 2);
  assert.deepEqual(of(events, "segment-progress").map((e) => e.segment), [0, 1]);
  assert.deepEqual(of(events, "answer-started")[0]!.marginIds, [0, 1]);
  assert.deepEqual(s.trace.answers[0]!.context, expectedPrefix(1));
});

test("a rejected margin is absent from the answer prompt; re-answer does not read the codebase again", async () => {
  const s = session({ classify: "off" });
  const first = await collect(s.run());
  assert.deepEqual(of(first, "answer-started")[0]!.marginIds, plan.segments.map((_, i) => i));
  // The session says its state: after the answer nothing is stale; a rejection makes it so.
  const settled = of(first, "kept-changed").at(-1)!;
  assert.deepEqual({ kept: settled.kept, rejected: settled.rejected, stale: settled.stale }, { kept: plan.segments.map((_, i) => i), rejected: [], stale: false });
  const rejected = s.setRejected(2, true);
  assert.deepEqual(rejected.type === "kept-changed" && { kept: rejected.kept.includes(2), rejected: rejected.rejected, stale: rejected.stale }, { kept: false, rejected: [2], stale: true });
  const restoredState = s.setRejected(2, false);
  assert.ok(restoredState.type === "kept-changed" && !restoredState.stale, "restoring makes the answer current again");
  s.setRejected(2, true);
  const evaluatedBefore = engine.evaluatedTokens;
  const again = await collect(s.reanswer());
  const evaluated = engine.evaluatedTokens - evaluatedBefore;
  const started = of(again, "answer-started")[0]!;
  assert.ok(!started.marginIds.includes(2));
  assert.deepEqual(s.answerMarginIds, started.marginIds);
  const codebaseTokens = of(first, "run-started")[0]!.tokens;
  assert.ok(evaluated <= started.promptTokens + ANSWER, `re-answer evaluated ${evaluated} tokens, codebase is ${codebaseTokens}`);
  const a = s.trace.answers[1]!;
  assert.deepEqual(a.context, expectedPrefix(plan.segments.length - 1), "re-answer appends to the same codebase context");
  assert.equal(of(again, "kept-changed").at(-1)!.stale, false, "the re-answer is current");
  const kept = started.marginIds.map((id) => ({ segment: id, text: s.margins[id]!.text }));
  assert.ok(!kept.some((m) => m.segment === 2));
  assert.deepEqual(a.prompt, [...engine.tokenizeText(prompts.answerPrompt(kept, QUESTION)), ...engine.chatParts(prompts.READER_SYSTEM).suffix]);
  s.setRejected(2, false);
  const restored = await collect(s.reanswer());
  assert.deepEqual(of(restored, "answer-started")[0]!.marginIds, plan.segments.map((_, i) => i));
});

for (const phase of ["prefill", "margin", "answer"] as const) {
  test(`an abort during ${phase} stops the run, and the next run on the same engine is exact`, async () => {
    assert.ok(reference, "needs the exactness test's reference run");
    const controller = new AbortController();
    const s = session({ signal: controller.signal });
    const trigger = (e: WimEvent): boolean =>
      phase === "prefill" ? e.type === "run-started" : phase === "margin" ? e.type === "margin-token" && e.segment === 1 : e.type === "answer-token";
    const events = await collect(s.run(), (e) => { if (trigger(e)) controller.abort(); });
    const done = of(events, "done")[0]!;
    assert.equal(done.stoppedBy, "aborted");
    if (phase !== "answer") assert.equal(of(events, "answer-started").length, 0);
    if (phase === "prefill") assert.equal(of(events, "margin-done").length, 0);
    const next = await collect(session().run());
    assert.deepEqual(of(next, "margin-done").map((e) => e.text), reference!.margins);
    assert.equal(of(next, "done")[0]!.answer, reference!.answer);
  });
}

test("an abort while loading the model rejects with an AbortError", async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(openLlamaEngine({ modelPath: testModelPath("tiny"), gpu: "cpu", signal: controller.signal }), { name: "AbortError" });
});

test("file text never becomes control tokens in the prompt", () => {
  const seg = plan.segments.find((s) => s.text.includes("<|im_end|>"))!;
  const ids = segmentChunks(seg).flatMap((c) => engine.tokenizeText(c));
  assert.ok(ids.every((id) => id > 5), "control tokens are ids 0-5 in the test vocabulary");
  const parts = engine.chatParts(prompts.READER_SYSTEM);
  assert.ok(parts.prefix.includes(3) && parts.suffix.includes(4), "the template's own <|im_start|> / <|im_end|> are control tokens");
});

test("a model without a chat template runs with a plain fallback format", async () => {
  const plain = await openLlamaEngine({ modelPath: testModelPath("tiny", { chatTemplate: null }), gpu: "cpu", threads: 1 });
  try {
    const parts = plain.chatParts(prompts.READER_SYSTEM);
    assert.ok(plain.detokenize(parts.prefix).includes(prompts.READER_SYSTEM));
    assert.ok(!parts.prefix.includes(3) && !parts.suffix.includes(4));
    const s = new WimSession(plain, { segments: plan.segments.slice(0, 2), files: 2 }, QUESTION, { marginTokens: 4, answerTokens: 4 });
    const events = await collect(s.run());
    assert.equal(of(events, "done")[0]!.stoppedBy, "finished");
  } finally {
    await plain.dispose();
  }
});

test("a segment that cannot fit the model's context beside the prompts is refused with a clear message", async () => {
  const small = join(dir.path, "small-context.gguf");
  writeTestModel(small, { shape: { layers: 1, embd: 64, heads: 4, kvHeads: 2, ffn: 128, vocab: 2048, context: 1024, type: 0 } });
  const smallEngine = await openLlamaEngine({ modelPath: small, gpu: "cpu", threads: 1 });
  try {
    // Segments of up to 1,500 tokens: the largest cannot sit in 1,024 beside the prompts.
    const large = await planCodebase([dir.path], { segmentTokens: 1500, countTokens: (t) => smallEngine.tokenizeText(t).length });
    assert.ok(Math.max(...large.segments.map((x) => x.tokens)) > 1024, "the fixture makes a segment larger than the context");
    const events = await collect(new WimSession(smallEngine, { segments: large.segments, files: large.files.length }, QUESTION).run());
    const error = of(events, "error")[0];
    assert.ok(error, "an error event");
    assert.match(error.message, /needs [\d,]+ tokens of context, the model holds 1,024/);
    assert.equal(error.setting, "segmentTokens", "it names the setting to change");
    assert.equal(of(events, "run-started").length, 0, "refused before reading");
  } finally {
    await smallEngine.dispose();
  }
});

test("an empty question is refused", () => {
  assert.throws(() => new WimSession(engine, { segments: plan.segments, files: 1 }, "   "), /empty/);
});

test("a 100 KB question is refused with its length, before anything is read", async () => {
  const long = "why ".repeat(25_000);
  const events = await collect(new WimSession(engine, { segments: plan.segments, files: 1 }, long).run());
  const error = of(events, "error")[0];
  assert.match(error?.message ?? "", /^the question is too long: [\d,]+ tokens, at most 2,048$/);
  assert.equal(of(events, "run-started").length, 0);
});

test("a truncated or corrupt model file is refused with a one-line reason", async () => {
  const { readFileSync, writeFileSync } = await import("node:fs");
  const whole = readFileSync(testModelPath("tiny"));
  const truncated = join(dir.path, "truncated.gguf");
  writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 3)));
  await assert.rejects(openLlamaEngine({ modelPath: truncated, gpu: "cpu", threads: 1 }), (err: Error) => {
    assert.equal(err.name, "ModelFileError");
    assert.match(err.message, /^the model file is damaged .*cut short.*truncated\.gguf$/);
    return true;
  });
  const garbage = join(dir.path, "garbage.gguf");
  writeFileSync(garbage, Buffer.concat([Buffer.from("GGUF"), Buffer.from([3, 0, 0, 0]), Buffer.alloc(64, 0xff)]));
  await assert.rejects(openLlamaEngine({ modelPath: garbage, gpu: "cpu", threads: 1 }), { name: "ModelFileError" });
  // The engine already open is unharmed.
  const events = await collect(session({ classify: "off" }).run());
  assert.equal(of(events, "done")[0]!.stoppedBy, "finished");
});

test("a codebase larger than the context is read in windows: exact within each, the answer sees the last window and every margin", async () => {
  const s = session({ classify: "off", contextTokens: 1500 });
  const events = await collect(s.run());
  assert.deepEqual(of(events, "error"), []);
  const started = of(events, "run-started")[0]!;
  assert.ok(started.windows >= 2, `${started.windows} windows`);
  const windowStarts = of(events, "window-started");
  assert.equal(windowStarts.length, started.windows - 1);
  const firstOf = (k: number): number => [0, ...windowStarts.map((w) => w.firstSegment)].filter((f) => f <= k).at(-1)!;
  assert.equal(s.trace.margins.length, plan.segments.length, "every segment still gets its margin");
  const fresh = await engine.freshSequence(2048);
  try {
    for (const [k, m] of s.trace.margins.entries()) {
      assert.deepEqual(m.before, expectedPrefix(k, firstOf(k)), `margin ${k} sees its own window only`);
      assert.ok(m.before.length + m.prompt.length + MARGIN <= 1500);
      await assertSinglePass(fresh.sequence, m.before, m.prompt, MARGIN, m.margin, `margin ${k}`);
    }
    const a = s.trace.answers[0]!;
    const last = plan.segments.length - 1;
    assert.deepEqual(a.context, expectedPrefix(last, firstOf(last)), "the answer sees the last window");
    assert.deepEqual(of(events, "answer-started")[0]!.marginIds, plan.segments.map((_, i) => i), "and every margin");
    await assertSinglePass(fresh.sequence, a.context, a.prompt, ANSWER, a.answer, "answer");
  } finally {
    await fresh.dispose();
  }
});

test("with more kept margins than the context holds beside the codebase, the answer cuts the codebase first, then drops the weakest, and says so", async () => {
  const small = await planCodebase([dir.path], { segmentTokens: 64, countTokens: (t) => engine.tokenizeText(t).length });
  const s = new WimSession(engine, { segments: small.segments, files: small.files.length }, QUESTION, { marginTokens: 8, answerTokens: 8, contextTokens: 500, trace: true, classify: "separate", judge: () => true });
  const events = await collect(s.run());
  assert.deepEqual(of(events, "error"), []);
  const kept = s.keptMarginIds();
  const started = of(events, "answer-started")[0]!;
  const used = started.marginIds;
  // Nothing is left out silently: every kept margin is in the prompt or named as dropped.
  assert.deepEqual([...used, ...started.dropped.map((d) => d.segment)].sort((a, b) => a - b), kept);
  assert.ok(started.dropped.length > 0 && started.dropped.every((d) => /no room/.test(d.reason)), JSON.stringify(started.dropped));
  assert.deepEqual(started.codebaseCut?.kept, 0, "the codebase made room first, all of it");
  const scoreOf = (id: number): number => s.margins[id]!.score ?? 0.5;
  const weakestUsed = Math.min(...used.map(scoreOf));
  assert.ok(started.dropped.every((d) => scoreOf(d.segment) <= weakestUsed), "no dropped margin scored above one used");
  const a = s.trace.answers[0]!;
  assert.ok(a.context.length + a.prompt.length + 8 <= 500);
});

test("a context too large for memory is refused with the sizes, not attempted", async () => {
  // A model that claims a 200M-token context: 60M tokens of KV cache for two sequences (~30 GB) fit in no memory here.
  const huge = join(dir.path, "huge-context.gguf");
  writeTestModel(huge, { shape: { layers: 2, embd: 64, heads: 4, kvHeads: 2, ffn: 128, vocab: 2048, context: 200_000_000, type: 0 } });
  const big = await openLlamaEngine({ modelPath: huge, gpu: "cpu", threads: 1 });
  try {
    await assert.rejects(big.prepare({ tokensPerSequence: 60_000_000, sequences: 2 }), (err: Error) => {
      assert.match(err.message, /^a context of 60,000,000 tokens for 2 sequences does not fit in memory beside the model: narrow the scope/);
      return true;
    });
    // Still usable at a size that fits.
    const [seq] = await big.prepare({ tokensPerSequence: 512, sequences: 1 });
    await seq!.append(big.tokenizeText("still here\n"));
    assert.ok(seq!.length > 0);
  } finally {
    await big.dispose();
  }
});

test("margins that come back longer when re-tokenized never overflow the context: the codebase makes room, no margin is lost", async () => {
  // Found in the end-to-end run: 49 margins of 48 tokens, every one judged relevant, grew past the
  // room set aside for them once labelled and re-tokenized, and the answer hit "the context is full".
  const many = tempDir();
  try {
    // Eleven files: their last window holds 14 segments, too many beside every margin (twelve
    // leave a last window that needs no cut, and the test's premise below says so).
    for (let f = 0; f < 11; f++) {
      let text = "";
      for (let i = 1; i <= 24; i++) text += `export function part${f}_${i}(value: number): number {\n  return value * ${i} + ${f}; // step ${i}\n}\n`;
      writeTree(many.path, { [`src/module${String(f).padStart(2, "0")}.ts`]: text });
    }
    writeTree(many.path, { "src/<img src=x onerror=alert(1)>.ts": "export const evil = 1;\n" });
    const p = await planCodebase([many.path], { segmentTokens: 256, countTokens: (t) => engine.tokenizeText(t).length });
    const s = new WimSession(engine, { segments: p.segments, files: p.files.length }, "Where is the retry delay computed?", { marginTokens: 48, answerTokens: 32, judge: () => true, trace: true, contextTokens: 4096 });
    const events = await collect(s.run());
    assert.deepEqual(of(events, "error"), []);
    const started = of(events, "run-started")[0]!;
    const answer = of(events, "answer-started")[0]!;
    assert.deepEqual(answer.marginIds, s.keptMarginIds(), "every kept margin is in the answer");
    assert.deepEqual(answer.dropped, []);
    assert.ok(answer.codebaseCut && answer.codebaseCut.kept < answer.codebaseCut.of, "the end of the codebase made room: this case must need it");
    const a = s.trace.answers[0]!;
    assert.ok(a.context.length + a.prompt.length + 32 <= started.contextSize, "prompt and answer fit the context prepared");
    assert.equal(of(events, "done")[0]!.stoppedBy, "finished");
    // A re-answer starts from the same codebase end, and is exact.
    const again = await collect(s.reanswer());
    assert.deepEqual(s.trace.answers[1]!.context, a.context);
    assert.equal(of(again, "done")[0]!.answer, of(events, "done")[0]!.answer);
  } finally {
    many.dispose();
  }
});

test("a model larger than this machine's memory is refused before it loads, with both sizes", async () => {
  // A llama of 8192-wide layers, as many as make it 1.5 times this machine's memory; written hollow
  // (a sparse file), so it costs no disk. llama.cpp would map it and read it from disk at every token.
  const perLayer = ((2 * 8192 * 8192 + 2 * 8192 * 1024 + 3 * 8192 * 28672) / 32) * 34;
  const layers = Math.ceil((1.5 * (await import("node:os")).totalmem()) / perLayer);
  const huge = join(dir.path, "huge-model.gguf");
  writeTestModel(huge, { hollow: true, shape: { layers, embd: 8192, heads: 64, kvHeads: 8, ffn: 28672, vocab: 32000, context: 4096, type: TensorType.Q8_0 } });
  await assert.rejects(openLlamaEngine({ modelPath: huge, gpu: "cpu", threads: 1 }), (err: Error) => {
    assert.equal(err.name, "ModelFileError");
    assert.match(err.message, /^the model huge-model\.gguf is [\d.]+ GiB, more than this machine's [\d.]+ GiB of memory: it would run from disk, far too slowly\. Use a smaller or more quantised model, or a GPU with room for it\.$/);
    return true;
  });
});
