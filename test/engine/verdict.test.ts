// Verdict probabilities, read cheaply (every candidate's logit lifted by the same amount, then
// top-k), against the whole next-token distribution node-llama-cpp computes on its own.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import type { Token as LlamaToken } from "node-llama-cpp";
import * as verdict from "../../src/core/wim/verdict";
import { loadLlama } from "../../src/engine/llama/runtime";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { join } from "node:path";
import { planCodebase } from "../../src/core/plan";
import { WimSession } from "../../src/core/wim/session";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { writeTestModel } from "../support/testModel";

let engine: LlamaEngine | undefined;
after(async () => { await engine?.dispose(); });

test("candidates' probabilities keep the ratios of the full distribution, for tokens the model ranks high or low", async () => {
  const modelPath = testModelPath("tiny");
  engine = await openLlamaEngine({ modelPath, gpu: "cpu", threads: 1 });
  const model = await (await loadLlama("cpu")).loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 2048, threads: 1 });
  try {
    const reference = context.getSequence();
    const [seq] = await engine.prepare({ tokensPerSequence: 2048, sequences: 1 });
    const v = verdict.verdictTokens(engine);
    for (const text of ["Is this relevant? Answer yes or no.\n", "export function retry(attempt: number) { return attempt * 2; }\nRelevant?", "x"]) {
      const prompt = engine.tokenizeText(text);
      const full = await reference.controlledEvaluate([...prompt.slice(0, -1), [prompt.at(-1)!, { generateNext: { probabilities: true } }]] as never);
      const distribution = full.at(-1)!.next!.probabilities!;
      await reference.clearHistory();
      // The verdict's candidates, plus the tokens the model finds least likely here.
      const ranked = [...distribution.entries()].sort((a, b) => a[1] - b[1]);
      const candidates = [...verdict.candidates(v), ...ranked.slice(0, 3).map(([t]) => t)];
      const ours = await seq!.nextTokenProbabilities(prompt, candidates);
      await seq!.truncate(0);
      const theirs = candidates.map((c) => distribution.get(c as LlamaToken) ?? 0);
      const norm = (p: number[]): number[] => { const s = p.reduce((a, b) => a + b, 0); return p.map((x) => x / s); };
      const [a, b] = [norm(ours), norm(theirs)];
      for (const [i, c] of candidates.entries()) {
        assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-4 * Math.max(1, b[i]! * 100), `token ${c} in "${text}": ${a[i]} vs ${b[i]}`);
        if (b[i]! > 0) assert.ok(Math.abs(a[i]! / b[i]! - 1) < 1e-3, `token ${c}: relative ${a[i]! / b[i]!}`);
      }
      assert.ok(Math.abs(verdict.score(v, ours) - verdict.score(v, theirs)) < 1e-5);
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
});

test("a vocabulary that splits \"yes\" (y + es): a relevant fused margin goes on after the whole word and shows none of it", async () => {
  // A model scripted to write "es: b = 7." after anything else: what a model trained to answer
  // "yes: ..." writes after its first token "y". Continued from "y" alone, the margin showed "es: b = 7.".
  const dir = tempDir();
  const script = ["es", ":", " b", " =", " 7."];
  const model = join(dir.path, "split-yes.gguf");
  writeTestModel(model, { shape: "tiny", seed: 3, script });
  writeTree(dir.path, { "repo/src/a.ts": "export const a = 1;\nexport const b = a * 7;\n" });
  const split = await openLlamaEngine({ modelPath: model, gpu: "cpu", threads: 1 });
  try {
    const v = verdict.verdictTokens(split);
    const yes = split.tokenizeText("yes");
    assert.ok(yes.length > 1 && v.yesWords.some((w) => w.join() === yes.join()), `"yes" spans ${yes.length} tokens here, and is kept whole`);
    const plan = await planCodebase([join(dir.path, "repo")], { segmentTokens: 64, countTokens: (t) => split.tokenizeText(t).length });
    const session = new WimSession(split, { segments: plan.segments, files: plan.files.length }, "What is b?",
      { marginTokens: 8, answerTokens: 8, classify: "fused", judge: () => true, trace: true });
    const margins: string[] = [];
    for await (const e of session.run()) if (e.type === "margin-done") margins.push(e.text);
    assert.ok(margins.length >= 1);
    for (const m of margins) assert.equal(m.trim(), "b = 7.", "the margin is what follows the verdict word");
    assert.ok(session.trace.margins.length >= 1);
    for (const t of session.trace.margins) assert.deepEqual(t.prompt.slice(-yes.length), v.yesWords.find((w) => t.prompt.slice(-w.length).join() === w.join()), "the prompt ends with a whole yes");
  } finally {
    await split.dispose();
    dir.dispose();
  }
});
