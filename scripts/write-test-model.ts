// npm run model:test -- --out FILE --shape tiny|0.5b|1.5b [--seed N] [--no-template] [--hostile] [--bpe [qwen2|llama-bpe]] [--vocab N]
// --hostile: a model that writes test/support/hostile.ts's text whatever it is asked (for UI tests).
// --bpe [qwen2|llama-bpe]: a byte-level BPE vocabulary with that pre-tokenizer (Qwen2's by default)
// instead of SentencePiece, for counting benchmarks.
// --vocab N: the shape with a vocabulary of N tokens instead (real models' run to 152k: Qwen2.5's
// 151,936), for what sampling over a real vocabulary costs a token.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { SHAPES, writeTestModel, type ShapeName } from "../test/support/testModel";
import { HOSTILE_OUTPUT } from "../test/support/hostile";

const args = process.argv.slice(2);
const value = (flag: string): string | undefined => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : undefined; };
const out = value("--out");
const shape = (value("--shape") ?? "tiny") as ShapeName;
if (!out || !(shape in SHAPES)) {
  console.error(`usage: npm run model:test -- --out FILE --shape ${Object.keys(SHAPES).join("|")} [--seed N] [--no-template] [--hostile] [--bpe [qwen2|llama-bpe]] [--vocab N]`);
  process.exit(2);
}
mkdirSync(dirname(out), { recursive: true });
const started = performance.now();
const vocab = value("--vocab");
const { bytes } = writeTestModel(out, { shape, ...(vocab ? { shape: { ...SHAPES[shape], vocab: Number(vocab) }, name: `ask-codebase-test-${shape}-v${vocab}` } : {}), seed: Number(value("--seed") ?? 1234), chatTemplate: args.includes("--no-template") ? null : undefined,
  ...(args.includes("--hostile") ? { script: HOSTILE_OUTPUT, name: "ask-codebase-test-hostile" } : {}),
  ...(args.includes("--bpe") ? { tokenizer: "bpe" as const, bpePre: value("--bpe") === "llama-bpe" ? "llama-bpe" as const : "qwen2" as const } : {}) });
console.log(`wrote ${out}: ${shape}, ${(bytes / 1048576).toFixed(1)} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s`);
