// npm run fidelity:model -- --weights DIR --out FILE [--type q8_0|q4_0|f32] [--check]
// Writes train.py's weights (weights.f16 + weights.json) as a GGUF model of the fidelity shape,
// with the project's own writer and the test vocabulary the data was tokenized with. --check
// loads the written file in node-llama-cpp and asks it for the greedy tokens train.py computed
// after a validation prefix: equal tokens prove PyTorch's model and llama.cpp's "llama"
// architecture are one function (norms, rotary convention, tensor layout).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openLlamaEngine } from "../../src/engine/llama/llamaEngine";
import { TensorType } from "../../test/support/gguf";
import { SHAPES, writeTestModel } from "../../test/support/testModel";

interface Index {
  shape: { layers: number; embd: number; heads: number; kv_heads: number; ffn: number; vocab: number };
  tensors: { name: string; shape: number[]; offset: number }[];
  probe?: { prefix: number[]; greedy: number[]; candidates: number[]; probs: number[] };
}

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function readWeights(dir: string): { index: Index; weights: Map<string, Float32Array> } {
  const index = JSON.parse(readFileSync(join(dir, "weights.json"), "utf8")) as Index;
  const want = SHAPES.fidelity;
  const s = index.shape;
  if (s.layers !== want.layers || s.embd !== want.embd || s.heads !== want.heads || s.kv_heads !== want.kvHeads || s.ffn !== want.ffn || s.vocab !== want.vocab) {
    throw new Error(`weights: trained shape ${JSON.stringify(s)} is not the fidelity shape in test/support/testModel.ts`);
  }
  const raw = readFileSync(join(dir, "weights.f16"));
  const weights = new Map<string, Float32Array>();
  for (const t of index.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    // PyTorch's row-major [out, in] is ggml's [in, out] (ne0 the input): the same bytes, no transpose.
    for (let i = 0; i < n; i++) out[i] = f16ToF32(raw.readUInt16LE(t.offset + 2 * i));
    weights.set(t.name, out);
  }
  return { index, weights };
}

const TYPES = { f32: TensorType.F32, q8_0: TensorType.Q8_0, q4_0: TensorType.Q4_0 } as const;
/** How far the top candidates' probabilities may move from PyTorch's: float32 is the same function to rounding. */
const TOLERANCE: Record<keyof typeof TYPES, number> = { f32: 0.001, q8_0: 0.02, q4_0: 0.05 };

async function check(file: string, probe: NonNullable<Index["probe"]>, type: keyof typeof TYPES): Promise<boolean> {
  const engine = await openLlamaEngine({ modelPath: file, gpu: "cpu", threads: 1 });
  try {
    const [seq] = await engine.prepare({ tokensPerSequence: probe.prefix.length + 64, sequences: 1 });
    const probs = await seq!.nextTokenProbabilities(probe.prefix, probe.candidates);
    const gap = Math.max(...probs.map((p, i) => Math.abs(p - probe.probs[i]!)));
    await seq!.truncate(0);
    const got: number[] = [];
    for await (const t of seq!.generate(probe.prefix, { maxTokens: probe.greedy.length })) got.push(t);
    const agree = got.filter((t, i) => t === probe.greedy[i]).length;
    // A quantized model's rounding may flip a near tie further on; float32 must agree throughout.
    const ok = gap < TOLERANCE[type] && (type === "f32" ? agree === probe.greedy.length : got[0] === probe.greedy[0]);
    console.log(`check: PyTorch ${JSON.stringify(probe.greedy)}\n       llama.cpp ${JSON.stringify(got)}\n       ${agree}/${probe.greedy.length} greedy tokens agree; top candidates' probabilities differ by at most ${gap.toFixed(5)}: ${ok ? "ok" : "DIFFERENT"}`);
    return ok;
  } finally {
    await engine.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { weights: { type: "string" }, out: { type: "string" }, type: { type: "string", default: "q8_0" }, check: { type: "boolean", default: false } } });
  const name = values.type as keyof typeof TYPES;
  if (!values.weights || !values.out || !(name in TYPES)) { console.error("usage: npm run fidelity:model -- --weights DIR --out FILE [--type q8_0|q4_0|f32] [--check]"); process.exit(2); }
  const type = TYPES[name];
  const { index, weights } = readWeights(values.weights);
  const { bytes } = writeTestModel(values.out, { shape: { ...SHAPES.fidelity, type }, weights, name: "ask-codebase fidelity" });
  console.log(`fidelity:model: ${values.out} (${(bytes / 2 ** 20).toFixed(1)} MiB, ${values.type})`);
  if (values.check) {
    if (!index.probe) throw new Error("weights.json has no probe: train.py writes one with each save");
    if (!(await check(values.out, index.probe, name))) process.exit(1);
  }
}

if (process.argv[1]?.endsWith("writeWeights.ts")) main().catch((err) => { console.error(`fidelity:model: ${(err as Error).message}`); process.exit(1); });
