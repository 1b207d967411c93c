// The answer-fidelity benchmark's own parts (bench/fidelity): the synthetic task and its gold, the
// training examples' tree, and trained weights going into GGUF through the project's writer.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildExample, packTask, replyParts, WEIGHT } from "../../bench/fidelity/examples";
import { functionsIn, goldAnswer, goldMargins, makeTask, type Task } from "../../bench/fidelity/task";
import { readWeights } from "../../bench/fidelity/writeWeights";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { tempDir } from "../support/fixtures";
import { TensorType } from "../support/gguf";
import { f32ToF16, rng, SHAPES, writeTestModel } from "../support/testModel";

const dir = tempDir();
let engine: LlamaEngine;
before(async () => {
  const model = join(dir.path, "vocab.gguf");
  writeTestModel(model, { shape: "fidelity" });
  engine = await openLlamaEngine({ modelPath: model, gpu: "cpu", threads: 1 });
});
after(async () => { await engine.dispose(); dir.dispose(); });

const lineOf = (task: Task, path: string, line: number): string => task.files.find((f) => f.path === path)!.text.split("\n")[line - 1]!;

test("a task's answer is where it says: the definition line holds the value, two hops go through a function in another file", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const task = makeTask({ seed, chars: 4000, hops: seed % 2 ? 1 : 2 });
    assert.equal(lineOf(task, task.at.path, task.at.line).trim(), task.definition.text);
    assert.match(task.definition.text, new RegExp(`= ${task.value.replace(/[.*+?^${}()|[\]\\"]/g, "\\$&")};?$`));
    const name = task.definition.text.match(/([A-Z][A-Z0-9_]+) =/)![1]!;
    if (task.hops === 1) assert.ok(task.question.includes(name), task.question);
    else {
      assert.notEqual(task.via!.path, task.definition.path);
      assert.equal(lineOf(task, task.via!.path, task.via!.line).trim(), task.via!.text);
      assert.match(task.via!.text, new RegExp(`return ${name};?$`));
      assert.ok(!task.question.includes(name), "a two-hop question names the function, not the constant");
    }
    // The name is defined once: a decoy shares words with it but never the whole name.
    const definitions = task.files.flatMap((f) => f.text.split("\n")).filter((l) => new RegExp(`\\b${name} =`).test(l));
    assert.equal(definitions.length, 1, `${name} defined once`);
  }
  assert.deepEqual(makeTask({ seed: 7, chars: 3000 }), makeTask({ seed: 7, chars: 3000 }), "a seed is a codebase");
  assert.notDeepEqual(makeTask({ seed: 7, chars: 3000 }).files, makeTask({ seed: 8, chars: 3000 }).files);
});

test("gold margins: the definition's segment (1 hop); the function's, and the constant's only after it in the same window (2 hops)", () => {
  let checked = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const task = makeTask({ seed, chars: 6000, hops: seed % 2 ? 1 : 2 });
    const { segments, placed } = packTask(engine, task, 256);
    const at = (fact: Task["definition"]): number => placed.find((p) => p.fact === fact)!.segment;
    const gold = goldMargins(task, placed, segments.length, () => 0);
    assert.ok(segments[at(task.definition)]!.text.includes(task.definition.text));
    const relevant = gold.flatMap((g, k) => (g ? [k] : []));
    if (task.hops === 1) { assert.deepEqual(relevant, [at(task.definition)]); continue; }
    const fn = at(task.via!), def = at(task.definition);
    assert.deepEqual(relevant, [...new Set(fn <= def ? [fn, def] : [fn])].sort((a, b) => a - b));
    // Each segment its own window (map-reduce): the constant alone is never known to matter, so
    // only the function's segment is relevant (it holds the constant too when they share one).
    assert.deepEqual(goldMargins(task, placed, segments.length, (k) => k).flatMap((g, k) => (g ? [k] : [])), [fn]);
    checked++;
  }
  assert.ok(checked >= 20);
});

test("answers open with the claim and cite after it; the value and the cited lines are the lookups", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const task = makeTask({ seed, chars: 3000, hops: seed % 2 ? 1 : 2 });
    const answer = goldAnswer(task);
    const name = task.definition.text.match(/([A-Z][A-Z0-9_]+) =/)![1]!;
    assert.ok(answer.includes(`${name} = ${task.value} (${task.at.path}:${task.at.line})`), answer);
    if (task.hops === 2) {
      const fn = functionsIn(task.files).find((f) => f.fact.path === task.via!.path && f.fact.line === task.via!.line);
      assert.equal(fn?.returns, name, "the function found is the one that returns the constant");
      assert.ok(answer.startsWith(`${fn!.name} returns ${name} (${task.via!.path}:${task.via!.line}); `), answer);
    }
    const parts = replyParts(engine, answer, 4);
    const lookups = parts.filter((p) => p.weight === WEIGHT.lookup).map((p) => engine.detokenize(p.tokens).trim());
    const unquoted = task.value.replace(/^"|"$/g, "");
    assert.ok(lookups.some((l) => l.includes(unquoted)), `the value is a lookup: ${JSON.stringify(lookups)}`);
    assert.ok(lookups.includes(String(task.at.line)), `the cited line is a lookup: ${JSON.stringify(lookups)}`);
    assert.ok(!lookups.some((l) => l.includes(name)), "the name, copied from the question, is not");
    assert.deepEqual(parts.flatMap((p) => p.tokens).slice(0, -1), engine.tokenizeText(answer), "the reply's tokens are the answer's, in order");
  }
});

test("a training example is a tree: the trunk in order, branches from where they leave it, replies learned and ended", () => {
  for (let seed = 1; seed <= 12; seed++) {
    const { example: e } = buildExample(engine, { seed, chars: 3000, segmentTokens: 256 });
    const n = e.tokens.length;
    for (const k of ["positions", "branches", "weights", "isolated"] as const) assert.equal(e[k].length, n);
    let trunk = 0;
    const start = new Map<number, { index: number; position: number; trunkBefore: number }>();
    for (let i = 0; i < n; i++) {
      const b = e.branches[i]!;
      if (b === 0) { assert.equal(e.positions[i], trunk++); assert.equal(e.isolated[i], 0); assert.ok(e.weights[i]! < WEIGHT.reply); continue; }
      if (!start.has(b)) start.set(b, { index: i, position: e.positions[i]!, trunkBefore: trunk });
      const s = start.get(b)!;
      assert.equal(e.positions[i], s.position + (i - s.index), "a branch's positions run on");
    }
    assert.ok(start.size >= 2, "a margin and an answer at least");
    for (const [b, s] of start) {
      assert.equal(s.position, e.isolated[s.index] ? 0 : s.trunkBefore, `branch ${b} starts where it leaves the trunk`);
      const idx = e.branches.flatMap((x, i) => (x === b ? [i] : []));
      const reply = idx.filter((i) => e.weights[i]! >= WEIGHT.reply);
      assert.ok(reply.length > 0 && reply.at(-1) === idx.at(-1), "a branch ends with its reply");
      assert.ok(engine.isEndOfGeneration(e.tokens[idx.at(-1)!]!), "a reply ends with end of turn");
    }
  }
});

test("margins teach yes as often as no: each segment is also asked about what it answers, and the verdict word is weighted apart", () => {
  let yes = 0, no = 0, withExtra = 0, without = 0;
  for (let seed = 1; seed <= 16; seed++) {
    const chars = 3000, segmentTokens = 256;
    const words = (ex: ReturnType<typeof buildExample>["example"]) => {
      const said = { yes: 0, no: 0 };
      for (let i = 0; i < ex.tokens.length; i++) {
        const w = ex.weights[i]!;
        if (w !== WEIGHT.verdictYes && w !== WEIGHT.verdictNo) continue;
        let end = i;
        while (ex.weights[end + 1] === w && ex.branches[end + 1] === ex.branches[i]) end++;
        const word = w === WEIGHT.verdictYes ? "yes" : "no";
        assert.equal(engine.detokenize(ex.tokens.slice(i, end + 1)).trim(), word, "the verdict's tokens spell its word");
        said[word]++;
        i = end;
      }
      return said;
    };
    const { example } = buildExample(engine, { seed, chars, segmentTokens });
    const plain = buildExample(engine, { seed, chars, segmentTokens, extraMargins: 0 }).example;
    const a = words(example), b = words(plain);
    yes += a.yes; no += a.no;
    withExtra += a.yes; without += b.yes;
    assert.ok(a.yes + a.no > b.yes + b.no, "extra margins add verdicts");
  }
  assert.ok(yes / (yes + no) > 0.3 && yes / (yes + no) < 0.7, `yes ${yes}, no ${no}`);
  assert.ok(withExtra > 3 * without, `yes with extra margins ${withExtra}, without ${without}`);
});

test("trained weights go into GGUF as given: a model with empty layers and a tied output repeats its last token", async () => {
  // With every layer's projections zero, the output is the normed embedding against the (tied)
  // embedding: each token's own row scores highest. A random model, or weights put in the wrong
  // place or order, would not repeat.
  const s = SHAPES.fidelity;
  const r = rng(3);
  const shapes: [string, number[]][] = [["token_embd.weight", [s.vocab, s.embd]], ["output_norm.weight", [s.embd]]];
  for (let l = 0; l < s.layers; l++) {
    shapes.push([`blk.${l}.attn_norm.weight`, [s.embd]], [`blk.${l}.ffn_norm.weight`, [s.embd]]);
    for (const [name, dims] of [["attn_q", [s.embd, s.embd]], ["attn_k", [s.kvHeads * (s.embd / s.heads), s.embd]], ["attn_v", [s.kvHeads * (s.embd / s.heads), s.embd]],
      ["attn_output", [s.embd, s.embd]], ["ffn_gate", [s.ffn, s.embd]], ["ffn_up", [s.ffn, s.embd]], ["ffn_down", [s.embd, s.ffn]]] as const) shapes.push([`blk.${l}.${name}.weight`, [...dims]]);
  }
  const tensors: { name: string; shape: number[]; offset: number }[] = [];
  const halves: number[] = [];
  for (const [name, shape] of shapes) {
    tensors.push({ name, shape, offset: halves.length * 2 });
    const n = shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) halves.push(f32ToF16(name.endsWith("norm.weight") ? 1 : name === "token_embd.weight" ? r() - 0.5 : 0));
  }
  const weightsDir = join(dir.path, "trained");
  mkdirSync(weightsDir);
  writeFileSync(join(weightsDir, "weights.f16"), Buffer.from(Uint16Array.from(halves).buffer));
  writeFileSync(join(weightsDir, "weights.json"), JSON.stringify({ shape: { layers: s.layers, embd: s.embd, heads: s.heads, kv_heads: s.kvHeads, ffn: s.ffn, vocab: s.vocab }, tensors }));
  const { weights } = readWeights(weightsDir);
  assert.equal(weights.get("output.weight"), undefined, "the output is tied");
  const file = join(dir.path, "trained.gguf");
  writeTestModel(file, { shape: "fidelity", weights });
  const trained = await openLlamaEngine({ modelPath: file, gpu: "cpu", threads: 1 });
  try {
    const [seq] = await trained.prepare({ tokensPerSequence: 64, sequences: 1 });
    const out: number[] = [];
    for await (const t of seq!.generate([1000, 2000, 3000], { maxTokens: 4 })) out.push(t);
    assert.deepEqual(out, [3000, 3000, 3000, 3000]);
  } finally {
    await trained.dispose();
  }
});

test("Q4_0 weights are where llama.cpp reads them: next-token odds stay near float32's, and far from the same weights with each block's halves interleaved", async () => {
  // Random weights small enough that the output is a smooth function of them (larger ones make a
  // random deep model chaotic: q8_0 alone would flip its tokens). The embedding is tied, so only
  // the blocks can tell an order mistake: interleaving is what a writer that packs neighbouring
  // values into one byte would give llama.cpp, which pairs element j with element j + 16.
  const s = SHAPES.fidelity;
  const r = rng(5);
  const normal = (): number => { let u = 0; for (let i = 0; i < 12; i++) u += r(); return u - 6; };
  const weights = new Map<string, Float32Array>();
  const add = (name: string, n: number, value: () => number): void => { weights.set(name, Float32Array.from({ length: n }, value)); };
  add("token_embd.weight", s.vocab * s.embd, () => normal() * 0.03);
  add("output_norm.weight", s.embd, () => 1);
  for (let l = 0; l < s.layers; l++) {
    add(`blk.${l}.attn_norm.weight`, s.embd, () => 1);
    add(`blk.${l}.ffn_norm.weight`, s.embd, () => 1);
    for (const [name, n] of [["attn_q", s.embd * s.embd], ["attn_k", s.embd * s.embd], ["attn_v", s.embd * s.embd], ["attn_output", s.embd * s.embd],
      ["ffn_gate", s.ffn * s.embd], ["ffn_up", s.ffn * s.embd], ["ffn_down", s.embd * s.ffn]] as const) add(`blk.${l}.${name}.weight`, n, () => normal() * 0.01);
  }
  const interleaved = new Map([...weights].map(([name, w]) => {
    if (name.endsWith("norm.weight")) return [name, w];
    const out = new Float32Array(w.length);
    for (let b = 0; b < w.length; b += 32) for (let j = 0; j < 16; j++) { out[b + j] = w[b + 2 * j]!; out[b + 16 + j] = w[b + 2 * j + 1]!; }
    return [name, out];
  }));
  const odds = async (type: TensorType, given: Map<string, Float32Array>): Promise<number[][]> => {
    const file = join(dir.path, `q4-${type}-${given === weights ? "w" : "x"}.gguf`);
    writeTestModel(file, { shape: { ...s, type }, weights: given });
    const model = await openLlamaEngine({ modelPath: file, gpu: "cpu", threads: 1 });
    try {
      const [seq] = await model.prepare({ tokensPerSequence: 64, sequences: 1 });
      const prefixes = rng(9);
      const all = Array.from({ length: s.vocab }, (_, i) => i);
      const out: number[][] = [];
      for (let p = 0; p < 6; p++) {
        await seq!.truncate(0);
        out.push(await seq!.nextTokenProbabilities(Array.from({ length: 16 }, () => 10 + Math.floor(prefixes() * 4000)), all));
      }
      return out;
    } finally {
      await model.dispose();
    }
  };
  const distance = (a: number[][], b: number[][]): number => Math.max(...a.map((p, i) => p.reduce((sum, v, j) => sum + Math.abs(v - b[i]![j]!), 0) / 2));
  const f32 = await odds(TensorType.F32, weights);
  const q4 = distance(f32, await odds(TensorType.Q4_0, weights));
  const wrong = distance(f32, await odds(TensorType.Q4_0, interleaved));
  assert.ok(q4 < 0.08 && wrong > 3 * q4, `total variation from float32: Q4_0 ${q4.toFixed(4)}, interleaved ${wrong.toFixed(4)}`);
});
