// Verdict probabilities, read cheaply (every candidate's logit lifted by the same amount, then
// top-k), against the whole next-token distribution node-llama-cpp computes on its own.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import type { Token as LlamaToken } from "node-llama-cpp";
import * as verdict from "../../src/core/wim/verdict";
import { loadLlama } from "../../src/engine/llama/runtime";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { testModelPath } from "../support/models";

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
