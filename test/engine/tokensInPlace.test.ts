// node-llama-cpp 3.21.1 copies a sequence's whole token list on every decode; the engine swaps in a
// list it appends to in place (engine/llama/tokensInPlace.ts). On a real model and a real
// node-llama-cpp: the copy is gone (the sequence keeps one list while it decodes), and nothing the
// engine does with a sequence (reading, generating with and without prompt lookup, erasing, a
// verdict, saving and loading a state, a fresh history) gives other tokens or another token list
// than node-llama-cpp's own copy does (ASK_CODEBASE_TOKENS_IN_PLACE=off).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { EngineSequence, Token } from "../../src/core/wim/engine";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { tempDir, withEnv } from "../support/fixtures";
import { testModelPath } from "../support/models";

const dir = tempDir();
after(() => dir.dispose());

/** node-llama-cpp's own sequence under the engine's, and the list it keeps the tokens in. */
const listOf = (seq: EngineSequence): unknown => (seq as unknown as { seq: { _contextTokens: unknown } }).seq._contextTokens;

interface Trace { steps: [string, Token[]][]; sameListWhileDecoding: boolean[]; shapeSays?: boolean }

async function withEngine<T>(inPlace: boolean, promptLookup: boolean, body: (engine: LlamaEngine) => Promise<T>): Promise<T> {
  return withEnv({ ASK_CODEBASE_TOKENS_IN_PLACE: inPlace ? undefined : "off" }, async () => {
    const engine = await openLlamaEngine({ modelPath: testModelPath("tiny"), gpu: "cpu", threads: 1, promptLookup });
    try {
      return await body(engine);
    } finally {
      await engine.dispose();
    }
  });
}

async function exercise(engine: LlamaEngine, stateFile: string): Promise<Trace> {
  const trace: Trace = { steps: [], sameListWhileDecoding: [] };
  const step = (name: string, seq: EngineSequence, extra: Token[] = []): void => {
    trace.steps.push([name, [...seq.tokens, ...extra]]);
  };
  let text = "";
  for (let i = 0; text.length < 4000; i++) text += `export function step${i}(x: number): number { return x * ${i % 13} + ${i}; }\n`;
  const codebase = engine.tokenizeText(text);
  const prompt = engine.tokenizeText("\nExtract what is relevant to: where is step7 defined?\n");
  let [seq] = await engine.prepare({ tokensPerSequence: codebase.length + 512, sequences: 1 });
  trace.shapeSays = engine.shape.tokensInPlace;

  const generate = async (name: string): Promise<void> => {
    const list = listOf(seq!);
    const out: Token[] = [];
    for await (const token of seq!.generate(prompt, { maxTokens: 24, copyFrom: codebase })) out.push(token);
    trace.sameListWhileDecoding.push(listOf(seq!) === list);
    step(name, seq!, out);
  };

  await seq!.append(codebase);
  step("read", seq!);
  const read = seq!.length;
  await generate("margin");
  await seq!.truncate(read);
  step("erased", seq!);
  const scores = await seq!.nextTokenProbabilities!(prompt, engine.tokenizeText(" yes no"));
  step("verdict", seq!, scores.map((p) => Math.round(p * 1e6)));
  await seq!.truncate(read);
  await seq!.saveState!(stateFile);
  await generate("after saving");
  await seq!.loadState!(stateFile);
  step("loaded", seq!);
  await generate("after loading");
  [seq] = await engine.prepare({ tokensPerSequence: codebase.length + 512, sequences: 1 });
  step("fresh", seq!);
  await seq!.append(codebase.slice(0, 300));
  await generate("fresh margin");
  return trace;
}

for (const promptLookup of [false, true]) {
  test(`the sequence keeps one token list while it decodes, and every step matches node-llama-cpp's copy${promptLookup ? " (prompt lookup)" : ""}`, async () => {
    const copied = await withEngine(false, promptLookup, (e) => exercise(e, join(dir.path, `copy-${promptLookup}.state`)));
    const inPlace = await withEngine(true, promptLookup, (e) => exercise(e, join(dir.path, `in-place-${promptLookup}.state`)));
    // Without the swap node-llama-cpp replaces the list on every decode: what this test tells apart.
    assert.deepEqual(copied.sameListWhileDecoding, [false, false, false, false]);
    assert.deepEqual(inPlace.sameListWhileDecoding, [true, true, true, true]);
    assert.equal(copied.shapeSays, false);
    assert.equal(inPlace.shapeSays, true);
    assert.deepEqual(inPlace.steps.map(([name]) => name), copied.steps.map(([name]) => name));
    for (const [i, [name, tokens]] of inPlace.steps.entries()) assert.deepEqual(tokens, copied.steps[i]![1], `${name}: the tokens differ`);
    const [, read] = inPlace.steps[0]!;
    assert.ok(read.length > 800, `read ${read.length} tokens`);
    assert.deepEqual(inPlace.steps.find(([name]) => name === "fresh")![1], []);
    assert.deepEqual(inPlace.steps.find(([name]) => name === "loaded")![1], read);
    const margin = inPlace.steps.find(([name]) => name === "margin")![1];
    assert.ok(margin.length > read.length + 20, "the margin generated tokens");
  });
}
