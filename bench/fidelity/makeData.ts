// npm run fidelity:data -- --out DIR --examples N [--seed S] [--workers W] [--max-tokens 8192]
//   [--min-chars 600] [--max-chars 9000] [--extra-questions 12] [--extra-margins 2]   (shorter
//   codebases and more questions per codebase: more lookups and verdicts per token trained)
// Writes training examples (examples.ts) as flat arrays the training script reads with numpy:
// part-I.tokens.u16, .positions.u16, .branches.u16, .weights.u8, .isolated.u8 and part-I.json
// (each example's length). Tokenized by llama.cpp itself through the engine, with the vocabulary
// of the fidelity shape (a random-weight model of that shape is written once to read it from).
// Seeds: example i uses seed S + i; held-out benchmarks use seeds far from any training range.
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openLlamaEngine } from "../../src/engine/llama/llamaEngine";
import { writeTestModel } from "../../test/support/testModel";
import { buildExample, trainingDraw, type Example } from "./examples";

const { values } = parseArgs({
  options: {
    out: { type: "string" }, examples: { type: "string", default: "1000" }, seed: { type: "string", default: "1" },
    workers: { type: "string", default: "1" }, part: { type: "string" }, "max-tokens": { type: "string", default: "8192" },
    "min-chars": { type: "string", default: "600" }, "max-chars": { type: "string", default: "9000" }, "extra-questions": { type: "string", default: "12" },
    "extra-margins": { type: "string", default: "2" },
  },
});
const out = values.out ?? "";
if (!out) { console.error("usage: npm run fidelity:data -- --out DIR --examples N [--seed S] [--workers W]"); process.exit(2); }
mkdirSync(out, { recursive: true });
const total = Number(values.examples);
const workers = Number(values.workers);
const vocabModel = join(out, "vocab.gguf");

async function part(index: number, of: number): Promise<void> {
  const engine = await openLlamaEngine({ modelPath: vocabModel, gpu: "cpu", threads: 1 });
  const max = Number(values["max-tokens"]);
  const lengths: number[] = [];
  const base = join(out, `part-${index}`);
  const files = { tokens: ".tokens.u16", positions: ".positions.u16", branches: ".branches.u16", weights: ".weights.u8", isolated: ".isolated.u8" } satisfies Record<keyof Example, string>;
  for (const suffix of Object.values(files)) writeFileSync(base + suffix, "");
  let batch: Example[] = [];
  // Appended a few hundred examples at a time: a worker's whole share would not fit in memory as JS arrays.
  const flush = (): void => {
    for (const [key, suffix] of Object.entries(files) as [keyof Example, string][]) {
      const data = batch.flatMap((e) => e[key]);
      const typed = suffix.endsWith("u16") ? Uint16Array.from(data) : Uint8Array.from(data);
      appendFileSync(base + suffix, Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength));
    }
    batch = [];
  };
  let skipped = 0;
  for (let i = index; i < total; i += of) {
    const seed = Number(values.seed) + i;
    const { example } = buildExample(engine, { seed, ...trainingDraw(seed, Number(values["max-chars"]), Number(values["min-chars"])), extraQuestions: Number(values["extra-questions"]), extraMargins: Number(values["extra-margins"]) });
    if (example.tokens.length > max) { skipped++; continue; }
    lengths.push(example.tokens.length);
    batch.push(example);
    if (batch.length >= 200) flush();
  }
  flush();
  writeFileSync(`${base}.json`, JSON.stringify({ lengths, skipped }));
  await engine.dispose();
}

async function main(): Promise<void> {
  if (values.part !== undefined) {
    const [i, n] = values.part.split("/").map(Number) as [number, number];
    return part(i, n);
  }
  if (!existsSync(vocabModel)) writeTestModel(vocabModel, { shape: "fidelity" });
  const started = performance.now();
  await Promise.all(Array.from({ length: workers }, (_, i) => new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2), "--part", `${i}/${workers}`], { stdio: "inherit" });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker ${i} exited with ${code}`))));
  })));
  console.log(`fidelity:data: ${total} examples in ${workers} parts in ${((performance.now() - started) / 1000).toFixed(1)} s -> ${out}`);
}

main().catch((err) => { console.error(`fidelity:data: ${(err as Error).message}`); process.exit(1); });
