// npm run bench:decode -- --model FILE [--gpu G] [--depths 0,4096,16384,30720] [--tokens N] [--flash-attention on|off]
//                         [--threads N] [--llama-bench PATH]
// Greedy decoding speed at several context depths, in one process and one context. It tells
// whether a margin's decoding is bound by per-token overhead (the same speed at every depth) or by
// attention over the context read so far (slower deeper): on a GPU, decoding margins is what WiM
// costs. At each depth it also times what an irrelevant fused margin costs (the extractive prompt
// evaluated with next-token probabilities, then erased) against the same prompt evaluated without
// them. With llama.cpp's llama-bench (--llama-bench or $LLAMA_BENCH), each depth also gets the
// engine's own figure for the same model, tokens and depth, and our ratio to it. Prints a line per
// depth and a final JSON line with the settings, backend and GPU.
import { parseArgs } from "node:util";
import type { GpuChoice } from "../src/engine/llama/runtime";
import { openLlamaEngine } from "../src/engine/llama/llamaEngine";
import * as prompts from "../src/core/wim/prompts";
import * as verdict from "../src/core/wim/verdict";
import { llamaBench, llamaBenchBinary } from "./llamaBench";
import { runWithAddonShim } from "./addonShim";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    gpu: { type: "string", default: "auto" },
    depths: { type: "string", default: "0,4096,16384,30720" },
    tokens: { type: "string", default: "100" },
    "flash-attention": { type: "string" },
    "llama-bench": { type: "string" },
    threads: { type: "string" },
  },
});
const benchBin = llamaBenchBinary(values["llama-bench"]);
const modelPath = values.model ?? "";
if (!modelPath) throw new Error("--model FILE is required");
const depths = values.depths!.split(",").map(Number).sort((a, b) => a - b);
const want = Number(values.tokens);
const flashAttention = values["flash-attention"] === undefined ? undefined : values["flash-attention"] === "on";
// CPU threads for both sides (the engine's default otherwise, and llama-bench's).
const threads = values.threads === undefined ? undefined : Number(values.threads);
async function main(): Promise<void> {
  const engine = await openLlamaEngine({ modelPath, gpu: values.gpu as GpuChoice, ...(flashAttention !== undefined ? { flashAttention } : {}), ...(threads ? { threads } : {}) });
  const [seq] = await engine.prepare({ tokensPerSequence: depths.at(-1)! + want + 64, sequences: 1 });
  let filler: number[] = [];
  for (let i = 0; filler.length < depths.at(-1)!; i++) filler = filler.concat(engine.tokenizeText(`export function f${i}(x: number): number {\n  return x * ${i % 97} + ${i};\n}\n`));
  const prompt = engine.tokenizeText("\nSummarise what the code above does:\n");
  const fused = engine.tokenizeText(prompts.fusedExtractivePrompt("Which function multiplies its argument by 7919, and where is it defined?"));
  const candidates = verdict.candidates(verdict.verdictTokens(engine));
  const median = async (times: number, step: () => Promise<void>): Promise<number> => {
    const ms: number[] = [];
    for (let i = 0; i < times; i++) { const t = performance.now(); await step(); ms.push(performance.now() - t); }
    return ms.sort((a, b) => a - b)[Math.floor(times / 2)]!;
  };
  const rows = [];
  for (const depth of depths) {
    await seq!.append(filler.slice(seq!.length, depth));
    const started = performance.now();
    let firstAt = 0;
    let produced = 0;
    for await (const _ of seq!.generate(prompt, { maxTokens: want })) {
      if (++produced === 1) firstAt = performance.now();
    }
    const end = performance.now();
    await seq!.truncate(depth);
    const perToken = produced > 1 ? (end - firstAt) / (produced - 1) : NaN;
    const verdictMs = await median(5, async () => { await seq!.nextTokenProbabilities(fused, candidates); await seq!.truncate(depth); });
    const promptMs = await median(5, async () => { await seq!.append(fused); await seq!.truncate(depth); });
    // llama-bench runs after ours, in its own process: the two never share the GPU at once.
    const limit = benchBin ? llamaBench(benchBin, modelPath, { generated: want, depth, gpu: engine.info.backend !== "cpu", ...(threads ? { threads } : {}) }) : undefined;
    rows.push({
      depth, produced, promptAndFirstMs: +(firstAt - started).toFixed(2), msPerToken: +perToken.toFixed(3), tokensPerSecond: +(1000 / perToken).toFixed(1), verdictMs: +verdictMs.toFixed(2), promptMs: +promptMs.toFixed(2), promptTokens: fused.length,
      ...(limit ? { llamaBenchMsPerToken: +limit.msPerToken.toFixed(3), overLlamaBench: +(perToken / limit.msPerToken).toFixed(2) } : {}),
    });
    console.log(`depth ${depth.toLocaleString("en-US").padStart(7)}: ${produced} tokens, ${perToken.toFixed(2)} ms/token (${(1000 / perToken).toFixed(0)} tok/s) after a first token in ${(firstAt - started).toFixed(1)} ms; ` +
      `a verdict (${fused.length}-token prompt, probabilities, erase) ${verdictMs.toFixed(1)} ms, the prompt alone ${promptMs.toFixed(1)} ms`);
    if (limit) console.log(`              llama-bench tg${want} @ d${depth}: ${limit.msPerToken.toFixed(2)} ms/token (${limit.tokensPerSecond.toFixed(0)} tok/s); the project / llama-bench = ${(perToken / limit.msPerToken).toFixed(2)}x`);
  }
  const base = rows[0]!.msPerToken;
  console.log(JSON.stringify({ bench: "decode-depth", backend: engine.info.backend, addonShim: engine.info.addonShim, ...(threads ? { threads } : {}), gpu: engine.info.gpuNames, model: engine.shape, flashAttention: engine.shape.flashAttention, rows, deepestOverShallowest: +(rows.at(-1)!.msPerToken / base).toFixed(2) }));
  await engine.dispose();
}

main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
